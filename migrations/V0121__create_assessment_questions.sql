-- =============================================================================
-- V0121__create_assessment_questions
-- Purpose:       what an assessment asks: fixed questions (the current version
--                of a question at the start of an attempt) and random draws of
--                N questions from a bank, optionally of one difficulty (several
--                draw rows make a difficulty mix). start_attempt() resolves them
--                per attempt and stores the result (attempt_responses).
-- Concern:       assessment.assessment_questions and its course check.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Access:        course content (profile course_catalog): staff of the course
--                (assessment.manage) write, graders (assessment.grade) read,
--                learners never (they see the questions of their own attempts
--                through assessment.get_attempt_questions()).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE assessment.assessment_questions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    assessment_id uuid NOT NULL,
    course_id uuid NOT NULL,
    position bigint NOT NULL,
    question_id uuid,
    bank_id uuid,
    draw_count bigint,
    difficulty text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_assessment_questions PRIMARY KEY (organization_id, id),
    -- Leading columns = the assessment FK.
    CONSTRAINT uq_assessment_questions_assessment_id_position
    UNIQUE (organization_id, assessment_id, course_id, position),
    CONSTRAINT uq_assessment_questions_assessment_id_question_id
    UNIQUE (organization_id, assessment_id, question_id),
    CONSTRAINT fk_assessment_questions_assessment_id
    FOREIGN KEY (organization_id, assessment_id, course_id)
    REFERENCES assessment.assessments (organization_id, id, course_id) ON DELETE CASCADE,
    CONSTRAINT fk_assessment_questions_question_id FOREIGN KEY (organization_id, question_id)
    REFERENCES assessment.questions (organization_id, id) ON DELETE NO ACTION,
    CONSTRAINT fk_assessment_questions_bank_id FOREIGN KEY (organization_id, bank_id)
    REFERENCES assessment.question_banks (organization_id, id) ON DELETE NO ACTION,
    CONSTRAINT ck_assessment_questions_position CHECK (position BETWEEN 1 AND 1000),
    CONSTRAINT ck_assessment_questions_kind
    CHECK (
        (question_id IS NOT NULL AND bank_id IS NULL AND draw_count IS NULL AND difficulty IS NULL)
        OR (question_id IS NULL AND bank_id IS NOT NULL AND draw_count IS NOT NULL)
    ),
    CONSTRAINT ck_assessment_questions_draw_count CHECK (draw_count BETWEEN 1 AND 200),
    CONSTRAINT ck_assessment_questions_difficulty CHECK (difficulty IN ('easy', 'medium', 'hard'))
);
CREATE INDEX idx_assessment_questions_organization_id_question_id
ON assessment.assessment_questions (organization_id, question_id)
WHERE question_id IS NOT NULL;
CREATE INDEX idx_assessment_questions_organization_id_bank_id
ON assessment.assessment_questions (organization_id, bank_id)
WHERE bank_id IS NOT NULL;

COMMENT ON TABLE assessment.assessment_questions IS
'The question plan of an assessment, in position order: a fixed question (question_id: its current version when an attempt starts) or a random draw (bank_id, draw_count, optional difficulty: that many distinct live questions of the bank, of that difficulty if given, none already chosen for the attempt). Several draw rows of one bank with different difficulties make a difficulty mix. The bank or question must be organization-wide or of the assessment''s course (trg_assessment_questions_check_course, 23514). Staff of the course (assessment.manage) write; graders read; learners never.';
COMMENT ON COLUMN assessment.assessment_questions.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.assessment_questions.id IS 'Row id (UUIDv7).';
COMMENT ON COLUMN assessment.assessment_questions.assessment_id IS 'The assessment.';
COMMENT ON COLUMN assessment.assessment_questions.course_id IS 'The assessment''s course (copied, part of the foreign key; for course-scoped access).';
COMMENT ON COLUMN assessment.assessment_questions.position IS 'Order of the row in the plan (1-1000, unique per assessment); without shuffle_questions attempts present the questions in this order, draws in the order drawn.';
COMMENT ON COLUMN assessment.assessment_questions.question_id IS 'A fixed question (its current, i.e. highest, version at the attempt''s start); NULL for a draw.';
COMMENT ON COLUMN assessment.assessment_questions.bank_id IS 'The bank to draw from; NULL for a fixed question.';
COMMENT ON COLUMN assessment.assessment_questions.draw_count IS 'How many questions to draw (1-200); start_attempt() raises EL056 when the bank has fewer eligible questions.';
COMMENT ON COLUMN assessment.assessment_questions.difficulty IS 'Only questions whose current version has this difficulty (easy, medium, hard); NULL = any.';
COMMENT ON COLUMN assessment.assessment_questions.created_at IS 'When the row was created.';
COMMENT ON COLUMN assessment.assessment_questions.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION assessment.check_assessment_question_course()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_course uuid;
BEGIN
    IF NEW.question_id IS NOT NULL THEN
        SELECT q.course_id INTO v_course FROM assessment.questions AS q
         WHERE q.organization_id = NEW.organization_id AND q.id = NEW.question_id;
    ELSE
        SELECT b.course_id INTO v_course FROM assessment.question_banks AS b
         WHERE b.organization_id = NEW.organization_id AND b.id = NEW.bank_id;
    END IF;
    IF v_course IS NOT NULL AND v_course <> NEW.course_id THEN
        RAISE EXCEPTION 'the question or bank belongs to another course'
              USING ERRCODE = '23514',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    HINT = 'Use questions of an organization-wide bank or of the assessment''s course.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.check_assessment_question_course() IS
'AFTER INSERT OR UPDATE trigger of assessment_questions (trg_assessment_questions_check_course): the question''s or bank''s course must be NULL (organization-wide) or the assessment''s course, else 23514 naming the trigger. SECURITY DEFINER: reads banks and questions the writer may not see (a foreign key would accept them anyway).';
REVOKE ALL ON FUNCTION assessment.check_assessment_question_course() FROM PUBLIC;

CREATE TRIGGER trg_assessment_questions_check_course
AFTER INSERT OR UPDATE ON assessment.assessment_questions
FOR EACH ROW EXECUTE FUNCTION assessment.check_assessment_question_course();
COMMENT ON TRIGGER trg_assessment_questions_check_course ON assessment.assessment_questions IS
'Questions and banks of the assessment''s course or organization-wide only (23514).';

ALTER TABLE assessment.assessment_questions ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.assessment_questions FORCE ROW LEVEL SECURITY;
