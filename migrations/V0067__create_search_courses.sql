-- =============================================================================
-- V0067__create_search_courses
-- Purpose:       ranked course search for the current organization: full text
--                (search_vector, V0061) plus trigram similarity of the title
--                for typos ('pyhton' finds Python), through the GIN indexes of
--                V0063/V0064.
--                Why a SECURITY DEFINER function owned by the maintenance role:
--                under row-level security the planner evaluates the policy
--                before any qual whose function is not LEAKPROOF, and @@
--                (ts_match_vq) and pg_trgm's operators are not, so as the app
--                role neither index could ever be used: every search would
--                filter every course of the tenant. The maintenance role's only
--                policy on courses is SELECT USING (TRUE) (manifest
--                maintenance_read), which blocks nothing, so the index
--                conditions stay; the function then applies the tenant filter
--                and the course visibility rule of the courses policy itself
--                (tests/test_course_search.py compares both for every kind of
--                user).
-- Concern:       course_management.search_courses() and the grants it needs.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below); the function is handed
--                to ${maintenance_role} (the owner is a member of it, V0060).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- What the maintenance role's code needs: the trigram operators (schema
-- extensions) and the permission checks the visibility rule calls (SECURITY
-- DEFINER functions of the owner, evaluated in the caller's tenant context).
GRANT USAGE ON SCHEMA extensions TO ${maintenance_role};
GRANT EXECUTE ON FUNCTION user_management.has_permission(text, uuid),
user_management.permitted_course_ids(text)
TO ${maintenance_role};

CREATE FUNCTION course_management.search_courses(
    p_query text,
    p_limit integer DEFAULT 20,
    p_after_rank double precision DEFAULT NULL,
    p_after_id uuid DEFAULT NULL
)
RETURNS TABLE (
    course_id uuid,
    title text,
    slug text,
    status text,
    visibility text,
    difficulty text,
    tags text[],
    published_at timestamptz,
    rating_average numeric,
    matched_in text,
    rank double precision
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = course_management, pg_temp
-- Typo tolerance: each query word within this trigram similarity of a title word
-- (strict word similarity: 'pyhton' ~ 'Python' = 0.27, 'pyhton' ~ 'Pyramid' = 0.15).
SET "pg_trgm.strict_word_similarity_threshold" = 0.25
-- Plan with the actual query values (GIN selectivity), never a generic plan.
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_user_id uuid := app.current_user_id();
    v_text text := pg_catalog.btrim(p_query);
    v_query tsquery;
    -- Typo matching (trigrams) uses the query without its excluded terms (websearch
    -- syntax -word, -"a phrase"), and a typo match must not contain an excluded term.
    -- Like the full-text query it is an AND: every word (stop words left out) must be
    -- close to a word of the title; the longest words drive the trigram index scan.
    v_typo_text text;
    v_typo_words text[];
    v_excluded tsquery;
    -- The policy's permission tests, evaluated once (as its InitPlans are).
    v_view_unpublished boolean;
    v_view_unpublished_ids uuid[];
    v_staff boolean;
    v_staff_ids uuid[];
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'p_limit must be between 1 and 100, got %', p_limit
              USING ERRCODE = '22023';
    END IF;
    IF (p_after_rank IS NULL) <> (p_after_id IS NULL) THEN
        RAISE EXCEPTION 'p_after_rank and p_after_id go together (the last row of the previous page)'
              USING ERRCODE = '22023';
    END IF;
    IF pg_catalog.char_length(v_text) > 200 THEN
        RAISE EXCEPTION 'p_query must be at most 200 characters'
              USING ERRCODE = '22023';
    END IF;
    -- No tenant context = no rows (as under the policies); nothing to search for = no rows.
    IF v_organization_id IS NULL OR v_text IS NULL OR v_text = '' THEN
        RETURN;
    END IF;

    v_query := pg_catalog.websearch_to_tsquery('pg_catalog.english'::pg_catalog.regconfig, v_text);
    IF pg_catalog.numnode(v_query) = 0 THEN
        v_query := NULL;   -- only stop words: trigram matches only
    END IF;
    v_typo_text := NULLIF(pg_catalog.btrim(pg_catalog.regexp_replace(
                       v_text, '(^|\s)-("[^"]*"|\S+)', ' ', 'g')), '');
    SELECT pg_catalog.websearch_to_tsquery('pg_catalog.english'::pg_catalog.regconfig,
                                           pg_catalog.string_agg(m.term[2], ' or '))
      INTO v_excluded
      FROM pg_catalog.regexp_matches(v_text, '(^|\s)-("[^"]*"|\S+)', 'g') AS m (term);
    SELECT pg_catalog.array_agg(w.word ORDER BY pg_catalog.char_length(w.word) DESC, w.word)
      INTO v_typo_words
      FROM (SELECT DISTINCT t.word
              FROM pg_catalog.regexp_split_to_table(pg_catalog.lower(v_typo_text),
                                                    '[[:space:][:punct:]]+') AS t (word)
             WHERE t.word <> '') AS w
     WHERE pg_catalog.length(pg_catalog.to_tsvector('pg_catalog.english'::pg_catalog.regconfig, w.word)) > 0;

    v_view_unpublished := user_management.has_permission('course.view_unpublished');
    v_view_unpublished_ids := user_management.permitted_course_ids('course.view_unpublished');
    v_staff := user_management.has_permission('course.update');
    v_staff_ids := user_management.permitted_course_ids('course.update');

    RETURN QUERY
    WITH matches AS (
        SELECT c.id,
               c.title,
               c.slug,
               c.status,
               c.visibility,
               c.difficulty,
               c.tags,
               c.published_at,
               c.rating_average,
               -- Which fields the full-text match needs: the title alone, title and
               -- description, or the tags as well; 0 = a trigram (typo) match only.
               CASE
                   WHEN v_query IS NULL OR NOT c.search_vector OPERATOR(pg_catalog.@@) v_query THEN 0
                   WHEN pg_catalog.ts_filter(c.search_vector, '{a}') OPERATOR(pg_catalog.@@) v_query THEN 3
                   WHEN pg_catalog.ts_filter(c.search_vector, '{a,b}') OPERATOR(pg_catalog.@@) v_query THEN 2
                   ELSE 1
               END AS tier,
               coalesce(pg_catalog.ts_rank_cd(c.search_vector, v_query, 32), 0)::double precision AS text_rank,
               coalesce(extensions.strict_word_similarity(v_typo_text, c.title), 0)::double precision
                   AS title_similarity
          FROM course_management.courses AS c
         WHERE c.organization_id = v_organization_id
           AND c.deleted_at IS NULL
           AND (c.search_vector OPERATOR(pg_catalog.@@) v_query
                -- The three longest words as index conditions (one GIN scan; custom plans
                -- fold the absent ones away), the others checked on the candidates.
                OR (v_typo_words[1] OPERATOR(extensions.<<%) c.title
                    AND (v_typo_words[2] IS NULL OR v_typo_words[2] OPERATOR(extensions.<<%) c.title)
                    AND (v_typo_words[3] IS NULL OR v_typo_words[3] OPERATOR(extensions.<<%) c.title)
                    AND NOT EXISTS (SELECT 1
                                      FROM pg_catalog.unnest(v_typo_words[4:]) AS w (word)
                                     WHERE NOT w.word OPERATOR(extensions.<<%) c.title)
                    AND NOT coalesce(c.search_vector OPERATOR(pg_catalog.@@) v_excluded, FALSE)))
           -- The visibility rule of pol_courses_select_visible (manifest entry of
           -- courses, profile course_catalog): visible_when OR staff (course.update).
           -- Its deleted_at IS NULL is above (search lists live courses only, for
           -- staff too).
           AND (
               (c.status = 'published' AND c.visibility <> 'private')
               OR (c.status IN ('published', 'archived')
                   AND EXISTS (SELECT 1
                                 FROM course_management.enrollments AS e
                                WHERE e.organization_id = c.organization_id
                                  AND e.organization_id = v_organization_id
                                  AND e.course_id = c.id
                                  AND e.user_id = v_user_id
                                  AND e.status <> 'cancelled'))
               OR v_view_unpublished
               OR c.id = ANY (v_view_unpublished_ids)
               OR v_staff
               OR c.id = ANY (v_staff_ids)
           )
    ),
    ranked AS (
        SELECT m.*,
               -- tier + two components in [0, 0.5): a row never leaves its tier.
               m.tier + 0.5 * m.text_rank + 0.4995 * m.title_similarity AS rank
          FROM matches AS m
    )
    SELECT r.id, r.title, r.slug, r.status, r.visibility, r.difficulty, r.tags,
           r.published_at, r.rating_average,
           CASE r.tier
               WHEN 3 THEN 'title'
               WHEN 2 THEN 'description'
               WHEN 1 THEN 'tags'
               ELSE 'title_similarity'
           END,
           r.rank
      FROM ranked AS r
     WHERE p_after_rank IS NULL
        OR (r.rank, r.id) < (p_after_rank, p_after_id)
     ORDER BY r.rank DESC, r.id DESC
     LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION course_management.search_courses(text, integer, double precision, uuid) IS
'Ranked search of the current organization''s live courses that the acting user may see (exactly the rule of pol_courses_select_visible: published and not private; published or archived with an enrollment of the user that is not cancelled; course.view_unpublished or staff with course.update, organization-wide or for the course). Matches: full text (websearch_to_tsquery(''english'', p_query) against search_vector) or, for typos, every word of the query (stop words and excluded -terms left out) within trigram strict word similarity 0.25 of the title (and never a course containing an excluded term). rank = tier + 0.5 * ts_rank_cd(search_vector, query, 32) + 0.4995 * strict_word_similarity(query without -terms, title), where tier is 3 when the title alone matches the full-text query, 2 when title and description do, 1 when the tags are needed, 0 for a typo (trigram) match only: a title match always ranks above a description match above a tags match above a typo match. Ordered by rank DESC, course_id DESC; next page: pass the last row''s rank and course_id as p_after_rank, p_after_id (keyset). p_limit 1-100, p_query at most 200 characters (22023). No tenant context or an empty query: no rows. SECURITY DEFINER, owned by the maintenance role so that the GIN indexes can be used (see V0067).';
REVOKE ALL ON FUNCTION course_management.search_courses(text, integer, double precision, uuid)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION course_management.search_courses(text, integer, double precision, uuid)
TO ${app_role};

-- Hand the function to the maintenance role. ALTER ... OWNER TO needs the new
-- owner to hold CREATE on the schema: granted for this statement only (same
-- transaction), so the maintenance role never creates anything itself.
GRANT CREATE ON SCHEMA course_management TO ${maintenance_role};
ALTER FUNCTION course_management.search_courses(text, integer, double precision, uuid)
OWNER TO ${maintenance_role};
REVOKE CREATE ON SCHEMA course_management FROM ${maintenance_role};
