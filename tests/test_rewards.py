"""Rewards and redemptions (gamification V0082-V0083), as the application role: redeem_reward() never
oversells and never drives stock below zero (EL021), enforces per-user limits per period (EL022) and
availability (EL023), pays through the points ledger (EL020 when short), exactly once per idempotency
key; cancel_redemption() restores stock and refunds the points exactly once; fulfil_redemption() for
staff; RLS on redemptions. Each test uses a fresh clone (``db``) and commits.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PgServer
from .identity_support import run_concurrently
from .test_points_ledger import ADJUST, Game, check_invariants

REDEEM = ("select id, user_id, reward_id, quantity, cost_charged, status, spend_transaction_id"
          " from gamification.redeem_reward(%s, %s, %s, %s)")
CANCEL = "select gamification.cancel_redemption(%s, %s)"
FULFIL = "select status from gamification.fulfil_redemption(%s, %s::jsonb)"


class Shop(Game):
    def reward(self, cost: int = 1, stock: int | None = None, **extra: Any) -> uuid.UUID:
        cols = ["organization_id", "point_system_id", "name", "cost_points", "stock", *extra]
        vals = [self.t.id, self.system, f"Reward {secrets.token_hex(3)}", cost, stock, *extra.values()]
        return self.ok(f"insert into gamification.rewards ({', '.join(cols)}) values ({', '.join(['%s'] * len(vals))})"
                       " returning id", tuple(vals))  # type: ignore[no-any-return]

    def funded(self, points: int, name: str = "learner") -> uuid.UUID:
        user = self.learner(name)
        if points:
            self.ok(ADJUST, (user, points, "starting balance", f"fund-{user}"))
        return user

    def stock(self, reward: uuid.UUID) -> int | None:
        return self.su.execute("select stock from gamification.rewards where id = %s", (reward,)).fetchone()[0]

    def available(self, user: uuid.UUID) -> int:
        b = self.balances(user)
        return b["available"] if b else 0


@pytest.fixture
def s(pg: PgServer, db: str) -> Iterator[Shop]:
    shop = Shop(pg, db)
    yield shop
    shop.su.close()


def test_redeem_pays_through_the_ledger_and_replays(s: Shop) -> None:
    user = s.funded(20)
    reward = s.reward(cost=6, stock=5)
    out = s.run(REDEEM, (user, reward, 2, "r1"), who=user)
    assert out.ok, out.sqlstate
    red = out.rows[0]
    assert red[3:6] == (2, 12, "pending")
    assert s.stock(reward) == 3 and s.available(user) == 8
    spend = s.su.execute("select amount, kind, idempotency_key from gamification.point_transactions where id = %s",
                         (red[6],)).fetchone()
    assert spend == (-12, "spend", f"reward_redemption:{red[0]}")
    # Replay: the first redemption, nothing changes (also when staff replays it).
    assert s.run(REDEEM, (user, reward, 2, "r1"), who=user).rows[0] == red
    assert s.run(REDEEM, (user, reward, 2, "r1")).rows[0] == red
    assert s.stock(reward) == 3 and s.available(user) == 8
    assert s.run(REDEEM, (user, reward, 1, "r1"), who=user).sqlstate == "22023"  # key reused differently
    # Too few points: EL020, nothing written.
    assert s.run(REDEEM, (user, reward, 2, "r2"), who=user).sqlstate == "EL020"
    assert s.stock(reward) == 3
    assert s.run(REDEEM, (user, reward, 0, "r3"), who=user).sqlstate == "22023"
    check_invariants(s, user)


def test_availability_and_stock_errors(s: Shop) -> None:
    user = s.funded(100)
    assert s.run(REDEEM, (user, s.reward(stock=1), 2, "a1"), who=user).sqlstate == "EL021"
    assert s.run(REDEEM, (user, s.reward(stock=0), 1, "a2"), who=user).sqlstate == "EL021"
    assert s.run(REDEEM, (user, s.reward(active=False), 1, "a3"), who=user).sqlstate == "EL023"
    future = s.reward(available_from="2999-01-01T00:00:00Z")
    assert s.run(REDEEM, (user, future, 1, "a4"), who=user).sqlstate == "EL023"
    past = s.reward(available_from="2000-01-01T00:00:00Z", available_until="2001-01-01T00:00:00Z")
    assert s.run(REDEEM, (user, past, 1, "a5"), who=user).sqlstate == "EL023"
    gone = s.reward()
    s.ok("update gamification.rewards set deleted_at = now() where id = %s returning id", (gone,))
    assert s.run(REDEEM, (user, gone, 1, "a6"), who=user).sqlstate == "EL023"
    assert s.run(REDEEM, (user, uuid.uuid4(), 1, "a7"), who=user).sqlstate == "P0002"
    assert s.run(REDEEM, (user, s.reward(stock=None), 3, "a8"), who=user).ok  # unlimited
    assert s.available(user) == 97
    check_invariants(s, user)


def test_per_user_limit(s: Shop) -> None:
    a, b = s.funded(100, "a"), s.funded(100, "b")
    reward = s.reward(cost=1, stock=100, per_user_limit=2, per_user_period="month")
    assert s.run(REDEEM, (a, reward, 1, "p1"), who=a).ok
    assert s.run(REDEEM, (a, reward, 2, "p2"), who=a).sqlstate == "EL022"
    second = s.run(REDEEM, (a, reward, 1, "p3"), who=a)
    assert second.ok
    assert s.run(REDEEM, (a, reward, 1, "p4"), who=a).sqlstate == "EL022"
    assert s.run(REDEEM, (b, reward, 2, "p5"), who=b).ok  # per user
    assert s.ok(CANCEL, (second.rows[0][0], "changed my mind"), who=a) is True
    assert s.run(REDEEM, (a, reward, 1, "p6"), who=a).ok  # a cancelled one no longer counts
    # A redemption of an earlier month does not count for 'month', but does for 'all_time'.
    s.su.execute("alter table gamification.reward_redemptions disable trigger user")
    s.su.execute("update gamification.reward_redemptions set created_at = created_at - interval '40 days'"
                 " where user_id = %s", (a,))
    s.su.execute("alter table gamification.reward_redemptions enable trigger user")
    assert s.run(REDEEM, (a, reward, 2, "p7"), who=a).ok
    s.ok("update gamification.rewards set per_user_period = 'all_time' where id = %s returning id", (reward,))
    assert s.run(REDEEM, (a, reward, 1, "p8"), who=a).sqlstate == "EL022"
    assert s.stock(reward) == 100 - 6  # p1, p5 (2), p6, p7 (2)


def test_cancel_fulfil_and_refund(s: Shop) -> None:
    user = s.funded(50)
    reward = s.reward(cost=10, stock=3)
    r1 = s.run(REDEEM, (user, reward, 1, "c1"), who=user).rows[0][0]
    r2 = s.run(REDEEM, (user, reward, 2, "c2"), who=user).rows[0][0]
    assert s.stock(reward) == 0 and s.available(user) == 20
    assert s.ok(CANCEL, (r1, None), who=user) is True
    assert s.ok(CANCEL, (r1, None), who=user) is False  # exactly once
    assert s.ok(CANCEL, (r1, "again")) is False
    assert s.stock(reward) == 1 and s.available(user) == 30
    refunds = s.su.execute("select amount, idempotency_key from gamification.point_transactions"
                           " where user_id = %s and kind = 'refund'", (user,)).fetchall()
    assert refunds == [(10, f"reward_refund:{r1}")]
    assert s.run(FULFIL, (r2, '{"code": "X"}'), who=user).sqlstate == "42501"
    assert s.ok(FULFIL, (r2, '{"code": "X"}')) == "fulfilled"
    assert s.ok(FULFIL, (r2, '{}')) == "fulfilled"  # idempotent
    assert s.run(FULFIL, (r1, '{}')).sqlstate == "EL013"  # cancelled
    assert s.run(CANCEL, (r2, "refund please"), who=user).sqlstate == "42501"  # only staff refund
    assert s.ok(CANCEL, (r2, "defective")) is True
    assert s.su.execute("select status from gamification.reward_redemptions where id = %s", (r2,)).fetchone() == ("refunded",)
    assert s.stock(reward) == 1 and s.available(user) == 50  # delivered: stock stays taken
    assert s.run(CANCEL, (uuid.uuid4(), None)).sqlstate == "P0002"
    # The status machine holds even for the table owner.
    with pytest.raises(Exception) as exc:
        s.su.execute("update gamification.reward_redemptions set status = 'pending' where id = %s", (r1,))
    assert getattr(exc.value, "sqlstate", None) == "EL013"
    check_invariants(s, user)


def test_rls_own_redemptions_and_no_direct_writes(s: Shop) -> None:
    a, b = s.funded(10, "a"), s.funded(10, "b")
    reward = s.reward(cost=1, stock=10)
    ra = s.run(REDEEM, (a, reward, 1, "x-a"), who=a).rows[0][0]
    assert s.run(REDEEM, (b, reward, 1, "x-b"), who=b).ok
    q = "select count(*) filter (where user_id = %s), count(*) from gamification.reward_redemptions"
    assert s.run(q, (a,), who=a).rows[0] == (1, 1)
    assert s.run(q, (a,)).rows[0] == (1, 2)  # the owner holds reward.manage
    assert s.run(REDEEM, (b, reward, 1, "x-c"), who=a).sqlstate == "42501"  # for someone else
    assert s.run(REDEEM, (b, reward, 1, "x-d")).ok  # staff for someone else
    assert s.run(CANCEL, (ra, None), who=b).sqlstate == "42501"
    for who in (a, s.t.owner):
        assert s.run("insert into gamification.reward_redemptions (organization_id, user_id, reward_id, quantity,"
                     " cost_charged, idempotency_key, spend_transaction_id) values (%s, %s, %s, 1, 1, 'forged', %s)",
                     (s.t.id, a, reward, uuid.uuid4()), who=who).sqlstate == "42501"
        assert s.run("update gamification.reward_redemptions set status = 'cancelled'", who=who).sqlstate == "42501"
        assert s.run("delete from gamification.reward_redemptions", who=who).sqlstate == "42501"
    out = s.run("update gamification.rewards set stock = 1000 where id = %s", (reward,), who=a)
    assert (not out.ok and out.sqlstate == "42501") or out.rowcount == 0
    assert s.stock(reward) == 7


def test_sixteen_connections_for_the_last_ten_units(s: Shop) -> None:
    users = [s.funded(5, f"c{i}") for i in range(16)]
    reward = s.reward(cost=2, stock=10)
    outs = run_concurrently(s.pg, s.dbname, 16, s.app, s.t.id, s.t.owner, REDEEM,
                            lambda i: (users[i], reward, 1, f"last-{i}"))
    assert sorted(o.sqlstate or "ok" for o in outs) == ["EL021"] * 6 + ["ok"] * 10
    assert s.stock(reward) == 0
    live = s.su.execute("select count(*), sum(quantity) from gamification.reward_redemptions where reward_id = %s",
                        (reward,)).fetchone()
    assert live == (10, 10)
    for u in users:
        check_invariants(s, u)
    assert sorted(s.available(u) for u in users) == [3] * 10 + [5] * 6


def test_concurrent_cancels_refund_once(s: Shop) -> None:
    user = s.funded(10)
    reward = s.reward(cost=4, stock=2)
    red = s.run(REDEEM, (user, reward, 1, "cc"), who=user).rows[0][0]
    outs = run_concurrently(s.pg, s.dbname, 8, s.app, s.t.id, s.t.owner, CANCEL, lambda i: (red, f"cancel {i}"))
    assert all(o.ok for o in outs), [o.sqlstate for o in outs]
    assert sorted(o.rows[0][0] for o in outs) == [False] * 7 + [True]
    assert s.stock(reward) == 2 and s.available(user) == 10
    check_invariants(s, user)


# -- property --------------------------------------------------------------------------------------

INITIAL_STOCK, COST, FUNDS = 6, 3, 12
steps = st.lists(st.one_of(
    st.tuples(st.just("redeem"), st.integers(0, 1), st.integers(1, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("replay"), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("fulfil"), st.integers(0, 30), st.just(0)),
), min_size=1, max_size=15)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=steps)
def test_stock_and_points_follow_the_redemptions(s: Shop, ops: list[tuple[str, int, int]]) -> None:
    """Random redeem/cancel/replay/fulfil sequences of two learners on one limited reward: stock left =
    initial - quantity of live (not cancelled) redemptions >= 0, each user's available points = their ledger
    sum = funds - cost of live redemptions, and each cancelled redemption has exactly one refund."""
    users = [s.funded(FUNDS, f"h{i}") for i in range(2)]
    reward = s.reward(cost=COST, stock=INITIAL_STOCK)
    done: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []  # (params, first row)
    status: dict[uuid.UUID, str] = {}
    for n, (op, who, qty) in enumerate(ops):
        if op == "redeem":
            user = users[who]
            params = (user, reward, qty, f"h{n}-{secrets.token_hex(3)}")
            live = [r for p, r in done if status[r[0]] != "cancelled"]
            stock = INITIAL_STOCK - sum(r[3] for r in live)
            funds = FUNDS - sum(r[4] for r in live if r[1] == user and status[r[0]] != "refunded")
            out = s.run(REDEEM, params, who=user)
            if stock < qty:
                assert out.sqlstate == "EL021"
            elif funds < qty * COST:
                assert out.sqlstate == "EL020"
            else:
                assert out.ok, out.sqlstate
                done.append((params, out.rows[0]))
                status[out.rows[0][0]] = "pending"
        elif not done:
            continue
        else:
            params, first = done[who % len(done)]
            rid = first[0]
            if op == "replay":
                out = s.run(REDEEM, params, who=params[0])
                assert out.ok and out.rows[0][:5] == first[:5]
            elif op == "cancel":
                out = s.run(CANCEL, (rid, "property"))
                assert out.ok, out.sqlstate
                assert out.rows[0][0] == (status[rid] in ("pending", "fulfilled"))
                status[rid] = {"pending": "cancelled", "fulfilled": "refunded"}.get(status[rid], status[rid])
            else:
                out = s.run(FULFIL, (rid, "{}"))
                if status[rid] in ("pending", "fulfilled"):
                    assert out.ok, out.sqlstate
                    status[rid] = "fulfilled"
                else:
                    assert out.sqlstate == "EL013"
        # Invariants after every step.
        rows = dict(s.su.execute("select id, status from gamification.reward_redemptions where reward_id = %s",
                                 (reward,)).fetchall())
        assert rows == status
        live_qty = sum(r[3] for _, r in done if status[r[0]] != "cancelled")
        assert s.stock(reward) == INITIAL_STOCK - live_qty >= 0
        for user in users:
            b = check_invariants(s, user)
            charged = sum(r[4] for _, r in done if r[1] == user and status[r[0]] in ("pending", "fulfilled"))
            assert b["available"] == FUNDS - charged
        for rid, st_ in status.items():
            refunds = s.su.execute("select count(*), coalesce(sum(amount), 0) from gamification.point_transactions"
                                   " where idempotency_key = %s", (f"reward_refund:{rid}",)).fetchone()
            cost = next(r[4] for _, r in done if r[0] == rid)
            assert refunds == ((1, cost) if st_ in ("cancelled", "refunded") else (0, 0))
