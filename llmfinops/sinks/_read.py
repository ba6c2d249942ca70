"""Tolerant readers: get :class:`~llmfinops.CallRecord` objects back from JSONL and SQLite logs.

Logs outlive library versions and processes get killed, so the readers accept:

* a torn last JSONL line (a process killed mid-write): skipped silently;
* a torn line followed, on the same line, by the next process's complete record: the
  complete record is recovered;
* unknown fields (newer versions) and missing fields with defaults (older versions);
* NULL columns of an older SQLite schema (the field's default is used).

Any other unreadable line or row is skipped with one :class:`~llmfinops.exceptions.LLMFinOpsWarning`
per file (``on_error="warn"``, the default), skipped silently (``"skip"``) or raised
(``"raise"``). Money comes back as exact :class:`~decimal.Decimal`.

Example:
    >>> from llmfinops.sinks import read_records
    >>> for record in read_records("llmfinops_calls.jsonl"):  # doctest: +SKIP
    ...     print(record.model, record.cost_usd)
"""

from __future__ import annotations

__all__ = ["read_jsonl", "read_records", "read_sqlite"]

import json
import os
import sqlite3
import typing
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from llmfinops._internal import logger
from llmfinops.exceptions import ConfigurationError, LLMFinOpsWarning
from llmfinops.records import RECORD_FIELDS, CallRecord, record_from_dict

OnError = Literal["warn", "skip", "raise"]

_FLOAT_FIELDS: tuple[str, ...] = ()
_INT_FIELDS: tuple[str, ...] = ()


def _field_kinds() -> tuple[tuple[str, ...], tuple[str, ...]]:
    hints = typing.get_type_hints(CallRecord)
    floats, ints = [], []
    for f in RECORD_FIELDS:
        args = set(typing.get_args(hints[f])) or {hints[f]}
        args.discard(type(None))
        if args == {float}:
            floats.append(f)
        elif args == {int}:
            ints.append(f)
    return tuple(floats), tuple(ints)


_FLOAT_FIELDS, _INT_FIELDS = _field_kinds()
_RECOVER_MARK = b'{"id":'


def _check_on_error(on_error: str) -> None:
    if on_error not in ("warn", "skip", "raise"):
        raise ConfigurationError(f"on_error={on_error!r} is not one of 'warn', 'skip', 'raise'")


def _from_json_dict(data: Any) -> CallRecord:
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    for f in _FLOAT_FIELDS:  # parse_float=Decimal also caught non-money floats
        v = data.get(f)
        if isinstance(v, Decimal):
            data[f] = float(v)
    for f in _INT_FIELDS:
        v = data.get(f)
        if isinstance(v, Decimal) and v == v.to_integral_value():
            data[f] = int(v)
    return record_from_dict(data)


def _parse_line(line: bytes) -> CallRecord:
    return _from_json_dict(json.loads(line, parse_float=Decimal))


def read_jsonl(path: str | os.PathLike[str], *, on_error: OnError = "warn") -> Iterator[CallRecord]:
    """Yield the records of a JSONL log, in file order, skipping what cannot be read.

    Args:
        path: The file written by :class:`~llmfinops.sinks.JSONLSink`.
        on_error: What to do with an unreadable line other than a torn last line:
            ``warn`` (skip, one warning per file), ``skip`` or ``raise`` (``ValueError``
            naming the line number).

    Example:
        >>> import os, tempfile
        >>> from llmfinops.sinks import JSONLSink
        >>> from llmfinops.testing import make_record
        >>> p = os.path.join(tempfile.mkdtemp(), "calls.jsonl")
        >>> s = JSONLSink(p); s.emit(make_record(cost_usd="0.0125")); s.close()
        >>> with open(p, "a") as f: _ = f.write('{"id":"torn')
        >>> [r.cost_usd for r in read_jsonl(p)]
        [Decimal('0.0125')]
    """
    _check_on_error(on_error)
    bad = 0
    first_bad = 0
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            complete = line.endswith(b"\n")
            line = line.strip()
            if not line:
                continue
            rec: CallRecord | None
            try:
                rec = _parse_line(line)
            except Exception as exc:
                rec = _recover(line)
                if rec is None:
                    if not complete:  # torn tail of a killed writer: expected, not an error
                        return
                    if on_error == "raise":
                        raise ValueError(f"{os.fspath(path)}:{lineno}: unreadable record: {exc}") from exc
                    bad += 1
                    first_bad = first_bad or lineno
                    continue
            yield rec
    if bad and on_error == "warn":
        msg = (
            f"llmfinops: skipped {bad} unreadable line(s) in {os.fspath(path)} (first at line {first_bad}); "
            "pass on_error='raise' to see why"
        )
        logger.warning(msg)
        warnings.warn(msg, LLMFinOpsWarning, stacklevel=2)


def _recover(line: bytes) -> CallRecord | None:
    """A torn record with the next writer's complete record appended on the same line."""
    pos = line.rfind(_RECOVER_MARK)
    if pos <= 0:
        return None
    try:
        return _parse_line(line[pos:])
    except Exception:
        return None


def read_sqlite(
    path: str | os.PathLike[str],
    *,
    table: str = "llm_call_log",
    where: str | None = None,
    params: Sequence[Any] = (),
    on_error: OnError = "warn",
) -> Iterator[CallRecord]:
    """Yield the records stored by :class:`~llmfinops.sinks.sqlite.SQLiteSink`, oldest first.

    Args:
        path: The database file.
        table: The table name.
        where: An optional SQL condition, e.g. ``"team = ? AND timestamp >= ?"``.
        params: Parameters for ``where``.
        on_error: What to do with an unreadable row: ``warn`` (skip, one warning),
            ``skip`` or ``raise``.

    Raises:
        ConfigurationError: The file or table does not exist.

    Example:
        >>> import os, tempfile
        >>> from llmfinops.sinks.sqlite import SQLiteSink
        >>> from llmfinops.testing import make_record
        >>> p = os.path.join(tempfile.mkdtemp(), "calls.db")
        >>> s = SQLiteSink(p); s.emit(make_record(team="ads", cost_usd="0.0125")); s.close()
        >>> [(r.team, r.cost_usd) for r in read_sqlite(p, where="team = ?", params=["ads"])]
        [('ads', Decimal('0.0125'))]
    """
    _check_on_error(on_error)
    from .sqlite import _IDENT, _KINDS, _MONEY, EXACT_SUFFIX

    if not _IDENT.match(table):
        raise ConfigurationError(f"table={table!r} is not a plain SQL identifier")
    if not Path(path).exists():
        raise ConfigurationError(f"read_sqlite: {os.fspath(path)!r} does not exist")
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        present = {row[1] for row in conn.execute(f'PRAGMA table_xinfo("{table}")')}
        if not present:
            raise ConfigurationError(f"read_sqlite: {os.fspath(path)!r} has no table {table!r}")
        fields = [f for f in RECORD_FIELDS if f in present]
        exact = [f for f in _MONEY if f + EXACT_SUFFIX in present]
        cols = [*fields, *(f + EXACT_SUFFIX for f in exact)]
        sql = f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}"'
        if where:
            sql += f" WHERE {where}"
        sql += " ORDER BY timestamp, rowid"
        n = len(fields)
        bad = 0
        for row in conn.execute(sql, tuple(params)):
            try:
                data: dict[str, Any] = {}
                for name, v in zip(fields, row[:n], strict=True):
                    if v is None:
                        continue  # an older schema's NULL: the field default applies
                    kind = _KINDS[name]
                    if kind == "ts":
                        dt = datetime.fromisoformat(v)
                        v = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
                    elif kind == "money":
                        v = Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v))
                    elif kind == "bool":
                        v = bool(v)
                    elif kind == "json":
                        v = json.loads(v)
                    data[name] = v
                for name, v in zip(exact, row[n:], strict=True):
                    if v is not None:
                        data[name] = Decimal(v)
                rec = CallRecord(**data)
            except Exception as exc:
                if on_error == "raise":
                    raise ValueError(f"{os.fspath(path)}: unreadable row {row[:1]}: {exc}") from exc
                bad += 1
                continue
            yield rec
    finally:
        conn.close()
    if bad and on_error == "warn":
        msg = f"llmfinops: skipped {bad} unreadable row(s) in {os.fspath(path)}:{table}"
        logger.warning(msg)
        warnings.warn(msg, LLMFinOpsWarning, stacklevel=2)


def read_records(path: str | os.PathLike[str], *, on_error: OnError = "warn") -> Iterator[CallRecord]:
    """Read a JSONL or SQLite log, whichever ``path`` is (SQLite files are recognized by their header).

    Example:
        >>> import os, tempfile
        >>> from llmfinops.sinks.sqlite import SQLiteSink
        >>> from llmfinops.testing import make_record
        >>> p = os.path.join(tempfile.mkdtemp(), "calls.db")
        >>> s = SQLiteSink(p); s.emit(make_record()); s.close()
        >>> len(list(read_records(p)))
        1
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head == b"SQLite format 3\x00":
        return read_sqlite(path, on_error=on_error)
    return read_jsonl(path, on_error=on_error)
