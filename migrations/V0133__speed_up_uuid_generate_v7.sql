-- =============================================================================
-- V0133__speed_up_uuid_generate_v7
-- Purpose:       app.uuid_generate_v7() on PostgreSQL 15-17 in PL/pgSQL: the SQL
--                fallback of V0003 reads clock_timestamp() in a sub-select (to
--                use one instant for both time fields), so it is never inlined
--                and 15-17 plan it on every call -- every id default of every
--                insert (0.08 ms per call under load, twice per award). PL/pgSQL
--                evaluates the same expression as a cached simple expression.
--                On 18+ nothing changes (the uuidv7() wrapper is inlined).
-- Concern:       one helper function.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Unchanged:     name, signature, VOLATILE, PARALLEL SAFE, no SET clause, the
--                bit layout (48-bit unix milliseconds, version 7, 12-bit
--                sub-millisecond fraction from one clock_timestamp() reading,
--                variant 10, 62 random bits), the column defaults using it.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

DO $uuid_v7$
BEGIN
    IF pg_catalog.current_setting('server_version_num')::integer < 180000 THEN
        EXECUTE $ddl$
            CREATE OR REPLACE FUNCTION app.uuid_generate_v7()
            RETURNS uuid
            LANGUAGE plpgsql
            VOLATILE
            PARALLEL SAFE
            AS $body$
            DECLARE
                v_us bigint := (EXTRACT(EPOCH FROM pg_catalog.clock_timestamp()) * 1000000)::bigint;
            BEGIN
                RETURN pg_catalog.encode(
                           pg_catalog.overlay(
                               pg_catalog.overlay(
                                   pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
                                   pg_catalog.substr(pg_catalog.int8send(v_us / 1000), 3, 6),
                                   1, 6),
                               pg_catalog.int2send((28672 + (v_us % 1000) * 4096 / 1000)::smallint),
                               7, 2),
                           'hex')::uuid;
            END
            $body$
        $ddl$;
        COMMENT ON FUNCTION app.uuid_generate_v7() IS
        'Time-ordered RFC 9562 UUID version 7: 48-bit unix milliseconds, version 7, 12-bit sub-millisecond fraction, variant 10, 62 random bits. Default of every id column. A wrapper around uuidv7() on PostgreSQL 18+, a PL/pgSQL implementation of the same layout on 15-17 (V0133; its plan is cached, the SQL body of V0003 was planned per call).';
    END IF;
END
$uuid_v7$;
