-- =============================================================================
-- V0046__add_user_roles_course_fk
-- Purpose:       course-scoped role grants name a real course of their
--                organization: the composite foreign key user_roles
--                (organization_id, course_id) -> courses (organization_id, id),
--                ON DELETE CASCADE (a grant for a course ends with the course).
--                V0010 left it out because courses did not exist yet.
-- Concern:       user_roles: the course foreign key (NOT VALID) and the removal
--                of grants that name no course.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Steps:         "big tables change in steps" (sql/CONVENTIONS.md): V0045 built
--                the index CONCURRENTLY; here the constraint is added NOT VALID
--                (only a brief lock; new and changed rows are checked from now
--                on); V0047 validates the existing rows in a transaction of its
--                own (SHARE UPDATE EXCLUSIVE: writes continue).
-- Existing rows: until this release there were no courses, so a course-scoped
--                grant already in the table names a course that does not exist
--                and never gave anything usable. Such grants would make V0047
--                fail; they are deleted here, after the constraint exists (so no
--                new one can appear meanwhile). The audit trigger of user_roles
--                records every deleted grant (operation DELETE, with its values).
--                Backfill under FORCE RLS: both tables are un-forced for the
--                statement inside this transaction (sql/CONVENTIONS.md, "Data
--                backfills under FORCE RLS"): as the owner without tenant context
--                the policies would hide every course and every grant.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE user_management.user_roles
ADD CONSTRAINT fk_user_roles_course_id FOREIGN KEY (organization_id, course_id)
REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE
NOT VALID;

ALTER TABLE user_management.user_roles NO FORCE ROW LEVEL SECURITY;
ALTER TABLE course_management.courses NO FORCE ROW LEVEL SECURITY;
DELETE FROM user_management.user_roles AS ur
WHERE
    ur.course_id IS NOT NULL
    AND NOT EXISTS (
        SELECT 1
        FROM course_management.courses AS c
        WHERE c.organization_id = ur.organization_id AND c.id = ur.course_id
    );
ALTER TABLE course_management.courses FORCE ROW LEVEL SECURITY;
ALTER TABLE user_management.user_roles FORCE ROW LEVEL SECURITY;

COMMENT ON COLUMN user_management.user_roles.course_id IS
'Scope: the course the grant is limited to (fk_user_roles_course_id -> course_management.courses, ON DELETE CASCADE: the grant ends with the course); NULL = the whole organization.';
