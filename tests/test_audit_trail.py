"""The audit trail over every audited table of the manifest: exactly one row per changed row, with
organization, actor, operation, key and diff; secrets never; nothing for rolled-back work."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from . import tenant_data
from .tenancy import Org, _learner, manifest, primary_key, tenant_column

AUDITED = [t for t in manifest() if t["audited"]]
IDS = [t["name"] for t in AUDITED]

# One UPDATE per audited table that really changes one row of organization %(org)s.
MUTATIONS: dict[str, str] = {
    "user_management.organizations": "update user_management.organizations set name = name || ' (renamed)'"
                                     " where id = %(org)s",
    "user_management.users": "update user_management.users set display_name = 'Renamed by test'"
                             " where id = (select id from user_management.users where organization_id = %(org)s order by id limit 1)",
    "user_management.roles": "update user_management.roles set description = 'changed by test'"
                             " where id = (select id from user_management.roles where organization_id = %(org)s order by id limit 1)",
    "user_management.role_permissions": """
        update user_management.role_permissions as rp
           set permission_key = (select p.key from user_management.permissions as p
                                  where not exists (select 1 from user_management.role_permissions as x
                                                     where x.organization_id = rp.organization_id
                                                       and x.role_id = rp.role_id and x.permission_key = p.key)
                                  order by p.key limit 1)
         where (rp.organization_id, rp.role_id, rp.permission_key) = (
               select r.organization_id, r.role_id, min(r.permission_key) from user_management.role_permissions as r
                where r.organization_id = %(org)s
                group by r.organization_id, r.role_id
               having count(*) < (select count(*) from user_management.permissions)
                order by r.role_id limit 1)""",
    "user_management.user_roles": "update user_management.user_roles set expires_at = now() + interval '30 days'"
                                  " where id = (select id from user_management.user_roles where organization_id = %(org)s order by id limit 1)",
    "user_management.sessions": "update user_management.sessions set last_seen_at = now() + interval '1 second'"
                                " where id = (select id from user_management.sessions where organization_id = %(org)s order by id limit 1)",
    "user_management.auth_tokens": "update user_management.auth_tokens set used_at = now()"
                                   " where id = (select id from user_management.auth_tokens where organization_id = %(org)s order by id limit 1)",
    "content_management.files": "update content_management.files set original_filename = 'renamed-by-test.bin'"
        " where id = (select id from content_management.files where organization_id = %(org)s order by id limit 1)",
    "content_management.content_items": "update content_management.content_items set title = title || ' (edited)'"
        " where id = (select id from content_management.content_items where organization_id = %(org)s order by id limit 1)",
    "course_management.courses": "update course_management.courses set description = 'Changed by test.'"
        " where id = (select id from course_management.courses where organization_id = %(org)s order by id limit 1)",
    "course_management.course_prerequisites": "update course_management.course_prerequisites set is_required = not is_required"
        " where id = (select id from course_management.course_prerequisites where organization_id = %(org)s order by id limit 1)",
    "course_management.modules": "update course_management.modules set title = title || ' (edited)'"
        " where id = (select id from course_management.modules where organization_id = %(org)s order by id limit 1)",
    "course_management.lessons": "update course_management.lessons set title = title || ' (edited)'"
        " where id = (select id from course_management.lessons where organization_id = %(org)s order by id limit 1)",
    "course_management.enrollments": "update course_management.enrollments set last_accessed_at = now()"
        " where id = (select id from course_management.enrollments where organization_id = %(org)s order by id limit 1)",
    "course_management.lesson_progress": "update course_management.lesson_progress set time_spent_seconds = time_spent_seconds + 1"
        " where id = (select id from course_management.lesson_progress where organization_id = %(org)s order by id limit 1)",
    "course_management.certificates": "update course_management.certificates set revoked_at = now(), revoked_reason = 'Revoked by test.'"
        " where id = (select id from course_management.certificates where organization_id = %(org)s order by id limit 1)",
    "course_management.course_reviews": "update course_management.course_reviews set body = 'Edited by test.'"
        " where id = (select id from course_management.course_reviews where organization_id = %(org)s order by id limit 1)",
    "course_management.learning_paths": "update course_management.learning_paths set description = 'Changed by test.'"
        " where id = (select id from course_management.learning_paths where organization_id = %(org)s order by id limit 1)",
    "course_management.learning_path_courses": "update course_management.learning_path_courses set is_required = not is_required"
        " where id = (select id from course_management.learning_path_courses where organization_id = %(org)s order by id limit 1)",
    "course_management.learning_path_enrollments": "update course_management.learning_path_enrollments set enrolled_at = enrolled_at - interval '1 day'"
        " where id = (select id from course_management.learning_path_enrollments where organization_id = %(org)s order by id limit 1)",
    "gamification.point_systems": "update gamification.point_systems set unit = 'pts'"
        " where id = (select id from gamification.point_systems where organization_id = %(org)s order by id limit 1)",
    "gamification.point_rules": "update gamification.point_rules set points = points + 1"
        " where id = (select id from gamification.point_rules where organization_id = %(org)s order by id limit 1)",
    "gamification.levels": "update gamification.levels set name = name || ' (renamed)'"
        " where id = (select id from gamification.levels where organization_id = %(org)s order by id limit 1)",
    "gamification.rewards": "update gamification.rewards set name = name || ' (renamed)'"
        " where id = (select id from gamification.rewards where organization_id = %(org)s order by id limit 1)",
    "gamification.reward_redemptions": "update gamification.reward_redemptions set fulfilment = '{\"note\": \"test\"}'"
        " where id = (select id from gamification.reward_redemptions where organization_id = %(org)s order by id limit 1)",
}
# Tables whose rows cannot be hard-deleted by design (the delete probe is not run for them).
DELETE_BLOCKED = {
    "user_management.organizations": "deleting a tenant cascades into append-only login_attempts (EL001); "
                                     "erasure is a dedicated function, not a DELETE",
}
for _module in tenant_data.modules():
    MUTATIONS.update(getattr(_module, "MUTATIONS", {}))
    DELETE_BLOCKED.update(getattr(_module, "DELETE_BLOCKED", {}))


def audit_count(conn: psycopg.Connection, table: dict[str, Any], op: str | None = None) -> int:
    row = conn.execute("select count(*) from audit.audit_log where schema_name = %s and table_name = %s"
                       " and (%s::text is null or operation = %s)", (table["schema"], table["table"], op, op)).fetchone()
    return int(row[0]) if row else 0


def context(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                 (str(org.id), str(org.owner_id)))


def test_every_audited_table_has_a_mutation() -> None:
    assert sorted(set(IDS) - set(MUTATIONS)) == []


@pytest.mark.parametrize("table", AUDITED, ids=IDS)
def test_every_insert_was_audited_once_with_its_tenant(su: psycopg.Connection, table: dict[str, Any]) -> None:
    rel = sql.SQL("{}.{}").format(sql.Identifier(table["schema"]), sql.Identifier(table["table"]))
    rows = su.execute(sql.SQL("select count(*) from {}").format(rel)).fetchone()
    assert rows and rows[0] > 0
    assert audit_count(su, table, "INSERT") == rows[0]
    col = tenant_column(table)
    wrong = su.execute("""select count(*) from audit.audit_log where schema_name = %s and table_name = %s
                          and organization_id is distinct from (row_key ->> %s)::uuid""",
                       (table["schema"], table["table"], col)).fetchone()
    assert wrong == (0,)
    pk = primary_key(su, table["name"])
    keys = su.execute("select distinct array(select jsonb_object_keys(row_key) order by 1) from audit.audit_log"
                      " where schema_name = %s and table_name = %s", (table["schema"], table["table"])).fetchall()
    assert keys == [(sorted(pk),)]


@pytest.mark.parametrize("table", AUDITED, ids=IDS)
def test_update_writes_one_row_with_only_the_changes(su: psycopg.Connection, tenant_db: tuple[str, list[Org]],
                                                    table: dict[str, Any]) -> None:
    org = tenant_db[1][0]
    with su.transaction(force_rollback=True):
        context(su, org)
        before = audit_count(su, table, "UPDATE")
        cur = su.execute(MUTATIONS[table["name"]].encode(), {"org": org.id})
        assert cur.rowcount == 1, "the mutation must change exactly one row"
        assert audit_count(su, table, "UPDATE") == before + 1
        org_id, actor, diff = su.execute(
            "select organization_id, actor_user_id, diff from audit.audit_log where schema_name = %s and table_name = %s"
            " and operation = 'UPDATE' order by occurred_at desc, id desc limit 1",
            (table["schema"], table["table"])).fetchone()  # type: ignore[misc]
        assert org_id == org.id and actor == org.owner_id
        assert diff and all(set(v) == {"old", "new"} and v["old"] != v["new"] for v in diff.values())
        assert not set(diff) & set(table["secret"])
        # A no-op update of the same row writes nothing.
        col = sql.Identifier(tenant_column(table))
        rel = sql.SQL("{}.{}").format(sql.Identifier(table["schema"]), sql.Identifier(table["table"]))
        su.execute(sql.SQL("update {} set {} = {} where {} = %s").format(rel, col, col, col), (org.id,))
        assert audit_count(su, table, "UPDATE") == before + 1


@pytest.mark.parametrize("table", AUDITED, ids=IDS)
def test_rolled_back_changes_leave_no_audit_rows(pg, tenant_db: tuple[str, list[Org]], table: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    org = tenant_db[1][1]
    with pg.connect(tenant_db[0], autocommit=False) as c:
        before = audit_count(c, table)
        c.rollback()
        context(c, org)
        c.execute(MUTATIONS[table["name"]].encode(), {"org": org.id})
        assert audit_count(c, table) == before + 1
        c.rollback()
        assert audit_count(c, table) == before


@pytest.mark.parametrize("table", [t for t in AUDITED if t["name"] not in DELETE_BLOCKED],
                         ids=[n for n in IDS if n not in DELETE_BLOCKED])
def test_delete_writes_one_row_with_the_old_values(su: psycopg.Connection, tenant_db: tuple[str, list[Org]],
                                                   table: dict[str, Any]) -> None:
    org = tenant_db[1][2]
    pk = primary_key(su, table["name"])
    rel = sql.SQL("{}.{}").format(sql.Identifier(table["schema"]), sql.Identifier(table["table"]))
    cols = sql.SQL(", ").join(map(sql.Identifier, pk))
    candidates = su.execute(sql.SQL("select {} from {} where {} = %s order by {} desc limit 20").format(
        cols, rel, sql.Identifier(tenant_column(table)), cols), (org.id,)).fetchall()
    where = sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in pk)
    with su.transaction(force_rollback=True):
        context(su, org)
        for key in candidates:
            before = audit_count(su, table, "DELETE")
            try:
                with su.transaction():
                    n = su.execute(sql.SQL("delete from {} where {}").format(rel, where), key).rowcount
            except psycopg.errors.ForeignKeyViolation:
                continue
            assert n == 1
            assert audit_count(su, table, "DELETE") == before + 1
            diff = su.execute("select diff from audit.audit_log where schema_name = %s and table_name = %s"
                              " and operation = 'DELETE' order by occurred_at desc, id desc limit 1",
                              (table["schema"], table["table"])).fetchone()[0]  # type: ignore[index]
            assert all(k in diff for k in pk) and not set(diff) & set(table["secret"])
            return
    pytest.fail(f"no row of {table['name']} could be deleted")


def test_secrets_never_reach_the_audit_log(su: psycopg.Connection) -> None:
    for table in AUDITED:
        if not table["secret"]:
            continue
        leaked = su.execute("""select count(*) from audit.audit_log where schema_name = %s and table_name = %s
                               and (diff ?| %s or row_key ?| %s
                                    or exists (select 1 from jsonb_each(diff) e
                                               where jsonb_typeof(e.value) = 'object' and e.value ?| %s))""",
                            (table["schema"], table["table"], table["secret"], table["secret"], table["secret"])
                            ).fetchone()
        assert leaked == (0,), table["name"]
    assert su.execute("select count(*) from audit.audit_log where diff::text like '%%$argon2%%'"
                      " or diff::text like '%%$2b$%%'").fetchone() == (0,)
    hashes = [r[0] for r in su.execute("select token_hash from user_management.sessions"
                                       " union all select token_hash from user_management.auth_tokens")]
    assert hashes
    assert su.execute("select count(*) from audit.audit_log a, unnest(%s::text[]) h where a.diff::text like '%%' || h || '%%'",
                      (hashes,)).fetchone() == (0,)


def test_only_holders_of_audit_view_read_the_audit_log(tx: psycopg.Connection, tenant_db: tuple[str, list[Org]],
                                                       roles: dict[str, str]) -> None:
    """Diffs carry other users' data and staff-only content (question stems, ...): a learner reads no
    audit row of their own organization, its owner (audit.view) does, the read-only role does; nobody
    reads another organization's rows."""
    org, other = tenant_db[1][0], tenant_db[1][1]
    learner = (_learner(tx, org),)  # a member without any role: no audit.view

    def visible(user: Any, role: str) -> tuple[int, int]:
        tx.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                   (str(org.id), str(user)))
        tx.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        row = tx.execute("select count(*) filter (where organization_id = %s),"
                         " count(*) filter (where organization_id = %s) from audit.audit_log",
                         (org.id, other.id)).fetchone()
        tx.execute("reset role")
        assert row is not None
        return int(row[0]), int(row[1])

    mine, theirs = visible(learner[0], roles["app_role"])
    assert (mine, theirs) == (0, 0)
    mine, theirs = visible(org.owner_id, roles["app_role"])
    assert mine > 0 and theirs == 0
    mine, theirs = visible(learner[0], roles["readonly_role"])
    assert mine > 0 and theirs == 0
