"""The stored form of a cached HTTP response: a small checked binary envelope, never pickle.

Layout: ``b"LFRC"`` magic, one version byte, one flags byte (bit 0: body is zlib-compressed),
a 4-byte big-endian header length, a JSON header, then the body. Anything that does not
parse exactly is rejected as corrupt (and the caller treats it as a miss).
"""

from __future__ import annotations

__all__ = ["CorruptEntry", "Entry", "pack", "unpack"]

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

_MAGIC = b"LFRC"
_VERSION = 1
_ZLIB = 0x01
_PREFIX = struct.Struct(">4sBBI")
_COMPRESS_MIN = 4096


class CorruptEntry(ValueError):
    """A stored value is not a valid entry (truncated, foreign or from an unknown version)."""


@dataclass(slots=True)
class Entry:
    """One cached response: status, headers and the decoded body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    fmt: str = "json"
    """``json`` (one document) or ``sse`` (an event stream)."""
    created: float = 0.0
    """Unix time the entry was stored."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Small extra data (e.g. an embedding item's token count)."""


def pack(entry: Entry) -> bytes:
    """Serialize ``entry`` (bodies of 4 KiB or more are zlib-compressed at level 1)."""
    header = json.dumps(
        {"s": entry.status, "h": entry.headers, "f": entry.fmt, "t": entry.created, "m": entry.meta},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    body = entry.body
    flags = 0
    if len(body) >= _COMPRESS_MIN:
        body = zlib.compress(body, 1)
        flags |= _ZLIB
    return _PREFIX.pack(_MAGIC, _VERSION, flags, len(header)) + header + body


def unpack(data: bytes) -> Entry:
    """Parse bytes written by :func:`pack`.

    Raises:
        CorruptEntry: On any mismatch.
    """
    if not isinstance(data, bytes) or len(data) < _PREFIX.size:
        raise CorruptEntry("entry shorter than its prefix")
    magic, version, flags, hlen = _PREFIX.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        raise CorruptEntry(f"unknown entry format {magic!r} v{version}")
    start = _PREFIX.size
    if start + hlen > len(data):
        raise CorruptEntry("entry header truncated")
    try:
        header = json.loads(data[start : start + hlen])
        body = data[start + hlen :]
        if flags & _ZLIB:
            body = zlib.decompress(body)
        status = header["s"]
        headers = [(str(k), str(v)) for k, v in header["h"]]
        fmt = header["f"]
        created = float(header["t"])
        meta = header.get("m") or {}
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        raise CorruptEntry(f"entry does not parse: {type(exc).__name__}: {exc}") from None
    if not isinstance(status, int) or fmt not in ("json", "sse") or not isinstance(meta, dict):
        raise CorruptEntry("entry header has wrong types")
    return Entry(status=status, headers=headers, body=body, fmt=fmt, created=created, meta=meta)
