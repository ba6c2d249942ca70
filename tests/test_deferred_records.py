"""Records built on the writer thread: what the caller queues, what the sinks get, when it stays synchronous."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest

import llmfinops
from llmfinops._config import get_config
from llmfinops._recorder import CallState
from llmfinops.exceptions import InternalErrorWarning
from llmfinops.records import CallRecord
from llmfinops.sinks import MemorySink
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.openai import OpenAIMock, openai_client

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
def setup() -> tuple[MemorySink, FakeClock, Any]:
    sink, clock = MemorySink(), FakeClock()
    # a long flush interval: the test decides when the writer drains
    llmfinops.configure(sinks=[sink], clock=clock, flush_interval=60, service="svc-a")
    client = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=1000, completion_tokens=100)))
    return sink, clock, client


def queued() -> list[object]:
    return list(get_config().writer()._queue)


class TestDeferred:
    def test_caller_queues_the_call_and_the_writer_builds_its_record(self, setup: Any) -> None:
        """The caller queues the call state; after flush the sink has the full, priced record."""
        sink, _, client = setup
        client.chat.completions.create(model="gpt-4o", messages=MSG)
        (item,) = queued()
        assert isinstance(item, CallState)  # not built on the call path
        llmfinops.flush()
        (rec,) = sink.records
        assert rec.cost_usd == Decimal("0.0025") + Decimal("0.001")  # 1000 x $2.50/M + 100 x $10/M
        assert (rec.input_tokens, rec.output_tokens, rec.service) == (1000, 100, "svc-a")

    def test_latency_and_config_are_those_of_the_call_end(self, setup: Any) -> None:
        """Time passing and a reconfiguration before the writer drains change nothing in the record."""
        sink, clock, client = setup
        client.chat.completions.create(model="gpt-4o", messages=MSG)
        clock.advance(30)
        llmfinops.configure(service="svc-b")  # writer fields unchanged: same writer, same queue
        llmfinops.flush()
        (rec,) = sink.records
        assert rec.latency_ms == 0.0  # the fake clock did not move during the call
        assert rec.service == "svc-a"

    def test_ids_are_unique_across_deferred_and_synchronous_records(self, setup: Any) -> None:
        """Deferred and synchronous records share one id sequence."""
        sink, _, client = setup
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        with capture_records() as seen:
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        llmfinops.flush()
        ids = [r.id for r in sink.records]
        assert len(ids) == len(set(ids)) == 4
        assert seen[0].id in ids


class TestSynchronous:
    def test_a_listener_gets_the_record_on_the_caller_thread(self, setup: Any) -> None:
        """With a listener (capture_records) the record is built at once and queued built."""
        _, _, client = setup
        with capture_records() as seen:
            client.chat.completions.create(model="gpt-4o", messages=MSG)
            assert len(seen) == 1
            assert all(isinstance(i, CallRecord) for i in queued())

    def test_after_call_hooks_get_the_record_at_once(self, setup: Any) -> None:
        """An after-call hook (a budget's reconciliation) forces the synchronous path."""
        _, _, client = setup
        got: list[CallRecord] = []
        client._llmfinops_runtime.after_call.append(lambda state, rec: got.append(rec))
        client.chat.completions.create(model="gpt-4o", messages=MSG)
        assert len(got) == 1 and got[0].cost_usd is not None

    def test_errors_are_built_synchronously(self, setup: Any) -> None:
        """A failed call's record is built on the caller's thread (it holds no usage to defer)."""
        sink, _, _ = setup
        client = llmfinops.wrap(openai_client(OpenAIMock(error_status=400), max_retries=0))
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        assert [type(i) for i in queued()] == [CallRecord]
        llmfinops.flush()
        assert sink.records[0].status == "error"

    def test_finish_sync_returns_the_record(self) -> None:
        """``finish(sync=True)`` builds and returns the record (batch results use it)."""
        runtime = llmfinops.wrap(openai_client(OpenAIMock()))._llmfinops_runtime
        state = CallState(runtime, endpoint="chat.completions", operation="chat", model="gpt-4o")
        state.usage = llmfinops.usage.Usage(input_tokens=10, output_tokens=1)
        rec = state.finish(sync=True)
        assert isinstance(rec, CallRecord) and rec.cost_usd is not None


class TestFailures:
    def test_a_record_that_cannot_be_built_is_reported_and_the_rest_written(
        self, setup: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A build failure on the writer thread drops that record only, with a warning."""
        sink, _, client = setup
        client.chat.completions.create(model="gpt-4o", messages=MSG)
        client.chat.completions.create(model="gpt-4o", messages=MSG)
        first = queued()[0]
        assert isinstance(first, CallState)
        real = CallState._build

        def build(self: CallState, *a: Any) -> CallRecord:
            if self is first:
                raise RuntimeError("boom")
            return real(self, *a)

        monkeypatch.setattr(CallState, "_build", build)
        with pytest.warns(InternalErrorWarning, match="boom"):
            llmfinops.flush()
        assert len(sink.records) == 1


def test_a_queued_call_does_not_keep_its_request_body(setup: Any) -> None:
    """Queued calls drop their request body (a stalled sink must not pin whole prompts in memory)."""
    _, _, client = setup
    client.chat.completions.create(model="gpt-4o", messages=MSG)
    (item,) = queued()
    assert isinstance(item, CallState) and item.body is None and item.estimator is None


def test_warnings_as_errors_on_the_writer_cost_one_record_not_the_batch(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that raises even while reporting (warnings turned into errors) loses only its record."""
    import warnings

    from llmfinops import _recorder

    sink, _, client = setup
    client.chat.completions.create(model="gpt-4o", messages=MSG)
    client.chat.completions.create(model="gpt-4o", messages=MSG)
    first = queued()[0]
    real = CallState._build

    def build(self: CallState, *a: Any) -> CallRecord:
        if self is first:
            raise RuntimeError("boom")
        return real(self, *a)

    monkeypatch.setattr(CallState, "_build", build)
    monkeypatch.setattr(_recorder, "report_internal", lambda where: warnings.warn(where, stacklevel=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        llmfinops.flush()
    assert len(sink.records) == 1
