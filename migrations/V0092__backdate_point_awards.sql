-- =============================================================================
-- V0092__backdate_point_awards
-- Purpose:       back-dated awards: an award happens at the time of its event,
--                not at the time it is applied. award_points() and apply_award()
--                take p_occurred_at (NULL = now); the ledger row's occurred_at,
--                the rule's validity, cooldowns, per-day limits, the daily cap
--                and the streak (local date of occurred_at in users.timezone)
--                all use it. consume_learning_events() passes the event's
--                occurred_at, so a queued event counts for the day it happened.
-- Concern:       gamification award functions: the event time.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Bounds:        p_occurred_at may lie at most gamification.backdate_skew()
--                (5 minutes, clocks of application servers) in the future, where
--                it counts as now, and at most gamification.backdate_window()
--                (30 days) in the past; outside, EL024 (award_time_out_of_range).
--                The consumer awards an event older than the window at the
--                window's start (the oldest time an award may carry).
-- Signatures:    PostgreSQL cannot add a parameter to a function: the old
--                signatures are dropped and the new ones created with DEFAULTs,
--                so every existing call (5-6 arguments; post_transaction() with
--                9) resolves to the new function; grants are given again.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- The bounds, one definition for the functions, the docs and the tests.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.backdate_window()
RETURNS interval
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT interval '30 days'
$$;
COMMENT ON FUNCTION gamification.backdate_window() IS
'How far in the past an award may be dated (30 days): award_points()/apply_award() refuse an older p_occurred_at with EL024; the outbox consumer dates older events at now() minus this window.';
REVOKE ALL ON FUNCTION gamification.backdate_window() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.backdate_window() TO ${app_role};

CREATE FUNCTION gamification.backdate_skew()
RETURNS interval
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT interval '5 minutes'
$$;
COMMENT ON FUNCTION gamification.backdate_skew() IS
'Clock skew tolerated for award times in the future (5 minutes): such a p_occurred_at counts as now(); later ones are refused with EL024.';
REVOKE ALL ON FUNCTION gamification.backdate_skew() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.backdate_skew() TO ${app_role};

-- ---------------------------------------------------------------------------
-- post_transaction(...): the ledger row carries the event time.
-- ---------------------------------------------------------------------------
-- Replaced below with a trailing DEFAULT parameter: existing calls keep resolving.
-- squawk-ignore ban-drop-function
DROP FUNCTION gamification.post_transaction(
    gamification.user_points, text, bigint, text, uuid, uuid, numeric, text, text
);
CREATE FUNCTION gamification.post_transaction(
    p_up gamification.user_points,
    p_kind text,
    p_amount bigint,
    p_source_type text,
    p_source_id uuid,
    p_rule_id uuid,
    p_multiplier numeric,
    p_idempotency_key text,
    p_reason text,
    p_occurred_at timestamptz DEFAULT NULL
)
RETURNS gamification.point_transactions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_tx gamification.point_transactions;
    v_earned bigint := CASE WHEN p_kind IN ('award', 'bonus') OR (p_kind = 'adjust' AND p_amount > 0)
                            THEN p_amount ELSE 0 END;
    v_lifetime bigint := p_up.lifetime_earned + v_earned;
    v_level integer;
    v_local date;
    v_streak integer := p_up.current_streak;
BEGIN
    IF p_up.available + p_amount < 0 THEN
        RAISE EXCEPTION 'insufficient points'
              USING ERRCODE = 'EL020',
                    DETAIL = pg_catalog.format('Available %s, change %s.', p_up.available, p_amount);
    END IF;
    INSERT INTO gamification.point_transactions AS t
        (organization_id, user_id, point_system_id, amount, kind, source_type, source_id, rule_id,
         multiplier, idempotency_key, reason, balance_after, occurred_at)
    VALUES (p_up.organization_id, p_up.user_id, p_up.point_system_id, p_amount, p_kind, p_source_type,
            p_source_id, p_rule_id, coalesce(p_multiplier, 1), p_idempotency_key, p_reason,
            p_up.available + p_amount, coalesce(p_occurred_at, pg_catalog.now()))
    ON CONFLICT (organization_id, idempotency_key) DO NOTHING
    RETURNING t.* INTO v_tx;
    IF NOT FOUND THEN
        -- The key was used concurrently for another user or system: return that first row.
        SELECT t.* INTO STRICT v_tx FROM gamification.point_transactions AS t
         WHERE t.organization_id = p_up.organization_id AND t.idempotency_key = p_idempotency_key;
        RETURN v_tx;
    END IF;

    SELECT max(l.level_number) INTO v_level
      FROM gamification.levels AS l
     WHERE l.organization_id = p_up.organization_id AND l.point_system_id = p_up.point_system_id
       AND l.threshold <= v_lifetime;
    IF p_kind IN ('award', 'bonus') THEN
        SELECT (pg_catalog.timezone(u.timezone, v_tx.occurred_at))::date INTO STRICT v_local
          FROM user_management.users AS u
         WHERE u.organization_id = p_up.organization_id AND u.id = p_up.user_id;
        v_streak := gamification.next_streak(p_up.last_activity_local_date, p_up.current_streak, v_local);
    END IF;

    UPDATE gamification.user_points AS up
       SET available = up.available + p_amount,
           spent = up.spent + CASE WHEN p_kind = 'spend' THEN -p_amount ELSE 0 END,
           lifetime_earned = v_lifetime,
           level = GREATEST(up.level, coalesce(v_level, 0)),
           current_streak = v_streak,
           longest_streak = GREATEST(up.longest_streak, v_streak),
           last_activity_local_date = GREATEST(up.last_activity_local_date, coalesce(v_local, up.last_activity_local_date))
     WHERE up.organization_id = p_up.organization_id AND up.id = p_up.id;
    RETURN v_tx;
END
$$;
COMMENT ON FUNCTION gamification.post_transaction(gamification.user_points, text, bigint, text, uuid, uuid, numeric, text, text, timestamptz) IS
'Internal: with the user_points row p_up locked, inserts one ledger row dated p_occurred_at (NULL = now; callers check the bounds) (ON CONFLICT on the idempotency key: returns the existing row and changes nothing) and updates the balances: available += amount (EL020 below 0), spent, lifetime_earned (award, bonus, positive adjust), level (never lowered), streak by the user''s local date of occurred_at (award and bonus; next_streak(), so a date before the last activity keeps the streak).';
REVOKE ALL ON FUNCTION gamification.post_transaction(
    gamification.user_points, text, bigint, text, uuid, uuid, numeric, text, text, timestamptz
) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- apply_award(...): limits evaluated at the event time.
-- ---------------------------------------------------------------------------
-- Replaced below with a trailing DEFAULT parameter: existing calls keep resolving.
-- squawk-ignore ban-drop-function
DROP FUNCTION gamification.apply_award(uuid, text, text, uuid, text, uuid);
CREATE FUNCTION gamification.apply_award(
    p_user_id uuid,
    p_event_type text,
    p_source_type text,
    p_source_id uuid,
    p_idempotency_key text,
    p_point_system_id uuid DEFAULT NULL,
    p_occurred_at timestamptz DEFAULT NULL
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
    v_at timestamptz := pg_catalog.now();
    v_tz text;
    v_local date;
    v_day_start timestamptz;
    v_day_end timestamptz;
    v_multiplier numeric := 1;
    v_amount bigint;
    v_today bigint;
BEGIN
    IF p_idempotency_key IS NULL OR p_event_type IS NULL THEN
        RAISE EXCEPTION 'event type and idempotency key are required' USING ERRCODE = '22023';
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
    -- The user's local day of the event, as timestamptz bounds [start, end).
    v_local := (pg_catalog.timezone(v_tz, v_at))::date;
    v_day_start := pg_catalog.timezone(v_tz, v_local::timestamp);
    v_day_end := pg_catalog.timezone(v_tz, (v_local + 1)::timestamp);

    SELECT r.* INTO v_rule
      FROM gamification.point_rules AS r
     WHERE r.organization_id = v_up.organization_id
       AND r.point_system_id = v_system.id
       AND r.event_type = p_event_type
       AND r.active
       AND (r.valid_from IS NULL OR r.valid_from <= v_at)
       AND (r.valid_until IS NULL OR r.valid_until > v_at)
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
     ORDER BY r.created_at, r.id
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF v_system.multipliers OPERATOR(pg_catalog.?) p_event_type THEN
        v_multiplier := (v_system.multipliers OPERATOR(pg_catalog.->>) p_event_type)::numeric;
    END IF;
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
COMMENT ON FUNCTION gamification.apply_award(uuid, text, text, uuid, text, uuid, timestamptz) IS
'Internal (no permission check): award_points() without the caller check, also used by consume_learning_events(). p_occurred_at (NULL = now) dates the award: EL024 beyond backdate_skew() in the future or backdate_window() in the past; up to the skew in the future counts as now. Locks the user_points row, returns the existing ledger row for a known key, else applies the first active rule (oldest first) valid at that time whose first_time_only (per source), cooldown (no other award of the rule closer than the cooldown, before or after) and max_per_day (local day of the event in users.timezone) allow it, times the system multiplier, clipped to the daily cap of that local day; NULL when nothing is awarded (no ledger row).';
REVOKE ALL ON FUNCTION gamification.apply_award(
    uuid, text, text, uuid, text, uuid, timestamptz
) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- award_points(...)
-- ---------------------------------------------------------------------------
-- Replaced below with a trailing DEFAULT parameter: existing calls keep resolving.
-- squawk-ignore ban-drop-function
DROP FUNCTION gamification.award_points(uuid, text, text, uuid, text, uuid);
CREATE FUNCTION gamification.award_points(
    p_user_id uuid,
    p_event_type text,
    p_source_type text,
    p_source_id uuid,
    p_idempotency_key text,
    p_point_system_id uuid DEFAULT NULL,
    p_occurred_at timestamptz DEFAULT NULL
)
RETURNS gamification.point_transactions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    PERFORM user_management.require_permission('gamification.award');
    RETURN gamification.apply_award(p_user_id, p_event_type, p_source_type, p_source_id,
                                    p_idempotency_key, p_point_system_id, p_occurred_at);
END
$$;
COMMENT ON FUNCTION gamification.award_points(uuid, text, text, uuid, text, uuid, timestamptz) IS
'Awards points to p_user_id for an event by the matching rule (see apply_award()), exactly once per idempotency key: a replay returns the first ledger row and changes nothing. p_occurred_at (NULL = now) is when the event happened: the ledger row, rule validity, cooldowns, per-day limits, the daily cap and the streak use it (EL024 more than backdate_skew() ahead or backdate_window() back). Returns the ledger row, or NULL when no rule awards anything (then nothing is recorded and a later call with the key may award). Updates user_points (available, lifetime, level, streak by local date) in the same transaction. Needs gamification.award (42501); P0002 without an active (default) system or for an unknown user.';
REVOKE ALL ON FUNCTION gamification.award_points(
    uuid, text, text, uuid, text, uuid, timestamptz
) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.award_points(
    uuid, text, text, uuid, text, uuid, timestamptz
) TO ${app_role};

-- ---------------------------------------------------------------------------
-- consume_learning_events(limit): awards dated at the event.
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
                   e.occurred_at
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
            PERFORM gamification.apply_award(
                v_event.user_id, v_event.event_type, v_event.source_type, v_event.source_id,
                'learning_event:' || v_event.idempotency_key, NULL,
                LEAST(GREATEST(v_event.occurred_at, pg_catalog.now() - gamification.backdate_window()),
                      pg_catalog.now()));
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
'Outbox consumer: for up to p_limit unconsumed lesson_completed, course_completed and assessment_passed events of the acting organization (oldest first, SKIP LOCKED so workers run side by side; applied in user_id order, the fixed lock order), awards points in the default system by the rule of the event type, dated at the event''s occurred_at (at most backdate_window() back) (apply_award(), key ''learning_event:'' || the event''s key, so each event awards at most once) and sets consumed_at in the same transaction. Returns the number of events consumed; 0 without an active default system (events wait). Needs only an organization context (42501): it applies facts that already happened, so any member''s session or a worker may run it.';

COMMENT ON COLUMN gamification.point_transactions.occurred_at IS
'When the change happened: the event time of an award (award_points() p_occurred_at, at most backdate_window() back; the event''s time when consumed from the outbox), else the transaction time of the function call.';
