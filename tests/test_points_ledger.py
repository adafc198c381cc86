"""The points ledger (gamification V0080-V0081), as the application role: award_points, spend_points,
adjust_points and consume_learning_events keep user_points equal to the ledger, exactly once per
idempotency key, never below zero (EL020), with levels and local-date streaks; RLS on ledger and
balances; concurrency (same key replayed by 16 connections, 8 concurrent spends).

Definitions checked (user_points against the ledger of one user and system):
  available       = sum(amount)
  spent           = -sum(amount) of kind spend
  lifetime_earned = sum(amount) of kinds award and bonus, plus positive adjust amounts
  level           = highest level_number whose threshold <= lifetime_earned (0 without levels)
Each test uses a fresh clone (``db``) and commits, so concurrency sees committed state.
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

from .gamification_model import py_next_streak, streaks
from .conftest import PgServer
from .identity_support import Tenant, add_user, create_tenant, run, run_concurrently

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LEVELS = [(1, "Novice", 0), (2, "Apprentice", 50), (3, "Adept", 150), (4, "Master", 400)]
AWARD = ("select id, amount, kind, balance_after from gamification.award_points(%s, %s, %s, %s, %s)")
SPEND = "select id, amount, kind, balance_after from gamification.spend_points(%s, %s, %s, %s)"
ADJUST = "select id, amount, kind, balance_after from gamification.adjust_points(%s, %s, %s, %s)"


class Game:
    def __init__(self, pg: PgServer, dbname: str) -> None:
        self.pg, self.dbname = pg, dbname
        self.su = pg.connect(dbname, autocommit=True)
        self.app = pg.roles["app_role"]
        self.t: Tenant = create_tenant(self.su, pg, "gam")
        self.system = self.ok(
            "insert into gamification.point_systems (organization_id, name, unit, is_default, multipliers)"
            " values (%s, 'XP', 'XP', true, '{\"course_completed\": 1.5}') returning id", (self.t.id,))
        for event, points in [("lesson_completed", 10), ("course_completed", 7)]:
            self.ok("insert into gamification.point_rules (organization_id, point_system_id, event_type, points)"
                    " values (%s, %s, %s, %s) returning id", (self.t.id, self.system, event, points))
        for number, name, threshold in LEVELS:
            self.ok("insert into gamification.levels (organization_id, point_system_id, level_number, name, threshold)"
                    " values (%s, %s, %s, %s, %s) returning id", (self.t.id, self.system, number, name, threshold))

    def run(self, query: str, params: Any = (), who: uuid.UUID | None = None) -> Any:
        return run(self.su, self.app, self.t.id, who or self.t.owner, query, params)

    def ok(self, query: str, params: Any = (), who: uuid.UUID | None = None) -> Any:
        return self.run(query, params, who).value

    def learner(self, name: str = "learner") -> uuid.UUID:
        return add_user(self.su, self.pg, self.t, f"{name}-{secrets.token_hex(3)}", role="learner")

    def balances(self, user: uuid.UUID) -> dict[str, Any] | None:
        row = self.su.execute("select to_jsonb(up) from gamification.user_points up where organization_id = %s"
                              " and user_id = %s and point_system_id = %s", (self.t.id, user, self.system)).fetchone()
        return row[0] if row else None

    def ledger(self, user: uuid.UUID) -> list[tuple[Any, ...]]:
        return self.su.execute("select id, amount, kind, balance_after from gamification.point_transactions"
                               " where organization_id = %s and user_id = %s order by occurred_at, id",
                               (self.t.id, user)).fetchall()


@pytest.fixture
def g(pg: PgServer, db: str) -> Iterator[Game]:
    game = Game(pg, db)
    yield game
    game.su.close()




def check_invariants(g: Game, user: uuid.UUID) -> dict[str, Any]:
    b = g.balances(user)
    assert b is not None
    rows = g.ledger(user)
    assert b["available"] == sum(r[1] for r in rows) >= 0
    assert b["spent"] == -sum(r[1] for r in rows if r[2] == "spend")
    lifetime = sum(r[1] for r in rows if r[2] in ("award", "bonus") or (r[2] == "adjust" and r[1] > 0))
    assert b["lifetime_earned"] == lifetime
    assert b["level"] == max(n for n, _, th in LEVELS if th <= lifetime)
    # balance_after chains the rows in the order their user_points lock was taken (occurred_at is the
    # transaction start, so concurrent transactions may sort differently): follow the chain from 0.
    running, left = 0, list(rows)
    while left:
        nxt = next((r for r in left if r[3] == running + r[1]), None)
        assert nxt is not None, f"balance_after chain broken at {running}: {left}"
        running = nxt[3]
        left.remove(nxt)
    assert b["longest_streak"] >= b["current_streak"]
    return b


operations = st.lists(st.one_of(
    st.tuples(st.just("award"), st.sampled_from(["lesson_completed", "course_completed"])),
    st.tuples(st.just("spend"), st.integers(1, 40)),
    st.tuples(st.just("adjust"), st.integers(-30, 30).filter(bool)),
    st.tuples(st.just("replay"), st.integers(0, 50)),
    st.tuples(st.just("day"), st.integers(1, 3)),
    st.tuples(st.just("tz"), st.sampled_from(["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York",
                                              "Asia/Kathmandu"])),
), min_size=1, max_size=25)


@PROPERTY
@given(ops=operations)
def test_balances_always_equal_the_ledger(g: Game, ops: list[tuple[str, Any]]) -> None:
    """Random award/spend/adjust/replay/day-change/time-zone-change sequences for one learner, the owner as
    staff actor: after every step user_points equals the ledger (see module docstring), available >= 0 (a
    spend or negative adjustment beyond it fails with EL020 and changes nothing), replays return the first row
    and change nothing, and the streak follows next_streak over the learner's local dates; a local date
    before the last active one (time zone moved west) recomputes it from the ledger's local dates (V0137:
    the runs of all dates, longest never lowered). "day" moves only the stored last activity back
    (simulated elapsed time), so there the ledger's real dates and the stored date differ on purpose."""
    user = g.learner()
    done: list[tuple[str, tuple[Any, ...], tuple[Any, ...]]] = []  # (query, params, first result)
    prev: dt.date | None = None
    streak = longest = 0
    dates: list[dt.date] = []  # the local dates on the ledger's award rows
    for n, (op, arg) in enumerate(ops):
        before = g.balances(user)
        key = f"k{n}-{secrets.token_hex(4)}"
        if op == "award":
            params: tuple[Any, ...] = (user, arg, "manual", None, key)
            out = g.run(AWARD, params)
            assert out.ok, out.sqlstate
            done.append((AWARD, params, out.rows[0]))
            zone = g.su.execute("select timezone from user_management.users where id = %s", (user,)).fetchone()[0]
            today = g.su.execute("select (now() at time zone %s)::date", (zone,)).fetchone()[0]
            assert g.su.execute("select local_date from gamification.point_transactions where id = %s",
                                (out.rows[0][0],)).fetchone() == (today,)
            dates.append(today)
            if prev is not None and today < prev:
                recomputed = streaks(dates)
                streak, longest = recomputed[0], max(longest, recomputed[1])
            else:
                streak = py_next_streak(prev, streak, today)
                longest = max(longest, streak)
            prev = today if prev is None else max(prev, today)
        elif op in ("spend", "adjust"):
            query = SPEND if op == "spend" else ADJUST
            params = (user, arg, key, "test") if op == "spend" else (user, arg, "correction", key)
            available = before["available"] if before else 0
            out = g.run(query, params)
            if available - abs(arg) < 0 and (op == "spend" or arg < 0):
                assert out.sqlstate == "EL020"
                assert g.balances(user) == before
            else:
                assert out.ok, out.sqlstate
                done.append((query, params, out.rows[0]))
        elif op == "replay":
            if not done:
                continue
            query, params, first = done[arg % len(done)]
            rows_before = g.ledger(user)
            out = g.run(query, params)
            assert out.ok and out.rows[0] == first
            assert g.ledger(user) == rows_before and g.balances(user) == before
        elif op == "day":
            if prev is None:
                continue
            # Simulated elapsed time: the last activity moves arg days into the past.
            g.su.execute("update gamification.user_points set last_activity_local_date = last_activity_local_date - %s"
                         " where user_id = %s", (arg, user))
            prev = prev - dt.timedelta(days=arg)
        elif op == "tz":
            g.su.execute("update user_management.users set timezone = %s where id = %s", (arg, user))
        if g.balances(user) is not None:
            b = check_invariants(g, user)
            if prev is not None:
                assert (b["current_streak"], b["last_activity_local_date"]) == (streak, prev.isoformat())
                assert b["longest_streak"] == longest


# -- streaks -------------------------------------------------------------------------------------------

NY = zoneinfo.ZoneInfo("America/New_York")
DST_START = dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.timezone.utc)  # 02:00 EST -> 03:00 EDT


@settings(max_examples=60, deadline=None)
@given(hours=st.lists(st.integers(-96, 96), min_size=1, max_size=12))
def test_streak_across_dst_follows_local_dates(pg: PgServer, template_db: str, hours: list[int]) -> None:
    """Activities at instants around the New York DST switch (2026-03-08): the streak computed by
    gamification.next_streak over the local dates (AT TIME ZONE in SQL) equals a count of consecutive
    local calendar days computed in Python with zoneinfo; a 23-hour local day never breaks a streak."""
    instants = sorted(DST_START + dt.timedelta(hours=h, minutes=30) for h in hours)
    with pg.connect(template_db, autocommit=True) as c:
        dates = [c.execute("select (%s::timestamptz at time zone 'America/New_York')::date", (i,)).fetchone()[0]
                 for i in instants]
        assert dates == [i.astimezone(NY).date() for i in instants]
        prev, streak = None, 0
        for d in dates:
            expected = py_next_streak(prev, streak, d)
            streak = c.execute("select gamification.next_streak(%s, %s, %s)", (prev, streak, d)).fetchone()[0]
            assert streak == expected
            prev = d
    # Consecutive local days (e.g. 23:30 on 7 and 8 March, 23 hours apart in UTC) extend the streak.
    assert py_next_streak(dt.date(2026, 3, 7), 4, dt.date(2026, 3, 8)) == 5


def test_next_streak_rules(pg: PgServer, template_db: str) -> None:
    with pg.connect(template_db, autocommit=True) as c:
        def ns(p: str | None, s: int, n: str) -> int:
            return c.execute("select gamification.next_streak(%s::date, %s, %s::date)", (p, s, n)).fetchone()[0]
        assert ns(None, 0, "2026-03-08") == 1
        assert ns("2026-03-07", 3, "2026-03-08") == 4  # next day extends
        assert ns("2026-03-08", 3, "2026-03-08") == 3  # same day keeps
        assert ns("2026-03-05", 3, "2026-03-08") == 1  # a gap resets
        assert ns("2026-03-09", 3, "2026-03-08") == 3  # an earlier local date (zone moved west) keeps


def test_streak_integration_uses_the_users_local_date(g: Game) -> None:
    user = g.learner()
    g.su.execute("update user_management.users set timezone = 'America/New_York' where id = %s", (user,))
    today = g.su.execute("select (now() at time zone 'America/New_York')::date").fetchone()[0]
    g.ok(AWARD, (user, "lesson_completed", "manual", None, "s1"))
    b = g.balances(user)
    assert (b["current_streak"], b["last_activity_local_date"]) == (1, today.isoformat())
    g.ok(AWARD, (user, "lesson_completed", "manual", None, "s2"))
    assert g.balances(user)["current_streak"] == 1  # same local day
    g.su.execute("update gamification.user_points set last_activity_local_date = %s where user_id = %s",
                 (today - dt.timedelta(days=1), user))
    g.ok(AWARD, (user, "lesson_completed", "manual", None, "s3"))
    assert (g.balances(user)["current_streak"], g.balances(user)["longest_streak"]) == (2, 2)
    g.su.execute("update gamification.user_points set last_activity_local_date = %s where user_id = %s",
                 (today - dt.timedelta(days=2), user))
    g.ok(AWARD, (user, "lesson_completed", "manual", None, "s4"))
    assert (g.balances(user)["current_streak"], g.balances(user)["longest_streak"]) == (1, 2)


# -- rules ---------------------------------------------------------------------------------------------

def test_rule_limits_and_daily_cap(g: Game) -> None:
    user = g.learner()
    g.ok("insert into gamification.point_rules (organization_id, point_system_id, event_type, points, first_time_only)"
         " values (%s, %s, 'assessment_passed', 20, true) returning id", (g.t.id, g.system))
    g.ok("insert into gamification.point_rules (organization_id, point_system_id, event_type, points, max_per_day)"
         " values (%s, %s, 'forum_post', 3, 2) returning id", (g.t.id, g.system))
    g.ok("insert into gamification.point_rules (organization_id, point_system_id, event_type, points, cooldown)"
         " values (%s, %s, 'streak_day', 4, interval '1 hour') returning id", (g.t.id, g.system))
    src = uuid.uuid4()
    assert g.run(AWARD, (user, "assessment_passed", "assessment", src, "a1")).rows[0][1] == 20
    assert g.run(AWARD, (user, "assessment_passed", "assessment", src, "a2")).rows[0] == (None,) * 4
    assert g.run(AWARD, (user, "assessment_passed", "assessment", uuid.uuid4(), "a3")).rows[0][1] == 20
    assert [g.run(AWARD, (user, "forum_post", "post", uuid.uuid4(), f"f{i}")).rows[0][1] for i in range(3)] == [3, 3, None]
    assert [g.run(AWARD, (user, "streak_day", None, None, f"s{i}")).rows[0][1] for i in range(2)] == [4, None]
    assert g.run(AWARD, (user, "course_completed", "enrollment", uuid.uuid4(), "c1")).rows[0][1] == 11  # 7 x 1.5
    g.ok("update gamification.point_systems set daily_cap = 70 where id = %s returning id", (g.system,))
    # 20 + 20 + 3 + 3 + 4 + 11 = 61 awarded today: the next 10 are clipped to 9, then nothing.
    assert g.run(AWARD, (user, "lesson_completed", None, None, "l1")).rows[0][1] == 9
    assert g.run(AWARD, (user, "lesson_completed", None, None, "l2")).rows[0] == (None,) * 4
    check_invariants(g, user)


def test_levels_must_be_a_sequence(g: Game) -> None:
    for number, threshold in [(6, 900), (5, 300)]:  # a gap; a threshold below level 4's
        with g.su.transaction():
            g.su.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                         (str(g.t.id), str(g.t.owner)))
            g.su.execute("insert into gamification.levels (organization_id, point_system_id, level_number, name, threshold)"
                         " values (%s, %s, %s, 'x', %s)", (g.t.id, g.system, number, threshold))
            with pytest.raises(psycopg.errors.CheckViolation) as exc:
                g.su.execute("set constraints all immediate")
            assert exc.value.diag.constraint_name == "trg_levels_check_sequence"
            raise psycopg.Rollback()


def test_adjust_needs_a_reason_and_staff(g: Game) -> None:
    user = g.learner()
    assert g.run(ADJUST, (user, 5, None, "r1")).sqlstate == "22023"
    assert g.run(ADJUST, (user, 5, "  ", "r1")).sqlstate == "22023"
    assert g.run(ADJUST, (user, 5, "ok", "r1"), who=user).sqlstate == "42501"
    assert g.run(ADJUST, (user, -1, "ok", "r1")).sqlstate == "EL020"
    assert g.run(ADJUST, (user, 5, "ok", "r1")).ok


# -- outbox consumer -----------------------------------------------------------------------------------

def test_consume_learning_events_awards_each_event_once(g: Game) -> None:
    user = g.learner()
    keys = []
    for event, source in [("lesson_completed", "lesson_progress"), ("course_completed", "enrollment"),
                          ("course_enrolled", "enrollment")]:
        sid = uuid.uuid4()
        keys.append(f"{event}:{sid}")
        g.su.execute("insert into course_management.learning_events (organization_id, user_id, event_type, source_type,"
                     " source_id, idempotency_key) values (%s, %s, %s, %s, %s, %s)",
                     (g.t.id, user, event, source, sid, keys[-1]))
    assert g.ok("select gamification.consume_learning_events(10)", who=user) == 2
    assert g.ok("select gamification.consume_learning_events(10)", who=user) == 0
    rows = g.su.execute("select idempotency_key, amount from gamification.point_transactions where user_id = %s"
                        " order by amount", (user,)).fetchall()
    assert rows == [(f"learning_event:{keys[0]}", 10), (f"learning_event:{keys[1]}", 11)]
    consumed = dict(g.su.execute("select event_type, consumed_at is not null from course_management.learning_events"
                                 " where user_id = %s", (user,)).fetchall())
    assert consumed == {"lesson_completed": True, "course_completed": True, "course_enrolled": False}
    check_invariants(g, user)
    assert g.run("select gamification.consume_learning_events(10)").ok
    assert run(g.su, g.app, None, None, "select gamification.consume_learning_events(10)").sqlstate == "42501"


# -- RLS -----------------------------------------------------------------------------------------------

def test_learners_see_only_their_own_points_and_nobody_writes_the_ledger(g: Game) -> None:
    a, b = g.learner("a"), g.learner("b")
    for u in (a, b):
        g.ok(AWARD, (u, "lesson_completed", None, None, f"rls-{u}"))
    for table in ("point_transactions", "user_points"):
        q = f"select count(*) filter (where user_id = %s), count(*) from gamification.{table}"
        assert g.ok(q + "", (a,), who=a) == 1
        assert g.run(q, (a,), who=a).rows[0] == (1, 1)
        assert g.run(q, (a,)).rows[0][1] == 2  # the owner holds gamification.manage
    assert g.run(AWARD, (a, "lesson_completed", None, None, "self"), who=a).sqlstate == "42501"
    assert g.run(SPEND, (b, 1, "steal", "x"), who=a).sqlstate == "42501"
    assert g.run(SPEND, (a, 1, "own", "x"), who=a).ok
    for who in (a, g.t.owner):
        assert g.run("insert into gamification.point_transactions (organization_id, user_id, point_system_id, amount,"
                     " kind, idempotency_key, balance_after) values (%s, %s, %s, 100, 'award', 'forged', 100)",
                     (g.t.id, a, g.system), who=who).sqlstate == "42501"
        assert g.run("update gamification.point_transactions set amount = 1000", who=who).sqlstate == "42501"
        assert g.run("delete from gamification.point_transactions", who=who).sqlstate == "42501"
        assert g.run("update gamification.user_points set available = 1000", who=who).sqlstate == "42501"
    # Even the owner role of the table cannot change the ledger (EL001).
    with pytest.raises(psycopg.Error) as exc:
        g.su.execute("update gamification.point_transactions set amount = amount")
    assert exc.value.sqlstate == "EL001"


# -- concurrency ---------------------------------------------------------------------------------------

def test_sixteen_replays_of_one_key_make_one_row(g: Game) -> None:
    user = g.learner()
    outs = run_concurrently(g.pg, g.dbname, 16, g.app, g.t.id, g.t.owner, AWARD,
                            lambda i: (user, "lesson_completed", None, None, "same-key"))
    assert all(o.ok for o in outs), [o.sqlstate for o in outs]
    assert len({o.rows[0] for o in outs}) == 1
    assert len(g.ledger(user)) == 1
    assert check_invariants(g, user)["available"] == 10


def test_eight_concurrent_spends_never_overdraw(g: Game) -> None:
    user = g.learner()
    g.ok(ADJUST, (user, 50, "starting balance", "start"))
    outs = run_concurrently(g.pg, g.dbname, 8, g.app, g.t.id, g.t.owner, SPEND,
                            lambda i: (user, 10, f"spend-{i}", "concurrent"))
    assert sorted(o.sqlstate or "ok" for o in outs) == ["EL020"] * 3 + ["ok"] * 5
    assert check_invariants(g, user)["available"] == 0


def test_concurrent_consumers_award_each_event_once(g: Game) -> None:
    """Four workers consume 24 events of three learners at once (SKIP LOCKED, user_id lock order): every
    event is consumed and awarded exactly once, no deadlock."""
    users = [g.learner(f"c{i}") for i in range(3)]
    for n in range(24):
        sid = uuid.uuid4()
        g.su.execute("insert into course_management.learning_events (organization_id, user_id, event_type, source_type,"
                     " source_id, idempotency_key) values (%s, %s, 'lesson_completed', 'lesson_progress', %s, %s)",
                     (g.t.id, users[n % 3], sid, f"lesson_completed:{sid}"))
    outs = run_concurrently(g.pg, g.dbname, 4, g.app, g.t.id, users[0],
                            "select gamification.consume_learning_events(5)", lambda i: ())
    assert all(o.ok for o in outs), [o.sqlstate for o in outs]
    consumed = sum(o.rows[0][0] for o in outs)
    consumed += g.ok("select gamification.consume_learning_events(100)")
    assert consumed == 24
    for u in users:
        assert len(g.ledger(u)) == 8
        assert check_invariants(g, u)["available"] == 80
