"""Streaks from local dates in any order (gamification V0136-V0137), as the application role.

Rule (issue 5): a streak is a run of consecutive local dates (users.timezone when the award is posted) of a
learner's award and bonus rows in a point system; current = the run ending at the latest date, longest =
the longest run, last = the latest date (gamification_model.streaks, the independent Python model, dates
from zoneinfo). Awards may arrive in any order (back-dated up to gamification.backdate_window()): a late
award fills a gap or joins two runs. Each award/bonus row stores its local date (point_transactions.
local_date); a later time zone change never rewrites it. Rows written before V0136 (local_date NULL) count
with their occurred_at in the user's current zone, and never lower the stored longest streak.

Awards go through award_points() as the application role; bonus rows through post_transaction() (not
granted to the app: the superuser calls it with the tenant context, as the owner's definer code would).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
import zoneinfo
from typing import Any, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PgServer
from .gamification_model import local_date, streaks
from .identity_support import run_concurrently, set_context
from .test_point_rules import AWARD_AT, Game

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ZONES = ["UTC", "America/New_York", "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Pago_Pago",
         "Asia/Kathmandu"]
BONUS = ("select t.id, t.amount, t.kind, t.local_date from gamification.post_transaction("
         "gamification.lock_user_points(%s, %s), 'bonus', 5, 'manual', NULL, NULL, 1, %s, 'streak bonus',"
         " %s::timestamptz) as t")
BALANCE = ("select current_streak, longest_streak, last_activity_local_date from gamification.user_points"
           " where organization_id = %s and user_id = %s and point_system_id = %s")


class Streaks(Game):
    """test_point_rules' tenant (XP system, lesson_completed = 10 points) with streak helpers."""

    def set_zone(self, user: uuid.UUID, zone: str) -> None:
        out = self.run("update user_management.users set timezone = %s where id = %s", (zone, user), who=user)
        assert out.ok and out.rowcount == 1, out.sqlstate

    def award(self, user: uuid.UUID, at: dt.datetime) -> tuple[uuid.UUID, dt.date]:
        """award_points() as the app role dated ``at``: (ledger id, stored local_date)."""
        out = self.run(AWARD_AT, (user, "lesson_completed", None, None, f"a-{secrets.token_hex(6)}", at))
        assert out.ok and out.rows[0][1] == 10, (out.sqlstate, out.rows)
        return out.rows[0][0], self.local_date_of(out.rows[0][0])

    def bonus(self, user: uuid.UUID, at: dt.datetime) -> tuple[uuid.UUID, dt.date]:
        """A bonus row through post_transaction() (owner code path), with the tenant context."""
        with self.su.transaction():
            set_context(self.su, self.t.id, None)
            row = self.su.execute(BONUS, (user, self.system, f"b-{secrets.token_hex(6)}", at)).fetchone()
        assert row is not None and row[1:3] == (5, "bonus"), row
        return row[0], row[3]

    def local_date_of(self, tx: uuid.UUID) -> dt.date:
        row = self.su.execute("select local_date from gamification.point_transactions where organization_id = %s"
                              " and id = %s", (self.t.id, tx)).fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    def streak(self, user: uuid.UUID) -> tuple[int, int, dt.date | None]:
        row = self.su.execute(BALANCE, (self.t.id, user, self.system)).fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    def now(self) -> dt.datetime:
        return self.su.execute("select now()").fetchone()[0]  # type: ignore[no-any-return]


@pytest.fixture
def s(pg: PgServer, db: str) -> Iterator[Streaks]:
    game = Streaks(pg, db)
    yield game
    game.su.close()


def noon(day: dt.date, zone: str, hour: int = 12) -> dt.datetime:
    """12:00 (or ``hour``:00) local time on ``day`` in ``zone`` (never inside a DST gap)."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=zoneinfo.ZoneInfo(zone))


# -- the property ----------------------------------------------------------------------------------------

@PROPERTY
@given(offsets=st.lists(st.tuples(st.integers(0, 29), st.booleans()), min_size=1, max_size=20),
       zone=st.sampled_from(ZONES))
def test_streak_is_the_runs_of_the_local_dates_after_every_award(s: Streaks, offsets: list[tuple[int, bool]],
                                                                  zone: str) -> None:
    """A random multiset of local dates 0..29 days back (duplicates, any order), each awarded (award_points)
    or given as a bonus (post_transaction) at local noon of that date (now for today when noon is still
    ahead): after EVERY row, current/longest/last equal the model over all dates so far, and the row's
    local_date is the date."""
    user = s.learner()
    s.set_zone(user, zone)
    now = s.now()
    today = local_date(now, zone)
    dates: list[dt.date] = []
    for back, is_bonus in offsets:
        day = today - dt.timedelta(days=back)
        at = min(noon(day, zone), now)
        tx, stored = (s.bonus if is_bonus else s.award)(user, at)
        assert stored == day == local_date(at, zone)
        dates.append(day)
        assert s.streak(user) == streaks(dates), (zone, dates)


# -- examples ----------------------------------------------------------------------------------------------

def test_a_gap_filled_late_joins_two_runs(s: Streaks) -> None:
    """Active on days 1, 2, 4, 5 (2/2), the award for day 3 arrives last: 5/5; an award inside a run or a
    repeat of a day changes nothing; one before a gap of a day starts nothing new."""
    user = s.learner()
    s.set_zone(user, "America/New_York")
    d1 = local_date(s.now(), "America/New_York") - dt.timedelta(days=10)
    day = [d1 + dt.timedelta(days=i) for i in range(6)]
    for i in (0, 1, 3, 4):
        s.award(user, noon(day[i], "America/New_York"))
    assert s.streak(user) == (2, 2, day[4])
    s.award(user, noon(day[2], "America/New_York"))
    assert s.streak(user) == (5, 5, day[4])
    s.award(user, noon(day[1], "America/New_York"))  # a day already counted
    assert s.streak(user) == (5, 5, day[4])
    s.award(user, noon(d1 - dt.timedelta(days=2), "America/New_York"))  # separated by a gap
    assert s.streak(user) == (5, 5, day[4])
    s.award(user, noon(d1 - dt.timedelta(days=1), "America/New_York"))  # closes it: 7 days
    assert s.streak(user) == (7, 7, day[4])


def test_an_old_run_joined_late_raises_longest_not_current(s: Streaks) -> None:
    """Runs 1-3 and 5-5, then 7 (current 1); day 4 arrives late: longest 5, current stays the run of 7."""
    user = s.learner()
    s.set_zone(user, "UTC")
    d0 = local_date(s.now(), "UTC") - dt.timedelta(days=20)
    for i in (1, 2, 3, 5, 7):
        s.award(user, noon(d0 + dt.timedelta(days=i), "UTC"))
    assert s.streak(user) == (1, 3, d0 + dt.timedelta(days=7))
    s.award(user, noon(d0 + dt.timedelta(days=4), "UTC"))
    assert s.streak(user) == (1, 5, d0 + dt.timedelta(days=7))
    s.award(user, noon(d0 + dt.timedelta(days=6), "UTC"))  # joins 1-5 with 7
    assert s.streak(user) == (7, 7, d0 + dt.timedelta(days=7))


@pytest.mark.parametrize("first, second", [("Pacific/Kiritimati", "Pacific/Pago_Pago"),  # 25 hours west
                                           ("Pacific/Pago_Pago", "Pacific/Kiritimati")])  # 25 hours east
def test_time_zone_change_keeps_the_stored_local_dates(s: Streaks, first: str, second: str) -> None:
    """Awards at local noon on days X, X+1 in ``first``; the learner moves to ``second``; awards at noon of
    X-1 and X+3 there. Every row keeps the local date of its posting (the move rewrites none), and the
    streak is the model over those stored dates, not over the dates re-read in the new zone (checked to
    differ, so the test can fail)."""
    user = s.learner()
    s.set_zone(user, first)
    x = local_date(s.now(), first) - dt.timedelta(days=10)
    posted = [(noon(x, first), first), (noon(x + dt.timedelta(days=1), first), first)]
    txs = [s.award(user, at)[0] for at, _ in posted]
    s.set_zone(user, second)
    for day in (x - dt.timedelta(days=1), x + dt.timedelta(days=3)):
        posted.append((noon(day, second), second))
        txs.append(s.award(user, noon(day, second))[0])
        dates = [local_date(at, zone) for at, zone in posted]
        assert [s.local_date_of(tx) for tx in txs] == dates
        assert s.streak(user) == streaks(dates)
    assert streaks(dates) != streaks([local_date(at, second) for at, _ in posted])


def test_legacy_rows_without_local_date_count_in_the_current_zone(s: Streaks) -> None:
    """Ledger rows written before V0136 (local_date NULL; inserted here by the superuser with the balances
    the old forward rule left) count with occurred_at in the user's current time zone when an out-of-order
    award recomputes (at 21:00 in New York, a day later in UTC: a UTC date would fail the test); the
    stored longest streak is never lowered by the recomputation."""
    user = s.learner()
    zone = "America/New_York"
    s.set_zone(user, zone)
    x = local_date(s.now(), zone) - dt.timedelta(days=12)
    legacy = [x, x + dt.timedelta(days=1), x + dt.timedelta(days=3)]
    s.award(user, noon(legacy[0] - dt.timedelta(days=5), zone))  # creates user_points; day x-5
    with s.su.transaction():
        for i, day in enumerate(legacy):
            s.su.execute("insert into gamification.point_transactions (organization_id, user_id, point_system_id,"
                         " amount, kind, idempotency_key, balance_after, occurred_at)"
                         " values (%s, %s, %s, 10, 'award', %s, %s, %s)",
                         (s.t.id, user, s.system, f"legacy-{i}-{user}", 20 + 10 * i, noon(day, zone, 21)))
        # What the forward rule stored; longest 9 stands for history the recomputation cannot see.
        s.su.execute("update gamification.user_points set available = 40, lifetime_earned = 40,"
                     " current_streak = 1, longest_streak = 9, last_activity_local_date = %s"
                     " where organization_id = %s and user_id = %s", (legacy[2], s.t.id, user))
    assert s.su.execute("select count(*) from gamification.point_transactions where user_id = %s"
                        " and local_date is null", (user,)).fetchone() == (3,)
    s.award(user, noon(x + dt.timedelta(days=2), zone))  # fills the gap: x .. x+3
    assert s.streak(user) == (4, 9, legacy[2])
    # Without the stored 9 (longest >= current: ck_user_points_streaks) the recomputation raises longest.
    with s.su.transaction():
        s.su.execute("update gamification.user_points set longest_streak = 4 where user_id = %s", (user,))
    s.award(user, noon(x - dt.timedelta(days=1), zone))  # x-1 joins: x-1 .. x+3
    assert s.streak(user) == (5, 5, legacy[2])


def test_recompute_streak_is_internal(s: Streaks) -> None:
    """Not executable by the application role; (0, 0, NULL) for a user without award rows."""
    user = s.learner()
    out = s.run("select * from gamification.recompute_streak(%s, %s, %s)", (s.t.id, user, s.system))
    assert out.sqlstate == "42501"
    with s.su.transaction():
        set_context(s.su, s.t.id, None)
        row = s.su.execute("select * from gamification.recompute_streak(%s, %s, %s)",
                           (s.t.id, user, s.system)).fetchone()
    assert row == (0, 0, None)


# -- concurrency -----------------------------------------------------------------------------------------

def test_concurrent_out_of_order_awards_end_in_the_runs_of_all_dates(s: Streaks) -> None:
    """Eight connections award one learner at once, each a different day of 0..9 days back in a shuffled
    order (two days left out): the user_points lock serialises them, each recomputation sees the rows
    committed before it, and the end state is the model over all eight dates."""
    user = s.learner()
    zone = "Australia/Lord_Howe"
    s.set_zone(user, zone)
    now = s.now()
    today = local_date(now, zone)
    backs = [7, 2, 9, 0, 5, 8, 3, 6]  # 1 and 4 missing: runs 9..5 and 3..2 and 0
    ats = [min(noon(today - dt.timedelta(days=b), zone), now) for b in backs]
    outs = run_concurrently(s.pg, s.dbname, len(ats), s.app, s.t.id, s.t.owner, AWARD_AT,
                            lambda i: (user, "lesson_completed", None, None, f"cc{i}-{user}", ats[i]))
    assert all(o.ok and o.rows[0][1] == 10 for o in outs), [o.sqlstate for o in outs]
    dates = [today - dt.timedelta(days=b) for b in backs]
    assert s.streak(user) == streaks(dates) == (1, 5, today)
    stored = sorted(r[0] for r in s.su.execute("select local_date from gamification.point_transactions"
                                               " where user_id = %s", (user,)).fetchall())
    assert stored == sorted(dates)
