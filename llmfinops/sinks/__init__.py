"""Where records go. Every sink receives finished :class:`~llmfinops.CallRecord` objects.

Built-ins: :class:`JSONLSink` (the default), :class:`StructlogSink`, :class:`CallableSink`
and :class:`MemorySink`. Any object with ``emit(record)``/``close()`` is a sink, and so
is a plain callable (wrapped in :class:`CallableSink`).

Example:
    >>> import llmfinops
    >>> from llmfinops.sinks import JSONLSink
    >>> llmfinops.configure(sinks=[JSONLSink("calls.jsonl")])  # doctest: +SKIP
"""

from __future__ import annotations

__all__ = [
    "BackgroundWriter",
    "CallableSink",
    "DropRecord",
    "JSONLSink",
    "MemorySink",
    "OTelSink",
    "PrometheusSink",
    "SQLiteSink",
    "StructlogSink",
    "as_sink",
    "read_jsonl",
    "read_records",
    "read_sqlite",
]

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmfinops.records import CallRecord
from llmfinops.typing import Sink

from ._writer import BackgroundWriter, DropRecord

if TYPE_CHECKING:
    from ._read import read_jsonl, read_records, read_sqlite
    from .otel import OTelSink
    from .prometheus import PrometheusSink
    from .sqlite import SQLiteSink

# Imported on first use: ``import llmfinops`` must not import sqlite3, OpenTelemetry or
# prometheus_client (the last two are optional extras).
_LAZY = {
    "SQLiteSink": ".sqlite",
    "OTelSink": ".otel",
    "PrometheusSink": ".prometheus",
    "read_jsonl": "._read",
    "read_records": "._read",
    "read_sqlite": "._read",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


class JSONLSink:
    r"""Append one JSON object per line to a file.

    Each batch is written with a single ``os.write`` on a file opened with ``O_APPEND``,
    so several processes can share one file without interleaving lines, and a killed
    process leaves at most an incomplete last line (which readers skip).

    Args:
        path: File to append to (parent directories are created).
        fsync: ``fsync`` after every batch (durable across power loss; slower).

    Example:
        >>> import tempfile, os
        >>> from llmfinops.testing import make_record
        >>> p = os.path.join(tempfile.mkdtemp(), "calls.jsonl")
        >>> s = JSONLSink(p); s.emit(make_record()); s.close()
        >>> from pathlib import Path
        >>> Path(p).read_text().count("\n")
        1
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._fd: int | None = None
        self._lock = threading.Lock()

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.write(fd, b"\n")  # a writer killed mid-line: never glue our first record to it
            self._fd = fd
        return self._fd

    def emit(self, record: CallRecord) -> None:
        """Append one record."""
        self.emit_batch((record,))

    def emit_batch(self, records: Sequence[CallRecord]) -> None:
        """Append several records with one write."""
        data = "".join([r.to_json() + "\n" for r in records]).encode("utf-8")
        with self._lock:
            fd = self._open()
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self.fsync:
                os.fsync(fd)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __repr__(self) -> str:
        return f"JSONLSink({str(self.path)!r})"


class StructlogSink:
    """Log each record as a structlog event (``llm.call`` by default) with every field.

    Rendering is left to your structlog configuration.

    Example:
        >>> sink = StructlogSink()
        >>> sink.close()
    """

    def __init__(self, logger: Any = None, *, event: str = "llm.call") -> None:
        import structlog

        self.logger = logger if logger is not None else structlog.get_logger("llmfinops")
        self.event = event

    def emit(self, record: CallRecord) -> None:
        """Log one record."""
        self.logger.info(self.event, **record.as_dict())

    def close(self) -> None:
        """Nothing to release."""


class CallableSink:
    """Adapt a plain ``callable(record)`` to the :class:`~llmfinops.typing.Sink` protocol.

    Example:
        >>> seen = []
        >>> CallableSink(seen.append).emit("r")  # doctest: +SKIP
    """

    def __init__(self, fn: Callable[[CallRecord], object]) -> None:
        self.fn = fn

    def emit(self, record: CallRecord) -> None:
        """Call the function."""
        self.fn(record)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"CallableSink({self.fn!r})"


class MemorySink:
    """Keep records in a list (tests, notebooks).

    Example:
        >>> from llmfinops.testing import make_record
        >>> s = MemorySink(); s.emit(make_record()); len(s.records)
        1
    """

    def __init__(self) -> None:
        self.records: list[CallRecord] = []
        self._lock = threading.Lock()

    def emit(self, record: CallRecord) -> None:
        """Store one record."""
        with self._lock:
            self.records.append(record)

    def emit_batch(self, records: Sequence[CallRecord]) -> None:
        """Store several records."""
        with self._lock:
            self.records.extend(records)

    def close(self) -> None:
        """Nothing to release."""


def as_sink(obj: Sink | Callable[[CallRecord], object]) -> Sink:
    """Return ``obj`` if it is a sink, else wrap a callable in :class:`CallableSink`.

    Example:
        >>> isinstance(as_sink(print), CallableSink)
        True
    """
    if isinstance(obj, Sink):
        return obj
    if callable(obj):
        return CallableSink(obj)
    raise TypeError(f"not a sink: {obj!r} (needs emit()/close() or to be callable)")
