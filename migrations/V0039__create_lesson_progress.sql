-- =============================================================================
-- V0039__create_lesson_progress
-- Purpose:       what a learner did in each lesson of an enrollment: status,
--                time, attempts, score, playback position, and the SCORM 1.2 /
--                2004 runtime data model values of SCORM lessons.
-- Concern:       course_management.lesson_progress (table, write guards). The
--                effects of completing a lesson (enrollment progress, course
--                completion, certificate, learning events) are V0041.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs (sql/CONVENTIONS.md, "Errors"):
--                EL011 enrollment access ended (cancelled, expired, or after
--                      access_expires_at): progress refused;
--                EL012 lesson completed out of order in a sequential course or
--                      module (DETAIL lists the lessons to complete first);
--                EL013 status going backwards (completed is final).
-- Consistency:   (organization_id, enrollment_id, user_id, course_id) references
--                the enrollment and (organization_id, course_id, lesson_id) the
--                lesson: progress is always the enrollment's learner's, in a
--                lesson of the enrollment's course.
-- Locking:       every write locks its enrollment row (FOR NO KEY UPDATE: the
--                foreign-key checks of concurrent writes hold FOR KEY SHARE on
--                it, which FOR UPDATE would deadlock against), so the writes of
--                one enrollment, and their progress recomputation, run one after
--                the other.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE course_management.lesson_progress (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    enrollment_id uuid NOT NULL,
    user_id uuid NOT NULL,
    course_id uuid NOT NULL,
    lesson_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'not_started',
    started_at timestamptz,
    completed_at timestamptz,
    time_spent_seconds bigint NOT NULL DEFAULT 0,
    -- Counters and offsets of one lesson: small.
    -- squawk-ignore prefer-bigint-over-int
    attempts integer NOT NULL DEFAULT 0,
    score numeric(5, 2),
    -- squawk-ignore prefer-bigint-over-int
    last_position_seconds integer,
    lesson_status text,
    completion_status text,
    success_status text,
    score_raw numeric(12, 4),
    score_min numeric(12, 4),
    score_max numeric(12, 4),
    score_scaled numeric(5, 4),
    session_time interval,
    suspend_data text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_lesson_progress PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_lesson_progress_enrollment_id
    FOREIGN KEY (organization_id, enrollment_id, user_id, course_id)
    REFERENCES course_management.enrollments (organization_id, id, user_id, course_id)
    ON DELETE CASCADE,
    CONSTRAINT fk_lesson_progress_lesson_id FOREIGN KEY (organization_id, course_id, lesson_id)
    REFERENCES course_management.lessons (organization_id, course_id, id) ON DELETE CASCADE,
    -- One row per enrollment and lesson. user_id and course_id follow from the
    -- enrollment (foreign key above), so this is unique per (enrollment, lesson)
    -- and its leading columns also serve fk_lesson_progress_enrollment_id.
    CONSTRAINT uq_lesson_progress_enrollment_id_lesson_id
    UNIQUE (organization_id, enrollment_id, user_id, course_id, lesson_id),
    CONSTRAINT ck_lesson_progress_status
    CHECK (status IN ('not_started', 'in_progress', 'completed')),
    CONSTRAINT ck_lesson_progress_started_at
    CHECK (status = 'not_started' OR started_at IS NOT NULL),
    CONSTRAINT ck_lesson_progress_completed_at
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CONSTRAINT ck_lesson_progress_completed_after_started CHECK (completed_at >= started_at),
    CONSTRAINT ck_lesson_progress_time_spent_seconds CHECK (time_spent_seconds >= 0),
    CONSTRAINT ck_lesson_progress_attempts CHECK (attempts BETWEEN 0 AND 100000),
    CONSTRAINT ck_lesson_progress_score CHECK (score BETWEEN 0 AND 100),
    CONSTRAINT ck_lesson_progress_last_position_seconds CHECK (last_position_seconds >= 0),
    -- SCORM 1.2 cmi.core.lesson_status
    CONSTRAINT ck_lesson_progress_lesson_status
    CHECK (
        lesson_status IN (
            'passed', 'completed', 'failed', 'incomplete', 'browsed', 'not attempted'
        )
    ),
    -- SCORM 2004 cmi.completion_status and cmi.success_status
    CONSTRAINT ck_lesson_progress_completion_status
    CHECK (completion_status IN ('completed', 'incomplete', 'not attempted', 'unknown')),
    CONSTRAINT ck_lesson_progress_success_status
    CHECK (success_status IN ('passed', 'failed', 'unknown')),
    CONSTRAINT ck_lesson_progress_score_range
    CHECK (score_min <= score_max AND score_raw >= score_min AND score_raw <= score_max),
    CONSTRAINT ck_lesson_progress_score_scaled CHECK (score_scaled BETWEEN -1 AND 1),
    CONSTRAINT ck_lesson_progress_session_time CHECK (session_time >= interval '0'),
    CONSTRAINT ck_lesson_progress_suspend_data_length CHECK (char_length(suspend_data) <= 64000)
);

CREATE INDEX idx_lesson_progress_organization_id_course_id_lesson_id
ON course_management.lesson_progress (organization_id, course_id, lesson_id);
CREATE INDEX idx_lesson_progress_organization_id_user_id
ON course_management.lesson_progress (organization_id, user_id);

COMMENT ON TABLE course_management.lesson_progress IS
'A learner''s progress in one lesson of an enrollment (one row per enrollment and lesson): status not_started -> in_progress -> completed (never backwards, EL013), time, attempts, score, playback position and the SCORM runtime values. Written by the learner (own rows); staff of the course (enrollment.view) read them. Refused when the enrollment is cancelled or expired or its access period is over (EL011) and for deleted lessons (P0002); completing out of order in a sequential course or module is refused (EL012). Completing a lesson recomputes the enrollment''s progress and may complete the course (V0041).';
COMMENT ON COLUMN course_management.lesson_progress.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.lesson_progress.id IS
'Progress row id (UUIDv7); source_id of the lesson_completed learning event.';
COMMENT ON COLUMN course_management.lesson_progress.enrollment_id IS
'The enrollment (with user_id and course_id: fk_lesson_progress_enrollment_id).';
COMMENT ON COLUMN course_management.lesson_progress.user_id IS
'The learner: the enrollment''s (foreign key); the learner writes only own rows.';
COMMENT ON COLUMN course_management.lesson_progress.course_id IS
'The course: the enrollment''s and the lesson''s (both foreign keys); lets course staff policies filter without a join.';
COMMENT ON COLUMN course_management.lesson_progress.lesson_id IS
'The lesson, one of the course''s (fk_lesson_progress_lesson_id).';
COMMENT ON COLUMN course_management.lesson_progress.status IS
'not_started, in_progress or completed; only forward (EL013). Completing is checked against sequential order (EL012) and triggers the course progress update.';
COMMENT ON COLUMN course_management.lesson_progress.started_at IS
'When the lesson was first started (set by trigger when status leaves not_started; no app privilege).';
COMMENT ON COLUMN course_management.lesson_progress.completed_at IS
'When the lesson was completed (set by trigger; set exactly while completed; no app privilege).';
COMMENT ON COLUMN course_management.lesson_progress.time_spent_seconds IS
'Total time spent in the lesson, seconds (>= 0), accumulated by the app.';
COMMENT ON COLUMN course_management.lesson_progress.attempts IS
'Number of attempts (0-100000), e.g. quiz or SCORM sessions.';
COMMENT ON COLUMN course_management.lesson_progress.score IS
'Score of the lesson in percent, 0.00-100.00; optional.';
COMMENT ON COLUMN course_management.lesson_progress.last_position_seconds IS
'Playback position to resume a video or audio lesson, seconds (>= 0); optional.';
COMMENT ON COLUMN course_management.lesson_progress.lesson_status IS
'SCORM 1.2 cmi.core.lesson_status: passed, completed, failed, incomplete, browsed or not attempted; NULL for other lessons.';
COMMENT ON COLUMN course_management.lesson_progress.completion_status IS
'SCORM 2004 cmi.completion_status: completed, incomplete, not attempted or unknown; NULL for other lessons.';
COMMENT ON COLUMN course_management.lesson_progress.success_status IS
'SCORM 2004 cmi.success_status: passed, failed or unknown; NULL for other lessons.';
COMMENT ON COLUMN course_management.lesson_progress.score_raw IS
'SCORM cmi.score.raw (1.2: cmi.core.score.raw), between score_min and score_max when those are set.';
COMMENT ON COLUMN course_management.lesson_progress.score_min IS
'SCORM cmi.score.min, <= score_max.';
COMMENT ON COLUMN course_management.lesson_progress.score_max IS
'SCORM cmi.score.max, >= score_min.';
COMMENT ON COLUMN course_management.lesson_progress.score_scaled IS
'SCORM 2004 cmi.score.scaled, -1.0000 to 1.0000.';
COMMENT ON COLUMN course_management.lesson_progress.session_time IS
'SCORM cmi.session_time of the last session (1.2: cmi.core.session_time), >= 0.';
COMMENT ON COLUMN course_management.lesson_progress.suspend_data IS
'SCORM cmi.suspend_data: the SCO''s opaque resume state, at most 64000 characters (SCORM 2004 4th edition; 1.2 allows 4096).';
COMMENT ON COLUMN course_management.lesson_progress.created_at IS
'When the row was created (immutable).';
COMMENT ON COLUMN course_management.lesson_progress.updated_at IS
'When the row last changed (maintained by trigger).';

-- ---------------------------------------------------------------------------
-- Status only forward; started_at / completed_at (column protection: BEFORE).
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.stamp_lesson_progress()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (CASE NEW.status WHEN 'not_started' THEN 0 WHEN 'in_progress' THEN 1 ELSE 2 END)
           < (CASE OLD.status WHEN 'not_started' THEN 0 WHEN 'in_progress' THEN 1 ELSE 2 END) THEN
            RAISE EXCEPTION 'lesson progress cannot go back from % to %', OLD.status, NEW.status
                  USING ERRCODE = 'EL013',
                        SCHEMA = TG_TABLE_SCHEMA,
                        TABLE = TG_TABLE_NAME,
                        COLUMN = 'status',
                        CONSTRAINT = TG_NAME,
                        HINT = 'A completed lesson stays completed; count another try in attempts.';
        END IF;
        NEW.started_at := OLD.started_at;
        NEW.completed_at := OLD.completed_at;
    END IF;
    IF NEW.status <> 'not_started' AND NEW.started_at IS NULL THEN
        NEW.started_at := pg_catalog.now();
    END IF;
    IF NEW.status = 'completed' AND NEW.completed_at IS NULL THEN
        NEW.completed_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION course_management.stamp_lesson_progress() IS
'BEFORE INSERT OR UPDATE trigger of lesson_progress (trg_lesson_progress_stamp): status never goes back (not_started < in_progress < completed; EL013 on column status); started_at is set when status first leaves not_started and completed_at when it becomes completed, and never change afterwards (values sent by a client on UPDATE are ignored).';
REVOKE ALL ON FUNCTION course_management.stamp_lesson_progress() FROM PUBLIC;

CREATE TRIGGER trg_lesson_progress_stamp
BEFORE INSERT OR UPDATE ON course_management.lesson_progress
FOR EACH ROW EXECUTE FUNCTION course_management.stamp_lesson_progress();
COMMENT ON TRIGGER trg_lesson_progress_stamp ON course_management.lesson_progress IS
'Status only forward (EL013); started_at and completed_at set once.';

-- ---------------------------------------------------------------------------
-- Access period, live lesson, sequential order.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.check_lesson_progress()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_enrollment record;
    v_lesson record;
    v_any_required boolean;
    v_blocking text;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW OPERATOR(pg_catalog.*=) OLD THEN
        RETURN NULL;
    END IF;
    -- Serialise the writes of one enrollment (see the file header).
    SELECT e.status, e.access_expires_at
      INTO v_enrollment
      FROM course_management.enrollments AS e
     WHERE e.organization_id = NEW.organization_id
       AND e.id = NEW.enrollment_id
       FOR NO KEY UPDATE;
    IF v_enrollment.status NOT IN ('active', 'completed')
       OR v_enrollment.access_expires_at <= pg_catalog.now() THEN
        RAISE EXCEPTION 'enrollment % gives no access any more: progress is not recorded', NEW.enrollment_id
              USING ERRCODE = 'EL011',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = CASE
                                 WHEN v_enrollment.status NOT IN ('active', 'completed')
                                     THEN pg_catalog.format('The enrollment is %s.', v_enrollment.status)
                                 ELSE pg_catalog.format('Access ended at %s.',
                                                        pg_catalog.to_char(v_enrollment.access_expires_at
                                                                           AT TIME ZONE 'UTC',
                                                                           'YYYY-MM-DD HH24:MI:SS "UTC"'))
                             END,
                    HINT = 'Staff holding enrollment.manage can extend or reactivate the enrollment.';
    END IF;

    SELECT l.title, l.position, l.module_id, l.is_required, l.deleted_at AS lesson_deleted_at,
           m.position AS module_position, m.sequential_unlock, m.deleted_at AS module_deleted_at,
           c.sequential
      INTO v_lesson
      FROM course_management.lessons AS l
      JOIN course_management.modules AS m
        ON m.organization_id = l.organization_id
       AND m.id = l.module_id
      JOIN course_management.courses AS c
        ON c.organization_id = l.organization_id
       AND c.id = l.course_id
     WHERE l.organization_id = NEW.organization_id
       AND l.id = NEW.lesson_id;
    IF v_lesson.lesson_deleted_at IS NOT NULL OR v_lesson.module_deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'lesson % is no longer part of the course', NEW.lesson_id
              USING ERRCODE = 'P0002',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = 'The lesson or its module was deleted.';
    END IF;

    IF NEW.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status <> 'completed')
       AND (v_lesson.sequential OR v_lesson.sequential_unlock) THEN
        -- Required lessons gate; when the course marks none as required, all do.
        SELECT EXISTS (SELECT 1
                         FROM course_management.lessons AS rl
                         JOIN course_management.modules AS rm
                           ON rm.organization_id = rl.organization_id
                          AND rm.id = rl.module_id
                        WHERE rl.organization_id = NEW.organization_id
                          AND rl.course_id = NEW.course_id
                          AND rl.is_required
                          AND rl.deleted_at IS NULL
                          AND rm.deleted_at IS NULL)
          INTO v_any_required;
        SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s)', pl.title, pl.id), ', '
                                     ORDER BY pm.position, pl.position)
          INTO v_blocking
          FROM course_management.lessons AS pl
          JOIN course_management.modules AS pm
            ON pm.organization_id = pl.organization_id
           AND pm.id = pl.module_id
         WHERE pl.organization_id = NEW.organization_id
           AND pl.course_id = NEW.course_id
           AND pl.deleted_at IS NULL
           AND pm.deleted_at IS NULL
           AND (pl.is_required OR NOT v_any_required)
           AND CASE
                   WHEN v_lesson.sequential
                       THEN (pm.position, pl.position) < (v_lesson.module_position, v_lesson.position)
                   ELSE pl.module_id = v_lesson.module_id AND pl.position < v_lesson.position
               END
           AND NOT EXISTS (SELECT 1
                             FROM course_management.lesson_progress AS lp
                            WHERE lp.organization_id = NEW.organization_id
                              AND lp.enrollment_id = NEW.enrollment_id
                              AND lp.user_id = NEW.user_id
                              AND lp.course_id = NEW.course_id
                              AND lp.lesson_id = pl.id
                              AND lp.status = 'completed');
        IF v_blocking IS NOT NULL THEN
            RAISE EXCEPTION 'lesson % cannot be completed before the lessons before it', NEW.lesson_id
                  USING ERRCODE = 'EL012',
                        SCHEMA = TG_TABLE_SCHEMA,
                        TABLE = TG_TABLE_NAME,
                        CONSTRAINT = TG_NAME,
                        DETAIL = 'Complete first: ' || v_blocking || '.',
                        HINT = CASE WHEN v_lesson.sequential THEN 'The course is taken in order.'
                                    ELSE 'The module is taken in order.' END;
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.check_lesson_progress() IS
'AFTER INSERT OR UPDATE trigger of lesson_progress (trg_lesson_progress_check): for every real change, locks the enrollment row (FOR NO KEY UPDATE; writes of one enrollment run one after the other), then refuses progress when the enrollment is not active or completed, or its access_expires_at has passed (EL011, DETAIL says which), and when the lesson or its module is soft-deleted (P0002). A lesson that becomes completed in a sequential course (courses.sequential: every earlier lesson of the course, by module then lesson position) or module (modules.sequential_unlock: earlier lessons of the module) needs every earlier required lesson (every earlier lesson when none is required) completed in this enrollment: EL012 with the missing ones in DETAIL. AFTER: privilege, policy (own rows), CHECK, unique and foreign-key errors come first. SECURITY DEFINER: reads enrollment, outline and progress whatever the writer may see.';
REVOKE ALL ON FUNCTION course_management.check_lesson_progress() FROM PUBLIC;

CREATE TRIGGER trg_lesson_progress_check
AFTER INSERT OR UPDATE ON course_management.lesson_progress
FOR EACH ROW EXECUTE FUNCTION course_management.check_lesson_progress();
COMMENT ON TRIGGER trg_lesson_progress_check ON course_management.lesson_progress IS
'Access period (EL011), live lesson (P0002), sequential order (EL012); serialised per enrollment.';

ALTER TABLE course_management.lesson_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.lesson_progress FORCE ROW LEVEL SECURITY;
