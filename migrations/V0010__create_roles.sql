-- =============================================================================
-- V0010__create_roles
-- Purpose:       role-based access control inside an organization: roles (six
--                system roles per organization plus custom ones), the
--                permissions of each role, and the grants of roles to users,
--                organization-wide or for one course.
-- Concern:       roles, role_permissions, user_roles.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        the app creates, renames and soft-deletes custom roles
--                (role.manage); role_permissions and user_roles change only
--                through set_role_permissions(), grant_role() and revoke_role()
--                (SECURITY DEFINER, later migration), which refuse privilege
--                escalation.
-- Custom SQLSTATEs: EL006 (a system role's key, system key or deletion
--                changed), raised by user_management.protect_system_roles().
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- roles
-- ---------------------------------------------------------------------------
CREATE TABLE user_management.roles (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    key text NOT NULL,
    name text NOT NULL,
    description text,
    system_key text,
    is_system boolean NOT NULL DEFAULT FALSE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_roles PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_roles_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT uq_roles_organization_id_system_key
    UNIQUE (organization_id, system_key),
    CONSTRAINT ck_roles_key_format
    CHECK (key ~ '^[a-z][a-z0-9_]{1,49}$'),
    CONSTRAINT ck_roles_name_length
    CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_roles_description_length
    CHECK (char_length(description) BETWEEN 1 AND 500),
    CONSTRAINT ck_roles_system_key
    CHECK (
        system_key IN (
            'owner', 'admin', 'instructor', 'teaching_assistant', 'learner',
            'viewer'
        )
    ),
    CONSTRAINT ck_roles_is_system
    CHECK (is_system = (system_key IS NOT NULL)),
    CONSTRAINT ck_roles_system_role
    CHECK (system_key IS NULL OR (key = system_key AND deleted_at IS NULL)),
    CONSTRAINT ck_roles_deleted_at
    CHECK (deleted_at >= created_at)
);

-- A key names one live role of the organization; a soft-deleted role frees it.
CREATE UNIQUE INDEX uq_roles_organization_id_key
ON user_management.roles (organization_id, key)
WHERE deleted_at IS NULL;

COMMENT ON TABLE user_management.roles IS
'Roles of an organization: the six system roles that create_organization() makes (owner, admin, instructor, teaching_assistant, learner, viewer; immutable, EL006) and custom roles (role.manage). A role holds permissions (role_permissions) and is granted to users (user_roles). Soft-deleted (deleted_at): a deleted role grants nothing.';
COMMENT ON COLUMN user_management.roles.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN user_management.roles.id IS
'Role id (UUIDv7).';
COMMENT ON COLUMN user_management.roles.key IS
'Stable identifier of the role in its organization (lower-case letters, digits, underscores; 2-50 characters), unique among live roles (uq_roles_organization_id_key). A system role''s key is its system_key.';
COMMENT ON COLUMN user_management.roles.name IS
'Display name (1-100 characters); may be changed, also for system roles.';
COMMENT ON COLUMN user_management.roles.description IS
'What the role is for (1-500 characters); optional.';
COMMENT ON COLUMN user_management.roles.system_key IS
'owner, admin, instructor, teaching_assistant, learner or viewer for the system roles (at most one of each per organization, permissions from system_role_permissions); NULL for custom roles.';
COMMENT ON COLUMN user_management.roles.is_system IS
'True exactly for the system roles (ck_roles_is_system: is_system = (system_key IS NOT NULL)). Their key, permissions and existence cannot be changed (EL006). A plain column rather than a generated one: generated columns are still NULL in BEFORE triggers, so app.set_updated_at() would see every update of a role as a change.';
COMMENT ON COLUMN user_management.roles.created_at IS
'When the role was created (immutable).';
COMMENT ON COLUMN user_management.roles.updated_at IS
'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN user_management.roles.deleted_at IS
'Soft delete: when the custom role was deleted; NULL = live. Never set for system roles.';

CREATE FUNCTION user_management.protect_system_roles()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (OLD.system_key IS NOT NULL
        AND (NEW.key IS DISTINCT FROM OLD.key
             OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at))
       OR NEW.system_key IS DISTINCT FROM OLD.system_key
       OR NEW.is_system IS DISTINCT FROM OLD.is_system THEN
        RAISE EXCEPTION 'system role "%" cannot be changed this way', OLD.key
              USING ERRCODE = 'EL006',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    DETAIL = 'The key, system key and existence of the six system roles are fixed; custom roles never become system roles.',
                    HINT = 'Create a custom role instead; name and description of a system role may change.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION user_management.protect_system_roles() IS
'BEFORE UPDATE trigger of roles (trg_roles_protect_system): raises EL006 when the key or deleted_at of a system role changes, or when system_key or is_system changes on any role. Name and description stay editable.';
REVOKE ALL ON FUNCTION user_management.protect_system_roles() FROM PUBLIC;

CREATE TRIGGER trg_roles_protect_system
BEFORE UPDATE ON user_management.roles
FOR EACH ROW EXECUTE FUNCTION user_management.protect_system_roles();
COMMENT ON TRIGGER trg_roles_protect_system ON user_management.roles IS
'System roles keep their key and are never deleted; system_key never changes (EL006).';

-- ---------------------------------------------------------------------------
-- role_permissions
-- ---------------------------------------------------------------------------
CREATE TABLE user_management.role_permissions (
    organization_id uuid NOT NULL,
    role_id uuid NOT NULL,
    permission_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_role_permissions
    PRIMARY KEY (organization_id, role_id, permission_key),
    CONSTRAINT fk_role_permissions_role_id FOREIGN KEY (organization_id, role_id)
    REFERENCES user_management.roles (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_role_permissions_permission_key FOREIGN KEY (permission_key)
    REFERENCES user_management.permissions (key) ON DELETE CASCADE
);
CREATE INDEX idx_role_permissions_permission_key
ON user_management.role_permissions (permission_key);

COMMENT ON TABLE user_management.role_permissions IS
'Permissions held by each role of an organization. System roles get theirs from system_role_permissions when the organization is created; custom roles through set_role_permissions(), which only hands out permissions the caller holds. Rows are inserted and deleted, never updated.';
COMMENT ON COLUMN user_management.role_permissions.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN user_management.role_permissions.role_id IS
'Role holding the permission (user_management.roles).';
COMMENT ON COLUMN user_management.role_permissions.permission_key IS
'Permission held (user_management.permissions).';
COMMENT ON COLUMN user_management.role_permissions.created_at IS
'When the role received the permission.';

-- ---------------------------------------------------------------------------
-- user_roles
-- ---------------------------------------------------------------------------
CREATE TABLE user_management.user_roles (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    role_id uuid NOT NULL,
    course_id uuid,
    granted_by uuid,
    granted_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    revoked_by uuid,
    CONSTRAINT pk_user_roles PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_user_roles_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_user_roles_role_id FOREIGN KEY (organization_id, role_id)
    REFERENCES user_management.roles (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_user_roles_granted_by FOREIGN KEY (organization_id, granted_by)
    REFERENCES user_management.users (organization_id, id),
    CONSTRAINT fk_user_roles_revoked_by FOREIGN KEY (organization_id, revoked_by)
    REFERENCES user_management.users (organization_id, id),
    CONSTRAINT ck_user_roles_not_self_granted
    CHECK (granted_by <> user_id),
    CONSTRAINT ck_user_roles_expires_at
    CHECK (expires_at > granted_at),
    CONSTRAINT ck_user_roles_revoked_at
    CHECK (revoked_at >= granted_at),
    CONSTRAINT ck_user_roles_revoked_by
    CHECK (revoked_by IS NULL OR revoked_at IS NOT NULL)
);

-- One active grant per user, role and scope; NULLS NOT DISTINCT (PostgreSQL
-- 15+) makes two organization-wide grants (course_id NULL) collide too.
CREATE UNIQUE INDEX uq_user_roles_active
ON user_management.user_roles (organization_id, user_id, role_id, course_id)
NULLS NOT DISTINCT
WHERE revoked_at IS NULL;
CREATE INDEX idx_user_roles_organization_id_user_id
ON user_management.user_roles (organization_id, user_id);
CREATE INDEX idx_user_roles_organization_id_role_id
ON user_management.user_roles (organization_id, role_id);
CREATE INDEX idx_user_roles_organization_id_granted_by
ON user_management.user_roles (organization_id, granted_by)
WHERE granted_by IS NOT NULL;
CREATE INDEX idx_user_roles_organization_id_revoked_by
ON user_management.user_roles (organization_id, revoked_by)
WHERE revoked_by IS NOT NULL;

COMMENT ON TABLE user_management.user_roles IS
'Grants of roles to users, organization-wide (course_id NULL) or for one course. Active = not revoked and not expired. Changed only by grant_role() and revoke_role() (and create_organization() for the first owner); a revoked grant stays as history.';
COMMENT ON COLUMN user_management.user_roles.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN user_management.user_roles.id IS
'Grant id (UUIDv7).';
COMMENT ON COLUMN user_management.user_roles.user_id IS
'User holding the role.';
COMMENT ON COLUMN user_management.user_roles.role_id IS
'Role granted.';
COMMENT ON COLUMN user_management.user_roles.course_id IS
'Scope: the course the grant is limited to; NULL = the whole organization. The foreign key to course_management.courses (organization_id, course_id) and its index are added by the migration that creates courses.';
COMMENT ON COLUMN user_management.user_roles.granted_by IS
'User who granted the role (never the grantee); NULL for the first owner made by create_organization().';
COMMENT ON COLUMN user_management.user_roles.granted_at IS
'When the role was granted (start of validity).';
COMMENT ON COLUMN user_management.user_roles.expires_at IS
'End of validity (after granted_at); NULL = until revoked.';
COMMENT ON COLUMN user_management.user_roles.revoked_at IS
'When the grant was revoked (revoke_role, or a new grant replacing an expired one); NULL = not revoked.';
COMMENT ON COLUMN user_management.user_roles.revoked_by IS
'User who revoked the grant; NULL when not revoked or revoked by the system (expired grant replaced).';

ALTER TABLE user_management.roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.roles FORCE ROW LEVEL SECURITY;
ALTER TABLE user_management.role_permissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.role_permissions FORCE ROW LEVEL SECURITY;
ALTER TABLE user_management.user_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.user_roles FORCE ROW LEVEL SECURITY;
