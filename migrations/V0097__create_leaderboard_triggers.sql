-- =============================================================================
-- V0097__create_leaderboard_triggers
-- Purpose:       what the database guarantees between refreshes: an opted-out
--                or deleted user disappears from every cached board at once and
--                leaves no gap in ranks (hide_user_on_leaderboards(): the
--                user's entries are marked hidden, the board queries subtract
--                them), and only cohort boards take members (EL035).
-- Concern:       leaderboard triggers (on leaderboard_preferences,
--                leaderboard_members and user_management.users).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       hiding updates one entry per board and period the user is on
--                (row locks only, nothing renumbered); a refresh rewriting the
--                same board holds those rows, and the hide waits for it.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- hide_user_on_leaderboards(organization, user, detach)
-- ---------------------------------------------------------------------------
CREATE FUNCTION gamification.hide_user_on_leaderboards(
    p_organization_id uuid,
    p_user_id uuid,
    p_detach boolean
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    -- Only inside the row's own organization (the owner's policies show nothing else); without
    -- that context the next refresh leaves the user out instead.
    IF p_organization_id IS DISTINCT FROM app.current_organization_id() THEN
        RETURN 0;
    END IF;
    -- One row per board and period the user is on (the unique index, user first). Already hidden
    -- rows are hidden again (new hidden_at), so a refresh that read them hidden cannot show them.
    UPDATE gamification.leaderboard_entries AS e
       SET hidden = TRUE,
           hidden_at = pg_catalog.clock_timestamp(),
           user_id = CASE WHEN p_detach THEN NULL ELSE e.user_id END
     WHERE e.organization_id = p_organization_id AND e.user_id = p_user_id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION gamification.hide_user_on_leaderboards(uuid, uuid, boolean) IS
'Internal: marks every cached entry of the user (all boards, all periods) hidden: one row per board and period, nothing renumbered; the board queries skip hidden entries and subtract them from the places and ranks below, the next refresh deletes them. p_detach (hard delete) also clears user_id, leaving a tombstone the foreign-key cascade does not delete (it would open a gap). Acts only when p_organization_id is the current organization (returns 0 otherwise: the next refresh leaves the user out anyway). Returns the number of entries hidden.';
REVOKE ALL ON FUNCTION gamification.hide_user_on_leaderboards(uuid, uuid, boolean) FROM PUBLIC;

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
    PERFORM gamification.hide_user_on_leaderboards(NEW.organization_id, NEW.user_id, FALSE);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.leave_leaderboards_on_opt_out() IS
'AFTER trigger of leaderboard_preferences (trg_leaderboard_preferences_opt_out): a user who opts out is hidden on every cached board at once (hide_user_on_leaderboards()). SECURITY DEFINER: the learner may not write entries.';
REVOKE ALL ON FUNCTION gamification.leave_leaderboards_on_opt_out() FROM PUBLIC;

CREATE TRIGGER trg_leaderboard_preferences_opt_out
AFTER INSERT OR UPDATE OF opted_out ON gamification.leaderboard_preferences
FOR EACH ROW WHEN (new.opted_out)
EXECUTE FUNCTION gamification.leave_leaderboards_on_opt_out();
COMMENT ON TRIGGER trg_leaderboard_preferences_opt_out ON gamification.leaderboard_preferences IS
'Opting out hides the user on every cached board in the same transaction (one row per board and period); the board queries close the ranks.';

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
    PERFORM gamification.hide_user_on_leaderboards(OLD.organization_id, OLD.id, TG_OP = 'DELETE');
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gamification.leave_leaderboards_on_user_delete() IS
'Triggers of user_management.users (trg_users_leave_leaderboards_soft_delete, trg_users_leave_leaderboards_delete): a user who is soft-deleted is hidden on every cached board (hide_user_on_leaderboards()); a hard-deleted user''s entries become hidden tombstones (user_id cleared) before the foreign-key cascade, which would delete them and leave a gap.';
REVOKE ALL ON FUNCTION gamification.leave_leaderboards_on_user_delete() FROM PUBLIC;

CREATE TRIGGER trg_users_leave_leaderboards_soft_delete
AFTER UPDATE OF deleted_at ON user_management.users
FOR EACH ROW WHEN (old.deleted_at IS NULL AND new.deleted_at IS NOT NULL)
EXECUTE FUNCTION gamification.leave_leaderboards_on_user_delete();
COMMENT ON TRIGGER trg_users_leave_leaderboards_soft_delete ON user_management.users IS
'A soft-deleted user is hidden on every cached leaderboard at once; the ranks close on read (gamification).';

CREATE TRIGGER trg_users_leave_leaderboards_delete
BEFORE DELETE ON user_management.users
FOR EACH ROW EXECUTE FUNCTION gamification.leave_leaderboards_on_user_delete();
COMMENT ON TRIGGER trg_users_leave_leaderboards_delete ON user_management.users IS
'A deleted user''s cached leaderboard entries become hidden tombstones (user_id cleared) before the cascade could delete them and open a gap (gamification).';

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
