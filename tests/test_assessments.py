"""Assessments, their plans and per-user overrides (assessment V0120-V0121), as the application role:
checked settings, who sees and writes what (course staff, graders, learners), overrides only by staff,
plans only from the assessment's course or organization-wide banks."""

from __future__ import annotations

from typing import Any, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from .attempt_support import Lab
from .conftest import PgServer
from .course_support import scoped_grant

INSERT = ("insert into assessment.assessments (organization_id, course_id, title, {cols}) values (%s, %s, 'A', {vals})"
          " returning id")


@pytest.fixture
def lab(module_conn: psycopg.Connection, pg: PgServer) -> Iterator[Lab]:
    with module_conn.transaction(force_rollback=True):
        yield Lab(module_conn, pg, "asm")


def insert(lab: Lab, who: str, **cols: Any) -> Any:
    q = INSERT.format(cols=", ".join(cols), vals=", ".join(["%s"] * len(cols)))
    return lab.s.run(who, q, (lab.s.t.id, lab.course, *cols.values()))


@pytest.mark.parametrize(("cols", "constraint"), [
    ({"kind": "test"}, "ck_assessments_kind"),
    ({"status": "open"}, "ck_assessments_status"),
    ({"time_limit_seconds": 0}, "ck_assessments_time_limit_seconds"),
    ({"grace_seconds": 7200}, "ck_assessments_grace_seconds"),
    ({"max_attempts": 0}, "ck_assessments_max_attempts"),
    ({"available_from": "2030-01-02", "available_until": "2030-01-01"}, "ck_assessments_available_period"),
    ({"grading_method": "median"}, "ck_assessments_grading_method"),
    ({"passing_score_percent": 101}, "ck_assessments_passing_score_percent"),
    ({"kind": "survey", "passing_score_percent": 50}, "ck_assessments_survey_without_passing_score"),
    ({"feedback_timing": "immediate"}, "ck_assessments_feedback_timing"),
    ({"security_settings": Jsonb({"one_question_at_a_time": "yes"})}, "ck_assessments_security_settings"),
    ({"security_settings": Jsonb({"unknown": True})}, "ck_assessments_security_settings"),
    ({"security_settings": Jsonb([])}, "ck_assessments_security_settings"),
    ({"title": ""}, "ck_assessments_title_length"),
])
def test_settings_are_checked(lab: Lab, cols: dict[str, Any], constraint: str) -> None:
    out = insert(lab, "instructor", **cols) if "title" not in cols else lab.s.run(
        "instructor", "insert into assessment.assessments (organization_id, course_id, title) values (%s, %s, '')",
        (lab.s.t.id, lab.course))
    assert (out.sqlstate, out.constraint) == ("23514", constraint)


ranges = st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 32)), max_size=3)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(valid=ranges, junk=st.sampled_from([None, "10.0.0.300/8", "x", "1.2.3.4/40", 7]))
def test_security_settings_validator_agrees_with_python(module_conn: psycopg.Connection, valid: list[tuple[int, int, int]],
                                                        junk: Any) -> None:
    import ipaddress
    items: list[Any] = [f"{a}.{b}.0.0/{n}" for a, b, n in valid]
    if junk is not None:
        items.append(junk)

    def ok(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        try:
            ipaddress.ip_network(v, strict=True)
            return True
        except ValueError:
            return False
    expected = all(ok(v) for v in items)
    got = module_conn.execute("select assessment.is_valid_security_settings(%s)",
                        (Jsonb({"allowed_ip_ranges": items}),)).fetchone()
    module_conn.rollback()
    assert got == (expected,), items


def test_who_sees_and_writes_assessments(lab: Lab) -> None:
    published = insert(lab, "instructor", status="published").value
    draft = insert(lab, "instructor", status="draft").value
    assert insert(lab, "learner", status="draft").sqlstate == "42501"
    assert insert(lab, "ta", status="draft").sqlstate == "42501"  # graders read, they do not author
    seen = "select id from assessment.assessments order by id"
    assert {r[0] for r in lab.s.run("learner", seen).rows} == {published}
    assert {r[0] for r in lab.s.run("ta", seen).rows} == {published, draft}
    assert {r[0] for r in lab.s.run("instructor", seen).rows} == {published, draft}
    assert lab.s.run("learner", "update assessment.assessments set title = 'x' where id = %s", (published,)).rowcount == 0
    # A course-scoped instructor of another course neither sees the draft nor writes.
    other = lab.s.course("instructor").course
    scoped_grant(lab.s, "learner2", "instructor", other)
    assert {r[0] for r in lab.s.run("learner2", seen).rows} == {published}
    assert lab.s.run("learner2", "update assessment.assessments set title = 'x' where id = %s",
                     (published,)).rowcount == 0


def test_overrides_are_staff_only(lab: Lab) -> None:
    aid = insert(lab, "instructor", status="published").value
    q = ("insert into assessment.assessment_overrides (organization_id, assessment_id, course_id, user_id,"
         " extra_attempts, extra_time_seconds, reason) values (%s, %s, %s, %s, %s, %s, 'Accommodation') returning id")
    learner = lab.s.t.users["learner"]
    for who in ("learner", "ta"):
        out = lab.s.run(who, q, (lab.s.t.id, aid, lab.course, learner, 1, 0))
        assert out.sqlstate == "42501", who
    bad = lab.s.run("instructor", q, (lab.s.t.id, aid, lab.course, learner, -1, 0))
    assert (bad.sqlstate, bad.constraint) == ("23514", "ck_assessment_overrides_extra_attempts")
    oid = lab.s.ok("instructor", q, (lab.s.t.id, aid, lab.course, learner, 2, 600))
    dup = lab.s.run("instructor", q, (lab.s.t.id, aid, lab.course, learner, 1, 0))
    assert (dup.sqlstate, dup.constraint) == ("23505", "uq_assessment_overrides_assessment_id_course_id_user_id")
    assert lab.s.run("learner", "select count(*) from assessment.assessment_overrides").value == 1
    assert lab.s.run("learner2", "select count(*) from assessment.assessment_overrides").value == 0
    denied = lab.s.run("learner", "update assessment.assessment_overrides set extra_attempts = 99 where id = %s", (oid,))
    assert (denied.sqlstate, denied.constraint) == ("42501", "trg_assessment_overrides_guard")
    assert lab.s.run("learner", "delete from assessment.assessment_overrides where id = %s", (oid,)).sqlstate == "42501"
    assert lab.s.run("instructor", "delete from assessment.assessment_overrides where id = %s", (oid,)).rowcount == 1


def test_plans_use_questions_of_the_course_or_the_organization(lab: Lab) -> None:
    aid = insert(lab, "instructor", status="published").value
    other_course = lab.s.course("instructor").course
    other_bank = lab.s.ok("instructor", "insert into assessment.question_banks (organization_id, course_id, name)"
                                        " values (%s, %s, 'Other') returning id", (lab.s.t.id, other_course))
    shared_bank = lab.s.ok("instructor", "insert into assessment.question_banks (organization_id, course_id, name,"
                                         " visibility) values (%s, null, 'Shared', 'shared') returning id", (lab.s.t.id,))
    plan = ("insert into assessment.assessment_questions (organization_id, assessment_id, course_id, position,"
            " question_id, bank_id, draw_count) values (%s, %s, %s, %s, %s, %s, %s)")
    foreign = lab.s.run("instructor", plan, (lab.s.t.id, aid, lab.course, 1, lab.question(bank=other_bank), None, None))
    assert (foreign.sqlstate, foreign.constraint) == ("23514", "trg_assessment_questions_check_course")
    assert lab.s.run("instructor", plan, (lab.s.t.id, aid, lab.course, 1, lab.question(bank=shared_bank), None, None)).ok
    assert lab.s.run("instructor", plan, (lab.s.t.id, aid, lab.course, 2, None, lab.bank, 2)).ok
    mixed = lab.s.run("instructor", plan, (lab.s.t.id, aid, lab.course, 3, lab.question(), lab.bank, 1))
    assert (mixed.sqlstate, mixed.constraint) == ("23514", "ck_assessment_questions_kind")
    assert lab.s.run("learner", plan, (lab.s.t.id, aid, lab.course, 4, None, lab.bank, 1)).sqlstate == "42501"
    assert lab.s.run("learner", "select count(*) from assessment.assessment_questions").value == 0
    assert lab.s.run("ta", "select count(*) from assessment.assessment_questions").value == 2
