-- =============================================================================
-- V0091__validate_learning_events_types
-- Purpose:       validate the checks V0090 added NOT VALID (scans learning_events
--                without blocking writes).
-- Concern:       learning_events: constraint validation.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE course_management.learning_events VALIDATE CONSTRAINT ck_learning_events_event_type;
ALTER TABLE course_management.learning_events VALIDATE CONSTRAINT ck_learning_events_source_type;
