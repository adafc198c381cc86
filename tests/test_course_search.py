"""Course search (course_management.search_courses) and the keyset listing queries, as the app role.

search_courses() is a SECURITY DEFINER function owned by the maintenance role, whose only policy on
courses is SELECT USING (TRUE): that keeps the GIN indexes usable (@@ and pg_trgm's operators are not
LEAKPROOF, so under the app's policies they could never be index conditions). The price is that the
function must apply the tenant filter and the visibility rule of the courses policy itself; these
tests hold it to exactly that rule, for every kind of user, by comparing with the same match run as
the app role under RLS.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from .conftest import PgServer
from .identity_support import Tenant, add_user, create_tenant, grant, run
from .tenancy import manifest

SEARCH = "select course_id, title, matched_in, rank from course_management.search_courses(%s, %s, %s, %s)"

# The visibility rule search_courses() mirrors (migrations V0067): the courses entry of
# sql/manifest.d/course_management.yaml. When the manifest changes, change the function (a new
# migration) and then this constant; test_mirrored_rule_is_the_manifest_rule fails until both agree.
MIRRORED_VISIBLE_WHEN = (
    "deleted_at IS NULL AND (status = 'published' AND visibility <> 'private'"
    " OR status IN ('published', 'archived') AND EXISTS (SELECT 1 FROM course_management.enrollments AS e"
    " WHERE e.organization_id = courses.organization_id AND e.course_id = courses.id"
    " AND e.user_id = (SELECT app.current_user_id()) AND e.status <> 'cancelled'))"
    " OR (SELECT user_management.has_permission('course.view_unpublished'))"
    " OR id = any((SELECT user_management.permitted_course_ids('course.view_unpublished'))::uuid[])"
)
MIRRORED_STAFF_PERMISSION = "course.update"


@dataclass
class Catalog:
    a: Tenant
    b: Tenant
    courses: dict[str, uuid.UUID] = field(default_factory=dict)
    b_courses: dict[str, uuid.UUID] = field(default_factory=dict)


def add_course(tx: psycopg.Connection, app: str, t: Tenant, title: str, *, description: str | None = None,
               tags: tuple[str, ...] = (), status: str = "published", visibility: str = "organization") -> uuid.UUID:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") + "-" + uuid.uuid4().hex[:6]
    out = run(tx, app, t.id, t.owner,
              "insert into course_management.courses (organization_id, title, slug, description, tags, status,"
              " visibility) values (%s, %s, %s, %s, %s, %s, %s) returning id",
              (t.id, title, slug, description, list(tags), status, visibility))
    return out.value  # type: ignore[no-any-return]


def owner_does(tx: psycopg.Connection, app: str, t: Tenant, query: str, params: tuple[Any, ...]) -> None:
    out = run(tx, app, t.id, t.owner, query, params)
    assert out.ok, out


@pytest.fixture
def cat(tx: psycopg.Connection, pg: PgServer, app: str) -> Catalog:
    """Tenant A: learners, staff of several kinds, and courses in every state; tenant B: one of each."""
    a, b = create_tenant(tx, pg, "srcha"), create_tenant(tx, pg, "srchb")
    c = Catalog(a, b)
    c.courses["title"] = add_course(tx, app, a, "Python Basics", description="Learn to program step by step.",
                                    tags=("programming",))
    c.courses["description"] = add_course(tx, app, a, "Kitchen Automation",
                                          description="We use Python scripts to plan meals.", tags=("food",))
    c.courses["tags"] = add_course(tx, app, a, "Garden Design", description="Plants and soil.",
                                   tags=("python", "outdoor"))
    c.courses["unrelated"] = add_course(tx, app, a, "Pyramid Schemes Explained", description="Economics.")
    c.courses["draft"] = add_course(tx, app, a, "Python Drafting", description="Not ready.", status="draft")
    c.courses["draft_scoped"] = add_course(tx, app, a, "Python Scoped Draft", status="draft")
    c.courses["draft_ta"] = add_course(tx, app, a, "Python Assistant Draft", status="draft")
    c.courses["private"] = add_course(tx, app, a, "Python Private Cohort", visibility="private")
    c.courses["private_other"] = add_course(tx, app, a, "Python Private Other", visibility="private")
    c.courses["archived"] = add_course(tx, app, a, "Python Archive")
    c.courses["archived_other"] = add_course(tx, app, a, "Python Archive Other")
    c.courses["deleted"] = add_course(tx, app, a, "Python Deleted")
    for name in ("learner", "instructor"):
        add_user(tx, pg, a, name, role=name)
    add_user(tx, pg, a, "quitter", role="learner")
    # The learner is enrolled (by the owner) in the private course and in a course archived since;
    # the quitter was, and cancelled: that shows nothing.
    for who in ("learner", "quitter"):
        for k in ("private", "archived"):
            owner_does(tx, app, a, "insert into course_management.enrollments (organization_id, user_id, course_id)"
                       " values (%s, %s, %s)", (a.id, a.users[who], c.courses[k]))
    owner_does(tx, app, a, "update course_management.enrollments set status = 'cancelled' where user_id = %s",
               (a.users["quitter"],))
    for k in ("archived", "archived_other"):
        owner_does(tx, app, a, "update course_management.courses set status = 'archived' where id = %s",
                   (c.courses[k],))
    owner_does(tx, app, a, "update course_management.courses set deleted_at = now() where id = %s",
               (c.courses["deleted"],))
    add_user(tx, pg, a, "nobody")
    grant(tx, pg, a, add_user(tx, pg, a, "scoped"), "instructor", course=c.courses["draft_scoped"])
    grant(tx, pg, a, add_user(tx, pg, a, "ta"), "teaching_assistant", course=c.courses["draft_ta"])
    c.b_courses["python"] = add_course(tx, app, b, "Python Basics In B", description="Python for B.")
    c.b_courses["draft"] = add_course(tx, app, b, "Python B Draft", status="draft")
    add_user(tx, pg, b, "learner", role="learner")
    return c


def search(tx: psycopg.Connection, app: str, t: Tenant | None, user: uuid.UUID | None, query: str | None,
           limit: int = 100, after_rank: float | None = None, after_id: uuid.UUID | None = None) -> list[tuple]:
    out = run(tx, app, t.id if t else None, user, SEARCH, (query, limit, after_rank, after_id))
    assert out.ok, out
    return out.rows


def ids(rows: list[tuple]) -> list[uuid.UUID]:
    return [r[0] for r in rows]


# -------------------------------------------------------------------------------------------------
# Relevance
# -------------------------------------------------------------------------------------------------

def test_title_match_ranks_above_description_above_tags(tx: psycopg.Connection, app: str, cat: Catalog) -> None:
    rows = search(tx, app, cat.a, cat.a.users["learner"], "python")
    by_id = {r[0]: r for r in rows}
    title, desc, tags = (by_id[cat.courses[k]] for k in ("title", "description", "tags"))
    assert (title[2], desc[2], tags[2]) == ("title", "description", "tags")
    assert title[3] > desc[3] > tags[3]
    assert ids(rows).index(title[0]) < ids(rows).index(desc[0]) < ids(rows).index(tags[0])
    # Ordered by rank, highest first; every title match ahead of every description match ...
    ranks = [r[3] for r in rows]
    assert ranks == sorted(ranks, reverse=True)
    tiers = [{"title": 3, "description": 2, "tags": 1, "title_similarity": 0}[r[2]] for r in rows]
    assert tiers == sorted(tiers, reverse=True)


def test_two_words_rank_the_course_that_has_both_in_its_title_first(tx: psycopg.Connection, app: str,
                                                                    cat: Catalog) -> None:
    rows = search(tx, app, cat.a, cat.a.users["learner"], "python basics")
    assert rows[0][0] == cat.courses["title"] and rows[0][2] == "title"
    # websearch syntax: "-basics" excludes
    assert cat.courses["title"] not in ids(search(tx, app, cat.a, cat.a.users["learner"], "python -basics"))


def test_a_typo_still_finds_the_title(tx: psycopg.Connection, app: str, cat: Catalog) -> None:
    rows = search(tx, app, cat.a, cat.a.users["learner"], "pyhton")
    assert cat.courses["title"] in ids(rows), rows
    assert {r[2] for r in rows} == {"title_similarity"}
    assert cat.courses["unrelated"] not in ids(rows)  # 'Pyramid' is not close enough to 'pyhton'
    typo2 = search(tx, app, cat.a, cat.a.users["learner"], "pyhton basics")
    assert typo2[0][0] == cat.courses["title"]
    assert search(tx, app, cat.a, cat.a.users["learner"], "kitchn automaton")[0][0] == cat.courses["description"]


def test_stemming_and_case(tx: psycopg.Connection, app: str, cat: Catalog) -> None:
    """Configuration english: 'programs' and 'PROGRAMMING' find 'program' / the tag 'programming'."""
    for q in ("programs", "PROGRAMMING", "Plant"):
        assert search(tx, app, cat.a, cat.a.users["learner"], q), q


# -------------------------------------------------------------------------------------------------
# Tenancy and visibility
# -------------------------------------------------------------------------------------------------

def test_search_never_returns_another_tenants_courses(tx: psycopg.Connection, app: str, cat: Catalog) -> None:
    a_ids, b_ids = set(cat.courses.values()), set(cat.b_courses.values())
    for user in ("owner", "learner", "instructor", "nobody"):
        got = set(ids(search(tx, app, cat.a, cat.a.users[user], "python")))
        assert got and got <= a_ids, user
    got_b = set(ids(search(tx, app, cat.b, cat.b.owner, "python")))
    assert got_b == b_ids
    # Superuser check of where the rows really live, for a user of B.
    rows = search(tx, app, cat.b, cat.b.users["learner"], "python basics")
    orgs = {r[0] for r in tx.execute("select organization_id from course_management.courses where id = any(%s)",
                                     (ids(rows),))}
    assert orgs == {cat.b.id}


def test_no_context_or_a_foreign_user_sees_no_more_than_the_policy(tx: psycopg.Connection, app: str,
                                                                    cat: Catalog) -> None:
    assert search(tx, app, None, None, "python") == []
    # B's owner id under A's organization: no permission in A, so A's published courses only.
    got = set(ids(search(tx, app, cat.a, cat.b.owner, "python")))
    assert got == {cat.courses[k] for k in ("title", "description", "tags")}


def test_a_learner_never_gets_drafts(tx: psycopg.Connection, app: str, cat: Catalog) -> None:
    c = cat.courses
    public = {c[k] for k in ("title", "description", "tags")}
    expected = {"learner": public | {c["private"], c["archived"]}, "quitter": public, "nobody": public}
    for user, want in expected.items():
        got = set(ids(search(tx, app, cat.a, cat.a.users[user], "python")))
        assert got == want, user
        for k in ("draft", "draft_scoped", "draft_ta", "private_other", "archived_other", "deleted"):
            assert c[k] not in got
    assert search(tx, app, cat.a, cat.a.users["learner"], "drafting") == []


def test_staff_get_their_drafts(tx: psycopg.Connection, app: str, cat: Catalog) -> None:
    c = cat.courses
    org_wide = set(ids(search(tx, app, cat.a, cat.a.users["instructor"], "python")))
    assert {c["draft"], c["draft_scoped"], c["draft_ta"], c["private_other"], c["archived_other"]} <= org_wide
    assert c["deleted"] not in org_wide  # search lists live courses only
    scoped = set(ids(search(tx, app, cat.a, cat.a.users["scoped"], "python")))
    assert c["draft_scoped"] in scoped and c["draft"] not in scoped and c["draft_ta"] not in scoped
    ta = set(ids(search(tx, app, cat.a, cat.a.users["ta"], "python")))
    assert c["draft_ta"] in ta and c["draft_scoped"] not in ta and c["draft"] not in ta


@pytest.mark.parametrize("query", ["python", "pyhton", "python basics", "garden", "draft"])
def test_search_returns_exactly_what_the_courses_policy_shows(tx: psycopg.Connection, app: str, cat: Catalog,
                                                             query: str) -> None:
    """The same match written as the app role (RLS applies, no index) gives the same live courses."""
    same_match = (
        "select id from course_management.courses where deleted_at is null"
        " and (search_vector @@ websearch_to_tsquery('english', %s)"
        "      or (select bool_and(w operator(extensions.<<%%) title) from unnest(%s::text[]) as w))")
    words = query.split()  # no stop words and no -terms in these queries
    for t in (cat.a, cat.b):
        for user in t.users.values():
            with tx.transaction():
                tx.execute("set local pg_trgm.strict_word_similarity_threshold = 0.25")
                policy = run(tx, app, t.id, user, same_match, (query, words))
            assert policy.ok
            assert set(ids(search(tx, app, t, user, query))) == {r[0] for r in policy.rows}, (t.slug, user)


def test_mirrored_rule_is_the_manifest_rule() -> None:
    """search_courses() copies the courses policy; a change of the policy must reach the function."""
    courses = next(t for t in manifest() if t["name"] == "course_management.courses")
    def squeeze(text: str) -> str:  # layout-blind: the manifest's line breaks are not the rule
        return re.sub(r"\s+", "", text)

    assert squeeze(courses["visible_when"]) == squeeze(MIRRORED_VISIBLE_WHEN), (
        "the courses policy changed: update course_management.search_courses() (new migration) "
        "and MIRRORED_VISIBLE_WHEN")
    assert courses["staff_permission"] == MIRRORED_STAFF_PERMISSION
    assert courses.get("maintenance_read") is True


# -------------------------------------------------------------------------------------------------
# Paging and arguments
# -------------------------------------------------------------------------------------------------

def test_keyset_pages_concatenate_to_the_full_result(tx: psycopg.Connection, app: str, cat: Catalog) -> None:
    staff = cat.a.users["instructor"]
    full = search(tx, app, cat.a, staff, "python")
    assert len(full) >= 8
    pages: list[tuple] = []
    after: tuple[Any, Any] = (None, None)
    while True:
        page = search(tx, app, cat.a, staff, "python", 3, after[1], after[0])
        if not page:
            break
        pages += page
        after = (page[-1][0], page[-1][3])
    assert pages == full


@pytest.mark.parametrize("args", [("python", 0, None, None), ("python", 101, None, None),
                                  ("python", 10, 1.5, None), ("python", 10, None, uuid.uuid4()),
                                  ("x" * 201, 10, None, None)])
def test_bad_arguments_are_22023(tx: psycopg.Connection, app: str, cat: Catalog, args: tuple) -> None:
    out = run(tx, app, cat.a.id, cat.a.users["learner"], SEARCH, args)
    assert out.sqlstate == "22023"


@pytest.mark.parametrize("query", ["", "   ", None, "the"])
def test_empty_queries_find_nothing(tx: psycopg.Connection, app: str, cat: Catalog, query: str | None) -> None:
    assert search(tx, app, cat.a, cat.a.users["learner"], query) == []


def test_search_vector_follows_the_row(tx: psycopg.Connection, app: str, cat: Catalog) -> None:
    owner_does(tx, app, cat.a, "update course_management.courses set title = 'Rust Basics' where id = %s",
               (cat.courses["title"],))
    assert cat.courses["title"] in ids(search(tx, app, cat.a, cat.a.owner, "rust"))
    assert cat.courses["title"] not in ids(search(tx, app, cat.a, cat.a.owner, "python basics"))
    assert cat.courses["title"] in ids(search(tx, app, cat.a, cat.a.owner, "rust basisc"))  # typo
    # A written value is overwritten by the trigger (the app has no privilege on it anyway).
    row = tx.execute("select search_vector = course_management.course_search_vector(title, description, tags)"
                     " from course_management.courses where id = %s", (cat.courses["title"],)).fetchone()
    assert row == (True,)
    out = run(tx, app, cat.a.id, cat.a.owner,
              "update course_management.courses set search_vector = ''::tsvector where id = %s",
              (cat.courses["title"],))
    assert out.sqlstate == "42501"


def test_only_the_app_role_executes_search_and_it_belongs_to_maintenance(tx: psycopg.Connection,
                                                                       roles: dict[str, str]) -> None:
    fn = "course_management.search_courses(text, integer, double precision, uuid)"
    row = tx.execute(f"select pg_get_userbyid(proowner), prosecdef from pg_proc where oid = '{fn}'::regprocedure"
                     ).fetchone()
    assert row == (roles["maintenance_role"], True)
    got = {r: tx.execute("select has_function_privilege(%s, %s, 'EXECUTE')", (roles[r], fn)).fetchone()[0]  # type: ignore[index]
           for r in ("app_role", "readonly_role")}
    assert got == {"app_role": True, "readonly_role": False}
    # The maintenance role reads courses (SELECT policy TO it alone), writes nothing.
    pols = tx.execute("select polcmd, pg_get_expr(polqual, polrelid) from pg_policy where polrelid ="
                      " 'course_management.courses'::regclass and polroles = array[(select oid from pg_roles"
                      " where rolname = %s)]", (roles["maintenance_role"],)).fetchall()
    assert pols == [("r", "true")]


# -------------------------------------------------------------------------------------------------
# Plans
# -------------------------------------------------------------------------------------------------

def bulk_courses(tx: psycopg.Connection, t: Tenant, n: int = 400) -> None:
    """Realistic selectivity for the planner (rolled back with the rest)."""
    tx.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
               (str(t.id), str(t.owner)))
    tx.execute("insert into course_management.courses (organization_id, title, slug, description, status)"
               " select %s, 'Bulk course ' || g, 'bulk-' || g, 'Filler text ' || g,"
               " case when g %% 10 = 0 then 'draft' else 'published' end from generate_series(1, %s) as g",
               (t.id, n))
    tx.execute("analyze course_management.courses")


def app_plan(tx: psycopg.Connection, app: str, t: Tenant, user: uuid.UUID, query: str,
             params: tuple[Any, ...] = ()) -> str:
    with tx.transaction(force_rollback=True):
        tx.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                   (str(t.id), str(user)))
        tx.execute(f'set local role "{app}"')
        tx.execute("set local enable_seqscan = off")
        return "\n".join(r[0] for r in tx.execute(("explain " + query).encode(), params))


def test_search_uses_the_gin_indexes(tx: psycopg.Connection, app: str, cat: Catalog) -> None:
    """The statement inside search_courses() (auto_explain of nested statements) reads both GIN indexes."""
    bulk_courses(tx, cat.a)
    notices: list[str] = []

    def keep(d: psycopg.errors.Diagnostic) -> None:
        notices.append(d.message_primary or "")

    tx.execute("load 'auto_explain'")
    tx.add_notice_handler(keep)
    try:
        with tx.transaction(force_rollback=True):
            tx.execute("set local auto_explain.log_min_duration = 0; set local auto_explain.log_nested_statements = on;"
                       " set local client_min_messages = log; set local enable_seqscan = off")
            search(tx, app, cat.a, cat.a.users["learner"], "python basics")
    finally:
        tx.remove_notice_handler(keep)
    plan = next(m for m in notices if "WITH matches" in m)
    assert "idx_courses_search_vector_gin" in plan, plan
    assert "idx_courses_title_trgm" in plan, plan


@pytest.mark.parametrize("query, index, cond", [
    ("select id from course_management.courses where status = 'published' and deleted_at is null"
     " order by published_at desc, id desc limit 20",
     "idx_courses_organization_id_published_at_id", "organization_id = "),
    ("select id from course_management.courses where status = 'published' and deleted_at is null"
     " and (published_at, id) < (now(), '00000000-0000-0000-0000-000000000000')"
     " order by published_at desc, id desc limit 20",
     "idx_courses_organization_id_published_at_id", "ROW(published_at, id) < "),
    ("select id from course_management.courses where deleted_at is null order by title, id limit 20",
     "idx_courses_organization_id_title_id", "organization_id = "),
    ("select id from course_management.courses where deleted_at is null"
     " and (title, id) > ('M', '00000000-0000-0000-0000-000000000000') order by title, id limit 20",
     "idx_courses_organization_id_title_id", "ROW(title, id) > "),
])
def test_catalog_listings_use_index_conditions_under_rls(tx: psycopg.Connection, app: str, cat: Catalog,
                                                          query: str, index: str, cond: str) -> None:
    bulk_courses(tx, cat.a)
    for user in ("learner", "instructor"):
        text = app_plan(tx, app, cat.a, cat.a.users[user], query)
        assert f"using {index}" in text, text
        assert any(cond in line for line in text.splitlines() if "Index Cond" in line), text
        assert "Sort" not in text, text  # the order comes from the index


def test_enrollment_and_lesson_listings_use_index_conditions_under_rls(tx: psycopg.Connection, app: str,
                                                                        cat: Catalog) -> None:
    learner = cat.a.users["learner"]
    # Realistic selectivity: the learner holds a few hundred enrollments (rolled back with the rest).
    bulk_courses(tx, cat.a)
    # Enrollment times spread over the past (all equal to now() they would make the keyset condition
    # look empty to the planner, which then rightly prefers a bitmap scan plus sort of ~1 row).
    tx.execute("insert into course_management.enrollments (organization_id, user_id, course_id, enrolled_at)"
               " select organization_id, %s, id, now() - make_interval(hours => row_number() over (order by id)::int)"
               " from course_management.courses"
               " where organization_id = %s and slug like 'bulk-%%' and status = 'published'",
               (learner, cat.a.id))
    tx.execute("analyze course_management.enrollments")
    text = app_plan(tx, app, cat.a, learner,
                    "select id from course_management.enrollments where user_id = %s"
                    " and (enrolled_at, id) < (now(), '00000000-0000-0000-0000-000000000000')"
                    " order by enrolled_at desc, id desc limit 20", (learner,))
    assert "idx_enrollments_organization_id_user_id_enrolled_at_id" in text, text
    conds = " ".join(line for line in text.splitlines() if "Index Cond" in line)
    assert "user_id = " in conds and "ROW(enrolled_at, id) < " in conds, text
    assert "Sort" not in text, text
    text = app_plan(tx, app, cat.a, learner,
                    "select id from course_management.lessons where module_id = %s and position > 0"
                    " order by position limit 50", (uuid.uuid4(),))
    assert "uq_lessons_organization_id_module_id_position" in text, text
    conds = " ".join(line for line in text.splitlines() if "Index Cond" in line)
    assert "module_id = " in conds and re.search(r'"?position"? > ', conds), text
