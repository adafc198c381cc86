-- squawk-disable-assume-in-transaction
-- =============================================================================
-- V0065__index_courses_catalog
-- Purpose:       the catalog listing, newest first, paged by keyset:
--                WHERE status = 'published' AND deleted_at IS NULL
--                  AND (published_at, id) < ($1, $2)
--                ORDER BY published_at DESC, id DESC LIMIT n.
--                Every column compared with leakproof operators (texteq,
--                timestamptz_lt, uuid_lt), so the row comparison is an index
--                condition under RLS (README: Listing and search queries).
-- Concern:       one index.
-- Transactional: NO (executeInTransaction=false in the .sql.conf beside it):
--                CONCURRENTLY cannot run in a transaction.
-- Runs as:       the connecting migrator; the index belongs to the table's
--                owner anyway. If it fails, drop the INVALID index it leaves
--                (DROP INDEX CONCURRENTLY ...), repair, migrate again.
-- =============================================================================
-- squawk-ignore prefer-robust-stmts
CREATE INDEX CONCURRENTLY idx_courses_organization_id_published_at_id
ON course_management.courses (organization_id, published_at DESC, id DESC)
WHERE status = 'published' AND deleted_at IS NULL;
