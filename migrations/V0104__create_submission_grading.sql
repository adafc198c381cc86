-- =============================================================================
-- V0104__create_submission_grading
-- Purpose:       grading of assignment submissions: rubric scores per
--                submission (one per criterion of the submission's rubric,
--                within [0, the criterion's max_points]), grade_submission()
--                (the only writer of grades and scores), the rule "grade before
--                penalty = sum of the rubric scores" checked at COMMIT, and the
--                assessment_passed learning event, once per learner and
--                assignment.
-- Concern:       assessment.submission_rubric_scores and grading.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       grade_submission() locks the assignment row FOR NO KEY UPDATE
--                (serialises the pass event of a learner's submissions), then
--                the submission FOR UPDATE, then replaces its scores.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE assessment.submission_rubric_scores (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    submission_id uuid NOT NULL,
    course_id uuid NOT NULL,
    user_id uuid NOT NULL,
    rubric_id uuid NOT NULL,
    criterion_id uuid NOT NULL,
    criterion_max_points numeric(8, 2) NOT NULL,
    level_id uuid,
    points numeric(8, 2) NOT NULL,
    comment text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_submission_rubric_scores PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_submission_rubric_scores_submission_id
    FOREIGN KEY (organization_id, submission_id, course_id, user_id, rubric_id)
    REFERENCES assessment.assignment_submissions (
        organization_id, id, course_id, user_id, rubric_id
    )
    ON DELETE CASCADE,
    CONSTRAINT fk_submission_rubric_scores_criterion_id
    FOREIGN KEY (organization_id, criterion_id, rubric_id, criterion_max_points)
    REFERENCES assessment.rubric_criteria (organization_id, id, rubric_id, max_points)
    ON UPDATE CASCADE ON DELETE RESTRICT,
    CONSTRAINT fk_submission_rubric_scores_level_id
    FOREIGN KEY (organization_id, level_id, criterion_id)
    REFERENCES assessment.rubric_levels (organization_id, id, criterion_id) ON DELETE RESTRICT,
    CONSTRAINT uq_submission_rubric_scores_submission_id_criterion_id
    UNIQUE (organization_id, submission_id, criterion_id),
    CONSTRAINT ck_submission_rubric_scores_points
    CHECK (points >= 0 AND points <= criterion_max_points),
    CONSTRAINT ck_submission_rubric_scores_comment_length
    CHECK (char_length(comment) BETWEEN 1 AND 5000)
);
CREATE INDEX idx_submission_rubric_scores_submission_id_course_id_user_id
ON assessment.submission_rubric_scores (
    organization_id, submission_id, course_id, user_id, rubric_id
);
COMMENT ON INDEX assessment.idx_submission_rubric_scores_submission_id_course_id_user_id IS
'Supports fk_submission_rubric_scores_submission_id.';
CREATE INDEX idx_submission_rubric_scores_criterion_id_rubric_id
ON assessment.submission_rubric_scores (
    organization_id, criterion_id, rubric_id, criterion_max_points
);
COMMENT ON INDEX assessment.idx_submission_rubric_scores_criterion_id_rubric_id IS
'Supports fk_submission_rubric_scores_criterion_id (its ON UPDATE CASCADE of max_points).';
CREATE INDEX idx_submission_rubric_scores_level_id_criterion_id
ON assessment.submission_rubric_scores (organization_id, level_id, criterion_id);
COMMENT ON INDEX assessment.idx_submission_rubric_scores_level_id_criterion_id IS
'Supports fk_submission_rubric_scores_level_id.';

COMMENT ON TABLE assessment.submission_rubric_scores IS
'Rubric scores of a graded submission: one per criterion of the submission''s rubric (fk_submission_rubric_scores_criterion_id: a criterion of that rubric; a chosen level belongs to the criterion), points within [0, the criterion''s max_points]; their sum is the submission''s grade_raw (trg_submission_rubric_scores_sum, EL065). Written only by grade_submission(); the learner reads own rows, graders of the course (assessment.grade) all of theirs.';
COMMENT ON COLUMN assessment.submission_rubric_scores.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.submission_rubric_scores.id IS 'Score id (UUIDv7).';
COMMENT ON COLUMN assessment.submission_rubric_scores.submission_id IS 'The graded submission.';
COMMENT ON COLUMN assessment.submission_rubric_scores.course_id IS 'The submission''s course (part of fk_submission_rubric_scores_submission_id), for the course-scoped policies.';
COMMENT ON COLUMN assessment.submission_rubric_scores.user_id IS 'The submission''s learner (part of fk_submission_rubric_scores_submission_id), who reads the row.';
COMMENT ON COLUMN assessment.submission_rubric_scores.rubric_id IS 'The submission''s rubric (part of both composite keys: the criterion is of that rubric).';
COMMENT ON COLUMN assessment.submission_rubric_scores.criterion_id IS 'The scored criterion.';
COMMENT ON COLUMN assessment.submission_rubric_scores.criterion_max_points IS 'Copy of the criterion''s max_points (kept by ON UPDATE CASCADE): bound of points.';
COMMENT ON COLUMN assessment.submission_rubric_scores.level_id IS 'The level chosen, if any (a level of the criterion).';
COMMENT ON COLUMN assessment.submission_rubric_scores.points IS 'Points given, within [0, criterion_max_points]; by default the chosen level''s points.';
COMMENT ON COLUMN assessment.submission_rubric_scores.comment IS 'PII: the grader''s comment on this criterion (1-5000 characters).';
COMMENT ON COLUMN assessment.submission_rubric_scores.created_at IS 'When the score was given (immutable).';
COMMENT ON COLUMN assessment.submission_rubric_scores.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- grade before penalty = sum of the rubric scores, at COMMIT
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.check_rubric_score_sum()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_org uuid;
    v_submission uuid;
    v_s assessment.assignment_submissions;
    v_sum numeric;
    v_count bigint;
    v_criteria bigint;
BEGIN
    IF TG_TABLE_NAME = 'assignment_submissions' THEN
        v_org := NEW.organization_id;
        v_submission := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        v_org := OLD.organization_id;
        v_submission := OLD.submission_id;
    ELSE
        v_org := NEW.organization_id;
        v_submission := NEW.submission_id;
    END IF;
    SELECT s.* INTO v_s FROM assessment.assignment_submissions AS s
     WHERE s.organization_id = v_org AND s.id = v_submission;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted with its scores
    END IF;
    SELECT coalesce(pg_catalog.sum(r.points), 0), pg_catalog.count(*) INTO v_sum, v_count
      FROM assessment.submission_rubric_scores AS r
     WHERE r.organization_id = v_org AND r.submission_id = v_submission;
    IF v_s.graded_by_rubric THEN
        SELECT pg_catalog.count(*) INTO v_criteria
          FROM assessment.rubric_criteria AS c
         WHERE c.organization_id = v_org AND c.rubric_id = v_s.rubric_id;
        IF v_sum <> v_s.grade_raw OR v_count <> v_criteria THEN
            RAISE EXCEPTION 'the rubric scores of submission % do not make its grade', v_submission
                  USING ERRCODE = 'EL065', CONSTRAINT = TG_NAME,
                        DETAIL = pg_catalog.format('grade_raw %s, sum of %s scores %s, %s criteria.',
                                                   v_s.grade_raw, v_count, v_sum, v_criteria);
        END IF;
    ELSIF v_count > 0 THEN
        RAISE EXCEPTION 'submission % has rubric scores but is not graded by rubric', v_submission
              USING ERRCODE = 'EL065', CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('%s scores.', v_count);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.check_rubric_score_sum() IS
'Deferred constraint trigger of assignment_submissions (trg_assignment_submissions_rubric_sum) and submission_rubric_scores (trg_submission_rubric_scores_sum): at COMMIT a submission graded by rubric has one score per criterion of its rubric and grade_raw = their sum; a submission not graded by rubric has no scores. EL065 with the trigger as constraint otherwise.';
REVOKE ALL ON FUNCTION assessment.check_rubric_score_sum() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER trg_submission_rubric_scores_sum
AFTER INSERT OR UPDATE OR DELETE ON assessment.submission_rubric_scores
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assessment.check_rubric_score_sum();
COMMENT ON TRIGGER trg_submission_rubric_scores_sum ON assessment.submission_rubric_scores IS
'At COMMIT: the scores make the submission''s grade_raw (EL065).';

CREATE CONSTRAINT TRIGGER trg_assignment_submissions_rubric_sum
AFTER UPDATE OF grade_raw, graded_by_rubric ON assessment.assignment_submissions
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assessment.check_rubric_score_sum();
COMMENT ON TRIGGER trg_assignment_submissions_rubric_sum ON assessment.assignment_submissions IS
'At COMMIT: a grade by rubric is the sum of the rubric scores (EL065).';

-- ---------------------------------------------------------------------------
-- grade_submission(submission, grade_raw, feedback, rubric_scores)
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.grade_submission(
    p_submission_id uuid,
    p_grade_raw numeric DEFAULT NULL,
    p_feedback text DEFAULT NULL,
    p_rubric_scores jsonb DEFAULT NULL
)
RETURNS assessment.assignment_submissions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_s assessment.assignment_submissions;
    v_a assessment.assignments;
    v_raw numeric;
    v_bad text;
    v_score numeric;
BEGIN
    IF p_submission_id IS NULL THEN
        RAISE EXCEPTION 'a submission is required' USING ERRCODE = '22023';
    END IF;
    SELECT s.* INTO v_s FROM assessment.assignment_submissions AS s
     WHERE s.organization_id = v_org AND s.id = p_submission_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no submission % in the organization', p_submission_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM user_management.require_permission('assessment.grade', v_s.course_id);
    -- Lock order: assignment, submission, scores.
    SELECT a.* INTO STRICT v_a FROM assessment.assignments AS a
     WHERE a.organization_id = v_org AND a.id = v_s.assignment_id
       FOR NO KEY UPDATE;
    SELECT s.* INTO STRICT v_s FROM assessment.assignment_submissions AS s
     WHERE s.organization_id = v_org AND s.id = p_submission_id
       FOR UPDATE;
    DELETE FROM assessment.submission_rubric_scores AS r
     WHERE r.organization_id = v_org AND r.submission_id = p_submission_id;
    IF p_rubric_scores IS NULL THEN
        IF p_grade_raw IS NULL THEN
            RAISE EXCEPTION 'a grade or rubric scores are required' USING ERRCODE = '22023';
        END IF;
        v_raw := p_grade_raw;
    ELSE
        IF v_s.rubric_id IS NULL THEN
            RAISE EXCEPTION 'submission % has no rubric', p_submission_id
                  USING ERRCODE = '22023', HINT = 'Grade with p_grade_raw instead.';
        END IF;
        IF pg_catalog.jsonb_typeof(p_rubric_scores) <> 'array' THEN
            RAISE EXCEPTION 'rubric scores must be a JSON array' USING ERRCODE = '22023';
        END IF;
        -- Exactly the criteria of the submission's rubric, each once.
        SELECT pg_catalog.string_agg(coalesce(x.criterion_id::text, 'null'), ', ') INTO v_bad
          FROM (
              SELECT e.criterion_id FROM pg_catalog.jsonb_to_recordset(p_rubric_scores)
                  AS e (criterion_id uuid)
              EXCEPT ALL
              SELECT c.id FROM assessment.rubric_criteria AS c
               WHERE c.organization_id = v_org AND c.rubric_id = v_s.rubric_id
          ) AS x;
        IF v_bad IS NULL THEN
            SELECT pg_catalog.string_agg(x.id::text, ', ') INTO v_bad
              FROM (
                  SELECT c.id FROM assessment.rubric_criteria AS c
                   WHERE c.organization_id = v_org AND c.rubric_id = v_s.rubric_id
                  EXCEPT ALL
                  SELECT e.criterion_id FROM pg_catalog.jsonb_to_recordset(p_rubric_scores)
                      AS e (criterion_id uuid)
              ) AS x;
        END IF;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'rubric scores must name each criterion of the rubric once'
                  USING ERRCODE = '22023', DETAIL = pg_catalog.format('Not matching: %s.', v_bad);
        END IF;
        INSERT INTO assessment.submission_rubric_scores AS r
            (organization_id, submission_id, course_id, user_id, rubric_id, criterion_id,
             criterion_max_points, level_id, points, comment)
        SELECT v_org, v_s.id, v_s.course_id, v_s.user_id, v_s.rubric_id, c.id, c.max_points, e.level_id,
               coalesce(e.points, l.points), e.comment
          FROM pg_catalog.jsonb_to_recordset(p_rubric_scores)
              AS e (criterion_id uuid, level_id uuid, points numeric, comment text)
          JOIN assessment.rubric_criteria AS c
            ON c.organization_id = v_org AND c.id = e.criterion_id
          LEFT JOIN assessment.rubric_levels AS l
            ON l.organization_id = v_org AND l.id = e.level_id AND l.criterion_id = e.criterion_id;
        SELECT pg_catalog.sum(r.points) INTO v_score
          FROM assessment.submission_rubric_scores AS r
         WHERE r.organization_id = v_org AND r.submission_id = p_submission_id;
        IF p_grade_raw IS NOT NULL AND p_grade_raw <> v_score THEN
            RAISE EXCEPTION 'the grade must be the sum of the rubric scores'
                  USING ERRCODE = '22023',
                        DETAIL = pg_catalog.format('Grade %s, sum %s.', p_grade_raw, v_score);
        END IF;
        v_raw := v_score;
    END IF;
    UPDATE assessment.assignment_submissions AS s
       SET status = 'graded',
           grade_raw = v_raw,
           grade = assessment.apply_late_penalty(v_raw, s.late_seconds, s.late_penalty_percent,
                                                 s.late_penalty_interval, s.late_penalty_max_percent,
                                                 s.late_penalty_floor),
           graded_by_rubric = p_rubric_scores IS NOT NULL,
           graded_by_user_id = v_actor,
           graded_at = pg_catalog.now(),
           feedback = p_feedback
     WHERE s.organization_id = v_org AND s.id = p_submission_id
    RETURNING s.* INTO v_s;
    -- The pass event, once per learner and assignment (idempotency key per
    -- submission; earlier passed submissions of the learner count too).
    IF v_a.passing_points IS NOT NULL AND v_s.grade >= v_a.passing_points AND NOT EXISTS (
        SELECT 1
          FROM course_management.learning_events AS e
          JOIN assessment.assignment_submissions AS o
            ON o.organization_id = e.organization_id AND o.id = e.source_id
         WHERE e.organization_id = v_org AND e.user_id = v_s.user_id
           AND e.event_type = 'assessment_passed' AND e.source_type = 'assignment_submission'
           AND o.assignment_id = v_s.assignment_id
    ) THEN
        PERFORM course_management.record_learning_event(
            v_org, v_s.user_id, 'assessment_passed', 'assignment_submission', v_s.id,
            pg_catalog.jsonb_build_object(
                'course_id', v_s.course_id, 'assignment_id', v_s.assignment_id,
                'assessment_id', v_s.assignment_id, 'grade', v_s.grade,
                'score', pg_catalog.round(100 * v_s.grade / v_s.max_points, 2)));
    END IF;
    RETURN v_s;
END
$$;
COMMENT ON FUNCTION assessment.grade_submission(uuid, numeric, text, jsonb) IS
'Grades a submission (graders of its course: assessment.grade, else 42501; P0002 when unknown). Either p_grade_raw (0..max_points, 23514 ck_assignment_submissions_grade_raw otherwise) or p_rubric_scores, a JSON array of {criterion_id, level_id?, points?, comment?} naming each criterion of the submission''s rubric exactly once (22023 otherwise; points default to the level''s, 23514 ck_submission_rubric_scores_points outside [0, max]); then grade_raw = their sum (p_grade_raw, if also given, must equal it: 22023). Replaces earlier scores, sets grade = apply_late_penalty(grade_raw, late_seconds, policy snapshot), status graded, grader, time and feedback. Regrading is allowed. When the grade reaches the assignment''s passing_points, records the learning event assessment_passed (source assignment_submission) unless one exists for the learner and assignment. Locks assignment, submission, scores in that order. Returns the submission.';
REVOKE ALL ON FUNCTION assessment.grade_submission(uuid, numeric, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.grade_submission(uuid, numeric, text, jsonb) TO ${app_role};

ALTER TABLE assessment.submission_rubric_scores ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.submission_rubric_scores FORCE ROW LEVEL SECURITY;
