-- =============================================================================
-- V0124__create_attempt_functions
-- Purpose:       the attempt life cycle: start (or resume) an attempt with its
--                per-attempt draw, save responses, submit (auto-grading the
--                objective types through assessment.grade_response()), close
--                expired attempts at their deadline, abandon; the final grade per
--                grading method and the assessment_passed event (exactly once per
--                learner and assessment); the learner's view of an attempt.
-- Concern:       assessment attempt functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Locking:       one fixed order everywhere: the learner's assessment_results
--                row (created on the first start, then FOR NO KEY UPDATE), then
--                the attempt row (FOR NO KEY UPDATE), then its responses. Two
--                simultaneous starts of one learner serialise on the results row:
--                the second sees the first's attempt (READ COMMITTED re-reads
--                after the lock) and resumes it. FOR NO KEY UPDATE, not FOR UPDATE:
--                inserting an attempt takes FOR KEY SHARE on the results row
--                through its foreign key.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Internal helpers (not granted to the application).
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.lock_result(p_assessment_id uuid, p_course_id uuid, p_user_id uuid)
RETURNS assessment.assessment_results
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_result assessment.assessment_results;
BEGIN
    INSERT INTO assessment.assessment_results (organization_id, assessment_id, course_id, user_id)
    VALUES (v_org, p_assessment_id, p_course_id, p_user_id)
    ON CONFLICT (organization_id, assessment_id, course_id, user_id) DO NOTHING;
    SELECT r.* INTO STRICT v_result
      FROM assessment.assessment_results AS r
     WHERE r.organization_id = v_org AND r.assessment_id = p_assessment_id
       AND r.course_id = p_course_id AND r.user_id = p_user_id
       FOR NO KEY UPDATE;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION assessment.lock_result(uuid, uuid, uuid) IS
'Internal: creates (if missing) and locks FOR NO KEY UPDATE the learner''s assessment_results row, the first lock of every attempt function (fixed order: result, attempt, responses).';
REVOKE ALL ON FUNCTION assessment.lock_result(uuid, uuid, uuid) FROM PUBLIC;

CREATE FUNCTION assessment.append_security_event(
    p_events jsonb, p_kind text, p_detail jsonb DEFAULT '{}'::jsonb
)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
               WHEN pg_catalog.jsonb_array_length(p_events) >= 1000 THEN p_events
               ELSE p_events OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(
                   pg_catalog.jsonb_build_object('at', pg_catalog.now(), 'kind', p_kind,
                                                 'detail', coalesce(p_detail, '{}'::jsonb)))
           END
$$;
COMMENT ON FUNCTION assessment.append_security_event(jsonb, text, jsonb) IS
'Internal: p_events with {"at": now(), "kind": p_kind, "detail": p_detail} appended; unchanged once it holds 1000 events (the log''s cap).';
REVOKE ALL ON FUNCTION assessment.append_security_event(jsonb, text, jsonb) FROM PUBLIC;

CREATE FUNCTION assessment.shuffled_option_order(p_question_type text, p_definition jsonb, p_shuffle boolean)
RETURNS jsonb
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
               WHEN p_question_type IN ('multiple_choice_single', 'multiple_choice_multiple') AND p_shuffle
                   THEN pg_catalog.jsonb_build_object('options', (
                       SELECT pg_catalog.jsonb_agg(e.v OPERATOR(pg_catalog.->) 'id' ORDER BY pg_catalog.random())
                         FROM pg_catalog.jsonb_array_elements(p_definition OPERATOR(pg_catalog.->) 'options') AS e (v)))
               WHEN p_question_type = 'matching' AND p_shuffle
                   THEN pg_catalog.jsonb_build_object('choices', (
                       SELECT pg_catalog.jsonb_agg(e.v OPERATOR(pg_catalog.->) 'id' ORDER BY pg_catalog.random())
                         FROM pg_catalog.jsonb_array_elements(p_definition OPERATOR(pg_catalog.->) 'choices') AS e (v)))
               WHEN p_question_type = 'ordering'
                   THEN pg_catalog.jsonb_build_object('items', (
                       SELECT pg_catalog.jsonb_agg(e.v OPERATOR(pg_catalog.->) 'id' ORDER BY pg_catalog.random())
                         FROM pg_catalog.jsonb_array_elements(p_definition OPERATOR(pg_catalog.->) 'items') AS e (v)))
           END
$$;
COMMENT ON FUNCTION assessment.shuffled_option_order(text, jsonb, boolean) IS
'Internal: a random presentation order of a question version''s lists for one attempt, as {"options"|"choices"|"items": [ids]}: choice options and matching choices when p_shuffle (the assessment''s shuffle_options), ordering items always (their definition order may be the answer); NULL = definition order.';
REVOKE ALL ON FUNCTION assessment.shuffled_option_order(text, jsonb, boolean) FROM PUBLIC;

CREATE FUNCTION assessment.apply_option_order(p_definition jsonb, p_order jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(pg_catalog.jsonb_object_agg(d.key, CASE
               WHEN p_order IS NOT NULL AND p_order OPERATOR(pg_catalog.?) d.key
                   THEN (SELECT pg_catalog.jsonb_agg(e.v ORDER BY o.n)
                           FROM pg_catalog.jsonb_array_elements(d.value) AS e (v)
                           JOIN pg_catalog.jsonb_array_elements(p_order OPERATOR(pg_catalog.->) d.key)
                                WITH ORDINALITY AS o (id, n)
                             ON o.id OPERATOR(pg_catalog.=) (e.v OPERATOR(pg_catalog.->) 'id'))
               ELSE d.value
           END), '{}'::jsonb)
      FROM pg_catalog.jsonb_each(p_definition) AS d (key, value)
$$;
COMMENT ON FUNCTION assessment.apply_option_order(jsonb, jsonb) IS
'Internal: the definition p_definition with each list named in p_order (attempt_responses.option_order) reordered by the ids there; other keys unchanged.';
REVOKE ALL ON FUNCTION assessment.apply_option_order(jsonb, jsonb) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- recompute_result(result): final grade per grading method, the pass event.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.recompute_result(p_result_id uuid, p_source_attempt_id uuid)
RETURNS assessment.assessment_results
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_result assessment.assessment_results;
    v_assessment assessment.assessments;
    v_count bigint;
    v_final numeric;
    v_final_attempt uuid;
    v_passed boolean;
BEGIN
    SELECT r.* INTO STRICT v_result FROM assessment.assessment_results AS r
     WHERE r.organization_id = v_org AND r.id = p_result_id;
    SELECT a.* INTO STRICT v_assessment FROM assessment.assessments AS a
     WHERE a.organization_id = v_org AND a.id = v_result.assessment_id;
    SELECT pg_catalog.count(*) INTO v_count FROM assessment.assessment_attempts AS t
     WHERE t.organization_id = v_org AND t.assessment_id = v_result.assessment_id
       AND t.user_id = v_result.user_id AND t.status = 'graded';
    IF v_count > 0 THEN
        IF v_assessment.grading_method = 'average' THEN
            SELECT pg_catalog.round(pg_catalog.avg(t.score_percent), 2) INTO v_final
              FROM assessment.assessment_attempts AS t
             WHERE t.organization_id = v_org AND t.assessment_id = v_result.assessment_id
               AND t.user_id = v_result.user_id AND t.status = 'graded';
        ELSE
            SELECT t.score_percent, t.id INTO v_final, v_final_attempt
              FROM assessment.assessment_attempts AS t
             WHERE t.organization_id = v_org AND t.assessment_id = v_result.assessment_id
               AND t.user_id = v_result.user_id AND t.status = 'graded'
             ORDER BY CASE WHEN v_assessment.grading_method = 'highest' THEN t.score_percent END DESC,
                      CASE WHEN v_assessment.grading_method = 'latest' THEN t.attempt_number END DESC,
                      t.attempt_number
             LIMIT 1;
        END IF;
        v_passed := v_final >= v_assessment.passing_score_percent;
    END IF;
    UPDATE assessment.assessment_results AS r
       SET graded_attempt_count = v_count,
           grading_method = CASE WHEN v_count > 0 THEN v_assessment.grading_method END,
           final_score_percent = v_final,
           final_attempt_id = v_final_attempt,
           passed = v_passed,
           first_passed_at = CASE WHEN v_passed AND r.first_passed_at IS NULL THEN pg_catalog.now()
                                  ELSE r.first_passed_at END
     WHERE r.organization_id = v_org AND r.id = p_result_id
    RETURNING r.* INTO v_result;
    IF v_passed THEN
        -- Exactly once per learner and assessment: the key names both, not the attempt.
        INSERT INTO course_management.learning_events (
            organization_id, user_id, event_type, source_type, source_id, idempotency_key, payload)
        VALUES (
            v_org, v_result.user_id, 'assessment_passed', 'assessment_attempt',
            coalesce(v_final_attempt, p_source_attempt_id),
            'assessment_passed:' OPERATOR(pg_catalog.||) v_result.assessment_id::text
            OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) v_result.user_id::text,
            pg_catalog.jsonb_build_object('course_id', v_result.course_id,
                                          'assessment_id', v_result.assessment_id,
                                          'attempt_id', coalesce(v_final_attempt, p_source_attempt_id),
                                          'score', v_final))
        ON CONFLICT (organization_id, idempotency_key) DO NOTHING;
    END IF;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION assessment.recompute_result(uuid, uuid) IS
'Internal (caller holds the result row lock): recomputes the learner''s final grade from the graded attempts by the assessment''s grading method (highest score_percent, ties to the lower attempt number; latest = highest attempt number; first = lowest attempt number; average = round(avg(score_percent), 2)), passed against the passing score, and on a pass records the assessment_passed learning event with idempotency key assessment_passed:<assessment_id>:<user_id> (ON CONFLICT DO NOTHING: once per learner and assessment, whatever regrades follow) and first_passed_at (set once).';
REVOKE ALL ON FUNCTION assessment.recompute_result(uuid, uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- finish_grading(attempt): auto-grade what is left, and the attempt total.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.finish_grading(p_attempt_id uuid)
RETURNS assessment.assessment_attempts
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_attempt assessment.assessment_attempts;
    v_passing numeric;
    v_missing bigint;
    v_sum numeric;
    v_score numeric;
    v_percent numeric;
    v_result_id uuid;
BEGIN
    -- Objective types through the questions part's grader; unanswered questions of any type score 0.
    -- MATERIALIZED: grade_response() runs once per response of the attempt, whatever join the
    -- planner picks for the UPDATE.
    WITH g AS MATERIALIZED (
        SELECT x.id,
               CASE WHEN x.response IS NULL THEN 0
                    ELSE assessment.grade_response(x.organization_id, x.question_version_id, x.response)
               END AS s
          FROM assessment.attempt_responses AS x
         WHERE x.organization_id = v_org AND x.attempt_id = p_attempt_id AND x.auto_score IS NULL
    )
    UPDATE assessment.attempt_responses AS r
       SET auto_score = g.s, score = coalesce(r.manual_score, g.s)
      FROM g
     WHERE r.organization_id = v_org AND r.id = g.id AND g.s IS NOT NULL;

    SELECT pg_catalog.count(*) FILTER (WHERE r.score IS NULL), pg_catalog.sum(r.score)
      INTO v_missing, v_sum
      FROM assessment.attempt_responses AS r
     WHERE r.organization_id = v_org AND r.attempt_id = p_attempt_id;
    SELECT t.* INTO STRICT v_attempt FROM assessment.assessment_attempts AS t
     WHERE t.organization_id = v_org AND t.id = p_attempt_id;
    IF v_missing > 0 THEN
        RETURN v_attempt;  -- a grader still has to score the manually graded responses
    END IF;
    SELECT a.passing_score_percent INTO v_passing FROM assessment.assessments AS a
     WHERE a.organization_id = v_org AND a.id = v_attempt.assessment_id;
    v_score := LEAST(coalesce(v_sum, 0), v_attempt.max_score);
    v_percent := pg_catalog.round(100 * v_score / v_attempt.max_score, 2);
    UPDATE assessment.assessment_attempts AS t
       SET status = 'graded',
           score = v_score,
           score_percent = v_percent,
           passed = v_percent >= v_passing,
           graded_at = pg_catalog.now()
     WHERE t.organization_id = v_org AND t.id = p_attempt_id
    RETURNING t.* INTO v_attempt;
    SELECT r.id INTO STRICT v_result_id FROM assessment.assessment_results AS r
     WHERE r.organization_id = v_org AND r.assessment_id = v_attempt.assessment_id
       AND r.course_id = v_attempt.course_id AND r.user_id = v_attempt.user_id;
    PERFORM assessment.recompute_result(v_result_id, p_attempt_id);
    RETURN v_attempt;
END
$$;
COMMENT ON FUNCTION assessment.finish_grading(uuid) IS
'Internal (caller holds the result and attempt locks; the attempt is closed): scores every response without auto_score (0 when unanswered, else assessment.grade_response(), NULL for manually graded types); when every response has a score, the attempt becomes graded with score = min(sum of scores, max_score), score_percent = round(100 * score / max_score, 2) and passed, and the final grade is recomputed (recompute_result()).';
REVOKE ALL ON FUNCTION assessment.finish_grading(uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- close_attempt(attempt, at_limit): the one way an attempt is closed.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.close_attempt(p_attempt_id uuid)
RETURNS assessment.assessment_attempts
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_now timestamptz := pg_catalog.now();
    v_attempt assessment.assessment_attempts;
    v_late boolean;
    v_at timestamptz;
BEGIN
    SELECT t.* INTO STRICT v_attempt FROM assessment.assessment_attempts AS t
     WHERE t.organization_id = v_org AND t.id = p_attempt_id;
    v_late := v_attempt.deadline_at IS NOT NULL
              AND v_now > v_attempt.deadline_at + v_attempt.grace_seconds * INTERVAL '1 second';
    v_at := CASE WHEN v_late THEN v_attempt.deadline_at ELSE v_now END;
    UPDATE assessment.assessment_attempts AS t
       SET status = CASE WHEN v_late THEN 'auto_closed' ELSE 'submitted' END,
           submitted_at = v_at,
           closed_at_limit = v_late,
           time_spent_seconds = pg_catalog.floor(EXTRACT(EPOCH FROM v_at - t.started_at))::bigint,
           security_events = CASE WHEN v_late
                                  THEN assessment.append_security_event(t.security_events, 'closed_at_limit',
                                           pg_catalog.jsonb_build_object('closed_at', v_now))
                                  ELSE t.security_events END
     WHERE t.organization_id = v_org AND t.id = p_attempt_id;
    RETURN assessment.finish_grading(p_attempt_id);
END
$$;
COMMENT ON FUNCTION assessment.close_attempt(uuid) IS
'Internal (caller holds the result and attempt locks; the attempt is in progress): closes it now, as submitted when now <= deadline_at + grace (or there is no deadline), else as auto_closed at the deadline (submitted_at = deadline_at, closed_at_limit, a closed_at_limit security event); time_spent_seconds = submitted_at - started_at; then grades it (finish_grading()).';
REVOKE ALL ON FUNCTION assessment.close_attempt(uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- start_attempt(assessment, ip, user agent)
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.start_attempt(
    p_assessment_id uuid, p_ip inet DEFAULT NULL, p_user_agent text DEFAULT NULL
)
RETURNS assessment.assessment_attempts
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_now timestamptz := pg_catalog.now();
    v_a assessment.assessments;
    v_override assessment.assessment_overrides;
    v_result assessment.assessment_results;
    v_attempt assessment.assessment_attempts;
    v_until timestamptz;
    v_allowed bigint;
    v_rule record;
    v_question_ids uuid[] := '{}';
    v_version_ids uuid[] := '{}';
    v_drawn uuid[];
    v_drawn_versions uuid[];
    v_max numeric;
    v_id uuid := app.uuid_generate_v7();
BEGIN
    SELECT a.* INTO v_a FROM assessment.assessments AS a
     WHERE a.organization_id = v_org AND a.id = p_assessment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no assessment % in the organization', p_assessment_id USING ERRCODE = 'P0002';
    END IF;
    IF NOT user_management.has_permission('assessment.manage', v_a.course_id)
       AND NOT EXISTS (SELECT 1 FROM course_management.enrollments AS e
                        WHERE e.organization_id = v_org AND e.course_id = v_a.course_id AND e.user_id = v_actor
                          AND e.status IN ('active', 'completed')
                          AND (e.access_expires_at IS NULL OR e.access_expires_at > v_now)) THEN
        RAISE EXCEPTION 'user % is not enrolled in the course of assessment %', v_actor, p_assessment_id
              USING ERRCODE = 'EL053',
                    DETAIL = 'An active or completed enrollment with access is required.',
                    HINT = 'Enroll in the course first.';
    END IF;
    IF v_a.deleted_at IS NOT NULL OR v_a.status <> 'published' THEN
        RAISE EXCEPTION 'assessment % is not open', p_assessment_id
              USING ERRCODE = 'EL050',
                    DETAIL = CASE WHEN v_a.deleted_at IS NOT NULL THEN 'The assessment is deleted.'
                                  ELSE pg_catalog.format('The assessment is %s.', v_a.status) END;
    END IF;

    -- Lock 1: the learner's result row (serialises every start of this learner and assessment).
    v_result := assessment.lock_result(v_a.id, v_a.course_id, v_actor);

    -- Resume: the attempt in progress, unless its time is up (then it is closed at its deadline).
    SELECT t.* INTO v_attempt FROM assessment.assessment_attempts AS t
     WHERE t.organization_id = v_org AND t.assessment_id = v_a.id AND t.user_id = v_actor
       AND t.status = 'in_progress'
       FOR NO KEY UPDATE;
    IF FOUND THEN
        IF v_attempt.deadline_at IS NULL
           OR v_now <= v_attempt.deadline_at + v_attempt.grace_seconds * INTERVAL '1 second' THEN
            RETURN v_attempt;
        END IF;
        PERFORM assessment.close_attempt(v_attempt.id);
    END IF;

    SELECT o.* INTO v_override FROM assessment.assessment_overrides AS o
     WHERE o.organization_id = v_org AND o.assessment_id = v_a.id AND o.user_id = v_actor;
    v_until := coalesce(v_override.available_until, v_a.available_until);
    IF (v_a.available_from IS NOT NULL AND v_now < v_a.available_from)
       OR (v_until IS NOT NULL AND v_now >= v_until) THEN
        RAISE EXCEPTION 'assessment % is outside its availability window', p_assessment_id
              USING ERRCODE = 'EL050',
                    DETAIL = pg_catalog.format('Available from %s until %s; now %s.',
                                               coalesce(v_a.available_from::text, '-'),
                                               coalesce(v_until::text, '-'), v_now);
    END IF;
    v_allowed := v_a.max_attempts + coalesce(v_override.extra_attempts, 0);
    IF v_allowed IS NOT NULL AND v_result.attempt_count >= v_allowed THEN
        RAISE EXCEPTION 'no attempts left at assessment %', p_assessment_id
              USING ERRCODE = 'EL051',
                    DETAIL = pg_catalog.format('Allowed %s (max_attempts %s + extra %s), used %s.', v_allowed,
                                               v_a.max_attempts, coalesce(v_override.extra_attempts, 0),
                                               v_result.attempt_count),
                    HINT = 'Staff of the course may grant extra attempts (assessment_overrides).';
    END IF;
    IF pg_catalog.jsonb_array_length(coalesce(v_a.security_settings OPERATOR(pg_catalog.->) 'allowed_ip_ranges',
                                              '[]'::jsonb)) > 0
       AND (p_ip IS NULL OR NOT EXISTS (
                SELECT 1 FROM pg_catalog.jsonb_array_elements_text(
                                  v_a.security_settings OPERATOR(pg_catalog.->) 'allowed_ip_ranges') AS r (c)
                 WHERE p_ip OPERATOR(pg_catalog.<<=) r.c::cidr)) THEN
        RAISE EXCEPTION 'attempts at assessment % may not start from this address', p_assessment_id
              USING ERRCODE = 'EL059',
                    DETAIL = 'The address is not inside the assessment''s allowed_ip_ranges.';
    END IF;

    -- The draw: fixed questions (their current version) and random draws, in plan order.
    FOR v_rule IN
        SELECT q.* FROM assessment.assessment_questions AS q
         WHERE q.organization_id = v_org AND q.assessment_id = v_a.id
         ORDER BY q.position
    LOOP
        IF v_rule.question_id IS NOT NULL THEN
            SELECT pg_catalog.array_agg(c.question_id), pg_catalog.array_agg(c.id)
              INTO v_drawn, v_drawn_versions
              FROM (SELECT v.question_id, v.id
                      FROM assessment.question_versions AS v
                      JOIN assessment.questions AS qq
                        ON qq.organization_id = v.organization_id AND qq.id = v.question_id
                     WHERE v.organization_id = v_org AND v.question_id = v_rule.question_id
                       AND qq.deleted_at IS NULL
                       AND NOT v.question_id = ANY (v_question_ids)
                     ORDER BY v.version_number DESC
                     LIMIT 1) AS c;
        ELSE
            SELECT pg_catalog.array_agg(c.question_id), pg_catalog.array_agg(c.id)
              INTO v_drawn, v_drawn_versions
              FROM (SELECT cur.question_id, cur.id
                      FROM (SELECT DISTINCT ON (v.question_id) v.question_id, v.id, v.difficulty
                              FROM assessment.question_versions AS v
                              JOIN assessment.questions AS qq
                                ON qq.organization_id = v.organization_id AND qq.id = v.question_id
                              JOIN assessment.question_banks AS b
                                ON b.organization_id = qq.organization_id AND b.id = qq.bank_id
                             WHERE v.organization_id = v_org AND qq.bank_id = v_rule.bank_id
                               AND qq.deleted_at IS NULL AND b.deleted_at IS NULL
                             ORDER BY v.question_id, v.version_number DESC) AS cur
                     WHERE (v_rule.difficulty IS NULL OR cur.difficulty = v_rule.difficulty)
                       AND NOT cur.question_id = ANY (v_question_ids)
                     ORDER BY pg_catalog.random()
                     LIMIT v_rule.draw_count) AS c;
            IF coalesce(pg_catalog.cardinality(v_drawn), 0) < v_rule.draw_count THEN
                RAISE EXCEPTION 'not enough questions to draw for assessment %', p_assessment_id
                      USING ERRCODE = 'EL056',
                            DETAIL = pg_catalog.format('Position %s draws %s%s question(s); %s eligible.',
                                                       v_rule.position, v_rule.draw_count,
                                                       coalesce(' ' OPERATOR(pg_catalog.||) v_rule.difficulty, ''),
                                                       coalesce(pg_catalog.cardinality(v_drawn), 0)),
                            HINT = 'Add questions to the bank or draw fewer.';
            END IF;
        END IF;
        v_question_ids := v_question_ids OPERATOR(pg_catalog.||) coalesce(v_drawn, '{}');
        v_version_ids := v_version_ids OPERATOR(pg_catalog.||) coalesce(v_drawn_versions, '{}');
    END LOOP;
    IF pg_catalog.cardinality(v_version_ids) = 0 THEN
        RAISE EXCEPTION 'assessment % has no questions to ask', p_assessment_id
              USING ERRCODE = 'EL056', HINT = 'Add fixed questions or draws (assessment_questions).';
    END IF;
    -- Used versions are immutable from now on (an edit makes a new version).
    PERFORM assessment.mark_versions_used(v_org, v_version_ids);
    SELECT pg_catalog.sum(v.points) INTO v_max
      FROM assessment.question_versions AS v
     WHERE v.organization_id = v_org AND v.id = ANY (v_version_ids);

    INSERT INTO assessment.assessment_attempts AS t (
        organization_id, id, assessment_id, course_id, user_id, attempt_number, started_at, deadline_at,
        grace_seconds, max_score, ip, user_agent)
    VALUES (
        v_org, v_id, v_a.id, v_a.course_id, v_actor, v_result.attempt_count + 1, v_now,
        LEAST(v_now + (v_a.time_limit_seconds + coalesce(v_override.extra_time_seconds, 0)) * INTERVAL '1 second',
              v_until),
        v_a.grace_seconds, v_max, p_ip, p_user_agent)
    RETURNING t.* INTO v_attempt;
    INSERT INTO assessment.attempt_responses (
        organization_id, attempt_id, course_id, user_id, position, question_id, question_version_id,
        question_type, points, option_order)
    SELECT v_org, v_id, v_a.course_id, v_actor,
           pg_catalog.row_number() OVER (ORDER BY CASE WHEN v_a.shuffle_questions THEN pg_catalog.random() END, d.n),
           d.question_id, v.id, v.question_type, v.points,
           assessment.shuffled_option_order(v.question_type, v.definition, v_a.shuffle_options)
      FROM ROWS FROM (pg_catalog.unnest(v_question_ids), pg_catalog.unnest(v_version_ids))
           WITH ORDINALITY AS d (question_id, version_id, n)
      JOIN assessment.question_versions AS v ON v.organization_id = v_org AND v.id = d.version_id;
    UPDATE assessment.assessment_results AS r
       SET attempt_count = r.attempt_count + 1
     WHERE r.organization_id = v_org AND r.id = v_result.id;
    RETURN v_attempt;
END
$$;
COMMENT ON FUNCTION assessment.start_attempt(uuid, inet, text) IS
'Starts the acting learner''s next attempt at an assessment, or returns the attempt in progress (resume: same questions, same order). Needs an active or completed enrollment with access in the course, or assessment.manage for it (EL053); the assessment published and live (EL050); locks the learner''s assessment_results row first (two simultaneous calls yield one attempt). An attempt in progress whose deadline + grace has passed is closed at its deadline first. Then: inside the availability window (available_from, the learner''s override or the assessment''s available_until; EL050), attempts used < max_attempts + extra attempts (EL051), p_ip inside allowed_ip_ranges when set (EL059). Draws the questions (fixed: current version; draws: random distinct live questions of the bank and difficulty; EL056 when short or empty), shuffles questions and options as configured, marks the versions used, and stores them as the attempt''s responses. Number = previous count + 1 (gapless); deadline = start + time limit + extra time, capped by the window end. P0002 for an unknown assessment; 42501 without acting user.';
REVOKE ALL ON FUNCTION assessment.start_attempt(uuid, inet, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.start_attempt(uuid, inet, text) TO ${app_role};

-- ---------------------------------------------------------------------------
-- attempt_for_update(attempt): the learner-side lock sequence.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.lock_attempt(p_attempt_id uuid)
RETURNS assessment.assessment_attempts
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_attempt assessment.assessment_attempts;
BEGIN
    SELECT t.* INTO v_attempt FROM assessment.assessment_attempts AS t
     WHERE t.organization_id = v_org AND t.id = p_attempt_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attempt % in the organization', p_attempt_id USING ERRCODE = 'P0002';
    END IF;
    PERFORM assessment.lock_result(v_attempt.assessment_id, v_attempt.course_id, v_attempt.user_id);
    SELECT t.* INTO STRICT v_attempt FROM assessment.assessment_attempts AS t
     WHERE t.organization_id = v_org AND t.id = p_attempt_id
       FOR NO KEY UPDATE;
    RETURN v_attempt;
END
$$;
COMMENT ON FUNCTION assessment.lock_attempt(uuid) IS
'Internal: locks the attempt''s result row, then the attempt (the fixed order) and returns the attempt as it is after the locks; P0002 for an unknown attempt.';
REVOKE ALL ON FUNCTION assessment.lock_attempt(uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- save_response(attempt, position, response, seconds, ip)
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.save_response(
    p_attempt_id uuid,
    p_position bigint,
    p_response jsonb,
    p_time_spent_seconds bigint DEFAULT 0,
    p_ip inet DEFAULT NULL
)
RETURNS assessment.attempt_responses
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_now timestamptz := pg_catalog.now();
    v_attempt assessment.assessment_attempts;
    v_settings jsonb;
    v_response assessment.attempt_responses;
BEGIN
    IF p_position IS NULL OR p_time_spent_seconds IS NULL OR p_time_spent_seconds NOT BETWEEN 0 AND 86400 THEN
        RAISE EXCEPTION 'a position and 0-86400 seconds spent are required' USING ERRCODE = '22023';
    END IF;
    v_attempt := assessment.lock_attempt(p_attempt_id);
    IF v_attempt.user_id <> v_actor THEN
        RAISE EXCEPTION 'only the learner answers an attempt'
              USING ERRCODE = '42501', DETAIL = pg_catalog.format('Attempt %s is not user %s''s.', p_attempt_id, v_actor);
    END IF;
    IF v_attempt.status <> 'in_progress' THEN
        RAISE EXCEPTION 'attempt % is %', p_attempt_id, v_attempt.status
              USING ERRCODE = 'EL052', DETAIL = 'Responses are saved only while the attempt is in progress.';
    END IF;
    IF v_attempt.deadline_at IS NOT NULL
       AND v_now > v_attempt.deadline_at + v_attempt.grace_seconds * INTERVAL '1 second' THEN
        RAISE EXCEPTION 'the time of attempt % is up', p_attempt_id
              USING ERRCODE = 'EL055',
                    DETAIL = pg_catalog.format('Deadline %s plus %s s grace has passed.', v_attempt.deadline_at,
                                               v_attempt.grace_seconds),
                    HINT = 'Submit the attempt: it is closed at its deadline with the responses saved in time.';
    END IF;
    SELECT a.security_settings INTO STRICT v_settings FROM assessment.assessments AS a
     WHERE a.organization_id = v_org AND a.id = v_attempt.assessment_id;
    IF coalesce((v_settings OPERATOR(pg_catalog.->>) 'one_question_at_a_time')::boolean, false)
       AND p_position < v_attempt.furthest_position THEN
        RAISE EXCEPTION 'one question at a time: position % is behind', p_position
              USING ERRCODE = 'EL059',
                    DETAIL = pg_catalog.format('Furthest position answered: %s.', v_attempt.furthest_position);
    END IF;
    IF coalesce((v_settings OPERATOR(pg_catalog.->>) 'require_same_ip')::boolean, false)
       AND p_ip IS DISTINCT FROM v_attempt.ip THEN
        RAISE EXCEPTION 'responses must come from the address the attempt started from'
              USING ERRCODE = 'EL059';
    END IF;
    UPDATE assessment.attempt_responses AS r
       SET response = p_response,
           answered_at = CASE WHEN p_response IS NULL THEN NULL ELSE v_now END,
           time_spent_seconds = r.time_spent_seconds + p_time_spent_seconds
     WHERE r.organization_id = v_org AND r.attempt_id = p_attempt_id AND r.position = p_position
    RETURNING r.* INTO v_response;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'attempt % has no position %', p_attempt_id, p_position USING ERRCODE = 'P0002';
    END IF;
    UPDATE assessment.assessment_attempts AS t
       SET furthest_position = GREATEST(t.furthest_position, p_position),
           security_events = CASE WHEN p_ip IS NOT NULL AND p_ip IS DISTINCT FROM t.ip
                                       AND NOT coalesce(t.security_events OPERATOR(pg_catalog.->) -1
                                                        OPERATOR(pg_catalog.@>)
                                                        pg_catalog.jsonb_build_object(
                                                            'kind', 'ip_changed',
                                                            'detail', pg_catalog.jsonb_build_object('ip', p_ip)),
                                                        false)
                                  THEN assessment.append_security_event(t.security_events, 'ip_changed',
                                           pg_catalog.jsonb_build_object('ip', p_ip))
                                  ELSE t.security_events END
     WHERE t.organization_id = v_org AND t.id = p_attempt_id;
    RETURN v_response;
END
$$;
COMMENT ON FUNCTION assessment.save_response(uuid, bigint, jsonb, bigint, inet) IS
'Saves (replaces) the acting learner''s response at p_position of their attempt (NULL clears it), adding p_time_spent_seconds (0-86400, else 22023) to the question''s time. 42501 for someone else''s attempt; EL052 when the attempt is not in progress; EL055 after deadline + grace (nothing is written; submit to close it at the deadline); EL054 (trg_attempt_responses_check_response) when the response does not fit the question type; EL059 with one_question_at_a_time for a position before the furthest one answered, or with require_same_ip from another address; P0002 for an unknown attempt or position. Another address than the start''s is logged as an ip_changed security event. The returned row''s scores are NULL until submission.';
REVOKE ALL ON FUNCTION assessment.save_response(uuid, bigint, jsonb, bigint, inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.save_response(uuid, bigint, jsonb, bigint, inet) TO ${app_role};

-- ---------------------------------------------------------------------------
-- submit_attempt(attempt)
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.submit_attempt(p_attempt_id uuid)
RETURNS assessment.assessment_attempts
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_attempt assessment.assessment_attempts;
BEGIN
    v_attempt := assessment.lock_attempt(p_attempt_id);
    IF v_attempt.user_id <> v_actor THEN
        PERFORM user_management.require_permission('assessment.grade', v_attempt.course_id);
    END IF;
    IF v_attempt.status IN ('submitted', 'auto_closed', 'graded') THEN
        RETURN v_attempt;  -- a replay (double submit) changes nothing
    END IF;
    IF v_attempt.status <> 'in_progress' THEN
        RAISE EXCEPTION 'attempt % is %', p_attempt_id, v_attempt.status
              USING ERRCODE = 'EL052', DETAIL = 'An abandoned attempt cannot be submitted.';
    END IF;
    RETURN assessment.close_attempt(p_attempt_id);
END
$$;
COMMENT ON FUNCTION assessment.submit_attempt(uuid) IS
'Submits an attempt (its learner, or a grader of the course with assessment.grade, else 42501): within deadline + grace it becomes submitted now; later it is auto_closed at the deadline (submitted_at = deadline_at, closed_at_limit). Then grades it: objective responses through assessment.grade_response(), unanswered ones 0; when no manually graded response is left it is graded at once (score, score_percent, passed, final grade, pass event). A replay on a submitted, auto_closed or graded attempt returns it unchanged; EL052 for an abandoned one; P0002 for an unknown one.';
REVOKE ALL ON FUNCTION assessment.submit_attempt(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.submit_attempt(uuid) TO ${app_role};

-- ---------------------------------------------------------------------------
-- abandon_attempt(attempt)
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.abandon_attempt(p_attempt_id uuid)
RETURNS assessment.assessment_attempts
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_attempt assessment.assessment_attempts;
BEGIN
    v_attempt := assessment.lock_attempt(p_attempt_id);
    IF v_attempt.user_id <> v_actor THEN
        PERFORM user_management.require_permission('assessment.grade', v_attempt.course_id);
    END IF;
    IF v_attempt.status = 'abandoned' THEN
        RETURN v_attempt;
    END IF;
    IF v_attempt.status <> 'in_progress' THEN
        RAISE EXCEPTION 'attempt % is %', p_attempt_id, v_attempt.status
              USING ERRCODE = 'EL052', DETAIL = 'Only an attempt in progress can be abandoned.';
    END IF;
    UPDATE assessment.assessment_attempts AS t
       SET status = 'abandoned'
     WHERE t.organization_id = v_org AND t.id = p_attempt_id
    RETURNING t.* INTO v_attempt;
    RETURN v_attempt;
END
$$;
COMMENT ON FUNCTION assessment.abandon_attempt(uuid) IS
'Abandons an attempt in progress (its learner, or a grader of the course, else 42501): status abandoned, never graded, never part of the final grade; it still counts towards the attempt limit. Idempotent on an abandoned attempt; EL052 for a closed one; P0002 for an unknown one.';
REVOKE ALL ON FUNCTION assessment.abandon_attempt(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.abandon_attempt(uuid) TO ${app_role};

-- ---------------------------------------------------------------------------
-- close_expired_attempts(limit): the worker
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.close_expired_attempts(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_org uuid := user_management.require_organization();
    v_now timestamptz := pg_catalog.now();
    v_id uuid;
    v_attempt assessment.assessment_attempts;
    v_closed integer := 0;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'a limit of 1-10000 is required' USING ERRCODE = '22023';
    END IF;
    FOR v_id IN
        SELECT t.id FROM assessment.assessment_attempts AS t
         WHERE t.organization_id = v_org AND t.status = 'in_progress' AND t.deadline_at < v_now
           AND t.deadline_at + t.grace_seconds * INTERVAL '1 second' < v_now
         ORDER BY t.deadline_at, t.id
         LIMIT p_limit
    LOOP
        v_attempt := assessment.lock_attempt(v_id);
        IF v_attempt.status = 'in_progress' THEN  -- not submitted meanwhile
            PERFORM assessment.close_attempt(v_id);
            v_closed := v_closed + 1;
        END IF;
    END LOOP;
    RETURN v_closed;
END
$$;
COMMENT ON FUNCTION assessment.close_expired_attempts(integer) IS
'Worker (needs only the organization context; run it per organization every minute or so): closes up to p_limit (1-10000, else 22023) attempts of the organization that are in progress past deadline + grace, oldest deadline first, as auto_closed at their deadline, and grades them like a submission (unanswered responses score 0). Returns how many it closed. Takes the same locks in the same order as the learner''s functions, so it never closes an attempt that was submitted meanwhile.';
REVOKE ALL ON FUNCTION assessment.close_expired_attempts(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.close_expired_attempts(integer) TO ${app_role};

-- ---------------------------------------------------------------------------
-- record_security_event(attempt, kind, detail): what the client reports
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.record_security_event(p_attempt_id uuid, p_kind text, p_detail jsonb DEFAULT '{}'::jsonb)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_attempt assessment.assessment_attempts;
BEGIN
    IF p_kind IS NULL OR p_kind !~ '^[a-z][a-z0-9_]{0,49}$' OR p_detail IS NULL
       OR pg_catalog.jsonb_typeof(p_detail) <> 'object' OR pg_catalog.octet_length(p_detail::text) > 2000 THEN
        RAISE EXCEPTION 'a kind [a-z][a-z0-9_]{0,49} and a JSON object of at most 2000 bytes are required'
              USING ERRCODE = '22023';
    END IF;
    v_attempt := assessment.lock_attempt(p_attempt_id);
    IF v_attempt.user_id <> v_actor THEN
        RAISE EXCEPTION 'only the learner''s client reports events of an attempt' USING ERRCODE = '42501';
    END IF;
    IF v_attempt.status <> 'in_progress' THEN
        RAISE EXCEPTION 'attempt % is %', p_attempt_id, v_attempt.status USING ERRCODE = 'EL052';
    END IF;
    UPDATE assessment.assessment_attempts AS t
       SET security_events = assessment.append_security_event(t.security_events, p_kind, p_detail)
     WHERE t.organization_id = v_org AND t.id = p_attempt_id
    RETURNING t.* INTO v_attempt;
    RETURN pg_catalog.jsonb_array_length(v_attempt.security_events);
END
$$;
COMMENT ON FUNCTION assessment.record_security_event(uuid, text, jsonb) IS
'Appends a client-reported security event (p_kind such as focus_lost or paste, [a-z][a-z0-9_]{0,49}; p_detail a JSON object of at most 2000 bytes, else 22023) to the acting learner''s attempt in progress (42501 for someone else''s, EL052 when closed). Returns the number of events logged (the log keeps its first 1000).';
REVOKE ALL ON FUNCTION assessment.record_security_event(uuid, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.record_security_event(uuid, text, jsonb) TO ${app_role};

-- ---------------------------------------------------------------------------
-- get_attempt_questions(attempt): what the learner (or a grader) sees
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.get_attempt_questions(p_attempt_id uuid)
RETURNS TABLE (
    "position" bigint,
    question_id uuid,
    question_version_id uuid,
    question_type text,
    stem text,
    points numeric,
    definition jsonb,
    response jsonb,
    answered_at timestamptz,
    time_spent_seconds bigint,
    score numeric,
    feedback text,
    explanation text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_actor uuid := user_management.require_acting_user();
    v_org uuid := app.current_organization_id();
    v_attempt assessment.assessment_attempts;
    v_a assessment.assessments;
    v_until timestamptz;
    v_show boolean;
BEGIN
    SELECT t.* INTO v_attempt FROM assessment.assessment_attempts AS t
     WHERE t.organization_id = v_org AND t.id = p_attempt_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attempt % in the organization', p_attempt_id USING ERRCODE = 'P0002';
    END IF;
    SELECT a.* INTO STRICT v_a FROM assessment.assessments AS a
     WHERE a.organization_id = v_org AND a.id = v_attempt.assessment_id;
    IF user_management.has_permission('assessment.grade', v_attempt.course_id)
       OR user_management.has_permission('assessment.manage', v_attempt.course_id) THEN
        v_show := true;
    ELSIF v_attempt.user_id = v_actor THEN
        SELECT coalesce(o.available_until, v_a.available_until) INTO v_until
          FROM (SELECT 1) AS one
          LEFT JOIN assessment.assessment_overrides AS o
            ON o.organization_id = v_org AND o.assessment_id = v_a.id AND o.user_id = v_actor;
        v_show := CASE v_a.feedback_timing
                      WHEN 'after_submission' THEN v_attempt.status IN ('submitted', 'auto_closed', 'graded')
                      WHEN 'after_grading' THEN v_attempt.status = 'graded'
                      WHEN 'after_close' THEN v_attempt.status = 'graded'
                                              AND (v_until IS NULL OR pg_catalog.now() >= v_until)
                      ELSE false
                  END;
    ELSE
        RAISE EXCEPTION 'attempt % is not yours', p_attempt_id
              USING ERRCODE = '42501',
                    DETAIL = pg_catalog.format('User %s is not its learner and lacks assessment.grade for course %s.',
                                               v_actor, v_attempt.course_id);
    END IF;
    RETURN QUERY
    SELECT r.position, r.question_id, r.question_version_id, r.question_type, v.stem, r.points,
           assessment.apply_option_order(v.definition, r.option_order),
           r.response, r.answered_at, r.time_spent_seconds,
           CASE WHEN v_show THEN r.score END,
           CASE WHEN v_show THEN r.feedback END,
           CASE WHEN v_show AND v_attempt.status <> 'in_progress' THEN v.explanation END
      FROM assessment.attempt_responses AS r
      JOIN assessment.question_versions AS v
        ON v.organization_id = r.organization_id AND v.id = r.question_version_id
     WHERE r.organization_id = v_org AND r.attempt_id = p_attempt_id
     ORDER BY r.position;
END
$$;
COMMENT ON FUNCTION assessment.get_attempt_questions(uuid) IS
'The questions of an attempt in the attempt''s order, as its learner sees them: stem, points, the definition with lists in the attempt''s option order (never an answer key), the saved response and time. Scores, grader feedback and explanations appear for graders of the course (assessment.grade or assessment.manage) always, and for the learner as the assessment''s feedback_timing allows: after_submission (submitted, auto_closed or graded), after_grading (graded), after_close (graded and the learner''s window has ended), never; explanations only once the attempt is closed. 42501 for another learner''s attempt, P0002 for an unknown one. The application reads scores and feedback only here: attempt_responses grants no SELECT on them.';
REVOKE ALL ON FUNCTION assessment.get_attempt_questions(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.get_attempt_questions(uuid) TO ${app_role};
