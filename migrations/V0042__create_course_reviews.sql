-- =============================================================================
-- V0042__create_course_reviews
-- Purpose:       learners rate and review the courses they are enrolled in; the
--                course's rating_average and rating_count follow in the same
--                transaction.
-- Concern:       course_management.course_reviews (table, enrollment guard,
--                rating aggregation, course_reviewed event).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs: EL014 (not enrolled), raised by
--                course_management.check_course_review().
-- Ratings:       recomputed from the live reviews after the course row is locked
--                (FOR NO KEY UPDATE), so concurrent reviews of one course cannot
--                lose an update (READ COMMITTED: the recount is a new statement
--                after the lock).
-- Reading:       learners see their own reviews and staff those of their courses
--                (profile course_own_rows); everybody else sees the aggregate on
--                courses. Publishing review texts to other learners is left to an
--                API (e.g. a SECURITY DEFINER listing function) when one is
--                wanted.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE course_management.course_reviews (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    course_id uuid NOT NULL,
    user_id uuid NOT NULL,
    -- A rating 1-5.
    -- squawk-ignore prefer-bigint-over-smallint
    rating smallint NOT NULL,
    body text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_course_reviews PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_course_reviews_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_course_reviews_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    -- One review per learner and course, a soft-deleted one included (it can be
    -- undeleted or edited, not duplicated).
    CONSTRAINT uq_course_reviews_organization_id_course_id_user_id
    UNIQUE (organization_id, course_id, user_id),
    CONSTRAINT ck_course_reviews_rating CHECK (rating BETWEEN 1 AND 5),
    CONSTRAINT ck_course_reviews_body_length CHECK (char_length(body) BETWEEN 1 AND 10000),
    CONSTRAINT ck_course_reviews_deleted_at CHECK (deleted_at >= created_at)
);
CREATE INDEX idx_course_reviews_organization_id_user_id
ON course_management.course_reviews (organization_id, user_id);

COMMENT ON TABLE course_management.course_reviews IS
'Ratings (1-5) and reviews of courses, one per learner and course, only by learners holding an active or completed enrollment in it (EL014). The course''s rating_average and rating_count follow the live reviews in the same transaction. The learner writes and deletes own rows; staff of the course (enrollment.view) read them. Soft-deleted (deleted_at) or deleted.';
COMMENT ON COLUMN course_management.course_reviews.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.course_reviews.id IS
'Review id (UUIDv7).';
COMMENT ON COLUMN course_management.course_reviews.course_id IS
'The course reviewed.';
COMMENT ON COLUMN course_management.course_reviews.user_id IS
'The reviewing learner (own rows only).';
COMMENT ON COLUMN course_management.course_reviews.rating IS
'Rating 1-5 (ck_course_reviews_rating).';
COMMENT ON COLUMN course_management.course_reviews.body IS
'PII: the review text (1-10000 characters), written by the learner; may contain personal opinions and names. Optional.';
COMMENT ON COLUMN course_management.course_reviews.created_at IS
'When the review was written (immutable).';
COMMENT ON COLUMN course_management.course_reviews.updated_at IS
'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN course_management.course_reviews.deleted_at IS
'Soft delete: when the review was withdrawn; NULL = live. Only live reviews count in the course rating.';

-- ---------------------------------------------------------------------------
-- Only enrolled learners review; course_reviewed event.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.check_course_review()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1
                     FROM course_management.enrollments AS e
                    WHERE e.organization_id = NEW.organization_id
                      AND e.user_id = NEW.user_id
                      AND e.course_id = NEW.course_id
                      AND e.status IN ('active', 'completed')) THEN
        RAISE EXCEPTION 'user % is not enrolled in course %', NEW.user_id, NEW.course_id
              USING ERRCODE = 'EL014',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = 'Only learners with an active or completed enrollment review a course.',
                    HINT = 'Enroll in the course first.';
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM course_management.record_learning_event(
            NEW.organization_id, NEW.user_id, 'course_reviewed', 'course_review', NEW.id,
            pg_catalog.jsonb_build_object('course_id', NEW.course_id, 'rating', NEW.rating));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.check_course_review() IS
'AFTER INSERT OR UPDATE OF course_id, user_id, deleted_at trigger of course_reviews (trg_course_reviews_check): the reviewer must hold an active or completed enrollment in the course (EL014); a new review records the course_reviewed learning event (key course_reviewed:<review id>). SECURITY DEFINER: reads enrollments whatever the writer may see.';
REVOKE ALL ON FUNCTION course_management.check_course_review() FROM PUBLIC;

CREATE TRIGGER trg_course_reviews_check
AFTER INSERT OR UPDATE OF course_id, user_id, deleted_at ON course_management.course_reviews
FOR EACH ROW
WHEN (new.deleted_at IS NULL)
EXECUTE FUNCTION course_management.check_course_review();
COMMENT ON TRIGGER trg_course_reviews_check ON course_management.course_reviews IS
'Only enrolled learners review (EL014); course_reviewed event.';

-- ---------------------------------------------------------------------------
-- courses.rating_average / rating_count
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.rate_course()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid;
    v_course_ids uuid[] := '{}'::uuid[];
    v_course_id uuid;
    v_count bigint;
    v_average numeric(3, 2);
BEGIN
    IF TG_OP = 'DELETE' THEN
        v_organization_id := OLD.organization_id;
        v_course_ids := ARRAY[OLD.course_id];
    ELSIF TG_OP = 'UPDATE' AND NEW.course_id IS DISTINCT FROM OLD.course_id THEN
        v_organization_id := NEW.organization_id;
        v_course_ids := ARRAY[OLD.course_id, NEW.course_id];
    ELSE
        v_organization_id := NEW.organization_id;
        v_course_ids := ARRAY[NEW.course_id];
    END IF;
    FOREACH v_course_id IN ARRAY v_course_ids
    LOOP
        -- Lock first, count after: see the file header. The course is gone when
        -- the review is deleted together with it.
        PERFORM 1
           FROM course_management.courses AS c
          WHERE c.organization_id = v_organization_id
            AND c.id = v_course_id
            FOR NO KEY UPDATE;
        CONTINUE WHEN NOT FOUND;
        SELECT pg_catalog.count(*), pg_catalog.round(pg_catalog.avg(r.rating), 2)
          INTO v_count, v_average
          FROM course_management.course_reviews AS r
         WHERE r.organization_id = v_organization_id
           AND r.course_id = v_course_id
           AND r.deleted_at IS NULL;
        UPDATE course_management.courses AS c
           SET rating_count = v_count,
               rating_average = v_average
         WHERE c.organization_id = v_organization_id
           AND c.id = v_course_id
           AND (c.rating_count, c.rating_average) IS DISTINCT FROM (v_count, v_average);
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION course_management.rate_course() IS
'AFTER INSERT OR UPDATE OF rating, deleted_at, course_id OR DELETE trigger of course_reviews (trg_course_reviews_rate): for the old and the new course of the row, locks the course row (FOR NO KEY UPDATE), then sets rating_count and rating_average (2 decimals; NULL without reviews) from its live reviews. SECURITY DEFINER: the app has no privilege on the course counters.';
REVOKE ALL ON FUNCTION course_management.rate_course() FROM PUBLIC;

CREATE TRIGGER trg_course_reviews_rate
AFTER INSERT OR UPDATE OF rating, deleted_at, course_id OR DELETE
ON course_management.course_reviews
FOR EACH ROW EXECUTE FUNCTION course_management.rate_course();
COMMENT ON TRIGGER trg_course_reviews_rate ON course_management.course_reviews IS
'Keeps the course''s rating_average and rating_count in step with its live reviews.';

ALTER TABLE course_management.course_reviews ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.course_reviews FORCE ROW LEVEL SECURITY;
