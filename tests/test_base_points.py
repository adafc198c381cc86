"""Base points of a point system (V0138-V0139), as the application role.

A rule whose points are NULL awards the system's base_points times the effective multiplier, on both
paths of apply_award(): the common one (the first rule has no limits) and the complete rule query (a
rule with max_per_day). Rules with their own points ignore base_points; changing base_points changes
later awards only; ck_point_systems_base_points keeps it in 1..1000000.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterator

import pytest
from hypothesis import given, strategies as st

from .conftest import PgServer
from .test_point_rules import PROPERTY, Game

AWARD_IN = ("select amount, multiplier, rule_id from gamification.award_points(%s, 'streak_day', 'lesson', %s, %s,"
            " p_point_system_id => %s)")
AWARD = ("select amount, multiplier, rule_id from gamification.award_points(%s, %s, 'lesson', %s, %s,"
         " p_context => %s::jsonb)")


@pytest.fixture
def g(pg: PgServer, db: str) -> Iterator[Game]:
    game = Game(pg, db)
    yield game
    game.su.close()


def set_base(g: Game, base: int) -> None:
    assert g.run("update gamification.point_systems set base_points = %s where organization_id = %s and id = %s",
                 (base, g.t.id, g.system)).sqlstate is None


def null_rule(g: Game, event_type: str) -> uuid.UUID:
    rule: uuid.UUID = g.ok("insert into gamification.point_rules (organization_id, point_system_id, event_type,"
                           " points) values (%s, %s, %s, NULL) returning id", (g.t.id, g.system, event_type))
    return rule


def award(g: Game, user: uuid.UUID, event_type: str) -> tuple[int, Decimal, uuid.UUID] | None:
    rows = g.run(AWARD, (user, event_type, uuid.uuid4(), f"k:{uuid.uuid4()}", "{}")).rows
    return (rows[0][0], rows[0][1], rows[0][2]) if rows and rows[0][0] is not None else None


def test_a_new_system_has_base_points_10(g: Game) -> None:
    assert g.ok("select base_points from gamification.point_systems where organization_id = %s and id = %s",
                (g.t.id, g.system)) == 10


@pytest.mark.parametrize("base", [0, -1, 1_000_001])
def test_base_points_outside_1_to_1000000_are_refused(g: Game, base: int) -> None:
    out = g.run("update gamification.point_systems set base_points = %s where organization_id = %s and id = %s",
                (base, g.t.id, g.system))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_point_systems_base_points")


def test_rule_points_still_checked_when_given(g: Game) -> None:
    out = g.run("insert into gamification.point_rules (organization_id, point_system_id, event_type, points)"
                " values (%s, %s, 'forum_post', 0)", (g.t.id, g.system))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_point_rules_points")


@PROPERTY
@given(base=st.integers(1, 1_000_000), multiplier=st.decimals("0.001", "100", places=3), limited=st.booleans())
def test_a_rule_without_points_awards_the_base_points(g: Game, base: int, multiplier: Decimal,
                                                      limited: bool) -> None:
    """amount = round_half_up(base x multiplier) for a rule with NULL points (0: nothing awarded), in a
    fresh point system per example; the same on the complete rule query (limited: max_per_day) as on the
    common path."""
    system = g.ok("insert into gamification.point_systems (organization_id, name, unit, base_points, multipliers)"
                  " values (%s, %s, 'pt', %s, jsonb_build_object('streak_day', %s::numeric)) returning id",
                  (g.t.id, f"S{uuid.uuid4().hex[:8]}", base, multiplier))
    rule = g.ok("insert into gamification.point_rules (organization_id, point_system_id, event_type, points,"
                " max_per_day) values (%s, %s, 'streak_day', NULL, %s) returning id",
                (g.t.id, system, 5 if limited else None))
    rows = g.run(AWARD_IN, (g.learner(), uuid.uuid4(), f"k:{uuid.uuid4()}", system)).rows
    expected = int((Decimal(base) * multiplier).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    # Rounded to 0: nothing is awarded (award_points returns NULL, no ledger row).
    assert rows == ([(expected, multiplier, rule)] if expected > 0 else [(None, None, None)])


def test_explicit_rule_points_ignore_the_base_points(g: Game) -> None:
    set_base(g, 999)
    got = award(g, g.learner(), "lesson_completed")  # Game's rule: 10 points
    assert got is not None and got[0] == 10


def test_changing_base_points_changes_later_awards_only(g: Game) -> None:
    null_rule(g, "forum_post")
    user = g.learner()
    set_base(g, 3)
    first = award(g, user, "forum_post")
    set_base(g, 7)
    second = award(g, user, "forum_post")
    assert first is not None and second is not None and (first[0], second[0]) == (3, 7)
    amounts = [row[1] for row in g.ledger(user)]
    assert amounts == [3, 7] and g.available(user) == 10


def test_a_learner_cannot_change_base_points(g: Game) -> None:
    out = g.run("update gamification.point_systems set base_points = 500 where organization_id = %s and id = %s",
                (g.t.id, g.system), who=g.learner())
    assert (out.sqlstate, out.rowcount) == (None, 0)
    assert g.ok("select base_points from gamification.point_systems where organization_id = %s and id = %s",
                (g.t.id, g.system)) == 10
