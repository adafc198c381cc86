"""Flyway placeholder replacement: ``${name}`` from ``flyway.placeholders.*`` plus built-ins.

Names are case-insensitive. A placeholder with no value is an error naming the file, as in Flyway
("No value provided for placeholder"). Built-ins: ``${flyway:defaultSchema}``, ``${flyway:user}``,
``${flyway:database}``, ``${flyway:timestamp}``, ``${flyway:filename}``, ``${flyway:table}``,
``${flyway:workingDirectory}``.
"""

from __future__ import annotations

import re
from typing import Mapping

from .errors import ResolveError


def replace_placeholders(
    text: str,
    values: Mapping[str, str],
    *,
    prefix: str = "${",
    suffix: str = "}",
    script: str = "<script>",
) -> str:
    """Return ``text`` with every placeholder replaced; ``values`` keys must be lower case."""
    pattern = re.compile(re.escape(prefix) + r"([A-Za-z0-9_:.\-]+?)" + re.escape(suffix))

    def sub(m: re.Match[str]) -> str:
        name = m.group(1).lower()
        if name not in values:
            line = text.count("\n", 0, m.start()) + 1
            known = ", ".join(sorted(values)) or "none"
            raise ResolveError(
                f"{script}:{line}: no value provided for placeholder {prefix}{m.group(1)}{suffix}",
                hint=f"set flyway.placeholders.{m.group(1)} in flyway.conf or FLYWAY_PLACEHOLDERS_{m.group(1).upper()}; known: {known}",
            )
        return values[name]

    return pattern.sub(sub, text)
