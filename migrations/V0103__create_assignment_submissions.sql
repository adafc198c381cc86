-- =============================================================================
-- V0103__create_assignment_submissions
-- Purpose:       learners' submissions of assignments: content by reference
--                (a file and/or a content item of the organization) and text,
--                gapless attempt numbers, the resubmission rule, late seconds
--                computed by the database from the effective due date, refusal
--                after the cutoff, and grades before/after the late penalty
--                tied together by a CHECK.
-- Concern:       assessment.assignment_submissions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       the prepare trigger locks the learner's enrollment FOR NO KEY
--                UPDATE before counting earlier attempts: attempt numbers stay
--                1..n and the limit holds under concurrency. Grades are written
--                only by grade_submission() (V0104).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE assessment.assignment_submissions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    assignment_id uuid NOT NULL,
    course_id uuid NOT NULL,
    user_id uuid NOT NULL,
    -- Attempts of one learner: a handful.
    -- squawk-ignore prefer-bigint-over-int
    attempt_number integer NOT NULL,
    status text NOT NULL DEFAULT 'submitted',
    body_text text,
    file_id uuid,
    content_item_id uuid,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    effective_due_at timestamptz,
    late_seconds bigint NOT NULL DEFAULT 0,
    rubric_id uuid,
    max_points numeric(8, 2) NOT NULL,
    late_penalty_percent numeric(5, 2) NOT NULL DEFAULT 0,
    late_penalty_interval interval NOT NULL DEFAULT '1 day',
    late_penalty_max_percent numeric(5, 2) NOT NULL DEFAULT 100,
    late_penalty_floor numeric(8, 2) NOT NULL DEFAULT 0,
    grade_raw numeric(8, 2),
    grade numeric(8, 2),
    graded_by_rubric boolean NOT NULL DEFAULT FALSE,
    graded_by_user_id uuid,
    graded_at timestamptz,
    feedback text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_assignment_submissions PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_assignment_submissions_assignment_id
    FOREIGN KEY (organization_id, assignment_id, course_id)
    REFERENCES assessment.assignments (organization_id, id, course_id) ON DELETE CASCADE,
    CONSTRAINT fk_assignment_submissions_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_assignment_submissions_file_id FOREIGN KEY (organization_id, file_id)
    REFERENCES content_management.files (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_assignment_submissions_content_item_id
    FOREIGN KEY (organization_id, content_item_id)
    REFERENCES content_management.content_items (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_assignment_submissions_rubric_id FOREIGN KEY (organization_id, rubric_id)
    REFERENCES assessment.rubrics (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_assignment_submissions_graded_by_user_id
    FOREIGN KEY (organization_id, graded_by_user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT uq_assignment_submissions_assignment_id_user_id_attempt_number
    UNIQUE (organization_id, assignment_id, user_id, attempt_number),
    -- Targets of the rubric scores' and peer reviews' composite keys: their
    -- learner, course, assignment and rubric are the submission's.
    CONSTRAINT uq_assignment_submissions_id_course_id_user_id_rubric_id
    UNIQUE (organization_id, id, course_id, user_id, rubric_id),
    CONSTRAINT uq_assignment_submissions_id_assignment_id_course_id
    UNIQUE (organization_id, id, assignment_id, course_id),
    CONSTRAINT uq_assignment_submissions_organization_id_id_rubric_id
    UNIQUE (organization_id, id, rubric_id),
    CONSTRAINT ck_assignment_submissions_attempt_number CHECK (attempt_number >= 1),
    CONSTRAINT ck_assignment_submissions_status CHECK (status IN ('submitted', 'graded')),
    CONSTRAINT ck_assignment_submissions_body_text_length
    CHECK (char_length(body_text) BETWEEN 1 AND 100000),
    CONSTRAINT ck_assignment_submissions_content
    CHECK (body_text IS NOT NULL OR file_id IS NOT NULL OR content_item_id IS NOT NULL),
    CONSTRAINT ck_assignment_submissions_late_seconds CHECK (late_seconds >= 0),
    CONSTRAINT ck_assignment_submissions_late_without_due
    CHECK (effective_due_at IS NOT NULL OR late_seconds = 0),
    CONSTRAINT ck_assignment_submissions_grade_raw
    CHECK (grade_raw >= 0 AND grade_raw <= max_points),
    CONSTRAINT ck_assignment_submissions_graded
    CHECK (
        (status = 'graded')
        = (grade_raw IS NOT NULL AND grade IS NOT NULL AND graded_at IS NOT NULL)
        AND (grade_raw IS NULL) = (grade IS NULL)
    ),
    CONSTRAINT ck_assignment_submissions_grade_after_penalty
    CHECK (
        grade = assessment.apply_late_penalty(
            grade_raw, late_seconds, late_penalty_percent, late_penalty_interval,
            late_penalty_max_percent, late_penalty_floor
        )
    ),
    CONSTRAINT ck_assignment_submissions_graded_by_rubric
    CHECK (NOT graded_by_rubric OR rubric_id IS NOT NULL AND status = 'graded'),
    CONSTRAINT ck_assignment_submissions_feedback_length
    CHECK (char_length(feedback) BETWEEN 1 AND 50000)
);
CREATE INDEX idx_assignment_submissions_assignment_id_course_id
ON assessment.assignment_submissions (organization_id, assignment_id, course_id);
COMMENT ON INDEX assessment.idx_assignment_submissions_assignment_id_course_id IS
'Supports fk_assignment_submissions_assignment_id (the submissions of an assignment, for graders).';
CREATE INDEX idx_assignment_submissions_organization_id_user_id
ON assessment.assignment_submissions (organization_id, user_id);
COMMENT ON INDEX assessment.idx_assignment_submissions_organization_id_user_id IS
'Supports fk_assignment_submissions_user_id (a learner''s submissions).';
CREATE INDEX idx_assignment_submissions_organization_id_file_id
ON assessment.assignment_submissions (organization_id, file_id);
COMMENT ON INDEX assessment.idx_assignment_submissions_organization_id_file_id IS
'Supports fk_assignment_submissions_file_id.';
CREATE INDEX idx_assignment_submissions_organization_id_content_item_id
ON assessment.assignment_submissions (organization_id, content_item_id);
COMMENT ON INDEX assessment.idx_assignment_submissions_organization_id_content_item_id IS
'Supports fk_assignment_submissions_content_item_id.';
CREATE INDEX idx_assignment_submissions_organization_id_rubric_id
ON assessment.assignment_submissions (organization_id, rubric_id);
COMMENT ON INDEX assessment.idx_assignment_submissions_organization_id_rubric_id IS
'Supports fk_assignment_submissions_rubric_id.';
CREATE INDEX idx_assignment_submissions_organization_id_graded_by_user_id
ON assessment.assignment_submissions (organization_id, graded_by_user_id);
COMMENT ON INDEX assessment.idx_assignment_submissions_organization_id_graded_by_user_id IS
'Supports fk_assignment_submissions_graded_by_user_id.';

COMMENT ON TABLE assessment.assignment_submissions IS
'A learner''s submission of an assignment: text, a file and/or a content item (by reference), attempt 1..n per learner and assignment without gaps, submitted_at and late_seconds set by the database from the effective due date (extension included), the assignment''s late-penalty policy, maximum and rubric as of submission, and the grade before (grade_raw) and after the late penalty (grade = apply_late_penalty(grade_raw, ...), ck_assignment_submissions_grade_after_penalty). The learner inserts own rows; graders of the course (assessment.grade) read them and grade through grade_submission(); content and facts never change (EL002).';
COMMENT ON COLUMN assessment.assignment_submissions.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.assignment_submissions.id IS 'Submission id (UUIDv7).';
COMMENT ON COLUMN assessment.assignment_submissions.assignment_id IS 'The assignment.';
COMMENT ON COLUMN assessment.assignment_submissions.course_id IS 'Copy of the assignment''s course (set by trigger; part of fk_assignment_submissions_assignment_id), for the course-scoped policies.';
COMMENT ON COLUMN assessment.assignment_submissions.user_id IS 'The learner who submitted (the acting user; the policy admits own rows only).';
COMMENT ON COLUMN assessment.assignment_submissions.attempt_number IS 'Set by trigger: 1 + the learner''s earlier submissions of the assignment, so 1..n without gaps; limited by the resubmission rule (EL061).';
COMMENT ON COLUMN assessment.assignment_submissions.status IS 'submitted or graded (grade_submission()).';
COMMENT ON COLUMN assessment.assignment_submissions.body_text IS 'PII: the learner''s text answer (1-100000 characters); with file_id and content_item_id at least one is given.';
COMMENT ON COLUMN assessment.assignment_submissions.file_id IS 'Uploaded file of the organization (content_management.files) by reference.';
COMMENT ON COLUMN assessment.assignment_submissions.content_item_id IS 'Content item of the organization (content_management.content_items) by reference, e.g. a multi-file project.';
COMMENT ON COLUMN assessment.assignment_submissions.submitted_at IS 'Set by the database (transaction time of the INSERT), never by the client.';
COMMENT ON COLUMN assessment.assignment_submissions.effective_due_at IS 'The due date that applied: the learner''s extension, else the assignment''s; NULL = none.';
COMMENT ON COLUMN assessment.assignment_submissions.late_seconds IS 'Seconds after effective_due_at (ceil, >= 0), computed by the database; 0 = on time.';
COMMENT ON COLUMN assessment.assignment_submissions.rubric_id IS 'The assignment''s rubric at submission; rubric scores use it.';
COMMENT ON COLUMN assessment.assignment_submissions.max_points IS 'The assignment''s max_points at submission: bound of grade_raw.';
COMMENT ON COLUMN assessment.assignment_submissions.late_penalty_percent IS 'The assignment''s late_penalty_percent at submission (the policy in force then applies).';
COMMENT ON COLUMN assessment.assignment_submissions.late_penalty_interval IS 'The assignment''s late_penalty_interval at submission.';
COMMENT ON COLUMN assessment.assignment_submissions.late_penalty_max_percent IS 'The assignment''s late_penalty_max_percent at submission.';
COMMENT ON COLUMN assessment.assignment_submissions.late_penalty_floor IS 'The assignment''s late_penalty_floor at submission.';
COMMENT ON COLUMN assessment.assignment_submissions.grade_raw IS 'Grade before the late penalty (0..max_points); with a rubric, the sum of the rubric scores (trg_submission_rubric_scores_sum, EL065).';
COMMENT ON COLUMN assessment.assignment_submissions.grade IS 'Grade after the late penalty: always apply_late_penalty(grade_raw, late_seconds, the policy columns) (ck_assignment_submissions_grade_after_penalty).';
COMMENT ON COLUMN assessment.assignment_submissions.graded_by_rubric IS 'True = graded through rubric scores (submission_rubric_scores), whose sum is grade_raw.';
COMMENT ON COLUMN assessment.assignment_submissions.graded_by_user_id IS 'The grader.';
COMMENT ON COLUMN assessment.assignment_submissions.graded_at IS 'When it was graded.';
COMMENT ON COLUMN assessment.assignment_submissions.feedback IS 'PII: the grader''s feedback to the learner (1-50000 characters).';
COMMENT ON COLUMN assessment.assignment_submissions.created_at IS 'Created (immutable).';
COMMENT ON COLUMN assessment.assignment_submissions.updated_at IS 'Last change.';

-- ---------------------------------------------------------------------------
-- prepare: course, attempt number, submitted_at, lateness, snapshots; window,
-- enrollment and attempt rules.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.prepare_submission()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := app.current_user_id();
    v_now timestamptz := pg_catalog.now();
    v_a assessment.assignments;
    v_ext assessment.assignment_extensions;
    v_due timestamptz;
    v_cutoff timestamptz;
    v_limit integer;
    v_done integer;
BEGIN
    -- Another learner's row is row-level security's to refuse (42501), without
    -- telling anything about that learner first.
    IF v_actor IS NOT NULL AND NEW.user_id IS DISTINCT FROM v_actor THEN
        RETURN NEW;
    END IF;
    -- An assignment of another organization is not found under the owner's
    -- tenant-scoped policies: row-level security refuses the row itself.
    SELECT a.* INTO v_a FROM assessment.assignments AS a
     WHERE a.organization_id = NEW.organization_id AND a.id = NEW.assignment_id;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    IF v_a.deleted_at IS NOT NULL OR NOT v_a.is_published
       OR (v_a.available_from IS NOT NULL AND v_now < v_a.available_from) THEN
        RAISE EXCEPTION 'assignment % is not open for submissions', v_a.id
              USING ERRCODE = 'EL060',
                    DETAIL = CASE WHEN v_a.deleted_at IS NOT NULL THEN 'The assignment is deleted.'
                                  WHEN NOT v_a.is_published THEN 'The assignment is not published.'
                                  ELSE pg_catalog.format('Open from %s.', v_a.available_from) END;
    END IF;
    -- Serialise the learner's submissions of the course on their enrollment.
    PERFORM 1 FROM course_management.enrollments AS e
      WHERE e.organization_id = NEW.organization_id AND e.user_id = NEW.user_id
        AND e.course_id = v_a.course_id AND e.status IN ('active', 'completed')
        AND (e.access_expires_at IS NULL OR e.access_expires_at > v_now)
        FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % is not enrolled in the course of assignment %', NEW.user_id, v_a.id
              USING ERRCODE = 'EL062',
                    DETAIL = 'No active or completed enrollment with access in the course.',
                    HINT = 'Enroll in the course first.';
    END IF;
    SELECT x.* INTO v_ext FROM assessment.assignment_extensions AS x
     WHERE x.organization_id = NEW.organization_id AND x.assignment_id = v_a.id
       AND x.user_id = NEW.user_id;
    v_due := coalesce(v_ext.due_at, v_a.due_at);
    v_cutoff := GREATEST(v_due, coalesce(v_ext.allow_late_until, v_a.allow_late_until, v_due));
    IF v_due IS NOT NULL AND v_now > v_cutoff THEN
        RAISE EXCEPTION 'assignment % no longer accepts submissions', v_a.id
              USING ERRCODE = 'EL060',
                    DETAIL = pg_catalog.format('Accepted until %s, now %s.', v_cutoff, v_now);
    END IF;
    SELECT coalesce(pg_catalog.max(s.attempt_number), 0) INTO v_done
      FROM assessment.assignment_submissions AS s
     WHERE s.organization_id = NEW.organization_id AND s.assignment_id = v_a.id
       AND s.user_id = NEW.user_id;
    v_limit := CASE WHEN NOT v_a.allow_resubmission THEN 1 ELSE v_a.max_attempts END;
    IF v_limit IS NOT NULL AND v_done >= v_limit THEN
        RAISE EXCEPTION 'no more submissions of assignment % allowed', v_a.id
              USING ERRCODE = 'EL061',
                    DETAIL = pg_catalog.format('%s of %s submissions made.', v_done, v_limit),
                    HINT = CASE WHEN v_a.allow_resubmission THEN 'The attempt limit is reached.'
                                ELSE 'The assignment does not allow resubmission.' END;
    END IF;
    NEW.course_id := v_a.course_id;
    NEW.attempt_number := v_done + 1;
    NEW.status := 'submitted';
    NEW.submitted_at := v_now;
    NEW.effective_due_at := v_due;
    NEW.late_seconds := CASE WHEN v_due IS NULL OR v_now <= v_due THEN 0
                             ELSE pg_catalog.ceil(pg_catalog.date_part('epoch', v_now - v_due))::bigint END;
    NEW.rubric_id := v_a.rubric_id;
    NEW.max_points := v_a.max_points;
    NEW.late_penalty_percent := v_a.late_penalty_percent;
    NEW.late_penalty_interval := v_a.late_penalty_interval;
    NEW.late_penalty_max_percent := v_a.late_penalty_max_percent;
    NEW.late_penalty_floor := v_a.late_penalty_floor;
    NEW.grade_raw := NULL;
    NEW.grade := NULL;
    NEW.graded_by_rubric := FALSE;
    NEW.graded_by_user_id := NULL;
    NEW.graded_at := NULL;
    NEW.feedback := NULL;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION assessment.prepare_submission() IS
'BEFORE INSERT trigger of assignment_submissions (trg_assignment_submissions_prepare), for the acting learner''s own row: EL060 when the assignment is deleted, unpublished, not yet open or past its cutoff; EL062 without a live enrollment in the course (locked FOR NO KEY UPDATE: the learner''s submissions run one after the other); EL061 when the resubmission rule is exhausted. Sets course_id, attempt_number, status, submitted_at, effective_due_at, late_seconds and the policy snapshots; clears the grade columns. Other users'' or tenants'' rows are left to row-level security.';
REVOKE ALL ON FUNCTION assessment.prepare_submission() FROM PUBLIC;

CREATE TRIGGER trg_assignment_submissions_prepare
BEFORE INSERT ON assessment.assignment_submissions
FOR EACH ROW EXECUTE FUNCTION assessment.prepare_submission();
COMMENT ON TRIGGER trg_assignment_submissions_prepare ON assessment.assignment_submissions IS
'Window, enrollment and attempt rules (EL060, EL062, EL061); sets attempt number, times, lateness and snapshots.';

-- ---------------------------------------------------------------------------
-- immutable content and facts
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.guard_submission_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (NEW.assignment_id, NEW.course_id, NEW.user_id, NEW.attempt_number, NEW.body_text, NEW.file_id,
        NEW.content_item_id, NEW.submitted_at, NEW.effective_due_at, NEW.late_seconds, NEW.rubric_id,
        NEW.max_points, NEW.late_penalty_percent, NEW.late_penalty_interval,
        NEW.late_penalty_max_percent, NEW.late_penalty_floor)
       IS DISTINCT FROM
       (OLD.assignment_id, OLD.course_id, OLD.user_id, OLD.attempt_number, OLD.body_text, OLD.file_id,
        OLD.content_item_id, OLD.submitted_at, OLD.effective_due_at, OLD.late_seconds, OLD.rubric_id,
        OLD.max_points, OLD.late_penalty_percent, OLD.late_penalty_interval,
        OLD.late_penalty_max_percent, OLD.late_penalty_floor) THEN
        RAISE EXCEPTION 'a submission''s content, lateness and policy snapshot never change'
              USING ERRCODE = 'EL002', CONSTRAINT = TG_NAME,
                    HINT = 'Resubmit (a new attempt) instead, where the assignment allows it.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION assessment.guard_submission_update() IS
'BEFORE UPDATE trigger of assignment_submissions (trg_assignment_submissions_immutable): only the grading columns (status, grade_raw, grade, graded_by_rubric, graded_by_user_id, graded_at, feedback) may change; anything else is EL002 with the trigger as constraint.';
REVOKE ALL ON FUNCTION assessment.guard_submission_update() FROM PUBLIC;

CREATE TRIGGER trg_assignment_submissions_immutable
BEFORE UPDATE ON assessment.assignment_submissions
FOR EACH ROW EXECUTE FUNCTION assessment.guard_submission_update();
COMMENT ON TRIGGER trg_assignment_submissions_immutable ON assessment.assignment_submissions IS
'Content, attempt, lateness and policy snapshot are immutable (EL002).';

ALTER TABLE assessment.assignment_submissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.assignment_submissions FORCE ROW LEVEL SECURITY;
