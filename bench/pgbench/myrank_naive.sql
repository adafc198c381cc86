-- Naive my-rank (for comparison with myrank.sql): 1 + users with more lifetime points, counted at read
-- time by staff (see top100_naive.sql).
-- Variables (-D): org, actor, system, users.
\set uid random(1, :users)
BEGIN;
SELECT set_config('app.organization_id', :org::text, true), set_config('app.user_id', :actor::text, true);
SELECT 1 + count(*)
  FROM gamification.user_points AS o
 WHERE o.organization_id = :org::uuid AND o.point_system_id = :system::uuid
   AND o.lifetime_earned > (SELECT m.lifetime_earned
                              FROM gamification.user_points AS m
                             WHERE m.organization_id = :org::uuid AND m.point_system_id = :system::uuid
                               AND m.user_id = ('00000000-0000-7000-8000-' || lpad(to_hex(:uid::bigint), 12, '0'))::uuid);
END;
