-- =============================================================================
-- V0038__create_enrollments
-- Purpose:       a learner's enrollment in a course: its life cycle (active,
--                completed, expired, cancelled), access period, progress and
--                grade; who may enroll whom; prerequisites; the course's
--                enrollment and completion counters.
-- Concern:       course_management.enrollments (table and its triggers).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs (sql/CONVENTIONS.md, "Errors"):
--                EL010 prerequisites not met (enroll_guard, DETAIL lists them);
--                EL013 status transition not allowed (guard_enrollment_update);
--                EL016 course not open for enrollment (not published, deleted).
-- Who enrolls:   a learner enrolls themself (own row, manifest profile
--                course_own_rows) when they hold enrollment.self_enroll and the
--                course allows self-enrollment and is not private; holders of
--                enrollment.manage (for the course) enroll anyone, set access
--                periods, expire and reactivate. Only published, live courses
--                take new enrollments. Completion is never written by the app:
--                progress_percent, completed_at and certificate_id have no app
--                privilege and the progress trigger (V0041) completes.
-- Counters:      courses.enrollment_count (not cancelled) and completion_count
--                (completed) are changed by +/- deltas in the same transaction;
--                the UPDATE of the course row serialises concurrent enrollments
--                of one course (a hot course is a hot row: accepted).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE course_management.enrollments (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    course_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'active',
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    last_accessed_at timestamptz,
    completed_at timestamptz,
    cancelled_at timestamptz,
    access_expires_at timestamptz,
    progress_percent numeric(5, 2) NOT NULL DEFAULT 0,
    final_grade numeric(5, 2),
    certificate_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_enrollments PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_enrollments_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_enrollments_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    -- Target of the (organization_id, enrollment_id, user_id, course_id) foreign
    -- keys of lesson_progress and certificates: their learner and course are the
    -- enrollment's.
    CONSTRAINT uq_enrollments_organization_id_id_user_id_course_id
    UNIQUE (organization_id, id, user_id, course_id),
    CONSTRAINT ck_enrollments_status
    CHECK (status IN ('active', 'completed', 'expired', 'cancelled')),
    CONSTRAINT ck_enrollments_completed_at
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CONSTRAINT ck_enrollments_cancelled_at
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    CONSTRAINT ck_enrollments_started_at CHECK (started_at >= enrolled_at),
    CONSTRAINT ck_enrollments_last_accessed_at CHECK (last_accessed_at >= enrolled_at),
    CONSTRAINT ck_enrollments_completed_after_enrolled CHECK (completed_at >= enrolled_at),
    CONSTRAINT ck_enrollments_cancelled_after_enrolled CHECK (cancelled_at >= enrolled_at),
    CONSTRAINT ck_enrollments_access_expires_at CHECK (access_expires_at > enrolled_at),
    CONSTRAINT ck_enrollments_progress_percent CHECK (progress_percent BETWEEN 0 AND 100),
    CONSTRAINT ck_enrollments_final_grade CHECK (final_grade BETWEEN 0 AND 100),
    CONSTRAINT ck_enrollments_certificate_id CHECK (certificate_id IS NULL OR status = 'completed')
);

-- One enrollment per learner and course that is not cancelled; a cancelled one
-- stays as history and the learner may enroll again.
CREATE UNIQUE INDEX uq_enrollments_organization_id_user_id_course_id
ON course_management.enrollments (organization_id, user_id, course_id)
WHERE status <> 'cancelled';
CREATE INDEX idx_enrollments_organization_id_user_id
ON course_management.enrollments (organization_id, user_id);
CREATE INDEX idx_enrollments_organization_id_course_id_status
ON course_management.enrollments (organization_id, course_id, status);

COMMENT ON TABLE course_management.enrollments IS
'Enrollments of learners in courses: status active -> completed (by the progress trigger at 100 %), active <-> expired (staff), active/expired -> cancelled (the learner or staff); completed and cancelled are final (EL013). At most one enrollment per learner and course that is not cancelled. Created by the learner (enrollment.self_enroll, course open for it) or by enrollment.manage holders, only in published live courses (EL016), only when every required prerequisite is completed (EL010). Learners see their own, staff (enrollment.view for the course) those of their courses. No app DELETE.';
COMMENT ON COLUMN course_management.enrollments.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.enrollments.id IS
'Enrollment id (UUIDv7).';
COMMENT ON COLUMN course_management.enrollments.user_id IS
'The learner.';
COMMENT ON COLUMN course_management.enrollments.course_id IS
'The course.';
COMMENT ON COLUMN course_management.enrollments.status IS
'active (learning), completed (every required lesson done; set only by the progress trigger), expired (access period over, set by staff or expire_enrollments()), cancelled (unenrolled; final). Transitions other than active->cancelled/expired/completed, expired->active/cancelled raise EL013.';
COMMENT ON COLUMN course_management.enrollments.enrolled_at IS
'When the learner was enrolled (default now(); no app privilege).';
COMMENT ON COLUMN course_management.enrollments.started_at IS
'When the learner first recorded progress (set by the progress trigger; no app privilege).';
COMMENT ON COLUMN course_management.enrollments.last_accessed_at IS
'When the learner last opened the course (written by the app).';
COMMENT ON COLUMN course_management.enrollments.completed_at IS
'When the enrollment was completed; set exactly while status is completed, only by the progress trigger.';
COMMENT ON COLUMN course_management.enrollments.cancelled_at IS
'When the enrollment was cancelled (set by trigger on the change to cancelled); set exactly while status is cancelled.';
COMMENT ON COLUMN course_management.enrollments.access_expires_at IS
'End of the access period; NULL = unlimited. Progress is refused from then on (EL011). Set and changed only by enrollment.manage holders (42501).';
COMMENT ON COLUMN course_management.enrollments.progress_percent IS
'Completed required lessons / required lessons * 100 (live lessons of live modules; all live lessons when none is required), 0.00-100.00, recomputed by the progress trigger on each lesson completion (and by refresh_course_progress()); no app privilege.';
COMMENT ON COLUMN course_management.enrollments.final_grade IS
'Final grade 0.00-100.00, set by staff (enrollment.manage or assessment.grade for the course); optional.';
COMMENT ON COLUMN course_management.enrollments.certificate_id IS
'The certificate issued when the enrollment was completed (course_management.certificates); only while completed. Set by the progress trigger; no app privilege.';
COMMENT ON COLUMN course_management.enrollments.created_at IS
'When the row was created (immutable).';
COMMENT ON COLUMN course_management.enrollments.updated_at IS
'When the row last changed (maintained by trigger).';

-- ---------------------------------------------------------------------------
-- Updates: status transitions and who may change what (column protection,
-- hence BEFORE).
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.guard_enrollment_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := app.current_user_id();
    v_manage boolean;
    v_needed text;
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT ((OLD.status = 'active' AND NEW.status IN ('cancelled', 'expired'))
                OR (OLD.status = 'expired' AND NEW.status IN ('active', 'cancelled'))
                -- Completion carries completed_at, which only the progress
                -- trigger (SECURITY DEFINER) writes: the app cannot complete.
                OR (OLD.status = 'active' AND NEW.status = 'completed' AND NEW.completed_at IS NOT NULL)) THEN
            RAISE EXCEPTION 'enrollment status cannot change from % to %', OLD.status, NEW.status
                  USING ERRCODE = 'EL013',
                        SCHEMA = TG_TABLE_SCHEMA,
                        TABLE = TG_TABLE_NAME,
                        COLUMN = 'status',
                        CONSTRAINT = TG_NAME,
                        DETAIL = 'Allowed: active -> cancelled, expired or (by progress only) completed; expired -> active or cancelled. completed and cancelled are final.',
                        HINT = 'To enroll again after cancelling, insert a new enrollment.';
        END IF;
        IF NEW.status = 'cancelled' THEN
            NEW.cancelled_at := pg_catalog.now();
        END IF;
    END IF;

    -- Without an acting user (maintenance) there is nobody to authorize.
    IF v_actor IS NOT NULL THEN
        v_manage := user_management.has_permission('enrollment.manage', NEW.course_id);
        IF NEW.status IS DISTINCT FROM OLD.status AND NOT v_manage
           AND NOT (NEW.status = 'cancelled' AND NEW.user_id = v_actor)
           AND NEW.status <> 'completed' THEN
            v_needed := 'enrollment.manage';
        ELSIF NEW.access_expires_at IS DISTINCT FROM OLD.access_expires_at AND NOT v_manage THEN
            v_needed := 'enrollment.manage';
        ELSIF NEW.final_grade IS DISTINCT FROM OLD.final_grade AND NOT v_manage
              AND NOT user_management.has_permission('assessment.grade', NEW.course_id) THEN
            v_needed := 'assessment.grade';
        END IF;
        IF v_needed IS NOT NULL THEN
            RAISE EXCEPTION 'permission % required', v_needed
                  USING ERRCODE = '42501',
                        SCHEMA = TG_TABLE_SCHEMA,
                        TABLE = TG_TABLE_NAME,
                        CONSTRAINT = TG_NAME,
                        DETAIL = pg_catalog.format('User %s lacks %s for course %s.', v_actor, v_needed,
                                                   NEW.course_id),
                        HINT = 'Learners may cancel their own enrollment and record when they accessed it; status, access period and grade are staff work.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION course_management.guard_enrollment_update() IS
'BEFORE UPDATE trigger of enrollments (trg_enrollments_guard_update). Status transitions: active -> cancelled | expired | completed (completed only with completed_at, i.e. from the progress trigger), expired -> active | cancelled; anything else EL013 (column status). Sets cancelled_at on cancellation. With an acting user: a status change needs enrollment.manage for the course, except cancelling one''s own enrollment; changing access_expires_at needs enrollment.manage; changing final_grade needs enrollment.manage or assessment.grade (42501). SECURITY INVOKER: reads nothing but the row.';
REVOKE ALL ON FUNCTION course_management.guard_enrollment_update() FROM PUBLIC;

CREATE TRIGGER trg_enrollments_guard_update
BEFORE UPDATE ON course_management.enrollments
FOR EACH ROW EXECUTE FUNCTION course_management.guard_enrollment_update();
COMMENT ON TRIGGER trg_enrollments_guard_update ON course_management.enrollments IS
'Allowed status transitions (EL013), cancelled_at, and who may change status, access period and grade (42501).';

-- ---------------------------------------------------------------------------
-- New enrollments: who may enroll whom, open course, prerequisites; the
-- course_enrolled learning event.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.enroll_guard()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_actor uuid := app.current_user_id();
    v_course record;
    v_manage boolean;
    v_missing text;
BEGIN
    SELECT c.title, c.status, c.visibility, c.allow_self_enrollment, c.deleted_at
      INTO v_course
      FROM course_management.courses AS c
     WHERE c.organization_id = NEW.organization_id
       AND c.id = NEW.course_id;

    IF v_actor IS NOT NULL THEN
        v_manage := user_management.has_permission('enrollment.manage', NEW.course_id);
        IF NOT v_manage AND NEW.user_id <> v_actor THEN
            RAISE EXCEPTION 'permission enrollment.manage required to enroll another user'
                  USING ERRCODE = '42501',
                        SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME,
                        DETAIL = pg_catalog.format('User %s lacks enrollment.manage for course %s.',
                                                   v_actor, NEW.course_id),
                        HINT = 'Learners enroll themselves; staff holding enrollment.manage enroll others.';
        END IF;
        IF NOT v_manage
           AND NOT (user_management.has_permission('enrollment.self_enroll', NEW.course_id)
                    AND v_course.allow_self_enrollment
                    AND v_course.visibility <> 'private') THEN
            RAISE EXCEPTION 'self-enrollment in course % is not allowed', NEW.course_id
                  USING ERRCODE = '42501',
                        SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME,
                        DETAIL = CASE
                                     WHEN NOT user_management.has_permission('enrollment.self_enroll',
                                                                             NEW.course_id)
                                         THEN pg_catalog.format('User %s lacks enrollment.self_enroll.', v_actor)
                                     ELSE 'The course is private or closed for self-enrollment.'
                                 END,
                        HINT = 'Ask a holder of enrollment.manage to enroll you.';
        END IF;
        IF NOT v_manage AND NEW.access_expires_at IS NOT NULL THEN
            RAISE EXCEPTION 'permission enrollment.manage required to set an access period'
                  USING ERRCODE = '42501',
                        SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME,
                        DETAIL = pg_catalog.format('User %s lacks enrollment.manage for course %s.',
                                                   v_actor, NEW.course_id);
        END IF;
    END IF;

    IF v_course.deleted_at IS NOT NULL OR v_course.status <> 'published' THEN
        RAISE EXCEPTION 'course % is not open for enrollment', NEW.course_id
              USING ERRCODE = 'EL016',
                    SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('The course is %s.',
                                               CASE WHEN v_course.deleted_at IS NOT NULL THEN 'deleted'
                                                    ELSE v_course.status END),
                    HINT = 'Only published courses take new enrollments.';
    END IF;
    IF NOT EXISTS (SELECT 1
                     FROM user_management.users AS u
                    WHERE u.organization_id = NEW.organization_id
                      AND u.id = NEW.user_id
                      AND u.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'no live user % in the organization', NEW.user_id
              USING ERRCODE = 'P0002',
                    SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME;
    END IF;

    -- Required prerequisites of live courses, each completed by the learner.
    SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s)', pc.title, pc.id), ', ' ORDER BY pc.title, pc.id)
      INTO v_missing
      FROM course_management.course_prerequisites AS p
      JOIN course_management.courses AS pc
        ON pc.organization_id = p.organization_id
       AND pc.id = p.prerequisite_course_id
     WHERE p.organization_id = NEW.organization_id
       AND p.course_id = NEW.course_id
       AND p.is_required
       AND pc.deleted_at IS NULL
       AND NOT EXISTS (SELECT 1
                         FROM course_management.enrollments AS e
                        WHERE e.organization_id = p.organization_id
                          AND e.user_id = NEW.user_id
                          AND e.course_id = p.prerequisite_course_id
                          AND e.status = 'completed');
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'prerequisites of course % are not completed', NEW.course_id
              USING ERRCODE = 'EL010',
                    SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME,
                    DETAIL = 'Not completed: ' || v_missing || '.',
                    HINT = 'Complete the required prerequisite courses first.';
    END IF;

    PERFORM course_management.record_learning_event(
        NEW.organization_id, NEW.user_id, 'course_enrolled', 'enrollment', NEW.id,
        pg_catalog.jsonb_build_object('course_id', NEW.course_id, 'enrollment_id', NEW.id));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.enroll_guard() IS
'AFTER INSERT trigger of enrollments (trg_enrollments_enroll_guard), in this order: with an acting user, enrolling someone else or setting access_expires_at needs enrollment.manage for the course, enrolling oneself needs enrollment.manage or (enrollment.self_enroll and a course that allows self-enrollment and is not private) (42501); the course must be published and live (EL016, DETAIL says its state); the learner must be a live user (P0002); every required prerequisite whose course is live must have a completed enrollment of the learner (EL010, DETAIL lists title (id) of the missing ones). Then records the course_enrolled learning event. AFTER: privilege, policy, CHECK, unique and foreign-key errors come first. SECURITY DEFINER: reads courses, prerequisites and enrollments the writer may not see.';
REVOKE ALL ON FUNCTION course_management.enroll_guard() FROM PUBLIC;

CREATE TRIGGER trg_enrollments_enroll_guard
AFTER INSERT ON course_management.enrollments
FOR EACH ROW EXECUTE FUNCTION course_management.enroll_guard();
COMMENT ON TRIGGER trg_enrollments_enroll_guard ON course_management.enrollments IS
'Who may enroll whom (42501), open course (EL016), live learner (P0002), prerequisites (EL010); course_enrolled event.';

-- ---------------------------------------------------------------------------
-- courses.enrollment_count / completion_count
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.count_course_enrollment()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_old_enrolled integer := 0;
    v_old_completed integer := 0;
    v_new_enrolled integer := 0;
    v_new_completed integer := 0;
    v_organization_id uuid;
    v_course_id uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        v_organization_id := OLD.organization_id;
        v_course_id := OLD.course_id;
    ELSE
        v_organization_id := NEW.organization_id;
        v_course_id := NEW.course_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        v_old_enrolled := (OLD.status <> 'cancelled')::integer;
        v_old_completed := (OLD.status = 'completed')::integer;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        v_new_enrolled := (NEW.status <> 'cancelled')::integer;
        v_new_completed := (NEW.status = 'completed')::integer;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.course_id IS DISTINCT FROM OLD.course_id THEN
        -- Moved to another course (never by the app): two courses change.
        UPDATE course_management.courses AS c
           SET enrollment_count = c.enrollment_count - v_old_enrolled,
               completion_count = c.completion_count - v_old_completed
         WHERE c.organization_id = OLD.organization_id
           AND c.id = OLD.course_id;
        v_old_enrolled := 0;
        v_old_completed := 0;
    END IF;
    IF v_new_enrolled <> v_old_enrolled OR v_new_completed <> v_old_completed THEN
        UPDATE course_management.courses AS c
           SET enrollment_count = c.enrollment_count + v_new_enrolled - v_old_enrolled,
               completion_count = c.completion_count + v_new_completed - v_old_completed
         WHERE c.organization_id = v_organization_id
           AND c.id = v_course_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.count_course_enrollment() IS
'AFTER INSERT OR UPDATE OF status, course_id OR DELETE trigger of enrollments (trg_enrollments_count): keeps courses.enrollment_count (enrollments not cancelled) and completion_count (completed) in step with one UPDATE of the course by the difference between the new and the old row''s share (none when it does not change), in the same transaction. The row lock of the UPDATE serialises concurrent changes of one course (x = x + d is re-evaluated on the newest row version). SECURITY DEFINER: the app has no privilege on the counters.';
REVOKE ALL ON FUNCTION course_management.count_course_enrollment() FROM PUBLIC;

CREATE TRIGGER trg_enrollments_count
AFTER INSERT OR UPDATE OF status, course_id OR DELETE ON course_management.enrollments
FOR EACH ROW EXECUTE FUNCTION course_management.count_course_enrollment();
COMMENT ON TRIGGER trg_enrollments_count ON course_management.enrollments IS
'Keeps the course''s enrollment_count and completion_count in step.';

-- ---------------------------------------------------------------------------
-- expire_enrollments: active enrollments whose access period is over.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.expire_enrollments()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    PERFORM user_management.require_permission('enrollment.manage');
    UPDATE course_management.enrollments AS e
       SET status = 'expired'
     WHERE e.organization_id = app.current_organization_id()
       AND e.status = 'active'
       AND e.access_expires_at <= pg_catalog.now();
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION course_management.expire_enrollments() IS
'Sets status expired on every active enrollment of the current organization whose access_expires_at has passed and returns how many; for a scheduled job or staff. Needs enrollment.manage organization-wide (42501). Progress is refused after access_expires_at whether or not this ran (EL011); the status makes it visible and lets staff reactivate (expired -> active).';
REVOKE ALL ON FUNCTION course_management.expire_enrollments() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION course_management.expire_enrollments() TO ${app_role};

ALTER TABLE course_management.enrollments ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.enrollments FORCE ROW LEVEL SECURITY;
