"""Helpers of the course and content tests (test_courses.py, test_course_progress.py, test_content.py).

Everything the application does goes through ``School.run`` (identity_support.run: the context is set
with set_config(..., true), then SET LOCAL ROLE <app role>, in a savepoint). ``School.owner_run`` runs a
statement as the owner role with a tenant context, standing in for SECURITY DEFINER maintenance code
(hard deletes, an outbox consumer) where the application role has no privilege at all. The superuser
connection only arranges what the application cannot (simulated elapsed time) and reads outcomes.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Sequence

import psycopg

from .conftest import PgServer
from .identity_support import Outcome, Tenant, add_user, create_tenant, grant, run

ORG = "app.current_organization_id()"


def pct(done: int, total: int) -> Decimal:
    """The schema's progress: round(100.0 * done / total, 2) (half away from zero), 0 without lessons."""
    if total == 0:
        return Decimal("0.00")
    return (Decimal(100 * done) / Decimal(total)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def avg2(values: Sequence[int]) -> Decimal | None:
    """round(avg(rating), 2) as PostgreSQL computes it; NULL without values."""
    if not values:
        return None
    return (Decimal(sum(values)) / Decimal(len(values))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def sha() -> str:
    return secrets.token_hex(32)


@dataclass
class Outline:
    course: uuid.UUID
    modules: list[uuid.UUID]
    lessons: list[list[uuid.UUID]]

    @property
    def flat(self) -> list[uuid.UUID]:
        return [lesson for module in self.lessons for lesson in module]


@dataclass
class School:
    """A tenant with named users, and the statements the application would send for them."""

    conn: psycopg.Connection
    pg: PgServer
    t: Tenant
    courses: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def app(self) -> str:
        return self.pg.roles["app_role"]

    def uid(self, who: str | uuid.UUID | None) -> uuid.UUID | None:
        return self.t.users[who] if isinstance(who, str) else who

    def run(self, who: str | uuid.UUID | None, query: str, params: Sequence[Any] = ()) -> Outcome:
        return run(self.conn, self.app, self.t.id, self.uid(who), query, params)

    def ok(self, who: str | uuid.UUID | None, query: str, params: Sequence[Any] = ()) -> Any:
        out = self.run(who, query, params)
        assert out.ok, (query, out)
        return out.rows[0][0] if out.rows else None

    def owner_run(self, query: str, params: Sequence[Any] = ()) -> Outcome:
        return run(self.conn, self.pg.roles["owner_role"], self.t.id, self.t.owner, query, params)

    def fetch(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Superuser read of the outcome (sees every row)."""
        return self.conn.execute(query, params).fetchall()

    def one(self, query: str, params: Sequence[Any] = ()) -> Any:
        rows = self.fetch(query, params)
        assert len(rows) == 1, (query, rows)
        return rows[0][0] if len(rows[0]) == 1 else rows[0]

    # -- catalog ---------------------------------------------------------------------------------

    def course(self, by: str = "instructor", *, status: str = "published", sequential: bool = False,
               modules: Sequence[tuple[int, bool]] = ((2, False),), title: str | None = None,
               optional: Sequence[tuple[int, int]] = (), **cols: Any) -> Outline:
        """A course with modules [(lessons, sequential_unlock)], created as a draft, filled, then given
        ``status``; lessons at (module index, lesson index) in ``optional`` are not required."""
        slug = "c-" + uuid.uuid4().hex[:10]
        names = ["organization_id", "title", "slug", "sequential", *cols]
        values = [self.t.id, title or slug.upper(), slug, sequential, *cols.values()]
        cid = self.ok(by, f"insert into course_management.courses ({', '.join(names)})"
                          f" values ({', '.join(['%s'] * len(names))}) returning id", values)
        outline = Outline(cid, [], [])
        for i, (n, seq) in enumerate(modules):
            mid = self.ok(by, "insert into course_management.modules (organization_id, course_id, title,"
                              " sequential_unlock) values (%s, %s, %s, %s) returning id",
                          (self.t.id, cid, f"Module {i + 1}", seq))
            outline.modules.append(mid)
            outline.lessons.append([
                self.ok(by, "insert into course_management.lessons (organization_id, course_id, module_id, title,"
                            " points_reward, is_required) values (%s, %s, %s, %s, 10, %s) returning id",
                        (self.t.id, cid, mid, f"Lesson {i + 1}.{j + 1}", (i, j) not in optional))
                for j in range(n)])
        if status != "draft":
            self.ok(by, "update course_management.courses set status = %s where id = %s", (status, cid))
        return outline

    def prerequisite(self, by: str, course: uuid.UUID, prerequisite: uuid.UUID, required: bool = True) -> Outcome:
        return self.run(by, "insert into course_management.course_prerequisites (organization_id, course_id,"
                            " prerequisite_course_id, is_required) values (%s, %s, %s, %s) returning id",
                        (self.t.id, course, prerequisite, required))

    # -- learners --------------------------------------------------------------------------------

    def enroll(self, who: str, course: uuid.UUID, *, by: str | None = None,
               access_expires_at: Any = None) -> Outcome:
        return self.run(by or who, "insert into course_management.enrollments (organization_id, user_id, course_id,"
                                   " access_expires_at) values (%s, %s, %s, %s) returning id",
                        (self.t.id, self.uid(who), course, access_expires_at))

    def enrolled(self, who: str, course: uuid.UUID, *, by: str | None = None) -> uuid.UUID:
        out = self.enroll(who, course, by=by)
        assert out.ok, out
        return out.value  # type: ignore[no-any-return]

    def progress(self, who: str, enrollment: uuid.UUID, course: uuid.UUID, lesson: uuid.UUID,
                 status: str = "completed", *, as_: str | None = None) -> Outcome:
        return self.run(as_ or who, "insert into course_management.lesson_progress (organization_id, enrollment_id,"
                                    " user_id, course_id, lesson_id, status, time_spent_seconds)"
                                    " values (%s, %s, %s, %s, %s, %s, 60) returning id",
                        (self.t.id, enrollment, self.uid(who), course, lesson, status))

    def complete_all(self, who: str, enrollment: uuid.UUID, outline: Outline) -> None:
        for lesson in outline.flat:
            out = self.progress(who, enrollment, outline.course, lesson)
            assert out.ok, out

    def enrollment(self, eid: uuid.UUID) -> dict[str, Any]:
        row = self.one("select to_jsonb(e) from course_management.enrollments e where id = %s", (eid,))
        return row  # type: ignore[no-any-return]

    def status_of(self, eid: uuid.UUID) -> tuple[str, Decimal]:
        return self.one(  # type: ignore[no-any-return]
            "select status, progress_percent from course_management.enrollments where id = %s", (eid,))


def school(conn: psycopg.Connection, pg: PgServer, tag: str, *, plan: str = "enterprise",
           people: Sequence[tuple[str, str | None]] = (("admin", "admin"), ("instructor", "instructor"),
                                                      ("ta", "teaching_assistant"), ("learner", "learner"),
                                                      ("learner2", "learner"), ("viewer", "viewer"))) -> School:
    """A new organization (create_organization as the app) with users named after their system role."""
    t = create_tenant(conn, pg, tag, plan=plan)
    for name, role in people:
        add_user(conn, pg, t, name, role=role)
    return School(conn, pg, t)


def scoped_grant(s: School, who: str, role: str, course: uuid.UUID) -> uuid.UUID:
    """A course-scoped grant of a system role, given by the owner as the app."""
    return grant(s.conn, s.pg, s.t, s.t.users[who], role, course=course)


def add_person(s: School, name: str, role: str | None = None) -> uuid.UUID:
    return add_user(s.conn, s.pg, s.t, name, role=role)
