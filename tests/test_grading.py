"""Auto-grading (V0113) against the independent Python model (tests/question_model.py).

Properties: on random questions, keys and responses of every type the database accepts the generated
shapes and ``score_response`` equals the model's score, always within [0, points]; the same through
``grade_response`` with versions and keys stored by staff; broken shapes are rejected. Examples pin
the documented partial-credit rules. ``grade_response`` errors carry their SQLSTATEs.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PgServer
from .course_support import School, school
from .question_model import AUTO_TYPES, MANUAL_TYPES, Case, any_case, expected_score, to_json

SCORE = ("select assessment.definition_problem(%(t)s, %(d)s::jsonb),"
         " assessment.answer_key_problem(%(t)s, %(d)s::jsonb, %(k)s::jsonb),"
         " assessment.response_problem(%(t)s, %(d)s::jsonb, %(r)s::jsonb),"
         " assessment.score_response(%(t)s, %(d)s::jsonb, %(k)s::jsonb, %(p)s, %(r)s::jsonb)")
PROBLEMS = ("select assessment.definition_problem(%(t)s, %(d)s::jsonb),"
            " assessment.answer_key_problem(%(t)s, %(d)s::jsonb, %(k)s::jsonb),"
            " assessment.response_problem(%(t)s, %(d)s::jsonb, %(r)s::jsonb)")
GRADE = "select assessment.grade_response(%s, %s, %s::jsonb)"


def params(c: Case, **override: Any) -> dict[str, Any]:
    p = {"t": c.qtype, "d": to_json(c.definition), "k": to_json(c.key), "p": c.points, "r": to_json(c.response)}
    p.update(override)
    return p


def db_score(conn: psycopg.Connection, c: Case) -> Decimal | None:
    with conn.transaction():  # a savepoint: one failing example does not poison the next
        row = conn.execute(SCORE, params(c)).fetchone()
    assert row is not None
    assert row[:3] == (None, None, None), (c, row[:3])
    return row[3]  # type: ignore[no-any-return]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(c=any_case())
def test_score_response_agrees_with_the_model(conn: psycopg.Connection, c: Case) -> None:
    got = db_score(conn, c)
    assert got == expected_score(c.qtype, c.points, c.key, c.response), c
    if got is not None:
        assert 0 <= got <= c.points
        assert got == got.quantize(Decimal("0.01"))


# -- broken shapes --------------------------------------------------------------------------------

def break_shape(c: Case, part: str, how: str) -> dict[str, Any]:
    doc = dict(getattr(c, part))
    if how == "extra_key":
        doc["surprise"] = 1
    elif how == "drop_key" and doc:
        doc.pop(next(iter(doc)))
    else:
        doc = {"surprise": [1]}  # not droppable (e.g. {}): replace by something invalid
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(c=any_case(), part=st.sampled_from(["definition", "key", "response"]),
       how=st.sampled_from(["extra_key", "drop_key", "replace"]))
def test_broken_shapes_are_rejected_with_a_reason(conn: psycopg.Connection, c: Case, part: str, how: str) -> None:
    broken = to_json(break_shape(c, part, how))
    optional_only = {  # types whose key / definition have no required key: dropping one stays valid
        "definition": {"true_false", "short_answer", "essay", "numeric", "file_upload"},
        "key": {"essay", "file_upload", "code"},
        "response": set(),
    }
    if how == "drop_key" and c.qtype in optional_only[part] and getattr(c, part):
        return
    field = {"definition": "d", "key": "k", "response": "r"}[part]
    with conn.transaction():
        row = conn.execute(PROBLEMS, params(c, **{field: broken})).fetchone()
    assert row is not None
    problems = {"definition": row[0], "key": row[1], "response": row[2]}
    assert problems[part] is not None, (c, part, how)
    if part == "definition":  # keys and responses are judged against a valid definition only
        assert row[1] is not None and row[2] is not None
    assert "surprise" not in problems[part]  # the reason names rules, not values


@pytest.mark.parametrize("qtype, definition, key, response, reason", [
    ("multiple_choice_single", '{"options": [{"id": "a", "text": "A"}]}', '{"correct": "a"}', '{"selected": "a"}',
     "definition"),
    ("multiple_choice_single", '{"options": [{"id": "a", "text": "A"}, {"id": "a", "text": "B"}]}',
     '{"correct": "a"}', '{"selected": "a"}', "definition"),
    ("multiple_choice_single", '{"options": [{"id": "a", "text": "A", "correct": true}, {"id": "b", "text": "B"}]}',
     '{"correct": "a"}', '{"selected": "a"}', "definition"),
    ("multiple_choice_single", '{"options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}',
     '{"correct": "z"}', '{"selected": "a"}', "key"),
    ("multiple_choice_multiple", '{"options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}',
     '{"correct": []}', '{"selected": ["a"]}', "key"),
    ("multiple_choice_multiple", '{"options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}',
     '{"correct": ["a"]}', '{"selected": ["a", "a"]}', "response"),
    ("fill_in_the_blank", '{"text": "No blank here", "blanks": ["x"]}', '{"blanks": {"x": {"accepted": ["y"]}}}',
     '{"blanks": {}}', "definition"),
    ("fill_in_the_blank", '{"text": "{{x}} and {{x}}", "blanks": ["x"]}', '{"blanks": {"x": {"accepted": ["y"]}}}',
     '{"blanks": {}}', "definition"),
    ("fill_in_the_blank", '{"text": "{{x}}", "blanks": ["x"]}', '{"blanks": {"x": {"accepted": ["  "]}}}',
     '{"blanks": {}}', "key"),
    ("fill_in_the_blank", '{"text": "{{x}}", "blanks": ["x"]}', '{"blanks": {"x": {"accepted": ["y"]}}}',
     '{"blanks": {"z": "y"}}', "response"),
    ("ordering", '{"items": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}', '{"order": ["a"]}',
     '{"order": ["a", "b"]}', "key"),
    ("ordering", '{"items": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}', '{"order": ["a", "b"]}',
     '{"order": ["b"]}', "response"),
    ("matching", '{"prompts": [{"id": "p", "text": "P"}, {"id": "q", "text": "Q"}],'
     ' "choices": [{"id": "x", "text": "X"}, {"id": "y", "text": "Y"}]}', '{"pairs": {"p": "x"}}',
     '{"pairs": {}}', "key"),
    ("numeric", '{}', '{"value": 1, "tolerance": -1}', '{"value": 1}', "key"),
    ("numeric", '{}', '{"value": 1, "tolerance_type": "percent"}', '{"value": 1}', "key"),
    ("numeric", '{}', '{"value": 1}', '{"value": "1"}', "response"),
    ("true_false", '{}', '{"correct": "true"}', '{"answer": true}', "key"),
    ("short_answer", '{"max_length": 3}', '{"accepted": ["abc"]}', '{"text": "abcd"}', "response"),
    ("file_upload", '{"max_files": 1}', '{}', '{"files": ["0190c6b2-8f3a-7cc1-9a55-3b1f1c9d2e4f",'
     ' "0190c6b2-8f3a-7cc1-9a55-3b1f1c9d2e40"]}', "response"),
    ("file_upload", '{}', '{}', '{"files": ["not-a-uuid"]}', "response"),
    ("code", '{"language": "cobol"}', '{}', '{"code": ""}', "definition"),
    ("code", '{"language": "python"}', '{"hidden_tests": [{"name": "t"}]}', '{"code": ""}', "key"),
    ("essay", '{"max_length": 0}', '{}', '{"text": ""}', "definition"),
    ("poll", '{}', '{}', '{}', "definition"),
])
def test_invalid_examples(conn: psycopg.Connection, qtype: str, definition: str, key: str, response: str,
                          reason: str) -> None:
    row = conn.execute(PROBLEMS, {"t": qtype, "d": definition, "k": key, "r": response}).fetchone()
    assert row is not None
    got = {"definition": row[0], "key": row[1], "response": row[2]}
    assert got[reason] is not None, got
    for other in ("definition", "key", "response"):
        if other != reason and reason != "definition":
            assert got[other] is None, got


# -- the documented partial-credit rules ------------------------------------------------------------

OPTS = '{"options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}, {"id": "c", "text": "C"}, {"id": "d", "text": "D"}]}'
ITEMS = '{"items": [' + ", ".join(f'{{"id": "{i}", "text": "{i}"}}' for i in "abcde") + "]}"
FIB = '{"text": "{{x}} is the capital of {{y}}.", "blanks": ["x", "y"]}'
FIB_KEY = ('{"blanks": {"x": {"accepted": ["Paris"]}, "y": {"accepted": ["France", "la France"],'
           ' "case_sensitive": true}}}')
MATCH = ('{"prompts": [{"id": "p1", "text": "1"}, {"id": "p2", "text": "2"}, {"id": "p3", "text": "3"}],'
         ' "choices": [{"id": "x", "text": "X"}, {"id": "y", "text": "Y"}]}')


@pytest.mark.parametrize("qtype, definition, key, points, response, expected", [
    ("multiple_choice_single", OPTS, '{"correct": "b"}', "2", '{"selected": "b"}', "2.00"),
    ("multiple_choice_single", OPTS, '{"correct": "b"}', "2", '{"selected": "a"}', "0.00"),
    # right minus wrong over the number of correct options, floored at 0
    ("multiple_choice_multiple", OPTS, '{"correct": ["a", "b"]}', "3", '{"selected": ["a", "b"]}', "3.00"),
    ("multiple_choice_multiple", OPTS, '{"correct": ["a", "b"]}', "3", '{"selected": ["a"]}', "1.50"),
    ("multiple_choice_multiple", OPTS, '{"correct": ["a", "b"]}', "3", '{"selected": ["a", "c"]}', "0.00"),
    ("multiple_choice_multiple", OPTS, '{"correct": ["a", "b"]}', "3", '{"selected": ["a", "b", "c"]}', "1.50"),
    ("multiple_choice_multiple", OPTS, '{"correct": ["a", "b", "c"]}', "1", '{"selected": ["a", "b"]}', "0.67"),
    ("multiple_choice_multiple", OPTS, '{"correct": ["a"]}', "1", '{"selected": ["b", "c", "d"]}', "0.00"),
    ("multiple_choice_multiple", OPTS, '{"correct": ["a"]}', "1", '{"selected": []}', "0.00"),
    ("true_false", '{}', '{"correct": false}', "1", '{"answer": false}', "1.00"),
    # (longest subsequence in correct relative order - 1) / (n - 1)
    ("ordering", ITEMS, '{"order": ["a", "b", "c", "d", "e"]}', "4", '{"order": ["a", "b", "c", "d", "e"]}', "4.00"),
    ("ordering", ITEMS, '{"order": ["a", "b", "c", "d", "e"]}', "4", '{"order": ["e", "a", "b", "c", "d"]}', "3.00"),
    ("ordering", ITEMS, '{"order": ["a", "b", "c", "d", "e"]}', "4", '{"order": ["b", "a", "d", "c", "e"]}', "2.00"),
    ("ordering", ITEMS, '{"order": ["a", "b", "c", "d", "e"]}', "4", '{"order": ["e", "d", "c", "b", "a"]}', "0.00"),
    # share of correct blanks; case-insensitive by default, whitespace collapsed, alternatives
    ("fill_in_the_blank", FIB, FIB_KEY, "2", '{"blanks": {"x": "  PARIS ", "y": "la \\t France"}}', "2.00"),
    ("fill_in_the_blank", FIB, FIB_KEY, "2", '{"blanks": {"x": "paris", "y": "france"}}', "1.00"),
    ("fill_in_the_blank", FIB, FIB_KEY, "2", '{"blanks": {"y": "France"}}', "1.00"),
    ("fill_in_the_blank", FIB, FIB_KEY, "2", '{"blanks": {"x": "Pa ris"}}', "0.00"),
    ("short_answer", '{}', '{"accepted": ["Ökonomie"]}', "1", '{"text": "ÖKONOMIE"}', "1.00"),
    ("short_answer", '{}', '{"accepted": ["é"]}', "1", '{"text": "E\\u0301"}', "1.00"),
    # share of correctly paired prompts
    ("matching", MATCH, '{"pairs": {"p1": "x", "p2": "y", "p3": "x"}}', "1", '{"pairs": {"p1": "x", "p2": "x"}}', "0.33"),
    ("matching", MATCH, '{"pairs": {"p1": "x", "p2": "y", "p3": "x"}}', "3", '{"pairs": {"p1": "x", "p2": "y"}}', "2.00"),
    # tolerances are inclusive; relative = fraction of |value|
    ("numeric", '{}', '{"value": 9.81, "tolerance": 0.01}', "1", '{"value": 9.82}', "1.00"),
    ("numeric", '{}', '{"value": 9.81, "tolerance": 0.01}', "1", '{"value": 9.8201}', "0.00"),
    ("numeric", '{}', '{"value": -200, "tolerance": 0.05, "tolerance_type": "relative"}', "1", '{"value": -190}', "1.00"),
    ("numeric", '{}', '{"value": -200, "tolerance": 0.05, "tolerance_type": "relative"}', "1", '{"value": -189.9}', "0.00"),
    ("numeric", '{}', '{"value": 0, "tolerance": 0.5, "tolerance_type": "relative"}', "1", '{"value": 0.0001}', "0.00"),
    ("numeric", '{}', '{"value": 1e3}', "1", '{"value": 1000.000}', "1.00"),
    ("essay", '{}', '{}', "5", '{"text": "An essay."}', None),
])
def test_partial_credit_rules(conn: psycopg.Connection, qtype: str, definition: str, key: str, points: str,
                              response: str, expected: str | None) -> None:
    row = conn.execute(SCORE, {"t": qtype, "d": definition, "k": key, "p": Decimal(points), "r": response}).fetchone()
    assert row is not None and row[:3] == (None, None, None), row
    assert row[3] == (Decimal(expected) if expected is not None else None)


# -- through grade_response, with stored versions and keys -------------------------------------------

@pytest.fixture
def s(tx: psycopg.Connection, pg: PgServer) -> School:
    return school(tx, pg, "grd", people=(("instructor", "instructor"), ("learner", "learner")))


def owner_grade(s: School, version: Any, response: str, org: Any = None) -> Any:
    return s.owner_run(GRADE, (org or s.t.id, version, response))


def store(s: School, question: uuid.UUID, c: Case) -> uuid.UUID:
    return s.ok("instructor", "select assessment.save_question_version(%s, %s, 'Stem', %s, %s::jsonb, %s::jsonb)",
                (question, c.qtype, c.points, to_json(c.definition), to_json(c.key)))


def new_question(s: School) -> uuid.UUID:
    bank = s.ok("instructor", "insert into assessment.question_banks (organization_id, name) values (%s, 'Bank')"
                              " returning id", (s.t.id,))
    return s.ok("instructor", "insert into assessment.questions (organization_id, bank_id) values (%s, %s)"
                              " returning id", (s.t.id, bank))  # type: ignore[no-any-return]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(c=any_case())
def test_grade_response_uses_the_stored_key(s: School, c: Case) -> None:
    question = new_question(s)
    version = store(s, question, c)
    out = owner_grade(s, version, to_json(c.response))
    assert out.ok, out
    assert out.rows[0][0] == expected_score(c.qtype, c.points, c.key, c.response)


def test_grade_response_errors_and_grants(s: School, pg: PgServer) -> None:
    question = new_question(s)
    mc = store(s, question, Case("multiple_choice_single", Decimal(2), {"options": [
        {"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}, {"correct": "b"}, {}))
    assert owner_grade(s, mc, '{"selected": "b"}').value == Decimal("2.00")
    bad = owner_grade(s, mc, '{"selected": "z"}')
    assert bad.sqlstate == "EL044"
    assert owner_grade(s, uuid.uuid4(), '{"selected": "b"}').sqlstate == "P0002"
    assert owner_grade(s, mc, '{"selected": "b"}', org=uuid.uuid4()).sqlstate == "22023"
    # An auto-graded version without key cannot be graded (nor used).
    other = new_question(s)
    bare = s.ok("instructor", "select assessment.save_question_version(%s, 'true_false', 'Stem', 1, '{}', null)",
                (other,))
    assert owner_grade(s, bare, '{"answer": true}').sqlstate == "EL041"
    # Manual types: NULL.
    essay = s.ok("instructor", "select assessment.save_question_version(%s, 'essay', 'Stem', 5, '{}', null)",
                 (new_question(s),))
    assert owner_grade(s, essay, '{"text": "x"}').ok and owner_grade(s, essay, '{"text": "x"}').rows == [(None,)]
    # Nobody but the owner's definer functions grades: not the learner, not even staff.
    for who in ("learner", "instructor"):
        for query, args in [(GRADE, (s.t.id, mc, '{"selected": "b"}')),
                            ("select assessment.score_response('true_false', '{}', '{\"correct\": true}', 1,"
                             " '{\"answer\": true}')", ()),
                            ("select assessment.mark_versions_used(%s, %s)", (s.t.id, [mc]))]:
            assert s.run(who, query, args).sqlstate == "42501", (who, query)


@pytest.mark.parametrize("qtype", AUTO_TYPES + MANUAL_TYPES)
def test_every_type_round_trips(s: School, qtype: str) -> None:
    """One stored version per type: a correct response scores full points (auto), manual types NULL."""
    version = store(s, new_question(s), FULL[qtype])
    out = owner_grade(s, version, to_json(FULL[qtype].response))
    assert out.ok, out
    assert out.rows[0][0] == (None if qtype in MANUAL_TYPES else FULL[qtype].points)


FULL: dict[str, Case] = {
    "multiple_choice_single": Case("multiple_choice_single", Decimal("2.5"), {"options": [
        {"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}, {"correct": "a"}, {"selected": "a"}),
    "multiple_choice_multiple": Case("multiple_choice_multiple", Decimal(3), {"options": [
        {"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}, {"correct": ["a", "b"]}, {"selected": ["b", "a"]}),
    "true_false": Case("true_false", Decimal(1), {}, {"correct": True}, {"answer": True}),
    "short_answer": Case("short_answer", Decimal(1), {}, {"accepted": ["Berlin"]}, {"text": " berlin "}),
    "fill_in_the_blank": Case("fill_in_the_blank", Decimal(2), {"text": "{{a}}+{{b}}", "blanks": ["a", "b"]},
                              {"blanks": {"a": {"accepted": ["1"]}, "b": {"accepted": ["2"]}}},
                              {"blanks": {"a": "1", "b": "2"}}),
    "matching": Case("matching", Decimal(2), {"prompts": [{"id": "p", "text": "P"}, {"id": "q", "text": "Q"}],
                                              "choices": [{"id": "x", "text": "X"}, {"id": "y", "text": "Y"}]},
                     {"pairs": {"p": "x", "q": "y"}}, {"pairs": {"p": "x", "q": "y"}}),
    "ordering": Case("ordering", Decimal(2), {"items": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]},
                     {"order": ["b", "a"]}, {"order": ["b", "a"]}),
    "numeric": Case("numeric", Decimal(1), {"unit": "m"}, {"value": 3.14, "tolerance": 0.01}, {"value": 3.141}),
    "essay": Case("essay", Decimal(5), {"max_length": 500}, {"model_answer": "Because."}, {"text": "Because!"}),
    "file_upload": Case("file_upload", Decimal(5), {"max_files": 2, "accepted_mime_types": ["application/pdf"]},
                        {"grading_notes": "Look at page 2."}, {"files": ["0190c6b2-8f3a-7cc1-9a55-3b1f1c9d2e4f"]}),
    "code": Case("code", Decimal(5), {"language": "python", "starter_code": "def f():\n    pass\n"},
                 {"hidden_tests": [{"name": "h1", "input": "", "expected_output": "42"}]}, {"code": "print(42)"}),
}
