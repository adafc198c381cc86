-- =============================================================================
-- V0027__login_lookup_by_normalized_email
-- Purpose:       record_login_failure() finds the user by email_normalized, an
--                index condition under RLS (V0022), instead of lower(email).
-- Concern:       the login lookup.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- Unchanged from V0017 but for the indexed comparison.
CREATE OR REPLACE FUNCTION user_management.record_login_failure(
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
       AND u.email_normalized = pg_catalog.lower(p_email)
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
