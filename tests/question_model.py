"""An independent Python model of question grading, and hypothesis strategies for random questions.

The model is written from the documented rules (README "Questions", the comment of
``assessment.score_response``), not from the SQL: exact fractions, a brute-force longest ordered
subsequence, character-by-character answer folding. ``tests/test_grading.py`` holds the database to it.

A ``Case`` is one question version with its answer key and one response; ``to_json`` writes JSON text
with numbers exactly as given (decimal strings), so the database sees the same values as the model.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

AUTO_TYPES = ["multiple_choice_single", "multiple_choice_multiple", "true_false", "short_answer",
              "fill_in_the_blank", "matching", "ordering", "numeric"]
MANUAL_TYPES = ["essay", "file_upload", "code"]
WHITESPACE = " \t\n\r\f\v"


# -- the rules ------------------------------------------------------------------------------------

def fold_letter(ch: str) -> str:
    """Lower case of a letter of U+0041-U+052F when Unicode gives exactly one character, else itself."""
    if 0x41 <= ord(ch) <= 0x52F:
        low = ch.lower()
        if len(low) == 1:
            return low
    return ch


def fold(text: str, case_sensitive: bool) -> str:
    """NFC, runs of ASCII whitespace -> one space, trimmed, optionally case-folded."""
    out: list[str] = []
    in_space = False
    for ch in unicodedata.normalize("NFC", text):
        if ch in WHITESPACE:
            if not in_space:
                out.append(" ")
            in_space = True
        else:
            out.append(ch if case_sensitive else fold_letter(ch))
            in_space = False
    return "".join(out).strip(" ")


def matches(answer: str | None, spec: dict[str, Any]) -> bool:
    if answer is None:
        return False
    cs = bool(spec.get("case_sensitive", False))
    return any(fold(answer, cs) == fold(a, cs) for a in spec["accepted"])


def longest_ordered(positions: list[int]) -> int:
    """Length of the longest subsequence of strictly increasing positions, by brute force (n <= 8)."""
    for size in range(len(positions), 0, -1):
        for picked in itertools.combinations(positions, size):
            if all(a < b for a, b in zip(picked, picked[1:])):
                return size
    return 0


def round2(value: Fraction) -> Decimal:
    """Round half away from zero to 2 decimals (value >= 0), exactly."""
    hundredths = value * 100
    n = (hundredths.numerator * 2 + hundredths.denominator) // (2 * hundredths.denominator)
    return Decimal(n) / Decimal(100)


def fraction_correct(qtype: str, key: dict[str, Any], response: dict[str, Any]) -> Fraction:
    if qtype == "multiple_choice_single":
        return Fraction(int(response["selected"] == key["correct"]))
    if qtype == "true_false":
        return Fraction(int(response["answer"] == key["correct"]))
    if qtype == "multiple_choice_multiple":
        chosen, correct = set(response["selected"]), set(key["correct"])
        return Fraction(max(0, len(chosen & correct) - len(chosen - correct)), len(correct))
    if qtype == "short_answer":
        return Fraction(int(matches(response["text"], key)))
    if qtype == "fill_in_the_blank":
        blanks = key["blanks"]
        return Fraction(sum(matches(response["blanks"].get(b), spec) for b, spec in blanks.items()), len(blanks))
    if qtype == "matching":
        pairs = key["pairs"]
        return Fraction(sum(response["pairs"].get(p) == c for p, c in pairs.items()), len(pairs))
    if qtype == "ordering":
        rank = {item: i for i, item in enumerate(key["order"])}
        n = len(key["order"])
        return Fraction(longest_ordered([rank[i] for i in response["order"]]) - 1, n - 1)
    if qtype == "numeric":
        value, target = Decimal(response["value"]), Decimal(key["value"])
        tolerance = Decimal(key.get("tolerance", "0"))
        if key.get("tolerance_type") == "relative":
            tolerance *= abs(target)
        return Fraction(int(abs(value - target) <= tolerance))
    raise ValueError(qtype)


def expected_score(qtype: str, points: Decimal, key: dict[str, Any], response: dict[str, Any]) -> Decimal | None:
    if qtype in MANUAL_TYPES:
        return None
    return min(points, round2(Fraction(points) * fraction_correct(qtype, key, response)))


# -- JSON with exact numbers ------------------------------------------------------------------------

class Num(str):
    """A JSON number written as its decimal string (kept exact on the way to PostgreSQL)."""


def to_json(value: Any) -> str:
    if isinstance(value, Num):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


# -- strategies -----------------------------------------------------------------------------------

@dataclass
class Case:
    qtype: str
    points: Decimal
    definition: dict[str, Any]
    key: dict[str, Any]
    response: dict[str, Any]


ID = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=6)
WORD_CHARS = "abcxyzABCXYZ ÉéeÜüßİıΣσςДдЖж\u0301\t\n0123456789"
FREE_TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30)
POINTS = st.integers(1, 100000).map(lambda n: Decimal(n) / 100)


def ids(n_min: int, n_max: int) -> st.SearchStrategy[list[str]]:
    return st.lists(ID, min_size=n_min, max_size=n_max, unique=True)


def items(names: list[str]) -> list[dict[str, str]]:
    return [{"id": i, "text": f"Item {i}"} for i in names]


@st.composite
def variant(draw: st.DrawFn, answer: str) -> str:
    """A response close to ``answer``: letters re-cased, whitespace runs added or replaced."""
    out = []
    for ch in answer:
        if ch in WHITESPACE and draw(st.booleans()):
            out.append(draw(st.text(alphabet=WHITESPACE, min_size=1, max_size=3)))
        elif draw(st.booleans()):
            out.append(ch.upper() if draw(st.booleans()) else ch.lower())
        else:
            out.append(ch)
    pad = st.text(alphabet=WHITESPACE, max_size=2)
    return draw(pad) + "".join(out) + draw(pad)


ANSWER = st.text(alphabet=WORD_CHARS, min_size=1, max_size=12).filter(lambda s: fold(s, True) != "")


@st.composite
def text_answer(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    if draw(st.booleans()):
        return draw(variant(draw(st.sampled_from(spec["accepted"]))))
    return draw(st.text(alphabet=WORD_CHARS, max_size=12))


@st.composite
def accepted_spec(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"accepted": draw(st.lists(ANSWER, min_size=1, max_size=3))}
    cs = draw(st.sampled_from([None, True, False]))
    if cs is not None:
        spec["case_sensitive"] = cs
    return spec


@st.composite
def decimal_text(draw: st.DrawFn, max_digits: int = 7) -> Decimal:
    scale = draw(st.integers(0, 4))
    return Decimal(draw(st.integers(-(10 ** max_digits), 10 ** max_digits))).scaleb(-scale)


@st.composite
def case(draw: st.DrawFn, qtype: str) -> Case:
    points = draw(POINTS)
    definition: dict[str, Any]
    key: dict[str, Any]
    response: dict[str, Any]
    if qtype in ("multiple_choice_single", "multiple_choice_multiple"):
        names = draw(ids(2, 6))
        definition = {"options": items(names)}
        if qtype == "multiple_choice_single":
            key = {"correct": draw(st.sampled_from(names))}
            response = {"selected": draw(st.sampled_from(names))}
        else:
            key = {"correct": draw(st.lists(st.sampled_from(names), min_size=1, unique=True))}
            response = {"selected": draw(st.lists(st.sampled_from(names), unique=True))}
    elif qtype == "true_false":
        definition, key, response = {}, {"correct": draw(st.booleans())}, {"answer": draw(st.booleans())}
    elif qtype == "short_answer":
        definition = {}
        key = draw(accepted_spec())
        response = {"text": draw(text_answer(key))}
    elif qtype == "fill_in_the_blank":
        blanks = draw(ids(1, 4))
        definition = {"text": "Fill: " + " and ".join("{{" + b + "}}" for b in blanks) + ".", "blanks": blanks}
        key = {"blanks": {b: draw(accepted_spec()) for b in blanks}}
        answered = draw(st.lists(st.sampled_from(blanks), unique=True))
        response = {"blanks": {b: draw(text_answer(key["blanks"][b])) for b in answered}}
    elif qtype == "matching":
        prompts, choices = draw(ids(2, 5)), draw(ids(2, 5))
        definition = {"prompts": items(prompts), "choices": items(choices)}
        key = {"pairs": {p: draw(st.sampled_from(choices)) for p in prompts}}
        answered = draw(st.lists(st.sampled_from(prompts), unique=True))
        response = {"pairs": {p: draw(st.sampled_from(choices)) for p in answered}}
    elif qtype == "ordering":
        names = draw(ids(2, 7))
        definition = {"items": items(names)}
        key = {"order": draw(st.permutations(names))}
        response = {"order": draw(st.permutations(names))}
    elif qtype == "numeric":
        target = draw(decimal_text())
        key = {"value": Num(target)}
        tolerance = None
        if draw(st.booleans()):
            tolerance = abs(draw(decimal_text(4)))
            key["tolerance"] = Num(tolerance)
        kind = draw(st.sampled_from([None, "absolute", "relative"]))
        if kind is not None:
            key["tolerance_type"] = kind
        limit = (tolerance or Decimal(0)) * (abs(target) if kind == "relative" else 1)
        # Around the edges of the accepted interval, exactly on them, or anywhere.
        value = draw(st.one_of(
            st.sampled_from([target, target + limit, target - limit]),
            st.sampled_from([Decimal("0.0001"), Decimal("-0.0001")]).map(lambda d: target + limit + d),
            decimal_text()))
        definition = {"unit": "m"} if draw(st.booleans()) else {}
        response = {"value": Num(value)}
    elif qtype == "essay":
        definition, key, response = {}, {"model_answer": "Anything sensible."}, {"text": draw(FREE_TEXT)}
    elif qtype == "file_upload":
        definition = {"max_files": 2}
        key = {"grading_notes": "Check the figures."}
        response = {"files": ["0190c6b2-8f3a-7cc1-9a55-3b1f1c9d2e4f"]}
    elif qtype == "code":
        definition = {"language": "python", "tests": [{"name": "t1", "input": "1", "expected_output": "2"}]}
        key = {"reference_solution": "print(int(input()) + 1)"}
        response = {"code": draw(FREE_TEXT)}
    else:
        raise ValueError(qtype)
    return Case(qtype, points, definition, key, response)


def any_case(types: list[str] | None = None) -> st.SearchStrategy[Case]:
    return st.sampled_from(types or AUTO_TYPES + MANUAL_TYPES).flatmap(case)
