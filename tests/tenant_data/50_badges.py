"""Tenant data of the badges area (migrations V0084-V0087): badges, their statistics, achievements,
awards, progress and user events, for the isolation and audit tests.

Everything belongs to the organization's owner (like the ledger rows of tests/tenancy.py): user_events
are append-only with RESTRICT foreign keys, so the learner stays hard-deletable for the audit test.
Each catalog gets a spare row without awards or events, so the audit test can delete one.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from ..tenancy import Org, _one


def _badge(conn: psycopg.Connection, org: Org, name: str) -> object:
    return _one(conn, "select id from gamification.badges where organization_id = %s and name = %s", (org.id, name))


def f_badges(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into gamification.badges (organization_id, name, description, criteria, repeatable, repeat_interval)"
        " values (%s, 'First steps', 'Earn 10 points.', %s, false, null),"
        " (%s, 'Regular', 'Three lessons in a week, every week.', %s, true, interval '7 days'),"
        " (%s, 'Spare badge', null, %s, false, null)",
        (org.id, Jsonb({"type": "points_threshold", "points": 10}),
         org.id, Jsonb({"type": "lessons_in_period", "count": 3, "days": 7}),
         org.id, Jsonb({"all": [{"type": "level_reached", "level": 2}, {"type": "badge_count", "count": 1}]})))


def f_badge_statistics(conn: psycopg.Connection, org: Org) -> None:
    # One row per badge, created by trg_badges_create_statistics; nothing to add.
    _one(conn, "select count(*) from gamification.badge_statistics where organization_id = %s", (org.id,))


def f_achievements(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into gamification.achievements (organization_id, name, criterion)"
        " values (%s, 'Five courses', %s), (%s, 'Spare achievement', %s)",
        (org.id, Jsonb({"type": "courses_completed", "count": 5}),
         org.id, Jsonb({"type": "points_threshold", "points": 100000})))


def f_user_badges(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("select gamification.award_badge(%s, %s, 'Welcome gift', %s)",
                 (org.owner_id, _badge(conn, org, "First steps"), Jsonb({"note": "factory"})))


def f_user_achievements(conn: psycopg.Connection, org: Org) -> None:
    achievement = _one(conn, "select id from gamification.achievements where organization_id = %s"
                       " and name = 'Five courses'", (org.id,))
    conn.execute("insert into gamification.user_achievements (organization_id, user_id, achievement_id, progress,"
                 " target) values (%s, %s, %s, 1, 5)", (org.id, org.owner_id, achievement))


def f_user_events(conn: psycopg.Connection, org: Org) -> None:
    # award_badge() above wrote a badge_awarded event; the owner's level-up (tenancy's factory award)
    # wrote level_up events. Nothing to add, but make sure there is one.
    _one(conn, "select id from gamification.user_events where organization_id = %s and kind = 'badge_awarded'",
         (org.id,))


FACTORIES = {
    "gamification.badges": f_badges,
    "gamification.badge_statistics": f_badge_statistics,
    "gamification.achievements": f_achievements,
    "gamification.user_badges": f_user_badges,
    "gamification.user_achievements": f_user_achievements,
    "gamification.user_events": f_user_events,
}

MUTATIONS = {
    "gamification.badges": "update gamification.badges set name = name || ' (renamed)'"
        " where id = (select id from gamification.badges where organization_id = %(org)s order by id limit 1)",
    "gamification.achievements": "update gamification.achievements set description = 'Changed by test.'"
        " where id = (select id from gamification.achievements where organization_id = %(org)s order by id limit 1)",
    "gamification.user_badges": "update gamification.user_badges set revoked_at = now(), revoke_reason = 'Revoked by test.'"
        " where id = (select id from gamification.user_badges where organization_id = %(org)s order by id limit 1)",
}
