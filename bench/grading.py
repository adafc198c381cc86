"""Auto-grading throughput: responses graded per second through assessment.grade_response() vs a
plain INSERT of the same rows, in the same run on the same server.

One organization (create_organization) with a bank of --versions question versions over the eight
auto-graded types (keys stored), and --rows responses (right, partly right and wrong ones, in a
source table). Then, inside the server, median of --repeat:

- plain:  INSERT INTO bench.responses SELECT ..., NULL        FROM bench.source  (baseline)
- graded: INSERT INTO bench.responses SELECT ..., grade_response(org, version, response) FROM bench.source
- rules:  the same with score_response() on the joined version and key (the pure rules, no lookup)

bench.responses is a bare table shaped like attempt responses (no RLS, no triggers, no indexes but
the primary key), so the difference is the grading. Prints rows/s and the ratio graded / plain.

    .venv/bin/python bench/grading.py
    ELEARN_PG_BINDIR=/usr/lib/postgresql/15/bin .venv/bin/python bench/grading.py
    .venv/bin/python bench/grading.py --rows 50000 --versions 400 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import psycopg

from harness import ARGON2, migrated_server

OPTIONS = [{"id": c, "text": f"Option {c}"} for c in "abcde"]
ITEMS = [{"id": f"i{n}", "text": f"Step {n}"} for n in range(1, 7)]
PROMPTS = [{"id": f"p{n}", "text": f"Term {n}"} for n in range(1, 5)]
CHOICES = [{"id": f"c{n}", "text": f"Meaning {n}"} for n in range(1, 5)]


def question(kind: str, rnd: random.Random) -> tuple[dict, dict, list[dict]]:
    """(definition, key, [responses]) of one version of ``kind``."""
    if kind == "multiple_choice_single":
        right = rnd.choice("abcde")
        return {"options": OPTIONS}, {"correct": right}, [{"selected": c} for c in (right, "a", "e")]
    if kind == "multiple_choice_multiple":
        right = rnd.sample("abcde", 2)
        return ({"options": OPTIONS}, {"correct": right},
                [{"selected": right}, {"selected": right[:1]}, {"selected": ["a", "b", "c"]}])
    if kind == "true_false":
        right = rnd.random() < 0.5
        return {}, {"correct": right}, [{"answer": right}, {"answer": not right}]
    if kind == "short_answer":
        return ({}, {"accepted": ["Photosynthesis", "photo synthesis"]},
                [{"text": "  photosynthesis "}, {"text": "Photo  Synthesis"}, {"text": "respiration"}])
    if kind == "fill_in_the_blank":
        definition = {"text": "{{a}} is the capital of {{b}}.", "blanks": ["a", "b"]}
        key = {"blanks": {"a": {"accepted": ["Paris"]}, "b": {"accepted": ["France", "la France"]}}}
        return definition, key, [{"blanks": {"a": "paris", "b": "France"}}, {"blanks": {"a": "Lyon"}}]
    if kind == "matching":
        pairs = {p["id"]: rnd.choice(CHOICES)["id"] for p in PROMPTS}
        half = dict(list(pairs.items())[:2])
        return {"prompts": PROMPTS, "choices": CHOICES}, {"pairs": pairs}, [{"pairs": pairs}, {"pairs": half}]
    if kind == "ordering":
        order = [i["id"] for i in ITEMS]
        rnd.shuffle(order)
        swapped = order[1:2] + order[:1] + order[2:]
        return {"items": ITEMS}, {"order": order}, [{"order": order}, {"order": swapped}, {"order": order[::-1]}]
    if kind == "numeric":
        value = round(rnd.uniform(-1000, 1000), 2)
        return ({"unit": "m"}, {"value": value, "tolerance": 0.05, "tolerance_type": "relative"},
                [{"value": value}, {"value": round(value * 1.04, 2)}, {"value": value + 1000}])
    raise ValueError(kind)


KINDS = ["multiple_choice_single", "multiple_choice_multiple", "true_false", "short_answer", "fill_in_the_blank",
         "matching", "ordering", "numeric"]


def timed(conn: psycopg.Connection, query: str, org: object) -> float:
    conn.execute("truncate bench.responses")
    conn.commit()
    start = time.perf_counter()
    conn.execute(query, {"org": org})
    conn.commit()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--versions", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    with migrated_server() as (cluster, _roles), psycopg.connect(cluster.url("bench")) as conn:
        org = conn.execute(
            "select organization_id from user_management.create_organization('Bench', 'bench', 'enterprise',"
            " 'owner@bench.example', %s, 'Owner', 'UTC')", (ARGON2,)).fetchone()[0]  # type: ignore[index]
        owner = conn.execute("select id from user_management.users where organization_id = %s", (org,)).fetchone()[0]  # type: ignore[index]
        conn.execute("select set_config('app.organization_id', %s, false), set_config('app.user_id', %s, false)",
                     (str(org), str(owner)))
        bank = conn.execute("insert into assessment.question_banks (organization_id, name) values (%s, 'Bench')"
                            " returning id", (org,)).fetchone()[0]  # type: ignore[index]
        pool: list[tuple[object, str]] = []
        for n in range(args.versions):
            kind = KINDS[n % len(KINDS)]
            definition, key, responses = question(kind, rnd)
            q = conn.execute("insert into assessment.questions (organization_id, bank_id) values (%s, %s) returning id",
                             (org, bank)).fetchone()[0]  # type: ignore[index]
            v = conn.execute("select assessment.save_question_version(%s, %s, 'Bench question', 2, %s, %s)",
                             (q, kind, json.dumps(definition), json.dumps(key))).fetchone()[0]  # type: ignore[index]
            pool += [(v, json.dumps(r)) for r in responses]
        conn.execute("create schema bench")
        conn.execute("create table bench.source (n bigint primary key, question_version_id uuid not null,"
                     " response jsonb not null)")
        conn.execute("create table bench.responses (organization_id uuid not null, id uuid not null default"
                     " gen_random_uuid() primary key, question_version_id uuid not null, response jsonb not null,"
                     " auto_score numeric(8, 2))")
        with conn.cursor().copy("copy bench.source (n, question_version_id, response) from stdin") as copy:
            for i in range(args.rows):
                copy.write_row((i, *rnd.choice(pool)))
        conn.execute("analyze bench.source")
        conn.commit()
        insert = "insert into bench.responses (organization_id, question_version_id, response, auto_score) "
        queries = {
            "plain INSERT": insert + "select %(org)s, s.question_version_id, s.response, null from bench.source s",
            "INSERT + grade_response()": insert + "select %(org)s, s.question_version_id, s.response,"
            " assessment.grade_response(%(org)s, s.question_version_id, s.response) from bench.source s",
            "INSERT + score_response() (join, rules only)": insert + "select %(org)s, s.question_version_id,"
            " s.response, assessment.score_response(v.question_type, v.definition, k.answer_key, v.points, s.response)"
            " from bench.source s join assessment.question_versions v on v.organization_id = %(org)s"
            " and v.id = s.question_version_id join assessment.question_answer_keys k"
            " on k.organization_id = v.organization_id and k.question_version_id = v.id",
        }
        results = {}
        for _ in range(args.repeat):
            for name, query in queries.items():
                results.setdefault(name, []).append(timed(conn, query, org))
        check = conn.execute("select count(*), count(auto_score), min(auto_score), max(auto_score)"
                             " from bench.responses").fetchone()
        version = conn.execute("show server_version").fetchone()[0]  # type: ignore[index]
    base = statistics.median(results["plain INSERT"])
    print(f"PostgreSQL {version}: {args.rows} responses over {args.versions} versions "
          f"({len(KINDS)} auto-graded types), median of {args.repeat}")
    print(f"{'variant':46} {'seconds':>9} {'rows/s':>10} {'x plain':>8}")
    for name, times in results.items():
        t = statistics.median(times)
        print(f"{name:46} {t:9.3f} {args.rows / t:10.0f} {t / base:8.2f}")
    print(f"last run: {check}")


if __name__ == "__main__":
    main()
