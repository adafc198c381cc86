"""analytics.course_statistics: refresh (complete, then CONCURRENTLY), its bookkeeping, and the
tenant-filtered read function get_course_statistics(), on a fresh clone per test (committed data).

Decision tested here: a caller who may analyse no course (a learner) gets 42501, not an empty result,
like every other permission refusal of the schema (sql/CONVENTIONS.md, "Errors").
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator

import psycopg
import pytest
from psycopg import sql

from .conftest import PgServer
from .identity_support import Tenant, add_user, create_tenant, grant, run

STATS = ("select course_id, enrollment_count, active_learner_count, average_progress_percent, completion_count,"
         " completion_rate_percent, average_rating, rating_count from analytics.get_course_statistics(%s)"
         " order by course_id")

# The definitions of analytics.course_statistics, recomputed straight from the base tables.
RECOMPUTE = """
    select c.organization_id, c.id,
           count(e.id) filter (where e.status <> 'cancelled'),
           count(e.id) filter (where e.status <> 'cancelled' and greatest(e.last_accessed_at,
               (select max(lp.updated_at) from course_management.lesson_progress lp
                 where lp.organization_id = e.organization_id and lp.enrollment_id = e.id))
               >= now() - interval '30 days'),
           round(avg(e.progress_percent) filter (where e.status <> 'cancelled'), 2),
           count(e.id) filter (where e.status = 'completed'),
           round(100.0 * count(e.id) filter (where e.status = 'completed')
                 / nullif(count(e.id) filter (where e.status <> 'cancelled'), 0), 2),
           (select round(avg(r.rating), 2) from course_management.course_reviews r
             where r.organization_id = c.organization_id and r.course_id = c.id and r.deleted_at is null),
           (select count(*) from course_management.course_reviews r
             where r.organization_id = c.organization_id and r.course_id = c.id and r.deleted_at is null)
      from course_management.courses c
      left join course_management.enrollments e on e.organization_id = c.organization_id and e.course_id = c.id
     where c.deleted_at is null
     group by c.organization_id, c.id
     order by 1, 2"""
VIEW = """
    select organization_id, course_id, enrollment_count, active_learner_count, average_progress_percent,
           completion_count, completion_rate_percent, average_rating, rating_count
      from analytics.course_statistics order by 1, 2"""


@dataclass
class World:
    conn: psycopg.Connection
    app: str
    a: Tenant
    b: Tenant
    courses: dict[str, uuid.UUID] = field(default_factory=dict)
    enrollments: dict[str, uuid.UUID] = field(default_factory=dict)


def ok(conn: psycopg.Connection, app: str, t: Tenant, user: uuid.UUID, query: str,
       params: tuple[Any, ...] = ()) -> Any:
    out = run(conn, app, t.id, user, query, params)
    assert out.ok, (query, out)
    return out.rows[0][0] if out.rows else None


def course(w: World, t: Tenant, key: str, status: str = "published") -> uuid.UUID:
    cid = ok(w.conn, w.app, t, t.owner,
             "insert into course_management.courses (organization_id, title, slug, status)"
             " values (%s, %s, %s, %s) returning id", (t.id, f"Course {key}", f"course-{key}", status))
    w.courses[key] = cid
    return cid  # type: ignore[no-any-return]


def enroll(w: World, t: Tenant, learner: str, key: str) -> uuid.UUID:
    eid = ok(w.conn, w.app, t, t.users[learner],
             "insert into course_management.enrollments (organization_id, user_id, course_id)"
             " values (%s, %s, %s) returning id", (t.id, t.users[learner], w.courses[key]))
    w.enrollments[f"{learner}:{key}"] = eid
    return eid  # type: ignore[no-any-return]


def refresh(conn: psycopg.Connection, pg: PgServer) -> tuple[Any, ...]:
    """As the migrator (the refresh is granted to the owner and the migrator only)."""
    with conn.transaction():
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(pg.roles["migrator_role"])))
        row = conn.execute("select * from analytics.refresh_course_statistics()").fetchone()
    assert row is not None
    return tuple(row)


@pytest.fixture
def world(pg: PgServer, db: str, app: str) -> Iterator[World]:
    """Committed data in a fresh clone. Tenant A: courses c1 (one lesson), c2, a draft c3, a deleted c4;
    learners l1-l4, an org-wide instructor, an instructor of c1 only, an analyst (custom role with
    analytics.view only) for c2 only, a viewer. Tenant B: one course with one enrollment and review."""
    conn = pg.connect(db, autocommit=False)
    a, b = create_tenant(conn, pg, "stata"), create_tenant(conn, pg, "statb")
    w = World(conn, app, a, b)
    for k in ("c1", "c2"):
        course(w, a, k)
    course(w, a, "c3", status="draft")
    course(w, a, "c4")
    course(w, b, "b1")
    for name in ("l1", "l2", "l3", "l4"):
        add_user(conn, pg, a, name, role="learner")
    add_user(conn, pg, b, "bl", role="learner")
    add_user(conn, pg, a, "instructor", role="instructor")
    grant(conn, pg, a, add_user(conn, pg, a, "scoped"), "instructor", course=w.courses["c1"])
    add_user(conn, pg, a, "viewer", role="viewer")
    analyst_role = ok(conn, app, a, a.owner, "insert into user_management.roles (organization_id, key, name)"
                      " values (%s, 'analyst', 'Analyst') returning id", (a.id,))
    ok(conn, app, a, a.owner, "select user_management.set_role_permissions(%s, array['analytics.view'])",
       (analyst_role,))
    grant(conn, pg, a, add_user(conn, pg, a, "analyst"), analyst_role, course=w.courses["c2"])

    module = ok(conn, app, a, a.owner, "insert into course_management.modules (organization_id, course_id, title)"
                " values (%s, %s, 'Module') returning id", (a.id, w.courses["c1"]))
    lesson = ok(conn, app, a, a.owner,
                "insert into course_management.lessons (organization_id, course_id, module_id, title)"
                " values (%s, %s, %s, 'Lesson') returning id", (a.id, w.courses["c1"], module))
    for learner in ("l1", "l2", "l3"):
        enroll(w, a, learner, "c1")
    enroll(w, a, "l4", "c2")
    enroll(w, a, "l1", "c2")
    enroll(w, b, "bl", "b1")
    # l1 completes c1 through its only lesson (the progress trigger completes the enrollment).
    ok(conn, app, a, a.users["l1"],
       "insert into course_management.lesson_progress (organization_id, enrollment_id, user_id, course_id,"
       " lesson_id, status) values (%s, %s, %s, %s, %s, 'completed') returning id",
       (a.id, w.enrollments["l1:c1"], a.users["l1"], w.courses["c1"], lesson))
    # l3 cancels c1; l4 opened c2 just now; reviews of c1 (one withdrawn) and of b1.
    ok(conn, app, a, a.users["l3"], "update course_management.enrollments set status = 'cancelled'"
       " where id = %s returning id", (w.enrollments["l3:c1"],))
    ok(conn, app, a, a.users["l4"], "update course_management.enrollments set last_accessed_at = now()"
       " where id = %s returning id", (w.enrollments["l4:c2"],))
    for learner, rating in (("l1", 5), ("l2", 2)):
        ok(conn, app, a, a.users[learner], "insert into course_management.course_reviews"
           " (organization_id, course_id, user_id, rating) values (%s, %s, %s, %s) returning id",
           (a.id, w.courses["c1"], a.users[learner], rating))
    ok(conn, app, a, a.users["l2"], "update course_management.course_reviews set deleted_at = now()"
       " where user_id = %s returning id", (a.users["l2"],))
    ok(conn, app, b, b.users["bl"], "insert into course_management.course_reviews"
       " (organization_id, course_id, user_id, rating) values (%s, %s, %s, 4) returning id",
       (b.id, w.courses["b1"], b.users["bl"]))
    ok(conn, app, a, a.owner, "update course_management.courses set deleted_at = now() where id = %s returning id",
       (w.courses["c4"],))
    # l2 accessed c1 long ago (the app cannot write the past: arranged as superuser, no context).
    conn.execute("select set_config('app.organization_id', '', true), set_config('app.user_id', '', true)")
    conn.execute("update course_management.enrollments set enrolled_at = now() - interval '90 days',"
                 " last_accessed_at = now() - interval '40 days' where id = %s", (w.enrollments["l2:c1"],))
    conn.commit()
    try:
        yield w
    finally:
        conn.rollback()
        conn.close()


# -------------------------------------------------------------------------------------------------
# Numbers
# -------------------------------------------------------------------------------------------------

def test_statistics_equal_a_recomputation_from_the_base_tables(world: World, pg: PgServer) -> None:
    conn = world.conn
    refresh(conn, pg)
    view, again = conn.execute(VIEW).fetchall(), conn.execute(RECOMPUTE).fetchall()
    assert view == again
    by_course = {r[1]: r[2:] for r in view}
    c = world.courses
    # c1: l1 completed (100 %), l2 active (0 %, last access 40 days ago), l3 cancelled (not counted);
    # ratings 5 and a withdrawn 2.
    assert by_course[c["c1"]] == (2, 1, Decimal("50.00"), 1, Decimal("50.00"), Decimal("5.00"), 1)
    # c2: l4 accessed now, l1 never: 2 enrolled, 1 active, no completion, no rating.
    assert by_course[c["c2"]] == (2, 1, Decimal("0.00"), 0, Decimal("0.00"), None, 0)
    assert by_course[c["c3"]] == (0, 0, None, 0, None, None, 0)  # draft: listed, nothing yet
    assert c["c4"] not in by_course  # deleted
    assert by_course[c["b1"]] == (1, 0, Decimal("0.00"), 0, Decimal("0.00"), Decimal("4.00"), 1)


def test_concurrent_refresh_of_a_populated_view_follows_changes_without_blocking_readers(
        world: World, pg: PgServer, db: str) -> None:
    conn, a, c = world.conn, world.a, world.courses
    first = refresh(conn, pg)
    assert first[3] is False  # populated by a complete refresh
    ok(conn, world.app, a, a.users["l2"], "update course_management.enrollments set status = 'cancelled'"
       " where id = %s returning id", (world.enrollments["l2:c1"],))
    enroll(world, a, "l4", "c1")
    conn.commit()
    # A reader holds the view open; CONCURRENTLY must not wait for it.
    reader = pg.connect(db, autocommit=False)
    try:
        reader.execute("select count(*) from analytics.course_statistics").fetchone()
        conn.execute("set lock_timeout = '3s'")
        second = refresh(conn, pg)
        conn.commit()
        assert reader.execute("select count(*) from analytics.course_statistics").fetchone()
    finally:
        reader.rollback()
        reader.close()
    assert second[3] is True
    assert conn.execute(VIEW).fetchall() == conn.execute(RECOMPUTE).fetchall()
    row = conn.execute("select enrollment_count, completion_count from analytics.course_statistics"
                       " where course_id = %s", (c["c1"],)).fetchone()
    assert row == (2, 1)  # l1 (completed) and l4; l2 and l3 cancelled


def test_concurrent_refreshes_queue_instead_of_failing(world: World, pg: PgServer, db: str) -> None:
    refresh(world.conn, pg)
    world.conn.commit()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with pg.connect(db, autocommit=False) as c:
                refresh(c, pg)
                c.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    row = world.conn.execute("select refresh_count from analytics.materialized_view_refreshes"
                             " where view_name = 'analytics.course_statistics'").fetchone()
    assert row == (5,)


def test_refresh_bookkeeping(world: World, pg: PgServer, app: str) -> None:
    conn = world.conn
    t1 = refresh(conn, pg)
    conn.commit()
    t2 = refresh(conn, pg)
    conn.commit()
    row = conn.execute("select view_name, last_refreshed_at, duration_ms, row_count, concurrent, refresh_count"
                       " from analytics.materialized_view_refreshes").fetchall()
    count = conn.execute("select count(*), min(refreshed_at), max(refreshed_at) from analytics.course_statistics"
                         ).fetchone()
    assert count is not None
    assert row == [("analytics.course_statistics", t2[0], t2[1], count[0], True, 2)]
    assert t2[0] > t1[0] and t2[1] >= 0 and count[1] == count[2] == t2[0]
    # Everyone reads the bookkeeping; nobody but the refresh writes it.
    a = world.a
    assert run(conn, app, a.id, a.users["l1"], "select row_count from analytics.materialized_view_refreshes"
               ).rows == [(count[0],)]
    for stmt in ("update analytics.materialized_view_refreshes set row_count = 0",
                 "delete from analytics.materialized_view_refreshes",
                 "select analytics.record_materialized_view_refresh('analytics.course_statistics', now(), 1, 1, true)"):
        assert run(conn, app, a.id, a.owner, stmt).sqlstate == "42501", stmt
    for role in ("app_role", "readonly_role"):
        assert run(conn, pg.roles[role], a.id, a.owner, "select * from analytics.refresh_course_statistics()"
                   ).sqlstate == "42501"
        assert run(conn, pg.roles[role], a.id, a.owner, "select * from analytics.course_statistics"
                   ).sqlstate == "42501"


# -------------------------------------------------------------------------------------------------
# Reading through get_course_statistics()
# -------------------------------------------------------------------------------------------------

def read(w: World, who: str, course: uuid.UUID | None = None, t: Tenant | None = None,
         role: str | None = None) -> Any:
    t = t or w.a
    return run(w.conn, role or w.app, t.id, t.users[who], STATS, (course,))


def test_staff_and_analysts_read_their_own_tenants_courses_only(world: World, pg: PgServer) -> None:
    refresh(world.conn, pg)
    world.conn.commit()
    c = world.courses
    a_live = sorted([c["c1"], c["c2"], c["c3"]])
    for who in ("owner", "instructor"):
        out = read(world, who)
        assert out.ok and [r[0] for r in out.rows] == a_live, who
    assert [r[0] for r in read(world, "scoped").rows] == [c["c1"]]
    assert [r[0] for r in read(world, "analyst").rows] == [c["c2"]]
    assert [r[0] for r in read(world, "owner", t=world.b).rows] == [c["b1"]]
    # Another tenant's course id under A's context: no row, no error.
    assert read(world, "owner", c["b1"]).rows == []
    one = read(world, "instructor", c["c1"])
    assert one.rows == [r for r in read(world, "owner").rows if r[0] == c["c1"]]
    # The read-only (reporting) role reads the same way, with an acting user.
    assert [r[0] for r in read(world, "instructor", role=pg.roles["readonly_role"]).rows] == a_live


@pytest.mark.parametrize("who, course_key", [("l1", None), ("l1", "c1"), ("viewer", None),
                                             ("scoped", "c2"), ("analyst", "c1")])
def test_learners_and_outsiders_are_refused(world: World, pg: PgServer, who: str, course_key: str | None) -> None:
    refresh(world.conn, pg)
    world.conn.commit()
    out = read(world, who, world.courses[course_key] if course_key else None)
    assert out.sqlstate == "42501"


def test_no_context_is_refused_and_an_unrefreshed_view_is_55000(world: World, pg: PgServer) -> None:
    assert run(world.conn, world.app, None, None, STATS, (None,)).sqlstate == "42501"
    assert run(world.conn, world.app, world.a.id, None, STATS, (None,)).sqlstate == "42501"
    assert read(world, "owner").sqlstate == "55000"  # never refreshed in this clone


def test_view_and_functions_belong_to_the_maintenance_role(world: World, pg: PgServer) -> None:
    conn, roles = world.conn, pg.roles
    assert conn.execute("select pg_get_userbyid(relowner), relkind from pg_class"
                        " where oid = 'analytics.course_statistics'::regclass").fetchone() == \
        (roles["maintenance_role"], "m")
    # The owner (and so the migrator) is a member of the maintenance role (V0060): it may run both.
    for fn, callers in (("analytics.refresh_course_statistics()", {"owner_role", "migrator_role"}),
                        ("analytics.get_course_statistics(uuid)", {"owner_role", "migrator_role", "app_role",
                                                                   "readonly_role"})):
        owner = conn.execute("select pg_get_userbyid(proowner) from pg_proc where oid = %s::regprocedure",
                             (fn,)).fetchone()
        assert owner == (roles["maintenance_role"],)
        for key in ("app_role", "readonly_role", "migrator_role", "owner_role"):
            got = conn.execute("select has_function_privilege(%s, %s, 'EXECUTE')", (roles[key], fn)).fetchone()
            assert got == (key in callers,), (fn, key)
    for key in ("app_role", "readonly_role"):
        assert conn.execute("select has_table_privilege(%s, 'analytics.course_statistics', 'SELECT')",
                            (roles[key],)).fetchone() == (False,)


def test_maintenance_role_may_use_temporary_tables_in_the_migrated_database(pg: PgServer, template_db: str) -> None:
    """REFRESH ... CONCURRENTLY needs them (V0071). Asked of the migrated database: a clone's PUBLIC
    has TEMPORARY again (database privileges are not copied), so the refreshes above cannot tell."""
    with pg.connect() as c:
        row = c.execute("select has_database_privilege(%s, %s, 'TEMPORARY'),"
                        " (select datacl::text[] from pg_database where datname = %s)",
                        (pg.roles["maintenance_role"], template_db, template_db)).fetchone()
    assert row is not None and row[0] is True
    assert not any(acl.startswith("=") and "T" in acl.split("/")[0] for acl in row[1] or []), row
