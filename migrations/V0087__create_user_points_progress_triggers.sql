-- =============================================================================
-- V0087__create_user_points_progress_triggers
-- Purpose:       hook badges, achievements and level-up events into every change
--                of points: AFTER UPDATE triggers on gamification.user_points,
--                so they run inside the transaction of award_points(),
--                adjust_points() and every other writer of balances, without
--                changing those functions.
-- Concern:       the user_points triggers of the badges area.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Cost:          the level-up trigger fires only when the level rises (WHEN).
--                The progress trigger fires when lifetime_earned, longest_streak
--                or level changed (not for spends and refunds) and returns after
--                one index probe when the organization has no active badge or
--                achievement for the point system.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION gamification.record_level_ups()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    INSERT INTO gamification.user_events
        (organization_id, user_id, kind, event_key, point_system_id, level, payload, occurred_at)
    SELECT NEW.organization_id, NEW.user_id, 'level_up',
           'level_up:' || NEW.user_id::text || ':' || NEW.point_system_id::text || ':' || g.n::text,
           NEW.point_system_id, g.n,
           pg_catalog.jsonb_build_object('level', g.n, 'name', l.name,
                                         'rewards', coalesce(l.rewards, '{}'::jsonb),
                                         'threshold', l.threshold, 'previous_level', OLD.level,
                                         'lifetime_earned', NEW.lifetime_earned),
           pg_catalog.now()
      FROM pg_catalog.generate_series(OLD.level + 1, NEW.level) AS g (n)
      LEFT JOIN gamification.levels AS l
        ON l.organization_id = NEW.organization_id AND l.point_system_id = NEW.point_system_id
       AND l.level_number = g.n
     ORDER BY g.n
    ON CONFLICT (organization_id, event_key) DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.record_level_ups() IS
'AFTER UPDATE trigger of gamification.user_points (trg_user_points_record_level_ups, WHEN the level rose): one level_up event per level gained (OLD.level + 1 .. NEW.level, so a jump of two levels writes two), with the level''s name, rewards and threshold in the payload; exactly once per user, system and level (event_key level_up:<user>:<system>:<level>).';
REVOKE ALL ON FUNCTION gamification.record_level_ups() FROM PUBLIC;

CREATE TRIGGER trg_user_points_record_level_ups
AFTER UPDATE OF level ON gamification.user_points
FOR EACH ROW
WHEN (new.level > old.level)
EXECUTE FUNCTION gamification.record_level_ups();
COMMENT ON TRIGGER trg_user_points_record_level_ups ON gamification.user_points IS
'One level_up event per level gained, in the transaction of the change of points.';

CREATE FUNCTION gamification.track_progress()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM gamification.badges AS b
                    WHERE b.organization_id = NEW.organization_id
                      AND (b.point_system_id = NEW.point_system_id OR b.point_system_id IS NULL)
                      AND b.active AND b.deleted_at IS NULL)
       AND NOT EXISTS (SELECT 1 FROM gamification.achievements AS a
                        WHERE a.organization_id = NEW.organization_id
                          AND (a.point_system_id = NEW.point_system_id OR a.point_system_id IS NULL)
                          AND a.active AND a.deleted_at IS NULL) THEN
        RETURN NULL;
    END IF;
    PERFORM gamification.evaluate_progress(NEW.user_id, NEW, 'points_change');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.track_progress() IS
'AFTER UPDATE trigger of gamification.user_points (trg_user_points_track_progress, WHEN lifetime_earned, longest_streak or level changed): evaluates the badges and achievements of the row''s point system (NULL system = default) for the user (gamification.evaluate_progress()) in the same transaction as the change of points; returns at once when the organization has no active badge or achievement that could apply.';
REVOKE ALL ON FUNCTION gamification.track_progress() FROM PUBLIC;

CREATE TRIGGER trg_user_points_track_progress
AFTER UPDATE OF lifetime_earned, longest_streak, level ON gamification.user_points
FOR EACH ROW
WHEN (
    new.lifetime_earned <> old.lifetime_earned
    OR new.longest_streak <> old.longest_streak
    OR new.level <> old.level
)
EXECUTE FUNCTION gamification.track_progress();
COMMENT ON TRIGGER trg_user_points_track_progress ON gamification.user_points IS
'Badges, achievements and their events follow every change of earned points, streak or level, in the same transaction.';
