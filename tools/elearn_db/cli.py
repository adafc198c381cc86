"""The ``elearn-db`` command line: parses options, calls the library, formats the result.

Exit codes: 0 ok; 1 validation failed / pending or failed migrations (with --exit-code) / stale
render / lint findings / failing tests; 2 usage, configuration, connection or SQL error;
3 refused (clean without cleanDisabled=false and --yes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from . import lint as lint_mod
from . import local, render as render_mod, seed as seed_mod
from .config import Config, load_config
from .db import connect
from .engine import FAILED_STATES, PENDING_STATES, Engine
from .errors import EXIT_ERROR, EXIT_VALIDATION, ElearnDbError, MigrationFailed, ValidationFailed
from .paths import project_root

app = typer.Typer(
    help="Flyway-compatible migrations and tooling for the elearn-db PostgreSQL schema.\n\n"
         "Settings come from flyway.conf (Flyway's flyway.* keys), then DATABASE_URL, then FLYWAY_* "
         "variables, then these options. Exit codes: 0 ok, 1 validation/pending/stale/findings, "
         "2 usage/config/connection/SQL error, 3 refused.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="flyway.conf to read (default: ./flyway.conf).")
UrlOpt = typer.Option(None, "--url", help="Database URL: jdbc:postgresql://host:port/db or postgresql://...")
UserOpt = typer.Option(None, "--user", "-u", help="Database user (overrides flyway.user).")
PasswordOpt = typer.Option(None, "--password", "-p", help="Database password (never printed).")
PlaceholderOpt = typer.Option(None, "--placeholder", "-P", help="NAME=VALUE, overrides flyway.placeholders.NAME.")


def _config(config: Optional[Path], url: Optional[str], user: Optional[str], password: Optional[str],
            placeholders: Optional[list[str]] = None) -> Config:
    cfg = load_config(config, overrides={"url": url, "user": user, "password": password})
    for item in placeholders or []:
        if "=" not in item:
            raise typer.BadParameter(f"--placeholder expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        cfg.placeholders[k.lower()] = v
    return cfg


def _fail(exc: ElearnDbError) -> None:
    line = f"error: {exc.message}"
    if isinstance(exc, MigrationFailed):
        if exc.detail:
            line += f" DETAIL: {exc.detail}"
    if exc.hint:
        line += f" HINT: {exc.hint}"
    err.print(line, markup=False, highlight=False, soft_wrap=True)
    if isinstance(exc, ValidationFailed):
        for p in exc.problems:
            err.print(f"  - {p}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _log(message: str) -> None:
    """Progress messages to stderr; they hold file names, so never read as rich markup."""
    err.print(message, markup=False, highlight=False)


def _run(fn):  # type: ignore[no-untyped-def]
    try:
        return fn()
    except ElearnDbError as exc:
        _fail(exc)


def _progress_bar() -> tuple[Progress, object]:
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   console=err, transient=True, disable=not err.is_terminal)
    task = bar.add_task("migrating", total=1)

    def update(message: str, done: int, total: int) -> None:
        bar.update(task, description=message, completed=done, total=max(total, 1))

    return bar, update


@app.command()
def migrate(config: Optional[Path] = ConfigOpt, url: Optional[str] = UrlOpt, user: Optional[str] = UserOpt,
            password: Optional[str] = PasswordOpt, placeholder: Optional[list[str]] = PlaceholderOpt,
            target: Optional[str] = typer.Option(None, help="Migrate up to this version (default: latest)."),
            quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors.")) -> None:
    """Apply pending versioned migrations, then new or changed repeatables (each in its own transaction)."""
    def go() -> None:
        cfg = _config(config, url, user, password, placeholder)
        if target:
            cfg.values["target"] = target
        bar, update = _progress_bar()
        with bar, Engine(cfg, progress=update, log=(lambda m: None) if quiet else _log) as e:
            result = e.migrate()
        if not quiet:
            if result.applied:
                out.print(f"Applied {len(result.applied)} migration(s); schema now at version {result.target_version}.")
            else:
                out.print(f"Schema is up to date at version {result.target_version}. No migration necessary.")
    _run(go)


@app.command()
def info(config: Optional[Path] = ConfigOpt, url: Optional[str] = UrlOpt, user: Optional[str] = UserOpt,
         password: Optional[str] = PasswordOpt, placeholder: Optional[list[str]] = PlaceholderOpt,
         as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
         exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when anything is pending or failed.")) -> None:
    """Show every migration with its state, like `flyway info`."""
    def go() -> None:
        cfg = _config(config, url, user, password, placeholder)
        with Engine(cfg) as e:
            rows = e.info()
        if as_json:
            out.print_json(json.dumps({"migrations": [r.as_dict() for r in rows]}))
        else:
            t = Table(title=Text(f"Schema history {cfg.default_schema}.{cfg.table}"))
            for col in ("Category", "Version", "Description", "Type", "Installed On", "State"):
                t.add_column(col, no_wrap=col != "Description")
            for r in rows:
                # Text cells: names from files and the database are never read as rich markup.
                t.add_row(*(Text(v) for v in (r.category, r.version or "", r.description, r.type,
                          r.installed_on.strftime("%Y-%m-%d %H:%M:%S") if r.installed_on else "", r.state)))
            out.print(t)
        if exit_code and any(r.state in PENDING_STATES | FAILED_STATES for r in rows):
            raise typer.Exit(EXIT_VALIDATION)
    _run(go)


@app.command()
def validate(config: Optional[Path] = ConfigOpt, url: Optional[str] = UrlOpt, user: Optional[str] = UserOpt,
             password: Optional[str] = PasswordOpt, placeholder: Optional[list[str]] = PlaceholderOpt) -> None:
    """Check applied migrations against the files: failed, missing, pending, checksum or description changed."""
    def go() -> None:
        with Engine(_config(config, url, user, password, placeholder)) as e:
            e.validate()
        out.print("Validated: applied migrations match the resolved ones.")
    _run(go)


@app.command()
def baseline(config: Optional[Path] = ConfigOpt, url: Optional[str] = UrlOpt, user: Optional[str] = UserOpt,
             password: Optional[str] = PasswordOpt,
             version: Optional[str] = typer.Option(None, "--baseline-version", help="Overrides flyway.baselineVersion."),
             description: Optional[str] = typer.Option(None, "--baseline-description")) -> None:
    """Mark an existing database as being at a version (writes Flyway's BASELINE row)."""
    def go() -> None:
        cfg = _config(config, url, user, password)
        if version:
            cfg.values["baselineVersion"] = version
        if description:
            cfg.values["baselineDescription"] = description
        with Engine(cfg) as e:
            e.baseline()
        out.print(f"Baselined at version {cfg.get('baselineVersion')}.")
    _run(go)


@app.command()
def repair(config: Optional[Path] = ConfigOpt, url: Optional[str] = UrlOpt, user: Optional[str] = UserOpt,
           password: Optional[str] = PasswordOpt, placeholder: Optional[list[str]] = PlaceholderOpt) -> None:
    """Remove failed rows, realign checksums/descriptions, mark missing migrations deleted."""
    def go() -> None:
        with Engine(_config(config, url, user, password, placeholder)) as e:
            for line in e.repair():
                out.print(line, markup=False, highlight=False)
    _run(go)


@app.command()
def clean(config: Optional[Path] = ConfigOpt, url: Optional[str] = UrlOpt, user: Optional[str] = UserOpt,
          password: Optional[str] = PasswordOpt,
          yes: bool = typer.Option(False, "--yes", help="Confirm: drop every object in the configured schemas.")) -> None:
    """Drop every object in the configured schemas. Refused (exit 3) unless flyway.cleanDisabled=false and --yes."""
    def go() -> None:
        e = Engine(_config(config, url, user, password))
        try:  # the guards need no connection: clean() checks them before it connects
            dropped = e.clean(confirmed=yes)
        finally:
            e.close()
        out.print(f"Cleaned: dropped {len(dropped)} object(s).")
    _run(go)


@app.command()
def up(config: Optional[Path] = ConfigOpt,
       seed: str = typer.Option("demo", help="Seed set to load after migrating ('' for none)."),
       ) -> None:
    """Start the embedded PostgreSQL 18 (data in .elearn-db/), migrate it and load the demo seed. Idempotent."""
    def go() -> None:
        root = project_root()
        cfg = load_config(config if config else (root / "flyway.conf"))
        bar, update = _progress_bar()
        with bar:
            res = local.up(cfg, root, seed=seed or None, progress=update,
                           log=_log)
        out.print(f"[bold]{res.server_version}[/] {'started' if res.started else 'already running'}")
        out.print(f"URL: {res.url}")
        versions = res.applied_versions
        shown = ", ".join(versions) if len(versions) <= 6 else f"{versions[0]} .. {versions[-1]} ({len(versions)} versions)"
        out.print(f"Applied versions: {shown or 'none'}"
                  + (f"; {len(res.migrate.applied)} script(s) applied now" if res.migrate.applied else "; nothing new"))
        t = Table(title="Tables per schema")
        t.add_column("schema")
        t.add_column("tables", justify="right")
        for schema, n in res.tables_per_schema.items():
            t.add_row(schema, str(n))
        out.print(t)
        total = sum(res.seeded.values())
        if total:
            seeded = Table(title=f"Seed {seed!r}: rows inserted")
            seeded.add_column("table")
            seeded.add_column("rows", justify="right")
            for table, n in res.seeded.items():
                seeded.add_row(table, str(n))
            out.print(seeded)
        else:
            out.print(f"Seed {seed!r}: nothing new (already loaded)")
        out.print("Stop it with 'make down' (or 'elearn-db down').")
    _run(go)


@app.command()
def down(config: Optional[Path] = ConfigOpt) -> None:
    """Stop the embedded server started by `up` (its data stays in .elearn-db/)."""
    def go() -> None:
        root = project_root()
        stopped = local.down(load_config(config if config else (root / "flyway.conf")), root)
        out.print("stopped" if stopped else "not running")
    _run(go)


@app.command()
def url(config: Optional[Path] = ConfigOpt) -> None:
    """Print the embedded server's connection URL (exit 2 if it is not running)."""
    def go() -> None:
        root = project_root()
        cfg = load_config(config if config else (root / "flyway.conf"))
        cluster = local.cluster_for(cfg, root)
        if not cluster.running():
            err.print("error: the embedded server is not running HINT: run 'make up'")
            raise typer.Exit(EXIT_ERROR)
        out.print(cluster.url(local.database_name(cfg)), highlight=False)
    _run(go)


@app.command()
def render(check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if committed output is stale.")) -> None:
    """Render sql/templates with sql/manifest.yaml into policies/ and views/."""
    def go() -> None:
        root = project_root()
        outputs = render_mod.render_all(root)
        if check:
            stale = render_mod.stale(outputs)
            for p in stale:
                err.print(f"stale: {p.relative_to(root)} (run 'elearn-db render' and commit)", highlight=False)
            if stale:
                raise typer.Exit(EXIT_VALIDATION)
            out.print(f"render: {len(outputs)} output(s) up to date")
        else:
            changed = render_mod.write(outputs)
            for p in changed:
                out.print(f"wrote {p.relative_to(root)}", highlight=False)
            out.print(f"render: {len(outputs)} output(s), {len(changed)} changed")
    _run(go)


@app.command()
def seed(name: str = typer.Argument("demo", help="Seed set: a folder under seeds/."),
         config: Optional[Path] = ConfigOpt, url: Optional[str] = UrlOpt, user: Optional[str] = UserOpt,
         password: Optional[str] = PasswordOpt) -> None:
    """Load a seed set (idempotent: rows that exist are skipped) in one transaction."""
    def go() -> None:
        root = project_root()
        cfg = _config(config, url, user, password)
        bar, update = _progress_bar()
        with bar, connect(cfg.connection()) as conn:
            counts = seed_mod.load(conn, root, name, roles=cfg.placeholders, progress=update)
        out.print(f"seed {name}: {sum(counts.values())} row(s) inserted")
        for table, n in counts.items():
            out.print(f"  {table}: {n}")
    _run(go)


@app.command()
def lint(config: Optional[Path] = ConfigOpt) -> None:
    """Run sqlfluff and squawk over migrations/, policies/ and views/; exit 1 on any finding."""
    def go() -> None:
        root = project_root()
        cfg = load_config(config if config else (root / "flyway.conf"))
        results = lint_mod.lint(root, cfg)
        for r in results:
            out.print(f"[bold]{r.tool}[/]: {'ok' if r.ok else 'FINDINGS'}")
            if not r.ok:
                out.print(r.output, markup=False, highlight=False)
        if not all(r.ok for r in results):
            raise typer.Exit(EXIT_VALIDATION)
    _run(go)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context,
         url: Optional[str] = typer.Option(None, "--url", help="A PostgreSQL server to prove (superuser URL). "
                                           "The suite creates and drops its own scratch databases and roles there."),
         pg_bindir: Optional[str] = typer.Option(None, "--pg-bindir", help="Run a throwaway server from these binaries "
                                                 "(e.g. /usr/lib/postgresql/15/bin) instead of the embedded PG 18.")) -> None:
    """Run the test suite (property-based integrity tests included) against a real PostgreSQL.

    Extra arguments go to pytest, e.g. `elearn-db test -- -k ledger -x`.
    """
    root = project_root()
    env = dict(os.environ)
    if url:
        env["ELEARN_TEST_URL"] = url
    if pg_bindir:
        env["ELEARN_PG_BINDIR"] = pg_bindir
    args = [sys.executable, "-m", "pytest", str(root / "tests"), *ctx.args]
    raise typer.Exit(subprocess.call(args, cwd=root, env=env))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
