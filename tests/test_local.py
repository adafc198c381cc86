"""`elearn-db up` / `down` / `url` on a fresh data directory: a real embedded (or ELEARN_PG_BINDIR) server."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from elearn_db import local
from elearn_db.config import load_config
from elearn_db.server import free_port

from .conftest import ROOT, PgServer


@pytest.fixture
def local_config(tmp_path: Path, pg: PgServer):  # type: ignore[no-untyped-def]
    if pg.cluster is None:
        pytest.skip("up/down manage a local server; not run against ELEARN_TEST_URL")
    tmp_path.chmod(0o755)
    cfg = load_config(ROOT / "flyway.conf", env={})
    cfg.values["elearn.embedded.port"] = str(free_port())
    cfg.values["elearn.embedded.dataDir"] = str(tmp_path / "data")
    cfg.placeholders.update(pg.roles)
    yield cfg
    local.down(cfg, ROOT)


def test_up_is_idempotent_and_down_stops(local_config) -> None:  # type: ignore[no-untyped-def]
    first = local.up(local_config, ROOT)
    assert first.started
    assert first.migrate.applied, "a fresh server gets every migration"
    assert first.applied_versions == sorted(first.applied_versions, key=lambda v: [int(x) for x in v.split(".")])
    assert first.tables_per_schema.get("audit", 0) >= 1
    with psycopg.connect(first.url) as c:
        assert c.execute("select count(*) from flyway_schema_history where not success").fetchone() == (0,)

    second = local.up(local_config, ROOT)
    assert not second.started
    assert second.migrate.applied == []
    assert sum(second.seeded.values()) == 0, "seeds are loaded once"
    assert second.applied_versions == first.applied_versions

    assert local.down(local_config, ROOT) is True
    assert local.down(local_config, ROOT) is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(first.url, connect_timeout=2)


def test_up_refuses_a_port_held_by_another_checkout(local_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from elearn_db.config import Config
    from elearn_db.server import ServerError

    local.up(local_config, ROOT, seed=None)
    other = Config(values=dict(local_config.values), placeholders=dict(local_config.placeholders),
                   base_dir=local_config.base_dir, source="other")
    other.values["elearn.embedded.dataDir"] = str(tmp_path / "other-data")
    with pytest.raises(ServerError, match="taken by another PostgreSQL server"):
        local.up(other, ROOT, seed=None)
    assert not (tmp_path / "other-data" / "PG_VERSION").exists()
