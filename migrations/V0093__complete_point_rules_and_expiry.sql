-- =============================================================================
-- V0093__complete_point_rules_and_expiry
-- Purpose:       the rules engine of DESIGN section 5 completed (issue 5):
--                rule conditions on the event context, per-period caps (local
--                day/week/month), time-boxed multipliers per event type and
--                course (point_boosts), and the expiry of unspent points
--                (point_expiry_policies, expire_points()).
-- Concern:       gamification rules engine: rule vocabulary, multipliers, caps
--                and expiry (the range V0090-V0093 of this part leaves one file
--                for them; they share apply_award()).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Selection:     apply_award() takes the first rule (created_at, id) of the
--                event type and point system that is active, valid at the event
--                time, whose conditions hold for the event context and whose
--                limits allow one more award: first_time_only (per source),
--                cooldown (no award of the rule closer than it, before or after),
--                max_per_day (local day) and max_per_period per cap_period (local
--                day, ISO week from Monday, calendar month; users.timezone).
-- Multipliers:   effective = point_systems.multipliers[event type] (default 1)
--                times the multiplier of every active boost of the system valid
--                at the event time (starts_at <= t < ends_at) whose event_type
--                (NULL = any) and course_id (NULL = any) match; the product is
--                rounded half away from zero to 3 decimals (the ledger's
--                multiplier column) and kept in [0.001, 100]. Amount =
--                round(points x effective) (half away from zero), then clipped to
--                the system's daily cap of the local day; 0 awards nothing.
-- Expiry:        FIFO: spending and expiring consume the oldest points first.
--                For a cutoff C, expirable = max(0, sum of positive amounts dated
--                before C + sum of all negative amounts), never more than
--                available; posted as one 'expire' row per user, system and
--                cutoff (idempotency key), so a replay changes nothing.
-- Grants:        the new point_rules columns need the app's INSERT/UPDATE
--                column privileges in sql/manifest.d/gamification.yaml (not this
--                part's file): see /work/notes/rules.md.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Rule conditions: the vocabulary, checked by an IMMUTABLE validator.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.is_valid_rule_conditions(p_conditions jsonb)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key text;
    v_value jsonb;
BEGIN
    IF p_conditions IS NULL OR pg_catalog.jsonb_typeof(p_conditions) <> 'object' THEN
        RETURN false;
    END IF;
    FOR v_key, v_value IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(p_conditions) AS e LOOP
        CASE v_key
            WHEN 'course_ids' THEN
                IF pg_catalog.jsonb_typeof(v_value) <> 'array'
                   OR pg_catalog.jsonb_array_length(v_value) NOT BETWEEN 1 AND 100
                   OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(v_value) AS a (v)
                               WHERE pg_catalog.jsonb_typeof(a.v) <> 'string'
                                  OR (a.v OPERATOR(pg_catalog.#>>) '{}')
                                     !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') THEN
                    RETURN false;
                END IF;
            WHEN 'source_types' THEN
                IF pg_catalog.jsonb_typeof(v_value) <> 'array'
                   OR pg_catalog.jsonb_array_length(v_value) NOT BETWEEN 1 AND 20
                   OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(v_value) AS a (v)
                               WHERE pg_catalog.jsonb_typeof(a.v) <> 'string'
                                  OR pg_catalog.char_length(a.v OPERATOR(pg_catalog.#>>) '{}') NOT BETWEEN 1 AND 50) THEN
                    RETURN false;
                END IF;
            WHEN 'min_score' THEN
                IF pg_catalog.jsonb_typeof(v_value) <> 'number'
                   OR (v_value OPERATOR(pg_catalog.#>>) '{}')::numeric NOT BETWEEN 0 AND 100 THEN
                    RETURN false;
                END IF;
            ELSE
                RETURN false;
        END CASE;
    END LOOP;
    RETURN true;
END
$$;
COMMENT ON FUNCTION gamification.is_valid_rule_conditions(jsonb) IS
'Shape of point_rules.conditions (ck_point_rules_conditions): a JSON object with only these optional keys: course_ids (1-100 lower-case UUID strings), source_types (1-20 strings of 1-50 characters), min_score (a number 0-100). {} = no condition.';
REVOKE ALL ON FUNCTION gamification.is_valid_rule_conditions(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.is_valid_rule_conditions(jsonb) TO ${app_role};

CREATE FUNCTION gamification.rule_conditions_match(
    p_conditions jsonb,
    p_source_type text,
    p_context jsonb
)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT (NOT (p_conditions OPERATOR(pg_catalog.?) 'course_ids')
            OR coalesce((p_conditions OPERATOR(pg_catalog.->) 'course_ids')
                        OPERATOR(pg_catalog.?) (p_context OPERATOR(pg_catalog.->>) 'course_id'), false))
       AND (NOT (p_conditions OPERATOR(pg_catalog.?) 'source_types')
            OR coalesce((p_conditions OPERATOR(pg_catalog.->) 'source_types')
                        OPERATOR(pg_catalog.?) p_source_type, false))
       AND (NOT (p_conditions OPERATOR(pg_catalog.?) 'min_score')
            OR coalesce(pg_catalog.jsonb_typeof(p_context OPERATOR(pg_catalog.->) 'score') = 'number'
                        AND (p_context OPERATOR(pg_catalog.->>) 'score')::numeric
                            >= (p_conditions OPERATOR(pg_catalog.->>) 'min_score')::numeric, false))
$$;
COMMENT ON FUNCTION gamification.rule_conditions_match(jsonb, text, jsonb) IS
'Whether rule conditions hold for an event: course_ids contains the context''s course_id, source_types contains the award''s source type, the context''s score (a JSON number) >= min_score. A condition whose context value is missing does not hold; {} always holds.';
REVOKE ALL ON FUNCTION gamification.rule_conditions_match(jsonb, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.rule_conditions_match(jsonb, text, jsonb) TO ${app_role};

-- point_rules is configuration (a few rows per organization); new columns are
-- NULL or '{}', so the checks hold for every existing row.
ALTER TABLE gamification.point_rules
ADD COLUMN conditions jsonb NOT NULL DEFAULT '{}'::jsonb
CONSTRAINT ck_point_rules_conditions CHECK (gamification.is_valid_rule_conditions(conditions)),
-- squawk-ignore prefer-bigint-over-int
ADD COLUMN max_per_period integer
CONSTRAINT ck_point_rules_max_per_period
CHECK ((max_per_period IS NULL) = (cap_period IS NULL) AND (max_per_period IS NULL OR max_per_period > 0)),
ADD COLUMN cap_period text
CONSTRAINT ck_point_rules_cap_period CHECK (cap_period IN ('day', 'week', 'month'));

COMMENT ON COLUMN gamification.point_rules.conditions IS
'When the rule applies, checked against the award''s event context (award_points() p_context, the event payload for the outbox): {"course_ids": [...], "source_types": [...], "min_score": n}, each optional ({} = always); shape checked by ck_point_rules_conditions (is_valid_rule_conditions()).';
COMMENT ON COLUMN gamification.point_rules.max_per_period IS
'Most awards of this rule per user and cap_period (local time, users.timezone); NULL = no limit (set together with cap_period, ck_point_rules_max_per_period).';
COMMENT ON COLUMN gamification.point_rules.cap_period IS
'Period of max_per_period: day (local calendar day), week (ISO week, Monday to Sunday, local) or month (local calendar month).';
COMMENT ON COLUMN gamification.point_rules.first_time_only IS
'At most one award of this rule per user and source (source_type, source_id): first-time-only; otherwise repeatable within cooldown, max_per_day and max_per_period.';
COMMENT ON COLUMN gamification.point_rules.cooldown IS
'Minimum time between two awards of this rule to the same user, by event time (a back-dated award also needs the distance to later awards); NULL = none.';
COMMENT ON COLUMN gamification.point_rules.points IS
'Base points (1-1000000), times the effective multiplier (system multiplier of the event type times matching point_boosts).';
COMMENT ON TABLE gamification.point_rules IS
'How many points an event type earns in a point system, with conditions and limits. apply_award() applies the first active rule (oldest first) valid at the event time whose conditions hold and whose limits (first_time_only, cooldown, max_per_day, max_per_period) allow it.';

-- ---------------------------------------------------------------------------
-- point_boosts: multipliers per event type and course, time-boxed.
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.point_boosts (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    point_system_id uuid NOT NULL,
    name text NOT NULL,
    event_type text,
    course_id uuid,
    multiplier numeric(6, 3) NOT NULL,
    starts_at timestamptz NOT NULL DEFAULT now(),
    ends_at timestamptz,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_point_boosts PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_point_boosts_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_point_boosts_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_point_boosts_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_point_boosts_event_type
    CHECK (
        event_type IN (
            'lesson_completed', 'course_completed', 'assessment_passed', 'streak_day',
            'forum_post', 'manual'
        )
    ),
    CONSTRAINT ck_point_boosts_multiplier CHECK (multiplier > 0 AND multiplier <= 100),
    CONSTRAINT ck_point_boosts_period CHECK (ends_at > starts_at)
);
CREATE INDEX idx_point_boosts_organization_id_point_system_id_starts_at
ON gamification.point_boosts (organization_id, point_system_id, starts_at);
CREATE INDEX idx_point_boosts_organization_id_course_id
ON gamification.point_boosts (organization_id, course_id) WHERE course_id IS NOT NULL;

COMMENT ON TABLE gamification.point_boosts IS
'Multipliers of a point system for an event type and/or a course, from starts_at until ends_at (NULL = open-ended): a per-course multiplier is an open-ended boost with a course, a double-XP weekend a boost with an end. Every active boost valid at the event time that matches multiplies the award (see apply_award()). Read by every member, managed with gamification.manage.';
COMMENT ON INDEX gamification.idx_point_boosts_organization_id_point_system_id_starts_at IS
'Boosts of a system by start (the award lookup); also the index of fk_point_boosts_point_system_id.';
COMMENT ON INDEX gamification.idx_point_boosts_organization_id_course_id IS
'Index of fk_point_boosts_course_id (course deletes).';
COMMENT ON COLUMN gamification.point_boosts.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.point_boosts.id IS 'Boost id (UUIDv7).';
COMMENT ON COLUMN gamification.point_boosts.point_system_id IS 'The point system whose awards it multiplies.';
COMMENT ON COLUMN gamification.point_boosts.name IS 'Display name, e.g. Double XP weekend (1-100 characters).';
COMMENT ON COLUMN gamification.point_boosts.event_type IS 'Event type it applies to (the point_rules set); NULL = every event type.';
COMMENT ON COLUMN gamification.point_boosts.course_id IS 'Course it applies to (the award context''s course_id); NULL = every course and awards without a course.';
COMMENT ON COLUMN gamification.point_boosts.multiplier IS 'Factor in (0, 100], 3 decimals; multiplied with the system multiplier and other matching boosts.';
COMMENT ON COLUMN gamification.point_boosts.starts_at IS 'Applies to events at or after this time.';
COMMENT ON COLUMN gamification.point_boosts.ends_at IS 'Applies to events before this time; NULL = open-ended.';
COMMENT ON COLUMN gamification.point_boosts.active IS 'Inactive boosts multiply nothing.';
COMMENT ON COLUMN gamification.point_boosts.created_at IS 'When the boost was created.';
COMMENT ON COLUMN gamification.point_boosts.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- point_expiry_policies: one per point system.
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.point_expiry_policies (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    point_system_id uuid NOT NULL,
    expire_after interval NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_point_expiry_policies PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_point_expiry_policies_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_point_expiry_policies_organization_id_point_system_id
    UNIQUE (organization_id, point_system_id),
    CONSTRAINT ck_point_expiry_policies_expire_after
    CHECK (expire_after >= interval '1 day' AND expire_after <= interval '10 years')
);

COMMENT ON TABLE gamification.point_expiry_policies IS
'Expiry of unspent points, one policy per point system: expire_points() without a cutoff expires points earned before the start (UTC) of the day now() - expire_after, first in first out (see expire_points()). Read by every member, managed with gamification.manage.';
COMMENT ON COLUMN gamification.point_expiry_policies.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.point_expiry_policies.id IS 'Policy id (UUIDv7).';
COMMENT ON COLUMN gamification.point_expiry_policies.point_system_id IS 'The point system (one policy each, uq_point_expiry_policies_organization_id_point_system_id).';
COMMENT ON COLUMN gamification.point_expiry_policies.expire_after IS 'Age after which unspent points expire (1 day to 10 years).';
COMMENT ON COLUMN gamification.point_expiry_policies.active IS 'Inactive: expire_points() without a cutoff expires nothing.';
COMMENT ON COLUMN gamification.point_expiry_policies.created_at IS 'When the policy was created.';
COMMENT ON COLUMN gamification.point_expiry_policies.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- effective_multiplier(...): system multiplier times matching boosts.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.effective_multiplier(
    p_system gamification.point_systems,
    p_event_type text,
    p_course_id uuid,
    p_at timestamptz
)
RETURNS numeric
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_multiplier numeric := 1;
    v_boost numeric;
BEGIN
    IF p_system.multipliers OPERATOR(pg_catalog.?) p_event_type THEN
        v_multiplier := (p_system.multipliers OPERATOR(pg_catalog.->>) p_event_type)::numeric;
    END IF;
    FOR v_boost IN
        SELECT b.multiplier
          FROM gamification.point_boosts AS b
         WHERE b.organization_id = p_system.organization_id
           AND b.point_system_id = p_system.id
           AND b.starts_at <= p_at
           AND (b.ends_at IS NULL OR b.ends_at > p_at)
           AND b.active
           AND (b.event_type IS NULL OR b.event_type = p_event_type)
           AND (b.course_id IS NULL OR b.course_id = p_course_id)
    LOOP
        v_multiplier := v_multiplier * v_boost;
    END LOOP;
    RETURN LEAST(GREATEST(pg_catalog.round(v_multiplier, 3), 0.001), 100);
END
$$;
COMMENT ON FUNCTION gamification.effective_multiplier(gamification.point_systems, text, uuid, timestamptz) IS
'Internal: the multiplier of an award at p_at: the system''s multiplier of the event type (default 1) times every active point_boosts row of the system valid at p_at (starts_at <= p_at < ends_at) whose event_type and course_id are NULL or match; rounded half away from zero to 3 decimals, kept in [0.001, 100].';
REVOKE ALL ON FUNCTION gamification.effective_multiplier(gamification.point_systems, text, uuid, timestamptz) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- apply_award(...): conditions, period caps, boosts.
-- ---------------------------------------------------------------------------
-- Replaced below with a trailing DEFAULT parameter: existing calls keep resolving.
-- squawk-ignore ban-drop-function
DROP FUNCTION gamification.apply_award(uuid, text, text, uuid, text, uuid, timestamptz);
CREATE FUNCTION gamification.apply_award(
    p_user_id uuid,
    p_event_type text,
    p_source_type text,
    p_source_id uuid,
    p_idempotency_key text,
    p_point_system_id uuid DEFAULT NULL,
    p_occurred_at timestamptz DEFAULT NULL,
    p_context jsonb DEFAULT NULL
)
RETURNS gamification.point_transactions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_system gamification.point_systems;
    v_up gamification.user_points;
    v_tx gamification.point_transactions;
    v_rule gamification.point_rules;
    v_context jsonb := coalesce(p_context, '{}'::jsonb);
    v_course_id uuid;
    v_at timestamptz := pg_catalog.now();
    v_tz text;
    v_local timestamp;
    v_day_start timestamptz;
    v_day_end timestamptz;
    v_week_start timestamptz;
    v_week_end timestamptz;
    v_month_start timestamptz;
    v_month_end timestamptz;
    v_multiplier numeric;
    v_amount bigint;
    v_today bigint;
BEGIN
    IF p_idempotency_key IS NULL OR p_event_type IS NULL THEN
        RAISE EXCEPTION 'event type and idempotency key are required' USING ERRCODE = '22023';
    END IF;
    IF pg_catalog.starts_with(p_idempotency_key, 'expire:') THEN
        RAISE EXCEPTION 'idempotency keys starting with expire: are reserved'
              USING ERRCODE = '22023', HINT = 'expire_points() writes those keys.';
    END IF;
    IF pg_catalog.jsonb_typeof(v_context) <> 'object' THEN
        RAISE EXCEPTION 'the event context must be a JSON object' USING ERRCODE = '22023';
    END IF;
    IF v_context OPERATOR(pg_catalog.?) 'course_id' THEN
        BEGIN
            v_course_id := (v_context OPERATOR(pg_catalog.->>) 'course_id')::uuid;
        EXCEPTION WHEN invalid_text_representation THEN
            RAISE EXCEPTION 'context course_id is not a UUID' USING ERRCODE = '22023';
        END;
        -- Canonical form, so that course_ids conditions (lower-case UUIDs) compare as text.
        v_context := v_context OPERATOR(pg_catalog.||)
                     pg_catalog.jsonb_build_object('course_id', v_course_id::text);
    END IF;
    IF p_occurred_at IS NOT NULL THEN
        IF p_occurred_at > v_at + gamification.backdate_skew()
           OR p_occurred_at < v_at - gamification.backdate_window() THEN
            RAISE EXCEPTION 'award time % is out of range', p_occurred_at
                  USING ERRCODE = 'EL024',
                        DETAIL = pg_catalog.format('Allowed: %s to %s (now plus the skew).',
                                                   v_at - gamification.backdate_window(),
                                                   v_at + gamification.backdate_skew()),
                        HINT = 'Date an award at its event: at most gamification.backdate_window() in the past, never in the future.';
        END IF;
        v_at := LEAST(p_occurred_at, v_at);
    END IF;
    v_system := gamification.resolve_point_system(p_point_system_id);
    v_up := gamification.lock_user_points(p_user_id, v_system.id);
    SELECT t.* INTO v_tx FROM gamification.point_transactions AS t
     WHERE t.organization_id = v_up.organization_id AND t.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        RETURN v_tx;
    END IF;

    SELECT u.timezone INTO STRICT v_tz FROM user_management.users AS u
     WHERE u.organization_id = v_up.organization_id AND u.id = p_user_id;
    -- The user's local day, ISO week and month of the event, as timestamptz bounds [start, end).
    v_local := pg_catalog.timezone(v_tz, v_at);
    v_day_start := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('day', v_local));
    v_day_end := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('day', v_local) + interval '1 day');
    v_week_start := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('week', v_local));
    v_week_end := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('week', v_local) + interval '1 week');
    v_month_start := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('month', v_local));
    v_month_end := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('month', v_local) + interval '1 month');

    SELECT r.* INTO v_rule
      FROM gamification.point_rules AS r
     WHERE r.organization_id = v_up.organization_id
       AND r.point_system_id = v_system.id
       AND r.event_type = p_event_type
       AND r.active
       AND (r.valid_from IS NULL OR r.valid_from <= v_at)
       AND (r.valid_until IS NULL OR r.valid_until > v_at)
       AND gamification.rule_conditions_match(r.conditions, p_source_type, v_context)
       AND (NOT r.first_time_only OR NOT EXISTS (
               SELECT 1 FROM gamification.point_transactions AS t
                WHERE t.organization_id = r.organization_id AND t.user_id = p_user_id
                  AND t.point_system_id = v_system.id AND t.rule_id = r.id
                  AND t.source_type IS NOT DISTINCT FROM p_source_type
                  AND t.source_id IS NOT DISTINCT FROM p_source_id))
       AND (r.cooldown IS NULL OR NOT EXISTS (
               SELECT 1 FROM gamification.point_transactions AS t
                WHERE t.organization_id = r.organization_id AND t.user_id = p_user_id
                  AND t.point_system_id = v_system.id AND t.rule_id = r.id
                  AND t.occurred_at > v_at - r.cooldown
                  AND t.occurred_at < v_at + r.cooldown))
       AND (r.max_per_day IS NULL OR (
               SELECT count(*) FROM gamification.point_transactions AS t
                WHERE t.organization_id = r.organization_id AND t.user_id = p_user_id
                  AND t.point_system_id = v_system.id AND t.rule_id = r.id
                  AND t.occurred_at >= v_day_start AND t.occurred_at < v_day_end) < r.max_per_day)
       AND (r.max_per_period IS NULL OR (
               SELECT count(*) FROM gamification.point_transactions AS t
                WHERE t.organization_id = r.organization_id AND t.user_id = p_user_id
                  AND t.point_system_id = v_system.id AND t.rule_id = r.id
                  AND t.occurred_at >= CASE r.cap_period WHEN 'day' THEN v_day_start
                                                         WHEN 'week' THEN v_week_start
                                                         ELSE v_month_start END
                  AND t.occurred_at < CASE r.cap_period WHEN 'day' THEN v_day_end
                                                        WHEN 'week' THEN v_week_end
                                                        ELSE v_month_end END) < r.max_per_period)
     ORDER BY r.created_at, r.id
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    v_multiplier := gamification.effective_multiplier(v_system, p_event_type, v_course_id, v_at);
    v_amount := pg_catalog.round(v_rule.points * v_multiplier)::bigint;
    IF v_system.daily_cap IS NOT NULL THEN
        SELECT coalesce(sum(t.amount), 0) INTO v_today
          FROM gamification.point_transactions AS t
         WHERE t.organization_id = v_up.organization_id AND t.user_id = p_user_id
           AND t.point_system_id = v_system.id AND t.kind IN ('award', 'bonus')
           AND t.occurred_at >= v_day_start AND t.occurred_at < v_day_end;
        v_amount := LEAST(v_amount, v_system.daily_cap - v_today);
    END IF;
    IF v_amount <= 0 THEN
        RETURN NULL;
    END IF;
    RETURN gamification.post_transaction(v_up, 'award', v_amount, p_source_type, p_source_id, v_rule.id,
                                         v_multiplier, p_idempotency_key, NULL, v_at);
END
$$;
COMMENT ON FUNCTION gamification.apply_award(uuid, text, text, uuid, text, uuid, timestamptz, jsonb) IS
'Internal (no permission check): award_points() without the caller check, also used by consume_learning_events(). p_occurred_at (NULL = now) dates the award (EL024 beyond backdate_skew() ahead or backdate_window() back); p_context (a JSON object, 22023 otherwise; course_id must be a UUID) is the event context for rule conditions and course boosts. Locks the user_points row, returns the existing ledger row for a known key, else applies the first active rule (oldest first) valid at the event time whose conditions hold and whose first_time_only (per source), cooldown (both directions), max_per_day and max_per_period (local day/ISO week/month of users.timezone) allow it, times effective_multiplier() (rounded to 3 decimals), rounded half away from zero, clipped to the daily cap of that local day; NULL when nothing is awarded (no ledger row). Keys starting with expire: are reserved (22023).';
REVOKE ALL ON FUNCTION gamification.apply_award(uuid, text, text, uuid, text, uuid, timestamptz, jsonb) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- award_points(...): with the event context.
-- ---------------------------------------------------------------------------
-- Replaced below with a trailing DEFAULT parameter: existing calls keep resolving.
-- squawk-ignore ban-drop-function
DROP FUNCTION gamification.award_points(uuid, text, text, uuid, text, uuid, timestamptz);
CREATE FUNCTION gamification.award_points(
    p_user_id uuid,
    p_event_type text,
    p_source_type text,
    p_source_id uuid,
    p_idempotency_key text,
    p_point_system_id uuid DEFAULT NULL,
    p_occurred_at timestamptz DEFAULT NULL,
    p_context jsonb DEFAULT NULL
)
RETURNS gamification.point_transactions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    PERFORM user_management.require_permission('gamification.award');
    RETURN gamification.apply_award(p_user_id, p_event_type, p_source_type, p_source_id,
                                    p_idempotency_key, p_point_system_id, p_occurred_at, p_context);
END
$$;
COMMENT ON FUNCTION gamification.award_points(uuid, text, text, uuid, text, uuid, timestamptz, jsonb) IS
'Awards points to p_user_id for an event by the matching rule (see apply_award()), exactly once per idempotency key: a replay returns the first ledger row and changes nothing. p_occurred_at (NULL = now) is when the event happened: the ledger row, rule validity, cooldowns, per-day/period limits, boosts, the daily cap and the streak use it (EL024 more than backdate_skew() ahead or backdate_window() back). p_context: the event context, e.g. {"course_id": "...", "score": 87}, for rule conditions and course boosts. Returns the ledger row, or NULL when no rule awards anything (then nothing is recorded and a later call with the key may award). Updates user_points (available, lifetime, level, streak by local date) in the same transaction. Needs gamification.award (42501); P0002 without an active (default) system or for an unknown user.';
REVOKE ALL ON FUNCTION gamification.award_points(
    uuid, text, text, uuid, text, uuid, timestamptz, jsonb
) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.award_points(
    uuid, text, text, uuid, text, uuid, timestamptz, jsonb
) TO ${app_role};

-- ---------------------------------------------------------------------------
-- consume_learning_events(limit): the payload is the event context.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION gamification.consume_learning_events(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := user_management.require_organization();
    v_event record;
    v_has_default boolean;
    v_count integer := 0;
    v_context jsonb;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'p_limit must be 1..10000' USING ERRCODE = '22023';
    END IF;
    v_has_default := EXISTS (SELECT 1 FROM gamification.point_systems AS s
                              WHERE s.organization_id = v_org AND s.is_default AND s.active);
    IF NOT v_has_default THEN
        RETURN 0;
    END IF;
    -- Claim a batch (oldest first, skipping events other workers hold), then apply it user by user:
    -- user_points rows are locked in user_id order, so two workers never wait for each other in a cycle.
    FOR v_event IN
        WITH batch AS (
            SELECT e.id, e.user_id, e.event_type, e.source_type, e.source_id, e.idempotency_key,
                   e.occurred_at, e.payload
              FROM course_management.learning_events AS e
             WHERE e.organization_id = v_org
               AND e.consumed_at IS NULL
               AND e.event_type IN ('lesson_completed', 'course_completed', 'assessment_passed')
             ORDER BY e.occurred_at, e.id
             LIMIT p_limit
               FOR UPDATE SKIP LOCKED
        )
        SELECT b.* FROM batch AS b ORDER BY b.user_id, b.occurred_at, b.id
    LOOP
        IF EXISTS (SELECT 1 FROM user_management.users AS u
                    WHERE u.organization_id = v_org AND u.id = v_event.user_id AND u.deleted_at IS NULL) THEN
            -- The payload is the context; a course_id that is no UUID is left out (no subtransaction
            -- per event: apply_award() would refuse it with 22023).
            v_context := v_event.payload;
            IF (v_context OPERATOR(pg_catalog.->>) 'course_id')
               !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
                v_context := v_context OPERATOR(pg_catalog.-) 'course_id';
            END IF;
            PERFORM gamification.apply_award(
                v_event.user_id, v_event.event_type, v_event.source_type, v_event.source_id,
                'learning_event:' || v_event.idempotency_key, NULL,
                LEAST(GREATEST(v_event.occurred_at, pg_catalog.now() - gamification.backdate_window()),
                      pg_catalog.now()),
                v_context);
        END IF;
        UPDATE course_management.learning_events AS e
           SET consumed_at = GREATEST(pg_catalog.now(), e.created_at)
         WHERE e.organization_id = v_org AND e.id = v_event.id;
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION gamification.consume_learning_events(integer) IS
'Outbox consumer: for up to p_limit unconsumed lesson_completed, course_completed and assessment_passed events of the acting organization (oldest first, SKIP LOCKED so workers run side by side; applied in user_id order, the fixed lock order), awards points in the default system by the rule of the event type, dated at the event''s occurred_at (at most backdate_window() back), with the event payload (course_id, score) as context, a course_id that is no UUID left out (apply_award(), key ''learning_event:'' || the event''s key, so each event awards at most once) and sets consumed_at in the same transaction. Returns the number of events consumed; 0 without an active default system (events wait). Needs only an organization context (42501): it applies facts that already happened, so any member''s session or a worker may run it.';

-- ---------------------------------------------------------------------------
-- expire_points(...)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.expirable_points(
    p_organization_id uuid,
    p_user_id uuid,
    p_point_system_id uuid,
    p_cutoff timestamptz
)
RETURNS bigint
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
    SELECT GREATEST(0, coalesce(sum(t.amount) FILTER (WHERE t.amount > 0 AND t.occurred_at < p_cutoff), 0)
                       + coalesce(sum(t.amount) FILTER (WHERE t.amount < 0), 0))::bigint
      FROM gamification.point_transactions AS t
     WHERE t.organization_id = p_organization_id
       AND t.user_id = p_user_id
       AND t.point_system_id = p_point_system_id
$$;
COMMENT ON FUNCTION gamification.expirable_points(uuid, uuid, uuid, timestamptz) IS
'Internal: points of a user in a system that expire at cutoff p_cutoff under first-in-first-out: max(0, sum of positive amounts (award, bonus, refund, positive adjust) dated before p_cutoff + sum of every negative amount (spend, expire, negative adjust), whenever dated). Spends and earlier expiries consume the oldest points first; never more than available (available = all positive + all negative amounts).';
REVOKE ALL ON FUNCTION gamification.expirable_points(uuid, uuid, uuid, timestamptz) FROM PUBLIC;

CREATE FUNCTION gamification.expire_points(
    p_point_system_id uuid DEFAULT NULL,
    p_cutoff timestamptz DEFAULT NULL,
    p_limit integer DEFAULT 1000,
    p_after_user_id uuid DEFAULT NULL
)
RETURNS TABLE (users_checked integer, users_expired integer, points_expired bigint, next_user_id uuid)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_system gamification.point_systems;
    v_policy gamification.point_expiry_policies;
    v_cutoff timestamptz := p_cutoff;
    v_user uuid;
    v_up gamification.user_points;
    v_key text;
    v_amount bigint;
    v_last uuid;
BEGIN
    PERFORM user_management.require_permission('gamification.manage');
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'p_limit must be 1..10000' USING ERRCODE = '22023';
    END IF;
    IF p_cutoff > pg_catalog.now() THEN
        RAISE EXCEPTION 'the cutoff % is in the future', p_cutoff
              USING ERRCODE = '22023', HINT = 'Only points earned before a past time can expire.';
    END IF;
    v_system := gamification.resolve_point_system(p_point_system_id);
    users_checked := 0;
    users_expired := 0;
    points_expired := 0;
    IF v_cutoff IS NULL THEN
        SELECT p.* INTO v_policy FROM gamification.point_expiry_policies AS p
         WHERE p.organization_id = v_system.organization_id AND p.point_system_id = v_system.id AND p.active;
        IF NOT FOUND THEN
            RETURN NEXT;  -- no active policy: nothing expires
            RETURN;
        END IF;
        v_cutoff := pg_catalog.timezone('UTC', pg_catalog.date_trunc('day',
                        pg_catalog.timezone('UTC', pg_catalog.now() - v_policy.expire_after)));
    END IF;
    -- Users in user_id order (the fixed lock order), one user_points lock at a time.
    FOR v_user IN
        SELECT up.user_id
          FROM gamification.user_points AS up
          JOIN user_management.users AS u ON u.organization_id = up.organization_id AND u.id = up.user_id
         WHERE up.organization_id = v_system.organization_id
           AND up.point_system_id = v_system.id
           AND up.available > 0
           AND u.deleted_at IS NULL
           AND (p_after_user_id IS NULL OR up.user_id > p_after_user_id)
         ORDER BY up.user_id
         LIMIT p_limit
    LOOP
        users_checked := users_checked + 1;
        v_last := v_user;
        v_up := gamification.lock_user_points(v_user, v_system.id);
        v_key := pg_catalog.format('expire:%s:%s:%s', v_system.id, v_user,
                                   pg_catalog.to_char(pg_catalog.timezone('UTC', v_cutoff),
                                                      'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
        CONTINUE WHEN EXISTS (SELECT 1 FROM gamification.point_transactions AS t
                               WHERE t.organization_id = v_up.organization_id AND t.idempotency_key = v_key);
        v_amount := LEAST(gamification.expirable_points(v_up.organization_id, v_user, v_system.id, v_cutoff),
                          v_up.available);
        CONTINUE WHEN v_amount <= 0;
        PERFORM gamification.post_transaction(
            v_up, 'expire', -v_amount, 'point_expiry', NULL, NULL, 1, v_key,
            pg_catalog.format('Points earned before %s expired.', v_cutoff));
        users_expired := users_expired + 1;
        points_expired := points_expired + v_amount;
    END LOOP;
    next_user_id := CASE WHEN users_checked = p_limit THEN v_last END;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION gamification.expire_points(uuid, timestamptz, integer, uuid) IS
'Expires unspent points of the acting organization in point system p_point_system_id (NULL = the default system) earned before p_cutoff (NULL = the start, UTC, of the day now() - the system''s active point_expiry_policies.expire_after; no active policy = nothing), first in first out (expirable_points()), never below 0 available. One ledger row of kind expire per user, system and cutoff (idempotency key expire:<system>:<user>:<cutoff UTC>): a second run with the same cutoff changes nothing; a later cutoff expires only what became expirable since. Works through up to p_limit users with available > 0 (live users, user_id order after p_after_user_id, the fixed lock order) and returns users_checked, users_expired, points_expired and next_user_id (the last user when the batch was full: call again with it, else NULL). Needs gamification.manage (42501): staff or a worker''s service account; 22023 for a future cutoff or a p_limit outside 1..10000.';
REVOKE ALL ON FUNCTION gamification.expire_points(uuid, timestamptz, integer, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.expire_points(uuid, timestamptz, integer, uuid) TO ${app_role};

ALTER TABLE gamification.point_boosts ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.point_boosts FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.point_expiry_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.point_expiry_policies FORCE ROW LEVEL SECURITY;
