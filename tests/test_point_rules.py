"""The rules engine (gamification V0090-V0093), as the application role.

Step 1 (V0090/V0091): the outbox accepts 'assessment_passed' events (source 'assessment_attempt') and the
source 'assignment_submission'; consume_learning_events() awards assessment_passed events by the rule of
that event type, exactly once, also with several consumers at once.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Iterator

import psycopg
import pytest

from .conftest import PgServer
from .identity_support import Tenant, add_user, create_tenant, run, run_concurrently

AWARD = "select id, amount, kind, balance_after from gamification.award_points(%s, %s, %s, %s, %s)"
CONSUME = "select gamification.consume_learning_events(%s)"


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
