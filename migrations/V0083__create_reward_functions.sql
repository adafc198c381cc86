-- =============================================================================
-- V0083__create_reward_functions
-- Purpose:       redeem_reward(), cancel_redemption() and fulfil_redemption():
--                the only writers of reward_redemptions and of reward stock
--                outside staff edits; exactly once per idempotency key, never
--                oversold under concurrency.
-- Concern:       gamification reward functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       fixed order: the reward row FOR UPDATE first, then the user's
--                user_points row (gamification.lock_user_points()), then the
--                redemption row. Every redemption and cancellation of a reward
--                serialises on the reward row, so stock and per-user counts
--                are read after the previous writer committed.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- redeem_reward(user, reward, quantity, key)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.redeem_reward(
    p_user_id uuid,
    p_reward_id uuid,
    p_quantity bigint,
    p_idempotency_key text
)
RETURNS gamification.reward_redemptions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_now timestamptz := pg_catalog.now();
    v_reward gamification.rewards;
    v_system gamification.point_systems;
    v_up gamification.user_points;
    v_tx gamification.point_transactions;
    v_red gamification.reward_redemptions;
    v_id uuid := app.uuid_generate_v7();
    v_held bigint;
BEGIN
    IF v_actor = p_user_id THEN
        PERFORM user_management.require_permission('reward.redeem');
    ELSE
        PERFORM user_management.require_permission('reward.manage');
    END IF;
    IF p_quantity IS NULL OR p_quantity < 1 OR p_quantity > 1000 OR p_idempotency_key IS NULL
       OR p_reward_id IS NULL OR p_user_id IS NULL THEN
        RAISE EXCEPTION 'user, reward, a quantity of 1..1000 and an idempotency key are required'
              USING ERRCODE = '22023';
    END IF;
    -- Lock 1: the reward.
    SELECT r.* INTO v_reward FROM gamification.rewards AS r
     WHERE r.organization_id = v_org AND r.id = p_reward_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no reward % in the organization', p_reward_id USING ERRCODE = 'P0002';
    END IF;
    -- Replay: the first redemption with this key, unchanged.
    SELECT d.* INTO v_red FROM gamification.reward_redemptions AS d
     WHERE d.organization_id = v_org AND d.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        IF v_red.user_id <> p_user_id OR v_red.reward_id <> p_reward_id OR v_red.quantity <> p_quantity THEN
            RAISE EXCEPTION 'idempotency key % was used for another redemption', p_idempotency_key
                  USING ERRCODE = '22023';
        END IF;
        RETURN v_red;
    END IF;
    IF v_reward.deleted_at IS NOT NULL OR NOT v_reward.active
       OR (v_reward.available_from IS NOT NULL AND v_reward.available_from > v_now)
       OR (v_reward.available_until IS NOT NULL AND v_reward.available_until <= v_now) THEN
        RAISE EXCEPTION 'reward % is not available', p_reward_id
              USING ERRCODE = 'EL023',
                    DETAIL = CASE WHEN v_reward.deleted_at IS NOT NULL THEN 'The reward is deleted.'
                                  WHEN NOT v_reward.active THEN 'The reward is inactive.'
                                  ELSE 'Outside the availability window.' END;
    END IF;
    IF v_reward.stock IS NOT NULL AND v_reward.stock < p_quantity THEN
        RAISE EXCEPTION 'reward % is out of stock', p_reward_id
              USING ERRCODE = 'EL021',
                    DETAIL = pg_catalog.format('Stock %s, requested %s.', v_reward.stock, p_quantity);
    END IF;
    v_system := gamification.resolve_point_system(v_reward.point_system_id);
    -- Lock 2: the user's points (P0002 for an unknown or deleted user).
    v_up := gamification.lock_user_points(p_user_id, v_system.id);
    IF v_reward.per_user_limit IS NOT NULL THEN
        SELECT coalesce(sum(d.quantity), 0) INTO v_held
          FROM gamification.reward_redemptions AS d
         WHERE d.organization_id = v_org AND d.user_id = p_user_id AND d.reward_id = p_reward_id
           AND d.status <> 'cancelled'
           AND (v_reward.per_user_period = 'all_time'
                OR d.created_at >= pg_catalog.date_trunc(v_reward.per_user_period, v_now, 'UTC'));
        IF v_held + p_quantity > v_reward.per_user_limit THEN
            RAISE EXCEPTION 'per-user limit of reward % reached', p_reward_id
                  USING ERRCODE = 'EL022',
                        DETAIL = pg_catalog.format('Limit %s per %s, held %s, requested %s.',
                                                   v_reward.per_user_limit, v_reward.per_user_period,
                                                   v_held, p_quantity);
        END IF;
    END IF;
    -- The spend (EL020 when the balance is too low; nothing is written then).
    v_tx := gamification.post_transaction(v_up, 'spend', -(v_reward.cost_points * p_quantity),
                                          'reward_redemption', v_id, NULL, 1,
                                          'reward_redemption:' || v_id::text,
                                          pg_catalog.left('Reward: ' || v_reward.name, 500));
    IF v_reward.stock IS NOT NULL THEN
        UPDATE gamification.rewards AS r
           SET stock = r.stock - p_quantity
         WHERE r.organization_id = v_org AND r.id = p_reward_id;
    END IF;
    INSERT INTO gamification.reward_redemptions AS d
        (organization_id, id, user_id, reward_id, quantity, cost_charged, idempotency_key,
         spend_transaction_id)
    VALUES (v_org, v_id, p_user_id, p_reward_id, p_quantity, v_reward.cost_points * p_quantity,
            p_idempotency_key, v_tx.id)
    RETURNING d.* INTO v_red;
    RETURN v_red;
END
$$;
COMMENT ON FUNCTION gamification.redeem_reward(uuid, uuid, bigint, text) IS
'Redeems p_quantity (1-1000, else 22023) units of reward p_reward_id for p_user_id: the acting user for themself (reward.redeem) or staff for anyone (reward.manage), else 42501. Locks the reward row, then the user''s points; EL023 when the reward is deleted, inactive or outside its window, EL021 when stock is short, EL022 beyond the per-user limit in its period (non-cancelled redemptions), EL020 when points are short. Writes the spend ledger row, lowers stock and inserts the pending redemption in one transaction. Exactly once per idempotency key: a replay returns the first redemption (22023 when the key was used for another user, reward or quantity).';
REVOKE ALL ON FUNCTION gamification.redeem_reward(uuid, uuid, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.redeem_reward(uuid, uuid, bigint, text) TO ${app_role};

-- ---------------------------------------------------------------------------
-- cancel_redemption(redemption, reason)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.cancel_redemption(p_redemption_id uuid, p_reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_red gamification.reward_redemptions;
    v_spend gamification.point_transactions;
    v_up gamification.user_points;
    v_tx gamification.point_transactions;
BEGIN
    IF p_redemption_id IS NULL
       OR (p_reason IS NOT NULL AND (pg_catalog.btrim(p_reason) = '' OR pg_catalog.char_length(p_reason) > 500)) THEN
        RAISE EXCEPTION 'a redemption and a reason of 1-500 characters (or none) are required'
              USING ERRCODE = '22023';
    END IF;
    SELECT d.* INTO v_red FROM gamification.reward_redemptions AS d
     WHERE d.organization_id = v_org AND d.id = p_redemption_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no redemption % in the organization', p_redemption_id USING ERRCODE = 'P0002';
    END IF;
    IF v_red.user_id <> v_actor OR v_red.status = 'fulfilled' THEN
        PERFORM user_management.require_permission('reward.manage');
    END IF;
    IF v_red.status IN ('cancelled', 'refunded') THEN
        RETURN false;
    END IF;
    -- Lock order: reward, user_points, redemption.
    PERFORM 1 FROM gamification.rewards AS r
     WHERE r.organization_id = v_org AND r.id = v_red.reward_id
       FOR UPDATE;
    SELECT t.* INTO STRICT v_spend FROM gamification.point_transactions AS t
     WHERE t.organization_id = v_org AND t.id = v_red.spend_transaction_id;
    v_up := gamification.lock_user_points(v_red.user_id, v_spend.point_system_id);
    SELECT d.* INTO STRICT v_red FROM gamification.reward_redemptions AS d
     WHERE d.organization_id = v_org AND d.id = p_redemption_id
       FOR UPDATE;
    IF v_red.status IN ('cancelled', 'refunded') THEN
        RETURN false;  -- cancelled concurrently
    END IF;
    v_tx := gamification.post_transaction(v_up, 'refund', v_red.cost_charged, 'reward_redemption', v_red.id,
                                          NULL, 1, 'reward_refund:' || v_red.id::text, p_reason);
    IF v_red.status = 'pending' THEN
        UPDATE gamification.rewards AS r
           SET stock = r.stock + v_red.quantity
         WHERE r.organization_id = v_org AND r.id = v_red.reward_id AND r.stock IS NOT NULL;
    END IF;
    UPDATE gamification.reward_redemptions AS d
       SET status = CASE WHEN d.status = 'pending' THEN 'cancelled' ELSE 'refunded' END,
           cancelled_at = pg_catalog.now(),
           cancel_reason = p_reason,
           refund_transaction_id = v_tx.id
     WHERE d.organization_id = v_org AND d.id = v_red.id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION gamification.cancel_redemption(uuid, text) IS
'Cancels a pending redemption (the redeemer or reward.manage): status cancelled, stock restored by its quantity, cost_charged refunded to the user (refund ledger row keyed reward_refund:<id>). A fulfilled redemption is refunded instead (reward.manage only): status refunded, points returned, stock not restored (the reward was delivered). Returns true when it cancelled or refunded now, false when it already was (nothing changes: the refund happens exactly once). Lock order reward, user_points, redemption. P0002 for an unknown redemption, 42501 without permission, 22023 for an empty reason.';
REVOKE ALL ON FUNCTION gamification.cancel_redemption(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.cancel_redemption(uuid, text) TO ${app_role};

-- ---------------------------------------------------------------------------
-- fulfil_redemption(redemption, details)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.fulfil_redemption(
    p_redemption_id uuid, p_fulfilment jsonb DEFAULT '{}'::jsonb
)
RETURNS gamification.reward_redemptions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_red gamification.reward_redemptions;
BEGIN
    PERFORM user_management.require_permission('reward.manage');
    IF p_redemption_id IS NULL OR p_fulfilment IS NULL
       OR pg_catalog.jsonb_typeof(p_fulfilment) <> 'object' THEN
        RAISE EXCEPTION 'a redemption and a JSON object of fulfilment details are required'
              USING ERRCODE = '22023';
    END IF;
    SELECT d.* INTO v_red FROM gamification.reward_redemptions AS d
     WHERE d.organization_id = v_org AND d.id = p_redemption_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no redemption % in the organization', p_redemption_id USING ERRCODE = 'P0002';
    END IF;
    IF v_red.status = 'fulfilled' THEN
        RETURN v_red;
    END IF;
    IF v_red.status <> 'pending' THEN
        RAISE EXCEPTION 'a % redemption cannot be fulfilled', v_red.status
              USING ERRCODE = 'EL013', COLUMN = 'status';
    END IF;
    UPDATE gamification.reward_redemptions AS d
       SET status = 'fulfilled',
           fulfilled_at = pg_catalog.now(),
           fulfilment = d.fulfilment OPERATOR(pg_catalog.||) p_fulfilment
     WHERE d.organization_id = v_org AND d.id = v_red.id
    RETURNING d.* INTO v_red;
    RETURN v_red;
END
$$;
COMMENT ON FUNCTION gamification.fulfil_redemption(uuid, jsonb) IS
'Staff (reward.manage, else 42501) mark a pending redemption fulfilled, merging p_fulfilment (a JSON object, else 22023) into its fulfilment details. Fulfilling a fulfilled redemption returns it unchanged; a cancelled or refunded one raises EL013. P0002 for an unknown redemption.';
REVOKE ALL ON FUNCTION gamification.fulfil_redemption(uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.fulfil_redemption(uuid, jsonb) TO ${app_role};
