"""Where the project's files are: the folder holding flyway.conf (the working tree) by default."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    env = os.environ.get("ELEARN_DB_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for p in [here, *here.parents]:
        if (p / "flyway.conf").exists() and (p / "migrations").is_dir():
            return p
    # Installed from a checkout (editable): the package lives in <root>/tools/elearn_db.
    pkg_root = Path(__file__).resolve().parents[2]
    if (pkg_root / "migrations").is_dir():
        return pkg_root
    return here
