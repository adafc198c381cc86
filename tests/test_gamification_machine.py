"""A stateful model of gamification (hypothesis RuleBasedStateMachine) against the real functions.

Each run gets its own organization in one clone (create_organization, two learners, the XP system of
test_points_ledger with its rules and levels, two rewards with limited stock, one of them with a
per-user limit). Rules call the real functions as the application role: award_points and
adjust_points by staff (the owner), spend_points and redeem_reward by the learner, cancel_redemption
and fulfil_redemption by the learner or staff, replays of any earlier call, a learner's time zone
change (the app's UPDATE) and the passing of days (simulated: the learner's last activity date moves
back, as in test_points_ledger; award_points takes no back-dated time yet). A Python model predicts
every outcome (amount or SQLSTATE) and, after every step, these must hold:

- ledger conservation: user_points = the ledger (available = sum of amounts >= 0, lifetime = sum of
  earned amounts, spent, balance_after chain) and equal to the model's balance;
- level = highest level whose threshold <= lifetime (levels table of the system);
- streak: current/longest streak and last activity date equal the model's, which applies the
  streak rule (next day +1, same or earlier day keeps, gap resets) to the local date
  (users.timezone) of each award's ledger row;
- stock conservation: stock left = initial - units of live redemptions (not cancelled: a refunded one
  was delivered) >= 0,
  each redemption's status as modelled, one refund ledger row per cancelled/refunded redemption;
- replays: the same call returns the first result and changes nothing (ledger, balances, stock).
Expiry is not modelled: no function expires points yet.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from .conftest import PgServer
from .test_points_ledger import ADJUST, AWARD, LEVELS, SPEND, check_invariants, py_next_streak
from .test_rewards import CANCEL, FULFIL, REDEEM, Shop

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "ci-thorough"
MACHINE = settings(max_examples=300 if THOROUGH else 30, stateful_step_count=50 if THOROUGH else 20,
                   deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
POINTS = {"lesson_completed": 10, "course_completed": 11}  # 7 x 1.5, rounded
ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York", "Asia/Kathmandu"]
REWARDS = [  # cost, initial stock, per-user limit (all time)
    (4, 5, None),
    (9, 3, 2),
]


@dataclass
class Learner:
    id: uuid.UUID
    available: int = 0
    lifetime: int = 0
    spent: int = 0
    last: dt.date | None = None
    streak: int = 0
    longest: int = 0


@dataclass
class Redemption:
    id: uuid.UUID
    user: int
    reward: int
    quantity: int
    first: tuple[Any, ...]
    params: tuple[Any, ...]
    status: str = "pending"


@dataclass
class Call:
    query: str
    params: tuple[Any, ...]
    who: uuid.UUID | None
    first: tuple[Any, ...]


class GamificationMachine(RuleBasedStateMachine):
    pg: PgServer
    dbname: str

    def __init__(self) -> None:
        super().__init__()
        self.s = Shop(self.pg, self.dbname)
        self.users = [Learner(self.s.learner(f"m{i}")) for i in range(2)]
        self.rewards = [self.s.reward(cost=c, stock=n, per_user_limit=lim) for c, n, lim in REWARDS]
        self.redemptions: list[Redemption] = []
        self.calls: list[Call] = []

    def teardown(self) -> None:
        self.s.su.close()

    # -- helpers -------------------------------------------------------------------------------------

    def key(self) -> str:
        return f"m-{secrets.token_hex(6)}"

    def stock_left(self, r: int) -> int:
        # Live = not cancelled: a refunded redemption was delivered, its units stay taken.
        return REWARDS[r][1] - sum(d.quantity for d in self.redemptions if d.reward == r and d.status != "cancelled")

    def snapshot(self) -> tuple[Any, ...]:
        su = self.s.su
        return (su.execute("select count(*), coalesce(sum(amount), 0) from gamification.point_transactions"
                           " where organization_id = %s", (self.s.t.id,)).fetchone(),
                su.execute("select to_jsonb(up) - 'updated_at' from gamification.user_points up"
                           " where organization_id = %s order by user_id", (self.s.t.id,)).fetchall(),
                su.execute("select id, stock from gamification.rewards where organization_id = %s order by id",
                           (self.s.t.id,)).fetchall(),
                su.execute("select id, status from gamification.reward_redemptions where organization_id = %s"
                           " order by id", (self.s.t.id,)).fetchall())

    # -- rules ---------------------------------------------------------------------------------------

    @rule(u=st.integers(0, 1), event=st.sampled_from(sorted(POINTS)))
    def award(self, u: int, event: str) -> None:
        user = self.users[u]
        params = (user.id, event, "manual", None, self.key())
        out = self.s.run(AWARD, params)
        assert out.ok, out.sqlstate
        row = out.rows[0]
        assert row[1:3] == (POINTS[event], "award")
        user.available += POINTS[event]
        user.lifetime += POINTS[event]
        assert row[3] == user.available
        local = self.s.su.execute(
            "select (t.occurred_at at time zone u.timezone)::date from gamification.point_transactions t"
            " join user_management.users u on u.organization_id = t.organization_id and u.id = t.user_id"
            " where t.id = %s", (row[0],)).fetchone()[0]
        user.streak = py_next_streak(user.last, user.streak, local)
        user.longest = max(user.longest, user.streak)
        user.last = local if user.last is None else max(user.last, local)
        self.calls.append(Call(AWARD, params, None, row))

    @rule(u=st.integers(0, 1), amount=st.integers(-25, 25).filter(bool))
    def adjust(self, u: int, amount: int) -> None:
        user = self.users[u]
        params = (user.id, amount, "correction", self.key())
        out = self.s.run(ADJUST, params)
        if user.available + amount < 0:
            assert out.sqlstate == "EL020"
            return
        assert out.ok, out.sqlstate
        user.available += amount
        user.lifetime += max(amount, 0)
        self.calls.append(Call(ADJUST, params, None, out.rows[0]))

    @rule(u=st.integers(0, 1), amount=st.integers(1, 30))
    def spend(self, u: int, amount: int) -> None:
        user = self.users[u]
        params = (user.id, amount, self.key(), "shop")
        out = self.s.run(SPEND, params, who=user.id)
        if amount > user.available:
            assert out.sqlstate == "EL020"
            return
        assert out.ok, out.sqlstate
        user.available -= amount
        user.spent += amount
        self.calls.append(Call(SPEND, params, user.id, out.rows[0]))

    @rule(u=st.integers(0, 1), r=st.integers(0, len(REWARDS) - 1), qty=st.integers(1, 3))
    def redeem(self, u: int, r: int, qty: int) -> None:
        user = self.users[u]
        cost, _, limit = REWARDS[r]
        params = (user.id, self.rewards[r], qty, self.key())
        out = self.s.run(REDEEM, params, who=user.id)
        held = sum(d.quantity for d in self.redemptions if d.user == u and d.reward == r and d.status != "cancelled")
        if self.stock_left(r) < qty:
            assert out.sqlstate == "EL021"
        elif limit is not None and held + qty > limit:
            assert out.sqlstate == "EL022"
        elif cost * qty > user.available:
            assert out.sqlstate == "EL020"
        else:
            assert out.ok, out.sqlstate
            row = out.rows[0]
            assert row[3:6] == (qty, cost * qty, "pending")
            user.available -= cost * qty
            user.spent += cost * qty
            self.redemptions.append(Redemption(row[0], u, r, qty, row, params))

    @precondition(lambda self: self.redemptions)
    @rule(i=st.integers(0, 50), staff=st.booleans())
    def cancel(self, i: int, staff: bool) -> None:
        d = self.redemptions[i % len(self.redemptions)]
        owner = self.users[d.user]
        out = self.s.run(CANCEL, (d.id, "machine"), who=None if staff else owner.id)
        if d.status == "fulfilled" and not staff:
            assert out.sqlstate == "42501"  # only staff refund a delivered reward
            return
        assert out.ok, out.sqlstate
        assert out.rows[0][0] is (d.status in ("pending", "fulfilled"))
        if d.status in ("pending", "fulfilled"):
            cost = d.first[4]
            owner.available += cost
            d.status = "cancelled" if d.status == "pending" else "refunded"

    @precondition(lambda self: self.redemptions)
    @rule(i=st.integers(0, 50))
    def fulfil(self, i: int) -> None:
        d = self.redemptions[i % len(self.redemptions)]
        out = self.s.run(FULFIL, (d.id, '{"code": "M"}'))
        if d.status in ("pending", "fulfilled"):
            assert out.ok and out.rows[0][0] == "fulfilled", out.sqlstate
            d.status = "fulfilled"
        else:
            assert out.sqlstate == "EL013"

    @precondition(lambda self: self.calls or self.redemptions)
    @rule(i=st.integers(0, 100))
    def replay(self, i: int) -> None:
        before = self.snapshot()
        n = len(self.calls) + len(self.redemptions)
        j = i % n
        if j < len(self.calls):
            c = self.calls[j]
            out = self.s.run(c.query, c.params, who=c.who)
            assert out.ok and out.rows[0] == c.first, (out.sqlstate, c.query)
        else:
            d = self.redemptions[j - len(self.calls)]
            out = self.s.run(REDEEM, d.params, who=self.users[d.user].id)
            assert out.ok, out.sqlstate
            row = out.rows[0]
            assert row[:5] == d.first[:5] and row[6] == d.first[6] and row[5] == d.status
        assert self.snapshot() == before

    @rule(u=st.integers(0, 1), zone=st.sampled_from(ZONES))
    def change_time_zone(self, u: int, zone: str) -> None:
        user = self.users[u]
        assert self.s.run("update user_management.users set timezone = %s where id = %s", (zone, user.id),
                          who=user.id).rowcount == 1

    @rule(u=st.integers(0, 1), days=st.integers(1, 3))
    def days_pass(self, u: int, days: int) -> None:
        """Simulated elapsed time: the learner's last activity moves ``days`` into the past."""
        user = self.users[u]
        if user.last is None:
            return
        self.s.su.execute("update gamification.user_points set last_activity_local_date ="
                          " last_activity_local_date - %s where user_id = %s", (days, user.id))
        user.last -= dt.timedelta(days=days)

    # -- invariants ----------------------------------------------------------------------------------

    @invariant()
    def balances_follow_the_ledger_and_the_model(self) -> None:
        for user in self.users:
            if self.s.balances(user.id) is None:
                assert user.available == user.lifetime == 0
                continue
            b = check_invariants(self.s, user.id)  # ledger conservation, level, balance_after chain
            assert (b["available"], b["lifetime_earned"], b["spent"]) == (user.available, user.lifetime, user.spent)
            assert b["level"] == max(n for n, _, th in LEVELS if th <= user.lifetime)
            assert (b["current_streak"], b["longest_streak"]) == (user.streak, user.longest)
            assert b["last_activity_local_date"] == (user.last.isoformat() if user.last else None)

    @invariant()
    def stock_is_conserved(self) -> None:
        su = self.s.su
        for r, reward in enumerate(self.rewards):
            stock = self.s.stock(reward)
            assert stock == self.stock_left(r) >= 0
        rows = dict(su.execute("select id, status from gamification.reward_redemptions where organization_id = %s",
                               (self.s.t.id,)).fetchall())
        assert rows == {d.id: d.status for d in self.redemptions}
        refunds = dict(su.execute(
            "select source_id, count(*) from gamification.point_transactions where organization_id = %s"
            " and kind = 'refund' group by source_id", (self.s.t.id,)).fetchall())
        assert refunds == {d.id: 1 for d in self.redemptions if d.status in ("cancelled", "refunded")}


def test_gamification_state_machine(pg: PgServer, db: str) -> None:
    GamificationMachine.pg, GamificationMachine.dbname = pg, db
    run_state_machine_as_test(GamificationMachine, settings=MACHINE)
