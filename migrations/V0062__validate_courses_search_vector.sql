-- =============================================================================
-- V0062__validate_courses_search_vector
-- Purpose:       validate the check V0061 added NOT VALID (scans courses without
--                blocking writes).
-- Concern:       courses: constraint validation.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE course_management.courses VALIDATE CONSTRAINT ck_courses_search_vector;
