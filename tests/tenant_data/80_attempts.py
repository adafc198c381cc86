"""Tenant data of the assessments/attempts area (V0120-V0129): factories and audit mutations.

Each organization gets two assessments of course ``basics`` (a published quiz that is used, and a spare
draft without rows pointing at it, so the audit test can delete one), an override for the learner, the
quiz's plan (the questions part's multiple-choice factory question, fixed), and one attempt of the
owner (who holds assessment.manage, so no enrollment is needed) started through start_attempt(), which
creates the result row, the attempt and its responses; the response is saved.
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


def f_assessment_questions(conn: psycopg.Connection, org: Org) -> None:
    question = _one(conn, "select v.question_id from assessment.question_versions v where v.organization_id = %s"
                    " and v.stem = 'Factory: pick b'", (org.id,))
    conn.execute("insert into assessment.assessment_questions (organization_id, assessment_id, course_id, position,"
                 " question_id) values (%s, %s, %s, 1, %s)",
                 (org.id, _quiz(conn, org), _course_id(conn, org, "basics"), question))


def f_assessment_results(conn: psycopg.Connection, org: Org) -> None:
    attempt = _one(conn, "select id from assessment.start_attempt(%s, '192.0.2.10', 'pytest')", (_quiz(conn, org),))
    conn.execute("select assessment.save_response(%s, 1, '{\"selected\": \"b\"}', 12)", (attempt,))


FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "assessment.assessments": f_assessments,
    "assessment.assessment_overrides": f_assessment_overrides,
    "assessment.assessment_questions": f_assessment_questions,
    "assessment.assessment_results": f_assessment_results,  # also attempts and responses
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
}
