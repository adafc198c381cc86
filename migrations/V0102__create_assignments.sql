-- =============================================================================
-- V0102__create_assignments
-- Purpose:       assignments of a course (instructions, due date, late window
--                and late-penalty policy, resubmission rule, rubric, peer
--                review settings) and per-user extensions of the due date.
-- Concern:       assessment.assignments, assessment.assignment_extensions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Windows:       effective due date = the user's extension due_at, else the
--                assignment's due_at (NULL = no due date, never late);
--                submissions are accepted until the effective cutoff =
--                greatest(effective due, the extension's allow_late_until, else
--                the assignment's allow_late_until); NULL allow_late_until = no
--                late submissions.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- assignments
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.assignments (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    course_id uuid NOT NULL,
    lesson_id uuid,
    rubric_id uuid,
    title text NOT NULL,
    instructions text,
    max_points numeric(8, 2) NOT NULL DEFAULT 100,
    passing_points numeric(8, 2),
    is_published boolean NOT NULL DEFAULT FALSE,
    available_from timestamptz,
    due_at timestamptz,
    allow_late_until timestamptz,
    late_penalty_percent numeric(5, 2) NOT NULL DEFAULT 0,
    late_penalty_interval interval NOT NULL DEFAULT '1 day',
    late_penalty_max_percent numeric(5, 2) NOT NULL DEFAULT 100,
    late_penalty_floor numeric(8, 2) NOT NULL DEFAULT 0,
    allow_resubmission boolean NOT NULL DEFAULT FALSE,
    -- A handful of attempts at most.
    -- squawk-ignore prefer-bigint-over-int
    max_attempts integer,
    peer_review_anonymous boolean NOT NULL DEFAULT TRUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_assignments PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_assignments_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_assignments_lesson_id FOREIGN KEY (organization_id, course_id, lesson_id)
    REFERENCES course_management.lessons (organization_id, course_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_assignments_rubric_id FOREIGN KEY (organization_id, rubric_id)
    REFERENCES assessment.rubrics (organization_id, id) ON DELETE RESTRICT,
    -- Target of the (organization_id, assignment_id, course_id) keys of extensions
    -- and submissions: their course is the assignment's.
    CONSTRAINT uq_assignments_organization_id_id_course_id
    UNIQUE (organization_id, id, course_id),
    CONSTRAINT ck_assignments_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT ck_assignments_instructions_length
    CHECK (char_length(instructions) BETWEEN 1 AND 50000),
    CONSTRAINT ck_assignments_max_points CHECK (max_points > 0 AND max_points <= 100000),
    CONSTRAINT ck_assignments_passing_points
    CHECK (passing_points >= 0 AND passing_points <= max_points),
    CONSTRAINT ck_assignments_due_at CHECK (due_at > available_from),
    CONSTRAINT ck_assignments_allow_late_until
    CHECK (allow_late_until IS NULL OR due_at IS NOT NULL AND allow_late_until >= due_at),
    CONSTRAINT ck_assignments_late_penalty_percent
    CHECK (late_penalty_percent BETWEEN 0 AND 100),
    CONSTRAINT ck_assignments_late_penalty_interval CHECK (late_penalty_interval >= '1 second'),
    CONSTRAINT ck_assignments_late_penalty_max_percent
    CHECK (late_penalty_max_percent BETWEEN 0 AND 100),
    CONSTRAINT ck_assignments_late_penalty_floor
    CHECK (late_penalty_floor >= 0 AND late_penalty_floor <= max_points),
    CONSTRAINT ck_assignments_max_attempts
    CHECK (max_attempts BETWEEN 1 AND 100 AND (allow_resubmission OR max_attempts = 1)),
    CONSTRAINT ck_assignments_deleted_at CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE INDEX idx_assignments_organization_id_course_id_lesson_id
ON assessment.assignments (organization_id, course_id, lesson_id);
COMMENT ON INDEX assessment.idx_assignments_organization_id_course_id_lesson_id IS
'Assignments of a course (and of a lesson): fk_assignments_course_id, fk_assignments_lesson_id.';
CREATE INDEX idx_assignments_organization_id_rubric_id
ON assessment.assignments (organization_id, rubric_id);
COMMENT ON INDEX assessment.idx_assignments_organization_id_rubric_id IS
'Supports fk_assignments_rubric_id.';

COMMENT ON TABLE assessment.assignments IS
'Assignments of a course: instructions, optional lesson and rubric, due date with an optional late window and late-penalty policy (assessment.apply_late_penalty()), resubmission rule and peer-review anonymity. Members see the published live assignments of the courses they see; graders (assessment.grade) see all of their courses; staff (assessment.manage, organization-wide or for the course) write them. Soft-deleted (deleted_at).';
COMMENT ON COLUMN assessment.assignments.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.assignments.id IS 'Assignment id (UUIDv7).';
COMMENT ON COLUMN assessment.assignments.course_id IS 'The course; fixed after INSERT.';
COMMENT ON COLUMN assessment.assignments.lesson_id IS 'Optional lesson of the course the assignment belongs to (fk_assignments_lesson_id: a lesson of the same course).';
COMMENT ON COLUMN assessment.assignments.rubric_id IS 'Optional rubric for grading and peer review: one of the course or an organization-wide one (trg_assignments_check_rubric, 23514). Snapshotted into each submission.';
COMMENT ON COLUMN assessment.assignments.title IS 'Title (1-200 characters).';
COMMENT ON COLUMN assessment.assignments.instructions IS 'Instructions for learners (1-50000 characters, e.g. Markdown).';
COMMENT ON COLUMN assessment.assignments.max_points IS 'Most points a submission can be graded (0 < max_points <= 100000); snapshotted into each submission.';
COMMENT ON COLUMN assessment.assignments.passing_points IS 'Grade (after penalty) from which a submission passes and emits assessment_passed once per learner and assignment; NULL = no pass event.';
COMMENT ON COLUMN assessment.assignments.is_published IS 'False = draft: hidden from learners, no submissions (EL060).';
COMMENT ON COLUMN assessment.assignments.available_from IS 'Submissions accepted from this time on; NULL = from publication.';
COMMENT ON COLUMN assessment.assignments.due_at IS 'Due date; submissions after it are late (late_seconds) unless the user has an extension. NULL = no due date (never late, no late window).';
COMMENT ON COLUMN assessment.assignments.allow_late_until IS 'Late submissions are accepted until this time (>= due_at), penalized by the late-penalty policy; NULL = none after the due date (EL060).';
COMMENT ON COLUMN assessment.assignments.late_penalty_percent IS 'Penalty in percent of the raw grade per started late interval (0-100; 0 = no penalty).';
COMMENT ON COLUMN assessment.assignments.late_penalty_interval IS 'Length of one late interval (>= 1 second, e.g. 1 day); a started interval counts whole.';
COMMENT ON COLUMN assessment.assignments.late_penalty_max_percent IS 'Cap of the total penalty in percent (0-100).';
COMMENT ON COLUMN assessment.assignments.late_penalty_floor IS 'Lowest grade (points) the penalty can bring a submission down to (0..max_points); a raw grade below it is not penalized.';
COMMENT ON COLUMN assessment.assignments.allow_resubmission IS 'False = one submission per learner (EL061 for a second); true = resubmissions until max_attempts and the cutoff.';
COMMENT ON COLUMN assessment.assignments.max_attempts IS 'Most submissions per learner when resubmission is allowed (1-100); NULL = unlimited (with allow_resubmission) or 1 (without).';
COMMENT ON COLUMN assessment.assignments.peer_review_anonymous IS 'Default anonymity of the peer reviews assigned for this assignment (each peer_review_assignments row keeps its own flag).';
COMMENT ON COLUMN assessment.assignments.created_at IS 'When the assignment was created (immutable).';
COMMENT ON COLUMN assessment.assignments.updated_at IS 'Last change (app.set_updated_at()).';
COMMENT ON COLUMN assessment.assignments.deleted_at IS 'Soft delete: set = withdrawn (hidden from learners, no submissions); NULL = live.';

CREATE FUNCTION assessment.check_assignment_rubric()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
BEGIN
    IF NEW.rubric_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM assessment.rubrics AS r
         WHERE r.organization_id = NEW.organization_id AND r.id = NEW.rubric_id
           AND (r.course_id IS NULL OR r.course_id = NEW.course_id)
    ) THEN
        RAISE EXCEPTION 'rubric % belongs to another course', NEW.rubric_id
              USING ERRCODE = '23514', CONSTRAINT = TG_NAME, COLUMN = 'rubric_id',
                    HINT = 'Use a rubric of the assignment''s course or an organization-wide one.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.check_assignment_rubric() IS
'AFTER INSERT OR UPDATE OF rubric_id trigger of assignments (trg_assignments_check_rubric): the rubric belongs to the assignment''s course or to the whole organization, else 23514 with the trigger as constraint. AFTER, so privilege, RLS and foreign-key errors come first.';
REVOKE ALL ON FUNCTION assessment.check_assignment_rubric() FROM PUBLIC;

CREATE TRIGGER trg_assignments_check_rubric
AFTER INSERT OR UPDATE OF rubric_id ON assessment.assignments
FOR EACH ROW EXECUTE FUNCTION assessment.check_assignment_rubric();
COMMENT ON TRIGGER trg_assignments_check_rubric ON assessment.assignments IS
'The rubric is one of the course or an organization-wide one (23514).';

-- ---------------------------------------------------------------------------
-- assignment_extensions
-- ---------------------------------------------------------------------------
CREATE TABLE assessment.assignment_extensions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    assignment_id uuid NOT NULL,
    course_id uuid NOT NULL,
    user_id uuid NOT NULL,
    due_at timestamptz NOT NULL,
    allow_late_until timestamptz,
    reason text,
    granted_by_user_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_assignment_extensions PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_assignment_extensions_assignment_id
    FOREIGN KEY (organization_id, assignment_id, course_id)
    REFERENCES assessment.assignments (organization_id, id, course_id) ON DELETE CASCADE,
    CONSTRAINT fk_assignment_extensions_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_assignment_extensions_granted_by_user_id
    FOREIGN KEY (organization_id, granted_by_user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT uq_assignment_extensions_organization_id_assignment_id_user_id
    UNIQUE (organization_id, assignment_id, user_id),
    CONSTRAINT ck_assignment_extensions_allow_late_until CHECK (allow_late_until >= due_at),
    CONSTRAINT ck_assignment_extensions_reason_length CHECK (char_length(reason) BETWEEN 1 AND 1000)
);
CREATE INDEX idx_assignment_extensions_organization_id_assignment_id_course
ON assessment.assignment_extensions (organization_id, assignment_id, course_id);
COMMENT ON INDEX assessment.idx_assignment_extensions_organization_id_assignment_id_course IS
'Supports fk_assignment_extensions_assignment_id.';
CREATE INDEX idx_assignment_extensions_organization_id_user_id
ON assessment.assignment_extensions (organization_id, user_id);
COMMENT ON INDEX assessment.idx_assignment_extensions_organization_id_user_id IS
'Supports fk_assignment_extensions_user_id (a learner''s extensions).';
CREATE INDEX idx_assignment_extensions_organization_id_granted_by_user_id
ON assessment.assignment_extensions (organization_id, granted_by_user_id);
COMMENT ON INDEX assessment.idx_assignment_extensions_organization_id_granted_by_user_id IS
'Supports fk_assignment_extensions_granted_by_user_id.';

COMMENT ON TABLE assessment.assignment_extensions IS
'Per-learner extension of an assignment: a later due date (and late window) for one user, at most one per assignment and user. Granted by graders of the course (assessment.grade; trg_assignment_extensions_guard, 42501 otherwise); the learner reads own rows. Applies to submissions made after it is granted (late_seconds is computed at submission).';
COMMENT ON COLUMN assessment.assignment_extensions.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.assignment_extensions.id IS 'Extension id (UUIDv7).';
COMMENT ON COLUMN assessment.assignment_extensions.assignment_id IS 'The assignment; fixed after INSERT.';
COMMENT ON COLUMN assessment.assignment_extensions.course_id IS 'Copy of the assignment''s course (set by trg_assignment_extensions_prepare; part of fk_assignment_extensions_assignment_id), for the course-scoped policies.';
COMMENT ON COLUMN assessment.assignment_extensions.user_id IS 'The learner who gets the extension; fixed after INSERT.';
COMMENT ON COLUMN assessment.assignment_extensions.due_at IS 'The learner''s due date (replaces the assignment''s).';
COMMENT ON COLUMN assessment.assignment_extensions.allow_late_until IS 'The learner''s late window end (>= due_at); NULL = the assignment''s allow_late_until (if later than due_at), else none.';
COMMENT ON COLUMN assessment.assignment_extensions.reason IS 'PII: why the extension was granted (1-1000 characters; may mention health or personal circumstances).';
COMMENT ON COLUMN assessment.assignment_extensions.granted_by_user_id IS 'The grader who granted or last changed it (set by trigger from app.user_id).';
COMMENT ON COLUMN assessment.assignment_extensions.created_at IS 'When it was granted (immutable).';
COMMENT ON COLUMN assessment.assignment_extensions.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION assessment.prepare_assignment_extension()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- An assignment of another organization is not found under the owner's
        -- tenant-scoped policies: row-level security refuses the row itself.
        SELECT a.course_id INTO NEW.course_id
          FROM assessment.assignments AS a
         WHERE a.organization_id = NEW.organization_id AND a.id = NEW.assignment_id;
    END IF;
    NEW.granted_by_user_id := coalesce(app.current_user_id(), NEW.granted_by_user_id);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION assessment.prepare_assignment_extension() IS
'BEFORE INSERT OR UPDATE trigger of assignment_extensions (trg_assignment_extensions_prepare): copies the assignment''s course_id on INSERT and records the acting user as granted_by_user_id. SECURITY DEFINER: the app has no privilege on those columns.';
REVOKE ALL ON FUNCTION assessment.prepare_assignment_extension() FROM PUBLIC;

CREATE TRIGGER trg_assignment_extensions_prepare
BEFORE INSERT OR UPDATE ON assessment.assignment_extensions
FOR EACH ROW EXECUTE FUNCTION assessment.prepare_assignment_extension();
COMMENT ON TRIGGER trg_assignment_extensions_prepare ON assessment.assignment_extensions IS
'Sets course_id from the assignment and granted_by_user_id from the acting user.';

CREATE FUNCTION assessment.guard_grader_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_course uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        v_course := OLD.course_id;
    ELSE
        v_course := NEW.course_id;
    END IF;
    -- Without an acting user (maintenance) the write passes; the app role
    -- cannot write without one (its policies need the user).
    IF app.current_user_id() IS NOT NULL
       AND NOT user_management.has_permission('assessment.grade', v_course) THEN
        RAISE EXCEPTION 'only graders of the course may write %', TG_TABLE_NAME
              USING ERRCODE = '42501', DETAIL = 'Missing permission: assessment.grade.',
                    HINT = 'Extensions are granted by instructors and teaching assistants of the course.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.guard_grader_write() IS
'AFTER INSERT OR UPDATE OR DELETE trigger (trg_assignment_extensions_guard): with an acting user, the write needs assessment.grade for the row''s course (organization-wide or course-scoped), else 42501 naming the permission in DETAIL. The policy also admits the learner''s own rows for reading; this keeps learners from granting themselves extensions. AFTER, so privilege, RLS, CHECK and key errors come first.';
REVOKE ALL ON FUNCTION assessment.guard_grader_write() FROM PUBLIC;

CREATE TRIGGER trg_assignment_extensions_guard
AFTER INSERT OR UPDATE OR DELETE ON assessment.assignment_extensions
FOR EACH ROW EXECUTE FUNCTION assessment.guard_grader_write();
COMMENT ON TRIGGER trg_assignment_extensions_guard ON assessment.assignment_extensions IS
'Writes need assessment.grade for the course (42501).';

ALTER TABLE assessment.assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.assignments FORCE ROW LEVEL SECURITY;
ALTER TABLE assessment.assignment_extensions ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment.assignment_extensions FORCE ROW LEVEL SECURITY;
