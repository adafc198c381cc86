-- =============================================================================
-- V0008__create_organizations
-- Purpose:       the tenant root: one row per organization (school, company),
--                its plan, settings, status and subscription period.
-- Concern:       organizations (table and the validator of its settings).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        rows are created only by user_management.create_organization()
--                (SECURITY DEFINER); the app updates name, settings and contact
--                details with organization.manage (manifest profile root).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Settings validator (used by the CHECK below)
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.organization_settings_are_valid(p_settings jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN pg_catalog.jsonb_typeof(p_settings) <> 'object' THEN false
               ELSE NOT EXISTS (
                   SELECT 1
                     FROM pg_catalog.jsonb_each(p_settings) AS s (key, value)
                    WHERE NOT CASE
                              WHEN s.key IN ('login_max_failures',
                                             'login_window_minutes',
                                             'login_lockout_minutes') THEN
                                  CASE
                                      WHEN pg_catalog.jsonb_typeof(s.value) = 'number'
                                       AND s.value::text ~ '^[0-9]{1,6}$' THEN
                                          s.value::text::integer BETWEEN 1 AND
                                          CASE s.key
                                              WHEN 'login_max_failures' THEN 100
                                              WHEN 'login_window_minutes' THEN 1440
                                              ELSE 10080
                                          END
                                      ELSE false
                                  END
                              WHEN s.key = 'default_locale' THEN
                                  pg_catalog.jsonb_typeof(s.value) = 'string'
                                  AND coalesce(app.is_valid_locale(
                                          s.value OPERATOR(pg_catalog.#>>) '{}'::text[]), false)
                              WHEN s.key = 'default_timezone' THEN
                                  pg_catalog.jsonb_typeof(s.value) = 'string'
                                  AND coalesce(app.is_valid_timezone(
                                          s.value OPERATOR(pg_catalog.#>>) '{}'::text[]), false)
                              ELSE false
                          END)
           END
$$;
COMMENT ON FUNCTION user_management.organization_settings_are_valid(jsonb) IS
'CHECK predicate of organizations.settings: a JSON object whose keys are all known and valid: login_max_failures (integer 1-100, default 5), login_window_minutes (integer 1-1440, default 15), login_lockout_minutes (integer 1-10080, default 15), default_locale (BCP 47 tag, app.is_valid_locale), default_timezone (IANA name, app.is_valid_timezone). Every key is optional; an unknown key makes the settings invalid. NULL for NULL. IMMUTABLE for the reasons given on app.is_valid_timezone.';
REVOKE ALL ON FUNCTION user_management.organization_settings_are_valid(jsonb) FROM PUBLIC;
-- CHECK constraints run with the privileges of the writing role.
GRANT EXECUTE ON FUNCTION user_management.organization_settings_are_valid(jsonb)
TO ${app_role};

-- ---------------------------------------------------------------------------
-- Table
-- ---------------------------------------------------------------------------
CREATE TABLE user_management.organizations (
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    name text NOT NULL,
    slug text NOT NULL,
    plan_code text NOT NULL DEFAULT 'free',
    settings jsonb NOT NULL DEFAULT '{}'::jsonb,
    contact_email text,
    contact_phone text,
    status text NOT NULL DEFAULT 'active',
    trial_ends_at timestamptz,
    subscription_started_at timestamptz,
    subscription_ends_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_organizations PRIMARY KEY (id),
    CONSTRAINT fk_organizations_plan_code FOREIGN KEY (plan_code)
    REFERENCES user_management.subscription_plans (code) ON DELETE RESTRICT,
    CONSTRAINT ck_organizations_name_length
    CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT ck_organizations_slug_format
    CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$'),
    CONSTRAINT ck_organizations_settings
    CHECK (user_management.organization_settings_are_valid(settings)),
    CONSTRAINT ck_organizations_contact_email_format
    CHECK (
        char_length(contact_email) BETWEEN 3 AND 254
        AND contact_email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'
    ),
    CONSTRAINT ck_organizations_contact_phone_format
    CHECK (contact_phone ~ '^\+[1-9][0-9]{6,14}$'),
    CONSTRAINT ck_organizations_status
    CHECK (status IN ('active', 'suspended', 'cancelled')),
    CONSTRAINT ck_organizations_trial_ends_at
    CHECK (trial_ends_at > created_at),
    CONSTRAINT ck_organizations_subscription_period
    CHECK (
        subscription_ends_at IS NULL
        OR (
            subscription_started_at IS NOT NULL
            AND subscription_ends_at > subscription_started_at
        )
    ),
    CONSTRAINT ck_organizations_deleted_at
    CHECK (deleted_at >= created_at)
);

-- A slug names one live organization; a soft-deleted organization frees it.
CREATE UNIQUE INDEX uq_organizations_slug
ON user_management.organizations (slug)
WHERE deleted_at IS NULL;
CREATE INDEX idx_organizations_plan_code
ON user_management.organizations (plan_code);

COMMENT ON TABLE user_management.organizations IS
'Tenants: one row per organization (school, academy, company). Every tenant table carries its organization_id. Created only by user_management.create_organization(); soft-deleted (deleted_at).';
COMMENT ON COLUMN user_management.organizations.id IS
'Organization id (UUIDv7): the tenant key, the value of app.organization_id.';
COMMENT ON COLUMN user_management.organizations.name IS
'Display name of the organization (1-200 characters).';
COMMENT ON COLUMN user_management.organizations.slug IS
'URL name: 3-63 characters, lower-case letters, digits and inner hyphens (a DNS label). Unique among live organizations (uq_organizations_slug).';
COMMENT ON COLUMN user_management.organizations.plan_code IS
'Subscription plan (user_management.subscription_plans); its limits are enforced by enforce_plan_limit() triggers.';
COMMENT ON COLUMN user_management.organizations.settings IS
'Organization settings, a JSON object validated by user_management.organization_settings_are_valid(): login_max_failures, login_window_minutes, login_lockout_minutes (login lockout policy), default_locale, default_timezone. Unknown keys are rejected.';
COMMENT ON COLUMN user_management.organizations.contact_email IS
'PII: e-mail address of the organization''s contact person (may be a personal address).';
COMMENT ON COLUMN user_management.organizations.contact_phone IS
'PII: phone number of the organization''s contact person, E.164 (+4930123456).';
COMMENT ON COLUMN user_management.organizations.status IS
'active, suspended (access blocked, e.g. unpaid) or cancelled (subscription ended; data kept until deletion).';
COMMENT ON COLUMN user_management.organizations.trial_ends_at IS
'End of the free trial; NULL = no trial.';
COMMENT ON COLUMN user_management.organizations.subscription_started_at IS
'Start of the current subscription period; NULL = never subscribed.';
COMMENT ON COLUMN user_management.organizations.subscription_ends_at IS
'End of the current subscription period (after subscription_started_at); NULL = open-ended.';
COMMENT ON COLUMN user_management.organizations.created_at IS
'When the organization was created (immutable).';
COMMENT ON COLUMN user_management.organizations.updated_at IS
'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN user_management.organizations.deleted_at IS
'Soft delete: when the organization was deleted; NULL = live. Frees its slug.';

ALTER TABLE user_management.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.organizations FORCE ROW LEVEL SECURITY;
