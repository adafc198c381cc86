"""Enrollments and lesson progress, as the application role: who enrolls whom, open courses (EL016),
prerequisites (EL010), status transitions (EL013), the access period (EL011), sequential order
(EL012), progress recomputation and completion with exactly one certificate, the learning-event
outbox (append-only except consumed_at, EL002), visibility under RLS, and concurrent completions.

Most tests share ``tenant_db`` through ``tx`` (rolled back); hypothesis examples each run in a
savepoint of their own. Concurrency tests commit, in a fresh clone (``db``).
"""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PgServer
from .course_support import Outline, School, add_person, pct, school, scoped_grant
from .identity_support import run, run_concurrently, set_context, set_role, wait_blocked_or_done

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def s(tx: psycopg.Connection, pg: PgServer) -> School:
    return school(tx, pg, "prog")


def events(s: School, user: uuid.UUID, event_type: str | None = None) -> list[tuple[Any, ...]]:
    return s.fetch("select event_type, source_id, idempotency_key, payload from course_management.learning_events"
                   " where organization_id = %s and user_id = %s and (%s::text is null or event_type = %s)"
                   " order by id", (s.t.id, user, event_type, event_type))


RECOMPUTE = """
    with live as (
        select l.id, l.is_required
          from course_management.lessons l
          join course_management.modules m on m.organization_id = l.organization_id and m.id = l.module_id
         where l.course_id = %(course)s and l.deleted_at is null and m.deleted_at is null),
    counted as (select id from live where is_required or not exists (select 1 from live where is_required))
    select coalesce(round(100.0 * count(*) filter (where exists (
                        select 1 from course_management.lesson_progress lp
                         where lp.enrollment_id = %(enrollment)s and lp.lesson_id = counted.id
                           and lp.status = 'completed')) / nullif(count(*), 0), 2), 0)
      from counted"""


# -------------------------------------------------------------------------------------------------
# Property: progress is the recomputation, whatever the order; 100 % completes once
# -------------------------------------------------------------------------------------------------

@st.composite
def progress_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3), label="lessons per module")
    lessons = [(i, j) for i, n in enumerate(sizes) for j in range(n)]
    optional = draw(st.sets(st.sampled_from(lessons)), label="optional lessons")
    deleted_modules = draw(st.sets(st.integers(0, len(sizes) - 1), max_size=len(sizes) - 1), label="deleted modules")
    deleted = draw(st.sets(st.sampled_from(lessons), max_size=2), label="deleted lessons")
    live = [x for x in lessons if x not in deleted and x[0] not in deleted_modules]
    order = draw(st.permutations(live), label="completion order")
    stop = draw(st.integers(0, len(order)), label="completions")
    via = draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)), label="in_progress first")
    return dict(sizes=sizes, optional=optional, deleted_modules=deleted_modules, deleted=deleted, live=live,
                order=order[:stop], via=via, dead=[x for x in lessons if x not in live])


@PROPERTY
@given(sc=progress_scenarios())
def test_progress_is_the_recomputation_whatever_the_order(tx: psycopg.Connection, s: School,
                                                          sc: dict[str, Any]) -> None:
    """A course of 1-3 modules x 1-4 lessons, some optional, some lessons or modules deleted, non-sequential;
    the learner completes live lessons in any order (directly or via in_progress). After every completion
    progress_percent = completed counted lessons / counted lessons (the required live ones, all live ones when
    none is required) rounded half up to 2 decimals, the model and the SQL recomputation agree; 100 % completes
    the enrollment with exactly one certificate and one course_completed event; every lesson completion is
    exactly one lesson_completed event keyed lesson_completed:<progress id>."""
    learner = s.t.users["learner"]
    with tx.transaction(force_rollback=True):
        o = s.course(modules=[(n, False) for n in sc["sizes"]], optional=sorted(sc["optional"]))
        lesson = {(i, j): o.lessons[i][j] for i in range(len(o.lessons)) for j in range(len(o.lessons[i]))}
        for i in sc["deleted_modules"]:
            s.ok("instructor", "update course_management.modules set deleted_at = now() where id = %s", (o.modules[i],))
        for x in sc["deleted"]:
            s.ok("instructor", "update course_management.lessons set deleted_at = now() where id = %s", (lesson[x],))
        eid = s.enrolled("learner", o.course)
        required = [x for x in sc["live"] if x not in sc["optional"]]
        counted = set(required or sc["live"])
        done: set[tuple[int, int]] = set()
        completed = False
        for x, in_progress_first in zip(sc["order"], sc["via"]):
            if in_progress_first:
                row = s.progress("learner", eid, o.course, lesson[x], "in_progress").value
                assert s.status_of(eid)[1] == pct(len(done & counted), len(counted))  # counts nothing yet
                assert s.ok("learner", "update course_management.lesson_progress set status = 'completed'"
                                       " where id = %s returning id", (row,)) == row
            else:
                assert s.progress("learner", eid, o.course, lesson[x]).ok
            done.add(x)
            expected = pct(len(done & counted), len(counted))
            completed = completed or expected == 100
            status, percent = s.status_of(eid)
            assert percent == expected == s.one(RECOMPUTE, {"course": o.course, "enrollment": eid}), x
            assert status == ("completed" if completed else "active")
        # lessons that are no longer part of the course take no progress
        for x in sc["dead"][:1]:
            out = s.progress("learner", eid, o.course, lesson[x])
            assert (out.sqlstate, out.constraint) == ("P0002", "trg_lesson_progress_check")

        certificates = s.fetch("select id from course_management.certificates where enrollment_id = %s", (eid,))
        assert len(certificates) == (1 if completed else 0)
        e = s.enrollment(eid)
        assert e["certificate_id"] == (str(certificates[0][0]) if completed else None)
        assert (e["completed_at"] is not None) == completed
        assert s.one("select completion_count from course_management.courses where id = %s",
                     (o.course,)) == int(completed)
        # the outbox: one event per fact, keyed <event_type>:<source id>
        lesson_events = events(s, learner, "lesson_completed")
        progress_rows = dict(s.fetch("select id, lesson_id from course_management.lesson_progress"
                                     " where enrollment_id = %s", (eid,)))
        assert sorted(str(e[1]) for e in lesson_events) == sorted(str(p) for p in progress_rows)
        assert [e[2] for e in lesson_events] == [f"lesson_completed:{e[1]}" for e in lesson_events]
        assert {uuid.UUID(e[3]["lesson_id"]) for e in lesson_events} == {lesson[x] for x in sc["order"]}
        assert [e[2] for e in events(s, learner, "course_completed")] == (
            [f"course_completed:{eid}"] if completed else [])
        assert [e[2] for e in events(s, learner, "course_enrolled")] == [f"course_enrolled:{eid}"]
        # touching a completed lesson again records nothing new
        if progress_rows:
            n = len(events(s, learner))
            s.ok("learner", "update course_management.lesson_progress set time_spent_seconds = 999, attempts = 2"
                            " where enrollment_id = %s", (eid,))
            assert len(events(s, learner)) == n
            assert s.status_of(eid)[1] == pct(len(done & counted), len(counted))


@PROPERTY
@given(data=st.data())
def test_refresh_after_a_restructure_is_the_recomputation(tx: psycopg.Connection, s: School,
                                                          data: st.DataObject) -> None:
    """Some lessons completed, then staff delete, undelete and (un)require lessons and modules and call
    refresh_course_progress(): progress is again the recomputation, an active enrollment that reaches 100 %
    completes with its one certificate, a completed one stays completed, and later completions still count."""
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3), label="lessons per module")
    lessons = [(i, j) for i, n in enumerate(sizes) for j in range(n)]
    with tx.transaction(force_rollback=True):
        o = s.course(modules=[(n, False) for n in sizes])
        lesson = {(i, j): o.lessons[i][j] for i, j in lessons}
        eid = s.enrolled("learner", o.course)
        optional: set[tuple[int, int]] = set()
        gone_lessons: set[tuple[int, int]] = set()
        gone_modules: set[int] = set()
        done: set[tuple[int, int]] = set()

        def expected() -> Decimal:
            live = [x for x in lessons if x not in gone_lessons and x[0] not in gone_modules]
            counted = set([x for x in live if x not in optional] or live)
            return pct(len(done & counted), len(counted))

        completed = False
        for x in data.draw(st.lists(st.sampled_from(lessons), unique=True, max_size=len(lessons) - 1), label="done"):
            assert s.progress("learner", eid, o.course, lesson[x]).ok
            done.add(x)
            completed = completed or expected() == 100
        before = s.status_of(eid)
        upd = "update course_management.{} set {} where id = %s"
        for _ in range(data.draw(st.integers(1, 4), label="edits")):
            kind = data.draw(st.sampled_from(["lesson", "required", "module"]), label="edit")
            if kind == "module":
                i = data.draw(st.integers(0, len(sizes) - 1), label="module")
                change = "deleted_at = null" if i in gone_modules else "deleted_at = now()"
                gone_modules ^= {i}
                s.ok("instructor", upd.format("modules", change) + " returning id", (o.modules[i],))
            else:
                x = data.draw(st.sampled_from(lessons), label="lesson")
                if kind == "lesson":
                    change = "deleted_at = null" if x in gone_lessons else "deleted_at = now()"
                    gone_lessons ^= {x}
                else:
                    change = f"is_required = {str(x in optional).lower()}"
                    optional ^= {x}
                s.ok("instructor", upd.format("lessons", change) + " returning id", (lesson[x],))
        assert s.ok("instructor", "select course_management.refresh_course_progress(%s)", (o.course,)) == (
            0 if completed else 1)
        if completed:  # completed enrollments are final: the refresh leaves them alone
            assert s.status_of(eid) == before
        else:
            completed = expected() == 100
            assert s.status_of(eid) == ("completed" if completed else "active", expected())
            assert expected() == s.one(RECOMPUTE, {"course": o.course, "enrollment": eid})
        remaining = [x for x in lessons if x not in done and x not in gone_lessons and x[0] not in gone_modules]
        for x in remaining[:1]:
            assert s.progress("learner", eid, o.course, lesson[x]).ok
            done.add(x)
            completed = completed or expected() == 100
            assert s.status_of(eid) == ("completed" if completed else "active", expected())
        assert s.one("select count(*) from course_management.certificates where enrollment_id = %s",
                     (eid,)) == int(completed)


# -------------------------------------------------------------------------------------------------
# Property: sequential modules and courses
# -------------------------------------------------------------------------------------------------

@st.composite
def sequence_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(["module", "course"]), label="sequential")
    sizes = [draw(st.integers(2, 5))] if mode == "module" else draw(st.lists(st.integers(1, 3), min_size=2, max_size=3))
    if mode == "module":
        sizes.append(draw(st.integers(0, 2), label="free module"))
    lessons = [(i, j) for i, n in enumerate(sizes) for j in range(n)]
    optional = draw(st.sets(st.sampled_from(lessons), max_size=2), label="optional lessons")
    attempts = draw(st.lists(st.tuples(st.sampled_from(lessons), st.booleans()), max_size=12), label="attempts")
    return dict(mode=mode, sizes=sizes, optional=optional, attempts=attempts)


@PROPERTY
@given(sc=sequence_scenarios())
def test_sequential_lessons_complete_only_in_order(tx: psycopg.Connection, s: School, sc: dict[str, Any]) -> None:
    """Each completion attempt succeeds iff every earlier gating lesson (earlier in the sequential module, or
    in the whole sequential course; required ones, all when none is required) is completed, else EL012."""
    seq_course = sc["mode"] == "course"
    modules = [(n, not seq_course and i == 0) for i, n in enumerate(sc["sizes"])]
    with tx.transaction(force_rollback=True):
        o = s.course(modules=modules, sequential=seq_course, optional=sorted(sc["optional"]))
        eid = s.enrolled("learner", o.course)
        lessons = [(i, j) for i, n in enumerate(sc["sizes"]) for j in range(n)]
        gating = [x for x in lessons if x not in sc["optional"]] or lessons
        done: set[tuple[int, int]] = set()
        rows: dict[tuple[int, int], uuid.UUID] = {}
        for x, in_progress_first in sc["attempts"]:
            if x in done:
                continue
            if seq_course:
                before = [g for g in gating if g < x]
            else:
                before = [g for g in gating if g[0] == x[0] and g[1] < x[1]] if modules[x[0]][1] else []
            allowed = set(before) <= done
            lesson = o.lessons[x[0]][x[1]]
            if in_progress_first and x not in rows:
                rows[x] = s.progress("learner", eid, o.course, lesson, "in_progress").value  # never gated
            if x in rows:
                out = s.run("learner", "update course_management.lesson_progress set status = 'completed'"
                                       " where id = %s returning id", (rows[x],))
            else:
                out = s.progress("learner", eid, o.course, lesson)
            if allowed:
                assert out.ok, (x, sorted(done), out)
                done.add(x)
            else:
                assert (out.sqlstate, out.constraint) == ("EL012", "trg_lesson_progress_check"), (x, sorted(done))
        completed = s.fetch("select l.id from course_management.lesson_progress p join course_management.lessons l"
                            " on l.id = p.lesson_id where p.enrollment_id = %s and p.status = 'completed'", (eid,))
        assert {r[0] for r in completed} == {o.lessons[i][j] for i, j in done}


def test_sequential_order_follows_a_reorder(s: School) -> None:
    o = s.course(modules=[(3, True)])
    eid = s.enrolled("learner", o.course)
    first, second, third = o.lessons[0]
    assert s.progress("learner", eid, o.course, second).sqlstate == "EL012"
    s.ok("instructor", "select course_management.reorder_lessons(%s, %s)", (o.modules[0], [second, first, third]))
    assert s.progress("learner", eid, o.course, second).ok
    assert s.progress("learner", eid, o.course, third).sqlstate == "EL012"


# -------------------------------------------------------------------------------------------------
# Enrollment: who, which course, prerequisites
# -------------------------------------------------------------------------------------------------

def test_self_enrollment_rules(s: School) -> None:
    o = s.course()
    assert s.enroll("learner", o.course).ok
    again = s.enroll("learner", o.course)
    assert (again.sqlstate, again.constraint) == ("23505", "uq_enrollments_organization_id_user_id_course_id")
    # a learner enrolls only themself (the policy: own rows), and sets no access period
    assert s.enroll("learner2", o.course, by="learner").sqlstate == "42501"
    period = s.enroll("learner2", o.course, access_expires_at="2999-01-01")
    assert (period.sqlstate, period.constraint) == ("42501", "trg_enrollments_enroll_guard")
    # a viewer lacks enrollment.self_enroll; a teaching assistant (enrollment.view) may not enroll others
    for who, by in [("viewer", "viewer"), ("learner2", "ta")]:
        out = s.enroll(who, o.course, by=by)
        assert (out.sqlstate, out.constraint) == ("42501", "trg_enrollments_enroll_guard"), by
    # courses closed for self-enrollment, or private: staff (enrollment.manage) enroll
    for cols in ({"allow_self_enrollment": False}, {"visibility": "private"}):
        closed = s.course(**cols)
        out = s.enroll("learner", closed.course)
        assert (out.sqlstate, out.constraint) == ("42501", "trg_enrollments_enroll_guard"), cols
        assert s.enroll("learner", closed.course, by="instructor").ok, cols
    assert s.enroll("learner2", o.course, by="instructor", access_expires_at="2999-01-01").ok
    assert s.one("select enrollment_count from course_management.courses where id = %s", (o.course,)) == 2
    # a deleted learner cannot be enrolled
    gone = add_person(s, "gone", "learner")
    s.ok("admin", "update user_management.users set deleted_at = now() where id = %s", (gone,))
    out = s.enroll(gone, o.course, by="instructor")  # type: ignore[arg-type]
    assert (out.sqlstate, out.constraint) == ("P0002", "trg_enrollments_enroll_guard")


@pytest.mark.parametrize("state", ["draft", "archived", "deleted"])
def test_only_published_live_courses_take_enrollments(s: School, state: str) -> None:
    o = s.course(status="draft" if state == "draft" else "published")
    if state == "archived":
        s.ok("instructor", "update course_management.courses set status = 'archived' where id = %s", (o.course,))
    if state == "deleted":  # course.delete: the owner
        s.ok("owner", "update course_management.courses set deleted_at = now() where id = %s", (o.course,))
    for by in ("learner", "instructor", "owner"):
        out = s.enroll("learner", o.course, by=by)
        assert (out.sqlstate, out.constraint) == ("EL016", "trg_enrollments_enroll_guard"), by
    if state != "deleted":
        s.ok("instructor", "update course_management.courses set status = 'published' where id = %s", (o.course,))
        assert s.enroll("learner", o.course).ok


def test_required_prerequisites_are_enforced_at_enrollment(s: School) -> None:
    basics, intro, advanced = s.course(modules=[(1, False)]), s.course(modules=[(1, False)]), s.course()
    assert s.prerequisite("instructor", advanced.course, basics.course).ok
    assert s.prerequisite("instructor", advanced.course, intro.course, required=False).ok
    out = s.enroll("learner", advanced.course)
    assert (out.sqlstate, out.constraint) == ("EL010", "trg_enrollments_enroll_guard")
    assert s.enroll("learner", advanced.course, by="instructor").sqlstate == "EL010"  # staff too
    # an active enrollment in the prerequisite is not enough; a completed one is (recommended ones never count)
    e = s.enrolled("learner", basics.course)
    assert s.enroll("learner", advanced.course).sqlstate == "EL010"
    s.complete_all("learner", e, basics)
    assert s.status_of(e)[0] == "completed"
    assert s.enroll("learner", advanced.course).ok
    # another learner; a cancelled enrollment in the prerequisite does not count either
    e2 = s.enrolled("learner2", basics.course)
    s.ok("learner2", "update course_management.enrollments set status = 'cancelled' where id = %s", (e2,))
    assert s.enroll("learner2", advanced.course).sqlstate == "EL010"
    # a deleted prerequisite course no longer blocks
    s.ok("owner", "update course_management.courses set deleted_at = now() where id = %s", (basics.course,))
    assert s.enroll("learner2", advanced.course).ok


# -------------------------------------------------------------------------------------------------
# Status transitions (EL013), access period (EL011), going back
# -------------------------------------------------------------------------------------------------

def expire(s: School, eid: uuid.UUID) -> None:
    """Simulated time (superuser, no acting user): the enrollment began two days ago, its access ended yesterday."""
    set_context(s.conn, None, None)
    s.conn.execute("update course_management.enrollments set enrolled_at = now() - interval '2 days',"
                   " access_expires_at = now() - interval '1 day' where id = %s", (eid,))


def test_enrollment_status_transitions(s: School) -> None:
    o = s.course(modules=[(1, False)])
    upd = "update course_management.enrollments set status = %s where id = %s returning status"

    def refused(who: str, status: str, eid: uuid.UUID) -> None:
        out = s.run(who, upd, (status, eid))
        assert (out.sqlstate, out.constraint) == ("EL013", "trg_enrollments_guard_update"), (who, status)

    e = s.enrolled("learner", o.course)
    refused("learner", "completed", e)       # only the progress trigger completes
    refused("instructor", "completed", e)
    out = s.run("learner", upd, ("expired", e))  # staff work
    assert (out.sqlstate, out.constraint) == ("42501", "trg_enrollments_guard_update")
    assert s.ok("instructor", upd, ("expired", e)) == "expired"
    refused("instructor", "completed", e)
    out = s.run("learner", upd, ("active", e))
    assert (out.sqlstate, out.constraint) == ("42501", "trg_enrollments_guard_update")
    assert s.ok("instructor", upd, ("active", e)) == "active"
    assert s.ok("learner", upd, ("cancelled", e)) == "cancelled"  # one's own
    assert s.enrollment(e)["cancelled_at"] is not None
    for status in ("active", "expired"):
        refused("instructor", status, e)      # cancelled is final
    # completed is final too
    e2 = s.enrolled("learner", o.course)
    s.complete_all("learner", e2, o)
    for status in ("active", "cancelled", "expired"):
        refused("instructor", status, e2)
    # the learner has no privilege on the computed columns
    for col, value in [("progress_percent", 100), ("completed_at", None), ("certificate_id", None)]:
        out = s.run("learner", f"update course_management.enrollments set {col} = %s where id = %s", (value, e2))
        assert out.sqlstate == "42501", col
    assert s.one("select count(*) from course_management.enrollments where course_id = %s", (o.course,)) == 2


def test_what_a_learner_may_change_in_an_enrollment(s: School) -> None:
    o = s.course(modules=[(1, False)])
    e = s.enrolled("learner", o.course)
    upd = "update course_management.enrollments set {} where id = %s"
    assert s.run("learner", upd.format("last_accessed_at = now()"), (e,)).rowcount == 1
    for change, needed in [("access_expires_at = now() + interval '10 years'", "enrollment.manage"),
                           ("final_grade = 100", "assessment.grade")]:
        out = s.run("learner", upd.format(change), (e,))
        assert (out.sqlstate, out.constraint) == ("42501", "trg_enrollments_guard_update"), needed
    assert s.run("ta", upd.format("final_grade = 87.5"), (e,)).rowcount == 1  # assessment.grade
    out = s.run("ta", upd.format("access_expires_at = now() + interval '1 day'"), (e,))
    assert (out.sqlstate, out.constraint) == ("42501", "trg_enrollments_guard_update")
    assert s.run("instructor", upd.format("access_expires_at = now() + interval '1 day'"), (e,)).rowcount == 1
    # other learners' enrollments are out of sight; nobody deletes enrollments
    assert s.run("learner2", upd.format("status = 'cancelled'"), (e,)).rowcount == 0
    assert s.run("instructor", "delete from course_management.enrollments where id = %s", (e,)).sqlstate == "42501"
    # cancelling frees the course's counter and the learner may enroll again
    count = "select enrollment_count from course_management.courses where id = %s"
    assert s.one(count, (o.course,)) == 1
    s.ok("learner", upd.format("status = 'cancelled'") + " returning id", (e,))
    assert s.one(count, (o.course,)) == 0
    again = s.enrolled("learner", o.course)
    assert again != e and s.one(count, (o.course,)) == 1
    assert s.enrollment(e)["final_grade"] == 87.5 and s.enrollment(again)["final_grade"] is None


def test_no_progress_after_the_access_period_or_for_closed_enrollments(s: School) -> None:
    o = s.course(modules=[(3, False)])
    a, b, c = o.flat
    e = s.enrolled("learner", o.course, by="instructor")
    assert s.progress("learner", e, o.course, a).ok
    row = s.progress("learner", e, o.course, b, "in_progress").value
    expire(s, e)
    out = s.progress("learner", e, o.course, c)
    assert (out.sqlstate, out.constraint) == ("EL011", "trg_lesson_progress_check")
    out = s.run("learner", "update course_management.lesson_progress set status = 'completed' where id = %s", (row,))
    assert (out.sqlstate, out.constraint) == ("EL011", "trg_lesson_progress_check")
    assert s.status_of(e) == ("active", Decimal("33.33"))
    # the scheduled expiry (enrollment.manage), then staff reactivate with a new period
    assert s.run("learner", "select course_management.expire_enrollments()").sqlstate == "42501"
    assert s.ok("admin", "select course_management.expire_enrollments()") == 1
    assert s.status_of(e)[0] == "expired"
    assert s.progress("learner", e, o.course, c).sqlstate == "EL011"
    s.ok("instructor", "update course_management.enrollments set status = 'active',"
                       " access_expires_at = now() + interval '30 days' where id = %s", (e,))
    assert s.progress("learner", e, o.course, c).ok
    assert s.ok("learner", "update course_management.lesson_progress set status = 'completed' where id = %s"
                           " returning status", (row,)) == "completed"
    assert s.status_of(e) == ("completed", Decimal("100.00"))
    # a cancelled enrollment takes no progress
    e2 = s.enrolled("learner2", o.course)
    s.ok("learner2", "update course_management.enrollments set status = 'cancelled' where id = %s", (e2,))
    out = s.progress("learner2", e2, o.course, a)
    assert (out.sqlstate, out.constraint) == ("EL011", "trg_lesson_progress_check")


def test_lesson_progress_never_goes_back(s: School) -> None:
    o = s.course(modules=[(2, False)])
    e = s.enrolled("learner", o.course)
    done = s.progress("learner", e, o.course, o.flat[0]).value
    started = s.progress("learner", e, o.course, o.flat[1], "in_progress").value
    for row, status in [(done, "in_progress"), (done, "not_started"), (started, "not_started")]:
        out = s.run("learner", "update course_management.lesson_progress set status = %s where id = %s", (status, row))
        assert (out.sqlstate, out.constraint) == ("EL013", "trg_lesson_progress_stamp"), status
    # completed_at / started_at are the trigger's
    out = s.run("learner", "update course_management.lesson_progress set completed_at = now() where id = %s", (done,))
    assert out.sqlstate == "42501"
    # one row per enrollment and lesson
    dup = s.progress("learner", e, o.course, o.flat[0])
    assert (dup.sqlstate, dup.constraint) == ("23505", "uq_lesson_progress_enrollment_id_lesson_id")


def test_refresh_course_progress_after_a_restructure(s: School) -> None:
    o = s.course(modules=[(2, False)])
    e = s.enrolled("learner", o.course)
    assert s.progress("learner", e, o.course, o.flat[0]).ok
    s.ok("instructor", "update course_management.lessons set deleted_at = now() where id = %s", (o.flat[1],))
    assert s.status_of(e) == ("active", Decimal("50.00"))  # not recomputed by the staff edit itself
    out = s.run("learner", "select course_management.refresh_course_progress(%s)", (o.course,))
    assert out.sqlstate == "42501"
    assert s.ok("instructor", "select course_management.refresh_course_progress(%s)", (o.course,)) == 1
    assert s.status_of(e) == ("completed", Decimal("100.00"))
    assert s.one("select count(*) from course_management.certificates where enrollment_id = %s", (e,)) == 1


# -------------------------------------------------------------------------------------------------
# Whose rows: RLS as the app role
# -------------------------------------------------------------------------------------------------

def test_a_learner_cannot_write_another_learners_progress(s: School) -> None:
    o = s.course(modules=[(2, False)])
    mine, theirs = s.enrolled("learner", o.course), s.enrolled("learner2", o.course)
    row = s.progress("learner2", theirs, o.course, o.flat[0], "in_progress").value
    # as the other learner (their user id): the policy refuses
    assert s.progress("learner2", theirs, o.course, o.flat[1], as_="learner").sqlstate == "42501"
    # with one's own user id on their enrollment: the enrollment's learner must match
    out = s.run("learner", "insert into course_management.lesson_progress (organization_id, enrollment_id, user_id,"
                           " course_id, lesson_id, status) values (%s, %s, %s, %s, %s, 'completed')",
                (s.t.id, theirs, s.t.users["learner"], o.course, o.flat[1]))
    assert (out.sqlstate, out.constraint) == ("23503", "fk_lesson_progress_enrollment_id")
    # their row is invisible to update, and staff do not write progress either
    for who in ("learner", "instructor", "admin"):
        out = s.run(who, "update course_management.lesson_progress set status = 'completed' where id = %s", (row,))
        assert out.rowcount == 0, who
    assert s.progress("learner2", theirs, o.course, o.flat[1], as_="instructor").sqlstate == "42501"
    assert s.one("select status from course_management.lesson_progress where id = %s", (row,)) == "in_progress"
    assert s.status_of(theirs) == ("active", Decimal("0.00"))
    assert s.status_of(mine) == ("active", Decimal("0.00"))


def test_enrollments_progress_and_certificates_are_seen_by_the_learner_and_course_staff(s: School) -> None:
    x, y = s.course(modules=[(1, False)]), s.course(modules=[(1, False)])
    add_person(s, "ta_x", None)
    scoped_grant(s, "ta_x", "teaching_assistant", x.course)
    ex, ey = s.enrolled("learner", x.course), s.enrolled("learner", y.course)
    s.complete_all("learner", ex, x)
    s.complete_all("learner", ey, y)
    ids = {
        "enrollments": {ex, ey},
        "lesson_progress": set(r[0] for r in s.fetch("select id from course_management.lesson_progress"
                                                      " where user_id = %s", (s.t.users["learner"],))),
        "certificates": set(r[0] for r in s.fetch("select id from course_management.certificates"
                                                   " where user_id = %s", (s.t.users["learner"],))),
    }
    x_ids = {t: set(r[0] for r in s.fetch(f"select id from course_management.{t} where course_id = %s",
                                          (x.course,))) for t in ids}
    assert all(len(v) == 2 for k, v in ids.items()), ids
    visible = {"learner": ids, "ta": ids, "instructor": ids, "admin": ids, "ta_x": x_ids,
               "learner2": {t: set() for t in ids}, "viewer": {t: set() for t in ids}}
    for who, expected in visible.items():
        for table, rows in expected.items():
            seen = s.run(who, f"select id from course_management.{table} where user_id = %s",
                         (s.t.users["learner"],))
            assert {r[0] for r in seen.rows} == rows, (who, table)
    # the learner's own outbox events; analytics.view (instructor, admin) sees everyone's
    n = s.one("select count(*) from course_management.learning_events where organization_id = %s", (s.t.id,))
    assert s.ok("learner2", "select count(*) from course_management.learning_events") == 0
    assert s.ok("learner", "select count(*) from course_management.learning_events") == n == 6
    assert s.ok("instructor", "select count(*) from course_management.learning_events") == n


# -------------------------------------------------------------------------------------------------
# Certificates
# -------------------------------------------------------------------------------------------------

def test_certificates_verify_revoke_once_and_never_change(s: School) -> None:
    o = s.course(modules=[(1, False)], title="Data Storytelling")
    e = s.enrolled("learner", o.course)
    s.complete_all("learner", e, o)
    cert, code, name, title = s.one("select id, verification_code, recipient_name, course_title"
                                    " from course_management.certificates where enrollment_id = %s", (e,))
    assert (name, title) == ("Learner", "Data Storytelling")
    check = "select is_valid, recipient_name from course_management.verify_certificate(%s)"
    assert s.run("viewer", check, (f"  {code.lower()} ",)).rows == [(True, "Learner")]
    assert s.run("viewer", check, ("AAAA-AAAA-AAAA-AAAA-AAAA",)).rows == []
    # a public verification page has the organization's context but no user
    assert run(s.conn, s.app, s.t.id, None, check, (code,)).rows == [(True, "Learner")]
    revoke = "select course_management.revoke_certificate(%s, %s)"
    for who in ("learner", "ta"):
        assert s.run(who, revoke, (cert, "cheating")).sqlstate == "42501", who
    assert s.ok("instructor", revoke, (cert, "plagiarism")) is True
    assert s.ok("instructor", revoke, (cert, "again")) is False
    assert s.run("viewer", check, (code,)).rows == [(False, "Learner")]
    assert s.run("learner", "update course_management.certificates set course_title = 'x' where id = %s",
                 (cert,)).sqlstate == "42501"
    for col, value in [("course_title", "Forged"), ("revoked_reason", "changed my mind"), ("revoked_at", None)]:
        out = s.owner_run(f"update course_management.certificates set {col} = %s where id = %s", (value, cert))
        assert (out.sqlstate, out.constraint) == ("EL002", "trg_certificates_guard_update"), col


# -------------------------------------------------------------------------------------------------
# The outbox
# -------------------------------------------------------------------------------------------------

def test_learning_events_are_append_only_except_consumed_at_once(s: School) -> None:
    o = s.course(modules=[(1, False)])
    e = s.enrolled("learner", o.course)
    s.complete_all("learner", e, o)
    learner = s.t.users["learner"]
    ev = s.one("select id from course_management.learning_events where source_id = %s"
               " and event_type = 'course_enrolled'", (e,))
    # the application only reads
    for who, q in [("learner", "update course_management.learning_events set consumed_at = now() where id = %s"),
                   ("admin", "update course_management.learning_events set consumed_at = now() where id = %s"),
                   ("admin", "delete from course_management.learning_events where id = %s")]:
        assert s.run(who, q, (ev,)).sqlstate == "42501", (who, q)
    assert s.run("admin", "insert into course_management.learning_events (organization_id, user_id, event_type,"
                          " source_type, source_id, idempotency_key) values (%s, %s, 'course_enrolled',"
                          " 'enrollment', %s, 'x')", (s.t.id, learner, e)).sqlstate == "42501"
    # a consumer (SECURITY DEFINER code, here the owner role) sets consumed_at once
    upd = "update course_management.learning_events set {} where id = %s"
    for change, column in [("payload = '{\"x\": 1}'", "payload"), ("event_type = 'course_completed'", "event_type"),
                           ("occurred_at = now() - interval '1 day'", "occurred_at")]:
        out = s.owner_run(upd.format(change), (ev,))
        assert (out.sqlstate, out.constraint) == ("EL002", "trg_learning_events_append_only"), column
    assert s.owner_run(upd.format("consumed_at = now()"), (ev,)).rowcount == 1
    for change in ("consumed_at = now() + interval '1 second'", "consumed_at = null"):
        out = s.owner_run(upd.format(change), (ev,))
        assert (out.sqlstate, out.constraint) == ("EL002", "trg_learning_events_append_only"), change
    # one event per idempotency key
    out = s.owner_run("insert into course_management.learning_events (organization_id, user_id, event_type,"
                      " source_type, source_id, idempotency_key) values (%s, %s, 'course_enrolled', 'enrollment',"
                      " %s, %s)", (s.t.id, learner, e, f"course_enrolled:{e}"))
    assert (out.sqlstate, out.constraint) == ("23505", "uq_learning_events_organization_id_idempotency_key")
    assert s.one("select count(*) from course_management.learning_events where source_id = %s", (e,)) == 2


# -------------------------------------------------------------------------------------------------
# Learning paths
# -------------------------------------------------------------------------------------------------

def test_learning_path_progress_follows_course_completions(s: School) -> None:
    a, b, c = (s.course(modules=[(1, False)]) for _ in range(3))
    path = s.ok("instructor", "insert into course_management.learning_paths (organization_id, title, slug)"
                              " values (%s, 'Track', %s) returning id", (s.t.id, "t-" + uuid.uuid4().hex[:8]))
    for position, (o, required) in enumerate([(a, True), (b, True), (c, False)], 1):
        s.ok("instructor", "insert into course_management.learning_path_courses (organization_id, learning_path_id,"
                           " course_id, position, is_required) values (%s, %s, %s, %s, %s)",
             (s.t.id, path, o.course, position, required))
    join = ("insert into course_management.learning_path_enrollments (organization_id, user_id, learning_path_id)"
            " values (%s, %s, %s) returning id")
    out = s.run("learner", join, (s.t.id, s.t.users["learner"], path))
    assert (out.sqlstate, out.constraint) == ("EL016", "trg_learning_path_enrollments_enroll_guard")
    assert s.run("ta", "update course_management.learning_paths set status = 'published' where id = %s",
                 (path,)).rowcount == 0
    s.ok("instructor", "update course_management.learning_paths set status = 'published' where id = %s", (path,))
    ea = s.enrolled("learner", a.course)
    s.complete_all("learner", ea, a)  # before joining: counts
    pe = s.ok("learner", join, (s.t.id, s.t.users["learner"], path))
    state = "select status, progress_percent from course_management.learning_path_enrollments where id = %s"
    assert s.one(state, (pe,)) == ("active", Decimal("50.00"))
    eb = s.enrolled("learner", b.course)
    s.complete_all("learner", eb, b)
    assert s.one(state, (pe,)) == ("completed", Decimal("100.00"))
    assert len(events(s, s.t.users["learner"], "learning_path_completed")) == 1
    out = s.run("learner", "update course_management.learning_path_enrollments set status = 'cancelled'"
                           " where id = %s", (pe,))
    assert (out.sqlstate, out.constraint) == ("EL013", "trg_learning_path_enrollments_guard_update")


# -------------------------------------------------------------------------------------------------
# Concurrency (committed, fresh clone)
# -------------------------------------------------------------------------------------------------

PROGRESS = ("insert into course_management.lesson_progress (organization_id, enrollment_id, user_id, course_id,"
            " lesson_id, status) values (%s, %s, %s, %s, %s, 'completed')")


def committed_course(pg: PgServer, db: str, lessons: int) -> tuple[School, Outline, uuid.UUID, psycopg.Connection]:
    c = pg.connect(db, autocommit=False)
    s = school(c, pg, "conc", people=(("instructor", "instructor"), ("learner", "learner")))
    o = s.course(modules=[(lessons, False)])
    e = s.enrolled("learner", o.course)
    c.commit()
    return s, o, e, c


def test_a_second_completion_waits_for_the_first_and_counts_both(pg: PgServer, db: str) -> None:
    s, o, e, setup = committed_course(pg, db, 3)
    app, learner = pg.roles["app_role"], s.t.users["learner"]
    su = pg.connect(db)
    c1, c2 = pg.connect(db, autocommit=False), pg.connect(db, autocommit=False)
    outcome: list[str | None] = []

    def second() -> None:
        try:
            c2.execute(PROGRESS, (s.t.id, e, learner, o.course, o.flat[1]))
            c2.commit()
            outcome.append(None)
        except psycopg.Error as exc:
            c2.rollback()
            outcome.append(exc.sqlstate)

    try:
        for k in (c1, c2):
            set_context(k, s.t.id, learner)
            set_role(k, app)
        c1.execute(PROGRESS, (s.t.id, e, learner, o.course, o.flat[0]))
        th = threading.Thread(target=second)
        th.start()
        assert wait_blocked_or_done(su, c2.info.backend_pid, th), "the second completion did not wait"
        c1.commit()
        th.join(timeout=30)
        assert outcome == [None]
        assert su.execute("select status, progress_percent from course_management.enrollments where id = %s",
                          (e,)).fetchone() == ("active", Decimal("66.67"))
        set_context(c1, s.t.id, learner)
        set_role(c1, app)
        c1.execute(PROGRESS, (s.t.id, e, learner, o.course, o.flat[2]))
        c1.commit()
        assert su.execute("select status, progress_percent, (select count(*) from course_management.certificates"
                          " where enrollment_id = e.id) from course_management.enrollments e where id = %s",
                          (e,)).fetchone() == ("completed", Decimal("100.00"), 1)
    finally:
        for k in (c1, c2, su, setup):
            k.close()


def test_parallel_completions_of_one_enrollment_complete_it_once(pg: PgServer, db: str) -> None:
    s, o, e, setup = committed_course(pg, db, 4)
    setup.close()
    learner = s.t.users["learner"]
    results = run_concurrently(pg, db, 4, pg.roles["app_role"], s.t.id, learner, PROGRESS,
                               lambda i: (s.t.id, e, learner, o.course, o.flat[i]))
    assert [r.sqlstate for r in results] == [None] * 4
    with pg.connect(db) as su:
        assert su.execute("select status, progress_percent, completed_at is not null, certificate_id is not null"
                          " from course_management.enrollments where id = %s", (e,)).fetchone() == (
            "completed", Decimal("100.00"), True, True)
        assert su.execute("select count(*) from course_management.certificates where enrollment_id = %s",
                          (e,)).fetchone() == (1,)
        assert dict(su.execute("select event_type, count(*) from course_management.learning_events"
                               " where user_id = %s group by 1", (learner,)).fetchall()) == {
            "course_enrolled": 1, "lesson_completed": 4, "course_completed": 1}
        assert su.execute("select completion_count, enrollment_count from course_management.courses where id = %s",
                          (o.course,)).fetchone() == (1, 1)


def test_sequential_completions_in_parallel_never_skip_a_lesson(pg: PgServer, db: str) -> None:
    """Lessons 1 and 2 of a sequential module completed at once: 2 sees 1 only if 1 committed first."""
    c = pg.connect(db, autocommit=False)
    s = school(c, pg, "seqc", people=(("instructor", "instructor"), ("learner", "learner")))
    o = s.course(modules=[(2, True)])
    e = s.enrolled("learner", o.course)
    c.commit()
    c.close()
    learner = s.t.users["learner"]
    results = run_concurrently(pg, db, 2, pg.roles["app_role"], s.t.id, learner, PROGRESS,
                               lambda i: (s.t.id, e, learner, o.course, o.flat[i]))
    first, second = results
    assert first.ok
    assert second.ok or (second.sqlstate, second.constraint) == ("EL012", "trg_lesson_progress_check")
    with pg.connect(db) as su:
        done = {r[0] for r in su.execute("select lesson_id from course_management.lesson_progress"
                                         " where enrollment_id = %s", (e,))}
        assert done == ({o.flat[0], o.flat[1]} if second.ok else {o.flat[0]})
