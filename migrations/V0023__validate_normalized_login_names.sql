-- =============================================================================
-- V0023__validate_normalized_login_names
-- Purpose:       validate the checks V0022 added NOT VALID (scans users without
--                blocking writes).
-- Concern:       users: constraint validation.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE user_management.users VALIDATE CONSTRAINT ck_users_email_normalized;
ALTER TABLE user_management.users VALIDATE CONSTRAINT ck_users_username_normalized;
