"""Under row-level security, the queries the application runs most can still use their indexes.

A qual with a non-LEAKPROOF function (lower(), citext operators, ...) cannot become an index
condition below a policy, so such lookups silently degrade to filtering every row of the tenant.
These tests read plans (with sequential scans disabled: "can the index be used?"), never timings;
bench/rls_cost.py measures the cost.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from .tenancy import Org


def plan(su: psycopg.Connection, roles: dict[str, str], org: Org, query: str) -> str:
    with su.transaction(force_rollback=True):
        # Realistic selectivity: a few hundred users in the tenant (rolled back with the rest).
        su.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                   (str(org.id), str(org.owner_id)))
        su.execute("insert into user_management.users (organization_id, email, username, display_name, timezone)"
                   " select %s, 'plan' || g || '@example.org', 'plan' || g, 'Plan ' || g, 'UTC'"
                   " from generate_series(1, 400) as g", (org.id,))
        su.execute("analyze user_management.users")
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["app_role"])))
        su.execute("set local enable_seqscan = off")
        return "\n".join(r[0] for r in su.execute(("explain " + query).encode()))


@pytest.mark.parametrize("query, index_cond", [
    ("select id from user_management.users where email_normalized = lower('Owner@Example.org') and deleted_at is null",
     "email_normalized = "),
    ("select id from user_management.users where username_normalized = lower('Someone') and deleted_at is null",
     "username_normalized = "),
    ("select id from user_management.users where id > '00000000-0000-0000-0000-000000000000' order by id limit 50",
     "organization_id = "),
])
def test_app_queries_use_their_index_under_rls(su: psycopg.Connection, tenant_db: tuple[str, list[Org]],
                                               roles: dict[str, str], query: str, index_cond: str) -> None:
    text = plan(su, roles, tenant_db[1][0], query)
    cond_lines = [line for line in text.splitlines() if "Index Cond" in line]
    assert any(index_cond in line for line in cond_lines), text


def test_lower_email_is_not_an_index_condition_under_rls(su: psycopg.Connection, tenant_db: tuple[str, list[Org]],
                                                        roles: dict[str, str]) -> None:
    """Why email_normalized exists: the same lookup through lower(email) filters instead."""
    text = plan(su, roles, tenant_db[1][0],
                "select id from user_management.users where lower(email) = lower('x@example.org')")
    assert not any("lower(" in line for line in text.splitlines() if "Index Cond" in line), text
