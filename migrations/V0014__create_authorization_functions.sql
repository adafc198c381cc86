-- =============================================================================
-- V0014__create_authorization_functions
-- Purpose:       answer "may the acting user do X?" for policies and for the
--                SECURITY DEFINER functions: has_permission() (used inside RLS
--                policies), the permission set of a user, and the acting-user
--                check the administration functions start with.
-- Concern:       permission evaluation (functions only).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below); every function here is
--                SECURITY DEFINER owned by the owner, whose own policies on
--                user_management tables are plain tenant filters, so evaluating
--                a permission never re-enters has_permission().
-- Active grant:  user_roles row not revoked, not expired (expires_at > now()),
--                of a live role (deleted_at NULL), organization-wide (course_id
--                NULL) or scoped to the course asked about.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- has_permission(permission, course): the acting user, in the acting
-- organization, is live and holds the permission through an active grant.
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.has_permission(
    p_permission text,
    p_course_id uuid DEFAULT NULL
)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
          FROM user_management.users AS u
          JOIN user_management.user_roles AS ur
            ON ur.organization_id = u.organization_id
           AND ur.user_id = u.id
          JOIN user_management.roles AS r
            ON r.organization_id = ur.organization_id
           AND r.id = ur.role_id
          JOIN user_management.role_permissions AS rp
            ON rp.organization_id = r.organization_id
           AND rp.role_id = r.id
         WHERE u.organization_id = app.current_organization_id()
           AND u.id = app.current_user_id()
           AND u.deleted_at IS NULL
           AND u.suspended_at IS NULL
           AND ur.revoked_at IS NULL
           AND (ur.expires_at IS NULL OR ur.expires_at > pg_catalog.now())
           AND (ur.course_id IS NULL OR ur.course_id = p_course_id)
           AND r.deleted_at IS NULL
           AND rp.permission_key = p_permission)
$$;
COMMENT ON FUNCTION user_management.has_permission(text, uuid) IS
'True iff the acting user (app.user_id) of the acting organization (app.organization_id) is live (not deleted, not suspended) and holds p_permission through an active grant (not revoked, not expired, live role) that is organization-wide or scoped to p_course_id. False without context, for an unknown permission, or for NULL arguments. Use it in policies as (SELECT user_management.has_permission(''key'')) so it runs once per statement. SECURITY DEFINER: reads grants the caller may not see.';

-- ---------------------------------------------------------------------------
-- granted_permission_keys(user, course): the permissions a user's active
-- grants give, whether or not the user is live (internal).
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.granted_permission_keys(
    p_user_id uuid,
    p_course_id uuid DEFAULT NULL
)
RETURNS text[]
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
    SELECT coalesce(pg_catalog.array_agg(DISTINCT rp.permission_key
                                         ORDER BY rp.permission_key),
                    '{}'::text[])
      FROM user_management.user_roles AS ur
      JOIN user_management.roles AS r
        ON r.organization_id = ur.organization_id
       AND r.id = ur.role_id
      JOIN user_management.role_permissions AS rp
        ON rp.organization_id = r.organization_id
       AND rp.role_id = r.id
     WHERE ur.organization_id = app.current_organization_id()
       AND ur.user_id = p_user_id
       AND ur.revoked_at IS NULL
       AND (ur.expires_at IS NULL OR ur.expires_at > pg_catalog.now())
       AND (ur.course_id IS NULL OR ur.course_id = p_course_id)
       AND r.deleted_at IS NULL
$$;
COMMENT ON FUNCTION user_management.granted_permission_keys(uuid, uuid) IS
'Internal (not granted to the app): sorted permission keys that p_user_id''s active grants in the acting organization give, organization-wide plus those scoped to p_course_id (only organization-wide when NULL). Ignores whether the user is suspended or deleted, so it describes the standing of a target user too; has_permission() adds the liveness test for the acting user. Used by the anti-escalation rules: an actor may hand out, take away or act upon only what this returns for the actor.';

-- ---------------------------------------------------------------------------
-- current_user_permissions(course): for the application's user interface.
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.current_user_permissions(p_course_id uuid DEFAULT NULL)
RETURNS text[]
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
    SELECT CASE
               WHEN EXISTS (SELECT 1
                              FROM user_management.users AS u
                             WHERE u.organization_id = app.current_organization_id()
                               AND u.id = app.current_user_id()
                               AND u.deleted_at IS NULL
                               AND u.suspended_at IS NULL)
               THEN user_management.granted_permission_keys(app.current_user_id(), p_course_id)
               ELSE '{}'::text[]
           END
$$;
COMMENT ON FUNCTION user_management.current_user_permissions(uuid) IS
'Sorted permission keys of the acting user, organization-wide plus those scoped to p_course_id: exactly the keys for which has_permission(key, p_course_id) is true. Empty without context or for a suspended or deleted user. For showing and hiding actions in the user interface.';

-- ---------------------------------------------------------------------------
-- require_acting_user(): context check of the administration functions.
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.require_acting_user()
RETURNS uuid
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_user_id uuid := app.current_user_id();
BEGIN
    IF app.current_organization_id() IS NULL OR v_user_id IS NULL THEN
        RAISE EXCEPTION 'no acting user: app.organization_id and app.user_id must be set'
              USING ERRCODE = '42501',
                    HINT = 'SET LOCAL app.organization_id and app.user_id first in the transaction.';
    END IF;
    IF NOT EXISTS (SELECT 1
                     FROM user_management.users AS u
                    WHERE u.organization_id = app.current_organization_id()
                      AND u.id = v_user_id
                      AND u.deleted_at IS NULL
                      AND u.suspended_at IS NULL) THEN
        RAISE EXCEPTION 'acting user % is not a live user of the organization', v_user_id
              USING ERRCODE = '42501',
                    HINT = 'Suspended and deleted users cannot act.';
    END IF;
    RETURN v_user_id;
END
$$;
COMMENT ON FUNCTION user_management.require_acting_user() IS
'Internal: returns app.user_id when both app.organization_id and app.user_id are set and the user is live (not deleted, not suspended) in that organization; raises 42501 otherwise.';

-- ---------------------------------------------------------------------------
-- require_permission(permission, course): has_permission() or 42501.
-- ---------------------------------------------------------------------------
CREATE FUNCTION user_management.require_permission(
    p_permission text,
    p_course_id uuid DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
DECLARE
    v_user_id uuid := user_management.require_acting_user();
BEGIN
    IF NOT user_management.has_permission(p_permission, p_course_id) THEN
        RAISE EXCEPTION 'permission % required', p_permission
              USING ERRCODE = '42501',
                    DETAIL = pg_catalog.format('User %s lacks %s%s.', v_user_id, p_permission,
                                               CASE WHEN p_course_id IS NULL THEN ''
                                                    ELSE ' for course ' || p_course_id::text
                                               END),
                    HINT = 'Ask someone holding it, or an administrator to grant a role that has it.';
    END IF;
    RETURN v_user_id;
END
$$;
COMMENT ON FUNCTION user_management.require_permission(text, uuid) IS
'Internal: returns the acting user (require_acting_user()) when has_permission(p_permission, p_course_id) holds; raises 42501 naming the missing permission otherwise.';

REVOKE ALL ON FUNCTION
user_management.has_permission(text, uuid),
user_management.granted_permission_keys(uuid, uuid),
user_management.current_user_permissions(uuid),
user_management.require_acting_user(),
user_management.require_permission(text, uuid)
FROM PUBLIC;
-- Policies call has_permission() with the privileges of the querying role.
GRANT EXECUTE ON FUNCTION
user_management.has_permission(text, uuid),
user_management.current_user_permissions(uuid)
TO ${app_role};
