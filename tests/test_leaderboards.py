"""Leaderboards (gamification V0094-V0098), as the application role: the cached standings equal a
Python model recomputed from the sources (scores per type and period in the board's time zone,
competition and dense ties, opted-out and deleted users absent without gaps); RLS (members read
their organization's boards only, nobody but the functions writes the cache); concurrency (a second
refresh waits, the worker skips a board being refreshed, readers never see half a refresh); the
cross-tenant worker; periods finalized and kept as configured; the queries use their indexes.

Ledger rows and balances are arranged directly as superuser (the ledger is append-only, so INSERT is
allowed; back-dated rows simulate time), as the application cannot choose occurred_at.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import uuid
import zoneinfo
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from psycopg import sql

from .conftest import PgServer
from .identity_support import Outcome, Tenant, add_user, create_tenant, run, set_context, set_role, wait_blocked_or_done
from .tenancy import ARGON2

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TOP = "select place, rank, user_id, score from gamification.leaderboard_top(%s, 1000)"
RANK = "select place, rank, score, entry_count from gamification.leaderboard_rank(%s, %s)"
AROUND = "select place, rank, user_id, score from gamification.leaderboard_around(%s, %s, %s)"
REFRESH = "select period_start, period_end, entry_count from gamification.refresh_leaderboard(%s)"
EARNED = ("award", "bonus")


# -- the model ---------------------------------------------------------------------------------------

def period_bounds(period: str, zone: str, at: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
    """[start, end) of the period containing ``at``, between local midnights (zoneinfo, not SQL)."""
    if period == "all_time":
        return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc), None
    tz = zoneinfo.ZoneInfo(zone)
    local = at.astimezone(tz).date()
    if period == "daily":
        first, nxt = local, local + dt.timedelta(days=1)
    elif period == "weekly":
        first = local - dt.timedelta(days=local.weekday())
        nxt = first + dt.timedelta(days=7)
    else:
        first = local.replace(day=1)
        nxt = (first + dt.timedelta(days=32)).replace(day=1)
    def midnight(d: dt.date) -> dt.datetime:
        return dt.datetime(d.year, d.month, d.day, tzinfo=tz)
    return midnight(first), midnight(nxt)


def standings(scores: dict[uuid.UUID, int], tie: str) -> list[tuple[int, int, uuid.UUID, int]]:
    """(place, rank, user, score) of the users with a score above 0: score descending, then user id."""
    ranked = sorted(((s, u) for u, s in scores.items() if s > 0), key=lambda x: (-x[0], x[1]))
    higher = sorted({s for s, _ in ranked}, reverse=True)
    out = []
    for place, (s, u) in enumerate(ranked, 1):
        rank = (1 + sum(1 for t, _ in ranked if t > s)) if tie == "competition" else 1 + higher.index(s)
        out.append((place, rank, u, s))
    return out


# -- the arrangement ---------------------------------------------------------------------------------

@dataclass
class League:
    pg: PgServer
    dbname: str
    su: psycopg.Connection = field(init=False)
    t: Tenant = field(init=False)
    system: uuid.UUID = field(init=False)

    def __post_init__(self) -> None:
        self.su = self.pg.connect(self.dbname, autocommit=True)
        self.app = self.pg.roles["app_role"]
        self.t = create_tenant(self.su, self.pg, "lb")
        self.system = self.new_system()

    def run(self, query: str, params: Sequence[Any] = (), who: uuid.UUID | None = None) -> Outcome:
        return run(self.su, self.app, self.t.id, who or self.t.owner, query, params)

    def ok(self, query: str, params: Sequence[Any] = (), who: uuid.UUID | None = None) -> Any:
        out = self.run(query, params, who)
        assert out.ok, f"{out.sqlstate} {out.constraint}"
        return out

    def new_system(self) -> uuid.UUID:
        return self.ok("insert into gamification.point_systems (organization_id, name) values (%s, %s) returning id",
                       (self.t.id, f"S {secrets.token_hex(4)}")).value  # type: ignore[no-any-return]

    def users(self, n: int, zones: Sequence[str] = ("UTC",)) -> list[uuid.UUID]:
        with self.su.transaction():
            set_context(self.su, self.t.id, self.t.owner)  # the plan-limit trigger wants the tenant
            rows = self.su.execute(
                "insert into user_management.users (organization_id, email, display_name, timezone, password_hash)"
                " select %s, 'u' || g || '-' || %s || '@lb.example', 'U' || g, (%s::text[])[1 + g %% %s], %s"
                " from generate_series(1, %s) g returning id",
                (self.t.id, secrets.token_hex(4), list(zones), len(zones), ARGON2, n)).fetchall()
        return [r[0] for r in rows]

    def board(self, board_type: str = "xp", period: str = "all_time", *, scope: str = "organization",
              tie: str = "competition", zone: str = "UTC", system: uuid.UUID | None = None,
              course: uuid.UUID | None = None) -> uuid.UUID:
        return self.ok(  # type: ignore[no-any-return]
            "insert into gamification.leaderboards (organization_id, name, board_type, period, scope, tie_rule,"
            " timezone, point_system_id, course_id) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
            (self.t.id, f"B {secrets.token_hex(4)}", board_type, period, scope, tie, zone,
             None if board_type == "badges" else (system or self.system), course)).value

    def ledger(self, user: uuid.UUID, kind: str, amount: int, at: dt.datetime | None = None,
               system: uuid.UUID | None = None, source: tuple[str, uuid.UUID] | None = None) -> None:
        self.su.execute(
            "insert into gamification.point_transactions (organization_id, user_id, point_system_id, amount, kind,"
            " idempotency_key, reason, occurred_at, balance_after, source_type, source_id)"
            " values (%s, %s, %s, %s, %s, %s, 'test', coalesce(%s, now()), 0, %s, %s)",
            (self.t.id, user, system or self.system, amount, kind, secrets.token_hex(8), at,
             source[0] if source else None, source[1] if source else None))

    def balances(self, user: uuid.UUID, *, lifetime: int = 0, available: int = 0, streak: int = 0,
                 last: dt.date | None = None, system: uuid.UUID | None = None) -> None:
        self.su.execute(
            "insert into gamification.user_points (organization_id, user_id, point_system_id, available,"
            " lifetime_earned, current_streak, longest_streak, last_activity_local_date)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (self.t.id, user, system or self.system, available, lifetime, streak, streak, last))

    def top(self, board: uuid.UUID, who: uuid.UUID | None = None) -> list[tuple[Any, ...]]:
        return self.ok(TOP, (board,), who).rows

    def now(self) -> dt.datetime:
        return self.su.execute("select now()").fetchone()[0]  # type: ignore[index]


@pytest.fixture
def lg(pg: PgServer, db: str) -> Iterator[League]:
    league = League(pg, db)
    yield league
    league.su.close()


ZONES = ["UTC", "America/New_York", "Asia/Kathmandu", "Pacific/Kiritimati"]
ledger_rows = st.lists(st.tuples(st.integers(0, 7),  # user
                                 st.sampled_from(["award", "bonus", "spend", "adjust+", "adjust-", "refund"]),
                                 st.sampled_from([1, 2, 3, 5]),
                                 st.integers(0, 24 * 40)),  # hours ago
                       max_size=30)


@PROPERTY
@given(board_type=st.sampled_from(["xp", "points", "streak"]),
       period=st.sampled_from(["daily", "weekly", "monthly", "all_time"]),
       tie=st.sampled_from(["competition", "dense"]), zone=st.sampled_from(ZONES), rows=ledger_rows,
       streaks=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=8, max_size=8),
       opted=st.sets(st.integers(0, 7), max_size=2), deleted=st.sets(st.integers(0, 7), max_size=2),
       leave=st.lists(st.integers(0, 1000), max_size=5))
# Always tried: part of a dense tie leaves (the score stays: the rank below must not move), then the
# rest of it (the score goes: it must).
@example(board_type="xp", period="all_time", tie="dense", zone="UTC",
         rows=[(0, "award", 3, 1), (1, "award", 3, 1), (2, "award", 2, 1), (3, "award", 1, 1)],
         streaks=[(0, 0)] * 8, opted=set(), deleted=set(), leave=[1, 0, 5])
def test_cached_ranks_equal_the_model(lg: League, board_type: str, period: str, tie: str, zone: str,
                                      rows: list[tuple[int, str, int, int]], streaks: list[tuple[int, int]],
                                      opted: set[int], deleted: set[int], leave: list[int]) -> None:
    """Random ledgers (amounts chosen to tie often, back-dated across period boundaries), balances and
    streaks for 8 users in several time zones, some opted out, deleted or suspended (odd indexes of
    ``deleted``, V0140) before the refresh: the cached standings read by a learner (leaderboard_top,
    _rank, _around) equal the model (scores per board type summed over the period computed with
    zoneinfo; the tie rule; score > 0; opted-out, deleted and suspended users absent). Then up to 5
    users leave (opt-out, soft deletion or suspension) one by one without a refresh: their entries are
    only marked hidden, yet each time every query (top, each user's rank, around each user) equals the
    model recomputed without them (no gap in places, ranks by the tie rule among the visible users,
    ties among hidden and visible users included). Opting back in and unsuspension show the user only
    after the refresh, which also deletes the hidden rows."""
    if board_type == "streak":
        period = "all_time"
    system = lg.new_system()
    users = lg.users(8, ZONES)
    zones = dict(zip(users, [ZONES[(i + 1) % len(ZONES)] for i in range(8)]))  # as users() assigns them
    assert {u: z for u, z in lg.su.execute("select id, timezone from user_management.users where id = any(%s)",
                                            (users,)).fetchall()} == zones
    now = lg.now()
    start, end = period_bounds(period, zone, now)
    net = {u: 0 for u in users}
    earned = {u: 0 for u in users}
    window_net = {u: 0 for u in users}
    window_earned = {u: 0 for u in users}
    for i, kind, amount, hours in rows:
        user, at = users[i], now - dt.timedelta(hours=hours, minutes=1)
        signed = -amount if kind in ("spend", "adjust-") else amount
        lg.ledger(user, kind.rstrip("+-"), signed, at, system)
        is_earned = kind in EARNED or kind == "adjust+"
        net[user] += signed
        earned[user] += amount if is_earned else 0
        if at >= start and (end is None or at < end):
            window_net[user] += signed
            window_earned[user] += amount if is_earned else 0
    streak_score = {}
    for user, (streak, days_ago) in zip(users, streaks):
        today = now.astimezone(zoneinfo.ZoneInfo(zones[user])).date()
        last = today - dt.timedelta(days=days_ago)
        lg.balances(user, lifetime=earned[user], available=max(net[user], 0), streak=streak, last=last, system=system)
        streak_score[user] = streak if days_ago <= 1 else 0
    if board_type == "streak":
        scores = streak_score
    elif period == "all_time":
        scores = earned if board_type == "xp" else {u: max(n, 0) for u, n in net.items()}
    else:
        scores = window_earned if board_type == "xp" else window_net
    board = lg.board(board_type, period, tie=tie, zone=zone, system=system)
    for i in opted:
        lg.ok("select gamification.set_leaderboard_opt_out(true)", who=users[i])
    for i in deleted:
        if i % 2:
            lg.ok("select user_management.suspend_user(%s, 'test')", (users[i],))
        else:
            lg.ok("update user_management.users set deleted_at = now() where id = %s", (users[i],))
    out = set(opted) | set(deleted)
    present = {u: s for u, s in scores.items() if users.index(u) not in out}

    period_row = lg.ok(REFRESH, (board,)).rows[0]
    assert period_row[0] == start and period_row[1] == end
    expected = standings(present, tie)
    reader = users[0] if 0 not in deleted else lg.t.owner
    assert [tuple(r) for r in lg.top(board, reader)] == expected
    assert period_row[2] == len(expected)
    for place, rank, user, score in expected:
        assert lg.ok(RANK, (board, user), reader).rows == [(place, rank, score, len(expected))]
    if expected:
        place, _, user, _ = expected[len(expected) // 2]
        assert lg.ok(AROUND, (board, 2, user), reader).rows == [e for e in expected if abs(e[0] - place) <= 2]
    for u in users:
        if u not in {e[2] for e in expected}:
            assert lg.ok(RANK, (board, u), reader).rows == []

    # Leaving without a refresh: the leavers' entries are only marked hidden, the queries close the
    # ranks at once, over several leavers (ties among hidden and visible entries alike).
    cached = "select user_id, place, rank, tie_count, score from gamification.leaderboard_entries" \
             " where leaderboard_id = %s order by place"
    before = lg.su.execute(cached, (board,)).fetchall()
    left_opted: list[uuid.UUID] = []
    left_suspended: list[uuid.UUID] = []
    n_left = 0
    for pick in leave:
        if not expected:
            break
        user = expected[pick % len(expected)][2]
        if pick % 3 == 1:
            lg.ok("select gamification.set_leaderboard_opt_out(true)", who=user)
            left_opted.append(user)
        elif pick % 3 == 2:
            lg.ok("select user_management.suspend_user(%s, 'test')", (user,))
            left_suspended.append(user)
        else:
            lg.ok("update user_management.users set deleted_at = now() where id = %s", (user,))
        present.pop(user)
        n_left += 1
        expected = standings(present, tie)
        assert_board(lg, board, expected, users)
    hidden = lg.su.execute("select count(*) from gamification.leaderboard_entries where leaderboard_id = %s"
                           " and hidden", (board,)).fetchone()[0]  # type: ignore[index]
    assert hidden == n_left  # one row per leaver
    assert lg.su.execute(cached, (board,)).fetchall() == before  # nobody renumbered
    # Opting back in and unsuspension wait for the refresh; the refresh deletes the hidden rows and
    # ranks afresh.
    shown = expected
    if left_opted:
        back = left_opted[0]
        lg.ok("select gamification.set_leaderboard_opt_out(false)", who=back)
        assert_board(lg, board, shown, users)
        present[back] = scores[back]
    if left_suspended:
        back = left_suspended[0]
        lg.ok("select user_management.unsuspend_user(%s)", (back,))
        assert_board(lg, board, shown, users)
        present[back] = scores[back]
    expected = standings(present, tie)
    lg.ok(REFRESH, (board,))
    assert_board(lg, board, expected, users)
    assert lg.su.execute("select count(*) from gamification.leaderboard_entries where leaderboard_id = %s"
                         " and hidden", (board,)).fetchone() == (0,)


def assert_board(lg: League, board: uuid.UUID, expected: list[tuple[int, int, uuid.UUID, int]],
                 users: Sequence[uuid.UUID]) -> None:
    """Every board query equals the model: top, each ranked user's rank (and the ranked count),
    around-me for every ranked user, no row for the others."""
    assert [tuple(r) for r in lg.top(board)] == expected
    ranked = {e[2] for e in expected}
    for place, rank, user, score in expected:
        assert lg.ok(RANK, (board, user)).rows == [(place, rank, score, len(expected))]
        assert lg.ok(AROUND, (board, 2, user)).rows == [e for e in expected if abs(e[0] - place) <= 2]
    for u in users:
        if u not in ranked:
            assert lg.ok(RANK, (board, u)).rows == []
            assert lg.ok(AROUND, (board, 2, u)).rows == []


@pytest.mark.parametrize("tie", ["competition", "dense"])
def test_ties_among_hidden_and_visible_entries(lg: League, tie: str) -> None:
    """Several users leave between refreshes by every route (opt-out, soft delete, hard delete) out of
    ties: part of a tie (the score stays for the rest: dense ranks below unchanged, competition ranks
    -1), a whole tie (the score disappears: dense -1), the leader. Every query equals the model after
    each leave. A hard delete (the user has no ledger rows: all-time points from balances) turns the
    entries into hidden tombstones (user_id NULL) before the foreign-key cascade would delete them and
    open a gap; the refresh deletes hidden rows and tombstones."""
    users = lg.users(8)
    scores = dict(zip(users, [9, 7, 7, 7, 5, 5, 3, 3]))
    for u, pts in scores.items():
        lg.balances(u, lifetime=pts, available=pts)
    board = lg.board(tie=tie)
    lg.ok(REFRESH, (board,))
    present = dict(scores)

    def hard_delete(u: uuid.UUID) -> None:
        with lg.su.transaction():
            set_context(lg.su, lg.t.id, lg.t.owner)
            lg.su.execute("delete from user_management.users where id = %s", (u,))

    routes = [
        (users[2], lambda u: lg.ok("select gamification.set_leaderboard_opt_out(true)", who=u)),
        (users[4], lambda u: lg.ok("update user_management.users set deleted_at = now() where id = %s", (u,))),
        (users[5], hard_delete),  # the 5s are gone now
        (users[0], lambda u: lg.ok("select gamification.set_leaderboard_opt_out(true)", who=u)),
        (users[1], hard_delete),
    ]
    for user, leave in routes:
        leave(user)
        present.pop(user)
        assert_board(lg, board, standings(present, tie), users)
    assert lg.su.execute("select count(*) filter (where hidden), count(*) filter (where user_id is null)"
                         " from gamification.leaderboard_entries where leaderboard_id = %s",
                         (board,)).fetchone() == (5, 2)
    lg.ok(REFRESH, (board,))
    assert lg.su.execute("select count(*) from gamification.leaderboard_entries where leaderboard_id = %s",
                         (board,)).fetchone() == (len(present),)
    assert_board(lg, board, standings(present, tie), users)


def test_opt_out_during_a_refresh_is_not_lost(lg: League) -> None:
    """An opt-out that commits while a refresh (with a snapshot from before) rewrites the board waits for
    the refresh's row locks and then hides the refreshed entry; an opt-out-and-back-in before the
    refresh shows the user again (the refresh compares hidden_at with its snapshot)."""
    users = lg.users(6)
    for i, u in enumerate(users):
        lg.balances(u, lifetime=10 - i, available=10 - i)
    board = lg.board()
    lg.ok(REFRESH, (board,))
    # Back in before the refresh: shown again by it.
    lg.ok("select gamification.set_leaderboard_opt_out(true)", who=users[5])
    lg.ok("select gamification.set_leaderboard_opt_out(false)", who=users[5])
    for u in users[:3]:  # scores change, so the refresh rewrites every entry
        lg.su.execute("update gamification.user_points set lifetime_earned = lifetime_earned + 100"
                      " where user_id = %s", (users[5 - users.index(u)],))
    refresh = _app_tx(lg)
    try:
        refresh.execute(REFRESH, (board,))  # entries rewritten, row locks held, not committed
        result: list[Outcome] = []
        leaver = _app_tx(lg, users[1])
        leaver_pid = leaver.info.backend_pid

        def go() -> None:
            try:
                leaver.execute("select gamification.set_leaderboard_opt_out(true)")
                leaver.commit()
                result.append(Outcome(None))
            except psycopg.Error as exc:
                result.append(Outcome(exc.sqlstate))
        th = threading.Thread(target=go)
        th.start()
        assert wait_blocked_or_done(lg.su, leaver_pid, th) is True  # waits for the refresh's row lock
        refresh.commit()
        th.join(timeout=30)
        leaver.close()
        assert result and result[0].ok
    finally:
        refresh.close()
    scores = {u: 10 - i + (100 if i >= 3 else 0) for i, u in enumerate(users)}
    scores.pop(users[1])
    assert_board(lg, board, standings(scores, "competition"), users)
    lg.ok(REFRESH, (board,))
    assert_board(lg, board, standings(scores, "competition"), users)


def test_model_catches_a_wrong_tie_rule() -> None:
    """The model is not the implementation: competition and dense differ on ties, as the board must."""
    a, b, c, d = (uuid.UUID(int=i) for i in range(1, 5))
    scores = {a: 5, b: 3, c: 3, d: 1}
    assert [r[1] for r in standings(scores, "competition")] == [1, 2, 2, 4]
    assert [r[1] for r in standings(scores, "dense")] == [1, 2, 2, 3]
    assert [r[0] for r in standings(scores, "dense")] == [1, 2, 3, 4]


@pytest.mark.parametrize("period, at, start, end", [
    # New York spring forward (2026-03-08): a 23-hour day; weeks start on Monday; months at local midnight.
    ("daily", "2026-03-08 12:00Z", "2026-03-08 05:00Z", "2026-03-09 04:00Z"),
    ("daily", "2026-03-08 04:59Z", "2026-03-07 05:00Z", "2026-03-08 05:00Z"),
    ("weekly", "2026-03-08 12:00Z", "2026-03-02 05:00Z", "2026-03-09 04:00Z"),
    ("monthly", "2026-03-31 12:00Z", "2026-03-01 05:00Z", "2026-04-01 04:00Z"),
    ("all_time", "2026-03-08 12:00Z", "1970-01-01 00:00Z", None),
])
def test_period_bounds_follow_local_midnight(lg: League, period: str, at: str, start: str, end: str | None) -> None:
    got = lg.ok("select period_start, period_end from gamification.leaderboard_period_bounds(%s, %s, %s)",
                (period, "America/New_York", at)).rows
    expect_start = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    expect_end = dt.datetime.fromisoformat(end.replace("Z", "+00:00")) if end else None
    assert got == [(expect_start, expect_end)]
    assert period_bounds(period, "America/New_York", dt.datetime.fromisoformat(at.replace("Z", "+00:00"))) == (
        expect_start, expect_end)


# -- scopes, types and rules -------------------------------------------------------------------------

def test_cohort_and_course_scopes_and_course_points(lg: League) -> None:
    a, b, c = lg.users(3)
    course = lg.ok("insert into course_management.courses (organization_id, title, slug, status)"
                   " values (%s, 'C', %s, 'published') returning id", (lg.t.id, f"c-{secrets.token_hex(3)}")).value
    other = lg.ok("insert into course_management.courses (organization_id, title, slug, status)"
                  " values (%s, 'D', %s, 'published') returning id", (lg.t.id, f"d-{secrets.token_hex(3)}")).value
    enrollments = {}
    for u in (a, b):
        enrollments[u] = lg.ok("insert into course_management.enrollments (organization_id, user_id, course_id)"
                               " values (%s, %s, %s) returning id", (lg.t.id, u, course)).value
    other_enrollment = lg.ok("insert into course_management.enrollments (organization_id, user_id, course_id)"
                             " values (%s, %s, %s) returning id", (lg.t.id, c, other)).value
    for u, pts in ((a, 4), (b, 9), (c, 20)):
        lg.ledger(u, "award", pts)
        lg.balances(u, lifetime=pts, available=pts)
    lg.ledger(a, "award", 7, source=("enrollment", enrollments[a]))
    lg.ledger(b, "bonus", 2, source=("course", course))
    lg.ledger(c, "award", 50, source=("enrollment", other_enrollment))
    lg.ledger(b, "spend", -1, source=("course", course))  # not earned: ignored

    course_board = lg.board("xp", "weekly", scope="course", course=course)
    lg.ok(REFRESH, (course_board,))
    assert [tuple(r) for r in lg.top(course_board)] == standings({a: 11, b: 11}, "competition")  # c not enrolled
    assert {r[1] for r in lg.top(course_board)} == {1}  # a tie: both first

    points_board = lg.board("course_points", "all_time", course=course)
    lg.ok(REFRESH, (points_board,))
    assert [r[1:] for r in lg.top(points_board)] == [(1, a, 7), (2, b, 2)]

    cohort = lg.board("xp", "monthly", scope="cohort")
    for u in (a, c):
        lg.ok("insert into gamification.leaderboard_members (organization_id, leaderboard_id, user_id)"
              " values (%s, %s, %s)", (lg.t.id, cohort, u))
    lg.ok(REFRESH, (cohort,))
    assert [r[2:] for r in lg.top(cohort)] == [(c, 70), (a, 11)]
    # Members only on cohort boards: EL035 with the trigger's name.
    out = lg.run("insert into gamification.leaderboard_members (organization_id, leaderboard_id, user_id)"
                 " values (%s, %s, %s)", (lg.t.id, course_board, c))
    assert (out.sqlstate, out.constraint) == ("EL035", "trg_leaderboard_members_check_scope")


def test_definitions_are_checked_and_fixed(lg: League) -> None:
    def insert(**cols: Any) -> Outcome:
        base = {"organization_id": lg.t.id, "name": f"X {secrets.token_hex(3)}", "board_type": "xp",
                "point_system_id": lg.system}
        base.update(cols)
        return lg.run(f"insert into gamification.leaderboards ({', '.join(base)}) values"
                      f" ({', '.join(['%s'] * len(base))})", tuple(base.values()))
    for cols, constraint in [
        ({"board_type": "streak", "period": "weekly"}, "ck_leaderboards_streak_period"),
        ({"point_system_id": None}, "ck_leaderboards_point_system_id"),
        ({"scope": "course"}, "ck_leaderboards_course_id"),
        ({"tie_rule": "ordinal"}, "ck_leaderboards_tie_rule"),
        ({"timezone": "Mars/Olympus"}, "ck_leaderboards_timezone"),
        ({"refresh_interval": "10 seconds"}, "ck_leaderboards_refresh_interval"),
    ]:
        out = insert(**cols)
        assert (out.sqlstate, out.constraint) == ("23514", constraint), cols
    board = lg.board()
    # What is ranked is fixed (no UPDATE privilege); name, interval, activity are not.
    assert lg.run("update gamification.leaderboards set period = 'daily' where id = %s", (board,)).sqlstate == "42501"
    assert lg.run("update gamification.leaderboards set active = false, refresh_interval = '1 hour'"
                  " where id = %s", (board,)).rowcount == 1
    out = lg.run(REFRESH, (board,))
    assert out.sqlstate == "EL036"
    assert lg.run(REFRESH, (uuid.uuid4(),)).sqlstate == "P0002"


def test_periods_are_finalized_and_history_is_kept(lg: League) -> None:
    """A period that ended since its last refresh is recomputed once over its whole span and marked
    final; closed periods beyond history_periods are deleted with their entries."""
    user, late = lg.users(2)
    board = lg.board("xp", "daily")
    now = lg.now()
    start, _ = period_bounds("daily", "UTC", now)
    lg.ledger(user, "award", 3, start - dt.timedelta(hours=2))
    lg.ledger(late, "award", 4, start - dt.timedelta(minutes=1))  # after the stale refresh below
    lg.ledger(user, "award", 1, now)
    # A stale, not final refresh of yesterday (as if the last refresh ran before its last hour).
    yesterday = start - dt.timedelta(days=1)
    lg.su.execute("insert into gamification.leaderboard_periods (organization_id, leaderboard_id, period_start,"
                  " period_end, refreshed_at) values (%s, %s, %s, %s, %s)",
                  (lg.t.id, board, yesterday, start, start - dt.timedelta(minutes=30)))
    for days in (2, 3, 4):  # older closed periods
        lg.su.execute("insert into gamification.leaderboard_periods (organization_id, leaderboard_id, period_start,"
                      " period_end, is_final) values (%s, %s, %s, %s, true)",
                      (lg.t.id, board, start - dt.timedelta(days=days), start - dt.timedelta(days=days - 1)))
    lg.ok("update gamification.leaderboards set history_periods = 2 where id = %s", (board,))
    lg.ok(REFRESH, (board,))
    periods = lg.su.execute("select period_start, is_final, entry_count from gamification.leaderboard_periods"
                            " where leaderboard_id = %s order by period_start", (board,)).fetchall()
    assert periods == [(start - dt.timedelta(days=2), True, 0), (yesterday, True, 2), (start, False, 1)]
    assert [r[1:] for r in lg.ok("select * from gamification.leaderboard_top(%s, 10, %s)", (board, yesterday)).rows] \
        == [(1, late, 4, yesterday), (2, user, 3, yesterday)]
    assert [r[2:] for r in lg.top(board)] == [(user, 1)]


# -- security ----------------------------------------------------------------------------------------

def test_members_read_their_organizations_boards_only(lg: League) -> None:
    learner = add_user(lg.su, lg.pg, lg.t, f"l-{secrets.token_hex(3)}", role="learner")
    lg.ledger(learner, "award", 5)
    lg.balances(learner, lifetime=5, available=5)
    board = lg.board()
    lg.ok(REFRESH, (board,))
    other = League.__new__(League)
    other.pg, other.dbname, other.su, other.app = lg.pg, lg.dbname, lg.su, lg.app
    other.t = create_tenant(lg.su, lg.pg, "other")
    other.system = other.new_system()
    stranger = other.users(1)[0]
    other.ledger(stranger, "award", 9)
    other.balances(stranger, lifetime=9, available=9)
    foreign = other.board()
    other.ok(REFRESH, (foreign,))

    assert [r[2:] for r in lg.top(board, learner)] == [(learner, 5)]
    assert lg.ok(RANK, (board, None), learner).rows == [(1, 1, 5, 1)]  # "my rank" defaults to the acting user
    # Another tenant's board: nothing, whether asked through the functions or the tables.
    assert lg.top(foreign, learner) == []
    assert lg.ok(RANK, (foreign, stranger), learner).rows == []
    for table in ("leaderboards", "leaderboard_periods", "leaderboard_entries", "leaderboard_members"):
        n = lg.ok(sql.SQL("select count(*) from gamification.{} where organization_id <> %s").format(
            sql.Identifier(table)).as_string(lg.su), (lg.t.id,), learner).value
        assert n == 0, table
    # The cache is written by functions only; boards by leaderboard.manage holders.
    for query, params in [
        ("update gamification.leaderboard_entries set score = 99 where leaderboard_id = %s", (board,)),
        ("delete from gamification.leaderboard_entries where leaderboard_id = %s", (board,)),
        ("insert into gamification.leaderboard_periods (organization_id, leaderboard_id, period_start)"
         " values (%s, %s, now())", (lg.t.id, board)),
        ("insert into gamification.leaderboards (organization_id, name, board_type, point_system_id)"
         " values (%s, 'mine', 'xp', %s)", (lg.t.id, lg.system)),
        (REFRESH, (board,)),
        ("select gamification.refresh_due_leaderboards(5)", ()),
        ("select gamification.apply_leaderboard_refresh(%s, false)", (board,)),
    ]:
        assert lg.run(query, params, learner).sqlstate == "42501", query
    # Preferences are the learner's own row.
    lg.ok("select gamification.set_leaderboard_opt_out(false)", who=lg.t.owner)
    lg.ok("select gamification.set_leaderboard_opt_out(true)", who=learner)
    assert lg.ok("select user_id from gamification.leaderboard_preferences", who=learner).rows == [(learner,)]
    assert lg.run("update gamification.leaderboard_preferences set opted_out = true where user_id = %s",
                  (lg.t.owner,), learner).rowcount == 0
    assert lg.top(board, learner) == []


def test_no_context_reads_nothing(lg: League) -> None:
    board = lg.board()
    lg.ok(REFRESH, (board,))
    out = run(lg.su, lg.app, None, None, TOP, (board,))
    assert out.ok and out.rows == []
    assert run(lg.su, lg.app, None, None, "select gamification.set_leaderboard_opt_out(true)").sqlstate == "42501"


# -- refresh: concurrency and the worker -------------------------------------------------------------

def _app_tx(lg: League, who: uuid.UUID | None = None) -> psycopg.Connection:
    k = lg.pg.connect(lg.dbname, autocommit=False)
    set_context(k, lg.t.id, who or lg.t.owner)
    set_role(k, lg.app)
    return k


def test_concurrent_refreshes_wait_and_readers_never_see_half(lg: League) -> None:
    users = lg.users(40)
    for i, u in enumerate(users):
        lg.ledger(u, "award", 1 + i % 7)
        lg.balances(u, lifetime=1 + i % 7, available=1 + i % 7)
    board = lg.board()
    lg.ok(REFRESH, (board,))
    before = lg.top(board)
    for u in users[:20]:  # change half of the scores
        lg.su.execute("update gamification.user_points set lifetime_earned = lifetime_earned + 10 where user_id = %s", (u,))
    # Make the board due for the worker (its last refresh an hour old), then hold its lock.
    lg.su.execute("update gamification.leaderboard_periods set refreshed_at = refreshed_at - interval '1 hour'"
                  " where leaderboard_id = %s", (board,))
    first = _app_tx(lg)
    try:
        first.execute(REFRESH, (board,))  # holds the board lock, entries rewritten, not committed
        pid = first.info.backend_pid
        # A reader sees the old standings, complete.
        assert lg.top(board) == before
        # The worker skips the locked board without waiting (another session, as owner).
        with lg.pg.connect(lg.dbname, autocommit=False) as w:
            w.execute(sql.SQL("set local role {}").format(sql.Identifier(lg.pg.roles["owner_role"])))
            w.execute("set local lock_timeout = '2s'")
            assert w.execute("select gamification.refresh_due_leaderboards(10)").fetchone() == (0,)
            w.rollback()
        # A second refresh waits for the first.
        result: list[Outcome] = []
        second = _app_tx(lg)
        second_pid = second.info.backend_pid

        def go() -> None:
            try:
                rows = second.execute(REFRESH, (board,)).fetchall()
                second.commit()
                result.append(Outcome(None, rows=rows))
            except psycopg.Error as exc:
                result.append(Outcome(exc.sqlstate))
        th = threading.Thread(target=go)
        th.start()
        assert wait_blocked_or_done(lg.su, second_pid, th) is True
        first.commit()
        th.join(timeout=30)
        second.close()
        assert result and result[0].ok
        assert pid != second_pid
    finally:
        first.close()
    after = lg.top(board)
    scores = {u: (1 + i % 7) + (10 if i < 20 else 0) for i, u in enumerate(users)}
    assert [tuple(r) for r in after] == standings(scores, "competition")


def test_worker_refreshes_due_boards_of_every_tenant(lg: League) -> None:
    other = League.__new__(League)
    other.pg, other.dbname, other.su, other.app = lg.pg, lg.dbname, lg.su, lg.app
    other.t = create_tenant(lg.su, lg.pg, "w")
    other.system = other.new_system()
    boards = []
    for league in (lg, other):
        u = league.users(1)[0]
        league.ledger(u, "award", 3)
        league.balances(u, lifetime=3, available=3)
        boards.append(league.board())
    inactive = lg.board()
    lg.ok("update gamification.leaderboards set active = false where id = %s", (inactive,))
    owner = lg.pg.roles["owner_role"]
    with lg.pg.connect(lg.dbname, autocommit=False) as w:
        set_context(w, lg.t.id, lg.t.owner)
        w.execute(sql.SQL("set local role {}").format(sql.Identifier(owner)))
        assert w.execute("select gamification.refresh_due_leaderboards(50)").fetchone() == (2,)
        # The caller's context is restored.
        assert w.execute("select current_setting('app.organization_id'), current_setting('app.user_id')"
                         ).fetchone() == (str(lg.t.id), str(lg.t.owner))
        # Refreshed boards are not due again.
        assert w.execute("select gamification.refresh_due_leaderboards(50)").fetchone() == (0,)
        w.commit()
    counts = lg.su.execute("select leaderboard_id, entry_count from gamification.leaderboard_periods"
                           " where leaderboard_id = any(%s)", ([*boards, inactive],)).fetchall()
    assert sorted(counts) == sorted((b, 1) for b in boards)
    # Due again once the interval has passed (simulated by ageing the refresh).
    lg.su.execute("update gamification.leaderboard_periods set refreshed_at = refreshed_at - interval '6 minutes'"
                  " where leaderboard_id = %s", (boards[1],))
    with lg.pg.connect(lg.dbname, autocommit=False) as w:
        w.execute(sql.SQL("set local role {}").format(sql.Identifier(owner)))
        assert w.execute("select gamification.refresh_due_leaderboards(50)").fetchone() == (1,)
        w.commit()
    assert run(lg.su, lg.app, lg.t.id, lg.t.owner, "select gamification.refresh_due_leaderboards(1)").sqlstate == "42501"


# -- plans ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, index, extra", [
    (TOP, "idx_leaderboard_entries_leaderboard_id_period_start_place", "place <= "),
    ("select * from gamification.leaderboard_rank(%s, %s)", "uq_leaderboard_entries_user_id_leaderboard_id_period_start",
     "user_id = "),
    ("select * from gamification.leaderboard_around(%s, 5, %s)", "idx_leaderboard_entries_leaderboard_id_period_start_place",
     "place >= "),
])
def test_board_queries_are_served_by_indexes(lg: League, query: str, index: str, extra: str) -> None:
    """As the app role (RLS on), with sequential scans disabled: the functions are inlined and read the
    entries through their indexes, with the board and period as index conditions, and the hidden
    entries through the partial index."""
    users = lg.users(300)
    for i, u in enumerate(users):
        lg.balances(u, lifetime=1 + i % 50)
    board = lg.board()
    lg.ok(REFRESH, (board,))
    lg.su.execute("analyze gamification.leaderboard_entries; analyze gamification.leaderboard_periods")
    params = (board,) if query == TOP else (board, users[7])
    lg.ok("select gamification.set_leaderboard_opt_out(true)", who=users[3])  # one hidden entry
    with lg.su.transaction(force_rollback=True):
        set_context(lg.su, lg.t.id, users[7])
        set_role(lg.su, lg.app)
        lg.su.execute("set local enable_seqscan = off")
        text = "\n".join(r[0] for r in lg.su.execute(("explain " + query).encode(), params))
    assert "Function Scan" not in text, text
    # The hidden entries (one here) come from the small partial index, not from the whole period.
    assert "idx_leaderboard_entries_hidden" in text, text
    assert any(f"{scan} {index}" in text for scan in ("Index Scan using", "Index Only Scan using",
                                                       "Bitmap Index Scan on")), text
    # Board, period (and place range or user) are index conditions, nothing is filtered row by row.
    cond = [line for line in text.splitlines() if "Index Cond" in line]
    assert any("leaderboard_id = " in line and "period_start = " in line and extra in line for line in cond), text
    assert "Rows Removed" not in text and not any(
        line.strip().startswith("Filter:") and "leaderboard_entries" in text for line in text.splitlines()
        if "place" in line or "user_id" in line), text


def test_badge_boards_count_held_badges(lg: League) -> None:
    """Badge boards (V0099, over the badges part's user_badges): badges held now, each counted; a revoked
    badge no longer counts."""
    from psycopg.types.json import Jsonb
    a, b, c = lg.users(3)
    badges = [lg.ok("insert into gamification.badges (organization_id, name, criteria) values (%s, %s, %s)"
                    " returning id", (lg.t.id, f"Badge {i} {secrets.token_hex(2)}",
                                      Jsonb({"type": "points_threshold", "points": 10 ** 9}))).value
              for i in range(2)]
    held = {}
    for user, mine in ((a, badges), (b, badges[:1]), (c, badges[1:])):
        for badge in mine:
            held[(user, badge)] = lg.ok("select id from gamification.award_badge(%s, %s, 'test')",
                                        (user, badge)).value
    lg.ok("select gamification.revoke_badge(%s, 'test')", (held[(c, badges[1])],))
    board = lg.board("badges", "weekly")
    lg.ok(REFRESH, (board,))
    assert [tuple(r) for r in lg.top(board)] == standings({a: 2, b: 1, c: 0}, "competition")
