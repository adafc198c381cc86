-- =============================================================================
-- V0015__create_plan_limit_trigger
-- Purpose:       enforce the subscription plan's limits in the database: a
--                reusable trigger function (limit kind as trigger argument) and
--                its first use, the number of live users.
-- Concern:       plan limits (function + the two triggers on users).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Custom SQLSTATEs: EL008 (plan limit reached), raised by
--                user_management.enforce_plan_limit().
-- Reuse:         courses (max_courses) and media assets (max_storage_bytes)
--                attach the same function in their own migrations:
--                  AFTER INSERT ... FOR EACH ROW WHEN (NEW.deleted_at IS NULL)
--                  EXECUTE FUNCTION user_management.enforce_plan_limit('courses');
--                  ... enforce_plan_limit('storage_bytes', 'size_bytes');
--                plus an AFTER UPDATE OF deleted_at trigger for undeletion
--                (and, for storage, AFTER UPDATE OF the size column).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION user_management.enforce_plan_limit()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_kind text := TG_ARGV[0];
    v_size_column text := TG_ARGV[1];
    v_plan_code text;
    v_limit bigint;
    v_count bigint;
    v_growth bigint;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE')
       OR v_kind IS NULL OR v_kind NOT IN ('users', 'courses', 'storage_bytes')
       OR (v_kind = 'storage_bytes') <> (v_size_column IS NOT NULL) THEN
        RAISE EXCEPTION 'user_management.enforce_plan_limit() is attached wrongly to %.% (%, %, %, arguments %)',
                        TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_WHEN, TG_LEVEL, TG_OP, TG_ARGV
              USING ERRCODE = '39P01',
                    HINT = 'AFTER INSERT / AFTER UPDATE OF deleted_at FOR EACH ROW, argument users or courses, or storage_bytes plus the size column.';
    END IF;

    IF v_kind = 'storage_bytes' THEN
        -- Only growth is checked: shrinking or deleting is always allowed.
        v_growth := coalesce((pg_catalog.to_jsonb(NEW) OPERATOR(pg_catalog.->>) v_size_column)::bigint, 0);
        IF TG_OP = 'UPDATE'
           AND (pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.->>) 'deleted_at') IS NULL THEN
            v_growth := v_growth
                - coalesce((pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.->>) v_size_column)::bigint, 0);
        END IF;
        IF v_growth <= 0 THEN
            RETURN NULL;
        END IF;
    END IF;

    -- Serialise every check of this organization: a concurrent writer waits
    -- here until this transaction ends, then counts again with a snapshot that
    -- includes this transaction's rows (READ COMMITTED: new snapshot per
    -- statement). FOR NO KEY UPDATE does not block the FOR KEY SHARE locks of
    -- foreign-key checks.
    SELECT o.plan_code,
           CASE v_kind
               WHEN 'users' THEN p.max_users
               WHEN 'courses' THEN p.max_courses
               ELSE p.max_storage_bytes
           END
      INTO v_plan_code, v_limit
      FROM user_management.organizations AS o
      JOIN user_management.subscription_plans AS p ON p.code = o.plan_code
     WHERE o.id = NEW.organization_id
       FOR NO KEY UPDATE OF o;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'organization % is not the organization of the current context',
                        NEW.organization_id
              USING ERRCODE = '42501',
                    HINT = 'SET LOCAL app.organization_id to the organization the row belongs to.';
    END IF;
    IF v_limit IS NULL THEN
        RETURN NULL;
    END IF;

    -- The row itself (and every row of the same statement) is already there.
    IF v_kind = 'storage_bytes' THEN
        EXECUTE pg_catalog.format(
            'SELECT coalesce(pg_catalog.sum(%I), 0) FROM %I.%I '
            'WHERE organization_id = $1 AND deleted_at IS NULL',
            v_size_column, TG_TABLE_SCHEMA, TG_TABLE_NAME)
           INTO v_count
          USING NEW.organization_id;
    ELSE
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.count(*) FROM %I.%I '
            'WHERE organization_id = $1 AND deleted_at IS NULL',
            TG_TABLE_SCHEMA, TG_TABLE_NAME)
           INTO v_count
          USING NEW.organization_id;
    END IF;

    IF v_count > v_limit THEN
        RAISE EXCEPTION 'plan "%" allows at most % %', v_plan_code, v_limit, v_kind
              USING ERRCODE = 'EL008',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('limit %s, %s after this change: %s',
                                               v_limit, v_kind, v_count),
                    HINT = 'Upgrade the organization''s plan, or delete something first.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION user_management.enforce_plan_limit() IS
'AFTER ROW trigger enforcing a limit of the organization''s subscription plan when a live row is inserted or a soft-deleted one undeleted. TG_ARGV[0] = users (max_users) or courses (max_courses): counts the live rows (deleted_at IS NULL) of the trigger''s table in NEW.organization_id; storage_bytes (max_storage_bytes) with TG_ARGV[1] = the size column: sums it, and checks only changes that grow it. Raises EL008 (constraint = trigger name, DETAIL "limit L, <kind> after this change: C") when the total would exceed the limit; NULL limit = unlimited. AFTER, not BEFORE: privileges, RLS, CHECK, unique and foreign-key errors come first, so a writer who may not insert learns nothing about the organization''s counts. Concurrency-safe under READ COMMITTED and SERIALIZABLE: it locks the organization row (FOR NO KEY UPDATE) before counting, so the checks of one organization run one after another (under REPEATABLE READ the count could miss rows committed after the snapshot). SECURITY DEFINER: counts rows the writer may not see; works inside the writer''s organization context (42501 when the row belongs to another).';
REVOKE ALL ON FUNCTION user_management.enforce_plan_limit() FROM PUBLIC;

CREATE TRIGGER trg_users_enforce_plan_limit_insert
AFTER INSERT ON user_management.users
FOR EACH ROW
WHEN (new.deleted_at IS NULL)
EXECUTE FUNCTION user_management.enforce_plan_limit('users');
COMMENT ON TRIGGER trg_users_enforce_plan_limit_insert ON user_management.users IS
'A new live user must fit the plan''s max_users (EL008).';

CREATE TRIGGER trg_users_enforce_plan_limit_undelete
AFTER UPDATE OF deleted_at ON user_management.users
FOR EACH ROW
WHEN (old.deleted_at IS NOT NULL AND new.deleted_at IS NULL)
EXECUTE FUNCTION user_management.enforce_plan_limit('users');
COMMENT ON TRIGGER trg_users_enforce_plan_limit_undelete ON user_management.users IS
'An undeleted user must fit the plan''s max_users (EL008).';
