-- =============================================================================
-- V0017__create_login_functions
-- Purpose:       the login protocol, enforced in the database: failure counting
--                with lockout, successful login bookkeeping, and sessions
--                (create, validate, end).
-- Concern:       login and session functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs: EL003 account locked (DETAIL: locked until), EL004 account
--                suspended or deleted, or organization not active.
-- Protocol:      within app.organization_id (app.user_id may be unset):
--                1. the app reads the user by lower(email) and verifies the
--                   password (argon2/bcrypt are computed by the application);
--                2a. wrong password or second factor:
--                    record_login_failure(email, ip, user_agent[, reason]);
--                2b. right: record_login_success(user_id, ip, user_agent)
--                    (EL003 / EL004 refuse), then create_session(...);
--                3. later requests: validate_session(token_hash) -> user id.
--                An attempt refused with EL003/EL004 is not logged: the error
--                rolls its row back with everything else.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- require_organization(): context check (internal).
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.require_organization()
RETURNS uuid
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := app.current_organization_id();
BEGIN
    IF v_organization_id IS NULL THEN
        RAISE EXCEPTION 'no organization context: app.organization_id must be set'
              USING ERRCODE = '42501',
                    HINT = 'SET LOCAL app.organization_id first in the transaction.';
    END IF;
    RETURN v_organization_id;
END
$$;
COMMENT ON FUNCTION user_management.require_organization() IS
'Internal: returns app.organization_id, or raises 42501 when it is unset or empty.';

-- ---------------------------------------------------------------------------
-- require_active_organization(): logins only into a live, active organization
-- (internal).
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.require_active_organization()
RETURNS uuid
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := user_management.require_organization();
    v_status text;
BEGIN
    SELECT CASE WHEN o.deleted_at IS NOT NULL THEN 'deleted' ELSE o.status END
      INTO v_status
      FROM user_management.organizations AS o
     WHERE o.id = v_organization_id;
    IF v_status IS DISTINCT FROM 'active' THEN
        RAISE EXCEPTION 'organization % does not accept logins', v_organization_id
              USING ERRCODE = 'EL004',
                    DETAIL = 'The organization is ' || coalesce(v_status, 'unknown') || '.',
                    HINT = 'An owner must reactivate the subscription.';
    END IF;
    RETURN v_organization_id;
END
$$;
COMMENT ON FUNCTION user_management.require_active_organization() IS
'Internal: returns app.organization_id (42501 when unset) when that organization exists, is not deleted and has status active; raises EL004 (DETAIL: deleted, suspended, cancelled or unknown) otherwise.';

-- ---------------------------------------------------------------------------
-- record_login_failure
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.record_login_failure(
    p_email text,
    p_ip inet,
    p_user_agent text,
    p_failure_reason text DEFAULT 'bad_password'
)
RETURNS TABLE (failed_count integer, locked_until timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_organization_id uuid := user_management.require_organization();
    v_settings jsonb;
    v_max_failures integer;
    v_window interval;
    v_lockout interval;
    v_user record;
    v_count integer;
    v_window_started_at timestamptz;
    v_locked_until timestamptz;
    v_reason text := p_failure_reason;
    v_user_agent text := NULLIF(pg_catalog.left(p_user_agent, 1000), '');
BEGIN
    IF p_email IS NULL OR p_email = '' THEN
        RAISE EXCEPTION 'p_email must not be empty' USING ERRCODE = '22023';
    END IF;
    IF p_failure_reason IS NULL
       OR p_failure_reason NOT IN ('bad_password', 'second_factor_failed') THEN
        RAISE EXCEPTION 'p_failure_reason must be bad_password or second_factor_failed, got %',
                        p_failure_reason
              USING ERRCODE = '22023';
    END IF;

    SELECT o.settings INTO v_settings
      FROM user_management.organizations AS o
     WHERE o.id = v_organization_id;
    v_max_failures := coalesce((v_settings OPERATOR(pg_catalog.->>) 'login_max_failures')::integer, 5);
    v_window := pg_catalog.make_interval(
        mins => coalesce((v_settings OPERATOR(pg_catalog.->>) 'login_window_minutes')::integer, 15));
    v_lockout := pg_catalog.make_interval(
        mins => coalesce((v_settings OPERATOR(pg_catalog.->>) 'login_lockout_minutes')::integer, 15));

    -- Lock the user row first: concurrent failures of one user are counted
    -- one after another, none is lost.
    SELECT u.id, u.failed_login_count, u.failed_login_window_started_at, u.locked_until
      INTO v_user
      FROM user_management.users AS u
     WHERE u.organization_id = v_organization_id
       AND pg_catalog.lower(u.email) = pg_catalog.lower(p_email)
       AND u.deleted_at IS NULL
       FOR UPDATE;

    IF NOT FOUND THEN
        INSERT INTO user_management.login_attempts (
            organization_id, user_id, email_attempted, succeeded, failure_reason, ip, user_agent)
        VALUES (
            v_organization_id, NULL, pg_catalog.left(p_email, 320), false, 'unknown_user',
            p_ip, v_user_agent);
        RETURN QUERY SELECT NULL::integer, NULL::timestamptz;
        RETURN;
    END IF;

    IF v_user.locked_until > pg_catalog.now() THEN
        -- Already locked: log it, but neither count it nor extend the lock.
        v_count := v_user.failed_login_count;
        v_locked_until := v_user.locked_until;
        v_reason := 'locked';
    ELSE
        IF v_user.failed_login_window_started_at IS NULL
           OR v_user.failed_login_window_started_at <= pg_catalog.now() - v_window THEN
            v_count := 1;
            v_window_started_at := pg_catalog.now();
        ELSE
            v_count := v_user.failed_login_count + 1;
            v_window_started_at := v_user.failed_login_window_started_at;
        END IF;
        IF v_count >= v_max_failures THEN
            v_locked_until := pg_catalog.now() + v_lockout;
        END IF;
        UPDATE user_management.users AS u
           SET failed_login_count = v_count,
               failed_login_window_started_at = v_window_started_at,
               locked_until = coalesce(v_locked_until, u.locked_until)
         WHERE u.organization_id = v_organization_id
           AND u.id = v_user.id;
    END IF;

    INSERT INTO user_management.login_attempts (
        organization_id, user_id, email_attempted, succeeded, failure_reason, ip, user_agent)
    VALUES (
        v_organization_id, v_user.id, pg_catalog.left(p_email, 320), false, v_reason,
        p_ip, v_user_agent);

    RETURN QUERY SELECT v_count, v_locked_until;
END
$$;
COMMENT ON FUNCTION user_management.record_login_failure(text, inet, text, text) IS
'Records a failed login in the acting organization (42501 without context) for the login name p_email (case-insensitive): always one login_attempts row (user_id NULL and reason unknown_user when no live user has that e-mail). For a live user the row is locked (FOR UPDATE, so concurrent failures are all counted) and failed_login_count is incremented within the window (organization settings login_window_minutes, default 15; a failure after the window restarts the count at 1); when it reaches login_max_failures (default 5) the account is locked until now() + login_lockout_minutes (default 15). A failure while locked is logged with reason locked and changes nothing. p_failure_reason: bad_password (default) or second_factor_failed (22023 otherwise). Returns (failed_count, locked_until): the count after the call and the lock end if locked now; (NULL, NULL) for an unknown user.';

-- ---------------------------------------------------------------------------
-- record_login_success
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.record_login_success(
    p_user_id uuid,
    p_ip inet,
    p_user_agent text
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := user_management.require_active_organization();
    v_user record;
    v_login_count integer;
BEGIN
    SELECT u.id, u.email, u.deleted_at, u.suspended_at, u.locked_until
      INTO v_user
      FROM user_management.users AS u
     WHERE u.organization_id = v_organization_id
       AND u.id = p_user_id
       FOR UPDATE;

    IF NOT FOUND OR v_user.deleted_at IS NOT NULL OR v_user.suspended_at IS NOT NULL THEN
        RAISE EXCEPTION 'account % is suspended or deleted', p_user_id
              USING ERRCODE = 'EL004',
                    DETAIL = CASE
                                 WHEN v_user.id IS NULL OR v_user.deleted_at IS NOT NULL
                                 THEN 'No live user with this id in the organization.'
                                 ELSE 'Suspended since ' || pg_catalog.to_char(
                                     v_user.suspended_at AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '.'
                             END,
                    HINT = 'Only an administrator holding user.suspend can reactivate a suspended account.';
    END IF;
    IF v_user.locked_until > pg_catalog.now() THEN
        RAISE EXCEPTION 'account % is locked after too many failed logins', p_user_id
              USING ERRCODE = 'EL003',
                    DETAIL = 'Locked until ' || pg_catalog.to_char(
                        v_user.locked_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '.',
                    HINT = 'Try again after that time, or reset the password.';
    END IF;

    UPDATE user_management.users AS u
       SET failed_login_count = 0,
           failed_login_window_started_at = NULL,
           locked_until = NULL,
           login_count = u.login_count + 1,
           last_login_at = pg_catalog.now()
     WHERE u.organization_id = v_organization_id
       AND u.id = p_user_id
    RETURNING u.login_count INTO v_login_count;

    INSERT INTO user_management.login_attempts (
        organization_id, user_id, email_attempted, succeeded, failure_reason, ip, user_agent)
    VALUES (
        v_organization_id, p_user_id, pg_catalog.left(v_user.email, 320), true, NULL,
        p_ip, NULLIF(pg_catalog.left(p_user_agent, 1000), ''));

    RETURN v_login_count;
END
$$;
COMMENT ON FUNCTION user_management.record_login_success(uuid, inet, text) IS
'Records a successful login of p_user_id (the application verified the password) in the acting organization (42501 without context), under a row lock: raises EL004 when the organization is not active (deleted, suspended, cancelled) or the user does not exist, is deleted or suspended (DETAIL says which), EL003 when locked_until is in the future (DETAIL: locked until, UTC); otherwise resets failed_login_count, its window and the lock, increments login_count, sets last_login_at = now(), logs a successful login_attempts row and returns the new login_count.';

-- ---------------------------------------------------------------------------
-- Sessions
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.create_session(
    p_user_id uuid,
    p_token_hash text,
    p_expires_at timestamptz,
    p_ip inet,
    p_user_agent text
)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := user_management.require_active_organization();
    v_user record;
    v_session_id uuid;
BEGIN
    IF p_expires_at IS NULL OR p_expires_at <= pg_catalog.now() THEN
        RAISE EXCEPTION 'p_expires_at must be in the future' USING ERRCODE = '22023';
    END IF;
    SELECT u.deleted_at, u.suspended_at, u.locked_until
      INTO v_user
      FROM user_management.users AS u
     WHERE u.organization_id = v_organization_id
       AND u.id = p_user_id
       FOR SHARE;
    IF NOT FOUND OR v_user.deleted_at IS NOT NULL OR v_user.suspended_at IS NOT NULL THEN
        RAISE EXCEPTION 'account % is suspended or deleted', p_user_id
              USING ERRCODE = 'EL004';
    END IF;
    IF v_user.locked_until > pg_catalog.now() THEN
        RAISE EXCEPTION 'account % is locked after too many failed logins', p_user_id
              USING ERRCODE = 'EL003',
                    DETAIL = 'Locked until ' || pg_catalog.to_char(
                        v_user.locked_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '.';
    END IF;

    INSERT INTO user_management.sessions (
        organization_id, user_id, token_hash, expires_at, ip, user_agent)
    VALUES (
        v_organization_id, p_user_id, p_token_hash, p_expires_at, p_ip,
        NULLIF(pg_catalog.left(p_user_agent, 1000), ''))
    RETURNING id INTO v_session_id;
    RETURN v_session_id;
END
$$;
COMMENT ON FUNCTION user_management.create_session(uuid, text, timestamptz, inet, text) IS
'Creates a session for p_user_id in the acting organization after a successful login and returns its id. p_token_hash is the SHA-256 (64 lower-case hex) of the random token the client receives (23514 ck_sessions_token_hash_format otherwise). Raises EL004 for an organization that is not active or a missing, deleted or suspended user, EL003 for a locked one, 22023 when p_expires_at is not in the future.';

CREATE FUNCTION user_management.validate_session(p_token_hash text)
RETURNS TABLE (session_id uuid, user_id uuid, expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_organization_id uuid := user_management.require_organization();
    v_session record;
BEGIN
    SELECT s.id, s.user_id, s.expires_at, s.last_seen_at
      INTO v_session
      FROM user_management.sessions AS s
      JOIN user_management.users AS u
        ON u.organization_id = s.organization_id
       AND u.id = s.user_id
      JOIN user_management.organizations AS o
        ON o.id = s.organization_id
     WHERE s.organization_id = v_organization_id
       AND o.status = 'active'
       AND o.deleted_at IS NULL
       AND s.token_hash = p_token_hash
       AND s.revoked_at IS NULL
       AND s.expires_at > pg_catalog.now()
       AND u.deleted_at IS NULL
       AND u.suspended_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- Refresh last_seen_at at most every 5 minutes: each refresh is a write
    -- (and an audit row), not something to do on every request.
    IF v_session.last_seen_at < pg_catalog.now() - interval '5 minutes' THEN
        UPDATE user_management.sessions AS s
           SET last_seen_at = pg_catalog.now()
         WHERE s.organization_id = v_organization_id
           AND s.id = v_session.id;
    END IF;
    RETURN QUERY SELECT v_session.id, v_session.user_id, v_session.expires_at;
END
$$;
COMMENT ON FUNCTION user_management.validate_session(text) IS
'Looks up the live session (not revoked, not expired, user live and not suspended, organization active and not deleted) whose token hash is p_token_hash in the acting organization (42501 without context); returns one row (session_id, user_id, expires_at), or none when there is no such session. Refreshes last_seen_at when older than 5 minutes. The application then sets app.user_id to user_id.';

CREATE FUNCTION user_management.end_session(p_token_hash text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := user_management.require_organization();
BEGIN
    UPDATE user_management.sessions AS s
       SET revoked_at = pg_catalog.now(),
           revoked_reason = 'logout'
     WHERE s.organization_id = v_organization_id
       AND s.token_hash = p_token_hash
       AND s.revoked_at IS NULL;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION user_management.end_session(text) IS
'Logout: revokes the session whose token hash is p_token_hash (reason logout) in the acting organization; holding the token is the authorisation. True when a session was revoked, false when none matched or it was already revoked.';

REVOKE ALL ON FUNCTION
user_management.require_organization(),
user_management.require_active_organization(),
user_management.record_login_failure(text, inet, text, text),
user_management.record_login_success(uuid, inet, text),
user_management.create_session(uuid, text, timestamptz, inet, text),
user_management.validate_session(text),
user_management.end_session(text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
user_management.record_login_failure(text, inet, text, text),
user_management.record_login_success(uuid, inet, text),
user_management.create_session(uuid, text, timestamptz, inet, text),
user_management.validate_session(text),
user_management.end_session(text)
TO ${app_role};
