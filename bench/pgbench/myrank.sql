-- A random learner of :users reads their own place on the board (gamification.leaderboard_rank(), one
-- unique-index lookup in the cached entries): member context, RLS applied.
-- Variables (-D): org, board, users.
\set uid random(1, :users)
BEGIN;
SELECT set_config('app.organization_id', :org::text, true),
       set_config('app.user_id', '00000000-0000-7000-8000-' || lpad(to_hex(:uid::bigint), 12, '0'), true);
SELECT place, rank, score FROM gamification.leaderboard_rank(:board::uuid);
END;
