-- =============================================================================
-- V0007__create_validation_helpers
-- Purpose:       IMMUTABLE predicates used by CHECK constraints of user data:
--                IANA time zone names, BCP 47 language tags, arrays of SHA-256
--                hex digests.
-- Concern:       shared validation functions (schema app, no tables).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Grants:        CHECK constraints run with the privileges of the writing role,
--                so the application role gets EXECUTE on each predicate.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- app.is_valid_timezone(text)
-- ---------------------------------------------------------------------------
-- The zone names known when this migration runs are written into the body as
-- a constant array: membership is then a cheap array search. Reading
-- pg_timezone_names costs about 8 ms per call (PostgreSQL loads every zone
-- file), and a CHECK runs on every INSERT and UPDATE of the row, logins
-- included. Only a name missing from the array (a zone added by a later tzdata
-- upgrade, or an invalid name) falls back to pg_timezone_names.
DO $timezones$
DECLARE
    v_names text[];
BEGIN
    SELECT pg_catalog.array_agg(z.name::text ORDER BY z.name)
      INTO v_names
      FROM pg_catalog.pg_timezone_names AS z
     WHERE z.name NOT IN ('Factory', 'localtime', 'posixrules');
    EXECUTE pg_catalog.format($ddl$
        CREATE FUNCTION app.is_valid_timezone(p_name text)
        RETURNS boolean
        LANGUAGE sql
        IMMUTABLE
        STRICT
        PARALLEL SAFE
        AS $body$
            SELECT CASE
                       WHEN p_name = ANY (%L::text[]) THEN true
                       WHEN pg_catalog.char_length(p_name) NOT BETWEEN 1 AND 64
                            OR p_name IN ('Factory', 'localtime', 'posixrules') THEN false
                       ELSE EXISTS (SELECT 1
                                      FROM pg_catalog.pg_timezone_names AS z
                                     WHERE z.name = p_name)
                   END
        $body$
    $ddl$, v_names);
END
$timezones$;
COMMENT ON FUNCTION app.is_valid_timezone(text) IS
'True when p_name is a time zone name of the server''s IANA database (pg_timezone_names, exact spelling, e.g. Europe/Berlin, UTC), without the pseudo-zones Factory, localtime and posixrules. Abbreviations (PST) and POSIX specifications (UTC+3), which AT TIME ZONE also accepts, are rejected. NULL for NULL. Declared IMMUTABLE although it reads the time zone database, which changes when the server''s tzdata is upgraded. That is acceptable: (1) IANA never removes a name (renamed zones stay as links), so a value accepted once stays valid and re-checking it (restore, ALTER TABLE ... VALIDATE) cannot fail; (2) a name that appears later is accepted as soon as the server knows it, since the function is evaluated on every write; (3) it is used only in CHECK constraints, never in an index, a generated column or a partition bound, where a changed answer would make stored data inconsistent. Cost: the names known when the migration ran are a constant array in the body (microseconds per call); only other names fall back to pg_timezone_names, about 8 ms (PostgreSQL reads every zone file).';

-- ---------------------------------------------------------------------------
-- app.is_valid_locale(text)
-- ---------------------------------------------------------------------------
CREATE FUNCTION app.is_valid_locale(p_tag text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT p_tag ~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$'
$$;
COMMENT ON FUNCTION app.is_valid_locale(text) IS
'True when p_tag is a BCP 47 language tag of the form language[-Script][-REGION] in canonical case: en, pt-BR, zh-Hant-TW, es-419. Variants and extensions are not accepted. NULL for NULL.';

-- ---------------------------------------------------------------------------
-- app.is_sha256_hex_array(text[])
-- ---------------------------------------------------------------------------
CREATE FUNCTION app.is_sha256_hex_array(p_hashes text[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT coalesce(pg_catalog.array_ndims(p_hashes), 1) = 1
       AND NOT EXISTS (SELECT 1
                         FROM pg_catalog.unnest(p_hashes) AS h (value)
                        WHERE h.value IS NULL
                           OR h.value !~ '^[0-9a-f]{64}$')
$$;
COMMENT ON FUNCTION app.is_sha256_hex_array(text[]) IS
'True when p_hashes is empty or a one-dimensional array whose every element is a SHA-256 digest in lower-case hex (64 characters, no NULL element). NULL for NULL.';

REVOKE ALL ON FUNCTION
app.is_valid_timezone(text),
app.is_valid_locale(text),
app.is_sha256_hex_array(text[])
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
app.is_valid_timezone(text),
app.is_valid_locale(text),
app.is_sha256_hex_array(text[])
TO ${app_role};
