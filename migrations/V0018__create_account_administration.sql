-- =============================================================================
-- V0018__create_account_administration
-- Purpose:       the account operations the application cannot do with plain
--                DML (it has no UPDATE privilege on these columns): suspension,
--                session revocation, password and two-factor changes; and a
--                guard on the identity columns it may update.
-- Concern:       account administration functions and the users guard trigger.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs: EL005 (a user tried to suspend or reactivate themself),
--                EL009 (the organization would lose its last owner).
-- Rule:          acting on another user (suspend, reset credentials, change
--                e-mail/phone, delete) requires holding every permission that
--                user holds organization-wide (granted_permission_keys), so an
--                administrator cannot take over or lock out an owner (42501).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Internal helpers
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.require_covers_user(p_actor_id uuid, p_target_id uuid)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_missing text[];
BEGIN
    IF p_actor_id = p_target_id THEN
        RETURN;
    END IF;
    SELECT pg_catalog.array_agg(k.key ORDER BY k.key)
      INTO v_missing
      FROM pg_catalog.unnest(user_management.granted_permission_keys(p_target_id)) AS k (key)
     WHERE NOT k.key = ANY (user_management.granted_permission_keys(p_actor_id));
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'user % holds permissions that user % does not hold', p_target_id, p_actor_id
              USING ERRCODE = '42501',
                    DETAIL = 'Missing: ' || pg_catalog.array_to_string(v_missing, ', ') || '.',
                    HINT = 'Only a user holding at least the same permissions can do this.';
    END IF;
END
$$;
COMMENT ON FUNCTION user_management.require_covers_user(uuid, uuid) IS
'Internal: raises 42501 (DETAIL lists the missing keys) unless p_actor_id holds, organization-wide, every permission that p_target_id holds organization-wide (granted_permission_keys). A user always covers themself.';

CREATE FUNCTION user_management.other_owner_exists(p_user_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
          FROM user_management.user_roles AS ur
          JOIN user_management.roles AS r
            ON r.organization_id = ur.organization_id
           AND r.id = ur.role_id
          JOIN user_management.users AS u
            ON u.organization_id = ur.organization_id
           AND u.id = ur.user_id
         WHERE ur.organization_id = app.current_organization_id()
           AND ur.user_id <> p_user_id
           AND ur.course_id IS NULL
           AND ur.revoked_at IS NULL
           AND (ur.expires_at IS NULL OR ur.expires_at > pg_catalog.now())
           AND r.system_key = 'owner'
           AND u.deleted_at IS NULL
           AND u.suspended_at IS NULL)
$$;
COMMENT ON FUNCTION user_management.other_owner_exists(uuid) IS
'Internal: true when a live, unsuspended user other than p_user_id holds an active organization-wide grant of the system owner role in the acting organization.';

CREATE FUNCTION user_management.is_owner(p_user_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
          FROM user_management.user_roles AS ur
          JOIN user_management.roles AS r
            ON r.organization_id = ur.organization_id
           AND r.id = ur.role_id
         WHERE ur.organization_id = app.current_organization_id()
           AND ur.user_id = p_user_id
           AND ur.course_id IS NULL
           AND ur.revoked_at IS NULL
           AND (ur.expires_at IS NULL OR ur.expires_at > pg_catalog.now())
           AND r.system_key = 'owner')
$$;
COMMENT ON FUNCTION user_management.is_owner(uuid) IS
'Internal: true when p_user_id holds an active organization-wide grant of the system owner role in the acting organization.';

CREATE FUNCTION user_management.require_other_owner(p_user_id uuid)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
BEGIN
    IF user_management.is_owner(p_user_id)
       AND NOT user_management.other_owner_exists(p_user_id) THEN
        RAISE EXCEPTION 'user % is the last owner of the organization', p_user_id
              USING ERRCODE = 'EL009',
                    DETAIL = 'An organization always keeps one live, unsuspended owner.',
                    HINT = 'Grant the owner role to another user first.';
    END IF;
END
$$;
COMMENT ON FUNCTION user_management.require_other_owner(uuid) IS
'Internal: raises EL009 when p_user_id is an owner (is_owner) and no other live, unsuspended owner exists (other_owner_exists): used before suspending, deleting or demoting a user.';

-- ---------------------------------------------------------------------------
-- Suspension
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.suspend_user(p_user_id uuid, p_reason text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_actor_id uuid := user_management.require_permission('user.suspend');
    v_suspended_at timestamptz;
BEGIN
    IF p_user_id = v_actor_id THEN
        RAISE EXCEPTION 'users cannot suspend themselves'
              USING ERRCODE = 'EL005',
                    HINT = 'Another user holding user.suspend must do it.';
    END IF;
    IF p_reason IS NULL OR pg_catalog.char_length(p_reason) NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'p_reason must have 1 to 500 characters' USING ERRCODE = '22023';
    END IF;
    SELECT u.suspended_at INTO v_suspended_at
      FROM user_management.users AS u
     WHERE u.organization_id = app.current_organization_id()
       AND u.id = p_user_id
       AND u.deleted_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live user % in the organization', p_user_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM user_management.require_covers_user(v_actor_id, p_user_id);
    IF v_suspended_at IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM user_management.require_other_owner(p_user_id);

    UPDATE user_management.users AS u
       SET suspended_at = pg_catalog.now(),
           suspended_reason = p_reason,
           suspended_by = v_actor_id
     WHERE u.organization_id = app.current_organization_id()
       AND u.id = p_user_id;
    UPDATE user_management.sessions AS s
       SET revoked_at = pg_catalog.now(),
           revoked_reason = 'user_suspended'
     WHERE s.organization_id = app.current_organization_id()
       AND s.user_id = p_user_id
       AND s.revoked_at IS NULL;
    RETURN true;
END
$$;
COMMENT ON FUNCTION user_management.suspend_user(uuid, text) IS
'Suspends p_user_id (reason 1-500 characters, else 22023) and revokes all their sessions (reason user_suspended). Needs user.suspend (42501); nobody suspends themself (EL005); the actor must hold every permission the target holds (42501); the last owner cannot be suspended (EL009); P0002 for no live user. Returns false (and changes nothing) when the user was already suspended.';

CREATE FUNCTION user_management.unsuspend_user(p_user_id uuid)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_actor_id uuid := user_management.require_permission('user.suspend');
    v_suspended_at timestamptz;
BEGIN
    IF p_user_id = v_actor_id THEN
        RAISE EXCEPTION 'users cannot reactivate themselves'
              USING ERRCODE = 'EL005';
    END IF;
    SELECT u.suspended_at INTO v_suspended_at
      FROM user_management.users AS u
     WHERE u.organization_id = app.current_organization_id()
       AND u.id = p_user_id
       AND u.deleted_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live user % in the organization', p_user_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM user_management.require_covers_user(v_actor_id, p_user_id);
    IF v_suspended_at IS NULL THEN
        RETURN false;
    END IF;
    UPDATE user_management.users AS u
       SET suspended_at = NULL,
           suspended_reason = NULL,
           suspended_by = NULL
     WHERE u.organization_id = app.current_organization_id()
       AND u.id = p_user_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION user_management.unsuspend_user(uuid) IS
'Reactivates the suspended user p_user_id. Needs user.suspend (42501) and every permission the target holds (42501); EL005 for oneself; P0002 for no live user. Returns false when the user was not suspended. Revoked sessions stay revoked.';

-- ---------------------------------------------------------------------------
-- Sessions
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.revoke_sessions(p_user_id uuid, p_reason text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_actor_id uuid := user_management.require_acting_user();
    v_reason text;
    v_count integer;
BEGIN
    IF p_user_id IS DISTINCT FROM v_actor_id THEN
        PERFORM user_management.require_permission('session.revoke');
    END IF;
    v_reason := coalesce(p_reason,
                         CASE WHEN p_user_id = v_actor_id THEN 'user_request' ELSE 'admin' END);
    IF v_reason NOT IN ('logout', 'user_request', 'admin', 'password_changed',
                        'user_suspended', 'security') THEN
        RAISE EXCEPTION 'unknown revocation reason %', v_reason
              USING ERRCODE = '22023',
                    HINT = 'logout, user_request, admin, password_changed, user_suspended or security.';
    END IF;
    UPDATE user_management.sessions AS s
       SET revoked_at = pg_catalog.now(),
           revoked_reason = v_reason
     WHERE s.organization_id = app.current_organization_id()
       AND s.user_id = p_user_id
       AND s.revoked_at IS NULL
       AND s.expires_at > pg_catalog.now();
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION user_management.revoke_sessions(uuid, text) IS
'Revokes every live session of p_user_id and returns how many. Allowed for one''s own sessions, or with session.revoke (42501 otherwise). p_reason: logout, user_request, admin, password_changed, user_suspended or security (22023 otherwise); default user_request for oneself, admin for others.';

-- ---------------------------------------------------------------------------
-- Credentials
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.set_password_hash(
    p_user_id uuid,
    p_password_hash text,
    p_keep_session_token_hash text DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_actor_id uuid := user_management.require_acting_user();
    v_count integer;
BEGIN
    IF p_user_id IS DISTINCT FROM v_actor_id THEN
        PERFORM user_management.require_permission('user.manage');
        PERFORM user_management.require_covers_user(v_actor_id, p_user_id);
    END IF;
    UPDATE user_management.users AS u
       SET password_hash = p_password_hash,
           failed_login_count = 0,
           failed_login_window_started_at = NULL,
           locked_until = NULL
     WHERE u.organization_id = app.current_organization_id()
       AND u.id = p_user_id
       AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live user % in the organization', p_user_id USING ERRCODE = 'P0002';
    END IF;
    UPDATE user_management.sessions AS s
       SET revoked_at = pg_catalog.now(),
           revoked_reason = 'password_changed'
     WHERE s.organization_id = app.current_organization_id()
       AND s.user_id = p_user_id
       AND s.revoked_at IS NULL
       AND s.token_hash IS DISTINCT FROM p_keep_session_token_hash;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION user_management.set_password_hash(uuid, text, text) IS
'Sets the password hash of p_user_id (argon2id or bcrypt format, 23514 ck_users_password_hash_format otherwise; NULL removes the password), clears failed-login counters and lock, and revokes the user''s sessions (reason password_changed) except the one whose token hash is p_keep_session_token_hash; returns the number revoked. For oneself (the application checked the old password or consumed a password_reset token and set app.user_id), or with user.manage and every permission the target holds (42501). P0002 for no live user.';

CREATE FUNCTION user_management.enable_two_factor(
    p_method text,
    p_secret_ref text,
    p_recovery_code_hashes text[]
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_actor_id uuid := user_management.require_acting_user();
BEGIN
    UPDATE user_management.users AS u
       SET two_factor_method = p_method,
           two_factor_enabled_at = pg_catalog.now(),
           two_factor_secret_ref = p_secret_ref,
           recovery_code_hashes = p_recovery_code_hashes
     WHERE u.organization_id = app.current_organization_id()
       AND u.id = v_actor_id;
END
$$;
COMMENT ON FUNCTION user_management.enable_two_factor(text, text, text[]) IS
'Enables (or re-keys) two-factor authentication for the acting user only: p_method totp (p_secret_ref required: a reference to the encrypted secret, never the secret), sms or email (p_secret_ref NULL); p_recovery_code_hashes: SHA-256 hex digests of the recovery codes, at most 20, or NULL. Violations fail with the users CHECK constraints (23514 ck_users_two_factor_*, ck_users_recovery_code_hashes_format).';

CREATE FUNCTION user_management.disable_two_factor(p_user_id uuid)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_actor_id uuid := user_management.require_acting_user();
BEGIN
    IF p_user_id IS DISTINCT FROM v_actor_id THEN
        PERFORM user_management.require_permission('user.manage');
        PERFORM user_management.require_covers_user(v_actor_id, p_user_id);
    END IF;
    UPDATE user_management.users AS u
       SET two_factor_method = NULL,
           two_factor_enabled_at = NULL,
           two_factor_secret_ref = NULL,
           recovery_code_hashes = NULL
     WHERE u.organization_id = app.current_organization_id()
       AND u.id = p_user_id
       AND u.two_factor_method IS NOT NULL;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION user_management.disable_two_factor(uuid) IS
'Turns two-factor authentication off for p_user_id and forgets its secret reference and recovery codes: for oneself, or with user.manage and every permission the target holds (42501). Returns false when it was not on.';

CREATE FUNCTION user_management.consume_recovery_code(p_user_id uuid, p_code_hash text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := user_management.require_organization();
BEGIN
    UPDATE user_management.users AS u
       SET recovery_code_hashes = pg_catalog.array_remove(u.recovery_code_hashes, p_code_hash)
     WHERE u.organization_id = v_organization_id
       AND u.id = p_user_id
       AND u.deleted_at IS NULL
       AND p_code_hash = ANY (u.recovery_code_hashes);
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION user_management.consume_recovery_code(uuid, text) IS
'Second login step with a recovery code: when p_code_hash (SHA-256 hex of the code typed) is one of the unused recovery codes of p_user_id, removes it and returns true (each code works once, also under concurrent use: the row is updated under its lock); false otherwise (then record the failure with record_login_failure(..., ''second_factor_failed'')). Needs only the organization context.';

-- ---------------------------------------------------------------------------
-- Guard on the identity columns the application may update
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.guard_user_identity()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_actor_id uuid := app.current_user_id();
BEGIN
    IF v_actor_id IS NOT NULL AND v_actor_id <> OLD.id
       AND (pg_catalog.lower(NEW.email) IS DISTINCT FROM pg_catalog.lower(OLD.email)
            OR NEW.phone IS DISTINCT FROM OLD.phone
            OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at) THEN
        PERFORM user_management.require_covers_user(v_actor_id, OLD.id);
    END IF;
    IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
        PERFORM user_management.require_other_owner(OLD.id);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION user_management.guard_user_identity() IS
'BEFORE UPDATE OF email, phone, deleted_at trigger of users (trg_users_guard_identity): changing another user''s e-mail address or phone number (the keys to a password reset) or deleting/undeleting them requires holding every permission they hold (42501), so user.manage alone cannot take over or remove an owner; deleting the last owner raises EL009. Without an acting user (maintenance) only the last-owner rule applies.';

CREATE TRIGGER trg_users_guard_identity
BEFORE UPDATE OF email, phone, deleted_at ON user_management.users
FOR EACH ROW EXECUTE FUNCTION user_management.guard_user_identity();
COMMENT ON TRIGGER trg_users_guard_identity ON user_management.users IS
'Changing another user''s e-mail, phone or deletion needs their permissions (42501); the last owner stays (EL009).';

REVOKE ALL ON FUNCTION
user_management.require_covers_user(uuid, uuid),
user_management.other_owner_exists(uuid),
user_management.is_owner(uuid),
user_management.require_other_owner(uuid),
user_management.suspend_user(uuid, text),
user_management.unsuspend_user(uuid),
user_management.revoke_sessions(uuid, text),
user_management.set_password_hash(uuid, text, text),
user_management.enable_two_factor(text, text, text[]),
user_management.disable_two_factor(uuid),
user_management.consume_recovery_code(uuid, text),
user_management.guard_user_identity()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
user_management.suspend_user(uuid, text),
user_management.unsuspend_user(uuid),
user_management.revoke_sessions(uuid, text),
user_management.set_password_hash(uuid, text, text),
user_management.enable_two_factor(text, text, text[]),
user_management.disable_two_factor(uuid),
user_management.consume_recovery_code(uuid, text)
TO ${app_role};
