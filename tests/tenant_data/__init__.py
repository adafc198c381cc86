"""Per-area tenant test data, merged into ``tests.tenancy.FACTORIES`` and the audit test's mutations.

Each module here (loaded in file-name order, after the factories of ``tests/tenancy.py``) may define:

- ``FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]]`` -- schema.table -> a function
  that adds at least one row of that table for the organization (run as superuser with the owner's
  context, in dict order, after every factory of the modules before it);
- ``MUTATIONS: dict[str, str]`` -- schema.table -> one UPDATE that really changes one row of
  organization ``%(org)s`` (required for every audited table, see tests/test_audit_trail.py);
- ``DELETE_BLOCKED: dict[str, str]`` -- schema.table -> why its rows cannot be hard-deleted.

Name modules ``<NN>_<area>.py`` (e.g. ``50_badges.py``) so the order is explicit; a module may use
the helpers of ``tests.tenancy`` (``Org``, ``_one``, ``_learner``, ``_system_id``, ...).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType


def modules() -> list[ModuleType]:
    here = Path(__file__).parent
    return [importlib.import_module(f"{__name__}.{p.stem}")
            for p in sorted(here.glob("[0-9]*.py"))]
