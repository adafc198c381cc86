"""A stateful model of gamification (hypothesis RuleBasedStateMachine) against the real functions.

Each run gets its own organization in one clone (create_organization, three learners, the XP system of
test_points_ledger with its rules and levels, two rewards with limited stock, one with a per-user
limit, a points_threshold badge and a streak_length badge, an all-time XP leaderboard and a weekly XP
leaderboard in a random time zone). Everything goes through the real functions as the application role
(identity_support.run): award_points (dated at a simulated clock), adjust_points, expire_points,
refresh_leaderboard, award_badge and revoke_badge by staff (the owner; adjust_points also to top a
learner up to another's XP, so that the boards see ties); spend_points, redeem_reward,
set_leaderboard_opt_out and the time zone change (the app's UPDATE of users.timezone) by the learner;
cancel_redemption / fulfil_redemption by the learner or staff; replays of earlier calls.

Time. The machine keeps a simulated clock that starts up to 28 days back (award_points accepts
p_occurred_at up to gamification.backdate_window() = 30 days back), often shortly before a DST
transition of one of the zones in use, and moves forward by rule (1 hour .. 2 days, never past the
real now). Awards are dated at the clock (single ones, runs on consecutive days 20-30 hours apart,
late ones up to 30 hours before it: an outbox delivering late, back-filled ones 1-5 days before it,
often on a date before the learner's last active date, and ones on a missing day between two active
days, narrowing a gap or joining two runs), so day changes, DST transitions and time zone changes are
real, not simulated by editing user_points. Other writes (spend, adjust, redeem, refund, expire) are
dated now by the server.

The Python model (tests/gamification_model.py; local dates from zoneinfo, not from SQL) predicts every
outcome (amount or SQLSTATE), and after every step:

- ledger conservation: the user's ledger rows are exactly the model's (ids, amounts, kinds, award
  times); available = sum of amounts >= 0, lifetime = sum of earned amounts (award, bonus, positive
  adjust), spent = the spends; balance_after chains in the order the calls were made;
- level = highest level whose threshold <= lifetime;
- streak: current/longest streak and last activity date are the runs of consecutive local dates
  (users.timezone at award time) of all the awards, by gamification_model.streaks(): DST and time zone
  changes never break a run, and an award on a date before the last active day (moved west, late or
  back-filled award) counts like any other: it fills a gap or joins two runs (V0137); each award row's
  ledger local_date is the model's local date;
- expiry: expire_points(cutoff) pages through the users with available > 0 in user id order and posts
  min(available, FIFO expirable) once per user and cutoff (gamification_model.expirable);
- badges: a non-repeatable badge is held at most once (live awards), held iff its criterion is met by
  the model, except that a revoked one is never re-awarded automatically (staff may award it again);
- stock conservation: stock left = initial - units of live redemptions (not cancelled: a refunded one
  was delivered) >= 0, each redemption's status as modelled, one refund row per cancelled/refunded one;
- ranks: leaderboard_top / leaderboard_rank read by a learner equal the standings recomputed from the
  model at the last refresh_leaderboard (scores > 0, opted-out users left out, place by score then
  user id, competition ties 1-2-2-4), minus users who opted out since (hidden at once, the numbers
  closed on read); opting back in counts from the next refresh;
- replays: the same call returns the first result and changes nothing (ledger, balances, stock).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from psycopg.types.json import Jsonb

from . import gamification_model as gm
from .conftest import PgServer
from .test_points_ledger import ADJUST, LEVELS, SPEND
from .test_rewards import CANCEL, FULFIL, REDEEM, Shop

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "ci-thorough"
MACHINE = settings(max_examples=300 if THOROUGH else 25, stateful_step_count=50 if THOROUGH else 30,
                   deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
AWARD_AT = ("select id, amount, kind, balance_after, occurred_at"
            " from gamification.award_points(%s, %s, %s, %s, %s, p_occurred_at => %s)")
EXPIRE = ("select users_checked, users_expired, points_expired, next_user_id"
          " from gamification.expire_points(NULL, %s, %s, %s)")
REFRESH = "select period_start, period_end, entry_count from gamification.refresh_leaderboard(%s)"
TOP = "select place, rank, user_id, score from gamification.leaderboard_top(%s, 1000)"
RANK = "select place, rank, score, entry_count from gamification.leaderboard_rank(%s, %s)"
OPT_OUT = "select gamification.set_leaderboard_opt_out(%s)"
AWARD_BADGE = "select id from gamification.award_badge(%s, %s, %s, '{}'::jsonb)"
REVOKE_BADGE = "select gamification.revoke_badge(%s, %s)"

POINTS = {"lesson_completed": 10, "course_completed": 11}  # 7 x 1.5, rounded
EARNED = ("award", "bonus")
N_USERS = 3
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe",  # DST, 30-min DST
         "America/Santiago", "Pacific/Auckland", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu"]
BOARD_ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Pacific/Kiritimati"]
REWARDS = [  # cost, initial stock, per-user limit (all time)
    (4, 5, None),
    (9, 3, 2),
]
BADGES = {  # name: (criteria, met by the model's learner)
    "points": ({"type": "points_threshold", "points": 60}, lambda u: u.lifetime >= 60),
    "streak": ({"type": "streak_length", "days": 3}, lambda u: u.streaks[1] >= 3),
}
START_BACK = dt.timedelta(days=28)  # the clock never starts earlier (backdate_window() is 30 days)
HOURS = [1, 2, 5, 11, 23, 24, 25, 47]


@dataclass
class Row:
    id: uuid.UUID
    amount: int
    kind: str
    at: dt.datetime | None  # None: dated now by the server (after every simulated time and cutoff)


@dataclass
class Learner:
    id: uuid.UUID
    zone: str = "Asia/Kathmandu"  # identity_support.add_user's default
    rows: list[Row] = field(default_factory=list)
    dates: list[dt.date] = field(default_factory=list)  # award local dates, in call order
    opted_out: bool = False
    expired_cutoffs: set[dt.datetime] = field(default_factory=set)

    @property
    def available(self) -> int:
        return sum(r.amount for r in self.rows)

    @property
    def lifetime(self) -> int:
        return sum(r.amount for r in self.rows if r.kind in EARNED or (r.kind == "adjust" and r.amount > 0))

    @property
    def spent(self) -> int:
        return -sum(r.amount for r in self.rows if r.kind == "spend")

    @property
    def streaks(self) -> tuple[int, int, dt.date | None]:
        return gm.streaks(self.dates)


@dataclass
class BadgeState:
    held: bool = False
    ever_revoked: bool = False
    awards: int = 0


@dataclass
class Board:
    id: uuid.UUID
    weekly: bool
    zone: str
    standings: dict[uuid.UUID, int] | None = None  # scores ranked by the last refresh
    hidden: set[uuid.UUID] = field(default_factory=set)  # opted out since that refresh


@dataclass
class Redemption:
    id: uuid.UUID
    user: int
    reward: int
    quantity: int
    first: tuple[Any, ...]
    params: tuple[Any, ...]
    status: str = "pending"


@dataclass
class Call:
    query: str
    params: tuple[Any, ...]
    who: uuid.UUID | None
    first: tuple[Any, ...]


def expire_key(system: uuid.UUID, user: uuid.UUID, cutoff: dt.datetime) -> str:
    return f"expire:{system}:{user}:{cutoff.astimezone(gm.UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"


class GamificationMachine(RuleBasedStateMachine):
    pg: PgServer
    dbname: str
    transitions: list[tuple[dt.datetime, str]] = []  # DST transitions of ZONES within the back-dating window
    seen: Counter[str] = Counter()  # what the runs exercised (printed by the test, for coverage)

    def __init__(self) -> None:
        super().__init__()
        self.s = Shop(self.pg, self.dbname)
        self.now0: dt.datetime = self.s.su.execute("select now()").fetchone()[0]
        self.limit = self.now0 - dt.timedelta(minutes=1)  # the clock never passes it
        self.window_start = self.now0 - START_BACK
        self.clock = self.window_start
        self.users = [Learner(self.s.learner(f"m{i}")) for i in range(N_USERS)]
        self.rewards = [self.s.reward(cost=c, stock=n, per_user_limit=lim) for c, n, lim in REWARDS]
        self.badges = {name: self.s.ok("insert into gamification.badges (organization_id, name, criteria)"
                                       " values (%s, %s, %s) returning id", (self.s.t.id, f"B {name}", Jsonb(c)))
                       for name, (c, _) in BADGES.items()}
        self.held = {(u, b): BadgeState() for u in range(N_USERS) for b in BADGES}
        self.boards: list[Board] = []
        self.redemptions: list[Redemption] = []
        self.calls: list[Call] = []

    def teardown(self) -> None:
        self.s.su.close()

    # -- helpers -------------------------------------------------------------------------------------

    def key(self) -> str:
        return f"m-{secrets.token_hex(6)}"

    def row_by_key(self, key: str) -> tuple[Any, ...] | None:
        return self.s.su.execute("select id, amount, kind, balance_after, occurred_at from gamification.point_transactions"
                                 " where organization_id = %s and idempotency_key = %s", (self.s.t.id, key)).fetchone()

    def stock_left(self, r: int) -> int:
        # Live = not cancelled: a refunded redemption was delivered, its units stay taken.
        return REWARDS[r][1] - sum(d.quantity for d in self.redemptions if d.reward == r and d.status != "cancelled")

    def snapshot(self) -> tuple[Any, ...]:
        su = self.s.su
        return (su.execute("select count(*), coalesce(sum(amount), 0) from gamification.point_transactions"
                           " where organization_id = %s", (self.s.t.id,)).fetchone(),
                su.execute("select to_jsonb(up) - 'updated_at' from gamification.user_points up"
                           " where organization_id = %s order by user_id", (self.s.t.id,)).fetchall(),
                su.execute("select id, stock from gamification.rewards where organization_id = %s order by id",
                           (self.s.t.id,)).fetchall(),
                su.execute("select id, status from gamification.reward_redemptions where organization_id = %s"
                           " order by id", (self.s.t.id,)).fetchall())

    def live_award(self, u: int, badge: str) -> uuid.UUID | None:
        row = self.s.su.execute("select id from gamification.user_badges where organization_id = %s and user_id = %s"
                                " and badge_id = %s and revoked_at is null and expired_at is null",
                                (self.s.t.id, self.users[u].id, self.badges[badge])).fetchone()
        return row[0] if row else None

    def settle_badges(self) -> None:
        """Automatic evaluation: every change of lifetime/streak evaluates, and both criteria are monotone,
        so a badge is awarded as soon as its criterion holds, unless the user ever had it revoked."""
        for (u, name), b in self.held.items():
            if not b.held and not b.ever_revoked and BADGES[name][1](self.users[u]):
                b.held, b.awards = True, b.awards + 1
                self.seen[f"{name} badge earned"] += 1
            elif not b.held and b.ever_revoked and BADGES[name][1](self.users[u]):
                self.seen["revoked badge not re-awarded"] += 1

    def board_scores(self, board: Board, at: dt.datetime) -> tuple[dict[uuid.UUID, int], dt.datetime]:
        """Scores of the board's current period at ``at`` (model ledger), opted-out users left out."""
        start = dt.datetime(1970, 1, 1, tzinfo=gm.UTC)
        end = None
        if board.weekly:
            start, end = gm.week_bounds(board.zone, at)
        scores = {}
        for u in self.users:
            if u.opted_out:
                continue
            if board.weekly:
                assert end is not None
                s = sum(r.amount for r in u.rows if (r.kind in EARNED or (r.kind == "adjust" and r.amount > 0))
                        and start <= (r.at or at) < end)
            else:
                s = u.lifetime
            if s > 0:
                scores[u.id] = s
        return scores, start

    # -- setup ---------------------------------------------------------------------------------------

    @initialize(near=st.integers(0, 10_000), hours=st.integers(0, 30),
                zones=st.lists(st.sampled_from(ZONES), min_size=N_USERS, max_size=N_USERS),
                week_zone=st.sampled_from(BOARD_ZONES))
    def setup(self, near: int, hours: int, zones: list[str], week_zone: str) -> None:
        """The clock starts shortly before a DST transition in the window (two runs in three, when there
        is one), else anywhere in the first 27 days of it; learners get their time zones; two boards."""
        if self.transitions and near % 3:
            at, zone = self.transitions[near % len(self.transitions)]
            start = at - dt.timedelta(hours=hours)
            zones[near % N_USERS] = zones[(near + 1) % N_USERS] = zone  # two learners live there
            self.seen["run starts before a DST transition"] += 1
        else:
            start = self.window_start + dt.timedelta(hours=near % (27 * 24))
        self.clock = min(max(start, self.window_start), self.limit)
        for u, zone in zip(self.users, zones):
            self.set_zone(u, zone)
        for weekly, zone in ((False, "UTC"), (True, week_zone)):
            board = self.s.ok(
                "insert into gamification.leaderboards (organization_id, name, board_type, period, timezone,"
                " point_system_id) values (%s, %s, 'xp', %s, %s, %s) returning id",
                (self.s.t.id, f"LB {secrets.token_hex(3)}", "weekly" if weekly else "all_time", zone, self.s.system))
            self.boards.append(Board(board, weekly, zone))

    def set_zone(self, user: Learner, zone: str) -> None:
        out = self.s.run("update user_management.users set timezone = %s where id = %s", (zone, user.id), who=user.id)
        assert out.ok and out.rowcount == 1, out.sqlstate
        user.zone = zone

    # -- rules: time ---------------------------------------------------------------------------------

    @rule(hours=st.sampled_from(HOURS))
    def time_passes(self, hours: int) -> None:
        self.clock = min(self.clock + dt.timedelta(hours=hours), self.limit)

    @rule(u=st.integers(0, N_USERS - 1), zone=st.sampled_from(ZONES))
    def change_time_zone(self, u: int, zone: str) -> None:
        self.set_zone(self.users[u], zone)

    # -- rules: points -------------------------------------------------------------------------------

    def award_at(self, u: int, event: str, at: dt.datetime) -> None:
        user = self.users[u]
        params = (user.id, event, "manual", None, self.key(), at)
        out = self.s.run(AWARD_AT, params)
        assert out.ok, out.sqlstate
        row = out.rows[0]
        assert row[1:5] == (POINTS[event], "award", user.available + POINTS[event], at)
        awards = [r.at for r in user.rows if r.kind == "award" and r.at is not None]
        if awards and gm.utc_offsets_change(user.zone, min(awards[-1], at), max(awards[-1], at)):
            self.seen["award across a DST transition"] += 1
        day = gm.local_date(at, user.zone)
        stored = self.s.su.execute("select local_date from gamification.point_transactions"
                                   " where organization_id = %s and id = %s", (self.s.t.id, row[0])).fetchone()
        assert stored == (day,), (stored, day, user.zone)
        last = user.streaks[2]
        if last is not None and day < last:
            self.seen["award dated before the last active date"] += 1
            one = dt.timedelta(days=1)
            if day not in user.dates and day - one in user.dates and day + one in user.dates:
                self.seen["late award joins two runs"] += 1
        user.rows.append(Row(row[0], POINTS[event], "award", at))
        user.dates.append(day)
        if user.streaks[0] >= 3:
            self.seen["award extends a streak >= 3"] += 1
        self.calls.append(Call(AWARD_AT, params, None, row))

    @rule(u=st.integers(0, N_USERS - 1), event=st.sampled_from(sorted(POINTS)),
          late=st.sampled_from([0, 0, 3, 24, 30]))
    def award(self, u: int, event: str, late: int) -> None:
        """One award at the clock, or a late one (an outbox delivering hours late)."""
        self.seen["late award"] += bool(late)
        self.award_at(u, event, max(self.clock - dt.timedelta(hours=late), self.window_start))

    @rule(u=st.integers(0, N_USERS - 1), event=st.sampled_from(sorted(POINTS)), days=st.integers(1, 5),
          hours=st.integers(0, 23))
    def award_backfill(self, u: int, event: str, days: int, hours: int) -> None:
        """An award ``days`` days and ``hours`` hours before the clock (activity synced late, an outbox
        delivering days late): usually dated before the learner's last active date."""
        self.award_at(u, event, max(self.clock - dt.timedelta(days=days, hours=hours), self.window_start))

    @rule(u=st.integers(0, N_USERS - 1), event=st.sampled_from(sorted(POINTS)))
    def fill_gap(self, u: int, event: str) -> None:
        """A late award at local noon (the learner's current zone, not after the clock) of the latest
        missing day between two active days: it narrows a gap, or joins two runs (day 3 after 1, 2, 4, 5)."""
        user = self.users[u]
        if not user.dates:
            return
        have, one = set(user.dates), dt.timedelta(days=1)
        day = max(have) - one
        while day > min(have):
            at = dt.datetime(day.year, day.month, day.day, 12, tzinfo=zoneinfo.ZoneInfo(user.zone))
            if day not in have and self.window_start <= at <= self.clock:
                self.award_at(u, event, at)
                return
            day -= one

    @rule(u=st.integers(0, N_USERS - 1), event=st.sampled_from(sorted(POINTS)), days=st.integers(1, 4),
          gap=st.sampled_from([20, 23, 24, 25, 30]))
    def award_daily(self, u: int, event: str, days: int, gap: int) -> None:
        """A learner active on ``days`` days: an award, the clock moves ``gap`` hours, again."""
        for _ in range(days):
            self.award_at(u, event, self.clock)
            self.clock = min(self.clock + dt.timedelta(hours=gap), self.limit)

    @rule(u=st.integers(0, N_USERS - 1), amount=st.one_of(st.sampled_from([10, 11, 21, -10]),
                                                           st.integers(-25, 25).filter(bool)))
    def adjust(self, u: int, amount: int) -> None:
        user = self.users[u]
        params = (user.id, amount, "correction", self.key())
        out = self.s.run(ADJUST, params)
        if user.available + amount < 0:
            assert out.sqlstate == "EL020"
            return
        assert out.ok, out.sqlstate
        assert out.rows[0][1:] == (amount, "adjust", user.available + amount)
        user.rows.append(Row(out.rows[0][0], amount, "adjust", None))
        self.calls.append(Call(ADJUST, params, None, out.rows[0]))

    @rule(u=st.integers(0, N_USERS - 1), v=st.integers(0, N_USERS - 1))
    def catch_up(self, u: int, v: int) -> None:
        """Staff tops learner u up to v's lifetime XP: a tie on the all-time board."""
        diff = self.users[v].lifetime - self.users[u].lifetime
        if diff > 0:
            self.adjust(u, diff)

    @rule(u=st.integers(0, N_USERS - 1), amount=st.integers(1, 30))
    def spend(self, u: int, amount: int) -> None:
        user = self.users[u]
        params = (user.id, amount, self.key(), "shop")
        out = self.s.run(SPEND, params, who=user.id)
        if amount > user.available:
            assert out.sqlstate == "EL020"
            return
        assert out.ok, out.sqlstate
        assert out.rows[0][1:] == (-amount, "spend", user.available - amount)
        user.rows.append(Row(out.rows[0][0], -amount, "spend", None))
        self.calls.append(Call(SPEND, params, user.id, out.rows[0]))

    @rule(back=st.sampled_from([0, 1, 6, 24, 72, 200]), limit=st.integers(1, N_USERS + 1))
    def expire(self, back: int, limit: int) -> None:
        """expire_points(cutoff) in pages of ``limit`` users, following next_user_id."""
        cutoff = self.clock - dt.timedelta(hours=back)
        system = self.s.system
        after: uuid.UUID | None = None
        while True:
            out = self.s.run(EXPIRE, (cutoff, limit, after))
            assert out.ok, out.sqlstate
            checked, expired, points, nxt = out.rows[0]
            page = sorted((u for u in self.users if u.available > 0 and (after is None or u.id > after)),
                          key=lambda u: u.id)[:limit]
            want_expired = want_points = 0
            for user in page:
                if cutoff in user.expired_cutoffs:
                    continue  # the key exists: done for this user
                amount = min(user.available, gm.expirable(((r.amount, r.at or self.now0 + dt.timedelta(days=1))
                                                           for r in user.rows), cutoff))
                if amount <= 0:
                    assert self.row_by_key(expire_key(system, user.id, cutoff)) is None
                    continue
                row = self.row_by_key(expire_key(system, user.id, cutoff))
                assert row is not None and row[1:4] == (-amount, "expire", user.available - amount), row
                user.rows.append(Row(row[0], -amount, "expire", None))
                user.expired_cutoffs.add(cutoff)
                want_expired += 1
                want_points += amount
            assert (checked, expired, points) == (len(page), want_expired, want_points)
            self.seen["expire page"] += 1
            self.seen["points expired"] += want_points > 0
            assert nxt == (page[-1].id if len(page) == limit else None)
            if nxt is None:
                break
            after = nxt

    # -- rules: rewards ------------------------------------------------------------------------------

    @rule(u=st.integers(0, N_USERS - 1), r=st.integers(0, len(REWARDS) - 1), qty=st.integers(1, 3))
    def redeem(self, u: int, r: int, qty: int) -> None:
        user = self.users[u]
        cost, _, limit = REWARDS[r]
        params = (user.id, self.rewards[r], qty, self.key())
        out = self.s.run(REDEEM, params, who=user.id)
        held = sum(d.quantity for d in self.redemptions if d.user == u and d.reward == r and d.status != "cancelled")
        if self.stock_left(r) < qty:
            assert out.sqlstate == "EL021"
        elif limit is not None and held + qty > limit:
            assert out.sqlstate == "EL022"
        elif cost * qty > user.available:
            assert out.sqlstate == "EL020"
        else:
            assert out.ok, out.sqlstate
            row = out.rows[0]
            assert row[3:6] == (qty, cost * qty, "pending")
            user.rows.append(Row(row[6], -cost * qty, "spend", None))
            self.redemptions.append(Redemption(row[0], u, r, qty, row, params))

    @precondition(lambda self: self.redemptions)
    @rule(i=st.integers(0, 50), staff=st.booleans())
    def cancel(self, i: int, staff: bool) -> None:
        d = self.redemptions[i % len(self.redemptions)]
        owner = self.users[d.user]
        out = self.s.run(CANCEL, (d.id, "machine"), who=None if staff else owner.id)
        if d.status == "fulfilled" and not staff:
            assert out.sqlstate == "42501"  # only staff refund a delivered reward
            return
        assert out.ok, out.sqlstate
        assert out.rows[0][0] is (d.status in ("pending", "fulfilled"))
        if d.status in ("pending", "fulfilled"):
            refund = self.row_by_key(f"reward_refund:{d.id}")
            assert refund is not None and refund[1:4] == (d.first[4], "refund", owner.available + d.first[4])
            owner.rows.append(Row(refund[0], d.first[4], "refund", None))
            d.status = "cancelled" if d.status == "pending" else "refunded"

    @precondition(lambda self: self.redemptions)
    @rule(i=st.integers(0, 50))
    def fulfil(self, i: int) -> None:
        d = self.redemptions[i % len(self.redemptions)]
        out = self.s.run(FULFIL, (d.id, '{"code": "M"}'))
        if d.status in ("pending", "fulfilled"):
            assert out.ok and out.rows[0][0] == "fulfilled", out.sqlstate
            d.status = "fulfilled"
        else:
            assert out.sqlstate == "EL013"

    @precondition(lambda self: self.calls or self.redemptions)
    @rule(i=st.integers(0, 100))
    def replay(self, i: int) -> None:
        before = self.snapshot()
        n = len(self.calls) + len(self.redemptions)
        j = i % n
        if j < len(self.calls):
            c = self.calls[j]
            out = self.s.run(c.query, c.params, who=c.who)
            assert out.ok and out.rows[0] == c.first, (out.sqlstate, c.query)
        else:
            d = self.redemptions[j - len(self.calls)]
            out = self.s.run(REDEEM, d.params, who=self.users[d.user].id)
            assert out.ok, out.sqlstate
            row = out.rows[0]
            assert row[:5] == d.first[:5] and row[6] == d.first[6] and row[5] == d.status
        assert self.snapshot() == before

    # -- rules: badges -------------------------------------------------------------------------------

    @rule(u=st.integers(0, N_USERS - 1), name=st.sampled_from(sorted(BADGES)))
    def revoke_badge(self, u: int, name: str) -> None:
        b = self.held[(u, name)]
        if b.held:
            award = self.live_award(u, name)
            assert award is not None
            assert self.s.ok(REVOKE_BADGE, (award, "machine")) is True
            b.held, b.ever_revoked = False, True
        elif b.ever_revoked:
            award = self.s.su.execute("select id from gamification.user_badges where organization_id = %s"
                                      " and user_id = %s and badge_id = %s and revoked_at is not null limit 1",
                                      (self.s.t.id, self.users[u].id, self.badges[name])).fetchone()[0]
            assert self.s.ok(REVOKE_BADGE, (award, "again")) is False  # exactly once

    @rule(u=st.integers(0, N_USERS - 1), name=st.sampled_from(sorted(BADGES)))
    def staff_award_badge(self, u: int, name: str) -> None:
        b = self.held[(u, name)]
        live = self.live_award(u, name)
        award = self.s.ok(AWARD_BADGE, (self.users[u].id, self.badges[name], "machine"))
        if b.held:
            assert award == live  # held: idempotent
        else:
            b.held, b.awards = True, b.awards + 1

    # -- rules: leaderboards -------------------------------------------------------------------------

    @rule(which=st.sampled_from([0, 1, 2]))
    def refresh(self, which: int) -> None:
        for board in self.boards if which == 2 else [self.boards[which]]:
            out = self.s.run(REFRESH, (board.id,))
            assert out.ok, out.sqlstate
            at: dt.datetime = self.s.su.execute("select now()").fetchone()[0]
            scores, start = self.board_scores(board, at)
            current = [r for r in out.rows if r[0] == start]
            assert len(current) == 1 and current[0][2] == len(scores), (out.rows, start, scores)
            board.standings, board.hidden = scores, set()
            self.seen["refresh"] += 1
            self.seen["refresh with a tie"] += len(set(scores.values())) < len(scores)

    @rule(u=st.integers(0, N_USERS - 1), out_=st.booleans())
    def opt_out(self, u: int, out_: bool) -> None:
        user = self.users[u]
        assert self.s.ok(OPT_OUT, (out_,), who=user.id) is out_
        user.opted_out = out_
        if out_:
            for board in self.boards:
                if board.standings is not None and user.id in board.standings:
                    board.hidden.add(user.id)

    # -- invariants ----------------------------------------------------------------------------------

    @invariant()
    def ledger_and_balances_follow_the_model(self) -> None:
        for user in self.users:
            got = {r[0]: r[1:] for r in self.s.su.execute(
                "select id, amount, kind, balance_after, occurred_at from gamification.point_transactions"
                " where organization_id = %s and user_id = %s", (self.s.t.id, user.id))}
            assert set(got) == {r.id for r in user.rows}
            running = 0
            for r in user.rows:  # balance_after chains the rows in call order
                amount, kind, after, at = got[r.id]
                running += r.amount
                assert (amount, kind, after) == (r.amount, r.kind, running)
                assert at == r.at if r.at is not None else at >= self.now0
                assert running >= 0
            b = self.s.balances(user.id)
            if b is None:
                assert not user.rows
                continue
            assert (b["available"], b["lifetime_earned"], b["spent"]) == (user.available, user.lifetime, user.spent)
            assert b["available"] >= 0
            assert b["level"] == max(n for n, _, th in LEVELS if th <= user.lifetime)
            current, longest, last = user.streaks
            assert (b["current_streak"], b["longest_streak"]) == (current, longest), (user.dates, user.zone)
            assert b["last_activity_local_date"] == (last.isoformat() if last else None)

    @invariant()
    def badges_are_held_once_iff_earned(self) -> None:
        self.settle_badges()
        rows = self.s.su.execute(
            "select user_id, badge_id, count(*), count(*) filter (where revoked_at is null and expired_at is null)"
            " from gamification.user_badges where organization_id = %s group by 1, 2", (self.s.t.id,)).fetchall()
        got = {(u, b): (n, live) for u, b, n, live in rows}
        want = {(self.users[u].id, self.badges[name]): (s.awards, int(s.held))
                for (u, name), s in self.held.items() if s.awards}
        assert got == want
        assert all(live <= 1 for _, live in got.values())

    @invariant()
    def stock_is_conserved(self) -> None:
        su = self.s.su
        for r, reward in enumerate(self.rewards):
            stock = self.s.stock(reward)
            assert stock == self.stock_left(r) >= 0
        rows = dict(su.execute("select id, status from gamification.reward_redemptions where organization_id = %s",
                               (self.s.t.id,)).fetchall())
        assert rows == {d.id: d.status for d in self.redemptions}
        refunds = dict(su.execute(
            "select source_id, count(*) from gamification.point_transactions where organization_id = %s"
            " and kind = 'refund' group by source_id", (self.s.t.id,)).fetchall())
        assert refunds == {d.id: 1 for d in self.redemptions if d.status in ("cancelled", "refunded")}

    @invariant()
    def cached_ranks_equal_recomputed_ranks(self) -> None:
        reader = self.users[0].id
        for board in self.boards:
            if board.standings is None:
                assert self.s.run(TOP, (board.id,), who=reader).rows == []
                continue
            visible = {u: s for u, s in board.standings.items() if u not in board.hidden}
            self.seen["ranks read with hidden users"] += bool(board.hidden)
            want = gm.competition_ranks(visible)
            assert [tuple(r) for r in self.s.run(TOP, (board.id,), who=reader).rows] == want
            by_user = {u: (place, rank, score, len(want)) for place, rank, u, score in want}
            for user in self.users:
                rows = self.s.run(RANK, (board.id, user.id), who=reader).rows
                assert [tuple(r) for r in rows] == ([by_user[user.id]] if user.id in by_user else [])


def test_gamification_state_machine(pg: PgServer, db: str) -> None:
    GamificationMachine.pg, GamificationMachine.dbname = pg, db
    now = dt.datetime.now(gm.UTC)
    GamificationMachine.transitions = sorted(
        (t, zone) for zone in ZONES for t in gm.utc_offsets_change(zone, now - START_BACK + dt.timedelta(hours=1), now))
    GamificationMachine.seen.clear()
    run_state_machine_as_test(GamificationMachine, settings=MACHINE)
    print("transitions in the window:", GamificationMachine.transitions)
    print("exercised:", dict(sorted(GamificationMachine.seen.items())))
