-- award_points() as the application does it: the app role (login), the tenant context set for the
-- transaction (set_config(..., true)), the acting user a staff/service user holding
-- gamification.award, a random learner of :users, a fresh idempotency key (run tag, client, random).
-- Variables (-D): org, actor, tag, users.
\set uid random(1, :users)
\set r random(1, 1000000000000)
BEGIN;
SELECT set_config('app.organization_id', :org::text, true), set_config('app.user_id', :actor::text, true);
SELECT id FROM gamification.award_points(
    ('00000000-0000-7000-8000-' || lpad(to_hex(:uid::bigint), 12, '0'))::uuid, 'lesson_completed', 'bench', NULL,
    'bench:' || :tag::text || ':' || :client_id::text || ':' || :r::text);
END;
