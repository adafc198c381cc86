-- =============================================================================
-- V0021__audit_organization_rows
-- Purpose:       audit rows of the tenant root (user_management.organizations)
--                carry that organization as their organization_id, so the
--                organization's own users (audit.view) see changes to its name,
--                settings and plan, and the audit log's tenant tripwire applies
--                to them. V0004's audit.log_change() took the organization only
--                from an organization_id column, which the root table does not
--                have (its rows were logged with organization_id NULL).
-- Concern:       audit.log_change() (CREATE OR REPLACE: same signature, owner,
--                privileges and triggers; V0004 is released and stays as is).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Existing rows: rows already logged for organizations keep organization_id
--                NULL (the audit log is append-only).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION audit.log_change()
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
    ELSIF v_schema_name = 'user_management' AND v_table_name = 'organizations' THEN
        -- The tenant root: an organization row belongs to the organization it is.
        v_organization_id := (v_row OPERATOR(pg_catalog.->>) 'id')::uuid;
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
'Audit trigger: AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW (trg_<table>_audit). Writes one audit.audit_log row per changed row: organization from the row''s organization_id column (for the tenant root user_management.organizations: its id; NULL for tables without either), actor from app.user_id, key from the primary key (catalog), diff without the columns of audit.secret_columns() and the trigger arguments. A no-op UPDATE writes nothing. SECURITY DEFINER (owner): the only writer of audit.audit_log.';
REVOKE ALL ON FUNCTION audit.log_change() FROM PUBLIC;
