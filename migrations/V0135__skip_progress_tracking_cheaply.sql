-- =============================================================================
-- V0135__skip_progress_tracking_cheaply
-- Purpose:       the badges trigger on user_points (V0087) runs in every award;
--                without any active badge or achievement of the organization for
--                the point system it now returns after one statement (one
--                UNION ALL probe of the (organization_id, point_system_id) indexes,
--                stopping at the
--                first row) instead of two. Everything else is V0087's function:
--                with a badge or achievement it evaluates exactly as before.
-- Concern:       the badges area's user_points progress trigger (speed).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION gamification.track_progress()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM gamification.badges AS b
                    WHERE b.organization_id = NEW.organization_id
                      AND (b.point_system_id = NEW.point_system_id OR b.point_system_id IS NULL)
                      AND b.active AND b.deleted_at IS NULL
                   UNION ALL
                   SELECT 1 FROM gamification.achievements AS a
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
'AFTER UPDATE trigger of gamification.user_points (trg_user_points_track_progress, WHEN lifetime_earned, longest_streak or level changed): evaluates the badges and achievements of the row''s point system (NULL system = default) for the user (gamification.evaluate_progress()) in the same transaction as the change of points; returns after one probe when the organization has no active badge or achievement that could apply (V0135).';
