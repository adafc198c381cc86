-- =============================================================================
-- V0096__create_leaderboard_functions
-- Purpose:       computing, caching and reading leaderboards of the current
--                organization: leaderboard_period_bounds() (periods in the
--                board's time zone), refresh_leaderboard() (recompute a board's
--                current period, finalize the period that just ended, keep
--                history_periods closed ones), the board queries
--                leaderboard_top(), leaderboard_rank(), leaderboard_around(),
--                and set_leaderboard_opt_out().
-- Concern:       gamification leaderboard functions (per tenant).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       a refresh first locks the board row FOR NO KEY UPDATE (a second
--                refresh of the board waits, or skips with p_skip_locked), then
--                replaces the period's entries in one statement (upsert of the
--                rows that changed, delete of users no longer ranked): readers
--                see the old standings or the new ones, never a mix.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- leaderboard_period_bounds(period, timezone, at)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.leaderboard_period_bounds(
    p_period text,
    p_timezone text,
    p_at timestamptz
)
RETURNS TABLE (period_start timestamptz, period_end timestamptz)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_period = 'all_time' THEN 'epoch'::timestamptz
                ELSE pg_catalog.timezone(p_timezone, l.local_start) END,
           CASE WHEN p_period = 'all_time' THEN NULL::timestamptz
                ELSE pg_catalog.timezone(p_timezone, l.local_start OPERATOR(pg_catalog.+) l.length) END
      FROM (SELECT pg_catalog.date_trunc(u.unit, pg_catalog.timezone(p_timezone, p_at)) AS local_start,
                   u.length
              FROM (SELECT CASE p_period WHEN 'daily' THEN 'day' WHEN 'weekly' THEN 'week'
                                         ELSE 'month' END AS unit,
                           CASE p_period WHEN 'daily' THEN interval '1 day'
                                         WHEN 'weekly' THEN interval '7 days'
                                         ELSE interval '1 month' END AS length) AS u) AS l
$$;
COMMENT ON FUNCTION gamification.leaderboard_period_bounds(text, text, timestamptz) IS
'The period (daily, weekly = ISO week from Monday, monthly) containing p_at, as [period_start, period_end) between local midnights in time zone p_timezone (a 23- or 25-hour day across a DST change is one day); all_time gives (1970-01-01 00:00 UTC, NULL).';
REVOKE ALL ON FUNCTION gamification.leaderboard_period_bounds(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.leaderboard_period_bounds(text, text, timestamptz)
TO ${app_role}, ${maintenance_role};

-- ---------------------------------------------------------------------------
-- leaderboard_scores(board, start, end): raw score per user (no filtering).
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.leaderboard_scores(
    p_board gamification.leaderboards,
    p_start timestamptz,
    p_end timestamptz
)
RETURNS TABLE (user_id uuid, score bigint)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    IF p_board.board_type IN ('xp', 'points') AND p_board.period = 'all_time' THEN
        RETURN QUERY
        SELECT up.user_id,
               CASE WHEN p_board.board_type = 'xp' THEN up.lifetime_earned ELSE up.available END
          FROM gamification.user_points AS up
         WHERE up.organization_id = p_board.organization_id
           AND up.point_system_id = p_board.point_system_id;
    ELSIF p_board.board_type IN ('xp', 'points') THEN
        RETURN QUERY
        SELECT t.user_id, pg_catalog.sum(t.amount)::bigint
          FROM gamification.point_transactions AS t
         WHERE t.organization_id = p_board.organization_id
           AND t.point_system_id = p_board.point_system_id
           AND t.occurred_at >= p_start
           AND t.occurred_at < p_end
           AND (p_board.board_type = 'points'
                OR t.kind IN ('award', 'bonus')
                OR (t.kind = 'adjust' AND t.amount > 0))
         GROUP BY t.user_id;
    ELSIF p_board.board_type = 'streak' THEN
        -- current_streak changes only when the user is awarded: a streak whose last local day
        -- is before yesterday (in the user's time zone) is broken, so it scores 0.
        RETURN QUERY
        SELECT up.user_id,
               CASE WHEN up.last_activity_local_date
                         >= (pg_catalog.timezone(u.timezone, pg_catalog.now()))::date OPERATOR(pg_catalog.-) 1
                    THEN up.current_streak::bigint ELSE 0::bigint END
          FROM gamification.user_points AS up
          JOIN user_management.users AS u
            ON u.organization_id = up.organization_id AND u.id = up.user_id
         WHERE up.organization_id = p_board.organization_id
           AND up.point_system_id = p_board.point_system_id;
    ELSIF p_board.board_type = 'course_points' THEN
        RETURN QUERY
        SELECT t.user_id, pg_catalog.sum(t.amount)::bigint
          FROM gamification.point_transactions AS t
         WHERE t.organization_id = p_board.organization_id
           AND t.point_system_id = p_board.point_system_id
           AND t.occurred_at >= p_start
           AND (p_end IS NULL OR t.occurred_at < p_end)
           AND (t.kind IN ('award', 'bonus') OR (t.kind = 'adjust' AND t.amount > 0))
           AND ((t.source_type = 'course' AND t.source_id = p_board.course_id)
                OR (t.source_type = 'enrollment' AND EXISTS (
                        SELECT 1 FROM course_management.enrollments AS e
                         WHERE e.organization_id = t.organization_id AND e.id = t.source_id
                           AND e.course_id = p_board.course_id))
                OR (t.source_type = 'lesson_progress' AND EXISTS (
                        SELECT 1 FROM course_management.lesson_progress AS lp
                         WHERE lp.organization_id = t.organization_id AND lp.id = t.source_id
                           AND lp.course_id = p_board.course_id)))
         GROUP BY t.user_id;
    END IF;
    -- badges: V0099 (the badge tables of the badges part) or no score at all.
END
$$;
COMMENT ON FUNCTION gamification.leaderboard_scores(gamification.leaderboards, timestamptz, timestamptz) IS
'Internal: the score of every user with any activity counted by the board in [p_start, p_end) (see leaderboards.board_type), before scope, opt-out, deletion and the score > 0 rule are applied. All-time xp and points read user_points (lifetime_earned, available); period boards sum the ledger through idx_point_transactions_point_system_id_occurred_at.';
REVOKE ALL ON FUNCTION gamification.leaderboard_scores(gamification.leaderboards, timestamptz, timestamptz)
FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- write_leaderboard_period(board, start, end, final): recompute one period.
-- The caller holds the board's row lock.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.write_leaderboard_period(
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
                          AND u.deleted_at IS NULL)
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
               (pg_catalog.row_number() OVER (ORDER BY sc.score DESC, sc.user_id))::integer AS place
          FROM scored AS sc
        WINDOW w AS (ORDER BY sc.score DESC)
    ),
    upserted AS (
        INSERT INTO gamification.leaderboard_entries AS e
            (organization_id, leaderboard_id, period_start, user_id, score, rank, place)
        SELECT p_board.organization_id, p_board.id, p_start, r.user_id, r.score, r.rank, r.place
          FROM ranked AS r
        ON CONFLICT (organization_id, leaderboard_id, period_start, user_id) DO UPDATE
        SET score = excluded.score, rank = excluded.rank, place = excluded.place
        WHERE (e.score, e.rank, e.place) IS DISTINCT FROM (excluded.score, excluded.rank, excluded.place)
        RETURNING 1
    ),
    removed AS (
        DELETE FROM gamification.leaderboard_entries AS e
         WHERE e.organization_id = p_board.organization_id
           AND e.leaderboard_id = p_board.id
           AND e.period_start = p_start
           AND NOT EXISTS (SELECT 1 FROM ranked AS r WHERE r.user_id = e.user_id)
        RETURNING 1
    )
    -- upserted and removed run to completion whether or not they are read.
    SELECT pg_catalog.count(*) INTO v_count FROM ranked;

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
'Internal (the caller holds the board row lock): recomputes the standings of one period of the board in one statement: scores (leaderboard_scores()) of live, not opted-out users in the board''s scope with a score above 0, ranked by the tie rule and numbered 1..n; changed entries are upserted and entries of users no longer ranked deleted. Upserts the leaderboard_periods row (refreshed_at, entry_count, duration_ms, is_final = p_final) and returns it.';
REVOKE ALL ON FUNCTION gamification.write_leaderboard_period(gamification.leaderboards, timestamptz, timestamptz, boolean)
FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- apply_leaderboard_refresh(board, skip_locked): lock, finalize, recompute.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.apply_leaderboard_refresh(p_leaderboard_id uuid, p_skip_locked boolean)
RETURNS gamification.leaderboard_periods
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_board gamification.leaderboards;
    v_start timestamptz;
    v_end timestamptz;
    v_old record;
    v_current gamification.leaderboard_periods;
BEGIN
    IF v_org IS NULL THEN
        RAISE EXCEPTION 'no tenant context: app.organization_id must be set'
              USING ERRCODE = '42501',
                    HINT = 'SET LOCAL app.organization_id first in the transaction.';
    END IF;
    IF p_skip_locked THEN
        SELECT b.* INTO v_board FROM gamification.leaderboards AS b
         WHERE b.organization_id = v_org AND b.id = p_leaderboard_id
           FOR NO KEY UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN NULL;  -- another refresh holds it (or it is gone): nothing to do now
        END IF;
    ELSE
        SELECT b.* INTO v_board FROM gamification.leaderboards AS b
         WHERE b.organization_id = v_org AND b.id = p_leaderboard_id
           FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no leaderboard % in the organization', p_leaderboard_id
                  USING ERRCODE = 'P0002';
        END IF;
    END IF;
    SELECT b.period_start, b.period_end INTO STRICT v_start, v_end
      FROM gamification.leaderboard_period_bounds(v_board.period, v_board.timezone, pg_catalog.now()) AS b;

    -- Periods that ended since their last refresh: recompute once more over their whole span.
    FOR v_old IN
        SELECT p.period_start, p.period_end FROM gamification.leaderboard_periods AS p
         WHERE p.organization_id = v_org AND p.leaderboard_id = v_board.id
           AND p.period_start < v_start AND NOT p.is_final AND p.period_end IS NOT NULL
         ORDER BY p.period_start
    LOOP
        PERFORM gamification.write_leaderboard_period(v_board, v_old.period_start, v_old.period_end, TRUE);
    END LOOP;

    v_current := gamification.write_leaderboard_period(v_board, v_start, v_end, FALSE);

    -- Keep history_periods closed periods (their entries go with them: ON DELETE CASCADE).
    DELETE FROM gamification.leaderboard_periods AS p
     WHERE p.organization_id = v_org AND p.leaderboard_id = v_board.id
       AND p.period_start < v_start
       AND p.period_start NOT IN (
               SELECT k.period_start FROM gamification.leaderboard_periods AS k
                WHERE k.organization_id = v_org AND k.leaderboard_id = v_board.id
                  AND k.period_start < v_start
                ORDER BY k.period_start DESC
                LIMIT v_board.history_periods);
    RETURN v_current;
END
$$;
COMMENT ON FUNCTION gamification.apply_leaderboard_refresh(uuid, boolean) IS
'Internal (no permission check; refresh_leaderboard() and the maintenance worker call it): in the current organization, locks the board row FOR NO KEY UPDATE (waiting, or with p_skip_locked returning NULL when another refresh holds it), recomputes every ended period not yet final (is_final), then the current period (period bounds at now() in the board''s time zone), and deletes closed periods beyond history_periods. Returns the current period row. P0002 for an unknown board (when waiting), 42501 without tenant context.';
REVOKE ALL ON FUNCTION gamification.apply_leaderboard_refresh(uuid, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.apply_leaderboard_refresh(uuid, boolean) TO ${maintenance_role};

-- ---------------------------------------------------------------------------
-- refresh_leaderboard(board): the application's refresh.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.refresh_leaderboard(p_leaderboard_id uuid)
RETURNS TABLE (
    period_start timestamptz,
    period_end timestamptz,
    entry_count integer,
    refreshed_at timestamptz
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_active boolean;
    v_period gamification.leaderboard_periods;
BEGIN
    PERFORM user_management.require_permission('leaderboard.manage');
    SELECT b.active INTO v_active FROM gamification.leaderboards AS b
     WHERE b.organization_id = app.current_organization_id() AND b.id = p_leaderboard_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no leaderboard % in the organization', p_leaderboard_id USING ERRCODE = 'P0002';
    END IF;
    IF NOT v_active THEN
        RAISE EXCEPTION 'leaderboard % is inactive', p_leaderboard_id
              USING ERRCODE = 'EL036',
                    DETAIL = 'Inactive boards keep their last standings and are not refreshed.',
                    HINT = 'Set active = true on the board first.';
    END IF;
    v_period := gamification.apply_leaderboard_refresh(p_leaderboard_id, FALSE);
    RETURN QUERY SELECT v_period.period_start, v_period.period_end, v_period.entry_count, v_period.refreshed_at;
END
$$;
COMMENT ON FUNCTION gamification.refresh_leaderboard(uuid) IS
'Recomputes the cached standings of a board of the current organization now (see apply_leaderboard_refresh(); a concurrent refresh of the same board is waited for, then this one recomputes) and returns its current period. Needs leaderboard.manage (42501); P0002 for an unknown board; EL036 for an inactive one. Boards are otherwise refreshed by gamification.refresh_due_leaderboards().';
REVOKE ALL ON FUNCTION gamification.refresh_leaderboard(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.refresh_leaderboard(uuid) TO ${app_role};

-- ---------------------------------------------------------------------------
-- Board queries (invoker SQL: RLS of the caller applies; index-served).
-- ---------------------------------------------------------------------------
-- Under RLS a qual with a sub-select or a non-LEAKPROOF function (int4mi, coalesce of a
-- sub-select) is never an index condition. So the period, the user and the place range are
-- computed in a fenced sub-query (LIMIT / OFFSET 0) and joined by plain column comparisons
-- (uuid_eq, timestamptz_eq, int4le: leakproof), which are.
CREATE FUNCTION gamification.leaderboard_top(
    p_leaderboard_id uuid,
    p_limit integer DEFAULT 100,
    p_period_start timestamptz DEFAULT NULL
)
RETURNS TABLE (place integer, rank integer, user_id uuid, score bigint, period_start timestamptz)
LANGUAGE sql
STABLE
AS $$
    SELECT e.place, e.rank, e.user_id, e.score, e.period_start
      FROM (SELECT p.organization_id, p.leaderboard_id, p.period_start,
                   LEAST(GREATEST(p_limit, 0), 1000) AS last_place
              FROM gamification.leaderboard_periods AS p
             WHERE p.organization_id = (SELECT app.current_organization_id())
               AND p.leaderboard_id = p_leaderboard_id
               AND (p_period_start IS NULL OR p.period_start = p_period_start)
             ORDER BY p.period_start DESC
             LIMIT 1) AS cur
      JOIN gamification.leaderboard_entries AS e
        ON e.organization_id = cur.organization_id AND e.leaderboard_id = cur.leaderboard_id
       AND e.period_start = cur.period_start AND e.place <= cur.last_place
     ORDER BY e.place
$$;
COMMENT ON FUNCTION gamification.leaderboard_top(uuid, integer, timestamptz) IS
'The first p_limit places (at most 1000) of a board of the current organization: place, rank (ties share it), user and score, from the cached entries of the current period (the newest refreshed one) or of p_period_start. Reads idx_leaderboard_entries_leaderboard_id_period_start_place; RLS applies (members see every board of their organization).';
REVOKE ALL ON FUNCTION gamification.leaderboard_top(uuid, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.leaderboard_top(uuid, integer, timestamptz) TO ${app_role}, ${readonly_role};

CREATE FUNCTION gamification.leaderboard_rank(
    p_leaderboard_id uuid,
    p_user_id uuid DEFAULT NULL,
    p_period_start timestamptz DEFAULT NULL
)
RETURNS TABLE (
    place integer,
    rank integer,
    score bigint,
    entry_count integer,
    period_start timestamptz,
    refreshed_at timestamptz
)
LANGUAGE sql
STABLE
AS $$
    SELECT e.place, e.rank, e.score, cur.entry_count, cur.period_start, cur.refreshed_at
      FROM (SELECT p.organization_id, p.leaderboard_id, p.period_start, p.entry_count, p.refreshed_at,
                   coalesce(p_user_id, app.current_user_id()) AS user_id
              FROM gamification.leaderboard_periods AS p
             WHERE p.organization_id = (SELECT app.current_organization_id())
               AND p.leaderboard_id = p_leaderboard_id
               AND (p_period_start IS NULL OR p.period_start = p_period_start)
             ORDER BY p.period_start DESC
             LIMIT 1) AS cur
      JOIN gamification.leaderboard_entries AS e
        ON e.organization_id = cur.organization_id AND e.leaderboard_id = cur.leaderboard_id
       AND e.period_start = cur.period_start AND e.user_id = cur.user_id
$$;
COMMENT ON FUNCTION gamification.leaderboard_rank(uuid, uuid, timestamptz) IS
'Where a user (default: the acting user) stands on a board of the current organization: place, rank, score, the number of ranked users and the period''s refresh time, from the cached entries of the current period (or p_period_start). No row when the user is not ranked (score 0, out of scope, opted out, or not yet refreshed). One unique-index lookup.';
REVOKE ALL ON FUNCTION gamification.leaderboard_rank(uuid, uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.leaderboard_rank(uuid, uuid, timestamptz) TO ${app_role}, ${readonly_role};

CREATE FUNCTION gamification.leaderboard_around(
    p_leaderboard_id uuid,
    p_k integer DEFAULT 5,
    p_user_id uuid DEFAULT NULL,
    p_period_start timestamptz DEFAULT NULL
)
RETURNS TABLE (place integer, rank integer, user_id uuid, score bigint, period_start timestamptz)
LANGUAGE sql
STABLE
AS $$
    SELECT e.place, e.rank, e.user_id, e.score, e.period_start
      FROM (SELECT m.organization_id, m.leaderboard_id, m.period_start,
                   m.place OPERATOR(pg_catalog.-) cur.k AS first_place,
                   m.place OPERATOR(pg_catalog.+) cur.k AS last_place
              FROM (SELECT p.organization_id, p.leaderboard_id, p.period_start,
                           coalesce(p_user_id, app.current_user_id()) AS user_id,
                           LEAST(GREATEST(p_k, 0), 100) AS k
                      FROM gamification.leaderboard_periods AS p
                     WHERE p.organization_id = (SELECT app.current_organization_id())
                       AND p.leaderboard_id = p_leaderboard_id
                       AND (p_period_start IS NULL OR p.period_start = p_period_start)
                     ORDER BY p.period_start DESC
                     LIMIT 1) AS cur
              JOIN gamification.leaderboard_entries AS m
                ON m.organization_id = cur.organization_id AND m.leaderboard_id = cur.leaderboard_id
               AND m.period_start = cur.period_start AND m.user_id = cur.user_id
            OFFSET 0) AS me
      JOIN gamification.leaderboard_entries AS e
        ON e.organization_id = me.organization_id AND e.leaderboard_id = me.leaderboard_id
       AND e.period_start = me.period_start
       AND e.place >= me.first_place AND e.place <= me.last_place
     ORDER BY e.place
$$;
COMMENT ON FUNCTION gamification.leaderboard_around(uuid, integer, uuid, timestamptz) IS
'"Around me": the entries from p_k places above to p_k places below a user (default: the acting user; p_k at most 100) on a board of the current organization, current period or p_period_start, by place. Empty when the user is not ranked. A unique-index lookup and a place range scan.';
REVOKE ALL ON FUNCTION gamification.leaderboard_around(uuid, integer, uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.leaderboard_around(uuid, integer, uuid, timestamptz)
TO ${app_role}, ${readonly_role};

-- ---------------------------------------------------------------------------
-- set_leaderboard_opt_out(opted_out): the acting user's own choice.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.set_leaderboard_opt_out(p_opted_out boolean)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_user uuid := user_management.require_acting_user();
    v_result boolean;
BEGIN
    IF p_opted_out IS NULL THEN
        RAISE EXCEPTION 'p_opted_out must not be NULL' USING ERRCODE = '22023';
    END IF;
    INSERT INTO gamification.leaderboard_preferences AS p (organization_id, user_id, opted_out)
    VALUES (app.current_organization_id(), v_user, p_opted_out)
    ON CONFLICT (organization_id, user_id) DO UPDATE SET opted_out = excluded.opted_out
    RETURNING p.opted_out INTO v_result;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION gamification.set_leaderboard_opt_out(boolean) IS
'Opts the acting user out of (true) or back into (false) every leaderboard of the organization. Opting out removes the user''s cached entries at once and closes the ranks (trg_leaderboard_preferences_opt_out); opting in shows the user from the next refresh. 42501 without a live acting user; 22023 for NULL. Returns the new setting.';
REVOKE ALL ON FUNCTION gamification.set_leaderboard_opt_out(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.set_leaderboard_opt_out(boolean) TO ${app_role};
