"""Helpers of the assessment/attempt tests (test_assessments.py, test_attempts.py).

``Lab`` wraps a ``School`` (course_support) with a course, enrolled learners, a question bank and the
statements the application sends for assessments and attempts, all as the app role (identity_support.run
in savepoints). The superuser connection only simulates elapsed time (``elapse``: moves an attempt's
start and deadline into the past, triggers off) and reads outcomes.
"""

from __future__ import annotations

import json
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Sequence

import psycopg
from psycopg.types.json import Jsonb

from .conftest import PgServer
from .course_support import School, school
from .identity_support import Outcome

MC_DEF = {"options": [{"id": k, "text": k.upper()} for k in "abcd"]}
ATTEMPT_COLS = ("id, attempt_number, status, score, max_score, score_percent, passed, submitted_at, deadline_at,"
                " closed_at_limit")
START = f"select {ATTEMPT_COLS} from assessment.start_attempt(%s, %s::inet, 'pytest')"
SAVE = "select id from assessment.save_response(%s, %s, %s, 5, %s::inet)"
SUBMIT = f"select {ATTEMPT_COLS} from assessment.submit_attempt(%s)"
ABANDON = "select status from assessment.abandon_attempt(%s)"


def pct(score: Decimal, max_score: Decimal) -> Decimal:
    """round(100 * score / max_score, 2) as numeric rounds (half away from zero)."""
    return (Decimal(100) * score / max_score).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def final_grade(method: str, graded: Sequence[tuple[int, Decimal]]) -> Decimal | None:
    """The grading method over (attempt_number, score_percent) of the graded attempts (Python model)."""
    if not graded:
        return None
    if method == "highest":
        return max(p for _, p in graded)
    if method == "latest":
        return max(graded)[1]
    if method == "first":
        return min(graded)[1]
    return (sum((p for _, p in graded), Decimal(0)) / len(graded)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class Lab:
    def __init__(self, conn: psycopg.Connection, pg: PgServer, tag: str) -> None:
        self.s: School = school(conn, pg, tag)
        self.conn = conn
        self.course = self.s.course("instructor").course
        for who in ("learner", "learner2"):
            self.s.enrolled(who, self.course)
        self.bank = self.s.ok("instructor", "insert into assessment.question_banks (organization_id, course_id, name)"
                                            " values (%s, %s, 'Lab bank') returning id", (self.s.t.id, self.course))

    # -- authoring -------------------------------------------------------------------------------

    def question(self, qtype: str = "multiple_choice_single", points: Any = 1, difficulty: str = "medium",
                 definition: dict[str, Any] | None = None, key: dict[str, Any] | None = None,
                 stem: str = "Pick b", bank: uuid.UUID | None = None) -> uuid.UUID:
        q = self.s.ok("instructor", "insert into assessment.questions (organization_id, bank_id) values (%s, %s)"
                                    " returning id", (self.s.t.id, bank or self.bank))
        if qtype == "multiple_choice_single":
            definition = MC_DEF if definition is None else definition
            key = {"correct": "b"} if key is None else key
        self.s.ok("instructor", "select assessment.save_question_version(%s, %s, %s, %s, %s, %s, %s, '{}', 'Because.')",
                  (q, qtype, stem, points, Jsonb(definition or {}), None if key is None else Jsonb(key), difficulty))
        return q  # type: ignore[no-any-return]

    def assessment(self, questions: Sequence[uuid.UUID] = (), draws: Sequence[tuple[int, str | None]] = (),
                   **settings: Any) -> uuid.UUID:
        values = {"status": "published", **settings}
        if "security_settings" in values:
            values["security_settings"] = Jsonb(values["security_settings"])
        cols = ["organization_id", "course_id", "title", *values]
        aid = self.s.ok("instructor", f"insert into assessment.assessments ({', '.join(cols)})"
                                      f" values ({', '.join(['%s'] * len(cols))}) returning id",
                        (self.s.t.id, self.course, "Quiz", *values.values()))
        position = 0
        for position, q in enumerate(questions, 1):
            self.s.ok("instructor", "insert into assessment.assessment_questions (organization_id, assessment_id,"
                                    " course_id, position, question_id) values (%s, %s, %s, %s, %s)",
                      (self.s.t.id, aid, self.course, position, q))
        for i, (count, difficulty) in enumerate(draws, position + 1):
            self.s.ok("instructor", "insert into assessment.assessment_questions (organization_id, assessment_id,"
                                    " course_id, position, bank_id, draw_count, difficulty)"
                                    " values (%s, %s, %s, %s, %s, %s, %s)",
                      (self.s.t.id, aid, self.course, i, self.bank, count, difficulty))
        return aid  # type: ignore[no-any-return]

    # -- taking ----------------------------------------------------------------------------------

    def start(self, aid: uuid.UUID, who: str = "learner", ip: str | None = "192.0.2.1") -> Outcome:
        return self.s.run(who, START, (aid, ip))

    def started(self, aid: uuid.UUID, who: str = "learner", ip: str | None = "192.0.2.1") -> uuid.UUID:
        out = self.start(aid, who, ip)
        assert out.ok, out
        return out.value  # type: ignore[no-any-return]

    def save(self, attempt: uuid.UUID, position: int, response: Any, who: str = "learner",
             ip: str | None = "192.0.2.1") -> Outcome:
        return self.s.run(who, SAVE, (attempt, position, None if response is None else Jsonb(response), ip))

    def answer_by_question(self, attempt: uuid.UUID, answers: dict[uuid.UUID, Any], who: str = "learner") -> None:
        """Save answers keyed by question id, at whatever position the attempt put each question."""
        for question, position in self.positions(attempt).items():
            if question in answers:
                out = self.save(attempt, position, answers[question], who)
                assert out.ok, out

    def submit(self, attempt: uuid.UUID, who: str = "learner") -> Outcome:
        return self.s.run(who, SUBMIT, (attempt,))

    def submitted(self, attempt: uuid.UUID, who: str = "learner") -> tuple[Any, ...]:
        out = self.submit(attempt, who)
        assert out.ok, out
        return out.rows[0]

    # -- reading (superuser) ---------------------------------------------------------------------

    def positions(self, attempt: uuid.UUID) -> dict[uuid.UUID, int]:
        return dict(self.s.fetch("select question_id, position from assessment.attempt_responses"
                                 " where attempt_id = %s", (attempt,)))

    def attempt(self, attempt: uuid.UUID) -> dict[str, Any]:
        return self.s.one("select to_jsonb(t) from assessment.assessment_attempts t where id = %s",  # type: ignore
                          (attempt,))

    def result(self, aid: uuid.UUID, who: str = "learner") -> dict[str, Any] | None:
        rows = self.s.fetch("select to_jsonb(r) from assessment.assessment_results r where assessment_id = %s"
                            " and user_id = %s", (aid, self.s.t.users[who]))
        return rows[0][0] if rows else None

    def events(self, aid: uuid.UUID) -> list[tuple[Any, ...]]:
        return self.s.fetch("select idempotency_key, source_type, payload from course_management.learning_events"
                            " where event_type = 'assessment_passed' and payload ->> 'assessment_id' = %s",
                            (str(aid),))

    def elapse(self, attempt: uuid.UUID, seconds: int) -> None:
        """Simulate ``seconds`` passing for an attempt: its start and deadline move into the past."""
        with self.conn.transaction():
            self.conn.execute("set local session_replication_role = replica")
            self.conn.execute("update assessment.assessment_attempts set started_at = started_at - %s * interval '1s',"
                              " deadline_at = deadline_at - %s * interval '1s' where id = %s",
                              (seconds, seconds, attempt))
            self.conn.execute("set local session_replication_role = origin")


def as_json(value: Any) -> str:
    return json.dumps(value)
