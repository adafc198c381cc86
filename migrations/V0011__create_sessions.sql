-- =============================================================================
-- V0011__create_sessions
-- Purpose:       login sessions: one row per session token handed to a client,
--                stored as the SHA-256 of the token, never the token.
-- Concern:       sessions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        only through SECURITY DEFINER functions (create_session,
--                validate_session, end_session, revoke_sessions, suspend_user);
--                the app reads its user's own sessions, or all of the
--                organization with session.revoke (manifest profile
--                definer_only).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE user_management.sessions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    token_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_reason text,
    ip inet,
    user_agent text,
    CONSTRAINT pk_sessions PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_sessions_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_sessions_organization_id_token_hash
    UNIQUE (organization_id, token_hash),
    CONSTRAINT ck_sessions_token_hash_format
    CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_sessions_expires_at
    CHECK (expires_at > created_at),
    CONSTRAINT ck_sessions_last_seen_at
    CHECK (last_seen_at >= created_at),
    CONSTRAINT ck_sessions_revoked_at
    CHECK (revoked_at >= created_at),
    CONSTRAINT ck_sessions_revoked_reason
    CHECK (
        revoked_reason IN (
            'logout', 'user_request', 'admin', 'password_changed',
            'user_suspended', 'security'
        )
    ),
    CONSTRAINT ck_sessions_revocation
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL)),
    CONSTRAINT ck_sessions_user_agent_length
    CHECK (char_length(user_agent) BETWEEN 1 AND 1000)
);
CREATE INDEX idx_sessions_organization_id_user_id
ON user_management.sessions (organization_id, user_id);

COMMENT ON TABLE user_management.sessions IS
'Login sessions. The client holds a random token; the database stores only its SHA-256 (token_hash) and finds the session by it (validate_session). Live = not revoked and not expired. Written only by SECURITY DEFINER functions; revoked sessions stay as history.';
COMMENT ON COLUMN user_management.sessions.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN user_management.sessions.id IS
'Session id (UUIDv7).';
COMMENT ON COLUMN user_management.sessions.user_id IS
'User the session belongs to.';
COMMENT ON COLUMN user_management.sessions.token_hash IS
'Secret: SHA-256 of the session token, 64 lower-case hex characters; unique per organization. Never audited, never readable by the read-only role.';
COMMENT ON COLUMN user_management.sessions.created_at IS
'When the session was created (login time; immutable).';
COMMENT ON COLUMN user_management.sessions.expires_at IS
'Absolute end of the session (after created_at).';
COMMENT ON COLUMN user_management.sessions.last_seen_at IS
'Last request seen with this session, refreshed by validate_session() at most once a minute.';
COMMENT ON COLUMN user_management.sessions.revoked_at IS
'When the session was ended before expiry; NULL = not revoked.';
COMMENT ON COLUMN user_management.sessions.revoked_reason IS
'Why: logout, user_request, admin, password_changed, user_suspended or security; set exactly when revoked_at is.';
COMMENT ON COLUMN user_management.sessions.ip IS
'PII: client IP address at login.';
COMMENT ON COLUMN user_management.sessions.user_agent IS
'PII: client User-Agent header at login (1-1000 characters).';

CREATE TRIGGER trg_sessions_created_at_immutable
BEFORE UPDATE ON user_management.sessions
FOR EACH ROW EXECUTE FUNCTION app.prevent_created_at_change();
COMMENT ON TRIGGER trg_sessions_created_at_immutable ON user_management.sessions IS
'created_at never changes (EL002); the table has no updated_at.';

ALTER TABLE user_management.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.sessions FORCE ROW LEVEL SECURITY;
