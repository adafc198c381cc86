"""Badges, achievements and level-up events (gamification V0084-V0087), as the application role.

Proved here: the criteria vocabulary is exactly what the validator accepts (23514 ck_badges_criteria
otherwise); badges are awarded in the transaction of the change of points, with evidence, and a badge
is held iff its criteria are met (property over random awards, adjustments and revocations, against a
Python model); a non-repeatable badge is held at most once, also when 16 connections push one user over
the threshold at once; repeatable badges keep their repeat interval; one level_up event per level gained;
achievements progress and complete once; rarity (holders / live learners) equals a recount for every
reader, and holder counts stay exact and deadlock-free when transactions award badges to several users
in crossing orders; staff award/revoke rules and errors (42501, 22023, EL030, EL031, EL002, EL001);
RLS: a learner sees own awards, progress and events and the organization's catalogs, staff with
gamification.manage the organization's, other tenants nothing. Each test uses a fresh clone (``db``) and
commits, so deferred holder counts run as in production.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from .conftest import PgServer
from .course_support import School
from .identity_support import create_tenant, run, run_concurrently
from .test_points_ledger import ADJUST, AWARD, LEVELS, Game

PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
AWARD_BADGE = "select id, award_number, evidence from gamification.award_badge(%s, %s, %s, %s)"
REVOKE = "select gamification.revoke_badge(%s, %s)"
EVALUATE = "select gamification.evaluate_user(%s)"
RARITY = "select badge_id, holders, learners, rarity from gamification.badge_rarity()"


class Badges(Game):
    def badge(self, criteria: dict[str, Any], **cols: Any) -> uuid.UUID:
        names = ["organization_id", "name", "criteria", *cols]
        values = [self.t.id, f"Badge {secrets.token_hex(4)}", Jsonb(criteria), *cols.values()]
        return self.ok(f"insert into gamification.badges ({', '.join(names)})"  # type: ignore[no-any-return]
                       f" values ({', '.join(['%s'] * len(names))}) returning id", tuple(values))

    def achievement(self, criterion: dict[str, Any]) -> uuid.UUID:
        return self.ok("insert into gamification.achievements (organization_id, name, criterion)"  # type: ignore[no-any-return]
                       " values (%s, %s, %s) returning id", (self.t.id, f"Ach {secrets.token_hex(4)}", Jsonb(criterion)))

    def awards(self, user: uuid.UUID) -> list[dict[str, Any]]:
        return [r[0] for r in self.su.execute(
            "select to_jsonb(ub) from gamification.user_badges ub where organization_id = %s and user_id = %s"
            " order by badge_id, award_number", (self.t.id, user))]

    def held(self, user: uuid.UUID) -> set[uuid.UUID]:
        return {uuid.UUID(a["badge_id"]) for a in self.awards(user) if a["revoked_at"] is None and a["expired_at"] is None}

    def events(self, user: uuid.UUID, kind: str | None = None) -> list[dict[str, Any]]:
        return [r[0] for r in self.su.execute(
            "select to_jsonb(e) from gamification.user_events e where organization_id = %s and user_id = %s"
            " and (%s::text is null or kind = %s) order by id", (self.t.id, user, kind, kind))]

    def holders(self, badge: uuid.UUID) -> int:
        return self.su.execute("select holders_count from gamification.badge_statistics where badge_id = %s",
                               (badge,)).fetchone()[0]

    def points(self, user: uuid.UUID, amount: int) -> None:
        self.ok(ADJUST, (user, amount, "test points", f"adj-{secrets.token_hex(6)}"))


@pytest.fixture
def b(pg: PgServer, db: str) -> Iterator[Badges]:
    game = Badges(pg, db)
    yield game
    game.su.close()


# -- the criteria vocabulary -----------------------------------------------------------------------

UUIDS = st.uuids().map(str)
COUNTS = st.integers(1, 1000)
EVENT_TYPES = st.sampled_from(["course_enrolled", "lesson_completed", "course_completed",
                               "learning_path_completed", "course_reviewed", "assessment_passed"])
CRITERION = st.one_of(
    st.builds(lambda n: {"type": "points_threshold", "points": n}, st.integers(1, 10**12)),
    st.builds(lambda n: {"type": "level_reached", "level": n}, st.integers(1, 1000)),
    st.builds(lambda n: {"type": "streak_length", "days": n}, st.integers(1, 36600)),
    st.builds(lambda n: {"type": "courses_completed", "count": n}, COUNTS),
    st.lists(UUIDS, min_size=1, max_size=5, unique=True).flatmap(
        lambda ids: st.builds(lambda n: {"type": "courses_completed", "count": n, "course_ids": ids},
                              st.integers(1, len(ids)))),
    st.builds(lambda n, d: {"type": "lessons_in_period", "count": n, "days": d}, COUNTS, st.integers(1, 366)),
    st.builds(lambda e, n: {"type": "event_count", "event_type": e, "count": n}, EVENT_TYPES, COUNTS),
    st.builds(lambda n: {"type": "badge_count", "count": n}, st.integers(1, 10000)),
)
CRITERIA = st.one_of(CRITERION, st.lists(CRITERION, min_size=1, max_size=10).map(lambda cs: {"all": cs}))


def _numeric_key(c: dict[str, Any]) -> str:
    return next(k for k in ("points", "level", "days", "count") if k in c)


@st.composite
def broken_criteria(draw: st.DrawFn) -> Any:
    """A valid criterion spoiled in one way the vocabulary forbids."""
    c = dict(draw(CRITERION))
    how = draw(st.sampled_from(["unknown_key", "zero", "negative", "fraction", "string_number", "missing",
                                "bad_type", "bad_event", "nested_all", "empty_all", "not_object", "bad_uuid"]))
    key = _numeric_key(c)
    if how == "unknown_key":
        c[draw(st.sampled_from(["extra", "Points", "threshold", "period"]))] = 1
    elif how == "zero":
        c[key] = 0
    elif how == "negative":
        c[key] = -draw(st.integers(1, 100))
    elif how == "fraction":
        c[key] = draw(st.integers(1, 100)) + 0.5
    elif how == "string_number":
        c[key] = str(c[key])
    elif how == "missing":
        del c[key]
    elif how == "bad_type":
        c["type"] = draw(st.sampled_from(["points", "POINTS_THRESHOLD", "all", "", "level"]))
    elif how == "bad_event":
        c = {"type": "event_count", "event_type": draw(st.sampled_from(["lesson", "unknown", ""])), "count": 1}
    elif how == "nested_all":
        return {"all": [{"all": [c]}]}
    elif how == "empty_all":
        return {"all": []}
    elif how == "not_object":
        return [c]
    else:
        c = {"type": "courses_completed", "count": 1, "course_ids": [draw(st.sampled_from(
            ["not-a-uuid", str(uuid.uuid4()).upper(), 42]))]}
    return c


def test_criteria_vocabulary_is_checked(pg: PgServer, template_db: str) -> None:
    @settings(max_examples=150, deadline=None)
    @given(good=CRITERIA, bad=broken_criteria())
    def check(good: Any, bad: Any) -> None:
        assert c.execute("select gamification.is_valid_criteria(%s)", (Jsonb(good),)).fetchone() == (True,)
        assert c.execute("select gamification.is_valid_criteria(%s)", (Jsonb(bad),)).fetchone() == (False,), bad
    with pg.connect(template_db, autocommit=True) as c:
        check()
        assert c.execute("select gamification.is_valid_criteria(null)").fetchone() == (False,)
        too_many = {"type": "courses_completed", "count": 3, "course_ids": [str(uuid.uuid4()) for _ in range(2)]}
        assert c.execute("select gamification.is_valid_criteria(%s)", (Jsonb(too_many),)).fetchone() == (False,)
        twice = str(uuid.uuid4())
        dup = {"type": "courses_completed", "count": 1, "course_ids": [twice, twice]}
        assert c.execute("select gamification.is_valid_criteria(%s)", (Jsonb(dup),)).fetchone() == (False,)
        # Achievements take one criterion, not "all".
        assert c.execute("select gamification.is_valid_criterion(%s)",
                         (Jsonb({"all": [{"type": "badge_count", "count": 1}]}),)).fetchone() == (False,)


def test_a_bad_criterion_is_refused_with_the_constraint(b: Badges) -> None:
    out = b.run("insert into gamification.badges (organization_id, name, criteria) values (%s, 'x', %s)",
                (b.t.id, Jsonb({"type": "points_threshold", "points": 0})))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_badges_criteria")
    out = b.run("insert into gamification.achievements (organization_id, name, criterion) values (%s, 'x', %s)",
                (b.t.id, Jsonb({"type": "badge_count", "count": 1, "extra": True})))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_achievements_criterion")
    out = b.run("insert into gamification.badges (organization_id, name, criteria, repeatable) values (%s, 'x', %s, true)",
                (b.t.id, Jsonb({"type": "points_threshold", "points": 5})))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_badges_repeat")


# -- awarding in the transaction of the points ---------------------------------------------------------

def test_threshold_badge_is_awarded_once_with_evidence_in_the_same_transaction(b: Badges) -> None:
    user = b.learner()
    badge = b.badge({"type": "points_threshold", "points": 30})
    for i in range(2):
        b.ok(AWARD, (user, "lesson_completed", None, None, f"l{i}"))
    assert b.awards(user) == []
    # The award that crosses the threshold and the badge commit or roll back together.
    with pytest.raises(psycopg.errors.RaiseException):
        with b.su.transaction():
            assert run(b.su, b.app, b.t.id, b.t.owner, AWARD, (user, "lesson_completed", None, None, "l2")).ok
            assert b.held(user) == {badge}
            b.su.execute("do $$ begin raise exception 'roll back'; end $$")
    assert b.awards(user) == [] and b.holders(badge) == 0
    tx = b.ok(AWARD, (user, "lesson_completed", None, None, "l2"))
    (award,) = b.awards(user)
    ev = award["evidence"]
    assert ev["source"] == "points_change" and ev["criteria"] == {"type": "points_threshold", "points": 30}
    assert ev["measures"] == [{"type": "points_threshold", "value": 30, "target": 30}]
    assert ev["transaction_id"] == str(tx) and ev["point_system_id"] == str(b.system)
    assert award["award_number"] == 1 and award["awarded_by_user_id"] is None
    # More points, replays and an explicit evaluation change nothing.
    b.ok(AWARD, (user, "lesson_completed", None, None, "l3"))
    b.ok(AWARD, (user, "lesson_completed", None, None, "l2"))
    assert b.ok(EVALUATE, (user,)) == 0
    assert len(b.awards(user)) == 1 and b.holders(badge) == 1
    (event,) = b.events(user, "badge_awarded")
    assert event["badge_id"] == str(badge) and event["payload"]["user_badge_id"] == award["id"]


def test_sixteen_connections_over_the_threshold_make_one_badge(b: Badges) -> None:
    user = b.learner()
    badge = b.badge({"type": "points_threshold", "points": 50})
    outs = run_concurrently(b.pg, b.dbname, 16, b.app, b.t.id, b.t.owner, AWARD,
                            lambda i: (user, "lesson_completed", None, None, f"c{i}"))
    assert all(o.ok for o in outs), [o.sqlstate for o in outs]
    assert [a["badge_id"] for a in b.awards(user)] == [str(badge)]
    assert len(b.events(user, "badge_awarded")) == 1
    assert b.holders(badge) == 1
    levels = [e["level"] for e in b.events(user, "level_up")]
    assert levels == [1, 2, 3]  # 160 points: thresholds 0, 50, 150, each once


def test_non_repeatable_is_held_at_most_once_by_the_database(b: Badges) -> None:
    user = b.learner()
    badge = b.badge({"type": "points_threshold", "points": 5})
    b.points(user, 5)
    with pytest.raises(psycopg.errors.UniqueViolation) as exc:
        b.su.execute("insert into gamification.user_badges (organization_id, user_id, badge_id, repeatable, award_number)"
                     " values (%s, %s, %s, false, 2)", (b.t.id, user, badge))
    assert exc.value.diag.constraint_name == "uq_user_badges_organization_id_user_id_badge_id"
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as exc2:  # repeatable must match the badge
        b.su.execute("insert into gamification.user_badges (organization_id, user_id, badge_id, repeatable, award_number)"
                     " values (%s, %s, %s, true, 2)", (b.t.id, user, badge))
    assert exc2.value.diag.constraint_name == "fk_user_badges_badge_id"
    out = b.run("update gamification.badges set repeatable = true where id = %s", (badge,))
    assert out.sqlstate == "42501"  # fixed at creation


def test_deadlock_free_holder_counts_for_crossing_multi_user_transactions(b: Badges) -> None:
    """Each transaction awards two users who earn two badges in opposite orders (B2 then B1, or B1 then
    B2). Holder counts are applied at commit in badge order, so no deadlock (40P01) and exact counts."""
    b1 = b.badge({"type": "points_threshold", "points": 10})
    b2 = b.badge({"type": "points_threshold", "points": 20})
    pairs = []
    for i in range(8):
        ahead, fresh = b.learner(f"a{i}"), b.learner(f"f{i}")
        b.points(ahead, 10)  # holds b1; its next 10 points earn b2
        pairs.append((ahead, fresh) if i % 2 else (fresh, ahead))
    query = ("select (gamification.award_points(%s, 'lesson_completed', null, null, %s)).id,"
             " (gamification.award_points(%s, 'lesson_completed', null, null, %s)).id")
    outs = run_concurrently(b.pg, b.dbname, 8, b.app, b.t.id, b.t.owner, query,
                            lambda i: (pairs[i][0], f"x{i}a", pairs[i][1], f"x{i}b"))
    assert [o.sqlstate for o in outs] == [None] * 8
    assert (b.holders(b1), b.holders(b2)) == (16, 8)


# -- property: criteria met <=> badge held with evidence; level-up events ----------------------------

MODEL_BADGES: list[tuple[str, dict[str, Any]]] = [
    ("p30", {"type": "points_threshold", "points": 30}),
    ("p100", {"type": "points_threshold", "points": 100}),
    ("lvl3", {"type": "level_reached", "level": 3}),
    ("combo", {"all": [{"type": "points_threshold", "points": 60}, {"type": "badge_count", "count": 2}]}),
    ("three", {"type": "badge_count", "count": 3}),
    ("streak", {"type": "streak_length", "days": 2}),
]


def model_level(lifetime: int) -> int:
    return max(n for n, _, th in LEVELS if th <= lifetime)


def model_met(c: dict[str, Any], lifetime: int, held_others: int) -> bool:
    if "all" in c:
        return all(model_met(x, lifetime, held_others) for x in c["all"])
    value = {"points_threshold": lifetime, "level_reached": model_level(lifetime), "streak_length": 1,
             "badge_count": held_others}[c["type"]]
    return value >= next(v for k, v in c.items() if k != "type")


def model_held(lifetime: int, revoked: set[str]) -> set[str]:
    """Fixpoint of the award rule: a badge is awarded when its criteria hold, unless it was revoked."""
    held: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, c in MODEL_BADGES:
            if name not in held and name not in revoked and model_met(c, lifetime, len(held)):
                held.add(name)
                changed = True
    return held


ops = st.lists(st.one_of(
    st.tuples(st.just("award"), st.sampled_from(["lesson_completed", "course_completed"])),
    st.tuples(st.just("adjust"), st.integers(1, 80)),
    st.tuples(st.just("spend"), st.integers(1, 30)),
    st.tuples(st.just("revoke"), st.integers(0, 5)),
    st.tuples(st.just("evaluate"), st.just(0)),
), min_size=1, max_size=14)


@PROPERTY
@given(steps=ops)
def test_badge_held_iff_criteria_met_and_level_ups_once(b: Badges, steps: list[tuple[str, int]]) -> None:
    """Random awards, positive adjustments, spends, staff revocations and evaluations of one learner:
    after every step the held badges are exactly the model's fixpoint (criteria met, never re-awarded
    after a revocation), every award's evidence shows each criterion at or above its target, holder
    counts match, and the level_up events are exactly levels 1..level, once each, named after the level."""
    if not hasattr(b, "model_ids"):  # the fixture (one tenant) lives across examples: one badge set
        b.model_ids = {name: b.badge(c) for name, c in MODEL_BADGES}  # type: ignore[attr-defined]
    ids: dict[str, uuid.UUID] = b.model_ids  # type: ignore[attr-defined]
    names = {v: k for k, v in ids.items()}
    user = b.learner()
    tag = secrets.token_hex(4)
    lifetime, revoked = 0, set()
    holders_before = {name: b.holders(badge) for name, badge in ids.items()}
    for n, (op, arg) in enumerate(steps):
        if op == "award":
            b.ok(AWARD, (user, arg, None, None, f"p{n}-{tag}"))
            lifetime += 10 if arg == "lesson_completed" else 11
        elif op == "adjust":
            b.points(user, arg)
            lifetime += arg
        elif op == "spend":
            b.run("select gamification.spend_points(%s, %s, %s, 'x')", (user, arg, f"s{n}-{tag}"))
        elif op == "revoke":
            live = [a for a in b.awards(user) if a["revoked_at"] is None]
            if live:
                award = live[arg % len(live)]
                assert b.ok(REVOKE, (award["id"], "property")) is True
                revoked.add(names[uuid.UUID(award["badge_id"])])
                b.ok(EVALUATE, (user,))  # revoked badges stay revoked
        else:
            b.ok(EVALUATE, (user,))
        expected = model_held(lifetime, revoked) if lifetime else set()
        assert {names[x] for x in b.held(user)} == expected
        for a in b.awards(user):
            assert all(m["value"] >= m["target"] for m in a["evidence"]["measures"])
            assert a["evidence"]["criteria"] == dict(MODEL_BADGES)[names[uuid.UUID(a["badge_id"])]]
        for name, badge in ids.items():
            assert b.holders(badge) == holders_before[name] + (1 if name in expected else 0)
        ups = b.events(user, "level_up")
        level = model_level(lifetime) if lifetime else 0
        assert [e["level"] for e in ups] == list(range(1, level + 1))
        assert [e["payload"]["name"] for e in ups] == [name for _, name, _ in LEVELS[:level]]
    assert len(b.events(user, "badge_awarded")) == len(b.awards(user))


# -- repeatable badges ---------------------------------------------------------------------------

def _age_awards(b: Badges, user: uuid.UUID, interval: str) -> None:
    b.su.execute("alter table gamification.user_badges disable trigger trg_user_badges_guard_update")
    b.su.execute(f"update gamification.user_badges set awarded_at = awarded_at - interval '{interval}',"
                 f" expires_at = expires_at - interval '{interval}' where user_id = %s", (user,))
    b.su.execute("alter table gamification.user_badges enable trigger trg_user_badges_guard_update")


def test_repeatable_badge_waits_for_its_interval(b: Badges) -> None:
    user = b.learner()
    badge = b.badge({"type": "points_threshold", "points": 10}, repeatable=True, repeat_interval="1 day")
    b.points(user, 10)
    b.points(user, 10)
    assert [a["award_number"] for a in b.awards(user)] == [1]
    out = b.run(AWARD_BADGE, (user, badge, "again", Jsonb({})))
    assert out.sqlstate == "EL031"
    _age_awards(b, user, "25 hours")
    b.points(user, 1)
    assert [a["award_number"] for a in b.awards(user)] == [1, 2]
    assert b.holders(badge) == 1  # one user, however many awards
    assert len(b.events(user, "badge_awarded")) == 2


# -- staff award and revoke ----------------------------------------------------------------------------

def test_staff_award_and_revoke(b: Badges) -> None:
    user, other = b.learner(), b.learner("other")
    badge = b.badge({"type": "points_threshold", "points": 1000})
    assert b.run(AWARD_BADGE, (user, badge, "nice work", Jsonb({})), who=other).sqlstate == "42501"
    assert b.run(AWARD_BADGE, (user, badge, " ", Jsonb({}))).sqlstate == "22023"
    assert b.run(AWARD_BADGE, (user, badge, "x", Jsonb([]))).sqlstate == "22023"
    assert b.run(AWARD_BADGE, (user, uuid.uuid4(), "x", Jsonb({}))).sqlstate == "P0002"
    assert b.run(AWARD_BADGE, (uuid.uuid4(), badge, "x", Jsonb({}))).sqlstate == "P0002"
    first = b.run(AWARD_BADGE, (user, badge, "nice work", Jsonb({"ticket": 7})))
    assert first.ok
    assert b.run(AWARD_BADGE, (user, badge, "twice", Jsonb({}))).rows == first.rows  # idempotent while held
    (award,) = b.awards(user)
    assert award["awarded_by_user_id"] == str(b.t.owner) and award["award_reason"] == "nice work"
    assert award["evidence"] == {"source": "staff", "details": {"ticket": 7}}
    assert b.run(REVOKE, (award["id"], "mistake"), who=other).sqlstate == "42501"
    assert b.run(REVOKE, (award["id"], "")).sqlstate == "22023"
    assert b.ok(REVOKE, (award["id"], "mistake")) is True
    assert b.ok(REVOKE, (award["id"], "again")) is False
    assert b.held(user) == set() and b.holders(badge) == 0
    (revoked,) = b.events(user, "badge_revoked")
    assert revoked["payload"]["reason"] == "mistake"
    # Staff may award it again; the award number continues.
    assert b.run(AWARD_BADGE, (user, badge, "on reflection", Jsonb({}))).rows[0][1] == 2
    assert b.holders(badge) == 1
    # Inactive, deleted or outside the earning window: EL030.
    for cols in ({"active": False}, {"valid_from": "2999-01-01T00:00:00Z"},
                 {"valid_from": "2000-01-01T00:00:00Z", "valid_until": "2001-01-01T00:00:00Z"}):
        assert b.run(AWARD_BADGE, (other, b.badge({"type": "badge_count", "count": 1}, **cols), "x", Jsonb({}))
                     ).sqlstate == "EL030"
    gone = b.badge({"type": "badge_count", "count": 1})
    b.ok("update gamification.badges set deleted_at = now() where id = %s returning id", (gone,))
    assert b.run(AWARD_BADGE, (other, gone, "x", Jsonb({}))).sqlstate == "EL030"
    # Awards are immutable but for revocation and expiry; events are append-only.
    with pytest.raises(psycopg.Error) as exc:
        b.su.execute("update gamification.user_badges set evidence = '{}' where user_id = %s", (user,))
    assert (exc.value.sqlstate, exc.value.diag.constraint_name) == ("EL002", "trg_user_badges_guard_update")
    with pytest.raises(psycopg.Error) as exc:
        b.su.execute("update gamification.user_badges set revoke_reason = 'changed' where user_id = %s"
                     " and revoked_at is not null", (user,))
    assert exc.value.sqlstate == "EL002"
    with pytest.raises(psycopg.Error) as exc:
        b.su.execute("delete from gamification.user_events where user_id = %s", (user,))
    assert exc.value.sqlstate == "EL001"


def test_inactive_and_out_of_window_badges_are_not_earned(b: Badges) -> None:
    user = b.learner()
    off = b.badge({"type": "points_threshold", "points": 5}, active=False)
    later = b.badge({"type": "points_threshold", "points": 5}, valid_from="2999-01-01T00:00:00Z")
    other_system = b.ok("insert into gamification.point_systems (organization_id, name) values (%s, 'Coins')"
                        " returning id", (b.t.id,))
    coins = b.badge({"type": "points_threshold", "points": 5}, point_system_id=other_system)
    b.points(user, 10)
    assert b.held(user) == set()
    b.ok("update gamification.badges set active = true where id = %s returning id", (off,))
    assert b.ok(EVALUATE, (user,)) == 1
    assert b.held(user) == {off} and later not in b.held(user) and coins not in b.held(user)


# -- expiry ------------------------------------------------------------------------------------------

def test_expiry_is_processed_once_and_the_badge_can_be_earned_again(b: Badges) -> None:
    user = b.learner()
    badge = b.badge({"type": "points_threshold", "points": 5}, validity_period="30 days")
    b.points(user, 5)
    (award,) = b.awards(user)
    assert award["expires_at"] is not None
    assert b.ok("select gamification.process_badge_expiries(10)") == 0
    _age_awards(b, user, "31 days")
    assert b.holders(badge) == 1
    assert b.ok("select gamification.process_badge_expiries(10)", who=user) == 1
    assert b.ok("select gamification.process_badge_expiries(10)") == 0
    assert b.held(user) == set() and b.holders(badge) == 0
    assert len(b.events(user, "badge_expired")) == 1
    assert b.ok(EVALUATE, (user,)) == 1  # criteria still hold: earned again
    assert [a["award_number"] for a in b.awards(user)] == [1, 2] and b.holders(badge) == 1
    assert run(b.su, b.app, None, None, "select gamification.process_badge_expiries(10)").sqlstate == "42501"


# -- achievements, non-points criteria -------------------------------------------------------------------

def test_achievement_progress_and_completion_once(b: Badges) -> None:
    user = b.learner()
    ach = b.achievement({"type": "event_count", "event_type": "lesson_completed", "count": 5})
    points_ach = b.achievement({"type": "points_threshold", "points": 25})
    badge = b.badge({"type": "event_count", "event_type": "lesson_completed", "count": 3})

    def progress() -> dict[str, tuple[int, int, bool]]:
        return {r[0]: (r[1], r[2], r[3]) for r in b.su.execute(
            "select achievement_id::text, progress, target, completed_at is not null from gamification.user_achievements"
            " where user_id = %s", (user,))}

    def event(n: int) -> None:
        sid = uuid.uuid4()
        b.su.execute("insert into course_management.learning_events (organization_id, user_id, event_type, source_type,"
                     " source_id, idempotency_key) values (%s, %s, 'lesson_completed', 'lesson_progress', %s, %s)",
                     (b.t.id, user, sid, f"lesson_completed:{sid}"))

    for i in range(3):
        event(i)
    assert progress() == {}  # no points changed yet: nothing evaluated
    assert b.ok(EVALUATE, (user,)) == 1
    assert progress() == {str(ach): (3, 5, False)} and b.held(user) == {badge}
    b.points(user, 20)
    assert progress() == {str(ach): (3, 5, False), str(points_ach): (20, 25, False)}
    for i in range(3):
        event(i)
    b.points(user, 20)
    assert progress() == {str(ach): (5, 5, True), str(points_ach): (25, 25, True)}
    b.points(user, 20)
    b.ok(EVALUATE, (user,))
    assert progress() == {str(ach): (5, 5, True), str(points_ach): (25, 25, True)}  # frozen
    assert sorted(e["achievement_id"] for e in b.events(user, "achievement_completed")) == sorted([str(ach), str(points_ach)])


def test_courses_completed_badge_by_evaluation(b: Badges) -> None:
    s = School(b.su, b.pg, b.t)
    user = b.learner()
    outline = s.course(b.t.owner, modules=((1, False),))
    other = s.course(b.t.owner, modules=((1, False),))
    any_course = b.badge({"type": "courses_completed", "count": 1})
    that_one = b.badge({"type": "courses_completed", "count": 1, "course_ids": [str(other.course)]})
    enrollment = s.enrolled(user, outline.course)
    s.complete_all(user, enrollment, outline)
    assert b.ok(EVALUATE, (user,)) == 1
    assert b.held(user) == {any_course}
    (award,) = b.awards(user)
    assert award["evidence"]["measures"] == [{"type": "courses_completed", "value": 1, "target": 1}]
    assert that_one not in b.held(user)


# -- rarity ------------------------------------------------------------------------------------------------

@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2), st.sampled_from(["award", "revoke", "delete"])),
                     min_size=1, max_size=12))
def test_rarity_equals_a_recount_for_every_reader(b: Badges, plan: list[tuple[int, int, str]]) -> None:
    """Staff awards and revocations of three badges to six learners and soft deletions of learners, in random
    order: badge_rarity() (as a learner and as staff) = live holders / live users of the organization,
    badge_statistics.holders_count = users with a live award; another tenant sees none of it."""
    users = [b.learner(f"r{i}") for i in range(6)]
    badges = [b.badge({"type": "points_threshold", "points": 10**9}) for _ in range(3)]
    deleted: set[uuid.UUID] = set()
    for u, k, op in plan:
        user, badge = users[u], badges[k]
        if op == "award" and user not in deleted:
            assert b.run(AWARD_BADGE, (user, badge, "rarity", Jsonb({}))).ok
        elif op == "revoke":
            ids = [r[0] for r in b.su.execute("select id from gamification.user_badges where user_id = %s"
                                              " and badge_id = %s and revoked_at is null", (user, badge))]
            for award in ids:
                assert b.ok(REVOKE, (award, "rarity")) is True
        elif op == "delete" and user not in deleted:
            b.su.execute("update user_management.users set deleted_at = now() where id = %s", (user,))
            deleted.add(user)
    live_users = b.su.execute("select count(*) from user_management.users where organization_id = %s"
                              " and deleted_at is null", (b.t.id,)).fetchone()[0]
    expected = {}
    for badge in badges:
        holders = {r[0] for r in b.su.execute("select user_id from gamification.user_badges where badge_id = %s"
                                              " and revoked_at is null and expired_at is null", (badge,))}
        assert b.holders(badge) == len(holders)
        live = len(holders - deleted)
        expected[badge] = (live, live_users, round(live / live_users, 6))
    reader = next(u for u in users if u not in deleted) if len(deleted) < len(users) else b.t.owner
    for who in (reader, b.t.owner):
        got = {r[0]: (r[1], r[2], float(r[3])) for r in b.run(RARITY, who=who).rows}
        assert {k: got[k] for k in badges} == expected
    stranger = create_tenant(b.su, b.pg, "stranger")
    rows = run(b.su, b.app, stranger.id, stranger.owner, RARITY).rows
    assert not {r[0] for r in rows} & set(badges)


# -- RLS -------------------------------------------------------------------------------------------------

def test_learners_see_own_rows_and_the_catalog_staff_see_all(b: Badges) -> None:
    a, c = b.learner("a"), b.learner("c")
    badge = b.badge({"type": "points_threshold", "points": 5})
    b.achievement({"type": "points_threshold", "points": 100})
    for u in (a, c):
        b.points(u, 10)
    own = {"user_badges", "user_achievements", "user_events"}
    for table in own:
        q = f"select count(*) filter (where user_id = %s), count(*) from gamification.{table}"
        mine, total = b.run(q, (a,), who=a).rows[0]
        assert mine >= 1 and mine == total, table
        assert b.run(q, (a,)).rows[0][1] > mine, table  # the owner holds gamification.manage
    for table in ("badges", "achievements", "badge_statistics"):
        assert b.run(f"select count(*) from gamification.{table}", who=a).rows[0][0] >= 1, table
    # Writes only through the functions.
    for who in (a, b.t.owner):
        for q, params in [
            ("insert into gamification.user_badges (organization_id, user_id, badge_id, repeatable) values (%s, %s, %s, false)",
             (b.t.id, c, badge)),
            ("update gamification.user_badges set revoked_at = now()", ()),
            ("delete from gamification.user_badges", ()),
            ("insert into gamification.user_events (organization_id, user_id, kind, event_key, badge_id) values"
             " (%s, %s, 'badge_awarded', 'forged', %s)", (b.t.id, a, badge)),
            ("update gamification.badge_statistics set holders_count = 99", ()),
            ("update gamification.user_achievements set progress = 0", ()),
        ]:
            assert b.run(q, params, who=who).sqlstate == "42501", q
    # A learner cannot manage the catalog.
    out = b.run("insert into gamification.badges (organization_id, name, criteria) values (%s, 'mine', %s)",
                (b.t.id, Jsonb({"type": "badge_count", "count": 1})), who=a)
    assert out.sqlstate == "42501"
    out = b.run("update gamification.badges set name = 'hijacked' where id = %s", (badge,), who=a)
    assert out.sqlstate == "42501" or out.rowcount == 0
    # Another tenant sees nothing of this one.
    stranger = create_tenant(b.su, b.pg, "stranger")
    for table in ("badges", "achievements", "badge_statistics", *own):
        out = run(b.su, b.app, stranger.id, stranger.owner,
                  f"select count(*) from gamification.{table} where organization_id = %s", (b.t.id,))
        assert out.rows == [(0,)], table
