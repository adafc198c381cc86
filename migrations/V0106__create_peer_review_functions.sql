-- =============================================================================
-- V0106__create_peer_review_functions
-- Purpose:       the only writers of the peer review tables and the only reads
--                across the anonymity line: assign_peer_review() (graders),
--                submit_peer_review() (the reviewer), get_peer_review_tasks()
--                (the reviewer's submissions to review, the author hidden when
--                anonymous) and get_submission_peer_reviews() (an author's
--                reviews, the reviewer hidden when anonymous; graders see all).
-- Concern:       assessment peer review functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       submit_peer_review() locks the peer review assignment FOR
--                UPDATE, then replaces the review and its scores.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- assign_peer_review(submission, reviewer, due, anonymous)
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.assign_peer_review(
    p_submission_id uuid,
    p_reviewer_user_id uuid,
    p_due_at timestamptz DEFAULT NULL,
    p_anonymous boolean DEFAULT NULL
)
RETURNS assessment.peer_review_assignments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_s assessment.assignment_submissions;
    v_anonymous boolean;
    v_row assessment.peer_review_assignments;
BEGIN
    IF p_submission_id IS NULL OR p_reviewer_user_id IS NULL THEN
        RAISE EXCEPTION 'a submission and a reviewer are required' USING ERRCODE = '22023';
    END IF;
    SELECT s.* INTO v_s FROM assessment.assignment_submissions AS s
     WHERE s.organization_id = v_org AND s.id = p_submission_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no submission % in the organization', p_submission_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM user_management.require_permission('assessment.grade', v_s.course_id);
    SELECT coalesce(p_anonymous, a.peer_review_anonymous) INTO STRICT v_anonymous
      FROM assessment.assignments AS a
     WHERE a.organization_id = v_org AND a.id = v_s.assignment_id;
    INSERT INTO assessment.peer_review_assignments AS p
        (organization_id, assignment_id, course_id, submission_id, reviewer_user_id, due_at, anonymous,
         assigned_by_user_id)
    VALUES (v_org, v_s.assignment_id, v_s.course_id, v_s.id, p_reviewer_user_id, p_due_at, v_anonymous,
            v_actor)
    ON CONFLICT (organization_id, submission_id, reviewer_user_id) DO NOTHING
    RETURNING p.* INTO v_row;
    IF NOT FOUND THEN
        SELECT p.* INTO STRICT v_row FROM assessment.peer_review_assignments AS p
         WHERE p.organization_id = v_org AND p.submission_id = p_submission_id
           AND p.reviewer_user_id = p_reviewer_user_id;
    END IF;
    RETURN v_row;
END
$$;
COMMENT ON FUNCTION assessment.assign_peer_review(uuid, uuid, timestamptz, boolean) IS
'Asks p_reviewer_user_id to review submission p_submission_id (graders of its course: assessment.grade, else 42501; P0002 for an unknown submission; 22023 for NULLs). Anonymity defaults to the assignment''s peer_review_anonymous. EL063 when the reviewer is the author, EL062 when not enrolled in the course (trg_peer_review_assignments_check). Idempotent per (submission, reviewer): a repeat returns the existing row unchanged.';
REVOKE ALL ON FUNCTION assessment.assign_peer_review(uuid, uuid, timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.assign_peer_review(uuid, uuid, timestamptz, boolean)
TO ${app_role};

-- ---------------------------------------------------------------------------
-- submit_peer_review(peer review assignment, comments, scores)
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.submit_peer_review(
    p_peer_review_assignment_id uuid,
    p_comments text,
    p_scores jsonb DEFAULT NULL
)
RETURNS assessment.peer_reviews
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_p assessment.peer_review_assignments;
    v_rubric uuid;
    v_bad text;
    v_review assessment.peer_reviews;
BEGIN
    IF p_peer_review_assignment_id IS NULL THEN
        RAISE EXCEPTION 'a peer review assignment is required' USING ERRCODE = '22023';
    END IF;
    SELECT p.* INTO v_p FROM assessment.peer_review_assignments AS p
     WHERE p.organization_id = v_org AND p.id = p_peer_review_assignment_id
       FOR UPDATE;
    IF NOT FOUND OR v_p.reviewer_user_id <> v_actor THEN
        -- Another learner's task is indistinguishable from a missing one.
        RAISE EXCEPTION 'no peer review assignment % for the acting user', p_peer_review_assignment_id
              USING ERRCODE = 'P0002';
    END IF;
    IF v_p.due_at IS NOT NULL AND pg_catalog.now() > v_p.due_at THEN
        RAISE EXCEPTION 'the peer review was due at %', v_p.due_at
              USING ERRCODE = 'EL064', DETAIL = pg_catalog.format('Due %s, now %s.', v_p.due_at, pg_catalog.now());
    END IF;
    IF p_scores IS NOT NULL THEN
        SELECT s.rubric_id INTO STRICT v_rubric FROM assessment.assignment_submissions AS s
         WHERE s.organization_id = v_org AND s.id = v_p.submission_id;
        IF v_rubric IS NULL OR pg_catalog.jsonb_typeof(p_scores) <> 'array' THEN
            RAISE EXCEPTION 'scores need a rubric on the submission and a JSON array'
                  USING ERRCODE = '22023';
        END IF;
        SELECT pg_catalog.string_agg(coalesce(x.criterion_id::text, 'null'), ', ') INTO v_bad
          FROM (
              (SELECT e.criterion_id FROM pg_catalog.jsonb_to_recordset(p_scores) AS e (criterion_id uuid)
               EXCEPT ALL
               SELECT c.id FROM assessment.rubric_criteria AS c
                WHERE c.organization_id = v_org AND c.rubric_id = v_rubric)
              UNION ALL
              (SELECT c.id FROM assessment.rubric_criteria AS c
                WHERE c.organization_id = v_org AND c.rubric_id = v_rubric
               EXCEPT ALL
               SELECT e.criterion_id FROM pg_catalog.jsonb_to_recordset(p_scores) AS e (criterion_id uuid))
          ) AS x;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'scores must name each criterion of the rubric once'
                  USING ERRCODE = '22023', DETAIL = pg_catalog.format('Not matching: %s.', v_bad);
        END IF;
    END IF;
    -- A resubmission before the due date replaces the review.
    DELETE FROM assessment.peer_reviews AS r
     WHERE r.organization_id = v_org AND r.peer_review_assignment_id = v_p.id;
    INSERT INTO assessment.peer_reviews AS r
        (organization_id, peer_review_assignment_id, submission_id, reviewer_user_id, course_id, rubric_id,
         comments)
    VALUES (v_org, v_p.id, v_p.submission_id, v_p.reviewer_user_id, v_p.course_id, v_rubric, p_comments)
    RETURNING r.* INTO v_review;
    IF p_scores IS NOT NULL THEN
        INSERT INTO assessment.peer_review_scores AS sc
            (organization_id, peer_review_id, reviewer_user_id, course_id, rubric_id, criterion_id,
             criterion_max_points, level_id, points, comment)
        SELECT v_org, v_review.id, v_review.reviewer_user_id, v_review.course_id, v_rubric, c.id, c.max_points,
               e.level_id, coalesce(e.points, l.points), e.comment
          FROM pg_catalog.jsonb_to_recordset(p_scores)
              AS e (criterion_id uuid, level_id uuid, points numeric, comment text)
          JOIN assessment.rubric_criteria AS c
            ON c.organization_id = v_org AND c.id = e.criterion_id
          LEFT JOIN assessment.rubric_levels AS l
            ON l.organization_id = v_org AND l.id = e.level_id AND l.criterion_id = e.criterion_id;
        UPDATE assessment.peer_reviews AS r
           SET total_points = (SELECT pg_catalog.sum(sc.points) FROM assessment.peer_review_scores AS sc
                                WHERE sc.organization_id = v_org AND sc.peer_review_id = v_review.id)
         WHERE r.organization_id = v_org AND r.id = v_review.id
        RETURNING r.* INTO v_review;
    END IF;
    UPDATE assessment.peer_review_assignments AS p
       SET status = 'submitted'
     WHERE p.organization_id = v_org AND p.id = v_p.id AND p.status <> 'submitted';
    RETURN v_review;
END
$$;
COMMENT ON FUNCTION assessment.submit_peer_review(uuid, text, jsonb) IS
'The acting reviewer submits (or, before the due date, replaces) the review of a peer review assignment: comments (1-20000 characters) and optionally p_scores, a JSON array of {criterion_id, level_id?, points?, comment?} naming each criterion of the submission''s rubric once (22023 otherwise; points default to the level''s; 23514 ck_peer_review_scores_points outside [0, max]); total_points = their sum. P0002 for an unknown assignment or one of another reviewer; EL064 after its due date; 23514 ck_peer_reviews_content when neither comments nor scores. Marks the assignment submitted. Returns the review.';
REVOKE ALL ON FUNCTION assessment.submit_peer_review(uuid, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.submit_peer_review(uuid, text, jsonb) TO ${app_role};

-- ---------------------------------------------------------------------------
-- get_peer_review_tasks(): the reviewer's view
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.get_peer_review_tasks()
RETURNS TABLE (
    peer_review_assignment_id uuid,
    assignment_id uuid,
    submission_id uuid,
    due_at timestamptz,
    anonymous boolean,
    status text,
    author_user_id uuid,
    author_display_name text,
    body_text text,
    file_id uuid,
    content_item_id uuid,
    submitted_at timestamptz
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
    SELECT p.id, p.assignment_id, p.submission_id, p.due_at, p.anonymous, p.status,
           CASE WHEN p.anonymous THEN NULL ELSE s.user_id END,
           CASE WHEN p.anonymous THEN NULL ELSE u.display_name END,
           s.body_text, s.file_id, s.content_item_id, s.submitted_at
      FROM assessment.peer_review_assignments AS p
      JOIN assessment.assignment_submissions AS s
        ON s.organization_id = p.organization_id AND s.id = p.submission_id
      JOIN user_management.users AS u
        ON u.organization_id = s.organization_id AND u.id = s.user_id
     WHERE p.organization_id = app.current_organization_id()
       AND p.reviewer_user_id = app.current_user_id()
     ORDER BY p.due_at NULLS LAST, p.id
$$;
COMMENT ON FUNCTION assessment.get_peer_review_tasks() IS
'The acting user''s peer review tasks with the submission to review (text, file, content item, time); the author''s id and display name only when the task is not anonymous (NULL otherwise). Empty without context. The reviewer cannot read the submission row itself (its policy admits the author and graders only).';
REVOKE ALL ON FUNCTION assessment.get_peer_review_tasks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.get_peer_review_tasks() TO ${app_role};

-- ---------------------------------------------------------------------------
-- get_submission_peer_reviews(submission): the author's (and graders') view
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.get_submission_peer_reviews(p_submission_id uuid)
RETURNS TABLE (
    peer_review_id uuid,
    anonymous boolean,
    reviewer_user_id uuid,
    reviewer_display_name text,
    comments text,
    total_points numeric,
    submitted_at timestamptz,
    scores jsonb
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_s assessment.assignment_submissions;
    v_grader boolean;
BEGIN
    SELECT s.* INTO v_s FROM assessment.assignment_submissions AS s
     WHERE s.organization_id = v_org AND s.id = p_submission_id;
    v_grader := FOUND AND user_management.has_permission('assessment.grade', v_s.course_id);
    IF NOT FOUND OR (v_s.user_id <> v_actor AND NOT v_grader) THEN
        -- Someone else's submission is indistinguishable from a missing one.
        RAISE EXCEPTION 'no submission % of the acting user', p_submission_id USING ERRCODE = 'P0002';
    END IF;
    RETURN QUERY
    SELECT r.id, p.anonymous,
           CASE WHEN p.anonymous AND NOT v_grader THEN NULL ELSE r.reviewer_user_id END,
           CASE WHEN p.anonymous AND NOT v_grader THEN NULL ELSE u.display_name END,
           r.comments, r.total_points::numeric, r.submitted_at,
           coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                'criterion_id', sc.criterion_id, 'level_id', sc.level_id,
                                'points', sc.points, 'comment', sc.comment) ORDER BY c.position)
                       FROM assessment.peer_review_scores AS sc
                       JOIN assessment.rubric_criteria AS c
                         ON c.organization_id = sc.organization_id AND c.id = sc.criterion_id
                      WHERE sc.organization_id = r.organization_id AND sc.peer_review_id = r.id),
                    '[]'::jsonb)
      FROM assessment.peer_reviews AS r
      JOIN assessment.peer_review_assignments AS p
        ON p.organization_id = r.organization_id AND p.id = r.peer_review_assignment_id
      JOIN user_management.users AS u
        ON u.organization_id = r.organization_id AND u.id = r.reviewer_user_id
     WHERE r.organization_id = v_org AND r.submission_id = p_submission_id
     ORDER BY r.submitted_at, r.id;
END
$$;
COMMENT ON FUNCTION assessment.get_submission_peer_reviews(uuid) IS
'The peer reviews of a submission, for its author or graders of its course (assessment.grade): comments, total, time and rubric scores (JSON array in criterion order). The reviewer''s id and display name are NULL for anonymous reviews unless the caller is a grader. P0002 for an unknown submission or one the caller may not see (no difference is told); 42501 without an acting user.';
REVOKE ALL ON FUNCTION assessment.get_submission_peer_reviews(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.get_submission_peer_reviews(uuid) TO ${app_role};
