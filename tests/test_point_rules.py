"""The rules engine (gamification V0090-V0093), as the application role.

Step 1 (V0090/V0091): the outbox accepts 'assessment_passed' events (source 'assessment_attempt') and the
source 'assignment_submission'; consume_learning_events() awards assessment_passed events by the rule of
that event type, exactly once, also with several consumers at once.

Step 2 (V0092): back-dated awards. award_points(..., p_occurred_at) dates the ledger row at the event; rule
validity, cooldowns, per-day limits, the daily cap and the streak (local date in users.timezone, stored on
the ledger row since V0136; an earlier date fills a gap since V0137) use that time; EL024 beyond
backdate_skew() ahead or backdate_window() back; the consumer dates awards at the event.

Step 3 (V0093): rule conditions, per-period caps, boosts and rounding, compared with RulesModel (the
documented rules in Python) by a hypothesis property; the conditions validator against the vocabulary.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
import zoneinfo
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from .conftest import PgServer
from .gamification_model import streaks
from .identity_support import Tenant, add_user, create_tenant, run, run_concurrently

AWARD = "select id, amount, kind, balance_after from gamification.award_points(%s, %s, %s, %s, %s)"
CONSUME = "select gamification.consume_learning_events(%s)"
AWARD_AT = ("select id, amount, kind, balance_after from gamification.award_points(%s, %s, %s, %s, %s,"
            " p_occurred_at => %s::timestamptz)")
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


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
    rows carry those times and their local dates, and current/longest streak and last activity equal the
    runs of all the local dates so far (gamification_model.streaks, V0137: an earlier date counts too, it
    fills a gap or joins two runs), after every award."""
    user = g.learner()
    g.su.execute("update user_management.users set timezone = %s where id = %s", (zone, user))
    now = g.su.execute("select now()").fetchone()[0]
    dates: list[dt.date] = []
    for i, hours in enumerate(offsets):
        at = now - dt.timedelta(hours=hours, minutes=1)
        out = g.run(AWARD_AT, (user, "lesson_completed", None, None, f"s{i}-{user}", at))
        assert out.ok and out.rows[0][1] == 10
        local = g.su.execute("select (%s::timestamptz at time zone %s)::date", (at, zone)).fetchone()[0]
        assert g.su.execute("select local_date from gamification.point_transactions where id = %s",
                            (out.rows[0][0],)).fetchone() == (local,)
        dates.append(local)
        row = g.su.execute("select current_streak, longest_streak, last_activity_local_date, available"
                           " from gamification.user_points where user_id = %s", (user,)).fetchone()
        assert row == (*streaks(dates), 10 * len(dates)), dates


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


# -- step 3: conditions, caps, boosts against a Python model ---------------------------------------------

AWARD_FULL = ("select amount, rule_id, multiplier from gamification.award_points(%s, %s, %s, %s, %s, %s,"
              " %s::timestamptz, %s::jsonb)")
EVENTS = ["forum_post", "assessment_passed"]
SOURCES = ["post", "attempt", None]
ZONES = ["UTC", "Asia/Kathmandu", "America/New_York", "Pacific/Kiritimati"]


@dataclass
class Rule:
    event_type: str
    points: int
    first_time_only: bool = False
    cooldown_h: int | None = None
    max_per_day: int | None = None
    period: tuple[int, str] | None = None
    valid: tuple[int | None, int | None] = (None, None)  # hours ago: valid_from, valid_until
    conditions: dict[str, Any] = field(default_factory=dict)
    active: bool = True
    id: uuid.UUID | None = None


@dataclass
class Boost:
    event_type: str | None
    course: int | None
    multiplier: str
    starts_h: int  # hours ago
    ends_h: int | None  # hours ago (< starts_h) or open-ended
    active: bool = True


@dataclass
class Event:
    event_type: str
    source_type: str | None
    source: int
    course: int | None
    score: int | None
    hours_ago: int


def conditions_st(courses: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "course_ids": st.lists(st.integers(0, courses - 1), min_size=1, max_size=courses, unique=True),
        "min_score": st.integers(0, 100),
        "source_types": st.lists(st.sampled_from(["post", "attempt"]), min_size=1, max_size=2, unique=True),
    })


rules_st = st.lists(st.builds(
    Rule, event_type=st.sampled_from(EVENTS), points=st.integers(1, 50), first_time_only=st.booleans(),
    cooldown_h=st.none() | st.integers(1, 30), max_per_day=st.none() | st.integers(1, 3),
    period=st.none() | st.tuples(st.integers(1, 4), st.sampled_from(["day", "week", "month"])),
    valid=st.tuples(st.none() | st.integers(100, 700), st.none() | st.integers(0, 300)),
    conditions=conditions_st(2), active=st.booleans() | st.just(True)), min_size=1, max_size=4)
boosts_st = st.lists(st.builds(
    Boost, event_type=st.none() | st.sampled_from(EVENTS), course=st.none() | st.integers(0, 1),
    multiplier=st.sampled_from(["0.5", "1.25", "2", "3", "0.333"]), starts_h=st.integers(0, 700),
    ends_h=st.none() | st.integers(0, 300), active=st.booleans() | st.just(True)), max_size=3)
events_st = st.lists(st.builds(
    Event, event_type=st.sampled_from(EVENTS), source_type=st.sampled_from(SOURCES), source=st.integers(0, 2),
    course=st.none() | st.integers(0, 1), score=st.none() | st.integers(0, 100),
    hours_ago=st.integers(0, 24 * 29)), min_size=1, max_size=12)


def half_up(x: Decimal, places: str = "1") -> Decimal:
    return x.quantize(Decimal(places), rounding=ROUND_HALF_UP)


class RulesModel:
    """The documented selection, multiplier and cap rules, in Python."""

    def __init__(self, rules: list[Rule], boosts: list[Boost], sys_mult: dict[str, str], daily_cap: int | None,
                 zone: str, now: dt.datetime, courses: list[uuid.UUID]) -> None:
        self.rules, self.boosts, self.sys_mult, self.daily_cap = rules, boosts, sys_mult, daily_cap
        self.tz, self.now, self.courses = zoneinfo.ZoneInfo(zone), now, courses
        self.ledger: list[tuple[Rule, dt.datetime, str | None, int, int]] = []  # rule, at, source_type, source, amount

    def ago(self, hours: int | None) -> dt.datetime | None:
        return None if hours is None else self.now - dt.timedelta(hours=hours)

    def same(self, a: dt.datetime, b: dt.datetime, period: str) -> bool:
        la, lb = a.astimezone(self.tz).date(), b.astimezone(self.tz).date()
        if period == "day":
            return la == lb
        if period == "week":
            return la.isocalendar()[:2] == lb.isocalendar()[:2]
        return (la.year, la.month) == (lb.year, lb.month)

    def matches(self, r: Rule, e: Event) -> bool:
        c = r.conditions
        if "course_ids" in c and (e.course is None or e.course not in c["course_ids"]):
            return False
        if "source_types" in c and e.source_type not in c["source_types"]:
            return False
        if "min_score" in c and (e.score is None or e.score < c["min_score"]):
            return False
        return True

    def allowed(self, r: Rule, e: Event, at: dt.datetime) -> bool:
        mine = [x for x in self.ledger if x[0] is r]
        vf, vu = self.ago(r.valid[0]), self.ago(r.valid[1])
        if not r.active or r.event_type != e.event_type or (vf and vf > at) or (vu and vu <= at):
            return False
        if not self.matches(r, e):
            return False
        if r.first_time_only and any(x[2] == e.source_type and x[3] == e.source for x in mine):
            return False
        if r.cooldown_h and any(abs(x[1] - at) < dt.timedelta(hours=r.cooldown_h) for x in mine):
            return False
        if r.max_per_day and sum(self.same(x[1], at, "day") for x in mine) >= r.max_per_day:
            return False
        if r.period and sum(self.same(x[1], at, r.period[1]) for x in mine) >= r.period[0]:
            return False
        return True

    def multiplier(self, e: Event, at: dt.datetime) -> Decimal:
        m = Decimal(self.sys_mult.get(e.event_type, "1"))
        for b in self.boosts:
            starts, ends = self.ago(b.starts_h), self.ago(b.ends_h)
            if (b.active and starts <= at and (ends is None or ends > at)
                    and b.event_type in (None, e.event_type) and b.course in (None, e.course)):
                m *= Decimal(b.multiplier)
        return min(max(half_up(m, "0.001"), Decimal("0.001")), Decimal(100))

    def award(self, e: Event) -> tuple[int, uuid.UUID, Decimal] | None:
        at = self.now - dt.timedelta(hours=e.hours_ago)
        rule = next((r for r in self.rules if self.allowed(r, e, at)), None)
        if rule is None:
            return None
        m = self.multiplier(e, at)
        amount = int(half_up(rule.points * m))
        if self.daily_cap is not None:
            today = sum(x[4] for x in self.ledger if self.same(x[1], at, "day"))
            amount = min(amount, self.daily_cap - today)
        if amount <= 0:
            return None
        self.ledger.append((rule, at, e.source_type, e.source, amount))
        assert rule.id is not None
        return amount, rule.id, m


def su_write(g: Game, query: str, params: Any) -> Any:
    """A configuration write as superuser with the owner's context (the app role has no column privilege
    on the new point_rules columns until sql/manifest.d/gamification.yaml grants them)."""
    with g.su.transaction():
        g.su.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                     (str(g.t.id), str(g.t.owner)))
        return g.su.execute(query, params).fetchone()[0]


@pytest.fixture
def courses(g: Game) -> list[uuid.UUID]:
    return [su_write(g, "insert into course_management.courses (organization_id, title, slug, status)"
                        " values (%s, %s, %s, 'published') returning id", (g.t.id, f"Course {i}", f"course-{i}"))
            for i in range(2)]


@PROPERTY
@given(rules=rules_st, boosts=boosts_st, events=events_st, zone=st.sampled_from(ZONES),
       sys_mult=st.dictionaries(st.sampled_from(EVENTS), st.sampled_from(["0.5", "1.5", "2"]), max_size=2),
       daily_cap=st.none() | st.integers(20, 200))
def test_rule_selection_multipliers_and_caps_follow_the_model(
        g: Game, courses: list[uuid.UUID], rules: list[Rule], boosts: list[Boost], events: list[Event], zone: str,
        sys_mult: dict[str, str], daily_cap: int | None) -> None:
    """Random rules (conditions, first-time-only, cooldown, per-day and per-period caps, validity windows),
    boosts and system multipliers, then random back-dated events with context: every award_points result
    (amount, rule, multiplier; or nothing) equals RulesModel, the documented rules in Python."""
    now = g.su.execute("select date_trunc('second', now())").fetchone()[0]
    system = su_write(g, "insert into gamification.point_systems (organization_id, name, multipliers, daily_cap)"
                         " values (%s, %s, %s, %s) returning id",
                      (g.t.id, f"S-{secrets.token_hex(4)}", json.dumps({k: float(v) for k, v in sys_mult.items()}), daily_cap))
    model = RulesModel(rules, boosts, sys_mult, daily_cap, zone, now, courses)
    for r in rules:
        conditions = dict(r.conditions)
        if "course_ids" in conditions:
            conditions["course_ids"] = [str(courses[i]) for i in conditions["course_ids"]]
        r.id = su_write(g, "insert into gamification.point_rules (organization_id, point_system_id, event_type, points,"
                           " first_time_only, cooldown, max_per_day, max_per_period, cap_period, valid_from, valid_until,"
                           " conditions, active) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
                        (g.t.id, system, r.event_type, r.points, r.first_time_only,
                         dt.timedelta(hours=r.cooldown_h) if r.cooldown_h else None, r.max_per_day,
                         r.period[0] if r.period else None, r.period[1] if r.period else None,
                         model.ago(r.valid[0]), model.ago(r.valid[1]) if r.valid[1] is not None and (
                             r.valid[0] is None or r.valid[1] < r.valid[0]) else None,
                         json.dumps(conditions), r.active))
        if not (r.valid[1] is not None and (r.valid[0] is None or r.valid[1] < r.valid[0])):
            r.valid = (r.valid[0], None)
    for b in boosts:
        if b.ends_h is not None and b.ends_h >= b.starts_h:
            b.ends_h = None
        su_write(g, "insert into gamification.point_boosts (organization_id, point_system_id, name, event_type,"
                    " course_id, multiplier, starts_at, ends_at, active) values (%s, %s, 'b', %s, %s, %s, %s, %s, %s)"
                    " returning id",
                 (g.t.id, system, b.event_type, None if b.course is None else courses[b.course], b.multiplier,
                  model.ago(b.starts_h), model.ago(b.ends_h), b.active))
    user = g.learner()
    g.su.execute("update user_management.users set timezone = %s where id = %s", (zone, user))
    sources = [uuid.uuid4() for _ in range(3)]
    awarded = refused = 0
    for i, e in enumerate(events):
        context: dict[str, Any] = {}
        if e.course is not None:
            context["course_id"] = str(courses[e.course]).upper() if i % 2 else str(courses[e.course])
        if e.score is not None:
            context["score"] = e.score
        out = g.run(AWARD_FULL, (user, e.event_type, e.source_type, sources[e.source], f"m{i}-{user}", system,
                                 now - dt.timedelta(hours=e.hours_ago), json.dumps(context)))
        assert out.ok, out.sqlstate
        expected = model.award(e)
        got = out.rows[0]
        assert (None if got[0] is None else got) == expected, (i, e)
        awarded, refused = awarded + (expected is not None), refused + (expected is None)
    event(f"awarded {min(awarded, 3)}+, refused {min(refused, 3)}+")


def test_rounding_and_boost_combination(g: Game, courses: list[uuid.UUID]) -> None:
    """7 points x 1.5 = 10.5 rounds to 11 (half away from zero); boosts multiply with the system multiplier and
    each other; a course boost needs the context's course; an ended boost no longer counts."""
    user = g.learner()
    su_write(g, "update gamification.point_systems set multipliers = '{\"course_completed\": 1.5}' where id = %s"
                " returning id", (g.system,))
    su_write(g, "insert into gamification.point_boosts (organization_id, point_system_id, name, course_id, multiplier,"
                " starts_at) values (%s, %s, 'Course x2', %s, 2, now() - interval '1 day') returning id",
             (g.t.id, g.system, courses[0]))
    su_write(g, "insert into gamification.point_boosts (organization_id, point_system_id, name, event_type, multiplier,"
                " starts_at, ends_at) values (%s, %s, 'Over', 'course_completed', 3, now() - interval '3 days',"
                " now() - interval '2 days') returning id", (g.t.id, g.system))
    q = "select amount, multiplier from gamification.award_points(%s, 'course_completed', null, null, %s, null, %s, %s)"
    assert g.run(q, (user, "r1", None, None)).rows[0] == (11, Decimal("1.500"))
    assert g.run(q, (user, "r2", None, json.dumps({"course_id": str(courses[0])}))).rows[0] == (21, Decimal("3.000"))
    assert g.run(q, (user, "r3", None, json.dumps({"course_id": str(courses[1])}))).rows[0] == (11, Decimal("1.500"))
    back = g.su.execute("select now() - interval '60 hours'").fetchone()[0]
    assert g.run(q, (user, "r4", back, None)).rows[0] == (32, Decimal("4.500"))  # inside the ended boost
    assert g.run(q, (user, "r5", None, '{"course_id": "nope"}')).sqlstate == "22023"
    assert g.run(q, (user, "r6", None, '[1]')).sqlstate == "22023"
    assert g.run(q, (user, "expire:x", None, None)).sqlstate == "22023"


VALID_CONDITIONS = [{}, {"min_score": 0}, {"min_score": 99.5}, {"source_types": ["post"]},
                    {"course_ids": [str(uuid.UUID(int=1))], "source_types": ["a", "b"], "min_score": 50}]
INVALID_CONDITIONS = [[], "x", {"min_score": 101}, {"min_score": "50"}, {"course_ids": []}, {"course_ids": ["x"]},
                      {"course_ids": [str(uuid.UUID(int=0xABCDEF)).upper()]}, {"source_types": [""]}, {"source_types": "post"},
                      {"other": 1}, {"min_score": None}]


def py_valid_conditions(c: Any) -> bool:
    """The documented vocabulary of point_rules.conditions."""
    if not isinstance(c, dict):
        return False
    for k, v in c.items():
        if k == "course_ids":
            ok = (isinstance(v, list) and 1 <= len(v) <= 100 and all(
                isinstance(x, str) and len(x) == 36 and x == x.lower() and _is_uuid(x) for x in v))
        elif k == "source_types":
            ok = isinstance(v, list) and 1 <= len(v) <= 20 and all(isinstance(x, str) and 1 <= len(x) <= 50 for x in v)
        elif k == "min_score":
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100
        else:
            ok = False
        if not ok:
            return False
    return True


def _is_uuid(x: str) -> bool:
    try:
        return str(uuid.UUID(x)) == x
    except ValueError:
        return False


json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 150) | st.floats(0, 101, allow_nan=False)
                           | st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=3)
                           | st.sampled_from([str(uuid.UUID(int=7)), "post"]),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["course_ids", "min_score", "source_types", "x"]), inner,
                                             max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_conditions_validator_matches_the_vocabulary(pg: PgServer, template_db: str, value: Any) -> None:
    with pg.connect(template_db, autocommit=True) as c:
        got = c.execute("select gamification.is_valid_rule_conditions(%s::jsonb)", (json.dumps(value),)).fetchone()[0]
    assert got == py_valid_conditions(value)


def test_conditions_check_names_its_constraint(g: Game) -> None:
    for value in VALID_CONDITIONS:
        su_write(g, "insert into gamification.point_rules (organization_id, point_system_id, event_type, points,"
                    " conditions) values (%s, %s, 'manual', 1, %s) returning id", (g.t.id, g.system, json.dumps(value)))
    for value in INVALID_CONDITIONS:
        with pytest.raises(psycopg.errors.CheckViolation) as exc:
            su_write(g, "insert into gamification.point_rules (organization_id, point_system_id, event_type, points,"
                        " conditions) values (%s, %s, 'manual', 1, %s) returning id",
                     (g.t.id, g.system, json.dumps(value)))
        assert exc.value.diag.constraint_name == "ck_point_rules_conditions", value
    for cols, vals, constraint in [("max_per_period", "2", "ck_point_rules_max_per_period"),
                                   ("max_per_period, cap_period", "0, 'day'", "ck_point_rules_max_per_period"),
                                   ("max_per_period, cap_period", "1, 'year'", "ck_point_rules_cap_period")]:
        with pytest.raises(psycopg.errors.CheckViolation) as exc:
            su_write(g, f"insert into gamification.point_rules (organization_id, point_system_id, event_type, points,"
                        f" {cols}) values (%s, %s, 'manual', 1, {vals}) returning id", (g.t.id, g.system))
        assert exc.value.diag.constraint_name == constraint


def test_consumer_uses_the_payload_as_context(g: Game, courses: list[uuid.UUID]) -> None:
    """assessment_passed with a min_score rule for one course: the event payload (course_id, score) decides."""
    su_write(g, "update gamification.point_rules set conditions = %s where id = %s returning id",
             (json.dumps({"min_score": 80, "course_ids": [str(courses[0])]}), g.rules["assessment_passed"]))
    user = g.learner()
    high = g.event(user, "assessment_passed", "assessment_attempt", json.dumps({"course_id": str(courses[0]), "score": 90}))
    g.event(user, "assessment_passed", "assessment_attempt", json.dumps({"course_id": str(courses[0]), "score": 70}))
    g.event(user, "assessment_passed", "assessment_attempt", json.dumps({"course_id": str(courses[1]), "score": 95}))
    g.event(user, "assessment_passed", "assessment_attempt", json.dumps({"course_id": "not-a-uuid", "score": 95}))
    assert g.ok(CONSUME, (10,), who=user) == 4
    assert [r[0] for r in g.ledger(user)] == [f"learning_event:{high}"]
