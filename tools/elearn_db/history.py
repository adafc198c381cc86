"""The ``flyway_schema_history`` table: Flyway's PostgreSQL DDL and row shapes, exactly.

Row types written: ``SQL`` (versioned and repeatable scripts), ``BASELINE``, ``SCHEMA`` (Flyway created
the listed schemas, rank 0) and ``DELETE`` (repair marked a missing migration deleted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

SCHEMA_CREATION_DESCRIPTION = "<< Flyway Schema Creation >>"
TYPES = ("SQL", "BASELINE", "SCHEMA", "DELETE", "UNDO_SQL", "JDBC", "SPRING_JDBC", "SCRIPT", "CUSTOM")


@dataclass
class AppliedRow:
    installed_rank: int
    version: str | None
    description: str
    type: str
    script: str
    checksum: int | None
    installed_by: str
    installed_on: datetime
    execution_time: int
    success: bool


def table_ident(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def quoted_name(schema: str, table: str) -> str:
    """The table's name as Flyway prints it, which is also what its advisory lock key hashes."""
    return f'"{schema}"."{table}"'


def lock_key(schema: str, table: str) -> int:
    """Flyway's PostgreSQL advisory lock number: 0x466C79776179 + Java String.hashCode of the quoted name."""
    h = 0
    for unit in _utf16_units(quoted_name(schema, table)):
        h = (31 * h + unit) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return 0x466C79776179 + h


def _utf16_units(s: str) -> list[int]:
    data = s.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    row = conn.execute(
        "select 1 from pg_catalog.pg_tables where schemaname = %s and tablename = %s", (schema, table)
    ).fetchone()
    return row is not None


def create(conn: psycopg.Connection, schema: str, table: str) -> None:
    """Create the table with Flyway's PostgreSQL DDL (createMetaDataTable.sql), in the caller's transaction."""
    t = table_ident(schema, table)
    conn.execute(sql.SQL(
        "CREATE TABLE {t} (\n"
        '    "installed_rank" INT NOT NULL,\n'
        '    "version" VARCHAR(50),\n'
        '    "description" VARCHAR(200) NOT NULL,\n'
        '    "type" VARCHAR(20) NOT NULL,\n'
        '    "script" VARCHAR(1000) NOT NULL,\n'
        '    "checksum" INTEGER,\n'
        '    "installed_by" VARCHAR(100) NOT NULL,\n'
        '    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),\n'
        '    "execution_time" INTEGER NOT NULL,\n'
        '    "success" BOOLEAN NOT NULL\n'
        ")"
    ).format(t=t))
    conn.execute(sql.SQL('ALTER TABLE {t} ADD CONSTRAINT {pk} PRIMARY KEY ("installed_rank")').format(
        t=t, pk=sql.Identifier(f"{table}_pk")))
    conn.execute(sql.SQL('CREATE INDEX {idx} ON {t} ("success")').format(
        t=t, idx=sql.Identifier(f"{table}_s_idx")))


def read(conn: psycopg.Connection, schema: str, table: str) -> list[AppliedRow]:
    if not exists(conn, schema, table):
        return []
    rows = conn.execute(sql.SQL(
        "SELECT installed_rank, version, description, type, script, checksum, installed_by, installed_on,"
        " execution_time, success FROM {t} ORDER BY installed_rank"
    ).format(t=table_ident(schema, table))).fetchall()
    return [AppliedRow(*r) for r in rows]


def insert(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    *,
    version: str | None,
    description: str,
    type: str,
    script: str,
    checksum: int | None,
    installed_by: str,
    execution_time: int,
    success: bool,
    installed_rank: int | None = None,
) -> int:
    """Insert one row as Flyway does (rank = max + 1 unless given); returns the rank."""
    assert type in TYPES, type
    t = table_ident(schema, table)
    if installed_rank is None:
        row = conn.execute(sql.SQL("SELECT COALESCE(MAX(installed_rank), 0) + 1 FROM {t}").format(t=t)).fetchone()
        assert row is not None
        installed_rank = int(row[0])
    conn.execute(
        sql.SQL(
            "INSERT INTO {t} (installed_rank, version, description, type, script, checksum, installed_by,"
            " execution_time, success) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(t=t),
        (installed_rank, version, description[:200], type, script[:1000], checksum, installed_by[:100],
         execution_time, success),
    )
    return installed_rank
