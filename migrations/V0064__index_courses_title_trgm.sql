-- squawk-disable-assume-in-transaction
-- =============================================================================
-- V0064__index_courses_title_trgm
-- Purpose:       typo-tolerant search on course titles (trigram strict word
--                similarity, OPERATOR(extensions.<<%)) through an index; used by
--                course_management.search_courses() (pg_trgm folds case itself,
--                so the plain title is indexed).
-- Concern:       one index.
-- Transactional: NO (executeInTransaction=false in the .sql.conf beside it):
--                CONCURRENTLY cannot run in a transaction.
-- Runs as:       the connecting migrator; the index belongs to the table's
--                owner anyway. If it fails, drop the INVALID index it leaves
--                (DROP INDEX CONCURRENTLY ...), repair, migrate again.
-- =============================================================================
-- squawk-ignore prefer-robust-stmts
CREATE INDEX CONCURRENTLY idx_courses_title_trgm
ON course_management.courses USING gin (title extensions.gin_trgm_ops);
