-- =============================================================================
-- V0071__grant_maintenance_temporary
-- Purpose:       REFRESH MATERIALIZED VIEW ... CONCURRENTLY builds its diff in
--                temporary tables as the view's owner, so the maintenance role
--                (owner of analytics.course_statistics, V0070) needs TEMPORARY
--                on this database, which V0001 revokes from PUBLIC.
-- Concern:       one database privilege (nothing else).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the CONNECTING user, without SET ROLE (like V0001 and V0060):
--                only the database's owner (or a superuser) may grant it; the
--                owner role holds TEMPORARY without grant option. A DBA may
--                grant it beforehand: GRANT TEMPORARY ON DATABASE <db> TO
--                <maintenance role>; then this file changes nothing.
-- Clones:        a database privilege is not copied by CREATE DATABASE ...
--                TEMPLATE (DESIGN.md section 8): grant it again in a clone whose
--                PUBLIC lost TEMPORARY.
-- =============================================================================
SET LOCAL search_path = pg_catalog, pg_temp;

DO $temporary$
BEGIN
    IF NOT pg_catalog.has_database_privilege('${maintenance_role}', pg_catalog.current_database(), 'TEMPORARY') THEN
        -- Without the right to grant it, GRANT only warns: check the outcome.
        EXECUTE pg_catalog.format('GRANT TEMPORARY ON DATABASE %I TO %I',
                                  pg_catalog.current_database(), '${maintenance_role}');
        IF NOT pg_catalog.has_database_privilege('${maintenance_role}', pg_catalog.current_database(),
                                                 'TEMPORARY') THEN
            RAISE EXCEPTION 'role "%" needs TEMPORARY on database "%" and "%" may not grant it',
                            '${maintenance_role}', pg_catalog.current_database(), current_user
                  USING ERRCODE = '42501',
                        HINT = pg_catalog.format('Ask a DBA to run: GRANT TEMPORARY ON DATABASE %I TO %I;',
                                                 pg_catalog.current_database(), '${maintenance_role}');
        END IF;
    END IF;
END
$temporary$;
