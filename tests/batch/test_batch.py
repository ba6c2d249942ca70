"""Batch helpers over mock batch servers: lifecycle, backoff, results, exactly-once records, cost."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from anthropic.types import Message
from google.genai.types import GenerateContentResponse
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

import llmfinops
from llmfinops import batch
from llmfinops._wrap import runtime_of
from llmfinops.exceptions import ConfigurationError, UnsupportedClientError
from llmfinops.testing import FakeClock, capture_records
from llmfinops.tokens import estimate_prompt_tokens

from .fakes import (
    T_END,
    AnthropicBatchServer,
    FakeSleep,
    GoogleBatchServer,
    OpenAIBatchServer,
    anthropic_batch_client,
    google_batch_client,
    openai_batch_client,
)

# Every fake answers with 1000 input and 100 output tokens.
MINI = (Decimal("0.000105"), Decimal("0.00021"))  # gpt-4o-mini $0.15/$0.60: (batch, standard)
HAIKU = (Decimal("0.00075"), Decimal("0.0015"))  # claude-haiku-4-5 $1/$5
FLASH = (Decimal("0.000275"), Decimal("0.00055"))  # gemini-2.5-flash $0.30/$2.50
TURNAROUND_MS = 42 * 60 * 1000.0


def chat(i: int) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "max_completion_tokens": 100,
        "messages": [{"role": "user", "content": f"q{i}"}],
    }


def msg(i: int) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": f"q{i}"}],
    }


def gen(i: int) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "contents": f"q{i}", "config": {"max_output_tokens": 100}}


@pytest.fixture(autouse=True)
def _clock() -> None:
    llmfinops.configure(clock=FakeClock(datetime(2026, 11, 20, 11, 0, tzinfo=UTC)))


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


def run(
    client: Any, requests: list[Any], fake_sleep: FakeSleep, **kw: Any
) -> tuple[batch.BatchJob, list[Any], list[Any]]:
    with capture_records() as recs:
        job = batch.submit(client, requests, **kw)
        job.wait(sleep=fake_sleep.sleep, clock=fake_sleep.clock)
        results = job.results()
    return job, results, recs


class TestOpenAI:
    def test_lifecycle_and_backoff(self, fake_sleep: FakeSleep) -> None:
        """Upload, create, poll with doubling delays until completed, read output and error files."""
        server = OpenAIBatchServer(fail=frozenset({"request-2"}))
        job, _results, _ = run(openai_batch_client(server), [chat(i) for i in range(3)], fake_sleep)
        assert fake_sleep.delays == [15.0, 30.0, 60.0]
        assert server.calls == [
            "POST /files",
            "POST /batches",
            f"GET /batches/{job.id}",
            f"GET /batches/{job.id}",
            f"GET /batches/{job.id}",
            "GET /files/file-out8190/content",
            "GET /files/file-err8190/content",
        ]
        assert (job.status, job.done) == ("completed", True)

    def test_uploaded_file(self, fake_sleep: FakeSleep) -> None:
        """The upload is the Batch API's JSONL: custom_id, POST, endpoint URL and the call's arguments."""
        server = OpenAIBatchServer()
        client = openai_batch_client(server)
        batch.submit(client, [{"custom_id": "ticket-7", "params": chat(0)}], metadata={"run": "nightly"})
        import json

        lines = [json.loads(x) for x in server.files["file-in0001"].decode().splitlines()]
        assert lines == [
            {"custom_id": "ticket-7", "method": "POST", "url": "/v1/chat/completions", "body": chat(0)}
        ]
        (b,) = server.batches.values()
        assert (b["endpoint"], b["completion_window"], b["metadata"]) == (
            "/v1/chat/completions",
            "24h",
            {"run": "nightly"},
        )

    def test_results(self, fake_sleep: FakeSleep) -> None:
        """Results come in submission order as ChatCompletion objects; failures carry the provider error."""
        server = OpenAIBatchServer(fail=frozenset({"request-2"}))
        _, results, _ = run(openai_batch_client(server), [chat(i) for i in range(3)], fake_sleep)
        assert [(r.custom_id, r.status, r.ok) for r in results] == [
            ("request-1", "succeeded", True),
            ("request-2", "errored", False),
            ("request-3", "succeeded", True),
        ]
        assert type(results[0].response) is ChatCompletion
        assert results[0].response.choices[0].message.content == "answer to request-1"
        assert results[1].error["message"] == "Invalid 'messages[0].content': empty."
        assert (results[0].cost_usd, results[0].standard_cost_usd) == MINI
        assert (results[1].cost_usd, results[1].record) == (None, None)

    def test_one_record_per_result_at_batch_prices(self, fake_sleep: FakeSleep) -> None:
        """Each succeeded request is recorded once: endpoint openai.batch, tier batch, ids in tags."""
        server = OpenAIBatchServer(fail=frozenset({"request-2"}))
        job, results, recs = run(openai_batch_client(server), [chat(i) for i in range(3)], fake_sleep)
        assert [(r.endpoint, r.service_tier, r.cost_usd, r.tags) for r in recs] == [
            ("openai.batch", "batch", MINI[0], {"custom_id": "request-1", "batch_id": job.id}),
            ("openai.batch", "batch", MINI[0], {"custom_id": "request-3", "batch_id": job.id}),
        ]
        rec = recs[0]
        assert (rec.timestamp, rec.latency_ms, rec.input_tokens, rec.output_tokens) == (
            T_END,
            TURNAROUND_MS,
            1000,
            100,
        )
        assert (rec.request_id, rec.operation, rec.model) == ("req_0000", "chat", "gpt-4o-mini")
        assert results[0].record is rec

    def test_results_are_read_and_recorded_once(self, fake_sleep: FakeSleep) -> None:
        """A second results() call returns the same list without new records or requests."""
        server = OpenAIBatchServer()
        job, first, _ = run(openai_batch_client(server), [chat(i) for i in range(2)], fake_sleep)
        n = len(server.calls)
        with capture_records() as recs:
            again = job.results()
        assert again is first
        assert recs == []
        assert len(server.calls) == n

    def test_savings(self, fake_sleep: FakeSleep) -> None:
        """Savings compare the actual batch cost with the same usage at standard prices."""
        server = OpenAIBatchServer(fail=frozenset({"request-2"}))
        job, _, _ = run(openai_batch_client(server), [chat(i) for i in range(3)], fake_sleep)
        s = job.savings()
        assert (s.results, s.priced, s.batch_cost_usd, s.standard_cost_usd) == (
            2,
            2,
            2 * MINI[0],
            2 * MINI[1],
        )
        assert (s.saved_usd, s.saved_fraction) == (Decimal("0.00021"), Decimal("0.5"))

    def test_embeddings_batch(self, fake_sleep: FakeSleep) -> None:
        """Embedding requests go to /v1/embeddings and come back as CreateEmbeddingResponse."""
        server = OpenAIBatchServer()
        reqs = [{"model": "text-embedding-3-small", "input": f"doc {i}"} for i in range(2)]
        job, results, recs = run(openai_batch_client(server), reqs, fake_sleep)
        assert job.raw.endpoint == "/v1/embeddings"
        assert type(results[0].response) is CreateEmbeddingResponse
        assert [(r.operation, r.cost_usd) for r in recs] == [("embeddings", Decimal("0.00001"))] * 2

    def test_resume(self, fake_sleep: FakeSleep) -> None:
        """A batch submitted in one process is resumed by id in another and recorded there."""
        server = OpenAIBatchServer()
        client = openai_batch_client(server)
        batch_id = batch.submit(client, [chat(0)]).id
        with capture_records() as recs:
            job = batch.resume(openai_batch_client(server), batch_id)
            job.wait(sleep=fake_sleep.sleep, clock=fake_sleep.clock)
            results = job.results()
        assert job.id == batch_id
        assert fake_sleep.delays == [15.0, 30.0]  # resume itself read "in_progress"
        assert [r.custom_id for r in results] == ["request-1"]
        assert len(recs) == 1

    def test_timeout(self, fake_sleep: FakeSleep) -> None:
        """wait(timeout=...) gives up with BatchTimeout naming the id and how to resume."""
        server = OpenAIBatchServer(steps=("validating", "in_progress"))
        job = batch.submit(openai_batch_client(server), [chat(0)])
        with pytest.raises(batch.BatchTimeout) as info:
            job.wait(timeout=100, sleep=fake_sleep.sleep, clock=fake_sleep.clock)
        assert fake_sleep.delays == [15.0, 30.0, 55.0]
        assert (info.value.batch_id, info.value.status) == (job.id, "in_progress")
        assert f"llmfinops.batch.resume(client, '{job.id}')" in str(info.value)

    def test_failed_batch(self, fake_sleep: FakeSleep) -> None:
        """A batch that failed validation ends; results() raises BatchFailed with the provider's reason."""
        server = OpenAIBatchServer(fail_validation=True)
        job = batch.submit(openai_batch_client(server), [chat(0)])
        job.wait(sleep=fake_sleep.sleep, clock=fake_sleep.clock)
        assert job.status == "failed"
        with pytest.raises(batch.BatchFailed, match="missing_required_parameter: Missing required parameter"):
            job.results()

    def test_results_before_the_end(self) -> None:
        """results() on a running batch says to wait first."""
        server = OpenAIBatchServer(steps=("validating", "in_progress"))
        job = batch.submit(openai_batch_client(server), [chat(0)])
        with pytest.raises(ConfigurationError, match=r"call job\.wait\(\) before job\.results\(\)"):
            job.results()

    def test_estimate(self) -> None:
        """Offline estimate: exact BPE prompt tokens, output at the caps, batch vs standard prices."""
        reqs = [chat(i) for i in range(3)]
        e = batch.estimate(openai_batch_client(OpenAIBatchServer()), reqs)
        tokens = sum(estimate_prompt_tokens("openai", r) for r in reqs)
        assert (e.requests, e.input_tokens, e.max_output_tokens) == (3, tokens, 300)
        assert tokens == 18
        assert e.batch_cost_usd_min == Decimal("0.00000135")
        assert e.batch_cost_usd_max == Decimal("0.00009135")
        assert e.standard_cost_usd_max == Decimal("0.0001827")
        assert e.saving_usd_max == Decimal("0.00009135")

    def test_estimate_without_caps(self) -> None:
        """A request without an output cap gives no upper bound, and says why."""
        e = batch.estimate(
            "openai", [{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "q"}]}]
        )
        assert (e.max_output_tokens, e.batch_cost_usd_max, e.standard_cost_usd_max) == (None, None, None)
        assert e.batch_cost_usd_min is not None
        assert e.notes == ("request 'request-1' has no output cap, so there is no upper bound",)

    def test_estimate_unpriced_model(self) -> None:
        """An unknown model is listed and its costs are unknown."""
        e = batch.estimate("openai", [{"model": "my-finetune-x", "max_tokens": 5, "messages": []}])
        assert (e.unpriced_models, e.batch_cost_usd_min) == (("my-finetune-x",), None)


class TestAnthropic:
    def test_lifecycle_results_and_records(self, fake_sleep: FakeSleep) -> None:
        """Polls until ended; results in submission order; the adapter writes one record per success."""
        server = AnthropicBatchServer(fail=frozenset({"request-2"}))
        job, results, recs = run(anthropic_batch_client(server), [msg(i) for i in range(3)], fake_sleep)
        assert fake_sleep.delays == [15.0, 30.0]
        assert [(r.custom_id, r.status) for r in results] == [
            ("request-1", "succeeded"),
            ("request-2", "errored"),
            ("request-3", "succeeded"),
        ]
        assert type(results[0].response) is Message
        assert results[0].response.content[0].text == "answer to request-1"
        assert sorted(
            (r.tags["custom_id"], r.tags["batch_id"], r.service_tier, r.cost_usd) for r in recs
        ) == [
            ("request-1", job.id, "batch", HAIKU[0]),
            ("request-3", job.id, "batch", HAIKU[0]),
        ]
        assert {r.endpoint for r in recs} == {"messages.batches"}  # written by the Anthropic adapter
        assert results[0].record is not None
        assert results[0].record.tags["custom_id"] == "request-1"

    def test_savings_and_single_read(self, fake_sleep: FakeSleep) -> None:
        """Savings are exact; reading again neither refetches nor re-records."""
        server = AnthropicBatchServer()
        job, _, _ = run(anthropic_batch_client(server), [msg(i) for i in range(2)], fake_sleep)
        with capture_records() as recs:
            s = job.savings()
        assert recs == []
        assert (s.batch_cost_usd, s.standard_cost_usd, s.saved_usd) == (
            2 * HAIKU[0],
            2 * HAIKU[1],
            2 * HAIKU[0],
        )

    def test_no_double_record_after_the_adapter_read_the_results(self, fake_sleep: FakeSleep) -> None:
        """Results the adapter already recorded (a read of the app's own) are not recorded again."""
        server = AnthropicBatchServer()
        client = anthropic_batch_client(server)
        job, _, first = run(client, [msg(i) for i in range(2)], fake_sleep)
        with capture_records() as recs:
            list(client.messages.batches.results(job.id))  # the app reads them itself
            again = batch.resume(client, job.id).results()
        assert len(first) == 2
        assert recs == []
        assert [r.cost_usd for r in again] == [HAIKU[0], HAIKU[0]]

    def test_params_sent(self, fake_sleep: FakeSleep) -> None:
        """Each request is sent as {custom_id, params} with the messages.create arguments."""
        server = AnthropicBatchServer()
        batch.submit(anthropic_batch_client(server), [{"custom_id": "a-1", "params": msg(0)}])
        (b,) = server.batches.values()
        assert b["_requests"] == [{"custom_id": "a-1", "params": msg(0)}]

    @pytest.mark.parametrize(
        ("req", "match"),
        [
            ({"custom_id": "bad id!", "params": msg(0)}, "is not accepted by Anthropic"),
            ({"model": "claude-haiku-4-5", "messages": []}, "has no 'max_tokens'"),
        ],
    )
    def test_validation(self, req: dict, match: str) -> None:
        """Invalid requests are refused before anything is sent."""
        server = AnthropicBatchServer()
        with pytest.raises(ConfigurationError, match=match):
            batch.submit(anthropic_batch_client(server), [req])
        assert server.calls == []

    def test_estimate(self) -> None:
        """Anthropic estimates carry the +20% tokenizer margin and max_tokens as the output bound."""
        e = batch.estimate("anthropic", [msg(0)])
        assert (e.input_tokens, e.max_output_tokens) == (estimate_prompt_tokens("anthropic", msg(0)), 100)
        assert e.standard_cost_usd_max == Decimal(e.input_tokens) * Decimal("0.000001") + Decimal("0.0005")


class TestGoogle:
    def test_lifecycle_results_and_records(self, fake_sleep: FakeSleep) -> None:
        """Inlined requests; the adapter records each response once when the finished job is read."""
        server = GoogleBatchServer(fail=frozenset({"request-2"}))
        job, results, recs = run(google_batch_client(server), [gen(i) for i in range(3)], fake_sleep)
        assert fake_sleep.delays == [15.0, 30.0]
        assert job.id.startswith("batches/")
        assert [(r.custom_id, r.status) for r in results] == [
            ("request-1", "succeeded"),
            ("request-2", "errored"),
            ("request-3", "succeeded"),
        ]
        assert type(results[0].response) is GenerateContentResponse
        assert results[0].response.text == "answer to request-1"
        assert [
            (r.tags["batch_request_key"], r.tags["batch_id"], r.service_tier, r.cost_usd) for r in recs
        ] == [
            ("request-1", job.id, "batch", FLASH[0]),
            ("request-3", job.id, "batch", FLASH[0]),
        ]
        assert [r.record for r in results] == [recs[0], None, recs[1]]
        s = job.savings()
        assert (s.batch_cost_usd, s.standard_cost_usd) == (2 * FLASH[0], 2 * FLASH[1])

    def test_requests_sent(self) -> None:
        """Each request is inlined with its config and metadata.key = custom_id."""
        server = GoogleBatchServer()
        batch.submit(google_batch_client(server), [gen(0)], metadata={"display_name": "nightly"})
        (job,) = server.jobs.values()
        (r,) = job["_requests"]
        assert r["metadata"] == {"key": "request-1"}
        assert r["request"]["contents"] == [{"parts": [{"text": "q0"}], "role": "user"}]
        assert r["request"]["generationConfig"] == {"maxOutputTokens": 100}
        assert job["_display"] == "nightly"

    def test_no_double_record_after_the_adapter_saw_the_job(self, fake_sleep: FakeSleep) -> None:
        """Resuming a job the adapter already recorded in this process writes no second record."""
        server = GoogleBatchServer()
        client = google_batch_client(server)
        job, _, first = run(client, [gen(0)], fake_sleep)
        with capture_records() as recs:
            again = batch.resume(client, job.id).results()
        assert len(first) == 1
        assert recs == []
        assert (again[0].cost_usd, again[0].standard_cost_usd, again[0].record) == (*FLASH, None)

    def test_one_model_per_batch(self) -> None:
        """Requests naming two models are refused with the fix."""
        with pytest.raises(ConfigurationError, match="a Gemini batch runs one model"):
            batch.submit(
                google_batch_client(GoogleBatchServer()), [gen(0), {**gen(1), "model": "gemini-2.5-pro"}]
            )


class TestRequests:
    @pytest.mark.parametrize(
        ("requests", "match"),
        [
            ([], r"requests=\[\]"),
            ({"model": "x"}, "pass a list"),
            ([chat(0), {"custom_id": "request-1", "params": chat(1)}], "custom_id 'request-1' appears twice"),
            ([{**chat(0), "stream": True}], "has stream=True"),
            ([{"messages": []}], "has no 'model'"),
            ([chat(0), {"model": "text-embedding-3-small", "input": "x"}], "requests mix endpoints"),
            ([{"model": "gpt-4o-mini"}], "cannot tell the OpenAI endpoint"),
            ([3], "requests\\[0\\] is a int"),
        ],
    )
    def test_invalid(self, requests: Any, match: str) -> None:
        """Bad request lists are configuration errors raised before any upload."""
        server = OpenAIBatchServer()
        with pytest.raises(ConfigurationError, match=match):
            batch.submit(openai_batch_client(server), requests)
        assert server.calls == []

    def test_shapes(self) -> None:
        """BatchRequest objects, {custom_id, body, url} lines and default model= are accepted."""
        server = OpenAIBatchServer()
        batch.submit(
            openai_batch_client(server),
            [
                batch.BatchRequest({"messages": [{"role": "user", "content": "a"}]}, custom_id="x"),
                {"custom_id": "y", "url": "/v1/chat/completions", "body": {"messages": []}},
            ],
            model="gpt-4o-mini",
        )
        import json

        lines = [json.loads(x) for x in server.files["file-in0001"].decode().splitlines()]
        assert [(x["custom_id"], x["body"]["model"], x["url"]) for x in lines] == [
            ("x", "gpt-4o-mini", "/v1/chat/completions"),
            ("y", "gpt-4o-mini", "/v1/chat/completions"),
        ]


class TestClients:
    def test_async_clients_are_refused(self) -> None:
        """Batch helpers need a sync client; the error says how to get one."""
        from llmfinops.testing.openai import async_openai_client

        with pytest.raises(ConfigurationError, match="needs a sync client, got AsyncOpenAI"):
            batch.submit(async_openai_client(), [chat(0)])

    def test_unsupported_client(self) -> None:
        """Anything but an SDK client is refused."""
        with pytest.raises(UnsupportedClientError, match=r"cannot drive builtins\.object"):
            batch.submit(object(), [chat(0)])

    def test_unwrapped_client_is_wrapped(self) -> None:
        """submit() wraps the client so its batch results are recorded."""
        client = openai_batch_client(OpenAIBatchServer())
        batch.submit(client, [chat(0)])
        assert runtime_of(client) is not None


class TestBackoff:
    def test_capped_doubling(self) -> None:
        """Delays grow by the factor up to the cap."""
        d = batch.Backoff(initial=1, factor=3, max=20).delays()
        assert [next(d) for _ in range(5)] == [1.0, 3.0, 9.0, 20.0, 20.0]

    def test_jitter_stays_in_bounds(self) -> None:
        """Jitter spreads each delay by at most the given fraction."""
        d = batch.Backoff(initial=100, factor=1, jitter=0.2).delays(random.Random(7))
        values = [next(d) for _ in range(50)]
        assert all(80.0 <= v <= 120.0 for v in values)
        assert len(set(values)) == 50

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [({"initial": 0}, "initial=0"), ({"factor": 0.5}, "factor=0.5"), ({"jitter": 1.0}, "jitter=1.0")],
    )
    def test_invalid(self, kwargs: dict, match: str) -> None:
        """Invalid backoff settings are configuration errors naming the field."""
        with pytest.raises(ConfigurationError, match=match):
            batch.Backoff(**kwargs)
