"""The background writer: records leave the call path through a bounded queue.

The hot path does one ``deque.append`` (atomic under the GIL). A daemon thread drains
the queue every ``flush_interval`` seconds (or at once when asked), runs the processors,
and hands each batch to every sink, retrying transient sink errors with backoff. Records
are flushed at interpreter exit, on ``flush()`` and on ``close()``; after ``os.fork()``
the child starts its own thread on first use.
"""

from __future__ import annotations

__all__ = ["BackgroundWriter", "DropRecord", "flush_all"]

import atexit
import collections
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from .._internal import logger, warn_once
from ..exceptions import ConfigurationError, RecordsDroppedWarning, SinkFailedWarning

if TYPE_CHECKING:
    from ..records import CallRecord
    from ..typing import Processor, Sink

Overflow = Literal["drop_newest", "drop_oldest", "block"]


class DropRecord(BaseException):  # noqa: N818 - named like structlog's DropEvent
    """Raise from a processor to drop the record (it is a ``BaseException`` on purpose)."""


_writers: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class BackgroundWriter:
    """Batches records to sinks off the caller's thread.

    Args:
        sinks: Where records go.
        processors: Applied in order to each record on the writer thread.
        max_queue: Bound of the in-memory queue.
        flush_interval: Seconds between drains.
        overflow: What to do when the queue is full: ``drop_newest`` (default, counted),
            ``drop_oldest`` (counted), or ``block`` (wait for room; never use on a latency-critical path).
        retries: Attempts per batch and sink before the batch counts as dropped.

    Example:
        >>> from llmfinops.sinks import MemorySink
        >>> sink = MemorySink()
        >>> w = BackgroundWriter([sink])
        >>> w.close()
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        processors: Sequence[Processor] = (),
        *,
        max_queue: int = 100_000,
        flush_interval: float = 0.2,
        overflow: Overflow = "drop_newest",
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_queue <= 0:
            raise ConfigurationError(f"max_queue={max_queue} must be positive")
        if overflow not in ("drop_newest", "drop_oldest", "block"):
            raise ConfigurationError(
                f"overflow={overflow!r} is not one of 'drop_newest', 'drop_oldest', 'block'"
            )
        self.sinks = list(sinks)
        self.processors = list(processors)
        self.max_queue = max_queue
        self.flush_interval = flush_interval
        self.overflow = overflow
        self.retries = max(1, retries)
        self._sleep = sleep
        self._queue: collections.deque[CallRecord] = collections.deque()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False
        self.dropped_overflow = 0
        """Records dropped because the queue was full."""
        self.dropped_sink_errors = 0
        """Records a sink failed to write after all retries (counted per sink)."""
        self.dropped_by_processors = 0
        """Records dropped on purpose by a processor."""
        self.written = 0
        """Records handed to every sink successfully."""
        _writers.add(self)

    # -- hot path -------------------------------------------------------------------------------
    def submit(self, record: CallRecord) -> None:
        """Queue a record; never blocks unless ``overflow="block"``."""
        q = self._queue
        if len(q) >= self.max_queue:
            if self.overflow == "drop_newest":
                self._count_overflow()
                return
            if self.overflow == "drop_oldest":
                try:
                    q.popleft()
                except IndexError:
                    pass
                self._count_overflow()
            else:
                while len(q) >= self.max_queue and not self._closed:
                    self._wake.set()
                    time.sleep(0.001)
        q.append(record)
        if self._thread is None or self._pid != os.getpid():
            self._start()

    def _count_overflow(self) -> None:
        self.dropped_overflow += 1
        warn_once(
            RecordsDroppedWarning,
            f"overflow:{id(self)}",
            f"llmfinops: record queue full ({self.max_queue}); records are being dropped "
            "(see BackgroundWriter.dropped_overflow). Raise max_queue or use a faster sink.",
        )

    # -- thread ---------------------------------------------------------------------------------
    def _start(self) -> None:
        with self._drain_lock:
            if self._pid != os.getpid():  # forked child: the parent's thread does not exist here
                self._pid = os.getpid()
                self._thread = None
                self._drain_lock = threading.Lock()
            if self._thread is not None or self._closed:
                return
            t = threading.Thread(target=self._run, name="llmfinops-writer", daemon=True)
            self._thread = t
            t.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.drain()

    def drain(self) -> None:
        """Write everything queued so far (called by the thread, ``flush`` and ``close``)."""
        with self._drain_lock:
            q = self._queue
            while q:
                batch: list[CallRecord] = []
                try:
                    for _ in range(5000):
                        batch.append(q.popleft())
                except IndexError:
                    pass
                self._write(self._process(batch))

    def _process(self, batch: list[CallRecord]) -> list[CallRecord]:
        if not self.processors:
            return batch
        out = []
        for rec in batch:
            try:
                for proc in self.processors:
                    rec = proc(rec)
            except DropRecord:
                self.dropped_by_processors += 1
                continue
            except Exception as exc:
                logger.exception("llmfinops processor failed")
                warn_once(
                    SinkFailedWarning,
                    f"processor:{type(exc).__name__}",
                    f"llmfinops: a processor raised {type(exc).__name__}: {exc}; the record was dropped",
                )
                self.dropped_sink_errors += 1
                continue
            out.append(rec)
        return out

    def _write(self, batch: list[CallRecord]) -> None:
        if not batch:
            return
        ok = True
        for sink in self.sinks:
            delay = 0.05
            for attempt in range(self.retries):
                try:
                    emit_batch = getattr(sink, "emit_batch", None)
                    if emit_batch is not None:
                        emit_batch(batch)
                    else:
                        for rec in batch:
                            sink.emit(rec)
                    break
                except Exception as exc:
                    if attempt + 1 < self.retries:
                        self._sleep(delay)
                        delay *= 4
                        continue
                    ok = False
                    self.dropped_sink_errors += len(batch)
                    logger.exception("llmfinops sink %r failed", sink)
                    warn_once(
                        SinkFailedWarning,
                        f"sink:{type(sink).__name__}:{type(exc).__name__}",
                        f"llmfinops: sink {type(sink).__name__} failed {self.retries} times "
                        f"({type(exc).__name__}: {exc}); {len(batch)} record(s) dropped for it",
                    )
        if ok:
            self.written += len(batch)

    # -- lifecycle ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every queued record now, on the calling thread."""
        self.drain()

    def close(self) -> None:
        """Flush, close every sink and stop the thread. Idempotent."""
        if self._closed:
            return
        self.drain()
        self._closed = True
        self._wake.set()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                logger.exception("llmfinops sink %r failed to close", sink)
        t = self._thread
        if t is not None and t is not threading.current_thread() and self._pid == os.getpid():
            t.join(timeout=2)

    @property
    def pending(self) -> int:
        """Records queued but not yet written."""
        return len(self._queue)


def flush_all() -> None:
    """Flush every live writer (registered with ``atexit``)."""
    for w in list(_writers):
        try:
            w.flush()
        except Exception:
            logger.exception("llmfinops: flush at exit failed")


atexit.register(flush_all)
