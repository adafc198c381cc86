-- squawk-disable-assume-in-transaction
-- =============================================================================
-- V0024__index_users_email_normalized
-- Purpose:       one live account per e-mail in an organization, case-insensitively,
--                through an index the login lookup can use under RLS (see V0022).
-- Concern:       one index.
-- Transactional: NO (executeInTransaction=false in the .sql.conf beside it):
--                CONCURRENTLY cannot run in a transaction.
-- Runs as:       the connecting migrator; the index belongs to the table's
--                owner anyway. If it fails, drop the INVALID index it leaves
--                (DROP INDEX CONCURRENTLY ...), repair, migrate again.
-- =============================================================================
-- squawk-ignore prefer-robust-stmts
CREATE UNIQUE INDEX CONCURRENTLY uq_users_organization_id_email_normalized
ON user_management.users (organization_id, email_normalized)
WHERE deleted_at IS NULL;
