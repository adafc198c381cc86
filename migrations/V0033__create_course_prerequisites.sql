-- =============================================================================
-- V0033__create_course_prerequisites
-- Purpose:       which courses a learner must complete before enrolling in a
--                course (required) or is advised to (recommended). The graph
--                never has a cycle.
-- Concern:       course_management.course_prerequisites (table, cycle guard).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs: EL015 (prerequisite cycle), raised by
--                course_management.prevent_prerequisite_cycle().
-- Concurrency:   the cycle check takes a transaction-level advisory lock per
--                organization before it reads the graph, so two concurrent
--                inserts A->B and B->A run one after the other and the second
--                sees the first (READ COMMITTED: a new snapshot per statement).
--                Under REPEATABLE READ the second could read an older graph;
--                under SERIALIZABLE the conflict aborts one of them (40001).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE course_management.course_prerequisites (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    course_id uuid NOT NULL,
    prerequisite_course_id uuid NOT NULL,
    is_required boolean NOT NULL DEFAULT TRUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_course_prerequisites PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_course_prerequisites_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_course_prerequisites_prerequisite_course_id
    FOREIGN KEY (organization_id, prerequisite_course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_course_prerequisites_course_id_prerequisite_course_id
    UNIQUE (organization_id, course_id, prerequisite_course_id),
    CONSTRAINT ck_course_prerequisites_not_self CHECK (prerequisite_course_id <> course_id)
);
CREATE INDEX idx_course_prerequisites_prerequisite_course_id
ON course_management.course_prerequisites (organization_id, prerequisite_course_id);

COMMENT ON TABLE course_management.course_prerequisites IS
'Edges of the prerequisite graph: course_id requires (is_required) or recommends prerequisite_course_id. Enrolling in a course needs a completed enrollment in each required prerequisite (EL010, checked when the enrollment is inserted). No course is its own prerequisite (ck_course_prerequisites_not_self), and the graph has no cycle (EL015, trg_course_prerequisites_no_cycle). Rows are inserted, toggled and deleted by staff of course_id.';
COMMENT ON COLUMN course_management.course_prerequisites.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.course_prerequisites.id IS
'Edge id (UUIDv7).';
COMMENT ON COLUMN course_management.course_prerequisites.course_id IS
'The course that has the prerequisite; its staff (course.update) manage the edge.';
COMMENT ON COLUMN course_management.course_prerequisites.prerequisite_course_id IS
'The course to complete first; never course_id itself. A soft-deleted prerequisite course is ignored by the enrollment check (nobody could complete it any more).';
COMMENT ON COLUMN course_management.course_prerequisites.is_required IS
'True = enforced at enrollment (EL010); false = recommended only (shown, not enforced). Recommended edges count for cycles too.';
COMMENT ON COLUMN course_management.course_prerequisites.created_at IS
'When the edge was added (immutable).';
COMMENT ON COLUMN course_management.course_prerequisites.updated_at IS
'When the row last changed (maintained by trigger).';

CREATE FUNCTION course_management.prevent_prerequisite_cycle()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
BEGIN
    -- One writer of the organization's graph at a time (see the file header).
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtext('course_prerequisites:' || NEW.organization_id::text)::bigint);

    -- Is course_id reachable from prerequisite_course_id? Then the new edge
    -- closes a cycle. UNION (not UNION ALL) visits each course once, so the
    -- walk is linear in the size of the graph. It reads the graph as committed
    -- when this statement started, i.e. after the lock, without the new edge.
    PERFORM 1
       FROM (WITH RECURSIVE reach (course_id) AS (
                 SELECT NEW.prerequisite_course_id
                 UNION
                 SELECT p.prerequisite_course_id
                   FROM reach AS r
                   JOIN course_management.course_prerequisites AS p
                     ON p.organization_id = NEW.organization_id
                    AND p.course_id = r.course_id
                    AND p.id <> NEW.id
             )
             SELECT r.course_id FROM reach AS r WHERE r.course_id = NEW.course_id LIMIT 1) AS hit;
    IF FOUND THEN
        RAISE EXCEPTION 'course % cannot require course %: that would close a prerequisite cycle',
                        NEW.course_id, NEW.prerequisite_course_id
              USING ERRCODE = 'EL015',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format(
                        'Course %s is already a direct or indirect prerequisite of course %s.',
                        NEW.course_id, NEW.prerequisite_course_id),
                    HINT = 'Remove one of the prerequisites on the cycle first.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.prevent_prerequisite_cycle() IS
'AFTER INSERT OR UPDATE OF course_id, prerequisite_course_id trigger of course_prerequisites (trg_course_prerequisites_no_cycle): takes pg_advisory_xact_lock(hashtext(''course_prerequisites:'' || organization_id)), then walks the organization''s prerequisite graph from prerequisite_course_id; reaching course_id means the new edge closes a cycle: EL015 (DETAIL names both courses). Safe under concurrency in READ COMMITTED (the lock serialises writers, the walk sees committed edges) and SERIALIZABLE. SECURITY DEFINER: walks edges of courses the writer may not see.';
REVOKE ALL ON FUNCTION course_management.prevent_prerequisite_cycle() FROM PUBLIC;

CREATE TRIGGER trg_course_prerequisites_no_cycle
AFTER INSERT OR UPDATE OF course_id, prerequisite_course_id
ON course_management.course_prerequisites
FOR EACH ROW EXECUTE FUNCTION course_management.prevent_prerequisite_cycle();
COMMENT ON TRIGGER trg_course_prerequisites_no_cycle ON course_management.course_prerequisites IS
'The prerequisite graph stays acyclic (EL015), serialised per organization by an advisory lock.';

ALTER TABLE course_management.course_prerequisites ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.course_prerequisites FORCE ROW LEVEL SECURITY;
