"""Tenant data of the assessment tables of branch ``assignments`` (V0100-V0109).

Each organization gets a rubric for the course ``basics`` (two criteria of two levels each) and a
spare organization-wide rubric (one criterion, one level: deletable, nothing refers to it); an
assignment of ``basics`` graded by that rubric, an extension for the learner, the learner's submission
graded by rubric (scores), and a peer review of it by a second enrolled learner (``reviewer``) with
rubric scores. Submissions and reviews are written with the acting user switched to the learner or
reviewer (the triggers and functions act for the acting user), everything else as the owner.
"""

from __future__ import annotations

import json
from typing import Callable

import psycopg

from ..tenancy import Org, _course_id, _learner, _one, _user, _with_context


def _as(conn: psycopg.Connection, org: Org, user: object) -> None:
    conn.execute("select set_config('app.user_id', %s, true)", (str(user),))


def _rubric_id(conn: psycopg.Connection, org: Org) -> object:
    return _one(conn, "select id from assessment.rubrics where organization_id = %s and name = 'Essay rubric'",
                (org.id,))


def f_rubrics(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into assessment.rubrics (organization_id, course_id, name, description)"
                 " values (%s, %s, 'Essay rubric', 'Structure and argument.'), (%s, null, 'Spare rubric', null)",
                 (org.id, _course_id(conn, org, "basics"), org.id))


def f_rubric_criteria(conn: psycopg.Connection, org: Org) -> None:
    rubric = _rubric_id(conn, org)
    spare = _one(conn, "select id from assessment.rubrics where organization_id = %s and name = 'Spare rubric'",
                 (org.id,))
    conn.execute("insert into assessment.rubric_criteria (organization_id, rubric_id, position, name, max_points)"
                 " values (%s, %s, 1, 'Structure', 4), (%s, %s, 2, 'Argument', 6), (%s, %s, 1, 'Spare', 1)",
                 (org.id, rubric, org.id, rubric, org.id, spare))


def f_rubric_levels(conn: psycopg.Connection, org: Org) -> None:
    for (criterion, top) in conn.execute(
            "select id, max_points from assessment.rubric_criteria where organization_id = %s and name <> 'Spare'",
            (org.id,)).fetchall():
        conn.execute("insert into assessment.rubric_levels (organization_id, criterion_id, position, points, description)"
                     " values (%s, %s, 1, 0, 'Missing'), (%s, %s, 2, %s, 'Excellent')",
                     (org.id, criterion, org.id, criterion, top))
    spare = _one(conn, "select id from assessment.rubric_criteria where organization_id = %s and name = 'Spare'",
                 (org.id,))
    conn.execute("insert into assessment.rubric_levels (organization_id, criterion_id, position, points, description)"
                 " values (%s, %s, 1, 1, 'Done')", (org.id, spare))


def _assignment_id(conn: psycopg.Connection, org: Org) -> object:
    return _one(conn, "select id from assessment.assignments where organization_id = %s and title = 'Essay'",
                (org.id,))


def _reviewer(conn: psycopg.Connection, org: Org) -> object:
    row = conn.execute("select id from user_management.users where organization_id = %s and display_name = 'Reviewer'",
                       (org.id,)).fetchone()
    return row[0] if row else _user(conn, org, "reviewer")


def f_assignments(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into assessment.assignments (organization_id, course_id, rubric_id, title, instructions, max_points,"
        " passing_points, is_published, due_at, allow_late_until, late_penalty_percent, allow_resubmission, max_attempts)"
        " values (%s, %s, %s, 'Essay', 'Write about SQL.', 10, 5, true, now() + interval '7 days',"
        " now() + interval '9 days', 10, true, 3),"
        " (%s, %s, null, 'Spare', null, 100, null, false, null, null, 0, false, null)",
        (org.id, _course_id(conn, org, "basics"), _rubric_id(conn, org), org.id, _course_id(conn, org, "advanced")))


def f_assignment_extensions(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into assessment.assignment_extensions (organization_id, assignment_id, user_id, due_at, reason)"
                 " values (%s, %s, %s, now() + interval '8 days', 'Sick leave')",
                 (org.id, _assignment_id(conn, org), _learner(conn, org)))


def f_assignment_submissions(conn: psycopg.Connection, org: Org) -> None:
    _as(conn, org, _learner(conn, org))
    conn.execute("insert into assessment.assignment_submissions (organization_id, assignment_id, user_id, body_text)"
                 " values (%s, %s, %s, 'My essay.')", (org.id, _assignment_id(conn, org), _learner(conn, org)))
    _with_context(conn, org)


def _submission_id(conn: psycopg.Connection, org: Org) -> object:
    return _one(conn, "select id from assessment.assignment_submissions where organization_id = %s"
                " order by id limit 1", (org.id,))


def _scores(conn: psycopg.Connection, org: Org) -> str:
    rows = conn.execute("select c.id, l.id from assessment.rubric_criteria c join assessment.rubric_levels l"
                        " on l.criterion_id = c.id and l.position = 2 where c.rubric_id = %s order by c.position",
                        (_rubric_id(conn, org),)).fetchall()
    return json.dumps([{"criterion_id": str(c), "level_id": str(lv), "comment": "Good."} for c, lv in rows])


def f_submission_rubric_scores(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("select assessment.grade_submission(%s, null, 'Well argued.', %s::jsonb)",
                 (_submission_id(conn, org), _scores(conn, org)))


def f_peer_review_assignments(conn: psycopg.Connection, org: Org) -> None:
    reviewer = _reviewer(conn, org)
    conn.execute("insert into course_management.enrollments (organization_id, user_id, course_id) values (%s, %s, %s)",
                 (org.id, reviewer, _course_id(conn, org, "basics")))
    conn.execute("select assessment.assign_peer_review(%s, %s, now() + interval '14 days', true)",
                 (_submission_id(conn, org), reviewer))


def f_peer_reviews(conn: psycopg.Connection, org: Org) -> None:
    task = _one(conn, "select id from assessment.peer_review_assignments where organization_id = %s", (org.id,))
    _as(conn, org, _reviewer(conn, org))
    conn.execute("select assessment.submit_peer_review(%s, 'Clear structure.', %s::jsonb)", (task, _scores(conn, org)))
    _with_context(conn, org)


FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "assessment.rubrics": f_rubrics,
    "assessment.rubric_criteria": f_rubric_criteria,
    "assessment.rubric_levels": f_rubric_levels,
    "assessment.assignments": f_assignments,
    "assessment.assignment_extensions": f_assignment_extensions,
    "assessment.assignment_submissions": f_assignment_submissions,
    "assessment.submission_rubric_scores": f_submission_rubric_scores,
    "assessment.peer_review_assignments": f_peer_review_assignments,
    "assessment.peer_reviews": f_peer_reviews,
    "assessment.peer_review_scores": lambda conn, org: None,  # written by f_peer_reviews
}

MUTATIONS: dict[str, str] = {
    "assessment.rubrics": "update assessment.rubrics set description = 'Changed by test.'"
        " where id = (select id from assessment.rubrics where organization_id = %(org)s order by id limit 1)",
    "assessment.rubric_criteria": "update assessment.rubric_criteria set name = name || ' (edited)'"
        " where id = (select id from assessment.rubric_criteria where organization_id = %(org)s order by id limit 1)",
    "assessment.rubric_levels": "update assessment.rubric_levels set description = description || ' (edited)'"
        " where id = (select id from assessment.rubric_levels where organization_id = %(org)s order by id limit 1)",
    "assessment.assignments": "update assessment.assignments set title = title || ' (edited)'"
        " where id = (select id from assessment.assignments where organization_id = %(org)s order by id limit 1)",
    "assessment.assignment_extensions": "update assessment.assignment_extensions set reason = 'Changed by test.'"
        " where id = (select id from assessment.assignment_extensions where organization_id = %(org)s order by id limit 1)",
    "assessment.assignment_submissions": "update assessment.assignment_submissions set feedback = 'Changed by test.'"
        " where id = (select id from assessment.assignment_submissions where organization_id = %(org)s order by id limit 1)",
    "assessment.submission_rubric_scores": "update assessment.submission_rubric_scores set comment = 'Changed by test.'"
        " where id = (select id from assessment.submission_rubric_scores where organization_id = %(org)s order by id limit 1)",
    "assessment.peer_review_assignments": "update assessment.peer_review_assignments set due_at = due_at + interval '1 day'"
        " where id = (select id from assessment.peer_review_assignments where organization_id = %(org)s order by id limit 1)",
    "assessment.peer_reviews": "update assessment.peer_reviews set comments = 'Changed by test.'"
        " where id = (select id from assessment.peer_reviews where organization_id = %(org)s order by id limit 1)",
    "assessment.peer_review_scores": "update assessment.peer_review_scores set comment = 'Changed by test.'"
        " where id = (select id from assessment.peer_review_scores where organization_id = %(org)s order by id limit 1)",
}
