-- =============================================================================
-- V0061__add_courses_search_vector
-- Purpose:       full-text search on courses: a tsvector of title (weight A),
--                description (B) and tags (C), text search configuration
--                'english' (stemming: "courses" finds "course", "basics"
--                finds "basic"; words of other languages are kept as they are,
--                normalized the same way on both sides of the match).
--                Kept by a BEFORE trigger, not GENERATED: a generated column is
--                NULL in BEFORE triggers, so app.set_updated_at() would see a
--                change on every UPDATE. Steps ("big tables change in steps"):
--                V0061 column + trigger + backfill + NOT VALID check, V0062
--                validation, V0063 GIN index and V0064 trigram index built
--                CONCURRENTLY, V0067 the search function.
-- Concern:       courses: the search_vector column, its trigger and backfill.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE course_management.courses
ADD COLUMN search_vector tsvector;

COMMENT ON COLUMN course_management.courses.search_vector IS
'Full-text document of the course (configuration english): title weight A, description B, tags C; kept by trg_courses_search_vector (course_management.course_search_vector()), never written by the app. Searched through course_management.search_courses() (GIN index idx_courses_search_vector_gin).';

-- ---------------------------------------------------------------------------
-- The document: one definition for the trigger, the backfill and the tests.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.course_search_vector(
    p_title text,
    p_description text,
    p_tags text[]
)
RETURNS tsvector
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.setweight(
               pg_catalog.to_tsvector('pg_catalog.english'::pg_catalog.regconfig,
                                      coalesce(p_title, '')), 'A')
           OPERATOR(pg_catalog.||)
           pg_catalog.setweight(
               pg_catalog.to_tsvector('pg_catalog.english'::pg_catalog.regconfig,
                                      coalesce(p_description, '')), 'B')
           OPERATOR(pg_catalog.||)
           pg_catalog.setweight(
               pg_catalog.to_tsvector('pg_catalog.english'::pg_catalog.regconfig,
                                      coalesce(pg_catalog.array_to_string(p_tags, ' '), '')), 'C')
$$;
COMMENT ON FUNCTION course_management.course_search_vector(text, text, text[]) IS
'The full-text document of a course: to_tsvector(''english'', ...) of the title with weight A, the description with weight B and the tags (joined by blanks) with weight C. Queries must use the same configuration (websearch_to_tsquery(''english'', ...), as course_management.search_courses() does). Changing the configuration means recomputing every courses.search_vector.';
REVOKE ALL ON FUNCTION course_management.course_search_vector(text, text, text[]) FROM PUBLIC;
-- Called by the trigger function, which runs with the writer's privileges.
GRANT EXECUTE ON FUNCTION course_management.course_search_vector(text, text, text[]) TO ${app_role};

CREATE FUNCTION course_management.set_course_search_vector()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.search_vector := course_management.course_search_vector(NEW.title, NEW.description, NEW.tags);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION course_management.set_course_search_vector() IS
'BEFORE INSERT OR UPDATE OF title, description, tags, search_vector trigger of courses (trg_courses_search_vector): search_vector = course_search_vector(title, description, tags); a value sent by a writer is overwritten. Not fired by updates of other columns (counters), so those do not pay for to_tsvector.';
REVOKE ALL ON FUNCTION course_management.set_course_search_vector() FROM PUBLIC;

-- Fires before trg_courses_set_updated_at (BEFORE triggers run in name order),
-- so app.set_updated_at() compares the final row.
CREATE TRIGGER trg_courses_search_vector
BEFORE INSERT OR UPDATE OF title, description, tags, search_vector ON course_management.courses
FOR EACH ROW EXECUTE FUNCTION course_management.set_course_search_vector();
COMMENT ON TRIGGER trg_courses_search_vector ON course_management.courses IS
'Keeps search_vector equal to course_search_vector(title, description, tags).';

-- Backfill. FORCE ROW LEVEL SECURITY filters the owner too and a migration has
-- no tenant context: lift FORCE around this statement (same transaction, so no
-- other session ever sees the table unforced).
ALTER TABLE course_management.courses NO FORCE ROW LEVEL SECURITY;
UPDATE course_management.courses
SET search_vector = course_management.course_search_vector(title, description, tags)
WHERE search_vector IS NULL;
ALTER TABLE course_management.courses FORCE ROW LEVEL SECURITY;

-- NOT VALID: new and updated rows are checked now, existing rows by V0062 in a
-- transaction of its own that takes only a SHARE UPDATE EXCLUSIVE lock.
ALTER TABLE course_management.courses
ADD CONSTRAINT ck_courses_search_vector CHECK (search_vector IS NOT NULL) NOT VALID;
