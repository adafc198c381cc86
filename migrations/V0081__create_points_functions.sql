-- =============================================================================
-- V0081__create_points_functions
-- Purpose:       the only way points change: award_points(), spend_points(),
--                adjust_points() and the outbox consumer consume_learning_events(),
--                exactly once per idempotency key and safe under concurrency;
--                next_streak(), the pure streak rule.
-- Concern:       gamification point functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       every change first makes sure the user_points row exists
--                (INSERT ... ON CONFLICT DO NOTHING) and locks it FOR UPDATE; only
--                then does it look up the idempotency key and insert the ledger
--                row (INSERT ... ON CONFLICT (organization_id, idempotency_key) DO
--                NOTHING, then SELECT). One row lock per (user, system), always
--                taken first, so concurrent changes of one user serialise and no
--                two functions lock in different orders.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- next_streak(prev_date, prev_streak, new_date): the streak rule, pure.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.next_streak(p_prev_date date, p_prev_streak integer, p_new_date date)
RETURNS integer
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN p_new_date IS NULL THEN coalesce(p_prev_streak, 0)
               WHEN p_prev_date IS NULL OR coalesce(p_prev_streak, 0) = 0 THEN 1
               WHEN p_new_date = p_prev_date THEN p_prev_streak
               WHEN p_new_date = p_prev_date + 1 THEN p_prev_streak + 1
               WHEN p_new_date < p_prev_date THEN p_prev_streak
               ELSE 1
           END
$$;
COMMENT ON FUNCTION gamification.next_streak(date, integer, date) IS
'Streak after activity on local date p_new_date when the last activity was on p_prev_date with streak p_prev_streak: the next date extends it by one, the same date keeps it, a gap resets it to 1, an earlier date (clock or time zone moved back) keeps it; no previous activity gives 1. Dates are local dates (users.timezone), so DST never breaks a streak.';
REVOKE ALL ON FUNCTION gamification.next_streak(date, integer, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.next_streak(date, integer, date) TO ${app_role};

-- ---------------------------------------------------------------------------
-- resolve_point_system(system): the given active system, or the default one.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.resolve_point_system(p_point_system_id uuid)
RETURNS gamification.point_systems
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_system gamification.point_systems;
BEGIN
    SELECT s.* INTO v_system
      FROM gamification.point_systems AS s
     WHERE s.organization_id = app.current_organization_id()
       AND s.active
       AND (s.id = p_point_system_id OR (p_point_system_id IS NULL AND s.is_default));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active point system %', coalesce(p_point_system_id::text, '(default)')
              USING ERRCODE = 'P0002';
    END IF;
    RETURN v_system;
END
$$;
COMMENT ON FUNCTION gamification.resolve_point_system(uuid) IS
'Internal: the active point system p_point_system_id of the acting organization, or its active default system when NULL; P0002 when there is none.';
REVOKE ALL ON FUNCTION gamification.resolve_point_system(uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- lock_user_points(user, system): create if missing, lock, return.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.lock_user_points(p_user_id uuid, p_point_system_id uuid)
RETURNS gamification.user_points
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_row gamification.user_points;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM user_management.users AS u
                    WHERE u.organization_id = v_org AND u.id = p_user_id AND u.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'no live user % in the organization', p_user_id USING ERRCODE = 'P0002';
    END IF;
    INSERT INTO gamification.user_points (organization_id, user_id, point_system_id)
    VALUES (v_org, p_user_id, p_point_system_id)
    ON CONFLICT (organization_id, user_id, point_system_id) DO NOTHING;
    SELECT up.* INTO STRICT v_row
      FROM gamification.user_points AS up
     WHERE up.organization_id = v_org AND up.user_id = p_user_id
       AND up.point_system_id = p_point_system_id
       FOR UPDATE;
    RETURN v_row;
END
$$;
COMMENT ON FUNCTION gamification.lock_user_points(uuid, uuid) IS
'Internal: makes sure the user_points row of (p_user_id, p_point_system_id) exists in the acting organization and locks it FOR UPDATE: the first lock every point change takes. P0002 for an unknown or deleted user.';
REVOKE ALL ON FUNCTION gamification.lock_user_points(uuid, uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- post_transaction(...): insert the ledger row once and update the balances.
-- The caller holds the user_points lock (v_up).
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.post_transaction(
    p_up gamification.user_points,
    p_kind text,
    p_amount bigint,
    p_source_type text,
    p_source_id uuid,
    p_rule_id uuid,
    p_multiplier numeric,
    p_idempotency_key text,
    p_reason text
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
         multiplier, idempotency_key, reason, balance_after)
    VALUES (p_up.organization_id, p_up.user_id, p_up.point_system_id, p_amount, p_kind, p_source_type,
            p_source_id, p_rule_id, coalesce(p_multiplier, 1), p_idempotency_key, p_reason,
            p_up.available + p_amount)
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
COMMENT ON FUNCTION gamification.post_transaction(gamification.user_points, text, bigint, text, uuid, uuid, numeric, text, text) IS
'Internal: with the user_points row p_up locked, inserts one ledger row (ON CONFLICT on the idempotency key: returns the existing row and changes nothing) and updates the balances: available += amount (EL020 below 0), spent, lifetime_earned (award, bonus, positive adjust), level (never lowered), streak by the user''s local date (award and bonus).';
REVOKE ALL ON FUNCTION gamification.post_transaction(gamification.user_points, text, bigint, text, uuid, uuid, numeric, text, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- apply_award(...): the award rule engine (no permission check; internal).
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.apply_award(
    p_user_id uuid,
    p_event_type text,
    p_source_type text,
    p_source_id uuid,
    p_idempotency_key text,
    p_point_system_id uuid
)
RETURNS gamification.point_transactions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_system gamification.point_systems := gamification.resolve_point_system(p_point_system_id);
    v_up gamification.user_points;
    v_tx gamification.point_transactions;
    v_rule gamification.point_rules;
    v_now timestamptz := pg_catalog.now();
    v_tz text;
    v_day_start timestamptz;
    v_multiplier numeric := 1;
    v_amount bigint;
    v_today bigint;
BEGIN
    IF p_idempotency_key IS NULL OR p_event_type IS NULL THEN
        RAISE EXCEPTION 'event type and idempotency key are required' USING ERRCODE = '22023';
    END IF;
    v_up := gamification.lock_user_points(p_user_id, v_system.id);
    SELECT t.* INTO v_tx FROM gamification.point_transactions AS t
     WHERE t.organization_id = v_up.organization_id AND t.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        RETURN v_tx;
    END IF;

    SELECT u.timezone INTO STRICT v_tz FROM user_management.users AS u
     WHERE u.organization_id = v_up.organization_id AND u.id = p_user_id;
    -- Start of the user's local day, as a timestamptz.
    v_day_start := pg_catalog.timezone(v_tz, pg_catalog.date_trunc('day', pg_catalog.timezone(v_tz, v_now)));

    SELECT r.* INTO v_rule
      FROM gamification.point_rules AS r
     WHERE r.organization_id = v_up.organization_id
       AND r.point_system_id = v_system.id
       AND r.event_type = p_event_type
       AND r.active
       AND (r.valid_from IS NULL OR r.valid_from <= v_now)
       AND (r.valid_until IS NULL OR r.valid_until > v_now)
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
                  AND t.occurred_at > v_now - r.cooldown))
       AND (r.max_per_day IS NULL OR (
               SELECT count(*) FROM gamification.point_transactions AS t
                WHERE t.organization_id = r.organization_id AND t.user_id = p_user_id
                  AND t.point_system_id = v_system.id AND t.rule_id = r.id
                  AND t.occurred_at >= v_day_start) < r.max_per_day)
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
           AND t.occurred_at >= v_day_start;
        v_amount := LEAST(v_amount, v_system.daily_cap - v_today);
    END IF;
    IF v_amount <= 0 THEN
        RETURN NULL;
    END IF;
    RETURN gamification.post_transaction(v_up, 'award', v_amount, p_source_type, p_source_id, v_rule.id,
                                         v_multiplier, p_idempotency_key, NULL);
END
$$;
COMMENT ON FUNCTION gamification.apply_award(uuid, text, text, uuid, text, uuid) IS
'Internal (no permission check): award_points() without the caller check, also used by consume_learning_events(). Locks the user_points row, returns the existing ledger row for a known key, else applies the first active, valid rule (oldest first) of the event type whose first_time_only, cooldown and max_per_day allow it, times the system multiplier, clipped to the daily cap (local day of users.timezone); NULL when nothing is awarded (no ledger row).';
REVOKE ALL ON FUNCTION gamification.apply_award(uuid, text, text, uuid, text, uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- award_points(...)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.award_points(
    p_user_id uuid,
    p_event_type text,
    p_source_type text,
    p_source_id uuid,
    p_idempotency_key text,
    p_point_system_id uuid DEFAULT NULL
)
RETURNS gamification.point_transactions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    PERFORM user_management.require_permission('gamification.award');
    RETURN gamification.apply_award(p_user_id, p_event_type, p_source_type, p_source_id,
                                    p_idempotency_key, p_point_system_id);
END
$$;
COMMENT ON FUNCTION gamification.award_points(uuid, text, text, uuid, text, uuid) IS
'Awards points to p_user_id for an event by the matching rule (see apply_award()), exactly once per idempotency key: a replay returns the first ledger row and changes nothing. Returns the ledger row, or NULL when no rule awards anything (then nothing is recorded and a later call with the key may award). Updates user_points (available, lifetime, level, streak by local date) in the same transaction. Needs gamification.award (42501); P0002 without an active (default) system or for an unknown user.';
REVOKE ALL ON FUNCTION gamification.award_points(uuid, text, text, uuid, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.award_points(uuid, text, text, uuid, text, uuid) TO ${app_role};

-- ---------------------------------------------------------------------------
-- spend_points(...)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.spend_points(
    p_user_id uuid,
    p_amount bigint,
    p_idempotency_key text,
    p_reason text,
    p_point_system_id uuid DEFAULT NULL
)
RETURNS gamification.point_transactions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_system gamification.point_systems;
    v_up gamification.user_points;
    v_tx gamification.point_transactions;
BEGIN
    IF v_actor <> p_user_id THEN
        PERFORM user_management.require_permission('gamification.manage');
    END IF;
    IF p_amount IS NULL OR p_amount <= 0 OR p_idempotency_key IS NULL THEN
        RAISE EXCEPTION 'a positive amount and an idempotency key are required' USING ERRCODE = '22023';
    END IF;
    v_system := gamification.resolve_point_system(p_point_system_id);
    v_up := gamification.lock_user_points(p_user_id, v_system.id);
    SELECT t.* INTO v_tx FROM gamification.point_transactions AS t
     WHERE t.organization_id = v_up.organization_id AND t.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        RETURN v_tx;
    END IF;
    RETURN gamification.post_transaction(v_up, 'spend', -p_amount, NULL, NULL, NULL, 1,
                                         p_idempotency_key, p_reason);
END
$$;
COMMENT ON FUNCTION gamification.spend_points(uuid, bigint, text, text, uuid) IS
'Spends p_amount (> 0, else 22023) of p_user_id''s available points, exactly once per idempotency key (a replay returns the first row). EL020 when fewer points are available (nothing changes). The acting user spends their own points; spending for someone else needs gamification.manage (42501).';
REVOKE ALL ON FUNCTION gamification.spend_points(uuid, bigint, text, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.spend_points(uuid, bigint, text, text, uuid) TO ${app_role};

-- ---------------------------------------------------------------------------
-- adjust_points(...)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.adjust_points(
    p_user_id uuid,
    p_amount bigint,
    p_reason text,
    p_idempotency_key text,
    p_point_system_id uuid DEFAULT NULL
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
BEGIN
    PERFORM user_management.require_permission('gamification.manage');
    IF p_amount IS NULL OR p_amount = 0 OR p_idempotency_key IS NULL
       OR p_reason IS NULL OR pg_catalog.btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'a non-zero amount, a reason and an idempotency key are required'
              USING ERRCODE = '22023';
    END IF;
    v_system := gamification.resolve_point_system(p_point_system_id);
    v_up := gamification.lock_user_points(p_user_id, v_system.id);
    SELECT t.* INTO v_tx FROM gamification.point_transactions AS t
     WHERE t.organization_id = v_up.organization_id AND t.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        RETURN v_tx;
    END IF;
    RETURN gamification.post_transaction(v_up, 'adjust', p_amount, 'manual', NULL, NULL, 1,
                                         p_idempotency_key, p_reason);
END
$$;
COMMENT ON FUNCTION gamification.adjust_points(uuid, bigint, text, text, uuid) IS
'Staff correction (gamification.manage, else 42501) of p_user_id''s points by a signed, non-zero p_amount with a reason (22023 without), exactly once per idempotency key. A positive adjustment counts towards lifetime_earned (and level); a negative one lowers only available (EL020 below 0).';
REVOKE ALL ON FUNCTION gamification.adjust_points(uuid, bigint, text, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.adjust_points(uuid, bigint, text, text, uuid) TO ${app_role};

-- ---------------------------------------------------------------------------
-- consume_learning_events(limit)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.consume_learning_events(p_limit integer DEFAULT 100)
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
               AND e.event_type IN ('lesson_completed', 'course_completed')
             ORDER BY e.occurred_at, e.id
             LIMIT p_limit
               FOR UPDATE SKIP LOCKED
        )
        SELECT b.* FROM batch AS b ORDER BY b.user_id, b.occurred_at, b.id
    LOOP
        IF EXISTS (SELECT 1 FROM user_management.users AS u
                    WHERE u.organization_id = v_org AND u.id = v_event.user_id AND u.deleted_at IS NULL) THEN
            PERFORM gamification.apply_award(v_event.user_id, v_event.event_type, v_event.source_type,
                                             v_event.source_id, 'learning_event:' || v_event.idempotency_key,
                                             NULL);
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
'Outbox consumer: for up to p_limit unconsumed lesson_completed and course_completed events of the acting organization (oldest first, SKIP LOCKED so workers run side by side; applied in user_id order, the fixed lock order), awards points in the default system (apply_award(), key ''learning_event:'' || the event''s key, so each event awards at most once) and sets consumed_at in the same transaction. Returns the number of events consumed; 0 without an active default system (events wait). Needs only an organization context (42501): it applies facts that already happened, so any member''s session or a worker may run it.';
REVOKE ALL ON FUNCTION gamification.consume_learning_events(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.consume_learning_events(integer) TO ${app_role};
