"""Identity (user_management, V0005-V0021): constraints on users and organizations, sign-up with
create_organization(), plan limits, single-use tokens, sessions and the read-only role.

Login lockout is in test_login_security.py, roles and permissions in test_rbac.py.

Every statement that stands for something the application does runs as the application role
(``SET LOCAL ROLE`` after ``set_config('app.organization_id' / 'app.user_id', ..., true)``,
helpers in identity_support.py): a superuser bypasses RLS and would prove nothing. The superuser
only arranges what the application cannot (a token or session created in the past) and reads
results. Tests on ``tx`` work in the shared tenant_db inside a rolled-back transaction; tests that
commit or use several connections get a fresh clone (``db``).
"""

from __future__ import annotations

import re
import uuid


import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PgServer
from .identity_support import (ARGON2, BCRYPT, SYSTEM_ROLES, Tenant, add_user, create_tenant,
                               run, run_concurrently, set_context, set_role, sha,
                               token)
from .tenancy import Org



@pytest.fixture
def t(tx: psycopg.Connection, pg: PgServer) -> Tenant:
    """A fresh enterprise organization (rolled back with ``tx``) with an admin and a learner."""
    ten = create_tenant(tx, pg, "idt")
    add_user(tx, pg, ten, "admin", role="admin")
    add_user(tx, pg, ten, "learner", role="learner")
    return ten


def insert_user(tx: psycopg.Connection, app: str, t: Tenant, email: str, *, tz: str = "UTC",
                password_hash: str | None = ARGON2):
    return run(tx, app, t.id, t.owner,
               "insert into user_management.users (organization_id, email, display_name, timezone, password_hash)"
               " values (%s, %s, 'Someone', %s, %s) returning id", (t.id, email, tz, password_hash))


# =================================================================================================
# 1. Constraints on users and organizations
# =================================================================================================

@pytest.mark.parametrize("password_hash", [
    "hunter2",                                                        # plaintext
    sha("hunter2"),                                                   # unsalted digest
    ARGON2.replace("argon2id", "argon2i"),                            # another argon2 variant
    ARGON2.replace("v=19", "v=16"),                                   # another argon2 version
    ARGON2[:-30],                                                     # truncated hash part
    BCRYPT[:-1],                                                      # 52 characters after the cost
    BCRYPT.replace("$12$", "$03$"),                                   # cost below 4
    BCRYPT.replace("$2b$", "$2x$"),                                   # unknown bcrypt prefix
    " " + ARGON2,                                                     # leading space
    ARGON2 + "\n",                                                    # trailing newline
    "$argon2id$v=19$m=65536,t=3,p=4$" + "c" * 11 + "$" + "A" * 500,  # longer than 512 characters
], ids=["plaintext", "sha256", "argon2i", "argon2-v16", "truncated-argon2", "short-bcrypt", "bcrypt-cost3",
        "bcrypt-2x", "leading-space", "trailing-newline", "too-long"])
def test_users_reject_anything_but_an_argon2id_or_bcrypt_hash(tx: psycopg.Connection, app: str, t: Tenant,
                                                              password_hash: str) -> None:
    out = insert_user(tx, app, t, "pw@example.org", password_hash=password_hash)
    assert (out.sqlstate, out.constraint) == ("23514", "ck_users_password_hash_format")


@pytest.mark.parametrize("password_hash", [ARGON2, BCRYPT, BCRYPT.replace("$2b$", "$2a$"),
                                           BCRYPT.replace("$2b$", "$2y$").replace("$12$", "$31$"), None],
                         ids=["argon2id", "bcrypt-2b", "bcrypt-2a", "bcrypt-2y-cost31", "no-password"])
def test_users_accept_argon2id_and_bcrypt_hashes(tx: psycopg.Connection, app: str, t: Tenant,
                                                 password_hash: str | None) -> None:
    out = insert_user(tx, app, t, "pw@example.org", password_hash=password_hash)
    assert out.ok, out
    stored = tx.execute("select password_hash from user_management.users where id = %s", (out.value,)).fetchone()
    assert stored == (password_hash,)


# The formats ck_users_password_hash_format is meant to admit, written independently in Python.
ARGON2_RE = r"\$argon2id\$v=19\$m=[0-9]{1,10},t=[0-9]{1,10},p=[0-9]{1,3}\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}"
BCRYPT_RE = r"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}"
PASSWORD_HASH = re.compile(f"(?:{ARGON2_RE})|(?:{BCRYPT_RE})")


def hash_format_ok(value: str) -> bool:
    return len(value) <= 512 and PASSWORD_HASH.fullmatch(value) is not None


NO_NUL = st.characters(codec="utf-8", exclude_characters="\x00")  # what PostgreSQL text can hold
VALID_HASHES = st.from_regex(ARGON2_RE, fullmatch=True) | st.from_regex(BCRYPT_RE, fullmatch=True)


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """A valid hash with one character deleted, inserted or replaced (it may still be valid)."""
    s = draw(VALID_HASHES)
    i = draw(st.integers(0, len(s) - 1))
    c = draw(st.sampled_from("$,=/+.0123456789abyzAZ") | NO_NUL)
    op = draw(st.sampled_from(["delete", "insert", "replace"]))
    if op == "delete":
        return s[:i] + s[i + 1:]
    if op == "insert":
        return s[:i] + c + s[i:]
    return s[:i] + c + s[i + 1:]


STRAY = st.sampled_from("-_=.$,! \n\u00e9") | NO_NUL


def _chars(draw: st.DrawFn, alphabet: str, n: int) -> str:
    return draw(st.text(st.sampled_from(alphabet), min_size=n, max_size=n))


def _with_fault(draw: st.DrawFn, text: str, fault: str) -> str:
    """The faults that apply to a whole string: a stray character somewhere, or a trailing one."""
    if fault == "char":
        i = draw(st.integers(0, len(text) - 1))
        return text[:i] + draw(STRAY) + text[i + 1:]
    if fault == "suffix":
        return text + draw(st.sampled_from(["\n", "$", "=", " ", "a", "/"]))
    return text


B64 = "ABCMXYZabcmxyz0189+/"


@st.composite
def argon2_like(draw: st.DrawFn) -> str:
    """An argon2id hash, valid at the edges of every field or with exactly one field broken (one fault)."""
    fault = draw(st.sampled_from(["none", "none", "prefix", "version", "m", "t", "p", "salt", "hash", "length",
                                  "char", "suffix"]))

    def digits(name: str, hi: int) -> str:
        n = draw(st.sampled_from([0, hi + 1]) if fault == name else st.sampled_from([1, hi]) | st.integers(1, hi))
        return _chars(draw, "0123456789", n)

    prefix = draw(st.sampled_from(["$argon2i$", "$argon2d$", "$Argon2id$", "argon2id$", "$argon2id"])
                  if fault == "prefix" else st.just("$argon2id$"))
    version = draw(st.sampled_from(["v=16", "v=1", "v=190", "V=19"]) if fault == "version" else st.just("v=19"))
    head = f"{prefix}{version}$m={digits('m', 10)},t={digits('t', 10)},p={digits('p', 3)}$"
    salt = _chars(draw, B64, draw(st.sampled_from([0, 10]) if fault == "salt" else st.integers(11, 24)))
    if fault == "length":  # a valid hash of 510-514 characters: the CHECK caps the column at 512
        n = draw(st.integers(510, 514)) - len(head) - len(salt) - 1
    else:
        n = draw(st.sampled_from([0, 15]) if fault == "hash" else st.sampled_from([16]) | st.integers(16, 64))
    return _with_fault(draw, f"{head}{salt}${_chars(draw, B64, n)}", fault)


@st.composite
def bcrypt_like(draw: st.DrawFn) -> str:
    """A bcrypt hash, valid at the edges of every field or with exactly one field broken (one fault)."""
    fault = draw(st.sampled_from(["none", "none", "variant", "cost", "body", "char", "suffix"]))
    variant = draw(st.sampled_from("x3AB_") if fault == "variant" else st.sampled_from("aby"))
    cost = draw(st.sampled_from(["00", "03", "32", "39", "4", "004", "12 "]) if fault == "cost"
                else st.sampled_from(["04", "31"]) | st.integers(4, 31).map(lambda c: f"{c:02d}"))
    n = draw(st.sampled_from([0, 52, 54]) if fault == "body" else st.just(53))
    return _with_fault(draw, f"$2{variant}${cost}${_chars(draw, './ABMZabmz0189', n)}", fault)


HASH_CANDIDATES = {
    "valid": VALID_HASHES,                       # st.from_regex of the two formats
    "near-miss": near_misses(),                  # one character deleted, inserted or replaced
    "argon2-one-fault": argon2_like(),           # field edges, exactly one field broken
    "bcrypt-one-fault": bcrypt_like(),
    "any-text": st.text(NO_NUL, max_size=80),    # arbitrary strings
}


@pytest.mark.parametrize("family", list(HASH_CANDIDATES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_password_hash_check_accepts_exactly_the_reference_formats(tx: psycopg.Connection, app: str,
                                                                   tenant_db: tuple[str, list[Org]], family: str,
                                                                   data: st.DataObject) -> None:
    """Property: set_password_hash() (as the app, for oneself) stores exactly what the regex admits."""
    value = data.draw(HASH_CANDIDATES[family], label="password_hash")
    org = tenant_db[1][0]
    out = run(tx, app, org.id, org.owner_id, "select user_management.set_password_hash(%s, %s)",
              (org.owner_id, value))
    if hash_format_ok(value):
        assert out.ok, (value, out)
    else:
        assert (out.sqlstate, out.constraint) == ("23514", "ck_users_password_hash_format"), value


# V0024/V0026 replaced uq_users_organization_id_email (on lower(email)) by this index on the
# trigger-maintained email_normalized column.
UQ_EMAIL = "uq_users_organization_id_email_normalized"


def test_email_is_unique_per_organization_case_insensitively(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    assert insert_user(tx, app, t, "Alice.Doe@Example.org").ok
    for other in ["alice.doe@example.org", "ALICE.DOE@EXAMPLE.ORG", "Alice.Doe@Example.org"]:
        out = insert_user(tx, app, t, other)
        assert (out.sqlstate, out.constraint) == ("23505", UQ_EMAIL), other
    # Changing another user's address to a taken one is refused as well.
    out = run(tx, app, t.id, t.owner, "update user_management.users set email = 'ALICE.doe@example.ORG' where id = %s",
              (t.users["learner"],))
    assert (out.sqlstate, out.constraint) == ("23505", UQ_EMAIL)


def test_same_email_in_another_organization_is_fine(tx: psycopg.Connection, pg: PgServer, app: str,
                                                    t: Tenant) -> None:
    other = create_tenant(tx, pg, "idt2")
    assert insert_user(tx, app, t, "shared@example.org").ok
    assert insert_user(tx, app, other, "SHARED@example.org").ok


def test_soft_deleted_users_email_can_be_reused(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    first = insert_user(tx, app, t, "reuse@example.org").value
    assert insert_user(tx, app, t, "Reuse@example.org").sqlstate == "23505"
    deleted = run(tx, app, t.id, t.owner, "update user_management.users set deleted_at = now() where id = %s", (first,))
    assert deleted.rowcount == 1
    again = insert_user(tx, app, t, "Reuse@example.org")
    assert again.ok and again.value != first
    # ... but then the deleted account cannot come back with the same address (23505 on undelete).
    out = run(tx, app, t.id, t.owner, "update user_management.users set deleted_at = null where id = %s", (first,))
    assert (out.sqlstate, out.constraint) == ("23505", UQ_EMAIL)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "europe/berlin", "UTC+3", "", "Factory", "localtime",
                                "posixrules", "Europe/Berlin "])
def test_invalid_timezone_is_rejected(tx: psycopg.Connection, app: str, t: Tenant, tz: str) -> None:
    out = insert_user(tx, app, t, "tz@example.org", tz=tz)
    assert (out.sqlstate, out.constraint) == ("23514", "ck_users_timezone")
    upd = run(tx, app, t.id, t.users["learner"], "update user_management.users set timezone = %s where id = %s",
              (tz, t.users["learner"]))
    assert (upd.sqlstate, upd.constraint) == ("23514", "ck_users_timezone")


@pytest.mark.parametrize("tz", ["America/Argentina/Buenos_Aires", "Asia/Kathmandu", "UTC", "Europe/Berlin",
                                "Pacific/Chatham", "America/Sao_Paulo"])
def test_valid_timezone_is_accepted(tx: psycopg.Connection, app: str, t: Tenant, tz: str) -> None:
    assert insert_user(tx, app, t, "tz@example.org", tz=tz).ok
    # and the user may change their own time zone
    upd = run(tx, app, t.id, t.users["learner"], "update user_management.users set timezone = %s where id = %s",
              (tz, t.users["learner"]))
    assert upd.ok and upd.rowcount == 1


@pytest.mark.parametrize("settings_json", [
    '{"unknown_key": 1}', '{"login_max_failures": 0}', '{"login_max_failures": 101}',
    '{"login_max_failures": "5"}', '{"login_max_failures": 5.5}', '{"login_max_failures": -1}',
    '{"login_window_minutes": 1441}', '{"login_lockout_minutes": 10081}', '{"default_locale": "english"}',
    '{"default_timezone": "Mars/Olympus"}', '[]', '"text"',
], ids=["unknown-key", "failures-0", "failures-101", "failures-string", "failures-fraction", "failures-negative",
        "window-too-long", "lockout-too-long", "bad-locale", "bad-timezone", "array", "string"])
def test_invalid_organization_settings_are_rejected(tx: psycopg.Connection, app: str, t: Tenant,
                                                    settings_json: str) -> None:
    out = run(tx, app, t.id, t.owner, "update user_management.organizations set settings = %s::jsonb where id = %s",
              (settings_json, t.id))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_organizations_settings")


def test_valid_organization_settings_are_accepted_from_organization_managers_only(
        tx: psycopg.Connection, app: str, t: Tenant) -> None:
    good = ('{"login_max_failures": 100, "login_window_minutes": 1440, "login_lockout_minutes": 10080,'
            ' "default_locale": "pt-BR", "default_timezone": "Asia/Kathmandu"}')
    q = "update user_management.organizations set settings = %s::jsonb where id = %s"
    assert run(tx, app, t.id, t.owner, q, ('{"login_max_failures": 1}', t.id)).rowcount == 1
    assert run(tx, app, t.id, t.owner, q, (good, t.id)).rowcount == 1
    # an admin lacks organization.manage, a learner too: RLS hides the row from their UPDATE
    for who in ("admin", "learner"):
        out = run(tx, app, t.id, t.users[who], q, ('{}', t.id))
        assert out.ok and out.rowcount == 0, who
    row = tx.execute("select settings ->> 'default_timezone' from user_management.organizations where id = %s",
                     (t.id,)).fetchone()
    assert row == ("Asia/Kathmandu",)


# =================================================================================================
# 2. create_organization()
# =================================================================================================

def test_create_organization_provisions_roles_permissions_and_owner(tx: psycopg.Connection, pg: PgServer,
                                                                    app: str) -> None:
    t = create_tenant(tx, pg, "prov", plan="basic")
    roles = run(tx, app, t.id, t.owner, "select key, system_key, is_system, deleted_at from user_management.roles")
    assert sorted(roles.rows) == sorted((k, k, True, None) for k in SYSTEM_ROLES)

    held = run(tx, app, t.id, t.owner, """
        select r.system_key, array_agg(rp.permission_key order by rp.permission_key)
          from user_management.roles r join user_management.role_permissions rp
            on rp.organization_id = r.organization_id and rp.role_id = r.id
         group by r.system_key""")
    template = run(tx, app, t.id, t.owner, """
        select system_role_key, array_agg(permission_key order by permission_key)
          from user_management.system_role_permissions group by system_role_key""")
    assert dict(held.rows) == dict(template.rows)
    assert set(dict(template.rows)) == set(SYSTEM_ROLES) - {"viewer"}  # the viewer holds nothing

    grants = run(tx, app, t.id, t.owner, """
        select ur.user_id, r.system_key, ur.course_id, ur.granted_by, ur.expires_at, ur.revoked_at
          from user_management.user_roles ur join user_management.roles r
            on r.organization_id = ur.organization_id and r.id = ur.role_id""")
    assert grants.rows == [(t.owner, "owner", None, None, None, None)]

    everything = run(tx, app, t.id, t.owner, "select array_agg(key order by key) from user_management.permissions")
    perms = run(tx, app, t.id, t.owner, "select user_management.current_user_permissions()")
    assert perms.value == everything.value
    org = run(tx, app, t.id, t.owner,
              "select plan_code, status, contact_email, deleted_at from user_management.organizations")
    assert org.rows == [("basic", "active", t.email("owner"), None)]
    owner = run(tx, app, t.id, t.owner, "select email, timezone, password_hash from user_management.users")
    assert owner.rows == [(t.email("owner"), "Europe/Berlin", ARGON2)]


@pytest.mark.parametrize("caller", ["no-context", "another-organization"])
def test_create_organization_restores_the_callers_context(tx: psycopg.Connection, app: str,
                                                          tenant_db: tuple[str, list[Org]], caller: str) -> None:
    org, user = (None, None) if caller == "no-context" else (tenant_db[1][0].id, tenant_db[1][0].owner_id)
    with tx.transaction(force_rollback=True):
        set_context(tx, org, user)
        set_role(tx, app)
        new = tx.execute("select organization_id from user_management.create_organization("
                         "'Nested', 'nested-' || substr(md5(random()::text), 1, 6), 'free', 'n@nested.example',"
                         " %s, 'N')",
                         (ARGON2,)).fetchone()
        after = tx.execute("select app.current_organization_id(), app.current_user_id()").fetchone()
        assert new is not None and after == (org, user)
        # and the restored context is in force: the new organization is invisible from here
        seen = tx.execute("select count(*) from user_management.organizations where id = %s", (new[0],)).fetchone()
        assert seen == (0,)


def test_create_organization_refuses_a_taken_or_malformed_slug_and_an_unknown_plan(
        tx: psycopg.Connection, app: str, t: Tenant) -> None:
    q = "select * from user_management.create_organization(%s, %s, %s, 'x@y.example', %s, 'X')"
    taken = run(tx, app, None, None, q, ("Copy", t.slug, "free", ARGON2))
    assert (taken.sqlstate, taken.constraint) == ("23505", "uq_organizations_slug")
    bad = run(tx, app, None, None, q, ("Bad", "Not_A_Slug", "free", ARGON2))
    assert (bad.sqlstate, bad.constraint) == ("23514", "ck_organizations_slug_format")
    plan = run(tx, app, None, None, q, ("Plan", "fine-slug-" + uuid.uuid4().hex[:6], "platinum", ARGON2))
    assert (plan.sqlstate, plan.constraint) == ("23503", "fk_organizations_plan_code")
    weak = run(tx, app, None, None, q, ("Weak", "fine-slug-" + uuid.uuid4().hex[:6], "free", "hunter2"))
    assert (weak.sqlstate, weak.constraint) == ("23514", "ck_users_password_hash_format")
    # nothing of the refused sign-ups is left behind
    n = tx.execute("select count(*) from user_management.organizations where name in ('Copy', 'Bad', 'Plan', 'Weak')")
    assert n.fetchone() == (0,)


def test_create_organization_takes_the_owner_timezone_from_settings_when_null(tx: psycopg.Connection,
                                                                             app: str) -> None:
    out = run(tx, app, None, None,
              "select owner_user_id from user_management.create_organization('Tz', %s, 'free', 'tz@tz.example', %s,"
              " 'Tz', NULL, '{\"default_timezone\": \"Asia/Kathmandu\"}')",
              ("tz-" + uuid.uuid4().hex[:6], ARGON2))
    row = tx.execute("select timezone from user_management.users where id = %s", (out.value,)).fetchone()
    assert row == ("Asia/Kathmandu",)


def test_create_organization_owner_timezone_defaults_to_settings_default_timezone(tx: psycopg.Connection,
                                                                                  app: str) -> None:
    out = run(tx, app, None, None,
              "select owner_user_id from user_management.create_organization(p_name => 'Tz', p_slug => %s,"
              " p_plan_code => 'free', p_owner_email => 'tz@tz.example', p_owner_password_hash => %s,"
              " p_owner_display_name => 'Tz', p_settings => '{\"default_timezone\": \"Asia/Kathmandu\"}')",
              ("tz-" + uuid.uuid4().hex[:6], ARGON2))
    row = tx.execute("select timezone from user_management.users where id = %s", (out.value,)).fetchone()
    assert row == ("Asia/Kathmandu",)


# =================================================================================================
# 5. Plan limits
# =================================================================================================

def max_users(tx: psycopg.Connection, app: str, t: Tenant, plan: str) -> int:
    return int(run(tx, app, t.id, t.owner, "select max_users from user_management.subscription_plans where code = %s",
                   (plan,)).value)


def live_users(conn: psycopg.Connection, org: uuid.UUID) -> int:
    row = conn.execute("select count(*) from user_management.users where organization_id = %s and deleted_at is null",
                       (org,)).fetchone()
    assert row is not None
    return int(row[0])


def test_free_plan_refuses_users_beyond_max_users(tx: psycopg.Connection, pg: PgServer, app: str) -> None:
    t = create_tenant(tx, pg, "free", plan="free")
    limit = max_users(tx, app, t, "free")
    assert limit >= 2
    for i in range(limit - 1):  # the owner is the first user
        assert insert_user(tx, app, t, f"u{i}@example.org").ok
    assert live_users(tx, t.id) == limit
    over = insert_user(tx, app, t, "one-too-many@example.org")
    assert (over.sqlstate, over.constraint) == ("EL008", "trg_users_enforce_plan_limit_insert")
    # a soft-deleted user frees a seat ...
    victim = tx.execute("select id from user_management.users where email = 'u0@example.org'").fetchone()
    assert victim is not None
    assert run(tx, app, t.id, t.owner, "update user_management.users set deleted_at = now() where id = %s",
               (victim[0],)).rowcount == 1
    assert insert_user(tx, app, t, "replacement@example.org").ok
    # ... which undeleting cannot take back
    back = run(tx, app, t.id, t.owner, "update user_management.users set deleted_at = null where id = %s", (victim[0],))
    assert (back.sqlstate, back.constraint) == ("EL008", "trg_users_enforce_plan_limit_undelete")
    assert live_users(tx, t.id) == limit


def test_enterprise_plan_has_no_user_limit(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    for i in range(8):
        assert insert_user(tx, app, t, f"many{i}@example.org").ok


def test_concurrent_inserts_never_exceed_the_plan_limit(pg: PgServer, db: str) -> None:
    app = pg.roles["app_role"]
    with pg.connect(db, autocommit=False) as c:
        t = create_tenant(c, pg, "race", plan="free")
        c.commit()
        limit = max_users(c, app, t, "free")
        c.rollback()
    n = 10
    outs = run_concurrently(
        pg, db, n, app, t.id, t.owner,
        "insert into user_management.users (organization_id, email, display_name) values (%s, %s, 'Racer')",
        lambda i: (t.id, f"racer{i}@example.org"))
    assert sorted(o.sqlstate or "ok" for o in outs) == ["EL008"] * (n - limit + 1) + ["ok"] * (limit - 1)
    with pg.connect(db) as c:
        assert live_users(c, t.id) == limit


# =================================================================================================
# 6. Tokens and sessions
# =================================================================================================

ISSUE = "select user_management.issue_auth_token(%s, %s, %s, now() + interval '1 hour')"
CONSUME = "select user_management.consume_auth_token(%s, %s)"


def test_auth_token_is_consumed_once(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    learner, tok = t.users["learner"], token()
    assert run(tx, app, t.id, None, ISSUE, (learner, "password_reset", tok)).ok
    assert run(tx, app, t.id, None, CONSUME, ("email_verification", tok)).value is None  # other purpose
    assert run(tx, app, t.id, None, CONSUME, ("password_reset", sha("guess"))).value is None  # unknown
    assert run(tx, app, t.id, None, CONSUME, ("password_reset", tok)).value == learner
    assert run(tx, app, t.id, None, CONSUME, ("password_reset", tok)).value is None
    # a token is only valid in its own organization
    tok2 = token()
    assert run(tx, app, t.id, None, ISSUE, (learner, "password_reset", tok2)).ok
    assert run(tx, app, uuid.uuid4(), None, CONSUME, ("password_reset", tok2)).value is None
    assert run(tx, app, t.id, None, CONSUME, ("password_reset", tok2)).value == learner


def test_expired_token_returns_null_and_stays_unused(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    learner, tok = t.users["learner"], token()
    # arranged by the superuser: a token issued two hours ago that expired an hour ago
    tx.execute("insert into user_management.auth_tokens (organization_id, user_id, purpose, token_hash, created_at,"
               " expires_at) values (%s, %s, 'password_reset', %s, now() - interval '2 hours',"
               " now() - interval '1 hour')", (t.id, learner, tok))
    assert run(tx, app, t.id, None, CONSUME, ("password_reset", tok)).value is None
    used = tx.execute("select used_at from user_management.auth_tokens where token_hash = %s", (tok,)).fetchone()
    assert used == (None,)


def test_email_verification_token_is_void_after_the_address_changed(tx: psycopg.Connection, app: str,
                                                                    t: Tenant) -> None:
    learner, tok = t.users["learner"], token()
    assert run(tx, app, t.id, None, ISSUE, (learner, "email_verification", tok)).ok
    assert run(tx, app, t.id, learner, "update user_management.users set email = 'new@example.org' where id = %s",
               (learner,)).rowcount == 1
    assert run(tx, app, t.id, None, CONSUME, ("email_verification", tok)).value is None
    tok2 = token()
    assert run(tx, app, t.id, None, ISSUE, (learner, "email_verification", tok2)).ok
    assert run(tx, app, t.id, None, CONSUME, ("email_verification", tok2)).value == learner
    verified = tx.execute("select email_verified_at is not null from user_management.users where id = %s", (learner,))
    assert verified.fetchone() == (True,)


SESSION_NO_CLIENT = "select user_management.create_session(%s, %s, now() + interval '1 day', null, null)"


@pytest.mark.parametrize("bad", ["A" * 64, "a" * 63, "a" * 65, "g" * 64, sha("x").upper(), " " + sha("x")[1:]],
                         ids=["upper-A", "63", "65", "non-hex", "upper-digest", "space"])
def test_token_hashes_must_be_64_lower_case_hex(tx: psycopg.Connection, app: str, t: Tenant, bad: str) -> None:
    learner = t.users["learner"]
    out = run(tx, app, t.id, None, ISSUE, (learner, "password_reset", bad))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_auth_tokens_token_hash_format")
    out = run(tx, app, t.id, None, SESSION_NO_CLIENT, (learner, bad))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_sessions_token_hash_format")


def test_token_functions_need_an_organization_context(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    assert run(tx, app, None, None, ISSUE, (t.users["learner"], "password_reset", token())).sqlstate == "42501"
    assert run(tx, app, None, None, CONSUME, ("password_reset", token())).sqlstate == "42501"


def test_concurrent_token_consumption_has_exactly_one_winner(pg: PgServer, db: str) -> None:
    app = pg.roles["app_role"]
    tok = token()
    with pg.connect(db, autocommit=False) as c:
        t = create_tenant(c, pg, "tok")
        assert run(c, app, t.id, None, ISSUE, (t.owner, "password_reset", tok)).ok
        c.commit()
    outs = run_concurrently(pg, db, 8, app, t.id, None, CONSUME, lambda i: ("password_reset", tok))
    assert all(o.ok for o in outs), outs
    assert sorted((o.value for o in outs), key=lambda v: v is None) == [t.owner] + [None] * 7


SESSION = "select user_management.create_session(%s, %s, now() + interval '1 day', '192.0.2.1', 'pytest')"
VALIDATE = "select session_id, user_id from user_management.validate_session(%s)"


def test_session_is_valid_until_ended(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    learner, tok = t.users["learner"], token()
    sid = run(tx, app, t.id, None, SESSION, (learner, tok)).value
    assert run(tx, app, t.id, None, VALIDATE, (tok,)).rows == [(sid, learner)]
    assert run(tx, app, uuid.uuid4(), None, VALIDATE, (tok,)).rows == []  # another organization
    assert run(tx, app, t.id, learner, "select user_management.end_session(%s)", (tok,)).value is True
    assert run(tx, app, t.id, None, VALIDATE, (tok,)).rows == []
    assert run(tx, app, t.id, learner, "select user_management.end_session(%s)", (tok,)).value is False


def test_expired_session_is_not_valid(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    tok = token()
    tx.execute("insert into user_management.sessions (organization_id, user_id, token_hash, created_at, last_seen_at,"
               " expires_at) values (%s, %s, %s, now() - interval '2 days', now() - interval '2 days',"
               " now() - interval '1 day')", (t.id, t.users["learner"], tok))
    assert run(tx, app, t.id, None, VALIDATE, (tok,)).rows == []
    # and a session must be created with a future expiry
    out = run(tx, app, t.id, None, "select user_management.create_session(%s, %s, now(), null, null)",
              (t.users["learner"], token()))
    assert out.sqlstate == "22023"


def test_revoking_another_users_sessions_needs_session_revoke(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    admin, learner = t.users["admin"], t.users["learner"]
    tok_admin, tok_learner = token(), token()
    assert run(tx, app, t.id, None, SESSION, (admin, tok_admin)).ok
    assert run(tx, app, t.id, None, SESSION, (learner, tok_learner)).ok
    q = "select user_management.revoke_sessions(%s)"
    assert run(tx, app, t.id, learner, q, (admin,)).sqlstate == "42501"
    assert run(tx, app, t.id, None, VALIDATE, (tok_admin,)).rows != []
    assert run(tx, app, t.id, admin, q, (learner,)).value == 1  # the admin holds session.revoke
    assert run(tx, app, t.id, None, VALIDATE, (tok_learner,)).rows == []
    assert run(tx, app, t.id, learner, q, (learner,)).value == 0  # own sessions: allowed (none left)
    reason = tx.execute("select revoked_reason from user_management.sessions where token_hash = %s", (tok_learner,))
    assert reason.fetchone() == ("admin",)


def test_suspension_revokes_sessions_and_nobody_suspends_themself(tx: psycopg.Connection, app: str,
                                                                  t: Tenant) -> None:
    admin, learner, tok = t.users["admin"], t.users["learner"], token()
    assert run(tx, app, t.id, None, SESSION, (learner, tok)).ok
    selfish = run(tx, app, t.id, admin, "select user_management.suspend_user(%s, 'myself')", (admin,))
    assert selfish.sqlstate == "EL005"
    assert run(tx, app, t.id, learner, "select user_management.suspend_user(%s, 'x')", (admin,)).sqlstate == "42501"
    assert run(tx, app, t.id, admin, "select user_management.suspend_user(%s, 'spam')", (learner,)).value is True
    assert run(tx, app, t.id, None, VALIDATE, (tok,)).rows == []
    reason = tx.execute("select revoked_reason from user_management.sessions where token_hash = %s", (tok,))
    assert reason.fetchone() == ("user_suspended",)
    # a suspended user neither logs in nor gets a session, and holds no permission
    login = run(tx, app, t.id, None, "select user_management.record_login_success(%s, null, null)", (learner,))
    assert login.sqlstate == "EL004"
    assert run(tx, app, t.id, None, SESSION, (learner, token())).sqlstate == "EL004"
    assert run(tx, app, t.id, learner, "select user_management.current_user_permissions()").value == []
    assert run(tx, app, t.id, learner, "select user_management.unsuspend_user(%s)", (learner,)).sqlstate == "42501"
    assert run(tx, app, t.id, admin, "select user_management.unsuspend_user(%s)", (learner,)).value is True
    assert run(tx, app, t.id, None, VALIDATE, (tok,)).rows == []  # revoked sessions stay revoked


# =================================================================================================
# 7. The read-only role
# =================================================================================================

SECRETS = [("users", "password_hash"), ("users", "two_factor_secret_ref"), ("users", "recovery_code_hashes"),
           ("sessions", "token_hash"), ("auth_tokens", "token_hash")]


@pytest.mark.parametrize("table,column", SECRETS, ids=[f"{t}.{c}" for t, c in SECRETS])
def test_readonly_role_cannot_read_secret_columns(tx: psycopg.Connection, pg: PgServer,
                                                  tenant_db: tuple[str, list[Org]], table: str, column: str) -> None:
    org = tenant_db[1][0]
    ro = pg.roles["readonly_role"]
    for q in (f"select {column} from user_management.{table}", f"select * from user_management.{table}",
              f"select count(*) from user_management.{table} where {column} is not null"):
        assert run(tx, ro, org.id, None, q).sqlstate == "42501", q


@pytest.mark.parametrize("table,column", [("sessions", "token_hash"), ("auth_tokens", "token_hash")])
def test_app_role_cannot_read_token_hashes_either(tx: psycopg.Connection, app: str,
                                                  tenant_db: tuple[str, list[Org]], table: str, column: str) -> None:
    org = tenant_db[1][0]
    assert run(tx, app, org.id, org.owner_id, f"select {column} from user_management.{table}").sqlstate == "42501"


@pytest.mark.parametrize("table,columns", [
    ("users", "organization_id, id, email, display_name, timezone, failed_login_count, locked_until, suspended_at"),
    ("sessions", "organization_id, id, user_id, expires_at, revoked_at, ip"),
    ("auth_tokens", "organization_id, id, user_id, purpose, sent_to_email, used_at"),
    ("user_roles", "organization_id, id, user_id, role_id"),
    ("login_attempts", "organization_id, id, email_attempted, succeeded"),
])
def test_readonly_role_reads_the_other_columns_of_its_organization_only(
        tx: psycopg.Connection, pg: PgServer, tenant_db: tuple[str, list[Org]], table: str, columns: str) -> None:
    org = tenant_db[1][0]
    out = run(tx, pg.roles["readonly_role"], org.id, None, f"select {columns} from user_management.{table}")
    assert out.ok, out
    expected = tx.execute(f"select count(*) from user_management.{table} where organization_id = %s", (org.id,))
    assert len(out.rows) == expected.fetchone()[0] > 0  # type: ignore[index]
    assert {r[0] for r in out.rows} == {org.id}
    # without a context it sees nothing
    assert run(tx, pg.roles["readonly_role"], None, None, f"select {columns} from user_management.{table}").rows == []
