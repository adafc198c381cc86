-- Top 100 of the point system by lifetime points (ties by user id), read by staff (gamification.manage:
-- under RLS a learner sees only their own user_points row). The stand-in for the leaderboard's top-N
-- until branch leaderboards lands: the same index query on user_points.
-- Variables (-D): org, actor, system.
BEGIN;
SELECT set_config('app.organization_id', :org::text, true), set_config('app.user_id', :actor::text, true);
SELECT user_id, lifetime_earned
  FROM gamification.user_points
 WHERE organization_id = :org::uuid AND point_system_id = :system::uuid
 ORDER BY lifetime_earned DESC, user_id
 LIMIT 100;
END;
