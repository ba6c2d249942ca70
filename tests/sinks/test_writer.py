"""The background writer: batching, retries with backoff, overflow, processors, lifecycle."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from llmfinops.exceptions import ConfigurationError, RecordsDroppedWarning, SinkFailedWarning
from llmfinops.records import CallRecord
from llmfinops.sinks import MemorySink
from llmfinops.sinks._writer import BackgroundWriter, DropRecord, flush_all, is_transient

from .conftest import rec


def _wait_for(sink: MemorySink, n: int, timeout: float = 5.0) -> None:
    """Wait until the writer thread has handed ``sink`` at least ``n`` records (or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while len(sink.records) < n and time.monotonic() < deadline:
        time.sleep(0.005)


class FlakyBatchSink:
    """Fails the first ``failures`` batches with ``exc``, then stores batches."""

    def __init__(self, failures: int, exc: Exception) -> None:
        self.failures = failures
        self.exc = exc
        self.batches: list[list[str]] = []
        self.calls = 0

    def emit(self, record: CallRecord) -> None:
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[CallRecord]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        self.batches.append([r.id for r in records])

    def close(self) -> None:
        pass


class PoisonSink:
    """A batch sink that rejects any batch containing a record whose model is ``poison``."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def emit(self, record: CallRecord) -> None:
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[CallRecord]) -> None:
        if any(r.model == "poison" for r in records):
            raise TypeError("cannot encode")
        self.ids.extend(r.id for r in records)

    def close(self) -> None:
        pass


class SingleSink:
    """A sink with only ``emit``; fails on the records listed in ``fail``."""

    def __init__(self, fail: dict[str, Exception]) -> None:
        self.fail = fail
        self.ids: list[str] = []
        self.attempts: list[str] = []

    def emit(self, record: CallRecord) -> None:
        self.attempts.append(record.id)
        exc = self.fail.get(record.id)
        if exc is not None:
            raise exc
        self.ids.append(record.id)

    def close(self) -> None:
        pass


def _writer(sinks: list[object], **kw: object) -> tuple[BackgroundWriter, list[float]]:
    delays: list[float] = []
    w = BackgroundWriter(sinks, flush_interval=3600, sleep=delays.append, **kw)  # type: ignore[arg-type]
    return w, delays


class TestBatching:
    def test_flush_writes_in_order_in_batches(self) -> None:
        """Records reach the sink in submission order, cut into batch_size batches."""
        sink = FlakyBatchSink(0, OSError())
        w, _ = _writer([sink], batch_size=4)
        with w._drain_lock:  # past 4 queued records the thread wakes early; keep it out of the way
            for i in range(10):
                w.submit(rec(i))
        w.flush()
        assert sink.batches == [
            ["r0000000", "r0000001", "r0000002", "r0000003"],
            ["r0000004", "r0000005", "r0000006", "r0000007"],
            ["r0000008", "r0000009"],
        ]
        assert (w.written, w.pending) == (10, 0)
        w.close()

    def test_thread_drains_without_flush(self) -> None:
        """The background thread writes queued records every flush_interval."""
        sink = MemorySink()
        w = BackgroundWriter([sink], flush_interval=0.01)
        w.submit(rec(1))
        _wait_for(sink, 1)
        assert [r.id for r in sink.records] == ["r0000001"]
        w.close()

    def test_high_water_wakes_thread_early(self) -> None:
        """Past the high-water mark the thread drains at once, not after flush_interval."""
        sink = MemorySink()
        w = BackgroundWriter([sink], flush_interval=3600, batch_size=10)
        for i in range(25):
            w.submit(rec(i))
        _wait_for(sink, 10)
        assert len(sink.records) >= 10
        w.close()
        assert len(sink.records) == 25

    def test_wake_at_drains_before_flush_interval(self) -> None:
        """wake_at queued records wake the thread at once; fewer wait for flush_interval."""
        sink = MemorySink()
        w = BackgroundWriter([sink], flush_interval=3600, wake_at=8)
        for i in range(7):
            w.submit(rec(i))
        time.sleep(0.05)
        assert sink.records == [] and w.pending == 7  # below the mark: nothing wakes the thread
        w.submit(rec(7))
        w.submit(rec(8))  # the 9th finds 8 queued: the slow path wakes the thread
        _wait_for(sink, 9)
        assert [r.id for r in sink.records] == [f"r{i:07d}" for i in range(9)]
        assert (w.dropped_overflow, w.pending) == (0, 0)
        w.close()

    def test_wake_at_default_keeps_queue_short(self) -> None:
        """By default a busy caller never has more than a few dozen records queued for long."""
        sink = MemorySink()
        w = BackgroundWriter([sink], flush_interval=3600)
        assert w.wake_at == 64
        for i in range(200):
            w.submit(rec(i))
        _wait_for(sink, 65)
        assert len(sink.records) >= 65
        w.close()
        assert len(sink.records) == 200 and w.dropped_overflow == 0

    def test_wake_at_above_queue_bound_still_applies_overflow(self) -> None:
        """A wake_at larger than the queue acts as the high-water mark; the overflow policy holds."""
        sink = MemorySink()
        w = BackgroundWriter([sink], flush_interval=3600, max_queue=4, wake_at=1000)
        w._thread = threading.current_thread()  # no thread: the queue only fills
        with pytest.warns(RecordsDroppedWarning, match="max_queue=4"):
            for i in range(6):
                w.submit(rec(i))
        assert (w.pending, w.dropped_overflow) == (4, 2)
        w._thread = None
        w.close()
        assert [r.id for r in sink.records] == [f"r{i:07d}" for i in range(4)]

    @pytest.mark.parametrize("bad", [0, -1, 1.5, "64", True])
    def test_wake_at_invalid(self, bad: object) -> None:
        with pytest.raises(ConfigurationError, match="wake_at="):
            BackgroundWriter([MemorySink()], wake_at=bad)  # type: ignore[arg-type]

    def test_stats(self) -> None:
        """stats() reports every counter."""
        w, _ = _writer([MemorySink()])
        w.submit(rec(1))
        w.flush()
        assert w.stats() == {
            "pending": 0,
            "written": 1,
            "retried": 0,
            "dropped_overflow": 0,
            "dropped_sink_errors": 0,
            "dropped_by_processors": 0,
        }
        w.close()


class TestRetries:
    def test_transient_error_retried_with_backoff(self) -> None:
        """A transient error is retried after 0.05 s then 0.2 s, and the batch is written once."""
        sink = FlakyBatchSink(2, ConnectionResetError("reset"))
        w, delays = _writer([sink])
        w.submit(rec(1))
        w.flush()
        assert delays == [0.05, 0.2]
        assert sink.batches == [["r0000001"]]
        assert (w.written, w.retried, w.dropped_sink_errors) == (1, 2, 0)
        w.close()

    def test_exhausted_retries_count_as_dropped(self) -> None:
        """After `retries` attempts the batch is dropped, counted and warned about once."""
        sink = FlakyBatchSink(100, OSError("disk full"))
        w, delays = _writer([sink], retries=4)
        for i in range(3):
            w.submit(rec(i))
        with pytest.warns(
            SinkFailedWarning, match=r"FlakyBatchSink failed after retries \(OSError: disk full\); 3"
        ):
            w.flush()
        assert delays == [0.05, 0.2, 0.8]
        assert (w.written, w.dropped_sink_errors, sink.calls) == (0, 3, 4)
        w.close()

    def test_backoff_is_capped(self) -> None:
        """Backoff grows x4 per attempt up to max_backoff."""
        sink = FlakyBatchSink(100, TimeoutError())
        w, delays = _writer([sink], retries=6, backoff=0.1, max_backoff=1.0)
        w.submit(rec(1))
        with pytest.warns(SinkFailedWarning):
            w.flush()
        assert delays == [0.1, 0.4, 1.0, 1.0, 1.0]
        w.close()

    def test_permanent_error_isolates_bad_record(self) -> None:
        """A programming error is not retried; the batch is re-sent record by record."""
        sink = PoisonSink()
        w, delays = _writer([sink])
        w.submit(rec(1))
        w.submit(rec(2, model="poison"))
        w.submit(rec(3))
        with pytest.warns(SinkFailedWarning, match="permanent error"):
            w.flush()
        assert delays == []
        assert sink.ids == ["r0000001", "r0000003"]
        assert (w.written, w.dropped_sink_errors) == (2, 1)
        w.close()

    def test_emit_only_sink_resumes_after_bad_record(self) -> None:
        """A sink without emit_batch skips a bad record and never re-sends the good ones."""
        sink = SingleSink({"r0000002": ValueError("bad")})
        w, _ = _writer([sink])
        for i in range(1, 5):
            w.submit(rec(i))
        with pytest.warns(SinkFailedWarning):
            w.flush()
        assert sink.ids == ["r0000001", "r0000003", "r0000004"]
        assert sink.attempts == ["r0000001", "r0000002", "r0000003", "r0000004"]
        assert w.dropped_sink_errors == 1
        w.close()

    def test_emit_only_sink_down_drops_rest_without_retrying_each(self) -> None:
        """When an emit-only sink is down, the rest of the batch is dropped after one retry cycle."""
        sink = SingleSink({"r0000002": OSError("down"), "r0000003": OSError("down")})
        w, delays = _writer([sink])
        for i in range(1, 5):
            w.submit(rec(i))
        with pytest.warns(SinkFailedWarning):
            w.flush()
        assert delays == [0.05, 0.2]
        assert sink.ids == ["r0000001"]
        assert w.dropped_sink_errors == 3
        w.close()

    def test_one_failing_sink_does_not_stop_others(self) -> None:
        """Other sinks still receive the batch; written counts records every sink accepted."""
        good = MemorySink()
        w, _ = _writer([FlakyBatchSink(100, OSError()), good])
        w.submit(rec(1))
        with pytest.warns(SinkFailedWarning):
            w.flush()
        assert [r.id for r in good.records] == ["r0000001"]
        assert (w.written, w.dropped_sink_errors) == (0, 1)
        w.close()

    def test_is_transient_classification(self) -> None:
        """OS and lock errors are transient; programming and SQLite integrity errors are not."""
        import sqlite3

        assert [
            is_transient(e)
            for e in (
                OSError(),
                TimeoutError(),
                RuntimeError(),
                sqlite3.OperationalError("database is locked"),
                TypeError(),
                ValueError(),
                KeyError(),
                sqlite3.IntegrityError(),
                sqlite3.ProgrammingError(),
            )
        ] == [True, True, True, True, False, False, False, False, False]


class TestOverflow:
    def test_drop_newest(self) -> None:
        """A full queue drops the new record and counts it."""
        sink = MemorySink()
        w, _ = _writer([sink], max_queue=4)
        records = [rec(i) for i in range(7)]
        with w._drain_lock, pytest.warns(RecordsDroppedWarning, match="max_queue=4"):
            list(map(w.submit, records))
        assert w.dropped_overflow == 3
        w.flush()
        assert [r.id for r in sink.records] == ["r0000000", "r0000001", "r0000002", "r0000003"]
        w.close()

    def test_drop_oldest(self) -> None:
        """drop_oldest keeps the newest records."""
        sink = MemorySink()
        w, _ = _writer([sink], max_queue=4, overflow="drop_oldest")
        records = [rec(i) for i in range(7)]
        with w._drain_lock, pytest.warns(RecordsDroppedWarning):
            list(map(w.submit, records))
        assert w.dropped_overflow == 3
        w.flush()
        assert [r.id for r in sink.records] == ["r0000003", "r0000004", "r0000005", "r0000006"]
        w.close()

    def test_block_gives_up_after_timeout(self) -> None:
        """block waits for room at most block_timeout seconds, then drops and counts."""
        w, _ = _writer([MemorySink()], max_queue=2, overflow="block", block_timeout=0.05)
        with w._drain_lock:
            w.submit(rec(1))
            w.submit(rec(2))
            start = time.monotonic()
            with pytest.warns(RecordsDroppedWarning):
                w.submit(rec(3))
            waited = time.monotonic() - start
        assert waited >= 0.05
        assert (w.dropped_overflow, w.pending) == (1, 2)
        w.close()

    def test_block_waits_for_room(self) -> None:
        """block returns as soon as the writer made room; nothing is dropped."""
        sink = MemorySink()
        w = BackgroundWriter([sink], max_queue=2, overflow="block", flush_interval=3600)
        for i in range(50):
            w.submit(rec(i))
        w.close()
        assert (w.dropped_overflow, len(sink.records)) == (0, 50)

    def test_submit_does_not_wait_for_a_slow_sink(self) -> None:
        """A sink blocked on I/O never delays submit()."""
        release = threading.Event()

        class Stuck:
            def emit(self, record: CallRecord) -> None:
                release.wait(10)

            def close(self) -> None:
                pass

        w = BackgroundWriter([Stuck()], flush_interval=0.001)
        w.submit(rec(0))
        time.sleep(0.02)  # the thread is now inside emit()
        start = time.perf_counter()
        for i in range(1000):
            w.submit(rec(i))
        elapsed = time.perf_counter() - start
        release.set()
        w.close()
        assert w.dropped_overflow == 0
        assert elapsed < 1.0  # 1000 appends; generous bound, only to catch blocking


class TestProcessors:
    def test_drop_record_counted(self) -> None:
        """A processor raising DropRecord drops the record; the counter says so."""

        def drop_odd(r: CallRecord) -> CallRecord:
            if int(r.id[1:]) % 2:
                raise DropRecord
            return r

        sink = MemorySink()
        w = BackgroundWriter([sink], [drop_odd], flush_interval=3600)
        for i in range(5):
            w.submit(rec(i))
        w.flush()
        assert [r.id for r in sink.records] == ["r0000000", "r0000002", "r0000004"]
        assert (w.written, w.dropped_by_processors) == (3, 2)
        w.close()

    def test_failing_processor_drops_record_and_warns(self) -> None:
        """A processor bug drops that record only and warns once."""

        def boom(r: CallRecord) -> CallRecord:
            if r.id == "r0000001":
                raise KeyError("x")
            return r

        sink = MemorySink()
        w = BackgroundWriter([sink], [boom], flush_interval=3600)
        w.submit(rec(0))
        w.submit(rec(1))
        with pytest.warns(SinkFailedWarning, match="a processor raised KeyError"):
            w.flush()
        assert [r.id for r in sink.records] == ["r0000000"]
        assert w.dropped_sink_errors == 1
        w.close()


class TestLifecycle:
    def test_close_flushes_closes_sinks_and_is_idempotent(self) -> None:
        """close() writes what is queued, closes each sink once and stops the thread."""
        closed: list[int] = []

        class Sink(MemorySink):
            def close(self) -> None:
                closed.append(1)

        sink = Sink()
        w = BackgroundWriter([sink], flush_interval=3600)
        w.submit(rec(1))
        thread = w._thread
        w.close()
        w.close()
        assert [r.id for r in sink.records] == ["r0000001"]
        assert closed == [1]
        assert thread is not None
        assert not thread.is_alive()

    def test_record_after_close_is_still_written(self) -> None:
        """A call in flight during reconfiguration still gets its record written."""
        sink = MemorySink()
        w = BackgroundWriter([sink], flush_interval=3600)
        w.close()
        w.submit(rec(9))
        assert [r.id for r in sink.records] == ["r0000009"]
        assert w.pending == 0

    def test_flush_all_flushes_every_writer(self) -> None:
        """flush_all() (the exit hook) drains every live writer."""
        a, b = MemorySink(), MemorySink()
        wa = BackgroundWriter([a], flush_interval=3600)
        wb = BackgroundWriter([b], flush_interval=3600)
        wa.submit(rec(1))
        wb.submit(rec(2))
        flush_all()
        assert ([r.id for r in a.records], [r.id for r in b.records]) == (["r0000001"], ["r0000002"])
        wa.close()
        wb.close()

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_queue": 0}, "max_queue=0 must be a positive integer"),
            ({"flush_interval": 0}, "flush_interval=0 must be > 0 seconds"),
            ({"overflow": "spill"}, "overflow='spill' is not one of"),
            ({"retries": 0}, "retries=0 must be an integer >= 1"),
            ({"batch_size": -1}, "batch_size=-1 must be a positive integer"),
            ({"backoff": -1.0}, "backoff=-1.0"),
        ],
    )
    def test_invalid_configuration(self, kwargs: dict[str, object], message: str) -> None:
        """Bad settings raise ConfigurationError naming the value and the fix."""
        with pytest.raises(ConfigurationError, match=message):
            BackgroundWriter([], **kwargs)  # type: ignore[arg-type]
