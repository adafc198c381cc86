"""Attempts (assessment V0121-V0126), as the application role: start/resume with a stored per-attempt
draw, gapless numbers within max attempts + overrides, the availability window, deadlines with grace
and closing at the limit, response shapes, auto and manual (rubric) grading, the final grade per
grading method, the assessment_passed event exactly once, RLS and feedback timing, security
settings, concurrency of simultaneous starts, and question statistics.

Most tests share one clone (module fixture) and run inside a transaction that is rolled back; the
concurrency tests commit in fresh clones.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg import sql

from .attempt_support import ABANDON, Lab, final_grade, pct
from .conftest import PgServer
from .course_support import add_person, scoped_grant
from .identity_support import run, run_concurrently


@pytest.fixture
def lab(module_conn: psycopg.Connection, pg: PgServer) -> Iterator[Lab]:
    with module_conn.transaction(force_rollback=True):
        yield Lab(module_conn, pg, "att")


def test_start_resume_save_submit_and_auto_grade(lab: Lab) -> None:
    q1, q2 = lab.question(points=2), lab.question(points=3)
    aid = lab.assessment([q1, q2], passing_score_percent=30, max_attempts=2)
    first = lab.start(aid)
    assert first.ok and first.rows[0][1:3] == (1, "in_progress")
    attempt = first.value
    # Resume: the same attempt, same questions in the same order.
    assert lab.start(aid).rows[0] == first.rows[0]
    before = lab.positions(attempt)
    assert lab.started(aid) == attempt and lab.positions(attempt) == before
    # The learner sees stems and definitions, never keys, and no scores while in progress.
    seen = lab.s.run("learner", "select position, definition, score, explanation from"
                                " assessment.get_attempt_questions(%s)", (attempt,))
    assert seen.ok and len(seen.rows) == 2
    assert all(r[1] == {"options": [{"id": k, "text": k.upper()} for k in "abcd"]} and r[2] is None and r[3] is None
               for r in seen.rows)
    lab.answer_by_question(attempt, {q1: {"selected": "b"}, q2: {"selected": "a"}})
    row = lab.submitted(attempt)
    assert row[2:7] == ("graded", Decimal("2.00"), Decimal("5.00"), Decimal("40.00"), True)
    # A replay returns the attempt unchanged; saving after submission is refused.
    assert lab.submitted(attempt) == row
    assert lab.save(attempt, 1, {"selected": "b"}).sqlstate == "EL052"
    result = lab.result(aid)
    assert result and result["final_score_percent"] == 40.0 and result["passed"] is True
    assert result["attempt_count"] == 1 and result["graded_attempt_count"] == 1
    assert [e[0] for e in lab.events(aid)] == [f"assessment_passed:{aid}:{lab.s.t.users['learner']}"]
    # After submission the learner sees scores and explanations (feedback_timing after_submission).
    seen = lab.s.run("learner", "select score, explanation from assessment.get_attempt_questions(%s)"
                                " order by score", (attempt,))
    assert seen.rows == [(Decimal("0.00"), "Because."), (Decimal("2.00"), "Because.")]


def test_attempt_limit_with_extra_attempts_and_gapless_numbers(lab: Lab) -> None:
    aid = lab.assessment([lab.question()], max_attempts=2)
    for _ in range(2):
        assert lab.s.run("learner", ABANDON, (lab.started(aid),)).value == "abandoned"
    out = lab.start(aid)
    assert out.sqlstate == "EL051"
    # Learners cannot grant themselves an override (the policy admits own rows; the trigger refuses).
    override = ("insert into assessment.assessment_overrides (organization_id, assessment_id, course_id, user_id,"
                " extra_attempts) values (%s, %s, %s, %s, 1) returning id")
    args = (lab.s.t.id, aid, lab.course, lab.s.t.users["learner"])
    denied = lab.s.run("learner", override, args)
    assert (denied.sqlstate, denied.constraint) == ("42501", "trg_assessment_overrides_guard")
    lab.s.ok("instructor", override, args)
    third = lab.started(aid)
    assert lab.attempt(third)["attempt_number"] == 3
    assert lab.start(aid, who="learner").value == third  # resume, not a fourth
    lab.s.ok("learner", ABANDON, (third,))
    assert lab.start(aid).sqlstate == "EL051"
    numbers = [r[0] for r in lab.s.fetch("select attempt_number from assessment.assessment_attempts"
                                         " where assessment_id = %s order by 1", (aid,))]
    assert numbers == [1, 2, 3]


def test_window_status_and_enrollment(lab: Lab) -> None:
    q = lab.question()
    assert lab.start(lab.assessment([q], status="draft")).sqlstate == "EL050"
    assert lab.start(lab.assessment([q], available_from="2999-01-01")).sqlstate == "EL050"
    closed = lab.assessment([q], available_until="2000-01-01")
    assert lab.start(closed).sqlstate == "EL050"
    # The learner's own window end (an override) opens it for them only.
    lab.s.ok("instructor", "insert into assessment.assessment_overrides (organization_id, assessment_id, course_id,"
                           " user_id, available_until) values (%s, %s, %s, %s, now() + interval '1 hour')",
             (lab.s.t.id, closed, lab.course, lab.s.t.users["learner"]))
    attempt = lab.started(closed)
    assert lab.start(closed, who="learner2").sqlstate == "EL050"
    # The deadline is capped by the window end.
    assert lab.s.one("select deadline_at = now() + interval '1 hour' from assessment.assessment_attempts"
                     " where id = %s", (attempt,)) is True
    add_person(lab.s, "outsider", "learner")
    assert lab.start(lab.assessment([q]), who="outsider").sqlstate == "EL053"
    assert lab.start(uuid.uuid4()).sqlstate == "P0002"


def test_deadline_grace_auto_close_and_worker(lab: Lab) -> None:
    q1, q2 = lab.question(points=1), lab.question(points=1)
    aid = lab.assessment([q1, q2], time_limit_seconds=60, grace_seconds=10, max_attempts=5)
    # Within the grace: saved and submitted normally.
    a1 = lab.started(aid)
    lab.elapse(a1, 65)
    lab.answer_by_question(a1, {q1: {"selected": "b"}})
    row = lab.submitted(a1)
    assert row[2] == "graded" and row[9] is False and row[7] > row[8]
    # After deadline + grace: saving is refused, submitting closes the attempt at the deadline.
    a2 = lab.started(aid)
    lab.answer_by_question(a2, {q1: {"selected": "b"}, q2: {"selected": "b"}})
    lab.elapse(a2, 71)
    out = lab.save(a2, 1, {"selected": "c"})
    assert out.sqlstate == "EL055"
    row = lab.submitted(a2)
    assert row[2] == "graded" and row[9] is True and row[7] == row[8]
    assert row[3] == Decimal("2.00")  # the responses saved in time count
    # The worker closes expired attempts at their deadline; a resume does the same first.
    a3 = lab.started(aid)
    lab.elapse(a3, 500)
    assert lab.s.ok("learner", "select assessment.close_expired_attempts(10)") == 1
    assert lab.attempt(a3)["status"] == "graded" and lab.attempt(a3)["closed_at_limit"] is True
    assert lab.attempt(a3)["score"] == 0
    a4 = lab.started(aid)
    lab.elapse(a4, 500)
    a5 = lab.started(aid)
    assert a5 != a4 and lab.attempt(a4)["status"] == "graded" and lab.attempt(a4)["closed_at_limit"] is True
    # Extra time of an override lengthens the deadline of the learner's next attempts.
    lab.s.ok("instructor", "insert into assessment.assessment_overrides (organization_id, assessment_id, course_id,"
                           " user_id, extra_time_seconds) values (%s, %s, %s, %s, 40)",
             (lab.s.t.id, aid, lab.course, lab.s.t.users["learner2"]))
    b1 = lab.started(aid, who="learner2")
    assert lab.s.one("select extract(epoch from deadline_at - started_at) from assessment.assessment_attempts"
                     " where id = %s", (b1,)) == 100


def test_draw_with_difficulty_mix_is_stored_per_attempt(lab: Lab) -> None:
    easy = [lab.question(difficulty="easy", stem=f"easy {i}") for i in range(4)]
    hard = [lab.question(difficulty="hard", stem=f"hard {i}") for i in range(3)]
    aid = lab.assessment(draws=[(2, "easy"), (1, "hard")], shuffle_questions=True, shuffle_options=True)
    attempt = lab.started(aid)
    drawn = lab.positions(attempt)
    assert sorted(drawn.values()) == [1, 2, 3]
    assert len(set(drawn) & set(easy)) == 2 and len(set(drawn) & set(hard)) == 1
    # Shuffled options are stored per response and applied to what the learner sees.
    orders = lab.s.fetch("select option_order from assessment.attempt_responses where attempt_id = %s", (attempt,))
    assert all(sorted(o[0]["options"]) == ["a", "b", "c", "d"] for o in orders)
    shown = lab.s.run("learner", "select position, definition from assessment.get_attempt_questions(%s)", (attempt,))
    order_by_position = dict(lab.s.fetch("select position, option_order -> 'options' from assessment.attempt_responses"
                                         " where attempt_id = %s", (attempt,)))
    assert all([o["id"] for o in d["options"]] == order_by_position[p] for p, d in shown.rows)
    # Used versions are immutable: editing a drawn question makes a new version; the attempt keeps its own.
    question = next(iter(drawn))
    old = lab.s.one("select question_version_id from assessment.attempt_responses where attempt_id = %s"
                    " and question_id = %s", (attempt, question))
    assert lab.s.one("select used_at is not null from assessment.question_versions where id = %s", (old,)) is True
    new = lab.s.ok("instructor", "select assessment.save_question_version(%s, 'multiple_choice_single', 'Edited',"
                                 " 1, %s, '{\"correct\": \"c\"}', 'easy', '{}', null)",
                   (question, psycopg.types.json.Jsonb({"options": [{"id": k, "text": k} for k in "abcd"]})))
    assert new != old
    assert lab.s.one("select question_version_id from assessment.attempt_responses where attempt_id = %s"
                     " and question_id = %s", (attempt, question)) == old
    # Not enough eligible questions: EL056 at the start, nothing written.
    short = lab.assessment(draws=[(4, "hard")])
    assert lab.start(short).sqlstate == "EL056"
    assert lab.result(short) is None
    assert lab.start(lab.assessment()).sqlstate == "EL056"


def test_responses_are_shape_checked(lab: Lab) -> None:
    aid = lab.assessment([lab.question()])
    attempt = lab.started(aid)
    for bad in ({"selected": "z"}, {"selected": ["b"]}, {"answer": True}, [1]):
        out = lab.save(attempt, 1, bad)
        assert (out.sqlstate, out.constraint) == ("EL054", "trg_attempt_responses_check_response"), bad
    assert lab.save(attempt, 2, {"selected": "b"}).sqlstate == "P0002"
    assert lab.save(attempt, 1, {"selected": "b"}, who="learner2").sqlstate == "42501"
    assert lab.save(attempt, 1, None).ok  # clearing is allowed


def rubric(lab: Lab) -> tuple[uuid.UUID, list[uuid.UUID], dict[uuid.UUID, list[uuid.UUID]]]:
    r = lab.s.ok("instructor", "insert into assessment.rubrics (organization_id, course_id, name) values (%s, %s,"
                               " 'Essay') returning id", (lab.s.t.id, lab.course))
    criteria = [lab.s.ok("instructor", "insert into assessment.rubric_criteria (organization_id, rubric_id, position,"
                                       " name, max_points) values (%s, %s, %s, %s, %s) returning id",
                         (lab.s.t.id, r, i + 1, name, top)) for i, (name, top) in enumerate([("Form", 4), ("Content", 6)])]
    levels = {c: [lab.s.ok("instructor", "insert into assessment.rubric_levels (organization_id, criterion_id, position,"
                                         " points, description) values (%s, %s, %s, %s, %s) returning id",
                           (lab.s.t.id, c, i + 1, p, f"level {p}")) for i, p in enumerate([0, 2])] for c in criteria}
    return r, criteria, levels


GRADE = "select manual_score, score from assessment.grade_response_manually(%s, %s, %s, %s, %s)"


def test_manual_grading_by_rubric_completes_the_attempt(lab: Lab) -> None:
    mc = lab.question(points=2)
    essay = lab.question("essay", points=5, stem="Explain")
    aid = lab.assessment([mc, essay], passing_score_percent=50)
    attempt = lab.started(aid)
    lab.answer_by_question(attempt, {mc: {"selected": "b"}, essay: {"text": "An answer."}})
    row = lab.submitted(attempt)
    assert row[2:4] == ("submitted", None)  # the essay waits for a grader
    response = lab.s.one("select id from assessment.attempt_responses where attempt_id = %s and question_id = %s",
                         (attempt, essay))
    r, criteria, levels = rubric(lab)
    J = psycopg.types.json.Jsonb
    assert lab.s.run("learner", GRADE, (response, 3, None, None, None)).sqlstate == "42501"
    assert lab.s.run("ta", GRADE, (response, 3, None, r, None)).sqlstate == "22023"
    missing = lab.s.run("ta", GRADE, (response, None, None, r, J([{"criterion_id": str(criteria[0]), "points": 1}])))
    assert missing.sqlstate == "EL058"
    wrong_level = lab.s.run("ta", GRADE, (response, None, None, r, J([
        {"criterion_id": str(criteria[0]), "level_id": str(levels[criteria[1]][1])},
        {"criterion_id": str(criteria[1]), "points": 1}])))
    assert wrong_level.sqlstate == "EL058"
    too_many = lab.s.run("ta", GRADE, (response, None, None, r, J([
        {"criterion_id": str(criteria[0]), "points": 5}, {"criterion_id": str(criteria[1]), "points": 1}])))
    assert (too_many.sqlstate, too_many.constraint) == ("23514", "ck_response_rubric_scores_points")
    over = lab.s.run("ta", GRADE, (response, 6, None, None, None))
    assert (over.sqlstate, over.constraint) == ("23514", "ck_attempt_responses_manual_score")
    # Form at level "2 points" (2/4), Content 3 of 6: 5 of 10 -> 2.5 of the essay's 5 points.
    graded = lab.s.run("ta", GRADE, (response, None, "Fair.", r, J([
        {"criterion_id": str(criteria[0]), "level_id": str(levels[criteria[0]][1]), "comment": "ok"},
        {"criterion_id": str(criteria[1]), "points": 3}])))
    assert graded.ok and graded.rows[0] == (Decimal("2.50"), Decimal("2.50"))
    t = lab.attempt(attempt)
    assert (t["status"], t["score"], t["score_percent"], t["passed"]) == ("graded", 4.5, 64.29, True)
    assert len(lab.events(aid)) == 1
    # A regrade (direct score) replaces the rubric scores and recomputes; no second event.
    lab.s.ok("ta", GRADE, (response, 0, "Off topic.", None, None))
    t = lab.attempt(attempt)
    assert (t["status"], t["score"], t["passed"]) == ("graded", 2.0, False)
    assert lab.s.one("select count(*) from assessment.response_rubric_scores where response_id = %s", (response,)) == 0
    assert lab.result(aid)["passed"] is False and lab.result(aid)["first_passed_at"] is not None  # type: ignore[index]
    assert len(lab.events(aid)) == 1


def test_learners_see_only_their_own_and_never_keys(lab: Lab) -> None:
    mc, essay = lab.question(), lab.question("essay", stem="Why")
    aid = lab.assessment([mc, essay], feedback_timing="after_grading")
    attempt = lab.started(aid)
    lab.answer_by_question(attempt, {mc: {"selected": "b"}, essay: {"text": "Because."}})
    assert lab.submitted(attempt)[2] == "submitted"  # the essay waits for a grader
    for table in ("assessment_attempts", "attempt_responses", "assessment_results"):
        q = f"select count(*) from assessment.{table}"
        assert lab.s.run("learner", q).value >= 1, table
        assert lab.s.run("learner2", q).value == 0, table
        assert lab.s.run("ta", q).value >= 1, table
    # Scores of responses are not readable directly; only through get_attempt_questions (after grading here).
    assert lab.s.run("learner", "select score from assessment.attempt_responses").sqlstate == "42501"
    assert lab.s.run("learner", "select auto_score, feedback from assessment.attempt_responses").sqlstate == "42501"
    hidden = lab.s.run("learner", "select score from assessment.get_attempt_questions(%s)", (attempt,))
    assert hidden.ok and all(r[0] is None for r in hidden.rows)
    assert lab.s.run("ta", "select score from assessment.get_attempt_questions(%s) where score is not null",
                     (attempt,)).rows
    assert lab.s.run("learner2", "select * from assessment.get_attempt_questions(%s)", (attempt,)).sqlstate == "42501"
    # No answer key: not in the tables learners can read, not in what the function returns, not executable.
    for table in ("question_answer_keys", "question_versions", "assessment_questions"):
        assert lab.s.run("learner", f"select count(*) from assessment.{table}").value == 0
    shown = lab.s.run("learner", "select to_jsonb(g)::text from assessment.get_attempt_questions(%s) g", (attempt,))
    assert shown.ok and not any('"correct"' in r[0] for r in shown.rows)
    denied = lab.s.run("learner", "select assessment.grade_response(%s, %s, '{\"selected\": \"b\"}')",
                       (lab.s.t.id, lab.s.one("select question_version_id from assessment.attempt_responses"
                                              " where attempt_id = %s and position = 1", (attempt,))))
    assert denied.sqlstate == "42501"
    # Learners cannot write attempts or responses directly.
    assert lab.s.run("learner", "update assessment.assessment_attempts set status = 'graded'").sqlstate == "42501"
    assert lab.s.run("learner", "update assessment.attempt_responses set response = null").sqlstate == "42501"


def test_security_settings(lab: Lab) -> None:
    q1, q2 = lab.question(), lab.question()
    bad = lab.s.run("instructor", "insert into assessment.assessments (organization_id, course_id, title,"
                                  " security_settings) values (%s, %s, 'x', '{\"allowed_ip_ranges\": [\"nope\"]}')",
                    (lab.s.t.id, lab.course))
    assert (bad.sqlstate, bad.constraint) == ("23514", "ck_assessments_security_settings")
    aid = lab.assessment([q1, q2], security_settings={"allowed_ip_ranges": ["10.0.0.0/8"], "one_question_at_a_time": True})
    assert lab.start(aid, ip="192.0.2.1").sqlstate == "EL059"
    assert lab.start(aid, ip=None).sqlstate == "EL059"
    attempt = lab.started(aid, ip="10.1.2.3")
    assert lab.save(attempt, 2, {"selected": "b"}, ip="10.1.2.3").ok
    out = lab.save(attempt, 1, {"selected": "b"}, ip="10.1.2.3")
    assert out.sqlstate == "EL059"
    assert lab.save(attempt, 2, {"selected": "a"}, ip="10.9.9.9").ok
    events = lab.attempt(attempt)["security_events"]
    assert [e["kind"] for e in events] == ["ip_changed"]
    assert lab.s.ok("learner", "select assessment.record_security_event(%s, 'focus_lost')", (attempt,)) == 2
    assert lab.s.run("learner", "select assessment.record_security_event(%s, 'Bad Kind')", (attempt,)).sqlstate == "22023"


def test_pass_event_exactly_once_per_learner_and_assessment(lab: Lab) -> None:
    q = lab.question(points=1)
    aid = lab.assessment([q], grading_method="latest", passing_score_percent=100)
    for answer, passed in [("b", True), ("a", False), ("b", True)]:
        attempt = lab.started(aid)
        lab.answer_by_question(attempt, {q: {"selected": answer}})
        lab.submitted(attempt)
        assert lab.result(aid)["passed"] is passed  # type: ignore[index]
    events = lab.events(aid)
    assert len(events) == 1 and events[0][1] == "assessment_attempt"


# -- properties ------------------------------------------------------------------------------------

POINTS = [Decimal("1"), Decimal("2"), Decimal("2.5")]


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["highest", "latest", "first", "average"]),
       passing=st.one_of(st.none(), st.integers(0, 100)),
       attempts=st.lists(st.tuples(st.lists(st.booleans(), min_size=3, max_size=3), st.booleans()),
                         min_size=1, max_size=4))
def test_final_grade_follows_the_grading_method(module_conn: psycopg.Connection, pg: PgServer, method: str,
                                                passing: int | None,
                                                attempts: list[tuple[list[bool], bool]]) -> None:
    """Attempt score = sum of response scores within [0, max]; the final grade is the grading method over
    the graded attempts (abandoned ones excluded); passed against the passing score; one event at most."""
    with module_conn.transaction(force_rollback=True):
        lab = Lab(module_conn, pg, "prop")
        questions = [lab.question(points=p) for p in POINTS]
        aid = lab.assessment(questions, grading_method=method, passing_score_percent=passing)
        graded: list[tuple[int, Decimal]] = []
        for number, (correct, abandon) in enumerate(attempts, 1):
            attempt = lab.started(aid)
            lab.answer_by_question(attempt, {q: {"selected": "b" if ok else "a"} for q, ok in zip(questions, correct)})
            if abandon:
                lab.s.ok("learner", ABANDON, (attempt,))
                continue
            row = lab.submitted(attempt)
            score = sum((p for p, ok in zip(POINTS, correct) if ok), Decimal(0))
            assert row[2:6] == ("graded", score, sum(POINTS), pct(score, sum(POINTS)))
            scores = lab.s.fetch("select score, points from assessment.attempt_responses where attempt_id = %s",
                                 (attempt,))
            assert all(0 <= s <= p for s, p in scores) and sum(s for s, _ in scores) == row[3]
            graded.append((number, pct(score, sum(POINTS))))
        result = lab.result(aid)
        assert result is not None and result["attempt_count"] == len(attempts)
        expected = final_grade(method, graded)
        got = result["final_score_percent"]
        assert (None if got is None else Decimal(str(got)).quantize(Decimal("0.01"))) == expected
        want_pass = None if expected is None or passing is None else expected >= passing
        assert result["passed"] is want_pass
        assert len(lab.events(aid)) == (1 if result["first_passed_at"] else 0)


# -- concurrency -----------------------------------------------------------------------------------

def committed_lab(pg: PgServer, db: str, **settings: Any) -> tuple[Lab, uuid.UUID, psycopg.Connection]:
    conn = pg.connect(db, autocommit=False)
    lab = Lab(conn, pg, "conc")
    aid = lab.assessment([lab.question(), lab.question()], **settings)
    conn.commit()
    return lab, aid, conn


def test_simultaneous_starts_yield_one_attempt(pg: PgServer, db: str, app: str) -> None:
    lab, aid, conn = committed_lab(pg, db, max_attempts=3)
    try:
        n = 14
        outs = run_concurrently(pg, db, n, app, lab.s.t.id, lab.s.t.users["learner"],
                                "select id, attempt_number from assessment.start_attempt(%s)", lambda i: (aid,))
        assert all(o.ok for o in outs), [o.sqlstate for o in outs]
        assert {o.rows[0] for o in outs} == {outs[0].rows[0]} and outs[0].rows[0][1] == 1
        assert conn.execute("select count(*) from assessment.assessment_attempts where assessment_id = %s",
                            (aid,)).fetchone() == (1,)
    finally:
        conn.close()


def test_concurrent_start_and_abandon_respects_the_limit(pg: PgServer, db: str, app: str) -> None:
    lab, aid, conn = committed_lab(pg, db, max_attempts=3)
    try:
        outs = run_concurrently(pg, db, 16, app, lab.s.t.id, lab.s.t.users["learner"],
                                "select (assessment.abandon_attempt((assessment.start_attempt(%s)).id)).attempt_number",
                                lambda i: (aid,))
        states = sorted(o.sqlstate or "ok" for o in outs)
        assert states.count("ok") == 3 and set(states) == {"ok", "EL051"}, states
        rows = conn.execute("select attempt_number, status from assessment.assessment_attempts where assessment_id = %s"
                            " order by 1", (aid,)).fetchall()
        assert rows == [(1, "abandoned"), (2, "abandoned"), (3, "abandoned")]
        assert conn.execute("select attempt_count from assessment.assessment_results where assessment_id = %s",
                            (aid,)).fetchone() == (3,)
    finally:
        conn.close()


# -- statistics ------------------------------------------------------------------------------------

def test_question_statistics_for_staff_only(pg: PgServer, db: str) -> None:
    conn = pg.connect(db, autocommit=False)
    try:
        lab = Lab(conn, pg, "stats")
        q1, q2 = lab.question(), lab.question()
        aid = lab.assessment([q1, q2], max_attempts=10)
        for answers in ([True, True], [True, False], [False, False], [True, True]):
            attempt = lab.started(aid)
            lab.answer_by_question(attempt, {q: {"selected": "b" if ok else "a"} for q, ok in zip((q1, q2), answers)})
            lab.submitted(attempt)
        conn.commit()
        read = "select question_id, attempt_count, difficulty_index, discrimination_index from" \
               " assessment.get_question_statistics(%s) order by difficulty_index"
        assert run(conn, pg.roles["app_role"], lab.s.t.id, lab.s.t.users["instructor"], read, (aid,)).sqlstate == "55000"
        conn.rollback()
        for _ in range(2):  # complete, then concurrently
            with conn.transaction():
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(pg.roles["migrator_role"])))
                conn.execute("select * from assessment.refresh_question_statistics()")
        rows = run(conn, pg.roles["app_role"], lab.s.t.id, lab.s.t.users["instructor"], read, (aid,)).rows
        # Four graded attempts (100, 50, 0, 100 %): top and bottom 27 % = ceil(1.08) = 2 attempts each.
        # q1: right 3 of 4; top 2/2, bottom (0 %, 50 %) 1/2. q2: right 2 of 4; top 2/2, bottom 0/2.
        assert {r[0]: r[1:] for r in rows} == {
            q1: (4, Decimal("0.7500"), Decimal("0.5000")), q2: (4, Decimal("0.5000"), Decimal("1.0000"))}
        for who in ("learner", "ta"):
            out = run(conn, pg.roles["app_role"], lab.s.t.id, lab.s.t.users[who], read, (aid,))
            assert out.sqlstate == "42501", who
        scoped_grant(lab.s, "learner2", "instructor", lab.course)
        assert run(conn, pg.roles["app_role"], lab.s.t.id, lab.s.t.users["learner2"], read, (aid,)).ok
        conn.rollback()
    finally:
        conn.close()
