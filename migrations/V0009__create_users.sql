-- =============================================================================
-- V0009__create_users
-- Purpose:       user accounts of an organization: identity, credentials (as
--                hashes or references only), login state, suspension, profile.
-- Concern:       users (table, its indexes and its verification-reset trigger).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        the app inserts users and updates profile and contact columns
--                (column privileges in sql/manifest.yaml); credentials, login
--                counters, lockout and suspension change only through the
--                SECURITY DEFINER functions of later migrations.
-- E-mail:        text compared with lower(), not citext: the unique index is on
--                (organization_id, lower(email)) among live users, and lookups
--                write lower(email) = lower($1). A citext column would compare
--                case-sensitively whenever schema extensions is not on the
--                search path (sql/CONVENTIONS.md, Extensions).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE user_management.users (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    email text NOT NULL,
    email_verified_at timestamptz,
    username text,
    phone text,
    phone_verified_at timestamptz,
    password_hash text,
    two_factor_method text,
    two_factor_enabled_at timestamptz,
    two_factor_secret_ref text,
    recovery_code_hashes text[],
    last_login_at timestamptz,
    -- Per-user counters; integer cannot overflow in practice.
    -- squawk-ignore prefer-bigint-over-int
    login_count integer NOT NULL DEFAULT 0,
    -- squawk-ignore prefer-bigint-over-int
    failed_login_count integer NOT NULL DEFAULT 0,
    failed_login_window_started_at timestamptz,
    locked_until timestamptz,
    suspended_at timestamptz,
    suspended_reason text,
    suspended_by uuid,
    timezone text NOT NULL DEFAULT 'UTC',
    locale text,
    display_name text NOT NULL,
    first_name text,
    last_name text,
    avatar_url text,
    bio text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_users PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_users_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT fk_users_suspended_by FOREIGN KEY (organization_id, suspended_by)
    REFERENCES user_management.users (organization_id, id),
    CONSTRAINT ck_users_email_format
    CHECK (
        char_length(email) BETWEEN 3 AND 254
        AND email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'
    ),
    CONSTRAINT ck_users_username_format
    CHECK (username ~ '^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,38}[A-Za-z0-9])$'),
    CONSTRAINT ck_users_phone_format
    CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    CONSTRAINT ck_users_phone_verified_at
    CHECK (phone_verified_at IS NULL OR phone IS NOT NULL),
    -- Only the two formats the application produces; anything else
    -- (plaintext, an unsalted digest, a truncated hash) is refused.
    CONSTRAINT ck_users_password_hash_format
    CHECK (
        char_length(password_hash) <= 512
        AND (
            password_hash ~ (
                '^\$argon2id\$v=19\$m=[0-9]{1,10},t=[0-9]{1,10},p=[0-9]{1,3}'
                || '\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$'
            )
            OR password_hash
            ~ '^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$'
        )
    ),
    CONSTRAINT ck_users_two_factor_method
    CHECK (two_factor_method IN ('totp', 'sms', 'email')),
    CONSTRAINT ck_users_two_factor_enabled_at
    CHECK ((two_factor_method IS NULL) = (two_factor_enabled_at IS NULL)),
    -- A reference (scheme:locator, e.g. vault:kv/users/...) to a secret kept
    -- encrypted elsewhere; a raw base32 TOTP secret has no scheme and fails.
    CONSTRAINT ck_users_two_factor_secret_ref_format
    CHECK (
        char_length(two_factor_secret_ref) <= 500
        AND two_factor_secret_ref ~ '^[a-z][a-z0-9+.-]*:[^[:space:]]+$'
    ),
    CONSTRAINT ck_users_two_factor_secret_ref
    CHECK (
        CASE
            WHEN two_factor_method = 'totp' THEN two_factor_secret_ref IS NOT NULL
            ELSE two_factor_secret_ref IS NULL
        END
    ),
    CONSTRAINT ck_users_recovery_code_hashes_format
    CHECK (
        app.is_sha256_hex_array(recovery_code_hashes)
        AND cardinality(recovery_code_hashes) <= 20
    ),
    CONSTRAINT ck_users_recovery_code_hashes
    CHECK (recovery_code_hashes IS NULL OR two_factor_method IS NOT NULL),
    CONSTRAINT ck_users_login_count
    CHECK (login_count >= 0),
    CONSTRAINT ck_users_failed_login_count
    CHECK (failed_login_count >= 0),
    CONSTRAINT ck_users_failed_login_window
    CHECK ((failed_login_count = 0) = (failed_login_window_started_at IS NULL)),
    CONSTRAINT ck_users_suspension
    CHECK (
        (
            suspended_at IS NULL
            AND suspended_reason IS NULL
            AND suspended_by IS NULL
        )
        OR (suspended_at IS NOT NULL AND suspended_reason IS NOT NULL)
    ),
    CONSTRAINT ck_users_suspended_reason_length
    CHECK (char_length(suspended_reason) BETWEEN 1 AND 500),
    CONSTRAINT ck_users_suspended_by_not_self
    CHECK (suspended_by <> id),
    CONSTRAINT ck_users_timezone
    CHECK (app.is_valid_timezone(timezone)),
    CONSTRAINT ck_users_locale
    CHECK (app.is_valid_locale(locale)),
    CONSTRAINT ck_users_display_name_length
    CHECK (char_length(display_name) BETWEEN 1 AND 100),
    CONSTRAINT ck_users_first_name_length
    CHECK (char_length(first_name) BETWEEN 1 AND 100),
    CONSTRAINT ck_users_last_name_length
    CHECK (char_length(last_name) BETWEEN 1 AND 100),
    CONSTRAINT ck_users_avatar_url_format
    CHECK (
        char_length(avatar_url) <= 2048
        AND avatar_url ~ '^https://[^[:space:]]+$'
    ),
    CONSTRAINT ck_users_bio_length
    CHECK (char_length(bio) BETWEEN 1 AND 2000),
    CONSTRAINT ck_users_deleted_at
    CHECK (deleted_at >= created_at)
);

-- One live account per e-mail address and per user name in an organization,
-- compared case-insensitively; soft-deleted accounts free them.
CREATE UNIQUE INDEX uq_users_organization_id_email
ON user_management.users (organization_id, lower(email))
WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX uq_users_organization_id_username
ON user_management.users (organization_id, lower(username))
WHERE deleted_at IS NULL;
CREATE INDEX idx_users_organization_id_suspended_by
ON user_management.users (organization_id, suspended_by)
WHERE suspended_by IS NOT NULL;

COMMENT ON TABLE user_management.users IS
'User accounts of an organization. Passwords and recovery codes are stored only as hashes, the TOTP secret only as a reference. Login counters, lockout, suspension and credentials change only through SECURITY DEFINER functions (record_login_failure, record_login_success, suspend_user, set_password_hash, ...). Soft-deleted (deleted_at).';
COMMENT ON COLUMN user_management.users.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN user_management.users.id IS
'User id (UUIDv7); the value of app.user_id while the user acts.';
COMMENT ON COLUMN user_management.users.email IS
'PII: e-mail address, the login name. Unique per organization among live users, case-insensitively (uq_users_organization_id_email); look it up with lower(email) = lower($1).';
COMMENT ON COLUMN user_management.users.email_verified_at IS
'When the user proved to own the e-mail address (consume_auth_token, purpose email_verification or invitation); reset to NULL when email changes.';
COMMENT ON COLUMN user_management.users.username IS
'PII: optional public user name, 3-40 characters (letters, digits, . _ -), unique per organization among live users case-insensitively (uq_users_organization_id_username).';
COMMENT ON COLUMN user_management.users.phone IS
'PII: optional phone number in E.164 format (+4930123456).';
COMMENT ON COLUMN user_management.users.phone_verified_at IS
'When the phone number was verified; reset to NULL when phone changes.';
COMMENT ON COLUMN user_management.users.password_hash IS
'Secret: argon2id ($argon2id$v=19$m=..,t=..,p=..$salt$hash) or bcrypt ($2a$/$2b$/$2y$) hash of the password, computed by the application; anything else (plaintext) fails ck_users_password_hash_format. NULL = no password (invited, or single sign-on). Changed only by set_password_hash(). Never audited, never readable by the read-only role.';
COMMENT ON COLUMN user_management.users.two_factor_method IS
'Second factor: totp, sms or email; NULL = two-factor authentication off.';
COMMENT ON COLUMN user_management.users.two_factor_enabled_at IS
'When two-factor authentication was enabled; set exactly when two_factor_method is.';
COMMENT ON COLUMN user_management.users.two_factor_secret_ref IS
'Secret reference: where the encrypted TOTP secret is kept (scheme:locator, e.g. vault:kv/elearn/totp/<id>), never the secret itself. Required for totp, NULL otherwise. Never audited, never readable by the read-only role.';
COMMENT ON COLUMN user_management.users.recovery_code_hashes IS
'Secret: SHA-256 digests (64 lower-case hex characters) of the unused two-factor recovery codes, at most 20; a used code is removed (consume_recovery_code). Only with two-factor authentication. Never audited, never readable by the read-only role.';
COMMENT ON COLUMN user_management.users.last_login_at IS
'When the user last logged in successfully (record_login_success).';
COMMENT ON COLUMN user_management.users.login_count IS
'Number of successful logins (record_login_success).';
COMMENT ON COLUMN user_management.users.failed_login_count IS
'Failed logins in the current window (record_login_failure); reset by a successful login. Reaching the organization''s login_max_failures (default 5) locks the account.';
COMMENT ON COLUMN user_management.users.failed_login_window_started_at IS
'First failure of the current counting window; NULL exactly when failed_login_count = 0. A failure after login_window_minutes (default 15) starts a new window.';
COMMENT ON COLUMN user_management.users.locked_until IS
'Login locked until this time after too many failures (login_lockout_minutes, default 15); record_login_success raises EL003 before it.';
COMMENT ON COLUMN user_management.users.suspended_at IS
'When the account was suspended (suspend_user); NULL = not suspended. A suspended user holds no permission and cannot log in (EL004).';
COMMENT ON COLUMN user_management.users.suspended_reason IS
'PII: why the account was suspended (free text, 1-500 characters); set exactly when suspended_at is.';
COMMENT ON COLUMN user_management.users.suspended_by IS
'User who suspended the account (never the user themself); NULL when not suspended or suspended by the system.';
COMMENT ON COLUMN user_management.users.timezone IS
'IANA time zone of the user (app.is_valid_timezone), default UTC. Local dates (streaks, reminders) are computed in it.';
COMMENT ON COLUMN user_management.users.locale IS
'Preferred language, BCP 47 tag (app.is_valid_locale); NULL = the organization''s default_locale.';
COMMENT ON COLUMN user_management.users.display_name IS
'PII: name shown to other users (1-100 characters).';
COMMENT ON COLUMN user_management.users.first_name IS
'PII: given name.';
COMMENT ON COLUMN user_management.users.last_name IS
'PII: family name.';
COMMENT ON COLUMN user_management.users.avatar_url IS
'PII: https URL of the profile picture.';
COMMENT ON COLUMN user_management.users.bio IS
'PII: free-text self-description (1-2000 characters).';
COMMENT ON COLUMN user_management.users.created_at IS
'When the account was created (immutable).';
COMMENT ON COLUMN user_management.users.updated_at IS
'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN user_management.users.deleted_at IS
'Soft delete: when the account was deleted; NULL = live. A deleted user holds no permission and frees e-mail and user name.';

-- ---------------------------------------------------------------------------
-- A changed e-mail address or phone number is not verified.
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.reset_contact_verification()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A statement that sets the verification time itself (a definer function
    -- that verified the new value) keeps it.
    IF pg_catalog.lower(NEW.email) IS DISTINCT FROM pg_catalog.lower(OLD.email)
       AND NEW.email_verified_at IS NOT DISTINCT FROM OLD.email_verified_at THEN
        NEW.email_verified_at := NULL;
    END IF;
    IF NEW.phone IS DISTINCT FROM OLD.phone
       AND NEW.phone_verified_at IS NOT DISTINCT FROM OLD.phone_verified_at THEN
        NEW.phone_verified_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION user_management.reset_contact_verification() IS
'BEFORE UPDATE OF email, phone trigger of users (trg_users_reset_verification): a changed e-mail address (compared case-insensitively) clears email_verified_at, a changed phone number clears phone_verified_at, unless the same statement sets the verification time itself.';
REVOKE ALL ON FUNCTION user_management.reset_contact_verification() FROM PUBLIC;

CREATE TRIGGER trg_users_reset_verification
BEFORE UPDATE OF email, phone ON user_management.users
FOR EACH ROW EXECUTE FUNCTION user_management.reset_contact_verification();
COMMENT ON TRIGGER trg_users_reset_verification ON user_management.users IS
'Clears email_verified_at / phone_verified_at when the e-mail address / phone number changes.';

ALTER TABLE user_management.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.users FORCE ROW LEVEL SECURITY;
