-- =============================================================================
-- V0034__create_modules
-- Purpose:       the modules (chapters) of a course, in order.
-- Concern:       course_management.modules (table, position maintenance).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Positions:     the live modules of a course are numbered 1..n without gaps,
--                always. The app never writes position after the INSERT (no
--                UPDATE privilege on it); positions change only here:
--                * INSERT without position (or beyond the end): appended (n+1);
--                  with position k <= n: inserted there, the modules from k on
--                  move down one;
--                * soft delete (deleted_at set): position becomes NULL and the
--                  modules after it move up one (the gap is closed); undelete:
--                  appended at the end; hard DELETE of a live module: gap closed;
--                * reorder_modules(course, ids) (V0036) for any new order.
--                Every change locks the course row first, so the changes of one
--                course run one after the other. uq_modules_organization_id_course_id_position
--                is DEFERRABLE INITIALLY DEFERRED: positions may collide inside a
--                statement or transaction (a reorder) but not at COMMIT.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE course_management.modules (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    course_id uuid NOT NULL,
    title text NOT NULL,
    description text,
    -- Position among a course's modules: small.
    -- squawk-ignore prefer-bigint-over-int
    position integer,
    sequential_unlock boolean NOT NULL DEFAULT FALSE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_modules PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_modules_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_modules_organization_id_course_id_position
    UNIQUE (organization_id, course_id, position) DEFERRABLE INITIALLY DEFERRED,
    -- Target of the lessons' (organization_id, course_id, module_id) foreign key:
    -- a lesson's course is its module's course.
    CONSTRAINT uq_modules_organization_id_course_id_id UNIQUE (organization_id, course_id, id),
    CONSTRAINT ck_modules_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT ck_modules_description_length CHECK (char_length(description) BETWEEN 1 AND 5000),
    CONSTRAINT ck_modules_position
    CHECK (
        CASE
            WHEN deleted_at IS NULL THEN position IS NOT NULL AND position >= 1
            ELSE position IS NULL
        END
    ),
    CONSTRAINT ck_modules_deleted_at CHECK (deleted_at >= created_at)
);

COMMENT ON TABLE course_management.modules IS
'Modules (chapters) of a course. The live modules of a course are numbered 1..n without gaps (maintained by trigger and reorder_modules()). Members see the live modules of the courses they see; staff of the course (course.update) see and write all. Soft-deleted (deleted_at); a deleted module hides its lessons.';
COMMENT ON COLUMN course_management.modules.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.modules.id IS
'Module id (UUIDv7).';
COMMENT ON COLUMN course_management.modules.course_id IS
'The course the module belongs to; fixed (no app privilege to move a module).';
COMMENT ON COLUMN course_management.modules.title IS
'Module title (1-200 characters).';
COMMENT ON COLUMN course_management.modules.description IS
'Optional description (1-5000 characters).';
COMMENT ON COLUMN course_management.modules.position IS
'1-based place among the live modules of the course, 1..n without gaps; NULL exactly when soft-deleted. Given (or left NULL = append) at INSERT, then changed only by the position triggers and course_management.reorder_modules(). Unique per course, checked at COMMIT (DEFERRABLE INITIALLY DEFERRED).';
COMMENT ON COLUMN course_management.modules.sequential_unlock IS
'True = the module''s lessons are taken in order: a lesson can be completed only after every required lesson before it in the module is completed (EL012).';
COMMENT ON COLUMN course_management.modules.created_at IS
'When the module was created (immutable).';
COMMENT ON COLUMN course_management.modules.updated_at IS
'When the row last changed (maintained by trigger; a position change counts).';
COMMENT ON COLUMN course_management.modules.deleted_at IS
'Soft delete: when the module was deleted; NULL = live. Deleting closes the position gap; undeleting appends the module at the end.';

-- ---------------------------------------------------------------------------
-- Position maintenance
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.place_module()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.deleted_at IS NOT DISTINCT FROM OLD.deleted_at THEN
        RETURN NEW;
    END IF;
    IF NEW.deleted_at IS NOT NULL THEN
        -- Inserted deleted, or soft-deleted now (trg_modules_close_gap_soft_delete
        -- moves the others up).
        NEW.position := NULL;
        RETURN NEW;
    END IF;
    -- A live module arrives (INSERT or undelete): serialise with every other
    -- position change of the course. A course of another organization is not
    -- found under the owner's tenant-scoped policies: row-level security then
    -- refuses the row itself.
    PERFORM 1
       FROM course_management.courses AS c
      WHERE c.organization_id = NEW.organization_id
        AND c.id = NEW.course_id
        FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    SELECT pg_catalog.count(*)::integer INTO v_count
      FROM course_management.modules AS m
     WHERE m.organization_id = NEW.organization_id
       AND m.course_id = NEW.course_id
       AND m.deleted_at IS NULL
       AND m.id <> NEW.id;
    IF TG_OP = 'UPDATE' OR NEW.position IS NULL OR NEW.position > v_count THEN
        NEW.position := v_count + 1;
    ELSIF NEW.position >= 1 THEN
        UPDATE course_management.modules AS m
           SET position = m.position + 1
         WHERE m.organization_id = NEW.organization_id
           AND m.course_id = NEW.course_id
           AND m.deleted_at IS NULL
           AND m.position >= NEW.position;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION course_management.place_module() IS
'BEFORE INSERT OR UPDATE OF deleted_at trigger of modules (trg_modules_place): a soft-deleted module gets position NULL; a live module that arrives (INSERT, undelete) locks its course row (FOR NO KEY UPDATE) and is appended (position NULL, beyond the end, or undelete) or inserted at its position k (the live modules from k on move down one). Position < 1 is left to ck_modules_position. SECURITY DEFINER: the app has no privilege on position.';
REVOKE ALL ON FUNCTION course_management.place_module() FROM PUBLIC;

CREATE TRIGGER trg_modules_place
BEFORE INSERT OR UPDATE OF deleted_at ON course_management.modules
FOR EACH ROW EXECUTE FUNCTION course_management.place_module();
COMMENT ON TRIGGER trg_modules_place ON course_management.modules IS
'Appends or inserts a live module into the 1..n order of its course; a soft-deleted module leaves it.';

CREATE FUNCTION course_management.close_module_gap()
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
           SET position = m.position - 1
         WHERE m.organization_id = OLD.organization_id
           AND m.course_id = OLD.course_id
           AND m.deleted_at IS NULL
           AND m.position > OLD.position;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.close_module_gap() IS
'AFTER UPDATE OF deleted_at (live -> deleted) OR DELETE (of a live module) trigger of modules (trg_modules_close_gap_delete, trg_modules_close_gap_soft_delete): locks the course row and moves the live modules after the old position up one, so positions stay 1..n. SECURITY DEFINER: the app has no privilege on position.';
REVOKE ALL ON FUNCTION course_management.close_module_gap() FROM PUBLIC;

CREATE TRIGGER trg_modules_close_gap_delete
AFTER DELETE ON course_management.modules
FOR EACH ROW
WHEN (old.deleted_at IS NULL)
EXECUTE FUNCTION course_management.close_module_gap();
COMMENT ON TRIGGER trg_modules_close_gap_delete ON course_management.modules IS
'A hard-deleted live module leaves no gap in the positions of its course.';

CREATE TRIGGER trg_modules_close_gap_soft_delete
AFTER UPDATE OF deleted_at ON course_management.modules
FOR EACH ROW
WHEN (old.deleted_at IS NULL AND new.deleted_at IS NOT NULL)
EXECUTE FUNCTION course_management.close_module_gap();
COMMENT ON TRIGGER trg_modules_close_gap_soft_delete ON course_management.modules IS
'A soft-deleted module leaves no gap in the positions of its course.';

ALTER TABLE course_management.modules ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.modules FORCE ROW LEVEL SECURITY;
