-- =============================================================================
-- V0094__create_leaderboards
-- Purpose:       leaderboards of gamification (DESIGN section 5): board
--                definitions, cohort members, per-user opt-out, and the cached
--                standings (one row per board and period, one entry per ranked
--                user) that refresh_leaderboard() (V0096) recomputes and the
--                board queries read from indexes.
-- Concern:       leaderboard tables (functions follow in V0096-V0098).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Cache:         leaderboard_periods and leaderboard_entries are derived data,
--                written only by the SECURITY DEFINER refresh and removal
--                functions (the application has SELECT only); a board's
--                definition columns are not updatable by the application
--                (column privileges), so cached entries always match it.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- leaderboards: board definitions
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.leaderboards (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    name text NOT NULL,
    description text,
    board_type text NOT NULL,
    period text NOT NULL DEFAULT 'all_time',
    scope text NOT NULL DEFAULT 'organization',
    tie_rule text NOT NULL DEFAULT 'competition',
    point_system_id uuid,
    course_id uuid,
    timezone text NOT NULL DEFAULT 'UTC',
    refresh_interval interval NOT NULL DEFAULT interval '5 minutes',
    -- squawk-ignore prefer-bigint-over-int
    history_periods integer NOT NULL DEFAULT 4,
    active boolean NOT NULL DEFAULT TRUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_leaderboards PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_leaderboards_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT fk_leaderboards_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_leaderboards_course_id FOREIGN KEY (organization_id, course_id)
    REFERENCES course_management.courses (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_leaderboards_organization_id_name UNIQUE (organization_id, name),
    CONSTRAINT ck_leaderboards_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_leaderboards_description_length
    CHECK (char_length(description) BETWEEN 1 AND 1000),
    CONSTRAINT ck_leaderboards_board_type
    CHECK (board_type IN ('points', 'xp', 'streak', 'badges', 'course_points')),
    CONSTRAINT ck_leaderboards_period CHECK (period IN ('daily', 'weekly', 'monthly', 'all_time')),
    CONSTRAINT ck_leaderboards_scope CHECK (scope IN ('organization', 'course', 'cohort')),
    CONSTRAINT ck_leaderboards_tie_rule CHECK (tie_rule IN ('competition', 'dense')),
    CONSTRAINT ck_leaderboards_point_system_id
    CHECK ((point_system_id IS NOT NULL) = (board_type <> 'badges')),
    CONSTRAINT ck_leaderboards_course_id
    CHECK ((course_id IS NOT NULL) = (scope = 'course' OR board_type = 'course_points')),
    CONSTRAINT ck_leaderboards_streak_period CHECK (board_type <> 'streak' OR period = 'all_time'),
    CONSTRAINT ck_leaderboards_timezone CHECK (app.is_valid_timezone(timezone)),
    CONSTRAINT ck_leaderboards_refresh_interval
    CHECK (refresh_interval BETWEEN interval '1 minute' AND interval '7 days'),
    CONSTRAINT ck_leaderboards_history_periods CHECK (history_periods BETWEEN 0 AND 400)
);
CREATE INDEX idx_leaderboards_organization_id_point_system_id
ON gamification.leaderboards (organization_id, point_system_id);
CREATE INDEX idx_leaderboards_organization_id_course_id
ON gamification.leaderboards (organization_id, course_id);

COMMENT ON TABLE gamification.leaderboards IS
'Leaderboard definitions of an organization: what is scored (board_type), over which period (in the board''s timezone), among whom (scope), with which tie rule, and how often refresh_due_leaderboards() recomputes the cached standings (leaderboard_periods, leaderboard_entries). Members read every board of their organization; leaderboard.manage holders create, rename, (de)activate and delete boards. The definition columns are fixed at creation (no UPDATE privilege): create a new board to change what is ranked.';
COMMENT ON INDEX gamification.idx_leaderboards_organization_id_point_system_id IS
'Foreign key to the point system (cascading deletes).';
COMMENT ON INDEX gamification.idx_leaderboards_organization_id_course_id IS
'Foreign key to the course (cascading deletes).';
COMMENT ON COLUMN gamification.leaderboards.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.leaderboards.id IS 'Board id (UUIDv7).';
COMMENT ON COLUMN gamification.leaderboards.name IS 'Display name, unique in the organization (1-100 characters).';
COMMENT ON COLUMN gamification.leaderboards.description IS 'Optional description (1-1000 characters).';
COMMENT ON COLUMN gamification.leaderboards.board_type IS
'What the score is (ck_leaderboards_board_type): xp = points earned in the period in point_system_id (award + bonus + positive adjust; all-time = user_points.lifetime_earned); points = net change of spendable points in the period (every ledger amount; all-time = user_points.available); streak = current streak in point_system_id (0 once a local day was missed); badges = badges held (awarded in the period, not revoked, not expired); course_points = points earned in point_system_id whose ledger source belongs to course_id (a lesson_progress or enrollment row of the course, or source_type course). Only users with a score above 0 are ranked.';
COMMENT ON COLUMN gamification.leaderboards.period IS
'daily, weekly (ISO weeks from Monday), monthly or all_time; periods start at local midnight in timezone. Streak boards are all_time only.';
COMMENT ON COLUMN gamification.leaderboards.scope IS
'Who is ranked: organization (every live user), course (users with a non-cancelled enrollment in course_id), cohort (the users in leaderboard_members of the board). Opted-out (leaderboard_preferences) and deleted users never are.';
COMMENT ON COLUMN gamification.leaderboards.tie_rule IS
'Ranks of equal scores: competition (1-2-2-4, the default) or dense (1-2-2-3).';
COMMENT ON COLUMN gamification.leaderboards.point_system_id IS
'The point system scored (required for every type but badges).';
COMMENT ON COLUMN gamification.leaderboards.course_id IS
'The course of a course-scoped board or a course_points board (required exactly for those).';
COMMENT ON COLUMN gamification.leaderboards.timezone IS
'IANA time zone in which periods start (app.is_valid_timezone), default UTC.';
COMMENT ON COLUMN gamification.leaderboards.refresh_interval IS
'How stale the cached standings may get: refresh_due_leaderboards() refreshes the board when its last refresh is this old or a new period began (1 minute to 7 days).';
COMMENT ON COLUMN gamification.leaderboards.history_periods IS
'How many closed periods keep their final standings (0-400); older ones are deleted by the refresh.';
COMMENT ON COLUMN gamification.leaderboards.active IS
'Inactive boards are not refreshed (their last standings stay readable).';
COMMENT ON COLUMN gamification.leaderboards.created_at IS 'When the board was created.';
COMMENT ON COLUMN gamification.leaderboards.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- leaderboard_members: the users of a cohort board
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.leaderboard_members (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    leaderboard_id uuid NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_leaderboard_members PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_leaderboard_members_leaderboard_id FOREIGN KEY (organization_id, leaderboard_id)
    REFERENCES gamification.leaderboards (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_leaderboard_members_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_leaderboard_members_leaderboard_id_user_id
    UNIQUE (organization_id, leaderboard_id, user_id)
);
CREATE INDEX idx_leaderboard_members_organization_id_user_id
ON gamification.leaderboard_members (organization_id, user_id);

COMMENT ON TABLE gamification.leaderboard_members IS
'Members of a cohort board (scope cohort): only they are ranked on it. Only boards with scope cohort take members (trg_leaderboard_members_check_scope, EL035). Written by leaderboard.manage holders; changes apply at the next refresh.';
COMMENT ON INDEX gamification.idx_leaderboard_members_organization_id_user_id IS
'Foreign key to the user; a user''s cohorts.';
COMMENT ON COLUMN gamification.leaderboard_members.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.leaderboard_members.id IS 'Membership id (UUIDv7).';
COMMENT ON COLUMN gamification.leaderboard_members.leaderboard_id IS 'The cohort board.';
COMMENT ON COLUMN gamification.leaderboard_members.user_id IS 'The member.';
COMMENT ON COLUMN gamification.leaderboard_members.created_at IS 'When the user was added.';

-- ---------------------------------------------------------------------------
-- leaderboard_preferences: per-user opt-out
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.leaderboard_preferences (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    opted_out boolean NOT NULL DEFAULT FALSE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_leaderboard_preferences PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_leaderboard_preferences_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_leaderboard_preferences_organization_id_user_id UNIQUE (organization_id, user_id)
);

COMMENT ON TABLE gamification.leaderboard_preferences IS
'Leaderboard preferences of a user, written by the user for themself (gamification.set_leaderboard_opt_out() or plain DML on the own row). Opting out removes the user from every cached board at once, closing the gap in ranks (trg_leaderboard_preferences_opt_out); opting back in takes effect at the next refresh.';
COMMENT ON COLUMN gamification.leaderboard_preferences.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.leaderboard_preferences.id IS 'Row id (UUIDv7).';
COMMENT ON COLUMN gamification.leaderboard_preferences.user_id IS 'The user (one row per user).';
COMMENT ON COLUMN gamification.leaderboard_preferences.opted_out IS
'True = the user is never shown on a leaderboard (and ranks close up as if they did not exist).';
COMMENT ON COLUMN gamification.leaderboard_preferences.created_at IS 'When the row was created.';
COMMENT ON COLUMN gamification.leaderboard_preferences.updated_at IS 'Last change (app.set_updated_at()).';

-- ---------------------------------------------------------------------------
-- leaderboard_periods: one row per board and cached period
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.leaderboard_periods (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    leaderboard_id uuid NOT NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz,
    -- squawk-ignore prefer-bigint-over-int
    entry_count integer NOT NULL DEFAULT 0,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    duration_ms numeric(12, 3) NOT NULL DEFAULT 0,
    is_final boolean NOT NULL DEFAULT FALSE,
    CONSTRAINT pk_leaderboard_periods PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_leaderboard_periods_leaderboard_id FOREIGN KEY (organization_id, leaderboard_id)
    REFERENCES gamification.leaderboards (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_leaderboard_periods_leaderboard_id_period_start
    UNIQUE (organization_id, leaderboard_id, period_start),
    CONSTRAINT ck_leaderboard_periods_period_end CHECK (period_end > period_start),
    CONSTRAINT ck_leaderboard_periods_entry_count CHECK (entry_count >= 0),
    CONSTRAINT ck_leaderboard_periods_duration_ms CHECK (duration_ms >= 0),
    CONSTRAINT ck_leaderboard_periods_is_final CHECK (NOT is_final OR period_end IS NOT NULL)
);

COMMENT ON TABLE gamification.leaderboard_periods IS
'Cached periods of a board: when each was last refreshed, how many users it ranks, whether it is final (refreshed after its end). The newest period_start is the board''s current standings. Derived data, written only by the refresh and removal functions; members read it.';
COMMENT ON COLUMN gamification.leaderboard_periods.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.leaderboard_periods.id IS 'Row id (UUIDv7).';
COMMENT ON COLUMN gamification.leaderboard_periods.leaderboard_id IS 'The board.';
COMMENT ON COLUMN gamification.leaderboard_periods.period_start IS
'Start of the period (local midnight in the board''s timezone); 1970-01-01 00:00 UTC for all_time boards.';
COMMENT ON COLUMN gamification.leaderboard_periods.period_end IS
'End of the period (exclusive); NULL for all_time boards.';
COMMENT ON COLUMN gamification.leaderboard_periods.entry_count IS 'Users ranked in the period (rows in leaderboard_entries).';
COMMENT ON COLUMN gamification.leaderboard_periods.refreshed_at IS
'Transaction time of the last refresh: the standings are as of this time.';
COMMENT ON COLUMN gamification.leaderboard_periods.duration_ms IS 'How long the last refresh of the period took (milliseconds).';
COMMENT ON COLUMN gamification.leaderboard_periods.is_final IS
'True once the period was refreshed after its end: the final standings, never recomputed.';

-- ---------------------------------------------------------------------------
-- leaderboard_entries: cached standings
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.leaderboard_entries (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    leaderboard_id uuid NOT NULL,
    period_start timestamptz NOT NULL,
    user_id uuid NOT NULL,
    score bigint NOT NULL,
    -- squawk-ignore prefer-bigint-over-int
    rank integer NOT NULL,
    -- squawk-ignore prefer-bigint-over-int
    place integer NOT NULL,
    CONSTRAINT pk_leaderboard_entries PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_leaderboard_entries_leaderboard_id
    FOREIGN KEY (organization_id, leaderboard_id, period_start)
    REFERENCES gamification.leaderboard_periods (organization_id, leaderboard_id, period_start)
    ON DELETE CASCADE,
    CONSTRAINT fk_leaderboard_entries_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    -- User first: a user's entry on a board (my rank), a user's entries everywhere (removal), and
    -- the index of the foreign key to the user; the board foreign key uses the place index.
    CONSTRAINT uq_leaderboard_entries_user_id_leaderboard_id_period_start
    UNIQUE (organization_id, user_id, leaderboard_id, period_start),
    CONSTRAINT ck_leaderboard_entries_score CHECK (score > 0),
    CONSTRAINT ck_leaderboard_entries_rank CHECK (rank >= 1 AND rank <= place)
);
-- Top N and "around me": the standings of a period in order.
CREATE INDEX idx_leaderboard_entries_leaderboard_id_period_start_place
ON gamification.leaderboard_entries (organization_id, leaderboard_id, period_start, place)
INCLUDE (rank, score, user_id);

COMMENT ON TABLE gamification.leaderboard_entries IS
'Cached standings: one row per ranked user of a board''s period, with score, rank (the board''s tie rule) and place (1..n without gaps, ties ordered by user id). Replaced by the refresh in one transaction (upsert of changed rows, delete of users no longer ranked); an opt-out or a user''s deletion removes the user''s rows and closes the ranks at once. Members of the organization read every board; nobody writes but the SECURITY DEFINER functions.';
COMMENT ON INDEX gamification.idx_leaderboard_entries_leaderboard_id_period_start_place IS
'Top N and "around me": a range of positions of one period, rank, score and user in the index.';
COMMENT ON COLUMN gamification.leaderboard_entries.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.leaderboard_entries.id IS 'Row id (UUIDv7).';
COMMENT ON COLUMN gamification.leaderboard_entries.leaderboard_id IS 'The board.';
COMMENT ON COLUMN gamification.leaderboard_entries.period_start IS 'The period (leaderboard_periods.period_start).';
COMMENT ON COLUMN gamification.leaderboard_entries.user_id IS 'The ranked user.';
COMMENT ON COLUMN gamification.leaderboard_entries.score IS 'Score of the user in the period (board_type), always above 0.';
COMMENT ON COLUMN gamification.leaderboard_entries.rank IS
'Rank by score, descending: competition (1 + users with a higher score) or dense (1 + distinct higher scores).';
COMMENT ON COLUMN gamification.leaderboard_entries.place IS
'Place 1..n in the standings (score descending, then user id): pages, top N and "around me".';

ALTER TABLE gamification.leaderboards ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.leaderboards FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.leaderboard_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.leaderboard_members FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.leaderboard_preferences ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.leaderboard_preferences FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.leaderboard_periods ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.leaderboard_periods FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.leaderboard_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.leaderboard_entries FORCE ROW LEVEL SECURITY;
