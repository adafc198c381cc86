"""Tenant data of the rules engine (V0093): a boost on the default system (and a course-scoped one, so the
course foreign key is exercised) and an expiry policy for the default system."""

from __future__ import annotations

from typing import Callable

import psycopg

from tests.tenancy import Org, _course_id, _system_id


def f_point_boosts(conn: psycopg.Connection, org: Org) -> None:
    system = _system_id(conn, org)
    conn.execute("insert into gamification.point_boosts (organization_id, point_system_id, name, event_type,"
                 " course_id, multiplier, starts_at, ends_at) values"
                 " (%s, %s, 'Double XP weekend', null, null, 2, now(), now() + interval '2 days'),"
                 " (%s, %s, 'Course boost', 'lesson_completed', %s, 1.5, now(), null)",
                 (org.id, system, org.id, system, _course_id(conn, org, "basics")))


def f_point_expiry_policies(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into gamification.point_expiry_policies (organization_id, point_system_id, expire_after)"
                 " values (%s, %s, interval '365 days')", (org.id, _system_id(conn, org)))


FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "gamification.point_boosts": f_point_boosts,
    "gamification.point_expiry_policies": f_point_expiry_policies,
}

MUTATIONS: dict[str, str] = {
    "gamification.point_boosts": "update gamification.point_boosts set multiplier = multiplier + 1"
        " where id = (select id from gamification.point_boosts where organization_id = %(org)s order by id limit 1)",
    "gamification.point_expiry_policies": "update gamification.point_expiry_policies"
        " set expire_after = expire_after + interval '1 day' where organization_id = %(org)s",
}
