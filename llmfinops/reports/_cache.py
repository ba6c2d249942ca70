"""The Parquet cache: JSONL and SQLite logs converted once, then extended incrementally.

Layout: ``<cache dir>/v<schema>/<sha256 of the input's absolute path>/manifest.json`` plus
``seg-NNNNNN.parquet`` segments. See ``docs/reports.md`` "The Parquet cache".
"""

from __future__ import annotations

__all__ = ["CHUNK_BYTES", "SQLITE_CHUNK_ROWS", "ParquetCache", "clear_cache", "default_cache_dir"]

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import (
    SQLITE_TABLE,
    SourceFile,
    _copy_range,
    _file_hash,
    _last_newline,
    _next_newline,
    _open_sqlite,
    _read_json_sql,
    _repair,
    _sql_str,
    _sqlite_columns,
    _sqlite_to_jsonl,
)
from ._progress import Progress
from ._schema import SCHEMA_VERSION, normalize_select

if TYPE_CHECKING:
    import duckdb

CHUNK_BYTES = 256 * 1024 * 1024
"""JSONL is converted in chunks of about this size (one Parquet segment each)."""

SQLITE_CHUNK_ROWS = 500_000
_HASH_BYTES = 4096
_MANIFEST = "manifest.json"


def default_cache_dir() -> Path:
    """``$LLMFINOPS_CACHE_DIR``, else ``$XDG_CACHE_HOME/llmfinops``, else ``~/.cache/llmfinops``.

    Example:
        >>> default_cache_dir().name in ("llmfinops",) or True
        True
    """
    env = os.environ.get("LLMFINOPS_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "llmfinops"


@contextmanager
def _locked(dir_: Path) -> Iterator[None]:
    dir_.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock
        yield
        return
    with (dir_ / "lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class ParquetCache:
    """Per-input Parquet segments under ``root``, extended incrementally.

    Layout: ``root/v<schema>/<sha256 of the absolute path>/manifest.json`` plus ``seg-*.parquet``.
    """

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection, progress: Progress) -> None:
        self.root = root / f"v{SCHEMA_VERSION}"
        self.con = con
        self.progress = progress

    def _entry(self, src: SourceFile) -> Path:
        return self.root / hashlib.sha256(str(src.path).encode()).hexdigest()[:32]

    @staticmethod
    def _load_manifest(entry: Path) -> dict[str, Any] | None:
        try:
            data = json.loads((entry / _MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _save_manifest(entry: Path, manifest: dict[str, Any]) -> None:
        tmp = entry / (_MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest), encoding="utf-8")
        os.replace(tmp, entry / _MANIFEST)

    @staticmethod
    def _reset(entry: Path) -> None:
        for p in entry.glob("seg-*.parquet"):
            p.unlink()

    def _write_segment(self, entry: Path, manifest: dict[str, Any], select_sql: str) -> int:
        n = len(manifest["segments"])
        seg = entry / f"seg-{n:06d}.parquet"
        tmp = entry / f"seg-{n:06d}.parquet.tmp"
        # Two steps (parse into memory, then write) is faster than one streaming COPY on few cores.
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE llmfinops_segment AS {select_sql}")
        try:
            rows = self.con.execute(
                f"COPY llmfinops_segment TO {_sql_str(str(tmp))} (FORMAT PARQUET, COMPRESSION SNAPPY)"
            ).fetchone()
        finally:
            self.con.execute("DROP TABLE IF EXISTS llmfinops_segment")
        os.replace(tmp, seg)
        return int(rows[0]) if rows else 0

    def segments(self, src: SourceFile) -> list[Path]:
        """Bring the cache of ``src`` up to date and return its segment files."""
        entry = self._entry(src)
        with _locked(entry):
            if src.kind == "jsonl":
                manifest = self._update_jsonl(entry, src)
            else:
                manifest = self._update_sqlite(entry, src)
        return [entry / s["file"] for s in manifest["segments"] if s["rows"] > 0]

    # JSONL: append-only bytes
    def _update_jsonl(self, entry: Path, src: SourceFile) -> dict[str, Any]:
        st = src.path.stat()
        size = st.st_size
        m = self._load_manifest(entry)
        valid = (
            m is not None
            and m.get("kind") == "jsonl"
            and m.get("ino") == st.st_ino
            and m.get("dev") == st.st_dev
            and isinstance(m.get("end"), int)
            and size >= m["end"]
            and m.get("head") == _file_hash(src.path, 0, min(_HASH_BYTES, m["end"]))
            and m.get("check") == _file_hash(src.path, max(0, m["end"] - _HASH_BYTES), m["end"])
        )
        if not valid or m is None:
            self._reset(entry)
            m = {
                "kind": "jsonl",
                "path": str(src.path),
                "ino": st.st_ino,
                "dev": st.st_dev,
                "end": 0,
                "head": "",
                "check": "",
                "segments": [],
            }
        start = int(m["end"])
        stop = _last_newline(src.path, start, size)
        if stop <= start:
            return m
        self.progress.start(f"caching {src.path.name}", stop - start)
        with tempfile.TemporaryDirectory(dir=entry) as td:
            pos = start
            while pos < stop:
                hi = (
                    stop
                    if stop - pos <= CHUNK_BYTES * 5 // 4
                    else _next_newline(src.path, pos + CHUNK_BYTES, stop)
                )
                part = Path(td) / "part.jsonl"
                if _copy_range(src.path, pos, hi, part):
                    fixed = Path(td) / "fixed.jsonl"
                    _repair(part, fixed)
                    os.replace(fixed, part)
                rows = self._write_segment(entry, m, normalize_select(_read_json_sql([part])))
                m["segments"].append(
                    {"file": f"seg-{len(m['segments']):06d}.parquet", "start": pos, "end": hi, "rows": rows}
                )
                m["end"] = hi
                m["head"] = _file_hash(src.path, 0, min(_HASH_BYTES, hi))
                m["check"] = _file_hash(src.path, max(0, hi - _HASH_BYTES), hi)
                self._save_manifest(entry, m)  # an interrupted build resumes from here
                self.progress.advance(hi - pos)
                pos = hi
        return m

    # SQLite: rows appended with increasing rowid
    def _update_sqlite(self, entry: Path, src: SourceFile) -> dict[str, Any]:
        st = src.path.stat()
        with _open_sqlite(src.path) as db:
            cols = _sqlite_columns(db, src.path)
            m = self._load_manifest(entry)
            valid = False
            if (
                m is not None
                and m.get("kind") == "sqlite"
                and m.get("ino") == st.st_ino
                and m.get("columns") == cols
            ):
                lo, cnt = db.execute(
                    f"SELECT min(rowid), count(*) FROM {SQLITE_TABLE} WHERE rowid <= ?", (m["last_rowid"],)
                ).fetchone()
                valid = lo == m.get("min_rowid") and cnt == m.get("rows")
            if not valid or m is None:
                self._reset(entry)
                m = {
                    "kind": "sqlite",
                    "path": str(src.path),
                    "ino": st.st_ino,
                    "columns": cols,
                    "last_rowid": 0,
                    "min_rowid": None,
                    "rows": 0,
                    "segments": [],
                }
            (pending,) = db.execute(
                f"SELECT count(*) FROM {SQLITE_TABLE} WHERE rowid > ?", (m["last_rowid"],)
            ).fetchone()
            if not pending:
                return m
            self.progress.start(f"caching {src.path.name}", int(pending))
            with tempfile.TemporaryDirectory(dir=entry) as td:
                part = Path(td) / "part.jsonl"
                while True:
                    n, last = _sqlite_to_jsonl(db, cols, m["last_rowid"], SQLITE_CHUNK_ROWS, part)
                    if n == 0:
                        break
                    rows = self._write_segment(entry, m, normalize_select(_read_json_sql([part])))
                    m["segments"].append({"file": f"seg-{len(m['segments']):06d}.parquet", "rows": rows})
                    m["last_rowid"] = last
                    if m["min_rowid"] is None:
                        (m["min_rowid"],) = db.execute(f"SELECT min(rowid) FROM {SQLITE_TABLE}").fetchone()
                    m["rows"] += n
                    self._save_manifest(entry, m)
                    self.progress.advance(n)
        return m


def clear_cache(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Delete the Parquet cache directory and return its path.

    Example:
        >>> import tempfile
        >>> clear_cache(tempfile.mkdtemp()).exists()
        False
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    shutil.rmtree(root, ignore_errors=True)
    return root
