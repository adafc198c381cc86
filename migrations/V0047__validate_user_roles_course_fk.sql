-- =============================================================================
-- V0047__validate_user_roles_course_fk
-- Purpose:       validate fk_user_roles_course_id, added NOT VALID by V0046
--                (scans user_roles without blocking writes).
-- Concern:       user_roles: constraint validation.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE user_management.user_roles VALIDATE CONSTRAINT fk_user_roles_course_id;
