"""Opening connections with errors a person can act on (and passwords never shown)."""

from __future__ import annotations

import psycopg

from .config import ConnectionSettings
from .errors import ConnectionFailed


def connect(settings: ConnectionSettings, *, autocommit: bool = True, dbname: str | None = None) -> psycopg.Connection:
    kwargs = settings.conninfo_kwargs()
    kwargs.setdefault("connect_timeout", 10)
    kwargs.setdefault("application_name", "elearn-db")
    if dbname is not None:
        kwargs["dbname"] = dbname
    try:
        return psycopg.connect(autocommit=autocommit, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        text = " ".join(str(exc).split())
        if settings.password:
            text = text.replace(settings.password, "***")
        hint = None
        low = text.lower()
        if "password authentication failed" in low or "no password supplied" in low:
            hint = "check flyway.user / flyway.password (or FLYWAY_USER / FLYWAY_PASSWORD)"
        elif "does not exist" in low and "database" in low:
            hint = "create the database first, or fix the database name in the URL"
        elif "connection refused" in low or "no such file" in low or "could not translate host" in low or "timeout" in low:
            hint = "is the server running and the host/port right? ('elearn-db up' starts the embedded one)"
        raise ConnectionFailed(f"cannot connect to {settings.display()}: {text}", hint=hint) from exc
