-- =============================================================================
-- V0006__create_subscription_plans
-- Purpose:       the global catalog of subscription plans and their limits
--                (users, courses, storage), enforced per organization by
--                user_management.enforce_plan_limit() triggers.
-- Concern:       plan reference data (global, not per tenant).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Order:         rows first, then ENABLE/FORCE ROW LEVEL SECURITY (under FORCE
--                RLS without a policy not even the owner could insert).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE user_management.subscription_plans (
    code text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    -- Small counts (storage is bigint).
    -- squawk-ignore prefer-bigint-over-int
    max_users integer,
    -- squawk-ignore prefer-bigint-over-int
    max_courses integer,
    max_storage_bytes bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_subscription_plans PRIMARY KEY (code),
    CONSTRAINT ck_subscription_plans_code
    CHECK (code IN ('free', 'basic', 'pro', 'enterprise')),
    CONSTRAINT ck_subscription_plans_name_length
    CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_subscription_plans_description_length
    CHECK (char_length(description) BETWEEN 1 AND 500),
    CONSTRAINT ck_subscription_plans_max_users
    CHECK (max_users IS NULL OR max_users >= 1),
    CONSTRAINT ck_subscription_plans_max_courses
    CHECK (max_courses IS NULL OR max_courses >= 0),
    CONSTRAINT ck_subscription_plans_max_storage_bytes
    CHECK (max_storage_bytes IS NULL OR max_storage_bytes >= 0)
);

COMMENT ON TABLE user_management.subscription_plans IS
'Global catalog of subscription plans. An organization is on exactly one plan (organizations.plan_code); its limits are enforced by user_management.enforce_plan_limit() triggers (EL008). Reference data written only by migrations.';
COMMENT ON COLUMN user_management.subscription_plans.code IS
'Plan code: free, basic, pro or enterprise (closed set, ck_subscription_plans_code).';
COMMENT ON COLUMN user_management.subscription_plans.name IS
'Display name of the plan.';
COMMENT ON COLUMN user_management.subscription_plans.description IS
'What the plan offers, in one sentence (English).';
COMMENT ON COLUMN user_management.subscription_plans.max_users IS
'Maximum number of live (not soft-deleted) users of an organization; NULL = unlimited.';
COMMENT ON COLUMN user_management.subscription_plans.max_courses IS
'Maximum number of live (not soft-deleted) courses of an organization; NULL = unlimited. Enforced once courses exist (later migration, same trigger function).';
COMMENT ON COLUMN user_management.subscription_plans.max_storage_bytes IS
'Maximum total size in bytes of the media assets of an organization; NULL = unlimited. Enforced once media assets exist (later migration, same trigger function).';
COMMENT ON COLUMN user_management.subscription_plans.created_at IS
'When the plan was created.';
COMMENT ON COLUMN user_management.subscription_plans.updated_at IS
'When the plan was last changed (maintained by trigger).';

INSERT INTO user_management.subscription_plans (
    code, name, description, max_users, max_courses, max_storage_bytes
) VALUES
(
    'free', 'Free',
    'For trying the platform: a handful of users and courses.',
    5, 3, 1073741824
),
(
    'basic', 'Basic',
    'For small schools and teams.',
    50, 25, 10737418240
),
(
    'pro', 'Pro',
    'For growing academies: many users, unlimited courses.',
    500, NULL, 107374182400
),
(
    'enterprise', 'Enterprise',
    'For large organizations: no limits.',
    NULL, NULL, NULL
);

ALTER TABLE user_management.subscription_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.subscription_plans FORCE ROW LEVEL SECURITY;
