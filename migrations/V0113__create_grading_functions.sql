-- =============================================================================
-- V0113__create_grading_functions
-- Purpose:       auto-grading of the objective question types: score_response(),
--                the pure scoring rules (partial credit, rounding), and
--                grade_response(), the internal SECURITY DEFINER entry point for
--                the attempt functions that reads the version and its answer key.
-- Concern:       question grading functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Keys:          neither function is executable by the application roles: the
--                key never leaves the database except to staff reading the key
--                table under its policy.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- score_response(type, definition, key, points, response): the rules, pure.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.score_response(
    p_question_type text,
    p_definition jsonb,
    p_answer_key jsonb,
    p_points numeric,
    p_response jsonb
)
RETURNS numeric
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_num numeric;
    v_den numeric;
    v_value numeric;
    v_target numeric;
    v_tolerance numeric;
    v_positions integer[];
    v_best integer[];
    v_n integer;
BEGIN
    CASE p_question_type
    WHEN 'multiple_choice_single' THEN
        v_num := CASE WHEN p_response -> 'selected' = p_answer_key -> 'correct' THEN 1 ELSE 0 END;
        v_den := 1;
    WHEN 'true_false' THEN
        v_num := CASE WHEN p_response -> 'answer' = p_answer_key -> 'correct' THEN 1 ELSE 0 END;
        v_den := 1;
    WHEN 'multiple_choice_multiple' THEN
        -- Right minus wrong over the number of correct options, floored at 0.
        SELECT GREATEST(0, pg_catalog.count(*) FILTER (WHERE p_answer_key -> 'correct' @> pg_catalog.jsonb_build_array(s.v))
                           - pg_catalog.count(*) FILTER (WHERE NOT p_answer_key -> 'correct' @> pg_catalog.jsonb_build_array(s.v)))
          INTO v_num
          FROM pg_catalog.jsonb_array_elements(p_response -> 'selected') AS s (v);
        v_den := pg_catalog.jsonb_array_length(p_answer_key -> 'correct');
    WHEN 'short_answer' THEN
        v_num := CASE WHEN EXISTS (
                     SELECT 1 FROM pg_catalog.jsonb_array_elements_text(p_answer_key -> 'accepted') AS a (t)
                      WHERE assessment.fold_answer(a.t, coalesce((p_answer_key -> 'case_sensitive')::boolean, false))
                            = assessment.fold_answer(p_response ->> 'text',
                                                     coalesce((p_answer_key -> 'case_sensitive')::boolean, false)))
                      THEN 1 ELSE 0 END;
        v_den := 1;
    WHEN 'fill_in_the_blank' THEN
        -- Share of blanks answered with one of their accepted answers.
        SELECT pg_catalog.count(*) FILTER (
                   WHERE EXISTS (
                       SELECT 1 FROM pg_catalog.jsonb_array_elements_text(k.v -> 'accepted') AS a (t)
                        WHERE assessment.fold_answer(a.t, coalesce((k.v -> 'case_sensitive')::boolean, false))
                              = assessment.fold_answer(p_response -> 'blanks' ->> k.b,
                                                       coalesce((k.v -> 'case_sensitive')::boolean, false)))),
               pg_catalog.count(*)
          INTO v_num, v_den
          FROM pg_catalog.jsonb_each(p_answer_key -> 'blanks') AS k (b, v);
    WHEN 'matching' THEN
        -- Share of prompts matched to their choice.
        SELECT pg_catalog.count(*) FILTER (WHERE p_response -> 'pairs' -> k.p = k.c), pg_catalog.count(*)
          INTO v_num, v_den
          FROM pg_catalog.jsonb_each(p_answer_key -> 'pairs') AS k (p, c);
    WHEN 'ordering' THEN
        -- Longest run of items in correct relative order (longest increasing subsequence of their
        -- correct positions, in response order): (LIS - 1) / (n - 1), so fully reversed scores 0.
        v_positions := ARRAY(
            SELECT k.n::integer
              FROM pg_catalog.jsonb_array_elements_text(p_response -> 'order') WITH ORDINALITY AS r (id, n)
              JOIN pg_catalog.jsonb_array_elements_text(p_answer_key -> 'order') WITH ORDINALITY AS k (id, n)
                ON k.id = r.id
             ORDER BY r.n);
        v_n := pg_catalog.cardinality(v_positions);
        v_best := pg_catalog.array_fill(1, ARRAY[v_n]);
        FOR i IN 2..v_n LOOP
            FOR j IN 1..i - 1 LOOP
                IF v_positions[j] < v_positions[i] AND v_best[j] + 1 > v_best[i] THEN
                    v_best[i] := v_best[j] + 1;
                END IF;
            END LOOP;
        END LOOP;
        v_num := (SELECT pg_catalog.max(b) FROM pg_catalog.unnest(v_best) AS u (b)) - 1;
        v_den := v_n - 1;
    WHEN 'numeric' THEN
        v_value := (p_response -> 'value')::numeric;
        v_target := (p_answer_key -> 'value')::numeric;
        v_tolerance := coalesce((p_answer_key -> 'tolerance')::numeric, 0);
        IF p_answer_key ->> 'tolerance_type' = 'relative' THEN
            v_tolerance := v_tolerance * pg_catalog.abs(v_target);
        END IF;
        v_num := CASE WHEN pg_catalog.abs(v_value - v_target) <= v_tolerance THEN 1 ELSE 0 END;
        v_den := 1;
    ELSE
        RETURN NULL;  -- essay, file_upload, code: graded by a person
    END CASE;
    RETURN LEAST(p_points, GREATEST(0, pg_catalog.round(p_points * v_num / v_den, 2)));
END
$$;
COMMENT ON FUNCTION assessment.score_response(text, jsonb, jsonb, numeric, jsonb) IS
'Internal, pure: the score of a valid response (response_problem() NULL) against a valid key, in [0, p_points], rounded half away from zero to 2 decimals: round(points * numerator / denominator, 2). multiple_choice_single, true_false, numeric, short_answer: all or nothing. multiple_choice_multiple: max(0, right selections - wrong selections) / number of correct options. fill_in_the_blank: correct blanks / blanks (a blank is correct when fold_answer(response) equals fold_answer(one accepted answer), with the blank''s case_sensitive). short_answer likewise against accepted. matching: correctly paired prompts / prompts (missing = wrong). ordering: (length of the longest subsequence of the response in correct relative order - 1) / (items - 1). numeric: |response - value| <= tolerance (absolute) or <= tolerance * |value| (relative), exact decimal arithmetic. NULL for essay, file_upload and code.';
REVOKE ALL ON FUNCTION assessment.score_response(text, jsonb, jsonb, numeric, jsonb) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- grade_response(org, version, response): internal entry point.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.grade_response(
    p_organization_id uuid,
    p_question_version_id uuid,
    p_response jsonb
)
RETURNS numeric
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_type text;
    v_definition jsonb;
    v_points numeric;
    v_key jsonb;
    v_problem text;
BEGIN
    IF p_organization_id IS DISTINCT FROM app.current_organization_id() THEN
        RAISE EXCEPTION 'grade_response() works in the transaction''s organization only'
              USING ERRCODE = '22023';
    END IF;
    SELECT v.question_type, v.definition, v.points, k.answer_key
      INTO v_type, v_definition, v_points, v_key
      FROM assessment.question_versions AS v
      LEFT JOIN assessment.question_answer_keys AS k
        ON k.organization_id = v.organization_id AND k.question_version_id = v.id
     WHERE v.organization_id = p_organization_id AND v.id = p_question_version_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no question version % in the organization', p_question_version_id
              USING ERRCODE = 'P0002';
    END IF;
    IF NOT assessment.is_auto_graded(v_type) THEN
        RETURN NULL;
    END IF;
    v_problem := assessment.response_problem(v_type, v_definition, p_response);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'the response does not fit question version %', p_question_version_id
              USING ERRCODE = 'EL044',
                    DETAIL = pg_catalog.format('Question type %s: %s.', v_type, v_problem),
                    HINT = 'Check responses with assessment.check_response_shape() when they are saved.';
    END IF;
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'question version % has no answer key', p_question_version_id
              USING ERRCODE = 'EL041';
    END IF;
    RETURN assessment.score_response(v_type, v_definition, v_key, v_points, p_response);
END
$$;
COMMENT ON FUNCTION assessment.grade_response(uuid, uuid, jsonb) IS
'Internal (no EXECUTE for the application roles; called by the SECURITY DEFINER attempt functions): the auto-grade of p_response to question version p_question_version_id of p_organization_id, which must be the transaction''s organization (22023): score_response() with the version''s stored answer key, in [0, points]; NULL for essay, file_upload and code (manual grading). P0002 for an unknown version, EL044 for a response that does not fit the version (DETAIL from response_problem(), which never sees the key), EL041 for an auto-graded version without key.';
REVOKE ALL ON FUNCTION assessment.grade_response(uuid, uuid, jsonb) FROM PUBLIC;
