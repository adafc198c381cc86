-- The raw anchor: what award_points() writes, by hand, with nothing else. One balance row UPDATE
-- (the same columns the function changes) and one INSERT into a bare table shaped like the ledger
-- (LIKE gamification.point_transactions INCLUDING DEFAULTS INCLUDING INDEXES: same columns, primary
-- key, unique idempotency key and indexes; no foreign keys, checks, triggers or RLS), a random user of
-- :users, a fresh key. Same round trips as award.sql: BEGIN, two statements, COMMIT.
-- Variables (-D): org, system, tag, users.
\set uid random(1, :users)
\set r random(1, 1000000000000)
BEGIN;
UPDATE bench_anchor.balances
   SET available = available + 10, lifetime_earned = lifetime_earned + 10, updated_at = now()
 WHERE organization_id = :org::uuid
   AND user_id = ('00000000-0000-7000-8000-' || lpad(to_hex(:uid::bigint), 12, '0'))::uuid
   AND point_system_id = :system::uuid;
INSERT INTO bench_anchor.ledger (organization_id, user_id, point_system_id, amount, kind, idempotency_key,
                                 balance_after)
VALUES (:org::uuid, ('00000000-0000-7000-8000-' || lpad(to_hex(:uid::bigint), 12, '0'))::uuid, :system::uuid,
        10, 'award', 'anchor:' || :tag::text || ':' || :client_id::text || ':' || :r::text, 10);
END;
