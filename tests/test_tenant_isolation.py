"""Tenant isolation, proven for EVERY tenant table (driven by the manifest and the catalog).

All checks run as the application role (``SET LOCAL ROLE``): a superuser bypasses RLS, so a test
as superuser would prove nothing. Data: three organizations created through
``create_organization`` plus a row from every factory in ``tests/tenancy.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg import sql

from elearn_db.tenant import transaction

from .conftest import PgServer
from .tenancy import (Org, insert_sql, manifest, missing_factories, primary_key, row_as_dict,
                      tenant_column, tenant_tables)

TABLES = tenant_tables()
IDS = [t["name"] for t in TABLES]
GLOBAL = [t for t in manifest() if t["tenancy"] == "global"]


@pytest.fixture
def iso(tenant_db: tuple[str, list[Org]]) -> tuple[str, list[Org]]:
    return tenant_db


def rel(table: dict[str, Any]) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(table["schema"]), sql.Identifier(table["table"]))


def as_app(conn: psycopg.Connection, roles: dict[str, str], org: uuid.UUID | str, user: uuid.UUID | str) -> None:
    conn.execute(sql.SQL("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)"),
                 (str(org), str(user)))
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["app_role"])))


def attempt(conn: psycopg.Connection, query: sql.Composable, params: list[Any] | tuple[Any, ...] = ()) -> tuple[str | None, int]:
    """Run in a savepoint: (SQLSTATE or None, rowcount)."""
    try:
        with conn.transaction():
            cur = conn.execute(query, params)
            return None, cur.rowcount
    except psycopg.Error as exc:
        return exc.sqlstate, -1


def test_every_tenant_table_has_rows_in_every_organization(su: psycopg.Connection, iso: tuple[str, list[Org]]) -> None:
    assert missing_factories(su, iso[1]) == [], "add a factory in tests/tenancy.py for these tables"


def isolation_violations(su: psycopg.Connection, roles: dict[str, str], table: dict[str, Any], a: Org, b: Org,
                         user: uuid.UUID | str) -> list[str]:
    """Everything org A's session (as the app role) could do to org B's rows in ``table``; [] = isolated.

    Runs inside the caller's transaction, each probe in a savepoint.
    """
    problems = []
    col = tenant_column(table)
    own_row = row_as_dict(su, table["name"], col, a.id)
    pk = primary_key(su, table["name"])
    as_app(su, roles, a.id, user)
    t, c = rel(table), sql.Identifier(col)
    # 1. Nothing of B is visible, and everything visible is A's.
    if su.execute(sql.SQL("select count(*) from {} where {} = %s").format(t, c), (b.id,)).fetchone() != (0,):
        problems.append("sees rows of another tenant")
    if su.execute(sql.SQL("select count(*) from {} where {} is distinct from %s").format(t, c),
                  (a.id,)).fetchone() != (0,):
        problems.append("sees rows outside its tenant")
    # 2. A row for B cannot be inserted (RLS or privileges: 42501).
    forged = dict(own_row, **{col: str(b.id)})
    if "id" in forged and col != "id":
        forged["id"] = str(uuid.uuid4())
    q, params = insert_sql(table["name"], forged)
    state, _ = attempt(su, q, params)
    if state != "42501":
        problems.append(f"insert of another tenant's row gave {state}")
    # 3. A's row cannot be moved into B.
    where = sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in pk)
    state, n = attempt(su, sql.SQL("update {} set {} = %s where {}").format(t, c, where),
                       [b.id, *[own_row[k] for k in pk]])
    if not (state == "42501" or n == 0):
        problems.append(f"moved a row into another tenant ({state}, {n})")
    # 4. B's rows are untouchable: updates and deletes touch nothing.
    state, n = attempt(su, sql.SQL("update {} set {} = {} where {} = %s").format(t, c, c, c), [b.id])
    if not (state == "42501" or n == 0):
        problems.append(f"updated {n} row(s) of another tenant")
    state, n = attempt(su, sql.SQL("delete from {} where {} = %s").format(t, c), [b.id])
    if not (state == "42501" or n == 0):
        problems.append(f"deleted {n} row(s) of another tenant")
    su.execute("reset role")
    return problems


@pytest.mark.parametrize("table", TABLES, ids=IDS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=st.permutations(range(3)), acting=st.sampled_from(["owner", "none"]))
def test_app_role_cannot_see_or_touch_another_tenant(su: psycopg.Connection, iso: tuple[str, list[Org]],
                                                     roles: dict[str, str], table: dict[str, Any],
                                                     pair: list[int], acting: str) -> None:
    orgs = iso[1]
    a, b = orgs[pair[0]], orgs[pair[1]]
    with su.transaction(force_rollback=True):
        assert isolation_violations(su, roles, table, a, b, a.owner_id if acting == "owner" else "") == []
    n_b = su.execute(sql.SQL("select count(*) from {} where {} = %s").format(rel(table), sql.Identifier(tenant_column(table))),
                     (b.id,)).fetchone()
    assert n_b and n_b[0] >= 1, "the other tenant's rows must survive"


def test_isolation_check_catches_a_leaky_policy(su: psycopg.Connection, iso: tuple[str, list[Org]],
                                                roles: dict[str, str]) -> None:
    """The property can fail: one permissive policy too many and every probe reports it."""
    a, b = iso[1][0], iso[1][1]
    users = next(t for t in TABLES if t["name"] == "user_management.users")
    with su.transaction(force_rollback=True):
        su.execute(sql.SQL("create policy pol_leak on user_management.users for all to {} using (true) with check (true)")
                   .format(sql.Identifier(roles["app_role"])))
        problems = isolation_violations(su, roles, users, a, b, a.owner_id)
    assert "sees rows of another tenant" in problems
    assert "sees rows outside its tenant" in problems


@pytest.mark.parametrize("table", TABLES, ids=IDS)
@pytest.mark.parametrize("context", ["unset", "empty"])
def test_no_context_means_no_rows_and_no_writes(su: psycopg.Connection, iso: tuple[str, list[Org]],
                                                roles: dict[str, str], table: dict[str, Any], context: str) -> None:
    a = iso[1][0]
    col = tenant_column(table)
    own_row = row_as_dict(su, table["name"], col, a.id)
    if "id" in own_row and col != "id":
        own_row["id"] = str(uuid.uuid4())
    q, params = insert_sql(table["name"], own_row)
    with su.transaction(force_rollback=True):
        if context == "empty":
            su.execute("set local app.organization_id = ''; set local app.user_id = ''")
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["app_role"])))
        assert su.execute(sql.SQL("select count(*) from {}").format(rel(table))).fetchone() == (0,)
        state, _ = attempt(su, q, params)
        assert state == "42501"


@pytest.mark.parametrize("table", GLOBAL, ids=[t["name"] for t in GLOBAL])
def test_global_catalogs_are_readable_and_not_writable(su: psycopg.Connection, roles: dict[str, str],
                                                       table: dict[str, Any]) -> None:
    total = su.execute(sql.SQL("select count(*) from {}").format(rel(table))).fetchone()
    with su.transaction(force_rollback=True):
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["app_role"])))
        n = su.execute(sql.SQL("select count(*) from {}").format(rel(table))).fetchone()
        assert n == total, "the app role reads every row of a global catalog"
        state, _ = attempt(su, sql.SQL("delete from {}").format(rel(table)))
        assert state == "42501"


def test_context_is_gone_after_commit_and_rollback(su: psycopg.Connection, iso: tuple[str, list[Org]],
                                                   roles: dict[str, str], pg: PgServer) -> None:
    a = iso[1][0]
    c = pg.connect(iso[0])
    try:
        c.execute(sql.SQL("set role {}").format(sql.Identifier(roles["app_role"])))  # session-level, like a pool
        with transaction(c, a.id, a.owner_id):
            assert c.execute("select count(*) from user_management.users").fetchone()[0] >= 1
        assert c.execute("select count(*) from user_management.users").fetchone() == (0,)
        with pytest.raises(ZeroDivisionError):
            with transaction(c, a.id, a.owner_id):
                c.execute("select 1")
                raise ZeroDivisionError
        assert c.execute("select count(*) from user_management.users").fetchone() == (0,)
    finally:
        c.close()


def composite_fks(conn: psycopg.Connection) -> list[tuple[str, str, list[str], list[str]]]:
    tenant = {t["name"] for t in TABLES if t["tenancy"] == "tenant"}
    out = []
    for name, src, dst, cols, refcols in conn.execute("""
            select con.conname, con.conrelid::regclass::text, con.confrelid::regclass::text,
                   (select array_agg(a.attname::text order by k.i) from unnest(con.conkey) with ordinality k(n, i)
                    join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n),
                   (select array_agg(a.attname::text order by k.i) from unnest(con.confkey) with ordinality k(n, i)
                    join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n)
            from pg_constraint con where con.contype = 'f' order by 1"""):
        if src in tenant and dst in tenant:
            out.append((name, src, cols, refcols, dst))  # type: ignore[arg-type]
    return out  # type: ignore[return-value]


def test_a_child_never_references_another_tenants_parent(su: psycopg.Connection, iso: tuple[str, list[Org]]) -> None:
    """For every composite FK: pointing a row of A at B's parent fails (23503), even as superuser."""
    a, b = iso[1][0], iso[1][1]
    fks = composite_fks(su)
    assert fks, "no composite foreign keys found"
    for name, src, cols, refcols, dst in fks:
        child = row_as_dict(su, src, "organization_id", a.id)
        s_schema, s_table = src.split(".")
        d_schema, d_table = dst.split(".")
        parent = su.execute(sql.SQL("select {} from {}.{} where organization_id = %s limit 1").format(
            sql.SQL(", ").join(map(sql.Identifier, refcols)), sql.Identifier(d_schema), sql.Identifier(d_table)),
            (b.id,)).fetchone()
        assert parent is not None, f"{dst} has no row for the second organization"
        sets = [(c, v) for c, r, v in zip(cols, refcols, parent) if c != "organization_id"]
        pk = primary_key(su, src)
        with su.transaction(force_rollback=True):
            # User triggers (immutability guards) would fire first; the FK triggers stay enabled.
            # CHECKs (e.g. "revoked_by only with revoked_at") likewise; both come back at rollback.
            su.execute(sql.SQL("alter table {}.{} disable trigger user").format(
                sql.Identifier(s_schema), sql.Identifier(s_table)))
            for (check,) in su.execute("select conname from pg_constraint where conrelid = %s::regclass"
                                       " and contype = 'c'", (src,)).fetchall():
                su.execute(sql.SQL("alter table {}.{} drop constraint {}").format(
                    sql.Identifier(s_schema), sql.Identifier(s_table), sql.Identifier(check)))
            state, _ = attempt(su, sql.SQL("update {}.{} set {} where {}").format(
                sql.Identifier(s_schema), sql.Identifier(s_table),
                sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c, _ in sets),
                sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in pk)),
                [v for _, v in sets] + [child[k] for k in pk])
        assert state == "23503", f"{name}: a row of {src} referenced another tenant's {dst} ({state})"
