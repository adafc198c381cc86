-- Naive top 100 (for comparison with top100.sql): user_points ordered by lifetime points at read time,
-- read by staff (gamification.manage: under RLS a learner sees only their own user_points row); no
-- index serves the order. Shows what the cached leaderboard (V0094-V0096) saves.
-- Variables (-D): org, actor, system.
BEGIN;
SELECT set_config('app.organization_id', :org::text, true), set_config('app.user_id', :actor::text, true);
SELECT user_id, lifetime_earned
  FROM gamification.user_points
 WHERE organization_id = :org::uuid AND point_system_id = :system::uuid
 ORDER BY lifetime_earned DESC, user_id
 LIMIT 100;
END;
