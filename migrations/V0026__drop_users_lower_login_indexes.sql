-- squawk-disable-assume-in-transaction
-- =============================================================================
-- V0026__drop_users_lower_login_indexes
-- Purpose:       drop the expression indexes on lower(email) / lower(username),
--                replaced by V0024 and V0025.
-- Concern:       two superseded indexes.
-- Transactional: NO (executeInTransaction=false in the .sql.conf beside it):
--                CONCURRENTLY cannot run in a transaction.
-- Runs as:       the connecting migrator; a member of the owner role may drop
--                the owner's indexes. If it fails, repair and migrate again.
-- =============================================================================
-- squawk-ignore prefer-robust-stmts
DROP INDEX CONCURRENTLY user_management.uq_users_organization_id_email;
-- squawk-ignore prefer-robust-stmts
DROP INDEX CONCURRENTLY user_management.uq_users_organization_id_username;
