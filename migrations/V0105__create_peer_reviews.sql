-- =============================================================================
-- V0105__create_peer_reviews
-- Purpose:       peer review of assignment submissions: which learner reviews
--                which submission (never their own, each pair once, due date,
--                anonymous or not), the reviews (comments, total) and their
--                rubric scores.
-- Concern:       assessment.peer_review_assignments, peer_reviews,
--                peer_review_scores (functions follow in V0106).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Visibility:    the tables are narrow and keyed for the reviewer: a reviewer
--                reads own rows, graders of the course all. No row names the
--                submission's author, and the submission itself stays
--                invisible to reviewers under its own policy; authors and
--                reviewers read across the anonymity line only through the
--                SECURITY DEFINER functions of V0106, which hide the other
--                side's identity when the review is anonymous. The app writes
--                nothing here directly (no privilege).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- peer_review_assignments
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.peer_review_assignments (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    assignment_id uuid NOT NULL,
    course_id uuid NOT NULL,
    submission_id uuid NOT NULL,
    reviewer_user_id uuid NOT NULL,
    due_at timestamptz,
    anonymous boolean NOT NULL DEFAULT TRUE,
    status text NOT NULL DEFAULT 'assigned',
    assigned_by_user_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_peer_review_assignments PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_peer_review_assignments_submission_id
    FOREIGN KEY (organization_id, submission_id, assignment_id, course_id)
    REFERENCES assessment.assignment_submissions (organization_id, id, assignment_id, course_id)
    ON DELETE CASCADE,
    CONSTRAINT fk_peer_review_assignments_reviewer_user_id
    FOREIGN KEY (organization_id, reviewer_user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_peer_review_assignments_assigned_by_user_id
    FOREIGN KEY (organization_id, assigned_by_user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT uq_peer_review_assignments_submission_id_reviewer_user_id
    UNIQUE (organization_id, submission_id, reviewer_user_id),
    -- Target of the reviews' composite key: their submission, reviewer and
    -- course are the assignment's.
    CONSTRAINT uq_peer_review_assignments_id_submission_id_reviewer_course
    UNIQUE (organization_id, id, submission_id, reviewer_user_id, course_id),
    CONSTRAINT ck_peer_review_assignments_status CHECK (status IN ('assigned', 'submitted'))
);
CREATE INDEX idx_peer_review_assignments_submission_id_assignment_id
ON assessment.peer_review_assignments (organization_id, submission_id, assignment_id, course_id);
COMMENT ON INDEX assessment.idx_peer_review_assignments_submission_id_assignment_id IS
'Supports fk_peer_review_assignments_submission_id (the reviewers of a submission).';
CREATE INDEX idx_peer_review_assignments_organization_id_reviewer_user_id
ON assessment.peer_review_assignments (organization_id, reviewer_user_id);
COMMENT ON INDEX assessment.idx_peer_review_assignments_organization_id_reviewer_user_id IS
'Supports fk_peer_review_assignments_reviewer_user_id (a reviewer''s tasks).';
CREATE INDEX idx_peer_review_assignments_organization_id_assigned_by
ON assessment.peer_review_assignments (organization_id, assigned_by_user_id);
COMMENT ON INDEX assessment.idx_peer_review_assignments_organization_id_assigned_by IS
'Supports fk_peer_review_assignments_assigned_by_user_id.';

COMMENT ON TABLE assessment.peer_review_assignments IS
'A learner (reviewer_user_id) asked to review a submission: never its author (EL063), each pair once, the reviewer enrolled in the course (EL062), with a due date and an anonymity flag. Written only by assign_peer_review() (graders); status follows submit_peer_review(). The reviewer reads own rows, graders of the course (assessment.grade) all; the author''s identity is not on the row.';
COMMENT ON COLUMN assessment.peer_review_assignments.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.peer_review_assignments.id IS 'Peer review assignment id (UUIDv7).';
COMMENT ON COLUMN assessment.peer_review_assignments.assignment_id IS 'The submission''s assignment (part of fk_peer_review_assignments_submission_id).';
COMMENT ON COLUMN assessment.peer_review_assignments.course_id IS 'The submission''s course (part of fk_peer_review_assignments_submission_id), for the course-scoped policies.';
COMMENT ON COLUMN assessment.peer_review_assignments.submission_id IS 'The submission to review.';
COMMENT ON COLUMN assessment.peer_review_assignments.reviewer_user_id IS 'The reviewing learner (never the author: trg_peer_review_assignments_check, EL063).';
COMMENT ON COLUMN assessment.peer_review_assignments.due_at IS 'Reviews are accepted until then (EL064 after); NULL = no deadline.';
COMMENT ON COLUMN assessment.peer_review_assignments.anonymous IS 'True = the author never learns who reviewed and the reviewer never learns whose submission it is (through the V0106 functions); graders see both.';
COMMENT ON COLUMN assessment.peer_review_assignments.status IS 'assigned, or submitted once the review is in (submit_peer_review()).';
COMMENT ON COLUMN assessment.peer_review_assignments.assigned_by_user_id IS 'The grader who assigned it.';
COMMENT ON COLUMN assessment.peer_review_assignments.created_at IS 'When it was assigned (immutable).';
COMMENT ON COLUMN assessment.peer_review_assignments.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION assessment.check_peer_review_assignment()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_author uuid;
BEGIN
    SELECT s.user_id INTO v_author FROM assessment.assignment_submissions AS s
     WHERE s.organization_id = NEW.organization_id AND s.id = NEW.submission_id;
    IF v_author = NEW.reviewer_user_id THEN
        RAISE EXCEPTION 'a learner never reviews their own submission'
              USING ERRCODE = 'EL063', CONSTRAINT = TG_NAME, COLUMN = 'reviewer_user_id';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM course_management.enrollments AS e
         WHERE e.organization_id = NEW.organization_id AND e.user_id = NEW.reviewer_user_id
           AND e.course_id = NEW.course_id AND e.status IN ('active', 'completed')
    ) THEN
        RAISE EXCEPTION 'reviewer % is not enrolled in the course', NEW.reviewer_user_id
              USING ERRCODE = 'EL062', CONSTRAINT = TG_NAME,
                    DETAIL = 'No active or completed enrollment in the course.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.check_peer_review_assignment() IS
'AFTER INSERT OR UPDATE OF submission_id, reviewer_user_id trigger of peer_review_assignments (trg_peer_review_assignments_check): EL063 when the reviewer is the submission''s author, EL062 when the reviewer has no active or completed enrollment in the course; the trigger is the constraint name.';
REVOKE ALL ON FUNCTION assessment.check_peer_review_assignment() FROM PUBLIC;

CREATE TRIGGER trg_peer_review_assignments_check
AFTER INSERT OR UPDATE OF submission_id, reviewer_user_id ON assessment.peer_review_assignments
FOR EACH ROW EXECUTE FUNCTION assessment.check_peer_review_assignment();
COMMENT ON TRIGGER trg_peer_review_assignments_check ON assessment.peer_review_assignments IS
'Never the author (EL063); the reviewer is enrolled in the course (EL062).';

-- ---------------------------------------------------------------------------
-- peer_reviews
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.peer_reviews (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    peer_review_assignment_id uuid NOT NULL,
    submission_id uuid NOT NULL,
    reviewer_user_id uuid NOT NULL,
    course_id uuid NOT NULL,
    rubric_id uuid,
    comments text,
    total_points numeric(8, 2),
    submitted_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_peer_reviews PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_peer_reviews_peer_review_assignment_id
    FOREIGN KEY (
        organization_id, peer_review_assignment_id, submission_id, reviewer_user_id, course_id
    )
    REFERENCES assessment.peer_review_assignments (
        organization_id, id, submission_id, reviewer_user_id, course_id
    )
    ON DELETE CASCADE,
    CONSTRAINT fk_peer_reviews_rubric_id FOREIGN KEY (organization_id, submission_id, rubric_id)
    REFERENCES assessment.assignment_submissions (organization_id, id, rubric_id) ON DELETE CASCADE,
    CONSTRAINT uq_peer_reviews_organization_id_peer_review_assignment_id
    UNIQUE (organization_id, peer_review_assignment_id),
    -- Target of the scores' composite key.
    CONSTRAINT uq_peer_reviews_organization_id_id_reviewer_course_rubric
    UNIQUE (organization_id, id, reviewer_user_id, course_id, rubric_id),
    CONSTRAINT ck_peer_reviews_comments_length CHECK (char_length(comments) BETWEEN 1 AND 20000),
    CONSTRAINT ck_peer_reviews_content CHECK (comments IS NOT NULL OR total_points IS NOT NULL),
    CONSTRAINT ck_peer_reviews_total_points
    CHECK (total_points IS NULL OR total_points >= 0 AND rubric_id IS NOT NULL)
);
CREATE INDEX idx_peer_reviews_peer_review_assignment_id_submission_id
ON assessment.peer_reviews (
    organization_id, peer_review_assignment_id, submission_id, reviewer_user_id, course_id
);
COMMENT ON INDEX assessment.idx_peer_reviews_peer_review_assignment_id_submission_id IS
'Supports fk_peer_reviews_peer_review_assignment_id.';
CREATE INDEX idx_peer_reviews_organization_id_submission_id_rubric_id
ON assessment.peer_reviews (organization_id, submission_id, rubric_id);
COMMENT ON INDEX assessment.idx_peer_reviews_organization_id_submission_id_rubric_id IS
'Supports fk_peer_reviews_rubric_id (the reviews of a submission).';

COMMENT ON TABLE assessment.peer_reviews IS
'A submitted peer review: comments and, with the submission''s rubric, the total of its rubric scores (peer_review_scores). One per peer review assignment, replaced by a later submit before the due date. Written only by submit_peer_review(); the reviewer reads own rows, graders of the course all; the author reads the reviews of their submission through get_submission_peer_reviews() (reviewer hidden when anonymous).';
COMMENT ON COLUMN assessment.peer_reviews.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.peer_reviews.id IS 'Peer review id (UUIDv7).';
COMMENT ON COLUMN assessment.peer_reviews.peer_review_assignment_id IS 'The peer review assignment this review fulfils (one review each).';
COMMENT ON COLUMN assessment.peer_reviews.submission_id IS 'The reviewed submission (part of the composite keys).';
COMMENT ON COLUMN assessment.peer_reviews.reviewer_user_id IS 'The reviewer (part of fk_peer_reviews_peer_review_assignment_id), who reads the row.';
COMMENT ON COLUMN assessment.peer_reviews.course_id IS 'The course (part of fk_peer_reviews_peer_review_assignment_id), for the course-scoped policies.';
COMMENT ON COLUMN assessment.peer_reviews.rubric_id IS 'The submission''s rubric when the review scores by rubric (fk_peer_reviews_rubric_id); NULL = comments only.';
COMMENT ON COLUMN assessment.peer_reviews.comments IS 'PII: the reviewer''s comments to the author (1-20000 characters).';
COMMENT ON COLUMN assessment.peer_reviews.total_points IS 'Sum of the rubric scores (with a rubric only).';
COMMENT ON COLUMN assessment.peer_reviews.submitted_at IS 'When the review was (last) submitted.';
COMMENT ON COLUMN assessment.peer_reviews.created_at IS 'Row creation time (immutable).';
COMMENT ON COLUMN assessment.peer_reviews.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- peer_review_scores
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.peer_review_scores (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    peer_review_id uuid NOT NULL,
    reviewer_user_id uuid NOT NULL,
    course_id uuid NOT NULL,
    rubric_id uuid NOT NULL,
    criterion_id uuid NOT NULL,
    criterion_max_points numeric(8, 2) NOT NULL,
    level_id uuid,
    points numeric(8, 2) NOT NULL,
    comment text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_peer_review_scores PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_peer_review_scores_peer_review_id
    FOREIGN KEY (organization_id, peer_review_id, reviewer_user_id, course_id, rubric_id)
    REFERENCES assessment.peer_reviews (organization_id, id, reviewer_user_id, course_id, rubric_id)
    ON DELETE CASCADE,
    CONSTRAINT fk_peer_review_scores_criterion_id
    FOREIGN KEY (organization_id, criterion_id, rubric_id, criterion_max_points)
    REFERENCES assessment.rubric_criteria (organization_id, id, rubric_id, max_points)
    ON UPDATE CASCADE ON DELETE RESTRICT,
    CONSTRAINT fk_peer_review_scores_level_id FOREIGN KEY (organization_id, level_id, criterion_id)
    REFERENCES assessment.rubric_levels (organization_id, id, criterion_id) ON DELETE RESTRICT,
    CONSTRAINT uq_peer_review_scores_peer_review_id_criterion_id
    UNIQUE (organization_id, peer_review_id, criterion_id),
    CONSTRAINT ck_peer_review_scores_points CHECK (points >= 0 AND points <= criterion_max_points),
    CONSTRAINT ck_peer_review_scores_comment_length CHECK (char_length(comment) BETWEEN 1 AND 5000)
);
CREATE INDEX idx_peer_review_scores_peer_review_id_reviewer_user_id
ON assessment.peer_review_scores (
    organization_id, peer_review_id, reviewer_user_id, course_id, rubric_id
);
COMMENT ON INDEX assessment.idx_peer_review_scores_peer_review_id_reviewer_user_id IS
'Supports fk_peer_review_scores_peer_review_id.';
CREATE INDEX idx_peer_review_scores_criterion_id_rubric_id
ON assessment.peer_review_scores (organization_id, criterion_id, rubric_id, criterion_max_points);
COMMENT ON INDEX assessment.idx_peer_review_scores_criterion_id_rubric_id IS
'Supports fk_peer_review_scores_criterion_id (its ON UPDATE CASCADE of max_points).';
CREATE INDEX idx_peer_review_scores_level_id_criterion_id
ON assessment.peer_review_scores (organization_id, level_id, criterion_id);
COMMENT ON INDEX assessment.idx_peer_review_scores_level_id_criterion_id IS
'Supports fk_peer_review_scores_level_id.';

COMMENT ON TABLE assessment.peer_review_scores IS
'Rubric scores of a peer review: one per criterion of the submission''s rubric, points within [0, the criterion''s max_points]; their sum is the review''s total_points. Written only by submit_peer_review(); the reviewer reads own rows, graders of the course all.';
COMMENT ON COLUMN assessment.peer_review_scores.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.peer_review_scores.id IS 'Score id (UUIDv7).';
COMMENT ON COLUMN assessment.peer_review_scores.peer_review_id IS 'The review.';
COMMENT ON COLUMN assessment.peer_review_scores.reviewer_user_id IS 'The review''s reviewer (part of fk_peer_review_scores_peer_review_id), who reads the row.';
COMMENT ON COLUMN assessment.peer_review_scores.course_id IS 'The course (part of fk_peer_review_scores_peer_review_id), for the course-scoped policies.';
COMMENT ON COLUMN assessment.peer_review_scores.rubric_id IS 'The review''s rubric (part of both composite keys: the criterion is of that rubric).';
COMMENT ON COLUMN assessment.peer_review_scores.criterion_id IS 'The scored criterion.';
COMMENT ON COLUMN assessment.peer_review_scores.criterion_max_points IS 'Copy of the criterion''s max_points (kept by ON UPDATE CASCADE): bound of points.';
COMMENT ON COLUMN assessment.peer_review_scores.level_id IS 'The level chosen, if any (a level of the criterion).';
COMMENT ON COLUMN assessment.peer_review_scores.points IS 'Points given, within [0, criterion_max_points].';
COMMENT ON COLUMN assessment.peer_review_scores.comment IS 'PII: the reviewer''s comment on this criterion (1-5000 characters).';
COMMENT ON COLUMN assessment.peer_review_scores.created_at IS 'Row creation time (immutable).';
COMMENT ON COLUMN assessment.peer_review_scores.updated_at IS 'Last change (app.set_updated_at()).';

ALTER TABLE assessment.peer_review_assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.peer_review_assignments FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.peer_reviews ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.peer_reviews FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.peer_review_scores ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.peer_review_scores FORCE ROW LEVEL SECURITY;
