"""Rubrics, assignments, extensions, submissions and late penalties (assessment V0100-V0109), as the
application role: every write goes through ``School.run`` (context + SET LOCAL ROLE <app>), so RLS,
column privileges and EXECUTE grants apply as in production. The superuser connection only reads
outcomes and arranges time.
"""

from __future__ import annotations

import json
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Sequence

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PgServer
from .course_support import School, school, scoped_grant
from .identity_support import Outcome, run_concurrently, set_context, set_role


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


# --- late penalty: the pure function against an independent model ---------------------------------

def penalty_model(raw: Decimal, late: int, pct: Decimal, interval_s: int, max_pct: Decimal, floor: Decimal) -> Decimal:
    """The documented rule, computed independently in Python."""
    if late == 0 or pct == 0:
        return raw
    intervals = -(-late // interval_s)
    percent = min(pct * intervals, max_pct, Decimal(100))
    penalized = (raw * (100 - percent) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return min(raw, max(penalized, min(raw, floor)))


points = st.decimals(min_value=0, max_value=1000, places=2)
percents = st.decimals(min_value=0, max_value=100, places=2)
PENALTY = "select assessment.apply_late_penalty(%s, %s, %s, make_interval(secs => %s), %s, %s)"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=points, late=st.integers(0, 40 * 86400), later=st.integers(0, 40 * 86400), pct=percents,
       interval_s=st.sampled_from([1, 60, 3600, 86400, 7 * 86400]), max_pct=percents, floor=points)
def test_late_penalty_properties(conn: psycopg.Connection, raw: Decimal, late: int, later: int, pct: Decimal,
                                 interval_s: int, max_pct: Decimal, floor: Decimal) -> None:
    a, b = sorted((late, later))
    row = conn.execute(f"select ({PENALTY}), ({PENALTY}), ({PENALTY})",
                       (raw, 0, pct, interval_s, max_pct, floor, raw, a, pct, interval_s, max_pct, floor,
                        raw, b, pct, interval_s, max_pct, floor)).fetchone()
    assert row is not None
    on_time, early, late_ = row
    assert on_time == raw  # on time = raw
    assert early == penalty_model(raw, a, pct, interval_s, max_pct, floor)
    assert late_ == penalty_model(raw, b, pct, interval_s, max_pct, floor)
    for final in (early, late_):
        assert min(raw, floor) <= final <= raw  # never below the floor, never above raw
    assert late_ <= early  # never increases with lateness


def test_late_penalty_arguments(conn: psycopg.Connection) -> None:
    assert conn.execute(PENALTY, (None, 10, 5, 60, 100, 0)).fetchone() == (None,)
    # 25 % per started hour, capped at 60 %, floor 30 points.
    assert conn.execute(PENALTY, (Decimal("80"), 1, 25, 3600, 60, 30)).fetchone() == (Decimal("60.00"),)
    assert conn.execute(PENALTY, (Decimal("80"), 3601, 25, 3600, 60, 30)).fetchone() == (Decimal("40.00"),)
    assert conn.execute(PENALTY, (Decimal("80"), 99999, 25, 3600, 60, 30)).fetchone() == (Decimal("32.00"),)
    assert conn.execute(PENALTY, (Decimal("80"), 99999, 25, 3600, 100, 30)).fetchone() == (Decimal("30.00"),)
    assert conn.execute(PENALTY, (Decimal("20"), 99999, 25, 3600, 100, 30)).fetchone() == (Decimal("20"),)
    for bad in [(-1, 1, 1, 60, 100, 0), (1, -1, 1, 60, 100, 0), (1, 1, 1, 60, 101, 0), (1, 1, 1, 0, 100, 0)]:
        with pytest.raises(psycopg.errors.InvalidParameterValue), conn.transaction():
            conn.execute(PENALTY, bad)


# --- assignments and submissions ------------------------------------------------------------------

ASSIGN_COLS = ("organization_id", "course_id", "title")
SUBMIT = ("insert into assessment.assignment_submissions (organization_id, assignment_id, user_id, body_text)"
          " values (%s, %s, %s, 'My answer') returning id, attempt_number, late_seconds, status")
GRADE = "select status, grade_raw, grade from assessment.grade_submission(%s, %s, %s, %s::jsonb)"


def assignment(s: School, course: uuid.UUID, by: str = "instructor", **cols: Any) -> uuid.UUID:
    cols.setdefault("is_published", True)
    names = [*ASSIGN_COLS, *cols]
    values = [s.t.id, course, "Essay", *cols.values()]
    return s.ok(by, f"insert into assessment.assignments ({', '.join(names)})"  # type: ignore[no-any-return]
                    f" values ({', '.join(['%s'] * len(names))}) returning id", values)


def enrolled_course(s: School, *who: str) -> uuid.UUID:
    course = s.course().course
    for name in who:
        s.enrolled(name, course)
    return course


def submit(s: School, who: str, assignment_id: uuid.UUID) -> Outcome:
    return s.run(who, SUBMIT, (s.t.id, assignment_id, s.t.users[who]))


def test_submission_rules(s: School) -> None:
    course = enrolled_course(s, "learner")
    once = assignment(s, course, due_at="2999-01-01T00:00:00Z")
    first = submit(s, "learner", once)
    assert first.ok, first
    assert first.rows[0][1:] == (1, 0, "submitted")
    out = submit(s, "learner", once)
    assert (out.sqlstate, out.ok) == ("EL061", False)  # no resubmission
    three = assignment(s, course, allow_resubmission=True, max_attempts=3)
    assert [submit(s, "learner", three).rows[0][1] for _ in range(3)] == [1, 2, 3]
    assert submit(s, "learner", three).sqlstate == "EL061"
    unlimited = assignment(s, course, allow_resubmission=True)
    assert [submit(s, "learner", unlimited).rows[0][1] for _ in range(5)] == [1, 2, 3, 4, 5]
    # Not enrolled, unpublished, not yet open, deleted.
    assert submit(s, "learner2", three).sqlstate == "EL062"
    assert submit(s, "learner", assignment(s, course, is_published=False)).sqlstate == "EL060"
    assert submit(s, "learner", assignment(s, course, available_from="2999-01-01T00:00:00Z")).sqlstate == "EL060"
    gone = assignment(s, course)
    s.ok("instructor", "update assessment.assignments set deleted_at = now() where id = %s returning id", (gone,))
    assert submit(s, "learner", gone).sqlstate == "EL060"
    # Someone else's submission: RLS, nothing about them first.
    out = s.run("learner2", SUBMIT, (s.t.id, unlimited, s.t.users["learner"]))
    assert out.sqlstate == "42501"
    # The client sets content only: attempt numbers, times and grades are the database's.
    for col, val in [("attempt_number", 7), ("late_seconds", 0), ("submitted_at", "2000-01-01"), ("grade", 10),
                     ("course_id", course)]:
        out = s.run("learner", f"insert into assessment.assignment_submissions (organization_id, assignment_id,"
                               f" user_id, body_text, {col}) values (%s, %s, %s, 'x', %s)",
                    (s.t.id, unlimited, s.t.users["learner"], val))
        assert out.sqlstate == "42501", col
    assert s.run("learner", "update assessment.assignment_submissions set body_text = 'changed'").sqlstate == "42501"
    out = s.run("learner", "insert into assessment.assignment_submissions (organization_id, assignment_id, user_id)"
                           " values (%s, %s, %s)", (s.t.id, unlimited, s.t.users["learner"]))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_assignment_submissions_content")
    # Content and facts are immutable, even for the owner (EL002).
    sub = first.rows[0][0]
    out = s.owner_run("update assessment.assignment_submissions set body_text = 'edited' where id = %s", (sub,))
    assert (out.sqlstate, out.constraint) == ("EL002", "trg_assignment_submissions_immutable")


def test_late_seconds_cutoff_and_extensions(s: School) -> None:
    course = enrolled_course(s, "learner", "learner2")
    late = assignment(s, course, due_at="now()", allow_late_until="2999-01-01T00:00:00Z",
                      late_penalty_percent=10, late_penalty_interval="1 hour")
    s.conn.execute("update assessment.assignments set due_at = now() - interval '90 minutes' where id = %s", (late,))
    out = submit(s, "learner", late)
    assert out.ok, out
    assert 90 * 60 <= out.rows[0][2] <= 90 * 60 + 5
    assert s.one("select effective_due_at = now() - interval '90 minutes' from assessment.assignment_submissions"
                 " where id = %s", (out.rows[0][0],)) is True
    closed = assignment(s, course, due_at="2999-01-01T00:00:00Z")
    s.conn.execute("update assessment.assignments set due_at = now() - interval '1 minute' where id = %s", (closed,))
    assert submit(s, "learner", closed).sqlstate == "EL060"
    # An extension for learner2 only: on time for them, still closed for learner.
    ext = ("insert into assessment.assignment_extensions (organization_id, assignment_id, user_id, due_at,"
           " allow_late_until, reason) values (%s, %s, %s, now() + interval '1 day', %s, 'Illness') returning id")
    assert s.run("learner2", ext, (s.t.id, closed, s.t.users["learner2"], None)).sqlstate == "42501"
    assert s.run("ta", ext, (s.t.id, closed, s.t.users["learner2"], None)).ok
    assert s.one("select granted_by_user_id = %s and course_id = %s from assessment.assignment_extensions"
                 " where assignment_id = %s", (s.t.users["ta"], course, closed)) is True
    on_time = submit(s, "learner2", closed)
    assert on_time.ok and on_time.rows[0][2] == 0
    assert submit(s, "learner", closed).sqlstate == "EL060"
    # An extension whose due date has passed, with its own late window: late from the extension's date.
    s.run("ta", "update assessment.assignment_extensions set due_at = now() - interval '2 hours',"
                " allow_late_until = now() + interval '1 hour' where assignment_id = %s", (closed,))
    s.conn.execute("update assessment.assignments set allow_resubmission = true where id = %s", (closed,))
    again = submit(s, "learner2", closed)
    assert again.ok and 7200 <= again.rows[0][2] <= 7205 and again.rows[0][1] == 2
    # Learners read their own extension only; graders all of the course.
    assert s.run("learner2", "select count(*) from assessment.assignment_extensions").value == 1
    assert s.run("learner", "select count(*) from assessment.assignment_extensions").value == 0
    assert s.run("learner2", "delete from assessment.assignment_extensions").sqlstate == "42501"


def rubric_scores(s: School, rid: uuid.UUID, points: Sequence[Decimal | int | None], level: int | None = None) -> str:
    crit = [r[0] for r in s.fetch("select id from assessment.rubric_criteria where rubric_id = %s order by position",
                                  (rid,))]
    out = []
    for cid, p in zip(crit, points):
        item: dict[str, Any] = {"criterion_id": str(cid), "comment": "ok"}
        if p is not None:
            item["points"] = str(p)
        if level is not None:
            item["level_id"] = str(s.one("select id from assessment.rubric_levels where criterion_id = %s"
                                         " and position = %s", (cid, level)))
        out.append(item)
    return json.dumps(out)


def test_grading_with_and_without_rubric(s: School) -> None:
    course = enrolled_course(s, "learner", "learner2")
    rid, _ = rubric(s, course, (4, 6))
    a = assignment(s, course, rubric_id=rid, max_points=10, passing_points=6, allow_resubmission=True,
                   due_at="2999-01-01T00:00:00Z")
    sub = submit(s, "learner", a).rows[0][0]
    assert s.run("learner", GRADE, (sub, 10, None, None)).sqlstate == "42501"
    assert s.run("learner2", GRADE, (sub, 10, None, None)).sqlstate == "42501"
    assert s.run("ta", GRADE, (uuid.uuid4(), 10, None, None)).sqlstate == "P0002"
    out = s.run("ta", GRADE, (sub, 11, None, None))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_assignment_submissions_grade_raw")
    assert s.run("ta", GRADE, (sub, Decimal("5.5"), "Fine.", None)).rows[0] == ("graded", Decimal("5.50"), Decimal("5.50"))
    assert s.fetch("select count(*) from course_management.learning_events where source_id = %s", (sub,)) == [(0,)]
    # By rubric: the sum; levels give their points; each criterion exactly once.
    assert s.run("ta", GRADE, (sub, None, None, rubric_scores(s, rid, [3, 4]))).rows[0][1] == Decimal("7.00")
    assert s.run("ta", GRADE, (sub, None, None, rubric_scores(s, rid, [None, None], level=2))).rows[0][1] == 10
    assert s.fetch("select sum(points), count(*) from assessment.submission_rubric_scores where submission_id = %s",
                   (sub,)) == [(Decimal("10.00"), 2)]
    assert s.run("ta", GRADE, (sub, 9, None, rubric_scores(s, rid, [4, 6]))).sqlstate == "22023"
    assert s.run("ta", GRADE, (sub, None, None, rubric_scores(s, rid, [4]))).sqlstate == "22023"
    twice = json.loads(rubric_scores(s, rid, [1, 1]))
    twice[1]["criterion_id"] = twice[0]["criterion_id"]
    assert s.run("ta", GRADE, (sub, None, None, json.dumps(twice))).sqlstate == "22023"
    out = s.run("ta", GRADE, (sub, None, None, rubric_scores(s, rid, [5, 1])))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_submission_rubric_scores_points")
    # Passed at 7 >= 6: one event; regrading or a second passing submission adds none.
    events = "select count(*) from course_management.learning_events where event_type = 'assessment_passed' and user_id = %s"
    assert s.one(events, (s.t.users["learner"],)) == 1
    payload = s.one("select payload from course_management.learning_events where source_id = %s", (sub,))
    assert payload["assignment_id"] == str(a) and Decimal(str(payload["score"])) == 70
    s.ok("ta", GRADE, (sub, 8, None, None))
    second = submit(s, "learner", a).rows[0][0]
    s.ok("ta", GRADE, (second, 9, None, None))
    assert s.one(events, (s.t.users["learner"],)) == 1
    # Rubric scores are readable by their learner and graders only.
    assert s.run("learner", "select count(*) from assessment.submission_rubric_scores").value == 0  # regraded plainly
    s.ok("ta", GRADE, (sub, None, None, rubric_scores(s, rid, [1, 2])))
    assert s.run("learner", "select count(*) from assessment.submission_rubric_scores").value == 2
    assert s.run("learner2", "select count(*) from assessment.submission_rubric_scores").value == 0
    assert s.run("ta", "select count(*) from assessment.submission_rubric_scores").value == 2


def test_grade_consistency_is_enforced_by_the_database(s: School) -> None:
    course = enrolled_course(s, "learner")
    rid, _ = rubric(s, course, (4, 6))
    a = assignment(s, course, rubric_id=rid, max_points=10)
    sub = submit(s, "learner", a).rows[0][0]
    s.ok("ta", GRADE, (sub, None, None, rubric_scores(s, rid, [2, 3])))
    out = s.owner_run("update assessment.assignment_submissions set grade = grade - 1 where id = %s", (sub,))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_assignment_submissions_grade_after_penalty")
    out = s.owner_run("update assessment.assignment_submissions set status = 'submitted' where id = %s", (sub,))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_assignment_submissions_graded")
    # grade_raw moved away from the sum of the scores (grade kept consistent): refused at COMMIT.
    names = deferred_constraints(s.conn)
    try:
        with s.conn.transaction():
            s.conn.execute("update assessment.assignment_submissions set grade_raw = 6, grade = 6 where id = %s", (sub,))
            s.conn.execute(f"set constraints {names} immediate")
        raise AssertionError("a grade that is not the sum of the rubric scores was accepted")
    except psycopg.Error as exc:
        # The scores written by grade_submission() are still pending in this transaction: whichever
        # of the two sum triggers fires first reports it.
        assert exc.sqlstate == "EL065"
        assert exc.diag.constraint_name in ("trg_assignment_submissions_rubric_sum", "trg_submission_rubric_scores_sum")
    finally:
        s.conn.execute(f"set constraints {names} deferred")
    # A criterion's maximum cannot drop below a given score (the copy follows by ON UPDATE CASCADE).
    crit = s.one("select id from assessment.rubric_criteria where rubric_id = %s and position = 2", (rid,))
    s.ok("instructor", "update assessment.rubric_levels set points = 2 where criterion_id = %s and position = 2"
                       " returning id", (crit,))
    out = s.run("instructor", "update assessment.rubric_criteria set max_points = 2.5 where id = %s", (crit,))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_submission_rubric_scores_points")  # the score is 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.decimals(min_value=0, max_value=50, places=2), late_minutes=st.integers(0, 3000),
       pct=percents, interval_minutes=st.sampled_from([1, 30, 60, 1440]), max_pct=percents,
       floor=st.decimals(min_value=0, max_value=50, places=2))
def test_stored_grade_after_penalty_matches_the_model(tx: psycopg.Connection, pg: PgServer, raw: Decimal,
                                                      late_minutes: int, pct: Decimal, interval_minutes: int,
                                                      max_pct: Decimal, floor: Decimal) -> None:
    with tx.transaction(force_rollback=True):
        s = school(tx, pg, "pen", people=(("instructor", "instructor"), ("learner", "learner")))
        course = enrolled_course(s, "learner")
        a = assignment(s, course, max_points=50, due_at="2999-01-01T00:00:00Z",
                       allow_late_until="2999-01-02T00:00:00Z", late_penalty_percent=pct,
                       late_penalty_interval=f"{interval_minutes} minutes", late_penalty_max_percent=max_pct,
                       late_penalty_floor=floor)
        s.conn.execute("update assessment.assignments set due_at = now() - make_interval(mins => %s)"
                       " where id = %s", (late_minutes, a))
        sub, _, late, _ = submit(s, "learner", a).rows[0]
        assert late == late_minutes * 60
        status, got_raw, grade = s.run("instructor", GRADE, (sub, raw, None, None)).rows[0]
        assert (status, got_raw) == ("graded", raw)
        assert grade == penalty_model(raw, late, pct, interval_minutes * 60, max_pct, floor)
        assert min(raw, floor) <= grade <= raw


def test_submissions_are_private_to_their_learner_and_graders(s: School) -> None:
    course = enrolled_course(s, "learner", "learner2")
    a = assignment(s, course, allow_resubmission=True)
    mine = submit(s, "learner", a).rows[0][0]
    submit(s, "learner2", a)
    assert [r[0] for r in s.run("learner", "select id from assessment.assignment_submissions").rows] == [mine]
    assert s.run("ta", "select count(*) from assessment.assignment_submissions").value == 2
    assert s.run("viewer", "select count(*) from assessment.assignment_submissions").value == 0
    # A course-scoped teaching assistant of another course sees nothing of this one.
    from .course_support import add_person
    other = s.course().course
    add_person(s, "ta2")
    scoped_grant(s, "ta2", "teaching_assistant", other)
    assert s.run("ta2", "select count(*) from assessment.assignment_submissions").value == 0
    assert s.run("ta2", GRADE, (mine, 1, None, None)).sqlstate == "42501"
    scoped_grant(s, "ta2", "teaching_assistant", course)
    assert s.run("ta2", "select count(*) from assessment.assignment_submissions").value == 2
    # Drafts are invisible to learners, visible to graders.
    draft = assignment(s, course, is_published=False)
    assert s.run("learner", "select count(*) from assessment.assignments where id = %s", (draft,)).value == 0
    assert s.run("ta", "select count(*) from assessment.assignments where id = %s", (draft,)).value == 1
    assert s.run("ta", "insert into assessment.assignments (organization_id, course_id, title) values (%s, %s, 'x')",
                 (s.t.id, course)).sqlstate == "42501"


def test_concurrent_submissions_keep_attempts_gapless_and_limited(pg: PgServer, db: str) -> None:
    with pg.connect(db, autocommit=True) as c:
        s = school(c, pg, "conc", people=(("instructor", "instructor"), ("learner", "learner")))
        course = enrolled_course(s, "learner")
        a = assignment(s, course, allow_resubmission=True, max_attempts=3)
        learner = s.t.users["learner"]
        outs = run_concurrently(pg, db, 8, pg.roles["app_role"], s.t.id, learner, SUBMIT,
                                lambda i: (s.t.id, a, learner))
        assert sorted(o.sqlstate or "ok" for o in outs) == ["EL061"] * 5 + ["ok"] * 3
        assert sorted(o.rows[0][1] for o in outs if o.ok) == [1, 2, 3]
        assert c.execute("select array_agg(attempt_number order by attempt_number) from"
                         " assessment.assignment_submissions where assignment_id = %s", (a,)).fetchone() == ([1, 2, 3],)


def test_demo_seed_has_assignments_in_every_state(pg: PgServer, db: str) -> None:
    from elearn_db import seed

    from .conftest import ROOT
    with pg.connect(db, autocommit=True) as c:
        gained = seed.load(c, ROOT, "demo", roles=pg.roles)
        assert gained.get("assessment.assignments", 0) >= 8  # one per published demo course
        states = c.execute("""
            select o.slug,
                   count(*) filter (where s.status = 'graded' and s.late_seconds = 0),
                   count(*) filter (where s.status = 'graded' and s.late_seconds > 0 and s.grade < s.grade_raw),
                   count(*) filter (where s.attempt_number = 2),
                   count(*) filter (where exists (select 1 from assessment.peer_reviews r where r.submission_id = s.id))
              from assessment.assignment_submissions s
              join user_management.organizations o on o.id = s.organization_id
             group by o.slug order by o.slug""").fetchall()
        assert len(states) == 3
        assert all(all(n >= 1 for n in row[1:]) for row in states), states
        courses = c.execute("select count(*) from course_management.courses c where c.status = 'published'"
                            " and not exists (select 1 from assessment.assignments a where a.course_id = c.id)").fetchone()
        assert courses == (0,)
        assert c.execute("select count(*) from course_management.learning_events where event_type = 'assessment_passed'"
                         " and source_type = 'assignment_submission'").fetchone()[0] >= 3  # type: ignore[index]
        assert sum(seed.load(c, ROOT, "demo", roles=pg.roles).values()) == 0  # idempotent
