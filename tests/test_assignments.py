"""Rubrics, assignments, extensions, submissions and late penalties (assessment V0100-V0109), as the
application role: every write goes through ``School.run`` (context + SET LOCAL ROLE <app>), so RLS,
column privileges and EXECUTE grants apply as in production. The superuser connection only reads
outcomes and arranges time.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Sequence

import psycopg
import pytest

from .conftest import PgServer
from .course_support import School, school, scoped_grant
from .identity_support import Outcome, set_context, set_role


@pytest.fixture
def s(tx: psycopg.Connection, pg: PgServer) -> School:
    return school(tx, pg, "asg")


def deferred_constraints(conn: psycopg.Connection) -> str:
    """The INITIALLY DEFERRED constraints (keys and constraint triggers) of schema assessment."""
    names = [r[0] for r in conn.execute(
        "select 'assessment.' || quote_ident(conname) from pg_constraint where connamespace = 'assessment'::regnamespace"
        " and condeferred order by 1").fetchall()]
    return ", ".join(names)


def run_block(s: School, who: str, statements: Sequence[tuple[str, Sequence[Any]]]) -> Outcome:
    """Several statements as the app role in one savepoint, the deferred constraints checked at the end
    as COMMIT would (SET CONSTRAINTS ... IMMEDIATE), then deferred again for the rest of the test."""
    names = deferred_constraints(s.conn)
    try:
        with s.conn.transaction():
            s.conn.execute(f"set constraints {names} deferred")
            set_context(s.conn, s.t.id, s.t.users[who])
            set_role(s.conn, s.app)
            rows: list[tuple[Any, ...]] = []
            for query, params in statements:
                cur = s.conn.execute(query, params)
                rows = cur.fetchall() if cur.description else []
            s.conn.execute(f"set constraints {names} immediate")
            s.conn.execute("reset role")
        return Outcome(None, None, rows)
    except psycopg.Error as exc:
        return Outcome(exc.sqlstate, exc.diag.constraint_name)
    finally:
        s.conn.execute(f"set constraints {names} deferred")


# --- rubrics ---------------------------------------------------------------------------------------

RUBRIC = "insert into assessment.rubrics (organization_id, course_id, name) values (%s, %s, %s) returning id"
CRITERION = ("insert into assessment.rubric_criteria (organization_id, rubric_id, position, name, max_points)"
             " values (%s, %s, %s, %s, %s) returning id")
LEVEL = ("insert into assessment.rubric_levels (organization_id, criterion_id, position, points, description)"
         " values (%s, %s, %s, %s, %s) returning id")


def rubric(s: School, course: uuid.UUID | None, maxima: Sequence[Decimal | int] = (4, 6), by: str = "instructor"
           ) -> tuple[uuid.UUID, list[uuid.UUID]]:
    rid = s.ok(by, RUBRIC, (s.t.id, course, "Rubric"))
    crit = []
    for i, top in enumerate(maxima, 1):
        cid = s.ok(by, CRITERION, (s.t.id, rid, i, f"Criterion {i}", top))
        s.ok(by, LEVEL, (s.t.id, cid, 1, 0, "Missing"))
        s.ok(by, LEVEL, (s.t.id, cid, 2, top, "Full"))
        crit.append(cid)
    return rid, crit


def test_levels_stay_within_the_criterion_maximum(s: School) -> None:
    course = s.course().course
    rid, (c1, c2) = rubric(s, course)
    copies = s.fetch("select course_id, rubric_id, criterion_max_points from assessment.rubric_levels"
                     " where criterion_id = %s", (c1,))
    assert copies == [(course, rid, Decimal("4.00"))] * 2
    for points in (Decimal("4.01"), -1):
        out = s.run("instructor", LEVEL, (s.t.id, c1, 3, points, "Too much"))
        assert (out.sqlstate, out.constraint) == ("23514", "ck_rubric_levels_points")
    assert s.run("instructor", LEVEL, (s.t.id, c1, 3, Decimal("3.50"), "Good")).ok
    # Lowering the maximum below a level fails (the copy follows by ON UPDATE CASCADE); raising it works.
    out = s.run("instructor", "update assessment.rubric_criteria set max_points = 3 where id = %s", (c1,))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_rubric_levels_points")
    assert s.run("instructor", "update assessment.rubric_criteria set max_points = 8 where id = %s", (c1,)).ok
    assert s.one("select array_agg(distinct criterion_max_points) from assessment.rubric_levels"
                 " where criterion_id = %s", (c1,)) == [Decimal("8.00")]
    out = s.run("instructor", "update assessment.rubric_levels set points = 9 where criterion_id = %s and position = 2", (c1,))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_rubric_levels_points")
    out = s.run("instructor", "update assessment.rubric_criteria set max_points = 0 where id = %s", (c2,))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_rubric_criteria_max_points")
    # Copies are not the client's to send.
    assert s.run("instructor", "insert into assessment.rubric_levels (organization_id, criterion_id, position,"
                               " points, description, criterion_max_points) values (%s, %s, 4, 1, 'x', 100)",
                 (s.t.id, c1)).sqlstate == "42501"


def test_positions_are_1_to_n_at_commit(s: School) -> None:
    course = s.course().course
    rid, (c1, _c2) = rubric(s, course)
    out = run_block(s, "instructor", [(CRITERION, (s.t.id, rid, 4, "Gap", 1))])
    assert (out.sqlstate, out.constraint) == ("23514", "trg_rubric_criteria_positions")
    out = run_block(s, "instructor", [(CRITERION, (s.t.id, rid, 2, "Twice", 1))])
    assert (out.sqlstate, out.constraint) == ("23505", "uq_rubric_criteria_organization_id_rubric_id_position")
    out = run_block(s, "instructor", [(CRITERION, (s.t.id, rid, 0, "Zero", 1))])
    assert (out.sqlstate, out.constraint) == ("23514", "ck_rubric_criteria_position")
    # A swap inside one transaction is fine (unique key checked at COMMIT), a delete must renumber.
    assert run_block(s, "instructor", [
        ("update assessment.rubric_criteria set position = 3 - position where rubric_id = %s", (rid,))]).ok
    assert s.one("select position from assessment.rubric_criteria where id = %s", (c1,)) == 2
    first = "delete from assessment.rubric_criteria where rubric_id = %s and position = 1"
    out = run_block(s, "instructor", [(first, (rid,))])
    assert (out.sqlstate, out.constraint) == ("23514", "trg_rubric_criteria_positions")
    assert run_block(s, "instructor", [(first, (rid,)),
                                       ("update assessment.rubric_criteria set position = 1 where rubric_id = %s",
                                        (rid,))]).ok
    out = run_block(s, "instructor", [("delete from assessment.rubric_levels where id = (select id from"
                                       " assessment.rubric_levels where criterion_id = %s and position = 1)",
                                       (c1,))])
    assert (out.sqlstate, out.constraint) == ("23514", "trg_rubric_levels_positions")


def test_rubric_visibility_and_writers(s: School) -> None:
    a, b = s.course().course, s.course().course
    draft = s.course(status="draft").course
    ra, _ = rubric(s, a)
    rb, _ = rubric(s, b)
    rd, _ = rubric(s, draft)
    shared, _ = rubric(s, None)
    seen = {r[0] for r in s.run("learner", "select id from assessment.rubrics").rows}
    assert seen == {ra, rb, shared}  # not the draft course's rubric
    assert s.run("learner", "select count(*) from assessment.rubric_levels where rubric_id = %s", (rd,)).value == 0
    assert s.run("learner", "select count(*) from assessment.rubric_levels where rubric_id = %s", (ra,)).value == 4
    assert s.run("ta", "select count(*) from assessment.rubrics where id = %s", (rd,)).value == 1
    # Learners and teaching assistants do not write rubrics.
    assert s.run("learner", RUBRIC, (s.t.id, a, "Mine")).sqlstate == "42501"
    assert s.run("ta", RUBRIC, (s.t.id, a, "Mine")).sqlstate == "42501"
    assert s.run("learner", "update assessment.rubrics set name = 'x' where id = %s", (ra,)).rowcount == 0
    # A course-scoped instructor writes the rubrics of that course only, criteria and levels included.
    from .course_support import add_person
    add_person(s, "scoped")
    scoped_grant(s, "scoped", "instructor", a)
    assert s.run("scoped", RUBRIC, (s.t.id, a, "Scoped")).ok
    assert s.run("scoped", RUBRIC, (s.t.id, b, "Scoped")).sqlstate == "42501"
    assert s.run("scoped", RUBRIC, (s.t.id, None, "Scoped")).sqlstate == "42501"
    assert s.run("scoped", CRITERION, (s.t.id, ra, 3, "Extra", 2)).ok
    assert s.run("scoped", CRITERION, (s.t.id, rb, 3, "Extra", 2)).sqlstate == "42501"
    assert s.run("scoped", "update assessment.rubric_levels set description = 'x' where rubric_id = %s",
                 (rb,)).rowcount == 0
