-- =============================================================================
-- V0040__create_certificates
-- Purpose:       course completion certificates: one per completed enrollment,
--                with a random verification code, snapshots of what it
--                certifies, and revocation.
-- Concern:       course_management.certificates (table, its guard, the code
--                generator, revoke_certificate(), verify_certificate()) and the
--                enrollments.certificate_id foreign key that points back.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        issued only by the progress trigger when an enrollment is
--                completed (V0041); revoked only by revoke_certificate()
--                (enrollment.manage for the course). The app has SELECT only.
-- Codes:         verification codes are unique per organization (a global
--                unique key would not contain the distribution column: not
--                Citus-safe). 20 characters from a 32-letter alphabet without
--                0/O/1/I (100 random bits), shown as XXXX-XXXX-XXXX-XXXX-XXXX.
-- enrollments.certificate_id: the foreign key and its index are added here, on
--                a table created by V0038 of the same release (still empty when
--                this runs), inside this transaction: no CONCURRENTLY / NOT VALID
--                steps needed (sql/CONVENTIONS.md, "Big tables change in steps",
--                is about tables that hold rows).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Verification codes
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.generate_verification_code()
RETURNS text
LANGUAGE sql
VOLATILE
PARALLEL SAFE
AS $$
    -- Bytes 0-5, 7 and 9-15 of a random (version 4) UUID carry only random bits;
    -- 14 + 6 such bytes, 5 bits each (256 is a multiple of 32: uniform).
    SELECT pg_catalog.string_agg(
               pg_catalog.substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789',
                                 (pg_catalog.get_byte(b.bytes, k.i) % 32) + 1, 1)
               || CASE WHEN k.n % 4 = 0 AND k.n < 20 THEN '-' ELSE '' END,
               '' ORDER BY k.n)
      FROM (SELECT pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                   || pg_catalog.uuid_send(pg_catalog.gen_random_uuid()) AS bytes) AS b
     CROSS JOIN LATERAL (
               SELECT o.i, o.n
                 FROM pg_catalog.unnest(ARRAY[0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 14, 15,
                                              16, 17, 18, 19, 20, 21])
                      WITH ORDINALITY AS o (i, n)) AS k
$$;
COMMENT ON FUNCTION course_management.generate_verification_code() IS
'A new random certificate verification code: 20 characters from ABCDEFGHJKLMNPQRSTUVWXYZ23456789 (no 0, O, 1, I) in five groups of four joined by hyphens, e.g. K7QF-2MZD-9XHA-R3TB-WC5N; 100 random bits from gen_random_uuid(). Default of certificates.verification_code.';
REVOKE ALL ON FUNCTION course_management.generate_verification_code() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Table
-- ---------------------------------------------------------------------------
CREATE TABLE course_management.certificates (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    enrollment_id uuid NOT NULL,
    user_id uuid NOT NULL,
    course_id uuid NOT NULL,
    verification_code text NOT NULL DEFAULT course_management.generate_verification_code(),
    recipient_name text NOT NULL,
    course_title text NOT NULL,
    final_grade numeric(5, 2),
    issued_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_reason text,
    revoked_by_user_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_certificates PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_certificates_enrollment_id
    FOREIGN KEY (organization_id, enrollment_id, user_id, course_id)
    REFERENCES course_management.enrollments (organization_id, id, user_id, course_id)
    ON DELETE CASCADE,
    CONSTRAINT fk_certificates_revoked_by_user_id FOREIGN KEY (organization_id, revoked_by_user_id)
    REFERENCES user_management.users (organization_id, id),
    -- One certificate per enrollment (user_id and course_id follow from it); the
    -- leading columns also serve fk_certificates_enrollment_id.
    CONSTRAINT uq_certificates_enrollment_id
    UNIQUE (organization_id, enrollment_id, user_id, course_id),
    CONSTRAINT uq_certificates_organization_id_verification_code
    UNIQUE (organization_id, verification_code),
    CONSTRAINT ck_certificates_verification_code_format
    CHECK (verification_code ~ '^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){4}$'),
    CONSTRAINT ck_certificates_recipient_name_length
    CHECK (char_length(recipient_name) BETWEEN 1 AND 200),
    CONSTRAINT ck_certificates_course_title_length
    CHECK (char_length(course_title) BETWEEN 1 AND 200),
    CONSTRAINT ck_certificates_final_grade CHECK (final_grade BETWEEN 0 AND 100),
    CONSTRAINT ck_certificates_revocation CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL)),
    CONSTRAINT ck_certificates_revoked_at CHECK (revoked_at >= issued_at),
    CONSTRAINT ck_certificates_revoked_by_user_id
    CHECK (revoked_by_user_id IS NULL OR revoked_at IS NOT NULL),
    CONSTRAINT ck_certificates_revoked_reason_length
    CHECK (char_length(revoked_reason) BETWEEN 1 AND 500)
);
CREATE INDEX idx_certificates_organization_id_user_id
ON course_management.certificates (organization_id, user_id);
CREATE INDEX idx_certificates_organization_id_revoked_by_user_id
ON course_management.certificates (organization_id, revoked_by_user_id)
WHERE revoked_by_user_id IS NOT NULL;

COMMENT ON TABLE course_management.certificates IS
'Course completion certificates, one per completed enrollment, issued by the progress trigger (V0041) with a random verification code (unique per organization) and snapshots of the recipient''s name and the course title. Immutable except revocation, which is set once through revoke_certificate() (EL002 otherwise). Learners see their own, staff (enrollment.view) those of their courses; anyone in the organization can check a code with verify_certificate().';
COMMENT ON COLUMN course_management.certificates.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.certificates.id IS
'Certificate id (UUIDv7).';
COMMENT ON COLUMN course_management.certificates.enrollment_id IS
'The completed enrollment (with user_id and course_id: fk_certificates_enrollment_id); one certificate per enrollment.';
COMMENT ON COLUMN course_management.certificates.user_id IS
'The learner certified (the enrollment''s).';
COMMENT ON COLUMN course_management.certificates.course_id IS
'The course completed (the enrollment''s).';
COMMENT ON COLUMN course_management.certificates.verification_code IS
'Random code printed on the certificate (XXXX-XXXX-XXXX-XXXX-XXXX, 100 random bits; generate_verification_code()), unique per organization; checked with verify_certificate().';
COMMENT ON COLUMN course_management.certificates.recipient_name IS
'PII: the learner''s display name when the certificate was issued (a later name change does not alter an issued certificate).';
COMMENT ON COLUMN course_management.certificates.course_title IS
'The course title when the certificate was issued.';
COMMENT ON COLUMN course_management.certificates.final_grade IS
'The enrollment''s final grade when the certificate was issued, 0.00-100.00; NULL when ungraded.';
COMMENT ON COLUMN course_management.certificates.issued_at IS
'When the certificate was issued (the completion).';
COMMENT ON COLUMN course_management.certificates.revoked_at IS
'When the certificate was revoked; NULL = valid. Set once by revoke_certificate().';
COMMENT ON COLUMN course_management.certificates.revoked_reason IS
'PII: why the certificate was revoked (1-500 characters, free text that may name the learner); set exactly with revoked_at.';
COMMENT ON COLUMN course_management.certificates.revoked_by_user_id IS
'User who revoked the certificate; NULL when valid or revoked without user context.';
COMMENT ON COLUMN course_management.certificates.created_at IS
'When the row was created (immutable).';
COMMENT ON COLUMN course_management.certificates.updated_at IS
'When the row last changed (maintained by trigger).';

-- The table is empty (created by V0038 of this release); see the file header.
ALTER TABLE course_management.enrollments
-- squawk-ignore constraint-missing-not-valid, adding-foreign-key-constraint
ADD CONSTRAINT fk_enrollments_certificate_id FOREIGN KEY (organization_id, certificate_id)
REFERENCES course_management.certificates (organization_id, id);
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX idx_enrollments_organization_id_certificate_id
ON course_management.enrollments (organization_id, certificate_id)
WHERE certificate_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- Immutable except revocation, once.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.guard_certificate_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_column text;
BEGIN
    IF OLD.revoked_at IS NOT NULL
       AND (NEW.revoked_at, NEW.revoked_reason, NEW.revoked_by_user_id)
           IS DISTINCT FROM (OLD.revoked_at, OLD.revoked_reason, OLD.revoked_by_user_id) THEN
        v_column := 'revoked_at';
    ELSE
        SELECT n.key
          INTO v_column
          FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) AS n (key, value)
         WHERE n.key NOT IN ('revoked_at', 'revoked_reason', 'revoked_by_user_id', 'updated_at')
           AND n.value IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.->) n.key)
         ORDER BY n.key
         LIMIT 1;
    END IF;
    IF v_column IS NOT NULL THEN
        RAISE EXCEPTION 'column % of a certificate cannot change', v_column
              USING ERRCODE = 'EL002',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    COLUMN = v_column,
                    CONSTRAINT = TG_NAME,
                    DETAIL = 'An issued certificate never changes; it can be revoked once.',
                    HINT = 'Use course_management.revoke_certificate().';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION course_management.guard_certificate_update() IS
'BEFORE UPDATE trigger of certificates (trg_certificates_guard_update): only the revocation columns (revoked_at, revoked_reason, revoked_by_user_id) may change, and only while the certificate is not revoked; anything else raises EL002 naming the column. updated_at is left to app.set_updated_at().';
REVOKE ALL ON FUNCTION course_management.guard_certificate_update() FROM PUBLIC;

CREATE TRIGGER trg_certificates_guard_update
BEFORE UPDATE ON course_management.certificates
FOR EACH ROW EXECUTE FUNCTION course_management.guard_certificate_update();
COMMENT ON TRIGGER trg_certificates_guard_update ON course_management.certificates IS
'Issued certificates never change except being revoked once (EL002).';

-- ---------------------------------------------------------------------------
-- Hard delete (owner maintenance only; the app has no DELETE): the enrollment
-- keeps its completion and loses the pointer. ON DELETE SET NULL would do this,
-- but is not allowed on a composite tenant key (Citus, sql/CONVENTIONS.md).
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.detach_deleted_certificate()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
BEGIN
    UPDATE course_management.enrollments AS e
       SET certificate_id = NULL
     WHERE e.organization_id = OLD.organization_id
       AND e.id = OLD.enrollment_id
       AND e.certificate_id = OLD.id;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION course_management.detach_deleted_certificate() IS
'BEFORE DELETE trigger of certificates (trg_certificates_detach): clears enrollments.certificate_id of the certificate''s enrollment, so fk_enrollments_certificate_id does not block the delete (the enrollment stays completed). Emulates ON DELETE SET NULL, which is not allowed on composite tenant keys. Does nothing when the enrollment itself is being deleted (cascade).';
REVOKE ALL ON FUNCTION course_management.detach_deleted_certificate() FROM PUBLIC;

CREATE TRIGGER trg_certificates_detach
BEFORE DELETE ON course_management.certificates
FOR EACH ROW EXECUTE FUNCTION course_management.detach_deleted_certificate();
COMMENT ON TRIGGER trg_certificates_detach ON course_management.certificates IS
'A deleted certificate is detached from its enrollment first (emulated ON DELETE SET NULL).';

-- ---------------------------------------------------------------------------
-- revoke_certificate
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.revoke_certificate(p_certificate_id uuid, p_reason text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_actor uuid;
    v_certificate record;
    v_found boolean;
BEGIN
    PERFORM user_management.require_acting_user();
    SELECT c.course_id, c.revoked_at INTO v_certificate
      FROM course_management.certificates AS c
     WHERE c.organization_id = v_organization_id
       AND c.id = p_certificate_id
       FOR UPDATE;
    v_found := FOUND;
    v_actor := user_management.require_permission('enrollment.manage', v_certificate.course_id);
    IF NOT v_found THEN
        RAISE EXCEPTION 'no certificate % in the organization', p_certificate_id USING ERRCODE = 'P0002';
    END IF;
    IF v_certificate.revoked_at IS NOT NULL THEN
        RETURN false;
    END IF;
    UPDATE course_management.certificates AS c
       SET revoked_at = pg_catalog.now(),
           revoked_reason = p_reason,
           revoked_by_user_id = v_actor
     WHERE c.organization_id = v_organization_id
       AND c.id = p_certificate_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION course_management.revoke_certificate(uuid, text) IS
'Revokes certificate p_certificate_id with p_reason (1-500 characters, 23514 ck_certificates_revocation / _revoked_reason_length otherwise), recording when and by whom; returns false when it was already revoked. Needs enrollment.manage for the certificate''s course (42501; checked before existence, so P0002 for an unknown certificate only reaches organization-wide holders).';
REVOKE ALL ON FUNCTION course_management.revoke_certificate(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION course_management.revoke_certificate(uuid, text) TO ${app_role};

-- ---------------------------------------------------------------------------
-- verify_certificate
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.verify_certificate(p_verification_code text)
RETURNS TABLE (
    certificate_id uuid,
    recipient_name text,
    course_title text,
    issued_at timestamptz,
    revoked_at timestamptz,
    is_valid boolean
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
    SELECT c.id, c.recipient_name, c.course_title, c.issued_at, c.revoked_at, c.revoked_at IS NULL
      FROM course_management.certificates AS c
     WHERE c.organization_id = app.current_organization_id()
       AND c.verification_code = pg_catalog.upper(pg_catalog.btrim(p_verification_code))
$$;
COMMENT ON FUNCTION course_management.verify_certificate(text) IS
'Checks a verification code (case and surrounding blanks ignored) in the current organization: one row with the certificate id, recipient name and course title as issued, issue and revocation time and is_valid (not revoked); no row for an unknown code. Needs only a tenant context (a public verification page sets app.organization_id from the organization in its URL); the code itself is the secret (100 random bits). The lookup compares verification_code with = (leakproof texteq): an index condition.';
REVOKE ALL ON FUNCTION course_management.verify_certificate(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION course_management.verify_certificate(text) TO ${app_role};

ALTER TABLE course_management.certificates ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.certificates FORCE ROW LEVEL SECURITY;
