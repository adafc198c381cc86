-- The leaderboard's top 100 (gamification.leaderboard_top(), cached entries of the current period) as a
-- random learner of :users would read it: member context, RLS applied.
-- Variables (-D): org, board, users.
\set uid random(1, :users)
BEGIN;
SELECT set_config('app.organization_id', :org::text, true),
       set_config('app.user_id', '00000000-0000-7000-8000-' || lpad(to_hex(:uid::bigint), 12, '0'), true);
SELECT place, rank, user_id, score FROM gamification.leaderboard_top(:board::uuid, 100);
END;
