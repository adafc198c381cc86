"""The ``elearn-db`` command line as a user runs it: exit codes, one-line errors that name what is
wrong, no password in any output, the table/JSON of ``info``, guarded ``clean``, and the precedence
of options, environment variables and ``flyway.conf``.

Most tests drive ``elearn_db.cli.app`` through typer's ``CliRunner`` (stdout and stderr are captured
separately); a few run ``python -m elearn_db.cli`` in a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner, Result
from psycopg import sql

from elearn_db.cli import app
from elearn_db.server import free_port

from .conftest import PASSWORD_USER_SUFFIX, PgServer

ENV_PREFIXES = ("FLYWAY_", "DATABASE_URL", "PGPASSWORD", "PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "PGSERVICE")


# ---------------------------------------------------------------- helpers

@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No FLYWAY_*/DATABASE_URL/PG* from the caller's shell, and no ./flyway.conf picked up by accident."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run(*args: object, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_conf(tmp_path: Path, *, url: str | None, user: str | None, password: str | None = None,
               locations: Path | None = None, **extra: str) -> Path:
    """A flyway.conf in tmp_path (Java .properties) pointing at ``locations`` (default tmp_path/sql)."""
    loc = locations or (tmp_path / "sql")
    loc.mkdir(parents=True, exist_ok=True)
    lines = ["# written by test_cli", f"flyway.locations=filesystem:{loc}", "flyway.schemas=public"]
    if url is not None:
        lines.append(f"flyway.url={url}")
    if user is not None:
        lines.append(f"flyway.user={user}")
    if password is not None:
        lines.append(f"flyway.password={password}")
    lines += [f"flyway.{k}={v}" for k, v in extra.items()]
    path = tmp_path / "flyway.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def conf_for(pg: PgServer, dbname: str, tmp_path: Path, **extra: str) -> Path:
    return write_conf(tmp_path, url=pg.jdbc(dbname), user=pg.user, password=pg.password, **extra)


def closed_url(dbname: str = "nodb") -> str:
    return f"jdbc:postgresql://127.0.0.1:{free_port()}/{dbname}"


def error_line(result: Result) -> str:
    """The one ``error: ...`` line on stderr (never on stdout)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, f"expected one error line, stdout={result.stdout!r} stderr={result.stderr!r}"
    assert "error: " not in result.stdout
    return lines[0]


def assert_exit(result: Result, code: int) -> None:
    assert result.exit_code == code, (
        f"exit {result.exit_code} != {code}\nstdout: {result.stdout}\nstderr: {result.stderr}")


def tables(pg: PgServer, dbname: str) -> set[str]:
    with pg.connect(dbname) as c:
        return {r[0] for r in c.execute("select tablename from pg_tables where schemaname = 'public'")}


def history(pg: PgServer, dbname: str) -> list[tuple]:
    with pg.connect(dbname) as c:
        return c.execute("select version, script, type, success from flyway_schema_history"
                         " order by installed_rank").fetchall()


@pytest.fixture
def pw_role(pg: PgServer) -> Iterator[str]:
    """The role the test cluster's pg_hba makes log in with scram-sha-256 (password 'right')."""
    if pg.cluster is None:
        pytest.skip("password authentication is only arranged on the embedded test cluster")
    role = pg.prefix + PASSWORD_USER_SUFFIX
    with pg.connect() as c:
        exists = c.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        c.execute(sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD 'right'").format(sql.Identifier(role)))
    yield role


# ---------------------------------------------------------------- connection errors

def test_unreachable_server_exits_2_with_hint(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=closed_url(), user="someone")
    result = run("info", "--config", conf)
    assert_exit(result, 2)
    line = error_line(result)
    assert "cannot connect" in line
    assert "127.0.0.1" in line
    assert "HINT:" in line and "server running" in line


def test_wrong_password_exits_2_and_never_prints_it(pg: PgServer, pw_role: str, empty_db: str, tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=pg.jdbc(empty_db), user=pw_role)
    ok = run("info", "--config", conf, "--password", "right")
    assert_exit(ok, 0)

    secret = "Wr0ngPassw0rd-7f3a"
    result = run("info", "--config", conf, "--password", secret)
    assert_exit(result, 2)
    line = error_line(result)
    assert "cannot connect" in line and "password authentication failed" in line
    assert "HINT:" in line and "password" in line.split("HINT:")[1]
    assert secret not in result.stdout + result.stderr


def test_wrong_password_in_url_never_printed(pg: PgServer, pw_role: str, empty_db: str, tmp_path: Path) -> None:
    secret = "SECRETinUrl-91c2"
    url = f"postgresql://{pw_role}:{secret}@{pg.host}:{pg.port}/{empty_db}"
    conf = write_conf(tmp_path, url=None, user=None)
    result = run("info", "--config", conf, "--url", url)
    assert_exit(result, 2)
    assert "password authentication failed" in error_line(result)
    assert secret not in result.stdout + result.stderr
    assert "***" in error_line(result)


@pytest.mark.parametrize("url", [
    "postgresql://u:SECRET@127.0.0.1:{port}/db",
    "jdbc:postgresql://127.0.0.1:{port}/db?user=u&password=SECRET",
    "mysql://u:SECRET@host/db",
    "postgresql://u:SECRET@host:notaport/db",
    "postgresql://u:SEC@RET@127.0.0.1:{port}/db",
    "postgresql://u:SEC@RET@host:notaport/db",
    "jdbc:postgresql://host/db?port=abc&password=SECRET",
    "postgresql://u:SECRET@[::1/db",
])
def test_password_in_url_never_appears_in_output(url: str, tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=None, user=None)
    result = run("migrate", "--config", conf, "--url", url.format(port=free_port()))
    assert_exit(result, 2)
    error_line(result)
    assert "SECRET" not in result.stdout + result.stderr
    assert "RET" not in result.stdout + result.stderr


@pytest.mark.parametrize("url, expected", [
    ("mysql://x", "bad database URL"),
    ("jdbc:postgresql://host:notaport/db", "bad database URL"),
    ("jdbc:postgresql://host:99999/db", "bad database URL"),
    ("localhost:5432/db", "bad database URL"),
    ("jdbc:postgresql://host/db?port=abc", "port 'abc' is not a number"),
])
def test_bad_url_exits_2(url: str, expected: str, tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=None, user=None)
    result = run("info", "--config", conf, "--url", url)
    assert_exit(result, 2)
    line = error_line(result)
    assert expected in line
    assert url.split("://")[-1].split("/")[0].split(":")[0] in line  # the URL is quoted back


def test_bad_url_in_config_file_exits_2(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url="jdbc:mysql://localhost/db", user="u")
    result = run("migrate", "--config", conf)
    assert_exit(result, 2)
    assert "bad database URL" in error_line(result)


def test_no_url_anywhere_exits_2(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=None, user=None)
    result = run("info", "--config", conf)
    assert_exit(result, 2)
    line = error_line(result)
    assert "no database URL" in line and "FLYWAY_URL" in line


# ---------------------------------------------------------------- configuration errors

def test_missing_config_file_exits_2_naming_it(tmp_path: Path) -> None:
    result = run("info", "--config", "/nonexistent/flyway.conf")
    assert_exit(result, 2)
    assert "/nonexistent/flyway.conf" in error_line(result)


def test_unknown_config_key_exits_2_naming_it(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=None, user="u", urll="jdbc:postgresql://localhost/db")
    result = run("migrate", "--config", conf)
    assert_exit(result, 2)
    line = error_line(result)
    assert "flyway.urll" in line and str(conf) in line


def test_bad_boolean_in_config_exits_2_naming_key(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path, validateMigrationNaming="yes")
    write(tmp_path / "sql", "V1__a.sql", "select 1;")
    result = run("migrate", "--config", conf)
    assert_exit(result, 2)
    line = error_line(result)
    assert "validateMigrationNaming" in line and "'yes'" in line


def test_bad_placeholder_option_is_a_usage_error(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    result = run("migrate", "--config", conf, "--placeholder", "novalue")
    assert_exit(result, 2)
    assert "NAME=VALUE" in result.stderr


def test_unknown_option_is_a_usage_error() -> None:
    result = run("migrate", "--no-such-option")
    assert_exit(result, 2)
    assert "--no-such-option" in result.stderr


# ---------------------------------------------------------------- resolution errors

@pytest.mark.parametrize("name", ["V1_missing_separator.sql", "Vx__bad_version.sql", "V1.a__bad.sql", "R__.sql"])
def test_malformed_file_name_exits_2_naming_file(name: str, pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V0__ok.sql", "create table ok0 (id int);")
    write(tmp_path / "sql", name, "select 1;")
    result = run("migrate", "--config", conf)
    assert_exit(result, 2)
    assert name in error_line(result)
    assert "ok0" not in tables(pg, empty_db)


def test_duplicate_version_exits_2_naming_both(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    write(tmp_path / "sql", "V1_0__b.sql", "create table b (id int);")
    result = run("migrate", "--config", conf)
    assert_exit(result, 2)
    line = error_line(result)
    assert "V1__a.sql" in line and "V1_0__b.sql" in line
    assert tables(pg, empty_db) & {"a", "b"} == set()


def test_invalid_utf8_exits_2_naming_file(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__latin1.sql", "-- ok\ninsert into t values ('caf\xe9');\n".encode("latin-1"))
    result = run("migrate", "--config", conf)
    assert_exit(result, 2)
    line = error_line(result)
    assert "V1__latin1.sql" in line and "UTF-8" in line and "line 2" in line


def test_missing_placeholder_exits_2_naming_file_line_and_name(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    write(tmp_path / "sql", "V2__b.sql", "-- uses a placeholder\n\ncreate table ${tableName} (id int);\n")
    result = run("migrate", "--config", conf)
    assert_exit(result, 2)
    line = error_line(result)
    assert "V2__b.sql:3" in line and "${tableName}" in line
    assert "FLYWAY_PLACEHOLDERS_TABLENAME" in line  # the hint says how to give it
    assert "a" not in tables(pg, empty_db)  # nothing ran


# ---------------------------------------------------------------- SQL errors

@pytest.mark.parametrize("bad_sql, sqlstate, server_message, extra", [
    ("create table t (id int primary key);\ninsert into t values (1);\ninsert into t values (1);\n",
     "23505", 'duplicate key value violates unique constraint "t_pkey"', "DETAIL: Key (id)=(1) already exists."),
    ("create table t (id int);\n\nselect no_such_function(1);\n",
     "42883", "function no_such_function(integer) does not exist", "HINT: No function matches"),
])
def test_sql_error_exits_2_and_leaves_db_as_before(bad_sql: str, sqlstate: str, server_message: str, extra: str,
                                                   pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__first.sql", "create table first_t (id int);")
    write(tmp_path / "sql", "V2__second.sql", "create table second_t (id int);\ninsert into second_t values (2);")
    write(tmp_path / "sql", "V3__bad.sql", bad_sql)
    write(tmp_path / "sql", "V4__later.sql", "create table later_t (id int);")
    result = run("migrate", "--config", conf)
    assert_exit(result, 2)
    line = error_line(result)
    assert "V3__bad.sql:3" in line
    assert f"SQLSTATE {sqlstate}" in line
    assert server_message in line
    assert extra in line
    # Exactly as before V3: V1 and V2 applied, nothing of V3 (or later), no history row for it.
    assert tables(pg, empty_db) == {"first_t", "second_t", "flyway_schema_history"}
    assert history(pg, empty_db) == [("1", "V1__first.sql", "SQL", True), ("2", "V2__second.sql", "SQL", True)]
    with pg.connect(empty_db) as c:
        assert c.execute("select count(*) from second_t").fetchone() == (1,)
    # Fixing the script lets migrate continue from there.
    write(tmp_path / "sql", "V3__bad.sql", "create table t (id int);")
    assert_exit(run("migrate", "--config", conf), 0)
    assert {"t", "later_t"} <= tables(pg, empty_db)


# ---------------------------------------------------------------- info

def test_info_prints_table_json_and_exit_code(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__create_things.sql", "create table things (id int);")
    write(tmp_path / "sql", "R__things_view.sql", "create or replace view things_v as select * from things;")

    table = run("info", "--config", conf)
    assert_exit(table, 0)
    for col in ("Category", "Version", "Description", "Type", "Installed On", "State"):
        assert col in table.stdout, col
    assert "create things" in table.stdout and "Pending" in table.stdout

    as_json = run("info", "--config", conf, "--json")
    assert_exit(as_json, 0)
    data = json.loads(as_json.stdout)
    assert [(m["category"], m["version"], m["state"]) for m in data["migrations"]] == [
        ("Versioned", "1", "Pending"), ("Repeatable", None, "Pending")]

    assert_exit(run("info", "--config", conf, "--exit-code"), 1)
    assert_exit(run("migrate", "--config", conf), 0)
    assert_exit(run("info", "--config", conf, "--exit-code"), 0)

    data = json.loads(run("info", "--config", conf, "--json").stdout)
    assert {m["state"] for m in data["migrations"]} == {"Success"}
    assert all(m["installedOn"] for m in data["migrations"])
    table = run("info", "--config", conf)
    assert "Success" in table.stdout and "Pending" not in table.stdout


def test_info_json_stays_valid_with_long_values(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    long_name = "V1__" + "_".join(["a_rather_long_description"] * 8) + ".sql"
    write(tmp_path / "sql", long_name, "select 1;")
    result = run("info", "--config", conf, "--json")
    assert_exit(result, 0)
    assert json.loads(result.stdout)["migrations"][0]["script"] == long_name


def test_names_with_brackets_are_printed_verbatim(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    """File names and descriptions are data, never rich markup: ``[draft]`` and ``[bold]`` stay as written."""
    conf = conf_for(pg, empty_db, tmp_path)
    f = write(tmp_path / "sql", "V1__[draft]_flag.sql", "create table flags (id int);")
    write(tmp_path / "sql", "V2__[bold]_odd.sql", "create table odd (id int);")
    migrated = run("migrate", "--config", conf)
    assert_exit(migrated, 0)
    assert "V1__[draft]_flag.sql" in migrated.stderr and "V2__[bold]_odd.sql" in migrated.stderr
    table = run("info", "--config", conf)
    assert_exit(table, 0)
    assert "[draft] flag" in table.stdout and "[bold] odd" in table.stdout
    f.write_text("create table flags (id bigint);", encoding="utf-8")
    repaired = run("repair", "--config", conf)
    assert_exit(repaired, 0)
    assert "(V1__[draft]_flag.sql)" in repaired.stdout


# ---------------------------------------------------------------- migrate / validate

def test_migrate_twice_second_is_up_to_date(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    write(tmp_path / "sql", "V2__b.sql", "create table b (id int);")
    first = run("migrate", "--config", conf)
    assert_exit(first, 0)
    assert "Applied 2 migration(s)" in first.stdout and "version 2" in first.stdout
    second = run("migrate", "--config", conf)
    assert_exit(second, 0)
    assert "up to date" in second.stdout and "version 2" in second.stdout
    assert len(history(pg, empty_db)) == 2


def test_migrate_target_and_quiet(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    write(tmp_path / "sql", "V2__b.sql", "create table b (id int);")
    result = run("migrate", "--config", conf, "--target", "1", "--quiet")
    assert_exit(result, 0)
    assert result.stdout == "" and result.stderr == ""
    assert [r[0] for r in history(pg, empty_db)] == ["1"]


def test_validate_ok_then_fails_on_checksum_change(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    f = write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    assert_exit(run("migrate", "--config", conf), 0)
    ok = run("validate", "--config", conf)
    assert_exit(ok, 0)
    assert "Validated" in ok.stdout

    f.write_text("create table a (id bigint);", encoding="utf-8")
    bad = run("validate", "--config", conf)
    assert_exit(bad, 1)
    assert "validate failed" in error_line(bad)
    problems = [line for line in bad.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1 and "checksum mismatch" in problems[0] and "V1__a.sql" in problems[0]
    # migrate refuses too (validateOnMigrate), with the same problem listed
    mig = run("migrate", "--config", conf)
    assert_exit(mig, 1)
    assert "checksum mismatch" in mig.stderr


def test_validate_with_pending_fails(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    result = run("validate", "--config", conf)
    assert_exit(result, 1)
    assert "not applied" in result.stderr and "V1__a.sql" in result.stderr


# ---------------------------------------------------------------- clean

def test_clean_is_refused_by_default(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    assert_exit(run("migrate", "--config", conf), 0)
    result = run("clean", "--config", conf, "--yes")
    assert_exit(result, 3)
    line = error_line(result)
    assert "cleanDisabled" in line
    assert "a" in tables(pg, empty_db)


def test_clean_needs_yes_even_when_enabled(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path, cleanDisabled="false")
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    assert_exit(run("migrate", "--config", conf), 0)
    result = run("clean", "--config", conf)
    assert_exit(result, 3)
    assert "--yes" in error_line(result)
    assert "a" in tables(pg, empty_db)


def test_clean_with_both_drops_everything(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path, cleanDisabled="false")
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);\ncreate view av as select * from a;\n"
                                         "create function f() returns int language sql as 'select 1';")
    assert_exit(run("migrate", "--config", conf), 0)
    result = run("clean", "--config", conf, "--yes")
    assert_exit(result, 0)
    assert "Cleaned" in result.stdout
    assert tables(pg, empty_db) == set()
    with pg.connect(empty_db) as c:
        assert c.execute("select count(*) from pg_views where schemaname = 'public'").fetchone() == (0,)
        assert c.execute("select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
                         " where n.nspname = 'public'").fetchone() == (0,)
    # and the schema migrates again from scratch
    assert_exit(run("migrate", "--config", conf), 0)
    assert "a" in tables(pg, empty_db)


def test_clean_enabled_by_environment(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    assert_exit(run("migrate", "--config", conf), 0)
    assert_exit(run("clean", "--config", conf, "--yes", env={"FLYWAY_CLEAN_DISABLED": "false"}), 0)
    assert tables(pg, empty_db) == set()


# ---------------------------------------------------------------- baseline / repair

def test_baseline_from_cli(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    with pg.connect(empty_db) as c:
        c.execute("create table legacy (id int)")
    conf = conf_for(pg, empty_db, tmp_path)
    for v in (1, 2, 3):
        write(tmp_path / "sql", f"V{v}__step{v}.sql", f"create table step{v} (id int);")
    result = run("baseline", "--config", conf, "--baseline-version", "2", "--baseline-description", "legacy import")
    assert_exit(result, 0)
    assert "Baselined at version 2" in result.stdout
    assert history(pg, empty_db) == [("2", "legacy import", "BASELINE", True)]

    info = json.loads(run("info", "--config", conf, "--json").stdout)["migrations"]
    assert [(m["version"], m["state"]) for m in info] == [
        ("2", "Baseline"), ("1", "Below Baseline"), ("3", "Pending")]
    assert_exit(run("migrate", "--config", conf), 0)
    assert tables(pg, empty_db) == {"legacy", "step3", "flyway_schema_history"}

    again = run("baseline", "--config", conf, "--baseline-version", "3")
    assert_exit(again, 1)
    assert "different baseline" in error_line(again)


def test_repair_from_cli(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    f = write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    nothing = run("repair", "--config", conf)
    assert_exit(nothing, 0)
    assert "nothing to repair" in nothing.stdout
    assert_exit(run("migrate", "--config", conf), 0)
    f.write_text("create table a (id int); -- reformatted\n", encoding="utf-8")
    assert_exit(run("validate", "--config", conf), 1)
    result = run("repair", "--config", conf)
    assert_exit(result, 0)
    assert "aligned checksum/description of 1 (V1__a.sql)" in result.stdout
    assert_exit(run("validate", "--config", conf), 0)


def test_repair_removes_failed_non_transactional_row(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__idx.sql", "create index concurrently no_such_idx on no_such_table (id);")
    failed = run("migrate", "--config", conf)
    assert_exit(failed, 2)
    assert "V1__idx.sql:1" in error_line(failed) and "42P01" in error_line(failed)
    again = run("migrate", "--config", conf)
    assert_exit(again, 1)
    assert "repair" in again.stderr
    assert_exit(run("info", "--config", conf, "--exit-code"), 1)
    write(tmp_path / "sql", "V1__idx.sql", "create table no_such_table (id int);")
    repaired = run("repair", "--config", conf)
    assert_exit(repaired, 0)
    assert "removed failed row" in repaired.stdout
    assert_exit(run("migrate", "--config", conf), 0)


# ---------------------------------------------------------------- precedence: options > env > flyway.conf

def test_flyway_url_env_beats_config_file(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=closed_url(), user=pg.user, password=pg.password)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    assert_exit(run("migrate", "--config", conf), 2)
    assert_exit(run("migrate", "--config", conf, env={"FLYWAY_URL": pg.jdbc(empty_db)}), 0)
    assert "a" in tables(pg, empty_db)


def test_cli_url_beats_flyway_url_env(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=None, user=pg.user, password=pg.password)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    env = {"FLYWAY_URL": closed_url()}
    assert_exit(run("migrate", "--config", conf, env=env), 2)
    assert_exit(run("migrate", "--config", conf, "--url", pg.url(empty_db), env=env), 0)
    assert "a" in tables(pg, empty_db)
    # and the other way round: a bad --url is used even though the environment's URL is good
    bad = run("info", "--config", conf, "--url", closed_url(), env={"FLYWAY_URL": pg.jdbc(empty_db)})
    assert_exit(bad, 2)
    assert "cannot connect" in error_line(bad)


def test_cli_jdbc_url_keeps_configured_user(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    """A JDBC URL carries no credentials, so --url replaces only the URL (as Flyway's -url does)."""
    conf = write_conf(tmp_path, url=closed_url(), user=pg.user, password=pg.password)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    result = run("migrate", "--config", conf, "--url", pg.jdbc(empty_db))
    assert_exit(result, 0)
    assert "a" in tables(pg, empty_db)


def test_cli_url_with_user_replaces_configured_credentials(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=closed_url(), user=f"{pg.prefix}_no_such_role", password="not-this-one")
    env = {"FLYWAY_USER": f"{pg.prefix}_other_missing"}
    result = run("info", "--config", conf, "--url", pg.url(empty_db), env=env)
    assert_exit(result, 0)
    # ... but an explicit --user still wins over the URL's user
    bad = run("info", "--config", conf, "--url", pg.url(empty_db), "--user", f"{pg.prefix}_third_missing")
    assert_exit(bad, 2)
    assert f"{pg.prefix}_third_missing" in error_line(bad)


def test_flyway_user_env_beats_config_and_cli_user_beats_env(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=pg.jdbc(empty_db), user=f"{pg.prefix}_no_such_role", password=pg.password)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    bad = run("info", "--config", conf)
    assert_exit(bad, 2)
    assert f"{pg.prefix}_no_such_role" in error_line(bad)
    assert_exit(run("info", "--config", conf, env={"FLYWAY_USER": pg.user}), 0)
    env_bad = {"FLYWAY_USER": f"{pg.prefix}_other_missing"}
    assert_exit(run("info", "--config", conf, env=env_bad), 2)
    assert_exit(run("info", "--config", conf, "--user", pg.user, env=env_bad), 0)


def test_database_url_beats_config_and_flyway_url_beats_it(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = write_conf(tmp_path, url=closed_url(), user=f"{pg.prefix}_no_such_role")
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    # DATABASE_URL replaces the file's url, user and password (it carries its own credentials).
    assert_exit(run("migrate", "--config", conf, env={"DATABASE_URL": pg.url(empty_db)}), 0)
    assert "a" in tables(pg, empty_db)
    both = run("info", "--config", conf, env={"DATABASE_URL": pg.url(empty_db), "FLYWAY_URL": closed_url()})
    assert_exit(both, 2)
    assert "cannot connect" in error_line(both)


def test_placeholder_env_beats_config_and_option_beats_env(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path, **{"placeholders.tname": "from_conf"})
    write(tmp_path / "sql", "V1__a.sql", "create table ${tname} (id int);")
    write(tmp_path / "sql", "R__b.sql", "create or replace view v_${tname} as select 1 as x;")
    assert_exit(run("migrate", "--config", conf, "--target", "0"), 0)  # nothing versioned yet
    env = {"FLYWAY_PLACEHOLDERS_TNAME": "from_env"}
    assert_exit(run("migrate", "--config", conf, env=env), 0)
    assert {"from_env"} <= tables(pg, empty_db) and "from_conf" not in tables(pg, empty_db)
    # the repeatable's checksum depends on the value: a new value makes it outdated and re-run
    assert_exit(run("migrate", "--config", conf, "-P", "tname=from_cli", env=env), 0)
    with pg.connect(empty_db) as c:
        views = {r[0] for r in c.execute("select viewname from pg_views where schemaname = 'public'")}
    assert {"v_from_env", "v_from_cli"} <= views


# ---------------------------------------------------------------- help

def test_app_help_mentions_exit_codes_and_commands() -> None:
    result = run("--help")
    assert_exit(result, 0)
    text = " ".join(result.stdout.split())
    assert "Exit codes" in text and "0 ok" in text and "3 refused" in text
    for command in ("migrate", "info", "validate", "baseline", "repair", "clean"):
        assert command in text


def test_migrate_help_says_what_it_does() -> None:
    result = run("migrate", "--help")
    assert_exit(result, 0)
    text = " ".join(result.stdout.split())
    assert "Apply pending versioned migrations" in text
    for opt in ("--config", "--url", "--user", "--password", "--placeholder", "--target"):
        assert opt in text


def test_clean_help_says_it_is_guarded() -> None:
    result = run("clean", "--help")
    assert_exit(result, 0)
    text = " ".join(result.stdout.split())
    assert "cleanDisabled=false" in text and "--yes" in text and "exit 3" in text


# ---------------------------------------------------------------- a real process

def _subprocess_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}


def test_real_process_connection_error(tmp_path: Path) -> None:
    url = f"postgresql://u:SECRET@127.0.0.1:{free_port()}/db"
    conf = write_conf(tmp_path, url=None, user=None)
    proc = subprocess.run([sys.executable, "-m", "elearn_db.cli", "migrate", "--config", str(conf), "--url", url],
                          capture_output=True, text=True, env=_subprocess_env(), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "cannot connect" in errors[0] and "HINT:" in errors[0]
    assert "SECRET" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_real_process_migrate_and_info(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    conf = conf_for(pg, empty_db, tmp_path)
    write(tmp_path / "sql", "V1__a.sql", "create table a (id int);")
    cmd = [sys.executable, "-m", "elearn_db.cli"]
    kw = dict(capture_output=True, text=True, env=_subprocess_env(), cwd=tmp_path, timeout=60)
    proc = subprocess.run([*cmd, "info", "--config", str(conf), "--exit-code"], **kw)  # type: ignore[call-overload]
    assert proc.returncode == 1, proc.stderr
    proc = subprocess.run([*cmd, "migrate", "--config", str(conf)], **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, proc.stderr
    assert "Applied 1 migration(s)" in proc.stdout
    proc = subprocess.run([*cmd, "info", "--config", str(conf), "--json", "--exit-code"], **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["migrations"][0]["state"] == "Success"


def test_clean_is_refused_before_connecting(tmp_path: Path) -> None:
    """The guard needs no server: refused with exit 3 even when nothing listens."""
    conf = tmp_path / "flyway.conf"
    conf.write_text("flyway.url=jdbc:postgresql://127.0.0.1:1/nothing\nflyway.user=x\n"
                    f"flyway.locations=filesystem:{tmp_path}\n")
    result = run("clean", "--yes", "--config", conf)
    assert result.exit_code == 3, result.output
