-- =============================================================================
-- V0090__accept_assessment_learning_events
-- Purpose:       the outbox carries assessment facts: event_type
--                'assessment_passed' (source_type 'assessment_attempt', written by
--                the assessment part) and source_type 'assignment_submission';
--                gamification consumes 'assessment_passed' events like lesson and
--                course completions (award by the rule of that event type).
-- Concern:       learning_events: the widened event_type/source_type checks (NOT
--                VALID) and their consumer.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Steps:         "big tables change in steps" (sql/CONVENTIONS.md): the new checks
--                are added NOT VALID under a temporary name (a brief lock; new and
--                changed rows are checked from now on), the old ones dropped and
--                the new ones renamed to the old names (tests and callers keep
--                asserting the same constraint names); V0091
--                validates the existing rows (SHARE UPDATE EXCLUSIVE: writes go
--                on). The new sets contain the old ones, so validation cannot fail.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE course_management.learning_events
ADD CONSTRAINT ck_learning_events_event_type_v2
CHECK (
    event_type IN (
        'course_enrolled', 'lesson_completed', 'course_completed',
        'learning_path_completed', 'course_reviewed', 'assessment_passed'
    )
) NOT VALID;
-- The replacement (a superset) is in place: the guarantee stays.
ALTER TABLE course_management.learning_events
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT ck_learning_events_event_type;
-- Back to the old name: clients keep seeing the name they assert.
ALTER TABLE course_management.learning_events
-- squawk-ignore renaming-object
RENAME CONSTRAINT ck_learning_events_event_type_v2 TO ck_learning_events_event_type;

ALTER TABLE course_management.learning_events
ADD CONSTRAINT ck_learning_events_source_type_v2
CHECK (
    source_type IN (
        'enrollment', 'lesson_progress', 'learning_path_enrollment', 'course_review',
        'assessment_attempt', 'assignment_submission'
    )
) NOT VALID;
-- The replacement (a superset) is in place: the guarantee stays.
ALTER TABLE course_management.learning_events
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT ck_learning_events_source_type;
-- Back to the old name: clients keep seeing the name they assert.
ALTER TABLE course_management.learning_events
-- squawk-ignore renaming-object
RENAME CONSTRAINT ck_learning_events_source_type_v2 TO ck_learning_events_source_type;

COMMENT ON CONSTRAINT ck_learning_events_event_type ON course_management.learning_events IS
'Event types of the outbox (V0090 added assessment_passed; validated by V0091).';
COMMENT ON CONSTRAINT ck_learning_events_source_type ON course_management.learning_events IS
'Source row types of the outbox (V0090 added assessment_attempt and assignment_submission; validated by V0091).';
COMMENT ON TABLE course_management.learning_events IS
'Outbox of learning facts for consumers (gamification first): course_enrolled, lesson_completed, course_completed, learning_path_completed, course_reviewed, assessment_passed. Written in the transaction of the fact, once per idempotency key (unique per organization). Append-only except consumed_at, which a consumer sets once when it applies the event (EL002 otherwise). Learners read their own events, analytics.view holders all; writes only through SECURITY DEFINER code. Not audited (high-volume log).';
COMMENT ON COLUMN course_management.learning_events.event_type IS
'course_enrolled, lesson_completed, course_completed, learning_path_completed, course_reviewed or assessment_passed (ck_learning_events_event_type).';
COMMENT ON COLUMN course_management.learning_events.source_type IS
'Table of the row that records the fact: enrollment, lesson_progress, learning_path_enrollment, course_review, assessment_attempt or assignment_submission (ck_learning_events_source_type).';
COMMENT ON COLUMN course_management.learning_events.payload IS
'Facts the consumer needs without joining back, a JSON object: course_id always; lesson_id, module_id, enrollment_id, points_reward, score for lesson_completed; enrollment_id, certificate_id, final_grade for course_completed; learning_path_id for learning_path_completed; rating for course_reviewed; assessment_id, score (percent) for assessment_passed.';

-- ---------------------------------------------------------------------------
-- The consumer: assessment_passed too.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION gamification.consume_learning_events(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = gamification, pg_temp
AS $$
DECLARE
    v_org uuid := user_management.require_organization();
    v_event record;
    v_has_default boolean;
    v_count integer := 0;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'p_limit must be 1..10000' USING ERRCODE = '22023';
    END IF;
    v_has_default := EXISTS (SELECT 1 FROM gamification.point_systems AS s
                              WHERE s.organization_id = v_org AND s.is_default AND s.active);
    IF NOT v_has_default THEN
        RETURN 0;
    END IF;
    -- Claim a batch (oldest first, skipping events other workers hold), then apply it user by user:
    -- user_points rows are locked in user_id order, so two workers never wait for each other in a cycle.
    FOR v_event IN
        WITH batch AS (
            SELECT e.id, e.user_id, e.event_type, e.source_type, e.source_id, e.idempotency_key,
                   e.occurred_at
              FROM course_management.learning_events AS e
             WHERE e.organization_id = v_org
               AND e.consumed_at IS NULL
               AND e.event_type IN ('lesson_completed', 'course_completed', 'assessment_passed')
             ORDER BY e.occurred_at, e.id
             LIMIT p_limit
               FOR UPDATE SKIP LOCKED
        )
        SELECT b.* FROM batch AS b ORDER BY b.user_id, b.occurred_at, b.id
    LOOP
        IF EXISTS (SELECT 1 FROM user_management.users AS u
                    WHERE u.organization_id = v_org AND u.id = v_event.user_id AND u.deleted_at IS NULL) THEN
            PERFORM gamification.apply_award(v_event.user_id, v_event.event_type, v_event.source_type,
                                             v_event.source_id, 'learning_event:' || v_event.idempotency_key,
                                             NULL);
        END IF;
        UPDATE course_management.learning_events AS e
           SET consumed_at = GREATEST(pg_catalog.now(), e.created_at)
         WHERE e.organization_id = v_org AND e.id = v_event.id;
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION gamification.consume_learning_events(integer) IS
'Outbox consumer: for up to p_limit unconsumed lesson_completed, course_completed and assessment_passed events of the acting organization (oldest first, SKIP LOCKED so workers run side by side; applied in user_id order, the fixed lock order), awards points in the default system by the rule of the event type (apply_award(), key ''learning_event:'' || the event''s key, so each event awards at most once) and sets consumed_at in the same transaction. Returns the number of events consumed; 0 without an active default system (events wait). Needs only an organization context (42501): it applies facts that already happened, so any member''s session or a worker may run it.';
