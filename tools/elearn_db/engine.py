"""Flyway-compatible migration engine: migrate, info, validate, baseline, repair, clean.

A database migrated here is accepted by Flyway and vice versa: the history table, its rows, the
checksums and the advisory lock key are Flyway's. Each transactional migration runs in one
transaction together with its history row, so a failure leaves neither. A script that cannot run
in a transaction (or whose ``.sql.conf`` says ``executeInTransaction=false``) runs statement by
statement in autocommit, holding only the session advisory lock; its failure records a
``success=false`` row that blocks ``migrate`` until ``repair``, as Flyway does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

import psycopg
from psycopg import sql

from . import history
from .checksum import checksum_text
from .config import Config
from .db import connect
from .errors import ConfigError, MigrationFailed, Refused, ValidationFailed
from .history import AppliedRow
from .placeholders import replace_placeholders
from .resolver import FIRED_EVENTS, Script, Version, resolve
from .sqlsplit import Statement, split_statements

Progress = Callable[[str, int, int], None]  # (message, done, total)


@dataclass
class InfoRow:
    category: str  # Versioned | Repeatable | Baseline | Schema | ""
    version: str | None
    description: str
    type: str
    installed_on: datetime | None
    state: str
    script: str
    checksum: int | None = None
    installed_rank: int | None = None
    execution_time: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "category": self.category, "version": self.version, "description": self.description,
            "type": self.type, "installedOn": self.installed_on.isoformat(sep=" ") if self.installed_on else None,
            "state": self.state, "script": self.script, "checksum": self.checksum,
            "installedRank": self.installed_rank, "executionTime": self.execution_time,
        }


@dataclass
class MigrateResult:
    applied: list[str] = field(default_factory=list)  # scripts applied, in order
    initial_version: str | None = None
    target_version: str | None = None
    baselined: bool = False


PENDING_STATES = {"Pending", "Outdated"}
FAILED_STATES = {"Failed", "Failed (Missing)", "Failed (Future)"}


class Engine:
    """One configured migration run against one database."""

    def __init__(self, config: Config, *, progress: Progress | None = None, log: Callable[[str], None] | None = None):
        self.config = config
        self.schema = config.default_schema
        self.table = config.table
        self.progress = progress or (lambda msg, done, total: None)
        self.log = log or (lambda msg: None)
        self._scripts: list[Script] | None = None
        self.conn: psycopg.Connection | None = None
        self.installed_by = ""
        self.database = ""
        self.user = ""
        self._role = "none"
        self._search_path = ""

    # ------------------------------------------------------------------ resolution
    @property
    def scripts(self) -> list[Script]:
        if self._scripts is None:
            self._scripts = resolve(self.config)
        return self._scripts

    def versioned(self) -> list[Script]:
        return sorted((s for s in self.scripts if s.kind == "versioned"), key=lambda s: s.version)  # type: ignore[arg-type,return-value]

    def repeatables(self) -> list[Script]:
        return sorted((s for s in self.scripts if s.kind == "repeatable"), key=lambda s: s.description)

    def callbacks(self, event: str) -> list[Script]:
        if self.config.flag("skipDefaultCallbacks"):
            return []
        return sorted((s for s in self.scripts if s.kind == "callback" and s.event == event), key=lambda s: s.description)

    def placeholder_values(self, script: Script) -> dict[str, str]:
        values = dict(self.config.placeholders)
        values.update({
            "flyway:defaultschema": self.schema,
            "flyway:user": self.user,
            "flyway:database": self.database,
            "flyway:timestamp": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "flyway:filename": script.path.name,
            "flyway:table": self.table,
            "flyway:workingdirectory": os.getcwd(),
            "flyway:environment": self.config.get("environment") or "default",
        })
        return values

    def render(self, script: Script) -> str:
        if not self.config.flag("placeholderReplacement"):
            return script.raw_text
        if script._rendered is None:
            script._rendered = replace_placeholders(
                script.raw_text, self.placeholder_values(script),
                prefix=self.config.get("placeholderPrefix") or "${",
                suffix=self.config.get("placeholderSuffix") or "}",
                script=script.script,
            )
        return script._rendered

    def resolved_checksum(self, script: Script) -> int:
        """Checksum Flyway stores: versioned as written, repeatable after placeholder replacement."""
        if script.is_repeatable:
            return checksum_text(self.render(script))
        return script.checksum_raw

    def checksum_matches(self, script: Script, stored: int | None) -> bool:
        if stored is None:
            return False
        if stored == script.checksum_raw:
            return True
        return script.is_repeatable and stored == self.resolved_checksum(script)

    # ------------------------------------------------------------------ connection
    def open(self) -> None:
        if self.conn is not None:
            return
        self.conn = connect(self.config.connection(), autocommit=True)
        init_sql = self.config.get("initSql")
        if init_sql:
            self.conn.execute(init_sql)
        lock_timeout = self.config.elearn("lockTimeout")
        statement_timeout = self.config.elearn("statementTimeout")
        if lock_timeout:
            self.conn.execute("select pg_catalog.set_config('lock_timeout', %s, false)", (lock_timeout,))
        if statement_timeout:
            self.conn.execute("select pg_catalog.set_config('statement_timeout', %s, false)", (statement_timeout,))
        row = self.conn.execute("select current_user, session_user, current_database(), current_setting('role')").fetchone()
        assert row is not None
        self.user = str(row[1])
        self.installed_by = self.config.get("installedBy") or str(row[0])
        self.database = str(row[2])
        self._role = str(row[3])
        # Flyway points the session at the default schema.
        self.conn.execute("select pg_catalog.set_config('search_path', %s, false)", (f'"{self.schema}"',))
        self._search_path = f'"{self.schema}"'

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> "Engine":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _restore_session(self) -> None:
        """Undo what a script may have changed for the session (role, search_path), as Flyway does."""
        assert self.conn is not None
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.conn.rollback()
        self._set_session_role()
        self.conn.execute("select pg_catalog.set_config('search_path', %s, false)", (self._search_path,))

    def _set_session_role(self) -> None:
        assert self.conn is not None
        if self._role in ("none", ""):
            self.conn.execute("RESET ROLE")
        else:
            self.conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(self._role)))

    def _lock(self) -> None:
        assert self.conn is not None
        key = history.lock_key(self.schema, self.table)
        retries = max(1, self.config.integer("lockRetryCount", 50))
        deadline = time.monotonic() + retries
        while True:
            row = self.conn.execute("select pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row and row[0]:
                return
            if time.monotonic() > deadline:
                raise MigrationFailed(
                    f"could not take the migration lock {key} on {history.quoted_name(self.schema, self.table)} "
                    f"within {retries}s: another migration is running",
                    script="(lock)", hint="wait for the other runner to finish, or raise flyway.lockRetryCount",
                )
            time.sleep(0.1)

    def _unlock(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.execute("select pg_advisory_unlock(%s)", (history.lock_key(self.schema, self.table),))

    def applied(self) -> list[AppliedRow]:
        self.open()
        assert self.conn is not None
        return history.read(self.conn, self.schema, self.table)

    # ------------------------------------------------------------------ info
    def info(self, applied: list[AppliedRow] | None = None) -> list[InfoRow]:
        """Flyway's info: every applied row and every resolved script, with its state."""
        rows = self.applied() if applied is None else applied
        out: list[InfoRow] = []
        versioned = {s.version: s for s in self.versioned()}
        deleted = {(r.version, r.description) for r in rows if r.type == "DELETE"}
        baseline = next((Version.parse(r.version) for r in rows if r.type == "BASELINE" and r.version), None)
        applied_versions = [Version.parse(r.version) for r in rows
                            if r.version and r.type not in ("DELETE",) and (r.version, r.description) not in deleted]
        max_applied = max(applied_versions) if applied_versions else None
        max_resolved = max(versioned) if versioned else None
        seen_versions: set[Version] = set()
        latest_repeatable: dict[str, AppliedRow] = {}
        for r in rows:
            if r.version is None and r.type == "SQL":
                latest_repeatable[r.description] = r
        repeatables = {s.description: s for s in self.repeatables()}
        out_of_order_watermark: Version | None = None

        for r in rows:
            if r.type == "SCHEMA":
                out.append(InfoRow("Schema", None, r.description, "SCHEMA", r.installed_on, "Success", r.script,
                                   None, r.installed_rank, r.execution_time))
                continue
            if r.type == "DELETE":
                continue
            if r.type == "BASELINE":
                out.append(InfoRow("Baseline", r.version, r.description, "BASELINE", r.installed_on, "Baseline",
                                   r.script, None, r.installed_rank, r.execution_time))
                if r.version:
                    seen_versions.add(Version.parse(r.version))
                continue
            if r.version is not None:
                v = Version.parse(r.version)
                seen_versions.add(v)
                resolved = versioned.get(v)
                if (r.version, r.description) in deleted:
                    state = "Deleted"
                elif not r.success:
                    state = "Failed" if resolved else ("Failed (Future)" if max_resolved and v > max_resolved else "Failed (Missing)")
                elif resolved is None:
                    state = "Future" if (max_resolved is None or v > max_resolved) else "Missing"
                elif out_of_order_watermark is not None and v < out_of_order_watermark:
                    state = "Out of Order"
                else:
                    state = "Success"
                if out_of_order_watermark is None or v > out_of_order_watermark:
                    out_of_order_watermark = v
                out.append(InfoRow("Versioned", r.version, r.description, r.type, r.installed_on, state, r.script,
                                   r.checksum, r.installed_rank, r.execution_time))
            else:
                resolved_r = repeatables.get(r.description)
                if latest_repeatable.get(r.description) is not r:
                    state = "Superseded"
                elif not r.success:
                    state = "Failed" if resolved_r else "Failed (Missing)"
                elif resolved_r is None:
                    state = "Missing"
                elif self.checksum_matches(resolved_r, r.checksum):
                    state = "Success"
                else:
                    state = "Outdated"
                out.append(InfoRow("Repeatable", None, r.description, r.type, r.installed_on, state, r.script,
                                   r.checksum, r.installed_rank, r.execution_time))
        out_of_order = self.config.flag("outOfOrder")
        for v, s in sorted(versioned.items()):
            if v in seen_versions and not any(
                    (r.version and Version.parse(r.version) == v and (r.version, r.description) in deleted) for r in rows):
                continue
            if v in seen_versions:
                continue
            if baseline is not None and v <= baseline:
                state = "Below Baseline"
            elif max_applied is not None and v < max_applied and not out_of_order:
                state = "Ignored"
            else:
                state = "Pending"
            out.append(InfoRow("Versioned", s.version.text if s.version else None, s.description, "SQL", None, state,
                               s.script, self.resolved_checksum(s)))
        for desc, s in sorted(repeatables.items()):
            if desc not in latest_repeatable:
                out.append(InfoRow("Repeatable", None, desc, "SQL", None, "Pending", s.script, self.resolved_checksum(s)))
        return out

    # ------------------------------------------------------------------ validate
    def validation_problems(self, *, allow_pending: bool, info: list[InfoRow] | None = None) -> list[str]:
        rows = self.info() if info is None else info
        versioned = {s.version: s for s in self.versioned()}
        problems: list[str] = []
        for r in rows:
            label = f"version {r.version}" if r.version else f"repeatable {r.description!r}"
            if r.state in FAILED_STATES:
                problems.append(f"failed migration to {label} ({r.script}): remove any half-applied changes, then run repair")
            elif r.state == "Missing":
                problems.append(f"applied migration {label} ({r.script}) is not resolved locally")
            elif r.state in ("Pending", "Outdated") and not allow_pending:
                what = "outdated repeatable migration should be re-applied" if r.state == "Outdated" else "resolved migration not applied to database"
                problems.append(f"{what}: {label} ({r.script})")
            elif r.state == "Ignored":
                problems.append(f"resolved migration {label} ({r.script}) is older than the latest applied one and was never applied"
                                " (set flyway.outOfOrder=true to apply it)")
            if r.category == "Versioned" and r.installed_rank is not None and r.version and r.state in ("Success", "Out of Order"):
                s = versioned.get(Version.parse(r.version))
                if s is None:
                    continue
                if not self.checksum_matches(s, r.checksum):
                    problems.append(f"checksum mismatch for migration {label} ({s.script}): applied {r.checksum}, resolved {s.checksum_raw}")
                if s.description != r.description:
                    problems.append(f"description mismatch for migration {label}: applied {r.description!r}, resolved {s.description!r}")
        return problems

    def validate(self, *, allow_pending: bool = False) -> None:
        self.open()
        self._run_callbacks("beforeValidate")
        problems = self.validation_problems(allow_pending=allow_pending)
        if problems:
            raise ValidationFailed(f"validate failed: {len(problems)} problem(s)", problems)
        self._run_callbacks("afterValidate")

    # ------------------------------------------------------------------ migrate
    def migrate(self) -> MigrateResult:
        self.open()
        assert self.conn is not None
        self.scripts  # resolve (and fail) before touching the database
        self._lock()
        try:
            return self._migrate_locked()
        finally:
            self._restore_session()
            self._unlock()

    def _ensure_history(self) -> bool:
        """Create schemas (if configured) and the history table. Returns True if the table was created."""
        assert self.conn is not None
        created_schemas = []
        missing = [s for s in self.config.schemas if not self._schema_exists(s)]
        if missing:
            if not self.config.flag("createSchemas"):
                if self.schema in missing:
                    raise ConfigError(
                        f"schema {self.schema!r} (the first of flyway.schemas) does not exist and flyway.createSchemas=false",
                        hint="create the schema, or set flyway.createSchemas=true")
            else:
                created_schemas = missing
        if history.exists(self.conn, self.schema, self.table):
            return False
        with self.conn.transaction():
            for s in created_schemas:
                self.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(s)))
            history.create(self.conn, self.schema, self.table)
            if created_schemas:
                history.insert(self.conn, self.schema, self.table, installed_rank=0, version=None,
                               description=history.SCHEMA_CREATION_DESCRIPTION, type="SCHEMA",
                               script=",".join(f'"{s}"' for s in created_schemas), checksum=None,
                               installed_by=self.installed_by, execution_time=0, success=True)
        self.log(f"created schema history table {history.quoted_name(self.schema, self.table)}")
        return True

    def _schema_exists(self, schema: str) -> bool:
        assert self.conn is not None
        return self.conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is not None

    def _schema_has_objects(self) -> bool:
        assert self.conn is not None
        row = self.conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = any(%s) and not (n.nspname = %s and c.relname like %s)",
            (self.config.schemas, self.schema, self.table + "%"),
        ).fetchone()
        return bool(row and row[0])

    def _migrate_locked(self) -> MigrateResult:
        assert self.conn is not None
        result = MigrateResult()
        had_table = history.exists(self.conn, self.schema, self.table)
        if not had_table and self.config.flag("baselineOnMigrate") and self._schema_has_objects():
            self._baseline_locked()
            result.baselined = True
        self._ensure_history()
        rows = self.applied()
        info = self.info(rows)
        if self.config.flag("validateOnMigrate"):
            problems = self.validation_problems(allow_pending=True, info=info)
            if problems:
                raise ValidationFailed(f"validate failed before migrate: {len(problems)} problem(s)", problems)
        else:
            failed = [r for r in info if r.state in FAILED_STATES]
            if failed:
                raise ValidationFailed("a failed migration must be repaired before migrating",
                                       [f"{r.script} (version {r.version})" for r in failed])
        result.initial_version = _current_version(info)
        target = self._target()
        todo: list[Script] = []
        by_version = {s.version: s for s in self.versioned()}
        for r in info:
            if r.category != "Versioned" or r.installed_rank is not None:
                continue
            if r.state == "Pending" or (r.state == "Ignored" and self.config.flag("outOfOrder")):
                s = by_version[Version.parse(r.version or "0")]
                if target is None or (s.version is not None and s.version <= target):
                    todo.append(s)
        todo.sort(key=lambda s: s.version)  # type: ignore[arg-type,return-value]
        rep_states = {r.description: r.state for r in info if r.category == "Repeatable" and r.state != "Superseded"}
        todo_r = [s for s in self.repeatables() if rep_states.get(s.description) in ("Pending", "Outdated")]
        # Render everything first: a missing placeholder must fail before anything runs.
        for s in todo + todo_r:
            self.render(s)
        self._run_callbacks("beforeMigrate")
        total = len(todo) + len(todo_r)
        try:
            for i, s in enumerate(todo):
                self.progress(s.script, i, total)
                self._apply(s)
                result.applied.append(s.script)
            if todo:
                self._run_callbacks("afterVersioned")
            if todo_r:
                self._run_callbacks("beforeRepeatables")
            for j, s in enumerate(todo_r):
                self.progress(s.script, len(todo) + j, total)
                self._apply(s)
                result.applied.append(s.script)
            self.progress("done", total, total)
        except Exception:
            self._safe_callbacks("afterMigrateError")
            raise
        if result.applied:
            self._run_callbacks("afterMigrateApplied")
        self._run_callbacks("afterMigrate")
        result.target_version = _current_version(self.info())
        return result

    def _target(self) -> Version | None:
        t = (self.config.get("target") or "latest").strip()
        if t.lower() in ("latest", ""):
            return None
        if t.lower() == "current":
            info = self.info()
            cur = _current_version(info)
            return Version.parse(cur) if cur else Version.parse("0")
        return Version.parse(t.rstrip("?"))

    def _apply(self, script: Script) -> None:
        assert self.conn is not None
        text = self.render(script)
        statements = split_statements(text, script.script)
        in_tx = script.execute_in_transaction
        kinds = {st.transactional for st in statements}
        if in_tx is None:
            if kinds == {True, False} and not self.config.flag("mixed"):
                bad = next(st for st in statements if not st.transactional)
                raise MigrationFailed(
                    f"{script.script}:{bad.line}: mixes statements that cannot run in a transaction with ones that can",
                    script=script.script, line=bad.line,
                    hint="put the non-transactional statement (e.g. CREATE INDEX CONCURRENTLY) in a file of its own "
                         "with a .sql.conf holding executeInTransaction=false, or set flyway.mixed=true")
            in_tx = False not in kinds if statements else True
            if not self.config.flag("executeInTransaction"):
                in_tx = False
        checksum = self.resolved_checksum(script)
        version = script.version.text if script.version else None
        start = time.monotonic()
        self.log(f"migrating {script.script}" + ("" if in_tx else " (not in a transaction)"))
        if in_tx:
            try:
                with self.conn.transaction():
                    self._run_callbacks("beforeEachMigrate", inside=True)
                    self._execute(script, statements)
                    elapsed = int((time.monotonic() - start) * 1000)
                    # The script may have switched role (SET LOCAL ROLE owner); the history row is
                    # written as the connecting role, inside the same transaction.
                    self._set_session_role()
                    history.insert(self.conn, self.schema, self.table, version=version,
                                   description=script.description, type="SQL", script=script.script,
                                   checksum=checksum, installed_by=self.installed_by,
                                   execution_time=elapsed, success=True)
                    self._run_callbacks("afterEachMigrate", inside=True)
            except MigrationFailed:
                self._restore_session()
                self._safe_callbacks("afterEachMigrateError")
                raise
            self._restore_session()
        else:
            self._run_callbacks("beforeEachMigrate")
            try:
                self._execute(script, statements)
            except MigrationFailed:
                self._restore_session()
                elapsed = int((time.monotonic() - start) * 1000)
                history.insert(self.conn, self.schema, self.table, version=version, description=script.description,
                               type="SQL", script=script.script, checksum=checksum, installed_by=self.installed_by,
                               execution_time=elapsed, success=False)
                self._safe_callbacks("afterEachMigrateError")
                raise
            self._restore_session()
            elapsed = int((time.monotonic() - start) * 1000)
            history.insert(self.conn, self.schema, self.table, version=version, description=script.description,
                           type="SQL", script=script.script, checksum=checksum, installed_by=self.installed_by,
                           execution_time=elapsed, success=True)
            self._run_callbacks("afterEachMigrate")

    def _execute(self, script: Script, statements: list[Statement]) -> None:
        assert self.conn is not None
        for st in statements:
            try:
                with self.conn.cursor() as cur:
                    cur.execute(st.text.encode("utf-8"), prepare=False)  # type: ignore[call-overload]
            except psycopg.Error as exc:
                raise _sql_failure(script.script, st, exc) from exc

    # ------------------------------------------------------------------ callbacks
    def _run_callbacks(self, event: str, *, inside: bool = False) -> None:
        if event not in FIRED_EVENTS:
            return
        assert self.conn is not None
        for cb in self.callbacks(event):
            statements = split_statements(self.render(cb), cb.script)
            if inside:
                self._execute(cb, statements)
            else:
                with self.conn.transaction():
                    self._execute(cb, statements)
                self._restore_session()

    def _safe_callbacks(self, event: str) -> None:
        try:
            self._run_callbacks(event)
        except Exception as exc:  # an error callback must not hide the original error
            self.log(f"{event} callback failed: {exc}")

    # ------------------------------------------------------------------ baseline / repair / clean
    def baseline(self) -> None:
        self.open()
        self._lock()
        try:
            self._run_callbacks("beforeBaseline")
            self._baseline_locked()
            self._run_callbacks("afterBaseline")
        finally:
            self._restore_session()
            self._unlock()

    def _baseline_locked(self) -> None:
        assert self.conn is not None
        self._ensure_history()
        rows = history.read(self.conn, self.schema, self.table)
        version = Version.parse(self.config.get("baselineVersion") or "1")
        description = self.config.get("baselineDescription") or "<< Flyway Baseline >>"
        existing = [r for r in rows if r.type == "BASELINE"]
        if existing:
            if existing[0].version and Version.parse(existing[0].version) == version:
                self.log(f"already baselined at version {version}")
                return
            raise ValidationFailed("cannot baseline: the history already has a different baseline",
                                   [f"baseline {existing[0].version} exists; requested {version}"])
        if any(r.type != "SCHEMA" for r in rows):
            raise ValidationFailed("cannot baseline a database that already has applied migrations",
                                   [f"{len(rows)} row(s) in {history.quoted_name(self.schema, self.table)}"])
        with self.conn.transaction():
            history.insert(self.conn, self.schema, self.table, version=version.text, description=description,
                           type="BASELINE", script=description, checksum=None, installed_by=self.installed_by,
                           execution_time=0, success=True)

    def repair(self) -> list[str]:
        """Remove failed rows, align checksums and descriptions, mark missing migrations deleted."""
        self.open()
        assert self.conn is not None
        actions: list[str] = []
        self._lock()
        try:
            self._run_callbacks("beforeRepair")
            if not history.exists(self.conn, self.schema, self.table):
                return ["nothing to repair: no schema history table"]
            info = self.info()
            versioned = {s.version: s for s in self.versioned()}
            t = history.table_ident(self.schema, self.table)
            with self.conn.transaction():
                for r in info:
                    if r.installed_rank is None:
                        continue
                    if r.state in FAILED_STATES:
                        self.conn.execute(sql.SQL("DELETE FROM {t} WHERE installed_rank = %s").format(t=t), (r.installed_rank,))
                        actions.append(f"removed failed row {r.installed_rank} ({r.script})")
                        continue
                    if r.state == "Missing" and r.category == "Versioned":
                        history.insert(self.conn, self.schema, self.table, version=r.version, description=r.description,
                                       type="DELETE", script=r.script, checksum=r.checksum,
                                       installed_by=self.installed_by, execution_time=0, success=True)
                        actions.append(f"marked missing migration {r.version} ({r.script}) as deleted")
                        continue
                    s = versioned.get(Version.parse(r.version)) if r.version else None
                    if r.category == "Versioned" and s is not None and r.state in ("Success", "Out of Order"):
                        if r.checksum != s.checksum_raw or r.description != s.description:
                            self.conn.execute(sql.SQL(
                                "UPDATE {t} SET checksum = %s, description = %s WHERE installed_rank = %s").format(t=t),
                                (s.checksum_raw, s.description, r.installed_rank))
                            actions.append(f"aligned checksum/description of {r.version} ({s.script})")
                    if r.category == "Repeatable" and r.state == "Missing":
                        history.insert(self.conn, self.schema, self.table, version=None, description=r.description,
                                       type="DELETE", script=r.script, checksum=r.checksum,
                                       installed_by=self.installed_by, execution_time=0, success=True)
                        actions.append(f"marked missing repeatable {r.description!r} as deleted")
            self._run_callbacks("afterRepair")
        finally:
            self._restore_session()
            self._unlock()
        return actions or ["nothing to repair"]

    def clean(self, *, confirmed: bool) -> list[str]:
        """Drop every object in the configured schemas (and the schemas Flyway created). Guarded twice."""
        if self.config.flag("cleanDisabled"):
            raise Refused("clean is disabled: flyway.cleanDisabled is true (the default)",
                          hint="set flyway.cleanDisabled=false for a throwaway database, and pass --yes")
        if not confirmed:
            raise Refused("clean drops every object in the configured schemas: pass --yes to confirm")
        self.open()
        assert self.conn is not None
        self._lock()
        dropped: list[str] = []
        try:
            self._run_callbacks("beforeClean")
            rows = history.read(self.conn, self.schema, self.table)
            created = set()
            for r in rows:
                if r.type == "SCHEMA":
                    created |= {p.strip().strip('"') for p in r.script.split(",")}
            with self.conn.transaction():
                for schema in reversed(self.config.schemas):
                    if not self._schema_exists(schema):
                        continue
                    if schema in created:
                        self.conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
                        dropped.append(f"schema {schema}")
                    else:
                        dropped += self._drop_objects(schema)
            self._run_callbacks("afterClean")
        finally:
            self._restore_session()
            self._unlock()
        return dropped

    def _drop_objects(self, schema: str) -> list[str]:
        assert self.conn is not None
        c = self.conn
        done: list[str] = []
        q = sql.Identifier(schema)
        for (ext,) in c.execute("select e.extname from pg_extension e join pg_namespace n on n.oid = e.extnamespace"
                                " where n.nspname = %s", (schema,)).fetchall():
            c.execute(sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(sql.Identifier(ext)))
            done.append(f"extension {ext}")
        kinds = {"m": "MATERIALIZED VIEW", "v": "VIEW", "r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "S": "SEQUENCE"}
        for kind in ("m", "v", "p", "r", "f", "S"):
            for (name,) in c.execute(
                    "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                    " where n.nspname = %s and c.relkind = %s and not c.relispartition"
                    " and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass"
                    " and d.objid = c.oid and (d.deptype = 'e' or (c.relkind = 'S' and d.deptype in ('i', 'a'))))",
                    (schema, kind)).fetchall():
                c.execute(sql.SQL("DROP {} IF EXISTS {}.{} CASCADE").format(sql.SQL(kinds[kind]), q, sql.Identifier(name)))
                done.append(f"{kinds[kind].lower()} {schema}.{name}")
        for (sig, kind) in c.execute(
                "select p.oid::regprocedure::text, p.prokind from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
                " where n.nspname = %s and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')",
                (schema,)).fetchall():
            word = {"p": "PROCEDURE", "a": "AGGREGATE"}.get(kind, "FUNCTION")
            c.execute(sql.SQL("DROP {} IF EXISTS {} CASCADE").format(sql.SQL(word), sql.SQL(sig)))
            done.append(f"{word.lower()} {sig}")
        for (name, typtype) in c.execute(
                "select t.typname, t.typtype from pg_type t join pg_namespace n on n.oid = t.typnamespace"
                " where n.nspname = %s and t.typtype in ('e','d','c','r','m') and (t.typrelid = 0 or"
                " (select relkind from pg_class where oid = t.typrelid) = 'c')"
                " and not exists (select 1 from pg_depend d where d.objid = t.oid and d.deptype in ('e','i'))",
                (schema,)).fetchall():
            word = "DOMAIN" if typtype == "d" else "TYPE"
            c.execute(sql.SQL("DROP {} IF EXISTS {}.{} CASCADE").format(sql.SQL(word), q, sql.Identifier(name)))
            done.append(f"{word.lower()} {schema}.{name}")
        return done


def _current_version(info: list[InfoRow]) -> str | None:
    best: Version | None = None
    for r in info:
        if r.version and r.installed_rank is not None and r.state in ("Success", "Baseline", "Out of Order", "Future"):
            v = Version.parse(r.version)
            if best is None or v > best:
                best = v
    return best.text if best else None


def _sql_failure(script: str, st: Statement, exc: psycopg.Error) -> MigrationFailed:
    diag = exc.diag
    line = st.line
    pos = diag.statement_position
    if pos:
        try:
            line = st.line + st.text[: int(pos) - 1].count("\n")
        except ValueError:
            pass
    elif diag.internal_position is None and diag.context:
        # PL/pgSQL errors carry "line N" of the function body in their context; keep the statement line.
        pass
    primary = diag.message_primary or str(exc).splitlines()[0]
    sqlstate = diag.sqlstate or getattr(exc, "sqlstate", None)
    first = st.text.strip().splitlines()[0][:80] if st.text.strip() else ""
    msg = f"{script}:{line}: SQLSTATE {sqlstate}: {primary} (statement: {first})"
    return MigrationFailed(msg, script=script, line=line, sqlstate=sqlstate, detail=diag.message_detail,
                           hint=diag.message_hint)


