-- =============================================================================
-- V0099__add_badge_leaderboards
-- Purpose:       badge leaderboards: leaderboard_scores() learns board_type
--                badges, counting the badges a user holds (gamification.
--                user_badges of the badges part, V0084): not revoked, not
--                expired, awarded in the period.
-- Concern:       one function replaced (leaderboard_scores()).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION gamification.leaderboard_scores(
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
    ELSIF p_board.board_type = 'badges' THEN
        -- Badges held now (not revoked, not expired), awarded in the period; every award of a
        -- repeatable badge counts.
        RETURN QUERY
        SELECT ub.user_id, pg_catalog.count(*)
          FROM gamification.user_badges AS ub
         WHERE ub.organization_id = p_board.organization_id
           AND ub.awarded_at >= p_start
           AND (p_end IS NULL OR ub.awarded_at < p_end)
           AND ub.revoked_at IS NULL
           AND ub.expired_at IS NULL
           AND (ub.expires_at IS NULL OR ub.expires_at > pg_catalog.now())
         GROUP BY ub.user_id;
    END IF;
END
$$;
COMMENT ON FUNCTION gamification.leaderboard_scores(gamification.leaderboards, timestamptz, timestamptz) IS
'Internal: the score of every user with any activity counted by the board in [p_start, p_end) (see leaderboards.board_type), before scope, opt-out, deletion and the score > 0 rule are applied. All-time xp and points read user_points (lifetime_earned, available); period boards sum the ledger through idx_point_transactions_point_system_id_occurred_at.';
COMMENT ON FUNCTION gamification.leaderboard_scores(gamification.leaderboards, timestamptz, timestamptz) IS
'Internal: the score of every user with any activity counted by the board in [p_start, p_end) (see leaderboards.board_type), before scope, opt-out, deletion and the score > 0 rule are applied. Badges: held badges (user_badges not revoked, expired_at NULL, expires_at NULL or later than now) awarded in the period, each award of a repeatable badge counted. All-time xp and points read user_points (lifetime_earned, available); period boards sum the ledger through idx_point_transactions_point_system_id_occurred_at.';
