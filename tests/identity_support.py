"""Helpers of the identity tests (test_identity.py, test_login_security.py, test_rbac.py).

Everything the application does runs through ``run`` (or ``run_concurrently``): the context is set with
``set_config(..., true)`` and then ``SET LOCAL ROLE <app role>``, so RLS, column privileges and
EXECUTE grants apply exactly as in production. The superuser connection is used only to arrange
state the application cannot create (simulated elapsed time) and to read the outcome.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

import psycopg
from psycopg import sql

from .conftest import PgServer
from .tenancy import ARGON2
from .tenancy import sha256_hex as sha

# bcrypt: $2b$, cost 12, 22 characters of salt + 31 of hash in bcrypt's base64 alphabet.
BCRYPT = "$2b$12$" + "R9h/cIPz0gi.URNNX3kh2O" + "PST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
assert len(BCRYPT) == 60

SYSTEM_ROLES = ("owner", "admin", "instructor", "teaching_assistant", "learner", "viewer")


def token() -> str:
    """A fresh SHA-256 hex digest, as the application stores for a random token."""
    return sha(secrets.token_hex(16))


@dataclass
class Outcome:
    """What one statement did: SQLSTATE and constraint name on error, else rows and rowcount."""

    sqlstate: str | None
    constraint: str | None = None
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = -1

    @property
    def ok(self) -> bool:
        return self.sqlstate is None

    @property
    def value(self) -> Any:
        assert self.ok, f"statement failed with {self.sqlstate} ({self.constraint})"
        assert self.rows, "statement returned no row"
        return self.rows[0][0]


def set_context(conn: psycopg.Connection, org: uuid.UUID | str | None, user: uuid.UUID | str | None) -> None:
    conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                 ("" if org is None else str(org), "" if user is None else str(user)))


def set_role(conn: psycopg.Connection, role: str) -> None:
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))


def run(conn: psycopg.Connection, role: str, org: uuid.UUID | str | None, user: uuid.UUID | str | None,
        query: str | sql.Composable, params: Sequence[Any] | dict[str, Any] = ()) -> Outcome:
    """One statement as ``role`` with the given context, in a savepoint of the caller's transaction.

    On success the role is reset (the context stays set until the next call sets its own); on error
    the savepoint is rolled back, which also restores the role.
    """
    try:
        with conn.transaction():
            set_context(conn, org, user)
            set_role(conn, role)
            cur = conn.execute(query, params)
            rows = cur.fetchall() if cur.description else []
            count = cur.rowcount
            conn.execute("reset role")
        return Outcome(None, None, rows, count)
    except psycopg.Error as exc:
        return Outcome(exc.sqlstate, exc.diag.constraint_name)


@dataclass
class Tenant:
    id: uuid.UUID
    owner: uuid.UUID
    slug: str
    roles: dict[str, uuid.UUID]
    users: dict[str, uuid.UUID] = field(default_factory=dict)

    def email(self, name: str) -> str:
        return f"{name}@{self.slug}.example"


def create_tenant(conn: psycopg.Connection, pg: PgServer, tag: str, *, plan: str = "enterprise",
                  settings: str = "{}") -> Tenant:
    """Sign-up as the application would do it: create_organization() as the app role, no context."""
    slug = f"{tag}-{secrets.token_hex(3)}"
    out = run(conn, pg.roles["app_role"], None, None,
              "select organization_id, owner_user_id from user_management.create_organization("
              "%s, %s, %s, %s, %s, %s, %s, %s)",
              (f"Org {tag}", slug, plan, f"owner@{slug}.example", ARGON2, f"Owner {tag}", "Europe/Berlin", settings))
    assert out.ok, f"create_organization failed: {out.sqlstate} {out.constraint}"
    org, owner = out.rows[0]
    roles = dict(conn.execute("select system_key, id from user_management.roles"
                              " where organization_id = %s and system_key is not null", (org,)).fetchall())
    return Tenant(org, owner, slug, roles, {"owner": owner})


def add_user(conn: psycopg.Connection, pg: PgServer, t: Tenant, name: str, *,
             by: uuid.UUID | None = None, role: str | None = None) -> uuid.UUID:
    """Insert a user as the app role (acting: the owner unless ``by``); optionally grant a system role."""
    out = run(conn, pg.roles["app_role"], t.id, by or t.owner,
              "insert into user_management.users (organization_id, email, display_name, timezone, password_hash)"
              " values (%s, %s, %s, 'Asia/Kathmandu', %s) returning id",
              (t.id, t.email(name), name.title(), ARGON2))
    user = out.value
    t.users[name] = user
    if role is not None:
        grant(conn, pg, t, user, role)
    return user  # type: ignore[no-any-return]


def grant(conn: psycopg.Connection, pg: PgServer, t: Tenant, user: uuid.UUID, role: str | uuid.UUID, *,
          by: uuid.UUID | None = None, course: uuid.UUID | None = None, expires: str | None = None) -> uuid.UUID:
    role_id = t.roles[role] if isinstance(role, str) else role
    out = run(conn, pg.roles["app_role"], t.id, by or t.owner,
              "select user_management.grant_role(%s, %s, %s, %s::timestamptz)", (user, role_id, course, expires))
    return out.value  # type: ignore[no-any-return]


def live_owners(conn: psycopg.Connection, org: uuid.UUID) -> int:
    """Superuser count of live, unsuspended users with an active organization-wide owner grant."""
    row = conn.execute("""
        select count(distinct u.id)
          from user_management.user_roles ur
          join user_management.roles r on r.organization_id = ur.organization_id and r.id = ur.role_id
          join user_management.users u on u.organization_id = ur.organization_id and u.id = ur.user_id
         where ur.organization_id = %s and r.system_key = 'owner' and ur.course_id is null
           and ur.revoked_at is null and (ur.expires_at is null or ur.expires_at > now())
           and u.deleted_at is null and u.suspended_at is null""", (org,)).fetchone()
    assert row is not None
    return int(row[0])


def run_concurrently(pg: PgServer, dbname: str, n: int, role: str, org: uuid.UUID, user: uuid.UUID | None,
                     query: str, params_for: Any) -> list[Outcome]:
    """``n`` connections, each in its own thread and transaction as ``role``, run ``query`` at once.

    Every connection is opened and has its context set before a barrier releases them together; each
    commits on success. ``params_for(i)`` gives the parameters of connection ``i``.
    """
    barrier = threading.Barrier(n)
    results: list[Outcome | None] = [None] * n
    crashes: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with pg.connect(dbname, autocommit=False) as k:
                set_context(k, org, user)
                set_role(k, role)
                barrier.wait(timeout=30)
                try:
                    cur = k.execute(query, params_for(i))
                    rows = cur.fetchall() if cur.description else []
                    k.commit()
                    results[i] = Outcome(None, None, rows, cur.rowcount)
                except psycopg.Error as exc:
                    k.rollback()
                    results[i] = Outcome(exc.sqlstate, exc.diag.constraint_name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            crashes.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not crashes, crashes
    assert all(r is not None for r in results), "a worker did not finish"
    return [r for r in results if r is not None]


def wait_blocked_or_done(su: psycopg.Connection, pid: int, thread: threading.Thread, timeout: float = 10) -> bool:
    """Wait until the backend ``pid`` waits for a lock (True) or ``thread`` has finished (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            return False
        row = su.execute("select wait_event_type from pg_stat_activity where pid = %s", (pid,)).fetchone()
        if row and row[0] == "Lock":
            return True
        time.sleep(0.01)
    raise AssertionError("the concurrent transaction neither finished nor waited for a lock")
