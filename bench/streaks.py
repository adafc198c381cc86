"""What V0137's streak rule costs: award_points() in order and out of order, against V0134's body.

One throwaway server (harness.migrated_server(); embedded PG 18 or ELEARN_PG_BINDIR), one organization,
one learner per history length (``--histories``, award rows one per local day up to today, written
directly with their local_date, balances to match). For each learner, inside a rolled-back transaction
as the app role (staff actor), a PL/pgSQL loop of ``--loops`` award_points() calls:

  in order       dated now (the learner's last active date is today): next_streak(), no extra query
  out of order   dated 2 days back (before the last active date): recompute_streak() over the history

and the in-order loop again with V0134's apply_award() body swapped in (CREATE OR REPLACE from the
migration file, then the current body back: the newest migration defining it, V0137 or later), alternating ``--repeat`` times; medians. The ratio V0137/V0134 in
order is what the common path pays for writing local_date (should be ~1.00).

    .venv/bin/python bench/streaks.py
    ELEARN_PG_BINDIR=/usr/lib/postgresql/15/bin .venv/bin/python bench/streaks.py --loops 300
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

import psycopg
from psycopg import sql

from harness import ARGON2, ROOT, loop_body_ms, migrated_server

AWARD = ("PERFORM gamification.award_points('{user}', 'lesson_completed', 'bench', NULL,"
         " 'loop:' || gen_random_uuid(), p_occurred_at => {at});")


def function_text(path: Path, name: str) -> str:
    """The CREATE OR REPLACE FUNCTION statement of ``name`` in a migration file (up to its closing $$;)."""
    text = path.read_text()
    match = re.search(r"CREATE (OR REPLACE )?FUNCTION " + re.escape(name) + r"\(.*?\n\$\$;", text, re.S)
    assert match is not None, name
    return "CREATE OR REPLACE" + match.group(0).removeprefix("CREATE").removeprefix(" OR REPLACE")


def setup(conn: psycopg.Connection, histories: list[int]) -> tuple[str, str, str, dict[int, str]]:
    with conn.transaction():
        org, owner = conn.execute(
            "select * from user_management.create_organization('Bench', 'bench', 'enterprise', 'owner@bench.example',"
            " %s, 'Owner', 'UTC')", (ARGON2,)).fetchone()  # type: ignore[misc]
        conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                     (str(org), str(owner)))
        system = conn.execute("insert into gamification.point_systems (organization_id, name, unit, is_default)"
                              " values (%s, 'XP', 'XP', true) returning id", (org,)).fetchone()[0]  # type: ignore[index]
        conn.execute("insert into gamification.point_rules (organization_id, point_system_id, event_type, points)"
                     " values (%s, %s, 'lesson_completed', 10)", (org, system))
        users = {}
        for h in histories:
            user = conn.execute(
                "insert into user_management.users (organization_id, email, display_name, timezone, password_hash)"
                " values (%s, %s, 'Learner', 'Europe/Berlin', %s) returning id",
                (org, f"h{h}@bench.example", ARGON2)).fetchone()[0]  # type: ignore[index]
            # One award row per local day: today back to today - (h - 1).
            conn.execute(
                "insert into gamification.point_transactions (organization_id, user_id, point_system_id, amount,"
                " kind, idempotency_key, balance_after, occurred_at, local_date)"
                " select %s, %s, %s, 10, 'award', 'hist:' || %s || ':' || k, 10 * (%s - k),"
                " now() - make_interval(days => k), (now() at time zone 'Europe/Berlin')::date - k"
                " from generate_series(0, %s - 1) k", (org, user, system, h, h, h))
            conn.execute(
                "insert into gamification.user_points (organization_id, user_id, point_system_id, available,"
                " lifetime_earned, current_streak, longest_streak, last_activity_local_date)"
                " values (%s, %s, %s, 10 * %s, 10 * %s, %s, %s, (now() at time zone 'Europe/Berlin')::date)",
                (org, user, system, h, h, h, h))
            users[h] = str(user)
    conn.execute("vacuum analyze")
    return str(org), str(owner), str(system), users


def loop(conn: psycopg.Connection, app: str, org: str, actor: str, user: str, at: str, loops: int) -> float:
    with conn.transaction(force_rollback=True):
        conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                     (org, actor))
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(app)))
        return loop_body_ms(conn, AWARD.format(user=user, at=at), loops)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, nargs="+", default=[1, 30, 365, 3650])
    parser.add_argument("--loops", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    old = function_text(ROOT / "migrations" / "V0134__flatten_award_points.sql", "gamification.apply_award")
    # The current body: the newest migration defining apply_award() (V0137 or later, e.g. V0139).
    latest = [f for f in sorted((ROOT / "migrations").glob("V*.sql"))
              if "FUNCTION gamification.apply_award(" in f.read_text(encoding="utf-8")][-1]
    new = function_text(latest, "gamification.apply_award")
    label = latest.name.split("__")[0]
    with migrated_server() as (cluster, roles):
        with psycopg.connect(cluster.url("bench"), autocommit=True) as conn:
            version = conn.execute("show server_version").fetchone()[0]  # type: ignore[index]
            org, actor, _, users = setup(conn, args.histories)
            print(f"PostgreSQL {version}; ms per award_points() call, PL/pgSQL loop of {args.loops}, median of"
                  f" {args.repeat}")
            print(f"{'history rows':>12} {'V0134 in order':>15} {label + ' in order':>15} {'ratio':>6}"
                  f" {label + ' out of order':>19} {'out/in':>7}")
            for h, user in users.items():
                times: dict[str, list[float]] = {"old": [], "new": [], "ooo": []}
                for _ in range(args.repeat):
                    conn.execute(old)
                    times["old"].append(loop(conn, roles["app_role"], org, actor, user, "NULL", args.loops))
                    conn.execute(new)
                    times["new"].append(loop(conn, roles["app_role"], org, actor, user, "NULL", args.loops))
                    times["ooo"].append(loop(conn, roles["app_role"], org, actor, user,
                                             "now() - interval '2 days'", args.loops))
                o, n, x = (statistics.median(times[k]) for k in ("old", "new", "ooo"))
                print(f"{h:>12} {o:>15.4f} {n:>15.4f} {n / o:>6.2f} {x:>19.4f} {x / n:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
