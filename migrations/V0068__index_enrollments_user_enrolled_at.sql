-- squawk-disable-assume-in-transaction
-- =============================================================================
-- V0068__index_enrollments_user_enrolled_at
-- Purpose:       a learner's enrollments, newest first, paged by keyset:
--                WHERE user_id = $1 AND (enrolled_at, id) < ($2, $3)
--                ORDER BY enrolled_at DESC, id DESC LIMIT n.
--                uuid_eq, timestamptz_lt and uuid_lt are leakproof, so user_id
--                and the row comparison are index conditions under RLS and the
--                order comes from the index (README: Listing and search queries).
-- Concern:       one index.
-- Transactional: NO (executeInTransaction=false in the .sql.conf beside it):
--                CONCURRENTLY cannot run in a transaction.
-- Runs as:       the connecting migrator; the index belongs to the table's
--                owner anyway. If it fails, drop the INVALID index it leaves
--                (DROP INDEX CONCURRENTLY ...), repair, migrate again.
-- =============================================================================
-- squawk-ignore prefer-robust-stmts
CREATE INDEX CONCURRENTLY idx_enrollments_organization_id_user_id_enrolled_at_id
ON course_management.enrollments (organization_id, user_id, enrolled_at DESC, id DESC);
