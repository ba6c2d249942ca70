"""Input files: expanding paths and globs, JSONL byte ranges and repairs, SQLite rows as JSON lines."""

from __future__ import annotations

__all__ = ["SQLITE_TABLE", "SourceFile", "expand_paths"]

import glob
import hashlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llmfinops.exceptions import ConfigurationError

from ._schema import COST_FIELDS, RAW_JSON_COLUMNS

SQLITE_TABLE = "llm_call_log"
_EXACT = "_exact"
"""Suffix of the SQLite sink's exact-decimal TEXT twin of each REAL money column."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_DIR_PATTERNS = ("*.jsonl", "*.ndjson", "*.jsonl.*[0-9]", "*.db", "*.sqlite", "*.sqlite3")

Kind = Literal["jsonl", "sqlite"]


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One input file."""

    path: Path
    kind: Kind
    size: int


def _sniff(path: Path) -> Kind:
    with path.open("rb") as f:
        head = f.read(16)
    if head == _SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(b"PAR1"):
        raise ConfigurationError(
            f"input {str(path)!r} is a Parquet file; pass the JSONL or SQLite logs that llmfinops wrote "
            "(the Parquet cache is managed for you)"
        )
    return "jsonl"


def expand_paths(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[SourceFile]:
    """Expand files, directories and glob patterns into the input files, in a stable order.

    Args:
        paths: One or more file paths, directories (their ``*.jsonl``/``*.db``/``*.sqlite`` files,
            recursively) or glob patterns (``logs/*.jsonl``, ``logs/**/calls-*.jsonl``).

    Raises:
        ConfigurationError: A path or pattern matches nothing.

    Example:
        >>> expand_paths("no/such/*.jsonl")
        Traceback (most recent call last):
        ...
        llmfinops.exceptions.ConfigurationError: input 'no/such/*.jsonl' matches no file; ...
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise ConfigurationError("no input given: pass one or more JSONL/SQLite files, directories or globs")
    seen: set[Path] = set()
    out: list[SourceFile] = []
    for item in items:
        text = os.fspath(item)
        matches: list[Path]
        p = Path(text).expanduser()
        if p.is_dir():
            matches = sorted(
                {m for pat in _DIR_PATTERNS for m in p.rglob(pat) if ".llmfinops-cache" not in m.parts}
            )
        elif p.exists():
            matches = [p]
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True))
            matches = [m for m in matches if m.is_file()]
        else:
            matches = []
        if not matches:
            raise ConfigurationError(
                f"input {text!r} matches no file; pass a JSONL/SQLite file written by llmfinops, a directory "
                "or a glob such as 'logs/*.jsonl'"
            )
        for m in matches:
            r = m.resolve()
            if r in seen or not r.is_file():
                continue
            seen.add(r)
            out.append(SourceFile(r, _sniff(r), r.stat().st_size))
    return out


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _sql_list(paths: Sequence[Path | str]) -> str:
    return "[" + ", ".join(_sql_str(str(p)) for p in paths) + "]"


def _read_json_sql(paths: Sequence[Path | str]) -> str:
    cols = "{" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in RAW_JSON_COLUMNS.items()) + "}"
    return (
        f"read_json({_sql_list(paths)}, format='newline_delimited', ignore_errors=true, "
        f"columns={cols}, maximum_object_size=67108864)"
    )


def _file_hash(path: Path, start: int, end: int) -> str:
    with path.open("rb") as f:
        f.seek(start)
        return hashlib.sha256(f.read(end - start)).hexdigest()


def _last_newline(path: Path, start: int, end: int) -> int:
    """Offset just past the last newline in ``[start, end)``, or ``start`` if there is none."""
    block = 1 << 16
    with path.open("rb") as f:
        pos = end
        while pos > start:
            lo = max(start, pos - block)
            f.seek(lo)
            data = f.read(pos - lo)
            i = data.rfind(b"\n")
            if i >= 0:
                return lo + i + 1
            pos = lo
    return start


_MARK = b'{"id":'
"""Every record line starts with this; two on one line mean a torn record glued to the next one."""


def _copy_range(src: Path, start: int, end: int, dst: Path | None) -> bool:
    """Copy ``[start, end)`` of ``src`` to ``dst`` (or only scan it); return whether a line needs repair.

    A writer killed mid-line leaves a torn record, and the next writer's record is appended
    on the same line: such a line holds more record starts than there are lines.
    """
    marks = newlines = 0
    tail = b""
    last = b"\n"
    with src.open("rb") as fi, dst.open("wb") if dst is not None else _NullWriter() as fo:
        fi.seek(start)
        left = end - start
        while left > 0:
            buf = fi.read(min(left, 8 << 20))
            if not buf:
                break
            fo.write(buf)
            marks += (tail + buf).count(_MARK)  # a mark split across buffers is counted once
            newlines += buf.count(b"\n")
            tail, last = buf[-(len(_MARK) - 1) :], buf[-1:]
            left -= len(buf)
    lines = newlines + (0 if last == b"\n" else 1)
    return marks > lines


class _NullWriter:
    def write(self, data: bytes) -> int:
        return len(data)

    def __enter__(self) -> _NullWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _repair(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` keeping, on each line with several record starts, the last record.

    Same recovery as :func:`llmfinops.sinks.read_records`: the torn record is lost, the complete
    one that follows it on the same line is kept.
    """
    with src.open("rb") as fi, dst.open("wb") as fo:
        for line in fi:
            if line.count(_MARK) > 1:
                line = line[line.rfind(_MARK) :]
            fo.write(line)


def _next_newline(path: Path, pos: int, stop: int) -> int:
    with path.open("rb") as f:
        f.seek(pos)
        while pos < stop:
            data = f.read(1 << 16)
            if not data:
                return stop
            i = data.find(b"\n")
            if i >= 0:
                return min(pos + i + 1, stop)
            pos += len(data)
    return stop


@contextmanager
def _open_sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield db
    finally:
        db.close()


def _sqlite_columns(db: sqlite3.Connection, path: Path) -> list[str]:
    rows = db.execute(f"PRAGMA table_info({SQLITE_TABLE})").fetchall()
    if not rows:
        raise ConfigurationError(
            f"input {str(path)!r} is a SQLite database without a table {SQLITE_TABLE!r}; "
            "pass a database written by llmfinops' SQLite sink"
        )
    names = {str(r[1]) for r in rows}
    return sorted(
        n for n in names if n in RAW_JSON_COLUMNS or (n.endswith(_EXACT) and n[: -len(_EXACT)] in COST_FIELDS)
    )


def _sqlite_to_jsonl(
    db: sqlite3.Connection, cols: list[str], after: int, limit: int, dst: Path
) -> tuple[int, int]:
    """Write up to ``limit`` rows with ``rowid > after`` as JSON lines; return (count, last rowid)."""
    args: list[str] = []
    for c in cols:
        if c.endswith(_EXACT):
            continue
        q = '"' + c.replace('"', '""') + '"'
        if c == "tags":
            args.append(f"'tags', CASE WHEN json_valid({q}) THEN json({q}) END")
        elif c + _EXACT in cols:  # the SQLite sink keeps str(Decimal) next to the REAL column
            args.append(f"'{c}', COALESCE(\"{c}{_EXACT}\", {q})")
        else:
            args.append(f"'{c}', {q}")
    sql = (
        f"SELECT rowid, json_object({', '.join(args)}) FROM {SQLITE_TABLE} "
        f"WHERE rowid > ? ORDER BY rowid LIMIT ?"
    )
    n = 0
    last = after
    with dst.open("w", encoding="utf-8") as fo:
        for rowid, line in db.execute(sql, (after, limit)):
            fo.write(line)
            fo.write("\n")
            n += 1
            last = rowid
    return n, last
