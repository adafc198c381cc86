"""Tenant data of the assessments/attempts area (V0120-V0129): factories and audit mutations.

Each organization gets two assessments of course ``basics`` (a published quiz that is used, and a spare
draft without rows pointing at it, so the audit test can delete one), an override for the learner, the
quiz's plan (the questions part's multiple-choice factory question and an essay question of ours), and
one attempt of the learner (enrolled in basics) through start_attempt() / save_response() /
submit_attempt(), whose essay the owner grades by a rubric of ours (grade_response_manually()): the
attempt is graded and the learner passes (one assessment_passed learning event).
"""

from __future__ import annotations

from typing import Callable

import psycopg

from ..tenancy import Org, _course_id, _learner, _one


def _quiz(conn: psycopg.Connection, org: Org) -> object:
    return _one(conn, "select id from assessment.assessments where organization_id = %s and title = 'Basics quiz'",
                (org.id,))


def f_assessments(conn: psycopg.Connection, org: Org) -> None:
    course = _course_id(conn, org, "basics")
    conn.execute(
        "insert into assessment.assessments (organization_id, course_id, title, kind, status, max_attempts,"
        " time_limit_seconds, passing_score_percent, grading_method, security_settings) values"
        " (%s, %s, 'Basics quiz', 'quiz', 'published', 3, 600, 50, 'highest', '{\"one_question_at_a_time\": false}'),"
        " (%s, %s, 'Spare survey', 'survey', 'draft', null, null, null, 'latest', '{}')",
        (org.id, course, org.id, course))


def f_assessment_overrides(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into assessment.assessment_overrides (organization_id, assessment_id, course_id, user_id,"
        " extra_attempts, extra_time_seconds, reason) values (%s, %s, %s, %s, 1, 300, 'Accommodation')",
        (org.id, _quiz(conn, org), _course_id(conn, org, "basics"), _learner(conn, org)))


ESSAY_STEM = "Factory: explain why"


def _set_user(conn: psycopg.Connection, user: object) -> None:
    conn.execute("select set_config('app.user_id', %s, true)", (str(user),))


def f_assessment_questions(conn: psycopg.Connection, org: Org) -> None:
    # The questions part's multiple-choice factory question, and an essay question of our own.
    mc = _one(conn, "select v.question_id from assessment.question_versions v where v.organization_id = %s"
              " and v.stem = 'Factory: pick b'", (org.id,))
    bank = _one(conn, "select bank_id from assessment.questions where organization_id = %s and id = %s", (org.id, mc))
    essay = _one(conn, "insert into assessment.questions (organization_id, bank_id) values (%s, %s) returning id",
                 (org.id, bank))
    conn.execute("insert into assessment.question_versions (organization_id, question_id, question_type, stem, points,"
                 " definition) values (%s, %s, 'essay', %s, 5, '{}')", (org.id, essay, ESSAY_STEM))
    for position, question in [(1, mc), (2, essay)]:
        conn.execute("insert into assessment.assessment_questions (organization_id, assessment_id, course_id, position,"
                     " question_id) values (%s, %s, %s, %s, %s)",
                     (org.id, _quiz(conn, org), _course_id(conn, org, "basics"), position, question))


def f_assessment_results(conn: psycopg.Connection, org: Org) -> None:
    # The learner (enrolled in basics) takes the quiz: the multiple-choice response is graded on
    # submission, the essay waits for a grader (f_response_rubric_scores).
    _set_user(conn, _learner(conn, org))
    attempt = _one(conn, "select id from assessment.start_attempt(%s, '192.0.2.10', 'pytest')", (_quiz(conn, org),))
    for position, stem, response in [(None, "Factory: pick b", '{"selected": "b"}'),
                                     (None, ESSAY_STEM, '{"text": "Because it is."}')]:
        conn.execute("select assessment.save_response(r.attempt_id, r.position, %s, 12) from assessment.attempt_responses r"
                     " join assessment.question_versions v on v.organization_id = r.organization_id"
                     " and v.id = r.question_version_id where r.attempt_id = %s and v.stem = %s",
                     (response, attempt, stem))
    conn.execute("select assessment.submit_attempt(%s)", (attempt,))
    _set_user(conn, org.owner_id)


def f_response_rubric_scores(conn: psycopg.Connection, org: Org) -> None:
    # A rubric of our own (one criterion), so the assignments part's rubric rows stay deletable.
    rubric = _one(conn, "insert into assessment.rubrics (organization_id, course_id, name)"
                  " values (%s, %s, 'Attempts factory rubric') returning id", (org.id, _course_id(conn, org, "basics")))
    criterion = _one(conn, "insert into assessment.rubric_criteria (organization_id, rubric_id, position, name,"
                     " max_points) values (%s, %s, 1, 'Reasoning', 10) returning id", (org.id, rubric))
    response = _one(conn, "select r.id from assessment.attempt_responses r join assessment.question_versions v"
                    " on v.organization_id = r.organization_id and v.id = r.question_version_id"
                    " where r.organization_id = %s and v.stem = %s", (org.id, ESSAY_STEM))
    conn.execute("select assessment.grade_response_manually(%s, null, 'Good start.', %s, %s)",
                 (response, rubric, f'[{{"criterion_id": "{criterion}", "points": 8}}]'))


FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "assessment.assessments": f_assessments,
    "assessment.assessment_overrides": f_assessment_overrides,
    "assessment.assessment_questions": f_assessment_questions,
    "assessment.assessment_results": f_assessment_results,  # also attempts and responses
    "assessment.response_rubric_scores": f_response_rubric_scores,
}

MUTATIONS: dict[str, str] = {
    "assessment.assessments": "update assessment.assessments set description = 'Changed by test.'"
        " where id = (select id from assessment.assessments where organization_id = %(org)s order by id limit 1)",
    "assessment.assessment_overrides": "update assessment.assessment_overrides set extra_attempts = extra_attempts + 1"
        " where id = (select id from assessment.assessment_overrides where organization_id = %(org)s order by id limit 1)",
    "assessment.assessment_questions": "update assessment.assessment_questions set position = position + 10"
        " where id = (select id from assessment.assessment_questions where organization_id = %(org)s order by id limit 1)",
    "assessment.assessment_results": "update assessment.assessment_results set first_passed_at = now()"
        " where id = (select id from assessment.assessment_results where organization_id = %(org)s order by id limit 1)",
    "assessment.assessment_attempts": "update assessment.assessment_attempts set furthest_position = furthest_position + 1"
        " where id = (select id from assessment.assessment_attempts where organization_id = %(org)s order by id limit 1)",
    "assessment.attempt_responses": "update assessment.attempt_responses set time_spent_seconds = time_spent_seconds + 1"
        " where id = (select id from assessment.attempt_responses where organization_id = %(org)s order by id limit 1)",
    "assessment.response_rubric_scores": "update assessment.response_rubric_scores set comment = 'Edited by test.'"
        " where id = (select id from assessment.response_rubric_scores where organization_id = %(org)s order by id limit 1)",
}
