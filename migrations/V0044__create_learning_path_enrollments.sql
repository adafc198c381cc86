-- =============================================================================
-- V0044__create_learning_path_enrollments
-- Purpose:       a learner's enrollment in a learning path, its progress (share
--                of the path's required courses the learner has completed) and
--                completion, and the path's enrollment and completion counters.
-- Concern:       course_management.learning_path_enrollments (table, guards,
--                progress) and the trigger on enrollments that moves path
--                progress when a course is completed.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs: EL013 (status transition), EL016 (path not open), as for
--                course enrollments.
-- Progress:      completed required courses of the path / required courses
--                (all courses when none is required; live courses only), over
--                the learner's completed course enrollments, whenever or however
--                they were completed (a course completed before joining the path
--                counts). Recomputed when the path enrollment is created and
--                whenever one of the learner's course enrollments is completed;
--                at 100 % the path enrollment is completed and the
--                learning_path_completed event recorded. Enrolling in the path
--                does not enroll in its courses (each course enrollment follows
--                its own rules).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE course_management.learning_path_enrollments (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    learning_path_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'active',
    progress_percent numeric(5, 2) NOT NULL DEFAULT 0,
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    cancelled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_learning_path_enrollments PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_learning_path_enrollments_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_learning_path_enrollments_learning_path_id
    FOREIGN KEY (organization_id, learning_path_id)
    REFERENCES course_management.learning_paths (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_learning_path_enrollments_status
    CHECK (status IN ('active', 'completed', 'cancelled')),
    CONSTRAINT ck_learning_path_enrollments_completed_at
    CHECK ((status = 'completed') = (completed_at IS NOT NULL) AND completed_at >= enrolled_at),
    CONSTRAINT ck_learning_path_enrollments_cancelled_at
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL) AND cancelled_at >= enrolled_at),
    CONSTRAINT ck_learning_path_enrollments_progress_percent
    CHECK (progress_percent BETWEEN 0 AND 100)
);
CREATE UNIQUE INDEX uq_learning_path_enrollments_user_id_learning_path_id
ON course_management.learning_path_enrollments (organization_id, user_id, learning_path_id)
WHERE status <> 'cancelled';
CREATE INDEX idx_learning_path_enrollments_organization_id_user_id
ON course_management.learning_path_enrollments (organization_id, user_id);
CREATE INDEX idx_learning_path_enrollments_organization_id_learning_path_id
ON course_management.learning_path_enrollments (organization_id, learning_path_id);

COMMENT ON TABLE course_management.learning_path_enrollments IS
'Enrollments of learners in learning paths: active -> completed (by trigger, when every required course of the path is completed) or cancelled (the learner or staff); completed and cancelled are final (EL013). At most one per learner and path that is not cancelled. Created by the learner (enrollment.self_enroll) or by enrollment.manage holders, only for published live paths (EL016). Learners see their own, organization-wide staff (enrollment.view) all. No app DELETE.';
COMMENT ON COLUMN course_management.learning_path_enrollments.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.learning_path_enrollments.id IS
'Path enrollment id (UUIDv7).';
COMMENT ON COLUMN course_management.learning_path_enrollments.user_id IS
'The learner.';
COMMENT ON COLUMN course_management.learning_path_enrollments.learning_path_id IS
'The learning path.';
COMMENT ON COLUMN course_management.learning_path_enrollments.status IS
'active, completed (set by trigger only) or cancelled (final).';
COMMENT ON COLUMN course_management.learning_path_enrollments.progress_percent IS
'Completed required courses of the path / required courses * 100 (0.00-100.00), kept by trigger; no app privilege.';
COMMENT ON COLUMN course_management.learning_path_enrollments.enrolled_at IS
'When the learner joined the path (default now(); no app privilege).';
COMMENT ON COLUMN course_management.learning_path_enrollments.completed_at IS
'When the path was completed; set exactly while completed, by trigger only.';
COMMENT ON COLUMN course_management.learning_path_enrollments.cancelled_at IS
'When the path enrollment was cancelled (set by trigger); set exactly while cancelled.';
COMMENT ON COLUMN course_management.learning_path_enrollments.created_at IS
'When the row was created (immutable).';
COMMENT ON COLUMN course_management.learning_path_enrollments.updated_at IS
'When the row last changed (maintained by trigger).';

-- ---------------------------------------------------------------------------
-- Updates: transitions and who may cancel (column protection: BEFORE).
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.guard_learning_path_enrollment_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT ((OLD.status = 'active' AND NEW.status = 'cancelled')
            OR (OLD.status = 'active' AND NEW.status = 'completed' AND NEW.completed_at IS NOT NULL)) THEN
        RAISE EXCEPTION 'learning path enrollment status cannot change from % to %', OLD.status, NEW.status
              USING ERRCODE = 'EL013',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    COLUMN = 'status',
                    CONSTRAINT = TG_NAME,
                    DETAIL = 'Allowed: active -> cancelled, or (by progress only) completed. completed and cancelled are final.',
                    HINT = 'To follow the path again after cancelling, insert a new path enrollment.';
    END IF;
    IF NEW.status = 'cancelled' THEN
        IF app.current_user_id() IS NOT NULL AND NEW.user_id <> app.current_user_id()
           AND NOT user_management.has_permission('enrollment.manage') THEN
            RAISE EXCEPTION 'permission enrollment.manage required'
                  USING ERRCODE = '42501',
                        SCHEMA = TG_TABLE_SCHEMA,
                        TABLE = TG_TABLE_NAME,
                        CONSTRAINT = TG_NAME,
                        DETAIL = pg_catalog.format('User %s lacks enrollment.manage.', app.current_user_id()),
                        HINT = 'Learners cancel their own path enrollments; staff with enrollment.manage any.';
        END IF;
        NEW.cancelled_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION course_management.guard_learning_path_enrollment_update() IS
'BEFORE UPDATE trigger of learning_path_enrollments (trg_learning_path_enrollments_guard_update): status goes only active -> cancelled or (with completed_at, i.e. from the progress trigger) active -> completed (EL013 otherwise); cancelling someone else''s needs enrollment.manage (42501); sets cancelled_at.';
REVOKE ALL ON FUNCTION course_management.guard_learning_path_enrollment_update() FROM PUBLIC;

CREATE TRIGGER trg_learning_path_enrollments_guard_update
BEFORE UPDATE ON course_management.learning_path_enrollments
FOR EACH ROW EXECUTE FUNCTION course_management.guard_learning_path_enrollment_update();
COMMENT ON TRIGGER trg_learning_path_enrollments_guard_update ON course_management.learning_path_enrollments IS
'Allowed status transitions (EL013), cancelled_at, who may cancel (42501).';

-- ---------------------------------------------------------------------------
-- Progress (internal)
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.refresh_learning_path_progress(
    p_organization_id uuid,
    p_learning_path_enrollment_id uuid
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
BEGIN
    SELECT pe.id, pe.user_id, pe.learning_path_id, pe.status, pe.progress_percent
      INTO v_enrollment
      FROM course_management.learning_path_enrollments AS pe
     WHERE pe.organization_id = p_organization_id
       AND pe.id = p_learning_path_enrollment_id
       FOR NO KEY UPDATE;
    IF NOT FOUND OR v_enrollment.status <> 'active' THEN
        RETURN v_enrollment.progress_percent;
    END IF;

    SELECT EXISTS (SELECT 1
                     FROM course_management.learning_path_courses AS pc
                     JOIN course_management.courses AS c
                       ON c.organization_id = pc.organization_id
                      AND c.id = pc.course_id
                    WHERE pc.organization_id = p_organization_id
                      AND pc.learning_path_id = v_enrollment.learning_path_id
                      AND pc.is_required
                      AND c.deleted_at IS NULL)
      INTO v_any_required;
    SELECT pg_catalog.count(*),
           pg_catalog.count(*) FILTER (WHERE EXISTS (
               SELECT 1
                 FROM course_management.enrollments AS e
                WHERE e.organization_id = p_organization_id
                  AND e.user_id = v_enrollment.user_id
                  AND e.course_id = pc.course_id
                  AND e.status = 'completed'))
      INTO v_total, v_done
      FROM course_management.learning_path_courses AS pc
      JOIN course_management.courses AS c
        ON c.organization_id = pc.organization_id
       AND c.id = pc.course_id
     WHERE pc.organization_id = p_organization_id
       AND pc.learning_path_id = v_enrollment.learning_path_id
       AND c.deleted_at IS NULL
       AND (pc.is_required OR NOT v_any_required);

    v_percent := CASE WHEN v_total = 0 THEN 0
                      ELSE pg_catalog.round(100.0 * v_done / v_total, 2) END;
    IF v_percent = 100 THEN
        UPDATE course_management.learning_path_enrollments AS pe
           SET status = 'completed',
               completed_at = pg_catalog.now(),
               progress_percent = v_percent
         WHERE pe.organization_id = p_organization_id
           AND pe.id = v_enrollment.id;
        PERFORM course_management.record_learning_event(
            p_organization_id, v_enrollment.user_id, 'learning_path_completed', 'learning_path_enrollment',
            v_enrollment.id,
            pg_catalog.jsonb_build_object('learning_path_id', v_enrollment.learning_path_id,
                                          'learning_path_enrollment_id', v_enrollment.id));
    ELSIF v_percent IS DISTINCT FROM v_enrollment.progress_percent THEN
        UPDATE course_management.learning_path_enrollments AS pe
           SET progress_percent = v_percent
         WHERE pe.organization_id = p_organization_id
           AND pe.id = v_enrollment.id;
    END IF;
    RETURN v_percent;
END
$$;
COMMENT ON FUNCTION course_management.refresh_learning_path_progress(uuid, uuid) IS
'Internal (not granted): locks path enrollment p_learning_path_enrollment_id (FOR NO KEY UPDATE) and, while active, sets progress_percent = the learner''s completed required live courses of the path / required live courses * 100 (all live courses when none is required; 0 for an empty path); at 100 % completes it (status, completed_at) and records learning_path_completed (key learning_path_completed:<path enrollment id>). Returns the percentage.';
REVOKE ALL ON FUNCTION course_management.refresh_learning_path_progress(uuid, uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- New path enrollments: who, open path; initial progress.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.enroll_learning_path_guard()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_actor uuid := app.current_user_id();
    v_path record;
BEGIN
    SELECT p.status, p.deleted_at INTO v_path
      FROM course_management.learning_paths AS p
     WHERE p.organization_id = NEW.organization_id
       AND p.id = NEW.learning_path_id;
    IF v_actor IS NOT NULL AND NOT user_management.has_permission('enrollment.manage')
       AND (NEW.user_id <> v_actor OR NOT user_management.has_permission('enrollment.self_enroll')) THEN
        RAISE EXCEPTION 'permission % required',
                        CASE WHEN NEW.user_id <> v_actor THEN 'enrollment.manage' ELSE 'enrollment.self_enroll' END
              USING ERRCODE = '42501',
                    SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('User %s may not enroll user %s in learning path %s.',
                                               v_actor, NEW.user_id, NEW.learning_path_id),
                    HINT = 'Learners enroll themselves (enrollment.self_enroll); staff with enrollment.manage enroll others.';
    END IF;
    IF v_path.deleted_at IS NOT NULL OR v_path.status <> 'published' THEN
        RAISE EXCEPTION 'learning path % is not open for enrollment', NEW.learning_path_id
              USING ERRCODE = 'EL016',
                    SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('The learning path is %s.',
                                               CASE WHEN v_path.deleted_at IS NOT NULL THEN 'deleted'
                                                    ELSE v_path.status END),
                    HINT = 'Only published learning paths take new enrollments.';
    END IF;
    PERFORM course_management.refresh_learning_path_progress(NEW.organization_id, NEW.id);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.enroll_learning_path_guard() IS
'AFTER INSERT trigger of learning_path_enrollments (trg_learning_path_enrollments_enroll_guard): with an acting user, enrolling oneself needs enrollment.self_enroll or enrollment.manage, enrolling someone else enrollment.manage (42501); the path must be published and live (EL016). Then computes the initial progress (courses completed before joining count; may complete the path at once). SECURITY DEFINER.';
REVOKE ALL ON FUNCTION course_management.enroll_learning_path_guard() FROM PUBLIC;

CREATE TRIGGER trg_learning_path_enrollments_enroll_guard
AFTER INSERT ON course_management.learning_path_enrollments
FOR EACH ROW EXECUTE FUNCTION course_management.enroll_learning_path_guard();
COMMENT ON TRIGGER trg_learning_path_enrollments_enroll_guard ON course_management.learning_path_enrollments IS
'Who may enroll whom (42501), open path (EL016); initial progress.';

-- ---------------------------------------------------------------------------
-- learning_paths.enrollment_count / completion_count
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.count_learning_path_enrollment()
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
    v_path_id uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        v_organization_id := OLD.organization_id;
        v_path_id := OLD.learning_path_id;
    ELSE
        v_organization_id := NEW.organization_id;
        v_path_id := NEW.learning_path_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        v_old_enrolled := (OLD.status <> 'cancelled')::integer;
        v_old_completed := (OLD.status = 'completed')::integer;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        v_new_enrolled := (NEW.status <> 'cancelled')::integer;
        v_new_completed := (NEW.status = 'completed')::integer;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.learning_path_id IS DISTINCT FROM OLD.learning_path_id THEN
        UPDATE course_management.learning_paths AS p
           SET enrollment_count = p.enrollment_count - v_old_enrolled,
               completion_count = p.completion_count - v_old_completed
         WHERE p.organization_id = OLD.organization_id
           AND p.id = OLD.learning_path_id;
        v_old_enrolled := 0;
        v_old_completed := 0;
    END IF;
    IF v_new_enrolled <> v_old_enrolled OR v_new_completed <> v_old_completed THEN
        UPDATE course_management.learning_paths AS p
           SET enrollment_count = p.enrollment_count + v_new_enrolled - v_old_enrolled,
               completion_count = p.completion_count + v_new_completed - v_old_completed
         WHERE p.organization_id = v_organization_id
           AND p.id = v_path_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.count_learning_path_enrollment() IS
'AFTER INSERT OR UPDATE OF status, learning_path_id OR DELETE trigger of learning_path_enrollments (trg_learning_path_enrollments_count): keeps learning_paths.enrollment_count (not cancelled) and completion_count (completed) in step with one UPDATE by the difference of the row''s share, in the same transaction (the UPDATE''s row lock serialises concurrent changes of one path). SECURITY DEFINER: the app has no privilege on the counters.';
REVOKE ALL ON FUNCTION course_management.count_learning_path_enrollment() FROM PUBLIC;

CREATE TRIGGER trg_learning_path_enrollments_count
AFTER INSERT OR UPDATE OF status, learning_path_id OR DELETE
ON course_management.learning_path_enrollments
FOR EACH ROW EXECUTE FUNCTION course_management.count_learning_path_enrollment();
COMMENT ON TRIGGER trg_learning_path_enrollments_count ON course_management.learning_path_enrollments IS
'Keeps the path''s enrollment_count and completion_count in step.';

-- ---------------------------------------------------------------------------
-- A completed course moves the learner's paths.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.advance_learning_paths()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_path_enrollment_id uuid;
BEGIN
    FOR v_path_enrollment_id IN
        SELECT pe.id
          FROM course_management.learning_path_enrollments AS pe
         WHERE pe.organization_id = NEW.organization_id
           AND pe.user_id = NEW.user_id
           AND pe.status = 'active'
           AND EXISTS (SELECT 1
                         FROM course_management.learning_path_courses AS pc
                        WHERE pc.organization_id = pe.organization_id
                          AND pc.learning_path_id = pe.learning_path_id
                          AND pc.course_id = NEW.course_id)
         ORDER BY pe.id
    LOOP
        PERFORM course_management.refresh_learning_path_progress(NEW.organization_id, v_path_enrollment_id);
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.advance_learning_paths() IS
'AFTER UPDATE OF status trigger of enrollments (trg_enrollments_advance_learning_paths), for a change to completed: recomputes every active path enrollment of the learner whose path contains the course (refresh_learning_path_progress, in id order), completing paths that reach 100 %. SECURITY DEFINER.';
REVOKE ALL ON FUNCTION course_management.advance_learning_paths() FROM PUBLIC;

CREATE TRIGGER trg_enrollments_advance_learning_paths
AFTER UPDATE OF status ON course_management.enrollments
FOR EACH ROW
WHEN (new.status = 'completed' AND old.status <> 'completed')
EXECUTE FUNCTION course_management.advance_learning_paths();
COMMENT ON TRIGGER trg_enrollments_advance_learning_paths ON course_management.enrollments IS
'A completed course advances (and may complete) the learner''s learning paths that contain it.';

ALTER TABLE course_management.learning_path_enrollments ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.learning_path_enrollments FORCE ROW LEVEL SECURITY;
