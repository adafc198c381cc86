-- =============================================================================
-- V0019__create_role_administration
-- Purpose:       the only way the application changes who holds which role and
--                what a custom role may do, with the anti-escalation rules in
--                the database: grant_role(), revoke_role(),
--                set_role_permissions(), and a guard on undeleting roles.
-- Concern:       role administration functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Rules:         (all 42501 with a HINT unless noted)
--                * grant_role / revoke_role need user.role.assign (for the
--                  course, when the grant is course-scoped);
--                * nobody grants a role to themself;
--                * the role's permissions must be a subset of the caller's own
--                  (organization-wide plus those for the course): an admin
--                  cannot mint or demote an owner, nobody raises anyone above
--                  themself;
--                * set_role_permissions needs role.manage, touches custom roles
--                  only (system roles: EL006), never a role the caller holds,
--                  and adds or removes only permissions the caller holds;
--                * the last owner cannot be demoted (EL009).
-- Locking:       grant_role locks the role FOR SHARE, set_role_permissions FOR
--                UPDATE: a grant and a change of the same role's permissions
--                run one after the other.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Internal: the permissions of p_role_id that p_user_id does not hold.
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.permissions_not_held(
    p_role_id uuid,
    p_user_id uuid,
    p_course_id uuid DEFAULT NULL
)
RETURNS text[]
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
    SELECT coalesce(pg_catalog.array_agg(rp.permission_key ORDER BY rp.permission_key),
                    '{}'::text[])
      FROM user_management.role_permissions AS rp
     WHERE rp.organization_id = app.current_organization_id()
       AND rp.role_id = p_role_id
       AND NOT rp.permission_key
           = ANY (user_management.granted_permission_keys(p_user_id, p_course_id))
$$;
COMMENT ON FUNCTION user_management.permissions_not_held(uuid, uuid, uuid) IS
'Internal: sorted keys of the permissions of role p_role_id that p_user_id does not hold (granted_permission_keys for p_course_id); empty when the user holds them all.';

-- ---------------------------------------------------------------------------
-- grant_role
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.grant_role(
    p_user_id uuid,
    p_role_id uuid,
    p_course_id uuid DEFAULT NULL,
    p_expires_at timestamptz DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_actor_id uuid := user_management.require_permission('user.role.assign', p_course_id);
    v_role_key text;
    v_missing text[];
    v_user_role_id uuid;
BEGIN
    IF p_user_id = v_actor_id THEN
        RAISE EXCEPTION 'nobody grants a role to themself'
              USING ERRCODE = '42501',
                    HINT = 'Another user holding user.role.assign and the role''s permissions must grant it.';
    END IF;
    IF p_expires_at <= pg_catalog.now() THEN
        RAISE EXCEPTION 'p_expires_at must be in the future' USING ERRCODE = '22023';
    END IF;
    PERFORM 1
       FROM user_management.users AS u
      WHERE u.organization_id = v_organization_id
        AND u.id = p_user_id
        AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live user % in the organization', p_user_id USING ERRCODE = 'P0002';
    END IF;
    SELECT r.key INTO v_role_key
      FROM user_management.roles AS r
     WHERE r.organization_id = v_organization_id
       AND r.id = p_role_id
       AND r.deleted_at IS NULL
       FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live role % in the organization', p_role_id USING ERRCODE = 'P0002';
    END IF;

    v_missing := user_management.permissions_not_held(p_role_id, v_actor_id, p_course_id);
    IF pg_catalog.cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'cannot grant role "%": it has permissions you do not hold', v_role_key
              USING ERRCODE = '42501',
                    DETAIL = 'Missing: ' || pg_catalog.array_to_string(v_missing, ', ') || '.',
                    HINT = 'Only a user holding every permission of a role can grant it.';
    END IF;

    -- An expired grant that was never revoked still occupies uq_user_roles_active:
    -- close it so the role can be granted again.
    UPDATE user_management.user_roles AS ur
       SET revoked_at = pg_catalog.now()
     WHERE ur.organization_id = v_organization_id
       AND ur.user_id = p_user_id
       AND ur.role_id = p_role_id
       AND ur.course_id IS NOT DISTINCT FROM p_course_id
       AND ur.revoked_at IS NULL
       AND ur.expires_at <= pg_catalog.now();

    INSERT INTO user_management.user_roles (
        organization_id, user_id, role_id, course_id, granted_by, expires_at)
    VALUES (
        v_organization_id, p_user_id, p_role_id, p_course_id, v_actor_id, p_expires_at)
    RETURNING id INTO v_user_role_id;
    RETURN v_user_role_id;
END
$$;
COMMENT ON FUNCTION user_management.grant_role(uuid, uuid, uuid, timestamptz) IS
'Grants role p_role_id to p_user_id, organization-wide (p_course_id NULL) or for one course, until p_expires_at (NULL = until revoked; 22023 if not in the future); returns the user_roles id. The caller needs user.role.assign (for the course), must not be the grantee, and must hold every permission of the role (DETAIL lists the missing ones): 42501 otherwise. P0002 for no live user or role; 23505 uq_user_roles_active when the same active grant exists (an expired one is closed and replaced).';

-- ---------------------------------------------------------------------------
-- revoke_role
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.revoke_role(p_user_role_id uuid)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_actor_id uuid := user_management.require_acting_user();
    v_grant record;
    v_missing text[];
BEGIN
    SELECT ur.user_id, ur.role_id, ur.course_id, ur.revoked_at, r.key, r.system_key
      INTO v_grant
      FROM user_management.user_roles AS ur
      JOIN user_management.roles AS r
        ON r.organization_id = ur.organization_id
       AND r.id = ur.role_id
     WHERE ur.organization_id = v_organization_id
       AND ur.id = p_user_role_id
       FOR UPDATE OF ur;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no role grant % in the organization', p_user_role_id
              USING ERRCODE = 'P0002';
    END IF;
    PERFORM user_management.require_permission('user.role.assign', v_grant.course_id);
    IF v_grant.revoked_at IS NOT NULL THEN
        RETURN false;
    END IF;

    v_missing := user_management.permissions_not_held(v_grant.role_id, v_actor_id, v_grant.course_id);
    IF pg_catalog.cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'cannot revoke role "%": it has permissions you do not hold', v_grant.key
              USING ERRCODE = '42501',
                    DETAIL = 'Missing: ' || pg_catalog.array_to_string(v_missing, ', ') || '.',
                    HINT = 'Only a user holding every permission of a role can revoke it.';
    END IF;
    IF v_grant.system_key = 'owner' AND v_grant.course_id IS NULL
       AND NOT user_management.other_owner_exists(v_grant.user_id) THEN
        RAISE EXCEPTION 'user % is the last owner of the organization', v_grant.user_id
              USING ERRCODE = 'EL009',
                    DETAIL = 'An organization always keeps one live, unsuspended owner.',
                    HINT = 'Grant the owner role to another user first.';
    END IF;

    UPDATE user_management.user_roles AS ur
       SET revoked_at = pg_catalog.now(),
           revoked_by = v_actor_id
     WHERE ur.organization_id = v_organization_id
       AND ur.id = p_user_role_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION user_management.revoke_role(uuid) IS
'Revokes the role grant p_user_role_id (user_roles.id), keeping it as history (revoked_at, revoked_by). The caller needs user.role.assign (for the grant''s course) and every permission of the role (42501: an admin cannot demote an owner); the last owner''s organization-wide owner grant stays (EL009); P0002 for an unknown grant. Revoking one''s own grant is allowed. Returns false when it was already revoked.';

-- ---------------------------------------------------------------------------
-- set_role_permissions
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.set_role_permissions(
    p_role_id uuid,
    p_permission_keys text[]
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_actor_id uuid := user_management.require_permission('role.manage');
    v_role record;
    v_wanted text[];
    v_current text[];
    v_unknown text[];
    v_missing text[];
    v_removed integer;
    v_added integer;
BEGIN
    IF p_permission_keys IS NULL OR NULL::text = ANY (p_permission_keys) THEN
        RAISE EXCEPTION 'p_permission_keys must be an array without NULL elements'
              USING ERRCODE = '22023';
    END IF;
    SELECT r.key, r.system_key INTO v_role
      FROM user_management.roles AS r
     WHERE r.organization_id = v_organization_id
       AND r.id = p_role_id
       AND r.deleted_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live role % in the organization', p_role_id USING ERRCODE = 'P0002';
    END IF;
    IF v_role.system_key IS NOT NULL THEN
        RAISE EXCEPTION 'the permissions of system role "%" cannot be changed', v_role.key
              USING ERRCODE = 'EL006',
                    HINT = 'Create a custom role with the permissions wanted.';
    END IF;
    IF EXISTS (SELECT 1
                 FROM user_management.user_roles AS ur
                WHERE ur.organization_id = v_organization_id
                  AND ur.user_id = v_actor_id
                  AND ur.role_id = p_role_id
                  AND ur.revoked_at IS NULL
                  AND (ur.expires_at IS NULL OR ur.expires_at > pg_catalog.now())) THEN
        RAISE EXCEPTION 'cannot change role "%": you hold it', v_role.key
              USING ERRCODE = '42501',
                    HINT = 'Another user holding role.manage must change a role you hold.';
    END IF;

    SELECT coalesce(pg_catalog.array_agg(DISTINCT k.key ORDER BY k.key), '{}'::text[])
      INTO v_wanted
      FROM pg_catalog.unnest(p_permission_keys) AS k (key);
    SELECT pg_catalog.array_agg(k.key ORDER BY k.key)
      INTO v_unknown
      FROM pg_catalog.unnest(v_wanted) AS k (key)
     WHERE NOT EXISTS (SELECT 1 FROM user_management.permissions AS p WHERE p.key = k.key);
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown permission keys: %', pg_catalog.array_to_string(v_unknown, ', ')
              USING ERRCODE = '22023',
                    HINT = 'See user_management.permissions.';
    END IF;
    SELECT coalesce(pg_catalog.array_agg(rp.permission_key ORDER BY rp.permission_key), '{}'::text[])
      INTO v_current
      FROM user_management.role_permissions AS rp
     WHERE rp.organization_id = v_organization_id
       AND rp.role_id = p_role_id;

    -- Every permission added or removed must be one the caller holds.
    SELECT pg_catalog.array_agg(c.key ORDER BY c.key)
      INTO v_missing
      FROM (SELECT w.key FROM pg_catalog.unnest(v_wanted) AS w (key)
             WHERE NOT w.key = ANY (v_current)
            UNION
            SELECT o.key FROM pg_catalog.unnest(v_current) AS o (key)
             WHERE NOT o.key = ANY (v_wanted)) AS c
     WHERE NOT c.key = ANY (user_management.granted_permission_keys(v_actor_id));
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'cannot change role "%": the change touches permissions you do not hold',
                        v_role.key
              USING ERRCODE = '42501',
                    DETAIL = 'Not held: ' || pg_catalog.array_to_string(v_missing, ', ') || '.',
                    HINT = 'Only permissions you hold can be added to or removed from a role.';
    END IF;

    DELETE FROM user_management.role_permissions AS rp
     WHERE rp.organization_id = v_organization_id
       AND rp.role_id = p_role_id
       AND NOT rp.permission_key = ANY (v_wanted);
    GET DIAGNOSTICS v_removed = ROW_COUNT;
    INSERT INTO user_management.role_permissions (organization_id, role_id, permission_key)
    SELECT v_organization_id, p_role_id, w.key
      FROM pg_catalog.unnest(v_wanted) AS w (key)
     WHERE NOT w.key = ANY (v_current);
    GET DIAGNOSTICS v_added = ROW_COUNT;
    RETURN v_removed + v_added;
END
$$;
COMMENT ON FUNCTION user_management.set_role_permissions(uuid, text[]) IS
'Makes p_permission_keys (duplicates ignored) the exact permission set of the custom role p_role_id and returns the number of permissions added plus removed. Needs role.manage (42501); system roles are immutable (EL006); a caller cannot change a role they hold (42501); every permission added or removed must be one the caller holds (42501, DETAIL lists the others); unknown keys or NULL elements: 22023; P0002 for no live role.';

-- ---------------------------------------------------------------------------
-- Undeleting a role revives its grants: only for someone holding its
-- permissions (otherwise a holder of role.manage could revive a deleted role
-- they still hold and regain what it gave).
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.guard_role_undelete()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_actor_id uuid := app.current_user_id();
    v_missing text[];
BEGIN
    IF v_actor_id IS NOT NULL THEN
        v_missing := user_management.permissions_not_held(OLD.id, v_actor_id);
        IF pg_catalog.cardinality(v_missing) > 0 THEN
            RAISE EXCEPTION 'cannot undelete role "%": it has permissions you do not hold', OLD.key
                  USING ERRCODE = '42501',
                        DETAIL = 'Missing: ' || pg_catalog.array_to_string(v_missing, ', ') || '.',
                        HINT = 'Only a user holding every permission of a role can undelete it.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION user_management.guard_role_undelete() IS
'BEFORE UPDATE OF deleted_at trigger of roles (trg_roles_guard_undelete), fired when a deleted role becomes live again: the acting user must hold every permission of the role (42501), since its unrevoked grants take effect again. Without an acting user (maintenance) it allows the change.';

CREATE TRIGGER trg_roles_guard_undelete
BEFORE UPDATE OF deleted_at ON user_management.roles
FOR EACH ROW
WHEN (old.deleted_at IS NOT NULL AND new.deleted_at IS NULL)
EXECUTE FUNCTION user_management.guard_role_undelete();
COMMENT ON TRIGGER trg_roles_guard_undelete ON user_management.roles IS
'Undeleting a role needs every permission it has (42501).';

REVOKE ALL ON FUNCTION
user_management.permissions_not_held(uuid, uuid, uuid),
user_management.grant_role(uuid, uuid, uuid, timestamptz),
user_management.revoke_role(uuid),
user_management.set_role_permissions(uuid, text[]),
user_management.guard_role_undelete()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
user_management.grant_role(uuid, uuid, uuid, timestamptz),
user_management.revoke_role(uuid),
user_management.set_role_permissions(uuid, text[])
TO ${app_role};
