-- =============================================================================
-- V0029__serialize_owner_removal
-- Purpose:       1. the last-owner rule (EL009) held for one transaction at a
--                   time only: two owners revoking (or soft-deleting) each other
--                   at once each saw the other as the remaining owner, and both
--                   succeeded (write skew, found by tests/test_rbac.py). Every
--                   removal of an owner now takes a per-organization
--                   transaction-level advisory lock first and checks with a
--                   fresh snapshot (require_other_owner() becomes VOLATILE: in
--                   READ COMMITTED each of its statements sees what committed
--                   while it waited). Under SERIALIZABLE the conflict is a
--                   serialization failure; REPEATABLE READ is not protected.
--                2. create_organization(): p_owner_timezone defaults to NULL, so
--                   an omitted time zone falls back to settings.default_timezone
--                   (then UTC), as its comment always said.
-- Concern:       concurrency of owner removal; one function default.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION user_management.lock_owners()
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
    SELECT pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('user_management.owners:' || app.current_organization_id()::text, 0))
$$;
COMMENT ON FUNCTION user_management.lock_owners() IS
'Internal: transaction-level advisory lock on the owner set of the acting organization. Taken before any check that an owner may be removed (require_other_owner), so such removals happen one after another.';
REVOKE ALL ON FUNCTION user_management.lock_owners() FROM PUBLIC;

CREATE OR REPLACE FUNCTION user_management.require_other_owner(p_user_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = user_management, pg_temp
AS $$
BEGIN
    PERFORM user_management.lock_owners();
    -- A new statement, hence (READ COMMITTED) a snapshot taken after the lock.
    IF user_management.is_owner(p_user_id)
       AND NOT user_management.other_owner_exists(p_user_id) THEN
        RAISE EXCEPTION 'user % is the last owner of the organization', p_user_id
              USING ERRCODE = 'EL009',
                    DETAIL = 'An organization always keeps one live, unsuspended owner.',
                    HINT = 'Grant the owner role to another user first.';
    END IF;
END
$$;
COMMENT ON FUNCTION user_management.require_other_owner(uuid) IS
'Internal: raises EL009 when p_user_id is an owner (is_owner) and no other live, unsuspended owner exists (other_owner_exists): used before suspending, deleting or demoting a user. Takes lock_owners() first, so concurrent removals of owners cannot each leave the other as the last one.';

CREATE OR REPLACE FUNCTION user_management.revoke_role(p_user_role_id uuid)
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
    IF v_grant.system_key = 'owner' AND v_grant.course_id IS NULL THEN
        -- Serialised with every other removal of an owner (see lock_owners()).
        PERFORM user_management.require_other_owner(v_grant.user_id);
    END IF;

    UPDATE user_management.user_roles AS ur
       SET revoked_at = pg_catalog.now(),
           revoked_by = v_actor_id
     WHERE ur.organization_id = v_organization_id
       AND ur.id = p_user_role_id;
    RETURN true;
END
$$;


CREATE OR REPLACE FUNCTION user_management.create_organization(
    p_name text,
    p_slug text,
    p_plan_code text,
    p_owner_email text,
    p_owner_password_hash text,
    p_owner_display_name text,
    p_owner_timezone text DEFAULT NULL,
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
