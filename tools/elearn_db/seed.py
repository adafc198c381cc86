"""Load a seed set (``seeds/<set>/*.yaml``, in file-name order) in one transaction.

A file holds ``steps:`` and/or ``rows:``.

* ``steps`` go through the same functions an application uses. Each step has a ``name``, ``sql``
  (one or more statements), and optionally ``skip_if`` (a query: the step is skipped when it returns
  a row, which makes the set idempotent), ``context: {organization: <slug>, user: <email>}`` (the
  tenant context, set with SET LOCAL as the app does) and ``as: app`` (run as the application role,
  so row-level security applies exactly as in production).
* ``rows`` maps ``schema.table`` to a list of rows, inserted with ``ON CONFLICT DO NOTHING``.

All or nothing: any error rolls the whole set back and names the file, the step and the SQLSTATE.
The result counts the rows each table gained. Seeds are demo and test data, never reference data
production needs (that lives in migrations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import psycopg
import yaml
from psycopg import sql
from psycopg.types.json import Jsonb

from .errors import ConfigError, MigrationFailed

SeedProgress = Callable[[str, int, int], None]
APP_SCHEMAS = ("user_management", "course_management", "content_management", "gamification", "assessment",
               "social", "analytics", "notification", "audit")
STEP_KEYS = {"name", "sql", "skip_if", "context", "as"}


def seed_files(root: Path, name: str) -> list[Path]:
    folder = root / "seeds" / name
    if not folder.is_dir():
        known = sorted(p.name for p in (root / "seeds").iterdir() if p.is_dir()) if (root / "seeds").is_dir() else []
        raise ConfigError(f"no seed set {name!r} in {root / 'seeds'}", hint=f"known sets: {', '.join(known) or 'none'}")
    return sorted(folder.glob("*.yaml"))


def _read(f: Path, root: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{f.relative_to(root)}: invalid YAML: {exc}") from exc
    # Keys starting with x- hold YAML anchors that steps reuse (``sql: *name``); they are not run.
    if not isinstance(doc, dict) or {k for k in doc if not str(k).startswith("x-")} - {"steps", "rows", "description"}:
        raise ConfigError(f"{f.relative_to(root)}: expected a mapping with 'steps' and/or 'rows' (and 'description',"
                          " 'x-...' anchor holders)")
    for i, step in enumerate(doc.get("steps") or []):
        if not isinstance(step, dict) or "sql" not in step or set(step) - STEP_KEYS:
            raise ConfigError(f"{f.relative_to(root)}: step {i + 1} needs 'sql' and only {', '.join(sorted(STEP_KEYS))}")
    return doc


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = conn.execute(
        "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p') and not c.relispartition order by 1",
        (list(APP_SCHEMAS),)).fetchall()
    counts = {}
    for (name,) in tables:
        schema, table = name.split(".", 1)
        row = conn.execute(sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))).fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def load(conn: psycopg.Connection, root: Path, name: str, *, roles: Mapping[str, str] | None = None,
         progress: SeedProgress | None = None) -> dict[str, int]:
    """Load seed set ``name`` (connected as a superuser or the owner); return rows gained per table."""
    files = seed_files(root, name)
    docs = [(f, _read(f, root)) for f in files]
    total = sum(len(d.get("steps") or []) + len(d.get("rows") or {}) for _, d in docs)
    done = 0
    report = progress or (lambda msg, i, n: None)
    with conn.transaction():
        before = table_counts(conn)
        for f, doc in docs:
            rel = f.relative_to(root).as_posix()
            for step in doc.get("steps") or []:
                report(f"{rel}: {step.get('name', 'step')}", done, total)
                _step(conn, rel, step, roles or {})
                done += 1
            for table, rows in (doc.get("rows") or {}).items():
                report(f"{rel}: {table}", done, total)
                _insert(conn, rel, table, rows or [])
                done += 1
        after = table_counts(conn)
    report("done", total, total)
    return {t: after[t] - before.get(t, 0) for t in after if after[t] != before.get(t, 0)}


def _fail(rel: str, what: str, exc: psycopg.Error) -> MigrationFailed:
    return MigrationFailed(f"{rel}: {what}: SQLSTATE {exc.sqlstate}: {exc.diag.message_primary}", script=rel,
                           sqlstate=exc.sqlstate, detail=exc.diag.message_detail, hint=exc.diag.message_hint)


def _step(conn: psycopg.Connection, rel: str, step: dict[str, Any], roles: Mapping[str, str]) -> None:
    label = f"step {step.get('name', '?')!r}"
    try:
        with conn.transaction():
            if step.get("skip_if") and conn.execute(step["skip_if"].encode()).fetchone():
                return
            ctx = step.get("context") or {}
            org_id = user_id = ""
            if ctx.get("organization"):
                row = conn.execute("select id from user_management.organizations where slug = %s",
                                   (ctx["organization"],)).fetchone()
                if row is None:
                    raise ConfigError(f"{rel}: {label}: no organization with slug {ctx['organization']!r}")
                org_id = str(row[0])
            if ctx.get("user"):
                row = conn.execute("select id from user_management.users where organization_id = %s"
                                   " and lower(email) = lower(%s) and deleted_at is null",
                                   (org_id or None, ctx["user"])).fetchone()
                if row is None:
                    raise ConfigError(f"{rel}: {label}: no user {ctx['user']!r} in {ctx.get('organization')!r}")
                user_id = str(row[0])
            if ctx:
                conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                             (org_id, user_id))
            if step.get("as") == "app":
                role = roles.get("app_role")
                if not role:
                    raise ConfigError(f"{rel}: {label}: 'as: app' needs the app_role placeholder")
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
            elif step.get("as") not in (None, "owner"):
                raise ConfigError(f"{rel}: {label}: 'as' must be app")
            conn.execute(step["sql"].encode())
            conn.execute("reset role")
            conn.execute("select set_config('app.organization_id', '', true), set_config('app.user_id', '', true)")
    except psycopg.Error as exc:
        raise _fail(rel, label, exc) from exc


def _insert(conn: psycopg.Connection, rel: str, table: str, rows: list[dict[str, Any]]) -> None:
    if "." not in table:
        raise ConfigError(f"{rel}: table {table!r} must be schema-qualified")
    schema, name = table.split(".", 1)
    for i, row in enumerate(rows):
        cols = list(row)
        values = [Jsonb(v) if isinstance(v, (dict, list)) else v for v in row.values()]
        q = sql.SQL("INSERT INTO {}.{} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
            sql.Identifier(schema), sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols)))
        try:
            conn.execute(q, values)
        except psycopg.Error as exc:
            raise _fail(rel, f"row {i + 1} of {table}", exc) from exc
