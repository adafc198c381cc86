"""Tenant data of the leaderboards (gamification V0094-V0098): an all-time XP board of the
organization (refreshed, so it has a period and the owner's entry), a weekly cohort points board
with the learner as member, and the owner's leaderboard preference (not opted out)."""

from __future__ import annotations

from typing import Callable

import psycopg

from ..tenancy import Org, _learner, _one, _system_id


def _board(conn: psycopg.Connection, org: Org, name: str) -> object:
    return _one(conn, "select id from gamification.leaderboards where organization_id = %s and name = %s",
                (org.id, name))


def f_leaderboards(conn: psycopg.Connection, org: Org) -> None:
    system = _system_id(conn, org)
    conn.execute(
        "insert into gamification.leaderboards (organization_id, name, board_type, period, scope, point_system_id)"
        " values (%s, 'XP all time', 'xp', 'all_time', 'organization', %s),"
        " (%s, 'Cohort weekly', 'points', 'weekly', 'cohort', %s)", (org.id, system, org.id, system))


def f_leaderboard_members(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into gamification.leaderboard_members (organization_id, leaderboard_id, user_id)"
                 " values (%s, %s, %s)", (org.id, _board(conn, org, "Cohort weekly"), _learner(conn, org)))


def f_leaderboard_preferences(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into gamification.leaderboard_preferences (organization_id, user_id) values (%s, %s)",
                 (org.id, org.owner_id))


def f_leaderboard_periods(conn: psycopg.Connection, org: Org) -> None:
    # The owner was awarded points by the gamification factories: the refresh ranks them.
    conn.execute("select * from gamification.refresh_leaderboard(%s)", (_board(conn, org, "XP all time"),))


FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "gamification.leaderboards": f_leaderboards,
    "gamification.leaderboard_members": f_leaderboard_members,
    "gamification.leaderboard_preferences": f_leaderboard_preferences,
    "gamification.leaderboard_periods": f_leaderboard_periods,
    "gamification.leaderboard_entries": lambda conn, org: None,  # written by the refresh above
}

MUTATIONS: dict[str, str] = {
    "gamification.leaderboards": "update gamification.leaderboards set name = name || ' (renamed)'"
        " where id = (select id from gamification.leaderboards where organization_id = %(org)s order by id limit 1)",
    "gamification.leaderboard_members": "update gamification.leaderboard_members set created_at = created_at - interval '1 second'"
        " where id = (select id from gamification.leaderboard_members where organization_id = %(org)s order by id limit 1)",
    "gamification.leaderboard_preferences": "update gamification.leaderboard_preferences set opted_out = not opted_out"
        " where id = (select id from gamification.leaderboard_preferences where organization_id = %(org)s order by id limit 1)",
}
