-- =============================================================================
-- V0101__create_late_penalty_function
-- Purpose:       the late-penalty rule of assignments as one pure function, used
--                by the CHECK that ties a submission's grade after penalty to
--                its grade before penalty, by the grading function and by tests.
-- Concern:       assessment.apply_late_penalty().
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Rule:          intervals = ceil(late_seconds / interval) (a started interval
--                counts); penalty % = least(percent_per_interval x intervals,
--                max_percent, 100); penalized = round(raw x (100 - penalty %) /
--                100, 2) (half away from zero); final = least(raw,
--                greatest(penalized, least(raw, floor))). So: on time = raw;
--                never above raw; never below the floor (unless raw itself is
--                below it: then raw); never increasing with lateness.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION assessment.apply_late_penalty(
    p_raw numeric,
    p_late_seconds bigint,
    p_percent_per_interval numeric,
    p_interval interval,
    p_max_percent numeric,
    p_floor numeric
)
RETURNS numeric
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_seconds numeric;
    v_intervals numeric;
    v_percent numeric;
    v_penalized numeric;
BEGIN
    IF p_raw IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_raw < 0 OR p_late_seconds < 0 OR p_percent_per_interval < 0 OR p_max_percent < 0
       OR p_max_percent > 100 OR p_floor < 0 THEN
        RAISE EXCEPTION 'late penalty arguments out of range'
              USING ERRCODE = '22023',
                    DETAIL = pg_catalog.format('raw %s, late seconds %s, percent %s, max %s, floor %s.',
                                               p_raw, p_late_seconds, p_percent_per_interval,
                                               p_max_percent, p_floor),
                    HINT = 'raw, late seconds, percent per interval and floor are >= 0; max percent is 0..100.';
    END IF;
    IF coalesce(p_late_seconds, 0) = 0 OR coalesce(p_percent_per_interval, 0) = 0 THEN
        RETURN p_raw;
    END IF;
    v_seconds := pg_catalog.date_part('epoch', p_interval);
    IF v_seconds IS NULL OR v_seconds <= 0 THEN
        RAISE EXCEPTION 'the late penalty interval must be positive'
              USING ERRCODE = '22023', DETAIL = pg_catalog.format('Interval %s.', p_interval);
    END IF;
    v_intervals := pg_catalog.ceil(p_late_seconds / v_seconds);
    v_percent := LEAST(p_percent_per_interval * v_intervals, coalesce(p_max_percent, 100), 100);
    v_penalized := pg_catalog.round(p_raw * (100 - v_percent) / 100, 2);
    RETURN LEAST(p_raw, GREATEST(v_penalized, LEAST(p_raw, coalesce(p_floor, 0))));
END
$$;
COMMENT ON FUNCTION assessment.apply_late_penalty(numeric, bigint, numeric, interval, numeric, numeric) IS
'Grade after the late penalty (pure, IMMUTABLE). intervals = ceil(late_seconds / interval), a started interval counting whole; penalty percent = least(percent_per_interval x intervals, max_percent (NULL = 100), 100); penalized = round(raw x (100 - penalty) / 100, 2); result = least(raw, greatest(penalized, least(raw, floor))) (floor NULL = 0). Hence: late_seconds 0 (or NULL) or percent 0 returns raw; the result is never above raw, never below least(raw, floor) and never increases with late_seconds. NULL raw gives NULL. 22023 for a negative argument, max_percent above 100 or a non-positive interval (when a penalty applies).';
REVOKE ALL ON FUNCTION assessment.apply_late_penalty(
    numeric, bigint, numeric, interval, numeric, numeric
) FROM PUBLIC;
-- Used in a CHECK of assignment_submissions (run with the writer's privileges)
-- and handy for the app to preview a penalty.
GRANT EXECUTE ON FUNCTION assessment.apply_late_penalty(
    numeric, bigint, numeric, interval, numeric, numeric
) TO ${app_role}, ${readonly_role};
