-- =============================================================================
-- V0069__create_materialized_view_refreshes
-- Purpose:       bookkeeping of materialized view refreshes: when each view was
--                last refreshed, how long it took, how many rows it holds. The
--                application and reporting read it (e.g. "statistics as of ...",
--                alerting on stale views).
-- Concern:       analytics.materialized_view_refreshes and its one writer.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        only analytics.record_materialized_view_refresh() (SECURITY
--                DEFINER, owner), which only the maintenance role may execute:
--                the refresh functions it owns call it. The maintenance role
--                itself keeps no write privilege on any table (V0060), so the
--                table is a global catalog (manifest profile global_read:
--                everyone reads, the owner writes).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE analytics.materialized_view_refreshes (
    view_name text NOT NULL,
    last_refreshed_at timestamptz NOT NULL,
    duration_ms numeric(12, 3) NOT NULL,
    row_count bigint NOT NULL,
    concurrent boolean NOT NULL DEFAULT FALSE,
    refresh_count bigint NOT NULL DEFAULT 1,
    CONSTRAINT pk_materialized_view_refreshes PRIMARY KEY (view_name),
    CONSTRAINT ck_materialized_view_refreshes_view_name_format
    CHECK (view_name ~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$' AND octet_length(view_name) <= 127),
    CONSTRAINT ck_materialized_view_refreshes_duration_ms CHECK (duration_ms >= 0),
    CONSTRAINT ck_materialized_view_refreshes_row_count CHECK (row_count >= 0),
    CONSTRAINT ck_materialized_view_refreshes_refresh_count CHECK (refresh_count >= 1)
);

COMMENT ON TABLE analytics.materialized_view_refreshes IS
'One row per materialized view: its last refresh (when, how long, rows, concurrently or not) and how many refreshes were recorded. Global (no tenant data): every role reads it; written only by analytics.record_materialized_view_refresh(), called by the refresh functions of the maintenance role.';
COMMENT ON COLUMN analytics.materialized_view_refreshes.view_name IS
'Schema-qualified name of the materialized view, e.g. analytics.course_statistics.';
COMMENT ON COLUMN analytics.materialized_view_refreshes.last_refreshed_at IS
'When the last refresh started (its data is as of this time, give or take its duration).';
COMMENT ON COLUMN analytics.materialized_view_refreshes.duration_ms IS
'How long the last refresh took, in milliseconds (wall clock inside the refresh function).';
COMMENT ON COLUMN analytics.materialized_view_refreshes.row_count IS
'Rows in the materialized view after the last refresh.';
COMMENT ON COLUMN analytics.materialized_view_refreshes.concurrent IS
'True = the last refresh ran CONCURRENTLY (readers were not blocked); false = a complete refresh (the first one, of an unpopulated view).';
COMMENT ON COLUMN analytics.materialized_view_refreshes.refresh_count IS
'Number of refreshes recorded for the view.';

CREATE FUNCTION analytics.record_materialized_view_refresh(
    p_view regclass,
    p_started_at timestamptz,
    p_duration_ms numeric,
    p_row_count bigint,
    p_concurrent boolean
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = analytics, pg_temp
AS $$
DECLARE
    v_name text;
BEGIN
    SELECT n.nspname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c.relname
      INTO v_name
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
     WHERE c.oid = p_view
       AND c.relkind = 'm';
    IF v_name IS NULL OR p_started_at IS NULL OR p_duration_ms IS NULL
       OR p_row_count IS NULL OR p_concurrent IS NULL THEN
        RAISE EXCEPTION 'a materialized view and every figure of its refresh are required'
              USING ERRCODE = '22023';
    END IF;
    INSERT INTO analytics.materialized_view_refreshes AS r (
        view_name, last_refreshed_at, duration_ms, row_count, concurrent, refresh_count)
    VALUES (v_name, p_started_at, pg_catalog.round(p_duration_ms, 3), p_row_count, p_concurrent, 1)
    ON CONFLICT (view_name) DO UPDATE
    SET last_refreshed_at = excluded.last_refreshed_at,
        duration_ms = excluded.duration_ms,
        row_count = excluded.row_count,
        concurrent = excluded.concurrent,
        refresh_count = r.refresh_count OPERATOR(pg_catalog.+) 1;
END
$$;
COMMENT ON FUNCTION analytics.record_materialized_view_refresh(regclass, timestamptz, numeric, bigint, boolean) IS
'Records a refresh of the materialized view p_view in analytics.materialized_view_refreshes (upsert by view name; refresh_count + 1). 22023 for a relation that is not a materialized view or a NULL figure. SECURITY DEFINER (owner): the maintenance role, which owns the refresh functions and has no write privilege on any table, may execute it; nobody else.';
REVOKE ALL ON FUNCTION analytics.record_materialized_view_refresh(
    regclass, timestamptz, numeric, bigint, boolean
) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics.record_materialized_view_refresh(
    regclass, timestamptz, numeric, bigint, boolean
) TO ${maintenance_role};

ALTER TABLE analytics.materialized_view_refreshes ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics.materialized_view_refreshes FORCE ROW LEVEL SECURITY;
