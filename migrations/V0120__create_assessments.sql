-- =============================================================================
-- V0120__create_assessments
-- Purpose:       assessments (quizzes, exams, surveys) of a course with their
--                settings (time limit and grace, attempts, availability window,
--                shuffling, grading method, passing score, feedback timing,
--                security settings) and per-user overrides (extra attempts,
--                extra time, a later window end).
-- Concern:       assessment.assessments and assessment.assessment_overrides.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Access:        assessments are course catalog rows (manifest profile
--                course_catalog, staff = assessment.manage); overrides are
--                per-learner rows (course_own_rows) that only holders of
--                assessment.manage for the course write
--                (trg_assessment_overrides_guard, 42501).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Shape of assessments.security_settings.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.is_valid_security_settings(p_settings jsonb)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key text;
    v_range jsonb;
BEGIN
    IF p_settings IS NULL OR pg_catalog.jsonb_typeof(p_settings) <> 'object' THEN
        RETURN false;
    END IF;
    FOR v_key IN SELECT k FROM pg_catalog.jsonb_object_keys(p_settings) AS k LOOP
        IF v_key NOT IN ('allowed_ip_ranges', 'one_question_at_a_time', 'require_same_ip') THEN
            RETURN false;
        END IF;
    END LOOP;
    IF p_settings ? 'one_question_at_a_time'
       AND pg_catalog.jsonb_typeof(p_settings -> 'one_question_at_a_time') <> 'boolean' THEN
        RETURN false;
    END IF;
    IF p_settings ? 'require_same_ip'
       AND pg_catalog.jsonb_typeof(p_settings -> 'require_same_ip') <> 'boolean' THEN
        RETURN false;
    END IF;
    IF p_settings ? 'allowed_ip_ranges' THEN
        IF pg_catalog.jsonb_typeof(p_settings -> 'allowed_ip_ranges') <> 'array'
           OR pg_catalog.jsonb_array_length(p_settings -> 'allowed_ip_ranges') > 100 THEN
            RETURN false;
        END IF;
        FOR v_range IN SELECT r FROM pg_catalog.jsonb_array_elements(p_settings -> 'allowed_ip_ranges') AS r LOOP
            IF pg_catalog.jsonb_typeof(v_range) <> 'string' THEN
                RETURN false;
            END IF;
            BEGIN
                PERFORM (v_range #>> '{}')::cidr;
            EXCEPTION WHEN invalid_text_representation OR invalid_binary_representation THEN
                RETURN false;
            END;
        END LOOP;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION assessment.is_valid_security_settings(jsonb) IS
'True iff p_settings is a JSON object with only these keys: allowed_ip_ranges (array of at most 100 CIDR strings such as "192.0.2.0/24"; attempts start only from an address inside one of them, EL059), one_question_at_a_time (boolean; responses are saved in order, never going back, EL059), require_same_ip (boolean; responses come from the address the attempt started from, EL059). Used by ck_assessments_security_settings.';
REVOKE ALL ON FUNCTION assessment.is_valid_security_settings(jsonb) FROM PUBLIC;
-- A CHECK runs with the writer's privileges: staff write assessments as the app role.
GRANT EXECUTE ON FUNCTION assessment.is_valid_security_settings(jsonb) TO ${app_role};

-- ---------------------------------------------------------------------------
-- assessments
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.assessments (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    course_id uuid NOT NULL,
    lesson_id uuid,
    title text NOT NULL,
    description text,
    kind text NOT NULL DEFAULT 'quiz',
    status text NOT NULL DEFAULT 'draft',
    time_limit_seconds bigint,
    grace_seconds bigint NOT NULL DEFAULT 30,
    max_attempts bigint,
    available_from timestamptz,
    available_until timestamptz,
    shuffle_questions boolean NOT NULL DEFAULT FALSE,
    shuffle_options boolean NOT NULL DEFAULT FALSE,
    grading_method text NOT NULL DEFAULT 'highest',
    passing_score_percent numeric(5, 2),
    feedback_timing text NOT NULL DEFAULT 'after_submission',
    security_settings jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_assessments PRIMARY KEY (organization_id, id),
    CONSTRAINT uq_assessments_organization_id_id_course_id UNIQUE (organization_id, id, course_id),
    CONSTRAINT fk_assessments_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_assessments_lesson_id FOREIGN KEY (organization_id, course_id, lesson_id)
    REFERENCES course_management.lessons (organization_id, course_id, id) ON DELETE NO ACTION,
    CONSTRAINT ck_assessments_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT ck_assessments_description_length
    CHECK (char_length(description) BETWEEN 1 AND 10000),
    CONSTRAINT ck_assessments_kind CHECK (kind IN ('quiz', 'exam', 'survey')),
    CONSTRAINT ck_assessments_status CHECK (status IN ('draft', 'published', 'archived')),
    CONSTRAINT ck_assessments_time_limit_seconds CHECK (time_limit_seconds BETWEEN 1 AND 604800),
    CONSTRAINT ck_assessments_grace_seconds CHECK (grace_seconds BETWEEN 0 AND 3600),
    CONSTRAINT ck_assessments_max_attempts CHECK (max_attempts BETWEEN 1 AND 1000),
    CONSTRAINT ck_assessments_available_period CHECK (available_until > available_from),
    CONSTRAINT ck_assessments_grading_method
    CHECK (grading_method IN ('highest', 'latest', 'first', 'average')),
    CONSTRAINT ck_assessments_passing_score_percent
    CHECK (passing_score_percent BETWEEN 0 AND 100),
    CONSTRAINT ck_assessments_survey_without_passing_score
    CHECK (kind <> 'survey' OR passing_score_percent IS NULL),
    CONSTRAINT ck_assessments_feedback_timing
    CHECK (
        feedback_timing IN ('after_submission', 'after_grading', 'after_close', 'never')
    ),
    CONSTRAINT ck_assessments_security_settings
    CHECK (assessment.is_valid_security_settings(security_settings)),
    CONSTRAINT ck_assessments_deleted_at CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
-- Serves both foreign keys (course; course + lesson) and the per-course listing.
CREATE INDEX idx_assessments_organization_id_course_id_lesson_id
ON assessment.assessments (organization_id, course_id, lesson_id);

COMMENT ON TABLE assessment.assessments IS
'Quizzes, exams and surveys of a course (optionally placed at a lesson) with their settings. Learners see published live assessments of courses they can see; staff of the course (assessment.manage, organization-wide or course-scoped) write them; graders (assessment.grade) read them. Questions come from assessment_questions (fixed questions and random draws); attempts are started, saved, submitted and graded only through the functions of V0124-V0125.';
COMMENT ON COLUMN assessment.assessments.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.assessments.id IS 'Assessment id (UUIDv7).';
COMMENT ON COLUMN assessment.assessments.course_id IS 'The course the assessment belongs to (its staff manage and grade it).';
COMMENT ON COLUMN assessment.assessments.lesson_id IS 'Optional lesson of the same course where the assessment is placed.';
COMMENT ON COLUMN assessment.assessments.title IS 'Display title (1-200 characters).';
COMMENT ON COLUMN assessment.assessments.description IS 'Optional instructions (1-10000 characters).';
COMMENT ON COLUMN assessment.assessments.kind IS 'quiz, exam or survey (a survey has no passing score; its attempts are graded like the others).';
COMMENT ON COLUMN assessment.assessments.status IS 'draft (staff only), published (attempts may start) or archived (visible, no new attempts).';
COMMENT ON COLUMN assessment.assessments.time_limit_seconds IS 'Time limit of one attempt in seconds (1 s - 7 days, plus the learner''s extra time); NULL = untimed.';
COMMENT ON COLUMN assessment.assessments.grace_seconds IS 'Seconds after an attempt''s deadline during which saves and submissions are still accepted (network latency); later ones are closed at the deadline (0-3600, default 30).';
COMMENT ON COLUMN assessment.assessments.max_attempts IS 'Attempts allowed per learner (1-1000, plus the learner''s extra attempts); NULL = unlimited.';
COMMENT ON COLUMN assessment.assessments.available_from IS 'Attempts start no earlier than this; NULL = no lower bound.';
COMMENT ON COLUMN assessment.assessments.available_until IS 'Attempts start before this and end by it (it caps the deadline); NULL = open-ended. A learner''s override may move it later.';
COMMENT ON COLUMN assessment.assessments.shuffle_questions IS 'True = each attempt presents its questions in its own random order (stored per attempt).';
COMMENT ON COLUMN assessment.assessments.shuffle_options IS 'True = each attempt stores its own random order of the options of choice questions (attempt_responses.option_order).';
COMMENT ON COLUMN assessment.assessments.grading_method IS 'How the final grade is taken from the graded attempts: highest, latest (highest attempt number), first (lowest attempt number) or average (of score_percent, rounded to 2 decimals).';
COMMENT ON COLUMN assessment.assessments.passing_score_percent IS 'Final grade (percent) at or above which the learner passes (0-100); NULL = no pass/fail (always NULL for surveys).';
COMMENT ON COLUMN assessment.assessments.feedback_timing IS 'When learners see per-question scores, grader feedback and explanations (assessment.get_attempt_questions()): after_submission, after_grading, after_close (graded and the learner''s availability window has ended) or never. Staff always see them; attempt totals and the final grade are always visible to the learner.';
COMMENT ON COLUMN assessment.assessments.security_settings IS 'Security settings as a JSON object, checked by assessment.is_valid_security_settings(): allowed_ip_ranges (CIDR strings), one_question_at_a_time (boolean), require_same_ip (boolean).';
COMMENT ON COLUMN assessment.assessments.created_at IS 'When the assessment was created.';
COMMENT ON COLUMN assessment.assessments.updated_at IS 'Last change (app.set_updated_at()).';
COMMENT ON COLUMN assessment.assessments.deleted_at IS 'Soft delete: set = withdrawn (no new attempts, hidden from learners); NULL = live.';

-- ---------------------------------------------------------------------------
-- assessment_overrides
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.assessment_overrides (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    assessment_id uuid NOT NULL,
    course_id uuid NOT NULL,
    user_id uuid NOT NULL,
    extra_attempts bigint NOT NULL DEFAULT 0,
    extra_time_seconds bigint NOT NULL DEFAULT 0,
    available_until timestamptz,
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_assessment_overrides PRIMARY KEY (organization_id, id),
    -- One per learner and assessment (course_id follows from the assessment); also the index of
    -- the foreign key to the assessment.
    CONSTRAINT uq_assessment_overrides_assessment_id_course_id_user_id
    UNIQUE (organization_id, assessment_id, course_id, user_id),
    CONSTRAINT fk_assessment_overrides_assessment_id
    FOREIGN KEY (organization_id, assessment_id, course_id)
    REFERENCES assessment.assessments (organization_id, id, course_id) ON DELETE CASCADE,
    CONSTRAINT fk_assessment_overrides_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_assessment_overrides_extra_attempts CHECK (extra_attempts BETWEEN 0 AND 1000),
    CONSTRAINT ck_assessment_overrides_extra_time_seconds
    CHECK (extra_time_seconds BETWEEN 0 AND 604800),
    CONSTRAINT ck_assessment_overrides_reason_length CHECK (char_length(reason) BETWEEN 1 AND 500)
);
CREATE INDEX idx_assessment_overrides_organization_id_user_id
ON assessment.assessment_overrides (organization_id, user_id);

COMMENT ON TABLE assessment.assessment_overrides IS
'Per-learner exceptions to an assessment''s settings: extra attempts, extra time per attempt, a later end of the availability window. One row per learner and assessment. The learner reads own rows; staff of the course (assessment.manage) read and write them (trg_assessment_overrides_guard refuses anyone else with 42501).';
COMMENT ON COLUMN assessment.assessment_overrides.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.assessment_overrides.id IS 'Override id (UUIDv7).';
COMMENT ON COLUMN assessment.assessment_overrides.assessment_id IS 'The assessment.';
COMMENT ON COLUMN assessment.assessment_overrides.course_id IS 'The assessment''s course (copied; part of the foreign key to the assessment, for course-scoped access).';
COMMENT ON COLUMN assessment.assessment_overrides.user_id IS 'The learner the exception is for.';
COMMENT ON COLUMN assessment.assessment_overrides.extra_attempts IS 'Attempts allowed beyond assessments.max_attempts (0-1000; no effect when unlimited).';
COMMENT ON COLUMN assessment.assessment_overrides.extra_time_seconds IS 'Seconds added to the time limit of each of the learner''s attempts (0-7 days; no effect when untimed).';
COMMENT ON COLUMN assessment.assessment_overrides.available_until IS 'The learner''s own end of the availability window (replaces assessments.available_until for them); NULL = the assessment''s.';
COMMENT ON COLUMN assessment.assessment_overrides.reason IS 'Why the exception was granted (1-500 characters), e.g. an accommodation.';
COMMENT ON COLUMN assessment.assessment_overrides.created_at IS 'When the override was created.';
COMMENT ON COLUMN assessment.assessment_overrides.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION assessment.guard_assessment_override()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := app.current_user_id();
    v_course uuid;
BEGIN
    IF v_actor IS NULL THEN
        RETURN NULL;  -- maintenance without an acting user: nobody to authorize
    END IF;
    v_course := CASE WHEN TG_OP = 'DELETE' THEN OLD.course_id ELSE NEW.course_id END;
    IF NOT user_management.has_permission('assessment.manage', v_course)
       OR (TG_OP = 'UPDATE' AND NOT user_management.has_permission('assessment.manage', OLD.course_id)) THEN
        RAISE EXCEPTION 'permission assessment.manage required'
              USING ERRCODE = '42501',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('User %s lacks assessment.manage for course %s.', v_actor, v_course),
                    HINT = 'Overrides are granted by the staff of the course; learners only read their own.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.guard_assessment_override() IS
'AFTER INSERT OR UPDATE OR DELETE trigger of assessment_overrides (trg_assessment_overrides_guard): with an acting user, every write needs assessment.manage for the course (42501 otherwise); the row policy alone would let a learner write own rows. AFTER, so privilege, RLS, CHECK and key errors come first.';
REVOKE ALL ON FUNCTION assessment.guard_assessment_override() FROM PUBLIC;

CREATE TRIGGER trg_assessment_overrides_guard
AFTER INSERT OR UPDATE OR DELETE ON assessment.assessment_overrides
FOR EACH ROW EXECUTE FUNCTION assessment.guard_assessment_override();
COMMENT ON TRIGGER trg_assessment_overrides_guard ON assessment.assessment_overrides IS
'Only staff of the course (assessment.manage) write overrides (42501).';

ALTER TABLE assessment.assessments ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.assessments FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.assessment_overrides ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.assessment_overrides FORCE ROW LEVEL SECURITY;
