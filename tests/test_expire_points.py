"""expire_points (V0093), as the application role: first-in-first-out expiry of unspent points.

Rule (documented in V0093 and gamification.expirable_points): for a cutoff C,
  expirable = max(0, sum of positive amounts dated before C + sum of all negative amounts)
i.e. spends, negative adjustments and earlier expiries consume the oldest points first. expire_points posts
min(expirable, available) as one 'expire' row per user, system and cutoff (idempotency key), so:
  conservation   available = sum of the user's ledger amounts, never negative; lifetime_earned unchanged
  idempotent     a second run with the same cutoff changes nothing
  order          several cutoffs in any order expire exactly what the latest cutoff alone would; the call
                 order of awards and spends before a run does not change what it expires
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from .conftest import PgServer
from .identity_support import Tenant, add_user, create_tenant, run, run_concurrently

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
AWARD_AT = "select amount from gamification.award_points(%s, %s, null, null, %s, null, %s::timestamptz)"
SPEND = "select amount from gamification.spend_points(%s, %s, %s, 'test')"
ADJUST = "select amount from gamification.adjust_points(%s, %s, 'correction', %s)"
EXPIRE = "select users_checked, users_expired, points_expired, next_user_id from gamification.expire_points(%s, %s::timestamptz, %s, %s)"
POINTS = {"lesson_completed": 10, "course_completed": 7}


class Ledger:
    def __init__(self, pg: PgServer, dbname: str) -> None:
        self.pg, self.dbname = pg, dbname
        self.su = pg.connect(dbname, autocommit=True)
        self.app = pg.roles["app_role"]
        self.t: Tenant = create_tenant(self.su, pg, "expire")
        self.system = self.ok("insert into gamification.point_systems (organization_id, name, is_default)"
                              " values (%s, 'XP', true) returning id", (self.t.id,))
        for event, points in POINTS.items():
            self.ok("insert into gamification.point_rules (organization_id, point_system_id, event_type, points)"
                    " values (%s, %s, %s, %s) returning id", (self.t.id, self.system, event, points))
        self.now = self.su.execute("select date_trunc('second', now())").fetchone()[0]

    def run(self, query: str, params: Any = (), who: uuid.UUID | None = None) -> Any:
        return run(self.su, self.app, self.t.id, who or self.t.owner, query, params)

    def ok(self, query: str, params: Any = (), who: uuid.UUID | None = None) -> Any:
        return self.run(query, params, who).value

    def learner(self) -> uuid.UUID:
        return add_user(self.su, self.pg, self.t, f"l-{secrets.token_hex(3)}", role="learner")

    def ago(self, hours: int) -> dt.datetime:
        return self.now - dt.timedelta(hours=hours)

    def award(self, user: uuid.UUID, hours_ago: int, event: str = "lesson_completed") -> None:
        out = self.run(AWARD_AT, (user, event, f"a-{secrets.token_hex(6)}", self.ago(hours_ago)))
        assert out.ok and out.rows[0][0] == POINTS[event], out

    def expire(self, cutoff: dt.datetime | None, users: int = 1000, after: uuid.UUID | None = None,
               who: uuid.UUID | None = None) -> Any:
        return self.run(EXPIRE, (None, cutoff, users, after), who)

    def rows(self, user: uuid.UUID) -> list[tuple[int, str, dt.datetime]]:
        return self.su.execute("select amount, kind, occurred_at from gamification.point_transactions"
                               " where organization_id = %s and user_id = %s", (self.t.id, user)).fetchall()

    def balances(self, user: uuid.UUID) -> tuple[int, int, int]:
        row = self.su.execute("select available, lifetime_earned, spent from gamification.user_points"
                              " where organization_id = %s and user_id = %s", (self.t.id, user)).fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)

    def conserved(self, user: uuid.UUID) -> int:
        available, lifetime, _ = self.balances(user)
        rows = self.rows(user)
        assert available == sum(r[0] for r in rows) >= 0
        assert lifetime == sum(r[0] for r in rows if r[1] in ("award", "bonus") or (r[1] == "adjust" and r[0] > 0))
        return available


@pytest.fixture
def led(pg: PgServer, db: str) -> Iterator[Ledger]:
    ledger = Ledger(pg, db)
    yield ledger
    ledger.su.close()


def model_expirable(rows: list[tuple[int, str, dt.datetime]], cutoff: dt.datetime) -> int:
    """The documented FIFO rule."""
    earned = sum(a for a, _, at in rows if a > 0 and at < cutoff)
    consumed = sum(a for a, _, _ in rows if a < 0)
    return max(0, min(earned + consumed, sum(a for a, _, _ in rows)))


operations = st.lists(st.one_of(
    st.tuples(st.just("award"), st.integers(1, 24 * 29)),
    st.tuples(st.just("spend"), st.integers(1, 25)),
    st.tuples(st.just("adjust"), st.integers(-15, 15).filter(bool)),
    st.tuples(st.just("expire"), st.integers(0, 24 * 29)),
    st.tuples(st.just("replay"), st.just(0)),
), min_size=1, max_size=14)


@PROPERTY
@given(ops=operations)
def test_expiry_follows_fifo_and_conserves_points(led: Ledger, ops: list[tuple[str, int]]) -> None:
    """Random back-dated awards, spends, adjustments and expiries (cutoff ``n`` hours ago) for one learner:
    each expiry posts exactly the model's min(expirable, available), available always equals the ledger and
    is never negative, lifetime_earned is untouched by expiry, and a cutoff that posted a row for the
    learner never posts another (replays change nothing)."""
    user = led.learner()
    cutoffs: list[dt.datetime] = []
    posted_at: set[dt.datetime] = set()
    for op, arg in ops:
        before = led.rows(user)
        if op == "award":
            led.award(user, arg)
        elif op in ("spend", "adjust"):
            query, params = (SPEND, (user, arg, f"s-{secrets.token_hex(6)}")) if op == "spend" else \
                (ADJUST, (user, arg, f"j-{secrets.token_hex(6)}"))
            out = led.run(query, params)
            fails = sum(r[0] for r in before) - abs(arg) < 0 and (op == "spend" or arg < 0)
            assert (out.sqlstate == "EL020") if fails else out.ok
        elif op in ("expire", "replay"):
            if op == "replay" and not cutoffs:
                continue
            cutoff = cutoffs[-1] if op == "replay" else led.ago(arg)
            # One expire row per user and cutoff: once one was posted, the cutoff is done for the user (a
            # run that found nothing posted no row, so back-dated points that arrived since may expire).
            expected = 0 if cutoff in posted_at else model_expirable(before, cutoff)
            lifetime = led.balances(user)[1]
            out = led.expire(cutoff)
            assert out.ok, out.sqlstate
            # The run covers the whole organization (learners of earlier examples too): compare this learner's rows.
            posted = -sum(r[0] for r in led.rows(user) if r[1] == "expire") + sum(r[0] for r in before if r[1] == "expire")
            assert posted == expected
            assert out.rows[0][2] >= expected
            if posted:
                posted_at.add(cutoff)
            assert led.balances(user)[1] == lifetime
            cutoffs.append(cutoff)
        led.conserved(user)
    keys = led.su.execute("select idempotency_key from gamification.point_transactions where user_id = %s"
                          " and kind = 'expire'", (user,)).fetchall()
    assert len(keys) == len(set(keys)) == len(posted_at)


@PROPERTY
@given(awards=st.lists(st.tuples(st.integers(1, 24 * 29), st.sampled_from(list(POINTS))), min_size=1, max_size=8),
       spend_shares=st.lists(st.integers(1, 30), max_size=4),
       cutoffs=st.lists(st.integers(0, 24 * 29), min_size=2, max_size=3), seed=st.integers(0, 2 ** 16))
def test_expiry_is_independent_of_order(led: Ledger, awards: list[tuple[int, str]], spend_shares: list[int],
                                        cutoffs: list[int], seed: int) -> None:
    """Three learners get the same back-dated awards and the same spends: A awards all then spends, B in a
    shuffled call order (a spend that cannot be paid yet moves to the end), C like A. A expires at the cutoffs
    in the given order, B in reverse, C only at the latest: all three lose the same points and keep the same
    balance, the model's expirable at the latest cutoff."""
    total = sum(POINTS[e] for _, e in awards)
    spends, left = [], total
    for s in spend_shares:
        if s <= left:
            spends.append(s)
            left -= s
    ops_a: list[tuple[str, Any]] = [("award", a) for a in awards] + [("spend", s) for s in spends]
    shuffled = list(ops_a)
    random.Random(seed).shuffle(shuffled)
    ops_b, deferred, balance = [], [], 0
    for op in shuffled:
        if op[0] == "spend" and op[1] > balance:
            deferred.append(op)
            continue
        ops_b.append(op)
        balance += POINTS[op[1][1]] if op[0] == "award" else -op[1]
    ops_b += deferred
    times = [led.ago(h) for h in cutoffs]
    latest = max(times)
    results = []
    for ops, order in [(ops_a, times), (ops_b, list(reversed(times))), (ops_a, [latest])]:
        user = led.learner()
        for op, arg in ops:
            if op == "award":
                led.award(user, arg[0], arg[1])
            else:
                assert led.run(SPEND, (user, arg, f"s-{secrets.token_hex(6)}")).ok
        history = led.rows(user)
        for c in order:
            assert led.expire(c).ok
        expired = -sum(r[0] for r in led.rows(user) if r[1] == "expire")
        assert expired == model_expirable(history, latest)
        results.append((expired, led.conserved(user)))
    assert results[0] == results[1] == results[2]
    event("some points expired" if results[0][0] else "nothing expired")


def test_spend_after_an_expiry_cannot_use_expired_points(led: Ledger) -> None:
    """The documented asymmetry: an expiry run is a point in time. 100 old + 50 new points: spending 30
    before the run leaves 70 to expire (50 left); spending 30 after the run leaves 20."""
    first, second = led.learner(), led.learner()
    for user in (first, second):
        for h in range(10):
            led.award(user, 24 * 20 + h)
        for h in range(5):
            led.award(user, h)
    cutoff = led.ago(24 * 10)
    assert led.run(SPEND, (first, 30, "s-first")).ok
    assert led.expire(cutoff).rows[0][1:3] == (2, 170)  # both learners: 70 + 100
    assert led.run(SPEND, (second, 30, "s-second")).ok
    assert (led.conserved(first), led.conserved(second)) == (50, 20)


def test_batches_policy_permissions_and_idempotency(led: Ledger) -> None:
    users = [led.learner() for _ in range(5)]
    for u in users:
        led.award(u, 24 * 20)
        led.award(u, 24 * 2)
    ordered = sorted(users)
    led.su.execute("update user_management.users set deleted_at = now() where id = %s", (ordered[4],))
    # No policy: no cutoff, nothing to do.
    assert led.expire(None).rows[0] == (0, 0, 0, None)
    led.ok("insert into gamification.point_expiry_policies (organization_id, point_system_id, expire_after)"
           " values (%s, %s, interval '10 days') returning id", (led.t.id, led.system))
    # Pages of two live users in user_id order; the deleted learner is skipped.
    first = led.expire(None, 2).rows[0]
    assert first == (2, 2, 20, ordered[1])
    second = led.expire(None, 2, first[3]).rows[0]
    assert second == (2, 2, 20, ordered[3])
    assert led.expire(None, 2, second[3]).rows[0] == (0, 0, 0, None)
    # The same (default) cutoff again: every key exists, nothing changes.
    assert led.expire(None).rows[0] == (4, 0, 0, None)
    for u in ordered[:4]:
        assert led.conserved(u) == 10
        key = led.su.execute("select idempotency_key, reason from gamification.point_transactions"
                             " where user_id = %s and kind = 'expire'", (u,)).fetchall()
        assert len(key) == 1 and key[0][0].startswith(f"expire:{led.system}:{u}:")
    assert led.balances(ordered[4])[0] == 20
    learner = ordered[0]
    assert led.expire(None, who=learner).sqlstate == "42501"
    assert led.run(EXPIRE, (None, led.now + dt.timedelta(hours=1), 10, None)).sqlstate == "22023"
    assert led.run(EXPIRE, (None, None, 0, None)).sqlstate == "22023"
    # An inactive policy expires nothing.
    led.ok("update gamification.point_expiry_policies set active = false where point_system_id = %s returning id",
           (led.system,))
    assert led.expire(None).rows[0] == (0, 0, 0, None)


def test_concurrent_expiry_runs_expire_each_user_once(led: Ledger) -> None:
    """Four connections expire the same cutoff while awards and spends continue: one expire row per user,
    conservation holds, no deadlock."""
    users = [led.learner() for _ in range(4)]
    for u in users:
        for h in (24 * 25, 24 * 24, 24 * 23, 5):
            led.award(u, h)
    cutoff = led.ago(24 * 20)
    outs = run_concurrently(led.pg, led.dbname, 4, led.app, led.t.id, led.t.owner, EXPIRE,
                            lambda i: (None, cutoff, 1000, None))
    assert all(o.ok for o in outs), [o.sqlstate for o in outs]
    assert sum(o.rows[0][2] for o in outs) == 4 * 30
    # Then four more runs at a later cutoff race with one spend of 5 per learner (10 left each): whichever
    # comes first, the learner ends at 0 with two expire rows (or the spend fails with EL020).
    mixed = run_concurrently(
        led.pg, led.dbname, 8, led.app, led.t.id, led.t.owner,
        "select case when %s then (select points_expired from gamification.expire_points(null, %s::timestamptz))"
        " else (select amount from gamification.spend_points(%s::uuid, 5, %s, 'x')) end",
        lambda i: (i < 4, led.ago(1), users[i % 4], f"cs-{i}"))
    assert all(o.ok for o in mixed[:4]), [o.sqlstate for o in mixed]
    assert all(o.ok or o.sqlstate == "EL020" for o in mixed[4:]), [o.sqlstate for o in mixed]
    for u in users:
        assert led.conserved(u) == 0
        assert len([r for r in led.rows(u) if r[1] == "expire"]) == 2


def test_backdated_points_after_a_run(led: Ledger) -> None:
    """A cutoff that posted a row for the learner is done for them; one that found nothing is not."""
    user = led.learner()
    cutoff = led.ago(24 * 5)
    assert led.expire(cutoff).rows[0][1:3] == (0, 0)
    led.award(user, 24 * 6)   # arrives after the run, dated before the cutoff
    assert led.expire(cutoff).rows[0][1:3] == (1, 10)
    led.award(user, 24 * 7)
    assert led.expire(cutoff).rows[0][1:3] == (0, 0)  # the key exists: waits for a later cutoff
    assert led.expire(led.ago(24 * 4)).rows[0][1:3] == (1, 10)
    assert led.conserved(user) == 0
