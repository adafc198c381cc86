-- =============================================================================
-- V0125__create_manual_grading
-- Purpose:       grade_response_manually(): graders score the manually graded
--                responses (essay, file upload, code) directly or by a rubric,
--                or override an automatic score; the attempt then becomes graded
--                when nothing is left to score, and the final grade follows.
-- Concern:       manual grading function.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       the attempt functions' order: result row, attempt, response.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION assessment.grade_response_manually(
    p_response_id uuid,
    p_score numeric DEFAULT NULL,
    p_feedback text DEFAULT NULL,
    p_rubric_id uuid DEFAULT NULL,
    p_rubric_scores jsonb DEFAULT NULL
)
RETURNS assessment.attempt_responses
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_response assessment.attempt_responses;
    v_attempt assessment.assessment_attempts;
    v_rubric assessment.rubrics;
    v_problem text;
    v_sum numeric;
    v_max numeric;
    v_score numeric;
BEGIN
    SELECT r.* INTO v_response FROM assessment.attempt_responses AS r
     WHERE r.organization_id = v_org AND r.id = p_response_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no response % in the organization', p_response_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM user_management.require_permission('assessment.grade', v_response.course_id);
    IF v_response.user_id = v_actor THEN
        RAISE EXCEPTION 'nobody grades their own attempt'
              USING ERRCODE = '42501', HINT = 'Another grader of the course must score it.';
    END IF;
    IF (p_score IS NULL) = (p_rubric_id IS NULL) OR (p_rubric_id IS NULL) <> (p_rubric_scores IS NULL)
       OR (p_feedback IS NOT NULL AND pg_catalog.btrim(p_feedback) = '') THEN
        RAISE EXCEPTION 'give either a score or a rubric with its scores (and feedback that is not blank)'
              USING ERRCODE = '22023';
    END IF;
    v_attempt := assessment.lock_attempt(v_response.attempt_id);
    IF v_attempt.status NOT IN ('submitted', 'auto_closed', 'graded') THEN
        RAISE EXCEPTION 'attempt % is %', v_attempt.id, v_attempt.status
              USING ERRCODE = 'EL052', DETAIL = 'Only submitted or closed attempts are graded.';
    END IF;
    SELECT r.* INTO STRICT v_response FROM assessment.attempt_responses AS r
     WHERE r.organization_id = v_org AND r.id = p_response_id
       FOR NO KEY UPDATE;

    DELETE FROM assessment.response_rubric_scores AS s
     WHERE s.organization_id = v_org AND s.response_id = p_response_id;
    IF p_rubric_id IS NULL THEN
        v_score := p_score;
    ELSE
        SELECT b.* INTO v_rubric FROM assessment.rubrics AS b
         WHERE b.organization_id = v_org AND b.id = p_rubric_id AND b.deleted_at IS NULL
           AND (b.course_id IS NULL OR b.course_id = v_response.course_id);
        IF NOT FOUND THEN
            v_problem := 'the rubric is unknown, deleted or of another course';
        ELSIF pg_catalog.jsonb_typeof(p_rubric_scores) <> 'array'
              OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(p_rubric_scores) AS e (v)
                          WHERE pg_catalog.jsonb_typeof(e.v) <> 'object'
                             OR NOT e.v OPERATOR(pg_catalog.?) 'criterion_id'
                             OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(e.v) AS k (k)
                                         WHERE k.k NOT IN ('criterion_id', 'level_id', 'points', 'comment'))) THEN
            v_problem := 'rubric scores must be an array of {criterion_id, level_id?, points?, comment?} objects';
        END IF;
        IF v_problem IS NULL THEN
            IF (SELECT pg_catalog.count(DISTINCT i.criterion_id) <> pg_catalog.count(*)
                  FROM pg_catalog.jsonb_to_recordset(p_rubric_scores) AS i (criterion_id uuid))
               OR EXISTS (SELECT c.id FROM assessment.rubric_criteria AS c
                           WHERE c.organization_id = v_org AND c.rubric_id = p_rubric_id
                          EXCEPT
                          SELECT i.criterion_id
                            FROM pg_catalog.jsonb_to_recordset(p_rubric_scores) AS i (criterion_id uuid))
               OR EXISTS (SELECT i.criterion_id
                            FROM pg_catalog.jsonb_to_recordset(p_rubric_scores) AS i (criterion_id uuid)
                          EXCEPT
                          SELECT c.id FROM assessment.rubric_criteria AS c
                           WHERE c.organization_id = v_org AND c.rubric_id = p_rubric_id) THEN
                v_problem := 'every criterion of the rubric must be scored exactly once, and no other';
            ELSIF EXISTS (SELECT 1
                            FROM pg_catalog.jsonb_to_recordset(p_rubric_scores)
                                 AS i (criterion_id uuid, level_id uuid, points numeric)
                            LEFT JOIN assessment.rubric_levels AS l
                              ON l.organization_id = v_org AND l.id = i.level_id AND l.criterion_id = i.criterion_id
                           WHERE (i.level_id IS NULL AND i.points IS NULL)
                              OR (i.level_id IS NOT NULL AND l.id IS NULL)
                              OR (l.id IS NOT NULL AND i.points IS NOT NULL AND i.points <> l.points)) THEN
                v_problem := 'each criterion needs points or a level of that criterion (and then the level''s points)';
            END IF;
        END IF;
        IF v_problem IS NOT NULL THEN
            RAISE EXCEPTION 'rubric scores do not fit rubric %', p_rubric_id
                  USING ERRCODE = 'EL058', DETAIL = v_problem;
        END IF;
        INSERT INTO assessment.response_rubric_scores (
            organization_id, response_id, course_id, user_id, rubric_id, criterion_id, criterion_max_points,
            level_id, points, comment)
        SELECT v_org, p_response_id, v_response.course_id, v_response.user_id, p_rubric_id, c.id, c.max_points,
               i.level_id, coalesce(l.points, i.points), i.comment
          FROM pg_catalog.jsonb_to_recordset(p_rubric_scores)
               AS i (criterion_id uuid, level_id uuid, points numeric, comment text)
          JOIN assessment.rubric_criteria AS c ON c.organization_id = v_org AND c.id = i.criterion_id
          LEFT JOIN assessment.rubric_levels AS l ON l.organization_id = v_org AND l.id = i.level_id;
        SELECT pg_catalog.sum(s.points), pg_catalog.sum(s.criterion_max_points) INTO v_sum, v_max
          FROM assessment.response_rubric_scores AS s
         WHERE s.organization_id = v_org AND s.response_id = p_response_id;
        IF v_max IS NULL THEN
            RAISE EXCEPTION 'rubric % has no criteria', p_rubric_id USING ERRCODE = 'EL058';
        END IF;
        v_score := pg_catalog.round(v_response.points * v_sum / v_max, 2);
    END IF;

    UPDATE assessment.attempt_responses AS r
       SET manual_score = v_score,
           score = v_score,
           graded_by_user_id = v_actor,
           graded_at = pg_catalog.now(),
           feedback = p_feedback
     WHERE r.organization_id = v_org AND r.id = p_response_id;
    PERFORM assessment.finish_grading(v_attempt.id);
    SELECT r.* INTO STRICT v_response FROM assessment.attempt_responses AS r
     WHERE r.organization_id = v_org AND r.id = p_response_id;
    RETURN v_response;
END
$$;
COMMENT ON FUNCTION assessment.grade_response_manually(uuid, numeric, text, uuid, jsonb) IS
'A grader of the course (assessment.grade, else 42501; never for their own attempt, 42501) scores a response of a submitted, auto_closed or graded attempt (EL052 otherwise): either p_score directly (within [0, the question''s points], else 23514 ck_attempt_responses_manual_score) or by rubric p_rubric_id (live, organization-wide or of the course) with p_rubric_scores = [{"criterion_id", "level_id"?, "points"?, "comment"?}], every criterion of the rubric exactly once, a level of that criterion or points (a level fixes the points), points within [0, max_points] (23514 ck_response_rubric_scores_points); EL058 for a rubric or scores that do not fit. The rubric score is round(question points * sum(points) / sum(max_points), 2). Exactly one of p_score and p_rubric_id (22023). The manual score overrides any automatic score; p_feedback replaces the feedback. Then the attempt is graded when no response is left unscored (score, passed, final grade, pass event) or regraded when it already was. P0002 for an unknown response.';
REVOKE ALL ON FUNCTION assessment.grade_response_manually(uuid, numeric, text, uuid, jsonb)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.grade_response_manually(uuid, numeric, text, uuid, jsonb)
TO ${app_role};
