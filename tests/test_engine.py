"""The migration engine against a real server: history shape, transactions, repeatables, baseline,
repair, clean, non-transactional scripts, concurrency and callbacks."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings, strategies as st

from elearn_db import history
from elearn_db.engine import Engine
from elearn_db.errors import MigrationFailed, Refused, ResolveError, ValidationFailed
from elearn_db.resolver import Version

from .conftest import ROOT, PgServer


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def history_rows(pg: PgServer, dbname: str) -> list[tuple]:
    with pg.connect(dbname) as c:
        return c.execute("select installed_rank, version, description, type, script, checksum, success"
                         " from flyway_schema_history order by installed_rank").fetchall()


def tables(pg: PgServer, dbname: str) -> set[str]:
    with pg.connect(dbname) as c:
        return {r[0] for r in c.execute("select tablename from pg_tables where schemaname = 'public'")}


# ---------------------------------------------------------------- history table shape

def test_history_table_has_flyways_exact_ddl(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__one.sql", "create table one (id int);")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        e.migrate()
    with pg.connect(empty_db) as c:
        cols = c.execute(
            "select column_name, data_type, character_maximum_length, is_nullable, column_default"
            " from information_schema.columns where table_name = 'flyway_schema_history' order by ordinal_position"
        ).fetchall()
        cons = c.execute("select conname, contype from pg_constraint where conrelid = 'flyway_schema_history'::regclass and contype <> 'n'").fetchall()
        idx = c.execute("select indexname, indexdef from pg_indexes where tablename = 'flyway_schema_history' order by 1").fetchall()
    assert cols == [
        ("installed_rank", "integer", None, "NO", None),
        ("version", "character varying", 50, "YES", None),
        ("description", "character varying", 200, "NO", None),
        ("type", "character varying", 20, "NO", None),
        ("script", "character varying", 1000, "NO", None),
        ("checksum", "integer", None, "YES", None),
        ("installed_by", "character varying", 100, "NO", None),
        ("installed_on", "timestamp without time zone", None, "NO", "now()"),
        ("execution_time", "integer", None, "NO", None),
        ("success", "boolean", None, "NO", None),
    ]
    assert cons == [("flyway_schema_history_pk", "p")]
    assert [i[0] for i in idx] == ["flyway_schema_history_pk", "flyway_schema_history_s_idx"]
    assert "(success)" in idx[1][1]


def test_rows_are_shaped_like_flyways(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "sub/V1_1__First_step.sql", "create table a (id int);")
    write(tmp_path, "V0002__second.sql", "create table b (id int);")
    write(tmp_path, "R__a_view.sql", "create or replace view v as select 1 as x;")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        e.migrate()
        user = e.installed_by
    with pg.connect(empty_db) as c:
        rows = c.execute("select installed_rank, version, description, type, script, installed_by, success,"
                         " execution_time >= 0 from flyway_schema_history order by 1").fetchall()
    assert rows == [
        (1, "1.1", "First step", "SQL", "sub/V1_1__First_step.sql", user, True, True),
        (2, "0002", "second", "SQL", "V0002__second.sql", user, True, True),
        (3, None, "a view", "SQL", "R__a_view.sql", user, True, True),
    ]
    assert user == pg.user


def test_schema_row_when_flyway_creates_schemas(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__x.sql", "create table s1.x (id int);")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="s1,s2", createSchemas="true")) as e:
        e.migrate()
    with pg.connect(empty_db) as c:
        row = c.execute("select installed_rank, version, description, type, script, checksum, execution_time, success"
                        " from s1.flyway_schema_history where type = 'SCHEMA'").fetchone()
    assert row == (0, None, "<< Flyway Schema Creation >>", "SCHEMA", '"s1","s2"', None, 0, True)


# ---------------------------------------------------------------- transactions

def test_failing_migration_leaves_nothing(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__ok.sql", "create table ok1 (id int);")
    write(tmp_path, "V2__bad.sql", "create table half (id int);\ninsert into half values (1);\nselect 1/0;\n")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        with pytest.raises(MigrationFailed) as exc:
            e.migrate()
    assert exc.value.sqlstate == "22012"
    assert exc.value.script == "V2__bad.sql" and exc.value.line == 3
    assert tables(pg, empty_db) == {"ok1", "flyway_schema_history"}
    assert [r[4] for r in history_rows(pg, empty_db)] == ["V1__ok.sql"]


def test_error_line_points_into_multiline_statement(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__bad.sql", "-- header\n\ncreate table t (\n  id int,\n  x nosuchtype\n);\n")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        with pytest.raises(MigrationFailed) as exc:
            e.migrate()
    assert exc.value.sqlstate == "42704"
    assert exc.value.line == 5


def test_a_broken_last_statement_is_reported_not_skipped(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    """A stray quote leaves a parenthesis outside the literal: the scanner-only split found no end for
    the statement and the tail of the script was silently dropped (the script 'applied' without it)."""
    write(tmp_path, "V1__tail.sql",
          "create table t (id int);\n"
          "comment on table t is 'the rule's points (NULL = the system's base points)';\n"
          "create table after_the_comment (id int);\n")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        with pytest.raises(MigrationFailed) as exc:
            e.migrate()
    assert exc.value.sqlstate == "42601" and exc.value.script == "V1__tail.sql" and exc.value.line == 2
    assert tables(pg, empty_db) == {"flyway_schema_history"}
    assert history_rows(pg, empty_db) == []


def test_a_byte_order_mark_does_not_swallow_the_first_statement(pg: PgServer, empty_db: str,
                                                                 tmp_path: Path) -> None:
    """The scanner read the BOM as part of the first word; that statement was dropped without a word."""
    write(tmp_path, "V1__bom.sql", "\ufeffcreate table first_one (id int);\ncreate table second_one (id int);\n")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        e.migrate()
    assert tables(pg, empty_db) == {"first_one", "second_one", "flyway_schema_history"}


def test_nested_comments_between_statements_are_not_statements(pg: PgServer, empty_db: str,
                                                                tmp_path: Path) -> None:
    write(tmp_path, "V1__nested.sql",
          "create table a (id int);\n/* outer /* inner */ still the comment */ ;\n-- a line comment\n"
          "create table b (id int);\n/* trailing /* nested */ */\n")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        e.migrate()
    assert tables(pg, empty_db) == {"a", "b", "flyway_schema_history"}


def test_migrate_twice_is_a_no_op(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql", "create table a (id int);")
    write(tmp_path, "R__v.sql", "create or replace view v as select 1 as x;")
    cfg = pg.config(empty_db, locations=[tmp_path], schemas="public")
    with Engine(cfg) as e:
        assert len(e.migrate().applied) == 2
    with Engine(cfg) as e:
        assert e.migrate().applied == []
        e.validate()
    assert len(history_rows(pg, empty_db)) == 2


# ---------------------------------------------------------------- repeatables

def test_repeatable_reruns_only_when_changed(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    view = write(tmp_path, "R__v.sql", "create or replace view v as select 1 as x;")
    cfg = pg.config(empty_db, locations=[tmp_path], schemas="public")
    with Engine(cfg) as e:
        e.migrate()
    with Engine(cfg) as e:
        assert e.migrate().applied == []
    view.write_text("create or replace view v as select 2 as x;")
    with Engine(cfg) as e:
        assert {r.state for r in e.info()} == {"Outdated"}
        assert e.migrate().applied == ["R__v.sql"]
        states = [r.state for r in e.info()]
    assert states == ["Superseded", "Success"]
    with pg.connect(empty_db) as c:
        assert c.execute("select x from v").fetchone() == (2,)


def test_repeatables_run_after_versioned_in_description_order(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "R__b.sql", "insert into log values ('b');")
    write(tmp_path, "R__a.sql", "insert into log values ('a');")
    write(tmp_path, "V1__log.sql", "create table log (s text, n serial);")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        assert e.migrate().applied == ["V1__log.sql", "R__a.sql", "R__b.sql"]


# ---------------------------------------------------------------- placeholders

def test_placeholders_are_replaced_case_insensitively(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__p.sql", "create table ${TableName} (db text default '${flyway:database}',"
          " t text default '${flyway:table}', f text default '${flyway:filename}', s text default '${flyway:defaultSchema}');")
    cfg = pg.config(empty_db, locations=[tmp_path], schemas="public")
    cfg.placeholders["tablename"] = "ph_target"
    with Engine(cfg) as e:
        e.migrate()
    with pg.connect(empty_db) as c:
        c.execute("insert into ph_target default values")
        assert c.execute("select db, t, f, s from ph_target").fetchone() == (
            empty_db, "flyway_schema_history", "V1__p.sql", "public")


def test_missing_placeholder_fails_before_anything_runs(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql", "create table a (id int);")
    write(tmp_path, "V2__b.sql", "\ncreate table ${nope} (id int);")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        with pytest.raises(ResolveError) as exc:
            e.migrate()
    assert "V2__b.sql:2" in str(exc.value) and "${nope}" in str(exc.value)
    assert "a" not in tables(pg, empty_db)


# ---------------------------------------------------------------- versions and validation

@given(st.lists(st.integers(0, 30), min_size=1, max_size=4), st.lists(st.integers(0, 30), min_size=1, max_size=4))
def test_version_order_is_numeric(a: list[int], b: list[int]) -> None:
    va, vb = Version.parse(".".join(map(str, a))), Version.parse("_".join(f"{x:03d}" for x in b))

    def key(parts: list[int]) -> tuple[int, ...]:
        p = list(parts)
        while len(p) > 1 and p[-1] == 0:
            p.pop()
        return tuple(p)

    assert (va < vb) == (key(a) < key(b))
    assert (va == vb) == (key(a) == key(b))


def test_leading_zeros_kept_in_text() -> None:
    v = Version.parse("0001_2")
    assert v.text == "0001.2" and v == Version.parse("1.2")


def test_duplicate_versions_are_an_error(pg: PgServer, tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql", "select 1;")
    write(tmp_path, "sub/V1.0__b.sql", "select 1;")
    with pytest.raises(ResolveError, match="more than one migration with version"):
        Engine(pg.config("x", locations=[tmp_path])).scripts


def test_checksum_change_fails_validate_and_migrate(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    f = write(tmp_path, "V1__a.sql", "create table a (id int);")
    cfg = pg.config(empty_db, locations=[tmp_path], schemas="public")
    with Engine(cfg) as e:
        e.migrate()
    f.write_text("create table a (id bigint);")
    with Engine(cfg) as e:
        with pytest.raises(ValidationFailed) as exc:
            e.validate()
        assert any("checksum mismatch" in p for p in exc.value.problems)
        with pytest.raises(ValidationFailed):
            e.migrate()
        actions = e.repair()
        assert any("aligned" in a for a in actions)
        e.validate()


def test_pending_fails_validate_but_not_migrate(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql", "create table a (id int);")
    cfg = pg.config(empty_db, locations=[tmp_path], schemas="public")
    with Engine(cfg) as e:
        with pytest.raises(ValidationFailed, match="problem"):
            e.validate()
        e.migrate()
        e.validate()


def test_out_of_order_is_ignored_unless_allowed(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V2__b.sql", "create table b (id int);")
    cfg = pg.config(empty_db, locations=[tmp_path], schemas="public")
    with Engine(cfg) as e:
        e.migrate()
    write(tmp_path, "V1__a.sql", "create table a (id int);")
    with Engine(cfg) as e:
        assert {r.script: r.state for r in e.info()}["V1__a.sql"] == "Ignored"
        with pytest.raises(ValidationFailed):
            e.migrate()
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public", outOfOrder="true")) as e:
        assert e.migrate().applied == ["V1__a.sql"]
        assert {r.script: r.state for r in e.info()}["V1__a.sql"] == "Out of Order"


def test_target_stops_early(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    for i in range(1, 4):
        write(tmp_path, f"V{i}__t{i}.sql", f"create table t{i} (id int);")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public", target="2")) as e:
        assert e.migrate().applied == ["V1__t1.sql", "V2__t2.sql"]


# ---------------------------------------------------------------- baseline / repair / clean

def test_baseline_then_migrate_skips_below(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql", "create table a (id int);")
    write(tmp_path, "V2__b.sql", "create table b (id int);")
    cfg = pg.config(empty_db, locations=[tmp_path], schemas="public", baselineVersion="1")
    with Engine(cfg) as e:
        e.baseline()
        assert e.migrate().applied == ["V2__b.sql"]
        states = [(r.version, r.state) for r in e.info()]
    assert states == [("1", "Baseline"), ("2", "Success")]
    rows = history_rows(pg, empty_db)
    assert rows[0] == (1, "1", "<< Flyway Baseline >>", "BASELINE", "<< Flyway Baseline >>", None, True)


def test_baseline_on_migrate_for_a_non_empty_schema(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    with pg.connect(empty_db) as c:
        c.execute("create table legacy (id int)")
    write(tmp_path, "V1__a.sql", "create table a (id int);")
    write(tmp_path, "V2__b.sql", "create table b (id int);")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public", baselineOnMigrate="true")) as e:
        result = e.migrate()
    assert result.baselined and result.applied == ["V2__b.sql"]


def test_repair_marks_missing_as_deleted(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    f = write(tmp_path, "V1__a.sql", "create table a (id int);")
    write(tmp_path, "V2__b.sql", "create table b (id int);")
    cfg = pg.config(empty_db, locations=[tmp_path], schemas="public")
    with Engine(cfg) as e:
        e.migrate()
    f.unlink()
    with Engine(cfg) as e:
        with pytest.raises(ValidationFailed, match="problem"):
            e.validate()
        e.repair()
        e.validate()
        assert [r.state for r in e.info() if r.version == "1"] == ["Deleted"]
    assert history_rows(pg, empty_db)[-1][3] == "DELETE"


def test_clean_is_refused_by_default_and_without_confirmation(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__a.sql", "create table a (id int);")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        e.migrate()
        with pytest.raises(Refused):
            e.clean(confirmed=True)
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public", cleanDisabled="false")) as e:
        with pytest.raises(Refused):
            e.clean(confirmed=False)
        assert "a" in tables(pg, empty_db)
        e.clean(confirmed=True)
    assert tables(pg, empty_db) == set()


# ---------------------------------------------------------------- non-transactional scripts

def test_concurrent_index_runs_outside_a_transaction(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__t.sql", "create table t (id int, x int);")
    write(tmp_path, "V2__idx.sql", "create index concurrently idx_t_x on t (x);")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public", statementTimeout="20s")) as e:
        assert e.migrate().applied == ["V1__t.sql", "V2__idx.sql"]
    with pg.connect(empty_db) as c:
        assert c.execute("select indisvalid from pg_index where indexrelid = 'idx_t_x'::regclass").fetchone() == (True,)


def test_execute_in_transaction_false_from_script_config(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__t.sql", "create table t (id int);")
    write(tmp_path, "V2__vac.sql", "insert into t values (1);\nvacuum t;")
    write(tmp_path, "V2__vac.sql.conf", "executeInTransaction=false\n")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        assert e.migrate().applied == ["V1__t.sql", "V2__vac.sql"]


def test_mixing_kinds_in_one_file_is_an_error(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__mixed.sql", "create table t (id int);\ncreate index concurrently i on t (id);\n")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        with pytest.raises(MigrationFailed, match="mixes statements") as exc:
            e.migrate()
    assert exc.value.line == 2
    assert "t" not in tables(pg, empty_db)


def test_failed_non_transactional_script_blocks_until_repair(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__t.sql", "create table t (id int);")
    bad = write(tmp_path, "V2__idx.sql", "create index concurrently i on nosuchtable (id);")
    cfg = pg.config(empty_db, locations=[tmp_path], schemas="public")
    with Engine(cfg) as e:
        with pytest.raises(MigrationFailed):
            e.migrate()
    assert history_rows(pg, empty_db)[-1][-1] is False
    with Engine(cfg) as e:
        assert [r.state for r in e.info() if r.version == "2"] == ["Failed"]
        with pytest.raises(ValidationFailed, match="problem"):
            e.migrate()
        e.repair()
    bad.write_text("create index concurrently i on t (id);")
    with Engine(cfg) as e:
        assert e.migrate().applied == ["V2__idx.sql"]
        e.validate()


# ---------------------------------------------------------------- concurrency

def test_two_migrate_processes_apply_each_migration_once(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "V1__slow.sql", "create table slow (id int);\nselect pg_sleep(1);")
    write(tmp_path, "V2__count.sql", "create table counted (id int);")
    write(tmp_path, "R__r.sql", "create or replace view r as select count(*) from slow;")
    conf = write(tmp_path / "conf", "flyway.conf",
                 f"flyway.url={pg.jdbc(empty_db)}\nflyway.user={pg.user}\n"
                 + (f"flyway.password={pg.password}\n" if pg.password else "")
                 + f"flyway.locations=filesystem:{tmp_path}\n")
    cmd = [sys.executable, "-m", "elearn_db.cli", "migrate", "--config", str(conf)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    rows = history_rows(pg, empty_db)
    assert [r[4] for r in rows] == ["V1__slow.sql", "V2__count.sql", "R__r.sql"]


def test_runner_waits_for_flyways_lock(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    """A lock held with Flyway's key (as Flyway would hold it) makes our runner wait."""
    write(tmp_path, "V1__a.sql", "create table a (id int);")
    key = history.lock_key("public", "flyway_schema_history")
    holder = pg.connect(empty_db)
    holder.execute("select pg_advisory_lock(%s)", (key,))
    done = threading.Event()

    def run() -> None:
        with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
            e.migrate()
        done.set()

    t = threading.Thread(target=run)
    t.start()
    assert not done.wait(1.0)
    holder.execute("select pg_advisory_unlock(%s)", (key,))
    holder.close()
    t.join(30)
    assert done.is_set()


# ---------------------------------------------------------------- callbacks

def test_callbacks_fire_around_migrate(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    write(tmp_path, "beforeMigrate.sql", "create table if not exists cb_log (event text, at timestamptz default clock_timestamp());"
          "\ninsert into cb_log(event) values ('beforeMigrate');")
    write(tmp_path, "afterEachMigrate__log.sql", "insert into cb_log(event) values ('afterEach');")
    write(tmp_path, "afterMigrate.sql", "insert into cb_log(event) values ('afterMigrate');")
    write(tmp_path, "V1__a.sql", "create table a (id int);")
    write(tmp_path, "V2__b.sql", "create table b (id int);")
    with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
        e.migrate()
    with pg.connect(empty_db) as c:
        events = [r[0] for r in c.execute("select event from cb_log order by at")]
    assert events == ["beforeMigrate", "afterEach", "afterEach", "afterMigrate"]
    assert [r[4] for r in history_rows(pg, empty_db)] == ["V1__a.sql", "V2__b.sql"]


def test_session_role_is_restored_after_each_script(pg: PgServer, empty_db: str, tmp_path: Path) -> None:
    with pg.connect(empty_db) as c:
        c.execute("drop role if exists elearn_test_tmp_role")
        c.execute("create role elearn_test_tmp_role")
        c.execute("grant create on schema public to elearn_test_tmp_role")
    write(tmp_path, "V1__a.sql", "set role elearn_test_tmp_role;\ncreate table a (id int);")
    write(tmp_path, "V2__b.sql", "create table b (id int);")
    try:
        with Engine(pg.config(empty_db, locations=[tmp_path], schemas="public")) as e:
            e.migrate()
        with pg.connect(empty_db) as c:
            owners = dict(c.execute("select tablename, tableowner from pg_tables where tablename in ('a','b')").fetchall())
        assert owners == {"a": "elearn_test_tmp_role", "b": pg.user}
    finally:
        with pg.connect(empty_db) as c:
            c.execute("drop table if exists a")
            c.execute("revoke create on schema public from elearn_test_tmp_role")
            c.execute("drop role if exists elearn_test_tmp_role")


def test_project_migrations_apply_and_are_idempotent(pg: PgServer, template_db: str) -> None:
    """The template was migrated by the fixture; a second run applies nothing and validates clean."""
    with Engine(pg.config(template_db)) as e:
        assert e.migrate().applied == []
        e.validate()
        info = e.info()
    assert info and all(r.state == "Success" for r in info)
    assert {r.script.split("/")[-1] for r in info} >= {p.name for p in (ROOT / "migrations").glob("V*.sql")}


def test_connection_reads_and_writes_with_psycopg(pg: PgServer) -> None:
    # Guard for the harness itself: the server is real and reachable.
    with pg.connect() as c:
        assert isinstance(c, psycopg.Connection)
        assert c.execute("select 1").fetchone() == (1,)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6, unique=True))
def test_any_set_of_versions_applies_in_numeric_order(pg: PgServer, tmp_path_factory: pytest.TempPathFactory,
                                                      versions: list[int]) -> None:
    folder = tmp_path_factory.mktemp("vers")
    for v in versions:
        write(folder, f"V{v}__v{v}.sql", f"insert into applied values ({v});")
    write(folder, "V0__init.sql", "create table applied (v int, n serial);")
    name = pg.create_db("h")
    try:
        with Engine(pg.config(name, locations=[folder], schemas="public")) as e:
            e.migrate()
        with pg.connect(name) as c:
            got = [r[0] for r in c.execute("select v from applied order by n")]
        assert got == sorted(versions)
    finally:
        pg.drop_db(name)


def test_project_clean_then_migrate_rebuilds_everything(pg: PgServer, db: str) -> None:
    """Flyway-style clean keeps the schemas and drops their objects; the migrations rebuild on top."""
    cfg = pg.config(db, cleanDisabled="false")
    with Engine(cfg) as e:
        before = len(e.applied())
        dropped = e.clean(confirmed=True)
        assert any("audit_log" in d for d in dropped), dropped
    assert "flyway_schema_history" not in tables(pg, db)
    with Engine(pg.config(db)) as e:
        assert len(e.migrate().applied) == before
        e.validate()
