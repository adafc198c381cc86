"""The rules engine (gamification V0090-V0093), as the application role.

Step 1 (V0090/V0091): the outbox accepts 'assessment_passed' events (source 'assessment_attempt') and the
source 'assignment_submission'; consume_learning_events() awards assessment_passed events by the rule of
that event type, exactly once, also with several consumers at once.

Step 2 (V0092): back-dated awards. award_points(..., p_occurred_at) dates the ledger row at the event; rule
validity, cooldowns, per-day limits, the daily cap and the streak (local date in users.timezone) use that
time; EL024 beyond backdate_skew() ahead or backdate_window() back; the consumer dates awards at the event.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PgServer
from .identity_support import Tenant, add_user, create_tenant, run, run_concurrently

AWARD = "select id, amount, kind, balance_after from gamification.award_points(%s, %s, %s, %s, %s)"
CONSUME = "select gamification.consume_learning_events(%s)"
AWARD_AT = ("select id, amount, kind, balance_after from gamification.award_points(%s, %s, %s, %s, %s,"
            " p_occurred_at => %s::timestamptz)")
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Game:
    """A tenant with a default point system 'XP' and one rule per event type of ``RULES``."""

    RULES = {"lesson_completed": 10, "course_completed": 7, "assessment_passed": 25}

    def __init__(self, pg: PgServer, dbname: str) -> None:
        self.pg, self.dbname = pg, dbname
        self.su = pg.connect(dbname, autocommit=True)
        self.app = pg.roles["app_role"]
        self.t: Tenant = create_tenant(self.su, pg, "rules")
        self.system = self.ok("insert into gamification.point_systems (organization_id, name, unit, is_default)"
                              " values (%s, 'XP', 'XP', true) returning id", (self.t.id,))
        self.rules = {event: self.ok("insert into gamification.point_rules (organization_id, point_system_id,"
                                     " event_type, points) values (%s, %s, %s, %s) returning id",
                                     (self.t.id, self.system, event, points))
                      for event, points in self.RULES.items()}

    def run(self, query: str, params: Any = (), who: uuid.UUID | None = None) -> Any:
        return run(self.su, self.app, self.t.id, who or self.t.owner, query, params)

    def ok(self, query: str, params: Any = (), who: uuid.UUID | None = None) -> Any:
        return self.run(query, params, who).value

    def learner(self, name: str = "learner") -> uuid.UUID:
        return add_user(self.su, self.pg, self.t, f"{name}-{secrets.token_hex(3)}", role="learner")

    def event(self, user: uuid.UUID, event_type: str, source_type: str, payload: str = "{}",
              occurred_at: str | None = None) -> str:
        """Insert an outbox event as the writers do (superuser stands in for their definer code)."""
        sid = uuid.uuid4()
        key = f"{event_type}:{sid}"
        self.su.execute("insert into course_management.learning_events (organization_id, user_id, event_type,"
                        " source_type, source_id, idempotency_key, payload, occurred_at)"
                        " values (%s, %s, %s, %s, %s, %s, %s, coalesce(%s::timestamptz, now()))",
                        (self.t.id, user, event_type, source_type, sid, key, payload, occurred_at))
        return key

    def ledger(self, user: uuid.UUID) -> list[tuple[Any, ...]]:
        return self.su.execute("select idempotency_key, amount, kind, rule_id from gamification.point_transactions"
                               " where organization_id = %s and user_id = %s order by occurred_at, id",
                               (self.t.id, user)).fetchall()

    def available(self, user: uuid.UUID) -> int:
        row = self.su.execute("select available from gamification.user_points where organization_id = %s"
                              " and user_id = %s and point_system_id = %s", (self.t.id, user, self.system)).fetchone()
        return int(row[0]) if row else 0


@pytest.fixture
def g(pg: PgServer, db: str) -> Iterator[Game]:
    game = Game(pg, db)
    yield game
    game.su.close()


# -- step 1: assessment events in the outbox -------------------------------------------------------------

def test_outbox_checks_are_validated_and_keep_their_names(conn: psycopg.Connection) -> None:
    rows = conn.execute("select conname, convalidated from pg_constraint"
                        " where conrelid = 'course_management.learning_events'::regclass and contype = 'c'"
                        " and conname like 'ck_learning_events_%%_type' order by 1").fetchall()
    assert rows == [("ck_learning_events_event_type", True), ("ck_learning_events_source_type", True)]


def test_outbox_accepts_assessment_sources_and_refuses_others(g: Game) -> None:
    user = g.learner()
    g.event(user, "assessment_passed", "assessment_attempt", '{"score": 80}')
    g.event(user, "course_completed", "assignment_submission")
    for event_type, source_type, constraint in [("assessment_failed", "assessment_attempt", "ck_learning_events_event_type"),
                                                ("assessment_passed", "quiz", "ck_learning_events_source_type")]:
        with pytest.raises(psycopg.errors.CheckViolation) as exc:
            g.event(user, event_type, source_type)
        assert exc.value.diag.constraint_name == constraint


def test_assessment_passed_events_are_consumed_exactly_once(g: Game) -> None:
    user = g.learner()
    keys = [g.event(user, "assessment_passed", "assessment_attempt") for _ in range(2)]
    other = g.event(user, "course_enrolled", "enrollment")
    assert g.ok(CONSUME, (10,), who=user) == 2
    assert g.ok(CONSUME, (10,), who=user) == 0
    assert sorted(g.ledger(user)) == sorted((f"learning_event:{k}", 25, "award", g.rules["assessment_passed"])
                                            for k in keys)
    pending = g.su.execute("select idempotency_key from course_management.learning_events"
                           " where user_id = %s and consumed_at is null", (user,)).fetchall()
    assert pending == [(other,)]
    assert g.available(user) == 50


def test_concurrent_consumers_award_assessment_events_once(g: Game) -> None:
    users = [g.learner(f"c{i}") for i in range(3)]
    kinds = [("assessment_passed", "assessment_attempt", 25), ("lesson_completed", "lesson_progress", 10)]
    for n in range(18):
        event_type, source_type, _ = kinds[n % 2]
        g.event(users[n % 3], event_type, source_type)
    outs = run_concurrently(g.pg, g.dbname, 4, g.app, g.t.id, users[0], CONSUME, lambda i: (4,))
    assert all(o.ok for o in outs), [o.sqlstate for o in outs]
    consumed = sum(o.rows[0][0] for o in outs) + g.ok(CONSUME, (100,))
    assert consumed == 18
    for u in users:
        rows = g.ledger(u)
        assert len(rows) == len({r[0] for r in rows}) == 6
        assert g.available(u) == 3 * 25 + 3 * 10


# -- step 2: back-dated awards ---------------------------------------------------------------------------

def py_next_streak(prev: dt.date | None, streak: int, new: dt.date) -> int:
    """The documented streak rule (gamification.next_streak), for the models."""
    if prev is None or streak == 0:
        return 1
    if new == prev:
        return streak
    if new == prev + dt.timedelta(days=1):
        return streak + 1
    if new < prev:
        return streak
    return 1


def test_award_time_bounds(g: Game) -> None:
    user = g.learner()
    now = g.su.execute("select now()").fetchone()[0]
    window, skew = g.su.execute("select gamification.backdate_window(), gamification.backdate_skew()").fetchone()
    assert (window, skew) == (dt.timedelta(days=30), dt.timedelta(minutes=5))
    for at in (now + dt.timedelta(minutes=10), now - dt.timedelta(days=31)):
        out = g.run(AWARD_AT, (user, "lesson_completed", None, None, f"bad-{at}", at))
        assert out.sqlstate == "EL024"
    assert g.ledger(user) == []
    # Just inside the window, and a time within the skew that counts as now.
    old = g.run(AWARD_AT, (user, "lesson_completed", None, None, "old", now - window + dt.timedelta(minutes=1)))
    assert old.ok and old.rows[0][1] == 10
    soon = g.run("select occurred_at from gamification.award_points(%s, 'lesson_completed', null, null, 'soon',"
                 " p_occurred_at => now() + interval '2 minutes')", (user,))
    assert soon.ok
    assert soon.rows[0][0] <= g.su.execute("select now()").fetchone()[0]
    # The old signature (5 and 6 arguments) still works, dated now.
    assert g.run(AWARD, (user, "lesson_completed", None, None, "five")).rows[0][1] == 10
    assert g.run(AWARD.replace("%s)", "%s, %s)"), (user, "lesson_completed", None, None, "six", g.system)).ok


def test_backdated_ledger_rows_and_per_day_limits_use_the_event_day(g: Game) -> None:
    user = g.learner()
    g.su.execute("update user_management.users set timezone = 'UTC' where id = %s", (user,))
    rule = g.ok("insert into gamification.point_rules (organization_id, point_system_id, event_type, points, max_per_day)"
                " values (%s, %s, 'forum_post', 3, 1) returning id", (g.t.id, g.system))
    noon = g.su.execute("select date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'"
                        " - interval '12 hours'").fetchone()[0]  # yesterday 12:00 UTC
    results = [g.run(AWARD_AT, (user, "forum_post", "post", uuid.uuid4(), f"f{i}", noon + dt.timedelta(hours=h))).rows[0][1]
               for i, h in enumerate([0, 3, -24, 13])]
    # yesterday 12:00 ok; yesterday 15:00 same day: refused; the day before: ok; today 01:00: ok.
    assert results == [3, None, 3, 3]
    dates = g.su.execute("select occurred_at from gamification.point_transactions where rule_id = %s order by 1",
                         (rule,)).fetchall()
    assert [d[0] for d in dates] == [noon - dt.timedelta(hours=24), noon, noon + dt.timedelta(hours=13)]


def test_cooldown_applies_before_and_after_a_backdated_award(g: Game) -> None:
    user = g.learner()
    g.ok("insert into gamification.point_rules (organization_id, point_system_id, event_type, points, cooldown)"
         " values (%s, %s, 'streak_day', 4, interval '1 hour') returning id", (g.t.id, g.system))
    base = g.su.execute("select now() - interval '2 days'").fetchone()[0]
    got = [g.run(AWARD_AT, (user, "streak_day", None, None, f"c{i}", base + dt.timedelta(minutes=m))).rows[0][1]
           for i, m in enumerate([0, -59, 59, -60, 120, 61])]
    assert got == [4, None, None, 4, 4, None]  # 61: 59 minutes before the award at 120


def test_daily_cap_is_per_local_day_of_the_event(g: Game) -> None:
    user = g.learner()
    g.ok("update gamification.point_systems set daily_cap = 15 where id = %s returning id", (g.system,))
    yesterday = g.su.execute("select now() - interval '1 day'").fetchone()[0]
    assert [g.run(AWARD_AT, (user, "lesson_completed", None, None, f"d{i}", yesterday)).rows[0][1]
            for i in range(3)] == [10, 5, None]
    assert g.run(AWARD, (user, "lesson_completed", None, None, "today")).rows[0][1] == 10


@PROPERTY
@given(offsets=st.lists(st.integers(0, 29 * 24), min_size=1, max_size=12),
       zone=st.sampled_from(["UTC", "Pacific/Kiritimati", "America/New_York", "Asia/Kathmandu"]))
def test_backdated_streaks_follow_the_local_dates(g: Game, offsets: list[int], zone: str) -> None:
    """Awards dated ``offsets`` hours ago, in the given (random) order, for a learner in ``zone``: the ledger
    rows carry those times, and current/longest streak and last activity equal next_streak folded over the
    local dates in call order (an earlier date keeps the streak, a later consecutive date extends it)."""
    user = g.learner()
    g.su.execute("update user_management.users set timezone = %s where id = %s", (zone, user))
    now = g.su.execute("select now()").fetchone()[0]
    prev: dt.date | None = None
    streak = longest = 0
    for i, hours in enumerate(offsets):
        at = now - dt.timedelta(hours=hours, minutes=1)
        out = g.run(AWARD_AT, (user, "lesson_completed", None, None, f"s{i}-{user}", at))
        assert out.ok and out.rows[0][1] == 10
        local = g.su.execute("select (%s::timestamptz at time zone %s)::date", (at, zone)).fetchone()[0]
        streak = py_next_streak(prev, streak, local)
        longest = max(longest, streak)
        prev = local if prev is None else max(prev, local)
    row = g.su.execute("select current_streak, longest_streak, last_activity_local_date, available"
                       " from gamification.user_points where user_id = %s", (user,)).fetchone()
    assert row == (streak, longest, prev, 10 * len(offsets))


def test_consumer_dates_awards_at_the_event(g: Game) -> None:
    user = g.learner()
    g.su.execute("update user_management.users set timezone = 'UTC' where id = %s", (user,))
    times = g.su.execute("select now() - interval '3 days', now() - interval '2 days', now() - interval '40 days'"
                         ).fetchone()
    keys = [g.event(user, "lesson_completed", "lesson_progress", occurred_at=t.isoformat()) for t in times]
    assert g.ok(CONSUME, (10,), who=user) == 3
    dated = dict(g.su.execute("select idempotency_key, occurred_at from gamification.point_transactions"
                              " where user_id = %s", (user,)).fetchall())
    assert dated[f"learning_event:{keys[0]}"] == times[0]
    assert dated[f"learning_event:{keys[1]}"] == times[1]
    # Older than the window: dated at the window's start (now() of the consumer's transaction - 30 days).
    assert times[2] < dated[f"learning_event:{keys[2]}"] < times[0] - dt.timedelta(days=26)
    row = g.su.execute("select current_streak from gamification.user_points where user_id = %s", (user,)).fetchone()
    assert row == (2,)  # the 40-day-old event, applied first (oldest), starts a streak the gap then resets
