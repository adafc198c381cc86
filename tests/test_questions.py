"""Question banks, questions, versions and answer keys (V0110-V0112), as the application role.

Who reads and writes what (staff of the course write, graders read keys, learners see nothing); the
answer key never reaches a learner: not by SELECT, not through the audit log, a function, the
read-only role or an error message; shapes checked on write (23514 / EL040, no key echoed);
versioning: numbers 1..n (also under concurrent edits), in-place edits while unused, a new version
once used, used versions and their keys immutable (EL042), mark_versions_used() refusing keyless
auto-graded versions (EL041).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg import sql

from .conftest import PgServer
from .course_support import School, add_person, school, scoped_grant
from .identity_support import run, run_concurrently

SECRET = "Zanzibar-7f3c"  # an accepted answer nobody could guess; searched for in every leak probe
MC = '{"options": [{"id": "a", "text": "Alpha"}, {"id": "b", "text": "Beta"}]}'
SAVE = ("select assessment.save_question_version(%s, %s, %s, %s, %s::jsonb, %s::jsonb, 'medium', '{}',"
        " 'Because ' || %s)")
TABLES = ["question_banks", "questions", "question_versions", "question_answer_keys"]


@pytest.fixture
def s(tx: psycopg.Connection, pg: PgServer) -> School:
    return school(tx, pg, "qst")


def bank(s: School, who: str = "instructor", course: Any = None, visibility: str = "private") -> uuid.UUID:
    return s.ok(who, "insert into assessment.question_banks (organization_id, course_id, name, visibility)"
                     " values (%s, %s, 'Bank', %s) returning id", (s.t.id, course, visibility))  # type: ignore[no-any-return]


def question(s: School, bank_id: uuid.UUID, who: str = "instructor") -> uuid.UUID:
    return s.ok(who, "insert into assessment.questions (organization_id, bank_id) values (%s, %s) returning id",
                (s.t.id, bank_id))  # type: ignore[no-any-return]


def short_answer(s: School, q: uuid.UUID, who: str = "instructor", stem: str = "Where?") -> uuid.UUID:
    return s.ok(who, SAVE, (q, "short_answer", stem, 2, "{}", f'{{"accepted": ["{SECRET}"]}}', SECRET))  # type: ignore[no-any-return]


def seen(s: School, who: str, table: str) -> set[Any]:
    out = s.run(who, f"select id from assessment.{table}")
    assert out.ok, out
    return {r[0] for r in out.rows}


def used(s: School, version: uuid.UUID) -> None:
    out = s.owner_run("select assessment.mark_versions_used(%s, %s)", (s.t.id, [version]))
    assert out.ok, out


# -- who reads and writes --------------------------------------------------------------------------

def test_visibility_by_role_and_course(s: School) -> None:
    course_a = s.course().course
    course_b = s.course().course
    scoped = add_person(s, "scoped_instructor")
    scoped_grant(s, "scoped_instructor", "instructor", course_b)
    scoped_ta = add_person(s, "scoped_ta")
    scoped_grant(s, "scoped_ta", "teaching_assistant", course_a)
    assert scoped and scoped_ta
    private_a = bank(s, course=course_a)
    shared_a = bank(s, course=course_a, visibility="shared")
    org_bank = bank(s)
    rows = {}
    for name, b in [("private_a", private_a), ("shared_a", shared_a), ("org", org_bank)]:
        q = question(s, b)
        v = short_answer(s, q)
        k = s.one("select id from assessment.question_answer_keys where question_version_id = %s", (v,))
        rows[name] = {"question_banks": b, "questions": q, "question_versions": v, "question_answer_keys": k}
    every = {t: {r[t] for r in rows.values()} for t in TABLES}

    def of(*names: str, tables: list[str] = TABLES) -> dict[str, set[Any]]:
        return {t: {rows[n][t] for n in names} if t in tables else set() for t in TABLES}

    expect = {
        "owner": every, "admin": every, "instructor": every,
        "ta": every,  # organization-wide grader: everything, keys included (reads only)
        "scoped_ta": of("private_a", "shared_a"),  # grader of course A
        # staff of course B: the shared bank of A (not its key), nothing of the private one
        "scoped_instructor": of("shared_a", tables=["question_banks", "questions", "question_versions"]),
        "learner": of(), "learner2": of(), "viewer": of(),
    }
    for who, want in expect.items():
        got = {t: seen(s, who, t) & every[t] for t in TABLES}
        assert got == want, who
    # The course of the bank is copied to every child; the app cannot set it.
    assert s.one("select course_id from assessment.question_answer_keys where id = %s",
                 (rows["private_a"]["question_answer_keys"],)) == course_a
    assert s.one("select course_id from assessment.question_versions where id = %s",
                 (rows["org"]["question_versions"],)) is None
    out = s.run("instructor", "insert into assessment.questions (organization_id, bank_id, course_id)"
                              " values (%s, %s, %s)", (s.t.id, org_bank, course_a))
    assert out.sqlstate == "42501"


def test_only_staff_of_the_course_write(s: School) -> None:
    course_a, course_b = s.course().course, s.course().course
    add_person(s, "scoped")
    scoped_grant(s, "scoped", "instructor", course_a)
    ins_bank = ("insert into assessment.question_banks (organization_id, course_id, name) values (%s, %s, 'B')"
                " returning id")
    for who in ("ta", "learner", "viewer"):
        assert s.run(who, ins_bank, (s.t.id, course_a)).sqlstate == "42501", who
    assert s.run("scoped", ins_bank, (s.t.id, course_b)).sqlstate == "42501"
    assert s.run("scoped", ins_bank, (s.t.id, None)).sqlstate == "42501"  # organization-wide banks: org-wide staff
    mine = s.ok("scoped", ins_bank, (s.t.id, course_a))
    theirs = bank(s, course=course_b, visibility="shared")
    # Scoped staff of A can read B's shared bank but not add questions to it (the course is copied
    # from the bank before RLS checks the row).
    assert s.run("scoped", "insert into assessment.questions (organization_id, bank_id) values (%s, %s)",
                 (s.t.id, theirs)).sqlstate == "42501"
    q = question(s, mine, who="scoped")
    v = short_answer(s, q, who="scoped")
    for who in ("ta", "learner"):
        assert s.run(who, SAVE, (q, "true_false", "X", 1, "{}", '{"correct": true}', "")).sqlstate == "P0002", who
        assert s.run(who, "update assessment.question_answer_keys set answer_key = '{\"accepted\": [\"x\"]}'"
                          " where question_version_id = %s", (v,)).rowcount in (0, -1), who
        assert s.run(who, "insert into assessment.question_answer_keys (organization_id, question_version_id,"
                          " answer_key) values (%s, %s, '{\"accepted\": [\"x\"]}')", (s.t.id, v)).sqlstate == "42501"
    # The TA grades (reads the key) but does not write it.
    assert s.run("ta", "select answer_key from assessment.question_answer_keys where question_version_id = %s",
                 (v,)).rows == [({"accepted": [SECRET]},)]
    # Columns with a rule are not writable by anybody through the app.
    for col, val in [("used_at", "now()"), ("version_number", "7"), ("course_id", "null"), ("question_id", "question_id")]:
        out = s.run("instructor", f"update assessment.question_versions set {col} = {val} where id = %s", (v,))
        assert out.sqlstate == "42501", col


# -- the answer key never reaches a learner ---------------------------------------------------------

LEAK_PROBES = [
    "select count(*) from assessment.question_answer_keys",
    "select count(*) from assessment.question_versions",
    "select count(*) from assessment.questions",
    "select count(*) from assessment.question_banks",
    "select coalesce(string_agg(diff::text || row_key::text, ''), '') from audit.audit_log"
    " where schema_name = 'assessment'",
]


def test_no_learner_reads_an_answer_key_in_any_way(s: School, pg: PgServer) -> None:
    course = s.course().course
    learner_enrollment = s.enrolled("learner", course)
    assert learner_enrollment
    q = question(s, bank(s, course=course, visibility="shared"))
    v = short_answer(s, q)
    used(s, v)
    for who in ("learner", "viewer"):
        # 1. Tables: nothing visible; the audit log holds no key and no explanation.
        for probe in LEAK_PROBES:
            out = s.run(who, probe)
            assert out.ok, (who, probe, out)
            assert SECRET not in str(out.rows), (who, probe)
            if probe.startswith("select count"):
                assert out.rows == [(0,)], (who, probe)
        # 2. Functions: grading, the scoring rule and marking are not executable.
        for query, args in [("select assessment.grade_response(%s, %s, %s::jsonb)", (s.t.id, v, f'{{"text": "{SECRET}"}}')),
                            ("select assessment.score_response('short_answer', '{}', '{\"accepted\": [\"x\"]}', 1,"
                             " '{\"text\": \"x\"}')", ()),
                            ("select assessment.mark_versions_used(%s, %s)", (s.t.id, [v])),
                            ("select assessment.check_answer_key()", ()),
                            ("select assessment.prepare_question_row()", ())]:
            out = s.run(who, query, args)
            assert out.sqlstate == "42501", (who, query, out)
        # 3. Writes fail without echoing anything (RLS hides the row; no CHECK on the key table).
        for query in ["update assessment.question_answer_keys set answer_key = '{}' returning answer_key",
                      "delete from assessment.question_answer_keys returning answer_key"]:
            out = s.run(who, query)
            assert out.ok and out.rows == [], (who, query)
        try:
            with s.conn.transaction():
                run_as(s, who, "insert into assessment.question_answer_keys (organization_id, question_version_id,"
                               " answer_key) values (%s, %s, '{\"accepted\": [\"guess\"]}')", (s.t.id, v))
        except psycopg.Error as exc:
            assert exc.sqlstate == "42501"
            assert SECRET not in str(exc) + str(exc.diag.message_detail) + str(exc.diag.message_hint)
        else:
            pytest.fail("a learner inserted an answer key")
        # 4. The shape checks are pure: they answer about the value given, never a stored key.
        out = s.run(who, "select assessment.check_answer_key_shape('short_answer', '{}', '{\"accepted\": [\"x\"]}')")
        assert out.rows == [(True,)]
    # 5. The read-only role reads every row but not the secret columns.
    ro = pg.roles["readonly_role"]
    assert run(s.conn, ro, s.t.id, s.t.users["learner"],
               "select answer_key from assessment.question_answer_keys").sqlstate == "42501"
    assert run(s.conn, ro, s.t.id, s.t.users["learner"],
               "select explanation from assessment.question_versions").sqlstate == "42501"
    out = run(s.conn, ro, s.t.id, s.t.users["learner"], "select count(*) from assessment.question_answer_keys")
    assert out.rows and out.rows[0][0] >= 1
    # ... and the probes are real: staff do see the key, so a leak would have been found.
    out = s.run("instructor", "select answer_key::text from assessment.question_answer_keys where question_version_id = %s",
                (v,))
    assert SECRET in out.value


def run_as(s: School, who: str, query: str, args: tuple[Any, ...]) -> None:
    s.conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                   (str(s.t.id), str(s.uid(who))))
    s.conn.execute(sql.SQL("set local role {}").format(sql.Identifier(s.app)))
    s.conn.execute(query, args)


def test_errors_about_keys_never_echo_the_key(s: School) -> None:
    q = question(s, bank(s))
    mc = s.ok("instructor", SAVE, (q, "multiple_choice_single", "Pick", 1, MC, '{"correct": "b"}', ""))
    # A key naming an option that does not exist: EL040, the message names the rule, not the value.
    try:
        with s.conn.transaction():
            run_as(s, "instructor", "update assessment.question_answer_keys set answer_key = %s::jsonb"
                                    " where question_version_id = %s", (f'{{"correct": "{SECRET}"}}', mc))
        pytest.fail("an invalid key was stored")
    except psycopg.Error as exc:
        assert (exc.sqlstate, exc.diag.constraint_name) == ("EL040", "trg_question_answer_keys_check")
        text = " ".join(str(x) for x in (exc, exc.diag.message_detail, exc.diag.message_hint, exc.diag.context))
        assert SECRET not in text and '"b"' not in text
    # A definition change that orphans the key's correct option: EL040 from the version's trigger.
    out = s.run("instructor", "update assessment.question_versions set definition = %s::jsonb where id = %s",
                ('{"options": [{"id": "a", "text": "A"}, {"id": "c", "text": "C"}]}', mc))
    assert (out.sqlstate, out.constraint) == ("EL040", "trg_question_versions_check_key")
    # An invalid definition is a CHECK violation (23514).
    out = s.run("instructor", "update assessment.question_versions set definition = '{\"options\": []}' where id = %s",
                (mc,))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_question_versions_definition")
    out = s.run("instructor", SAVE, (q, "numeric", "How much?", 1, "{}", '{"value": "1"}', ""))
    assert (out.sqlstate, out.constraint) == ("EL040", "trg_question_answer_keys_check")


# -- versioning ----------------------------------------------------------------------------------

def test_edits_in_place_until_used_then_new_versions(s: School) -> None:
    q = question(s, bank(s))
    v1 = short_answer(s, q, stem="First")
    assert short_answer(s, q, stem="First, edited") == v1  # unused: same version
    assert s.one("select version_number, stem from assessment.question_versions where id = %s", (v1,)) == (1, "First, edited")
    used(s, v1)
    assert s.owner_run("select assessment.mark_versions_used(%s, %s)", (s.t.id, [v1])).value == 0  # once
    # Changing the type too: a new version with its own key; version 1 and its key are untouched.
    v2 = s.ok("instructor", SAVE, (q, "multiple_choice_single", "Now a choice", 3, MC, '{"correct": "a"}', ""))
    assert v2 != v1
    assert s.fetch("select version_number, question_type, stem, used_at is not null from assessment.question_versions"
                   " where question_id = %s order by version_number", (q,)) == [
        (1, "short_answer", "First, edited", True), (2, "multiple_choice_single", "Now a choice", False)]
    assert s.one("select answer_key from assessment.question_answer_keys where question_version_id = %s", (v1,)) == {
        "accepted": [SECRET]}
    # A used version and its key are immutable, even for staff, even for the table owner.
    out = s.run("instructor", "update assessment.question_versions set stem = 'x' where id = %s", (v1,))
    assert (out.sqlstate, out.constraint) == ("EL042", "trg_question_versions_guard_used")
    out = s.run("instructor", "update assessment.question_answer_keys set answer_key = '{\"accepted\": [\"x\"]}'"
                              " where question_version_id = %s", (v1,))
    assert (out.sqlstate, out.constraint) == ("EL042", "trg_question_answer_keys_guard_used")
    out = s.run("instructor", "delete from assessment.question_answer_keys where question_version_id = %s", (v1,))
    assert (out.sqlstate, out.constraint) == ("EL042", "trg_question_answer_keys_guard_used")
    out = s.owner_run("update assessment.question_versions set used_at = null where id = %s", (v1,))
    assert (out.sqlstate, out.constraint) == ("EL042", "trg_question_versions_guard_used")
    # A no-op update passes (bulk maintenance statements must not trip over used rows).
    assert s.owner_run("update assessment.question_versions set stem = stem where id = %s", (v1,)).ok
    # The unused version 2 is still edited in place.
    assert s.ok("instructor", SAVE, (q, "multiple_choice_single", "Now a choice!", 3, MC, '{"correct": "b"}', "")) == v2


def test_mark_versions_used_rules(s: School) -> None:
    q = question(s, bank(s))
    keyless = s.ok("instructor", "select assessment.save_question_version(%s, 'true_false', 'T?', 1, '{}', null)", (q,))
    out = s.owner_run("select assessment.mark_versions_used(%s, %s)", (s.t.id, [keyless]))
    assert out.sqlstate == "EL041"
    essay = s.ok("instructor", "select assessment.save_question_version(%s, 'essay', 'Why?', 5, '{}', null)",
                 (question(s, bank(s)),))
    assert s.owner_run("select assessment.mark_versions_used(%s, %s)", (s.t.id, [essay, essay, None])).value == 1
    assert s.owner_run("select assessment.mark_versions_used(%s, %s)", (s.t.id, [uuid.uuid4()])).sqlstate == "P0002"
    assert s.owner_run("select assessment.mark_versions_used(%s, %s)", (uuid.uuid4(), [essay])).sqlstate == "22023"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(["edit", "use", "insert"]), min_size=1, max_size=8))
def test_version_numbers_stay_1_to_n_and_used_versions_never_change(s: School, steps: list[str]) -> None:
    q = question(s, bank(s))
    snapshots: dict[uuid.UUID, Any] = {}
    for i, step in enumerate(steps):
        if step == "edit":
            short_answer(s, q, stem=f"Edit {i}")
        elif step == "insert":
            s.ok("instructor", "insert into assessment.question_versions (organization_id, question_id, question_type,"
                               " stem, points) values (%s, %s, 'essay', %s, 1) returning id", (s.t.id, q, f"Ins {i}"))
        else:
            current = s.one("select id from assessment.question_versions where question_id = %s"
                            " order by version_number desc limit 1", (q,)) if s.fetch(
                "select 1 from assessment.question_versions where question_id = %s", (q,)) else None
            if current is not None:
                used(s, current)
        for vid, *row in s.fetch("select v.id, to_jsonb(v) - 'updated_at', k.answer_key from assessment.question_versions v"
                                " left join assessment.question_answer_keys k on k.question_version_id = v.id"
                                " where v.question_id = %s and v.used_at is not null", (q,)):
            assert snapshots.setdefault(vid, row) == row  # a used version (and key) never changes
    numbers = [r[0] for r in s.fetch("select version_number from assessment.question_versions where question_id = %s"
                                     " order by 1", (q,))]
    assert numbers == list(range(1, len(numbers) + 1))
    unused = s.fetch("select count(*) from assessment.question_versions where question_id = %s and used_at is null", (q,))
    assert unused[0][0] <= steps.count("insert") + 1


def test_concurrent_edits_number_versions_without_gaps(pg: PgServer, db: str) -> None:
    with pg.connect(db, autocommit=False) as conn:
        s = school(conn, pg, "qcc", people=(("instructor", "instructor"),))
        q = question(s, bank(s))
        conn.commit()
    outs = run_concurrently(pg, db, 8, pg.roles["app_role"], s.t.id, s.t.users["instructor"],
                            "insert into assessment.question_versions (organization_id, question_id, question_type,"
                            " stem, points) values (%s, %s, 'essay', 'Concurrent', 1) returning version_number",
                            lambda i: (s.t.id, q))
    assert all(o.ok for o in outs), [o.sqlstate for o in outs]
    assert sorted(o.value for o in outs) == list(range(1, 9))
