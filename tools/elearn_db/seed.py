"""Load a seed set (``seeds/<set>/*.yaml``, in file-name order) in one transaction.

Each file may hold ``sql:`` (statements run first) and ``rows:`` (a mapping of
``schema.table`` to a list of rows). Rows are inserted with ``ON CONFLICT DO NOTHING``, so
loading a set twice changes nothing; the result counts rows actually inserted per table.
Seeds are data for demos and tests, never reference data production needs (that lives in
migrations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql
from psycopg.types.json import Jsonb

from .errors import ConfigError, MigrationFailed


def seed_files(root: Path, name: str) -> list[Path]:
    folder = root / "seeds" / name
    if not folder.is_dir():
        known = sorted(p.name for p in (root / "seeds").iterdir() if p.is_dir()) if (root / "seeds").is_dir() else []
        raise ConfigError(f"no seed set {name!r} in {root / 'seeds'}", hint=f"known sets: {', '.join(known) or 'none'}")
    return sorted(folder.glob("*.yaml"))


def load(conn: psycopg.Connection, root: Path, name: str) -> dict[str, int]:
    """Load seed set ``name``; return inserted row counts per table. All or nothing."""
    counts: dict[str, int] = {}
    files = seed_files(root, name)
    with conn.transaction():
        for f in files:
            try:
                doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{f}: invalid YAML: {exc}") from exc
            if not isinstance(doc, dict):
                raise ConfigError(f"{f}: expected a mapping with 'sql' and/or 'rows'")
            rel = f.relative_to(root).as_posix()
            if doc.get("sql"):
                _run(conn, rel, doc["sql"])
            for table, rows in (doc.get("rows") or {}).items():
                counts[table] = counts.get(table, 0) + _insert(conn, rel, table, rows or [])
    return counts


def _run(conn: psycopg.Connection, rel: str, text: str) -> None:
    try:
        conn.execute(text.encode())
    except psycopg.Error as exc:
        raise MigrationFailed(f"{rel}: SQLSTATE {exc.sqlstate}: {exc.diag.message_primary}", script=rel,
                              sqlstate=exc.sqlstate, detail=exc.diag.message_detail, hint=exc.diag.message_hint) from exc


def _insert(conn: psycopg.Connection, rel: str, table: str, rows: list[dict[str, Any]]) -> int:
    if "." not in table:
        raise ConfigError(f"{rel}: table {table!r} must be schema-qualified")
    schema, name = table.split(".", 1)
    inserted = 0
    for i, row in enumerate(rows):
        cols = list(row)
        values = [Jsonb(v) if isinstance(v, (dict, list)) else v for v in row.values()]
        q = sql.SQL("INSERT INTO {}.{} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
            sql.Identifier(schema), sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols)))
        try:
            cur = conn.execute(q, values)
        except psycopg.Error as exc:
            raise MigrationFailed(
                f"{rel}: row {i + 1} of {table}: SQLSTATE {exc.sqlstate}: {exc.diag.message_primary}",
                script=rel, sqlstate=exc.sqlstate, detail=exc.diag.message_detail, hint=exc.diag.message_hint) from exc
        inserted += cur.rowcount
    return inserted
