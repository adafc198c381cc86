-- =============================================================================
-- V0097__create_leaderboard_triggers
-- Purpose:       what the database guarantees between refreshes: an opted-out
--                or deleted user disappears from every cached board at once and
--                leaves no gap in ranks (remove_user_from_leaderboards()), and
--                only cohort boards take members (EL035).
-- Concern:       leaderboard triggers (on leaderboard_preferences,
--                leaderboard_members and user_management.users).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       the removal locks the boards the user is ranked on FOR NO KEY
--                UPDATE in id order (the refresh's lock, so the two serialise),
--                then deletes the user's entries and closes the ranks.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- remove_user_from_leaderboards(organization, user)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.remove_user_from_leaderboards(p_organization_id uuid, p_user_id uuid)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_entry record;
    v_tie text;
    v_rank_shift boolean;
    v_count integer := 0;
BEGIN
    -- Only inside the row's own organization (the owner's policies show nothing else); without
    -- that context the next refresh removes the user instead.
    IF p_organization_id IS DISTINCT FROM app.current_organization_id() THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM gamification.leaderboards AS b
     WHERE b.organization_id = p_organization_id
       AND b.id IN (SELECT e.leaderboard_id FROM gamification.leaderboard_entries AS e
                     WHERE e.organization_id = p_organization_id AND e.user_id = p_user_id)
     ORDER BY b.id
       FOR NO KEY UPDATE;
    FOR v_entry IN
        DELETE FROM gamification.leaderboard_entries AS e
         WHERE e.organization_id = p_organization_id AND e.user_id = p_user_id
        RETURNING e.leaderboard_id, e.period_start, e.score, e.place
    LOOP
        SELECT b.tie_rule INTO STRICT v_tie FROM gamification.leaderboards AS b
         WHERE b.organization_id = p_organization_id AND b.id = v_entry.leaderboard_id;
        -- Competition: everyone with a lower score had the user above them. Dense: only when
        -- nobody else keeps the user's score does a distinct score above them disappear.
        v_rank_shift := v_tie = 'competition' OR NOT EXISTS (
            SELECT 1 FROM gamification.leaderboard_entries AS x
             WHERE x.organization_id = p_organization_id AND x.leaderboard_id = v_entry.leaderboard_id
               AND x.period_start = v_entry.period_start AND x.score = v_entry.score);
        UPDATE gamification.leaderboard_entries AS e
           SET place = e.place OPERATOR(pg_catalog.-) 1,
               rank = e.rank OPERATOR(pg_catalog.-)
                      CASE WHEN v_rank_shift AND e.score < v_entry.score THEN 1 ELSE 0 END
         WHERE e.organization_id = p_organization_id AND e.leaderboard_id = v_entry.leaderboard_id
           AND e.period_start = v_entry.period_start AND e.place > v_entry.place;
        UPDATE gamification.leaderboard_periods AS p
           SET entry_count = p.entry_count OPERATOR(pg_catalog.-) 1
         WHERE p.organization_id = p_organization_id AND p.leaderboard_id = v_entry.leaderboard_id
           AND p.period_start = v_entry.period_start;
        v_count := v_count OPERATOR(pg_catalog.+) 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION gamification.remove_user_from_leaderboards(uuid, uuid) IS
'Internal: deletes every cached entry of the user (all boards, all periods) and closes the gap: places below move up by one, ranks of lower scores drop by one (competition; dense only when no one else keeps the user''s score), entry_count drops. Locks the affected boards in id order first. Acts only when p_organization_id is the current organization (returns 0 otherwise: the next refresh leaves the user out anyway). Returns the number of entries removed.';
REVOKE ALL ON FUNCTION gamification.remove_user_from_leaderboards(uuid, uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Opt-out
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.leave_leaderboards_on_opt_out()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    PERFORM gamification.remove_user_from_leaderboards(NEW.organization_id, NEW.user_id);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.leave_leaderboards_on_opt_out() IS
'AFTER trigger of leaderboard_preferences (trg_leaderboard_preferences_opt_out): a user who opts out leaves every cached board at once (remove_user_from_leaderboards()). SECURITY DEFINER: the learner may not write entries.';
REVOKE ALL ON FUNCTION gamification.leave_leaderboards_on_opt_out() FROM PUBLIC;

CREATE TRIGGER trg_leaderboard_preferences_opt_out
AFTER INSERT OR UPDATE OF opted_out ON gamification.leaderboard_preferences
FOR EACH ROW WHEN (new.opted_out)
EXECUTE FUNCTION gamification.leave_leaderboards_on_opt_out();
COMMENT ON TRIGGER trg_leaderboard_preferences_opt_out ON gamification.leaderboard_preferences IS
'Opting out removes the user from every cached board and closes the ranks, in the same transaction.';

-- ---------------------------------------------------------------------------
-- Deleted users (soft delete and hard delete)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.leave_leaderboards_on_user_delete()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
BEGIN
    PERFORM gamification.remove_user_from_leaderboards(OLD.organization_id, OLD.id);
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.leave_leaderboards_on_user_delete() IS
'Triggers of user_management.users (trg_users_leave_leaderboards_soft_delete, trg_users_leave_leaderboards_delete): a user who is soft-deleted or deleted leaves every cached board and the ranks close (remove_user_from_leaderboards()), before the foreign-key cascade would leave a gap.';
REVOKE ALL ON FUNCTION gamification.leave_leaderboards_on_user_delete() FROM PUBLIC;

CREATE TRIGGER trg_users_leave_leaderboards_soft_delete
AFTER UPDATE OF deleted_at ON user_management.users
FOR EACH ROW WHEN (old.deleted_at IS NULL AND new.deleted_at IS NOT NULL)
EXECUTE FUNCTION gamification.leave_leaderboards_on_user_delete();
COMMENT ON TRIGGER trg_users_leave_leaderboards_soft_delete ON user_management.users IS
'A soft-deleted user leaves every cached leaderboard at once; the ranks close (gamification).';

CREATE TRIGGER trg_users_leave_leaderboards_delete
BEFORE DELETE ON user_management.users
FOR EACH ROW EXECUTE FUNCTION gamification.leave_leaderboards_on_user_delete();
COMMENT ON TRIGGER trg_users_leave_leaderboards_delete ON user_management.users IS
'A deleted user leaves every cached leaderboard with the ranks closed, before the cascade removes the entries (gamification).';

-- ---------------------------------------------------------------------------
-- Cohort members only on cohort boards (EL035)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.check_leaderboard_member_scope()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_scope text;
BEGIN
    SELECT b.scope INTO v_scope FROM gamification.leaderboards AS b
     WHERE b.organization_id = NEW.organization_id AND b.id = NEW.leaderboard_id;
    -- A board this context cannot see: RLS already refused a foreign row (nothing to judge).
    IF FOUND AND v_scope <> 'cohort' THEN
        RAISE EXCEPTION 'leaderboard % is not a cohort board', NEW.leaderboard_id
              USING ERRCODE = 'EL035',
                    CONSTRAINT = TG_NAME,
                    DETAIL = pg_catalog.format('Its scope is %s; only boards with scope cohort have members.',
                                               v_scope),
                    HINT = 'Course boards rank the course''s enrollees, organization boards everyone.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.check_leaderboard_member_scope() IS
'AFTER ROW trigger of leaderboard_members (trg_leaderboard_members_check_scope): the board must have scope cohort, else EL035 with the trigger as constraint. AFTER, so privilege, RLS, unique and foreign-key errors come first.';
REVOKE ALL ON FUNCTION gamification.check_leaderboard_member_scope() FROM PUBLIC;

CREATE TRIGGER trg_leaderboard_members_check_scope
AFTER INSERT OR UPDATE ON gamification.leaderboard_members
FOR EACH ROW EXECUTE FUNCTION gamification.check_leaderboard_member_scope();
COMMENT ON TRIGGER trg_leaderboard_members_check_scope ON gamification.leaderboard_members IS
'Members only on boards with scope cohort (EL035).';
