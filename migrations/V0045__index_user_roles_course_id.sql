-- squawk-disable-assume-in-transaction
-- =============================================================================
-- V0045__index_user_roles_course_id
-- Purpose:       the index behind fk_user_roles_course_id (V0046): deleting a
--                course finds (and cascades to) its course-scoped grants without
--                scanning user_roles, and the grants of a course are listed
--                through it. Partial: organization-wide grants (course_id NULL),
--                the large majority, are not in it. Built before the foreign key
--                so that its validation and first cascades already have it.
-- Concern:       one index on an existing table (user_roles may hold rows).
-- Transactional: NO (executeInTransaction=false in the .sql.conf beside it):
--                CREATE INDEX CONCURRENTLY cannot run in a transaction.
-- Runs as:       the connecting migrator; the index belongs to the table's
--                owner anyway. If it fails, drop the INVALID index it leaves
--                (DROP INDEX CONCURRENTLY ...), repair, migrate again.
-- =============================================================================
-- squawk-ignore prefer-robust-stmts
CREATE INDEX CONCURRENTLY idx_user_roles_organization_id_course_id
ON user_management.user_roles (organization_id, course_id)
WHERE course_id IS NOT NULL;
