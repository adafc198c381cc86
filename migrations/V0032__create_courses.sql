-- =============================================================================
-- V0032__create_courses
-- Purpose:       courses of an organization: catalog data, life cycle (draft,
--                published, archived), price, and counters kept in step by
--                later triggers (ratings from course_reviews, enrollments and
--                completions from enrollments). The plan limits the number of
--                live courses (max_courses, EL008).
-- Concern:       course_management.courses (table, validators, status dates,
--                write authorization, plan-limit triggers).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        staff (course.update, organization-wide or for the course:
--                manifest profile course_catalog) edit the catalog columns;
--                trg_courses_authorize_write adds: creating needs course.create,
--                changing status needs course.publish, changing deleted_at needs
--                course.delete (42501). No app DELETE (soft delete). Dates of
--                the life cycle and the counters have no app privilege.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Validators of the array columns
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.tags_are_valid(p_tags text[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT coalesce(pg_catalog.array_ndims(p_tags), 1) = 1
       AND pg_catalog.cardinality(p_tags) <= 30
       AND NOT EXISTS (SELECT 1
                         FROM pg_catalog.unnest(p_tags) AS t (value)
                        WHERE t.value IS NULL
                           OR pg_catalog.char_length(t.value) NOT BETWEEN 1 AND 50
                           OR t.value !~ '^[^[:space:][:cntrl:],](?:[^[:cntrl:],]*[^[:space:][:cntrl:],])?$'
                           OR t.value <> pg_catalog.lower(t.value))
       AND (SELECT pg_catalog.count(DISTINCT t.value) FROM pg_catalog.unnest(p_tags) AS t (value))
           = pg_catalog.cardinality(p_tags)
$$;
COMMENT ON FUNCTION course_management.tags_are_valid(text[]) IS
'CHECK predicate of courses.tags: a one-dimensional array of at most 30 distinct, non-NULL tags, each 1-50 characters, equal to its lower-case form (any script: data science, c++, économie), without commas or control characters and without leading or trailing white space. Empty array is valid. NULL for NULL.';
REVOKE ALL ON FUNCTION course_management.tags_are_valid(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION course_management.tags_are_valid(text[]) TO ${app_role};

CREATE FUNCTION course_management.learning_objectives_are_valid(p_objectives text[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT coalesce(pg_catalog.array_ndims(p_objectives), 1) = 1
       AND pg_catalog.cardinality(p_objectives) <= 30
       AND NOT EXISTS (SELECT 1
                         FROM pg_catalog.unnest(p_objectives) AS o (value)
                        WHERE o.value IS NULL
                           OR pg_catalog.char_length(pg_catalog.btrim(o.value)) = 0
                           OR pg_catalog.char_length(o.value) > 500)
$$;
COMMENT ON FUNCTION course_management.learning_objectives_are_valid(text[]) IS
'CHECK predicate of courses.learning_objectives: a one-dimensional array of at most 30 objectives, each non-NULL, not blank and at most 500 characters. Empty array is valid. NULL for NULL.';
REVOKE ALL ON FUNCTION course_management.learning_objectives_are_valid(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION course_management.learning_objectives_are_valid(text[]) TO ${app_role};

-- ---------------------------------------------------------------------------
-- Table
-- ---------------------------------------------------------------------------
CREATE TABLE course_management.courses (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    title text NOT NULL,
    slug text NOT NULL,
    description text,
    status text NOT NULL DEFAULT 'draft',
    published_at timestamptz,
    archived_at timestamptz,
    visibility text NOT NULL DEFAULT 'organization',
    allow_self_enrollment boolean NOT NULL DEFAULT TRUE,
    sequential boolean NOT NULL DEFAULT FALSE,
    price numeric(12, 2) NOT NULL DEFAULT 0,
    currency text,
    difficulty text NOT NULL DEFAULT 'beginner',
    tags text[] NOT NULL DEFAULT '{}'::text[],
    learning_objectives text[] NOT NULL DEFAULT '{}'::text[],
    -- Minutes of a course: small.
    -- squawk-ignore prefer-bigint-over-int
    estimated_duration_minutes integer,
    cover_content_item_id uuid,
    rating_average numeric(3, 2),
    rating_count bigint NOT NULL DEFAULT 0,
    enrollment_count bigint NOT NULL DEFAULT 0,
    completion_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_courses PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_courses_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT fk_courses_cover_content_item_id FOREIGN KEY (organization_id, cover_content_item_id)
    REFERENCES content_management.content_items (organization_id, id),
    CONSTRAINT ck_courses_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT ck_courses_slug_format CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$'),
    CONSTRAINT ck_courses_description_length CHECK (char_length(description) BETWEEN 1 AND 20000),
    CONSTRAINT ck_courses_status CHECK (status IN ('draft', 'published', 'archived')),
    -- Published: when it was (last) published. Archived: exactly then archived_at;
    -- a draft may keep the date of an earlier publication (unpublished course).
    CONSTRAINT ck_courses_published_at CHECK (status <> 'published' OR published_at IS NOT NULL),
    CONSTRAINT ck_courses_archived_at CHECK ((status = 'archived') = (archived_at IS NOT NULL)),
    CONSTRAINT ck_courses_archived_after_published CHECK (archived_at >= published_at),
    CONSTRAINT ck_courses_visibility CHECK (visibility IN ('private', 'organization', 'public')),
    CONSTRAINT ck_courses_price CHECK (price >= 0),
    CONSTRAINT ck_courses_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT ck_courses_currency_required CHECK (price = 0 OR currency IS NOT NULL),
    CONSTRAINT ck_courses_difficulty
    CHECK (difficulty IN ('beginner', 'intermediate', 'advanced', 'expert')),
    CONSTRAINT ck_courses_tags CHECK (course_management.tags_are_valid(tags)),
    CONSTRAINT ck_courses_learning_objectives
    CHECK (course_management.learning_objectives_are_valid(learning_objectives)),
    CONSTRAINT ck_courses_estimated_duration_minutes
    CHECK (estimated_duration_minutes BETWEEN 1 AND 100000),
    CONSTRAINT ck_courses_rating
    CHECK (
        rating_count >= 0
        AND (rating_count = 0) = (rating_average IS NULL)
        AND rating_average BETWEEN 1 AND 5
    ),
    CONSTRAINT ck_courses_counts
    CHECK (enrollment_count >= 0 AND completion_count BETWEEN 0 AND enrollment_count),
    CONSTRAINT ck_courses_deleted_at CHECK (deleted_at >= created_at)
);

-- A slug names one live course of the organization; a soft-deleted course frees
-- it. Looked up with slug = $1 (texteq is leakproof: an index condition under RLS).
CREATE UNIQUE INDEX uq_courses_organization_id_slug
ON course_management.courses (organization_id, slug)
WHERE deleted_at IS NULL;
CREATE INDEX idx_courses_organization_id_cover_content_item_id
ON course_management.courses (organization_id, cover_content_item_id)
WHERE cover_content_item_id IS NOT NULL;

COMMENT ON TABLE course_management.courses IS
'Courses of an organization. Life cycle draft -> published -> archived (a published course may go back to draft); members see published courses (private ones only when enrolled), staff see all of theirs. Counters (ratings, enrollments, completions) are kept in step by triggers. The live courses must fit the plan''s max_courses (EL008). Soft-deleted (deleted_at).';
COMMENT ON COLUMN course_management.courses.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.courses.id IS
'Course id (UUIDv7); also the scope of course-scoped role grants (user_management.user_roles.course_id).';
COMMENT ON COLUMN course_management.courses.title IS
'Course title (1-200 characters).';
COMMENT ON COLUMN course_management.courses.slug IS
'URL name: 1-100 lower-case letters, digits and inner hyphens; unique among the live courses of the organization (uq_courses_organization_id_slug). Look it up with slug = $1.';
COMMENT ON COLUMN course_management.courses.description IS
'Course description (1-20000 characters, e.g. Markdown); optional.';
COMMENT ON COLUMN course_management.courses.status IS
'draft (being written, staff only), published (open to members) or archived (closed; its enrolled learners keep seeing it). Changing it needs course.publish for the course (42501).';
COMMENT ON COLUMN course_management.courses.published_at IS
'When the course was last published: set by trigger on every change to published (no app privilege); kept when it goes back to draft. Required while published.';
COMMENT ON COLUMN course_management.courses.archived_at IS
'When the course was archived: set by trigger on the change to archived, cleared when it leaves archived (no app privilege); set exactly while archived, never before published_at.';
COMMENT ON COLUMN course_management.courses.visibility IS
'private (published but not listed: only its enrolled learners and staff see it; no self-enrollment), organization (every member sees it once published) or public (as organization; may also be shown outside the organization).';
COMMENT ON COLUMN course_management.courses.allow_self_enrollment IS
'True = members holding enrollment.self_enroll may enroll themselves in the published course; false = only staff (enrollment.manage) enroll learners.';
COMMENT ON COLUMN course_management.courses.sequential IS
'True = the whole course is taken in order: a lesson can be completed only after every required lesson before it (module position, then lesson position) is completed (EL012). Modules can ask the same for their own lessons (modules.sequential_unlock).';
COMMENT ON COLUMN course_management.courses.price IS
'Price in currency, numeric(12,2), >= 0; 0 = free.';
COMMENT ON COLUMN course_management.courses.currency IS
'ISO 4217 currency code of the price (three upper-case letters, e.g. EUR); required unless the course is free.';
COMMENT ON COLUMN course_management.courses.difficulty IS
'beginner, intermediate, advanced or expert.';
COMMENT ON COLUMN course_management.courses.tags IS
'Catalog tags: at most 30 distinct lower-case tags of 1-50 characters, no commas, no surrounding blanks (course_management.tags_are_valid). Filter with tags @> ARRAY[$1].';
COMMENT ON COLUMN course_management.courses.learning_objectives IS
'What a learner will be able to do after the course: at most 30 non-blank statements of at most 500 characters (course_management.learning_objectives_are_valid).';
COMMENT ON COLUMN course_management.courses.estimated_duration_minutes IS
'Estimated time to complete the course in minutes (1-100000); optional.';
COMMENT ON COLUMN course_management.courses.cover_content_item_id IS
'Cover image or trailer (content_management.content_items); optional.';
COMMENT ON COLUMN course_management.courses.rating_average IS
'Average rating (1.00-5.00) of the live reviews (course_reviews), kept in step by trigger; NULL while there is none.';
COMMENT ON COLUMN course_management.courses.rating_count IS
'Number of live reviews, kept in step by trigger.';
COMMENT ON COLUMN course_management.courses.enrollment_count IS
'Number of enrollments that are not cancelled (active, completed, expired), kept in step by trigger.';
COMMENT ON COLUMN course_management.courses.completion_count IS
'Number of completed enrollments, kept in step by trigger.';
COMMENT ON COLUMN course_management.courses.created_at IS
'When the course was created (immutable).';
COMMENT ON COLUMN course_management.courses.updated_at IS
'When the row last changed (maintained by trigger; counter updates count as changes).';
COMMENT ON COLUMN course_management.courses.deleted_at IS
'Soft delete: when the course was deleted; NULL = live. Needs course.delete. Frees the slug and the plan''s course slot.';

-- ---------------------------------------------------------------------------
-- Life-cycle dates
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.set_course_status_dates()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status = 'published' THEN
            NEW.published_at := pg_catalog.now();
            NEW.archived_at := NULL;
        ELSIF NEW.status = 'archived' THEN
            NEW.archived_at := pg_catalog.now();
        ELSE
            NEW.archived_at := NULL;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION course_management.set_course_status_dates() IS
'BEFORE INSERT OR UPDATE OF status trigger of courses (trg_courses_status_dates): on a change to published sets published_at = now() and clears archived_at; to archived sets archived_at = now(); to draft clears archived_at (published_at is kept as the last publication).';
REVOKE ALL ON FUNCTION course_management.set_course_status_dates() FROM PUBLIC;

CREATE TRIGGER trg_courses_status_dates
BEFORE INSERT OR UPDATE OF status ON course_management.courses
FOR EACH ROW EXECUTE FUNCTION course_management.set_course_status_dates();
COMMENT ON TRIGGER trg_courses_status_dates ON course_management.courses IS
'Keeps published_at and archived_at in step with status.';

-- ---------------------------------------------------------------------------
-- Authorization beyond the policy (which admits course.update holders)
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.authorize_course_write()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_needed text;
BEGIN
    -- Without an acting user (maintenance, migrations) there is nobody to
    -- authorize; the application role cannot write without one (its policies
    -- call has_permission(), false without context).
    IF app.current_user_id() IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NOT user_management.has_permission('course.create') THEN
            v_needed := 'course.create';
        ELSIF NEW.status <> 'draft'
              AND NOT user_management.has_permission('course.publish', NEW.id) THEN
            v_needed := 'course.publish';
        END IF;
    ELSE
        IF NEW.status IS DISTINCT FROM OLD.status
           AND NOT user_management.has_permission('course.publish', NEW.id) THEN
            v_needed := 'course.publish';
        ELSIF NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
              AND NOT user_management.has_permission('course.delete', NEW.id) THEN
            v_needed := 'course.delete';
        END IF;
    END IF;
    IF v_needed IS NOT NULL THEN
        RAISE EXCEPTION 'permission % required', v_needed
              USING ERRCODE = '42501',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('User %s lacks %s for %s.%s row %s.',
                                               app.current_user_id(), v_needed,
                                               TG_TABLE_SCHEMA, TG_TABLE_NAME, NEW.id),
                    HINT = 'Creating needs course.create, publishing, unpublishing or archiving course.publish, deleting course.delete.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.authorize_course_write() IS
'AFTER INSERT OR UPDATE OF status, deleted_at trigger of courses (trg_courses_authorize_write) and learning_paths (trg_learning_paths_authorize_write): with an acting user, creating a row needs course.create (and course.publish unless it is a draft), changing status needs course.publish for it (has_permission(key, id): for a course also a course-scoped grant, for a learning path organization-wide only), changing deleted_at needs course.delete; 42501 with the missing key in DETAIL otherwise. AFTER: privilege, policy (course.update), CHECK and unique errors come first. Counter updates by other triggers change none of these columns.';
REVOKE ALL ON FUNCTION course_management.authorize_course_write() FROM PUBLIC;

CREATE TRIGGER trg_courses_authorize_write
AFTER INSERT OR UPDATE OF status, deleted_at ON course_management.courses
FOR EACH ROW EXECUTE FUNCTION course_management.authorize_course_write();
COMMENT ON TRIGGER trg_courses_authorize_write ON course_management.courses IS
'Creating needs course.create, changing status course.publish, changing deleted_at course.delete (42501).';

-- ---------------------------------------------------------------------------
-- Plan limit: live courses (V0015's function, kind courses).
-- ---------------------------------------------------------------------------
CREATE TRIGGER trg_courses_enforce_plan_limit_insert
AFTER INSERT ON course_management.courses
FOR EACH ROW
WHEN (new.deleted_at IS NULL)
EXECUTE FUNCTION user_management.enforce_plan_limit('courses');
COMMENT ON TRIGGER trg_courses_enforce_plan_limit_insert ON course_management.courses IS
'A new live course must fit the plan''s max_courses (EL008).';

CREATE TRIGGER trg_courses_enforce_plan_limit_undelete
AFTER UPDATE OF deleted_at ON course_management.courses
FOR EACH ROW
WHEN (old.deleted_at IS NOT NULL AND new.deleted_at IS NULL)
EXECUTE FUNCTION user_management.enforce_plan_limit('courses');
COMMENT ON TRIGGER trg_courses_enforce_plan_limit_undelete ON course_management.courses IS
'An undeleted course must fit the plan''s max_courses (EL008).';

ALTER TABLE course_management.courses ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.courses FORCE ROW LEVEL SECURITY;
