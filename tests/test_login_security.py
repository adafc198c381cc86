"""Login lockout (record_login_failure / record_login_success / create_session), against a model.

now() is fixed inside a transaction, so elapsed time is simulated: "advance d minutes" moves the
user's stored times (failed_login_window_started_at, locked_until) d minutes into the past, as the
superuser. That is exactly what the functions see when d minutes have passed, and it lets a whole
history run in one rolled-back transaction. Every login call runs as the application role.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal


import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from .conftest import PgServer
from .identity_support import (Outcome, Tenant, add_user, create_tenant, run,
                               run_concurrently, token)



FAIL = ("select failed_count, extract(epoch from locked_until - now()) / 60"
        " from user_management.record_login_failure(%s, '192.0.2.10', 'pytest')")
SUCCESS = "select user_management.record_login_success(%s, '192.0.2.10', 'pytest')"
SESSION = "select user_management.create_session(%s, %s, now() + interval '1 hour', null, null)"


def minutes(value: Decimal | None) -> int | None:
    """Whole minutes of a value computed from now() +/- whole minutes (exact by construction)."""
    if value is None:
        return None
    assert value == value.to_integral_value(), value
    return int(value)


@dataclass
class LockoutModel:
    """The documented lockout rules, on a clock in whole minutes."""

    max_failures: int = 5
    window: int = 15
    lockout: int = 15
    now: int = 0
    count: int = 0
    window_start: int | None = None
    locked_until: int | None = None
    suspended: bool = False
    logins: int = 0

    def locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > self.now

    def failure(self) -> tuple[int, int | None, str]:
        """(failed_count, locked_until relative to now, logged reason)."""
        if self.locked():
            assert self.locked_until is not None
            return self.count, self.locked_until - self.now, "locked"
        if self.window_start is None or self.window_start <= self.now - self.window:
            self.count, self.window_start = 1, self.now
        else:
            self.count += 1
        if self.count >= self.max_failures:
            self.locked_until = self.now + self.lockout
            return self.count, self.lockout, "bad_password"
        return self.count, None, "bad_password"

    def success(self) -> str | None:
        """SQLSTATE of a successful password check, None when the login goes through."""
        if self.suspended:
            return "EL004"
        if self.locked():
            return "EL003"
        self.count, self.window_start, self.locked_until = 0, None, None
        self.logins += 1
        return None

    def row(self) -> tuple[int, int | None, int | None, int]:
        rel = (lambda v: None if v is None else v - self.now)
        return self.count, rel(self.window_start), rel(self.locked_until), self.logins


def db_row(tx: psycopg.Connection, user: uuid.UUID) -> tuple[int, int | None, int | None, int]:
    row = tx.execute("""
        select failed_login_count, extract(epoch from failed_login_window_started_at - now()) / 60,
               extract(epoch from locked_until - now()) / 60, login_count
          from user_management.users where id = %s""", (user,)).fetchone()
    assert row is not None
    return row[0], minutes(row[1]), minutes(row[2]), row[3]


def advance(tx: psycopg.Connection, user: uuid.UUID, mins: int) -> None:
    """Superuser: let ``mins`` minutes pass for this user's lockout state."""
    tx.execute("""
        update user_management.users
           set failed_login_window_started_at = failed_login_window_started_at - make_interval(mins => %(m)s),
               locked_until = locked_until - make_interval(mins => %(m)s)
         where id = %(u)s""", {"m": mins, "u": user})


def attempts(tx: psycopg.Connection, user: uuid.UUID) -> Counter[tuple[bool, str | None]]:
    rows = tx.execute("select succeeded, failure_reason from user_management.login_attempts where user_id = %s",
                      (user,)).fetchall()
    return Counter(rows)


@pytest.fixture
def t(tx: psycopg.Connection, pg: PgServer) -> Tenant:
    ten = create_tenant(tx, pg, "lock")
    add_user(tx, pg, ten, "victim")
    return ten


# -------------------------------------------------------------------------------------------------
# The model, step by step
# -------------------------------------------------------------------------------------------------

POLICIES = st.just({}) | st.fixed_dictionaries({
    "login_max_failures": st.integers(1, 6),
    "login_window_minutes": st.integers(1, 30),
    "login_lockout_minutes": st.integers(1, 30),
})
KINDS = ["fail"] * 8 + ["success"] * 2 + ["suspend", "unsuspend"] + ["advance"] * 4


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """A lockout policy and a history of logins; time advances often land on the policy's edges."""
    policy = draw(POLICIES)
    w, lock = policy.get("login_window_minutes", 15), policy.get("login_lockout_minutes", 15)
    edges = sorted({x for x in (1, w - 1, w, w + 1, lock - 1, lock, lock + 1) if x > 0})
    steps = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(KINDS))
        steps.append((kind, draw(st.sampled_from(edges) | st.integers(1, 40)) if kind == "advance" else 0))
    return policy, steps


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_lockout_follows_the_model(tx: psycopg.Connection, app: str, t: Tenant,
                                   scenario: tuple[dict[str, int], list[tuple[str, int]]]) -> None:
    policy, steps = scenario
    victim, email = t.users["victim"], t.email("victim")
    model = LockoutModel(policy.get("login_max_failures", 5), policy.get("login_window_minutes", 15),
                         policy.get("login_lockout_minutes", 15))
    logged: Counter[tuple[bool, str | None]] = Counter()
    with tx.transaction(force_rollback=True):
        tx.execute("update user_management.organizations set settings = %s where id = %s", (Jsonb(policy), t.id))
        for i, (action, arg) in enumerate(steps):
            where = f"step {i} {action} {arg} of {steps}"
            if action == "fail":
                # the login name is matched case-insensitively
                out = run(tx, app, t.id, None, FAIL, (email.upper() if i % 2 else email,))
                count, lock, reason = model.failure()
                assert out.ok and (out.rows[0][0], minutes(out.rows[0][1])) == (count, lock), where
                logged[(False, reason)] += 1
            elif action == "success":
                out = run(tx, app, t.id, None, SUCCESS, (victim,))
                expected = model.success()
                assert out.sqlstate == expected, where
                if expected is None:
                    assert out.value == model.logins, where
                    logged[(True, None)] += 1
                else:  # a refused login gets no session either
                    assert run(tx, app, t.id, None, SESSION, (victim, token())).sqlstate == expected, where
            elif action == "suspend":
                out = run(tx, app, t.id, t.owner, "select user_management.suspend_user(%s, 'test')", (victim,))
                assert out.value is (not model.suspended), where
                model.suspended = True
            elif action == "unsuspend":
                out = run(tx, app, t.id, t.owner, "select user_management.unsuspend_user(%s)", (victim,))
                assert out.value is model.suspended, where
                model.suspended = False
            else:
                advance(tx, victim, arg)
                model.now += arg
            assert db_row(tx, victim) == model.row(), where
        assert attempts(tx, victim) == logged


# -------------------------------------------------------------------------------------------------
# Worked examples of the default policy (5 failures / 15 minutes window / 15 minutes lock)
# -------------------------------------------------------------------------------------------------

def test_five_failures_lock_the_account_for_fifteen_minutes(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    victim, email = t.users["victim"], t.email("victim")
    for i in range(1, 5):
        assert run(tx, app, t.id, None, FAIL, (email,)).rows == [(i, None)]
    assert run(tx, app, t.id, None, FAIL, (email.upper(),)).rows == [(5, 15)]
    assert run(tx, app, t.id, None, SUCCESS, (victim,)).sqlstate == "EL003"
    assert run(tx, app, t.id, None, SESSION, (victim, token())).sqlstate == "EL003"
    advance(tx, victim, 10)
    # failing while locked neither counts nor extends the lock
    assert run(tx, app, t.id, None, FAIL, (email,)).rows == [(5, 5)]
    advance(tx, victim, 4)
    assert run(tx, app, t.id, None, SUCCESS, (victim,)).sqlstate == "EL003"
    advance(tx, victim, 1)
    assert run(tx, app, t.id, None, SUCCESS, (victim,)).value == 1
    assert db_row(tx, victim) == (0, None, None, 1)
    assert run(tx, app, t.id, None, SESSION, (victim, token())).ok
    assert attempts(tx, victim) == {(False, "bad_password"): 5, (False, "locked"): 1, (True, None): 1}


def test_failures_spread_over_more_than_the_window_do_not_lock(tx: psycopg.Connection, app: str,
                                                               t: Tenant) -> None:
    victim, email = t.users["victim"], t.email("victim")
    for i in range(1, 5):
        assert run(tx, app, t.id, None, FAIL, (email,)).rows == [(i, None)]
        advance(tx, victim, 3)
    advance(tx, victim, 3)  # the first failure is now 15 minutes old: a new window starts
    assert run(tx, app, t.id, None, FAIL, (email,)).rows == [(1, None)]
    assert run(tx, app, t.id, None, SUCCESS, (victim,)).value == 1


def test_success_resets_the_failure_count(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    victim, email = t.users["victim"], t.email("victim")
    for _ in range(4):
        assert run(tx, app, t.id, None, FAIL, (email,)).ok
    assert run(tx, app, t.id, None, SUCCESS, (victim,)).value == 1
    assert db_row(tx, victim) == (0, None, None, 1)
    assert run(tx, app, t.id, None, FAIL, (email,)).rows == [(1, None)]


def test_suspended_user_cannot_log_in_even_when_locked(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    victim, email = t.users["victim"], t.email("victim")
    assert run(tx, app, t.id, t.owner, "select user_management.suspend_user(%s, 'abuse')", (victim,)).value is True
    assert run(tx, app, t.id, None, SUCCESS, (victim,)).sqlstate == "EL004"
    for _ in range(5):
        assert run(tx, app, t.id, None, FAIL, (email,)).ok
    assert run(tx, app, t.id, None, SUCCESS, (victim,)).sqlstate == "EL004"  # EL004 before EL003


def test_unknown_login_name_is_logged_without_a_user(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    out = run(tx, app, t.id, None, FAIL, ("nobody@example.org",))
    assert out.rows == [(None, None)]
    row = tx.execute("select user_id, failure_reason, succeeded from user_management.login_attempts"
                     " where organization_id = %s and email_attempted = 'nobody@example.org'", (t.id,)).fetchall()
    assert row == [(None, "unknown_user", False)]


def test_login_functions_need_a_context_and_an_active_organization(tx: psycopg.Connection, app: str,
                                                                   t: Tenant) -> None:
    victim, email = t.users["victim"], t.email("victim")
    assert run(tx, app, None, None, FAIL, (email,)).sqlstate == "42501"
    assert run(tx, app, t.id, None, FAIL, ("",)).sqlstate == "22023"
    assert run(tx, app, t.id, None, "select * from user_management.record_login_failure(%s, null, null, 'typo')",
               (email,)).sqlstate == "22023"
    assert run(tx, app, None, None, SUCCESS, (victim,)).sqlstate == "42501"
    assert run(tx, app, uuid.uuid4(), None, SUCCESS, (victim,)).sqlstate == "EL004"  # unknown organization
    tx.execute("update user_management.organizations set status = 'suspended' where id = %s", (t.id,))
    assert run(tx, app, t.id, None, SUCCESS, (victim,)).sqlstate == "EL004"
    assert run(tx, app, t.id, None, SESSION, (victim, token())).sqlstate == "EL004"


def test_app_cannot_rewrite_the_login_history(tx: psycopg.Connection, app: str, t: Tenant) -> None:
    assert run(tx, app, t.id, None, FAIL, (t.email("victim"),)).ok
    for q in ("delete from user_management.login_attempts",
              "update user_management.login_attempts set succeeded = true",
              "insert into user_management.login_attempts (organization_id, email_attempted, succeeded)"
              " values (current_setting('app.organization_id')::uuid, 'x@y.example', true)"):
        assert run(tx, app, t.id, t.owner, q).sqlstate == "42501", q


# -------------------------------------------------------------------------------------------------
# Concurrency: real connections failing at once
# -------------------------------------------------------------------------------------------------

N_CONCURRENT = 10


@pytest.mark.parametrize("max_failures", [N_CONCURRENT, 4], ids=["limit-equals-calls", "limit-below-calls"])
def test_concurrent_failures_are_all_counted_and_lock_once(pg: PgServer, db: str, max_failures: int) -> None:
    app = pg.roles["app_role"]
    with pg.connect(db, autocommit=False) as c:
        ten = create_tenant(c, pg, "race",
                            settings=f'{{"login_max_failures": {max_failures}, "login_window_minutes": 60}}')
        c.commit()
    email = ten.email("owner")
    outs: list[Outcome] = run_concurrently(
        pg, db, N_CONCURRENT, app, ten.id, None,
        "select failed_count, locked_until from user_management.record_login_failure(%s, '192.0.2.20', 'race')",
        lambda i: (email,))
    assert all(o.ok for o in outs), outs
    counts = sorted(o.rows[0][0] for o in outs)
    locks = {o.rows[0][1] for o in outs} - {None}
    with pg.connect(db) as c:
        row = c.execute("select failed_login_count, locked_until from user_management.users where id = %s",
                        (ten.owner,)).fetchone()
        logged = Counter(c.execute("select failure_reason from user_management.login_attempts where user_id = %s",
                                   (ten.owner,)).fetchall())
    assert counts == list(range(1, max_failures + 1)) + [max_failures] * (N_CONCURRENT - max_failures)
    assert row is not None and row[0] == max_failures  # no lost update
    assert len(locks) == 1 and row[1] == next(iter(locks))  # locked exactly once
    assert logged == {("bad_password",): max_failures, **({("locked",): N_CONCURRENT - max_failures}
                                                          if N_CONCURRENT > max_failures else {})}
