-- squawk-disable-assume-in-transaction
-- =============================================================================
-- V0095__index_point_transactions_point_system_id_occurred_at
-- Purpose:       period leaderboards (V0096) sum the ledger of one point system
--                inside a period: WHERE organization_id = $1 AND
--                point_system_id = $2 AND occurred_at >= $3 AND occurred_at < $4.
--                The range is an index condition and user_id, kind and amount
--                are in the index, so a refresh reads only the period's rows
--                (index-only once vacuum marked the append-only pages visible)
--                instead of every row of the system.
-- Concern:       one index.
-- Transactional: NO (executeInTransaction=false in the .sql.conf beside it):
--                CONCURRENTLY cannot run in a transaction.
-- Runs as:       the connecting migrator; the index belongs to the table's
--                owner anyway. If it fails, drop the INVALID index it leaves
--                (DROP INDEX CONCURRENTLY ...), repair, migrate again.
-- =============================================================================
-- squawk-ignore prefer-robust-stmts
CREATE INDEX CONCURRENTLY idx_point_transactions_point_system_id_occurred_at
ON gamification.point_transactions (organization_id, point_system_id, occurred_at)
INCLUDE (user_id, kind, amount);
