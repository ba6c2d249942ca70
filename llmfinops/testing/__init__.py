"""Helpers for testing code that uses llmfinops — and for running SDKs offline.

* :func:`capture_records` collects the records of calls made inside a block.
* :class:`FakeClock` makes time explicit.
* :func:`make_record` builds a record with sensible defaults; :func:`write_records` writes
  records to a JSONL log (to try reports on).
* ``llmfinops.testing.openai`` (and ``.anthropic``, ``.google``) build realistic provider
  responses and ``httpx2.MockTransport`` handlers, so the real SDK clients run offline.

Example:
    >>> import llmfinops
    >>> from llmfinops.testing import capture_records
    >>> with capture_records() as records:
    ...     pass
    >>> records
    []
"""

from __future__ import annotations

__all__ = ["FakeClock", "capture_records", "make_record", "write_records"]

import contextlib
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmfinops._recorder import add_listener, remove_listener
from llmfinops.records import CallRecord


@contextlib.contextmanager
def capture_records() -> Iterator[list[CallRecord]]:
    """Collect, synchronously, every record finished inside the block (before processors/sinks).

    Example:
        >>> with capture_records() as recs:
        ...     pass
        >>> len(recs)
        0
    """
    records: list[CallRecord] = []
    add_listener(records.append)
    try:
        yield records
    finally:
        remove_listener(records.append)


class FakeClock:
    """A clock you move by hand (``advance``); ``now()`` is UTC.

    Example:
        >>> from datetime import datetime, UTC
        >>> c = FakeClock(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
        >>> c.advance(120); c.now().day
        1
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time (e.g. tzinfo=UTC)")
        self._mono = 1000.0

    def now(self) -> datetime:
        """Current fake time."""
        return self._now

    def monotonic(self) -> float:
        """Current fake monotonic seconds."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (monotonic time moves by the same amount)."""
        self._mono += (when - self._now).total_seconds()
        self._now = when


def make_record(**overrides: Any) -> CallRecord:
    """A plausible :class:`CallRecord` (OpenAI gpt-4o chat) with any field overridden.

    Costs may be given as strings or numbers; they become Decimals.

    Example:
        >>> make_record(team="search").team
        'search'
    """
    fields: dict[str, Any] = {
        "id": os.urandom(12).hex(),
        "timestamp": datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        "provider": "openai",
        "operation": "chat",
        "endpoint": "chat.completions",
        "model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06",
        "price_model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 200,
        "total_tokens": 1200,
        "cost_usd": Decimal("0.0045"),
        "input_cost_usd": Decimal("0.0025"),
        "cached_input_cost_usd": Decimal(0),
        "cache_write_cost_usd": Decimal(0),
        "output_cost_usd": Decimal("0.002"),
        "latency_ms": 420.0,
        "price_version": "2026-11-22",
    }
    fields.update(overrides)
    for k, v in list(fields.items()):
        if k.endswith("_usd") and v is not None and not isinstance(v, Decimal):
            fields[k] = Decimal(str(v))
    return CallRecord(**fields)


def write_records(records: Iterable[CallRecord], path: str | os.PathLike[str] | None = None) -> Path:
    """Append ``records`` to a JSONL log as the default sink would; return its path.

    ``path``: the log to append to (default: ``calls.jsonl`` in a fresh temporary directory).

    Example:
        >>> from llmfinops.reports import summarize
        >>> log = write_records(make_record(team=t) for t in ("search", "search", "ads"))
        >>> summarize(log, by="team").get(team="search").calls
        2
    """
    import tempfile

    from llmfinops.sinks import JSONLSink

    sink = JSONLSink(path if path is not None else Path(tempfile.mkdtemp(), "calls.jsonl"))
    try:
        sink.emit_batch(list(records))
    finally:
        sink.close()
    return sink.path
