-- =============================================================================
-- V0139__award_base_points
-- Purpose:       award_points() / consume_learning_events() use the point
--                system's base points for a rule whose points are NULL (V0138).
-- Concern:       gamification award function: the points of a rule.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Change:        apply_award() is V0137's body with three edits marked V0139:
--                the locking statement also reads point_systems.base_points and
--                returns coalesce(rule points, base points); the complete rule
--                query (rules with limits) does the same. No new statement, no
--                new lock; signatures, grants, errors and their order unchanged.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION gamification.apply_award(
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
    v_org uuid := app.current_organization_id();
    v_system gamification.point_systems;
    v_system_id uuid;
    v_multipliers jsonb;
    v_daily_cap bigint;
    v_up gamification.user_points;
    v_created boolean := false;
    v_tx gamification.point_transactions;
    v_tx_id uuid;
    v_rule_id uuid;
    v_points bigint;
    v_base_points bigint;  -- V0139: the system's base points (a rule's NULL points)
    v_rule_limited boolean;
    v_boosts numeric[];
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
    v_multiplier numeric := 1;
    v_boost numeric;
    v_amount bigint;
    v_today bigint;
    v_lifetime bigint;
    v_local_date date;
    v_streak integer;
    v_longest integer;  -- V0137: NULL unless the streak was recomputed (out of order)
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

    -- One statement locks the user_points row (the first lock of every change) and reads the
    -- system, the learner's time zone, a replayed key, the first rule before limits and the boosts.
    -- Found nothing: the checks of resolve_point_system() and lock_user_points() one by one (their
    -- errors), the missing row is created, and the statement runs again.
    LOOP
        SELECT s.id, s.multipliers, s.daily_cap, s.base_points, u.timezone,
               up.id, up.available, up.lifetime_earned, up.current_streak, up.last_activity_local_date,
               (SELECT t.id FROM gamification.point_transactions AS t
                 WHERE t.organization_id = s.organization_id AND t.idempotency_key = p_idempotency_key),
               c.id, coalesce(c.points, s.base_points), c.limited,  -- V0139: NULL points = base points
               (SELECT pg_catalog.array_agg(b.multiplier)
                  FROM gamification.point_boosts AS b
                 WHERE b.organization_id = s.organization_id
                   AND b.point_system_id = s.id
                   AND b.starts_at <= v_at
                   AND (b.ends_at IS NULL OR b.ends_at > v_at)
                   AND b.active
                   AND (b.event_type IS NULL OR b.event_type = p_event_type)
                   AND (b.course_id IS NULL OR b.course_id = v_course_id))
          INTO v_system_id, v_multipliers, v_daily_cap, v_base_points, v_tz,
               v_up.id, v_up.available, v_up.lifetime_earned, v_up.current_streak,
               v_up.last_activity_local_date, v_tx_id, v_rule_id, v_points, v_rule_limited, v_boosts
          FROM gamification.point_systems AS s
          JOIN user_management.users AS u
            ON u.organization_id = s.organization_id AND u.id = p_user_id AND u.deleted_at IS NULL
          JOIN gamification.user_points AS up
            ON up.organization_id = s.organization_id AND up.user_id = u.id AND up.point_system_id = s.id
          LEFT JOIN LATERAL (
              SELECT r.id, r.points,
                     r.first_time_only OR r.cooldown IS NOT NULL OR r.max_per_day IS NOT NULL
                     OR r.max_per_period IS NOT NULL AS limited
                FROM gamification.point_rules AS r
               WHERE r.organization_id = s.organization_id
                 AND r.point_system_id = s.id
                 AND r.event_type = p_event_type
                 AND r.active
                 AND (r.valid_from IS NULL OR r.valid_from <= v_at)
                 AND (r.valid_until IS NULL OR r.valid_until > v_at)
                 AND gamification.rule_conditions_match(r.conditions, p_source_type, v_context)
               ORDER BY r.created_at, r.id
               LIMIT 1
          ) AS c ON true
         WHERE s.organization_id = v_org
           AND s.active
           AND (s.id = p_point_system_id OR (p_point_system_id IS NULL AND s.is_default))
           FOR UPDATE OF up;
        EXIT WHEN FOUND;
        IF v_created THEN
            RAISE EXCEPTION 'query returned no rows' USING ERRCODE = 'P0002';
        END IF;
        SELECT s.* INTO v_system
          FROM gamification.point_systems AS s
         WHERE s.organization_id = v_org
           AND s.active
           AND (s.id = p_point_system_id OR (p_point_system_id IS NULL AND s.is_default));
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no active point system %', coalesce(p_point_system_id::text, '(default)')
                  USING ERRCODE = 'P0002';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM user_management.users AS u
                        WHERE u.organization_id = v_org AND u.id = p_user_id AND u.deleted_at IS NULL) THEN
            RAISE EXCEPTION 'no live user % in the organization', p_user_id USING ERRCODE = 'P0002';
        END IF;
        INSERT INTO gamification.user_points (organization_id, user_id, point_system_id)
        VALUES (v_org, p_user_id, v_system.id)
        ON CONFLICT (organization_id, user_id, point_system_id) DO NOTHING;
        v_created := true;
    END LOOP;

    IF v_tx_id IS NOT NULL THEN
        SELECT t.* INTO v_tx FROM gamification.point_transactions AS t
         WHERE t.organization_id = v_org AND t.id = v_tx_id;
        RETURN v_tx;
    END IF;
    IF v_rule_id IS NULL THEN
        -- No rule of the event type is valid at the event time with conditions that hold.
        RETURN NULL;
    END IF;

    -- The user's local day, ISO week and month of the event, as timestamptz bounds [start, end).
    v_local := pg_catalog.timezone(v_tz, v_at);
    v_day_start := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('day', v_local));
    v_day_end := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('day', v_local) + interval '1 day');
    v_week_start := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('week', v_local));
    v_week_end := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('week', v_local) + interval '1 week');
    v_month_start := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('month', v_local));
    v_month_end := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('month', v_local) + interval '1 month');

    -- The first rule before limits is the answer unless it has limits; then V0093's query decides.
    IF v_rule_limited THEN
        SELECT r.id, coalesce(r.points, v_base_points) INTO v_rule_id, v_points  -- V0139
          FROM gamification.point_rules AS r
         WHERE r.organization_id = v_org
           AND r.point_system_id = v_system_id
           AND r.event_type = p_event_type
           AND r.active
           AND (r.valid_from IS NULL OR r.valid_from <= v_at)
           AND (r.valid_until IS NULL OR r.valid_until > v_at)
           AND gamification.rule_conditions_match(r.conditions, p_source_type, v_context)
           AND (NOT r.first_time_only OR NOT EXISTS (
                   SELECT 1 FROM gamification.point_transactions AS t
                    WHERE t.organization_id = r.organization_id AND t.user_id = p_user_id
                      AND t.point_system_id = v_system_id AND t.rule_id = r.id
                      AND t.source_type IS NOT DISTINCT FROM p_source_type
                      AND t.source_id IS NOT DISTINCT FROM p_source_id))
           AND (r.cooldown IS NULL OR NOT EXISTS (
                   SELECT 1 FROM gamification.point_transactions AS t
                    WHERE t.organization_id = r.organization_id AND t.user_id = p_user_id
                      AND t.point_system_id = v_system_id AND t.rule_id = r.id
                      AND t.occurred_at > v_at - r.cooldown
                      AND t.occurred_at < v_at + r.cooldown))
           AND (r.max_per_day IS NULL OR (
                   SELECT count(*) FROM gamification.point_transactions AS t
                    WHERE t.organization_id = r.organization_id AND t.user_id = p_user_id
                      AND t.point_system_id = v_system_id AND t.rule_id = r.id
                      AND t.occurred_at >= v_day_start AND t.occurred_at < v_day_end) < r.max_per_day)
           AND (r.max_per_period IS NULL OR (
                   SELECT count(*) FROM gamification.point_transactions AS t
                    WHERE t.organization_id = r.organization_id AND t.user_id = p_user_id
                      AND t.point_system_id = v_system_id AND t.rule_id = r.id
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
    END IF;

    -- effective_multiplier(): system multiplier times boosts (exact numeric products, any order).
    IF v_multipliers OPERATOR(pg_catalog.?) p_event_type THEN
        v_multiplier := (v_multipliers OPERATOR(pg_catalog.->>) p_event_type)::numeric;
    END IF;
    IF v_boosts IS NOT NULL THEN
        FOREACH v_boost IN ARRAY v_boosts LOOP
            v_multiplier := v_multiplier * v_boost;
        END LOOP;
    END IF;
    v_multiplier := LEAST(GREATEST(pg_catalog.round(v_multiplier, 3), 0.001), 100);

    v_amount := pg_catalog.round(v_points * v_multiplier)::bigint;
    IF v_daily_cap IS NOT NULL THEN
        SELECT coalesce(sum(t.amount), 0) INTO v_today
          FROM gamification.point_transactions AS t
         WHERE t.organization_id = v_org AND t.user_id = p_user_id
           AND t.point_system_id = v_system_id AND t.kind IN ('award', 'bonus')
           AND t.occurred_at >= v_day_start AND t.occurred_at < v_day_end;
        v_amount := LEAST(v_amount, v_daily_cap - v_today);
    END IF;
    IF v_amount <= 0 THEN
        RETURN NULL;
    END IF;

    -- The ledger row and the balances (post_transaction() for kind award).
    IF v_up.available + v_amount < 0 THEN
        RAISE EXCEPTION 'insufficient points'
              USING ERRCODE = 'EL020',
                    DETAIL = pg_catalog.format('Available %s, change %s.', v_up.available, v_amount);
    END IF;
    IF p_source_type IS NOT NULL AND pg_catalog.char_length(p_source_type) NOT BETWEEN 1 AND 50 THEN
        -- The insert below would fail its check: a key committed meanwhile returns its row first.
        SELECT t.* INTO v_tx FROM gamification.point_transactions AS t
         WHERE t.organization_id = v_org AND t.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            RETURN v_tx;
        END IF;
    END IF;
    -- V0137: the local date is computed before the insert (v_local = v_at in v_tz) and stored.
    v_local_date := v_local::date;
    INSERT INTO gamification.point_transactions AS t
        (organization_id, user_id, point_system_id, amount, kind, source_type, source_id, rule_id,
         multiplier, idempotency_key, reason, balance_after, occurred_at, local_date)
    VALUES (v_org, p_user_id, v_system_id, v_amount, 'award', p_source_type,
            p_source_id, v_rule_id, v_multiplier, p_idempotency_key, NULL,
            v_up.available + v_amount, v_at, v_local_date)
    ON CONFLICT (organization_id, idempotency_key) DO NOTHING
    RETURNING t.* INTO v_tx;
    IF NOT FOUND THEN
        -- The key was used concurrently (while this call waited for the lock, or for another
        -- user or system): return that first row, change nothing.
        SELECT t.* INTO STRICT v_tx FROM gamification.point_transactions AS t
         WHERE t.organization_id = v_org AND t.idempotency_key = p_idempotency_key;
        RETURN v_tx;
    END IF;

    v_lifetime := v_up.lifetime_earned + v_amount;
    -- V0137: in order (first award, same or later local date) the forward step, no query; an award
    -- dated before the last active local date recomputes the runs from the ledger (this row
    -- included); longest never drops below the stored one (GREATEST below; v_longest NULL in order).
    IF v_local_date < v_up.last_activity_local_date THEN
        SELECT r.current_streak, r.longest_streak INTO v_streak, v_longest
          FROM gamification.recompute_streak(v_org, p_user_id, v_system_id) AS r;
    ELSE
        v_streak := gamification.next_streak(v_up.last_activity_local_date, v_up.current_streak, v_local_date);
    END IF;
    UPDATE gamification.user_points AS up
       SET available = up.available + v_amount,
           lifetime_earned = v_lifetime,
           level = GREATEST(up.level,
                            coalesce((SELECT max(l.level_number)
                                        FROM gamification.levels AS l
                                       WHERE l.organization_id = v_org
                                         AND l.point_system_id = v_system_id
                                         AND l.threshold <= v_lifetime), 0)),
           current_streak = v_streak,
           longest_streak = GREATEST(up.longest_streak, v_streak, v_longest),
           last_activity_local_date = GREATEST(up.last_activity_local_date,
                                               coalesce(v_local_date, up.last_activity_local_date))
     WHERE up.organization_id = v_org AND up.id = v_up.id;
    RETURN v_tx;
END
$$;
COMMENT ON FUNCTION gamification.apply_award(uuid, text, text, uuid, text, uuid, timestamptz, jsonb) IS
'Internal (no permission check): award_points() without the caller check, also used by consume_learning_events(). p_occurred_at (NULL = now) dates the award (EL024 beyond backdate_skew() ahead or backdate_window() back); p_context (a JSON object, 22023 otherwise; course_id must be a UUID) is the event context for rule conditions and course boosts. Locks the user_points row (created if missing; P0002 for an unknown or deleted user, or without an active system), returns the existing ledger row for a known key, else applies the first active rule (oldest first) valid at the event time whose conditions hold and whose first_time_only (per source), cooldown (both directions), max_per_day and max_per_period (local day/ISO week/month of users.timezone) allow it, times the effective multiplier (system multiplier times matching boosts, rounded to 3 decimals, in [0.001, 100]), times the rule''s points (NULL = the system''s base_points, V0139), rounded half away from zero, clipped to the daily cap of that local day; inserts the ledger row with its local date (local_date), updates balances, level and streak (post_transaction() inlined, V0134; streak as in post_transaction(): next_streak() in order, recompute_streak() for a date before last_activity_local_date, V0137). NULL when nothing is awarded (no ledger row). Keys starting with expire: are reserved (22023).';
REVOKE ALL ON FUNCTION gamification.apply_award(
    uuid, text, text, uuid, text, uuid, timestamptz, jsonb
) FROM PUBLIC;
