"""Tenant data for the isolation and audit tests, and the catalog facts they are driven by.

Organizations are created through ``user_management.create_organization`` (as the app would);
every other tenant table gets rows from a factory here. ``missing_factories`` names tenant tables
that have neither, so a new table without test data fails loudly instead of being skipped.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from elearn_db.render import load_manifest

from .conftest import ROOT

ARGON2 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$" + "A" * 43


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Org:
    id: uuid.UUID
    owner_id: uuid.UUID
    slug: str


def manifest() -> list[dict[str, Any]]:
    return load_manifest(ROOT)["tables"]


def tenant_tables() -> list[dict[str, Any]]:
    """Tables whose rows belong to one organization (tenancy tenant or root)."""
    return [t for t in manifest() if t["tenancy"] in ("tenant", "root")]


def tenant_column(table: dict[str, Any]) -> str:
    return "id" if table["tenancy"] == "root" else "organization_id"


def create_org(conn: psycopg.Connection, tag: str, *, plan: str = "enterprise") -> Org:
    slug = f"{tag}-{secrets.token_hex(3)}"
    row = conn.execute(
        "select organization_id, owner_user_id from user_management.create_organization("
        "%s, %s, %s, %s, %s, %s, %s)",
        (f"Org {tag}", slug, plan, f"owner@{slug}.example", ARGON2, f"Owner {tag}", "Europe/Berlin"),
    ).fetchone()
    assert row is not None
    return Org(row[0], row[1], slug)


def _with_context(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                  (str(org.id), str(org.owner_id)))


def _user(conn: psycopg.Connection, org: Org, name: str) -> uuid.UUID:
    row = conn.execute(
        "insert into user_management.users (organization_id, email, display_name, timezone, password_hash)"
        " values (%s, %s, %s, 'America/Sao_Paulo', %s) returning id",
        (org.id, f"{name}-{secrets.token_hex(3)}@{org.slug}.example", name.title(), ARGON2),
    ).fetchone()
    assert row is not None
    return row[0]


def f_sessions(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into user_management.sessions (organization_id, user_id, token_hash, expires_at, ip, user_agent)"
        " values (%s, %s, %s, now() + interval '1 day', '192.0.2.1', 'pytest')",
        (org.id, org.owner_id, sha256_hex(secrets.token_hex(16))))


def f_auth_tokens(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into user_management.auth_tokens (organization_id, user_id, purpose, token_hash, expires_at)"
        " values (%s, %s, 'password_reset', %s, now() + interval '1 hour')",
        (org.id, org.owner_id, sha256_hex(secrets.token_hex(16))))


def f_login_attempts(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into user_management.login_attempts (organization_id, user_id, email_attempted, succeeded, ip)"
        " values (%s, %s, 'someone@example.org', false, '198.51.100.7')", (org.id, org.owner_id))


# Tables create_organization does not fill. Keyed by schema.table; each adds >= 1 row for the org.
FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "user_management.sessions": f_sessions,
    "user_management.auth_tokens": f_auth_tokens,
    "user_management.login_attempts": f_login_attempts,
}


def populate(conn: psycopg.Connection, orgs: int = 3) -> list[Org]:
    """Create ``orgs`` organizations with a learner each, and run every factory for each (as superuser)."""
    out = []
    for i in range(orgs):
        org = create_org(conn, f"iso{i}")
        _with_context(conn, org)
        _user(conn, org, "learner")
        for factory in FACTORIES.values():
            factory(conn, org)
        out.append(org)
    return out


def missing_factories(conn: psycopg.Connection, orgs: list[Org]) -> list[str]:
    """Tenant tables with no row for some organization after ``populate``."""
    missing = []
    for t in tenant_tables():
        col = tenant_column(t)
        q = sql.SQL("select count(distinct {c}) from {s}.{t} where {c} = any(%s)").format(
            c=sql.Identifier(col), s=sql.Identifier(t["schema"]), t=sql.Identifier(t["table"]))
        n = conn.execute(q, ([o.id for o in orgs],)).fetchone()
        if not n or n[0] != len(orgs):
            missing.append(t["name"])
    return missing


def row_as_dict(conn: psycopg.Connection, table: str, col: str, org: uuid.UUID) -> dict[str, Any]:
    """One row of ``org`` in ``table`` (superuser read), without generated columns."""
    schema, name = table.split(".")
    rel = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
    row = conn.execute(sql.SQL("select to_jsonb(x) from {} x where {} = %s limit 1").format(
        rel, sql.Identifier(col)), (org,)).fetchone()
    assert row is not None, f"no row of {org} in {table}"
    generated = {r[0] for r in conn.execute(
        "select attname from pg_attribute where attrelid = %s::regclass and attgenerated <> ''", (table,))}
    return {k: v for k, v in row[0].items() if k not in generated}


def insert_sql(table: str, row: dict[str, Any]) -> tuple[sql.Composed, list[Any]]:
    """INSERT of a JSON row through jsonb_populate_record, so every column keeps its type."""
    schema, name = table.split(".")
    rel = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in row)
    q = sql.SQL("insert into {rel} ({cols}) select {cols} from jsonb_populate_record(null::{rel}, %s)").format(
        rel=rel, cols=cols)
    return q, [Jsonb(row)]


def primary_key(conn: psycopg.Connection, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)"
        " where i.indrelid = %s::regclass and i.indisprimary order by array_position(i.indkey, a.attnum)", (table,))]
