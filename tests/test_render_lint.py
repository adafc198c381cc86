"""`elearn-db render --check` and `elearn-db lint` on the project, and on broken copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from elearn_db.cli import app

from .conftest import ROOT

runner = CliRunner()


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "project"
    dest.mkdir()
    for name in ("migrations", "policies", "views", "sql"):
        shutil.copytree(ROOT / name, dest / name)
    for name in ("flyway.conf", ".sqlfluff", ".squawk.toml"):
        shutil.copy(ROOT / name, dest / name)
    monkeypatch.setenv("ELEARN_DB_ROOT", str(dest))
    return dest


def test_committed_render_is_up_to_date() -> None:
    result = runner.invoke(app, ["render", "--check"], env={"ELEARN_DB_ROOT": str(ROOT)})
    assert result.exit_code == 0, result.output


def test_stale_render_is_reported(project_copy: Path) -> None:
    out = project_copy / "policies" / "R__0100_row_level_security.sql"
    out.write_text(out.read_text() + "-- hand edit\n")
    result = runner.invoke(app, ["render", "--check"])
    assert result.exit_code == 1
    assert "policies/R__0100_row_level_security.sql" in result.stderr
    fixed = runner.invoke(app, ["render"])
    assert fixed.exit_code == 0 and "wrote policies/R__0100_row_level_security.sql" in fixed.stdout
    assert runner.invoke(app, ["render", "--check"]).exit_code == 0


def test_unknown_profile_is_a_clear_error(project_copy: Path) -> None:
    manifest = project_copy / "sql" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("profile: audit_log", "profile: no_such_profile"))
    result = runner.invoke(app, ["render", "--check"])
    assert result.exit_code == 2
    assert "no_such_profile" in result.stderr


def test_project_sql_passes_lint() -> None:
    result = runner.invoke(app, ["lint"], env={"ELEARN_DB_ROOT": str(ROOT)})
    assert result.exit_code == 0, result.output


def test_unsafe_migration_fails_squawk(project_copy: Path) -> None:
    (project_copy / "migrations" / "V9000__unsafe.sql").write_text(
        "SET LOCAL ROLE ${owner_role};\n\nALTER TABLE audit.audit_log ADD COLUMN extra integer NOT NULL;\n")
    result = runner.invoke(app, ["lint"])
    assert result.exit_code == 1
    assert "squawk" in result.stdout and "V9000__unsafe.sql" in result.stdout


def test_style_violation_fails_sqlfluff(project_copy: Path) -> None:
    (project_copy / "migrations" / "V9001__style.sql").write_text("select  1 AS X\n")
    result = runner.invoke(app, ["lint"])
    assert result.exit_code == 1
    assert "V9001__style.sql" in result.stdout
