"""Find and describe migrations, repeatables and callbacks in the configured locations.

Naming follows Flyway: ``V<version>__<description>.sql`` (``_`` or ``.`` separate version parts,
``1_1`` is ``1.1``; compared numerically; the text is stored as written with ``_`` -> ``.``),
``R__<description>.sql`` and callbacks ``<event>[__<description>].sql``. Descriptions turn ``_``
into spaces. A script config ``<script>.conf`` may set ``executeInTransaction`` and ``encoding``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from .checksum import checksum_text, decode_script
from .config import Config, parse_properties
from .errors import ResolveError

CALLBACK_EVENTS = (
    "beforeMigrate", "beforeRepeatables", "beforeEachMigrate", "beforeEachMigrateStatement",
    "afterEachMigrateStatement", "afterEachMigrateStatementError", "afterEachMigrate",
    "afterEachMigrateError", "afterMigrate", "afterMigrateApplied", "afterVersioned",
    "afterMigrateError", "beforeClean", "afterClean", "afterCleanError", "beforeInfo",
    "afterInfo", "afterInfoError", "beforeValidate", "afterValidate", "afterValidateError",
    "beforeBaseline", "afterBaseline", "afterBaselineError", "beforeRepair", "afterRepair",
    "afterRepairError", "beforeConnect", "afterConnect",
)
# Callback events this tool fires (the rest resolve, so a shared tree works, but never run).
FIRED_EVENTS = {
    "beforeMigrate", "beforeRepeatables", "beforeEachMigrate", "afterEachMigrate",
    "afterEachMigrateError", "afterMigrate", "afterMigrateApplied", "afterVersioned",
    "afterMigrateError", "beforeClean", "afterClean", "beforeValidate", "afterValidate",
    "beforeBaseline", "afterBaseline", "beforeRepair", "afterRepair", "beforeInfo", "afterInfo",
}


@functools.total_ordering
@dataclass(frozen=True)
class Version:
    text: str
    parts: tuple[int, ...]

    @classmethod
    def parse(cls, raw: str, *, script: str = "") -> "Version":
        text = raw.replace("_", ".")
        if not re.fullmatch(r"\d+(\.\d+)*", text):
            where = f"{script}: " if script else ""
            raise ResolveError(
                f"{where}invalid version {raw!r}: only digits separated by '.' or '_' are allowed",
                hint="name versioned migrations V<digits>[_<digits>...]__<description>.sql, e.g. V0012__add_badges.sql",
            )
        parts = tuple(int(p) for p in text.split("."))
        return cls(text, parts)

    def _key(self) -> tuple[int, ...]:
        parts = list(self.parts)
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        return tuple(parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: "Version") -> bool:
        return self._key() < other._key()

    def __str__(self) -> str:
        return self.text


@dataclass
class Script:
    """One resolved SQL file."""

    kind: str  # "versioned" | "repeatable" | "callback"
    path: Path
    script: str  # path relative to its location, '/'-separated (Flyway's `script` column)
    description: str
    raw_text: str
    version: Version | None = None
    event: str | None = None
    execute_in_transaction: bool | None = None  # None: decide from the statements
    checksum_raw: int = 0
    _rendered: str | None = field(default=None, repr=False)

    @property
    def is_repeatable(self) -> bool:
        return self.kind == "repeatable"


def _description(raw: str) -> str:
    return raw.replace("_", " ")


def _script_config(path: Path, script: str) -> dict[str, str]:
    conf = path.with_name(path.name + ".conf")
    if not conf.exists():
        return {}
    values = parse_properties(conf.read_text(encoding="utf-8"), str(conf))
    for key in values:
        if key not in ("executeInTransaction", "encoding", "shouldExecute", "placeholderReplacement"):
            raise ResolveError(f"{script}.conf: unknown script configuration key {key!r}",
                               hint="allowed: executeInTransaction, encoding")
    return values


def resolve(config: Config) -> list[Script]:
    """Resolve every script in the configured locations; raise on any malformed or duplicate name."""
    vprefix = config.get("sqlMigrationPrefix") or "V"
    rprefix = config.get("repeatableSqlMigrationPrefix") or "R"
    sep = config.get("sqlMigrationSeparator") or "__"
    suffixes = [s.strip() for s in (config.get("sqlMigrationSuffixes") or ".sql").split(",") if s.strip()]
    strict = config.flag("validateMigrationNaming")
    scripts: list[Script] = []
    for location in config.locations:
        if not location.exists():
            raise ResolveError(f"location {location} does not exist",
                               hint="check flyway.locations (comma-separated filesystem: paths)")
        for path in sorted(location.rglob("*")):
            if not path.is_file():
                continue
            suffix = next((s for s in suffixes if path.name.endswith(s)), None)
            if suffix is None:
                continue
            rel = path.relative_to(location).as_posix()
            stem = path.name[: -len(suffix)]
            script = _resolve_one(path, rel, stem, vprefix, rprefix, sep, strict)
            if script is not None:
                scripts.append(script)
    _check_duplicates(scripts)
    return scripts


def _resolve_one(path: Path, rel: str, stem: str, vprefix: str, rprefix: str, sep: str, strict: bool) -> Script | None:
    event = stem.split(sep, 1)[0]
    if event in CALLBACK_EVENTS:
        desc = stem.split(sep, 1)[1] if sep in stem else ""
        return _load(Script(kind="callback", path=path, script=rel, description=_description(desc),
                            raw_text="", event=event))
    if stem.startswith(rprefix + sep):
        desc = stem[len(rprefix + sep):]
        if not desc:
            raise ResolveError(f"{rel}: a repeatable migration needs a description: {rprefix}{sep}<description>.sql")
        return _load(Script(kind="repeatable", path=path, script=rel, description=_description(desc), raw_text=""))
    if stem.startswith(vprefix) and sep in stem[len(vprefix):]:
        ver, desc = stem[len(vprefix):].split(sep, 1)
        version = Version.parse(ver, script=rel)
        return _load(Script(kind="versioned", path=path, script=rel, description=_description(desc),
                            raw_text="", version=version))
    if strict:
        raise ResolveError(
            f"{rel}: file name is not a Flyway migration: expected {vprefix}<version>{sep}<description>.sql, "
            f"{rprefix}{sep}<description>.sql or a callback such as beforeMigrate.sql",
            hint="rename the file, or move files that are not migrations out of the configured locations",
        )
    return None


def _load(script: Script) -> Script:
    conf = _script_config(script.path, script.script)
    encoding = conf.get("encoding", "UTF-8").upper().replace("_", "-")
    if encoding not in ("UTF-8", "UTF8"):
        raise ResolveError(f"{script.script}: encoding {encoding} is not supported; use UTF-8")
    script.raw_text = decode_script(script.path.read_bytes(), script.script)
    script.checksum_raw = checksum_text(script.raw_text)
    if "executeInTransaction" in conf:
        value = conf["executeInTransaction"].strip().lower()
        if value not in ("true", "false"):
            raise ResolveError(f"{script.script}.conf: executeInTransaction must be true or false")
        script.execute_in_transaction = value == "true"
    return script


def _check_duplicates(scripts: list[Script]) -> None:
    seen: dict[object, Script] = {}
    for s in scripts:
        if s.kind == "versioned":
            key: object = ("V", s.version)
        elif s.kind == "repeatable":
            key = ("R", s.description)
        else:
            continue
        if key in seen:
            other = seen[key]
            what = f"version {s.version}" if s.kind == "versioned" else f"repeatable description {s.description!r}"
            raise ResolveError(
                f"found more than one migration with {what}: {other.script} and {s.script}",
                hint="each version (and each repeatable description) must be unique across all locations",
            )
        seen[key] = s
