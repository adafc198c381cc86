-- =============================================================================
-- V0123__create_response_rubric_scores
-- Purpose:       rubric scores of manually graded responses (essay, file
--                upload, code): one row per criterion of the rubric the grader
--                used, optionally at one of its levels; their sum, scaled to the
--                question's points, is the response's manual score.
-- Concern:       assessment.response_rubric_scores.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Access:        per-learner rows (course_own_rows, staff = assessment.grade);
--                written only by grade_response_manually() (V0125).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE assessment.response_rubric_scores (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    response_id uuid NOT NULL,
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
    CONSTRAINT pk_response_rubric_scores PRIMARY KEY (organization_id, id),
    -- One score per criterion and response (leading columns = the response FK).
    CONSTRAINT uq_response_rubric_scores_response_id_criterion_id
    UNIQUE (organization_id, response_id, user_id, course_id, criterion_id),
    CONSTRAINT fk_response_rubric_scores_response_id
    FOREIGN KEY (organization_id, response_id, user_id, course_id)
    REFERENCES assessment.attempt_responses (organization_id, id, user_id, course_id)
    ON DELETE CASCADE,
    CONSTRAINT fk_response_rubric_scores_criterion_id
    FOREIGN KEY (organization_id, criterion_id, rubric_id, criterion_max_points)
    REFERENCES assessment.rubric_criteria (organization_id, id, rubric_id, max_points)
    ON UPDATE CASCADE ON DELETE NO ACTION,
    CONSTRAINT fk_response_rubric_scores_level_id
    FOREIGN KEY (organization_id, level_id, criterion_id)
    REFERENCES assessment.rubric_levels (organization_id, id, criterion_id) ON DELETE NO ACTION,
    CONSTRAINT ck_response_rubric_scores_points
    CHECK (points >= 0 AND points <= criterion_max_points),
    CONSTRAINT ck_response_rubric_scores_comment_length
    CHECK (char_length(comment) BETWEEN 1 AND 5000)
);
CREATE INDEX idx_response_rubric_scores_organization_id_criterion_id
ON assessment.response_rubric_scores (
    organization_id, criterion_id, rubric_id, criterion_max_points
);
CREATE INDEX idx_response_rubric_scores_organization_id_level_id
ON assessment.response_rubric_scores (organization_id, level_id, criterion_id)
WHERE level_id IS NOT NULL;

COMMENT ON TABLE assessment.response_rubric_scores IS
'Rubric scores of a manually graded response: one row per criterion of the rubric the grader used (every criterion, once; EL058 otherwise), points within [0, the criterion''s max_points] (ck_response_rubric_scores_points over a copy kept by fk_response_rubric_scores_criterion_id ON UPDATE CASCADE), at a level of that criterion when one is named (then points = the level''s points). The response''s manual_score = round(question points * sum(points) / sum(max_points), 2). Written only by grade_response_manually(), which replaces all rows of a response at once; learners read their own, graders of the course all of theirs.';
COMMENT ON COLUMN assessment.response_rubric_scores.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.response_rubric_scores.id IS 'Score id (UUIDv7).';
COMMENT ON COLUMN assessment.response_rubric_scores.response_id IS 'The scored response (attempt_responses).';
COMMENT ON COLUMN assessment.response_rubric_scores.course_id IS 'The response''s course (copied, part of the foreign key; for course-scoped access).';
COMMENT ON COLUMN assessment.response_rubric_scores.user_id IS 'The response''s learner (copied, part of the foreign key; for own-row access).';
COMMENT ON COLUMN assessment.response_rubric_scores.rubric_id IS 'The rubric used (the same for every row of a response).';
COMMENT ON COLUMN assessment.response_rubric_scores.criterion_id IS 'The criterion scored.';
COMMENT ON COLUMN assessment.response_rubric_scores.criterion_max_points IS 'Copy of the criterion''s max_points (kept by the foreign key''s ON UPDATE CASCADE), bounding points.';
COMMENT ON COLUMN assessment.response_rubric_scores.level_id IS 'The level of the criterion chosen, if any (then points = its points).';
COMMENT ON COLUMN assessment.response_rubric_scores.points IS 'Points given for the criterion, within [0, criterion_max_points].';
COMMENT ON COLUMN assessment.response_rubric_scores.comment IS 'The grader''s comment on the criterion (1-5000 characters).';
COMMENT ON COLUMN assessment.response_rubric_scores.created_at IS 'When the score was given.';
COMMENT ON COLUMN assessment.response_rubric_scores.updated_at IS 'Last change (app.set_updated_at()).';

ALTER TABLE assessment.response_rubric_scores ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.response_rubric_scores FORCE ROW LEVEL SECURITY;
