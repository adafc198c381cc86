"""The course listing and search queries at catalog scale, as the application role: plans and timings.

One organization with --courses courses (default 100k) plus a few smaller ones, a learner with
enrollments among thousands of others; ANALYZE; then, as the app role with the learner's tenant
context (row-level security applied), EXPLAIN ANALYZE of each query and its average time measured
inside the server (PL/pgSQL loop, median of --repeat). search_courses() runs as the maintenance role
(SECURITY DEFINER); its inner plan is captured with auto_explain (nested statements).

The "naive" rows are what the design avoids: full-text and trigram matching written directly in the
app's query, where RLS keeps @@ and <<% (not LEAKPROOF) from being index conditions.

    .venv/bin/python bench/course_queries.py                 # embedded PG 18, throwaway server
    ELEARN_PG_BINDIR=/usr/lib/postgresql/15/bin .venv/bin/python bench/course_queries.py
    .venv/bin/python bench/course_queries.py --courses 20000 --loops 20
"""

from __future__ import annotations

import argparse
import statistics

import psycopg
from psycopg import sql

from harness import ARGON2, loop_ms, migrated_server

TOPICS = ["Python", "JavaScript", "Rust", "Go", "SQL", "Data Science", "Machine Learning", "Kubernetes",
          "Docker", "Excel", "Photography", "Cooking", "Gardening", "Marketing", "Leadership", "Negotiation",
          "Public Speaking", "Accounting", "Statistics", "Calculus", "Biology", "Chemistry", "Spanish",
          "French", "Guitar", "Piano", "Yoga", "Nutrition", "Project Management", "Agile", "UX Design",
          "Figma", "React", "Node", "Linux", "Networking", "Security", "Cloud", "Azure", "Writing",
          "Storytelling", "History", "Philosophy", "Economics", "Finance", "Investing", "Drawing",
          "Painting", "Chess", "Astronomy"]
LEVELS = ["Basics", "Fundamentals", "for Beginners", "Advanced", "Masterclass", "in Practice", "Bootcamp",
          "Deep Dive", "Crash Course", "Essentials"]
WORDS = ["practical", "projects", "exercises", "theory", "hands-on", "real", "world", "examples", "teams",
         "careers", "tools", "patterns", "mistakes", "techniques", "habits", "skills", "quizzes", "labs"]
TAGS = ["programming", "data", "business", "creative", "language", "music", "health", "science", "design",
        "devops", "career", "math"]

# name: (query as the app role; {after_*} are filled from the first page)
LISTINGS = {
    "catalog, first page": (
        "select id, title, published_at from course_management.courses"
        " where status = 'published' and deleted_at is null"
        " order by published_at desc, id desc limit 20"),
    "catalog, keyset page (row 1000 on)": (
        "select id, title, published_at from course_management.courses"
        " where status = 'published' and deleted_at is null"
        " and (published_at, id) < ('{after_published_at}', '{after_id}')"
        " order by published_at desc, id desc limit 20"),
    "A-Z, first page": (
        "select id, title from course_management.courses where deleted_at is null"
        " order by title, id limit 20"),
    "A-Z, keyset page (row 1000 on)": (
        "select id, title from course_management.courses where deleted_at is null"
        " and (title, id) > ('{after_title}', '{after_title_id}') order by title, id limit 20"),
    "learner's enrollments page": (
        "select id, course_id, status, enrolled_at from course_management.enrollments"
        " where user_id = '{learner}' order by enrolled_at desc, id desc limit 20"),
    "search_courses('python basics')": (
        "select course_id, title, rank from course_management.search_courses('python basics')"),
    "search_courses('pyhton') (typo)": (
        "select course_id, title, rank from course_management.search_courses('pyhton')"),
    "naive FTS as app role (RLS)": (
        "select id, title from course_management.courses"
        " where search_vector @@ websearch_to_tsquery('english', 'python basics') and deleted_at is null"
        " order by ts_rank_cd(search_vector, websearch_to_tsquery('english', 'python basics')) desc limit 20"),
}


def load(conn: psycopg.Connection, org: object, owner: object, courses: int, users: int, per_user: int,
         learner_enrollments: int, learner: object | None) -> None:
    """Bulk rows as the superuser with triggers off (session_replication_role = replica): search_vector
    is computed explicitly, counters are not kept (not measured here). Users go in with their triggers."""
    with conn.transaction():
        conn.execute("select set_config('app.organization_id', %s, true)", (str(org),))
        conn.execute("""
            insert into user_management.users (organization_id, email, display_name, timezone, password_hash)
            select %s, 'learner' || g || '@bench.example', 'Learner ' || g, 'UTC', %s
              from generate_series(1, %s) as g""", (org, ARGON2, users))
    with conn.transaction():
        conn.execute("set local session_replication_role = replica")
        conn.execute("""
            insert into course_management.courses
                (organization_id, title, slug, description, status, published_at, archived_at, visibility,
                 tags, search_vector, created_at, updated_at)
            select %(org)s, t.title, 'c-' || g, t.description, t.status,
                   case when t.status <> 'draft' then t.published end,
                   case when t.status = 'archived' then t.published + interval '30 days' end,
                   case when g %% 50 = 0 then 'private' when g %% 20 = 0 then 'public' else 'organization' end,
                   t.tags, course_management.course_search_vector(t.title, t.description, t.tags),
                   now() - interval '4 years', now() - interval '4 years'
              from generate_series(1, %(n)s) as g
             cross join lateral (
                 select (%(topics)s::text[])[1 + (hashint4(g) & 65535) %% 50] || ' '
                        || (%(levels)s::text[])[1 + (hashint4(g + 1) & 65535) %% 10] || ' '
                        || (%(words)s::text[])[1 + (hashint4(g + 2) & 65535) %% 18] || ' ' || g as title,
                        'A course on ' || (%(topics)s::text[])[1 + (hashint4(g + 3) & 65535) %% 50] || ' with '
                        || (%(words)s::text[])[1 + (hashint4(g + 4) & 65535) %% 18] || ' and '
                        || (%(words)s::text[])[1 + (hashint4(g + 5) & 65535) %% 18] || ' for '
                        || (%(topics)s::text[])[1 + (hashint4(g + 6) & 65535) %% 50] || ' people.' as description,
                        case when g %% 100 < 90 then 'published' when g %% 100 < 97 then 'draft'
                             else 'archived' end as status,
                        now() - make_interval(secs => ((hashint4(g + 7) & 2147483647) %% 94608000)) as published,
                        array[(%(tags)s::text[])[1 + (hashint4(g + 8) & 65535) %% 12],
                              (%(tags)s::text[])[1 + (hashint4(g + 9) & 65535) %% 12] || '-x'] as tags
             ) as t""", {"org": org, "n": courses, "topics": TOPICS, "levels": LEVELS, "words": WORDS,
                         "tags": TAGS})
        # Every learner enrolls in per_user published courses; the measured learner in more.
        conn.execute("""
            insert into course_management.enrollments (organization_id, user_id, course_id, status, enrolled_at)
            select %(org)s, u.id, c.id, 'active', now() - make_interval(secs => (random() * 30000000)::int)
              from (select id, row_number() over (order by id) as n from user_management.users
                     where organization_id = %(org)s) as u
              join lateral (select id from course_management.courses
                             where organization_id = %(org)s and status = 'published'
                             offset (u.n * 37) %% 50000 limit case when u.id = %(learner)s then %(many)s
                                                                    else %(per)s end) as c on true""",
                     {"org": org, "learner": learner, "many": learner_enrollments, "per": per_user})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--courses", type=int, default=100_000, help="courses of the measured organization")
    ap.add_argument("--other-orgs", type=int, default=3)
    ap.add_argument("--other-courses", type=int, default=2000, help="courses of each other organization")
    ap.add_argument("--users", type=int, default=5000, help="learners of the measured organization")
    ap.add_argument("--loops", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5, help="measurements per query (median reported)")
    args = ap.parse_args()

    with migrated_server() as (cluster, roles):
        print(f"server: {cluster.version()}; {args.courses} courses in the measured organization, "
              f"{args.other_orgs} others x {args.other_courses}; {args.loops} executions per measurement, "
              f"median of {args.repeat}")
        with psycopg.connect(cluster.url("bench"), autocommit=True) as conn:
            orgs = []
            for i in range(1 + args.other_orgs):
                with conn.transaction():
                    org, owner = conn.execute(
                        "select * from user_management.create_organization(%s, %s, 'enterprise', %s, %s,"
                        " 'Owner', 'UTC')",
                        (f"Bench {i}", f"bench-{i}", f"owner@bench{i}.example", ARGON2)).fetchone()  # type: ignore[misc]
                orgs.append((org, owner))
            org, owner = orgs[0]
            # The measured learner: a member with the system role learner (granted by the owner).
            with conn.transaction():
                conn.execute("select set_config('app.organization_id', %s, true),"
                             " set_config('app.user_id', %s, true)", (str(org), str(owner)))
                learner = conn.execute(
                    "insert into user_management.users (organization_id, email, display_name, timezone,"
                    " password_hash) values (%s, 'me@bench.example', 'Me', 'UTC', %s) returning id",
                    (org, ARGON2)).fetchone()[0]  # type: ignore[index]
                conn.execute("select user_management.grant_role(%s, (select id from user_management.roles"
                             " where organization_id = %s and system_key = 'learner'), null, null)",
                             (learner, org))
            load(conn, org, owner, args.courses, args.users, 20, 300, learner)
            for other, other_owner in orgs[1:]:
                load(conn, other, other_owner, args.other_courses, 50, 5, 0, None)
            conn.execute("vacuum analyze")

            def as_learner() -> None:
                conn.execute("select set_config('app.organization_id', %s, true),"
                             " set_config('app.user_id', %s, true)", (str(org), str(learner)))
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["app_role"])))

            with conn.transaction():
                as_learner()
                row = conn.execute(
                    "select published_at, id from course_management.courses"
                    " where status = 'published' and deleted_at is null"
                    " order by published_at desc, id desc offset 999 limit 1").fetchone()
                az = conn.execute("select title, id from course_management.courses where deleted_at is null"
                                  " order by title, id offset 999 limit 1").fetchone()
            assert row and az
            fill = {"after_published_at": row[0].isoformat(), "after_id": row[1], "after_title": az[0],
                    "after_title_id": az[1], "learner": learner}

            conn.execute("load 'auto_explain'")
            print()
            timings = []
            for name, template in LISTINGS.items():
                q = template.format(**fill)
                with conn.transaction():
                    if name.startswith("search_courses"):
                        notices: list[str] = []

                        def keep(d: psycopg.errors.Diagnostic) -> None:
                            notices.append(d.message_primary or "")
                        # auto_explain's settings are the superuser's to set: before the role switch.
                        conn.execute("set local auto_explain.log_min_duration = 0;"
                                     " set local auto_explain.log_analyze = on;"
                                     " set local auto_explain.log_timing = off;"
                                     " set local auto_explain.log_buffers = off;"
                                     " set local auto_explain.log_nested_statements = on")
                        as_learner()
                        conn.add_notice_handler(keep)
                        conn.execute("set local client_min_messages = log")
                        conn.execute(q).fetchall()
                        conn.execute("set local client_min_messages = notice")
                        conn.remove_notice_handler(keep)
                        plan = next((m for m in notices if "WITH matches" in m), "(no plan captured)")
                        plan = plan[plan.find("Limit"):] if "Limit" in plan else plan
                    else:
                        as_learner()
                        plan = "\n".join(r[0] for r in conn.execute(
                            ("explain (analyze, buffers off, costs off, timing off, summary off) " + q).encode()))
                ms = []
                for _ in range(args.repeat):
                    with conn.transaction():
                        as_learner()
                        ms.append(loop_ms(conn, q, args.loops))
                timings.append((name, statistics.median(ms)))
                print(f"== {name}: {statistics.median(ms):.3f} ms\n  " + "\n  ".join(plan.splitlines()))
                print()
            print(f"{'query':40} {'ms':>9}")
            for name, m in timings:
                print(f"{name:40} {m:9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
