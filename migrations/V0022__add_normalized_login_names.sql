-- =============================================================================
-- V0022__add_normalized_login_names
-- Purpose:       look users up by e-mail / user name through an index even under
--                row-level security. lower(email) cannot be an index condition
--                when RLS applies: lower() is not LEAKPROOF, so the planner
--                evaluates the policy first and filters every user of the
--                organization instead (bench/rls_cost.py: the login lookup was
--                11x slower as the app role than as superuser). A plain column
--                compared with = (texteq is leakproof) is an index condition.
--                Kept by a trigger, not GENERATED: a generated column is NULL in
--                BEFORE triggers, so app.set_updated_at() would see every UPDATE
--                as a change. Steps: V0022 columns + backfill + NOT VALID checks,
--                V0023 validation, V0024/V0025 indexes built CONCURRENTLY, V0026
--                old indexes dropped CONCURRENTLY, V0027 the lookup switched.
-- Concern:       users: the normalized login-name columns, their trigger and backfill.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE user_management.users
ADD COLUMN email_normalized text,
ADD COLUMN username_normalized text;

COMMENT ON COLUMN user_management.users.email_normalized IS
'PII: lower(email), kept by trg_users_normalize_login_names. Look users up by e-mail with email_normalized = lower($1); unique among live users of the organization (uq_users_organization_id_email_normalized).';
COMMENT ON COLUMN user_management.users.username_normalized IS
'PII: lower(username), kept by trg_users_normalize_login_names; unique among live users of the organization (uq_users_organization_id_username_normalized).';
COMMENT ON COLUMN user_management.users.email IS
'PII: e-mail address as entered, the login name. Unique per organization among live users case-insensitively through email_normalized; look it up with email_normalized = lower($1).';

CREATE FUNCTION user_management.normalize_login_names()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.email_normalized := pg_catalog.lower(NEW.email);
    NEW.username_normalized := pg_catalog.lower(NEW.username);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION user_management.normalize_login_names() IS
'BEFORE INSERT OR UPDATE trigger of users (trg_users_normalize_login_names): email_normalized = lower(email), username_normalized = lower(username); values sent by a client are overwritten.';
REVOKE ALL ON FUNCTION user_management.normalize_login_names() FROM PUBLIC;

CREATE TRIGGER trg_users_normalize_login_names
BEFORE INSERT OR UPDATE ON user_management.users
FOR EACH ROW EXECUTE FUNCTION user_management.normalize_login_names();
COMMENT ON TRIGGER trg_users_normalize_login_names ON user_management.users IS
'Keeps email_normalized and username_normalized equal to the lower-cased e-mail and user name.';

-- Backfill. FORCE ROW LEVEL SECURITY filters the owner too, and a migration
-- has no tenant context: lift FORCE around this statement (same transaction,
-- so no other session ever sees the table unforced; the repeatable policies
-- file forces it again in any case).
ALTER TABLE user_management.users NO FORCE ROW LEVEL SECURITY;
UPDATE user_management.users
SET
    email_normalized = pg_catalog.lower(email),
    username_normalized = pg_catalog.lower(username)
WHERE email_normalized IS NULL;
ALTER TABLE user_management.users FORCE ROW LEVEL SECURITY;

-- NOT VALID: new and updated rows are checked now, existing rows by V0023 in a
-- transaction of its own that takes only a SHARE UPDATE EXCLUSIVE lock.
ALTER TABLE user_management.users
ADD CONSTRAINT ck_users_email_normalized
CHECK (email_normalized IS NOT NULL AND email_normalized = pg_catalog.lower(email)) NOT VALID,
ADD CONSTRAINT ck_users_username_normalized
CHECK (username_normalized IS NOT DISTINCT FROM pg_catalog.lower(username)) NOT VALID;
