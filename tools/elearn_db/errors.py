"""Error types and the exit codes the CLI maps them to.

Exit codes (documented in README "Exit codes"):

* 0 success
* 1 validation failed or migrations pending/failed (``validate``, ``info --exit-code``, ``render --check``,
  ``lint``, ``test``)
* 2 usage, configuration, connection or SQL error (nothing was applied past the failing migration)
* 3 refused: a guarded command was not allowed (``clean`` without ``cleanDisabled=false`` and ``--yes``)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_VALIDATION = 1
EXIT_ERROR = 2
EXIT_REFUSED = 3


class ElearnDbError(Exception):
    """Base class: one line of message, an optional hint, an exit code."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(ElearnDbError):
    """Bad or missing configuration (flyway.conf, environment, options)."""


class ConnectionFailed(ElearnDbError):
    """The server could not be reached or refused the login."""


class ResolveError(ElearnDbError):
    """A migration file could not be resolved: bad name, duplicate version, bad encoding, placeholder."""


class MigrationFailed(ElearnDbError):
    """A migration's SQL failed. Carries the file, the statement line, SQLSTATE and server diagnostics."""

    def __init__(
        self,
        message: str,
        *,
        script: str,
        line: int | None = None,
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.script = script
        self.line = line
        self.sqlstate = sqlstate
        self.detail = detail


class ValidationFailed(ElearnDbError):
    """Applied migrations differ from the resolved ones (checksum, description, missing, failed, pending)."""

    exit_code = EXIT_VALIDATION

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


class Refused(ElearnDbError):
    """A guarded operation was not allowed by configuration or confirmation."""

    exit_code = EXIT_REFUSED
