-- =============================================================================
-- V0140__hide_suspended_users_on_leaderboards
-- Purpose:       a suspended user is absent from every leaderboard, like an
--                opted-out or deleted one (issue 5 names those two; a suspended
--                account cannot sign in, and a learner suspended for cheating
--                must not stay on top). Suspending hides the user's cached
--                entries at once (hide_user_on_leaderboards(), V0097: one row
--                per board and period, the board queries close the ranks on
--                read); refreshes leave suspended users out; after
--                unsuspend_user() the user is back from the next refresh (as
--                after opting back in).
-- Concern:       gamification leaderboards: who is ranked.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Change:        write_leaderboard_period() is V0096's body with two predicates
--                marked V0140 (ranked users not suspended; the after-snapshot
--                hide also takes suspended users); a trigger on users.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Suspension hides the user on every cached board.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.leave_leaderboards_on_user_suspend()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    PERFORM gamification.hide_user_on_leaderboards(NEW.organization_id, NEW.id, FALSE);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.leave_leaderboards_on_user_suspend() IS
'AFTER trigger of user_management.users (trg_users_leave_leaderboards_suspend): a suspended user is hidden on every cached board at once (hide_user_on_leaderboards(); one row per board and period, nothing renumbered). SECURITY DEFINER: the suspending staff member may not write entries.';
REVOKE ALL ON FUNCTION gamification.leave_leaderboards_on_user_suspend() FROM PUBLIC;

CREATE TRIGGER trg_users_leave_leaderboards_suspend
AFTER UPDATE OF suspended_at ON user_management.users
FOR EACH ROW WHEN (old.suspended_at IS NULL AND new.suspended_at IS NOT NULL)
EXECUTE FUNCTION gamification.leave_leaderboards_on_user_suspend();
COMMENT ON TRIGGER trg_users_leave_leaderboards_suspend ON user_management.users IS
'A suspended user is hidden on every cached leaderboard at once; the ranks close on read; back from the next refresh after unsuspend (gamification, V0140).';

-- ---------------------------------------------------------------------------
-- write_leaderboard_period(board, start, end, final): suspended users left out.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION gamification.write_leaderboard_period(
    p_board gamification.leaderboards,
    p_start timestamptz,
    p_end timestamptz,
    p_final boolean
)
RETURNS gamification.leaderboard_periods
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_count integer;
    v_gone uuid[];
    v_period gamification.leaderboard_periods;
BEGIN
    INSERT INTO gamification.leaderboard_periods AS p
        (organization_id, leaderboard_id, period_start, period_end, refreshed_at, is_final)
    VALUES (p_board.organization_id, p_board.id, p_start, p_end, pg_catalog.now(), p_final)
    ON CONFLICT (organization_id, leaderboard_id, period_start) DO UPDATE
    SET refreshed_at = excluded.refreshed_at, is_final = excluded.is_final;

    WITH scored AS (
        SELECT s.user_id, s.score
          FROM gamification.leaderboard_scores(p_board, p_start, p_end) AS s
         WHERE s.score > 0
           AND EXISTS (SELECT 1 FROM user_management.users AS u
                        WHERE u.organization_id = p_board.organization_id AND u.id = s.user_id
                          AND u.deleted_at IS NULL
                          AND u.suspended_at IS NULL)  -- V0140: suspended users are not ranked
           AND NOT EXISTS (SELECT 1 FROM gamification.leaderboard_preferences AS pr
                            WHERE pr.organization_id = p_board.organization_id AND pr.user_id = s.user_id
                              AND pr.opted_out)
           AND (p_board.scope = 'organization'
                OR (p_board.scope = 'course' AND EXISTS (
                        SELECT 1 FROM course_management.enrollments AS e
                         WHERE e.organization_id = p_board.organization_id AND e.user_id = s.user_id
                           AND e.course_id = p_board.course_id AND e.status <> 'cancelled'))
                OR (p_board.scope = 'cohort' AND EXISTS (
                        SELECT 1 FROM gamification.leaderboard_members AS m
                         WHERE m.organization_id = p_board.organization_id
                           AND m.leaderboard_id = p_board.id AND m.user_id = s.user_id)))
    ),
    ranked AS (
        SELECT sc.user_id, sc.score,
               (CASE WHEN p_board.tie_rule = 'dense' THEN pg_catalog.dense_rank() OVER w
                     ELSE pg_catalog.rank() OVER w END)::integer AS rank,
               (pg_catalog.row_number() OVER (ORDER BY sc.score DESC, sc.user_id))::integer AS place,
               (pg_catalog.count(*) OVER (PARTITION BY sc.score))::integer AS tie_count
          FROM scored AS sc
        WINDOW w AS (ORDER BY sc.score DESC)
    ),
    -- Entries hidden as of this statement's snapshot. A ranked user's entry hidden then (and not
    -- hidden again since: same hidden_at) belongs to a user who came back (opted in, undeleted):
    -- shown again. A hide that committed after the snapshot has another hidden_at: kept.
    hidden_before AS (
        SELECT h.user_id, h.hidden_at
          FROM gamification.leaderboard_entries AS h
         WHERE h.organization_id = p_board.organization_id AND h.leaderboard_id = p_board.id
           AND h.period_start = p_start AND h.hidden AND h.user_id IS NOT NULL
    ),
    upserted AS (
        INSERT INTO gamification.leaderboard_entries AS e
            (organization_id, leaderboard_id, period_start, user_id, score, rank, place, tie_count)
        SELECT p_board.organization_id, p_board.id, p_start, r.user_id, r.score, r.rank, r.place, r.tie_count
          FROM ranked AS r
        ON CONFLICT (organization_id, leaderboard_id, period_start, user_id) DO UPDATE
        SET score = excluded.score, rank = excluded.rank, place = excluded.place, tie_count = excluded.tie_count,
            hidden = e.hidden AND NOT EXISTS (SELECT 1 FROM hidden_before AS hb
                                                WHERE hb.user_id = e.user_id AND hb.hidden_at = e.hidden_at),
            hidden_at = CASE WHEN NOT EXISTS (SELECT 1 FROM hidden_before AS hb
                                               WHERE hb.user_id = e.user_id AND hb.hidden_at = e.hidden_at)
                             THEN e.hidden_at END
        WHERE (e.score, e.rank, e.place, e.tie_count)
              IS DISTINCT FROM (excluded.score, excluded.rank, excluded.place, excluded.tie_count)
           OR EXISTS (SELECT 1 FROM hidden_before AS hb WHERE hb.user_id = e.user_id AND hb.hidden_at = e.hidden_at)
        RETURNING 1
    ),
    removed AS (
        -- Users no longer ranked, hidden entries of users still gone, tombstones (user_id NULL).
        DELETE FROM gamification.leaderboard_entries AS e
         WHERE e.organization_id = p_board.organization_id
           AND e.leaderboard_id = p_board.id
           AND e.period_start = p_start
           AND NOT EXISTS (SELECT 1 FROM ranked AS r WHERE r.user_id = e.user_id)
        RETURNING 1
    )
    -- upserted and removed run to completion whether or not they are read.
    SELECT pg_catalog.count(*) INTO v_count FROM ranked;

    -- A user who opted out, was deleted or suspended after the statement above took its snapshot and was newly
    -- ranked by it (no row to hide then): hide now, with a fresh snapshot. Only hiding, never
    -- showing: a hide racing with this UPDATE is waited for and wins (NOT e.hidden is rechecked).
    -- The users who left are collected first (an array: a linear plan whatever the statistics of
    -- the just rewritten entries say).
    SELECT pg_catalog.array_agg(g.user_id) INTO v_gone
      FROM (SELECT pr.user_id FROM gamification.leaderboard_preferences AS pr
             WHERE pr.organization_id = p_board.organization_id AND pr.opted_out
            UNION
            SELECT u.id FROM user_management.users AS u
             WHERE u.organization_id = p_board.organization_id
               AND (u.deleted_at IS NOT NULL OR u.suspended_at IS NOT NULL)) AS g;  -- V0140
    IF v_gone IS NOT NULL THEN
        UPDATE gamification.leaderboard_entries AS e
           SET hidden = TRUE, hidden_at = pg_catalog.clock_timestamp()
         WHERE e.organization_id = p_board.organization_id AND e.user_id = ANY (v_gone)
           AND e.leaderboard_id = p_board.id AND e.period_start = p_start AND NOT e.hidden;
    END IF;

    UPDATE gamification.leaderboard_periods AS p
       SET entry_count = v_count,
           duration_ms = pg_catalog.round((EXTRACT(EPOCH FROM pg_catalog.clock_timestamp()
                                                   OPERATOR(pg_catalog.-) v_started)
                                           OPERATOR(pg_catalog.*) 1000)::numeric, 3)
     WHERE p.organization_id = p_board.organization_id AND p.leaderboard_id = p_board.id
       AND p.period_start = p_start
    RETURNING p.* INTO v_period;
    RETURN v_period;
END
$$;
COMMENT ON FUNCTION gamification.write_leaderboard_period(gamification.leaderboards, timestamptz, timestamptz, boolean) IS
'Internal (the caller holds the board row lock): recomputes the standings of one period of the board in one statement: scores (leaderboard_scores()) of live, not suspended (V0140), not opted-out users in the board''s scope with a score above 0, ranked by the tie rule, numbered 1..n, with the size of each tie; changed entries are upserted (a hidden entry of a user ranked again is shown), entries of users no longer ranked (hidden ones, tombstones) deleted. Then hides the entries of users who left after that statement''s snapshot. Upserts the leaderboard_periods row (refreshed_at, entry_count, duration_ms, is_final = p_final) and returns it.';
REVOKE ALL ON FUNCTION gamification.write_leaderboard_period(
    gamification.leaderboards, timestamptz, timestamptz, boolean
) FROM PUBLIC;
