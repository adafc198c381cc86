-- =============================================================================
-- V0138__add_point_systems_base_points
-- Purpose:       a point system's base points (issue 5: point_systems carry
--                "base points"): what one event is worth in the system unless a
--                rule names its own points. point_rules.points becomes optional;
--                NULL means the system's base points (award: V0139).
-- Concern:       gamification configuration: base points of a point system.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Cost:          point_systems and point_rules are configuration (a few rows per
--                organization): the new column's constant default is a catalog
--                change, its CHECK scans those few rows. DROP NOT NULL is a
--                catalog change; ck_point_rules_points (1..1000000) still holds
--                for every non-NULL value.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE gamification.point_systems
-- squawk-ignore prefer-bigint-over-int
ADD COLUMN base_points integer NOT NULL DEFAULT 10
CONSTRAINT ck_point_systems_base_points CHECK (base_points > 0 AND base_points <= 1000000);

COMMENT ON COLUMN gamification.point_systems.base_points IS
'Base points of the system (1-1000000, default 10): the points of an award by a rule whose points are NULL, before the effective multiplier (V0138). Changing it changes later awards only; the ledger keeps what was awarded.';
COMMENT ON CONSTRAINT ck_point_systems_base_points ON gamification.point_systems IS
'Base points are 1..1000000, the range of point_rules.points.';

-- NULL points are read as the system's base points by V0139 (same migrate run); a rule with NULL
-- points under V0138 alone awards nothing (the ledger's NOT NULL amount refuses the insert, 23502).
ALTER TABLE gamification.point_rules
-- squawk-ignore ban-drop-not-null
ALTER COLUMN points DROP NOT NULL;

COMMENT ON COLUMN gamification.point_rules.points IS
'Base points of the rule (1-1000000), or NULL for the point system''s base_points (V0138); times the effective multiplier (system multiplier of the event type times matching point_boosts).';
