"""Settings from ``flyway.conf`` (Flyway's ``flyway.*`` keys), ``FLYWAY_*`` variables and CLI options.

Precedence, lowest first: defaults < config file < ``DATABASE_URL`` (url/user/password only) <
``FLYWAY_*`` environment variables < command-line options. Unknown ``flyway.*`` keys are an error,
as a typo in a migration tool's configuration should never be silently ignored. Keys under
``elearn.*`` are this tool's own (Flyway ignores keys outside its ``flyway.`` namespace).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ConfigError

# Flyway keys this tool honours (camelCase, without the "flyway." prefix).
HONOURED_KEYS = {
    "url", "user", "password", "schemas", "defaultSchema", "table", "locations",
    "placeholderPrefix", "placeholderSuffix", "placeholderReplacement", "placeholderSeparator",
    "baselineOnMigrate", "baselineVersion", "baselineDescription", "validateOnMigrate",
    "cleanDisabled", "outOfOrder", "mixed", "initSql", "installedBy", "encoding",
    "sqlMigrationPrefix", "sqlMigrationSeparator", "sqlMigrationSuffixes",
    "repeatableSqlMigrationPrefix", "target", "connectRetries", "createSchemas",
    "validateMigrationNaming", "ignoreMigrationPatterns", "skipDefaultCallbacks",
    "executeInTransaction", "group", "lockRetryCount", "postgresql.transactional.lock",
}
# Flyway keys that are accepted (so a shared flyway.conf works) but have no effect here.
ACCEPTED_KEYS = {
    "driver", "connectRetriesInterval", "callbacks", "resolvers", "jarDirs", "tablespace",
    "cherryPick", "dryRunOutput", "errorOverrides", "stream", "batch", "oracle.sqlplus",
    "outputQueryResults", "licenseKey", "kerberosConfigFile", "jdbcProperties",
    "detectEncoding", "failOnMissingLocations", "reportEnabled", "reportFilename",
    "undoSqlMigrationPrefix", "cleanOnValidationError", "loggers", "environment",
}
ELEARN_KEYS = {"lockTimeout", "statementTimeout", "embedded.port", "embedded.dataDir", "seed"}

DEFAULTS: dict[str, str] = {
    "schemas": "public",
    "table": "flyway_schema_history",
    "locations": "filesystem:migrations",
    "placeholderPrefix": "${",
    "placeholderSuffix": "}",
    "placeholderReplacement": "true",
    "baselineOnMigrate": "false",
    "baselineVersion": "1",
    "baselineDescription": "<< Flyway Baseline >>",
    "validateOnMigrate": "true",
    "cleanDisabled": "true",
    "outOfOrder": "false",
    "mixed": "false",
    "encoding": "UTF-8",
    "sqlMigrationPrefix": "V",
    "sqlMigrationSeparator": "__",
    "sqlMigrationSuffixes": ".sql",
    "repeatableSqlMigrationPrefix": "R",
    "createSchemas": "true",
    "validateMigrationNaming": "true",
    "executeInTransaction": "true",
    "postgresql.transactional.lock": "true",
    "connectRetries": "0",
    "lockRetryCount": "50",
}


def parse_properties(text: str, source: str) -> dict[str, str]:
    """Parse Java .properties text: ``key=value`` or ``key: value``, ``#``/``!`` comments, ``\\`` continuation."""
    result: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while _ends_with_continuation(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        m = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:\s]\s*(.*)$", line)
        if not m:
            m2 = re.match(r"((?:\\.|[^=:\s\\])+)\s*$", line)
            if not m2:
                raise ConfigError(f"{source}:{lineno}: cannot parse line: {line[:60]!r}")
            result[_unescape(m2.group(1))] = ""
            continue
        result[_unescape(m.group(1))] = _unescape(m.group(2).rstrip("\r"))
    return result


def _ends_with_continuation(line: str) -> bool:
    n = len(line) - len(line.rstrip("\\"))
    return n % 2 == 1


def _unescape(s: str) -> str:
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", lambda m: _esc(m.group(1)), s)


def _esc(s: str) -> str:
    if s.startswith("u") and len(s) == 5:
        return chr(int(s[1:], 16))
    return {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(s, s)


def _camel_to_env(key: str) -> str:
    return "FLYWAY_" + re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).replace(".", "_").upper()


ENV_TO_KEY = {_camel_to_env(k): k for k in HONOURED_KEYS | ACCEPTED_KEYS}


@dataclass
class ConnectionSettings:
    host: str | None = None
    port: int | None = None
    dbname: str | None = None
    user: str | None = None
    password: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def conninfo_kwargs(self) -> dict[str, str | int]:
        kw: dict[str, str | int] = {}
        if self.host:
            kw["host"] = self.host
        if self.port:
            kw["port"] = self.port
        if self.dbname:
            kw["dbname"] = self.dbname
        if self.user:
            kw["user"] = self.user
        if self.password:
            kw["password"] = self.password
        kw.update(self.params)
        return kw

    def display(self) -> str:
        """A URL for messages: the password is never shown."""
        auth = ""
        if self.user:
            auth = self.user + (":***" if self.password else "") + "@"
        host = self.host or "localhost"
        if host.startswith("/"):
            return f"postgresql://{auth}/{self.dbname or ''}?host={host}" + (f"&port={self.port}" if self.port else "")
        port = f":{self.port}" if self.port else ""
        return f"postgresql://{auth}{host}{port}/{self.dbname or ''}"


_JDBC_PARAM_MAP = {
    "sslmode": "sslmode", "connecttimeout": "connect_timeout", "applicationname": "application_name",
    "options": "options", "sslrootcert": "sslrootcert", "sslcert": "sslcert", "sslkey": "sslkey",
    "host": "host", "port": "port", "target_session_attrs": "target_session_attrs",
    "targetservertype": "target_session_attrs", "connect_timeout": "connect_timeout",
    "application_name": "application_name", "passfile": "passfile", "user": "user", "password": "password",
}


def parse_url(url: str) -> ConnectionSettings:
    """Parse ``jdbc:postgresql://host:port/db?...`` or ``postgresql://user:pw@host:port/db?...``."""
    raw = url.strip()
    if raw.startswith("jdbc:"):
        raw = raw[5:]
    if not re.match(r"^(postgresql|postgres)://", raw):
        raise ConfigError(
            f"bad database URL {mask_url(url)!r}: expected jdbc:postgresql://host:port/database or postgresql://...",
            hint="example: jdbc:postgresql://localhost:5432/elearn",
        )
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bad database URL {mask_url(url)!r}: {exc}") from exc
    cs = ConnectionSettings(
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        dbname=unquote(parts.path.lstrip("/")) or None,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        mapped = _JDBC_PARAM_MAP.get(key.lower()) or _JDBC_PARAM_MAP.get(key)
        if mapped == "host":
            cs.host = value
        elif mapped == "port":
            if not value.isdigit():
                raise ConfigError(f"bad database URL {mask_url(url)!r}: port {value!r} is not a number")
            cs.port = int(value)
        elif mapped == "user":
            cs.user = value
        elif mapped == "password":
            cs.password = value
        elif mapped:
            cs.params[mapped] = value
    return cs


def url_names_user(url: str) -> bool:
    """Whether ``url`` names a user (``postgresql://user@...`` or ``?user=``); False if it cannot be parsed."""
    try:
        return parse_url(url).user is not None
    except (ConfigError, ValueError):
        return False


def mask_url(url: str) -> str:
    # Up to the last '@' before the path: a password may itself hold an unescaped '@'.
    url = re.sub(r"(://[^:/@]+:)[^/?#]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&;\s]*", r"\1***", url)


@dataclass
class Config:
    values: dict[str, str]
    placeholders: dict[str, str]
    base_dir: Path
    source: str

    def get(self, key: str) -> str | None:
        return self.values.get(key, DEFAULTS.get(key))

    def flag(self, key: str) -> bool:
        value = (self.get(key) or "false").strip().lower()
        if value not in ("true", "false"):
            raise ConfigError(f"{self.source}: flyway.{key} must be true or false, not {value!r}")
        return value == "true"

    def integer(self, key: str, default: int = 0) -> int:
        value = self.get(key)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError as exc:
            raise ConfigError(f"{self.source}: {key} must be an integer, not {value!r}") from exc

    @property
    def schemas(self) -> list[str]:
        return [s.strip() for s in (self.get("schemas") or "public").split(",") if s.strip()]

    @property
    def default_schema(self) -> str:
        return self.get("defaultSchema") or self.schemas[0]

    @property
    def table(self) -> str:
        return self.get("table") or "flyway_schema_history"

    @property
    def locations(self) -> list[Path]:
        out = []
        for loc in (self.get("locations") or "").split(","):
            loc = loc.strip()
            if not loc:
                continue
            if loc.startswith("filesystem:"):
                loc = loc[len("filesystem:"):]
            elif loc.startswith("classpath:"):
                raise ConfigError(
                    f"{self.source}: location {loc!r} is a classpath location; only filesystem: locations exist here",
                    hint="use filesystem:<path> (relative paths are relative to the config file's folder)",
                )
            p = Path(loc)
            out.append(p if p.is_absolute() else (self.base_dir / p))
        return out

    def connection(self) -> ConnectionSettings:
        url = self.get("url")
        if not url:
            raise ConfigError(
                "no database URL configured",
                hint="set flyway.url in flyway.conf, FLYWAY_URL or DATABASE_URL, or pass --url",
            )
        cs = parse_url(url)
        if self.get("user"):
            cs.user = self.get("user")
        if self.get("password"):
            cs.password = self.get("password")
        return cs

    def elearn(self, key: str, default: str | None = None) -> str | None:
        return self.values.get("elearn." + key, default)


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, str | None] | None = None,
) -> Config:
    """Build the effective configuration. ``path`` None means ``./flyway.conf`` if it exists."""
    env = os.environ if env is None else env
    explicit = path is not None
    if path is None:
        path = Path(env.get("FLYWAY_CONFIG_FILES", "flyway.conf").split(",")[0])
    values: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    source = str(path)
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc}") from exc
        for key, value in parse_properties(text, str(path)).items():
            _store(key, value, values, placeholders, source=str(path))
        base_dir = path.resolve().parent
    elif explicit:
        raise ConfigError(f"config file {path} does not exist", hint="pass --config PATH to an existing flyway.conf")
    else:
        base_dir = Path.cwd()
        source = "(no config file)"

    db_url = env.get("DATABASE_URL")
    if db_url:
        values["url"] = db_url
        values.pop("user", None)
        values.pop("password", None)
    for name, value in env.items():
        if name.startswith("FLYWAY_PLACEHOLDERS_"):
            placeholders[name[len("FLYWAY_PLACEHOLDERS_"):].lower()] = value
        elif name in ENV_TO_KEY:
            values[ENV_TO_KEY[name]] = value
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "url" in overrides and url_names_user(overrides["url"]):
        # A URL that names its user carries its own credentials: the lower layers' user and
        # password belong to another login. A JDBC URL (no user) replaces only the URL, as Flyway's -url.
        values.pop("user", None)
        values.pop("password", None)
    values.update(overrides)
    return Config(values=values, placeholders=placeholders, base_dir=base_dir, source=source)


def _store(key: str, value: str, values: dict[str, str], placeholders: dict[str, str], *, source: str) -> None:
    if key.startswith("flyway.placeholders."):
        placeholders[key[len("flyway.placeholders."):].lower()] = value
    elif key.startswith("flyway."):
        short = key[len("flyway."):]
        if short not in HONOURED_KEYS and short not in ACCEPTED_KEYS:
            raise ConfigError(
                f"{source}: unknown configuration key {key!r}",
                hint="see the Flyway configuration reference; this tool's own keys live under elearn.*",
            )
        values[short] = value
    elif key.startswith("elearn."):
        short = key[len("elearn."):]
        if short not in ELEARN_KEYS:
            raise ConfigError(f"{source}: unknown configuration key {key!r}", hint=f"known: elearn.{', elearn.'.join(sorted(ELEARN_KEYS))}")
        values[key] = value
    else:
        raise ConfigError(f"{source}: unknown configuration key {key!r}", hint="keys start with flyway. or elearn.")
