-- squawk-disable-assume-in-transaction
-- =============================================================================
-- V0066__index_courses_title
-- Purpose:       the A-Z list of live courses, paged by keyset:
--                WHERE deleted_at IS NULL AND (title, id) > ($1, $2)
--                ORDER BY title, id LIMIT n (text_lt and uuid_lt are leakproof:
--                an index condition under RLS; README: Listing and search
--                queries).
-- Concern:       one index.
-- Transactional: NO (executeInTransaction=false in the .sql.conf beside it):
--                CONCURRENTLY cannot run in a transaction.
-- Runs as:       the connecting migrator; the index belongs to the table's
--                owner anyway. If it fails, drop the INVALID index it leaves
--                (DROP INDEX CONCURRENTLY ...), repair, migrate again.
-- =============================================================================
-- squawk-ignore prefer-robust-stmts
CREATE INDEX CONCURRENTLY idx_courses_organization_id_title_id
ON course_management.courses (organization_id, title, id)
WHERE deleted_at IS NULL;
