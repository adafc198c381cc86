-- =============================================================================
-- V0126__create_question_statistics
-- Purpose:       item analysis per assessment and question version over graded
--                attempts (how many attempts asked it, difficulty index = share
--                answered fully correct, discrimination = share correct in the
--                top 27 % of attempts by score minus the bottom 27 %, average
--                time) as a materialized view, refreshed CONCURRENTLY by
--                assessment.refresh_question_statistics() and read by staff
--                through assessment.get_question_statistics().
--                Like analytics.course_statistics (V0070): cross-tenant, owned by
--                ${maintenance_role}, which reads assessments, attempts and
--                responses through their maintenance_read policies; never granted
--                to the application roles.
-- Concern:       assessment.question_statistics and its refresh and read functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below); the objects are handed
--                to the maintenance role at the end.
-- Refresh:       SELECT * FROM assessment.refresh_question_statistics(); as the
--                owner or the migrator (cron): complete the first time, then
--                CONCURRENTLY; recorded in analytics.materialized_view_refreshes.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE MATERIALIZED VIEW assessment.question_statistics AS
WITH graded AS (
    SELECT
        t.organization_id,
        t.assessment_id,
        t.id AS attempt_id,
        row_number() OVER (
            PARTITION BY t.organization_id, t.assessment_id ORDER BY t.score_percent, t.id
        ) AS rank_ascending,
        count(*) OVER (PARTITION BY t.organization_id, t.assessment_id) AS attempt_total
    FROM assessment.assessment_attempts AS t
    WHERE t.status = 'graded'
),

grouped AS (
    SELECT
        g.organization_id,
        g.assessment_id,
        g.attempt_id,
        g.rank_ascending <= ceil(0.27 * g.attempt_total) AS in_bottom,
        g.rank_ascending > g.attempt_total - ceil(0.27 * g.attempt_total) AS in_top
    FROM graded AS g
)

SELECT
    r.organization_id,
    g.assessment_id,
    r.question_version_id,
    min(r.question_id::text)::uuid AS question_id,
    count(*) AS attempt_count,
    count(r.response) AS answered_count,
    round(avg((r.score = r.points)::integer), 4) AS difficulty_index,
    round(
        avg((r.score = r.points)::integer) FILTER (WHERE g.in_top)
        - avg((r.score = r.points)::integer) FILTER (WHERE g.in_bottom),
        4
    ) AS discrimination_index,
    round(avg(r.score / r.points), 4) AS average_score_ratio,
    round(avg(r.time_spent_seconds), 2) AS average_time_seconds,
    now() AS refreshed_at
FROM assessment.attempt_responses AS r
INNER JOIN grouped AS g
    ON r.organization_id = g.organization_id AND r.attempt_id = g.attempt_id
GROUP BY r.organization_id, g.assessment_id, r.question_version_id
WITH NO DATA;

-- REFRESH ... CONCURRENTLY needs a unique index; the view is empty (WITH NO DATA).
-- squawk-ignore require-concurrent-index-creation
CREATE UNIQUE INDEX uq_question_statistics_assessment_id_question_version_id
ON assessment.question_statistics (organization_id, assessment_id, question_version_id);
COMMENT ON INDEX assessment.uq_question_statistics_assessment_id_question_version_id IS
'One row per organization, assessment and question version; required by REFRESH MATERIALIZED VIEW CONCURRENTLY.';

COMMENT ON MATERIALIZED VIEW assessment.question_statistics IS
'Item analysis per organization, assessment and question version over the graded attempts, as of refreshed_at. Cross-tenant; owned by the maintenance role; never granted to application roles: read it through assessment.get_question_statistics() (staff of the course), refresh it with assessment.refresh_question_statistics().';
COMMENT ON COLUMN assessment.question_statistics.organization_id IS 'Tenant.';
COMMENT ON COLUMN assessment.question_statistics.assessment_id IS 'The assessment.';
COMMENT ON COLUMN assessment.question_statistics.question_version_id IS 'The question version asked.';
COMMENT ON COLUMN assessment.question_statistics.question_id IS 'Its question.';
COMMENT ON COLUMN assessment.question_statistics.attempt_count IS 'Graded attempts that drew the version.';
COMMENT ON COLUMN assessment.question_statistics.answered_count IS 'Of those, how many answered it (response not NULL).';
COMMENT ON COLUMN assessment.question_statistics.difficulty_index IS 'Share of those attempts that scored full points on it (0-1, 4 decimals): higher = easier.';
COMMENT ON COLUMN assessment.question_statistics.discrimination_index IS 'Share with full points among the top 27 % of the assessment''s graded attempts by score_percent (ceil(0.27 n) attempts, ties by attempt id) minus the share among the bottom 27 % (-1..1, 4 decimals); NULL when either group did not draw the version.';
COMMENT ON COLUMN assessment.question_statistics.average_score_ratio IS 'Average score / points (0-1, 4 decimals): partial credit included.';
COMMENT ON COLUMN assessment.question_statistics.average_time_seconds IS 'Average seconds spent on the version (attempt_responses.time_spent_seconds, 2 decimals).';
COMMENT ON COLUMN assessment.question_statistics.refreshed_at IS 'Start of the transaction of the refresh that computed the row.';

CREATE FUNCTION assessment.refresh_question_statistics()
RETURNS TABLE (
    last_refreshed_at timestamptz,
    duration_ms numeric,
    row_count bigint,
    concurrent boolean
)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_concurrent boolean;
    v_rows bigint;
    v_duration numeric;
BEGIN
    SELECT c.relispopulated INTO v_concurrent
      FROM pg_catalog.pg_class AS c
     WHERE c.oid = 'assessment.question_statistics'::pg_catalog.regclass;
    IF v_concurrent THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY assessment.question_statistics;
    ELSE
        REFRESH MATERIALIZED VIEW assessment.question_statistics;
    END IF;
    SELECT pg_catalog.count(*) INTO v_rows FROM assessment.question_statistics;
    v_duration := pg_catalog.round(
        (EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_started)
         OPERATOR(pg_catalog.*) 1000)::numeric, 3);
    PERFORM analytics.record_materialized_view_refresh(
        'assessment.question_statistics'::pg_catalog.regclass, pg_catalog.now(), v_duration, v_rows, v_concurrent);
    RETURN QUERY SELECT pg_catalog.now(), v_duration, v_rows, v_concurrent;
END
$$;
COMMENT ON FUNCTION assessment.refresh_question_statistics() IS
'Refreshes assessment.question_statistics: CONCURRENTLY when populated (readers keep reading), a complete refresh the first time; records it in analytics.materialized_view_refreshes and returns it. SECURITY DEFINER, owned by the maintenance role; executable by the owner and the migrator only.';
REVOKE ALL ON FUNCTION assessment.refresh_question_statistics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.refresh_question_statistics()
TO ${owner_role}, ${migrator_role};

CREATE FUNCTION assessment.get_question_statistics(p_assessment_id uuid)
RETURNS TABLE (
    question_version_id uuid,
    question_id uuid,
    attempt_count bigint,
    answered_count bigint,
    difficulty_index numeric,
    discrimination_index numeric,
    average_score_ratio numeric,
    average_time_seconds numeric,
    refreshed_at timestamptz
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_user_id uuid := app.current_user_id();
    v_course_id uuid;
BEGIN
    IF v_organization_id IS NULL OR v_user_id IS NULL THEN
        RAISE EXCEPTION 'no tenant or acting-user context'
              USING ERRCODE = '42501', HINT = 'Set app.organization_id and app.user_id (SET LOCAL) first.';
    END IF;
    SELECT a.course_id INTO v_course_id FROM assessment.assessments AS a
     WHERE a.organization_id = v_organization_id AND a.id = p_assessment_id;
    IF v_course_id IS NULL THEN
        RAISE EXCEPTION 'no assessment % in the organization', p_assessment_id USING ERRCODE = 'P0002';
    END IF;
    IF NOT user_management.has_permission('assessment.manage', v_course_id) THEN
        RAISE EXCEPTION 'permission assessment.manage required'
              USING ERRCODE = '42501',
                    DETAIL = pg_catalog.format('User %s lacks assessment.manage for course %s.', v_user_id, v_course_id),
                    HINT = 'Question statistics are for the staff of the course.';
    END IF;
    IF NOT (SELECT c.relispopulated FROM pg_catalog.pg_class AS c
             WHERE c.oid = 'assessment.question_statistics'::pg_catalog.regclass) THEN
        RAISE EXCEPTION 'assessment.question_statistics has not been refreshed yet'
              USING ERRCODE = '55000',
                    HINT = 'Run SELECT * FROM assessment.refresh_question_statistics(); as the owner or migrator.';
    END IF;
    RETURN QUERY
    SELECT s.question_version_id, s.question_id, s.attempt_count, s.answered_count, s.difficulty_index,
           s.discrimination_index, s.average_score_ratio, s.average_time_seconds, s.refreshed_at
      FROM assessment.question_statistics AS s
     WHERE s.organization_id = v_organization_id AND s.assessment_id = p_assessment_id
     ORDER BY s.question_version_id;
END
$$;
COMMENT ON FUNCTION assessment.get_question_statistics(uuid) IS
'Item statistics (assessment.question_statistics) of one assessment of the current organization, for its staff: assessment.manage organization-wide or for the assessment''s course, else 42501 (learners and graders without it); P0002 for an unknown assessment; 55000 before the first refresh. SECURITY DEFINER, owned by the maintenance role (the view is never granted to application roles).';
REVOKE ALL ON FUNCTION assessment.get_question_statistics(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.get_question_statistics(uuid) TO ${app_role};

-- Hand everything to the maintenance role (CREATE on the schema for these statements only).
GRANT CREATE ON SCHEMA assessment TO ${maintenance_role};
ALTER MATERIALIZED VIEW assessment.question_statistics OWNER TO ${maintenance_role};
ALTER FUNCTION assessment.refresh_question_statistics() OWNER TO ${maintenance_role};
ALTER FUNCTION assessment.get_question_statistics(uuid) OWNER TO ${maintenance_role};
REVOKE CREATE ON SCHEMA assessment FROM ${maintenance_role};
