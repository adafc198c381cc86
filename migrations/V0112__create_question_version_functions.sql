-- =============================================================================
-- V0112__create_question_version_functions
-- Purpose:       the versioning rule as functions: save_question_version() edits
--                the current version in place while no attempt used it and
--                creates a new version once one did; mark_versions_used() (for
--                the attempt functions) stamps used_at, after which a version
--                and its key are immutable (EL042, V0111).
-- Concern:       question versioning functions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- save_question_version(...): staff edit a question (invoker: RLS decides).
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.save_question_version(
    p_question_id uuid,
    p_question_type text,
    p_stem text,
    p_points numeric,
    p_definition jsonb,
    p_answer_key jsonb,
    p_difficulty text DEFAULT 'medium',
    p_tags text[] DEFAULT '{}',
    p_explanation text DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org uuid := app.current_organization_id();
    v_current record;
    v_id uuid;
BEGIN
    -- The lock needs the UPDATE policy of questions: only staff of the course get here.
    PERFORM 1 FROM assessment.questions AS q
     WHERE q.organization_id = v_org AND q.id = p_question_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no question % that you may edit', p_question_id
              USING ERRCODE = 'P0002',
                    HINT = 'Editing questions needs assessment.manage for the bank''s course.';
    END IF;
    SELECT v.id, v.used_at INTO v_current
      FROM assessment.question_versions AS v
     WHERE v.organization_id = v_org AND v.question_id = p_question_id
     ORDER BY v.version_number DESC
     LIMIT 1;
    IF v_current.id IS NOT NULL AND v_current.used_at IS NULL THEN
        -- Unused: edit in place. The key goes first, so a change of type never meets the old key.
        DELETE FROM assessment.question_answer_keys AS k
         WHERE k.organization_id = v_org AND k.question_version_id = v_current.id;
        UPDATE assessment.question_versions AS v
           SET question_type = p_question_type, stem = p_stem, points = p_points,
               difficulty = p_difficulty, tags = p_tags, definition = p_definition,
               explanation = p_explanation
         WHERE v.organization_id = v_org AND v.id = v_current.id;
        v_id := v_current.id;
    ELSE
        INSERT INTO assessment.question_versions AS v
            (organization_id, question_id, question_type, stem, points, difficulty, tags, definition,
             explanation)
        VALUES (v_org, p_question_id, p_question_type, p_stem, p_points, p_difficulty, p_tags, p_definition,
                p_explanation)
        RETURNING v.id INTO v_id;
    END IF;
    IF p_answer_key IS NOT NULL THEN
        INSERT INTO assessment.question_answer_keys (organization_id, question_version_id, answer_key)
        VALUES (v_org, v_id, p_answer_key);
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION assessment.save_question_version(uuid, text, text, numeric, jsonb, jsonb, text, text[], text) IS
'Saves new content for question p_question_id and returns the version id: while its current (highest) version is unused it is changed in place (its key replaced by p_answer_key), once an attempt used it a new version is created, so old attempts keep theirs. p_answer_key NULL leaves the version without key (fine for essay, file_upload, code; an auto-graded version without key cannot be used). SECURITY INVOKER: RLS and privileges apply (staff of the bank''s course, assessment.manage); P0002 when the question is not editable for the caller; 23514 / EL040 for an invalid definition / key.';
REVOKE ALL ON FUNCTION assessment.save_question_version(
    uuid, text, text, numeric, jsonb, jsonb, text, text[], text
) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.save_question_version(
    uuid, text, text, numeric, jsonb, jsonb, text, text[], text
) TO ${app_role};

-- ---------------------------------------------------------------------------
-- mark_versions_used(org, versions): internal, for the attempt functions.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.mark_versions_used(p_organization_id uuid, p_version_ids uuid[])
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = assessment, pg_temp
AS $$
DECLARE
    v_ids uuid[] := ARRAY(SELECT DISTINCT x.id FROM pg_catalog.unnest(p_version_ids) AS x (id)
                           WHERE x.id IS NOT NULL ORDER BY x.id);
    v_found integer;
    v_missing uuid;
    v_marked integer;
BEGIN
    IF p_organization_id IS DISTINCT FROM app.current_organization_id() THEN
        RAISE EXCEPTION 'mark_versions_used() works in the transaction''s organization only'
              USING ERRCODE = '22023';
    END IF;
    -- Lock in id order (one order for every caller: no deadlock between two attempts).
    SELECT pg_catalog.count(*) INTO v_found
      FROM (SELECT 1 FROM assessment.question_versions AS v
             WHERE v.organization_id = p_organization_id AND v.id = ANY (v_ids)
             ORDER BY v.id
               FOR NO KEY UPDATE) AS l;
    IF v_found <> pg_catalog.cardinality(v_ids) THEN
        RAISE EXCEPTION 'unknown question version in the organization'
              USING ERRCODE = 'P0002',
                    DETAIL = pg_catalog.format('%s of %s versions found.', v_found, pg_catalog.cardinality(v_ids));
    END IF;
    SELECT v.id INTO v_missing
      FROM assessment.question_versions AS v
     WHERE v.organization_id = p_organization_id AND v.id = ANY (v_ids)
       AND assessment.is_auto_graded(v.question_type)
       AND NOT EXISTS (SELECT 1 FROM assessment.question_answer_keys AS k
                        WHERE k.organization_id = v.organization_id AND k.question_version_id = v.id)
     ORDER BY v.id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'question version % has no answer key and cannot be used', v_missing
              USING ERRCODE = 'EL041',
                    HINT = 'Auto-graded questions need an answer key (assessment.question_answer_keys) before use.';
    END IF;
    UPDATE assessment.question_versions AS v
       SET used_at = pg_catalog.now()
     WHERE v.organization_id = p_organization_id AND v.id = ANY (v_ids) AND v.used_at IS NULL;
    GET DIAGNOSTICS v_marked = ROW_COUNT;
    RETURN v_marked;
END
$$;
COMMENT ON FUNCTION assessment.mark_versions_used(uuid, uuid[]) IS
'Internal (no app EXECUTE; for the SECURITY DEFINER attempt functions): locks the versions p_version_ids of p_organization_id (which must be the transaction''s organization, 22023) in id order, refuses unknown ones (P0002) and auto-graded ones without answer key (EL041), and sets used_at = now() where it is NULL; returns how many were newly marked. From then on the versions and their keys are immutable (EL042).';
REVOKE ALL ON FUNCTION assessment.mark_versions_used(uuid, uuid[]) FROM PUBLIC;
