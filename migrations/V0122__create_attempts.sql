-- =============================================================================
-- V0122__create_attempts
-- Purpose:       learners' attempts at assessments, the questions each attempt
--                drew (with its shuffled order) and the responses to them, and
--                the per-learner result (final grade by the grading method).
-- Concern:       assessment.assessment_results, assessment.assessment_attempts,
--                assessment.attempt_responses (tables and their guards; the
--                functions that write them follow in V0124-V0125).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Access:        per-learner rows (manifest profile course_own_rows): a learner
--                reads own rows, graders of the course (assessment.grade) read
--                all of their courses'; the application has SELECT only. Every
--                write goes through the SECURITY DEFINER functions of V0124-V0125,
--                which enforce windows, limits, gapless numbers, deadlines.
-- Locking:       assessment_results is the per-learner-and-assessment lock row:
--                every function that changes an attempt locks it first (FOR NO
--                KEY UPDATE), then the attempt, then its responses. The unique
--                keys below are the last line of defence (gapless numbers: unique
--                number per learner and assessment and no DELETE privilege; one
--                attempt in progress: a partial unique index).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- assessment_results: one per learner and assessment
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.assessment_results (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    assessment_id uuid NOT NULL,
    course_id uuid NOT NULL,
    user_id uuid NOT NULL,
    attempt_count bigint NOT NULL DEFAULT 0,
    graded_attempt_count bigint NOT NULL DEFAULT 0,
    grading_method text,
    final_score_percent numeric(5, 2),
    final_attempt_id uuid,
    passed boolean,
    first_passed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_assessment_results PRIMARY KEY (organization_id, id),
    CONSTRAINT uq_assessment_results_assessment_id_course_id_user_id
    UNIQUE (organization_id, assessment_id, course_id, user_id),
    CONSTRAINT fk_assessment_results_assessment_id
    FOREIGN KEY (organization_id, assessment_id, course_id)
    REFERENCES assessment.assessments (organization_id, id, course_id) ON DELETE NO ACTION,
    CONSTRAINT fk_assessment_results_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_assessment_results_attempt_count CHECK (attempt_count >= 0),
    CONSTRAINT ck_assessment_results_graded_attempt_count
    CHECK (graded_attempt_count BETWEEN 0 AND attempt_count),
    CONSTRAINT ck_assessment_results_grading_method
    CHECK (grading_method IN ('highest', 'latest', 'first', 'average')),
    CONSTRAINT ck_assessment_results_final_score_percent CHECK (final_score_percent BETWEEN 0 AND 100),
    CONSTRAINT ck_assessment_results_graded
    CHECK ((graded_attempt_count > 0) = (final_score_percent IS NOT NULL AND grading_method IS NOT NULL)),
    CONSTRAINT ck_assessment_results_passed CHECK (passed IS NULL OR final_score_percent IS NOT NULL),
    CONSTRAINT ck_assessment_results_first_passed_at CHECK (first_passed_at >= created_at)
);
CREATE INDEX idx_assessment_results_organization_id_user_id
ON assessment.assessment_results (organization_id, user_id);

COMMENT ON TABLE assessment.assessment_results IS
'One row per learner and assessment, created by the first start_attempt(): the number of attempts started (numbers are 1..attempt_count without gaps), the graded ones, and the final grade by the assessment''s grading method over the graded attempts (recomputed whenever an attempt is graded or regraded). Its row lock serialises everything a learner does with an assessment (two simultaneous starts yield one attempt). first_passed_at is set once, with the assessment_passed learning event.';
COMMENT ON COLUMN assessment.assessment_results.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.assessment_results.id IS 'Result id (UUIDv7).';
COMMENT ON COLUMN assessment.assessment_results.assessment_id IS 'The assessment.';
COMMENT ON COLUMN assessment.assessment_results.course_id IS 'The assessment''s course (copied, part of the foreign key; for course-scoped access).';
COMMENT ON COLUMN assessment.assessment_results.user_id IS 'The learner.';
COMMENT ON COLUMN assessment.assessment_results.attempt_count IS 'Attempts started so far; the next attempt gets number attempt_count + 1.';
COMMENT ON COLUMN assessment.assessment_results.graded_attempt_count IS 'Attempts with status graded.';
COMMENT ON COLUMN assessment.assessment_results.grading_method IS 'The grading method the final grade was computed with (the assessment''s at that time); NULL before the first graded attempt.';
COMMENT ON COLUMN assessment.assessment_results.final_score_percent IS 'Final grade in percent (0-100, 2 decimals): highest, latest (highest attempt number), first (lowest attempt number) or average (rounded half away from zero) of the graded attempts'' score_percent; NULL before the first graded attempt.';
COMMENT ON COLUMN assessment.assessment_results.final_attempt_id IS 'The graded attempt the final grade was taken from; NULL for average or before any graded attempt.';
COMMENT ON COLUMN assessment.assessment_results.passed IS 'final_score_percent >= the assessment''s passing_score_percent; NULL without a passing score or a final grade.';
COMMENT ON COLUMN assessment.assessment_results.first_passed_at IS 'When the learner first passed; set once, together with the one assessment_passed learning event (idempotency key assessment_passed:<assessment_id>:<user_id>), never cleared by a later regrade.';
COMMENT ON COLUMN assessment.assessment_results.created_at IS 'When the learner first started the assessment.';
COMMENT ON COLUMN assessment.assessment_results.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- assessment_attempts
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.assessment_attempts (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    assessment_id uuid NOT NULL,
    course_id uuid NOT NULL,
    user_id uuid NOT NULL,
    attempt_number bigint NOT NULL,
    status text NOT NULL DEFAULT 'in_progress',
    started_at timestamptz NOT NULL DEFAULT now(),
    deadline_at timestamptz,
    grace_seconds bigint NOT NULL DEFAULT 0,
    submitted_at timestamptz,
    closed_at_limit boolean NOT NULL DEFAULT FALSE,
    time_spent_seconds bigint,
    max_score numeric(10, 2) NOT NULL,
    score numeric(10, 2),
    score_percent numeric(5, 2),
    passed boolean,
    graded_at timestamptz,
    furthest_position bigint NOT NULL DEFAULT 0,
    ip inet,
    user_agent text,
    security_events jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_assessment_attempts PRIMARY KEY (organization_id, id),
    CONSTRAINT uq_assessment_attempts_organization_id_id_user_id_course_id
    UNIQUE (organization_id, id, user_id, course_id),
    -- Gapless numbers: unique per learner and assessment (leading columns = the result FK).
    CONSTRAINT uq_assessment_attempts_assessment_id_user_id_attempt_number
    UNIQUE (organization_id, assessment_id, course_id, user_id, attempt_number),
    CONSTRAINT fk_assessment_attempts_assessment_id
    FOREIGN KEY (organization_id, assessment_id, course_id, user_id)
    REFERENCES assessment.assessment_results (organization_id, assessment_id, course_id, user_id)
    ON DELETE CASCADE,
    CONSTRAINT fk_assessment_attempts_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_assessment_attempts_attempt_number CHECK (attempt_number >= 1),
    CONSTRAINT ck_assessment_attempts_status
    CHECK (status IN ('in_progress', 'submitted', 'auto_closed', 'graded', 'abandoned')),
    CONSTRAINT ck_assessment_attempts_deadline_at CHECK (deadline_at >= started_at),
    CONSTRAINT ck_assessment_attempts_grace_seconds CHECK (grace_seconds BETWEEN 0 AND 3600),
    CONSTRAINT ck_assessment_attempts_submitted_at
    CHECK ((status IN ('in_progress', 'abandoned')) = (submitted_at IS NULL) AND submitted_at >= started_at),
    -- A submission is never later than the deadline plus grace: a later one is closed at the deadline.
    CONSTRAINT ck_assessment_attempts_submitted_by_deadline
    CHECK (submitted_at <= deadline_at + grace_seconds * interval '1 second'),
    CONSTRAINT ck_assessment_attempts_closed_at_limit
    CHECK (NOT closed_at_limit OR (status IN ('auto_closed', 'graded') AND submitted_at = deadline_at)),
    CONSTRAINT ck_assessment_attempts_time_spent_seconds
    CHECK ((time_spent_seconds IS NULL) = (submitted_at IS NULL) AND time_spent_seconds >= 0),
    CONSTRAINT ck_assessment_attempts_max_score CHECK (max_score > 0),
    CONSTRAINT ck_assessment_attempts_score CHECK (score BETWEEN 0 AND max_score),
    CONSTRAINT ck_assessment_attempts_graded
    CHECK ((status = 'graded') = (graded_at IS NOT NULL AND score IS NOT NULL AND score_percent IS NOT NULL)),
    CONSTRAINT ck_assessment_attempts_score_percent
    CHECK (score_percent = round(100 * score / max_score, 2)),
    CONSTRAINT ck_assessment_attempts_passed CHECK (passed IS NULL OR status = 'graded'),
    CONSTRAINT ck_assessment_attempts_furthest_position CHECK (furthest_position >= 0),
    CONSTRAINT ck_assessment_attempts_user_agent_length CHECK (char_length(user_agent) BETWEEN 1 AND 1000),
    CONSTRAINT ck_assessment_attempts_security_events_array
    CHECK (jsonb_typeof(security_events) = 'array' AND jsonb_array_length(security_events) <= 1000)
);
-- At most one attempt in progress per learner and assessment.
CREATE UNIQUE INDEX uq_assessment_attempts_one_in_progress
ON assessment.assessment_attempts (organization_id, assessment_id, user_id)
WHERE status = 'in_progress';
-- The worker's queue: attempts in progress by deadline.
CREATE INDEX idx_assessment_attempts_organization_id_deadline_at
ON assessment.assessment_attempts (organization_id, deadline_at)
WHERE status = 'in_progress';
CREATE INDEX idx_assessment_attempts_organization_id_user_id
ON assessment.assessment_attempts (organization_id, user_id);

COMMENT ON TABLE assessment.assessment_attempts IS
'A learner''s attempt at an assessment: number 1..n without gaps per learner and assessment (n <= max_attempts + the learner''s extra attempts), at most one in progress, started only inside the availability window, with its deadline (time limit + extra time, capped by the window end) and grace. Status: in_progress -> submitted (by the learner within deadline + grace) | auto_closed (late submission or the worker: submitted_at = deadline, closed_at_limit) | abandoned (closed by the worker with nothing answered) -> graded (every response scored; regrades keep it graded). Written only by start_attempt(), save_response(), submit_attempt(), close_expired_attempts(), grade_response_manually().';
COMMENT ON COLUMN assessment.assessment_attempts.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.assessment_attempts.id IS 'Attempt id (UUIDv7).';
COMMENT ON COLUMN assessment.assessment_attempts.assessment_id IS 'The assessment.';
COMMENT ON COLUMN assessment.assessment_attempts.course_id IS 'The assessment''s course (copied, part of the foreign key; for course-scoped access).';
COMMENT ON COLUMN assessment.assessment_attempts.user_id IS 'The learner.';
COMMENT ON COLUMN assessment.assessment_attempts.attempt_number IS 'Attempt number 1..n per learner and assessment, without gaps (assessment_results.attempt_count + 1 under its row lock).';
COMMENT ON COLUMN assessment.assessment_attempts.status IS 'in_progress, submitted, auto_closed, graded or abandoned (see the table comment; trg_assessment_attempts_status, EL057).';
COMMENT ON COLUMN assessment.assessment_attempts.started_at IS 'When the attempt started (transaction time of start_attempt()).';
COMMENT ON COLUMN assessment.assessment_attempts.deadline_at IS 'started_at + time limit + the learner''s extra time, capped by the (learner''s) end of the availability window; NULL = no deadline.';
COMMENT ON COLUMN assessment.assessment_attempts.grace_seconds IS 'The assessment''s grace at the start: saves and submissions up to deadline_at + grace are accepted.';
COMMENT ON COLUMN assessment.assessment_attempts.submitted_at IS 'When the attempt was submitted; deadline_at when it was closed at the limit; NULL while in progress or when abandoned.';
COMMENT ON COLUMN assessment.assessment_attempts.closed_at_limit IS 'True = closed at the deadline (submitted after deadline + grace, or closed by close_expired_attempts()); kept when the attempt is graded.';
COMMENT ON COLUMN assessment.assessment_attempts.time_spent_seconds IS 'submitted_at - started_at in whole seconds, set on submission.';
COMMENT ON COLUMN assessment.assessment_attempts.max_score IS 'Sum of the points of the questions the attempt drew (> 0).';
COMMENT ON COLUMN assessment.assessment_attempts.score IS 'Sum of the response scores, bounded by max_score; set when graded.';
COMMENT ON COLUMN assessment.assessment_attempts.score_percent IS 'round(100 * score / max_score, 2); set when graded.';
COMMENT ON COLUMN assessment.assessment_attempts.passed IS 'score_percent >= the passing score at grading time; NULL without a passing score or before grading.';
COMMENT ON COLUMN assessment.assessment_attempts.graded_at IS 'When the attempt became graded (every response scored); updated by regrades.';
COMMENT ON COLUMN assessment.assessment_attempts.furthest_position IS 'Highest question position answered so far; with one_question_at_a_time a response to an earlier position is refused (EL059).';
COMMENT ON COLUMN assessment.assessment_attempts.ip IS 'PII: IP address the attempt was started from.';
COMMENT ON COLUMN assessment.assessment_attempts.user_agent IS 'PII: user agent the attempt was started with (1-1000 characters).';
COMMENT ON COLUMN assessment.assessment_attempts.security_events IS 'Security events log, a JSON array of {"at", "kind", "detail"} objects (at most 1000): ip_changed from save_response(), late_submission, and what the client reports through record_security_event() (focus_lost, paste, ...).';
COMMENT ON COLUMN assessment.assessment_attempts.created_at IS 'When the row was created.';
COMMENT ON COLUMN assessment.assessment_attempts.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION assessment.guard_attempt_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND (OLD.status, NEW.status) NOT IN (
           ('in_progress', 'submitted'), ('in_progress', 'auto_closed'), ('in_progress', 'abandoned'),
           ('submitted', 'graded'), ('auto_closed', 'graded')) THEN
        RAISE EXCEPTION 'attempt status cannot change from % to %', OLD.status, NEW.status
              USING ERRCODE = 'EL057',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    COLUMN = 'status',
                    CONSTRAINT = TG_NAME,
                    DETAIL = 'Allowed: in_progress -> submitted, auto_closed or abandoned; submitted or auto_closed -> graded.';
    END IF;
    IF (NEW.assessment_id, NEW.course_id, NEW.user_id, NEW.attempt_number, NEW.started_at, NEW.max_score)
       IS DISTINCT FROM (OLD.assessment_id, OLD.course_id, OLD.user_id, OLD.attempt_number, OLD.started_at,
                         OLD.max_score)
       OR (OLD.status <> 'in_progress'
           AND (NEW.submitted_at, NEW.deadline_at, NEW.closed_at_limit)
               IS DISTINCT FROM (OLD.submitted_at, OLD.deadline_at, OLD.closed_at_limit)) THEN
        RAISE EXCEPTION 'the identity, start, draw and submission of an attempt are immutable'
              USING ERRCODE = 'EL002',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION assessment.guard_attempt_update() IS
'BEFORE UPDATE trigger of assessment_attempts (trg_assessment_attempts_status): status moves only in_progress -> submitted | auto_closed | abandoned and submitted | auto_closed -> graded (EL057, column status); assessment, course, learner, number, start and max score never change, and the submission (time, deadline, closed_at_limit) never changes once closed (EL002).';
REVOKE ALL ON FUNCTION assessment.guard_attempt_update() FROM PUBLIC;

CREATE TRIGGER trg_assessment_attempts_status
BEFORE UPDATE ON assessment.assessment_attempts
FOR EACH ROW EXECUTE FUNCTION assessment.guard_attempt_update();
COMMENT ON TRIGGER trg_assessment_attempts_status ON assessment.assessment_attempts IS
'Allowed status transitions (EL057); identity, start and submission immutable (EL002).';

-- ---------------------------------------------------------------------------
-- attempt_responses: the attempt's drawn questions and the learner's answers
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.attempt_responses (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    attempt_id uuid NOT NULL,
    course_id uuid NOT NULL,
    user_id uuid NOT NULL,
    position bigint NOT NULL,
    question_id uuid NOT NULL,
    question_version_id uuid NOT NULL,
    question_type text NOT NULL,
    points numeric(8, 2) NOT NULL,
    option_order jsonb,
    response jsonb,
    answered_at timestamptz,
    time_spent_seconds bigint NOT NULL DEFAULT 0,
    auto_score numeric(8, 2),
    manual_score numeric(8, 2),
    score numeric(8, 2),
    graded_by_user_id uuid,
    graded_at timestamptz,
    feedback text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_attempt_responses PRIMARY KEY (organization_id, id),
    CONSTRAINT uq_attempt_responses_organization_id_id_user_id_course_id
    UNIQUE (organization_id, id, user_id, course_id),
    -- One row per position (leading columns = the attempt FK).
    CONSTRAINT uq_attempt_responses_attempt_id_position
    UNIQUE (organization_id, attempt_id, user_id, course_id, position),
    CONSTRAINT uq_attempt_responses_attempt_id_question_id UNIQUE (organization_id, attempt_id, question_id),
    CONSTRAINT fk_attempt_responses_attempt_id FOREIGN KEY (organization_id, attempt_id, user_id, course_id)
    REFERENCES assessment.assessment_attempts (organization_id, id, user_id, course_id) ON DELETE CASCADE,
    CONSTRAINT fk_attempt_responses_question_version_id FOREIGN KEY (organization_id, question_version_id)
    REFERENCES assessment.question_versions (organization_id, id) ON DELETE NO ACTION,
    CONSTRAINT fk_attempt_responses_graded_by_user_id FOREIGN KEY (organization_id, graded_by_user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE NO ACTION,
    CONSTRAINT ck_attempt_responses_position CHECK (position >= 1),
    CONSTRAINT ck_attempt_responses_question_type
    CHECK (
        question_type IN (
            'multiple_choice_single', 'multiple_choice_multiple', 'true_false', 'short_answer', 'essay',
            'fill_in_the_blank', 'matching', 'ordering', 'numeric', 'file_upload', 'code'
        )
    ),
    CONSTRAINT ck_attempt_responses_points CHECK (points > 0),
    CONSTRAINT ck_attempt_responses_option_order_object CHECK (jsonb_typeof(option_order) = 'object'),
    CONSTRAINT ck_attempt_responses_answered_at CHECK ((response IS NULL) = (answered_at IS NULL)),
    CONSTRAINT ck_attempt_responses_time_spent_seconds CHECK (time_spent_seconds >= 0),
    CONSTRAINT ck_attempt_responses_auto_score CHECK (auto_score BETWEEN 0 AND points),
    CONSTRAINT ck_attempt_responses_manual_score CHECK (manual_score BETWEEN 0 AND points),
    CONSTRAINT ck_attempt_responses_score CHECK (score IS NOT DISTINCT FROM coalesce(manual_score, auto_score)),
    CONSTRAINT ck_attempt_responses_graded
    CHECK ((graded_by_user_id IS NULL) = (graded_at IS NULL) AND (manual_score IS NULL OR graded_at IS NOT NULL)),
    CONSTRAINT ck_attempt_responses_feedback_length CHECK (char_length(feedback) BETWEEN 1 AND 10000)
);
CREATE INDEX idx_attempt_responses_organization_id_question_version_id
ON assessment.attempt_responses (organization_id, question_version_id);
CREATE INDEX idx_attempt_responses_organization_id_graded_by_user_id
ON assessment.attempt_responses (organization_id, graded_by_user_id)
WHERE graded_by_user_id IS NOT NULL;

COMMENT ON TABLE assessment.attempt_responses IS
'The questions an attempt drew, in the attempt''s order (position 1..n), each with the question version shown (fixed for the attempt: a resume shows the same questions), the attempt''s option order, the learner''s response (shape checked per type, trg_attempt_responses_check_response, EL054), and its scores: auto_score from assessment.grade_response() (objective types, on submission), manual_score from a grader (essay, file upload, code, or an override), score = coalesce(manual_score, auto_score) within [0, points]. Learners read their own rows; graders of the course all of theirs; written only by the attempt functions.';
COMMENT ON COLUMN assessment.attempt_responses.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.attempt_responses.id IS 'Response id (UUIDv7).';
COMMENT ON COLUMN assessment.attempt_responses.attempt_id IS 'The attempt.';
COMMENT ON COLUMN assessment.attempt_responses.course_id IS 'The attempt''s course (copied, part of the foreign key; for course-scoped access).';
COMMENT ON COLUMN assessment.attempt_responses.user_id IS 'The attempt''s learner (copied, part of the foreign key; for own-row access).';
COMMENT ON COLUMN assessment.attempt_responses.position IS 'Position of the question in the attempt (1..n), in the attempt''s (possibly shuffled) order.';
COMMENT ON COLUMN assessment.attempt_responses.question_id IS 'The question (stable identity; never twice in one attempt).';
COMMENT ON COLUMN assessment.attempt_responses.question_version_id IS 'The version shown (marked used by assessment.mark_versions_used(), hence immutable).';
COMMENT ON COLUMN assessment.attempt_responses.question_type IS 'The version''s question type (copied from it).';
COMMENT ON COLUMN assessment.attempt_responses.points IS 'The version''s points (copied): the maximum score of this response.';
COMMENT ON COLUMN assessment.attempt_responses.option_order IS 'The attempt''s presentation order of the version''s lists as a JSON object of id arrays: options (choice questions, when the assessment shuffles options), choices (matching, likewise), items (ordering: always shuffled, the definition order may be the answer); NULL = definition order.';
COMMENT ON COLUMN assessment.attempt_responses.response IS 'The learner''s answer, shape per type (assessment.check_response_shape()); NULL = not answered (scores 0).';
COMMENT ON COLUMN assessment.attempt_responses.answered_at IS 'When the response was last saved; NULL when not answered.';
COMMENT ON COLUMN assessment.attempt_responses.time_spent_seconds IS 'Seconds the learner spent on the question, summed over saves (as reported by the client).';
COMMENT ON COLUMN assessment.attempt_responses.auto_score IS 'Score from assessment.grade_response() for objective types (0 for an unanswered question of any type); NULL for manually graded types until a grader scores them.';
COMMENT ON COLUMN assessment.attempt_responses.manual_score IS 'Score given by a grader (grade_response_manually()); overrides auto_score.';
COMMENT ON COLUMN assessment.attempt_responses.score IS 'coalesce(manual_score, auto_score), within [0, points]; NULL = not graded yet.';
COMMENT ON COLUMN assessment.attempt_responses.graded_by_user_id IS 'The grader of the manual score.';
COMMENT ON COLUMN assessment.attempt_responses.graded_at IS 'When the manual score was given.';
COMMENT ON COLUMN assessment.attempt_responses.feedback IS 'The grader''s feedback to the learner (1-10000 characters).';
COMMENT ON COLUMN assessment.attempt_responses.created_at IS 'When the question was drawn (the attempt''s start).';
COMMENT ON COLUMN assessment.attempt_responses.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION assessment.check_attempt_response()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_definition jsonb;
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.attempt_id, NEW.position, NEW.question_id, NEW.question_version_id, NEW.question_type,
            NEW.points, NEW.option_order)
           IS DISTINCT FROM (OLD.attempt_id, OLD.position, OLD.question_id, OLD.question_version_id,
                             OLD.question_type, OLD.points, OLD.option_order) THEN
        RAISE EXCEPTION 'the drawn question of a response is immutable'
              USING ERRCODE = 'EL002', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME;
    END IF;
    IF NEW.response IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.response IS DISTINCT FROM OLD.response) THEN
        SELECT v.definition INTO v_definition
          FROM assessment.question_versions AS v
         WHERE v.organization_id = NEW.organization_id AND v.id = NEW.question_version_id;
        IF NOT coalesce(assessment.check_response_shape(NEW.question_type, v_definition, NEW.response), false) THEN
            RAISE EXCEPTION 'the response does not fit its % question', NEW.question_type
                  USING ERRCODE = 'EL054',
                        SCHEMA = TG_TABLE_SCHEMA,
                        TABLE = TG_TABLE_NAME,
                        COLUMN = 'response',
                        CONSTRAINT = TG_NAME,
                        DETAIL = assessment.response_problem(NEW.question_type, v_definition, NEW.response),
                        HINT = 'See the response shapes of the question types (README, Questions).';
        END IF;
        -- File uploads name files of the organization (content_management.files).
        IF NEW.question_type = 'file_upload' AND EXISTS (
               SELECT 1 FROM pg_catalog.jsonb_array_elements_text(NEW.response OPERATOR(pg_catalog.->) 'files') AS f (id)
                WHERE NOT EXISTS (SELECT 1 FROM content_management.files AS cf
                                   WHERE cf.organization_id = NEW.organization_id AND cf.id = f.id::uuid
                                     AND cf.deleted_at IS NULL)) THEN
            RAISE EXCEPTION 'the response names a file that does not exist'
                  USING ERRCODE = 'EL054',
                        SCHEMA = TG_TABLE_SCHEMA,
                        TABLE = TG_TABLE_NAME,
                        COLUMN = 'response',
                        CONSTRAINT = TG_NAME,
                        DETAIL = 'Every id in files must be a live file (content_management.files) of the organization.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION assessment.check_attempt_response() IS
'BEFORE INSERT OR UPDATE trigger of attempt_responses (trg_attempt_responses_check_response): a new or changed response must fit its question version (assessment.check_response_shape(); EL054 with the reason in DETAIL, which never repeats an answer key), and a file_upload response may name only live files of the organization (EL054); the drawn question, version, points and option order never change (EL002). SECURITY DEFINER: reads the version''s definition.';
REVOKE ALL ON FUNCTION assessment.check_attempt_response() FROM PUBLIC;

CREATE TRIGGER trg_attempt_responses_check_response
BEFORE INSERT OR UPDATE ON assessment.attempt_responses
FOR EACH ROW EXECUTE FUNCTION assessment.check_attempt_response();
COMMENT ON TRIGGER trg_attempt_responses_check_response ON assessment.attempt_responses IS
'Response shape per question type (EL054); the drawn question is immutable (EL002).';

ALTER TABLE assessment.assessment_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.assessment_results FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.assessment_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.assessment_attempts FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.attempt_responses ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.attempt_responses FORCE ROW LEVEL SECURITY;
