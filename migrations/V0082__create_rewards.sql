-- =============================================================================
-- V0082__create_rewards
-- Purpose:       rewards that users buy with points and their redemptions
--                (DESIGN section 5): stock never negative, per-user limits,
--                redemptions tied to their spend and refund ledger rows.
-- Concern:       gamification reward tables (functions follow in V0083).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Redemptions:   written only by the SECURITY DEFINER functions of V0083
--                (profile definer_only); their foreign keys RESTRICT, like the
--                ledger they point to.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- rewards
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.rewards (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    point_system_id uuid NOT NULL,
    name text NOT NULL,
    description text,
    kind text NOT NULL DEFAULT 'digital',
    cost_points bigint NOT NULL,
    price_amount numeric(12, 2),
    price_currency text,
    stock bigint,
    per_user_limit bigint,
    per_user_period text NOT NULL DEFAULT 'all_time',
    active boolean NOT NULL DEFAULT TRUE,
    available_from timestamptz,
    available_until timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_rewards PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_rewards_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT ck_rewards_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT ck_rewards_description_length CHECK (char_length(description) BETWEEN 1 AND 5000),
    CONSTRAINT ck_rewards_kind CHECK (kind IN ('digital', 'physical')),
    CONSTRAINT ck_rewards_cost_points CHECK (cost_points > 0),
    CONSTRAINT ck_rewards_price
    CHECK ((price_amount IS NULL) = (price_currency IS NULL) AND price_amount >= 0),
    CONSTRAINT ck_rewards_price_currency CHECK (price_currency ~ '^[A-Z]{3}$'),
    CONSTRAINT ck_rewards_stock CHECK (stock >= 0),
    CONSTRAINT ck_rewards_per_user_limit CHECK (per_user_limit > 0),
    CONSTRAINT ck_rewards_per_user_period
    CHECK (per_user_period IN ('day', 'week', 'month', 'year', 'all_time')),
    CONSTRAINT ck_rewards_available_period CHECK (available_until > available_from),
    CONSTRAINT ck_rewards_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT ck_rewards_deleted_at CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE INDEX idx_rewards_organization_id_point_system_id
ON gamification.rewards (organization_id, point_system_id);

COMMENT ON TABLE gamification.rewards IS
'Rewards of an organization that users redeem for points of a point system (redeem_reward()). Stock is NULL for unlimited or a count that never goes below 0 (ck_rewards_stock; redemptions take it under the reward row lock, EL021 when too few). Managed by holders of reward.manage; every member reads them.';
COMMENT ON COLUMN gamification.rewards.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.rewards.id IS 'Reward id (UUIDv7).';
COMMENT ON COLUMN gamification.rewards.point_system_id IS 'The point system whose points pay for the reward.';
COMMENT ON COLUMN gamification.rewards.name IS 'Display name (1-200 characters).';
COMMENT ON COLUMN gamification.rewards.description IS 'Optional description (1-5000 characters).';
COMMENT ON COLUMN gamification.rewards.kind IS 'digital or physical (physical ones need fulfilment details, e.g. shipping).';
COMMENT ON COLUMN gamification.rewards.cost_points IS 'Points per unit (> 0).';
COMMENT ON COLUMN gamification.rewards.price_amount IS 'Optional informational money value per unit (with price_currency).';
COMMENT ON COLUMN gamification.rewards.price_currency IS 'ISO 4217 code of price_amount (three capital letters), NULL without a price.';
COMMENT ON COLUMN gamification.rewards.stock IS 'Units left; NULL = unlimited. Never negative; lowered by redeem_reward(), restored by cancel_redemption().';
COMMENT ON COLUMN gamification.rewards.per_user_limit IS 'Most units one user may hold redeemed (not cancelled) per per_user_period; NULL = no limit (EL022 beyond it).';
COMMENT ON COLUMN gamification.rewards.per_user_period IS 'Period of per_user_limit: day, week, month, year (calendar periods in UTC) or all_time.';
COMMENT ON COLUMN gamification.rewards.active IS 'Inactive rewards cannot be redeemed (EL023).';
COMMENT ON COLUMN gamification.rewards.available_from IS 'Redeemable from this time on; NULL = always.';
COMMENT ON COLUMN gamification.rewards.available_until IS 'Redeemable before this time; NULL = open-ended.';
COMMENT ON COLUMN gamification.rewards.metadata IS 'Open-ended display data (image, terms) as a JSON object.';
COMMENT ON COLUMN gamification.rewards.created_at IS 'When the reward was created.';
COMMENT ON COLUMN gamification.rewards.updated_at IS 'Last change (app.set_updated_at()).';
COMMENT ON COLUMN gamification.rewards.deleted_at IS 'Soft delete: set = withdrawn, not redeemable (EL023); NULL = live.';

-- ---------------------------------------------------------------------------
-- reward_redemptions
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.reward_redemptions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    reward_id uuid NOT NULL,
    quantity bigint NOT NULL DEFAULT 1,
    cost_charged bigint NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    fulfilment jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key text NOT NULL,
    spend_transaction_id uuid NOT NULL,
    refund_transaction_id uuid,
    cancel_reason text,
    fulfilled_at timestamptz,
    cancelled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_reward_redemptions PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_reward_redemptions_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_reward_redemptions_reward_id FOREIGN KEY (organization_id, reward_id)
    REFERENCES gamification.rewards (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_reward_redemptions_spend_transaction_id
    FOREIGN KEY (organization_id, spend_transaction_id)
    REFERENCES gamification.point_transactions (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_reward_redemptions_refund_transaction_id
    FOREIGN KEY (organization_id, refund_transaction_id)
    REFERENCES gamification.point_transactions (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT uq_reward_redemptions_organization_id_idempotency_key
    UNIQUE (organization_id, idempotency_key),
    CONSTRAINT uq_reward_redemptions_organization_id_spend_transaction_id
    UNIQUE (organization_id, spend_transaction_id),
    CONSTRAINT uq_reward_redemptions_organization_id_refund_transaction_id
    UNIQUE (organization_id, refund_transaction_id),
    CONSTRAINT ck_reward_redemptions_quantity CHECK (quantity > 0 AND quantity <= 1000),
    CONSTRAINT ck_reward_redemptions_cost_charged CHECK (cost_charged > 0),
    CONSTRAINT ck_reward_redemptions_status
    CHECK (status IN ('pending', 'fulfilled', 'cancelled', 'refunded')),
    CONSTRAINT ck_reward_redemptions_fulfilment_object CHECK (jsonb_typeof(fulfilment) = 'object'),
    CONSTRAINT ck_reward_redemptions_idempotency_key_length
    CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    CONSTRAINT ck_reward_redemptions_cancel_reason_length
    CHECK (char_length(cancel_reason) BETWEEN 1 AND 500),
    CONSTRAINT ck_reward_redemptions_cancelled
    CHECK (
        (status IN ('cancelled', 'refunded'))
        = (cancelled_at IS NOT NULL AND refund_transaction_id IS NOT NULL)
    ),
    CONSTRAINT ck_reward_redemptions_fulfilled
    CHECK ((status IN ('fulfilled', 'refunded')) = (fulfilled_at IS NOT NULL))
);
CREATE INDEX idx_reward_redemptions_organization_id_user_id_reward_id
ON gamification.reward_redemptions (organization_id, user_id, reward_id, created_at);
CREATE INDEX idx_reward_redemptions_organization_id_reward_id
ON gamification.reward_redemptions (organization_id, reward_id);

COMMENT ON TABLE gamification.reward_redemptions IS
'A user''s redemption of a reward: the spend ledger row that paid for it, its status (pending -> fulfilled -> refunded, pending -> cancelled; trg_reward_redemptions_status, EL013) and, once cancelled or refunded, the refund ledger row. Exactly once per idempotency key. Written only by redeem_reward(), fulfil_redemption() and cancel_redemption(); a learner reads own rows, holders of reward.manage the organization''s.';
COMMENT ON COLUMN gamification.reward_redemptions.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.reward_redemptions.id IS 'Redemption id (UUIDv7).';
COMMENT ON COLUMN gamification.reward_redemptions.user_id IS 'The user who receives the reward and whose points paid for it.';
COMMENT ON COLUMN gamification.reward_redemptions.reward_id IS 'The reward.';
COMMENT ON COLUMN gamification.reward_redemptions.quantity IS 'Units redeemed (1-1000).';
COMMENT ON COLUMN gamification.reward_redemptions.cost_charged IS 'Points charged: quantity x cost_points at the time of redemption (the refund returns exactly this).';
COMMENT ON COLUMN gamification.reward_redemptions.status IS 'pending, fulfilled, cancelled (stock and points restored) or refunded (fulfilled, then points returned).';
COMMENT ON COLUMN gamification.reward_redemptions.fulfilment IS 'PII: fulfilment details (e.g. shipping address, voucher code) as a JSON object.';
COMMENT ON COLUMN gamification.reward_redemptions.idempotency_key IS 'Caller''s key, unique per organization (1-200 characters): a replay returns the first redemption.';
COMMENT ON COLUMN gamification.reward_redemptions.spend_transaction_id IS 'The spend ledger row (key reward_redemption:<id>).';
COMMENT ON COLUMN gamification.reward_redemptions.refund_transaction_id IS 'The refund ledger row (key reward_refund:<id>) once cancelled or refunded.';
COMMENT ON COLUMN gamification.reward_redemptions.cancel_reason IS 'Why it was cancelled or refunded (1-500 characters).';
COMMENT ON COLUMN gamification.reward_redemptions.fulfilled_at IS 'When it was fulfilled.';
COMMENT ON COLUMN gamification.reward_redemptions.cancelled_at IS 'When it was cancelled or refunded.';
COMMENT ON COLUMN gamification.reward_redemptions.created_at IS 'When it was redeemed.';
COMMENT ON COLUMN gamification.reward_redemptions.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION gamification.check_redemption_status()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND (OLD.status, NEW.status) NOT IN (('pending', 'fulfilled'), ('pending', 'cancelled'),
                                            ('fulfilled', 'refunded')) THEN
        RAISE EXCEPTION 'redemption status cannot change from % to %', OLD.status, NEW.status
              USING ERRCODE = 'EL013', COLUMN = 'status', CONSTRAINT = TG_NAME;
    END IF;
    IF (NEW.user_id, NEW.reward_id, NEW.quantity, NEW.cost_charged, NEW.idempotency_key,
        NEW.spend_transaction_id)
       IS DISTINCT FROM (OLD.user_id, OLD.reward_id, OLD.quantity, OLD.cost_charged,
                         OLD.idempotency_key, OLD.spend_transaction_id) THEN
        RAISE EXCEPTION 'the redeemed user, reward, quantity, cost and spend are immutable'
              USING ERRCODE = 'EL002', CONSTRAINT = TG_NAME;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION gamification.check_redemption_status() IS
'BEFORE UPDATE trigger of gamification.reward_redemptions: status moves only pending -> fulfilled, pending -> cancelled, fulfilled -> refunded (EL013, column status); user, reward, quantity, cost, key and spend row never change (EL002).';
REVOKE ALL ON FUNCTION gamification.check_redemption_status() FROM PUBLIC;

CREATE TRIGGER trg_reward_redemptions_status
BEFORE UPDATE ON gamification.reward_redemptions
FOR EACH ROW EXECUTE FUNCTION gamification.check_redemption_status();
COMMENT ON TRIGGER trg_reward_redemptions_status ON gamification.reward_redemptions IS
'Allowed status transitions only (EL013); the redeemed facts are immutable (EL002).';

ALTER TABLE gamification.rewards ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.rewards FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.reward_redemptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.reward_redemptions FORCE ROW LEVEL SECURITY;
