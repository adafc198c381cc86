"""Lint the SQL with sqlfluff (style, postgres dialect) and squawk (migration safety).

squawk parses plain PostgreSQL, so it reads copies of the scripts with Flyway placeholders
replaced by the configured values; findings are mapped back to the original file names.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .placeholders import replace_placeholders

LINTED_FOLDERS = ("migrations", "policies", "views")


@dataclass
class LintResult:
    tool: str
    ok: bool
    output: str


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def sql_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for folder in LINTED_FOLDERS:
        if (root / folder).is_dir():
            files += sorted((root / folder).rglob("*.sql"))
    return files


def placeholder_values(config: Config) -> dict[str, str]:
    values = dict(config.placeholders)
    values.update({"flyway:defaultschema": config.default_schema, "flyway:user": "elearn_migrator",
                   "flyway:database": "elearn", "flyway:timestamp": "2026-01-01 00:00:00",
                   "flyway:filename": "file.sql", "flyway:table": config.table,
                   "flyway:workingdirectory": ".", "flyway:environment": "default"})
    return values


def run_sqlfluff(root: Path, files: list[Path]) -> LintResult:
    if not files:
        return LintResult("sqlfluff", True, "no files")
    proc = subprocess.run([_bin("sqlfluff"), "lint", "--disable-progress-bar",
                           *[str(f.relative_to(root)) for f in files]],
                          cwd=root, capture_output=True, text=True)
    return LintResult("sqlfluff", proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def run_squawk(root: Path, files: list[Path], config: Config) -> LintResult:
    if not files:
        return LintResult("squawk", True, "no files")
    values = placeholder_values(config)
    with tempfile.TemporaryDirectory(prefix="elearn-lint-") as tmp:
        copies = []
        for f in files:
            rel = f.relative_to(root)
            dest = Path(tmp) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(replace_placeholders(f.read_text(encoding="utf-8"), values, script=str(rel)),
                            encoding="utf-8")
            copies.append(str(rel))
        args = [_bin("squawk")]
        if (root / ".squawk.toml").exists():
            args += ["--config", str(root / ".squawk.toml")]
        proc = subprocess.run(args + copies, cwd=tmp, capture_output=True, text=True)
        out = (proc.stdout + proc.stderr).replace(tmp + "/", "").strip()
    return LintResult("squawk", proc.returncode == 0, out)


def lint(root: Path, config: Config) -> list[LintResult]:
    files = sql_files(root)
    return [run_sqlfluff(root, files), run_squawk(root, files, config)]
