"""Tenant data of the assessment tables of branch ``assignments`` (V0100-V0109): rubrics first.

Each organization gets a rubric for the course ``basics`` with two criteria of two levels each.
"""

from __future__ import annotations

from typing import Callable

import psycopg

from ..tenancy import Org, _course_id, _one


def _rubric_id(conn: psycopg.Connection, org: Org) -> object:
    return _one(conn, "select id from assessment.rubrics where organization_id = %s and name = 'Essay rubric'",
                (org.id,))


def f_rubrics(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into assessment.rubrics (organization_id, course_id, name, description)"
                 " values (%s, %s, 'Essay rubric', 'Structure and argument.'), (%s, null, 'Spare rubric', null)",
                 (org.id, _course_id(conn, org, "basics"), org.id))


def f_rubric_criteria(conn: psycopg.Connection, org: Org) -> None:
    rubric = _rubric_id(conn, org)
    conn.execute("insert into assessment.rubric_criteria (organization_id, rubric_id, position, name, max_points)"
                 " values (%s, %s, 1, 'Structure', 4), (%s, %s, 2, 'Argument', 6)",
                 (org.id, rubric, org.id, rubric))


def f_rubric_levels(conn: psycopg.Connection, org: Org) -> None:
    for (criterion, top) in conn.execute(
            "select id, max_points from assessment.rubric_criteria where organization_id = %s order by position",
            (org.id,)).fetchall():
        conn.execute("insert into assessment.rubric_levels (organization_id, criterion_id, position, points, description)"
                     " values (%s, %s, 1, 0, 'Missing'), (%s, %s, 2, %s, 'Excellent')",
                     (org.id, criterion, org.id, criterion, top))


FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "assessment.rubrics": f_rubrics,
    "assessment.rubric_criteria": f_rubric_criteria,
    "assessment.rubric_levels": f_rubric_levels,
}

MUTATIONS: dict[str, str] = {
    "assessment.rubrics": "update assessment.rubrics set description = 'Changed by test.'"
        " where id = (select id from assessment.rubrics where organization_id = %(org)s order by id limit 1)",
    "assessment.rubric_criteria": "update assessment.rubric_criteria set name = name || ' (edited)'"
        " where id = (select id from assessment.rubric_criteria where organization_id = %(org)s order by id limit 1)",
    "assessment.rubric_levels": "update assessment.rubric_levels set description = description || ' (edited)'"
        " where id = (select id from assessment.rubric_levels where organization_id = %(org)s order by id limit 1)",
}
