-- =============================================================================
-- V0037__create_learning_events
-- Purpose:       the outbox of learning facts (a learner enrolled, completed a
--                lesson, a course, a learning path, reviewed a course) that
--                other parts consume exactly once, first of all gamification
--                (points, badges, streaks). Written in the same transaction as
--                the fact itself, so an event exists iff its fact committed.
-- Concern:       course_management.learning_events (table, its guard, the
--                internal writer record_learning_event()).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Exactly once:  every event has an idempotency key, unique per organization
--                ('<event_type>:<source id>', e.g. lesson_completed:<lesson_progress
--                id>): a fact recorded twice (a lesson completed again) yields one
--                event. A consumer claims events by setting consumed_at (NULL ->
--                time, once) in the transaction that applies them, e.g.
--                UPDATE ... SET consumed_at = now() WHERE consumed_at IS NULL
--                ... FOR UPDATE SKIP LOCKED in a SECURITY DEFINER function.
-- Append-only:   except consumed_at, set once; any other change is EL002
--                (trg_learning_events_append_only). The app only reads (its own
--                events, or all with analytics.view). Rows are deleted only by
--                the owner (retention of consumed events, erasure of a user).
-- Not audited:   a high-volume append-only log.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE course_management.learning_events (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    user_id uuid NOT NULL,
    event_type text NOT NULL,
    source_type text NOT NULL,
    source_id uuid NOT NULL,
    idempotency_key text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    consumed_at timestamptz,
    CONSTRAINT pk_learning_events PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_learning_events_user_id FOREIGN KEY (organization_id, user_id)
    REFERENCES user_management.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_learning_events_organization_id_idempotency_key
    UNIQUE (organization_id, idempotency_key),
    CONSTRAINT ck_learning_events_event_type
    CHECK (
        event_type IN (
            'course_enrolled', 'lesson_completed', 'course_completed',
            'learning_path_completed', 'course_reviewed'
        )
    ),
    CONSTRAINT ck_learning_events_source_type
    CHECK (
        source_type IN (
            'enrollment', 'lesson_progress', 'learning_path_enrollment', 'course_review'
        )
    ),
    CONSTRAINT ck_learning_events_idempotency_key_length
    CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    CONSTRAINT ck_learning_events_payload_object CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT ck_learning_events_consumed_at CHECK (consumed_at >= created_at)
);

CREATE INDEX idx_learning_events_organization_id_user_id_occurred_at
ON course_management.learning_events (organization_id, user_id, occurred_at);
-- The consumer's queue: unconsumed events of an organization, oldest first.
CREATE INDEX idx_learning_events_organization_id_occurred_at_unconsumed
ON course_management.learning_events (organization_id, occurred_at)
WHERE consumed_at IS NULL;

COMMENT ON TABLE course_management.learning_events IS
'Outbox of learning facts for consumers (gamification first): course_enrolled, lesson_completed, course_completed, learning_path_completed, course_reviewed. Written by the course triggers in the transaction of the fact, once per idempotency key (unique per organization). Append-only except consumed_at, which a consumer sets once when it applies the event (EL002 otherwise). Learners read their own events, analytics.view holders all; writes only through SECURITY DEFINER code. Not audited (high-volume log).';
COMMENT ON COLUMN course_management.learning_events.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN course_management.learning_events.id IS
'Event id (UUIDv7, time-ordered).';
COMMENT ON COLUMN course_management.learning_events.user_id IS
'The learner the fact is about (the one to reward).';
COMMENT ON COLUMN course_management.learning_events.event_type IS
'course_enrolled, lesson_completed, course_completed, learning_path_completed or course_reviewed (ck_learning_events_event_type).';
COMMENT ON COLUMN course_management.learning_events.source_type IS
'Table of the row that records the fact: enrollment, lesson_progress, learning_path_enrollment or course_review.';
COMMENT ON COLUMN course_management.learning_events.source_id IS
'Id of that row (no foreign key: the event outlives edits of its source).';
COMMENT ON COLUMN course_management.learning_events.idempotency_key IS
'<event_type>:<source_id>, unique per organization (uq_learning_events_organization_id_idempotency_key): the same fact never yields a second event. Consumers use it as their own idempotency key (e.g. for point awards).';
COMMENT ON COLUMN course_management.learning_events.payload IS
'Facts the consumer needs without joining back, a JSON object: course_id always; lesson_id, module_id, enrollment_id, points_reward, score for lesson_completed; enrollment_id, certificate_id, final_grade for course_completed; learning_path_id for learning_path_completed; rating for course_reviewed.';
COMMENT ON COLUMN course_management.learning_events.occurred_at IS
'When the fact happened (transaction time of the writing transaction).';
COMMENT ON COLUMN course_management.learning_events.created_at IS
'When the event was recorded (immutable).';
COMMENT ON COLUMN course_management.learning_events.consumed_at IS
'When a consumer applied the event; NULL = pending. Set once (NULL -> time), never changed or cleared (EL002).';

-- ---------------------------------------------------------------------------
-- Append-only except consumed_at (set once).
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.guard_learning_event_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_column text;
BEGIN
    IF OLD.consumed_at IS NOT NULL AND NEW.consumed_at IS DISTINCT FROM OLD.consumed_at THEN
        v_column := 'consumed_at';
    ELSE
        SELECT n.key
          INTO v_column
          FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) AS n (key, value)
         WHERE n.key <> 'consumed_at'
           AND n.value IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.->) n.key)
         ORDER BY n.key
         LIMIT 1;
    END IF;
    IF v_column IS NOT NULL THEN
        RAISE EXCEPTION 'column % of a learning event cannot change', v_column
              USING ERRCODE = 'EL002',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    COLUMN = v_column,
                    CONSTRAINT = TG_NAME,
                    DETAIL = 'Learning events are append-only: only consumed_at may be set, once.',
                    HINT = 'A consumer marks an event consumed exactly once; facts are never rewritten.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION course_management.guard_learning_event_update() IS
'BEFORE UPDATE trigger of learning_events (trg_learning_events_append_only): the only allowed change is setting consumed_at once (NULL to a time); any other change, or changing consumed_at once set, raises EL002 naming the column.';
REVOKE ALL ON FUNCTION course_management.guard_learning_event_update() FROM PUBLIC;

CREATE TRIGGER trg_learning_events_append_only
BEFORE UPDATE ON course_management.learning_events
FOR EACH ROW EXECUTE FUNCTION course_management.guard_learning_event_update();
COMMENT ON TRIGGER trg_learning_events_append_only ON course_management.learning_events IS
'Append-only: only consumed_at may be set, once (EL002 otherwise).';

-- ---------------------------------------------------------------------------
-- Internal writer used by the course triggers.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.record_learning_event(
    p_organization_id uuid,
    p_user_id uuid,
    p_event_type text,
    p_source_type text,
    p_source_id uuid,
    p_payload jsonb
)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_inserted integer;
BEGIN
    INSERT INTO course_management.learning_events (
        organization_id, user_id, event_type, source_type, source_id, idempotency_key, payload)
    VALUES (
        p_organization_id, p_user_id, p_event_type, p_source_type, p_source_id,
        p_event_type || ':' || p_source_id::text, coalesce(p_payload, '{}'::jsonb))
    ON CONFLICT (organization_id, idempotency_key) DO NOTHING;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;
    RETURN v_inserted = 1;
END
$$;
COMMENT ON FUNCTION course_management.record_learning_event(uuid, uuid, text, text, uuid, jsonb) IS
'Internal (not granted): appends an event with idempotency key <p_event_type>:<p_source_id>; returns false (and changes nothing) when that key already has an event in the organization. Called by the course triggers inside the transaction of the fact.';
REVOKE ALL ON FUNCTION course_management.record_learning_event(uuid, uuid, text, text, uuid, jsonb)
FROM PUBLIC;

ALTER TABLE course_management.learning_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_management.learning_events FORCE ROW LEVEL SECURITY;
