"""Behaviour of the foundation objects: UUIDv7, tenant context, audit trail, append-only log."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from hypothesis import given, settings, strategies as st

from elearn_db.tenant import context_sql, transaction

from .conftest import PgServer


def audit_rows(conn: psycopg.Connection, table: str) -> list[tuple]:
    return conn.execute(
        "select operation, row_key, diff, organization_id, actor_user_id from audit.audit_log"
        " where table_name = %s order by occurred_at, id", (table,)).fetchall()


@pytest.fixture
def audited(conn: psycopg.Connection, roles: dict[str, str]) -> psycopg.Connection:
    """A scratch audited table (rolled back with the test's transaction)."""
    conn.execute("""
        create table app.scratch_audited (
            organization_id uuid not null, id uuid not null default app.uuid_generate_v7(),
            name text, password_hash text, extra_secret text,
            primary key (organization_id, id))""")
    conn.execute("""create trigger trg_scratch_audit after insert or update or delete on app.scratch_audited
                    for each row execute function audit.log_change('extra_secret')""")
    return conn


# ---------------------------------------------------------------- UUIDv7

def test_uuid_v7_layout_and_order(conn: psycopg.Connection) -> None:
    ids = [r[0] for r in conn.execute("select app.uuid_generate_v7() from generate_series(1, 200)")]
    now_ms = int(time.time() * 1000)
    for u in ids:
        assert u.version == 7
        assert u.variant == uuid.RFC_4122
        ts = int.from_bytes(u.bytes[:6], "big")
        assert abs(ts - now_ms) < 60_000
    assert len(set(ids)) == len(ids)
    stamps = [int.from_bytes(u.bytes[:6], "big") for u in ids]
    assert stamps == sorted(stamps)


def test_uuid_v7_native_on_18(conn: psycopg.Connection, pg: PgServer) -> None:
    body = conn.execute("select prosrc from pg_proc where oid = 'app.uuid_generate_v7()'::regprocedure").fetchone()
    assert body is not None
    if pg.version_num >= 180000:
        assert "uuidv7()" in body[0]
    else:
        assert "uuidv7()" not in body[0]


# ---------------------------------------------------------------- tenant context

def test_context_unset_or_empty_is_null(conn: psycopg.Connection, roles: dict[str, str]) -> None:
    conn.execute(f"set local role {roles['app_role']}")
    assert conn.execute("select app.current_organization_id(), app.current_user_id()").fetchone() == (None, None)
    conn.execute("set local app.organization_id = ''")
    conn.execute("set local app.user_id = ''")
    assert conn.execute("select app.current_organization_id(), app.current_user_id()").fetchone() == (None, None)


def test_context_is_transaction_scoped(pg: PgServer, shared_db: str) -> None:
    org, user = uuid.uuid4(), uuid.uuid4()
    with pg.connect(shared_db) as c:
        with transaction(c, org, user):
            assert c.execute("select app.current_organization_id(), app.current_user_id()").fetchone() == (org, user)
        assert c.execute("select app.current_organization_id(), app.current_user_id()").fetchone() == (None, None)
        with pytest.raises(RuntimeError):
            with transaction(c, org, user):
                raise RuntimeError("boom")
        assert c.execute("select app.current_organization_id()").fetchone() == (None,)


@given(st.text(max_size=60))
def test_context_helper_only_sends_uuids(value: str) -> None:
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        with pytest.raises(ValueError):
            context_sql(value)
    else:
        assert context_sql(value).startswith(f"SET LOCAL app.organization_id = '{parsed}'")


# ---------------------------------------------------------------- audit

def test_audit_writes_insert_update_delete_and_skips_no_op(audited: psycopg.Connection) -> None:
    conn = audited
    org, actor = uuid.uuid4(), uuid.uuid4()
    conn.execute(f"set local app.user_id = '{actor}'")
    row_id = conn.execute("insert into app.scratch_audited (organization_id, name, password_hash, extra_secret)"
                          " values (%s, 'a', '$argon2id$x', 's1') returning id", (org,)).fetchone()[0]
    conn.execute("update app.scratch_audited set name = name")          # no-op: nothing written
    conn.execute("update app.scratch_audited set name = 'b'")
    conn.execute("update app.scratch_audited set password_hash = 'other'")  # secret only: row, empty diff
    conn.execute("delete from app.scratch_audited")
    got = audit_rows(conn, "scratch_audited")
    assert [g[0] for g in got] == ["INSERT", "UPDATE", "UPDATE", "DELETE"]
    key = {"organization_id": str(org), "id": str(row_id)}
    assert all(g[1] == key for g in got)
    assert got[1][2] == {"name": {"old": "a", "new": "b"}}
    assert got[2][2] == {}
    for g in got:
        assert "password_hash" not in g[2] and "extra_secret" not in g[2]
        assert g[3] == org and g[4] == actor
    assert got[0][2]["name"] == "a" and got[3][2]["name"] == "b"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["same", "change", "secret"]), st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=5)), max_size=6))
def test_audit_row_count_equals_real_changes(pg: PgServer, shared_db: str, ops: list[tuple[str, str]]) -> None:
    with pg.connect(shared_db, autocommit=False) as c:
        c.execute("create table app.scratch_prop (organization_id uuid, id int, name text, password_hash text,"
                  " primary key (organization_id, id))")
        c.execute("create trigger trg_scratch_prop after insert or update or delete on app.scratch_prop"
                  " for each row execute function audit.log_change()")
        c.execute("insert into app.scratch_prop values (%s, 1, '', '')", (uuid.uuid4(),))
        expected = 1
        name, secret = "", ""
        for op, value in ops:
            if op == "same":
                c.execute("update app.scratch_prop set name = name")
            elif op == "change":
                c.execute("update app.scratch_prop set name = %s", (value,))
                expected += value != name
                name = value
            else:
                c.execute("update app.scratch_prop set password_hash = %s", (value,))
                expected += value != secret
                secret = value
        n = c.execute("select count(*) from audit.audit_log where table_name = 'scratch_prop'").fetchone()[0]
        c.rollback()
    assert n == expected


@pytest.mark.parametrize("statement", [
    "update audit.audit_log set operation = 'DELETE'",
    "delete from audit.audit_log",
    "truncate audit.audit_log",
])
def test_audit_log_is_append_only_even_for_the_owner(audited: psycopg.Connection, roles: dict[str, str],
                                                     statement: str) -> None:
    conn = audited
    conn.execute("insert into app.scratch_audited (organization_id, name) values (%s, 'x')", (uuid.uuid4(),))
    conn.execute(f"set local role {roles['owner_role']}")
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(statement)
    assert exc.value.sqlstate == "EL001"


def test_partitions_are_append_only_too(audited: psycopg.Connection) -> None:
    conn = audited
    conn.execute("insert into app.scratch_audited (organization_id, name) values (%s, 'x')", (uuid.uuid4(),))
    part = conn.execute("select tableoid::regclass::text from audit.audit_log limit 1").fetchone()[0]
    assert part != "audit.audit_log"
    for statement in (f"update {part} set operation = 'DELETE'", f"delete from {part}", f"truncate {part}"):
        conn.execute("savepoint s")
        with pytest.raises(psycopg.Error) as exc:
            conn.execute(statement)
        assert exc.value.sqlstate == "EL001", statement
        conn.execute("rollback to savepoint s")


def test_create_partitions_is_idempotent_and_covers_ahead(conn: psycopg.Connection) -> None:
    before = conn.execute("select count(*) from pg_inherits where inhparent = 'audit.audit_log'::regclass").fetchone()[0]
    assert before >= 4
    assert conn.execute("select audit.create_partitions(3)").fetchone() == (0,)
    assert conn.execute("select audit.create_partitions(6)").fetchone()[0] == 3
    truncate_triggers = conn.execute("""
        select count(*) from pg_inherits i join pg_trigger t on t.tgrelid = i.inhrelid
        where i.inhparent = 'audit.audit_log'::regclass and (t.tgtype & 32) <> 0""").fetchone()[0]
    assert truncate_triggers == before + 3


def test_roles_read_only_their_tenants_audit_rows(audited: psycopg.Connection, roles: dict[str, str]) -> None:
    """The read-only role reads the current tenant's audit rows only; the app role, without a user
    holding audit.view (see test_audit_trail.py for the permission), reads none at all."""
    conn = audited
    a, b = uuid.uuid4(), uuid.uuid4()
    conn.execute("insert into app.scratch_audited (organization_id, name) values (%s, 'a'), (%s, 'b')", (a, b))
    for role in (roles["readonly_role"], roles["app_role"]):
        conn.execute(f"set local role {role}")
        conn.execute("set local app.organization_id = ''")
        assert conn.execute("select count(*) from audit.audit_log").fetchone() == (0,)
        conn.execute(f"set local app.organization_id = '{a}'")
        orgs = {r[0] for r in conn.execute("select organization_id from audit.audit_log")}
        assert orgs == ({a} if role == roles["readonly_role"] else set())
        conn.execute("reset role")
