"""SQLite sink: every call as one row of ``llm_call_log``, ready for SQL.

::

    import llmfinops
    from llmfinops.sinks.sqlite import SQLiteSink, connect

    llmfinops.configure(sinks=[SQLiteSink("llm_calls.db")])
    ...
    db = connect("llm_calls.db")  # adds date_trunc() and decimal_sum() to SQLite
    db.execute("SELECT team, SUM(cost_usd) FROM llm_call_log GROUP BY team").fetchall()

The table has one column per :data:`~llmfinops.records.RECORD_FIELDS` entry (costs as
``REAL``, ``tags`` as JSON text, timestamps as ISO-8601 UTC text with microseconds, so
they sort as text) plus two generated columns for the SQL in common FinOps guides:
``estimated_cost_usd`` (= ``cost_usd``) and ``date`` (the UTC day, ``YYYY-MM-DD``).

* **Batched.** Each batch from the background writer is one ``executemany`` inside one
  ``BEGIN IMMEDIATE`` transaction: a killed process leaves whole batches or nothing.
* **Several processes, one file.** WAL journal, ``busy_timeout`` and a retry on
  ``SQLITE_BUSY``; rows are keyed by ``id`` so a retried batch is never written twice.
* **Versioned schema.** ``PRAGMA user_version`` holds the schema version; opening an
  older file adds the columns that newer llmfinops versions record.

See ``docs/sinks/sqlite.md`` for the column list and example queries.
"""

from __future__ import annotations

__all__ = ["EXACT_SUFFIX", "SCHEMA_VERSION", "SQLiteSink", "column_types", "connect", "date_trunc"]

import dataclasses
import json
import operator
import os
import random
import re
import sqlite3
import threading
import time
import types
import typing
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmfinops._internal import logger
from llmfinops.exceptions import ConfigurationError
from llmfinops.records import RECORD_FIELDS, CallRecord

SCHEMA_VERSION = 1
"""Version of the ``llm_call_log`` layout written to ``PRAGMA user_version``.

1: one column per record field, ``estimated_cost_usd`` and ``date`` generated columns, a
unique index on ``id`` and an index on ``timestamp``.
"""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SYNC = ("OFF", "NORMAL", "FULL", "EXTRA")
_GENERATED: tuple[tuple[str, str, str], ...] = (
    ("estimated_cost_usd", "REAL", "cost_usd"),
    ("date", "TEXT", "substr(timestamp, 1, 10)"),
)
_orphans: list[sqlite3.Connection] = []
"""Connections inherited through ``fork``: never used nor closed in the child (SQLite forbids it)."""


def _kind(tp: Any) -> str:
    """Map a record field's type hint to how it is stored."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else object
    origin = typing.get_origin(tp) or tp
    if origin is datetime:
        return "ts"
    if origin is Decimal:
        return "money"
    if origin is bool:
        return "bool"
    if origin is int:
        return "int"
    if origin is float:
        return "float"
    if origin is str:
        return "text"
    return "json"


_SQL_TYPE = {"ts": "TEXT", "money": "REAL", "bool": "INTEGER", "int": "INTEGER", "float": "REAL"}
_SQL_TYPE.update(text="TEXT", json="TEXT")
_HINTS = typing.get_type_hints(CallRecord)
_KINDS: dict[str, str] = {f: _kind(_HINTS[f]) for f in RECORD_FIELDS}


_MONEY = tuple(f for f in RECORD_FIELDS if _KINDS[f] == "money")
EXACT_SUFFIX = "_exact"
"""Money fields also get a ``<field>_exact`` TEXT column holding ``str(Decimal)``."""


def column_types() -> dict[str, str]:
    """The stored ``llm_call_log`` columns and their SQLite types, in order.

    One column per record field, then one ``<money field>_exact`` TEXT column per money
    field (the exact decimal; the REAL column is for SQL arithmetic). The generated
    columns ``estimated_cost_usd`` and ``date`` are not listed.

    Example:
        >>> t = column_types()
        >>> t["cost_usd"], t["cost_usd_exact"], t["tags"]
        ('REAL', 'TEXT', 'TEXT')
    """
    types = {f: _SQL_TYPE[_KINDS[f]] for f in RECORD_FIELDS}
    types.update({f + EXACT_SUFFIX: "TEXT" for f in _MONEY})
    return types


def _default_sql(name: str) -> str:
    """``DEFAULT`` clause for a column added to an existing table: the field's default value."""
    for f in dataclasses.fields(CallRecord):
        if f.name == name and f.default is not dataclasses.MISSING:
            v = f.default
            if isinstance(v, bool):
                return f" DEFAULT {int(v)}"
            if isinstance(v, int | float):
                return f" DEFAULT {v!r}"
            if isinstance(v, str):
                return " DEFAULT '" + v.replace("'", "''") + "'"
        if f.name == name and f.default_factory is not dataclasses.MISSING and _KINDS[name] == "json":
            return " DEFAULT '" + json.dumps(f.default_factory()).replace("'", "''") + "'"
    return ""


def _ts_text(dt: datetime) -> str:
    if dt.tzinfo is UTC:  # the common case, ~2x faster than the general one
        return dt.isoformat(timespec="microseconds")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    elif dt.utcoffset() != timedelta(0):
        dt = dt.astimezone(UTC)
    return dt.isoformat(timespec="microseconds")


def _row_builder() -> Callable[[CallRecord], list[Any]]:
    """Return a fast ``record -> row`` function (one ``attrgetter`` call, then a few fix-ups)."""
    getter = operator.attrgetter(*RECORD_FIELDS)
    ts_idx = [i for i, f in enumerate(RECORD_FIELDS) if _KINDS[f] == "ts"]
    money_idx = [i for i, f in enumerate(RECORD_FIELDS) if _KINDS[f] == "money"]
    json_idx = [i for i, f in enumerate(RECORD_FIELDS) if _KINDS[f] == "json"]
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
    enc_str = json.encoder.encode_basestring  # C-accelerated

    def dumps(v: Any) -> str:
        if not v:
            return "{}" if isinstance(v, dict) else encode(v)
        if isinstance(v, dict):  # tags: str -> str, by far the common case
            try:
                return "{" + ",".join([enc_str(k) + ":" + enc_str(x) for k, x in v.items()]) + "}"
            except TypeError:
                pass
        return encode(v)

    def build(rec: CallRecord) -> list[Any]:
        row = list(getter(rec))
        for i in ts_idx:
            v = row[i]
            if v is not None:
                row[i] = _ts_text(v)
        for i in json_idx:
            v = row[i]
            if v is not None:
                row[i] = dumps(v)
        for i in money_idx:
            v = row[i]
            if v is None:
                row.append(None)
            else:
                row[i] = float(v)
                row.append(str(v))
        return row

    return build


def _quote(name: str) -> str:
    return '"' + name + '"'


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class SQLiteSink:
    """Write records to a SQLite table (``llm_call_log`` by default).

    Args:
        path: Database file (parent directories are created).
        table: Table name (a plain SQL identifier).
        busy_timeout: Seconds to wait for another process's write lock before retrying.
        synchronous: ``PRAGMA synchronous``: ``NORMAL`` (default; with WAL, a committed
            batch survives a process crash, the last ones may be lost on power loss) or
            ``FULL`` (also survives power loss; slower).

    Raises:
        ConfigurationError: The table name is invalid or the file cannot be opened.

    Example:
        >>> import os, tempfile
        >>> from llmfinops.testing import make_record
        >>> sink = SQLiteSink(os.path.join(tempfile.mkdtemp(), "calls.db"))
        >>> sink.emit_batch([make_record(team="search"), make_record(team="ads")])
        >>> sink.connect().execute("SELECT COUNT(*) FROM llm_call_log").fetchone()
        (2,)
        >>> sink.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "llm_call_log",
        busy_timeout: float = 10.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if not _IDENT.match(table):
            raise ConfigurationError(
                f"SQLiteSink table={table!r} is not a plain SQL identifier; use letters, digits "
                "and underscores, e.g. 'llm_call_log'"
            )
        if synchronous.upper() not in _SYNC:
            raise ConfigurationError(f"SQLiteSink synchronous={synchronous!r} is not one of {_SYNC}")
        if busy_timeout < 0:
            raise ConfigurationError(f"SQLiteSink busy_timeout={busy_timeout!r} must be >= 0 seconds")
        self.path = Path(path)
        self.table = table
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous.upper()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._build = _row_builder()
        self._insert_sql = ""
        try:
            with self._lock:
                self._connection()
        except sqlite3.Error as exc:
            raise ConfigurationError(
                f"SQLiteSink path={str(self.path)!r}: cannot open the database ({type(exc).__name__}: "
                f"{exc}); check that the directory is writable and the file is a SQLite database"
            ) from exc

    # -- connection -----------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is not None and self._pid == os.getpid():
            return conn
        if conn is not None:  # inherited through fork: abandon it, never touch it here
            _orphans.append(conn)
            self._conn = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            _retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone(), self.busy_timeout)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            unique = _retry_busy(lambda: _migrate(conn, self.table), self.busy_timeout)
        except BaseException:
            conn.close()
            raise
        names = [*RECORD_FIELDS, *(f + EXACT_SUFFIX for f in _MONEY)]
        cols = ", ".join(_quote(f) for f in names)
        marks = ", ".join("?" for _ in names)
        conflict = ' ON CONFLICT("id") DO NOTHING' if unique else ""
        self._insert_sql = f"INSERT INTO {_quote(self.table)} ({cols}) VALUES ({marks}){conflict}"
        self._conn = conn
        self._pid = os.getpid()
        return conn

    def connect(self) -> sqlite3.Connection:
        """A new connection to this database for queries (see :func:`connect`).

        Example:
            >>> import os, tempfile
            >>> s = SQLiteSink(os.path.join(tempfile.mkdtemp(), "c.db"))
            >>> s.connect().execute("SELECT COUNT(*) FROM llm_call_log").fetchone()
            (0,)
        """
        return connect(self.path, busy_timeout=self.busy_timeout)

    # -- writing --------------------------------------------------------------------------------
    def emit(self, record: CallRecord) -> None:
        """Insert one record (its own transaction)."""
        self.emit_batch((record,))

    def emit_batch(self, records: Sequence[CallRecord]) -> None:
        """Insert several records in one transaction (all or nothing)."""
        build = self._build
        rows = [build(r) for r in records]
        if not rows:
            return
        with self._lock:
            conn = self._connection()
            _retry_busy(lambda: self._insert(conn, rows), self.busy_timeout)

    def _insert(self, conn: sqlite3.Connection, rows: list[list[Any]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(self._insert_sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connection (it is reopened if a record arrives later)."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()

    def __repr__(self) -> str:
        return f"SQLiteSink({str(self.path)!r}, table={self.table!r})"


def _retry_busy(fn: Callable[[], Any], budget: float) -> Any:
    """Run ``fn``, retrying ``SQLITE_BUSY`` with jittered backoff for up to ``budget`` more seconds.

    ``busy_timeout`` covers most lock waits; this covers the few paths where SQLite returns
    BUSY without calling the busy handler (a WAL recovery, a journal-mode change).
    """
    deadline = time.monotonic() + max(budget, 0.5)
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)


def _migrate(conn: sqlite3.Connection, table: str) -> bool:
    """Create or upgrade ``table``; return whether ``id`` is unique (upserts are possible)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        existing = {row[1] for row in conn.execute(f"PRAGMA table_xinfo({_quote(table)})")}
        types = column_types()
        if not existing:
            cols = [
                f"{_quote(f)} {t}{' NOT NULL' if f in ('id', 'timestamp') else ''}" for f, t in types.items()
            ]
            cols += [f"{_quote(n)} {t} GENERATED ALWAYS AS ({expr}) VIRTUAL" for n, t, expr in _GENERATED]
            conn.execute(f"CREATE TABLE {_quote(table)} (\n  " + ",\n  ".join(cols) + "\n)")
        else:
            for f, t in types.items():
                if f not in existing:
                    conn.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(f)} {t}{_default_sql(f)}")
            for n, t, expr in _GENERATED:
                if n not in existing:
                    conn.execute(
                        f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(n)} {t} "
                        f"GENERATED ALWAYS AS ({expr}) VIRTUAL"
                    )
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {_quote(table + '_timestamp')} ON {_quote(table)} (timestamp)"
        )
        unique = True
        try:
            conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {_quote(table + '_id')} ON {_quote(table)} (id)")
        except sqlite3.IntegrityError:
            unique = False
            logger.warning(
                "llmfinops: table %s has duplicate ids (written by an old version?); rows will be "
                "inserted without de-duplication",
                table,
            )
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return unique


# -- query helpers ----------------------------------------------------------------------------------
_TRUNC_UNITS = (
    "microseconds",
    "milliseconds",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "quarter",
    "year",
    "decade",
    "century",
    "millennium",
)


def date_trunc(unit: str | None, value: str | float | None) -> str | None:
    """PostgreSQL/BigQuery-style ``date_trunc(unit, value)`` for SQLite, in UTC.

    ``value`` is an ISO-8601 date or timestamp (any offset, converted to UTC) or Unix
    seconds; the result is ``'YYYY-MM-DD HH:MM:SS'``. Weeks start on Monday.

    Example:
        >>> date_trunc("month", "2026-11-22T18:30:00+00:00")
        '2026-11-01 00:00:00'
        >>> date_trunc("week", "2026-11-22")
        '2026-11-16 00:00:00'
    """
    if unit is None or value is None:
        return None
    u = unit.strip().lower()
    if u not in _TRUNC_UNITS and u.endswith("s") and u[:-1] in _TRUNC_UNITS:
        u = u[:-1]
    if u not in _TRUNC_UNITS:
        raise ValueError(f"date_trunc: unknown unit {unit!r}; use one of {', '.join(_TRUNC_UNITS)}")
    if isinstance(value, int | float):
        dt = datetime.fromtimestamp(value, UTC)
    else:
        dt = datetime.fromisoformat(str(value).strip())
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    dt = dt.replace(tzinfo=None)
    if u == "microseconds":
        pass
    elif u == "milliseconds":
        dt = dt.replace(microsecond=dt.microsecond // 1000 * 1000)
    else:
        dt = dt.replace(microsecond=0)
        if u != "second":
            dt = dt.replace(second=0)
            if u != "minute":
                dt = dt.replace(minute=0)
                if u != "hour":
                    dt = dt.replace(hour=0)
                    if u == "week":
                        dt -= timedelta(days=dt.weekday())
                    elif u != "day":
                        dt = dt.replace(day=1)
                        if u == "quarter":
                            dt = dt.replace(month=(dt.month - 1) // 3 * 3 + 1)
                        elif u == "decade":
                            dt = dt.replace(year=dt.year // 10 * 10, month=1)
                        elif u != "month":  # centuries and millennia start at year 1, 101, 1001...
                            span = 1 if u == "year" else 100 if u == "century" else 1000
                            dt = dt.replace(year=(dt.year - 1) // span * span + 1, month=1)
    return dt.isoformat(sep=" ")


class _DecimalSum:
    """``decimal_sum(x)``: an exact sum of REAL costs, returned as decimal text."""

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.n = 0

    def step(self, value: Any) -> None:
        if value is None:
            return
        self.total += Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
        self.n += 1

    def finalize(self) -> str | None:
        return format(self.total.normalize(), "f") if self.n else None


def connect(path: str | os.PathLike[str], *, busy_timeout: float = 10.0) -> sqlite3.Connection:
    """Open a SQLite database for queries, with two extra SQL functions.

    * ``date_trunc(unit, value)`` (PostgreSQL/BigQuery style, UTC), so queries such as
      ``WHERE date_trunc('month', timestamp) = date_trunc('month', current_date)`` run as is.
    * ``decimal_sum(x)``: an aggregate that sums costs exactly (each REAL is read back as
      the shortest decimal that round-trips) and returns decimal text: invoice-grade totals.

    Example:
        >>> import os, tempfile
        >>> db = connect(os.path.join(tempfile.mkdtemp(), "q.db"))
        >>> db.execute("SELECT date_trunc('month', '2026-05-17T09:00:00+00:00')").fetchone()
        ('2026-05-01 00:00:00',)
        >>> db.execute("SELECT decimal_sum(x) FROM (SELECT 0.1 AS x UNION ALL SELECT 0.2)").fetchone()
        ('0.3',)
    """
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.create_function("date_trunc", 2, date_trunc, deterministic=True)
    conn.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
    return conn
