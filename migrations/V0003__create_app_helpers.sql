-- =============================================================================
-- V0003__create_app_helpers
-- Purpose:       shared helpers in schema app: the UUIDv7 key generator, the
--                tenant-context accessors and the generic trigger functions.
-- Concern:       helper functions (no tables).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs raised here (sql/CONVENTIONS.md, "Errors"):
--                EL001 append-only table modified, EL002 immutable column changed.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- app.uuid_generate_v7(): RFC 9562 version 7 UUID.
-- PostgreSQL 18+ has uuidv7(): the function is a thin wrapper around it.
-- PostgreSQL 15-17: the same layout, computed in SQL:
--   bits   0-47  unix time in milliseconds (big endian)
--   bits  48-51  version 0111
--   bits  52-63  sub-millisecond fraction (12 bits, RFC 9562 section 6.2
--                method 3, as uuidv7() does), so values of one session
--                increase with clock_timestamp() (microsecond resolution)
--   bits  64-65  variant 10
--   bits 66-127  random (taken from gen_random_uuid(), whose variant bits are
--                already 10)
-- The body is chosen when the migration runs. A cluster upgraded from 15-17
-- to 18 keeps the SQL body until a later migration replaces it.
-- ---------------------------------------------------------------------------
DO $uuid_v7$
BEGIN
    IF pg_catalog.current_setting('server_version_num')::integer >= 180000 THEN
        EXECUTE $ddl$
            CREATE FUNCTION app.uuid_generate_v7()
            RETURNS uuid
            LANGUAGE sql
            VOLATILE
            PARALLEL SAFE
            AS 'SELECT pg_catalog.uuidv7()'
        $ddl$;
    ELSE
        EXECUTE $ddl$
            CREATE FUNCTION app.uuid_generate_v7()
            RETURNS uuid
            LANGUAGE sql
            VOLATILE
            PARALLEL SAFE
            AS $body$
                SELECT pg_catalog.encode(
                           pg_catalog.overlay(
                               pg_catalog.overlay(
                                   pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
                                   pg_catalog.substr(
                                       pg_catalog.int8send(t.us / 1000), 3, 6),
                                   1, 6),
                               pg_catalog.int2send(
                                   (28672 + (t.us % 1000) * 4096 / 1000)::smallint),
                               7, 2),
                           'hex')::uuid
                  FROM (SELECT (EXTRACT(EPOCH FROM pg_catalog.clock_timestamp())
                                * 1000000)::bigint AS us) AS t
            $body$
        $ddl$;
    END IF;
END
$uuid_v7$;

COMMENT ON FUNCTION app.uuid_generate_v7() IS
'Time-ordered RFC 9562 UUID version 7: 48-bit unix milliseconds, version 7, 12-bit sub-millisecond fraction, variant 10, 62 random bits. Default of every id column. A wrapper around uuidv7() on PostgreSQL 18+, an SQL implementation of the same layout on 15-17.';

-- ---------------------------------------------------------------------------
-- Tenant context (DESIGN.md section 4). Set by the client first in every
-- transaction with SET LOCAL app.organization_id / app.user_id.
-- Unset or empty = NULL = no rows (fail closed); a malformed value raises
-- 22P02 rather than silently matching nothing. Policies call these inside a
-- sub-select, (SELECT app.current_organization_id()), so the cast runs once
-- per statement. No SET clause: the functions stay inlinable; every name in
-- them is schema-qualified instead.
-- ---------------------------------------------------------------------------
CREATE FUNCTION app.current_organization_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT NULLIF(pg_catalog.current_setting('app.organization_id', true), '')::uuid
$$;
COMMENT ON FUNCTION app.current_organization_id() IS
'Tenant of the current transaction: SET LOCAL app.organization_id. NULL when unset or empty (no tenant = no rows). Call it as (SELECT app.current_organization_id()) in policies.';

CREATE FUNCTION app.current_user_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT NULLIF(pg_catalog.current_setting('app.user_id', true), '')::uuid
$$;
COMMENT ON FUNCTION app.current_user_id() IS
'Acting user of the current transaction: SET LOCAL app.user_id. NULL when unset or empty. Recorded as actor in the audit log and used by user-level policies.';

-- ---------------------------------------------------------------------------
-- Trigger functions. They need no EXECUTE grant: PostgreSQL checks EXECUTE
-- when the trigger is created (by the owner), not when it fires.
-- ---------------------------------------------------------------------------
CREATE FUNCTION app.set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'column created_at of %.% is immutable',
                        TG_TABLE_SCHEMA, TG_TABLE_NAME
              USING ERRCODE = 'EL002',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    COLUMN = 'created_at',
                    CONSTRAINT = TG_NAME;
    END IF;
    -- updated_at belongs to this trigger: a value sent by the client is
    -- ignored, and a no-op UPDATE keeps the old value (so the audit trigger
    -- sees no change and writes nothing).
    NEW.updated_at := OLD.updated_at;
    IF NEW OPERATOR(pg_catalog.*<>) OLD THEN
        NEW.updated_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION app.set_updated_at() IS
'BEFORE UPDATE FOR EACH ROW trigger (trg_<table>_set_updated_at) for tables with created_at and updated_at: sets updated_at = now() when any other column changed, keeps it on a no-op update, and raises EL002 when created_at is changed.';

CREATE FUNCTION app.prevent_created_at_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'column created_at of %.% is immutable',
                        TG_TABLE_SCHEMA, TG_TABLE_NAME
              USING ERRCODE = 'EL002',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    COLUMN = 'created_at',
                    CONSTRAINT = TG_NAME;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION app.prevent_created_at_change() IS
'BEFORE UPDATE FOR EACH ROW trigger (trg_<table>_created_at_immutable) for mutable tables that have created_at but no updated_at: raises EL002 when created_at is changed. Tables with updated_at use app.set_updated_at(), which includes this check.';

CREATE FUNCTION app.prevent_modification()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % is not allowed',
                    TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
          USING ERRCODE = 'EL001',
                SCHEMA = TG_TABLE_SCHEMA,
                TABLE = TG_TABLE_NAME,
                CONSTRAINT = TG_NAME,
                HINT = 'Append-only tables accept INSERT only; retention drops whole partitions.';
END
$$;
COMMENT ON FUNCTION app.prevent_modification() IS
'Trigger for append-only tables (audit log, points ledger): BEFORE UPDATE OR DELETE FOR EACH ROW and BEFORE TRUNCATE FOR EACH STATEMENT; always raises EL001 with the trigger name as constraint name.';

-- ---------------------------------------------------------------------------
-- Grants. EXECUTE is revoked from PUBLIC by default (V0001); revoke again
-- explicitly so that these functions do not depend on that setting.
-- ---------------------------------------------------------------------------
REVOKE ALL ON FUNCTION
app.uuid_generate_v7(),
app.current_organization_id(),
app.current_user_id(),
app.set_updated_at(),
app.prevent_created_at_change(),
app.prevent_modification()
FROM PUBLIC;

-- Column defaults are evaluated with the privileges of the inserting role.
GRANT EXECUTE ON FUNCTION app.uuid_generate_v7() TO ${app_role};
GRANT EXECUTE ON FUNCTION
app.current_organization_id(),
app.current_user_id()
TO ${app_role}, ${readonly_role};
