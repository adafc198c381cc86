-- =============================================================================
-- V0130__create_point_expiry
-- Purpose:       the expiry of unspent points (issue 5): one policy per point
--                system (point_expiry_policies) and expire_points().
-- Concern:       gamification point expiry.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Expiry:        FIFO: spending and expiring consume the oldest points first.
--                For a cutoff C, expirable = max(0, sum of positive amounts dated
--                before C + sum of all negative amounts), never more than
--                available; posted as one 'expire' row per user, system and
--                cutoff (idempotency key), so a replay changes nothing.
--                apply_award() (V0093) reserves the keys starting with expire:.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- point_expiry_policies: one per point system.
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.point_expiry_policies (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    point_system_id uuid NOT NULL,
    expire_after interval NOT NULL,
    active boolean NOT NULL DEFAULT TRUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_point_expiry_policies PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_point_expiry_policies_point_system_id
    FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_point_expiry_policies_organization_id_point_system_id
    UNIQUE (organization_id, point_system_id),
    CONSTRAINT ck_point_expiry_policies_expire_after
    CHECK (expire_after >= interval '1 day' AND expire_after <= interval '10 years')
);

COMMENT ON TABLE gamification.point_expiry_policies IS
'Expiry of unspent points, one policy per point system: expire_points() without a cutoff expires points earned before the start (UTC) of the day now() - expire_after, first in first out (see expire_points()). Read by every member, managed with gamification.manage.';
COMMENT ON COLUMN gamification.point_expiry_policies.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.point_expiry_policies.id IS 'Policy id (UUIDv7).';
COMMENT ON COLUMN gamification.point_expiry_policies.point_system_id IS 'The point system (one policy each, uq_point_expiry_policies_organization_id_point_system_id).';
COMMENT ON COLUMN gamification.point_expiry_policies.expire_after IS 'Age after which unspent points expire (1 day to 10 years).';
COMMENT ON COLUMN gamification.point_expiry_policies.active IS 'Inactive: expire_points() without a cutoff expires nothing.';
COMMENT ON COLUMN gamification.point_expiry_policies.created_at IS 'When the policy was created.';
COMMENT ON COLUMN gamification.point_expiry_policies.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- expire_points(...)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.expirable_points(
    p_organization_id uuid,
    p_user_id uuid,
    p_point_system_id uuid,
    p_cutoff timestamptz
)
RETURNS bigint
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
    SELECT GREATEST(0, coalesce(sum(t.amount) FILTER (WHERE t.amount > 0 AND t.occurred_at < p_cutoff), 0)
                       + coalesce(sum(t.amount) FILTER (WHERE t.amount < 0), 0))::bigint
      FROM gamification.point_transactions AS t
     WHERE t.organization_id = p_organization_id
       AND t.user_id = p_user_id
       AND t.point_system_id = p_point_system_id
$$;
COMMENT ON FUNCTION gamification.expirable_points(uuid, uuid, uuid, timestamptz) IS
'Internal: points of a user in a system that expire at cutoff p_cutoff under first-in-first-out: max(0, sum of positive amounts (award, bonus, refund, positive adjust) dated before p_cutoff + sum of every negative amount (spend, expire, negative adjust), whenever dated). Spends and earlier expiries consume the oldest points first; never more than available (available = all positive + all negative amounts).';
REVOKE ALL ON FUNCTION gamification.expirable_points(uuid, uuid, uuid, timestamptz) FROM PUBLIC;

CREATE FUNCTION gamification.expire_points(
    p_point_system_id uuid DEFAULT NULL,
    p_cutoff timestamptz DEFAULT NULL,
    p_limit integer DEFAULT 1000,
    p_after_user_id uuid DEFAULT NULL
)
RETURNS TABLE (
    users_checked integer, users_expired integer, points_expired bigint, next_user_id uuid
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_system gamification.point_systems;
    v_policy gamification.point_expiry_policies;
    v_cutoff timestamptz := p_cutoff;
    v_user uuid;
    v_up gamification.user_points;
    v_key text;
    v_amount bigint;
    v_last uuid;
BEGIN
    PERFORM user_management.require_permission('gamification.manage');
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'p_limit must be 1..10000' USING ERRCODE = '22023';
    END IF;
    IF p_cutoff > pg_catalog.now() THEN
        RAISE EXCEPTION 'the cutoff % is in the future', p_cutoff
              USING ERRCODE = '22023', HINT = 'Only points earned before a past time can expire.';
    END IF;
    v_system := gamification.resolve_point_system(p_point_system_id);
    users_checked := 0;
    users_expired := 0;
    points_expired := 0;
    IF v_cutoff IS NULL THEN
        SELECT p.* INTO v_policy FROM gamification.point_expiry_policies AS p
         WHERE p.organization_id = v_system.organization_id AND p.point_system_id = v_system.id AND p.active;
        IF NOT FOUND THEN
            RETURN NEXT;  -- no active policy: nothing expires
            RETURN;
        END IF;
        v_cutoff := pg_catalog.timezone('UTC', pg_catalog.date_trunc('day',
                        pg_catalog.timezone('UTC', pg_catalog.now() - v_policy.expire_after)));
    END IF;
    -- Users in user_id order (the fixed lock order), one user_points lock at a time.
    FOR v_user IN
        SELECT up.user_id
          FROM gamification.user_points AS up
          JOIN user_management.users AS u ON u.organization_id = up.organization_id AND u.id = up.user_id
         WHERE up.organization_id = v_system.organization_id
           AND up.point_system_id = v_system.id
           AND up.available > 0
           AND u.deleted_at IS NULL
           AND (p_after_user_id IS NULL OR up.user_id > p_after_user_id)
         ORDER BY up.user_id
         LIMIT p_limit
    LOOP
        users_checked := users_checked + 1;
        v_last := v_user;
        v_up := gamification.lock_user_points(v_user, v_system.id);
        v_key := pg_catalog.format('expire:%s:%s:%s', v_system.id, v_user,
                                   pg_catalog.to_char(pg_catalog.timezone('UTC', v_cutoff),
                                                      'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
        CONTINUE WHEN EXISTS (SELECT 1 FROM gamification.point_transactions AS t
                               WHERE t.organization_id = v_up.organization_id AND t.idempotency_key = v_key);
        v_amount := LEAST(gamification.expirable_points(v_up.organization_id, v_user, v_system.id, v_cutoff),
                          v_up.available);
        CONTINUE WHEN v_amount <= 0;
        PERFORM gamification.post_transaction(
            v_up, 'expire', -v_amount, 'point_expiry', NULL, NULL, 1, v_key,
            pg_catalog.format('Points earned before %s expired.', v_cutoff));
        users_expired := users_expired + 1;
        points_expired := points_expired + v_amount;
    END LOOP;
    next_user_id := CASE WHEN users_checked = p_limit THEN v_last END;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION gamification.expire_points(uuid, timestamptz, integer, uuid) IS
'Expires unspent points of the acting organization in point system p_point_system_id (NULL = the default system) earned before p_cutoff (NULL = the start, UTC, of the day now() - the system''s active point_expiry_policies.expire_after; no active policy = nothing), first in first out (expirable_points()), never below 0 available. One ledger row of kind expire per user, system and cutoff (idempotency key expire:<system>:<user>:<cutoff UTC>): a second run with the same cutoff changes nothing; a later cutoff expires only what became expirable since. Works through up to p_limit users with available > 0 (live users, user_id order after p_after_user_id, the fixed lock order) and returns users_checked, users_expired, points_expired and next_user_id (the last user when the batch was full: call again with it, else NULL). Needs gamification.manage (42501): staff or a worker''s service account; 22023 for a future cutoff or a p_limit outside 1..10000.';
REVOKE ALL ON FUNCTION gamification.expire_points(uuid, timestamptz, integer, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.expire_points(uuid, timestamptz, integer, uuid)
TO ${app_role};

ALTER TABLE gamification.point_expiry_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.point_expiry_policies FORCE ROW LEVEL SECURITY;
