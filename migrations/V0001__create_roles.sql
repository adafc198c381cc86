-- =============================================================================
-- V0001__create_roles
-- Purpose:       the four cluster roles of the design (DESIGN.md section 4) and
--                the database-level privileges they need.
-- Concern:       roles and database/cluster privileges (nothing else).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the CONNECTING user, without SET ROLE: the owner role may not
--                exist yet. It needs
--                  * CREATEROLE (or superuser) for each role that is missing, and
--                    ADMIN on the owner role to add the migrator to it;
--                  * ownership of the database (or superuser) for the
--                    database-level GRANT/REVOKE;
--                  * ownership of the Flyway history table (or superuser).
--                A DBA who pre-creates the roles only needs the last two.
-- Idempotent:    roles live in the cluster, not in the database, so a second
--                database of the same cluster finds them already there: each
--                role is created only when missing, each membership granted
--                only when missing.
-- Placeholders:  owner_role, migrator_role, app_role, readonly_role,
--                flyway:defaultSchema, flyway:table.
-- =============================================================================
SET LOCAL search_path = pg_catalog, pg_temp;

DO $roles$
DECLARE
    v_can_create_roles boolean;
    v_role record;
    v_unsafe_roles text;
BEGIN
    SELECT r.rolsuper OR r.rolcreaterole
      INTO v_can_create_roles
      FROM pg_catalog.pg_roles AS r
     WHERE r.rolname = current_user;

    FOR v_role IN
        SELECT s.role_name, s.attributes
          FROM (VALUES
                    (1, '${owner_role}',
                     'NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS'),
                    (2, '${migrator_role}',
                     'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS'),
                    (3, '${app_role}',
                     'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS'),
                    (4, '${readonly_role}',
                     'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS')
               ) AS s (ord, role_name, attributes)
         ORDER BY s.ord
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r
                        WHERE r.rolname = v_role.role_name) THEN
            IF NOT coalesce(v_can_create_roles, false) THEN
                RAISE EXCEPTION 'role "%" does not exist and "%" may not create roles',
                                v_role.role_name, current_user
                      USING ERRCODE = '42501',
                            HINT = pg_catalog.format(
                                'Ask a DBA to run: CREATE ROLE %I %s; '
                                'or run this migration as a role with CREATEROLE.',
                                v_role.role_name, v_role.attributes);
            END IF;
            EXECUTE pg_catalog.format('CREATE ROLE %I %s',
                                      v_role.role_name, v_role.attributes);
            RAISE NOTICE 'created role %', v_role.role_name;
        END IF;
    END LOOP;

    -- The owner, application and read-only roles must be subject to row
    -- level security: refuse to go on when a pre-existing one could bypass it.
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', '
                                 ORDER BY r.rolname)
      INTO v_unsafe_roles
      FROM pg_catalog.pg_roles AS r
     WHERE r.rolname IN ('${owner_role}', '${app_role}', '${readonly_role}')
       AND (r.rolsuper OR r.rolbypassrls);
    IF v_unsafe_roles IS NOT NULL THEN
        RAISE EXCEPTION 'roles with SUPERUSER or BYPASSRLS: %', v_unsafe_roles
              USING ERRCODE = '55000',
                    DETAIL = 'The owner, application and read-only roles must be '
                             'NOSUPERUSER NOBYPASSRLS: row level security is the '
                             'tenant boundary.',
                    HINT = pg_catalog.format(
                        'ALTER ROLE %s NOSUPERUSER NOBYPASSRLS; then retry.',
                        v_unsafe_roles);
    END IF;

    -- The migrator works as the owner (Flyway initSql = SET ROLE owner).
    IF NOT pg_catalog.pg_has_role('${migrator_role}', '${owner_role}', 'MEMBER') THEN
        EXECUTE pg_catalog.format('GRANT %I TO %I',
                                  '${owner_role}', '${migrator_role}');
    END IF;
END
$roles$;

-- Database-level privileges. current_database() is used instead of the
-- flyway:database placeholder: it is the same name under Flyway, it needs no
-- quoting, and it stays right when the file is applied by hand.
DO $database$
BEGIN
    EXECUTE pg_catalog.format('GRANT CREATE ON DATABASE %I TO %I',
                              pg_catalog.current_database(), '${owner_role}');
    EXECUTE pg_catalog.format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC',
                              pg_catalog.current_database());
    EXECUTE pg_catalog.format('GRANT TEMPORARY ON DATABASE %I TO %I',
                              pg_catalog.current_database(), '${owner_role}');
    EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I, %I, %I',
                              pg_catalog.current_database(), '${migrator_role}',
                              '${app_role}', '${readonly_role}');
    -- Every later migration runs as the owner (SET LOCAL ROLE) in the same
    -- transaction as its history row: the owner must own the history table.
    EXECUTE pg_catalog.format('ALTER TABLE %I.%I OWNER TO %I',
                              '${flyway:defaultSchema}', '${flyway:table}',
                              '${owner_role}');
END
$database$;

-- Nobody but the owner creates objects; PG 15+ already revokes this, older
-- clusters upgraded with pg_upgrade may still have it.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Functions are executable only where granted (DESIGN.md section 4).
ALTER DEFAULT PRIVILEGES FOR ROLE ${owner_role}
REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
