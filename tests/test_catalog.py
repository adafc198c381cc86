"""Catalog checks on the migrated database: conventions, comments, RLS, definer functions, grants.

These run against the whole catalog, so every table, function and policy a later migration adds
is covered without writing a new test.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from elearn_db.render import load_manifest

from .conftest import ROOT, PgServer

APP_SCHEMAS = ["app", "audit", "user_management", "course_management", "content_management", "gamification",
               "assessment", "social", "analytics", "notification"]
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
NOT_EXTENSION_MEMBER = "not exists (select 1 from pg_depend d where d.objid = {oid} and d.deptype = 'e')"


def rows(conn: psycopg.Connection, query: str, *params: object) -> list[tuple]:
    return conn.execute(query, params or None).fetchall()  # type: ignore[arg-type]


def test_all_application_schemas_exist_with_comments(conn: psycopg.Connection) -> None:
    got = dict(rows(conn, "select nspname, obj_description(oid, 'pg_namespace') from pg_namespace where nspname = any(%s)",
                    APP_SCHEMAS + ["extensions"]))
    assert sorted(got) == sorted(APP_SCHEMAS + ["extensions"])
    assert all(got.values()), [k for k, v in got.items() if not v]


def test_every_relation_and_column_is_commented(conn: psycopg.Connection) -> None:
    missing_tables = rows(conn, """
        select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r','p','v','m','f') and not c.relispartition
          and obj_description(c.oid, 'pg_class') is null""", APP_SCHEMAS)
    assert missing_tables == []
    missing_cols = rows(conn, """
        select c.oid::regclass::text || '.' || a.attname from pg_attribute a
        join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r','p','v','m','f') and not c.relispartition
          and a.attnum > 0 and not a.attisdropped and col_description(c.oid, a.attnum) is null""", APP_SCHEMAS)
    assert missing_cols == []


def test_every_function_is_commented(conn: psycopg.Connection) -> None:
    missing = rows(conn, f"""
        select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%s) and obj_description(p.oid, 'pg_proc') is null
          and {NOT_EXTENSION_MEMBER.format(oid='p.oid')}""", APP_SCHEMAS)
    assert missing == []


def test_every_policy_is_commented(conn: psycopg.Connection) -> None:
    missing = rows(conn, """
        select pol.polname || ' on ' || pol.polrelid::regclass::text from pg_policy pol
        where obj_description(pol.oid, 'pg_policy') is null""")
    assert missing == []


def test_every_table_has_rls_enabled_and_forced(conn: psycopg.Connection) -> None:
    bad = rows(conn, """
        select c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r','p') and not (c.relrowsecurity and c.relforcerowsecurity)""",
               APP_SCHEMAS)
    assert bad == []


def test_every_table_with_rls_has_policies(conn: psycopg.Connection) -> None:
    bare = rows(conn, """
        select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r','p') and not c.relispartition
          and not exists (select 1 from pg_policy p where p.polrelid = c.oid)""", APP_SCHEMAS)
    assert bare == []


def test_no_policy_is_unconditionally_true_on_tenant_data(conn: psycopg.Connection, roles: dict[str, str]) -> None:
    """Only the cross-tenant maintenance role (SELECT, nothing else) may have a policy without a tenant filter."""
    bad = rows(conn, """
        select pol.polname, pol.polrelid::regclass::text from pg_policy pol
        join pg_attribute a on a.attrelid = pol.polrelid and a.attname = 'organization_id'
        where (lower(coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')) in ('true', '(true)')
               or coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '') in ('true', '(true)'))
          and not (pol.polcmd = 'r' and pol.polroles = array[(select oid from pg_roles where rolname = %s)])""",
               roles["maintenance_role"])
    assert bad == []


def test_every_table_is_in_the_manifest(conn: psycopg.Connection) -> None:
    listed = {t["name"] for t in load_manifest(ROOT)["tables"]}
    actual = {r[0] for r in rows(conn, """
        select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r','p') and not c.relispartition""", APP_SCHEMAS)}
    assert actual - listed == set(), "tables missing from the manifest (sql/manifest.yaml, sql/manifest.d/)"
    assert listed - actual == set(), "manifest lists tables that do not exist"


def test_names_follow_conventions(conn: psycopg.Connection) -> None:
    objs = rows(conn, """
        select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r','p','v','m','S','i','I') and not c.relispartition""",
                APP_SCHEMAS)
    assert [o for o in objs if not SNAKE.match(o[0])] == []
    cons = rows(conn, """
        select con.conname, con.contype, c.relname from pg_constraint con
        join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and not c.relispartition and con.contype in ('p','f','u','c','x')""", APP_SCHEMAS)
    prefix = {"p": "pk_", "f": "fk_", "u": "uq_", "c": "ck_", "x": "ex_"}
    assert [c for c in cons if not c[0].startswith(prefix[c[1]])] == []
    idx = rows(conn, """
        select i.relname from pg_index x join pg_class i on i.oid = x.indexrelid
        join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace
        where n.nspname = any(%s) and not t.relispartition
          and not exists (select 1 from pg_constraint con where con.conindid = x.indexrelid)
          and i.relname not like 'idx\\_%%'
          and not (x.indisunique and i.relname like 'uq\\_%%')""", APP_SCHEMAS)
    assert idx == []
    trg = rows(conn, """
        select tg.tgname, c.relname from pg_trigger tg join pg_class c on c.oid = tg.tgrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and not tg.tgisinternal and tg.tgparentid = 0 and tg.tgname not like 'trg\\_%%'""",
               APP_SCHEMAS)
    assert trg == []


def test_no_identifier_was_truncated(conn: psycopg.Connection) -> None:
    # PostgreSQL silently truncates names to 63 bytes; a 63-byte name almost certainly was cut.
    long = rows(conn, """
        select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = any(%s)
          and octet_length(relname) >= 63
        union all select conname from pg_constraint where octet_length(conname) >= 63
        union all select proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = any(%s) and octet_length(proname) >= 63""", APP_SCHEMAS, APP_SCHEMAS)
    assert long == []


def test_security_definer_functions_pin_search_path(conn: psycopg.Connection) -> None:
    bad = rows(conn, """
        select p.oid::regprocedure::text, p.proconfig from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%s) and p.prosecdef
          and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) s
                          where s like 'search\\_path=%%' and s not like '%%public%%' and s not like '%%$user%%')""",
               APP_SCHEMAS)
    assert bad == []


def test_no_function_is_executable_by_public(conn: psycopg.Connection) -> None:
    bad = rows(conn, f"""
        select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%s) and {NOT_EXTENSION_MEMBER.format(oid='p.oid')}
          and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) a
                                           where a.grantee = 0 and a.privilege_type = 'EXECUTE'))""", APP_SCHEMAS)
    assert bad == []


def test_everything_is_owned_by_the_owner_role(conn: psycopg.Connection, roles: dict[str, str]) -> None:
    owner, maintenance = roles["owner_role"], roles["maintenance_role"]
    # Materialized views and their refresh functions belong to the maintenance role (V0060); so do
    # the views' indexes (an index always belongs to its table's owner).
    bad = rows(conn, """
        select c.oid::regclass::text, pg_get_userbyid(c.relowner) from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and pg_get_userbyid(c.relowner) <> %s
          and not (pg_get_userbyid(c.relowner) = %s
                   and (c.relkind = 'm'
                        or (c.relkind = 'i' and exists (select 1 from pg_index x join pg_class t on t.oid = x.indrelid
                                                        where x.indexrelid = c.oid and t.relkind = 'm'))))
        union all
        select p.oid::regprocedure::text, pg_get_userbyid(p.proowner) from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%s) and pg_get_userbyid(p.proowner) not in (%s, %s)
        union all
        select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname = any(%s) and pg_get_userbyid(nspowner) <> %s""",
               APP_SCHEMAS, owner, maintenance, APP_SCHEMAS, owner, maintenance, APP_SCHEMAS + ["extensions"], owner)
    assert bad == []
    assert rows(conn, "select tableowner from pg_tables where tablename = 'flyway_schema_history'") == [(owner,)]


@pytest.mark.parametrize("role_key", ["app_role", "readonly_role"])
def test_application_roles_are_unprivileged(conn: psycopg.Connection, roles: dict[str, str], role_key: str,
                                            template_db: str) -> None:
    role = roles[role_key]
    attrs = rows(conn, "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin from pg_roles where rolname = %s",
                 role)
    assert attrs == [(False, False, False, False, True)]
    owns = rows(conn, """
        select count(*) from pg_class where relowner = (select oid from pg_roles where rolname = %s)
        union all select count(*) from pg_proc where proowner = (select oid from pg_roles where rolname = %s)
        union all select count(*) from pg_namespace where nspowner = (select oid from pg_roles where rolname = %s)""",
                role, role, role)
    assert owns == [(0,), (0,), (0,)]
    create_on = rows(conn, "select nspname from pg_namespace where nspname = any(%s) and has_schema_privilege(%s, oid, 'CREATE')",
                     APP_SCHEMAS + ["public", "extensions"], role)
    assert create_on == []
    # Database privileges are not copied into clones: ask about the database the migrations ran in.
    assert rows(conn, "select has_database_privilege(%s, %s, 'TEMP')", role, template_db) == [(False,)]
    assert rows(conn, "select has_database_privilege(%s, %s, 'CREATE')", role, template_db) == [(False,)]


@pytest.mark.parametrize("statement", [
    "update audit.audit_log set operation = 'DELETE'",
    "delete from audit.audit_log",
    "truncate audit.audit_log",
    "insert into audit.audit_log (operation, schema_name, table_name) values ('INSERT', 'x', 'y')",
])
@pytest.mark.parametrize("role_key", ["app_role", "readonly_role"])
def test_application_roles_cannot_write_the_audit_log(conn: psycopg.Connection, roles: dict[str, str],
                                                      role_key: str, statement: str) -> None:
    conn.execute(f"set local role {roles[role_key]}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        conn.execute(statement)
    assert exc.value.sqlstate == "42501"


def test_pg_catalog_sees_a_real_server(pg: PgServer) -> None:
    assert pg.version_num >= 150000


def manifest_tables(tenancy: str) -> list[str]:
    return [t["name"] for t in load_manifest(ROOT)["tables"] if t["tenancy"] == tenancy]


def tenant_key_violations(conn: psycopg.Connection, tables: list[str]) -> list[tuple]:
    bad = []
    for name in tables:
        org = rows(conn, """select a.attnotnull from pg_attribute a
                            where a.attrelid = %s::regclass and a.attname = 'organization_id'""", name)
        pk = rows(conn, """select (select attname from pg_attribute where attrelid = c.conrelid and attnum = c.conkey[1])
                           from pg_constraint c where c.conrelid = %s::regclass and c.contype = 'p'""", name)
        if org != [(True,)] or pk != [("organization_id",)]:
            bad.append((name, org, pk))
    return bad


def composite_fk_violations(conn: psycopg.Connection, tenant: set[str]) -> list[tuple]:
    """FKs from a tenant table to a tenant table must pair organization_id with organization_id and
    never SET NULL / SET DEFAULT (Citus rejects those on the distribution column)."""
    fks = rows(conn, """
        select con.conname, con.conrelid::regclass::text, con.confrelid::regclass::text, con.confdeltype,
               (select array_agg(a.attname::text order by k.i) from unnest(con.conkey) with ordinality k(n, i)
                join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n),
               (select array_agg(a.attname::text order by k.i) from unnest(con.confkey) with ordinality k(n, i)
                join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n)
        from pg_constraint con where con.contype = 'f'""")
    bad = []
    for name, src, dst, deltype, cols, refcols in fks:
        if src in tenant and dst in tenant:
            if ("organization_id", "organization_id") not in list(zip(cols, refcols)) or deltype in ("n", "d"):
                bad.append((name, src, dst, cols, refcols, deltype))
    return bad


def unindexed_fks(conn: psycopg.Connection, schemas: list[str]) -> list[tuple]:
    return rows(conn, """
        select con.conname, con.conrelid::regclass::text from pg_constraint con
        join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
        where con.contype = 'f' and n.nspname = any(%s)
          and not exists (
              select 1 from pg_index i where i.indrelid = con.conrelid
                and (select array_agg(x order by x) from unnest(i.indkey[0:cardinality(con.conkey) - 1]) x)
                    = (select array_agg(x order by x) from unnest(con.conkey) x))""", schemas)


def test_tenant_tables_are_keyed_by_organization(conn: psycopg.Connection) -> None:
    assert tenant_key_violations(conn, manifest_tables("tenant")) == []


def test_foreign_keys_between_tenant_tables_are_composite(conn: psycopg.Connection) -> None:
    assert composite_fk_violations(conn, set(manifest_tables("tenant"))) == []


def test_every_foreign_key_has_a_supporting_index(conn: psycopg.Connection) -> None:
    assert unindexed_fks(conn, APP_SCHEMAS) == []


def test_structural_checks_catch_violations(conn: psycopg.Connection) -> None:
    """The checks above can fail: a deliberately wrong pair of tables is caught by each."""
    conn.execute("""
        create table app.scratch_parent (organization_id uuid not null, id uuid not null,
            constraint pk_scratch_parent primary key (organization_id, id), unique (id));
        create table app.scratch_child (id uuid primary key, organization_id uuid, parent_id uuid
            references app.scratch_parent (id) on delete set null)""")
    tables = ["app.scratch_parent", "app.scratch_child"]
    assert [v[0] for v in tenant_key_violations(conn, tables)] == ["app.scratch_child"]
    assert len(composite_fk_violations(conn, set(tables))) == 1
    assert [v[1] for v in unindexed_fks(conn, ["app"])] == ["app.scratch_child"]


def test_maintenance_role_is_unprivileged_and_cannot_log_in(conn: psycopg.Connection, roles: dict[str, str]) -> None:
    attrs = rows(conn, "select rolsuper, rolbypassrls, rolcanlogin, rolcreaterole from pg_roles where rolname = %s",
                 roles["maintenance_role"])
    assert attrs == [(False, False, False, False)]
    # It can read only what maintenance_read tables grant it: nothing it may write.
    writable = rows(conn, """
        select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r', 'p')
          and (has_table_privilege(%s, c.oid, 'INSERT') or has_table_privilege(%s, c.oid, 'UPDATE')
               or has_table_privilege(%s, c.oid, 'DELETE'))""",
                    APP_SCHEMAS, roles["maintenance_role"], roles["maintenance_role"], roles["maintenance_role"])
    assert writable == []
