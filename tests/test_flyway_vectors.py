"""Flyway's checksums, reproduced: the shared vectors (raw and as stored by Flyway 11) and the invariances."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given, strategies as st

from elearn_db import history
from elearn_db.checksum import checksum_bytes, checksum_text
from elearn_db.engine import Engine
from elearn_db.errors import ResolveError

from .conftest import VECTORS, PgServer


def _tsv(name: str) -> dict[str, int]:
    with (VECTORS / name).open() as fh:
        return {row[0]: int(row[1]) for row in csv.reader(fh, delimiter="\t") if row}


RAW = _tsv("expected_raw.tsv")
STORED = _tsv("expected.tsv")


@pytest.mark.parametrize("name", sorted(RAW))
def test_raw_checksum_matches_flyway(name: str) -> None:
    assert checksum_bytes((VECTORS / name).read_bytes(), name) == RAW[name]


def test_vectors_applied_store_flyways_checksums(pg: PgServer, empty_db: str) -> None:
    """Applying the vector folder stores exactly the checksums real Flyway stored."""
    cfg = pg.config(empty_db, locations=[VECTORS])
    cfg.placeholders["greeting"] = "hello"
    with Engine(cfg) as engine:
        engine.migrate()
        rows = engine.applied()
    stored = {r.script: r.checksum for r in rows}
    assert stored == STORED
    # Versioned rows carry their version as written, repeatable rows none; all type SQL, all success.
    by_script = {r.script: r for r in rows}
    assert by_script["V10__utf8_bom.sql"].version == "10"
    assert by_script["R__placeholder_view.sql"].version is None
    assert {r.type for r in rows} == {"SQL"} and all(r.success for r in rows)
    assert [r.installed_rank for r in rows] == list(range(1, len(rows) + 1))
    with pg.connect(empty_db) as c:
        assert c.execute("select v from vec_ph").fetchone() is None
        assert c.execute("select g from vec_ph_view").fetchone() == ("hello",)


def test_repeatable_accepts_as_written_checksum(pg: PgServer, empty_db: str) -> None:
    """A history row holding the as-written checksum of a repeatable is up to date, not outdated."""
    cfg = pg.config(empty_db, locations=[VECTORS])
    cfg.placeholders["greeting"] = "hello"
    with Engine(cfg) as engine:
        engine.migrate()
        with pg.connect(empty_db) as c:
            c.execute("update flyway_schema_history set checksum = %s where script = 'R__placeholder_view.sql'",
                      (RAW["R__placeholder_view.sql"],))
        states = {r.script: r.state for r in engine.info()}
    assert states["R__placeholder_view.sql"] == "Success"


lines = st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20),
                 max_size=8)


@given(lines, st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=8, max_size=8), st.booleans(), st.booleans())
def test_line_endings_and_bom_do_not_change_checksum(body: list[str], endings: list[str], bom: bool, trailing: bool) -> None:
    canonical = "\n".join(body)
    text = "".join(line + endings[i] for i, line in enumerate(body))
    if not trailing and text:
        text = text[: -len(endings[len(body) - 1])]
    if bom:
        text = "\ufeff" + text
    assert checksum_bytes(text.encode("utf-8")) == checksum_text(canonical)


@given(st.lists(st.text(alphabet="abc ;\n", min_size=1, max_size=10), min_size=1, max_size=5))
def test_blank_lines_do_not_change_checksum(body: list[str]) -> None:
    text = "\n".join(body)
    assert checksum_text(text) == checksum_text(text.replace("\n", "\n\n\n"))


def test_trailing_whitespace_changes_checksum() -> None:
    assert checksum_text("select 1;") != checksum_text("select 1; ")


def test_empty_file_is_zero() -> None:
    assert checksum_bytes(b"") == 0


def test_invalid_utf8_names_the_file_and_line() -> None:
    with pytest.raises(ResolveError) as exc:
        checksum_bytes(b"select 1;\nselect '\xff';", "V1__bad.sql")
    assert "V1__bad.sql" in str(exc.value) and "line 2" in str(exc.value)


def test_lock_key_is_flyways() -> None:
    assert history.lock_key("public", "flyway_schema_history") == 77433833903597
