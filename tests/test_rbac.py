"""Roles and permissions: has_permission(), grant_role / revoke_role / set_role_permissions and the
rules against privilege escalation, all exercised as the application role (identity_support.run).
"""

from __future__ import annotations

import threading
import uuid


import psycopg
import pytest

from .conftest import PgServer
from .identity_support import (ARGON2, Outcome, Tenant, add_user, create_tenant, live_owners,
                               run, set_context, set_role, wait_blocked_or_done)



@pytest.fixture
def t(tx: psycopg.Connection, pg: PgServer) -> Tenant:
    """An organization with an admin, an instructor, a learner and a user without any role."""
    ten = create_tenant(tx, pg, "rbac")
    for name in ("admin", "instructor", "learner"):
        add_user(tx, pg, ten, name, role=name)
    add_user(tx, pg, ten, "nobody")
    return ten


GRANT = "select user_management.grant_role(%s, %s, %s, %s::timestamptz)"
REVOKE = "select user_management.revoke_role(%s)"
SET_PERMS = "select user_management.set_role_permissions(%s, %s::text[])"


def grant_id(tx: psycopg.Connection, user: uuid.UUID, role: uuid.UUID) -> uuid.UUID:
    row = tx.execute("select id from user_management.user_roles where user_id = %s and role_id = %s"
                     " and revoked_at is null", (user, role)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def custom_role(tx: psycopg.Connection, app: str, t: Tenant, key: str, by: uuid.UUID) -> uuid.UUID:
    out = run(tx, app, t.id, by, "insert into user_management.roles (organization_id, key, name)"
              " values (%s, %s, %s) returning id", (t.id, key, key.title()))
    t.roles[key] = out.value
    return out.value  # type: ignore[no-any-return]


def role_permissions(tx: psycopg.Connection, role: uuid.UUID) -> list[str]:
    return [r[0] for r in tx.execute("select permission_key from user_management.role_permissions"
                                     " where role_id = %s order by 1", (role,))]


# -------------------------------------------------------------------------------------------------
# Granting and revoking
# -------------------------------------------------------------------------------------------------

def test_admin_cannot_grant_or_revoke_the_owner_role(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    admin, nobody = t.users["admin"], t.users["nobody"]
    refused = run(tx, app, t.id, admin, GRANT, (nobody, t.roles["owner"], None, None))
    assert refused.sqlstate == "42501"
    owner_grant = grant_id(tx, t.owner, t.roles["owner"])
    assert run(tx, app, t.id, admin, REVOKE, (owner_grant,)).sqlstate == "42501"
    # the admin can grant and revoke what it holds: the refusals above are the owner rule, not a lack of rights
    gid = run(tx, app, t.id, admin, GRANT, (nobody, t.roles["instructor"], None, None)).value
    assert has_permission_of(tx, app, t, nobody, "course.create")
    assert run(tx, app, t.id, admin, REVOKE, (gid,)).value is True
    assert tx.execute("select count(*) from user_management.user_roles where user_id = %s and revoked_at is null",
                      (nobody,)).fetchone() == (0,)


def test_nobody_grants_a_role_to_themself(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    for who, role in [("owner", "admin"), ("admin", "instructor"), ("admin", "viewer")]:
        out = run(tx, app, t.id, t.users[who], GRANT, (t.users[who], t.roles[role], None, None))
        assert out.sqlstate == "42501", (who, role)
    assert tx.execute("select count(*) from user_management.user_roles where granted_by = user_id").fetchone() == (0,)


@pytest.mark.parametrize("who", ["instructor", "learner", "nobody"])
def test_user_without_role_assign_cannot_grant_anything(tx: psycopg.Connection, app: str, t: Tenant,
                                                        who: str) -> None:
    target = t.users["nobody"] if who != "nobody" else t.users["learner"]
    for role in ("viewer", "learner"):  # viewer holds no permission: only user.role.assign stands in the way
        out = run(tx, app, t.id, t.users[who], GRANT, (target, t.roles[role], None, None))
        assert out.sqlstate == "42501", role
    learner_grant = grant_id(tx, t.users["learner"], t.roles["learner"])  # own grant too, for the learner
    assert run(tx, app, t.id, t.users[who], REVOKE, (learner_grant,)).sqlstate == "42501"


def test_grant_role_validates_its_arguments(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    nobody = t.users["nobody"]
    assert run(tx, app, t.id, t.owner, GRANT, (nobody, uuid.uuid4(), None, None)).sqlstate == "P0002"
    assert run(tx, app, t.id, t.owner, GRANT, (uuid.uuid4(), t.roles["viewer"], None, None)).sqlstate == "P0002"
    past = run(tx, app, t.id, t.owner, "select user_management.grant_role(%s, %s, null, now() - interval '1 second')",
               (nobody, t.roles["viewer"]))
    assert past.sqlstate == "22023"
    assert run(tx, app, t.id, t.owner, GRANT, (nobody, t.roles["viewer"], None, None)).ok
    dup = run(tx, app, t.id, t.owner, GRANT, (nobody, t.roles["viewer"], None, None))
    assert (dup.sqlstate, dup.constraint) == ("23505", "uq_user_roles_active")
    # no context, no acting user
    assert run(tx, app, t.id, None, GRANT, (nobody, t.roles["learner"], None, None)).sqlstate == "42501"
    assert run(tx, app, None, None, GRANT, (nobody, t.roles["learner"], None, None)).sqlstate == "42501"


# -------------------------------------------------------------------------------------------------
# Role permissions
# -------------------------------------------------------------------------------------------------

def test_set_role_permissions_only_touches_permissions_the_caller_holds(tx: psycopg.Connection, app: str,
                                                                         t: Tenant) -> None:
    admin = t.users["admin"]
    mod = custom_role(tx, app, t, "moderator", admin)
    grab = run(tx, app, t.id, admin, SET_PERMS, (mod, ["forum.post", "organization.manage"]))
    assert grab.sqlstate == "42501"
    assert role_permissions(tx, mod) == []
    assert run(tx, app, t.id, admin, SET_PERMS, (mod, ["forum.moderate", "forum.post", "forum.post"])).value == 2
    assert role_permissions(tx, mod) == ["forum.moderate", "forum.post"]
    # the owner may add what the admin lacks; then the admin may not take it away either
    assert run(tx, app, t.id, t.owner, SET_PERMS, (mod, ["forum.post", "organization.manage"])).value == 2
    assert run(tx, app, t.id, admin, SET_PERMS, (mod, ["forum.post"])).sqlstate == "42501"
    assert role_permissions(tx, mod) == ["forum.post", "organization.manage"]
    # nor grant the role, whose permissions it does not all hold
    assert run(tx, app, t.id, admin, GRANT, (t.users["nobody"], mod, None, None)).sqlstate == "42501"
    # unknown keys and NULL elements are invalid arguments
    assert run(tx, app, t.id, t.owner, SET_PERMS, (mod, ["no.such_permission"])).sqlstate == "22023"
    assert run(tx, app, t.id, t.owner, SET_PERMS, (mod, ["forum.post", None])).sqlstate == "22023"


def test_set_role_permissions_needs_role_manage_and_not_holding_the_role(tx: psycopg.Connection, app: str,
                                                                          t: Tenant) -> None:
    admin = t.users["admin"]
    mod = custom_role(tx, app, t, "moderator", admin)
    assert run(tx, app, t.id, t.users["instructor"], SET_PERMS, (mod, ["forum.post"])).sqlstate == "42501"
    assert run(tx, app, t.id, t.users["learner"], SET_PERMS, (mod, ["forum.post"])).sqlstate == "42501"
    assert run(tx, app, t.id, t.owner, GRANT, (admin, mod, None, None)).ok
    assert run(tx, app, t.id, admin, SET_PERMS, (mod, ["forum.post"])).sqlstate == "42501"
    assert role_permissions(tx, mod) == []


@pytest.mark.parametrize("role", ["owner", "admin", "learner", "viewer"])
def test_system_roles_are_immutable(tx: psycopg.Connection, app: str, t: Tenant, role: str) -> None:
    rid = t.roles[role]
    before = role_permissions(tx, rid)
    for keys in ([], ["forum.post"], before):
        assert run(tx, app, t.id, t.owner, SET_PERMS, (rid, keys)).sqlstate == "EL006", keys
    assert role_permissions(tx, rid) == before
    for change in ("key = 'renamed'", "deleted_at = now()"):
        out = run(tx, app, t.id, t.owner, f"update user_management.roles set {change} where id = %s", (rid,))
        assert (out.sqlstate, out.constraint) == ("EL006", "trg_roles_protect_system"), change
    # the display name stays editable
    assert run(tx, app, t.id, t.owner, "update user_management.roles set name = 'Renamed' where id = %s",
               (rid,)).rowcount == 1


def test_deleted_custom_role_grants_nothing_and_only_a_full_holder_revives_it(tx: psycopg.Connection, app: str,
                                                                              t: Tenant) -> None:
    nobody, admin = t.users["nobody"], t.users["admin"]
    org_role = custom_role(tx, app, t, "org_admin_light", t.owner)
    assert run(tx, app, t.id, t.owner, SET_PERMS, (org_role, ["organization.manage"])).ok
    assert run(tx, app, t.id, t.owner, GRANT, (nobody, org_role, None, None)).ok
    assert has_permission_of(tx, app, t, nobody, "organization.manage")
    assert run(tx, app, t.id, t.owner, "update user_management.roles set deleted_at = now() where id = %s",
               (org_role,)).rowcount == 1
    assert not has_permission_of(tx, app, t, nobody, "organization.manage")
    revive = run(tx, app, t.id, admin, "update user_management.roles set deleted_at = null where id = %s", (org_role,))
    assert revive.sqlstate == "42501"  # the admin lacks organization.manage
    assert not has_permission_of(tx, app, t, nobody, "organization.manage")


def has_permission_of(tx: psycopg.Connection, app: str, t: Tenant, user: uuid.UUID, key: str,
                      course: uuid.UUID | None = None) -> bool:
    return bool(run(tx, app, t.id, user, "select user_management.has_permission(%s, %s)", (key, course)).value)


# -------------------------------------------------------------------------------------------------
# The last owner
# -------------------------------------------------------------------------------------------------

def test_the_last_owner_cannot_be_revoked_deleted_or_suspended(tx: psycopg.Connection, app: str,
                                                               t: Tenant) -> None:
    owner_grant = grant_id(tx, t.owner, t.roles["owner"])
    assert run(tx, app, t.id, t.owner, REVOKE, (owner_grant,)).sqlstate == "EL009"
    assert run(tx, app, t.id, t.owner, "update user_management.users set deleted_at = now() where id = %s",
               (t.owner,)).sqlstate == "EL009"
    assert live_owners(tx, t.id) == 1
    # with a second owner the first may step down; then the second is the last one
    second = t.users["admin"]
    second_grant = run(tx, app, t.id, t.owner, GRANT, (second, t.roles["owner"], None, None)).value
    assert run(tx, app, t.id, t.owner, REVOKE, (owner_grant,)).value is True
    assert run(tx, app, t.id, second, REVOKE, (second_grant,)).sqlstate == "EL009"
    suspend = run(tx, app, t.id, t.owner, "select user_management.suspend_user(%s, 'coup')", (second,))
    assert suspend.sqlstate == "42501"  # the former owner no longer covers the owner's permissions
    assert live_owners(tx, t.id) == 1


def new_course(tx: psycopg.Connection, t: Tenant) -> uuid.UUID:
    """A real (draft) course of the tenant: course-scoped grants reference courses (fk_user_roles_course_id)."""
    set_context(tx, t.id, t.owner)
    row = tx.execute("insert into course_management.courses (organization_id, title, slug)"
                     " values (%s, 'Scoped course', %s) returning id", (t.id, "c-" + uuid.uuid4().hex[:8])).fetchone()
    assert row is not None
    return row[0]



def test_a_course_scoped_owner_grant_does_not_count_as_an_owner(tx: psycopg.Connection, app: str,
                                                                t: Tenant) -> None:
    """A course-scoped owner grant does not count as an owner of the organization."""
    course = new_course(tx, t)
    admin = t.users["admin"]
    assert run(tx, app, t.id, t.owner, GRANT, (admin, t.roles["owner"], course, None)).ok
    assert live_owners(tx, t.id) == 1
    out = run(tx, app, t.id, t.owner, REVOKE, (grant_id(tx, t.owner, t.roles["owner"]),))
    assert out.sqlstate == "EL009"


def test_admin_cannot_act_on_an_owner(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    admin, owner = t.users["admin"], t.owner
    for q, params in [
        ("select user_management.suspend_user(%s, 'coup')", (owner,)),
        ("select user_management.set_password_hash(%s, %s)", (owner, ARGON2)),
        ("select user_management.disable_two_factor(%s)", (owner,)),
        ("update user_management.users set email = 'evil@example.org' where id = %s", (owner,)),
        ("update user_management.users set phone = '+4930123456' where id = %s", (owner,)),
        ("update user_management.users set deleted_at = now() where id = %s", (owner,)),
    ]:
        assert run(tx, app, t.id, admin, q, params).sqlstate == "42501", q
    # the same actions on a learner are fine
    learner = t.users["learner"]
    assert run(tx, app, t.id, admin, "update user_management.users set email = 'l2@example.org' where id = %s",
               (learner,)).rowcount == 1
    assert run(tx, app, t.id, admin, "select user_management.set_password_hash(%s, %s)", (learner, ARGON2)).ok


# -------------------------------------------------------------------------------------------------
# has_permission(): scope, expiry, revocation, liveness
# -------------------------------------------------------------------------------------------------

def test_course_scoped_grant_gives_the_permission_for_that_course_only(tx: psycopg.Connection, app: str,
                                                                       t: Tenant) -> None:
    learner, x, y = t.users["learner"], new_course(tx, t), new_course(tx, t)
    assert not has_permission_of(tx, app, t, learner, "assessment.grade", x)
    assert run(tx, app, t.id, t.owner, GRANT, (learner, t.roles["teaching_assistant"], x, None)).ok
    assert has_permission_of(tx, app, t, learner, "assessment.grade", x)
    assert not has_permission_of(tx, app, t, learner, "assessment.grade", y)
    assert not has_permission_of(tx, app, t, learner, "assessment.grade")
    assert has_permission_of(tx, app, t, learner, "forum.post", y)  # organization-wide grants apply everywhere
    perms = run(tx, app, t.id, learner, "select user_management.current_user_permissions(%s)", (x,)).value
    assert "assessment.grade" in perms and "course.create" not in perms
    # a course-scoped role-assigner grants for that course only
    assert run(tx, app, t.id, t.owner, GRANT, (t.users["instructor"], t.roles["admin"], x, None)).ok
    instr = t.users["instructor"]
    assert run(tx, app, t.id, instr, GRANT, (t.users["nobody"], t.roles["teaching_assistant"], x, None)).ok
    assert run(tx, app, t.id, instr, GRANT, (t.users["nobody"], t.roles["teaching_assistant"], y, None)).sqlstate \
        == "42501"
    assert run(tx, app, t.id, instr, GRANT, (t.users["nobody"], t.roles["teaching_assistant"], None, None)).sqlstate \
        == "42501"


def test_expired_grant_gives_nothing_and_can_be_granted_again(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    nobody = t.users["nobody"]
    gid = run(tx, app, t.id, t.owner, "select user_management.grant_role(%s, %s, null, now() + interval '1 hour')",
              (nobody, t.roles["instructor"])).value
    assert has_permission_of(tx, app, t, nobody, "course.create")
    # two hours pass (superuser moves the grant into the past)
    tx.execute("update user_management.user_roles set granted_at = granted_at - interval '2 hours',"
               " expires_at = expires_at - interval '2 hours' where id = %s", (gid,))
    assert not has_permission_of(tx, app, t, nobody, "course.create")
    assert run(tx, app, t.id, nobody, "select user_management.current_user_permissions()").value == []
    again = run(tx, app, t.id, t.owner, GRANT, (nobody, t.roles["instructor"], None, None))
    assert again.ok and again.value != gid
    assert has_permission_of(tx, app, t, nobody, "course.create")


def test_revoked_grant_gives_nothing(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    instr = t.users["instructor"]
    gid = grant_id(tx, instr, t.roles["instructor"])
    assert has_permission_of(tx, app, t, instr, "course.create")
    assert run(tx, app, t.id, t.users["admin"], REVOKE, (gid,)).value is True
    assert not has_permission_of(tx, app, t, instr, "course.create")
    assert run(tx, app, t.id, t.users["admin"], REVOKE, (gid,)).value is False
    row = tx.execute("select revoked_by from user_management.user_roles where id = %s", (gid,)).fetchone()
    assert row == (t.users["admin"],)


def test_suspended_or_deleted_user_holds_no_permission(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    admin, instr = t.users["admin"], t.users["instructor"]
    assert run(tx, app, t.id, t.owner, "select user_management.suspend_user(%s, 'audit')", (admin,)).value is True
    assert not has_permission_of(tx, app, t, admin, "user.manage")
    assert run(tx, app, t.id, admin, GRANT, (t.users["nobody"], t.roles["viewer"], None, None)).sqlstate == "42501"
    assert run(tx, app, t.id, t.owner, "update user_management.users set deleted_at = now() where id = %s",
               (instr,)).rowcount == 1
    assert not has_permission_of(tx, app, t, instr, "course.create")


def test_has_permission_is_false_without_context_or_for_unknown_keys(tx: psycopg.Connection, app: str,
                                                                     t: Tenant) -> None:
    q = "select user_management.has_permission(%s)"
    assert run(tx, app, t.id, t.owner, q, ("organization.manage",)).value is True
    assert run(tx, app, t.id, t.owner, q, ("no.such_permission",)).value is False
    assert run(tx, app, t.id, t.owner, q, (None,)).value is False
    assert run(tx, app, t.id, None, q, ("organization.manage",)).value is False
    assert run(tx, app, uuid.uuid4(), t.owner, q, ("organization.manage",)).value is False


# -------------------------------------------------------------------------------------------------
# No way around the functions
# -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stmt", [
    "insert into user_management.user_roles (organization_id, user_id, role_id)"
    " values (%(org)s, %(me)s, %(owner_role)s)",
    "update user_management.user_roles set revoked_at = null where organization_id = %(org)s",
    "update user_management.user_roles set expires_at = now() + interval '1 year' where organization_id = %(org)s",
    "delete from user_management.user_roles where organization_id = %(org)s",
    "insert into user_management.role_permissions (organization_id, role_id, permission_key)"
    " values (%(org)s, %(learner_role)s, 'organization.manage')",
    "update user_management.role_permissions set permission_key = 'organization.manage'"
    " where organization_id = %(org)s",
    "delete from user_management.role_permissions where organization_id = %(org)s",
    "insert into user_management.roles (organization_id, key, name, system_key, is_system)"
    " values (%(org)s, 'boss', 'Boss', 'owner', true)",
    "update user_management.roles set is_system = true where organization_id = %(org)s",
], ids=["insert-grant", "unrevoke-grant", "extend-grant", "delete-grant", "insert-role-permission",
        "update-role-permission", "delete-role-permission", "insert-system-role", "make-system-role"])
@pytest.mark.parametrize("who", ["owner", "learner"])
def test_app_cannot_write_grants_or_role_permissions_directly(tx: psycopg.Connection, app: str, t: Tenant,
                                                              stmt: str, who: str) -> None:
    params = {"org": t.id, "me": t.users[who], "owner_role": t.roles["owner"], "learner_role": t.roles["learner"]}
    assert run(tx, app, t.id, t.users[who], stmt, params).sqlstate == "42501"


@pytest.mark.parametrize("assignment", [
    "failed_login_count = 0", "failed_login_window_started_at = null", "locked_until = null",
    "password_hash = %(hash)s", "suspended_at = null", "suspended_reason = null", "suspended_by = null",
    "login_count = login_count + 1", "last_login_at = now()", "email_verified_at = now()",
    "two_factor_method = null", "two_factor_secret_ref = null", "recovery_code_hashes = null",
    "email_normalized = 'x'", "organization_id = organization_id", "created_at = created_at",
])
def test_users_cannot_update_protected_columns_of_their_own_row(tx: psycopg.Connection, app: str, t: Tenant,
                                                                assignment: str) -> None:
    me = t.users["learner"]
    out = run(tx, app, t.id, me, f"update user_management.users set {assignment} where id = %(me)s",
              {"me": me, "hash": ARGON2})
    assert out.sqlstate == "42501"
    # a profile column of the same row is writable (the refusal is about the column)
    ok = run(tx, app, t.id, me, "update user_management.users set display_name = 'Me' where id = %s", (me,))
    assert ok.rowcount == 1
    # and another user's row is not even visible to the learner's UPDATE
    other = run(tx, app, t.id, me, "update user_management.users set display_name = 'Hacked' where id = %s",
                (t.owner,))
    assert other.ok and other.rowcount == 0


# -------------------------------------------------------------------------------------------------
# Two owners removing each other at the same time
# -------------------------------------------------------------------------------------------------

REMOVE = {
    "revoke": "select user_management.revoke_role((select id from user_management.user_roles"
              " where user_id = %(victim)s and revoked_at is null))",
    "delete": "update user_management.users set deleted_at = now() where id = %(victim)s",
    "suspend": "select user_management.suspend_user(%(victim)s, 'coup')",
}
# Two owners removing each other at once: V0029 serialises owner removal (was a write skew).


@pytest.mark.parametrize("how", [
    "revoke",
    "delete",
    "suspend",
])
def test_two_owners_removing_each_other_at_once_leave_an_owner(pg: PgServer, db: str, how: str) -> None:
    app = pg.roles["app_role"]
    with pg.connect(db, autocommit=False) as c:
        ten = create_tenant(c, pg, "duo")
        second = add_user(c, pg, ten, "second", role="owner")
        c.commit()
        assert live_owners(c, ten.id) == 2
        c.commit()
    first = ten.owner
    su = pg.connect(db)
    c1 = pg.connect(db, autocommit=False)
    c2 = pg.connect(db, autocommit=False)
    outcome: list[Outcome] = []

    def second_owner() -> None:
        try:
            c2.execute(REMOVE[how], {"victim": first})
            c2.commit()
            outcome.append(Outcome(None))
        except psycopg.Error as exc:
            c2.rollback()
            outcome.append(Outcome(exc.sqlstate))

    try:
        set_context(c1, ten.id, first)
        set_role(c1, app)
        set_context(c2, ten.id, second)
        set_role(c2, app)
        c1.execute(REMOVE[how], {"victim": second})  # the first owner removes the second, not committed yet
        th = threading.Thread(target=second_owner)
        th.start()
        wait_blocked_or_done(su, c2.info.backend_pid, th)
        c1.commit()
        th.join(timeout=30)
        assert outcome, "the second transaction did not finish"
        assert live_owners(su, ten.id) >= 1, f"no owner left (second owner's call: {outcome[0]})"
        assert outcome[0].sqlstate in ("EL009", "40001", "40P01")
    finally:
        for k in (c1, c2, su):
            k.close()
