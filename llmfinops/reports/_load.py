"""Read call logs (JSONL files, SQLite databases, globs of both) into DuckDB.

Small inputs are parsed into an in-memory table on every run. Large inputs (by default
from 64 MiB) are converted once into a Parquet cache and only their new bytes (JSONL is
append-only) or new rows (SQLite, by ``rowid``) are converted on later runs; see
``docs/reports.md`` "The Parquet cache".
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_CACHE_MIN_BYTES",
    "Dataset",
    "SourceFile",
    "TimeLike",
    "clear_cache",
    "default_cache_dir",
    "expand_paths",
    "month_bounds",
    "open_dataset",
]

import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from llmfinops.exceptions import ConfigurationError, MissingDependencyError

from ._progress import NullProgress, Progress
from ._schema import (
    NORMALIZED_COLUMNS,
    dimension_sql,
    normalize_select,
)

if TYPE_CHECKING:
    import duckdb

from ._cache import ParquetCache, clear_cache, default_cache_dir
from ._files import (
    SourceFile,
    _copy_range,
    _open_sqlite,
    _read_json_sql,
    _repair,
    _sql_list,
    _sql_str,
    _sqlite_columns,
    _sqlite_to_jsonl,
    expand_paths,
)

DEFAULT_CACHE_MIN_BYTES = 64 * 1024 * 1024
"""Inputs at least this large (in total) go through the Parquet cache when ``cache=None``."""

TimeLike = str | date | datetime


def _import_duckdb() -> Any:
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a core dependency
        raise MissingDependencyError(
            "reports need duckdb: pip install 'llmfinops' (duckdb is a dependency) or pip install duckdb"
        ) from None
    return duckdb


def _connect() -> duckdb.DuckDBPyConnection:
    module = _import_duckdb()
    con: duckdb.DuckDBPyConnection = module.connect(":memory:")
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar = false")  # ours is on stderr, only for cache builds
    return con


def _as_datetime(value: TimeLike, name: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"{name}={value!r} is not an ISO date or datetime; use e.g. 2026-11-01 or 2026-11-01T12:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ts_literal(dt: datetime) -> str:
    naive = dt.astimezone(UTC).replace(tzinfo=None)
    return f"TIMESTAMP '{naive.isoformat(sep=' ')}'"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``"2026-11"`` -> (2026-11-01, 2026-12-01) in UTC.

    Example:
        >>> month_bounds("2026-12")[1].isoformat()
        '2027-01-01T00:00:00+00:00'
    """
    try:
        y, m = (int(x) for x in month.split("-"))
        start = datetime(y, m, 1, tzinfo=UTC)
    except ValueError:
        raise ConfigurationError(f"month={month!r} is not YYYY-MM; use e.g. --month 2026-11") from None
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return start, end


class Dataset:
    """Call records loaded into DuckDB as the view ``calls`` (normalized columns, filters applied).

    Use :func:`open_dataset` to build one; close it (or use ``with``) to release memory.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        files: Sequence[SourceFile],
        *,
        since: datetime | None,
        until: datetime | None,
        tmpdir: tempfile.TemporaryDirectory[str] | None,
    ) -> None:
        self.con = con
        self.files = tuple(files)
        self.since = since
        self.until = until
        self._tmpdir = tmpdir

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query over the view ``calls`` and fetch all rows.

        Example:
            >>> from llmfinops.reports import open_dataset
            >>> from llmfinops.testing import make_record, write_records
            >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])
            >>> with open_dataset(log) as ds:
            ...     ds.sql("SELECT team, count(*) FROM calls GROUP BY team ORDER BY team")
            [('ads', 1), ('search', 2)]
        """
        return list(self.con.execute(query, list(params)).fetchall())

    def count(self) -> int:
        """Number of records after filters."""
        return int(self.sql("SELECT count(*) FROM calls")[0][0])

    def time_bounds(self) -> tuple[datetime, datetime] | None:
        """First and last call timestamps (UTC, aware), or ``None`` when there are no records."""
        lo, hi = self.sql("SELECT min(ts), max(ts) FROM calls")[0]
        if lo is None:
            return None
        return lo.replace(tzinfo=UTC), hi.replace(tzinfo=UTC)

    def close(self) -> None:
        """Close the DuckDB connection and delete temporary files."""
        self.con.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> Dataset:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _where_sql(where: Mapping[str, str | Sequence[str]] | None) -> list[str]:
    clauses: list[str] = []
    for dim, values in (where or {}).items():
        expr = dimension_sql(dim)
        vals = [values] if isinstance(values, str) else list(values)
        if not vals:
            continue
        ors: list[str] = []
        plain = [v for v in vals if v != "(none)"]
        if plain:
            ors.append(f"CAST({expr} AS VARCHAR) IN ({', '.join(_sql_str(v) for v in plain)})")
        if len(plain) != len(vals):
            ors.append(f"{expr} IS NULL")
        clauses.append("(" + " OR ".join(ors) + ")")
    return clauses


def open_dataset(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    where: Mapping[str, str | Sequence[str]] | None = None,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    cache_min_bytes: int = DEFAULT_CACHE_MIN_BYTES,
    progress: Progress | None = None,
) -> Dataset:
    """Load JSONL/SQLite call logs into DuckDB.

    Args:
        paths: Files, directories or globs (see :func:`expand_paths`).
        since: Keep calls at or after this instant (ISO string, date or datetime; UTC if naive).
        until: Keep calls strictly before this instant.
        where: Keep calls whose dimension has one of the values, e.g. ``{"team": ["search", "ads"]}``;
            ``"(none)"`` matches a missing value.
        cache: ``True`` always use the Parquet cache, ``False`` never, ``None`` when the inputs
            total at least ``cache_min_bytes``.
        cache_dir: Cache location (default: :func:`default_cache_dir`).
        cache_min_bytes: Size threshold for ``cache=None``.
        progress: Progress reporter for cache builds (default: silent).

    Returns:
        A :class:`Dataset`; close it when done.

    Raises:
        ConfigurationError: No file matches, a SQLite file has no ``llm_call_log`` table, or a
            filter is invalid.

    Example:
        >>> from llmfinops.testing import make_record, write_records
        >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])
        >>> with open_dataset(log, where={"team": "search"}) as ds:
        ...     ds.count()
        2
    """
    files = expand_paths(paths)
    lo = _as_datetime(since, "since") if since is not None else None
    hi = _as_datetime(until, "until") if until is not None else None
    if lo is not None and hi is not None and hi <= lo:
        raise ConfigurationError(f"until={hi.isoformat()} is not after since={lo.isoformat()}; swap them")
    filters = _where_sql(where)
    use_cache = cache if cache is not None else sum(f.size for f in files) >= cache_min_bytes
    con = _connect()
    prog = progress or NullProgress()
    tmp: tempfile.TemporaryDirectory[str] | None = None
    parts: list[str] = []
    try:
        if use_cache:
            root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
            pc = ParquetCache(root, con, prog)
            segs: list[Path] = []
            with prog:
                for f in files:
                    segs.extend(pc.segments(f))
            if segs:
                parts.append(f"SELECT * FROM read_parquet({_sql_list(segs)})")
        else:
            jsonl: list[Path] = []
            for i, f in enumerate(files):
                if f.kind != "jsonl" or f.size == 0:
                    continue
                if _copy_range(f.path, 0, f.size, None):
                    tmp = tmp or tempfile.TemporaryDirectory(prefix="llmfinops-")
                    fixed = Path(tmp.name) / f"repaired-{i}.jsonl"
                    _repair(f.path, fixed)
                    jsonl.append(fixed)
                else:
                    jsonl.append(f.path)
            sqlite_files = [f for f in files if f.kind == "sqlite"]
            if sqlite_files:
                tmp = tmp or tempfile.TemporaryDirectory(prefix="llmfinops-")
                for i, f in enumerate(sqlite_files):
                    with _open_sqlite(f.path) as db:
                        cols = _sqlite_columns(db, f.path)
                        dst = Path(tmp.name) / f"sqlite-{i}.jsonl"
                        _sqlite_to_jsonl(db, cols, -(1 << 62), 1 << 62, dst)
                        jsonl.append(dst)
            if jsonl:
                con.execute(f"CREATE TEMP TABLE calls_mem AS {normalize_select(_read_json_sql(jsonl))}")
                parts.append("SELECT * FROM calls_mem")
        if not parts:
            empty_cols = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in NORMALIZED_COLUMNS)
            parts.append(f"SELECT {empty_cols} WHERE false")
        con.execute(f"CREATE TEMP VIEW calls_all AS {' UNION ALL '.join(parts)}")
        conds = list(filters)
        if lo is not None:
            conds.append(f"ts >= {_ts_literal(lo)}")
        if hi is not None:
            conds.append(f"ts < {_ts_literal(hi)}")
        where_sql = f" WHERE {' AND '.join(conds)}" if conds else ""
        con.execute(f"CREATE TEMP VIEW calls AS SELECT * FROM calls_all{where_sql}")
    except BaseException:
        con.close()
        if tmp is not None:
            tmp.cleanup()
        raise
    return Dataset(con, files, since=lo, until=hi, tmpdir=tmp)
