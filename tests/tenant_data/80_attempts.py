"""Tenant data of the assessments/attempts area (V0120-V0129): factories and audit mutations.

Each organization gets two assessments of course ``basics`` (a published quiz that is used, and a spare
draft without rows pointing at it, so the audit test can delete one) and an override for the learner.
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


FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "assessment.assessments": f_assessments,
    "assessment.assessment_overrides": f_assessment_overrides,
}

MUTATIONS: dict[str, str] = {
    "assessment.assessments": "update assessment.assessments set description = 'Changed by test.'"
        " where id = (select id from assessment.assessments where organization_id = %(org)s order by id limit 1)",
    "assessment.assessment_overrides": "update assessment.assessment_overrides set extra_attempts = extra_attempts + 1"
        " where id = (select id from assessment.assessment_overrides where organization_id = %(org)s order by id limit 1)",
}
