-- =============================================================================
-- V0020__create_auth_token_functions
-- Purpose:       issue and consume the single-use tokens of e-mail
--                verification, password reset and invitation.
-- Concern:       auth token functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Decision:      consume_auth_token() returns NULL for every token it does not
--                accept (unknown, other purpose, expired, already used, user
--                deleted, e-mail changed) instead of raising: the caller's
--                transaction stays usable, and the answer does not tell an
--                attacker which of these it was. No SQLSTATE is reserved for it.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION user_management.issue_auth_token(
    p_user_id uuid,
    p_purpose text,
    p_token_hash text,
    p_expires_at timestamptz
)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := user_management.require_organization();
    v_actor_id uuid;
    v_user record;
    v_token_id uuid;
BEGIN
    IF p_purpose IS NULL
       OR p_purpose NOT IN ('email_verification', 'password_reset', 'invitation') THEN
        RAISE EXCEPTION 'unknown token purpose %', p_purpose
              USING ERRCODE = '22023',
                    HINT = 'email_verification, password_reset or invitation.';
    END IF;
    IF p_expires_at IS NULL OR p_expires_at <= pg_catalog.now()
       OR p_expires_at > pg_catalog.now() + interval '30 days' THEN
        RAISE EXCEPTION 'p_expires_at must be in the future and at most 30 days ahead'
              USING ERRCODE = '22023';
    END IF;
    SELECT u.email, u.password_hash, u.last_login_at INTO v_user
      FROM user_management.users AS u
     WHERE u.organization_id = v_organization_id
       AND u.id = p_user_id
       AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live user % in the organization', p_user_id USING ERRCODE = 'P0002';
    END IF;
    IF p_purpose = 'invitation' THEN
        v_actor_id := user_management.require_permission('user.manage');
        PERFORM user_management.require_covers_user(v_actor_id, p_user_id);
        IF v_user.password_hash IS NOT NULL OR v_user.last_login_at IS NOT NULL THEN
            RAISE EXCEPTION 'user % has already signed up: no invitation', p_user_id
                  USING ERRCODE = '55000',
                        HINT = 'Use a password_reset token for an existing account.';
        END IF;
    END IF;

    INSERT INTO user_management.auth_tokens (
        organization_id, user_id, purpose, token_hash, sent_to_email, expires_at, created_by)
    VALUES (
        v_organization_id, p_user_id, p_purpose, p_token_hash, v_user.email, p_expires_at,
        v_actor_id)
    RETURNING id INTO v_token_id;
    RETURN v_token_id;
END
$$;
COMMENT ON FUNCTION user_management.issue_auth_token(uuid, text, text, timestamptz) IS
'Stores a single-use token for p_user_id and returns its id; the application mails the token itself and passes only its SHA-256 (p_token_hash, 64 lower-case hex; 23514 otherwise). p_purpose email_verification or password_reset: no acting user needed (the user asked for it); invitation: needs user.manage and the invitee''s permissions (42501), and a user that never had a password nor logged in (55000); created_by = the inviter. p_expires_at within 30 days (22023). Records the user''s current e-mail address as sent_to_email. P0002 for no live user.';

CREATE FUNCTION user_management.consume_auth_token(p_purpose text, p_token_hash text)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := user_management.require_organization();
    v_token record;
    v_email text;
BEGIN
    -- The row lock makes concurrent consumers queue: the second one re-reads
    -- the row after the first committed, finds used_at set and gets NULL.
    SELECT t.id, t.user_id, t.purpose, t.sent_to_email, t.expires_at, t.used_at
      INTO v_token
      FROM user_management.auth_tokens AS t
     WHERE t.organization_id = v_organization_id
       AND t.token_hash = p_token_hash
       FOR UPDATE;
    IF NOT FOUND
       OR v_token.purpose IS DISTINCT FROM p_purpose
       OR v_token.used_at IS NOT NULL
       OR v_token.expires_at <= pg_catalog.now() THEN
        RETURN NULL;
    END IF;
    SELECT u.email INTO v_email
      FROM user_management.users AS u
     WHERE u.organization_id = v_organization_id
       AND u.id = v_token.user_id
       AND u.deleted_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_purpose IN ('email_verification', 'invitation')
       AND pg_catalog.lower(v_token.sent_to_email) IS DISTINCT FROM pg_catalog.lower(v_email) THEN
        RETURN NULL;
    END IF;

    UPDATE user_management.auth_tokens AS t
       SET used_at = pg_catalog.now()
     WHERE t.organization_id = v_organization_id
       AND t.id = v_token.id;
    IF p_purpose IN ('email_verification', 'invitation') THEN
        UPDATE user_management.users AS u
           SET email_verified_at = pg_catalog.now()
         WHERE u.organization_id = v_organization_id
           AND u.id = v_token.user_id
           AND u.email_verified_at IS NULL;
    END IF;
    RETURN v_token.user_id;
END
$$;
COMMENT ON FUNCTION user_management.consume_auth_token(text, text) IS
'Consumes the token whose SHA-256 is p_token_hash for purpose p_purpose in the acting organization (42501 without context) and returns its user id, exactly once: the token must exist, have that purpose, be unused and unexpired, its user live, and for email_verification / invitation the user''s e-mail must still be the address it was sent to. Marks it used (used_at) and, for email_verification and invitation, sets email_verified_at. Any other case, including a second call with the same token, returns NULL without raising and changes nothing. After a password_reset token the application sets app.user_id to the returned id and calls set_password_hash().';

REVOKE ALL ON FUNCTION
user_management.issue_auth_token(uuid, text, text, timestamptz),
user_management.consume_auth_token(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
user_management.issue_auth_token(uuid, text, text, timestamptz),
user_management.consume_auth_token(text, text)
TO ${app_role};
