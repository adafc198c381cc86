-- =============================================================================
-- V0089__serialize_redemption_keys
-- Purpose:       redeem_reward() replays or refuses cleanly when one idempotency
--                key is used by two calls at the same time. Before, the replay
--                check ran under the reward row lock only: two calls with one key
--                for different rewards (or users) both missed it and the second
--                failed with 23505 on uq_reward_redemptions_organization_id_
--                idempotency_key after a spend it then rolled back.
-- Concern:       redeem_reward() (CREATE OR REPLACE of V0083's function).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       a transaction-level advisory lock on (organization, key) is
--                taken first, before the reward row and user_points (the fixed
--                order becomes key, reward, user_points, redemption). A second
--                call with the key waits for the first to end and then, reading
--                committed rows (READ COMMITTED, new statement), finds its
--                redemption: the same arguments replay it, other arguments get
--                22023 (DETAIL: which arguments differ; HINT: use a new key);
--                if the first rolled back, it redeems. Hash collisions between
--                keys only serialise two calls.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION gamification.redeem_reward(
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
    -- Lock 0: the idempotency key (see the file header). Whoever holds it has either written the
    -- redemption with this key or given up before this transaction reads the key below.
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended(
            'gamification.redemption_key:' || v_org::text || ':' || p_idempotency_key, 0));
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
                  USING ERRCODE = '22023',
                        -- Names the arguments that differ, never another user's ids (RLS hides their rows).
                        DETAIL = 'The key''s redemption differs in: '
                                 || pg_catalog.concat_ws(', ',
                                        CASE WHEN v_red.user_id <> p_user_id THEN 'user' END,
                                        CASE WHEN v_red.reward_id <> p_reward_id THEN 'reward' END,
                                        CASE WHEN v_red.quantity <> p_quantity THEN 'quantity' END)
                                 || '.',
                        HINT = 'Use a new idempotency key for a new redemption; repeat a call only with the same arguments.';
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
'Redeems p_quantity (1-1000, else 22023) units of reward p_reward_id for p_user_id: the acting user for themself (reward.redeem) or staff for anyone (reward.manage), else 42501. Locks the idempotency key (transaction advisory lock), the reward row, then the user''s points; EL023 when the reward is deleted, inactive or outside its window, EL021 when stock is short, EL022 beyond the per-user limit in its period (non-cancelled redemptions), EL020 when points are short. Writes the spend ledger row, lowers stock and inserts the pending redemption in one transaction. Exactly once per idempotency key, also when calls with one key run at the same time: the same call again returns the first redemption unchanged; a key already used for another user, reward or quantity raises 22023 (DETAIL names which of them differ, HINT: use a new key) and changes nothing. Assumes READ COMMITTED (as every gamification function).';
REVOKE ALL ON FUNCTION gamification.redeem_reward(uuid, uuid, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.redeem_reward(uuid, uuid, bigint, text) TO ${app_role};
