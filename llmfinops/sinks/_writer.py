"""The background writer: records leave the call path through a bounded queue.

The hot path (:meth:`BackgroundWriter.submit`) is one length check and one
``deque.append`` (atomic under the GIL). A daemon thread drains the queue every
``flush_interval`` seconds, or at once when the queue passes a high-water mark, runs the
processors and hands each batch to every sink:

* **Retries.** A transient sink error (``OSError``, a locked database, a network error...)
  is retried with exponential backoff (``backoff``, x4 per attempt, capped at
  ``max_backoff``); after ``retries`` attempts the batch counts as dropped for that sink.
  A programming error (``TypeError``, ``ValueError``...) is not retried: the batch is
  re-sent one record at a time so that one bad record cannot take its neighbours down.
* **Overflow.** When ``max_queue`` records are waiting, ``drop_newest`` (default) or
  ``drop_oldest`` drop and count (``dropped_overflow``); ``block`` waits for room, at most
  ``block_timeout`` seconds, then drops and counts.
* **Exit, close, fork.** Queued records are flushed at interpreter exit (before other
  ``atexit`` handlers, so an OpenTelemetry provider is still alive), on ``flush()`` and on
  ``close()``. Around ``os.fork()`` the writer holds its lock so a child never inherits a
  half-written batch; the child starts with an empty queue (the parent writes what was
  queued) and its own thread on first use.

Example:
    >>> from llmfinops.sinks import MemorySink
    >>> from llmfinops.testing import make_record
    >>> sink = MemorySink()
    >>> w = BackgroundWriter([sink], flush_interval=60)
    >>> w.submit(make_record())
    >>> w.flush(); len(sink.records), w.written
    (1, 1)
    >>> w.close()
"""

from __future__ import annotations

__all__ = ["BackgroundWriter", "DropRecord", "Overflow", "PendingRecord", "flush_all", "is_transient"]

import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from llmfinops._internal import logger, warn_once
from llmfinops.exceptions import ConfigurationError, RecordsDroppedWarning, SinkFailedWarning
from llmfinops.records import CallRecord

# Defined in _failures / _lifecycle and re-exported; the writer reads them as globals of this module.
# _writers is the shared registry itself; importing _lifecycle installs the exit and fork hooks.
from llmfinops.sinks._failures import DropRecord as DropRecord
from llmfinops.sinks._failures import is_transient as is_transient
from llmfinops.sinks._lifecycle import _register_thread_exit_flush as _register_thread_exit_flush
from llmfinops.sinks._lifecycle import _writers as _writers
from llmfinops.sinks._lifecycle import flush_all as flush_all

if TYPE_CHECKING:
    from llmfinops.typing import Processor, Sink

Overflow = Literal["drop_newest", "drop_oldest", "block"]


class PendingRecord(Protocol):
    """A record not built yet: the writer thread builds it (``materialize``) before the sinks see it.

    A finished call whose record nobody needs synchronously is queued this way, so that
    pricing and record construction run in batches on the writer thread, off the call path.
    ``materialize`` returns ``None`` when the record cannot be built (it reports why itself).
    """

    def materialize(self) -> CallRecord | None:
        """Build the record."""
        ...


def _materialize(items: list[CallRecord | PendingRecord]) -> list[CallRecord]:
    """Build the pending records of a batch (in place of the pending entries)."""
    out: list[CallRecord] = []
    for item in items:
        if item.__class__ is CallRecord or isinstance(item, CallRecord):
            out.append(item)
        else:
            try:
                rec = item.materialize()
            except Exception:  # e.g. a warning turned into an error by the app's filters
                logger.exception("llmfinops writer: a record could not be built")
                continue
            if rec is not None:
                out.append(rec)
    return out


class BackgroundWriter:
    """Batches records to sinks off the caller's thread.

    Args:
        sinks: Where records go.
        processors: Applied in order to each record on the writer thread; a processor may
            raise :class:`DropRecord`.
        max_queue: Bound of the in-memory queue.
        flush_interval: Longest wait, in seconds, between drains (a record reaches the sinks
            within about this long).
        wake_at: Drain as soon as this many records are queued, without waiting for
            ``flush_interval``. Queued call states and their records then live for a few dozen
            calls, not a fraction of a second: they die before CPython's garbage collector
            promotes them, so a busy process does not pay for full collections (measured in
            ``docs/performance.md``). Above half of ``max_queue`` (or ``batch_size``), that
            bound applies instead.
        overflow: What to do when the queue is full: ``drop_newest`` (default, counted),
            ``drop_oldest`` (counted), or ``block`` (wait for room up to ``block_timeout``
            seconds; never use it on a latency-critical path).
        retries: Attempts per batch and sink for transient errors before the batch counts
            as dropped.
        sleep: Called with the backoff delay between attempts (tests inject a fake).
        batch_size: Most records handed to a sink at once.
        backoff: First backoff delay in seconds (then x4 per attempt).
        max_backoff: Longest backoff delay in seconds.
        block_timeout: Longest wait of ``overflow="block"`` before the record is dropped.

    Raises:
        ConfigurationError: On an invalid value (the message names it and the fix).

    Example:
        >>> from llmfinops.sinks import MemorySink
        >>> w = BackgroundWriter([MemorySink()], max_queue=10_000, overflow="drop_oldest")
        >>> w.close()
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        processors: Sequence[Processor] = (),
        *,
        max_queue: int = 100_000,
        flush_interval: float = 0.2,
        wake_at: int = 64,
        overflow: Overflow = "drop_newest",
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        batch_size: int = 5000,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        block_timeout: float = 5.0,
    ) -> None:
        if not isinstance(max_queue, int) or max_queue <= 0:
            raise ConfigurationError(f"max_queue={max_queue!r} must be a positive integer, e.g. 100_000")
        if not flush_interval > 0:
            raise ConfigurationError(f"flush_interval={flush_interval!r} must be > 0 seconds, e.g. 0.2")
        if not isinstance(wake_at, int) or isinstance(wake_at, bool) or wake_at <= 0:
            raise ConfigurationError(f"wake_at={wake_at!r} must be a positive integer, e.g. 64")
        if overflow not in ("drop_newest", "drop_oldest", "block"):
            raise ConfigurationError(
                f"overflow={overflow!r} is not one of 'drop_newest', 'drop_oldest', 'block'"
            )
        if not isinstance(retries, int) or retries < 1:
            raise ConfigurationError(f"retries={retries!r} must be an integer >= 1 (1 means no retry)")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigurationError(f"batch_size={batch_size!r} must be a positive integer, e.g. 5000")
        if backoff < 0 or max_backoff < 0 or block_timeout < 0:
            raise ConfigurationError(
                f"backoff={backoff!r}, max_backoff={max_backoff!r} and block_timeout={block_timeout!r} "
                "must be >= 0 seconds"
            )
        self.sinks = list(sinks)
        self.processors = list(processors)
        self.max_queue = max_queue
        self.flush_interval = flush_interval
        self.overflow: Overflow = overflow
        self.retries = retries
        self.batch_size = batch_size
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.block_timeout = block_timeout
        self._sleep = sleep
        # From _wake_at queued records on, submit() takes the slow path: it wakes the thread
        # (once per drain); past _high_water it also applies the overflow policy at max_queue.
        self._high_water = max(1, min(batch_size, max_queue // 2))
        self._wake_at = min(wake_at, self._high_water)
        self.wake_at = wake_at
        self._queue: collections.deque[CallRecord | PendingRecord] = collections.deque()
        self._wake = threading.Event()
        self._drain_lock = threading.RLock()
        self._count_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_ident: int | None = None
        self._closed = False
        self.dropped_overflow = 0
        """Records dropped because the queue was full."""
        self.dropped_sink_errors = 0
        """Records a sink failed to write after all retries (counted per sink) or a processor failed on."""
        self.dropped_by_processors = 0
        """Records dropped on purpose by a processor (:class:`DropRecord`)."""
        self.written = 0
        """Records handed to every sink successfully."""
        self.retried = 0
        """Sink attempts beyond the first (transient errors that were retried)."""
        _writers.add(self)

    # -- hot path -------------------------------------------------------------------------------
    def submit(self, record: CallRecord | PendingRecord) -> None:
        """Queue a record; never blocks unless ``overflow="block"`` and the queue is full.

        Example:
            >>> from llmfinops.sinks import MemorySink
            >>> from llmfinops.testing import make_record
            >>> w = BackgroundWriter([MemorySink()]); w.submit(make_record()); w.close()
        """
        q = self._queue
        if len(q) >= self._wake_at:
            self._crowded(record)
            return
        q.append(record)
        if self._thread is None:
            self._start()

    def _crowded(self, record: CallRecord | PendingRecord) -> None:
        """Slow path of :meth:`submit`: ``wake_at`` records are queued (wake the thread), or more."""
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        q = self._queue
        if len(q) < self._high_water:
            q.append(record)
            if self._closed:
                self._write_late()
            return
        if len(q) >= self.max_queue:
            if self.overflow == "drop_newest":
                self._count_overflow()
                return
            if self.overflow == "drop_oldest":
                try:
                    q.popleft()
                except IndexError:
                    pass
                else:
                    self._count_overflow()
            elif threading.get_ident() == self._thread_ident:
                # A sink that makes a metered call would wait for itself.
                self._count_overflow()
                return
            else:
                deadline = time.monotonic() + self.block_timeout
                while len(q) >= self.max_queue and not self._closed:
                    if time.monotonic() >= deadline:
                        self._count_overflow()
                        return
                    self._wake.set()
                    time.sleep(0.0005)
        q.append(record)
        if self._closed:
            self._write_late()

    def _count_overflow(self) -> None:
        with self._count_lock:
            self.dropped_overflow += 1
        warn_once(
            RecordsDroppedWarning,
            f"overflow:{id(self)}",
            f"llmfinops: record queue full (max_queue={self.max_queue}, overflow={self.overflow!r}); "
            "records are being dropped (see BackgroundWriter.dropped_overflow). Raise max_queue, "
            "lower flush_interval or use a faster sink.",
        )

    # -- thread ---------------------------------------------------------------------------------
    def _start(self) -> None:
        if self._closed:
            self._write_late()
            return
        with self._start_lock:
            if self._thread is not None or self._closed:
                return
            t = threading.Thread(target=self._run, name="llmfinops-writer", daemon=True)
            self._thread = t
            t.start()
            self._thread_ident = t.ident
        _register_thread_exit_flush()

    def _run(self) -> None:
        wake = self._wake
        while not self._closed:
            wake.wait(self.flush_interval)
            wake.clear()
            try:
                self.drain()
            except Exception:  # never let the thread die: records would pile up unseen
                logger.exception("llmfinops writer: drain failed")

    def _write_late(self) -> None:
        """A record arrived after ``close()``: write it on the caller's thread rather than lose it."""
        try:
            with self._drain_lock:
                if not self._queue:
                    return
                self.drain()
                self._close_sinks()
        except Exception:
            logger.exception("llmfinops writer: writing a record submitted after close() failed")

    def drain(self) -> None:
        """Write everything queued so far (called by the thread, ``flush`` and ``close``).

        Example:
            >>> from llmfinops.sinks import MemorySink
            >>> w = BackgroundWriter([MemorySink()]); w.drain(); w.close()
        """
        with self._drain_lock:
            q = self._queue
            size = self.batch_size
            while q:
                items: list[CallRecord | PendingRecord] = []
                append = items.append
                popleft = q.popleft
                try:
                    for _ in range(min(len(q), size)):
                        append(popleft())
                except IndexError:  # drop_oldest popped concurrently
                    pass
                self._write(self._process(_materialize(items)))

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
        worst = 0
        for sink in self.sinks:
            dropped = self._send(sink, batch)
            if dropped:
                self.dropped_sink_errors += dropped
                worst = max(worst, dropped)
        self.written += len(batch) - worst

    def _attempt(self, fn: Callable[[Any], object], arg: Any) -> Exception | None:
        """Call ``fn(arg)``, retrying transient errors with backoff; return the last error or None."""
        delay = self.backoff
        for attempt in range(self.retries):
            try:
                fn(arg)
            except Exception as exc:
                if attempt + 1 >= self.retries or not is_transient(exc):
                    return exc
                self.retried += 1
                self._sleep(delay)
                delay = min(delay * 4, self.max_backoff)
            else:
                return None
        return None  # pragma: no cover - the loop always returns

    def _send(self, sink: Sink, batch: list[CallRecord]) -> int:
        """Hand ``batch`` to one sink; return how many records it failed to write."""
        emit_batch: Callable[[Sequence[CallRecord]], None] | None = getattr(sink, "emit_batch", None)
        if emit_batch is not None:
            exc = self._attempt(emit_batch, batch)
            if exc is None:
                return 0
            if is_transient(exc) or len(batch) == 1:
                self._report(sink, exc, len(batch))
                return len(batch)
            # A permanent error: find the bad record(s) rather than drop the whole batch.
            dropped = 0
            for rec in batch:
                try:
                    emit_batch((rec,))
                except Exception as e:
                    dropped += 1
                    exc = e
            if dropped:
                self._report(sink, exc, dropped)
            return dropped
        dropped = 0
        last: Exception | None = None
        for i, rec in enumerate(batch):
            exc = self._attempt(sink.emit, rec)
            if exc is None:
                continue
            last = exc
            if is_transient(exc):  # the sink is down: do not retry every remaining record
                dropped += len(batch) - i
                break
            dropped += 1
        if last is not None:
            self._report(sink, last, dropped)
        return dropped

    def _report(self, sink: Sink, exc: Exception, n: int) -> None:
        logger.error(
            "llmfinops sink %r failed (%s: %s); %d record(s) dropped for it",
            sink,
            type(exc).__name__,
            exc,
            n,
            exc_info=exc,
        )
        kind = "after retries" if is_transient(exc) else "with a permanent error"
        warn_once(
            SinkFailedWarning,
            f"sink:{type(sink).__name__}:{type(exc).__name__}",
            f"llmfinops: sink {type(sink).__name__} failed {kind} ({type(exc).__name__}: {exc}); "
            f"{n} record(s) dropped for it (see BackgroundWriter.dropped_sink_errors)",
        )

    # -- lifecycle ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every queued record now, on the calling thread.

        Example:
            >>> from llmfinops.sinks import MemorySink
            >>> w = BackgroundWriter([MemorySink()]); w.flush(); w.close()
        """
        self.drain()

    def close(self) -> None:
        """Flush, close every sink and stop the thread. Idempotent.

        A record submitted after ``close()`` (a call that was in flight during
        ``configure()``) is still written, on the submitting thread.

        Example:
            >>> from llmfinops.sinks import MemorySink
            >>> w = BackgroundWriter([MemorySink()]); w.close(); w.close()
        """
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)
        with self._drain_lock:
            self.drain()
            self._close_sinks()
            self._thread = None
        if self._queue:  # submitted while we were closing
            self._write_late()

    def _close_sinks(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                logger.exception("llmfinops sink %r failed to close", sink)

    @property
    def pending(self) -> int:
        """Records queued but not yet written."""
        return len(self._queue)

    def stats(self) -> dict[str, int]:
        """The counters, for a health endpoint or a log line.

        Example:
            >>> from llmfinops.sinks import MemorySink
            >>> w = BackgroundWriter([MemorySink()]); w.stats()["written"]
            0
            >>> w.close()
        """
        return {
            "pending": self.pending,
            "written": self.written,
            "retried": self.retried,
            "dropped_overflow": self.dropped_overflow,
            "dropped_sink_errors": self.dropped_sink_errors,
            "dropped_by_processors": self.dropped_by_processors,
        }

    # -- fork -----------------------------------------------------------------------------------
    def _before_fork(self) -> bool:
        # Hold the lock so that no batch is half-written (and no sink lock held) at fork time.
        return self._drain_lock.acquire(timeout=2.0)

    def _after_fork_child(self) -> None:
        self._queue.clear()  # the parent writes what it had queued
        self._drain_lock = threading.RLock()
        self._count_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._thread_ident = None
