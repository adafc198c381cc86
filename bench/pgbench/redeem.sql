-- redeem_reward() by a learner for themself (reward.redeem): random learner of :users, random reward
-- of :rewards (cost 1, large stock), one unit, a fresh idempotency key.
-- Variables (-D): org, tag, users, rewards.
\set uid random(1, :users)
\set rw random(1, :rewards)
\set r random(1, 1000000000000)
BEGIN;
SELECT set_config('app.organization_id', :org::text, true),
       set_config('app.user_id', '00000000-0000-7000-8000-' || lpad(to_hex(:uid::bigint), 12, '0'), true);
SELECT id FROM gamification.redeem_reward(
    ('00000000-0000-7000-8000-' || lpad(to_hex(:uid::bigint), 12, '0'))::uuid,
    ('00000000-0000-7000-9000-' || lpad(to_hex(:rw::bigint), 12, '0'))::uuid, 1,
    'bench-redeem:' || :tag::text || ':' || :client_id::text || ':' || :r::text);
END;
