-- =============================================================================
-- V0035__create_lessons
-- Purpose:       the lessons of a module, in order, with what a learner earns
--                and needs: type, duration, points, required / preview flags,
--                and the content version they play.
-- Concern:       course_management.lessons (table, position maintenance).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- course_id:     denormalized from the module (policies and progress filter by
--                course without a join). Kept consistent declaratively: the
--                foreign key (organization_id, course_id, module_id) ->
--                modules (organization_id, course_id, id) admits only the
--                module's own course, and neither column can be updated by the
--                app (a lesson never moves to another module).
-- Positions:     as for modules (V0034), per module: live lessons 1..n without
--                gaps; appended or inserted at INSERT, gap closed on soft or
--                hard delete, undelete appends, reorder_lessons() (V0036)
--                reorders; every change locks the module row first;
--                uq_lessons_organization_id_module_id_position is DEFERRABLE
--                INITIALLY DEFERRED.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE course_management.lessons (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    course_id uuid NOT NULL,
    module_id uuid NOT NULL,
    title text NOT NULL,
    description text,
    body text,
    content_type text NOT NULL DEFAULT 'text',
    -- Minutes and places: small.
    -- squawk-ignore prefer-bigint-over-int
    duration_minutes integer,
    points_reward bigint NOT NULL DEFAULT 0,
    -- squawk-ignore prefer-bigint-over-int
    position integer,
    is_required boolean NOT NULL DEFAULT TRUE,
    is_preview boolean NOT NULL DEFAULT FALSE,
    content_version_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_lessons PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_lessons_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_lessons_module_id FOREIGN KEY (organization_id, course_id, module_id)
    REFERENCES course_management.modules (organization_id, course_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_lessons_content_version_id FOREIGN KEY (organization_id, content_version_id)
    REFERENCES content_management.content_versions (organization_id, id),
    CONSTRAINT uq_lessons_organization_id_module_id_position
    UNIQUE (organization_id, module_id, position) DEFERRABLE INITIALLY DEFERRED,
    -- Target of lesson_progress (organization_id, course_id, lesson_id): progress
    -- is recorded for a lesson of the enrollment's course.
    CONSTRAINT uq_lessons_organization_id_course_id_id UNIQUE (organization_id, course_id, id),
    CONSTRAINT ck_lessons_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT ck_lessons_description_length CHECK (char_length(description) BETWEEN 1 AND 5000),
    CONSTRAINT ck_lessons_body_length CHECK (char_length(body) BETWEEN 1 AND 200000),
    CONSTRAINT ck_lessons_content_type
    CHECK (
        content_type IN (
            'video', 'text', 'audio', 'interactive', 'quiz', 'assignment', 'scorm'
        )
    ),
    CONSTRAINT ck_lessons_duration_minutes CHECK (duration_minutes BETWEEN 0 AND 10000),
    CONSTRAINT ck_lessons_points_reward CHECK (points_reward BETWEEN 0 AND 1000000),
    CONSTRAINT ck_lessons_position
    CHECK (
        CASE
            WHEN deleted_at IS NULL THEN position IS NOT NULL AND position >= 1
            ELSE position IS NULL
        END
    ),
    CONSTRAINT ck_lessons_deleted_at CHECK (deleted_at >= created_at)
);

CREATE INDEX idx_lessons_organization_id_course_id_module_id
ON course_management.lessons (organization_id, course_id, module_id);
CREATE INDEX idx_lessons_organization_id_content_version_id
ON course_management.lessons (organization_id, content_version_id)
WHERE content_version_id IS NOT NULL;

COMMENT ON TABLE course_management.lessons IS
'Lessons of a module, in order (live lessons of a module numbered 1..n without gaps). A learner completes lessons (lesson_progress); the required live lessons of live modules make up the course''s progress. Members see the live lessons of live modules of the courses they see; staff of the course (course.update) see and write all. Soft-deleted (deleted_at).';
COMMENT ON COLUMN course_management.lessons.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.lessons.id IS
'Lesson id (UUIDv7).';
COMMENT ON COLUMN course_management.lessons.course_id IS
'The course, denormalized from the module: the foreign key (organization_id, course_id, module_id) -> modules admits only the module''s course. Fixed (no app privilege).';
COMMENT ON COLUMN course_management.lessons.module_id IS
'The module the lesson belongs to. Fixed (no app privilege): a lesson never moves to another module.';
COMMENT ON COLUMN course_management.lessons.title IS
'Lesson title (1-200 characters).';
COMMENT ON COLUMN course_management.lessons.description IS
'Optional short description (1-5000 characters).';
COMMENT ON COLUMN course_management.lessons.body IS
'Optional lesson text (1-200000 characters, e.g. Markdown), mostly for content_type text.';
COMMENT ON COLUMN course_management.lessons.content_type IS
'video, text, audio, interactive, quiz, assignment or scorm (ck_lessons_content_type): how the lesson is presented and tracked.';
COMMENT ON COLUMN course_management.lessons.duration_minutes IS
'Expected time in minutes (0-10000); optional.';
COMMENT ON COLUMN course_management.lessons.points_reward IS
'Points a learner earns for completing the lesson (0-1000000); carried in the lesson_completed learning event for the gamification consumer.';
COMMENT ON COLUMN course_management.lessons.position IS
'1-based place among the live lessons of the module, 1..n without gaps; NULL exactly when soft-deleted. Given (or left NULL = append) at INSERT, then changed only by the position triggers and course_management.reorder_lessons(). Unique per module, checked at COMMIT (DEFERRABLE INITIALLY DEFERRED).';
COMMENT ON COLUMN course_management.lessons.is_required IS
'True = counts towards course completion (progress = completed required lessons / required lessons, live ones of live modules; when a course marks none as required, every live lesson counts) and gates later lessons in sequential modules and courses.';
COMMENT ON COLUMN course_management.lessons.is_preview IS
'True = may be shown to members who are not enrolled (course landing page preview).';
COMMENT ON COLUMN course_management.lessons.content_version_id IS
'The content version the lesson plays (content_management.content_versions), pinned: publishing a newer version of the item does not change the lesson until staff point it there. Optional (text lessons).';
COMMENT ON COLUMN course_management.lessons.created_at IS
'When the lesson was created (immutable).';
COMMENT ON COLUMN course_management.lessons.updated_at IS
'When the row last changed (maintained by trigger; a position change counts).';
COMMENT ON COLUMN course_management.lessons.deleted_at IS
'Soft delete: when the lesson was deleted; NULL = live. Deleting closes the position gap; undeleting appends the lesson at the end of its module.';

-- ---------------------------------------------------------------------------
-- Position maintenance (same rules as modules, per module)
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.place_lesson()
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
        NEW.position := NULL;
        RETURN NEW;
    END IF;
    PERFORM 1
       FROM course_management.modules AS m
      WHERE m.organization_id = NEW.organization_id
        AND m.id = NEW.module_id
        FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    SELECT pg_catalog.count(*)::integer INTO v_count
      FROM course_management.lessons AS l
     WHERE l.organization_id = NEW.organization_id
       AND l.module_id = NEW.module_id
       AND l.deleted_at IS NULL
       AND l.id <> NEW.id;
    IF TG_OP = 'UPDATE' OR NEW.position IS NULL OR NEW.position > v_count THEN
        NEW.position := v_count + 1;
    ELSIF NEW.position >= 1 THEN
        UPDATE course_management.lessons AS l
           SET position = l.position + 1
         WHERE l.organization_id = NEW.organization_id
           AND l.module_id = NEW.module_id
           AND l.deleted_at IS NULL
           AND l.position >= NEW.position;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION course_management.place_lesson() IS
'BEFORE INSERT OR UPDATE OF deleted_at trigger of lessons (trg_lessons_place): a soft-deleted lesson gets position NULL; a live lesson that arrives (INSERT, undelete) locks its module row (FOR NO KEY UPDATE) and is appended (position NULL, beyond the end, or undelete) or inserted at its position k (the live lessons from k on move down one). Position < 1 is left to ck_lessons_position. SECURITY DEFINER: the app has no privilege on position.';
REVOKE ALL ON FUNCTION course_management.place_lesson() FROM PUBLIC;

CREATE TRIGGER trg_lessons_place
BEFORE INSERT OR UPDATE OF deleted_at ON course_management.lessons
FOR EACH ROW EXECUTE FUNCTION course_management.place_lesson();
COMMENT ON TRIGGER trg_lessons_place ON course_management.lessons IS
'Appends or inserts a live lesson into the 1..n order of its module; a soft-deleted lesson leaves it.';

CREATE FUNCTION course_management.close_lesson_gap()
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
           SET position = l.position - 1
         WHERE l.organization_id = OLD.organization_id
           AND l.module_id = OLD.module_id
           AND l.deleted_at IS NULL
           AND l.position > OLD.position;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.close_lesson_gap() IS
'AFTER UPDATE OF deleted_at (live -> deleted) OR DELETE (of a live lesson) trigger of lessons (trg_lessons_close_gap_delete, trg_lessons_close_gap_soft_delete): locks the module row and moves the live lessons after the old position up one, so positions stay 1..n. SECURITY DEFINER: the app has no privilege on position.';
REVOKE ALL ON FUNCTION course_management.close_lesson_gap() FROM PUBLIC;

CREATE TRIGGER trg_lessons_close_gap_delete
AFTER DELETE ON course_management.lessons
FOR EACH ROW
WHEN (old.deleted_at IS NULL)
EXECUTE FUNCTION course_management.close_lesson_gap();
COMMENT ON TRIGGER trg_lessons_close_gap_delete ON course_management.lessons IS
'A hard-deleted live lesson leaves no gap in the positions of its module.';

CREATE TRIGGER trg_lessons_close_gap_soft_delete
AFTER UPDATE OF deleted_at ON course_management.lessons
FOR EACH ROW
WHEN (old.deleted_at IS NULL AND new.deleted_at IS NOT NULL)
EXECUTE FUNCTION course_management.close_lesson_gap();
COMMENT ON TRIGGER trg_lessons_close_gap_soft_delete ON course_management.lessons IS
'A soft-deleted lesson leaves no gap in the positions of its module.';

ALTER TABLE course_management.lessons ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.lessons FORCE ROW LEVEL SECURITY;
