"""What award_points() pays for its guarantees: the raw anchor's two writes, guarantee by guarantee.

The issue's target compares award_points() with a raw anchor (one UPDATE of a balance row, one INSERT
into a bare ledger-shaped table). This runner puts the same two writes on tables that gain, step by
step, what the real gamification.user_points and gamification.point_transactions carry, then runs
them on the real tables inside a SECURITY DEFINER function (the guarded floor: any award function
has to do at least that), then award_points() itself. Every step is one transaction of the same
shape as bench/pgbench/award.sql (BEGIN; set_config of the tenant context; one statement; COMMIT),
so round trips are equal; the official anchor (bench/pgbench/anchor.sql) runs in every round as the
baseline.

  bare      the two writes as one statement (a data-modifying CTE) on LIKE copies (defaults, indexes)
  checks    + the CHECK constraints of both real tables (8 on the ledger, 5 on the balances)
  fks       + the ledger's foreign keys to users, point_systems and point_rules (FOR KEY SHARE on
            the parent rows; point_systems/point_rules rows are shared by every award)
  rls       + row-level security, enabled and forced, with the tenant policy
  triggers  + the balance triggers of the real table (updated_at, badge/achievement probe with its
            WHEN clause, level-up with its WHEN clause)
  definer   the two writes on the real tables in a SECURITY DEFINER function (owner role, forced RLS,
            the real policies, constraints and triggers): the guarded floor
  award     gamification.award_points(): + permission check, rule, boosts, daily cap, idempotent
            replay, level, streak

For each step: TPS at --clients (pgbench -M prepared, as the application role, synchronous commit
on, fsync on), --rounds rounds, every round running the anchor and then each step for --duration
seconds; the ratio is the median of the per-round ratios step / anchor. Then the CPU per
transaction inside the server (a DO block committing after each of --loops transactions, as the
application role, synchronous_commit off so no flush is waited for; median of 3 runs after a warm-up),
minus an empty transaction.

    .venv/bin/python bench/award_cost.py                                   # embedded PG 18
    ELEARN_PG_BINDIR=/usr/lib/postgresql/15/bin .venv/bin/python bench/award_cost.py
    .venv/bin/python bench/award_cost.py --clients 8 --rounds 3 --duration 6 --loops 3000
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from gamification import SCRIPTS, USER_ID, make_durable, pgbench, pgbench_path, setup
from harness import migrated_server

TABLE_STEPS = ("bare", "checks", "fks", "rls", "triggers")
STEPS = {
    "bare": "bare LIKE copies (defaults, indexes), one CTE",
    "checks": "+ CHECK constraints (8 ledger, 5 balance)",
    "fks": "+ ledger FKs (users, point_systems, point_rules)",
    "rls": "+ row-level security (forced, tenant policy)",
    "triggers": "+ balance triggers (updated_at, badge probe, level-up)",
    "definer": "real tables in a SECURITY DEFINER function",
    "award": "award_points()",
}
CONTEXT = ("SELECT set_config('app.organization_id', :org::text, true),"
           " set_config('app.user_id', :actor::text, true);")
PICK = "\\set uid random(1, :users)\n\\set r random(1, 1000000000000)\n"
USER = USER_ID.format(n=":uid")


def write_sql(step: str) -> str:
    """The two writes of step ``step`` as one statement (pgbench variables: org, system, rule, tag)."""
    return (f"WITH b AS (UPDATE bench_cost.balances_{step} AS b"
            " SET available = b.available + 10, lifetime_earned = b.lifetime_earned + 10, updated_at = now()"
            f" WHERE b.organization_id = :org::uuid AND b.user_id = {USER} AND b.point_system_id = :system::uuid"
            " RETURNING b.user_id, b.available)"
            f" INSERT INTO bench_cost.ledger_{step} (organization_id, user_id, point_system_id, amount, kind,"
            " rule_id, idempotency_key, balance_after)"
            " SELECT :org::uuid, b.user_id, :system::uuid, 10, 'award', :rule::uuid,"
            " 'cost:' || :tag::text || ':' || :client_id::text || ':' || :r::text, b.available FROM b;")


def script(step: str) -> str:
    """One pgbench transaction of ``step``: BEGIN; the tenant context; one statement; END."""
    if step in TABLE_STEPS:
        body = write_sql(step)
    elif step == "definer":
        body = (f"SELECT bench_cost.guarded_writes({USER},"
                " 'cost:' || :tag::text || ':' || :client_id::text || ':' || :r::text);")
    else:
        body = (f"SELECT id FROM gamification.award_points({USER}, 'lesson_completed', 'bench', NULL,"
                " 'cost:' || :tag::text || ':' || :client_id::text || ':' || :r::text);")
    return f"{PICK}BEGIN;\n{CONTEXT}\n{body}\nEND;\n"


def create_steps(conn: psycopg.Connection, roles: dict[str, str]) -> str:
    """Schema bench_cost: a ledger/balance table pair per table step, the guarded floor function.
    Returns the id of the bench's point rule (every written row carries it, as an award's does)."""
    app, owner = roles["app_role"], roles["owner_role"]
    rule = conn.execute("select id from gamification.point_rules where event_type = 'lesson_completed'"
                        ).fetchone()[0]  # type: ignore[index]
    with conn.transaction():
        conn.execute("create schema bench_cost")
        conn.execute(sql.SQL("grant usage on schema bench_cost to {}").format(sql.Identifier(app)))
        for i, step in enumerate(TABLE_STEPS):
            ledger, balances = f"bench_cost.ledger_{step}", f"bench_cost.balances_{step}"
            like = "including defaults including indexes" + (" including constraints" if i >= 1 else "")
            conn.execute(f"create table {ledger} (like gamification.point_transactions {like})")
            conn.execute(f"create table {balances} (like gamification.user_points {like})")
            conn.execute(f"insert into {balances} select * from gamification.user_points")
            if i >= 2:
                for name, cols, parent in (("user", "user_id", "user_management.users"),
                                           ("system", "point_system_id", "gamification.point_systems"),
                                           ("rule", "rule_id", "gamification.point_rules")):
                    conn.execute(f"alter table {ledger} add constraint fk_{step}_{name} foreign key"
                                 f" (organization_id, {cols}) references {parent} (organization_id, id)"
                                 " on delete restrict")
            if i >= 3:
                for table in (ledger, balances):
                    conn.execute(f"alter table {table} enable row level security, force row level security")
                    conn.execute(sql.SQL(
                        f"create policy tenant on {table} for all to {{}}"
                        " using (organization_id = (select app.current_organization_id()))"
                        " with check (organization_id = (select app.current_organization_id()))"
                    ).format(sql.Identifier(app)))
            if i >= 4:
                conn.execute(f"create trigger set_updated_at before update on {balances}"
                             " for each row execute function app.set_updated_at()")
                conn.execute(f"create trigger track_progress after update of lifetime_earned, longest_streak, level"
                             f" on {balances} for each row when (new.lifetime_earned <> old.lifetime_earned"
                             " or new.longest_streak <> old.longest_streak or new.level <> old.level)"
                             " execute function gamification.track_progress()")
                conn.execute(f"create trigger record_level_ups after update of level on {balances}"
                             " for each row when (new.level > old.level)"
                             " execute function gamification.record_level_ups()")
            conn.execute(sql.SQL(f"grant select, insert, update on {ledger}, {balances} to {{}}")
                         .format(sql.Identifier(app)))
        conn.execute("""
            create function bench_cost.guarded_writes(p_user_id uuid, p_key text) returns uuid
            language plpgsql security definer set search_path = gamification, pg_temp as $$
            declare v_org uuid := app.current_organization_id(); v_system uuid; v_available bigint; v_id uuid;
            begin
                update gamification.user_points as up
                   set available = up.available + 10, lifetime_earned = up.lifetime_earned + 10
                 where up.organization_id = v_org and up.user_id = p_user_id
                   and up.point_system_id = (select s.id from gamification.point_systems as s
                                              where s.organization_id = v_org and s.is_default)
                returning up.point_system_id, up.available into v_system, v_available;
                insert into gamification.point_transactions (organization_id, user_id, point_system_id, amount,
                                                             kind, rule_id, idempotency_key, balance_after)
                values (v_org, p_user_id, v_system, 10, 'award',
                        (select r.id from gamification.point_rules as r
                          where r.organization_id = v_org and r.point_system_id = v_system
                            and r.event_type = 'lesson_completed'), p_key, v_available)
                returning id into v_id;
                return v_id;
            end $$""")
        conn.execute(sql.SQL("alter function bench_cost.guarded_writes(uuid, text) owner to {}")
                     .format(sql.Identifier(owner)))
        conn.execute(sql.SQL("grant usage on schema bench_cost to {}").format(sql.Identifier(owner)))
        conn.execute(sql.SQL("grant execute on function bench_cost.guarded_writes(uuid, text) to {}")
                     .format(sql.Identifier(app)))
    conn.execute("vacuum analyze")
    conn.execute("checkpoint")
    return str(rule)


def cpu_per_tx(conn: psycopg.Connection, app: str, v: dict[str, str], step: str, loops: int) -> float:
    """Server milliseconds per transaction of ``step``: a DO block that sets the tenant context and the
    app role, runs the step's statement (static SQL: its plan is cached, as with pgbench -M prepared)
    and commits, ``loops`` times (synchronous_commit off: no flush waited for; no client round trips)."""
    user = USER_ID.format(n=f"(1 + (random() * ({v['users']} - 1))::int)")
    key = "'cost:' || :tag::text || ':' || :client_id::text || ':' || :r::text"
    if step in TABLE_STEPS:
        body = (write_sql(step).replace(":org::uuid", f"'{v['org']}'::uuid")
                .replace(":system::uuid", f"'{v['system']}'::uuid").replace(":rule::uuid", f"'{v['rule']}'::uuid")
                .replace(USER, "v_user").replace(key, "v_key"))
    elif step == "definer":
        body = "PERFORM bench_cost.guarded_writes(v_user, v_key);"
    elif step == "award":
        body = "PERFORM gamification.award_points(v_user, 'lesson_completed', 'bench', NULL, v_key);"
    else:
        body = "NULL;"
    conn.execute("set synchronous_commit = off")
    conn.execute(f"""
        DO $cpu$
        DECLARE t0 timestamptz; v_key text; v_user uuid;
        BEGIN
            t0 := clock_timestamp();
            FOR i IN 1..{loops} LOOP
                PERFORM set_config('app.organization_id', '{v['org']}', true),
                        set_config('app.user_id', '{v['actor']}', true);
                EXECUTE format('SET LOCAL ROLE %I', '{app}');
                v_key := 'cpu:{step}:' || i || ':' || random()::text;
                v_user := {user};
                {body}
                COMMIT;
            END LOOP;
            PERFORM set_config('bench.ms', (extract(epoch from clock_timestamp() - t0) * 1000 / {loops})::text,
                               false);
        END $cpu$""")
    conn.execute("reset synchronous_commit")
    return float(conn.execute("select current_setting('bench.ms')::float8").fetchone()[0])  # type: ignore[index]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=6, help="seconds per pgbench run")
    ap.add_argument("--loops", type=int, default=3000, help="transactions per in-server CPU measurement")
    args = ap.parse_args()

    with migrated_server() as (cluster, roles):
        make_durable(cluster)
        with psycopg.connect(cluster.url("bench"), autocommit=True) as conn:
            t0 = time.monotonic()
            v = setup(conn, roles, args.users, 1)
            v["rule"] = create_steps(conn, roles)
            exe = pgbench_path(cluster.bindir)
            app = roles["app_role"]
            print(f"server: {cluster.version()}; {os.cpu_count()} cores; {args.users} learners; setup "
                  f"{time.monotonic() - t0:.0f} s; pgbench -M prepared -c {args.clients} -T {args.duration},"
                  f" {args.rounds} rounds, as {app}")

            with tempfile.TemporaryDirectory(prefix="elearn-award-cost-") as tmp:
                scripts = {"anchor": SCRIPTS / "anchor.sql"}
                for step in STEPS:
                    path = Path(tmp) / f"{step}.sql"
                    path.write_text(script(step))
                    scripts[step] = path
                tps: dict[str, list[float]] = {name: [] for name in scripts}
                for r in range(args.rounds):
                    for name, path in scripts.items():
                        tps[name].append(pgbench(exe, cluster.port, app, str(path), args.clients, args.duration,
                                                 {**v, "tag": f"r{r}{name}"}))
                        print(".", end="", flush=True)
            print()
            cpu: dict[str, float] = {}
            for step in ("empty", *STEPS):
                cpu_per_tx(conn, app, v, step, max(args.loops // 10, 1))  # warm the session's caches
                cpu[step] = statistics.median(cpu_per_tx(conn, app, v, step, args.loops) for _ in range(3))
            cpu = {step: ms - cpu["empty"] if step != "empty" else ms for step, ms in cpu.items()}

    anchor = statistics.median(tps["anchor"])
    print(f"\n| step | one transaction | TPS at {args.clients} clients | x anchor | server ms/tx |")
    print("|---|---|---:|---:|---:|")
    print(f"| anchor | bench/pgbench/anchor.sql (BEGIN; UPDATE; INSERT; COMMIT) | {anchor:.0f} | 1.00 | |")
    for step, label in STEPS.items():
        ratio = statistics.median(s / a for s, a in zip(tps[step], tps["anchor"]))
        print(f"| {step} | {label} | {statistics.median(tps[step]):.0f} | {ratio:.2f} | {cpu[step]:.4f} |")
    print(f"\nserver ms/tx: in-server time per committed transaction over an empty one "
          f"({cpu['empty']:.4f} ms), median of 3 runs of {args.loops} transactions, synchronous_commit off.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
