"""Split a script into statements with PostgreSQL's own parser (pglast / libpg_query).

Each statement keeps its 1-based start line so errors can point into the file, and whether it
can run inside a transaction block (Flyway's rule: CREATE/DROP INDEX CONCURRENTLY, VACUUM,
REINDEX CONCURRENTLY, DETACH PARTITION CONCURRENTLY, CREATE/DROP DATABASE, ALTER SYSTEM,
CREATE/DROP TABLESPACE, CREATE/DROP SUBSCRIPTION cannot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pglast
from pglast import ast
from pglast.parser import ParseError, scan, split

from .errors import ResolveError


@dataclass(frozen=True)
class Statement:
    text: str
    line: int
    transactional: bool


def split_statements(text: str, script: str = "<script>") -> list[Statement]:
    """Return the statements of ``text``; raise ResolveError if even the scanner cannot split it."""
    if text.startswith("\ufeff"):
        # A byte order mark is not SQL (Flyway drops it when reading a script): a blank keeps offsets.
        text = " " + text[1:]
    try:
        slices = split(text, with_parser=True, only_slices=True)
    except ParseError:
        # Syntax the bundled parser does not know (newer server) or a real error: split with the
        # PostgreSQL scanner and let the server report any syntax error with its position.
        try:
            slices = split(text, with_parser=False, only_slices=True)
        except ParseError as exc:
            raise ResolveError(f"{script}: cannot split into statements: {exc}") from exc
    out = []
    for start, stop in _with_leftovers(text, [(sl.start, sl.stop) for sl in slices]):
        stmt = text[start:stop]
        if not stmt.strip():
            continue
        line = text.count("\n", 0, start) + text.count("\r", 0, start) - text.count("\r\n", 0, start) + 1
        out.append(Statement(stmt, line, _can_run_in_transaction(stmt)))
    return out


# Leading blanks, semicolons and (unnested) comments of a leftover, skipped for its line number.
_BETWEEN_RE = re.compile(r"(?:\s|;|--[^\n]*|/\*.*?\*/)*", re.DOTALL)


def _with_leftovers(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` plus every stretch of ``text`` between or after them that is more than blanks,
    semicolons and comments. The scanner-only split drops such text (e.g. after an unbalanced
    parenthesis in a broken statement); sent as a statement of its own, the server reports its
    syntax error with the position instead of the script being applied without it."""
    out: list[tuple[int, int]] = []
    pos = 0
    for start, stop in [*spans, (len(text), len(text))]:
        if pos < start and _has_tokens(text[pos:start]):
            trivia = _BETWEEN_RE.match(text, pos, start)  # where the text starts, for the line number
            out.append((trivia.end() if trivia is not None and trivia.end() < start else pos, start))
        if stop > start:
            out.append((start, stop))
        pos = max(pos, stop)
    return out


def _has_tokens(gap: str) -> bool:
    """Whether ``gap`` holds more than comments (nested ones too) and semicolons, by PostgreSQL's scanner."""
    try:
        return any(t.name not in ("SQL_COMMENT", "C_COMMENT", "ASCII_59") for t in scan(gap))
    except ParseError:
        return True  # e.g. an unterminated comment or quote: the server says what is wrong


def _can_run_in_transaction(stmt: str) -> bool:
    try:
        raws = pglast.parse_sql(stmt)
    except ParseError:
        return not _NON_TX_RE.search(stmt)
    return all(_node_transactional(raw.stmt) for raw in raws)


_NON_TX_RE = re.compile(
    r"^\s*(?:(?:CREATE|DROP)\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY|VACUUM|REINDEX\b.*\bCONCURRENTLY|"
    r"(?:CREATE|DROP)\s+(?:DATABASE|TABLESPACE|SUBSCRIPTION)|ALTER\s+SYSTEM|ALTER\s+TABLE\b.*DETACH\s+PARTITION\b.*CONCURRENTLY)",
    re.IGNORECASE | re.DOTALL,
)


def _node_transactional(node: ast.Node) -> bool:
    if isinstance(node, ast.IndexStmt):
        return not node.concurrent
    if isinstance(node, ast.DropStmt):
        return not node.concurrent
    if isinstance(node, ast.VacuumStmt):
        return not node.is_vacuumcmd
    if isinstance(node, ast.ReindexStmt):
        for p in node.params or ():
            if isinstance(p, ast.DefElem) and p.defname == "concurrently":
                return False
        return True
    if isinstance(node, (ast.CreatedbStmt, ast.DropdbStmt, ast.AlterSystemStmt, ast.CreateTableSpaceStmt,
                         ast.DropTableSpaceStmt, ast.CreateSubscriptionStmt, ast.DropSubscriptionStmt)):
        return False
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            d = getattr(cmd, "def_", None)
            if isinstance(d, ast.PartitionCmd) and d.concurrent:
                return False
    return True
