-- =============================================================================
-- V0016__create_organization_provisioning
-- Purpose:       sign-up: create an organization with its six system roles and
--                its first owner in one call.
-- Concern:       user_management.create_organization().
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Tenant context: the owner role is filtered by RLS too (FORCE), and its
--                policies admit only rows of app.organization_id. The function
--                therefore switches the context to the new organization (and,
--                once it exists, to the new owner as acting user, the audit
--                actor) with set_config(..., true), and puts the caller's values
--                back before it returns. On error the whole call is rolled back
--                and PostgreSQL restores the settings with it.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION user_management.create_organization(
    p_name text,
    p_slug text,
    p_plan_code text,
    p_owner_email text,
    p_owner_password_hash text,
    p_owner_display_name text,
    p_owner_timezone text DEFAULT 'UTC',
    p_settings jsonb DEFAULT '{}'::jsonb
)
RETURNS TABLE (organization_id uuid, owner_user_id uuid)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_previous_organization text := pg_catalog.current_setting('app.organization_id', true);
    v_previous_user text := pg_catalog.current_setting('app.user_id', true);
    v_organization_id uuid := app.uuid_generate_v7();
    v_owner_id uuid := app.uuid_generate_v7();
    v_settings jsonb := coalesce(p_settings, '{}'::jsonb);
BEGIN
    PERFORM pg_catalog.set_config('app.organization_id', v_organization_id::text, true);
    PERFORM pg_catalog.set_config('app.user_id', '', true);

    INSERT INTO user_management.organizations (
        id, name, slug, plan_code, settings, contact_email, subscription_started_at)
    VALUES (
        v_organization_id, p_name, p_slug, coalesce(p_plan_code, 'free'), v_settings,
        p_owner_email, pg_catalog.now());

    INSERT INTO user_management.roles (
        organization_id, key, name, description, system_key, is_system)
    SELECT v_organization_id, s.key, s.name, s.description, s.key, true
      FROM (VALUES
                ('owner', 'Owner',
                 'Owns the organization: every permission, including its settings and subscription.'),
                ('admin', 'Administrator',
                 'Runs the organization: every permission but its settings and subscription.'),
                ('instructor', 'Instructor',
                 'Creates and teaches courses: content, assessments, grading, enrollments, awards.'),
                ('teaching_assistant', 'Teaching assistant',
                 'Helps instructors: grades attempts, moderates discussions, sees unpublished courses.'),
                ('learner', 'Learner',
                 'Takes courses: enrolls, posts in discussions, redeems rewards.'),
                ('viewer', 'Viewer',
                 'Reads what every member reads; no permission.')
           ) AS s (key, name, description);

    INSERT INTO user_management.role_permissions (organization_id, role_id, permission_key)
    SELECT r.organization_id, r.id, srp.permission_key
      FROM user_management.roles AS r
      JOIN user_management.system_role_permissions AS srp
        ON srp.system_role_key = r.system_key
     WHERE r.organization_id = v_organization_id;

    INSERT INTO user_management.users (
        organization_id, id, email, password_hash, display_name, timezone)
    VALUES (
        v_organization_id, v_owner_id, p_owner_email, p_owner_password_hash,
        p_owner_display_name,
        coalesce(p_owner_timezone,
                 v_settings OPERATOR(pg_catalog.->>) 'default_timezone',
                 'UTC'));

    -- From here on the new owner is the acting user (audit actor).
    PERFORM pg_catalog.set_config('app.user_id', v_owner_id::text, true);

    INSERT INTO user_management.user_roles (organization_id, user_id, role_id)
    SELECT r.organization_id, v_owner_id, r.id
      FROM user_management.roles AS r
     WHERE r.organization_id = v_organization_id
       AND r.system_key = 'owner';

    PERFORM pg_catalog.set_config('app.organization_id',
                                  coalesce(v_previous_organization, ''), true);
    PERFORM pg_catalog.set_config('app.user_id', coalesce(v_previous_user, ''), true);

    RETURN QUERY SELECT v_organization_id, v_owner_id;
END
$$;
COMMENT ON FUNCTION user_management.create_organization(text, text, text, text, text, text, text, jsonb) IS
'Sign-up, in one transaction: creates the organization (plan p_plan_code, default free; settings p_settings; contact e-mail = the owner''s), its six system roles (owner, admin, instructor, teaching_assistant, learner, viewer) with the permissions of system_role_permissions, and the owner user (time zone p_owner_timezone, else settings default_timezone, else UTC) holding the owner role organization-wide. Returns (organization_id, owner_user_id). Invalid input fails with the violated constraint: 23505 uq_organizations_slug (slug taken), 23514 ck_organizations_slug_format / ck_users_password_hash_format / ck_organizations_settings / ck_users_timezone ..., 23503 fk_organizations_plan_code (unknown plan). Sets app.organization_id / app.user_id to the new organization / owner while it works (the owner role''s policies admit only the context''s organization) and restores the caller''s values before returning. Granted to the application role (sign-up needs no context).';
REVOKE ALL ON FUNCTION
user_management.create_organization(text, text, text, text, text, text, text, jsonb)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
user_management.create_organization(text, text, text, text, text, text, text, jsonb)
TO ${app_role};
