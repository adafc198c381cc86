-- =============================================================================
-- V0004__create_audit_log
-- Purpose:       the append-only, monthly-partitioned audit log, the trigger
--                function that writes it and the partition maintenance
--                function.
-- Concern:       audit (schema audit).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs: EL001 (append-only table modified), raised by
--                app.prevent_modification().
-- Operations:    no DEFAULT partition exists. audit.create_partitions() must
--                run at least monthly (scheduler or elearn-db maintenance);
--                this migration creates the current month and 3 ahead. A write
--                to an audited table fails (23514) when its month has no
--                partition. Retention = DROP TABLE of old partitions by the
--                owner.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Table
-- ---------------------------------------------------------------------------
CREATE TABLE audit.audit_log (
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    occurred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    organization_id uuid,
    actor_user_id uuid DEFAULT app.current_user_id(),
    db_user text NOT NULL DEFAULT current_user,
    operation text NOT NULL,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    row_key jsonb NOT NULL,
    diff jsonb NOT NULL,
    txid bigint NOT NULL DEFAULT pg_catalog.txid_current(),
    CONSTRAINT pk_audit_log PRIMARY KEY (id, occurred_at),
    CONSTRAINT ck_audit_log_operation
    CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    CONSTRAINT ck_audit_log_db_user_length
    CHECK (pg_catalog.octet_length(db_user) BETWEEN 1 AND 63),
    CONSTRAINT ck_audit_log_schema_name_length
    CHECK (pg_catalog.octet_length(schema_name) BETWEEN 1 AND 63),
    CONSTRAINT ck_audit_log_table_name_length
    CHECK (pg_catalog.octet_length(table_name) BETWEEN 1 AND 63),
    CONSTRAINT ck_audit_log_row_key_object
    CHECK (pg_catalog.jsonb_typeof(row_key) = 'object'),
    CONSTRAINT ck_audit_log_diff_object
    CHECK (pg_catalog.jsonb_typeof(diff) = 'object')
) PARTITION BY RANGE (occurred_at);

COMMENT ON TABLE audit.audit_log IS
'Append-only audit trail of row changes in audited tables, one row per changed row, written only by audit.log_change(). Partitioned by month on occurred_at (partitions audit.audit_log_yYYYYmMM, UTC boundaries, made by audit.create_partitions()). UPDATE, DELETE and TRUNCATE raise EL001.';
COMMENT ON COLUMN audit.audit_log.id IS
'Surrogate key, UUIDv7 (time-ordered).';
COMMENT ON COLUMN audit.audit_log.occurred_at IS
'Start time of the writing transaction (now()); partition key.';
COMMENT ON COLUMN audit.audit_log.organization_id IS
'Tenant of the changed row (its organization_id column); NULL for global tables.';
COMMENT ON COLUMN audit.audit_log.actor_user_id IS
'Acting application user (app.user_id of the transaction); NULL when no user context was set. PII: identifies a person.';
COMMENT ON COLUMN audit.audit_log.db_user IS
'Effective database role of the session that made the change (SET ROLE target, else the login role).';
COMMENT ON COLUMN audit.audit_log.operation IS
'INSERT, UPDATE or DELETE.';
COMMENT ON COLUMN audit.audit_log.schema_name IS
'Schema of the changed table (of the root, for a partitioned table).';
COMMENT ON COLUMN audit.audit_log.table_name IS
'Changed table; for a partitioned table its root, never the partition.';
COMMENT ON COLUMN audit.audit_log.row_key IS
'Primary-key columns and values of the changed row as a JSON object (new key for INSERT/UPDATE, old key for DELETE); {} for a table without primary key.';
COMMENT ON COLUMN audit.audit_log.diff IS
'INSERT: the new row; DELETE: the old row; UPDATE: only the changed columns as {"col": {"old": v, "new": v}}. Secret columns are never included. May contain PII of the audited row.';
COMMENT ON COLUMN audit.audit_log.txid IS
'Writing transaction id (txid_current()): groups the rows of one transaction.';

CREATE INDEX idx_audit_log_organization_id_occurred_at
ON audit.audit_log (organization_id, occurred_at);
CREATE INDEX idx_audit_log_schema_name_table_name_row_key
ON audit.audit_log (schema_name, table_name, row_key);

-- ---------------------------------------------------------------------------
-- Append-only, enforced twice:
-- * a statement trigger (UPDATE, DELETE, TRUNCATE) fails every such statement,
--   even one that matches no row. This matters: under FORCE RLS the owner
--   sees no row to update, so a row trigger alone would let its UPDATE
--   "succeed" silently with 0 rows. Statement triggers are not inherited by
--   partitions: audit.create_partitions() adds the same trigger to each
--   partition it creates.
-- * a row trigger (UPDATE, DELETE), which PostgreSQL clones onto every
--   partition, present and future, even one attached by hand; it catches
--   roles that bypass RLS.
-- ---------------------------------------------------------------------------
CREATE TRIGGER trg_audit_log_append_only_statement
BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.audit_log
FOR EACH STATEMENT EXECUTE FUNCTION app.prevent_modification();
CREATE TRIGGER trg_audit_log_append_only_row
BEFORE UPDATE OR DELETE ON audit.audit_log
FOR EACH ROW EXECUTE FUNCTION app.prevent_modification();

-- ---------------------------------------------------------------------------
-- Row level security. Only audit.log_change() (running as the owner) inserts;
-- tenant roles read their own organization's rows.
-- ---------------------------------------------------------------------------
ALTER TABLE audit.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.audit_log FORCE ROW LEVEL SECURITY;

-- The policies themselves are rendered from sql/manifest.yaml (profile audit_log) into
-- policies/R__0100_row_level_security.sql, which runs after the versioned migrations.
-- Until then FORCE RLS with no policy admits nothing, so the table is never open.

REVOKE ALL ON TABLE audit.audit_log FROM PUBLIC, ${app_role}, ${readonly_role};
GRANT SELECT ON TABLE audit.audit_log TO ${app_role}, ${readonly_role};

-- ---------------------------------------------------------------------------
-- Partition maintenance
-- ---------------------------------------------------------------------------
CREATE FUNCTION audit.create_partitions(p_months_ahead integer DEFAULT 3)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = audit, pg_temp
AS $$
DECLARE
    v_first_month date := pg_catalog.date_trunc(
        'month', pg_catalog.now() AT TIME ZONE 'UTC')::date;
    v_from date;
    v_to date;
    v_name text;
    v_created integer := 0;
    v_column record;
BEGIN
    IF p_months_ahead IS NULL OR p_months_ahead NOT BETWEEN 0 AND 120 THEN
        RAISE EXCEPTION 'p_months_ahead must be between 0 and 120, got %',
                        p_months_ahead
              USING ERRCODE = '22023';
    END IF;

    FOR i IN 0 .. p_months_ahead LOOP
        v_from := (v_first_month + pg_catalog.make_interval(months => i))::date;
        v_to := (v_from + pg_catalog.make_interval(months => 1))::date;
        v_name := pg_catalog.to_char(v_from, '"audit_log_y"YYYY"m"MM');

        CONTINUE WHEN EXISTS (
            SELECT 1
              FROM pg_catalog.pg_class AS c
              JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
             WHERE n.nspname = 'audit' AND c.relname = v_name);

        -- Boundaries are UTC midnights, written with an explicit offset so
        -- that neither TimeZone nor DateStyle of the session matters.
        EXECUTE pg_catalog.format(
            'CREATE TABLE audit.%I PARTITION OF audit.audit_log '
            'FOR VALUES FROM (%L) TO (%L)',
            v_name,
            pg_catalog.to_char(v_from, 'YYYY-MM-DD') || ' 00:00:00+00',
            pg_catalog.to_char(v_to, 'YYYY-MM-DD') || ' 00:00:00+00');
        -- Direct access to a partition bypasses the parent's policies:
        -- RLS without policies denies it (to the owner too, FORCE).
        EXECUTE pg_catalog.format(
            'ALTER TABLE audit.%I ENABLE ROW LEVEL SECURITY', v_name);
        EXECUTE pg_catalog.format(
            'ALTER TABLE audit.%I FORCE ROW LEVEL SECURITY', v_name);
        -- Same name as on the parent, like the cloned row trigger.
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER trg_audit_log_append_only_statement '
            'BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.%I '
            'FOR EACH STATEMENT EXECUTE FUNCTION app.prevent_modification()',
            v_name);
        EXECUTE pg_catalog.format(
            'COMMENT ON TABLE audit.%I IS %L', v_name,
            pg_catalog.format(
                'Partition of audit.audit_log for %s (UTC). Append-only; '
                'read it through audit.audit_log.',
                pg_catalog.to_char(v_from, 'YYYY-MM')));
        FOR v_column IN
            SELECT a.attname, d.description
              FROM pg_catalog.pg_attribute AS a
              JOIN pg_catalog.pg_description AS d
                ON d.objoid = a.attrelid
               AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
               AND d.objsubid = a.attnum
             WHERE a.attrelid = 'audit.audit_log'::pg_catalog.regclass
               AND a.attnum > 0
               AND NOT a.attisdropped
        LOOP
            EXECUTE pg_catalog.format('COMMENT ON COLUMN audit.%I.%I IS %L',
                                      v_name, v_column.attname,
                                      v_column.description);
        END LOOP;
        v_created := v_created + 1;
    END LOOP;
    RETURN v_created;
END
$$;
COMMENT ON FUNCTION audit.create_partitions(integer) IS
'Creates the missing monthly partitions audit.audit_log_yYYYYmMM from the current month (UTC) through p_months_ahead months ahead (0-120), each with RLS forced (no policy: direct access is denied), the append-only statement trigger and the parent''s comments; idempotent; returns the number created. Schedule it at least monthly.';
REVOKE ALL ON FUNCTION audit.create_partitions(integer) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Secret columns and the audit trigger function
-- ---------------------------------------------------------------------------
CREATE FUNCTION audit.secret_columns()
RETURNS text[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT ARRAY[
        'password_hash',
        'token_hash',
        'two_factor_secret',
        'two_factor_secret_ref',
        'recovery_code_hashes',
        'secret',
        'api_key_hash',
        'refresh_token_hash'
    ]::text[]
$$;
COMMENT ON FUNCTION audit.secret_columns() IS
'Column names never written to the audit log (row_key or diff), in any audited table. A table adds its own secret columns as arguments of its audit trigger.';
REVOKE ALL ON FUNCTION audit.secret_columns() FROM PUBLIC;

CREATE FUNCTION audit.log_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = audit, pg_temp
AS $$
DECLARE
    v_secret text[] := audit.secret_columns() || TG_ARGV::text[];
    v_old jsonb;
    v_new jsonb;
    v_row jsonb;
    v_key_columns text[];
    v_key jsonb;
    v_diff jsonb;
    v_organization_id uuid;
    v_schema_name text;
    v_table_name text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_new := pg_catalog.to_jsonb(NEW);
        v_row := v_new;
        v_diff := v_new OPERATOR(pg_catalog.-) v_secret;
    ELSIF TG_OP = 'DELETE' THEN
        v_old := pg_catalog.to_jsonb(OLD);
        v_row := v_old;
        v_diff := v_old OPERATOR(pg_catalog.-) v_secret;
    ELSIF TG_OP = 'UPDATE' THEN
        v_old := pg_catalog.to_jsonb(OLD);
        v_new := pg_catalog.to_jsonb(NEW);
        -- No-op update (every column, secrets included, unchanged): nothing
        -- to record.
        IF v_new OPERATOR(pg_catalog.=) v_old THEN
            RETURN NULL;
        END IF;
        v_row := v_new;
        -- Changed columns only; a change of a secret column alone still
        -- writes a row (that it changed is worth auditing) with an empty diff.
        SELECT coalesce(
                   pg_catalog.jsonb_object_agg(
                       n.key,
                       pg_catalog.jsonb_build_object('old', o.value,
                                                     'new', n.value)),
                   '{}'::jsonb)
          INTO v_diff
          FROM pg_catalog.jsonb_each(v_new) AS n
          JOIN pg_catalog.jsonb_each(v_old) AS o ON o.key OPERATOR(pg_catalog.=) n.key
         WHERE o.value IS DISTINCT FROM n.value
           AND NOT n.key OPERATOR(pg_catalog.=) ANY (v_secret);
    ELSE
        RAISE EXCEPTION 'audit.log_change() must be an AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW trigger, fired for %', TG_OP
              USING ERRCODE = '39P01';
    END IF;

    -- One catalog query per row: the logical table (the root of the
    -- partition tree when the trigger fired on a partition) and the
    -- primary-key columns, in key order, of the table that fired.
    SELECT rn.nspname::text,
           rc.relname::text,
           (SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.ord)
              FROM pg_catalog.pg_index AS i
             CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[])
                        WITH ORDINALITY AS k (attnum, ord)
              JOIN pg_catalog.pg_attribute AS a
                ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = TG_RELID
               AND i.indisprimary)
      INTO v_schema_name, v_table_name, v_key_columns
      FROM pg_catalog.pg_class AS rc
      JOIN pg_catalog.pg_namespace AS rn ON rn.oid = rc.relnamespace
     WHERE rc.oid = coalesce(pg_catalog.pg_partition_root(TG_RELID), TG_RELID);

    SELECT coalesce(pg_catalog.jsonb_object_agg(c.col, v_row OPERATOR(pg_catalog.->) c.col),
                    '{}'::jsonb)
      INTO v_key
      FROM pg_catalog.unnest(v_key_columns) AS c (col)
     WHERE NOT c.col OPERATOR(pg_catalog.=) ANY (v_secret);

    IF v_row OPERATOR(pg_catalog.?) 'organization_id' THEN
        v_organization_id := (v_row OPERATOR(pg_catalog.->>) 'organization_id')::uuid;
    END IF;

    INSERT INTO audit.audit_log (
        organization_id, actor_user_id, db_user, operation,
        schema_name, table_name, row_key, diff)
    VALUES (
        v_organization_id,
        app.current_user_id(),
        coalesce(NULLIF(pg_catalog.current_setting('role'), 'none'),
                 session_user),
        TG_OP,
        v_schema_name,
        v_table_name,
        v_key,
        v_diff);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION audit.log_change() IS
'Audit trigger: AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW (trg_<table>_audit). Writes one audit.audit_log row per changed row: organization from the row''s organization_id column (NULL if none), actor from app.user_id, key from the primary key (catalog), diff without the columns of audit.secret_columns() and the trigger arguments. A no-op UPDATE writes nothing. SECURITY DEFINER (owner): the only writer of audit.audit_log.';
REVOKE ALL ON FUNCTION audit.log_change() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Partitions for the current month and the next three.
-- ---------------------------------------------------------------------------
SELECT audit.create_partitions(3);
