-- =============================================================================
-- V0110__create_question_shape_checks
-- Purpose:       the per-type shape rules of questions, as pure functions: the
--                learner-visible definition, the staff-only answer key and a
--                learner's response (JSON shapes in the function comments and in
--                the README section "Questions"), plus the answer normalization
--                of text answers (NFC, whitespace collapsed, case folded).
-- Concern:       question shape check functions (tables follow in V0111).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Notes:         every function is IMMUTABLE and reads no table, so it can serve
--                a CHECK (definitions) or a trigger (answer keys, responses).
--                The *_problem functions return NULL for a valid value, else a
--                reason that never repeats a value of the input (so an error
--                built from it cannot echo an answer key).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- question types
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.is_auto_graded(p_question_type text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT p_question_type IN (
        'multiple_choice_single', 'multiple_choice_multiple', 'true_false', 'short_answer',
        'fill_in_the_blank', 'matching', 'ordering', 'numeric'
    )
$$;
COMMENT ON FUNCTION assessment.is_auto_graded(text) IS
'True for the question types grade_response() scores (multiple_choice_single, multiple_choice_multiple, true_false, short_answer, fill_in_the_blank, matching, ordering, numeric); false for the manually graded essay, file_upload and code (and unknown types). Auto-graded versions need an answer key before they can be used.';

-- ---------------------------------------------------------------------------
-- fold_answer(text, case_sensitive): the comparison form of a text answer.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.fold_answer(p_text text, p_case_sensitive boolean)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_case_sensitive THEN s.t
                ELSE pg_catalog.translate(
                    s.t,
                    'ABCDEFGHIJKLMNOPQRSTUVWXYZÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮĲĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽƁƂƄƆƇƉƊƋƎƏƐƑƓƔƖƗƘƜƝƟƠƢƤƦƧƩƬƮƯƱƲƳƵƷƸƼǄǅǇǈǊǋǍǏǑǓǕǗǙǛǞǠǢǤǦǨǪǬǮǱǲǴǶǷǸǺǼǾȀȂȄȆȈȊȌȎȐȒȔȖȘȚȜȞȠȢȤȦȨȪȬȮȰȲȺȻȽȾɁɃɄɅɆɈɊɌɎͰͲͶͿΆΈΉΊΌΎΏΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫϏϘϚϜϞϠϢϤϦϨϪϬϮϴϷϹϺϽϾϿЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯѠѢѤѦѨѪѬѮѰѲѴѶѸѺѼѾҀҊҌҎҐҒҔҖҘҚҜҞҠҢҤҦҨҪҬҮҰҲҴҶҸҺҼҾӀӁӃӅӇӉӋӍӐӒӔӖӘӚӜӞӠӢӤӦӨӪӬӮӰӲӴӶӸӺӼӾԀԂԄԆԈԊԌԎԐԒԔԖԘԚԜԞԠԢԤԦԨԪԬԮ',
                    'abcdefghijklmnopqrstuvwxyzàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþāăąćĉċčďđēĕėęěĝğġģĥħĩīĭįĳĵķĺļľŀłńņňŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷÿźżžɓƃƅɔƈɖɗƌǝəɛƒɠɣɩɨƙɯɲɵơƣƥʀƨʃƭʈưʊʋƴƶʒƹƽǆǆǉǉǌǌǎǐǒǔǖǘǚǜǟǡǣǥǧǩǫǭǯǳǳǵƕƿǹǻǽǿȁȃȅȇȉȋȍȏȑȓȕȗșțȝȟƞȣȥȧȩȫȭȯȱȳⱥȼƚⱦɂƀʉʌɇɉɋɍɏͱͳͷϳάέήίόύώαβγδεζηθικλμνξοπρστυφχψωϊϋϗϙϛϝϟϡϣϥϧϩϫϭϯθϸϲϻͻͼͽѐёђѓєѕіїјљњћќѝўџабвгдежзийклмнопрстуфхцчшщъыьэюяѡѣѥѧѩѫѭѯѱѳѵѷѹѻѽѿҁҋҍҏґғҕҗҙқҝҟҡңҥҧҩҫҭүұҳҵҷҹһҽҿӏӂӄӆӈӊӌӎӑӓӕӗәӛӝӟӡӣӥӧөӫӭӯӱӳӵӷӹӻӽӿԁԃԅԇԉԋԍԏԑԓԕԗԙԛԝԟԡԣԥԧԩԫԭԯ')
           END
      FROM (SELECT pg_catalog.regexp_replace(
                       pg_catalog.regexp_replace(pg_catalog.normalize(p_text, 'NFC'), '[ \t\n\r\f\v]+', ' ', 'g'),
                       '^ | $', '', 'g') AS t) AS s
$$;
COMMENT ON FUNCTION assessment.fold_answer(text, boolean) IS
'The form in which text answers (short_answer, fill_in_the_blank) are compared: Unicode NFC, every run of ASCII whitespace (space, tab, LF, CR, FF, VT) collapsed to one space, leading and trailing space removed, and unless p_case_sensitive the letters of the Latin, Greek and Cyrillic blocks (U+0041-U+052F) that have a one-letter lower case mapped to it by a fixed table (independent of the database locale; other characters stay as they are).';

-- ---------------------------------------------------------------------------
-- Small shape helpers.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.keys_problem(p_object jsonb, p_required text[], p_allowed text[], p_what text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN p_object IS NULL OR pg_catalog.jsonb_typeof(p_object) <> 'object'
                   THEN p_what || ' must be a JSON object'
               WHEN NOT p_object ?& p_required
                   THEN p_what || ' needs the keys: ' || pg_catalog.array_to_string(p_required, ', ')
               WHEN EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(p_object) AS k (key)
                             WHERE k.key <> ALL (p_allowed))
                   THEN p_what || ' allows only the keys: ' || pg_catalog.array_to_string(p_allowed, ', ')
           END
$$;
COMMENT ON FUNCTION assessment.keys_problem(jsonb, text[], text[], text) IS
'Shape helper: NULL when p_object is a JSON object holding every key of p_required and no key outside p_allowed, else the reason (naming p_what and the allowed keys, never a value).';

CREATE FUNCTION assessment.is_integer_between(p_value jsonb, p_min numeric, p_max numeric)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN pg_catalog.jsonb_typeof(p_value) = 'number'
                THEN (p_value)::numeric = pg_catalog.trunc((p_value)::numeric)
                     AND (p_value)::numeric BETWEEN p_min AND p_max
                ELSE false
           END
$$;
COMMENT ON FUNCTION assessment.is_integer_between(jsonb, numeric, numeric) IS
'Shape helper: true when p_value is a JSON number without fraction in [p_min, p_max].';

CREATE FUNCTION assessment.is_string_between(p_value jsonb, p_min integer, p_max integer)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN pg_catalog.jsonb_typeof(p_value) = 'string'
                THEN pg_catalog.char_length(p_value #>> '{}') BETWEEN p_min AND p_max
                ELSE false
           END
$$;
COMMENT ON FUNCTION assessment.is_string_between(jsonb, integer, integer) IS
'Shape helper: true when p_value is a JSON string of p_min to p_max characters.';

CREATE FUNCTION assessment.item_ids(p_list jsonb)
RETURNS text[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(pg_catalog.array_agg(e.v ->> 'id' ORDER BY e.n), '{}'::text[])
      FROM pg_catalog.jsonb_array_elements(p_list) WITH ORDINALITY AS e (v, n)
$$;
COMMENT ON FUNCTION assessment.item_ids(jsonb) IS
'Shape helper: the "id" values of an item list (options, items, prompts, choices) in list order.';

CREATE FUNCTION assessment.item_list_problem(p_list jsonb, p_what text, p_min integer, p_max integer)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
BEGIN
    IF p_list IS NULL OR pg_catalog.jsonb_typeof(p_list) <> 'array' THEN
        RETURN p_what || ' must be a JSON array';
    END IF;
    IF pg_catalog.jsonb_array_length(p_list) NOT BETWEEN p_min AND p_max THEN
        RETURN pg_catalog.format('%s must have %s to %s entries', p_what, p_min, p_max);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(p_list) AS e (v)
                WHERE assessment.keys_problem(e.v, '{id,text}', '{id,text}', 'x') IS NOT NULL
                   OR NOT assessment.is_string_between(e.v -> 'id', 1, 50)
                   OR NOT assessment.is_string_between(e.v -> 'text', 1, 2000)) THEN
        RETURN p_what || ' entries must be objects {"id": 1-50 characters, "text": 1-2000 characters}';
    END IF;
    IF (SELECT pg_catalog.count(DISTINCT e.v ->> 'id') FROM pg_catalog.jsonb_array_elements(p_list) AS e (v))
       <> pg_catalog.jsonb_array_length(p_list) THEN
        RETURN p_what || ' ids must be unique';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.item_list_problem(jsonb, text, integer, integer) IS
'Shape helper: NULL when p_list is an array of p_min..p_max objects {"id": string 1-50, "text": string 1-2000} with unique ids (options, items, prompts, choices), else the reason.';

CREATE FUNCTION assessment.id_array_problem(p_list jsonb, p_ids text[], p_what text, p_min integer)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
BEGIN
    IF p_list IS NULL OR pg_catalog.jsonb_typeof(p_list) <> 'array' THEN
        RETURN p_what || ' must be a JSON array';
    END IF;
    IF pg_catalog.jsonb_array_length(p_list) < p_min THEN
        RETURN pg_catalog.format('%s needs at least %s entries', p_what, p_min);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(p_list) AS e (v)
                WHERE pg_catalog.jsonb_typeof(e.v) <> 'string' OR NOT (e.v #>> '{}') = ANY (p_ids)) THEN
        RETURN p_what || ' entries must be ids of the definition';
    END IF;
    IF (SELECT pg_catalog.count(DISTINCT e.v) FROM pg_catalog.jsonb_array_elements(p_list) AS e (v))
       <> pg_catalog.jsonb_array_length(p_list) THEN
        RETURN p_what || ' must not repeat an id';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.id_array_problem(jsonb, text[], text, integer) IS
'Shape helper: NULL when p_list is an array of at least p_min distinct strings, each one of p_ids, else the reason.';

CREATE FUNCTION assessment.accepted_problem(p_value jsonb, p_what text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_problem text := assessment.keys_problem(p_value, '{accepted}', '{accepted,case_sensitive}', p_what);
BEGIN
    IF v_problem IS NOT NULL THEN
        RETURN v_problem;
    END IF;
    IF p_value ? 'case_sensitive' AND pg_catalog.jsonb_typeof(p_value -> 'case_sensitive') <> 'boolean' THEN
        RETURN p_what || ': case_sensitive must be true or false';
    END IF;
    IF pg_catalog.jsonb_typeof(p_value -> 'accepted') <> 'array'
       OR pg_catalog.jsonb_array_length(p_value -> 'accepted') NOT BETWEEN 1 AND 50
       OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(p_value -> 'accepted') AS e (v)
                   WHERE NOT assessment.is_string_between(e.v, 1, 500)
                      OR assessment.fold_answer(e.v #>> '{}', true) = '') THEN
        RETURN p_what || ': accepted must be an array of 1-50 answers of 1-500 characters, not only whitespace';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION assessment.accepted_problem(jsonb, text) IS
'Shape helper: NULL when p_value is {"accepted": [1-50 strings of 1-500 characters, not blank], "case_sensitive": boolean (optional, default false)}, else the reason.';

CREATE FUNCTION assessment.code_tests_problem(p_tests jsonb, p_what text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN pg_catalog.jsonb_typeof(p_tests) <> 'array' OR pg_catalog.jsonb_array_length(p_tests) > 50
                   THEN p_what || ' must be an array of at most 50 tests'
               WHEN EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(p_tests) AS e (v)
                             WHERE assessment.keys_problem(e.v, '{name,input,expected_output}',
                                                           '{name,input,expected_output}', 'x') IS NOT NULL
                                OR NOT assessment.is_string_between(e.v -> 'name', 1, 200)
                                OR NOT assessment.is_string_between(e.v -> 'input', 0, 10000)
                                OR NOT assessment.is_string_between(e.v -> 'expected_output', 0, 10000))
                   THEN p_what || ' entries must be {"name": 1-200 characters, "input": string, "expected_output": string}'
           END
$$;
COMMENT ON FUNCTION assessment.code_tests_problem(jsonb, text) IS
'Shape helper: NULL when p_tests is an array of at most 50 objects {"name": 1-200 characters, "input": string <= 10000, "expected_output": string <= 10000}, else the reason.';

-- ---------------------------------------------------------------------------
-- definition_problem(type, definition): the learner-visible part.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.definition_problem(p_question_type text, p_definition jsonb)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_problem text;
    v_text text;
    v_id text;
BEGIN
    CASE p_question_type
    WHEN 'multiple_choice_single', 'multiple_choice_multiple' THEN
        RETURN coalesce(assessment.keys_problem(p_definition, '{options}', '{options}', 'definition'),
                        assessment.item_list_problem(p_definition -> 'options', 'options', 2, 20));
    WHEN 'true_false' THEN
        RETURN assessment.keys_problem(p_definition, '{}', '{}', 'definition');
    WHEN 'short_answer', 'essay' THEN
        v_problem := assessment.keys_problem(p_definition, '{}', '{max_length}', 'definition');
        IF v_problem IS NULL AND p_definition ? 'max_length'
           AND NOT assessment.is_integer_between(p_definition -> 'max_length', 1,
                                                 CASE p_question_type WHEN 'essay' THEN 100000 ELSE 1000 END) THEN
            v_problem := 'max_length must be an integer from 1 to 1000 (short_answer) or 100000 (essay)';
        END IF;
        RETURN v_problem;
    WHEN 'fill_in_the_blank' THEN
        v_problem := assessment.keys_problem(p_definition, '{text,blanks}', '{text,blanks}', 'definition');
        IF v_problem IS NOT NULL THEN
            RETURN v_problem;
        END IF;
        IF NOT assessment.is_string_between(p_definition -> 'text', 1, 5000) THEN
            RETURN 'text must be a string of 1-5000 characters';
        END IF;
        IF pg_catalog.jsonb_typeof(p_definition -> 'blanks') <> 'array'
           OR pg_catalog.jsonb_array_length(p_definition -> 'blanks') NOT BETWEEN 1 AND 20
           OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(p_definition -> 'blanks') AS e (v)
                       WHERE pg_catalog.jsonb_typeof(e.v) <> 'string'
                          OR (e.v #>> '{}') !~ '^[A-Za-z0-9_-]{1,30}$')
           OR (SELECT pg_catalog.count(DISTINCT e.v) FROM pg_catalog.jsonb_array_elements(p_definition -> 'blanks') AS e (v))
              <> pg_catalog.jsonb_array_length(p_definition -> 'blanks') THEN
            RETURN 'blanks must be an array of 1-20 distinct ids of 1-30 characters [A-Za-z0-9_-]';
        END IF;
        v_text := p_definition ->> 'text';
        FOR v_id IN SELECT e.v FROM pg_catalog.jsonb_array_elements_text(p_definition -> 'blanks') AS e (v) LOOP
            IF (pg_catalog.char_length(v_text)
                - pg_catalog.char_length(pg_catalog.replace(v_text, '{{' || v_id || '}}', '')))
               <> pg_catalog.char_length(v_id) + 4 THEN
                RETURN 'every blank must appear exactly once in text as {{id}}';
            END IF;
        END LOOP;
        RETURN NULL;
    WHEN 'matching' THEN
        RETURN coalesce(assessment.keys_problem(p_definition, '{prompts,choices}', '{prompts,choices}', 'definition'),
                        assessment.item_list_problem(p_definition -> 'prompts', 'prompts', 2, 20),
                        assessment.item_list_problem(p_definition -> 'choices', 'choices', 2, 30));
    WHEN 'ordering' THEN
        RETURN coalesce(assessment.keys_problem(p_definition, '{items}', '{items}', 'definition'),
                        assessment.item_list_problem(p_definition -> 'items', 'items', 2, 20));
    WHEN 'numeric' THEN
        v_problem := assessment.keys_problem(p_definition, '{}', '{unit}', 'definition');
        IF v_problem IS NULL AND p_definition ? 'unit'
           AND NOT assessment.is_string_between(p_definition -> 'unit', 1, 20) THEN
            v_problem := 'unit must be a string of 1-20 characters';
        END IF;
        RETURN v_problem;
    WHEN 'file_upload' THEN
        v_problem := assessment.keys_problem(p_definition, '{}', '{max_files,accepted_mime_types}', 'definition');
        IF v_problem IS NULL AND p_definition ? 'max_files'
           AND NOT assessment.is_integer_between(p_definition -> 'max_files', 1, 20) THEN
            v_problem := 'max_files must be an integer from 1 to 20';
        END IF;
        IF v_problem IS NULL AND p_definition ? 'accepted_mime_types'
           AND (pg_catalog.jsonb_typeof(p_definition -> 'accepted_mime_types') <> 'array'
                OR pg_catalog.jsonb_array_length(p_definition -> 'accepted_mime_types') NOT BETWEEN 1 AND 20
                OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(p_definition -> 'accepted_mime_types') AS e (v)
                            WHERE pg_catalog.jsonb_typeof(e.v) <> 'string'
                               OR (e.v #>> '{}') !~ '^[a-z0-9][a-z0-9.+-]*/([a-z0-9][a-z0-9.+-]*|\*)$')) THEN
            v_problem := 'accepted_mime_types must be an array of 1-20 MIME types such as application/pdf or image/*';
        END IF;
        RETURN v_problem;
    WHEN 'code' THEN
        v_problem := assessment.keys_problem(p_definition, '{language}', '{language,starter_code,tests}', 'definition');
        IF v_problem IS NOT NULL THEN
            RETURN v_problem;
        END IF;
        IF NOT coalesce((p_definition ->> 'language') IN (
               'c', 'cpp', 'csharp', 'go', 'java', 'javascript', 'kotlin', 'php', 'python', 'r', 'ruby',
               'rust', 'scala', 'sql', 'swift', 'typescript'), false)
           OR pg_catalog.jsonb_typeof(p_definition -> 'language') <> 'string' THEN
            RETURN 'language must be one of c, cpp, csharp, go, java, javascript, kotlin, php, python, r, ruby, rust, scala, sql, swift, typescript';
        END IF;
        IF p_definition ? 'starter_code' AND NOT assessment.is_string_between(p_definition -> 'starter_code', 0, 100000) THEN
            RETURN 'starter_code must be a string of at most 100000 characters';
        END IF;
        IF p_definition ? 'tests' THEN
            RETURN assessment.code_tests_problem(p_definition -> 'tests', 'tests');
        END IF;
        RETURN NULL;
    ELSE
        RETURN 'unknown question type';
    END CASE;
END
$$;
COMMENT ON FUNCTION assessment.definition_problem(text, jsonb) IS
'NULL when p_definition is a valid learner-visible definition of a p_question_type question, else the reason. Shapes (no other keys allowed, so no answer can hide in a definition): multiple_choice_single / multiple_choice_multiple {"options": [2-20 {"id", "text"}]}; true_false {}; short_answer {"max_length"?: 1-1000}; essay {"max_length"?: 1-100000}; fill_in_the_blank {"text": 1-5000 characters with each blank once as {{id}}, "blanks": [1-20 distinct ids [A-Za-z0-9_-]{1,30}]}; matching {"prompts": [2-20 items], "choices": [2-30 items]}; ordering {"items": [2-20 items]}; numeric {"unit"?: 1-20 characters}; file_upload {"max_files"?: 1-20, "accepted_mime_types"?: [1-20 MIME types]}; code {"language": one of c, cpp, csharp, go, java, javascript, kotlin, php, python, r, ruby, rust, scala, sql, swift, typescript, "starter_code"?: string, "tests"?: [<=50 {"name", "input", "expected_output"}] (public tests)}. An item is {"id": 1-50 characters, "text": 1-2000 characters}, ids unique in their list.';

-- ---------------------------------------------------------------------------
-- answer_key_problem(type, definition, key): the staff-only part.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.answer_key_problem(p_question_type text, p_definition jsonb, p_answer_key jsonb)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_problem text;
    v_ids text[];
    v_blank text;
BEGIN
    IF assessment.definition_problem(p_question_type, p_definition) IS NOT NULL THEN
        RETURN 'the question definition is not valid';
    END IF;
    CASE p_question_type
    WHEN 'multiple_choice_single' THEN
        v_problem := assessment.keys_problem(p_answer_key, '{correct}', '{correct}', 'answer key');
        IF v_problem IS NULL AND (pg_catalog.jsonb_typeof(p_answer_key -> 'correct') <> 'string'
                                  OR NOT (p_answer_key ->> 'correct') = ANY (assessment.item_ids(p_definition -> 'options'))) THEN
            v_problem := 'correct must be the id of one option';
        END IF;
        RETURN v_problem;
    WHEN 'multiple_choice_multiple' THEN
        RETURN coalesce(assessment.keys_problem(p_answer_key, '{correct}', '{correct}', 'answer key'),
                        assessment.id_array_problem(p_answer_key -> 'correct',
                                                    assessment.item_ids(p_definition -> 'options'), 'correct', 1));
    WHEN 'true_false' THEN
        v_problem := assessment.keys_problem(p_answer_key, '{correct}', '{correct}', 'answer key');
        IF v_problem IS NULL AND pg_catalog.jsonb_typeof(p_answer_key -> 'correct') <> 'boolean' THEN
            v_problem := 'correct must be true or false';
        END IF;
        RETURN v_problem;
    WHEN 'short_answer' THEN
        RETURN assessment.accepted_problem(p_answer_key, 'answer key');
    WHEN 'fill_in_the_blank' THEN
        v_problem := assessment.keys_problem(p_answer_key, '{blanks}', '{blanks}', 'answer key');
        IF v_problem IS NOT NULL THEN
            RETURN v_problem;
        END IF;
        v_ids := ARRAY(SELECT e.v FROM pg_catalog.jsonb_array_elements_text(p_definition -> 'blanks') AS e (v));
        v_problem := assessment.keys_problem(p_answer_key -> 'blanks', v_ids, v_ids, 'blanks');
        IF v_problem IS NOT NULL THEN
            RETURN 'blanks must be an object with exactly one entry per blank of the definition';
        END IF;
        FOREACH v_blank IN ARRAY v_ids LOOP
            v_problem := assessment.accepted_problem(p_answer_key -> 'blanks' -> v_blank, 'each blank');
            IF v_problem IS NOT NULL THEN
                RETURN v_problem;
            END IF;
        END LOOP;
        RETURN NULL;
    WHEN 'matching' THEN
        v_problem := assessment.keys_problem(p_answer_key, '{pairs}', '{pairs}', 'answer key');
        IF v_problem IS NOT NULL THEN
            RETURN v_problem;
        END IF;
        v_ids := assessment.item_ids(p_definition -> 'prompts');
        IF assessment.keys_problem(p_answer_key -> 'pairs', v_ids, v_ids, 'pairs') IS NOT NULL
           OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_each(p_answer_key -> 'pairs') AS e (k, v)
                       WHERE pg_catalog.jsonb_typeof(e.v) <> 'string'
                          OR NOT (e.v #>> '{}') = ANY (assessment.item_ids(p_definition -> 'choices'))) THEN
            RETURN 'pairs must map every prompt id to a choice id';
        END IF;
        RETURN NULL;
    WHEN 'ordering' THEN
        v_problem := assessment.keys_problem(p_answer_key, '{order}', '{order}', 'answer key');
        IF v_problem IS NULL THEN
            v_ids := assessment.item_ids(p_definition -> 'items');
            v_problem := assessment.id_array_problem(p_answer_key -> 'order', v_ids, 'order', 1);
            IF v_problem IS NULL AND pg_catalog.jsonb_array_length(p_answer_key -> 'order') <> pg_catalog.cardinality(v_ids) THEN
                v_problem := 'order must list every item id once';
            END IF;
        END IF;
        RETURN v_problem;
    WHEN 'numeric' THEN
        v_problem := assessment.keys_problem(p_answer_key, '{value}', '{value,tolerance,tolerance_type}', 'answer key');
        IF v_problem IS NOT NULL THEN
            RETURN v_problem;
        END IF;
        IF pg_catalog.jsonb_typeof(p_answer_key -> 'value') <> 'number'
           OR pg_catalog.abs((p_answer_key -> 'value')::numeric) >= 1e15 THEN
            RETURN 'value must be a number below 1e15 in magnitude';
        END IF;
        IF p_answer_key ? 'tolerance' AND (pg_catalog.jsonb_typeof(p_answer_key -> 'tolerance') <> 'number'
                                           OR (p_answer_key -> 'tolerance')::numeric NOT BETWEEN 0 AND 1e15) THEN
            RETURN 'tolerance must be a number from 0 to 1e15';
        END IF;
        IF p_answer_key ? 'tolerance_type'
           AND NOT coalesce((p_answer_key ->> 'tolerance_type') IN ('absolute', 'relative')
                            AND pg_catalog.jsonb_typeof(p_answer_key -> 'tolerance_type') = 'string', false) THEN
            RETURN 'tolerance_type must be absolute or relative';
        END IF;
        RETURN NULL;
    WHEN 'essay' THEN
        v_problem := assessment.keys_problem(p_answer_key, '{}', '{model_answer,grading_notes}', 'answer key');
    WHEN 'file_upload' THEN
        v_problem := assessment.keys_problem(p_answer_key, '{}', '{grading_notes}', 'answer key');
    WHEN 'code' THEN
        v_problem := assessment.keys_problem(p_answer_key, '{}', '{reference_solution,hidden_tests,grading_notes}', 'answer key');
        IF v_problem IS NULL AND p_answer_key ? 'hidden_tests' THEN
            v_problem := assessment.code_tests_problem(p_answer_key -> 'hidden_tests', 'hidden_tests');
        END IF;
        IF v_problem IS NULL AND p_answer_key ? 'reference_solution'
           AND NOT assessment.is_string_between(p_answer_key -> 'reference_solution', 0, 100000) THEN
            v_problem := 'reference_solution must be a string of at most 100000 characters';
        END IF;
    END CASE;
    -- Manual types: free-text notes.
    IF v_problem IS NULL AND EXISTS (
           SELECT 1 FROM pg_catalog.jsonb_each(p_answer_key) AS e (k, v)
            WHERE e.k IN ('model_answer', 'grading_notes') AND NOT assessment.is_string_between(e.v, 0, 100000)) THEN
        v_problem := 'model_answer and grading_notes must be strings of at most 100000 characters';
    END IF;
    RETURN v_problem;
END
$$;
COMMENT ON FUNCTION assessment.answer_key_problem(text, jsonb, jsonb) IS
'NULL when p_answer_key is a valid answer key for a p_question_type question with definition p_definition, else the reason (never a value of the key). Shapes: multiple_choice_single {"correct": option id}; multiple_choice_multiple {"correct": [>= 1 distinct option ids]}; true_false {"correct": boolean}; short_answer {"accepted": [1-50 answers of 1-500 characters], "case_sensitive"?: boolean (default false)}; fill_in_the_blank {"blanks": {<every blank id>: {"accepted": [...], "case_sensitive"?: boolean}}}; matching {"pairs": {<every prompt id>: choice id}} (a choice may serve several prompts); ordering {"order": [every item id once, in the correct order]}; numeric {"value": number (|value| < 1e15), "tolerance"?: number >= 0 (default 0), "tolerance_type"?: "absolute" (default) | "relative" (a fraction of |value|)}; essay {"model_answer"?, "grading_notes"?}; file_upload {"grading_notes"?}; code {"reference_solution"?, "hidden_tests"?: [tests], "grading_notes"?}.';

-- ---------------------------------------------------------------------------
-- response_problem(type, definition, response): a learner's answer.
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.response_problem(p_question_type text, p_definition jsonb, p_response jsonb)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_problem text;
    v_ids text[];
BEGIN
    IF assessment.definition_problem(p_question_type, p_definition) IS NOT NULL THEN
        RETURN 'the question definition is not valid';
    END IF;
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
COMMENT ON FUNCTION assessment.response_problem(text, jsonb, jsonb) IS
'NULL when p_response is a valid response to a p_question_type question with definition p_definition, else the reason. Shapes: multiple_choice_single {"selected": option id}; multiple_choice_multiple {"selected": [distinct option ids, may be empty]}; true_false {"answer": boolean}; short_answer / essay {"text": string up to max_length (default 1000 / 100000)}; fill_in_the_blank {"blanks": {blank id: string <= 500}} (a missing blank is unanswered); matching {"pairs": {prompt id: choice id}} (a missing prompt is unanswered); ordering {"order": [every item id once]}; numeric {"value": number, |value| < 1e15}; file_upload {"files": [1..max_files (default 1) distinct file ids, lower-case uuid text]} (content_management.files ids; that they exist is checked where the response is stored); code {"code": string <= 100000}.';

-- ---------------------------------------------------------------------------
-- The boolean forms (for CHECK constraints and triggers).
-- ---------------------------------------------------------------------------
CREATE FUNCTION assessment.check_definition_shape(p_question_type text, p_definition jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT assessment.definition_problem(p_question_type, p_definition) IS NULL
$$;
COMMENT ON FUNCTION assessment.check_definition_shape(text, jsonb) IS
'True when p_definition fits p_question_type (see definition_problem(), which also says why not). Used by ck_question_versions_definition.';

CREATE FUNCTION assessment.check_answer_key_shape(p_question_type text, p_definition jsonb, p_answer_key jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT assessment.answer_key_problem(p_question_type, p_definition, p_answer_key) IS NULL
$$;
COMMENT ON FUNCTION assessment.check_answer_key_shape(text, jsonb, jsonb) IS
'True when p_answer_key fits a p_question_type question with definition p_definition (see answer_key_problem()). Pure: it reads no table, so it reveals nothing about stored keys.';

CREATE FUNCTION assessment.check_response_shape(p_question_type text, p_definition jsonb, p_response jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT assessment.response_problem(p_question_type, p_definition, p_response) IS NULL
$$;
COMMENT ON FUNCTION assessment.check_response_shape(text, jsonb, jsonb) IS
'True when p_response fits a p_question_type question with definition p_definition (see response_problem(), which also says why not). For the CHECK or trigger of attempt responses; it needs only the learner-visible definition, never the answer key.';

-- ---------------------------------------------------------------------------
-- Grants: CHECKs and triggers run these with the writer's privileges, and the
-- application may call them to explain a rejected value. None reads a table.
-- ---------------------------------------------------------------------------
REVOKE ALL ON FUNCTION
assessment.is_auto_graded(text),
assessment.fold_answer(text, boolean),
assessment.keys_problem(jsonb, text[], text[], text),
assessment.is_integer_between(jsonb, numeric, numeric),
assessment.is_string_between(jsonb, integer, integer),
assessment.item_ids(jsonb),
assessment.item_list_problem(jsonb, text, integer, integer),
assessment.id_array_problem(jsonb, text[], text, integer),
assessment.accepted_problem(jsonb, text),
assessment.code_tests_problem(jsonb, text),
assessment.definition_problem(text, jsonb),
assessment.answer_key_problem(text, jsonb, jsonb),
assessment.response_problem(text, jsonb, jsonb),
assessment.check_definition_shape(text, jsonb),
assessment.check_answer_key_shape(text, jsonb, jsonb),
assessment.check_response_shape(text, jsonb, jsonb)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
assessment.is_auto_graded(text),
assessment.fold_answer(text, boolean),
assessment.keys_problem(jsonb, text[], text[], text),
assessment.is_integer_between(jsonb, numeric, numeric),
assessment.is_string_between(jsonb, integer, integer),
assessment.item_ids(jsonb),
assessment.item_list_problem(jsonb, text, integer, integer),
assessment.id_array_problem(jsonb, text[], text, integer),
assessment.accepted_problem(jsonb, text),
assessment.code_tests_problem(jsonb, text),
assessment.definition_problem(text, jsonb),
assessment.answer_key_problem(text, jsonb, jsonb),
assessment.response_problem(text, jsonb, jsonb),
assessment.check_definition_shape(text, jsonb),
assessment.check_answer_key_shape(text, jsonb, jsonb),
assessment.check_response_shape(text, jsonb, jsonb)
TO ${app_role};
