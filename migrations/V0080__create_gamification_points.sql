-- =============================================================================
-- V0080__create_gamification_points
-- Purpose:       the points ledger core of gamification: point systems, their
--                rules and levels, the append-only ledger point_transactions
--                and the derived balances user_points (DESIGN section 5).
-- Concern:       gamification point tables (functions follow in V0081).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Ledger:        append-only (EL001, like login_attempts); balances change only
--                through the SECURITY DEFINER functions of V0081. The ledger's
--                foreign keys RESTRICT (a cascade would hit EL001): a user, point
--                system or rule with ledger rows cannot be hard-deleted (23503)
--                until retention/erasure exists (as with login_attempts).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- point_systems
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.point_systems (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    name text NOT NULL,
    unit text NOT NULL DEFAULT 'points',
    is_default boolean NOT NULL DEFAULT false,
    daily_cap bigint,
    active boolean NOT NULL DEFAULT true,
    multipliers jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_point_systems PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_point_systems_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT uq_point_systems_organization_id_name UNIQUE (organization_id, name),
    CONSTRAINT ck_point_systems_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_point_systems_unit_length CHECK (char_length(unit) BETWEEN 1 AND 30),
    CONSTRAINT ck_point_systems_daily_cap CHECK (daily_cap > 0),
    CONSTRAINT ck_point_systems_multipliers_object CHECK (jsonb_typeof(multipliers) = 'object'),
    CONSTRAINT ck_point_systems_multipliers_values
    CHECK (
        NOT jsonb_path_exists(multipliers, '$.* ? (@.type() != "number" || @ <= 0 || @ > 100)')
    )
);
-- One default system per organization.
CREATE UNIQUE INDEX uq_point_systems_organization_id_is_default
ON gamification.point_systems (organization_id) WHERE is_default;

COMMENT ON TABLE gamification.point_systems IS
'Point systems (currencies) of an organization, e.g. XP and coins. At most one is the default (uq_point_systems_organization_id_is_default), used when an award names no system.';
COMMENT ON INDEX gamification.uq_point_systems_organization_id_is_default IS
'At most one default point system per organization.';
COMMENT ON COLUMN gamification.point_systems.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.point_systems.id IS 'Point system id (UUIDv7).';
COMMENT ON COLUMN gamification.point_systems.name IS 'Display name, unique in the organization (1-100 characters).';
COMMENT ON COLUMN gamification.point_systems.unit IS 'Unit label shown with amounts, e.g. XP (1-30 characters).';
COMMENT ON COLUMN gamification.point_systems.is_default IS 'The organization''s default system (at most one).';
COMMENT ON COLUMN gamification.point_systems.daily_cap IS 'Most points a user can be awarded (award and bonus) per local day in this system; NULL = no cap. Awards beyond it are clipped to the remainder.';
COMMENT ON COLUMN gamification.point_systems.active IS 'Inactive systems award nothing and refuse spending.';
COMMENT ON COLUMN gamification.point_systems.multipliers IS 'Object event_type -> multiplier (a number in (0, 100]) applied to rule points of that event type; missing = 1.';
COMMENT ON COLUMN gamification.point_systems.created_at IS 'When the system was created.';
COMMENT ON COLUMN gamification.point_systems.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- point_rules
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.point_rules (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    point_system_id uuid NOT NULL,
    event_type text NOT NULL,
    points bigint NOT NULL,
    first_time_only boolean NOT NULL DEFAULT false,
    cooldown interval,
    -- squawk-ignore prefer-bigint-over-int
    max_per_day integer,
    valid_from timestamptz,
    valid_until timestamptz,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_point_rules PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_point_rules_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_point_rules_event_type
    CHECK (
        event_type IN (
            'lesson_completed', 'course_completed', 'assessment_passed', 'streak_day',
            'forum_post', 'manual'
        )
    ),
    CONSTRAINT ck_point_rules_points CHECK (points > 0 AND points <= 1000000),
    CONSTRAINT ck_point_rules_cooldown CHECK (cooldown > interval '0'),
    CONSTRAINT ck_point_rules_max_per_day CHECK (max_per_day > 0),
    CONSTRAINT ck_point_rules_valid_period CHECK (valid_until > valid_from)
);
CREATE INDEX idx_point_rules_organization_id_point_system_id_event_type
ON gamification.point_rules (organization_id, point_system_id, event_type);

COMMENT ON TABLE gamification.point_rules IS
'How many points an event type earns in a point system, with limits. award_points() applies the first active, currently valid rule (oldest first) whose limits allow it.';
COMMENT ON COLUMN gamification.point_rules.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.point_rules.id IS 'Rule id (UUIDv7).';
COMMENT ON COLUMN gamification.point_rules.point_system_id IS 'The point system the rule awards in.';
COMMENT ON COLUMN gamification.point_rules.event_type IS 'Event the rule applies to: lesson_completed, course_completed, assessment_passed, streak_day, forum_post, manual.';
COMMENT ON COLUMN gamification.point_rules.points IS 'Base points (1-1000000), multiplied by the system''s multiplier of the event type.';
COMMENT ON COLUMN gamification.point_rules.first_time_only IS 'At most one award of this rule per user and source (source_type, source_id).';
COMMENT ON COLUMN gamification.point_rules.cooldown IS 'Minimum time between two awards of this rule to the same user; NULL = none.';
COMMENT ON COLUMN gamification.point_rules.max_per_day IS 'Most awards of this rule per user and local day (users.timezone); NULL = no limit.';
COMMENT ON COLUMN gamification.point_rules.valid_from IS 'The rule applies from this time on; NULL = always.';
COMMENT ON COLUMN gamification.point_rules.valid_until IS 'The rule applies before this time; NULL = open-ended.';
COMMENT ON COLUMN gamification.point_rules.active IS 'Inactive rules award nothing.';
COMMENT ON COLUMN gamification.point_rules.created_at IS 'When the rule was created.';
COMMENT ON COLUMN gamification.point_rules.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- levels
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.levels (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    point_system_id uuid NOT NULL,
    -- squawk-ignore prefer-bigint-over-int
    level_number integer NOT NULL,
    name text NOT NULL,
    threshold bigint NOT NULL,
    rewards jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_levels PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_levels_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_levels_organization_id_point_system_id_level_number
    UNIQUE (organization_id, point_system_id, level_number) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT ck_levels_level_number CHECK (level_number BETWEEN 1 AND 1000),
    CONSTRAINT ck_levels_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_levels_threshold CHECK (threshold >= 0),
    CONSTRAINT ck_levels_rewards_object CHECK (jsonb_typeof(rewards) = 'object')
);

COMMENT ON TABLE gamification.levels IS
'Levels of a point system: level_number 1..n without gaps, level 1 at threshold 0, thresholds strictly increasing with the level (trg_levels_check_sequence, checked at commit). A user''s level is the highest level whose threshold <= lifetime_earned.';
COMMENT ON COLUMN gamification.levels.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.levels.id IS 'Level id (UUIDv7).';
COMMENT ON COLUMN gamification.levels.point_system_id IS 'The point system the level belongs to.';
COMMENT ON COLUMN gamification.levels.level_number IS 'Level 1..n, unique per system (deferred, so levels can be renumbered in one transaction).';
COMMENT ON COLUMN gamification.levels.name IS 'Display name (1-100 characters).';
COMMENT ON COLUMN gamification.levels.threshold IS 'Lifetime points needed for the level; 0 for level 1, strictly increasing.';
COMMENT ON COLUMN gamification.levels.rewards IS 'Open-ended description of what reaching the level unlocks (JSON object).';
COMMENT ON COLUMN gamification.levels.created_at IS 'When the level was created.';
COMMENT ON COLUMN gamification.levels.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION gamification.check_level_sequence()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row record := coalesce(NEW, OLD);
    v_bad record;
BEGIN
    SELECT l.level_number, l.threshold, l.rn, l.prev_threshold
      INTO v_bad
      FROM (SELECT x.level_number, x.threshold,
                   pg_catalog.row_number() OVER (ORDER BY x.level_number) AS rn,
                   pg_catalog.lag(x.threshold) OVER (ORDER BY x.level_number) AS prev_threshold
              FROM gamification.levels AS x
             WHERE x.organization_id = v_row.organization_id
               AND x.point_system_id = v_row.point_system_id) AS l
     WHERE l.level_number <> l.rn
        OR (l.level_number = 1 AND l.threshold <> 0)
        OR l.threshold <= l.prev_threshold
     ORDER BY l.level_number
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'levels of point system % are not 1..n with level 1 at 0 and increasing thresholds',
                        v_row.point_system_id
              USING ERRCODE = '23514',
                    CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('Level %s (threshold %s) breaks the sequence.',
                                               v_bad.level_number, v_bad.threshold);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.check_level_sequence() IS
'Deferred constraint trigger of gamification.levels: the levels of the row''s point system are numbered 1..n, level 1 has threshold 0 and thresholds strictly increase; 23514 with the trigger as constraint otherwise. Runs with the caller''s rights (it reads rows the writer can see).';
REVOKE ALL ON FUNCTION gamification.check_level_sequence() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER trg_levels_check_sequence
AFTER INSERT OR UPDATE OR DELETE ON gamification.levels
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION gamification.check_level_sequence();
COMMENT ON TRIGGER trg_levels_check_sequence ON gamification.levels IS
'At commit: levels of the system are 1..n, level 1 at threshold 0, thresholds strictly increasing (23514).';

-- ---------------------------------------------------------------------------
-- point_transactions: the append-only ledger
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.point_transactions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    point_system_id uuid NOT NULL,
    amount bigint NOT NULL,
    kind text NOT NULL,
    source_type text,
    source_id uuid,
    rule_id uuid,
    multiplier numeric(8, 3) NOT NULL DEFAULT 1,
    idempotency_key text NOT NULL,
    reason text,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    balance_after bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_point_transactions PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_point_transactions_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_point_transactions_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_point_transactions_rule_id FOREIGN KEY (organization_id, rule_id)
    REFERENCES gamification.point_rules (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT uq_point_transactions_organization_id_idempotency_key
    UNIQUE (organization_id, idempotency_key),
    CONSTRAINT ck_point_transactions_kind
    CHECK (kind IN ('award', 'bonus', 'spend', 'refund', 'expire', 'adjust')),
    CONSTRAINT ck_point_transactions_amount
    CHECK (
        amount <> 0
        AND (kind NOT IN ('award', 'bonus', 'refund') OR amount > 0)
        AND (kind NOT IN ('spend', 'expire') OR amount < 0)
    ),
    CONSTRAINT ck_point_transactions_source_type_length
    CHECK (char_length(source_type) BETWEEN 1 AND 50),
    CONSTRAINT ck_point_transactions_multiplier CHECK (multiplier > 0),
    CONSTRAINT ck_point_transactions_idempotency_key_length
    CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    CONSTRAINT ck_point_transactions_reason_length CHECK (char_length(reason) BETWEEN 1 AND 500),
    CONSTRAINT ck_point_transactions_adjust_reason CHECK (kind <> 'adjust' OR reason IS NOT NULL),
    CONSTRAINT ck_point_transactions_balance_after CHECK (balance_after >= 0)
);
CREATE INDEX idx_point_transactions_organization_id_user_id_occurred_at
ON gamification.point_transactions (organization_id, user_id, occurred_at);
CREATE INDEX idx_point_transactions_organization_id_point_system_id
ON gamification.point_transactions (organization_id, point_system_id);
CREATE INDEX idx_point_transactions_organization_id_rule_id
ON gamification.point_transactions (organization_id, rule_id) WHERE rule_id IS NOT NULL;

COMMENT ON TABLE gamification.point_transactions IS
'Append-only ledger of every change of points (award, bonus, spend, refund, expire, adjust); user_points is derived from it in the same transaction. Exactly once: the idempotency key is unique per organization, a replay returns the first row. Written only by the gamification functions (the app reads own rows, gamification.manage holders all). UPDATE/DELETE/TRUNCATE raise EL001. Not audited: it is itself the audit of points.';
COMMENT ON INDEX gamification.idx_point_transactions_organization_id_user_id_occurred_at IS
'A user''s ledger by time (history, daily caps, cooldowns).';
COMMENT ON COLUMN gamification.point_transactions.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.point_transactions.id IS 'Transaction id (UUIDv7).';
COMMENT ON COLUMN gamification.point_transactions.user_id IS 'The user whose points change.';
COMMENT ON COLUMN gamification.point_transactions.point_system_id IS 'The point system.';
COMMENT ON COLUMN gamification.point_transactions.amount IS 'Signed change of available points: positive for award, bonus, refund; negative for spend, expire; either (non-zero) for adjust.';
COMMENT ON COLUMN gamification.point_transactions.kind IS 'award, bonus, spend, refund, expire or adjust.';
COMMENT ON COLUMN gamification.point_transactions.source_type IS 'What caused it (e.g. lesson_progress, enrollment, manual); NULL for spends and adjustments without source.';
COMMENT ON COLUMN gamification.point_transactions.source_id IS 'Id of the source row, if any.';
COMMENT ON COLUMN gamification.point_transactions.rule_id IS 'The point rule applied (awards), else NULL.';
COMMENT ON COLUMN gamification.point_transactions.multiplier IS 'Multiplier applied to the rule''s points (1 when none).';
COMMENT ON COLUMN gamification.point_transactions.idempotency_key IS 'Caller''s key, unique per organization (1-200 characters): the same key never changes points twice.';
COMMENT ON COLUMN gamification.point_transactions.reason IS 'Why (required for adjust; 1-500 characters).';
COMMENT ON COLUMN gamification.point_transactions.occurred_at IS 'When the change happened (the transaction time of the function call).';
COMMENT ON COLUMN gamification.point_transactions.balance_after IS 'user_points.available after this row (never negative).';
COMMENT ON COLUMN gamification.point_transactions.created_at IS 'When the row was written.';

CREATE TRIGGER trg_point_transactions_append_only_statement
BEFORE UPDATE OR DELETE OR TRUNCATE ON gamification.point_transactions
FOR EACH STATEMENT EXECUTE FUNCTION app.prevent_modification();
COMMENT ON TRIGGER trg_point_transactions_append_only_statement
ON gamification.point_transactions IS
'Append-only: every UPDATE, DELETE and TRUNCATE statement raises EL001.';
CREATE TRIGGER trg_point_transactions_append_only_row
BEFORE UPDATE OR DELETE ON gamification.point_transactions
FOR EACH ROW EXECUTE FUNCTION app.prevent_modification();
COMMENT ON TRIGGER trg_point_transactions_append_only_row
ON gamification.point_transactions IS
'Append-only: every updated or deleted row raises EL001.';

-- ---------------------------------------------------------------------------
-- user_points: derived balances, one row per user and point system
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.user_points (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    point_system_id uuid NOT NULL,
    available bigint NOT NULL DEFAULT 0,
    spent bigint NOT NULL DEFAULT 0,
    lifetime_earned bigint NOT NULL DEFAULT 0,
    -- squawk-ignore prefer-bigint-over-int
    level integer NOT NULL DEFAULT 0,
    -- squawk-ignore prefer-bigint-over-int
    current_streak integer NOT NULL DEFAULT 0,
    -- squawk-ignore prefer-bigint-over-int
    longest_streak integer NOT NULL DEFAULT 0,
    last_activity_local_date date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_user_points PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_user_points_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_user_points_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_user_points_organization_id_user_id_point_system_id
    UNIQUE (organization_id, user_id, point_system_id),
    CONSTRAINT ck_user_points_available CHECK (available >= 0),
    CONSTRAINT ck_user_points_spent CHECK (spent >= 0),
    CONSTRAINT ck_user_points_lifetime_earned CHECK (lifetime_earned >= 0),
    CONSTRAINT ck_user_points_level CHECK (level >= 0),
    CONSTRAINT ck_user_points_streaks
    CHECK (current_streak >= 0 AND longest_streak >= current_streak)
);
CREATE INDEX idx_user_points_organization_id_point_system_id
ON gamification.user_points (organization_id, point_system_id);

COMMENT ON TABLE gamification.user_points IS
'Balances of a user in a point system, derived from the ledger and kept in step in the same transaction by the gamification functions (the app only reads: own row, or all with gamification.manage). The row is also the lock that serialises a user''s point changes.';
COMMENT ON COLUMN gamification.user_points.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.user_points.id IS 'Row id (UUIDv7).';
COMMENT ON COLUMN gamification.user_points.user_id IS 'The user.';
COMMENT ON COLUMN gamification.user_points.point_system_id IS 'The point system.';
COMMENT ON COLUMN gamification.user_points.available IS 'Spendable points = sum of the user''s ledger amounts in the system; never negative.';
COMMENT ON COLUMN gamification.user_points.spent IS 'Points spent = minus the sum of spend amounts (refunds do not lower it).';
COMMENT ON COLUMN gamification.user_points.lifetime_earned IS 'Sum of award and bonus amounts plus positive adjust amounts; never decreases.';
COMMENT ON COLUMN gamification.user_points.level IS 'Highest level_number whose threshold <= lifetime_earned (0 without levels); never lowered.';
COMMENT ON COLUMN gamification.user_points.current_streak IS 'Consecutive local days (users.timezone) with an award, up to last_activity_local_date.';
COMMENT ON COLUMN gamification.user_points.longest_streak IS 'Longest streak ever reached.';
COMMENT ON COLUMN gamification.user_points.last_activity_local_date IS 'Local date (users.timezone at the time) of the last award.';
COMMENT ON COLUMN gamification.user_points.created_at IS 'When the row was created.';
COMMENT ON COLUMN gamification.user_points.updated_at IS 'Last change (app.set_updated_at()).';

ALTER TABLE gamification.point_systems ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.point_systems FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.point_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.point_rules FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.levels ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.levels FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.point_transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.point_transactions FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.user_points ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.user_points FORCE ROW LEVEL SECURITY;
