-- =============================================================================
-- V0036__create_outline_reorder_functions
-- Purpose:       put the modules of a course, or the lessons of a module, in a
--                new order in one call: positions become exactly 1..n in the
--                order of the given ids.
-- Concern:       course_management.reorder_modules(), reorder_lessons().
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Why SECURITY DEFINER: the app has no privilege on position (positions change
--                only through these functions and the position triggers, which
--                is what keeps them 1..n); the functions check the caller's
--                course.update for the course themselves (42501).
-- Errors:        (in this order) 42501 no acting user / lacking course.update
--                for the course; P0002 no live course / module of that id in
--                the organization;
--                22023 the array is not a permutation of the live children
--                (DETAIL says what is missing, extra or repeated).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Internal: is p_given a permutation of p_live? NULL = yes, else the reason.
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.permutation_problem(p_given uuid[], p_live uuid[])
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN p_given IS NULL OR pg_catalog.array_ndims(p_given) > 1 THEN
                   'the ids must be a one-dimensional array'
               WHEN pg_catalog.array_position(p_given, NULL) IS NOT NULL THEN
                   'the ids must not contain NULL'
               WHEN (SELECT pg_catalog.count(DISTINCT g.id) FROM pg_catalog.unnest(p_given) AS g (id))
                    <> coalesce(pg_catalog.cardinality(p_given), 0) THEN
                   'repeated: ' || (SELECT pg_catalog.string_agg(d.id::text, ', ' ORDER BY d.id)
                                      FROM (SELECT g.id
                                              FROM pg_catalog.unnest(p_given) AS g (id)
                                             GROUP BY g.id
                                            HAVING pg_catalog.count(*) > 1) AS d)
               WHEN NOT (p_given OPERATOR(pg_catalog.@>) coalesce(p_live, '{}'::uuid[])
                         AND p_given OPERATOR(pg_catalog.<@) coalesce(p_live, '{}'::uuid[])) THEN
                   pg_catalog.concat_ws('; ',
                       'missing: ' || (SELECT pg_catalog.string_agg(l.id::text, ', ' ORDER BY l.id)
                                         FROM pg_catalog.unnest(p_live) AS l (id)
                                        WHERE NOT l.id = ANY (p_given)),
                       'not live children: ' || (SELECT pg_catalog.string_agg(g.id::text, ', ' ORDER BY g.id)
                                                   FROM pg_catalog.unnest(p_given) AS g (id)
                                                  WHERE NOT g.id = ANY (coalesce(p_live, '{}'::uuid[]))))
           END
$$;
COMMENT ON FUNCTION course_management.permutation_problem(uuid[], uuid[]) IS
'Internal: NULL when p_given is a permutation of p_live (same ids, each once, no NULL); otherwise a sentence naming the problem (NULL element, repeated ids, ids missing, ids that are not live children) for the DETAIL of a 22023 error.';
REVOKE ALL ON FUNCTION course_management.permutation_problem(uuid[], uuid[]) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- reorder_modules
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.reorder_modules(p_course_id uuid, p_module_ids uuid[])
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_live uuid[];
    v_problem text;
    v_moved integer;
BEGIN
    PERFORM user_management.require_permission('course.update', p_course_id);
    -- The course row lock serialises this with every other position change of
    -- the course (inserts, deletes, undeletes, other reorders).
    PERFORM 1
       FROM course_management.courses AS c
      WHERE c.organization_id = v_organization_id
        AND c.id = p_course_id
        AND c.deleted_at IS NULL
        FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live course % in the organization', p_course_id USING ERRCODE = 'P0002';
    END IF;

    SELECT coalesce(pg_catalog.array_agg(m.id ORDER BY m.position), '{}'::uuid[]) INTO v_live
      FROM course_management.modules AS m
     WHERE m.organization_id = v_organization_id
       AND m.course_id = p_course_id
       AND m.deleted_at IS NULL;
    v_problem := course_management.permutation_problem(p_module_ids, v_live);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'p_module_ids must list every live module of course % exactly once', p_course_id
              USING ERRCODE = '22023',
                    DETAIL = v_problem || '.',
                    HINT = 'Pass the ids of all live modules of the course in the new order.';
    END IF;

    UPDATE course_management.modules AS m
       SET position = o.ord::integer
      FROM pg_catalog.unnest(p_module_ids) WITH ORDINALITY AS o (id, ord)
     WHERE m.organization_id = v_organization_id
       AND m.course_id = p_course_id
       AND m.id = o.id
       AND m.position IS DISTINCT FROM o.ord::integer;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    RETURN v_moved;
END
$$;
COMMENT ON FUNCTION course_management.reorder_modules(uuid, uuid[]) IS
'Puts the live modules of course p_course_id in the order of p_module_ids (position = index in the array, 1..n) and returns how many modules moved. p_module_ids must be a permutation of the course''s live modules (22023 with DETAIL otherwise). Needs course.update for the course (42501); P0002 when there is no live course of that id. Locks the course row, so it runs one after the other with inserts, deletes and other reorders of the course.';
REVOKE ALL ON FUNCTION course_management.reorder_modules(uuid, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION course_management.reorder_modules(uuid, uuid[]) TO ${app_role};

-- ---------------------------------------------------------------------------
-- reorder_lessons
-- ---------------------------------------------------------------------------
CREATE FUNCTION course_management.reorder_lessons(p_module_id uuid, p_lesson_ids uuid[])
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = course_management, pg_temp
AS $$
DECLARE
    v_organization_id uuid := app.current_organization_id();
    v_course_id uuid;
    v_live uuid[];
    v_problem text;
    v_moved integer;
BEGIN
    PERFORM user_management.require_acting_user();
    -- The module's course decides the permission; a caller without it learns
    -- nothing about the module (42501 before P0002).
    SELECT m.course_id INTO v_course_id
      FROM course_management.modules AS m
     WHERE m.organization_id = v_organization_id
       AND m.id = p_module_id;
    PERFORM user_management.require_permission('course.update', v_course_id);
    -- The module row lock serialises this with every other position change of
    -- the module (inserts, deletes, undeletes, other reorders).
    PERFORM 1
       FROM course_management.modules AS m
      WHERE m.organization_id = v_organization_id
        AND m.id = p_module_id
        AND m.deleted_at IS NULL
        FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live module % in the organization', p_module_id USING ERRCODE = 'P0002';
    END IF;

    SELECT coalesce(pg_catalog.array_agg(l.id ORDER BY l.position), '{}'::uuid[]) INTO v_live
      FROM course_management.lessons AS l
     WHERE l.organization_id = v_organization_id
       AND l.module_id = p_module_id
       AND l.deleted_at IS NULL;
    v_problem := course_management.permutation_problem(p_lesson_ids, v_live);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'p_lesson_ids must list every live lesson of module % exactly once', p_module_id
              USING ERRCODE = '22023',
                    DETAIL = v_problem || '.',
                    HINT = 'Pass the ids of all live lessons of the module in the new order.';
    END IF;

    UPDATE course_management.lessons AS l
       SET position = o.ord::integer
      FROM pg_catalog.unnest(p_lesson_ids) WITH ORDINALITY AS o (id, ord)
     WHERE l.organization_id = v_organization_id
       AND l.module_id = p_module_id
       AND l.id = o.id
       AND l.position IS DISTINCT FROM o.ord::integer;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    RETURN v_moved;
END
$$;
COMMENT ON FUNCTION course_management.reorder_lessons(uuid, uuid[]) IS
'Puts the live lessons of module p_module_id in the order of p_lesson_ids (position = index in the array, 1..n) and returns how many lessons moved. p_lesson_ids must be a permutation of the module''s live lessons (22023 with DETAIL otherwise). Needs course.update for the module''s course (42501); P0002 when there is no live module of that id. Locks the module row, so it runs one after the other with inserts, deletes and other reorders of the module.';
REVOKE ALL ON FUNCTION course_management.reorder_lessons(uuid, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION course_management.reorder_lessons(uuid, uuid[]) TO ${app_role};
