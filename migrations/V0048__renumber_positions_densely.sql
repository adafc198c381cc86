-- =============================================================================
-- V0048__renumber_positions_densely
-- Purpose:       deleting several modules or lessons in one statement left gaps or
--                duplicate positions (found by tests/test_courses.py): the gap
--                triggers run after the statement and shifted the followers of
--                each deleted row by one from that row's OLD position, which is
--                stale once an earlier row of the same statement closed its gap.
--                They now renumber the parent's live rows densely (1..n in the
--                current order), which is right however many rows a statement
--                removed and in whatever order the triggers fire. Positions are
--                unique DEFERRABLE INITIALLY DEFERRED, so the intermediate states
--                of the renumbering are allowed.
-- Concern:       the two gap-closing trigger functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION course_management.close_module_gap()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
BEGIN
    -- The course row is gone when the whole course is being deleted: nothing to do.
    PERFORM 1
       FROM course_management.courses AS c
      WHERE c.organization_id = OLD.organization_id
        AND c.id = OLD.course_id
        FOR NO KEY UPDATE;
    IF FOUND THEN
        UPDATE course_management.modules AS m
           SET position = r.dense_position
          FROM (SELECT x.id,
                       pg_catalog.row_number() OVER (ORDER BY x.position, x.id) AS dense_position
                  FROM course_management.modules AS x
                 WHERE x.organization_id = OLD.organization_id
                   AND x.course_id = OLD.course_id
                   AND x.deleted_at IS NULL) AS r
         WHERE m.organization_id = OLD.organization_id
           AND m.id = r.id
           AND m.position <> r.dense_position;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.close_module_gap() IS
'AFTER UPDATE OF deleted_at (live -> deleted) OR DELETE (of a live module) trigger of modules (trg_modules_close_gap_delete, trg_modules_close_gap_soft_delete): locks the course row and renumbers the course''s live modules 1..n in their current order, so positions stay 1..n however many modules one statement removed. SECURITY DEFINER: the app has no privilege on position.';

CREATE OR REPLACE FUNCTION course_management.close_lesson_gap()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
BEGIN
    -- The module row is gone when the module or its course is being deleted.
    PERFORM 1
       FROM course_management.modules AS m
      WHERE m.organization_id = OLD.organization_id
        AND m.id = OLD.module_id
        FOR NO KEY UPDATE;
    IF FOUND THEN
        UPDATE course_management.lessons AS l
           SET position = r.dense_position
          FROM (SELECT x.id,
                       pg_catalog.row_number() OVER (ORDER BY x.position, x.id) AS dense_position
                  FROM course_management.lessons AS x
                 WHERE x.organization_id = OLD.organization_id
                   AND x.module_id = OLD.module_id
                   AND x.deleted_at IS NULL) AS r
         WHERE l.organization_id = OLD.organization_id
           AND l.id = r.id
           AND l.position <> r.dense_position;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.close_lesson_gap() IS
'AFTER UPDATE OF deleted_at (live -> deleted) OR DELETE (of a live lesson) trigger of lessons (trg_lessons_close_gap_delete, trg_lessons_close_gap_soft_delete): locks the module row and renumbers the module''s live lessons 1..n in their current order, so positions stay 1..n however many lessons one statement removed. SECURITY DEFINER: the app has no privilege on position.';
