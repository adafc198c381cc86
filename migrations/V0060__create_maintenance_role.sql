-- =============================================================================
-- V0060__create_maintenance_role
-- Purpose:       the dedicated cross-tenant role of DESIGN.md section 4. FORCE
--                row-level security filters even the owner to the transaction's
--                organization, so work that must see every tenant (refreshing
--                statistics, leaderboards) runs in SECURITY DEFINER functions and
--                materialized views owned by ${maintenance_role}, a NOLOGIN role
--                without BYPASSRLS that only the policies rendered for
--                `maintenance_read: true` tables admit (SELECT only).
-- Concern:       one role and its memberships (nothing else).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the CONNECTING user, without SET ROLE (like V0001): creating a
--                missing role needs CREATEROLE (or superuser); a DBA may create
--                it beforehand: CREATE ROLE <name> NOLOGIN NOBYPASSRLS.
-- Idempotent:    roles live in the cluster: created and granted only when missing.
-- =============================================================================
SET LOCAL search_path = pg_catalog, pg_temp;

DO $maintenance_role$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = '${maintenance_role}') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r
                        WHERE r.rolname = current_user AND (r.rolsuper OR r.rolcreaterole)) THEN
            RAISE EXCEPTION 'role "%" does not exist and "%" may not create roles',
                            '${maintenance_role}', current_user
                  USING ERRCODE = '42501',
                        HINT = pg_catalog.format('Ask a DBA to run: CREATE ROLE %I NOLOGIN NOBYPASSRLS;',
                                                 '${maintenance_role}');
        END IF;
        EXECUTE pg_catalog.format(
            'CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS',
            '${maintenance_role}');
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r
                WHERE r.rolname = '${maintenance_role}' AND (r.rolsuper OR r.rolbypassrls OR r.rolcanlogin)) THEN
        RAISE EXCEPTION 'role "%" must be NOLOGIN, NOSUPERUSER and NOBYPASSRLS', '${maintenance_role}'
              USING ERRCODE = '55000';
    END IF;
    -- The owner creates the maintenance objects and hands them over (ALTER ... OWNER TO
    -- needs membership in the new owner).
    IF NOT pg_catalog.pg_has_role('${owner_role}', '${maintenance_role}', 'MEMBER') THEN
        EXECUTE pg_catalog.format('GRANT %I TO %I', '${maintenance_role}', '${owner_role}');
    END IF;
END
$maintenance_role$;

COMMENT ON ROLE ${maintenance_role} IS
'Cross-tenant maintenance (statistics and leaderboard refresh): owns materialized views and their refresh functions; admitted by SELECT policies on tables marked maintenance_read in the manifest. NOLOGIN, no BYPASSRLS.';

GRANT USAGE ON SCHEMA
user_management, course_management, content_management, gamification, assessment,
social, analytics, notification, app
TO ${maintenance_role};
GRANT EXECUTE ON FUNCTION app.current_organization_id(), app.current_user_id()
TO ${maintenance_role};
