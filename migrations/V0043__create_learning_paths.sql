-- =============================================================================
-- V0043__create_learning_paths
-- Purpose:       learning paths: curated, ordered sequences of courses (a
--                "track"), with their enrollment and completion counters.
-- Concern:       course_management.learning_paths and learning_path_courses.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        organization-wide staff (course.update; path-scoped grants do
--                not exist) edit paths and their course lists; creating needs
--                course.create, publishing course.publish, deleting course.delete
--                (trg_learning_paths_authorize_write, the courses' function).
-- Positions:     learning_path_courses.position is written by the app (unlike
--                lessons there is no reorder function): the order is by position,
--                unique per path and checked at COMMIT (DEFERRABLE INITIALLY
--                DEFERRED), so a reorder is a series of UPDATEs in one
--                transaction; gaps are allowed.
-- Sequential:    a presentation rule for the app (take the courses in order);
--                course enrollments are not refused by it (a course can be taken
--                outside the path; course_prerequisites express hard order).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE course_management.learning_paths (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    title text NOT NULL,
    slug text NOT NULL,
    description text,
    status text NOT NULL DEFAULT 'draft',
    sequential boolean NOT NULL DEFAULT FALSE,
    enrollment_count bigint NOT NULL DEFAULT 0,
    completion_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_learning_paths PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_learning_paths_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT ck_learning_paths_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT ck_learning_paths_slug_format
    CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$'),
    CONSTRAINT ck_learning_paths_description_length
    CHECK (char_length(description) BETWEEN 1 AND 20000),
    CONSTRAINT ck_learning_paths_status CHECK (status IN ('draft', 'published', 'archived')),
    CONSTRAINT ck_learning_paths_counts
    CHECK (enrollment_count >= 0 AND completion_count BETWEEN 0 AND enrollment_count),
    CONSTRAINT ck_learning_paths_deleted_at CHECK (deleted_at >= created_at)
);
CREATE UNIQUE INDEX uq_learning_paths_organization_id_slug
ON course_management.learning_paths (organization_id, slug)
WHERE deleted_at IS NULL;

COMMENT ON TABLE course_management.learning_paths IS
'Learning paths: ordered sequences of courses (learning_path_courses) that a learner enrolls in as a whole (learning_path_enrollments); completed when every required course of the path is completed. Members see published live paths (archived ones while enrolled); organization-wide staff (course.update) see and write all. Soft-deleted (deleted_at).';
COMMENT ON COLUMN course_management.learning_paths.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.learning_paths.id IS
'Learning path id (UUIDv7).';
COMMENT ON COLUMN course_management.learning_paths.title IS
'Title (1-200 characters).';
COMMENT ON COLUMN course_management.learning_paths.slug IS
'URL name: 1-100 lower-case letters, digits and inner hyphens; unique among the live paths of the organization (uq_learning_paths_organization_id_slug); look it up with slug = $1.';
COMMENT ON COLUMN course_management.learning_paths.description IS
'Description (1-20000 characters); optional.';
COMMENT ON COLUMN course_management.learning_paths.status IS
'draft (staff only), published (open for enrollment) or archived (closed; enrolled learners keep seeing it). Changing it needs course.publish (42501).';
COMMENT ON COLUMN course_management.learning_paths.sequential IS
'True = the app presents the courses in order and asks learners to take them so; not enforced on course enrollments (use course_prerequisites for a hard order).';
COMMENT ON COLUMN course_management.learning_paths.enrollment_count IS
'Number of path enrollments that are not cancelled, kept in step by trigger.';
COMMENT ON COLUMN course_management.learning_paths.completion_count IS
'Number of completed path enrollments, kept in step by trigger.';
COMMENT ON COLUMN course_management.learning_paths.created_at IS
'When the path was created (immutable).';
COMMENT ON COLUMN course_management.learning_paths.updated_at IS
'When the row last changed (maintained by trigger; counter updates count as changes).';
COMMENT ON COLUMN course_management.learning_paths.deleted_at IS
'Soft delete: when the path was deleted; NULL = live. Needs course.delete.';

CREATE TRIGGER trg_learning_paths_authorize_write
AFTER INSERT OR UPDATE OF status, deleted_at ON course_management.learning_paths
FOR EACH ROW EXECUTE FUNCTION course_management.authorize_course_write();
COMMENT ON TRIGGER trg_learning_paths_authorize_write ON course_management.learning_paths IS
'Creating needs course.create, changing status course.publish, changing deleted_at course.delete (42501).';

CREATE TABLE course_management.learning_path_courses (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    learning_path_id uuid NOT NULL,
    course_id uuid NOT NULL,
    -- Place in a path: small.
    -- squawk-ignore prefer-bigint-over-int
    position integer NOT NULL,
    is_required boolean NOT NULL DEFAULT TRUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_learning_path_courses PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_learning_path_courses_learning_path_id
    FOREIGN KEY (organization_id, learning_path_id)
    REFERENCES course_management.learning_paths (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_learning_path_courses_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_learning_path_courses_learning_path_id_position
    UNIQUE (organization_id, learning_path_id, position) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT uq_learning_path_courses_learning_path_id_course_id
    UNIQUE (organization_id, learning_path_id, course_id),
    CONSTRAINT ck_learning_path_courses_position CHECK (position >= 1)
);
CREATE INDEX idx_learning_path_courses_organization_id_course_id
ON course_management.learning_path_courses (organization_id, course_id);

COMMENT ON TABLE course_management.learning_path_courses IS
'The courses of a learning path, in order (position, unique per path, checked at COMMIT), each once, required or optional for completing the path. Visible with their path; written by organization-wide staff (course.update). Changes do not recompute existing path enrollments until the learner''s next course completion.';
COMMENT ON COLUMN course_management.learning_path_courses.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.learning_path_courses.id IS
'Row id (UUIDv7).';
COMMENT ON COLUMN course_management.learning_path_courses.learning_path_id IS
'The learning path.';
COMMENT ON COLUMN course_management.learning_path_courses.course_id IS
'The course, at most once per path.';
COMMENT ON COLUMN course_management.learning_path_courses.position IS
'1-based place in the path (>= 1; gaps allowed; unique per path, DEFERRABLE INITIALLY DEFERRED so that a reorder inside one transaction may swap places).';
COMMENT ON COLUMN course_management.learning_path_courses.is_required IS
'True = must be completed to complete the path (when a path marks none as required, all count).';
COMMENT ON COLUMN course_management.learning_path_courses.created_at IS
'When the course was added to the path (immutable).';
COMMENT ON COLUMN course_management.learning_path_courses.updated_at IS
'When the row last changed (maintained by trigger).';

ALTER TABLE course_management.learning_paths ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.learning_paths FORCE ROW LEVEL SECURITY;
ALTER TABLE course_management.learning_path_courses ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.learning_path_courses FORCE ROW LEVEL SECURITY;
