-- =============================================================================
-- V0098__create_refresh_due_leaderboards
-- Purpose:       the cross-tenant leaderboard worker: refresh_due_leaderboards()
--                finds the boards of every organization that are due (never
--                refreshed, older than their refresh_interval, or a new period
--                began) and refreshes each inside its own organization's
--                context. Owned by ${maintenance_role} (V0060), which reads
--                leaderboards and leaderboard_periods of every tenant through
--                its SELECT USING (TRUE) policies (manifest maintenance_read)
--                and writes nothing itself: the writing is done by the owner's
--                apply_leaderboard_refresh() under the board's tenant context,
--                where the owner's tenant-scoped policies admit it.
-- Concern:       one function (the leaderboard refresh worker).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below); the function is handed
--                to the maintenance role at the end.
-- Schedule:      SELECT gamification.refresh_due_leaderboards(20); as the owner
--                or the migrator (cron every minute, repeated while it returns
--                the limit). Workers may run side by side: a board another
--                refresh holds is skipped (SKIP LOCKED), not waited for.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION gamification.refresh_due_leaderboards(p_limit integer DEFAULT 20)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_prev_org text := pg_catalog.current_setting('app.organization_id', TRUE);
    v_prev_user text := pg_catalog.current_setting('app.user_id', TRUE);
    v_board record;
    v_done integer := 0;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
        RAISE EXCEPTION 'p_limit must be 1..1000' USING ERRCODE = '22023';
    END IF;
    FOR v_board IN
        SELECT b.organization_id, b.id
          FROM gamification.leaderboards AS b
          LEFT JOIN LATERAL (
                SELECT p.period_start, p.refreshed_at
                  FROM gamification.leaderboard_periods AS p
                 WHERE p.organization_id = b.organization_id AND p.leaderboard_id = b.id
                 ORDER BY p.period_start DESC
                 LIMIT 1) AS last ON TRUE
         WHERE b.active
           AND (last.refreshed_at IS NULL
                OR last.refreshed_at OPERATOR(pg_catalog.+) b.refresh_interval <= pg_catalog.now()
                OR last.period_start < (
                       SELECT k.period_start
                         FROM gamification.leaderboard_period_bounds(b.period, b.timezone, pg_catalog.now()) AS k))
         ORDER BY last.refreshed_at NULLS FIRST, b.organization_id, b.id
         LIMIT p_limit
    LOOP
        -- The board's tenant, no acting user: the owner's policies admit exactly this organization.
        PERFORM pg_catalog.set_config('app.organization_id', v_board.organization_id::text, TRUE),
                pg_catalog.set_config('app.user_id', '', TRUE);
        BEGIN
            -- NULL when skipped (a row IS NOT NULL only when every field is: test the key).
            IF (gamification.apply_leaderboard_refresh(v_board.id, TRUE)).id IS NOT NULL THEN
                v_done := v_done OPERATOR(pg_catalog.+) 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            -- One broken board must not starve the others (it is retried next time).
            RAISE WARNING 'leaderboard % of organization % not refreshed: % (%)',
                          v_board.id, v_board.organization_id, SQLERRM, SQLSTATE;
        END;
    END LOOP;
    PERFORM pg_catalog.set_config('app.organization_id', coalesce(v_prev_org, ''), TRUE),
            pg_catalog.set_config('app.user_id', coalesce(v_prev_user, ''), TRUE);
    RETURN v_done;
END
$$;
COMMENT ON FUNCTION gamification.refresh_due_leaderboards(integer) IS
'Cross-tenant worker: refreshes up to p_limit (1-1000) active boards of every organization that are due (never refreshed, last refresh older than refresh_interval, or a new period began in the board''s time zone), least recently refreshed first, each with its organization as tenant context and no acting user (restored afterwards), through apply_leaderboard_refresh(board, skip_locked => true): a board another refresh holds is skipped. A board whose refresh fails is skipped with a WARNING. Returns the number refreshed. SECURITY DEFINER, owned by the maintenance role; executable by the owner and the migrator only (cron), never by the application.';
REVOKE ALL ON FUNCTION gamification.refresh_due_leaderboards(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.refresh_due_leaderboards(integer)
TO ${owner_role}, ${migrator_role};

-- Hand it to the maintenance role. ALTER ... OWNER TO needs the new owner to hold CREATE on the
-- schema: granted for this statement only (same transaction), as in V0070.
GRANT CREATE ON SCHEMA gamification TO ${maintenance_role};
ALTER FUNCTION gamification.refresh_due_leaderboards(integer) OWNER TO ${maintenance_role};
REVOKE CREATE ON SCHEMA gamification FROM ${maintenance_role};
