-- =============================================================================
-- V0085__create_achievements_and_user_events
-- Purpose:       achievements (a target to reach, with each user's progress,
--                e.g. 3 of 5 courses) and the append-only stream of
--                gamification events of a user (level-ups, badges awarded,
--                revoked and expired, achievements completed) that the
--                notification side reads.
-- Concern:       achievement and user event tables (functions in V0086, the
--                user_points triggers that write them in V0087).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Events:        append-only (EL001), exactly once per event_key
--                (uq_user_events_organization_id_event_key), written only by
--                SECURITY DEFINER functions and triggers; their foreign keys
--                RESTRICT (a cascade would run into EL001).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- achievements: the catalog
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.achievements (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    point_system_id uuid,
    name text NOT NULL,
    description text,
    criterion jsonb NOT NULL,
    active boolean NOT NULL DEFAULT TRUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_achievements PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_achievements_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT fk_achievements_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT ck_achievements_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_achievements_description_length
    CHECK (char_length(description) BETWEEN 1 AND 2000),
    CONSTRAINT ck_achievements_criterion CHECK (gamification.is_valid_criterion(criterion)),
    CONSTRAINT ck_achievements_deleted_at CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE UNIQUE INDEX uq_achievements_organization_id_name
ON gamification.achievements (organization_id, name) WHERE deleted_at IS NULL;
CREATE INDEX idx_achievements_organization_id_point_system_id
ON gamification.achievements (organization_id, point_system_id);

COMMENT ON TABLE gamification.achievements IS
'Achievements of an organization: one criterion of the badge vocabulary (gamification.is_valid_criterion(); no "all") whose number (points, level, days or count: gamification.criterion_target()) is the target, e.g. {"type":"courses_completed","count":5}. Each user''s progress towards it is kept in user_achievements by the same evaluation as badges. Managed with gamification.manage; every member reads the catalog.';
COMMENT ON INDEX gamification.uq_achievements_organization_id_name IS 'Live achievement names are unique in the organization.';
COMMENT ON INDEX gamification.idx_achievements_organization_id_point_system_id IS
'Achievements of a point system (foreign key; the evaluation''s lookup, NULL = default system).';
COMMENT ON COLUMN gamification.achievements.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.achievements.id IS 'Achievement id (UUIDv7).';
COMMENT ON COLUMN gamification.achievements.point_system_id IS 'Point system whose points, level and streak the criterion reads; NULL = the organization''s default system.';
COMMENT ON COLUMN gamification.achievements.name IS 'Display name (1-100 characters), unique among live achievements.';
COMMENT ON COLUMN gamification.achievements.description IS 'Optional description (1-2000 characters).';
COMMENT ON COLUMN gamification.achievements.criterion IS 'One criterion of the badge vocabulary (ck_achievements_criterion); its number is the target.';
COMMENT ON COLUMN gamification.achievements.active IS 'Inactive achievements make no progress (rows already written stay).';
COMMENT ON COLUMN gamification.achievements.created_at IS 'When the achievement was created.';
COMMENT ON COLUMN gamification.achievements.updated_at IS 'Last change (app.set_updated_at()).';
COMMENT ON COLUMN gamification.achievements.deleted_at IS 'Soft delete: set = withdrawn (no progress); NULL = live.';

-- ---------------------------------------------------------------------------
-- user_achievements: progress per user
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.user_achievements (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    achievement_id uuid NOT NULL,
    progress bigint NOT NULL,
    target bigint NOT NULL,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_user_achievements PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_user_achievements_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_user_achievements_achievement_id FOREIGN KEY (organization_id, achievement_id)
    REFERENCES gamification.achievements (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_user_achievements_organization_id_user_id_achievement_id
    UNIQUE (organization_id, user_id, achievement_id),
    CONSTRAINT ck_user_achievements_target CHECK (target >= 1),
    CONSTRAINT ck_user_achievements_progress CHECK (progress BETWEEN 0 AND target),
    CONSTRAINT ck_user_achievements_completed
    CHECK ((completed_at IS NOT NULL) = (progress = target))
);
CREATE INDEX idx_user_achievements_organization_id_achievement_id
ON gamification.user_achievements (organization_id, achievement_id);

COMMENT ON TABLE gamification.user_achievements IS
'A user''s progress towards an achievement: progress = the measured value capped at target (e.g. 3 of 5 courses), completed_at set when it reaches the target (ck_user_achievements_completed) and frozen from then on (trg_user_achievements_guard_update, EL002). Written only by the gamification evaluation (every change of points, evaluate_user()); a row appears with the first progress. A learner reads own rows, gamification.manage the organization''s.';
COMMENT ON INDEX gamification.idx_user_achievements_organization_id_achievement_id IS 'Progress rows of an achievement (foreign key).';
COMMENT ON COLUMN gamification.user_achievements.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.user_achievements.id IS 'Row id (UUIDv7).';
COMMENT ON COLUMN gamification.user_achievements.user_id IS 'The user.';
COMMENT ON COLUMN gamification.user_achievements.achievement_id IS 'The achievement.';
COMMENT ON COLUMN gamification.user_achievements.progress IS 'Measured value, capped at target (0..target).';
COMMENT ON COLUMN gamification.user_achievements.target IS 'The achievement''s target when progress was last written (criterion_target()).';
COMMENT ON COLUMN gamification.user_achievements.completed_at IS 'When progress reached the target; NULL while in progress. Set once.';
COMMENT ON COLUMN gamification.user_achievements.created_at IS 'When the first progress was written.';
COMMENT ON COLUMN gamification.user_achievements.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION gamification.guard_user_achievement_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.completed_at IS NOT NULL
       AND (NEW.progress, NEW.target, NEW.completed_at) IS DISTINCT FROM (OLD.progress, OLD.target, OLD.completed_at) THEN
        RAISE EXCEPTION 'a completed achievement does not change'
              USING ERRCODE = 'EL002', COLUMN = 'completed_at', CONSTRAINT = TG_NAME;
    END IF;
    IF (NEW.user_id, NEW.achievement_id) IS DISTINCT FROM (OLD.user_id, OLD.achievement_id) THEN
        RAISE EXCEPTION 'the user and achievement of a progress row do not change'
              USING ERRCODE = 'EL002', COLUMN = 'achievement_id', CONSTRAINT = TG_NAME;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION gamification.guard_user_achievement_update() IS
'BEFORE UPDATE trigger of gamification.user_achievements (trg_user_achievements_guard_update): a completed row is frozen, user and achievement never change (EL002).';
REVOKE ALL ON FUNCTION gamification.guard_user_achievement_update() FROM PUBLIC;

CREATE TRIGGER trg_user_achievements_guard_update
BEFORE UPDATE ON gamification.user_achievements
FOR EACH ROW EXECUTE FUNCTION gamification.guard_user_achievement_update();
COMMENT ON TRIGGER trg_user_achievements_guard_update ON gamification.user_achievements IS
'Completed progress is frozen; user and achievement are fixed (EL002).';

-- ---------------------------------------------------------------------------
-- user_events: append-only stream for notifications
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.user_events (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    kind text NOT NULL,
    event_key text NOT NULL,
    point_system_id uuid,
    -- squawk-ignore prefer-bigint-over-int
    level integer,
    badge_id uuid,
    achievement_id uuid,
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_user_events PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_user_events_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_user_events_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_user_events_badge_id FOREIGN KEY (organization_id, badge_id)
    REFERENCES gamification.badges (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_user_events_achievement_id FOREIGN KEY (organization_id, achievement_id)
    REFERENCES gamification.achievements (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT uq_user_events_organization_id_event_key UNIQUE (organization_id, event_key),
    CONSTRAINT ck_user_events_kind
    CHECK (
        kind IN (
            'level_up', 'badge_awarded', 'badge_revoked', 'badge_expired', 'achievement_completed'
        )
    ),
    CONSTRAINT ck_user_events_event_key_length CHECK (char_length(event_key) BETWEEN 1 AND 200),
    CONSTRAINT ck_user_events_subject
    CHECK (
        (kind <> 'level_up' OR (point_system_id IS NOT NULL AND level >= 1))
        AND (kind = 'level_up' OR (point_system_id IS NULL AND level IS NULL))
        AND ((kind = 'achievement_completed') = (achievement_id IS NOT NULL))
        AND ((kind IN ('badge_awarded', 'badge_revoked', 'badge_expired')) = (badge_id IS NOT NULL))
    ),
    CONSTRAINT ck_user_events_payload_object CHECK (jsonb_typeof(payload) = 'object')
);
CREATE INDEX idx_user_events_organization_id_user_id_occurred_at
ON gamification.user_events (organization_id, user_id, occurred_at);
CREATE INDEX idx_user_events_organization_id_point_system_id
ON gamification.user_events (organization_id, point_system_id) WHERE point_system_id IS NOT NULL;
CREATE INDEX idx_user_events_organization_id_badge_id
ON gamification.user_events (organization_id, badge_id) WHERE badge_id IS NOT NULL;
CREATE INDEX idx_user_events_organization_id_achievement_id
ON gamification.user_events (organization_id, achievement_id) WHERE achievement_id IS NOT NULL;

COMMENT ON TABLE gamification.user_events IS
'Append-only stream of a user''s gamification events for notifications: level_up (one per level gained, with the level''s name and rewards in payload), badge_awarded, badge_revoked, badge_expired, achievement_completed. Exactly once per event_key (level_up:<user>:<system>:<level>, badge_awarded:<award id>, badge_revoked:<award id>, badge_expired:<award id>, achievement_completed:<user>:<achievement>), written in the transaction of the fact by triggers and functions only. Readers page by id (UUIDv7, time-ordered): a learner reads own events, gamification.manage the organization''s. UPDATE/DELETE/TRUNCATE raise EL001.';
COMMENT ON INDEX gamification.idx_user_events_organization_id_user_id_occurred_at IS 'A user''s events by time (notification feed).';
COMMENT ON INDEX gamification.idx_user_events_organization_id_point_system_id IS 'Foreign key to the point system (level_up).';
COMMENT ON INDEX gamification.idx_user_events_organization_id_badge_id IS 'Foreign key to the badge (badge events).';
COMMENT ON INDEX gamification.idx_user_events_organization_id_achievement_id IS 'Foreign key to the achievement.';
COMMENT ON COLUMN gamification.user_events.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.user_events.id IS 'Event id (UUIDv7, time-ordered: the paging key).';
COMMENT ON COLUMN gamification.user_events.user_id IS 'The user the event is about.';
COMMENT ON COLUMN gamification.user_events.kind IS 'level_up, badge_awarded, badge_revoked, badge_expired or achievement_completed.';
COMMENT ON COLUMN gamification.user_events.event_key IS 'Deduplication key, unique per organization (see the table comment): the same fact is recorded once.';
COMMENT ON COLUMN gamification.user_events.point_system_id IS 'level_up: the point system of the level.';
COMMENT ON COLUMN gamification.user_events.level IS 'level_up: the level number reached.';
COMMENT ON COLUMN gamification.user_events.badge_id IS 'Badge events: the badge.';
COMMENT ON COLUMN gamification.user_events.achievement_id IS 'achievement_completed: the achievement.';
COMMENT ON COLUMN gamification.user_events.payload IS 'Details for the message (JSON object): level name and rewards, award id, number, evidence, reasons, progress.';
COMMENT ON COLUMN gamification.user_events.occurred_at IS 'When it happened (transaction time of the fact).';

CREATE TRIGGER trg_user_events_append_only_statement
BEFORE UPDATE OR DELETE OR TRUNCATE ON gamification.user_events
FOR EACH STATEMENT EXECUTE FUNCTION app.prevent_modification();
COMMENT ON TRIGGER trg_user_events_append_only_statement ON gamification.user_events IS
'Append-only: every UPDATE, DELETE and TRUNCATE statement raises EL001.';
CREATE TRIGGER trg_user_events_append_only_row
BEFORE UPDATE OR DELETE ON gamification.user_events
FOR EACH ROW EXECUTE FUNCTION app.prevent_modification();
COMMENT ON TRIGGER trg_user_events_append_only_row ON gamification.user_events IS
'Append-only: every updated or deleted row raises EL001.';

ALTER TABLE gamification.achievements ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.achievements FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.user_achievements ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.user_achievements FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.user_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.user_events FORCE ROW LEVEL SECURITY;
