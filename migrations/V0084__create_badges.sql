-- =============================================================================
-- V0084__create_badges
-- Purpose:       badges of an organization and the awards of badges to users
--                (issue 5): a catalog with criteria of a documented JSON
--                vocabulary (checked by an IMMUTABLE validator), repeatable or
--                not, with an earning window and a validity period; awards with
--                evidence, revocation and expiry; holder counts for rarity.
-- Concern:       badge tables and the criteria vocabulary (functions in V0086).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Awards:        written only by the SECURITY DEFINER functions of V0086
--                (profile definer_only). A non-repeatable badge is held at most
--                once: the partial unique index uq_user_badges_..._badge_id over
--                live awards, with `repeatable` copied into user_badges and kept
--                equal to the badge's by the composite foreign key
--                fk_user_badges_badge_id (badges.repeatable is not updatable by
--                the app).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- The criteria vocabulary (pure, IMMUTABLE: used in CHECK constraints).
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.is_count(p_value jsonb, p_max bigint)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v numeric;
BEGIN
    IF p_value IS NULL OR pg_catalog.jsonb_typeof(p_value) <> 'number' THEN
        RETURN false;
    END IF;
    v := (p_value OPERATOR(pg_catalog.#>>) '{}')::numeric;
    RETURN v = pg_catalog.trunc(v) AND v >= 1 AND v <= p_max;
END
$$;
COMMENT ON FUNCTION gamification.is_count(jsonb, bigint) IS
'True iff p_value is a JSON number that is a whole number in 1..p_max (false for anything else, never an error). Part of the criteria validator.';
REVOKE ALL ON FUNCTION gamification.is_count(jsonb, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.is_count(jsonb, bigint) TO ${app_role};

CREATE FUNCTION gamification.is_valid_course_ids(p_criterion jsonb)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ids jsonb := p_criterion -> 'course_ids';
BEGIN
    IF NOT gamification.is_count(p_criterion -> 'count', 100000) THEN
        RETURN false;
    END IF;
    IF v_ids IS NULL THEN
        RETURN true;
    END IF;
    IF pg_catalog.jsonb_typeof(v_ids) <> 'array' OR pg_catalog.jsonb_array_length(v_ids) NOT BETWEEN 1 AND 100
       OR (p_criterion ->> 'count')::bigint > pg_catalog.jsonb_array_length(v_ids) THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(v_ids) AS e (v)
                WHERE pg_catalog.jsonb_typeof(e.v) <> 'string') THEN
        RETURN false;
    END IF;
    RETURN NOT EXISTS (
        SELECT 1 FROM pg_catalog.jsonb_array_elements_text(v_ids) AS e (v)
         WHERE e.v !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
       AND (SELECT pg_catalog.count(DISTINCT e.v) FROM pg_catalog.jsonb_array_elements_text(v_ids) AS e (v))
           = pg_catalog.jsonb_array_length(v_ids);
END
$$;
COMMENT ON FUNCTION gamification.is_valid_course_ids(jsonb) IS
'Part of the criteria validator for courses_completed: count is a whole number 1..100000 and, when course_ids is present, it is an array of 1-100 distinct lower-case UUID strings with count <= their number.';
REVOKE ALL ON FUNCTION gamification.is_valid_course_ids(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.is_valid_course_ids(jsonb) TO ${app_role};

CREATE FUNCTION gamification.is_valid_criterion(p_criterion jsonb)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_type text;
    v_keys text[];
    v_allowed text[];
BEGIN
    IF p_criterion IS NULL OR pg_catalog.jsonb_typeof(p_criterion) <> 'object'
       OR pg_catalog.jsonb_typeof(p_criterion -> 'type') IS DISTINCT FROM 'string' THEN
        RETURN false;
    END IF;
    v_type := p_criterion ->> 'type';
    v_allowed := CASE v_type
        WHEN 'points_threshold' THEN ARRAY['type', 'points']
        WHEN 'level_reached' THEN ARRAY['type', 'level']
        WHEN 'streak_length' THEN ARRAY['type', 'days']
        WHEN 'courses_completed' THEN ARRAY['type', 'count', 'course_ids']
        WHEN 'lessons_in_period' THEN ARRAY['type', 'count', 'days']
        WHEN 'event_count' THEN ARRAY['type', 'event_type', 'count']
        WHEN 'badge_count' THEN ARRAY['type', 'count']
    END;
    IF v_allowed IS NULL THEN
        RETURN false;
    END IF;
    SELECT pg_catalog.array_agg(k.key) INTO v_keys FROM pg_catalog.jsonb_object_keys(p_criterion) AS k (key);
    IF NOT v_keys <@ v_allowed THEN
        RETURN false;
    END IF;
    RETURN CASE v_type
        WHEN 'points_threshold' THEN gamification.is_count(p_criterion -> 'points', 1000000000000)
        WHEN 'level_reached' THEN gamification.is_count(p_criterion -> 'level', 1000)
        WHEN 'streak_length' THEN gamification.is_count(p_criterion -> 'days', 36600)
        WHEN 'courses_completed' THEN gamification.is_valid_course_ids(p_criterion)
        WHEN 'lessons_in_period' THEN
            gamification.is_count(p_criterion -> 'count', 1000000)
            AND gamification.is_count(p_criterion -> 'days', 366)
        WHEN 'event_count' THEN
            gamification.is_count(p_criterion -> 'count', 1000000)
            AND pg_catalog.jsonb_typeof(p_criterion -> 'event_type') = 'string'
            AND (p_criterion ->> 'event_type') IN ('course_enrolled', 'lesson_completed', 'course_completed',
                                                  'learning_path_completed', 'course_reviewed',
                                                  'assessment_passed')
        WHEN 'badge_count' THEN gamification.is_count(p_criterion -> 'count', 10000)
    END;
END
$$;
COMMENT ON FUNCTION gamification.is_valid_criterion(jsonb) IS
'True iff p_criterion is ONE criterion of the vocabulary (never an error): {"type":"points_threshold","points":N} (lifetime points in the badge''s point system >= N), {"type":"level_reached","level":N}, {"type":"streak_length","days":N} (longest streak >= N local days), {"type":"courses_completed","count":N[,"course_ids":["<uuid>",...]]} (completed enrollments, optionally among 1-100 lower-case course ids, N <= their number), {"type":"lessons_in_period","count":N,"days":D} (lessons completed in the last D days, D 1-366), {"type":"event_count","event_type":"lesson_completed"|"course_completed"|"course_enrolled"|"learning_path_completed"|"course_reviewed"|"assessment_passed","count":N} (learning events of the user), {"type":"badge_count","count":N} (other badges held). Numbers are whole and >= 1 (bounded); unknown keys or types are refused.';
REVOKE ALL ON FUNCTION gamification.is_valid_criterion(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.is_valid_criterion(jsonb) TO ${app_role};

CREATE FUNCTION gamification.is_valid_criteria(p_criteria jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN pg_catalog.jsonb_typeof(p_criteria) = 'object' AND p_criteria ? 'all' THEN
            coalesce(
                (SELECT pg_catalog.array_agg(k.key) FROM pg_catalog.jsonb_object_keys(p_criteria) AS k (key)) = ARRAY['all']
                AND pg_catalog.jsonb_typeof(p_criteria -> 'all') = 'array'
                AND pg_catalog.jsonb_array_length(p_criteria -> 'all') BETWEEN 1 AND 10
                AND (SELECT pg_catalog.bool_and(gamification.is_valid_criterion(e.v))
                       FROM pg_catalog.jsonb_array_elements(p_criteria -> 'all') AS e (v)),
                false)
        ELSE coalesce(gamification.is_valid_criterion(p_criteria), false)
    END
$$;
COMMENT ON FUNCTION gamification.is_valid_criteria(jsonb) IS
'True iff p_criteria is one criterion (gamification.is_valid_criterion()) or {"all":[c1, ..., cn]} with 1-10 criteria that must all hold (no nesting). Used by ck_badges_criteria.';
REVOKE ALL ON FUNCTION gamification.is_valid_criteria(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.is_valid_criteria(jsonb) TO ${app_role};

CREATE FUNCTION gamification.criterion_target(p_criterion jsonb)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT (CASE p_criterion ->> 'type'
        WHEN 'points_threshold' THEN p_criterion ->> 'points'
        WHEN 'level_reached' THEN p_criterion ->> 'level'
        WHEN 'streak_length' THEN p_criterion ->> 'days'
        ELSE p_criterion ->> 'count'
    END)::bigint
$$;
COMMENT ON FUNCTION gamification.criterion_target(jsonb) IS
'The number a valid criterion must reach: points, level, days (streak_length) or count.';
REVOKE ALL ON FUNCTION gamification.criterion_target(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.criterion_target(jsonb) TO ${app_role};

-- ---------------------------------------------------------------------------
-- badges: the catalog
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.badges (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    point_system_id uuid,
    name text NOT NULL,
    description text,
    image_file_id uuid,
    criteria jsonb NOT NULL,
    repeatable boolean NOT NULL DEFAULT FALSE,
    repeat_interval interval,
    valid_from timestamptz,
    valid_until timestamptz,
    validity_period interval,
    active boolean NOT NULL DEFAULT TRUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_badges PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_badges_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT fk_badges_point_system_id FOREIGN KEY (organization_id, point_system_id)
    REFERENCES gamification.point_systems (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_badges_image_file_id FOREIGN KEY (organization_id, image_file_id)
    REFERENCES content_management.files (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT uq_badges_organization_id_id_repeatable UNIQUE (organization_id, id, repeatable),
    CONSTRAINT ck_badges_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_badges_description_length CHECK (char_length(description) BETWEEN 1 AND 2000),
    CONSTRAINT ck_badges_criteria CHECK (gamification.is_valid_criteria(criteria)),
    CONSTRAINT ck_badges_repeat
    CHECK (
        (repeatable AND repeat_interval IS NOT NULL AND repeat_interval >= interval '1 minute')
        OR (NOT repeatable AND repeat_interval IS NULL)
    ),
    CONSTRAINT ck_badges_valid_period CHECK (valid_until > valid_from),
    CONSTRAINT ck_badges_validity_period CHECK (validity_period >= interval '1 minute'),
    CONSTRAINT ck_badges_deleted_at CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE UNIQUE INDEX uq_badges_organization_id_name
ON gamification.badges (organization_id, name) WHERE deleted_at IS NULL;
CREATE INDEX idx_badges_organization_id_point_system_id
ON gamification.badges (organization_id, point_system_id);
CREATE INDEX idx_badges_organization_id_image_file_id
ON gamification.badges (organization_id, image_file_id) WHERE image_file_id IS NOT NULL;

COMMENT ON TABLE gamification.badges IS
'Badges of an organization. criteria (ck_badges_criteria, gamification.is_valid_criteria()) is one criterion or {"all":[...]} of: {"type":"points_threshold","points":N}, {"type":"level_reached","level":N}, {"type":"streak_length","days":N}, {"type":"courses_completed","count":N[,"course_ids":[...]]}, {"type":"lessons_in_period","count":N,"days":D}, {"type":"event_count","event_type":E,"count":N}, {"type":"badge_count","count":N}. Points, level and streak are those of point_system_id (NULL: the organization''s default system). Awarded automatically when the criteria hold (every change of points, gamification.evaluate_user()) or by staff (award_badge()). Managed with gamification.manage; every member reads the catalog; rarity through gamification.badge_rarity().';
COMMENT ON INDEX gamification.uq_badges_organization_id_name IS 'Live badge names are unique in the organization.';
COMMENT ON INDEX gamification.idx_badges_organization_id_point_system_id IS
'Badges of a point system (foreign key; the evaluation''s candidate lookup, NULL = default system).';
COMMENT ON INDEX gamification.idx_badges_organization_id_image_file_id IS 'Foreign key to the image file.';
COMMENT ON COLUMN gamification.badges.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.badges.id IS 'Badge id (UUIDv7).';
COMMENT ON COLUMN gamification.badges.point_system_id IS 'Point system whose points, level and streak the criteria read, and whose changes trigger evaluation; NULL = the organization''s default system.';
COMMENT ON COLUMN gamification.badges.name IS 'Display name (1-100 characters), unique among live badges.';
COMMENT ON COLUMN gamification.badges.description IS 'Optional description (1-2000 characters).';
COMMENT ON COLUMN gamification.badges.image_file_id IS 'Optional image (content_management.files).';
COMMENT ON COLUMN gamification.badges.criteria IS 'When the badge is earned: one criterion or {"all":[...]} (vocabulary in the table comment; ck_badges_criteria).';
COMMENT ON COLUMN gamification.badges.repeatable IS 'false: held at most once (one live award, uq_user_badges_organization_id_user_id_badge_id); true: earned again whenever the criteria hold and repeat_interval has passed since the last award. Fixed at creation (no app UPDATE privilege).';
COMMENT ON COLUMN gamification.badges.repeat_interval IS 'Repeatable badges only (then required, >= 1 minute): least time between two awards to the same user.';
COMMENT ON COLUMN gamification.badges.valid_from IS 'The badge can be earned from this time on; NULL = always.';
COMMENT ON COLUMN gamification.badges.valid_until IS 'The badge can be earned before this time; NULL = open-ended. Awards stay held after it.';
COMMENT ON COLUMN gamification.badges.validity_period IS 'How long an award is held (user_badges.expires_at = awarded_at + this); NULL = for ever.';
COMMENT ON COLUMN gamification.badges.active IS 'Inactive badges are not awarded (awards already made stay).';
COMMENT ON COLUMN gamification.badges.created_at IS 'When the badge was created.';
COMMENT ON COLUMN gamification.badges.updated_at IS 'Last change (app.set_updated_at()).';
COMMENT ON COLUMN gamification.badges.deleted_at IS 'Soft delete: set = withdrawn (not awarded, not listed by badge_rarity()); NULL = live.';

-- ---------------------------------------------------------------------------
-- badge_statistics: holder counts (rarity), one row per badge
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.badge_statistics (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    badge_id uuid NOT NULL,
    holders_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_badge_statistics PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_badge_statistics_badge_id FOREIGN KEY (organization_id, badge_id)
    REFERENCES gamification.badges (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_badge_statistics_organization_id_badge_id UNIQUE (organization_id, badge_id),
    CONSTRAINT ck_badge_statistics_holders_count CHECK (holders_count >= 0)
);

COMMENT ON TABLE gamification.badge_statistics IS
'Number of users holding each badge (a live award: not revoked, expiry not yet processed), the numerator of rarity (gamification.badge_rarity()). Kept exact in the awarding transaction: user_badges triggers collect +1/-1 per badge and apply them at commit in badge order (deadlock-free). A separate table, not a column of badges, so counting neither audits nor locks the catalog row. Written only by those triggers; every member reads it.';
COMMENT ON COLUMN gamification.badge_statistics.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.badge_statistics.id IS 'Row id (UUIDv7).';
COMMENT ON COLUMN gamification.badge_statistics.badge_id IS 'The badge (one row each, created with the badge).';
COMMENT ON COLUMN gamification.badge_statistics.holders_count IS 'Distinct users with a live award of the badge (never negative).';
COMMENT ON COLUMN gamification.badge_statistics.created_at IS 'When the row was created.';
COMMENT ON COLUMN gamification.badge_statistics.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION gamification.create_badge_statistics()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    INSERT INTO gamification.badge_statistics (organization_id, badge_id)
    VALUES (NEW.organization_id, NEW.id)
    ON CONFLICT (organization_id, badge_id) DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.create_badge_statistics() IS
'AFTER INSERT trigger of gamification.badges (trg_badges_create_statistics): creates the badge''s badge_statistics row with 0 holders. SECURITY DEFINER: the app has no write privilege on badge_statistics.';
REVOKE ALL ON FUNCTION gamification.create_badge_statistics() FROM PUBLIC;

CREATE TRIGGER trg_badges_create_statistics
AFTER INSERT ON gamification.badges
FOR EACH ROW EXECUTE FUNCTION gamification.create_badge_statistics();
COMMENT ON TRIGGER trg_badges_create_statistics ON gamification.badges IS
'Creates the badge''s badge_statistics row (0 holders).';

-- ---------------------------------------------------------------------------
-- user_badges: awards
-- ---------------------------------------------------------------------------
CREATE TABLE gamification.user_badges (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    badge_id uuid NOT NULL,
    repeatable boolean NOT NULL,
    -- squawk-ignore prefer-bigint-over-int
    award_number integer NOT NULL DEFAULT 1,
    awarded_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    evidence jsonb NOT NULL DEFAULT '{}'::jsonb,
    awarded_by_user_id uuid,
    award_reason text,
    revoked_at timestamptz,
    revoked_by_user_id uuid,
    revoke_reason text,
    expired_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_user_badges PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_user_badges_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_user_badges_badge_id FOREIGN KEY (organization_id, badge_id, repeatable)
    REFERENCES gamification.badges (organization_id, id, repeatable) ON DELETE RESTRICT,
    CONSTRAINT fk_user_badges_awarded_by_user_id FOREIGN KEY (organization_id, awarded_by_user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_user_badges_revoked_by_user_id FOREIGN KEY (organization_id, revoked_by_user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT uq_user_badges_organization_id_user_id_badge_id_award_number
    UNIQUE (organization_id, user_id, badge_id, award_number),
    CONSTRAINT ck_user_badges_award_number CHECK (award_number BETWEEN 1 AND 1000000),
    CONSTRAINT ck_user_badges_expires_at CHECK (expires_at > awarded_at),
    CONSTRAINT ck_user_badges_evidence_object CHECK (jsonb_typeof(evidence) = 'object'),
    CONSTRAINT ck_user_badges_award_reason_length CHECK (char_length(award_reason) BETWEEN 1 AND 500),
    CONSTRAINT ck_user_badges_manual_award
    CHECK ((awarded_by_user_id IS NULL) = (award_reason IS NULL)),
    CONSTRAINT ck_user_badges_revoke_reason_length CHECK (char_length(revoke_reason) BETWEEN 1 AND 500),
    CONSTRAINT ck_user_badges_revoked
    CHECK (
        (revoked_at IS NULL) = (revoke_reason IS NULL)
        AND (revoked_by_user_id IS NULL OR revoked_at IS NOT NULL)
        AND revoked_at >= awarded_at
    ),
    CONSTRAINT ck_user_badges_expired_at
    CHECK (expired_at IS NULL OR (expires_at IS NOT NULL AND expired_at = expires_at))
);
-- A non-repeatable badge is held at most once: one live award per user.
CREATE UNIQUE INDEX uq_user_badges_organization_id_user_id_badge_id
ON gamification.user_badges (organization_id, user_id, badge_id)
WHERE NOT repeatable AND revoked_at IS NULL AND expired_at IS NULL;
CREATE INDEX idx_user_badges_organization_id_badge_id
ON gamification.user_badges (organization_id, badge_id, repeatable);
CREATE INDEX idx_user_badges_organization_id_expires_at
ON gamification.user_badges (organization_id, expires_at)
WHERE expires_at IS NOT NULL AND revoked_at IS NULL AND expired_at IS NULL;
CREATE INDEX idx_user_badges_organization_id_awarded_by_user_id
ON gamification.user_badges (organization_id, awarded_by_user_id) WHERE awarded_by_user_id IS NOT NULL;
CREATE INDEX idx_user_badges_organization_id_revoked_by_user_id
ON gamification.user_badges (organization_id, revoked_by_user_id) WHERE revoked_by_user_id IS NOT NULL;

COMMENT ON TABLE gamification.user_badges IS
'Awards of badges to users, with evidence (the criteria and the measured values, or the staff reason). A user holds a badge while an award is live: revoked_at and expired_at NULL (and expires_at, if any, in the future). Non-repeatable badges: at most one live award per user (uq_user_badges_organization_id_user_id_badge_id); a revoked award is never re-awarded automatically (staff may award again), an expired one is earned again when the criteria hold. Repeatable badges: award_number 1, 2, ... at least repeat_interval apart. Written only by the gamification functions (award, revoke, expire); only revocation and expiry columns change, once (trg_user_badges_guard_update, EL002). A learner reads own awards, gamification.manage the organization''s.';
COMMENT ON INDEX gamification.uq_user_badges_organization_id_user_id_badge_id IS
'A non-repeatable badge is held at most once: one live (not revoked, not expired) award per user and badge.';
COMMENT ON INDEX gamification.idx_user_badges_organization_id_badge_id IS 'Holders of a badge (foreign key to badges).';
COMMENT ON INDEX gamification.idx_user_badges_organization_id_expires_at IS
'Live awards by expiry time: the queue of gamification.process_badge_expiries().';
COMMENT ON INDEX gamification.idx_user_badges_organization_id_awarded_by_user_id IS 'Foreign key to the awarding staff user.';
COMMENT ON INDEX gamification.idx_user_badges_organization_id_revoked_by_user_id IS 'Foreign key to the revoking staff user.';
COMMENT ON COLUMN gamification.user_badges.organization_id IS 'Tenant.';
COMMENT ON COLUMN gamification.user_badges.id IS 'Award id (UUIDv7).';
COMMENT ON COLUMN gamification.user_badges.user_id IS 'The user who holds (held) the badge.';
COMMENT ON COLUMN gamification.user_badges.badge_id IS 'The badge.';
COMMENT ON COLUMN gamification.user_badges.repeatable IS 'Copy of badges.repeatable (part of fk_user_badges_badge_id, so always equal), for the partial unique index.';
COMMENT ON COLUMN gamification.user_badges.award_number IS 'The n-th award of this badge to this user (1 for the first), unique per user and badge.';
COMMENT ON COLUMN gamification.user_badges.awarded_at IS 'When the badge was awarded (transaction time).';
COMMENT ON COLUMN gamification.user_badges.expires_at IS 'awarded_at + the badge''s validity_period; NULL = never expires.';
COMMENT ON COLUMN gamification.user_badges.evidence IS 'Why it was awarded (JSON object): automatic awards {"source", "criteria", "measures":[{"type","value","target"}], "point_system_id", "transaction_id"}; staff awards {"source":"staff", "details"}.';
COMMENT ON COLUMN gamification.user_badges.awarded_by_user_id IS 'Staff user who awarded it by hand (award_badge()); NULL = awarded automatically.';
COMMENT ON COLUMN gamification.user_badges.award_reason IS 'Staff reason (1-500 characters), required with awarded_by_user_id.';
COMMENT ON COLUMN gamification.user_badges.revoked_at IS 'When staff revoked the award (revoke_badge()); set once.';
COMMENT ON COLUMN gamification.user_badges.revoked_by_user_id IS 'Staff user who revoked it.';
COMMENT ON COLUMN gamification.user_badges.revoke_reason IS 'Why it was revoked (1-500 characters), required with revoked_at.';
COMMENT ON COLUMN gamification.user_badges.expired_at IS 'Set (= expires_at) once gamification.process_badge_expiries() has processed the expiry; the award then no longer counts as held.';
COMMENT ON COLUMN gamification.user_badges.created_at IS 'When the row was written.';
COMMENT ON COLUMN gamification.user_badges.updated_at IS 'Last change (app.set_updated_at()).';

CREATE FUNCTION gamification.guard_user_badge_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_col text;
BEGIN
    v_col := CASE
        WHEN NEW.user_id IS DISTINCT FROM OLD.user_id THEN 'user_id'
        WHEN NEW.badge_id IS DISTINCT FROM OLD.badge_id THEN 'badge_id'
        WHEN NEW.repeatable IS DISTINCT FROM OLD.repeatable THEN 'repeatable'
        WHEN NEW.award_number IS DISTINCT FROM OLD.award_number THEN 'award_number'
        WHEN NEW.awarded_at IS DISTINCT FROM OLD.awarded_at THEN 'awarded_at'
        WHEN NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN 'expires_at'
        WHEN NEW.evidence IS DISTINCT FROM OLD.evidence THEN 'evidence'
        WHEN NEW.awarded_by_user_id IS DISTINCT FROM OLD.awarded_by_user_id THEN 'awarded_by_user_id'
        WHEN NEW.award_reason IS DISTINCT FROM OLD.award_reason THEN 'award_reason'
        WHEN OLD.revoked_at IS NOT NULL
             AND (NEW.revoked_at, NEW.revoked_by_user_id, NEW.revoke_reason)
                 IS DISTINCT FROM (OLD.revoked_at, OLD.revoked_by_user_id, OLD.revoke_reason) THEN 'revoked_at'
        WHEN OLD.expired_at IS NOT NULL AND NEW.expired_at IS DISTINCT FROM OLD.expired_at THEN 'expired_at'
    END;
    IF v_col IS NOT NULL THEN
        RAISE EXCEPTION 'award column % cannot change', v_col
              USING ERRCODE = 'EL002', COLUMN = v_col, CONSTRAINT = TG_NAME,
                    HINT = 'An award is revoked (revoke_badge()) or expires, once; nothing else changes.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION gamification.guard_user_badge_update() IS
'BEFORE UPDATE trigger of gamification.user_badges (trg_user_badges_guard_update): only the revocation columns (revoked_at, revoked_by_user_id, revoke_reason) and expired_at may change, each only from NULL, once; anything else raises EL002 with the column.';
REVOKE ALL ON FUNCTION gamification.guard_user_badge_update() FROM PUBLIC;

CREATE TRIGGER trg_user_badges_guard_update
BEFORE UPDATE ON gamification.user_badges
FOR EACH ROW EXECUTE FUNCTION gamification.guard_user_badge_update();
COMMENT ON TRIGGER trg_user_badges_guard_update ON gamification.user_badges IS
'Awards are immutable but for one revocation and one expiry (EL002).';

ALTER TABLE gamification.badges ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.badges FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.badge_statistics ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.badge_statistics FORCE ROW LEVEL SECURITY;
ALTER TABLE gamification.user_badges ENABLE ROW LEVEL SECURITY;
ALTER TABLE gamification.user_badges FORCE ROW LEVEL SECURITY;
