-- =============================================================================
-- V0086__create_badge_functions
-- Purpose:       evaluation of badge criteria and achievement progress, staff
--                award/revoke, expiry, rarity, and the exact holder counts of
--                badge_statistics.
-- Concern:       gamification badge and achievement functions (the user_points
--                triggers that call them follow in V0087).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       every writer of a user's awards first takes the transaction
--                advisory lock of (organization, user)
--                (gamification.lock_user_awards()), after any user_points row
--                lock it already holds and before anything else, and then
--                re-checks. Nobody takes a user_points lock after it. Holder
--                counts are not updated in place: BEFORE row triggers remember
--                which (badge, user) pairs changed, and a deferred constraint
--                trigger applies the net change per badge at commit, locking the
--                badge_statistics rows in badge order, the last locks of the
--                transaction. So two transactions awarding badges to several
--                users (consume_learning_events()) never wait for each other in
--                a cycle.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- lock_user_awards(user): the per-user mutex of award writers.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.lock_user_awards(p_organization_id uuid, p_user_id uuid)
RETURNS void
LANGUAGE sql
AS $$
    SELECT pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('gamification.user_badges/' || p_organization_id::text || '/' || p_user_id::text, 0))
$$;
COMMENT ON FUNCTION gamification.lock_user_awards(uuid, uuid) IS
'Internal: takes the transaction-scoped advisory lock of (organization, user) that serialises every write of the user''s badge awards (automatic, staff, expiry). Taken after any user_points lock, never before one.';
REVOKE ALL ON FUNCTION gamification.lock_user_awards(uuid, uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Holder counts: remember changed (badge, user) pairs, apply at commit.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.holds_badge(p_organization_id uuid, p_user_id uuid, p_badge_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM gamification.user_badges AS ub
         WHERE ub.organization_id = p_organization_id AND ub.user_id = p_user_id
           AND ub.badge_id = p_badge_id AND ub.revoked_at IS NULL AND ub.expired_at IS NULL)
$$;
COMMENT ON FUNCTION gamification.holds_badge(uuid, uuid, uuid) IS
'Internal: whether the user has a live award (not revoked, expiry not processed) of the badge, as visible now (the caller''s organization context).';
REVOKE ALL ON FUNCTION gamification.holds_badge(uuid, uuid, uuid) FROM PUBLIC;

CREATE FUNCTION gamification.remember_holder_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_row gamification.user_badges;
    v_key text;
    v_pending jsonb;
    v_context text := pg_catalog.current_setting('app.organization_id', true);
BEGIN
    IF TG_OP = 'DELETE' THEN
        v_row := OLD;
    ELSE
        v_row := NEW;
    END IF;
    v_key := v_row.organization_id::text || '/' || v_row.badge_id::text || '/' || v_row.user_id::text;
    v_pending := coalesce(NULLIF(pg_catalog.current_setting('gamification.holder_changes', true), '')::jsonb,
                          '{}'::jsonb);
    IF v_pending OPERATOR(pg_catalog.?) v_key THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    -- First change of this pair in the transaction: remember whether the user held the badge before it.
    PERFORM pg_catalog.set_config('app.organization_id', v_row.organization_id::text, true);
    v_pending := v_pending OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
        v_key, gamification.holds_badge(v_row.organization_id, v_row.user_id, v_row.badge_id));
    PERFORM pg_catalog.set_config('app.organization_id', coalesce(v_context, ''), true);
    PERFORM pg_catalog.set_config('gamification.holder_changes', v_pending::text, true);
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION gamification.remember_holder_change() IS
'BEFORE INSERT/UPDATE/DELETE row trigger of gamification.user_badges (trg_user_badges_remember_holder_change): on the first change of a (badge, user) pair in the transaction, records in the transaction-local setting gamification.holder_changes whether the user held the badge before (rolled back with the (sub)transaction). apply_holder_changes() turns it into counts at commit.';
REVOKE ALL ON FUNCTION gamification.remember_holder_change() FROM PUBLIC;

CREATE FUNCTION gamification.apply_holder_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_pending jsonb := NULLIF(pg_catalog.current_setting('gamification.holder_changes', true), '')::jsonb;
    v_context text := pg_catalog.current_setting('app.organization_id', true);
    v_totals jsonb := '{}'::jsonb;
    v_pair record;
    v_org uuid;
    v_key text;
    v_delta integer;
BEGIN
    IF v_pending IS NULL OR v_pending = '{}'::jsonb THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.set_config('gamification.holder_changes', '', true);
    FOR v_pair IN SELECT e.key, e.value FROM pg_catalog.jsonb_each_text(v_pending) AS e ORDER BY e.key LOOP
        v_org := pg_catalog.split_part(v_pair.key, '/', 1)::uuid;
        PERFORM pg_catalog.set_config('app.organization_id', v_org::text, true);
        v_delta := gamification.holds_badge(v_org, pg_catalog.split_part(v_pair.key, '/', 3)::uuid,
                                            pg_catalog.split_part(v_pair.key, '/', 2)::uuid)::integer
                   - v_pair.value::boolean::integer;
        IF v_delta <> 0 THEN
            v_key := pg_catalog.split_part(v_pair.key, '/', 1) || '/' || pg_catalog.split_part(v_pair.key, '/', 2);
            v_totals := v_totals OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
                v_key, coalesce((v_totals OPERATOR(pg_catalog.->>) v_key)::integer, 0) + v_delta);
        END IF;
    END LOOP;
    -- Badge rows in one global order: (organization, badge) as text.
    FOR v_pair IN SELECT e.key, e.value FROM pg_catalog.jsonb_each_text(v_totals) AS e ORDER BY e.key LOOP
        CONTINUE WHEN v_pair.value::bigint = 0;
        v_org := pg_catalog.split_part(v_pair.key, '/', 1)::uuid;
        PERFORM pg_catalog.set_config('app.organization_id', v_org::text, true);
        UPDATE gamification.badge_statistics AS s
           SET holders_count = s.holders_count + v_pair.value::bigint
         WHERE s.organization_id = v_org AND s.badge_id = pg_catalog.split_part(v_pair.key, '/', 2)::uuid;
    END LOOP;
    PERFORM pg_catalog.set_config('app.organization_id', coalesce(v_context, ''), true);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.apply_holder_changes() IS
'Deferred constraint trigger of gamification.user_badges (trg_user_badges_apply_holder_changes), at commit: for every (badge, user) pair remembered by remember_holder_change(), the change in holding (held now - held before: -1, 0 or +1), summed per badge and added to badge_statistics.holders_count, badges in (organization, id) order; the first firing applies everything, later ones find nothing. Keeps holder counts exact without holding a badge row lock for the rest of the transaction.';
REVOKE ALL ON FUNCTION gamification.apply_holder_changes() FROM PUBLIC;

CREATE TRIGGER trg_user_badges_remember_holder_change
BEFORE INSERT OR UPDATE OR DELETE ON gamification.user_badges
FOR EACH ROW EXECUTE FUNCTION gamification.remember_holder_change();
COMMENT ON TRIGGER trg_user_badges_remember_holder_change ON gamification.user_badges IS
'Remembers, per (badge, user) pair, whether the user held the badge before the transaction changed it.';

CREATE CONSTRAINT TRIGGER trg_user_badges_apply_holder_changes
AFTER INSERT OR UPDATE OR DELETE ON gamification.user_badges
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION gamification.apply_holder_changes();
COMMENT ON TRIGGER trg_user_badges_apply_holder_changes ON gamification.user_badges IS
'At commit: applies the net holder changes to badge_statistics.holders_count, in badge order.';

-- ---------------------------------------------------------------------------
-- measure_criterion(...): the current value of one criterion for a user.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.measure_criterion(
    p_user_id uuid,
    p_points gamification.user_points,
    p_criterion jsonb,
    p_badge_id uuid
)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_type text := p_criterion OPERATOR(pg_catalog.->>) 'type';
    v_value bigint;
BEGIN
    CASE v_type
        WHEN 'points_threshold' THEN
            v_value := coalesce(p_points.lifetime_earned, 0);
        WHEN 'level_reached' THEN
            v_value := coalesce(p_points.level, 0);
        WHEN 'streak_length' THEN
            v_value := coalesce(p_points.longest_streak, 0);
        WHEN 'courses_completed' THEN
            SELECT pg_catalog.count(DISTINCT e.course_id) INTO v_value
              FROM course_management.enrollments AS e
             WHERE e.organization_id = v_org AND e.user_id = p_user_id AND e.status = 'completed'
               AND (NOT p_criterion OPERATOR(pg_catalog.?) 'course_ids'
                    OR e.course_id::text IN (
                        SELECT pg_catalog.jsonb_array_elements_text(p_criterion OPERATOR(pg_catalog.->) 'course_ids')));
        WHEN 'lessons_in_period' THEN
            SELECT pg_catalog.count(*) INTO v_value
              FROM course_management.lesson_progress AS lp
             WHERE lp.organization_id = v_org AND lp.user_id = p_user_id AND lp.status = 'completed'
               AND lp.completed_at > pg_catalog.now()
                   - pg_catalog.make_interval(days => (p_criterion OPERATOR(pg_catalog.->>) 'days')::integer);
        WHEN 'event_count' THEN
            SELECT pg_catalog.count(*) INTO v_value
              FROM course_management.learning_events AS le
             WHERE le.organization_id = v_org AND le.user_id = p_user_id
               AND le.event_type = p_criterion OPERATOR(pg_catalog.->>) 'event_type';
        WHEN 'badge_count' THEN
            SELECT pg_catalog.count(DISTINCT ub.badge_id) INTO v_value
              FROM gamification.user_badges AS ub
             WHERE ub.organization_id = v_org AND ub.user_id = p_user_id
               AND ub.revoked_at IS NULL AND ub.expired_at IS NULL
               AND (ub.expires_at IS NULL OR ub.expires_at > pg_catalog.now())
               AND ub.badge_id IS DISTINCT FROM p_badge_id;
        ELSE
            RAISE EXCEPTION 'unknown criterion type %', v_type USING ERRCODE = '22023';
    END CASE;
    RETURN v_value;
END
$$;
COMMENT ON FUNCTION gamification.measure_criterion(uuid, gamification.user_points, jsonb, uuid) IS
'Internal: the value one criterion measures for p_user_id in the acting organization: lifetime_earned, level or longest_streak of p_points (the user_points row of the badge''s point system; 0 without one), completed enrollments (distinct courses, optionally among course_ids), lessons completed in the last `days` days, learning events of event_type, or other badges (not p_badge_id) held now. Each count is one index range of the user''s rows, never a scan of the ledger.';
REVOKE ALL ON FUNCTION gamification.measure_criterion(uuid, gamification.user_points, jsonb, uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- grant_badge(...): insert one award (caller holds lock_user_awards and checked the rule).
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.grant_badge(
    p_user_id uuid,
    p_badge gamification.badges,
    p_evidence jsonb,
    p_by_user_id uuid,
    p_reason text
)
RETURNS gamification.user_badges
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_now timestamptz := pg_catalog.now();
    v_award gamification.user_badges;
BEGIN
    INSERT INTO gamification.user_badges AS ub
        (organization_id, user_id, badge_id, repeatable, award_number, awarded_at, expires_at, evidence,
         awarded_by_user_id, award_reason)
    SELECT p_badge.organization_id, p_user_id, p_badge.id, p_badge.repeatable,
           coalesce(pg_catalog.max(x.award_number), 0) + 1, v_now, v_now + p_badge.validity_period,
           p_evidence, p_by_user_id, p_reason
      FROM (SELECT u.award_number FROM gamification.user_badges AS u
             WHERE u.organization_id = p_badge.organization_id AND u.user_id = p_user_id
               AND u.badge_id = p_badge.id) AS x
    ON CONFLICT DO NOTHING
    RETURNING ub.* INTO v_award;
    IF v_award.id IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO gamification.user_events
        (organization_id, user_id, kind, event_key, badge_id, payload, occurred_at)
    VALUES (v_award.organization_id, p_user_id, 'badge_awarded', 'badge_awarded:' || v_award.id::text,
            p_badge.id,
            pg_catalog.jsonb_build_object('user_badge_id', v_award.id, 'badge_name', p_badge.name,
                                          'award_number', v_award.award_number,
                                          'expires_at', v_award.expires_at, 'evidence', p_evidence,
                                          'awarded_by_user_id', p_by_user_id, 'reason', p_reason),
            v_now)
    ON CONFLICT (organization_id, event_key) DO NOTHING;
    RETURN v_award;
END
$$;
COMMENT ON FUNCTION gamification.grant_badge(uuid, gamification.badges, jsonb, uuid, text) IS
'Internal: inserts the next award (award_number = previous + 1, expires_at = now + validity_period) of the badge to the user with its evidence, and its badge_awarded event; ON CONFLICT DO NOTHING (a live award of a non-repeatable badge, or the same award_number, already exists: returns NULL). The caller holds lock_user_awards() and has checked the award rule.';
REVOKE ALL ON FUNCTION gamification.grant_badge(uuid, gamification.badges, jsonb, uuid, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- evaluate_progress(user, points row, source): award what the criteria earn,
-- update achievement progress. The core of the automatic path.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.evaluate_progress(
    p_user_id uuid,
    p_points gamification.user_points,
    p_source text
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_now timestamptz := pg_catalog.now();
    v_system uuid := p_points.point_system_id;
    v_default uuid;
    v_badge gamification.badges;
    v_ach gamification.achievements;
    v_points gamification.user_points;
    v_criteria jsonb;
    v_c jsonb;
    v_measures jsonb;
    v_value bigint;
    v_target bigint;
    v_met boolean;
    v_tx uuid;
    v_award gamification.user_badges;
    v_awarded integer := 0;
    v_new integer;
    v_round integer := 0;
    v_completed timestamptz;
BEGIN
    SELECT s.id INTO v_default FROM gamification.point_systems AS s
     WHERE s.organization_id = v_org AND s.is_default;
    LOOP
        v_round := v_round + 1;
        v_new := 0;
        FOR v_badge IN
            SELECT b.* FROM gamification.badges AS b
             WHERE b.organization_id = v_org AND b.active AND b.deleted_at IS NULL
               AND (b.valid_from IS NULL OR b.valid_from <= v_now)
               AND (b.valid_until IS NULL OR b.valid_until > v_now)
               AND (v_system IS NULL OR b.point_system_id = v_system
                    OR (b.point_system_id IS NULL AND v_system = v_default))
               AND NOT EXISTS (
                   SELECT 1 FROM gamification.user_badges AS ub
                    WHERE ub.organization_id = v_org AND ub.user_id = p_user_id AND ub.badge_id = b.id
                      AND CASE WHEN b.repeatable THEN ub.awarded_at > v_now - b.repeat_interval
                               ELSE ub.revoked_at IS NOT NULL OR ub.expired_at IS NULL END)
             ORDER BY b.id
        LOOP
            IF coalesce(v_badge.point_system_id, v_default) IS NOT DISTINCT FROM v_system THEN
                v_points := p_points;
            ELSE
                v_points := NULL;
                SELECT up.* INTO v_points FROM gamification.user_points AS up
                 WHERE up.organization_id = v_org AND up.user_id = p_user_id
                   AND up.point_system_id = coalesce(v_badge.point_system_id, v_default);
            END IF;
            v_criteria := CASE WHEN v_badge.criteria OPERATOR(pg_catalog.?) 'all'
                               THEN v_badge.criteria OPERATOR(pg_catalog.->) 'all'
                               ELSE pg_catalog.jsonb_build_array(v_badge.criteria) END;
            v_met := true;
            v_measures := '[]'::jsonb;
            FOR v_c IN SELECT e.v FROM pg_catalog.jsonb_array_elements(v_criteria) AS e (v) LOOP
                v_value := gamification.measure_criterion(p_user_id, v_points, v_c, v_badge.id);
                v_target := gamification.criterion_target(v_c);
                v_measures := v_measures OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(
                    pg_catalog.jsonb_build_object('type', v_c OPERATOR(pg_catalog.->>) 'type',
                                                  'value', v_value, 'target', v_target));
                IF v_value < v_target THEN
                    v_met := false;
                    EXIT;
                END IF;
            END LOOP;
            CONTINUE WHEN NOT v_met;

            -- Earned: take the user's award lock, then re-check what another transaction may have committed.
            PERFORM gamification.lock_user_awards(v_org, p_user_id);
            CONTINUE WHEN EXISTS (
                SELECT 1 FROM gamification.user_badges AS ub
                 WHERE ub.organization_id = v_org AND ub.user_id = p_user_id AND ub.badge_id = v_badge.id
                   AND CASE WHEN v_badge.repeatable THEN ub.awarded_at > v_now - v_badge.repeat_interval
                            ELSE ub.revoked_at IS NOT NULL OR ub.expired_at IS NULL END);
            v_tx := NULL;
            IF v_points.id IS NOT NULL THEN
                SELECT t.id INTO v_tx FROM gamification.point_transactions AS t
                 WHERE t.organization_id = v_org AND t.user_id = p_user_id
                   AND t.point_system_id = v_points.point_system_id
                 ORDER BY t.occurred_at DESC, t.id DESC
                 LIMIT 1;
            END IF;
            v_award := gamification.grant_badge(
                p_user_id, v_badge,
                pg_catalog.jsonb_build_object('source', p_source, 'criteria', v_badge.criteria,
                                              'measures', v_measures,
                                              'point_system_id', v_points.point_system_id,
                                              'transaction_id', v_tx),
                NULL, NULL);
            IF v_award.id IS NOT NULL THEN
                v_new := v_new + 1;
            END IF;
        END LOOP;
        v_awarded := v_awarded + v_new;
        -- A new award can satisfy a badge_count criterion: evaluate again (bounded).
        EXIT WHEN v_new = 0 OR v_round >= 5;
    END LOOP;

    FOR v_ach IN
        SELECT a.* FROM gamification.achievements AS a
         WHERE a.organization_id = v_org AND a.active AND a.deleted_at IS NULL
           AND (v_system IS NULL OR a.point_system_id = v_system
                OR (a.point_system_id IS NULL AND v_system = v_default))
           AND NOT EXISTS (
               SELECT 1 FROM gamification.user_achievements AS ua
                WHERE ua.organization_id = v_org AND ua.user_id = p_user_id AND ua.achievement_id = a.id
                  AND ua.completed_at IS NOT NULL)
         ORDER BY a.id
    LOOP
        IF coalesce(v_ach.point_system_id, v_default) IS NOT DISTINCT FROM v_system THEN
            v_points := p_points;
        ELSE
            v_points := NULL;
            SELECT up.* INTO v_points FROM gamification.user_points AS up
             WHERE up.organization_id = v_org AND up.user_id = p_user_id
               AND up.point_system_id = coalesce(v_ach.point_system_id, v_default);
        END IF;
        v_target := gamification.criterion_target(v_ach.criterion);
        v_value := LEAST(gamification.measure_criterion(p_user_id, v_points, v_ach.criterion, NULL), v_target);
        CONTINUE WHEN v_value = 0 AND NOT EXISTS (
            SELECT 1 FROM gamification.user_achievements AS ua
             WHERE ua.organization_id = v_org AND ua.user_id = p_user_id AND ua.achievement_id = v_ach.id);
        v_completed := NULL;
        INSERT INTO gamification.user_achievements AS ua
            (organization_id, user_id, achievement_id, progress, target, completed_at)
        VALUES (v_org, p_user_id, v_ach.id, v_value, v_target, CASE WHEN v_value >= v_target THEN v_now END)
        ON CONFLICT (organization_id, user_id, achievement_id) DO UPDATE
           SET progress = excluded.progress, target = excluded.target, completed_at = excluded.completed_at
         WHERE ua.completed_at IS NULL
           AND (ua.progress, ua.target) IS DISTINCT FROM (excluded.progress, excluded.target)
        RETURNING ua.completed_at INTO v_completed;
        IF v_completed IS NOT NULL THEN
            INSERT INTO gamification.user_events
                (organization_id, user_id, kind, event_key, achievement_id, payload, occurred_at)
            VALUES (v_org, p_user_id, 'achievement_completed',
                    'achievement_completed:' || p_user_id::text || ':' || v_ach.id::text, v_ach.id,
                    pg_catalog.jsonb_build_object('achievement_name', v_ach.name, 'target', v_target,
                                                  'criterion', v_ach.criterion, 'source', p_source),
                    v_now)
            ON CONFLICT (organization_id, event_key) DO NOTHING;
        END IF;
    END LOOP;
    RETURN v_awarded;
END
$$;
COMMENT ON FUNCTION gamification.evaluate_progress(uuid, gamification.user_points, text) IS
'Internal: for p_user_id in the acting organization, awards every active badge in its earning window whose criteria all hold now and that the award rule allows (non-repeatable: no live and no revoked award; repeatable: none within repeat_interval), with evidence (criteria, measured values, the latest ledger row); repeats up to 5 rounds while awards change badge counts. Then writes progress of the active, uncompleted achievements (capped at the target; completion once, with an achievement_completed event). p_points given: only badges and achievements of its point system (NULL system = default) and that row as the points; NULL: all, reading user_points. Takes lock_user_awards() only when something is earned. Returns the number of badges awarded.';
REVOKE ALL ON FUNCTION gamification.evaluate_progress(uuid, gamification.user_points, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- evaluate_user(user): for workers and staff.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.evaluate_user(p_user_id uuid)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := user_management.require_organization();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM user_management.users AS u
                    WHERE u.organization_id = v_org AND u.id = p_user_id AND u.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'no live user % in the organization', p_user_id USING ERRCODE = 'P0002';
    END IF;
    RETURN gamification.evaluate_progress(p_user_id, NULL::gamification.user_points, 'evaluation');
END
$$;
COMMENT ON FUNCTION gamification.evaluate_user(uuid) IS
'Evaluates every active badge and achievement of the acting organization for p_user_id (all point systems): awards the badges whose criteria hold, with evidence, and writes achievement progress, in this transaction; returns the number of badges awarded. For facts that change no points (a completed course without a point rule, a lesson window) and after criteria edits: workers or staff call it. Needs only an organization context (42501 without): it only applies what the data already earns. P0002 for an unknown or deleted user.';
REVOKE ALL ON FUNCTION gamification.evaluate_user(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.evaluate_user(uuid) TO ${app_role};

-- ---------------------------------------------------------------------------
-- award_badge / revoke_badge: staff.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.award_badge(
    p_user_id uuid,
    p_badge_id uuid,
    p_reason text,
    p_details jsonb DEFAULT '{}'::jsonb
)
RETURNS gamification.user_badges
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_permission('gamification.manage');
    v_org uuid := app.current_organization_id();
    v_now timestamptz := pg_catalog.now();
    v_badge gamification.badges;
    v_award gamification.user_badges;
BEGIN
    IF p_user_id IS NULL OR p_badge_id IS NULL OR p_reason IS NULL OR pg_catalog.btrim(p_reason) = ''
       OR pg_catalog.char_length(p_reason) > 500
       OR p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) <> 'object' THEN
        RAISE EXCEPTION 'user, badge, a reason of 1-500 characters and a JSON object of details are required'
              USING ERRCODE = '22023';
    END IF;
    SELECT b.* INTO v_badge FROM gamification.badges AS b
     WHERE b.organization_id = v_org AND b.id = p_badge_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no badge % in the organization', p_badge_id USING ERRCODE = 'P0002';
    END IF;
    IF v_badge.deleted_at IS NOT NULL OR NOT v_badge.active
       OR (v_badge.valid_from IS NOT NULL AND v_badge.valid_from > v_now)
       OR (v_badge.valid_until IS NOT NULL AND v_badge.valid_until <= v_now) THEN
        RAISE EXCEPTION 'badge % cannot be awarded', p_badge_id
              USING ERRCODE = 'EL030',
                    DETAIL = CASE WHEN v_badge.deleted_at IS NOT NULL THEN 'The badge is deleted.'
                                  WHEN NOT v_badge.active THEN 'The badge is inactive.'
                                  ELSE 'Outside the badge''s earning window.' END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM user_management.users AS u
                    WHERE u.organization_id = v_org AND u.id = p_user_id AND u.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'no live user % in the organization', p_user_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM gamification.lock_user_awards(v_org, p_user_id);
    IF NOT v_badge.repeatable THEN
        SELECT ub.* INTO v_award FROM gamification.user_badges AS ub
         WHERE ub.organization_id = v_org AND ub.user_id = p_user_id AND ub.badge_id = p_badge_id
           AND ub.revoked_at IS NULL AND ub.expired_at IS NULL;
        IF FOUND THEN
            RETURN v_award;
        END IF;
    ELSE
        SELECT ub.* INTO v_award FROM gamification.user_badges AS ub
         WHERE ub.organization_id = v_org AND ub.user_id = p_user_id AND ub.badge_id = p_badge_id
           AND ub.awarded_at > v_now - v_badge.repeat_interval
         ORDER BY ub.awarded_at DESC
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'badge % was awarded to user % less than its repeat interval ago', p_badge_id, p_user_id
                  USING ERRCODE = 'EL031',
                        DETAIL = pg_catalog.format('Last award at %s; the next one from %s.', v_award.awarded_at,
                                                   v_award.awarded_at + v_badge.repeat_interval);
        END IF;
    END IF;
    RETURN gamification.grant_badge(
        p_user_id, v_badge,
        pg_catalog.jsonb_build_object('source', 'staff', 'details', p_details),
        v_actor, p_reason);
END
$$;
COMMENT ON FUNCTION gamification.award_badge(uuid, uuid, text, jsonb) IS
'Staff (gamification.manage, else 42501) award badge p_badge_id to p_user_id by hand with a reason (1-500 characters) and optional details (a JSON object; 22023 otherwise), whatever the criteria say: evidence {"source":"staff","details":...}, awarded_by_user_id and award_reason set, a badge_awarded event. A non-repeatable badge the user holds (live award) returns that award unchanged (idempotent); one that was revoked or expired is awarded again. A repeatable badge awarded less than repeat_interval ago raises EL031. EL030 for a deleted or inactive badge or outside its earning window; P0002 for an unknown badge or user.';
REVOKE ALL ON FUNCTION gamification.award_badge(uuid, uuid, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.award_badge(uuid, uuid, text, jsonb) TO ${app_role};

CREATE FUNCTION gamification.revoke_badge(p_user_badge_id uuid, p_reason text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_permission('gamification.manage');
    v_org uuid := app.current_organization_id();
    v_award gamification.user_badges;
BEGIN
    IF p_user_badge_id IS NULL OR p_reason IS NULL OR pg_catalog.btrim(p_reason) = ''
       OR pg_catalog.char_length(p_reason) > 500 THEN
        RAISE EXCEPTION 'an award and a reason of 1-500 characters are required' USING ERRCODE = '22023';
    END IF;
    SELECT ub.* INTO v_award FROM gamification.user_badges AS ub
     WHERE ub.organization_id = v_org AND ub.id = p_user_badge_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no badge award % in the organization', p_user_badge_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM gamification.lock_user_awards(v_org, v_award.user_id);
    UPDATE gamification.user_badges AS ub
       SET revoked_at = pg_catalog.now(), revoked_by_user_id = v_actor, revoke_reason = p_reason
     WHERE ub.organization_id = v_org AND ub.id = p_user_badge_id AND ub.revoked_at IS NULL
    RETURNING ub.* INTO v_award;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO gamification.user_events
        (organization_id, user_id, kind, event_key, badge_id, payload, occurred_at)
    VALUES (v_org, v_award.user_id, 'badge_revoked', 'badge_revoked:' || v_award.id::text, v_award.badge_id,
            pg_catalog.jsonb_build_object('user_badge_id', v_award.id, 'award_number', v_award.award_number,
                                          'reason', p_reason, 'revoked_by_user_id', v_actor),
            v_award.revoked_at)
    ON CONFLICT (organization_id, event_key) DO NOTHING;
    RETURN true;
END
$$;
COMMENT ON FUNCTION gamification.revoke_badge(uuid, text) IS
'Staff (gamification.manage, else 42501) revoke award p_user_badge_id with a reason (1-500 characters, else 22023): revoked_at, revoked_by_user_id and revoke_reason set once, a badge_revoked event, the holder count lowered at commit. Returns true when it revoked now, false when the award already was revoked (nothing changes). A revoked award of a non-repeatable badge is never re-awarded automatically; staff may award it again. Badges earned through badge_count stay. P0002 for an unknown award.';
REVOKE ALL ON FUNCTION gamification.revoke_badge(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.revoke_badge(uuid, text) TO ${app_role};

-- ---------------------------------------------------------------------------
-- process_badge_expiries(limit): workers.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.process_badge_expiries(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := user_management.require_organization();
    v_due record;
    v_award gamification.user_badges;
    v_count integer := 0;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'p_limit must be 1..10000' USING ERRCODE = '22023';
    END IF;
    -- Read the due awards without locking them, then lock user by user (user order) and re-check:
    -- row locks are never taken before the user's award lock.
    FOR v_due IN
        SELECT d.id, d.user_id
          FROM (SELECT ub.id, ub.user_id FROM gamification.user_badges AS ub
                 WHERE ub.organization_id = v_org AND ub.expires_at <= pg_catalog.now()
                   AND ub.expires_at IS NOT NULL AND ub.revoked_at IS NULL AND ub.expired_at IS NULL
                 ORDER BY ub.expires_at, ub.id
                 LIMIT p_limit) AS d
         ORDER BY d.user_id, d.id
    LOOP
        PERFORM gamification.lock_user_awards(v_org, v_due.user_id);
        UPDATE gamification.user_badges AS ub
           SET expired_at = ub.expires_at
         WHERE ub.organization_id = v_org AND ub.id = v_due.id
           AND ub.revoked_at IS NULL AND ub.expired_at IS NULL
        RETURNING ub.* INTO v_award;
        CONTINUE WHEN NOT FOUND;
        INSERT INTO gamification.user_events
            (organization_id, user_id, kind, event_key, badge_id, payload, occurred_at)
        VALUES (v_org, v_award.user_id, 'badge_expired', 'badge_expired:' || v_award.id::text, v_award.badge_id,
                pg_catalog.jsonb_build_object('user_badge_id', v_award.id, 'award_number', v_award.award_number,
                                              'expires_at', v_award.expires_at),
                pg_catalog.now())
        ON CONFLICT (organization_id, event_key) DO NOTHING;
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION gamification.process_badge_expiries(integer) IS
'Worker: marks up to p_limit (1-10000, else 22023) awards of the acting organization whose expires_at has passed as expired (expired_at = expires_at), each once with a badge_expired event; the holder counts drop at commit, and a non-repeatable badge can then be earned again. Users are locked in user order; concurrent workers skip what another already expired. Returns the number expired now. Needs only an organization context (42501 without): it records facts of time. Run it periodically (e.g. every minute): until then an expired award still counts as held in badge_statistics (readers check expires_at).';
REVOKE ALL ON FUNCTION gamification.process_badge_expiries(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.process_badge_expiries(integer) TO ${app_role};

-- ---------------------------------------------------------------------------
-- badge_rarity(): share of the organization's learners holding each badge.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.badge_rarity()
RETURNS TABLE (badge_id uuid, holders bigint, learners bigint, rarity numeric)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := user_management.require_organization();
    v_learners bigint;
BEGIN
    SELECT pg_catalog.count(*) INTO v_learners FROM user_management.users AS u
     WHERE u.organization_id = v_org AND u.deleted_at IS NULL;
    RETURN QUERY
    WITH gone AS (
        -- Holders counted in badge_statistics who are no longer learners (soft-deleted users).
        SELECT ub.badge_id, pg_catalog.count(DISTINCT ub.user_id) AS n
          FROM user_management.users AS u
          JOIN gamification.user_badges AS ub
            ON ub.organization_id = u.organization_id AND ub.user_id = u.id
         WHERE u.organization_id = v_org AND u.deleted_at IS NOT NULL
           AND ub.revoked_at IS NULL AND ub.expired_at IS NULL
         GROUP BY ub.badge_id
    )
    SELECT b.id, s.holders_count - coalesce(g.n, 0), v_learners,
           CASE WHEN v_learners = 0 THEN 0::numeric
                ELSE pg_catalog.round((s.holders_count - coalesce(g.n, 0))::numeric / v_learners, 6) END
      FROM gamification.badges AS b
      JOIN gamification.badge_statistics AS s ON s.organization_id = b.organization_id AND s.badge_id = b.id
      LEFT JOIN gone AS g ON g.badge_id = b.id
     WHERE b.organization_id = v_org AND b.deleted_at IS NULL
     ORDER BY b.id;
END
$$;
COMMENT ON FUNCTION gamification.badge_rarity() IS
'Rarity of every live badge of the acting organization (any member; 42501 without context): holders = users with a live award who are live users (badge_statistics.holders_count, exact at every commit, minus soft-deleted holders), learners = live users of the organization, rarity = holders / learners rounded to 6 decimals (0 without learners). SECURITY DEFINER because a learner sees only own awards under RLS: counting through the policies would be wrong. Cost: one count of the organization''s live users per call, not per badge.';
REVOKE ALL ON FUNCTION gamification.badge_rarity() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gamification.badge_rarity() TO ${app_role};
