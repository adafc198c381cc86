-- =============================================================================
-- V0070__create_course_statistics
-- Purpose:       per-course learning statistics of every organization
--                (enrollments, active learners, average progress, completions,
--                completion rate, ratings) as a materialized view, refreshed
--                by analytics.refresh_course_statistics() and read by the
--                application through analytics.get_course_statistics(), which
--                filters to the caller's organization and to the courses the
--                caller may analyse.
--                Cross-tenant by nature: the view, its refresh function and its
--                read function belong to ${maintenance_role} (V0060), which
--                reads courses, enrollments, lesson_progress and course_reviews
--                through its SELECT USING (TRUE) policies (manifest
--                maintenance_read). FORCE RLS would filter the owner to one
--                tenant (none, in a refresh without context).
--                The view is never granted to the application roles (DESIGN.md
--                section 4): its only readers are the functions below.
-- Concern:       analytics.course_statistics and its refresh and read functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below); the objects are handed
--                to the maintenance role at the end (the owner is a member).
-- Refresh:       SELECT * FROM analytics.refresh_course_statistics(); as the
--                owner or the migrator (e.g. from cron every few minutes): the
--                first refresh populates the view (created WITH NO DATA: as the
--                owner the query would see no rows), later ones run
--                CONCURRENTLY (readers are never blocked). Each refresh is
--                recorded in analytics.materialized_view_refreshes. CONCURRENTLY
--                needs TEMPORARY on the database for the maintenance role
--                (V0071).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE MATERIALIZED VIEW analytics.course_statistics AS
WITH activity AS (
    -- Latest progress write per enrollment: recording progress is an access too.
    SELECT
        lp.organization_id,
        lp.enrollment_id,
        max(lp.updated_at) AS last_activity_at
    FROM course_management.lesson_progress AS lp
    GROUP BY lp.organization_id, lp.enrollment_id
),

enrollment_figures AS (
    SELECT
        e.organization_id,
        e.course_id,
        count(*) AS enrollment_count,
        count(*) FILTER (
            WHERE greatest(e.last_accessed_at, a.last_activity_at) >= now() - interval '30 days'
        ) AS active_learner_count,
        round(avg(e.progress_percent), 2) AS average_progress_percent,
        count(*) FILTER (WHERE e.status = 'completed') AS completion_count
    FROM course_management.enrollments AS e
    LEFT JOIN activity AS a
        ON e.organization_id = a.organization_id AND e.id = a.enrollment_id
    WHERE e.status <> 'cancelled'
    GROUP BY e.organization_id, e.course_id
),

review_figures AS (
    SELECT
        r.organization_id,
        r.course_id,
        count(*) AS rating_count,
        round(avg(r.rating), 2) AS average_rating
    FROM course_management.course_reviews AS r
    WHERE r.deleted_at IS NULL
    GROUP BY r.organization_id, r.course_id
)

SELECT
    c.organization_id,
    c.id AS course_id,
    ef.average_progress_percent,
    rf.average_rating,
    coalesce(ef.enrollment_count, 0) AS enrollment_count,
    coalesce(ef.active_learner_count, 0) AS active_learner_count,
    coalesce(ef.completion_count, 0) AS completion_count,
    round(100.0 * ef.completion_count / ef.enrollment_count, 2) AS completion_rate_percent,
    coalesce(rf.rating_count, 0) AS rating_count,
    now() AS refreshed_at
FROM course_management.courses AS c
LEFT JOIN enrollment_figures AS ef
    ON c.organization_id = ef.organization_id AND c.id = ef.course_id
LEFT JOIN review_figures AS rf
    ON c.organization_id = rf.organization_id AND c.id = rf.course_id
WHERE c.deleted_at IS NULL
WITH NO DATA;

-- REFRESH ... CONCURRENTLY needs a unique index on plain columns covering every row.
-- The view was created above, WITH NO DATA: nothing to block.
-- squawk-ignore require-concurrent-index-creation
CREATE UNIQUE INDEX uq_course_statistics_organization_id_course_id
ON analytics.course_statistics (organization_id, course_id);

COMMENT ON MATERIALIZED VIEW analytics.course_statistics IS
'Per organization and live course (soft-deleted courses left out): enrollments, active learners, average progress, completions, completion rate and ratings, as of refreshed_at. Cross-tenant; owned by the maintenance role; never granted to application roles: read it through analytics.get_course_statistics(), refresh it with analytics.refresh_course_statistics(). Enrollments counted are those not cancelled (active, completed, expired), as courses.enrollment_count.';
COMMENT ON COLUMN analytics.course_statistics.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN analytics.course_statistics.course_id IS
'The course (course_management.courses).';
COMMENT ON COLUMN analytics.course_statistics.enrollment_count IS
'Enrollments that are not cancelled (active, completed, expired).';
COMMENT ON COLUMN analytics.course_statistics.active_learner_count IS
'Enrollments not cancelled whose learner accessed the course in the 30 days before refreshed_at: enrollments.last_accessed_at or the latest lesson_progress write of the enrollment (updated_at), whichever is later.';
COMMENT ON COLUMN analytics.course_statistics.average_progress_percent IS
'Average enrollments.progress_percent of the enrollments not cancelled, rounded to 2 decimals; NULL without any.';
COMMENT ON COLUMN analytics.course_statistics.completion_count IS
'Completed enrollments.';
COMMENT ON COLUMN analytics.course_statistics.completion_rate_percent IS
'completion_count / enrollment_count * 100, rounded to 2 decimals; NULL without enrollments.';
COMMENT ON COLUMN analytics.course_statistics.average_rating IS
'Average rating (1-5) of the live reviews (course_reviews without deleted_at), rounded to 2 decimals; NULL without any.';
COMMENT ON COLUMN analytics.course_statistics.rating_count IS
'Live reviews.';
COMMENT ON COLUMN analytics.course_statistics.refreshed_at IS
'Start of the transaction of the refresh that computed the row (the same for every row).';

-- ---------------------------------------------------------------------------
-- Refresh
-- ---------------------------------------------------------------------------
CREATE FUNCTION analytics.refresh_course_statistics()
RETURNS TABLE (
    last_refreshed_at timestamptz,
    duration_ms numeric,
    row_count bigint,
    concurrent boolean
)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = analytics, pg_temp
AS $$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_concurrent boolean;
    v_rows bigint;
    v_duration numeric;
BEGIN
    SELECT c.relispopulated INTO v_concurrent
      FROM pg_catalog.pg_class AS c
     WHERE c.oid = 'analytics.course_statistics'::pg_catalog.regclass;
    IF v_concurrent THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.course_statistics;
    ELSE
        -- Never populated: CONCURRENTLY is refused on an unpopulated view.
        REFRESH MATERIALIZED VIEW analytics.course_statistics;
    END IF;
    SELECT pg_catalog.count(*) INTO v_rows FROM analytics.course_statistics;
    v_duration := pg_catalog.round(
        (EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_started)
         OPERATOR(pg_catalog.*) 1000)::numeric, 3);
    PERFORM analytics.record_materialized_view_refresh(
        'analytics.course_statistics'::pg_catalog.regclass, pg_catalog.now(), v_duration, v_rows, v_concurrent);
    RETURN QUERY SELECT pg_catalog.now(), v_duration, v_rows, v_concurrent;
END
$$;
COMMENT ON FUNCTION analytics.refresh_course_statistics() IS
'Refreshes analytics.course_statistics: CONCURRENTLY when it is populated (readers keep reading; ExclusiveLock, so concurrent refreshes queue), a complete refresh the first time. Records the refresh (time = start of the transaction, as refreshed_at in the view; duration; rows; concurrently or not) in analytics.materialized_view_refreshes and returns it. SECURITY DEFINER, owned by the maintenance role (the view''s owner, admitted by the maintenance_read policies of the tables it reads); executable by the owner and the migrator only, never by the application.';
REVOKE ALL ON FUNCTION analytics.refresh_course_statistics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics.refresh_course_statistics() TO ${owner_role}, ${migrator_role};

-- ---------------------------------------------------------------------------
-- Tenant-filtered read access
-- ---------------------------------------------------------------------------
CREATE FUNCTION analytics.get_course_statistics(p_course_id uuid DEFAULT NULL)
RETURNS TABLE (
    course_id uuid,
    enrollment_count bigint,
    active_learner_count bigint,
    average_progress_percent numeric,
    completion_count bigint,
    completion_rate_percent numeric,
    average_rating numeric,
    rating_count bigint,
    refreshed_at timestamptz
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = analytics, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_user_id uuid := app.current_user_id();
    v_all boolean;
    v_course_ids uuid[];
BEGIN
    IF v_organization_id IS NULL OR v_user_id IS NULL THEN
        RAISE EXCEPTION 'no tenant or acting-user context'
              USING ERRCODE = '42501',
                    HINT = 'Set app.organization_id and app.user_id (SET LOCAL) first.';
    END IF;
    -- Who may see a course's statistics: analytics.view or staff of the course
    -- (course.update, as the courses policy), organization-wide or for the course.
    v_all := user_management.has_permission('analytics.view')
             OR user_management.has_permission('course.update');
    v_course_ids := user_management.permitted_course_ids('analytics.view')
                    OPERATOR(pg_catalog.||) user_management.permitted_course_ids('course.update');
    IF NOT v_all AND (pg_catalog.cardinality(v_course_ids) = 0
                      OR (p_course_id IS NOT NULL AND NOT p_course_id = ANY (v_course_ids))) THEN
        RAISE EXCEPTION 'permission analytics.view or course.update required'
              USING ERRCODE = '42501',
                    DETAIL = pg_catalog.format('User %s holds neither analytics.view nor course.update%s.',
                                               v_user_id,
                                               CASE WHEN p_course_id IS NULL THEN ' for any course'
                                                    ELSE ' for course ' OPERATOR(pg_catalog.||) p_course_id::text
                                               END),
                    HINT = 'Course statistics are for staff of the course and holders of analytics.view.';
    END IF;
    IF NOT (SELECT c.relispopulated FROM pg_catalog.pg_class AS c
             WHERE c.oid = 'analytics.course_statistics'::pg_catalog.regclass) THEN
        RAISE EXCEPTION 'analytics.course_statistics has not been refreshed yet'
              USING ERRCODE = '55000',
                    HINT = 'Run SELECT * FROM analytics.refresh_course_statistics(); as the owner or migrator.';
    END IF;
    RETURN QUERY
    SELECT s.course_id, s.enrollment_count, s.active_learner_count, s.average_progress_percent,
           s.completion_count, s.completion_rate_percent, s.average_rating, s.rating_count,
           s.refreshed_at
      FROM analytics.course_statistics AS s
     WHERE s.organization_id = v_organization_id
       AND (p_course_id IS NULL OR s.course_id = p_course_id)
       AND (v_all OR s.course_id = ANY (v_course_ids))
     ORDER BY s.course_id;
END
$$;
COMMENT ON FUNCTION analytics.get_course_statistics(uuid) IS
'Statistics (analytics.course_statistics) of the current organization''s courses that the acting user may analyse: every course with analytics.view or course.update organization-wide, else the courses of their course-scoped grants of either; one course with p_course_id. 42501 (with DETAIL and HINT) without tenant or user context, for a user who may analyse no course (a learner), or for a p_course_id they may not analyse; 55000 before the first refresh. A course of another organization or a deleted one simply has no row. SECURITY DEFINER, owned by the maintenance role (the view is never granted to application roles).';
REVOKE ALL ON FUNCTION analytics.get_course_statistics(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics.get_course_statistics(uuid) TO ${app_role}, ${readonly_role};

-- ---------------------------------------------------------------------------
-- Hand everything to the maintenance role. ALTER ... OWNER TO needs the new
-- owner to hold CREATE on the schema: granted for these statements only (same
-- transaction), so the maintenance role never creates anything itself.
-- ---------------------------------------------------------------------------
GRANT CREATE ON SCHEMA analytics TO ${maintenance_role};
ALTER MATERIALIZED VIEW analytics.course_statistics OWNER TO ${maintenance_role};
ALTER FUNCTION analytics.refresh_course_statistics() OWNER TO ${maintenance_role};
ALTER FUNCTION analytics.get_course_statistics(uuid) OWNER TO ${maintenance_role};
REVOKE CREATE ON SCHEMA analytics FROM ${maintenance_role};
