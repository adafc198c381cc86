-- =============================================================================
-- V0012__create_auth_tokens
-- Purpose:       single-use tokens sent by e-mail (e-mail verification,
--                password reset, invitation), stored as the SHA-256 of the
--                token, never the token.
-- Concern:       auth_tokens (table and its single-use trigger).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        only through issue_auth_token() and consume_auth_token()
--                (SECURITY DEFINER, later migration).
-- Custom SQLSTATEs: EL002 (a column other than used_at changed, or used_at
--                changed once set), raised by
--                user_management.enforce_single_use_token().
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE user_management.auth_tokens (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    purpose text NOT NULL,
    token_hash text NOT NULL,
    sent_to_email text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_by uuid,
    CONSTRAINT pk_auth_tokens PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_auth_tokens_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_auth_tokens_created_by FOREIGN KEY (organization_id, created_by)
    REFERENCES user_management.users (organization_id, id),
    CONSTRAINT uq_auth_tokens_organization_id_token_hash
    UNIQUE (organization_id, token_hash),
    CONSTRAINT ck_auth_tokens_purpose
    CHECK (purpose IN ('email_verification', 'password_reset', 'invitation')),
    CONSTRAINT ck_auth_tokens_token_hash_format
    CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_auth_tokens_sent_to_email_length
    CHECK (char_length(sent_to_email) BETWEEN 3 AND 254),
    CONSTRAINT ck_auth_tokens_expires_at
    CHECK (expires_at > created_at),
    CONSTRAINT ck_auth_tokens_used_at
    CHECK (used_at >= created_at)
);
CREATE INDEX idx_auth_tokens_organization_id_user_id
ON user_management.auth_tokens (organization_id, user_id);
CREATE INDEX idx_auth_tokens_organization_id_created_by
ON user_management.auth_tokens (organization_id, created_by)
WHERE created_by IS NOT NULL;

COMMENT ON TABLE user_management.auth_tokens IS
'Single-use tokens mailed to a user: email_verification, password_reset, invitation. Only the SHA-256 of the token is stored. A token is usable once (consume_auth_token sets used_at; trg_auth_tokens_single_use refuses any later change) and only before expires_at.';
COMMENT ON COLUMN user_management.auth_tokens.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN user_management.auth_tokens.id IS
'Token id (UUIDv7).';
COMMENT ON COLUMN user_management.auth_tokens.user_id IS
'User the token is for (an invited user exists before the invitation is sent).';
COMMENT ON COLUMN user_management.auth_tokens.purpose IS
'email_verification, password_reset or invitation (closed set, ck_auth_tokens_purpose). A token is consumed only for its own purpose.';
COMMENT ON COLUMN user_management.auth_tokens.token_hash IS
'Secret: SHA-256 of the token, 64 lower-case hex characters; unique per organization. Never audited, never readable by the read-only role.';
COMMENT ON COLUMN user_management.auth_tokens.sent_to_email IS
'PII: the e-mail address the token was mailed to (the user''s address when it was issued). An email_verification or invitation token verifies only that address: it is refused once the user''s e-mail changed.';
COMMENT ON COLUMN user_management.auth_tokens.created_at IS
'When the token was issued (immutable).';
COMMENT ON COLUMN user_management.auth_tokens.expires_at IS
'End of validity (after created_at).';
COMMENT ON COLUMN user_management.auth_tokens.used_at IS
'When the token was consumed; NULL = unused. Set once, never changed.';
COMMENT ON COLUMN user_management.auth_tokens.created_by IS
'User who issued the token (the inviter); NULL when the user asked for it (verification, password reset).';

CREATE FUNCTION user_management.enforce_single_use_token()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_column text;
BEGIN
    IF OLD.used_at IS NOT NULL AND NEW.used_at IS DISTINCT FROM OLD.used_at THEN
        v_column := 'used_at';
    ELSE
        SELECT n.key
          INTO v_column
          FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) AS n (key, value)
         WHERE n.key <> 'used_at'
           AND n.value IS DISTINCT FROM
               (pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.->) n.key)
         ORDER BY n.key
         LIMIT 1;
    END IF;
    IF v_column IS NOT NULL THEN
        RAISE EXCEPTION 'column % of an auth token cannot change', v_column
              USING ERRCODE = 'EL002',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    COLUMN = v_column,
                    CONSTRAINT = TG_NAME,
                    DETAIL = 'Auth tokens are single use: only used_at may be set, once.',
                    HINT = 'Issue a new token instead (issue_auth_token).';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION user_management.enforce_single_use_token() IS
'BEFORE UPDATE trigger of auth_tokens (trg_auth_tokens_single_use): the only allowed change is setting used_at once (NULL to a time); any other change, including of token_hash, purpose, user_id or created_at, raises EL002 naming the column.';
REVOKE ALL ON FUNCTION user_management.enforce_single_use_token() FROM PUBLIC;

CREATE TRIGGER trg_auth_tokens_single_use
BEFORE UPDATE ON user_management.auth_tokens
FOR EACH ROW EXECUTE FUNCTION user_management.enforce_single_use_token();
COMMENT ON TRIGGER trg_auth_tokens_single_use ON user_management.auth_tokens IS
'Single use: only used_at may be set, once (EL002 otherwise).';

ALTER TABLE user_management.auth_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.auth_tokens FORCE ROW LEVEL SECURITY;
