-- =============================================================================
-- V0005__create_permission_catalog
-- Purpose:       the global permission catalog (what a role may do, one key per
--                capability of the product) and the permission sets of the six
--                system roles that every organization gets (create_organization
--                copies them into the organization's roles).
-- Concern:       permission reference data (global, not per tenant).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Order:         rows first, then ENABLE/FORCE ROW LEVEL SECURITY: under FORCE
--                RLS without a policy (the policies come from the repeatable
--                R__0100) not even the owner could insert them.
-- Adding a permission later: a new migration inserts it and its
--                system_role_permissions rows. Organizations created before
--                keep the sets copied at their creation until a cross-tenant
--                maintenance function adds the new rows to their system roles
--                (such functions need the dedicated role of DESIGN.md section
--                4 that the policies admit across tenants; not built yet).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Permissions
-- ---------------------------------------------------------------------------
CREATE TABLE user_management.permissions (
    key text NOT NULL,
    category text NOT NULL,
    description text NOT NULL,
    CONSTRAINT pk_permissions PRIMARY KEY (key),
    CONSTRAINT ck_permissions_key_format
    CHECK (key ~ '^[a-z_]+(\.[a-z_]+)+$' AND char_length(key) <= 100),
    CONSTRAINT ck_permissions_category
    CHECK (
        category IN (
            'organization', 'identity', 'course', 'content', 'enrollment',
            'gamification', 'assessment', 'social', 'analytics', 'audit',
            'notification'
        )
    ),
    CONSTRAINT ck_permissions_description_length
    CHECK (char_length(description) BETWEEN 1 AND 500)
);

COMMENT ON TABLE user_management.permissions IS
'Global catalog of permissions: one key per capability of the product. Roles of an organization hold permissions (user_management.role_permissions); user_management.has_permission() answers whether the acting user holds one. Reference data written only by migrations.';
COMMENT ON COLUMN user_management.permissions.key IS
'Permission key, dot-separated lower-case segments: <area>.<action> or <area>.<object>.<action> (e.g. course.create, user.role.assign).';
COMMENT ON COLUMN user_management.permissions.category IS
'Product area the permission belongs to (closed set, ck_permissions_category), for grouping in administration screens.';
COMMENT ON COLUMN user_management.permissions.description IS
'What holding the permission allows, in one sentence (English).';

INSERT INTO user_management.permissions (key, category, description) VALUES
(
    'organization.manage', 'organization',
    'Change the organization''s name, settings and contact details.'
),
(
    'subscription.manage', 'organization',
    'Change the organization''s subscription plan and billing period.'
),
(
    'user.manage', 'identity',
    'Create, invite, edit and soft-delete user accounts of the organization.'
),
(
    'user.suspend', 'identity',
    'Suspend and reactivate user accounts.'
),
(
    'user.role.assign', 'identity',
    'Grant and revoke roles (only roles whose permissions the granter holds).'
),
(
    'role.manage', 'identity',
    'Create, rename and delete custom roles and set their permissions.'
),
(
    'session.revoke', 'identity',
    'Revoke the login sessions of other users.'
),
(
    'course.create', 'course',
    'Create courses.'
),
(
    'course.update', 'course',
    'Edit courses, their modules and lessons.'
),
(
    'course.publish', 'course',
    'Publish, unpublish and archive courses.'
),
(
    'course.delete', 'course',
    'Delete courses.'
),
(
    'course.view_unpublished', 'course',
    'See draft and archived courses and their lessons.'
),
(
    'content.manage', 'content',
    'Create, edit and delete content items, media assets and tags.'
),
(
    'enrollment.manage', 'enrollment',
    'Enroll and unenroll other users, change enrollment status.'
),
(
    'enrollment.view', 'enrollment',
    'See the enrollments and learning progress of other users.'
),
(
    'enrollment.self_enroll', 'enrollment',
    'Enroll oneself in published courses open for self-enrollment.'
),
(
    'gamification.award', 'gamification',
    'Award points and badges to learners manually.'
),
(
    'gamification.manage', 'gamification',
    'Configure point rules, levels, badges, achievements and streaks.'
),
(
    'leaderboard.manage', 'gamification',
    'Create and configure leaderboards.'
),
(
    'reward.manage', 'gamification',
    'Create and edit rewards and their stock, fulfil and cancel redemptions.'
),
(
    'reward.redeem', 'gamification',
    'Redeem one''s own points for rewards.'
),
(
    'assessment.manage', 'assessment',
    'Create and edit quizzes, questions and answer keys.'
),
(
    'assessment.grade', 'assessment',
    'Grade attempts and override scores.'
),
(
    'answer_key.view', 'assessment',
    'See answer keys and correct answers of questions.'
),
(
    'forum.post', 'social',
    'Post discussions, comments and reactions.'
),
(
    'forum.moderate', 'social',
    'Hide, edit and delete the posts of others; lock discussions.'
),
(
    'analytics.view', 'analytics',
    'See learning analytics and reports of the organization.'
),
(
    'analytics.export', 'analytics',
    'Export analytics and report data.'
),
(
    'audit.view', 'audit',
    'Read the audit log and the login history of all users.'
),
(
    'notification.manage', 'notification',
    'Edit notification templates and organization-wide notification settings.'
),
(
    'notification.send', 'notification',
    'Send announcements to users of the organization.'
);

-- ---------------------------------------------------------------------------
-- Permission sets of the system roles
-- ---------------------------------------------------------------------------
CREATE TABLE user_management.system_role_permissions (
    system_role_key text NOT NULL,
    permission_key text NOT NULL,
    CONSTRAINT pk_system_role_permissions
    PRIMARY KEY (system_role_key, permission_key),
    CONSTRAINT fk_system_role_permissions_permission_key
    FOREIGN KEY (permission_key)
    REFERENCES user_management.permissions (key) ON DELETE CASCADE,
    CONSTRAINT ck_system_role_permissions_system_role_key
    CHECK (
        system_role_key IN (
            'owner', 'admin', 'instructor', 'teaching_assistant', 'learner',
            'viewer'
        )
    )
);
CREATE INDEX idx_system_role_permissions_permission_key
ON user_management.system_role_permissions (permission_key);

COMMENT ON TABLE user_management.system_role_permissions IS
'Global template: the permissions of each of the six system roles. create_organization() creates the six roles in every new organization and copies these rows into user_management.role_permissions. Reference data written only by migrations.';
COMMENT ON COLUMN user_management.system_role_permissions.system_role_key IS
'System role: owner, admin, instructor, teaching_assistant, learner or viewer (user_management.roles.system_key).';
COMMENT ON COLUMN user_management.system_role_permissions.permission_key IS
'Permission the system role holds (user_management.permissions).';

-- owner: everything.
INSERT INTO user_management.system_role_permissions (system_role_key, permission_key)
SELECT
    'owner' AS system_role_key,
    p.key AS permission_key
FROM user_management.permissions AS p;

-- admin: everything but the organization itself and its subscription, so an
-- admin can never grant the owner role (grant_role requires the granter to
-- hold every permission of the granted role).
INSERT INTO user_management.system_role_permissions (system_role_key, permission_key)
SELECT
    'admin' AS system_role_key,
    p.key AS permission_key
FROM user_management.permissions AS p
WHERE p.key NOT IN ('organization.manage', 'subscription.manage');

INSERT INTO user_management.system_role_permissions (system_role_key, permission_key)
SELECT
    v.system_role_key,
    v.permission_key
FROM (
    VALUES
    ('instructor', 'course.create'),
    ('instructor', 'course.update'),
    ('instructor', 'course.publish'),
    ('instructor', 'course.view_unpublished'),
    ('instructor', 'content.manage'),
    ('instructor', 'enrollment.manage'),
    ('instructor', 'enrollment.view'),
    ('instructor', 'assessment.manage'),
    ('instructor', 'assessment.grade'),
    ('instructor', 'answer_key.view'),
    ('instructor', 'gamification.award'),
    ('instructor', 'forum.post'),
    ('instructor', 'forum.moderate'),
    ('instructor', 'analytics.view'),
    ('instructor', 'notification.send'),
    ('teaching_assistant', 'course.view_unpublished'),
    ('teaching_assistant', 'enrollment.view'),
    ('teaching_assistant', 'assessment.grade'),
    ('teaching_assistant', 'forum.post'),
    ('teaching_assistant', 'forum.moderate'),
    ('learner', 'enrollment.self_enroll'),
    ('learner', 'reward.redeem'),
    ('learner', 'forum.post')
) AS v (system_role_key, permission_key);
-- viewer: no permission (reads what every member of the organization reads).

-- ---------------------------------------------------------------------------
-- Row level security, after the reference rows (see Order above).
-- ---------------------------------------------------------------------------
ALTER TABLE user_management.permissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.permissions FORCE ROW LEVEL SECURITY;
ALTER TABLE user_management.system_role_permissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_management.system_role_permissions FORCE ROW LEVEL SECURITY;
