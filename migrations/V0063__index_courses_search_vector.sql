-- squawk-disable-assume-in-transaction
-- =============================================================================
-- V0063__index_courses_search_vector
-- Purpose:       full-text search on courses (search_vector @@ tsquery) through
--                an index. Used by course_management.search_courses(), which
--                runs as the maintenance role: under the app role's policies
--                @@ (ts_match_vq, not LEAKPROOF) could never be an index
--                condition.
-- Concern:       one index.
-- Transactional: NO (executeInTransaction=false in the .sql.conf beside it):
--                CONCURRENTLY cannot run in a transaction.
-- Runs as:       the connecting migrator; the index belongs to the table's
--                owner anyway. If it fails, drop the INVALID index it leaves
--                (DROP INDEX CONCURRENTLY ...), repair, migrate again.
-- =============================================================================
-- squawk-ignore prefer-robust-stmts
CREATE INDEX CONCURRENTLY idx_courses_search_vector_gin
ON course_management.courses USING gin (search_vector);
