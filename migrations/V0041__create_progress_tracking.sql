-- =============================================================================
-- V0041__create_progress_tracking
-- Purpose:       what completing a lesson does: the enrollment's progress is
--                recomputed; reaching 100 % completes the enrollment, issues its
--                certificate and records course_completed; every lesson
--                completion records lesson_completed. All in the transaction of
--                the lesson_progress write.
-- Concern:       progress computation (refresh_enrollment_progress(),
--                refresh_course_progress()) and the lesson_progress trigger that
--                applies it.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Progress:      completed required lessons / required lessons * 100, rounded to
--                2 decimals, over the live lessons of live modules of the course;
--                when the course marks no lesson as required, every live lesson
--                counts. A course without live lessons never completes.
-- Concurrency:   the enrollment row is locked (FOR NO KEY UPDATE, see V0039)
--                before counting, so two lesson completions of one enrollment in
--                parallel run one after the other and the second counts both
--                (READ COMMITTED: its count is a new statement with a new
--                snapshot, taken after the lock). Under REPEATABLE READ or
--                SERIALIZABLE the second fails with 40001 instead (retry).
-- Outline edits: adding, deleting or (un)requiring lessons does not recompute
--                existing enrollments by itself (that could touch every
--                enrollment of a big course in a staff edit); the next completion
--                recomputes, and staff call refresh_course_progress(course)
--                after restructuring (which also completes enrollments that
--                reached 100 % by a removal).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- refresh_enrollment_progress (internal)
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.refresh_enrollment_progress(
    p_organization_id uuid,
    p_enrollment_id uuid
)
RETURNS numeric
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_enrollment record;
    v_any_required boolean;
    v_total bigint;
    v_done bigint;
    v_percent numeric(5, 2);
    v_certificate_id uuid;
BEGIN
    SELECT e.id, e.user_id, e.course_id, e.status, e.progress_percent, e.final_grade
      INTO v_enrollment
      FROM course_management.enrollments AS e
     WHERE e.organization_id = p_organization_id
       AND e.id = p_enrollment_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    SELECT EXISTS (SELECT 1
                     FROM course_management.lessons AS l
                     JOIN course_management.modules AS m
                       ON m.organization_id = l.organization_id
                      AND m.id = l.module_id
                    WHERE l.organization_id = p_organization_id
                      AND l.course_id = v_enrollment.course_id
                      AND l.is_required
                      AND l.deleted_at IS NULL
                      AND m.deleted_at IS NULL)
      INTO v_any_required;
    SELECT pg_catalog.count(*),
           pg_catalog.count(*) FILTER (WHERE EXISTS (
               SELECT 1
                 FROM course_management.lesson_progress AS lp
                WHERE lp.organization_id = p_organization_id
                  AND lp.enrollment_id = v_enrollment.id
                  AND lp.user_id = v_enrollment.user_id
                  AND lp.course_id = v_enrollment.course_id
                  AND lp.lesson_id = l.id
                  AND lp.status = 'completed'))
      INTO v_total, v_done
      FROM course_management.lessons AS l
      JOIN course_management.modules AS m
        ON m.organization_id = l.organization_id
       AND m.id = l.module_id
     WHERE l.organization_id = p_organization_id
       AND l.course_id = v_enrollment.course_id
       AND l.deleted_at IS NULL
       AND m.deleted_at IS NULL
       AND (l.is_required OR NOT v_any_required);

    v_percent := CASE WHEN v_total = 0 THEN 0
                      ELSE pg_catalog.round(100.0 * v_done / v_total, 2) END;

    IF v_percent = 100 AND v_enrollment.status = 'active' THEN
        INSERT INTO course_management.certificates (
            organization_id, enrollment_id, user_id, course_id, recipient_name, course_title, final_grade)
        SELECT p_organization_id, v_enrollment.id, v_enrollment.user_id, v_enrollment.course_id,
               u.display_name, c.title, v_enrollment.final_grade
          FROM user_management.users AS u
         CROSS JOIN course_management.courses AS c
         WHERE u.organization_id = p_organization_id
           AND u.id = v_enrollment.user_id
           AND c.organization_id = p_organization_id
           AND c.id = v_enrollment.course_id
        RETURNING id INTO v_certificate_id;

        UPDATE course_management.enrollments AS e
           SET status = 'completed',
               completed_at = pg_catalog.now(),
               progress_percent = v_percent,
               certificate_id = v_certificate_id
         WHERE e.organization_id = p_organization_id
           AND e.id = v_enrollment.id;

        PERFORM course_management.record_learning_event(
            p_organization_id, v_enrollment.user_id, 'course_completed', 'enrollment', v_enrollment.id,
            pg_catalog.jsonb_build_object(
                'course_id', v_enrollment.course_id,
                'enrollment_id', v_enrollment.id,
                'certificate_id', v_certificate_id,
                'final_grade', v_enrollment.final_grade));
    ELSIF v_percent IS DISTINCT FROM v_enrollment.progress_percent THEN
        UPDATE course_management.enrollments AS e
           SET progress_percent = v_percent
         WHERE e.organization_id = p_organization_id
           AND e.id = v_enrollment.id;
    END IF;
    RETURN v_percent;
END
$$;
COMMENT ON FUNCTION course_management.refresh_enrollment_progress(uuid, uuid) IS
'Internal (not granted): locks enrollment p_enrollment_id (FOR NO KEY UPDATE) and sets its progress_percent = completed required lessons / required lessons * 100 (2 decimals; live lessons of live modules; all live lessons when none is required; 0 without lessons). At 100 % an active enrollment is completed in the same transaction: certificate issued (recipient name, course title and final grade as of now), status completed, completed_at, certificate_id, and a course_completed learning event (key course_completed:<enrollment id>). A completed enrollment stays completed whatever its percentage. Returns the percentage (NULL for an unknown enrollment).';
REVOKE ALL ON FUNCTION course_management.refresh_enrollment_progress(uuid, uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- The lesson_progress trigger
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.apply_lesson_progress()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_lesson record;
BEGIN
    IF NEW.status = 'not_started' OR (TG_OP = 'UPDATE' AND NEW.status = OLD.status) THEN
        RETURN NULL;
    END IF;
    -- First progress of the enrollment: it has started.
    UPDATE course_management.enrollments AS e
       SET started_at = NEW.started_at
     WHERE e.organization_id = NEW.organization_id
       AND e.id = NEW.enrollment_id
       AND e.started_at IS NULL;

    IF NEW.status = 'completed' THEN
        SELECT l.module_id, l.points_reward INTO v_lesson
          FROM course_management.lessons AS l
         WHERE l.organization_id = NEW.organization_id
           AND l.id = NEW.lesson_id;
        PERFORM course_management.record_learning_event(
            NEW.organization_id, NEW.user_id, 'lesson_completed', 'lesson_progress', NEW.id,
            pg_catalog.jsonb_build_object(
                'course_id', NEW.course_id,
                'module_id', v_lesson.module_id,
                'lesson_id', NEW.lesson_id,
                'enrollment_id', NEW.enrollment_id,
                'points_reward', v_lesson.points_reward,
                'score', NEW.score));
        PERFORM course_management.refresh_enrollment_progress(NEW.organization_id, NEW.enrollment_id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.apply_lesson_progress() IS
'AFTER INSERT OR UPDATE OF status trigger of lesson_progress (trg_lesson_progress_complete), after trg_lesson_progress_check: when the status moves forward, sets the enrollment''s started_at on its first progress; when it becomes completed, records the lesson_completed learning event (key lesson_completed:<lesson_progress id>; payload with course, module, lesson, enrollment, points_reward, score) and recomputes the enrollment (refresh_enrollment_progress: progress, and at 100 % completion, certificate, course_completed). SECURITY DEFINER: the app has no privilege on those columns and tables.';
REVOKE ALL ON FUNCTION course_management.apply_lesson_progress() FROM PUBLIC;

CREATE TRIGGER trg_lesson_progress_complete
AFTER INSERT OR UPDATE OF status ON course_management.lesson_progress
FOR EACH ROW EXECUTE FUNCTION course_management.apply_lesson_progress();
COMMENT ON TRIGGER trg_lesson_progress_complete ON course_management.lesson_progress IS
'A completed lesson: lesson_completed event, enrollment progress recomputed, course completed with certificate at 100 %.';

-- ---------------------------------------------------------------------------
-- refresh_course_progress (staff, after restructuring a course)
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.refresh_course_progress(p_course_id uuid)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_enrollment_id uuid;
    v_count integer := 0;
BEGIN
    PERFORM user_management.require_permission('course.update', p_course_id);
    FOR v_enrollment_id IN
        SELECT e.id
          FROM course_management.enrollments AS e
         WHERE e.organization_id = v_organization_id
           AND e.course_id = p_course_id
           AND e.status IN ('active', 'expired')
         ORDER BY e.id
    LOOP
        PERFORM course_management.refresh_enrollment_progress(v_organization_id, v_enrollment_id);
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION course_management.refresh_course_progress(uuid) IS
'Recomputes progress_percent of every active or expired enrollment of course p_course_id (completing active ones that now reach 100 %, with certificate and course_completed event) and returns how many it looked at. For staff after adding, removing or (un)requiring lessons; needs course.update for the course (42501). Locks the enrollments one by one in id order.';
REVOKE ALL ON FUNCTION course_management.refresh_course_progress(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION course_management.refresh_course_progress(uuid) TO ${app_role};
