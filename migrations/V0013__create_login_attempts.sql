-- =============================================================================
-- V0013__create_login_attempts
-- Purpose:       the append-only history of login attempts, successful or not,
--                for lockout decisions, security review and the user's own
--                "recent logins" view.
-- Concern:       login_attempts.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        only record_login_failure() and record_login_success()
--                (SECURITY DEFINER) insert; nobody updates or deletes (EL001).
-- Retention:     rows cannot be deleted, so an organization or user with login
--                attempts cannot be hard-deleted (fk_login_attempts_*, NO
--                ACTION): erasure anonymises users; retention by time needs the
--                table partitioned like audit.audit_log (future migration).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE user_management.login_attempts (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid,
    email_attempted text NOT NULL,
    succeeded boolean NOT NULL,
    failure_reason text,
    ip inet,
    user_agent text,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_login_attempts PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_login_attempts_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id),
    CONSTRAINT fk_login_attempts_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id),
    CONSTRAINT ck_login_attempts_email_attempted_length
    CHECK (char_length(email_attempted) BETWEEN 1 AND 320),
    CONSTRAINT ck_login_attempts_failure_reason
    CHECK (
        failure_reason IN (
            'unknown_user', 'bad_password', 'locked', 'suspended',
            'second_factor_failed'
        )
    ),
    CONSTRAINT ck_login_attempts_success
    CHECK (NOT succeeded OR (failure_reason IS NULL AND user_id IS NOT NULL)),
    CONSTRAINT ck_login_attempts_user_agent_length
    CHECK (char_length(user_agent) BETWEEN 1 AND 1000)
);
CREATE INDEX idx_login_attempts_organization_id_user_id_attempted_at
ON user_management.login_attempts (organization_id, user_id, attempted_at);
CREATE INDEX idx_login_attempts_organization_id_attempted_at
ON user_management.login_attempts (organization_id, attempted_at);

COMMENT ON TABLE user_management.login_attempts IS
'Append-only log of login attempts (UPDATE, DELETE and TRUNCATE raise EL001), written by record_login_failure() and record_login_success(). Not audited: it is itself a log.';
COMMENT ON COLUMN user_management.login_attempts.organization_id IS
'Tenant (user_management.organizations) the login was attempted in.';
COMMENT ON COLUMN user_management.login_attempts.id IS
'Attempt id (UUIDv7, time-ordered).';
COMMENT ON COLUMN user_management.login_attempts.user_id IS
'The live user the e-mail address belonged to; NULL when it matched none.';
COMMENT ON COLUMN user_management.login_attempts.email_attempted IS
'PII: the login name as typed (1-320 characters), kept also when it matched no user.';
COMMENT ON COLUMN user_management.login_attempts.succeeded IS
'True for a successful login.';
COMMENT ON COLUMN user_management.login_attempts.failure_reason IS
'Why a login failed: unknown_user, bad_password, locked, suspended or second_factor_failed; NULL for a success.';
COMMENT ON COLUMN user_management.login_attempts.ip IS
'PII: client IP address.';
COMMENT ON COLUMN user_management.login_attempts.user_agent IS
'PII: client User-Agent header (1-1000 characters).';
COMMENT ON COLUMN user_management.login_attempts.attempted_at IS
'When the attempt was recorded.';

-- Append-only, enforced like audit.audit_log: the statement trigger fails
-- every UPDATE/DELETE/TRUNCATE even when RLS hides all rows, the row trigger
-- catches roles that bypass RLS.
CREATE TRIGGER trg_login_attempts_append_only_statement
BEFORE UPDATE OR DELETE OR TRUNCATE ON user_management.login_attempts
FOR EACH STATEMENT EXECUTE FUNCTION app.prevent_modification();
COMMENT ON TRIGGER trg_login_attempts_append_only_statement
ON user_management.login_attempts IS
'Append-only: every UPDATE, DELETE and TRUNCATE statement raises EL001.';
CREATE TRIGGER trg_login_attempts_append_only_row
BEFORE UPDATE OR DELETE ON user_management.login_attempts
FOR EACH ROW EXECUTE FUNCTION app.prevent_modification();
COMMENT ON TRIGGER trg_login_attempts_append_only_row
ON user_management.login_attempts IS
'Append-only: every updated or deleted row raises EL001.';

ALTER TABLE user_management.login_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.login_attempts FORCE ROW LEVEL SECURITY;
