-- =============================================================================
-- V0028__create_permitted_course_ids
-- Purpose:       course-scoped permission checks in policies without a function
--                call per row: permitted_course_ids(p) returns, once per
--                statement (as an InitPlan), the courses for which the acting
--                user holds p through a course-scoped grant. Policies of course
--                tables test
--                  (SELECT has_permission(p))                      -- org-wide
--                  OR course_id = ANY ((SELECT permitted_course_ids(p)))
--                (see sql/templates/rls.sql.j2, profiles course_catalog and
--                course_own_rows).
-- Concern:       permission evaluation for course-scoped grants.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION user_management.permitted_course_ids(p_permission text)
RETURNS uuid[]
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
    SELECT coalesce(pg_catalog.array_agg(DISTINCT ur.course_id), '{}'::uuid[])
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
       AND ur.course_id IS NOT NULL
       AND ur.revoked_at IS NULL
       AND (ur.expires_at IS NULL OR ur.expires_at > pg_catalog.now())
       AND r.deleted_at IS NULL
       AND rp.permission_key = p_permission
$$;
COMMENT ON FUNCTION user_management.permitted_course_ids(text) IS
'Courses for which the acting user (live, in the acting organization) holds p_permission through an active course-scoped grant; empty without context. Organization-wide grants are not listed: test them with has_permission(p_permission). For policies: course_id = ANY ((SELECT user_management.permitted_course_ids(''key''))) runs once per statement.';

REVOKE ALL ON FUNCTION user_management.permitted_course_ids(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION user_management.permitted_course_ids(text)
TO ${app_role}, ${readonly_role};
