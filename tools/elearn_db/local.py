"""The local development server behind ``elearn-db up`` / ``down`` / ``url``.

``up`` = start (initialising on first use) the cluster under ``.elearn-db/``, create the database
named in the configured URL, apply every migration, load the demo seed and summarise. Every step
is idempotent, so running it again is quick and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, parse_url
from .db import connect
from .engine import Engine, MigrateResult, Progress
from .seed import load as load_seed
from .server import Cluster, default_bindir

DEFAULT_PORT = 55432


@dataclass
class UpResult:
    url: str
    server_version: str
    migrate: MigrateResult
    applied_versions: list[str]
    tables_per_schema: dict[str, int]
    seeded: dict[str, int] = field(default_factory=dict)
    started: bool = False


def cluster_for(config: Config, root: Path) -> Cluster:
    port = int(config.elearn("embedded.port") or DEFAULT_PORT)
    data = Path(config.elearn("embedded.dataDir") or ".elearn-db/data")
    if not data.is_absolute():
        data = root / data
    return Cluster(datadir=data, port=port, bindir=default_bindir())


def database_name(config: Config) -> str:
    url = config.get("url")
    return (parse_url(url).dbname if url else None) or "elearn"


def embedded_config(config: Config, cluster: Cluster) -> Config:
    """The configuration pointed at the local cluster (its superuser, the configured database name)."""
    values = dict(config.values)
    values["url"] = cluster.jdbc_url(database_name(config))
    values["user"] = cluster.superuser
    values.pop("password", None)
    return Config(values=values, placeholders=dict(config.placeholders), base_dir=config.base_dir, source=config.source)


def up(config: Config, root: Path, *, seed: str | None = "demo", progress: Progress | None = None,
       log=None) -> UpResult:
    cluster = cluster_for(config, root)
    was_running = cluster.running()
    cluster.start()
    dbname = database_name(config)
    cluster.ensure_database(dbname)
    cfg = embedded_config(config, cluster)
    with Engine(cfg, progress=progress, log=log) as engine:
        result = engine.migrate()
        info = engine.info()
    seeded: dict[str, int] = {}
    with connect(cfg.connection(), autocommit=True) as conn:
        if seed:
            seeded = load_seed(conn, root, seed, roles=cfg.placeholders, progress=progress)
        rows = conn.execute(
            "select n.nspname, count(c.oid) from pg_namespace n left join pg_class c on c.relnamespace = n.oid"
            " and c.relkind in ('r','p') and not c.relispartition"
            " where n.nspname not like 'pg\\_%' and n.nspname not in ('information_schema')"
            " group by n.nspname order by n.nspname").fetchall()
    return UpResult(
        url=cluster.url(dbname),
        server_version=cluster.version(),
        migrate=result,
        applied_versions=[r.version for r in info if r.version and r.installed_rank is not None],
        tables_per_schema={str(n): int(c) for n, c in rows},
        seeded=seeded,
        started=not was_running,
    )


def down(config: Config, root: Path) -> bool:
    cluster = cluster_for(config, root)
    if not cluster.running():
        return False
    cluster.stop()
    return True
