"""Flyway's checksum: CRC-32 over the UTF-8 bytes of every line, line terminators removed.

Flyway reads a script line by line (``\\n``, ``\\r\\n`` and ``\\r`` all end a line), drops one
leading byte-order mark, and feeds each line's UTF-8 bytes to one CRC-32. The stored value is
that CRC as a signed 32-bit integer. Consequences pinned by ``shared/flyway-vectors``: line
endings and blank lines do not change the checksum, trailing whitespace does, an empty file is 0.
"""

from __future__ import annotations

import zlib

from .errors import ResolveError

BOM = "\ufeff"


def decode_script(data: bytes, name: str) -> str:
    """Decode bytes strictly as UTF-8 (Flyway's default encoding), naming the file on failure."""
    try:
        return data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ResolveError(
            f"{name}: invalid UTF-8 at byte {exc.start} (line {line})",
            hint="save the file as UTF-8; Flyway reads scripts as UTF-8 (flyway.encoding)",
        ) from exc


def to_signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def checksum_text(text: str) -> int:
    """Flyway's checksum of already-decoded script text."""
    if text.startswith(BOM):
        text = text[1:]
    crc = 0
    # Removing every CR and LF is the same as concatenating the lines without terminators.
    crc = zlib.crc32(text.replace("\r", "").replace("\n", "").encode("utf-8"), crc)
    return to_signed32(crc)


def checksum_bytes(data: bytes, name: str = "<script>") -> int:
    return checksum_text(decode_script(data, name))
