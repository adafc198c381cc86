"""Leaderboard queries at 100,000 learners per organization, as the app role, as ratios to a baseline.

One organization gets ``--learners`` users with balances (lifetime points 0..``--spread``, so ties are
common) and ``--ledger`` ledger rows spread over the last 14 days, plus ``--other-orgs`` smaller
organizations; two boards (XP all-time, XP weekly) are refreshed. Then, as the application role with
a learner's tenant context (RLS applied), each query runs ``--loops`` times inside the server
(PL/pgSQL loop, median of ``--repeat``), next to the baseline measured in the same run: a primary-key
lookup of one user. The naive alternatives (count(*) rank and ORDER BY over user_points, as the
superuser: a learner cannot even read other learners' balances) show what the cache saves. Refresh,
the opt-out of the leader and the soft delete of the second (each hides one entry per board; the
queries close the ranks on read) are timed once each; then the queries again with 10 hidden entries.

    .venv/bin/python bench/leaderboards.py                 # embedded PG 18, throwaway server
    ELEARN_PG_BINDIR=/usr/lib/postgresql/15/bin .venv/bin/python bench/leaderboards.py
    .venv/bin/python bench/leaderboards.py --learners 100000 --ledger 1000000 --loops 2000
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql

from harness import ARGON2, loop_body_ms, loop_ms, migrated_server


def loop_static_ms(conn: psycopg.Connection, query: str, loops: int) -> float:
    """Like harness.loop_ms, but the query is static SQL in the PL/pgSQL block, so its plan is prepared
    once and reused (as a driver's prepared statement would): execution cost without planning."""
    return loop_body_ms(conn, f"PERFORM * FROM ({query}) AS q;", loops)


def timed(conn: psycopg.Connection, query: str, params: Any = ()) -> tuple[float, Any]:
    t0 = time.perf_counter()
    rows = conn.execute(query, params).fetchall()
    return (time.perf_counter() - t0) * 1000, rows


def load(conn: psycopg.Connection, name: str, learners: int, ledger: int, spread: int) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An organization with learners, balances and ledger rows (bulk, triggers off). Returns (org, owner, system)."""
    with conn.transaction():
        org, owner = conn.execute(
            "select * from user_management.create_organization(%s, %s, 'enterprise', %s, %s, 'Owner', 'UTC')",
            (name, name.lower(), f"owner@{name.lower()}.example", ARGON2)).fetchone()  # type: ignore[misc]
        conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                     (str(org), str(owner)))
        system = conn.execute("insert into gamification.point_systems (organization_id, name, is_default)"
                              " values (%s, 'XP', true) returning id", (org,)).fetchone()[0]  # type: ignore[index]
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            "insert into user_management.users (organization_id, email, email_normalized, display_name, timezone,"
            " password_hash) select %s, 'l' || g || '@x.example', 'l' || g || '@x.example', 'Learner ' || g, 'UTC', %s"
            " from generate_series(1, %s) g", (org, ARGON2, learners))
        conn.execute(
            "insert into gamification.user_points (organization_id, user_id, point_system_id, available,"
            " lifetime_earned) select s.organization_id, s.id, %s, s.p, s.p from (select organization_id, id,"
            " (random() * %s)::bigint as p from user_management.users where organization_id = %s) s",
            (system, spread, org))
        conn.execute(
            "insert into gamification.point_transactions (organization_id, user_id, point_system_id, amount, kind,"
            " idempotency_key, occurred_at, balance_after)"
            " select %s, u.id, %s, 1 + (g %% 20), 'award', 'b' || g, now() - random() * interval '14 days', 0"
            " from generate_series(1, %s) g"
            " join (select id, row_number() over (order by id) - 1 as n from user_management.users"
            "       where organization_id = %s) u on u.n = (g::bigint * 7919) %% %s",
            (org, system, ledger, org, learners))
    return org, owner, system


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--learners", type=int, default=100_000)
    ap.add_argument("--ledger", type=int, default=300_000, help="ledger rows of the big organization")
    ap.add_argument("--spread", type=int, default=5000, help="lifetime points are 0..spread (ties)")
    ap.add_argument("--other-orgs", type=int, default=3)
    ap.add_argument("--other-learners", type=int, default=2000)
    ap.add_argument("--loops", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    with migrated_server() as (cluster, roles):
        print(f"server: {cluster.version()}; {args.learners} learners (+{args.other_orgs} orgs x "
              f"{args.other_learners}), {args.ledger} ledger rows; {args.loops} executions, median of {args.repeat}")
        with psycopg.connect(cluster.url("bench"), autocommit=True) as conn:
            t0 = time.perf_counter()
            for i in range(args.other_orgs):
                load(conn, f"Other{i}", args.other_learners, args.other_learners * 3, args.spread)
            org, owner, system = load(conn, "Big", args.learners, args.ledger, args.spread)
            conn.execute("vacuum analyze")
            print(f"loaded in {time.perf_counter() - t0:.1f} s")
            me = conn.execute("select user_id from gamification.user_points where organization_id = %s"
                              " order by lifetime_earned, user_id offset %s limit 1", (org, args.learners // 2)
                              ).fetchone()[0]  # type: ignore[index]

            def as_app(who: uuid.UUID) -> None:
                conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                             (str(org), str(who)))
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["app_role"])))

            boards = {}
            for period in ("all_time", "weekly"):
                with conn.transaction():
                    as_app(owner)
                    boards[period] = conn.execute(
                        "insert into gamification.leaderboards (organization_id, name, board_type, period,"
                        " point_system_id) values (%s, %s, 'xp', %s, %s) returning id",
                        (org, f"XP {period}", period, system)).fetchone()[0]  # type: ignore[index]
                for attempt in ("first", "again"):
                    with conn.transaction():
                        as_app(owner)
                        ms, rows = timed(conn, "select entry_count from gamification.refresh_leaderboard(%s)",
                                         (boards[period],))
                    print(f"refresh_leaderboard {period:8} ({attempt}, unchanged data): {ms:9.1f} ms,"
                          f" {rows[0][0]} entries")
            conn.execute("vacuum analyze gamification.leaderboard_entries")
            board = boards["all_time"]

            pk = conn.execute("select id from user_management.users where organization_id = %s and id = %s",
                              (org, me)).fetchone()
            assert pk
            queries = {
                "baseline: user by primary key": f"select id, display_name from user_management.users"
                                                 f" where organization_id = '{org}' and id = '{me}'",
                "top-100 (leaderboard_top)": f"select * from gamification.leaderboard_top('{board}', 100)",
                "my rank (leaderboard_rank)": f"select * from gamification.leaderboard_rank('{board}')",
                "around me +-5 (leaderboard_around)": f"select * from gamification.leaderboard_around('{board}', 5)",
                "top-100, weekly board": f"select * from gamification.leaderboard_top('{boards['weekly']}', 100)",
                "my rank, weekly board": f"select * from gamification.leaderboard_rank('{boards['weekly']}')",
            }
            naive = {
                "naive rank: 1 + count(*) higher (superuser)":
                    f"select 1 + count(*) from gamification.user_points where organization_id = '{org}'"
                    f" and point_system_id = '{system}' and lifetime_earned > (select lifetime_earned from"
                    f" gamification.user_points where organization_id = '{org}' and user_id = '{me}'"
                    f" and point_system_id = '{system}')",
                "naive top-100: ORDER BY lifetime (superuser)":
                    f"select user_id, lifetime_earned from gamification.user_points where organization_id = '{org}'"
                    f" and point_system_id = '{system}' order by lifetime_earned desc limit 100",
            }
            def measure(title: str, names: list[str]) -> None:
                results: dict[str, list[float]] = {k: [] for k in names}
                prepared: dict[str, list[float]] = {k: [] for k in names}
                for _ in range(args.repeat):
                    with conn.transaction():
                        as_app(me)
                        for name in names:
                            if name in queries:
                                results[name].append(loop_ms(conn, queries[name], args.loops))
                                prepared[name].append(loop_static_ms(conn, queries[name], args.loops))
                    with conn.transaction():
                        for name in names:
                            if name in naive:
                                results[name].append(loop_ms(conn, naive[name], max(args.loops // 20, 5)))
                                prepared[name].append(loop_static_ms(conn, naive[name], max(args.loops // 20, 5)))
                base = statistics.median(results["baseline: user by primary key"])
                pbase = statistics.median(prepared["baseline: user by primary key"])
                print(f"\n{title}\n{'query (as the app role unless said)':46} {'planned ms':>10} {'x base':>7}"
                      f" {'prepared ms':>11} {'x base':>7}")
                for name in names:
                    ms, pms = statistics.median(results[name]), statistics.median(prepared[name])
                    print(f"{name:46} {ms:10.4f} {ms / base:7.2f} {pms:11.4f} {pms / pbase:7.2f}")

            def plans() -> None:
                with conn.transaction():
                    as_app(me)
                    for name in ("top-100 (leaderboard_top)", "my rank (leaderboard_rank)",
                                 "around me +-5 (leaderboard_around)"):
                        plan = conn.execute("explain (analyze, costs off, timing off, summary off) "
                                            + queries[name]).fetchall()
                        print(f"\nplan of {name}:\n  " + "\n  ".join(r[0] for r in plan))

            measure("no hidden entries (right after the refresh):", [*queries, *naive])
            plans()

            # Opting out / deleting only marks the user's entries hidden (one row per board and period);
            # the queries close the ranks on read.
            def leader(rank_place: int) -> uuid.UUID:
                return conn.execute("select user_id from gamification.leaderboard_entries where leaderboard_id = %s"
                                    " and place = %s", (board, rank_place)).fetchone()[0]  # type: ignore[index]
            top_user = leader(1)
            with conn.transaction():
                as_app(top_user)
                ms, _ = timed(conn, "select gamification.set_leaderboard_opt_out(true)")
            print(f"\nopt-out of the leader ({len(boards)} boards): {ms:.1f} ms")
            second = leader(2)
            with conn.transaction():
                as_app(owner)
                ms, _ = timed(conn, "update user_management.users set deleted_at = now() where id = %s returning id",
                            (second,))
            print(f"soft delete of the second ({len(boards)} boards): {ms:.1f} ms")
            hidden = [leader(p) for p in range(10, 1000, 100)]
            for who in hidden[:8]:
                with conn.transaction():
                    as_app(who)
                    conn.execute("select gamification.set_leaderboard_opt_out(true)")
            n_hidden = conn.execute("select count(*) from gamification.leaderboard_entries where leaderboard_id = %s"
                                    " and hidden", (board,)).fetchone()[0]  # type: ignore[index]
            conn.execute("analyze gamification.leaderboard_entries")
            measure(f"{n_hidden} hidden entries on the all-time board (opt-outs and a deletion since the refresh):",
                    list(queries))
            plans()
            # Age every refresh by an hour (as the superuser: the owner is tenant-scoped).
            conn.execute("update gamification.leaderboard_periods set refreshed_at = refreshed_at - interval '1 hour'")
            with conn.transaction():
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["owner_role"])))
                ms, rows = timed(conn, "select gamification.refresh_due_leaderboards(100)")
            print(f"refresh_due_leaderboards (every board due): {rows[0][0]} boards in {ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
