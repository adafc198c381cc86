-- =============================================================================
-- V0114__speed_up_grading
-- Purpose:       grading throughput (bench/grading.py): the shape helpers that
--                were SQL functions with a FROM clause (never inlined, so planned
--                on every call before PG 18) become PL/pgSQL (plans cached per
--                session), and grade_response() checks a response against the
--                stored definition without validating that definition again (the
--                CHECK ck_question_versions_definition did when it was stored).
-- Concern:       performance of the question functions; same results (the
--                property tests of tests/test_grading.py hold them to the model).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION assessment.fold_answer(p_text text, p_case_sensitive boolean)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_text text := pg_catalog.regexp_replace(
        pg_catalog.regexp_replace(pg_catalog.normalize(p_text, 'NFC'), '[ \t\n\r\f\v]+', ' ', 'g'), '^ | $', '', 'g');
BEGIN
    IF p_case_sensitive THEN
        RETURN v_text;
    END IF;
    RETURN pg_catalog.translate(
        v_text,
        'ABCDEFGHIJKLMNOPQRSTUVWXYZÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮĲĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽƁƂƄƆƇƉƊƋƎƏƐƑƓƔƖƗƘƜƝƟƠƢƤƦƧƩƬƮƯƱƲƳƵƷƸƼǄǅǇǈǊǋǍǏǑǓǕǗǙǛǞǠǢǤǦǨǪǬǮǱǲǴǶǷǸǺǼǾȀȂȄȆȈȊȌȎȐȒȔȖȘȚȜȞȠȢȤȦȨȪȬȮȰȲȺȻȽȾɁɃɄɅɆɈɊɌɎͰͲͶͿΆΈΉΊΌΎΏΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫϏϘϚϜϞϠϢϤϦϨϪϬϮϴϷϹϺϽϾϿЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯѠѢѤѦѨѪѬѮѰѲѴѶѸѺѼѾҀҊҌҎҐҒҔҖҘҚҜҞҠҢҤҦҨҪҬҮҰҲҴҶҸҺҼҾӀӁӃӅӇӉӋӍӐӒӔӖӘӚӜӞӠӢӤӦӨӪӬӮӰӲӴӶӸӺӼӾԀԂԄԆԈԊԌԎԐԒԔԖԘԚԜԞԠԢԤԦԨԪԬԮ',
        'abcdefghijklmnopqrstuvwxyzàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþāăąćĉċčďđēĕėęěĝğġģĥħĩīĭįĳĵķĺļľŀłńņňŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷÿźżžɓƃƅɔƈɖɗƌǝəɛƒɠɣɩɨƙɯɲɵơƣƥʀƨʃƭʈưʊʋƴƶʒƹƽǆǆǉǉǌǌǎǐǒǔǖǘǚǜǟǡǣǥǧǩǫǭǯǳǳǵƕƿǹǻǽǿȁȃȅȇȉȋȍȏȑȓȕȗșțȝȟƞȣȥȧȩȫȭȯȱȳⱥȼƚⱦɂƀʉʌɇɉɋɍɏͱͳͷϳάέήίόύώαβγδεζηθικλμνξοπρστυφχψωϊϋϗϙϛϝϟϡϣϥϧϩϫϭϯθϸϲϻͻͼͽѐёђѓєѕіїјљњћќѝўџабвгдежзийклмнопрстуфхцчшщъыьэюяѡѣѥѧѩѫѭѯѱѳѵѷѹѻѽѿҁҋҍҏґғҕҗҙқҝҟҡңҥҧҩҫҭүұҳҵҷҹһҽҿӏӂӄӆӈӊӌӎӑӓӕӗәӛӝӟӡӣӥӧөӫӭӯӱӳӵӷӹӻӽӿԁԃԅԇԉԋԍԏԑԓԕԗԙԛԝԟԡԣԥԧԩԫԭԯ');
END
$$;

CREATE OR REPLACE FUNCTION assessment.keys_problem(
    p_object jsonb,
    p_required text[],
    p_allowed text[],
    p_what text
)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
BEGIN
    IF p_object IS NULL OR pg_catalog.jsonb_typeof(p_object) <> 'object' THEN
        RETURN p_what || ' must be a JSON object';
    END IF;
    IF NOT p_object ?& p_required THEN
        RETURN p_what || ' needs the keys: ' || pg_catalog.array_to_string(p_required, ', ');
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(p_object) AS k (key) WHERE k.key <> ALL (p_allowed)) THEN
        RETURN p_what || ' allows only the keys: ' || pg_catalog.array_to_string(p_allowed, ', ');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION assessment.item_ids(p_list jsonb)
RETURNS text[]
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN ARRAY(SELECT e.v ->> 'id' FROM pg_catalog.jsonb_array_elements(p_list) WITH ORDINALITY AS e (v, n)
                  ORDER BY e.n);
END
$$;

-- ---------------------------------------------------------------------------
-- response_fit_problem(): response_problem() for a definition known to be valid.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.response_fit_problem(
    p_question_type text,
    p_definition jsonb,
    p_response jsonb
)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_problem text;
    v_ids text[];
BEGIN
    CASE p_question_type
    WHEN 'multiple_choice_single' THEN
        v_problem := assessment.keys_problem(p_response, '{selected}', '{selected}', 'response');
        IF v_problem IS NULL AND (pg_catalog.jsonb_typeof(p_response -> 'selected') <> 'string'
                                  OR NOT (p_response ->> 'selected') = ANY (assessment.item_ids(p_definition -> 'options'))) THEN
            v_problem := 'selected must be the id of one option';
        END IF;
    WHEN 'multiple_choice_multiple' THEN
        v_problem := coalesce(assessment.keys_problem(p_response, '{selected}', '{selected}', 'response'),
                              assessment.id_array_problem(p_response -> 'selected',
                                                          assessment.item_ids(p_definition -> 'options'), 'selected', 0));
    WHEN 'true_false' THEN
        v_problem := assessment.keys_problem(p_response, '{answer}', '{answer}', 'response');
        IF v_problem IS NULL AND pg_catalog.jsonb_typeof(p_response -> 'answer') <> 'boolean' THEN
            v_problem := 'answer must be true or false';
        END IF;
    WHEN 'short_answer', 'essay' THEN
        v_problem := assessment.keys_problem(p_response, '{text}', '{text}', 'response');
        IF v_problem IS NULL AND NOT assessment.is_string_between(
               p_response -> 'text', 0,
               coalesce((p_definition -> 'max_length')::integer,
                        CASE p_question_type WHEN 'essay' THEN 100000 ELSE 1000 END)) THEN
            v_problem := 'text must be a string no longer than max_length';
        END IF;
    WHEN 'fill_in_the_blank' THEN
        v_problem := assessment.keys_problem(p_response, '{blanks}', '{blanks}', 'response');
        IF v_problem IS NULL THEN
            v_ids := ARRAY(SELECT e.v FROM pg_catalog.jsonb_array_elements_text(p_definition -> 'blanks') AS e (v));
            IF assessment.keys_problem(p_response -> 'blanks', '{}', v_ids, 'blanks') IS NOT NULL
               OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_each(p_response -> 'blanks') AS e (k, v)
                           WHERE NOT assessment.is_string_between(e.v, 0, 500)) THEN
                v_problem := 'blanks must map blank ids of the definition to strings of at most 500 characters';
            END IF;
        END IF;
    WHEN 'matching' THEN
        v_problem := assessment.keys_problem(p_response, '{pairs}', '{pairs}', 'response');
        IF v_problem IS NULL
           AND (assessment.keys_problem(p_response -> 'pairs', '{}', assessment.item_ids(p_definition -> 'prompts'), 'pairs') IS NOT NULL
                OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_each(p_response -> 'pairs') AS e (k, v)
                            WHERE pg_catalog.jsonb_typeof(e.v) <> 'string'
                               OR NOT (e.v #>> '{}') = ANY (assessment.item_ids(p_definition -> 'choices')))) THEN
            v_problem := 'pairs must map prompt ids to choice ids';
        END IF;
    WHEN 'ordering' THEN
        v_problem := assessment.keys_problem(p_response, '{order}', '{order}', 'response');
        IF v_problem IS NULL THEN
            v_ids := assessment.item_ids(p_definition -> 'items');
            v_problem := assessment.id_array_problem(p_response -> 'order', v_ids, 'order', 1);
            IF v_problem IS NULL AND pg_catalog.jsonb_array_length(p_response -> 'order') <> pg_catalog.cardinality(v_ids) THEN
                v_problem := 'order must list every item id once';
            END IF;
        END IF;
    WHEN 'numeric' THEN
        v_problem := assessment.keys_problem(p_response, '{value}', '{value}', 'response');
        IF v_problem IS NULL AND (pg_catalog.jsonb_typeof(p_response -> 'value') <> 'number'
                                  OR pg_catalog.abs((p_response -> 'value')::numeric) >= 1e15) THEN
            v_problem := 'value must be a number below 1e15 in magnitude';
        END IF;
    WHEN 'file_upload' THEN
        v_problem := assessment.keys_problem(p_response, '{files}', '{files}', 'response');
        IF v_problem IS NULL
           AND (pg_catalog.jsonb_typeof(p_response -> 'files') <> 'array'
                OR pg_catalog.jsonb_array_length(p_response -> 'files')
                   NOT BETWEEN 1 AND coalesce((p_definition -> 'max_files')::integer, 1)
                OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(p_response -> 'files') AS e (v)
                            WHERE pg_catalog.jsonb_typeof(e.v) <> 'string'
                               OR (e.v #>> '{}') !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
                OR (SELECT pg_catalog.count(DISTINCT e.v) FROM pg_catalog.jsonb_array_elements(p_response -> 'files') AS e (v))
                   <> pg_catalog.jsonb_array_length(p_response -> 'files')) THEN
            v_problem := 'files must be an array of 1 to max_files (default 1) distinct file ids (lower-case uuid text)';
        END IF;
    WHEN 'code' THEN
        v_problem := assessment.keys_problem(p_response, '{code}', '{code}', 'response');
        IF v_problem IS NULL AND NOT assessment.is_string_between(p_response -> 'code', 0, 100000) THEN
            v_problem := 'code must be a string of at most 100000 characters';
        END IF;
    END CASE;
    RETURN v_problem;
END
$$;
COMMENT ON FUNCTION assessment.response_fit_problem(text, jsonb, jsonb) IS
'Internal core of response_problem() (same shapes and reasons) for a definition already known to be valid, e.g. a stored version''s (ck_question_versions_definition): grade_response() uses it to skip validating the definition again.';
REVOKE ALL ON FUNCTION assessment.response_fit_problem(text, jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION assessment.response_fit_problem(text, jsonb, jsonb) TO ${app_role};

CREATE OR REPLACE FUNCTION assessment.response_problem(
    p_question_type text,
    p_definition jsonb,
    p_response jsonb
)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
BEGIN
    IF assessment.definition_problem(p_question_type, p_definition) IS NOT NULL THEN
        RETURN 'the question definition is not valid';
    END IF;
    RETURN assessment.response_fit_problem(p_question_type, p_definition, p_response);
END
$$;

CREATE OR REPLACE FUNCTION assessment.grade_response(
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
    v_problem := assessment.response_fit_problem(v_type, v_definition, p_response);
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
