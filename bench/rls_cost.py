"""What row-level security costs on tenant-scoped queries, as a ratio measured in one run.

Each query runs N times inside the server (a PL/pgSQL loop, so client round trips do not blur the
numbers), once as the superuser (RLS bypassed, tenant filter written in the query) and once as
the application role with the tenant context set (RLS applied on top of the same query), and once
as the application role relying on RLS alone (no tenant filter in the query). The ratio app/super
is the cost of RLS; the baseline is measured in the same run on the same data.

    .venv/bin/python bench/rls_cost.py                 # embedded PG 18, throwaway server
    ELEARN_PG_BINDIR=/usr/lib/postgresql/15/bin .venv/bin/python bench/rls_cost.py
    .venv/bin/python bench/rls_cost.py --orgs 50 --users 2000 --loops 2000
"""

from __future__ import annotations

import argparse
import statistics

import psycopg
from psycopg import sql

from harness import ARGON2, loop_ms, migrated_server

QUERIES = {
    # name: (query with the tenant filter, the same query without it)
    "count users of the tenant": (
        "select count(*) from user_management.users where organization_id = {org} and deleted_at is null",
        "select count(*) from user_management.users where deleted_at is null"),
    "keyset page of 50 users": (
        "select id, email, display_name from user_management.users where organization_id = {org}"
        " and id > '00000000-0000-0000-0000-000000000000' order by id limit 50",
        "select id, email, display_name from user_management.users"
        " where id > '00000000-0000-0000-0000-000000000000' order by organization_id, id limit 50"),
    "login lookup, email_normalized": (
        "select id from user_management.users where organization_id = {org}"
        " and email_normalized = lower('user17@bench.example') and deleted_at is null",
        "select id from user_management.users where email_normalized = lower('user17@bench.example')"
        " and deleted_at is null"),
    # The anti-pattern V0022 removed: lower() is not LEAKPROOF, so under RLS it is no index condition.
    "login lookup, lower(email)": (
        "select id from user_management.users where organization_id = {org}"
        " and lower(email) = lower('user17@bench.example') and deleted_at is null",
        "select id from user_management.users where lower(email) = lower('user17@bench.example')"
        " and deleted_at is null"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orgs", type=int, default=20)
    ap.add_argument("--users", type=int, default=2000, help="users per organization")
    ap.add_argument("--loops", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5, help="measurements per variant (median reported)")
    args = ap.parse_args()

    with migrated_server() as (cluster, roles):
        print(f"server: {cluster.version()}; {args.orgs} organizations x {args.users} users; "
              f"{args.loops} executions per measurement, median of {args.repeat}")
        with psycopg.connect(cluster.url("bench"), autocommit=True) as conn:
            orgs = []
            for i in range(args.orgs):
                with conn.transaction():
                    org, owner = conn.execute(
                        "select * from user_management.create_organization(%s, %s, 'enterprise', %s, %s, 'Owner', 'UTC')",
                        (f"Bench {i}", f"bench-{i}", f"owner@bench{i}.example", ARGON2)).fetchone()  # type: ignore[misc]
                    conn.execute("select set_config('app.organization_id', %s, true)", (str(org),))
                    conn.execute(
                        "insert into user_management.users (organization_id, email, display_name, timezone, password_hash)"
                        " select %s, 'user' || g || '@bench.example', 'User ' || g, 'UTC', %s"
                        " from generate_series(1, %s) g", (org, ARGON2, args.users))
                orgs.append((org, owner))
            conn.execute("analyze")
            org, owner = orgs[len(orgs) // 2]
            print(f"{'query':32} {'superuser ms':>13} {'app+RLS ms':>11} {'ratio':>6} {'RLS-only ms':>12} {'ratio':>6}")
            for name, (with_filter, without_filter) in QUERIES.items():
                q = with_filter.format(org=f"'{org}'")
                results: dict[str, list[float]] = {"super": [], "app": [], "rls_only": []}
                for _ in range(args.repeat):
                    with conn.transaction():
                        results["super"].append(loop_ms(conn, q, args.loops))
                    with conn.transaction():
                        conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                                     (str(org), str(owner)))
                        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["app_role"])))
                        results["app"].append(loop_ms(conn, q, args.loops))
                        results["rls_only"].append(loop_ms(conn, without_filter, args.loops))
                s, a, r = (statistics.median(results[k]) for k in ("super", "app", "rls_only"))
                print(f"{name:32} {s:13.4f} {a:11.4f} {a / s:6.2f} {r:12.4f} {r / s:6.2f}")
            with conn.transaction():
                conn.execute("select set_config('app.organization_id', %s, true)", (str(org),))
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["app_role"])))
                plan = conn.execute("explain " + QUERIES["count users of the tenant"][1]).fetchall()
            print("plan as app role, RLS only:\n  " + "\n  ".join(r[0] for r in plan))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
