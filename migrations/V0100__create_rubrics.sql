-- =============================================================================
-- V0100__create_rubrics
-- Purpose:       scoring rubrics for manual grading (assignments, essay/code
--                questions, peer review): a rubric has ordered criteria with a
--                maximum of points each, a criterion has ordered levels whose
--                points lie within [0, the criterion's max_points].
-- Concern:       assessment.rubrics, rubric_criteria, rubric_levels.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Consistency:   declarative where possible. A level carries a copy of its
--                criterion's max_points in a composite foreign key ON UPDATE
--                CASCADE, so ck_rubric_levels_points holds whenever either
--                side changes. course_id of criteria and levels is copied from
--                the parent by a BEFORE INSERT trigger (the course policies
--                need it on the row) and is part of a composite foreign key.
--                Positions are >= 1, unique per parent (checked at COMMIT) and
--                1..n without gaps (deferred constraint triggers, 23514).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- rubrics
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.rubrics (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    course_id uuid,
    name text NOT NULL,
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_rubrics PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_rubrics_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    -- Target of the criteria's (organization_id, rubric_id, course_id) key.
    CONSTRAINT uq_rubrics_organization_id_id_course_id UNIQUE (organization_id, id, course_id),
    CONSTRAINT ck_rubrics_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT ck_rubrics_description_length CHECK (char_length(description) BETWEEN 1 AND 5000),
    CONSTRAINT ck_rubrics_deleted_at CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE INDEX idx_rubrics_organization_id_course_id
ON assessment.rubrics (organization_id, course_id);
COMMENT ON INDEX assessment.idx_rubrics_organization_id_course_id IS
'Rubrics of a course (foreign key to courses, course listings).';

COMMENT ON TABLE assessment.rubrics IS
'Scoring rubrics: ordered criteria (rubric_criteria) with levels (rubric_levels). Used to grade assignment submissions, manually graded questions and peer reviews; the maximum of a rubric is the sum of its criteria''s max_points. course_id NULL = shared by the whole organization. Members see the live rubrics of the courses they see (and the shared ones); staff (assessment.manage, organization-wide or for the course) write them.';
COMMENT ON COLUMN assessment.rubrics.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.rubrics.id IS 'Rubric id (UUIDv7).';
COMMENT ON COLUMN assessment.rubrics.course_id IS 'The course the rubric belongs to; NULL = organization-wide (only organization-wide assessment.manage writes it). Fixed after INSERT.';
COMMENT ON COLUMN assessment.rubrics.name IS 'Display name (1-200 characters).';
COMMENT ON COLUMN assessment.rubrics.description IS 'Optional description shown to graders and learners (1-5000 characters).';
COMMENT ON COLUMN assessment.rubrics.created_at IS 'When the rubric was created (immutable).';
COMMENT ON COLUMN assessment.rubrics.updated_at IS 'Last change (app.set_updated_at()).';
COMMENT ON COLUMN assessment.rubrics.deleted_at IS 'Soft delete: set = withdrawn (hidden from members, kept for existing scores); NULL = live.';

-- ---------------------------------------------------------------------------
-- rubric_criteria
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.rubric_criteria (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    rubric_id uuid NOT NULL,
    course_id uuid,
    -- Position among a rubric's criteria: small.
    -- squawk-ignore prefer-bigint-over-int
    position integer NOT NULL,
    name text NOT NULL,
    description text,
    max_points numeric(8, 2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_rubric_criteria PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_rubric_criteria_rubric_id FOREIGN KEY (organization_id, rubric_id)
    REFERENCES assessment.rubrics (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_rubric_criteria_course_id FOREIGN KEY (organization_id, rubric_id, course_id)
    REFERENCES assessment.rubrics (organization_id, id, course_id) ON DELETE CASCADE,
    CONSTRAINT uq_rubric_criteria_organization_id_rubric_id_position
    UNIQUE (organization_id, rubric_id, position) DEFERRABLE INITIALLY DEFERRED,
    -- Target of the levels' and scores' (organization_id, criterion_id, rubric_id,
    -- criterion_max_points) key: the copy of max_points follows by ON UPDATE CASCADE.
    CONSTRAINT uq_rubric_criteria_organization_id_id_rubric_id_max_points
    UNIQUE (organization_id, id, rubric_id, max_points),
    -- Target of the levels' (organization_id, criterion_id, course_id) key.
    CONSTRAINT uq_rubric_criteria_organization_id_id_course_id
    UNIQUE (organization_id, id, course_id),
    CONSTRAINT ck_rubric_criteria_position CHECK (position >= 1),
    CONSTRAINT ck_rubric_criteria_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT ck_rubric_criteria_description_length
    CHECK (char_length(description) BETWEEN 1 AND 5000),
    CONSTRAINT ck_rubric_criteria_max_points CHECK (max_points > 0 AND max_points <= 10000)
);
CREATE INDEX idx_rubric_criteria_organization_id_rubric_id_course_id
ON assessment.rubric_criteria (organization_id, rubric_id, course_id);
COMMENT ON INDEX assessment.idx_rubric_criteria_organization_id_rubric_id_course_id IS
'Supports fk_rubric_criteria_course_id (fk_rubric_criteria_rubric_id uses the unique key on rubric and position).';

COMMENT ON TABLE assessment.rubric_criteria IS
'Criteria of a rubric, in order (position 1..n without gaps, checked at COMMIT), each worth up to max_points. Visible when the rubric is; written by staff of its course (assessment.manage).';
COMMENT ON COLUMN assessment.rubric_criteria.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.rubric_criteria.id IS 'Criterion id (UUIDv7).';
COMMENT ON COLUMN assessment.rubric_criteria.rubric_id IS 'The rubric; fixed after INSERT.';
COMMENT ON COLUMN assessment.rubric_criteria.course_id IS 'Copy of the rubric''s course_id (set by trg_rubric_criteria_copy_parent, whatever the client sends; part of fk_rubric_criteria_course_id), for the course-scoped policies.';
COMMENT ON COLUMN assessment.rubric_criteria.position IS '1-based place among the rubric''s criteria: unique per rubric and 1..n without gaps at COMMIT (uq_rubric_criteria_organization_id_rubric_id_position, trg_rubric_criteria_positions: 23514).';
COMMENT ON COLUMN assessment.rubric_criteria.name IS 'Criterion name (1-200 characters), e.g. Structure.';
COMMENT ON COLUMN assessment.rubric_criteria.description IS 'Optional description of what is judged (1-5000 characters).';
COMMENT ON COLUMN assessment.rubric_criteria.max_points IS 'Most points the criterion gives (0 < max_points <= 10000, two decimals). Levels and scores of the criterion stay within [0, max_points]: lowering it below an existing level or score fails (23514).';
COMMENT ON COLUMN assessment.rubric_criteria.created_at IS 'When the criterion was created (immutable).';
COMMENT ON COLUMN assessment.rubric_criteria.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- rubric_levels
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.rubric_levels (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    criterion_id uuid NOT NULL,
    rubric_id uuid NOT NULL,
    course_id uuid,
    criterion_max_points numeric(8, 2) NOT NULL,
    -- Position among a criterion's levels: small.
    -- squawk-ignore prefer-bigint-over-int
    position integer NOT NULL,
    points numeric(8, 2) NOT NULL,
    description text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_rubric_levels PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_rubric_levels_criterion_id
    FOREIGN KEY (organization_id, criterion_id, rubric_id, criterion_max_points)
    REFERENCES assessment.rubric_criteria (organization_id, id, rubric_id, max_points)
    ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT fk_rubric_levels_course_id FOREIGN KEY (organization_id, criterion_id, course_id)
    REFERENCES assessment.rubric_criteria (organization_id, id, course_id) ON DELETE CASCADE,
    CONSTRAINT uq_rubric_levels_organization_id_criterion_id_position
    UNIQUE (organization_id, criterion_id, position) DEFERRABLE INITIALLY DEFERRED,
    -- Target of the scores' (organization_id, level_id, criterion_id) key: a chosen
    -- level belongs to the scored criterion.
    CONSTRAINT uq_rubric_levels_organization_id_id_criterion_id
    UNIQUE (organization_id, id, criterion_id),
    CONSTRAINT ck_rubric_levels_position CHECK (position >= 1),
    CONSTRAINT ck_rubric_levels_points CHECK (points >= 0 AND points <= criterion_max_points),
    CONSTRAINT ck_rubric_levels_description_length
    CHECK (char_length(description) BETWEEN 1 AND 2000)
);
CREATE INDEX idx_rubric_levels_organization_id_criterion_id_rubric_id
ON assessment.rubric_levels (organization_id, criterion_id, rubric_id, criterion_max_points);
COMMENT ON INDEX assessment.idx_rubric_levels_organization_id_criterion_id_rubric_id IS
'Supports fk_rubric_levels_criterion_id (its ON UPDATE CASCADE of max_points).';
CREATE INDEX idx_rubric_levels_organization_id_criterion_id_course_id
ON assessment.rubric_levels (organization_id, criterion_id, course_id);
COMMENT ON INDEX assessment.idx_rubric_levels_organization_id_criterion_id_course_id IS
'Supports fk_rubric_levels_course_id.';

COMMENT ON TABLE assessment.rubric_levels IS
'Performance levels of a rubric criterion (e.g. Excellent = 10 points), in order (position 1..n without gaps, checked at COMMIT). points always lie within [0, the criterion''s max_points] (ck_rubric_levels_points over a copy of max_points kept by fk_rubric_levels_criterion_id ON UPDATE CASCADE). Visible when the criterion is; written by staff (assessment.manage).';
COMMENT ON COLUMN assessment.rubric_levels.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.rubric_levels.id IS 'Level id (UUIDv7).';
COMMENT ON COLUMN assessment.rubric_levels.criterion_id IS 'The criterion; fixed after INSERT.';
COMMENT ON COLUMN assessment.rubric_levels.rubric_id IS 'Copy of the criterion''s rubric (set by trg_rubric_levels_copy_parent; part of fk_rubric_levels_criterion_id).';
COMMENT ON COLUMN assessment.rubric_levels.course_id IS 'Copy of the criterion''s course_id (set by trg_rubric_levels_copy_parent; part of fk_rubric_levels_course_id), for the course-scoped policies.';
COMMENT ON COLUMN assessment.rubric_levels.criterion_max_points IS 'Copy of the criterion''s max_points (set by trg_rubric_levels_copy_parent, kept by fk_rubric_levels_criterion_id ON UPDATE CASCADE), the upper bound of points.';
COMMENT ON COLUMN assessment.rubric_levels.position IS '1-based place among the criterion''s levels: unique per criterion and 1..n without gaps at COMMIT (trg_rubric_levels_positions: 23514).';
COMMENT ON COLUMN assessment.rubric_levels.points IS 'Points of the level, within [0, criterion_max_points] (ck_rubric_levels_points), two decimals.';
COMMENT ON COLUMN assessment.rubric_levels.description IS 'What performance at this level looks like (1-2000 characters).';
COMMENT ON COLUMN assessment.rubric_levels.created_at IS 'When the level was created (immutable).';
COMMENT ON COLUMN assessment.rubric_levels.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- Copies of parent columns (course_id, rubric_id, criterion_max_points)
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.copy_rubric_parent()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_criterion assessment.rubric_criteria;
BEGIN
    -- A parent of another organization is not found under the owner's
    -- tenant-scoped policies: the copies stay as sent and row-level security
    -- refuses the row itself (or the foreign keys do).
    IF TG_TABLE_NAME = 'rubric_criteria' THEN
        SELECT r.course_id INTO NEW.course_id
          FROM assessment.rubrics AS r
         WHERE r.organization_id = NEW.organization_id
           AND r.id = NEW.rubric_id;
    ELSIF TG_TABLE_NAME = 'rubric_levels' THEN
        SELECT c.* INTO v_criterion
          FROM assessment.rubric_criteria AS c
         WHERE c.organization_id = NEW.organization_id
           AND c.id = NEW.criterion_id;
        IF FOUND THEN
            NEW.rubric_id := v_criterion.rubric_id;
            NEW.course_id := v_criterion.course_id;
            NEW.criterion_max_points := v_criterion.max_points;
        END IF;
    ELSE
        RAISE EXCEPTION 'copy_rubric_parent() is attached to %', TG_TABLE_NAME USING ERRCODE = '39P01';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION assessment.copy_rubric_parent() IS
'BEFORE INSERT trigger of rubric_criteria (copies the rubric''s course_id) and rubric_levels (copies the criterion''s rubric_id, course_id and max_points), whatever the client sent: the copies are parts of composite foreign keys, so they cannot disagree with the parent. SECURITY DEFINER: the app has no privilege on the copied columns. 39P01 when attached elsewhere.';
REVOKE ALL ON FUNCTION assessment.copy_rubric_parent() FROM PUBLIC;

CREATE TRIGGER trg_rubric_criteria_copy_parent
BEFORE INSERT ON assessment.rubric_criteria
FOR EACH ROW EXECUTE FUNCTION assessment.copy_rubric_parent();
COMMENT ON TRIGGER trg_rubric_criteria_copy_parent ON assessment.rubric_criteria IS
'Sets course_id from the rubric.';

CREATE TRIGGER trg_rubric_levels_copy_parent
BEFORE INSERT ON assessment.rubric_levels
FOR EACH ROW EXECUTE FUNCTION assessment.copy_rubric_parent();
COMMENT ON TRIGGER trg_rubric_levels_copy_parent ON assessment.rubric_levels IS
'Sets rubric_id, course_id and criterion_max_points from the criterion.';

-- ---------------------------------------------------------------------------
-- Positions 1..n without gaps, checked at COMMIT
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.check_rubric_positions()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_org uuid;
    v_parent uuid;
    v_count bigint;
    v_max integer;
BEGIN
    IF TG_TABLE_NAME = 'rubric_criteria' THEN
        IF TG_OP = 'DELETE' THEN
            v_org := OLD.organization_id;
            v_parent := OLD.rubric_id;
        ELSE
            v_org := NEW.organization_id;
            v_parent := NEW.rubric_id;
        END IF;
        SELECT pg_catalog.count(DISTINCT c.position), pg_catalog.max(c.position) INTO v_count, v_max
          FROM assessment.rubric_criteria AS c
         WHERE c.organization_id = v_org AND c.rubric_id = v_parent;
    ELSIF TG_TABLE_NAME = 'rubric_levels' THEN
        IF TG_OP = 'DELETE' THEN
            v_org := OLD.organization_id;
            v_parent := OLD.criterion_id;
        ELSE
            v_org := NEW.organization_id;
            v_parent := NEW.criterion_id;
        END IF;
        SELECT pg_catalog.count(DISTINCT l.position), pg_catalog.max(l.position) INTO v_count, v_max
          FROM assessment.rubric_levels AS l
         WHERE l.organization_id = v_org AND l.criterion_id = v_parent;
    ELSE
        RAISE EXCEPTION 'check_rubric_positions() is attached to %', TG_TABLE_NAME USING ERRCODE = '39P01';
    END IF;
    -- Positions are >= 1 (CHECK); duplicates are the unique key's to report:
    -- as many distinct positions as the highest one means exactly 1..n.
    IF v_count > 0 AND v_count <> v_max THEN
        RAISE EXCEPTION 'positions of % % are not 1..n without gaps', TG_TABLE_NAME, v_parent
              USING ERRCODE = '23514', CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('%s distinct positions, highest %s.', v_count, v_max),
                    HINT = 'Renumber the remaining rows 1..n in the same transaction.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.check_rubric_positions() IS
'Deferred constraint trigger of rubric_criteria (per rubric) and rubric_levels (per criterion): at COMMIT the positions of the changed parent are 1..n without gaps, else 23514 with the trigger as constraint. Runs under the owner''s tenant-scoped policies (SECURITY DEFINER) so it counts every row of the parent. 39P01 when attached elsewhere.';
REVOKE ALL ON FUNCTION assessment.check_rubric_positions() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER trg_rubric_criteria_positions
AFTER INSERT OR UPDATE OF position OR DELETE ON assessment.rubric_criteria
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assessment.check_rubric_positions();
COMMENT ON TRIGGER trg_rubric_criteria_positions ON assessment.rubric_criteria IS
'At COMMIT: the criteria of the rubric are numbered 1..n without gaps (23514).';

CREATE CONSTRAINT TRIGGER trg_rubric_levels_positions
AFTER INSERT OR UPDATE OF position OR DELETE ON assessment.rubric_levels
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assessment.check_rubric_positions();
COMMENT ON TRIGGER trg_rubric_levels_positions ON assessment.rubric_levels IS
'At COMMIT: the levels of the criterion are numbered 1..n without gaps (23514).';

ALTER TABLE assessment.rubrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.rubrics FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.rubric_criteria ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.rubric_criteria FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.rubric_levels ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.rubric_levels FORCE ROW LEVEL SECURITY;
