-- =============================================================================
-- V0111__create_question_banks
-- Purpose:       question banks, questions (stable identity), question versions
--                (the learner-visible, versioned content) and their answer keys
--                (staff-only, in a table of their own), with the integrity
--                triggers: course copied from the parent, version numbers 1..n,
--                a used version (used_at set) and its key are immutable, a key
--                always fits its version.
-- Concern:       question bank tables and their row rules.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Answer keys:   never readable by learners: no policy admits them (manifest,
--                assessment_questions.yaml), the read-only role lacks the column,
--                the audit log leaves it out (secret), and no error built here
--                repeats a key: the key table has no CHECK constraint (its
--                shape is checked by trg_question_answer_keys_check with a
--                value-free reason).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- question_banks
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.question_banks (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    course_id uuid,
    name text NOT NULL,
    description text,
    visibility text NOT NULL DEFAULT 'private',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_question_banks PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_question_banks_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT fk_question_banks_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_question_banks_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT ck_question_banks_description_length CHECK (char_length(description) BETWEEN 1 AND 5000),
    CONSTRAINT ck_question_banks_visibility CHECK (visibility IN ('private', 'shared')),
    CONSTRAINT ck_question_banks_deleted_at CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE INDEX idx_question_banks_organization_id_course_id
ON assessment.question_banks (organization_id, course_id);

COMMENT ON TABLE assessment.question_banks IS
'Question banks of an organization, optionally of one course (course_id). Staff of the course (assessment.manage, organization-wide or for the course; organization-wide only for banks without course) write them; graders (assessment.grade for the course) read them; a live shared bank is also read by every holder of assessment.manage for some course. Learners never read banks, questions or keys directly.';
COMMENT ON INDEX assessment.idx_question_banks_organization_id_course_id IS
'Banks of a course (and the foreign key to courses).';
COMMENT ON COLUMN assessment.question_banks.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.question_banks.id IS 'Bank id (UUIDv7).';
COMMENT ON COLUMN assessment.question_banks.course_id IS 'The course the bank belongs to; NULL = an organization-wide bank. Fixed after creation (no app UPDATE privilege): questions, versions and keys carry a copy.';
COMMENT ON COLUMN assessment.question_banks.name IS 'Display name (1-200 characters).';
COMMENT ON COLUMN assessment.question_banks.description IS 'Optional description (1-5000 characters).';
COMMENT ON COLUMN assessment.question_banks.visibility IS 'private (staff of the course only) or shared (also readable, e.g. for draws, by assessment.manage holders of other courses).';
COMMENT ON COLUMN assessment.question_banks.created_at IS 'When the bank was created.';
COMMENT ON COLUMN assessment.question_banks.updated_at IS 'Last change (app.set_updated_at()).';
COMMENT ON COLUMN assessment.question_banks.deleted_at IS 'Soft delete: a deleted bank is no longer shared; its questions stay for existing attempts.';

-- ---------------------------------------------------------------------------
-- questions: the stable identity of a question across its versions
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.questions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    bank_id uuid NOT NULL,
    course_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_questions PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_questions_bank_id FOREIGN KEY (organization_id, bank_id)
    REFERENCES assessment.question_banks (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_questions_deleted_at CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE INDEX idx_questions_organization_id_bank_id
ON assessment.questions (organization_id, bank_id);

COMMENT ON TABLE assessment.questions IS
'A question''s stable identity in a bank; its content lives in question_versions (the current version is the highest version_number). Assessments and statistics refer to the question, attempts to the version they showed.';
COMMENT ON INDEX assessment.idx_questions_organization_id_bank_id IS 'Questions of a bank.';
COMMENT ON COLUMN assessment.questions.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.questions.id IS 'Question id (UUIDv7).';
COMMENT ON COLUMN assessment.questions.bank_id IS 'The bank holding the question (fixed: no app UPDATE privilege).';
COMMENT ON COLUMN assessment.questions.course_id IS 'Copy of the bank''s course_id, set on INSERT by trg_questions_prepare (for the course-scoped policies); never written by the application.';
COMMENT ON COLUMN assessment.questions.created_at IS 'When the question was created.';
COMMENT ON COLUMN assessment.questions.updated_at IS 'Last change (app.set_updated_at()).';
COMMENT ON COLUMN assessment.questions.deleted_at IS 'Soft delete (retired): no longer drawn into new attempts; old attempts keep their versions.';

-- ---------------------------------------------------------------------------
-- question_versions: the versioned, learner-visible content
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.question_versions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    question_id uuid NOT NULL,
    course_id uuid,
    -- squawk-ignore prefer-bigint-over-int
    version_number integer NOT NULL,
    question_type text NOT NULL,
    stem text NOT NULL,
    points numeric(8, 2) NOT NULL DEFAULT 1,
    difficulty text NOT NULL DEFAULT 'medium',
    tags text[] NOT NULL DEFAULT '{}',
    definition jsonb NOT NULL DEFAULT '{}'::jsonb,
    explanation text,
    used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_question_versions PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_question_versions_question_id FOREIGN KEY (organization_id, question_id)
    REFERENCES assessment.questions (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_question_versions_question_id_version_number
    UNIQUE (organization_id, question_id, version_number),
    CONSTRAINT ck_question_versions_version_number CHECK (version_number >= 1),
    CONSTRAINT ck_question_versions_question_type
    CHECK (
        question_type IN (
            'multiple_choice_single', 'multiple_choice_multiple', 'true_false', 'short_answer', 'essay',
            'fill_in_the_blank', 'matching', 'ordering', 'numeric', 'file_upload', 'code'
        )
    ),
    CONSTRAINT ck_question_versions_stem_length CHECK (char_length(stem) BETWEEN 1 AND 10000),
    CONSTRAINT ck_question_versions_points CHECK (points > 0 AND points <= 1000),
    CONSTRAINT ck_question_versions_difficulty CHECK (difficulty IN ('easy', 'medium', 'hard')),
    CONSTRAINT ck_question_versions_tags CHECK (course_management.tags_are_valid(tags)),
    CONSTRAINT ck_question_versions_definition_object CHECK (jsonb_typeof(definition) = 'object'),
    CONSTRAINT ck_question_versions_definition
    CHECK (assessment.check_definition_shape(question_type, definition)),
    CONSTRAINT ck_question_versions_explanation_length CHECK (char_length(explanation) BETWEEN 1 AND 10000),
    CONSTRAINT ck_question_versions_used_at CHECK (used_at >= created_at)
);

COMMENT ON TABLE assessment.question_versions IS
'Versions of a question: type, stem, points, difficulty, tags, the learner-visible definition (per-type shape, ck_question_versions_definition; no answer can be stored here) and the explanation. Numbered 1..n per question by trg_question_versions_prepare. A version is used once an attempt showed it (used_at, set by mark_versions_used()); a used version and its answer key are immutable (EL042), so editing the question then means a new version (save_question_version() does either). Staff read and write; learners never read it directly (attempt functions show the versions of their attempts).';
COMMENT ON COLUMN assessment.question_versions.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.question_versions.id IS 'Version id (UUIDv7); attempts refer to it.';
COMMENT ON COLUMN assessment.question_versions.question_id IS 'The question (fixed: no app UPDATE privilege).';
COMMENT ON COLUMN assessment.question_versions.course_id IS 'Copy of the question''s course_id, set on INSERT by trg_question_versions_prepare; never written by the application.';
COMMENT ON COLUMN assessment.question_versions.version_number IS 'Version 1..n of the question, assigned on INSERT (max + 1 under a lock of the question row); the highest is the current version.';
COMMENT ON COLUMN assessment.question_versions.question_type IS 'multiple_choice_single, multiple_choice_multiple, true_false, short_answer, essay, fill_in_the_blank, matching, ordering, numeric, file_upload or code; essay, file_upload and code are graded manually.';
COMMENT ON COLUMN assessment.question_versions.stem IS 'The question text shown to the learner (1-10000 characters).';
COMMENT ON COLUMN assessment.question_versions.points IS 'Maximum score of the question, > 0 and <= 1000, two decimals; every score lies in [0, points].';
COMMENT ON COLUMN assessment.question_versions.difficulty IS 'easy, medium or hard (the difficulty mix of random draws).';
COMMENT ON COLUMN assessment.question_versions.tags IS 'Tags for selection and statistics (course_management.tags_are_valid()).';
COMMENT ON COLUMN assessment.question_versions.definition IS 'Learner-visible definition, shape per type (assessment.definition_problem()): options, items, prompts and choices, blanks, unit, limits, code language and public tests. Never the answer.';
COMMENT ON COLUMN assessment.question_versions.explanation IS 'Explanation shown as feedback after the attempt (may reveal the answer): secret in the manifest, so neither the audit log nor the read-only role sees it.';
COMMENT ON COLUMN assessment.question_versions.used_at IS 'When an attempt first used the version (mark_versions_used()); from then on the version and its key are immutable. No app privilege.';
COMMENT ON COLUMN assessment.question_versions.created_at IS 'When the version was created.';
COMMENT ON COLUMN assessment.question_versions.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- question_answer_keys: staff-only, one per version
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.question_answer_keys (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    question_version_id uuid NOT NULL,
    course_id uuid,
    answer_key jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_question_answer_keys PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_question_answer_keys_question_version_id FOREIGN KEY (organization_id, question_version_id)
    REFERENCES assessment.question_versions (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_question_answer_keys_organization_id_question_version_id
    UNIQUE (organization_id, question_version_id)
);

COMMENT ON TABLE assessment.question_answer_keys IS
'Answer keys (correct options, accepted answers, value and tolerance, order, pairs; notes for manual types), one per question version, readable only by graders of the course (assessment.grade) and written by its staff (assessment.manage); never by learners, not through a view, a function result, the audit log (secret column) or an error message. Required for auto-graded types before a version can be used. No CHECK constraints on purpose: the shape is checked by trg_question_answer_keys_check, whose error names the rule, never a value.';
COMMENT ON COLUMN assessment.question_answer_keys.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.question_answer_keys.id IS 'Answer key id (UUIDv7).';
COMMENT ON COLUMN assessment.question_answer_keys.question_version_id IS 'The version the key belongs to (one key per version; fixed).';
COMMENT ON COLUMN assessment.question_answer_keys.course_id IS 'Copy of the version''s course_id, set on INSERT by trg_question_answer_keys_prepare; never written by the application.';
COMMENT ON COLUMN assessment.question_answer_keys.answer_key IS 'The key, shape per type (assessment.answer_key_problem()). Secret: never in the audit log, not granted to the read-only role.';
COMMENT ON COLUMN assessment.question_answer_keys.created_at IS 'When the key was created.';
COMMENT ON COLUMN assessment.question_answer_keys.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- prepare_question_row(): BEFORE INSERT of questions, versions, keys.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.prepare_question_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_course uuid;
    v_next integer;
BEGIN
    -- Parents are read as the owner (tenant-scoped policies): a parent of another tenant is not
    -- found, the row is returned unchanged, and RLS or the foreign key refuses it.
    IF TG_TABLE_NAME = 'questions' THEN
        SELECT b.course_id INTO v_course
          FROM assessment.question_banks AS b
         WHERE b.organization_id = NEW.organization_id AND b.id = NEW.bank_id;
        IF FOUND THEN
            NEW.course_id := v_course;
        END IF;
    ELSIF TG_TABLE_NAME = 'question_versions' THEN
        -- The question row lock serialises numbering (FOR NO KEY UPDATE: compatible with the FOR KEY
        -- SHARE of foreign-key checks of concurrent writers of children).
        SELECT q.course_id INTO v_course
          FROM assessment.questions AS q
         WHERE q.organization_id = NEW.organization_id AND q.id = NEW.question_id
           FOR NO KEY UPDATE;
        IF FOUND THEN
            SELECT coalesce(pg_catalog.max(v.version_number), 0) + 1 INTO v_next
              FROM assessment.question_versions AS v
             WHERE v.organization_id = NEW.organization_id AND v.question_id = NEW.question_id;
            NEW.course_id := v_course;
            NEW.version_number := v_next;
            NEW.used_at := NULL;
        ELSE
            NEW.version_number := coalesce(NEW.version_number, 1);  -- let the foreign key report it
        END IF;
    ELSIF TG_TABLE_NAME = 'question_answer_keys' THEN
        SELECT v.course_id INTO v_course
          FROM assessment.question_versions AS v
         WHERE v.organization_id = NEW.organization_id AND v.id = NEW.question_version_id;
        IF FOUND THEN
            NEW.course_id := v_course;
        END IF;
    ELSE
        RAISE EXCEPTION 'prepare_question_row() is not a trigger of %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
              USING ERRCODE = '39P01';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION assessment.prepare_question_row() IS
'BEFORE INSERT trigger of questions, question_versions and question_answer_keys (trg_<table>_prepare): copies course_id from the parent (bank, question, version); for versions also assigns version_number = max + 1 under a FOR NO KEY UPDATE lock of the question and clears used_at. SECURITY DEFINER so the copy does not depend on what the writer may see; a parent outside the transaction''s organization is not found and the row is left to RLS and the foreign key.';
REVOKE ALL ON FUNCTION assessment.prepare_question_row() FROM PUBLIC;

CREATE TRIGGER trg_questions_prepare
BEFORE INSERT ON assessment.questions
FOR EACH ROW EXECUTE FUNCTION assessment.prepare_question_row();
COMMENT ON TRIGGER trg_questions_prepare ON assessment.questions IS
'Copies the bank''s course_id.';
CREATE TRIGGER trg_question_versions_prepare
BEFORE INSERT ON assessment.question_versions
FOR EACH ROW EXECUTE FUNCTION assessment.prepare_question_row();
COMMENT ON TRIGGER trg_question_versions_prepare ON assessment.question_versions IS
'Copies the question''s course_id, numbers the version (max + 1 under the question''s row lock), clears used_at.';
CREATE TRIGGER trg_question_answer_keys_prepare
BEFORE INSERT ON assessment.question_answer_keys
FOR EACH ROW EXECUTE FUNCTION assessment.prepare_question_row();
COMMENT ON TRIGGER trg_question_answer_keys_prepare ON assessment.question_answer_keys IS
'Copies the version''s course_id.';

-- ---------------------------------------------------------------------------
-- guard_used_version(): a used version never changes (EL042).
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.guard_used_version()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.used_at IS NOT NULL AND NEW OPERATOR(pg_catalog.*<>) OLD THEN
        RAISE EXCEPTION 'question version % is used by an attempt and cannot change', OLD.id
              USING ERRCODE = 'EL042',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('Version %s of question %s was first used at %s.',
                                               OLD.version_number, OLD.question_id, OLD.used_at),
                    HINT = 'Create a new version (assessment.save_question_version() does it).';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION assessment.guard_used_version() IS
'BEFORE UPDATE trigger of question_versions (trg_question_versions_guard_used): once used_at is set, any real change of the row (used_at included) raises EL042; a no-op update passes. Reads nothing.';
REVOKE ALL ON FUNCTION assessment.guard_used_version() FROM PUBLIC;

CREATE TRIGGER trg_question_versions_guard_used
BEFORE UPDATE ON assessment.question_versions
FOR EACH ROW EXECUTE FUNCTION assessment.guard_used_version();
COMMENT ON TRIGGER trg_question_versions_guard_used ON assessment.question_versions IS
'A used version (used_at set) is immutable: EL042.';

-- ---------------------------------------------------------------------------
-- guard_used_answer_key(): the key of a used version never changes (EL042).
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.guard_used_answer_key()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_used timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' AND NOT (NEW OPERATOR(pg_catalog.*<>) OLD) THEN
        RETURN NEW;
    END IF;
    SELECT v.used_at INTO v_used
      FROM assessment.question_versions AS v
     WHERE v.organization_id = OLD.organization_id AND v.id = OLD.question_version_id;
    IF v_used IS NOT NULL THEN
        RAISE EXCEPTION 'the answer key of question version % is in use and cannot change', OLD.question_version_id
              USING ERRCODE = 'EL042',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('The version was first used at %s.', v_used),
                    HINT = 'Create a new version with the new key (assessment.save_question_version()).';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION assessment.guard_used_answer_key() IS
'BEFORE UPDATE OR DELETE trigger of question_answer_keys (trg_question_answer_keys_guard_used): EL042 when the key''s version is used (old attempts keep the key they were graded with); a no-op update passes. SECURITY DEFINER: reads the version whatever the writer may see.';
REVOKE ALL ON FUNCTION assessment.guard_used_answer_key() FROM PUBLIC;

CREATE TRIGGER trg_question_answer_keys_guard_used
BEFORE UPDATE OR DELETE ON assessment.question_answer_keys
FOR EACH ROW EXECUTE FUNCTION assessment.guard_used_answer_key();
COMMENT ON TRIGGER trg_question_answer_keys_guard_used ON assessment.question_answer_keys IS
'The key of a used version is immutable and cannot be deleted: EL042.';

-- ---------------------------------------------------------------------------
-- check_answer_key(): a key always fits its version (EL040).
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.check_answer_key()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_type text;
    v_definition jsonb;
    v_key jsonb;
    v_version uuid;
    v_problem text;
BEGIN
    IF TG_TABLE_NAME = 'question_answer_keys' THEN
        v_version := NEW.question_version_id;
        v_key := NEW.answer_key;
        SELECT v.question_type, v.definition INTO v_type, v_definition
          FROM assessment.question_versions AS v
         WHERE v.organization_id = NEW.organization_id AND v.id = NEW.question_version_id;
        IF NOT FOUND THEN
            RETURN NULL;  -- the foreign key has refused the row already
        END IF;
    ELSE
        v_version := NEW.id;
        v_type := NEW.question_type;
        v_definition := NEW.definition;
        SELECT k.answer_key INTO v_key
          FROM assessment.question_answer_keys AS k
         WHERE k.organization_id = NEW.organization_id AND k.question_version_id = NEW.id;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    v_problem := assessment.answer_key_problem(v_type, v_definition, v_key);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'the answer key does not fit question version %', v_version
              USING ERRCODE = 'EL040',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('Question type %s: %s.', v_type, v_problem),
                    HINT = 'See assessment.answer_key_problem() for the shapes.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.check_answer_key() IS
'AFTER INSERT OR UPDATE trigger of question_answer_keys (trg_question_answer_keys_check) and AFTER UPDATE OF question_type, definition of question_versions (trg_question_versions_check_key): the version''s key must fit its type and definition (answer_key_problem()), else EL040 whose DETAIL names the rule, never a value of the key. AFTER, so privilege, RLS and foreign-key errors come first; SECURITY DEFINER: reads the other table whatever the writer may see. To change a version''s type, delete its key first (save_question_version() does).';
REVOKE ALL ON FUNCTION assessment.check_answer_key() FROM PUBLIC;

CREATE TRIGGER trg_question_answer_keys_check
AFTER INSERT OR UPDATE ON assessment.question_answer_keys
FOR EACH ROW EXECUTE FUNCTION assessment.check_answer_key();
COMMENT ON TRIGGER trg_question_answer_keys_check ON assessment.question_answer_keys IS
'The key fits its version''s type and definition: EL040 otherwise (no value in the message).';
CREATE TRIGGER trg_question_versions_check_key
AFTER UPDATE OF question_type, definition ON assessment.question_versions
FOR EACH ROW EXECUTE FUNCTION assessment.check_answer_key();
COMMENT ON TRIGGER trg_question_versions_check_key ON assessment.question_versions IS
'A changed type or definition still fits the version''s existing key: EL040 otherwise.';

ALTER TABLE assessment.question_banks ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.question_banks FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.questions ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.questions FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.question_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.question_versions FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.question_answer_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.question_answer_keys FORCE ROW LEVEL SECURITY;
