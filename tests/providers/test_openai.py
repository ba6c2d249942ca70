"""OpenAI SDK through wrap(): every surface priced right, streams, retries, errors, never breaking the call."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

import llmfinops
from llmfinops.exceptions import CostUnknownWarning, PriceNotFound, SinkFailedWarning
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.openai import OpenAIMock, async_openai_client, openai_client

M = Decimal(1_000_000)
MSG = [{"role": "user", "content": "What is the refund policy?"}]


def gpt4o_cost(prompt: int, cached: int, out: int) -> Decimal:
    """gpt-4o: $2.50 in, $1.25 cached, $10 out per 1M."""
    return ((prompt - cached) * Decimal("2.50") + cached * Decimal("1.25") + out * Decimal(10)) / M


@pytest.fixture
def mock() -> OpenAIMock:
    return OpenAIMock(prompt_tokens=1200, completion_tokens=300, cached_tokens=1024)


@pytest.fixture
def client(mock: OpenAIMock) -> openai.OpenAI:
    return llmfinops.wrap(openai_client(mock, max_retries=2))


class TestWrap:
    def test_type_preserved_and_idempotent(self, client: openai.OpenAI) -> None:
        """wrap() returns the same object, still an OpenAI; a second wrap is a no-op."""
        assert isinstance(client, openai.OpenAI)
        assert llmfinops.wrap(client) is client
        assert type(client) is openai.OpenAI

    def test_unwrap_stops_metering(self, client: openai.OpenAI) -> None:
        """unwrap() restores the original methods: no more records."""
        llmfinops.unwrap(client)
        with capture_records() as recs:
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        assert recs == []
        assert "request" not in vars(client)

    def test_unsupported_client(self) -> None:
        """wrap() on something else says what is supported."""
        with pytest.raises(llmfinops.UnsupportedClientError, match=r"supported clients: openai\.OpenAI"):
            llmfinops.wrap(object())

    def test_with_options_copy_is_metered(self, client: openai.OpenAI) -> None:
        """Clients derived with with_options() stay metered."""
        with capture_records() as recs:
            client.with_options(max_retries=0).chat.completions.create(model="gpt-4o", messages=MSG)
        assert len(recs) == 1
        assert recs[0].cost_usd == gpt4o_cost(1200, 1024, 300)

    def test_non_billable_endpoints_pass_through(self, client: openai.OpenAI, mock: OpenAIMock) -> None:
        """Endpoints that bill no tokens (e.g. models.list) produce no record."""

        def handler(request: httpx2.Request) -> httpx2.Response:
            return httpx2.Response(200, json={"object": "list", "data": []})

        c = llmfinops.wrap(openai_client(handler))
        with capture_records() as recs:
            c.models.list()
        assert recs == []


class TestChatCompletions:
    def test_non_stream_record(self, client: openai.OpenAI) -> None:
        """A plain call yields one record with usage, cost split and metadata."""
        with capture_records() as recs:
            r = client.chat.completions.create(model="gpt-4o", messages=MSG, max_completion_tokens=500)
        assert r.usage is not None and r.usage.prompt_tokens == 1200
        (rec,) = recs
        assert (rec.provider, rec.operation, rec.endpoint) == ("openai", "chat", "chat.completions")
        assert (rec.model, rec.response_model, rec.price_model) == ("gpt-4o", "gpt-4o-2024-08-06", "gpt-4o")
        assert (rec.input_tokens, rec.cached_input_tokens, rec.output_tokens, rec.total_tokens) == (
            1200,
            1024,
            300,
            1500,
        )
        assert rec.input_cost_usd == 176 * Decimal("2.50") / M
        assert rec.cached_input_cost_usd == 1024 * Decimal("1.25") / M
        assert rec.output_cost_usd == 300 * Decimal(10) / M
        assert rec.cost_usd == gpt4o_cost(1200, 1024, 300)
        assert rec.request_max_tokens == 500
        assert rec.status == "ok"
        assert rec.request_id == "req_00000001"
        assert rec.service_tier == "default"
        assert rec.price_version == "2026-11-22"

    def test_reasoning_and_cache_write_tokens(self) -> None:
        """GPT-5.6+: cache writes billed at the write rate, reasoning inside output."""
        mock = OpenAIMock(
            prompt_tokens=10_000,
            cached_tokens=6_000,
            cache_write_tokens=2_000,
            completion_tokens=1_500,
            reasoning_tokens=1_000,
        )
        c = llmfinops.wrap(openai_client(mock))
        with capture_records() as recs:
            c.chat.completions.create(model="gpt-6-sol", messages=MSG)
        (rec,) = recs
        assert (rec.cache_write_tokens, rec.reasoning_tokens) == (2_000, 1_000)
        assert rec.cost_usd == Decimal("0.004") + Decimal("0.0012") + Decimal("0.005") + Decimal("0.015")

    def test_long_context_repricing(self) -> None:
        """Above 272k input tokens the whole request is re-priced."""
        c = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=300_000, completion_tokens=1_000)))
        with capture_records() as recs:
            c.chat.completions.create(model="gpt-6-sol", messages=MSG)
        assert recs[0].cost_usd == (300_000 * Decimal(4) + 1_000 * Decimal(15)) / M

    def test_service_tier_from_response(self) -> None:
        """Prices follow the tier the response reports (flex = 50 %)."""
        c = llmfinops.wrap(
            openai_client(OpenAIMock(prompt_tokens=1000, completion_tokens=100, service_tier="flex"))
        )
        with capture_records() as recs:
            c.chat.completions.create(model="gpt-4o", messages=MSG, service_tier="auto")
        assert recs[0].service_tier == "flex"
        assert recs[0].cost_usd == gpt4o_cost(1000, 0, 100) / 2

    def test_parse_helper(self, client: openai.OpenAI) -> None:
        """chat.completions.parse goes through the same interception."""
        with capture_records() as recs:
            client.chat.completions.parse(model="gpt-4o", messages=MSG)
        assert len(recs) == 1 and recs[0].cost_usd == gpt4o_cost(1200, 1024, 300)


class TestStreams:
    def test_stream_injects_and_hides_usage_chunk(self, client: openai.OpenAI, mock: OpenAIMock) -> None:
        """include_usage is injected, priced, and the usage-only chunk is hidden from the caller."""
        with capture_records() as recs:
            chunks = list(client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True))
        assert mock.requests[-1]["stream_options"] == {"include_usage": True}
        assert all(c.choices for c in chunks)
        (rec,) = recs
        assert rec.stream and not rec.partial
        assert rec.cost_usd == gpt4o_cost(1200, 1024, 300)
        assert rec.time_to_first_token_ms is not None

    def test_caller_who_asked_for_usage_sees_it(self, client: openai.OpenAI) -> None:
        """A caller who asked for include_usage still gets the usage chunk."""
        with capture_records() as recs:
            chunks = list(
                client.chat.completions.create(
                    model="gpt-4o", messages=MSG, stream=True, stream_options={"include_usage": True}
                )
            )
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert len(recs) == 1

    def test_early_close_one_partial_record(self, client: openai.OpenAI) -> None:
        """A stream closed early produces exactly one record, flagged partial."""
        with capture_records() as recs:
            s = client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
            next(iter(s))
            s.close()
            s.close()
        (rec,) = recs
        assert rec.partial and rec.status == "ok"
        # billed but never reported: estimated from the request and the text received, and said so
        assert rec.input_tokens > 0 and rec.cost_usd is not None and rec.cost_usd > 0
        assert (rec.pricing_note or "").startswith("estimated")

    def test_break_then_garbage_collected(self, client: openai.OpenAI) -> None:
        """A stream abandoned mid-way and garbage-collected produces exactly one record."""
        with capture_records() as recs:
            s = client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
            for _ in s:
                break
            del s
            gc.collect()
        assert len(recs) == 1 and recs[0].partial

    def test_never_iterated_stream_gc(self, client: openai.OpenAI) -> None:
        """A stream never iterated still yields one record when collected."""
        with capture_records() as recs:
            s = client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
            del s
            gc.collect()
        assert len(recs) == 1 and recs[0].partial

    def test_stream_still_open_at_exit(self, tmp_path: Path) -> None:
        """A stream still open when the interpreter exits gets its one record in the JSONL file."""
        import subprocess
        import sys

        out = tmp_path / "calls.jsonl"
        code = (
            "import llmfinops\n"
            "from llmfinops.sinks import JSONLSink\n"
            "from llmfinops.testing.openai import openai_client\n"
            f"llmfinops.configure(sinks=[JSONLSink({str(out)!r})])\n"
            "c = llmfinops.wrap(openai_client())\n"
            "c.chat.completions.create(model='gpt-4o', messages=[{'role': 'user', 'content': 'hi'}])\n"
            "KEEP = c.chat.completions.create(model='gpt-4o', messages=[{'role': 'user', 'content': 'hi'}],"
            " stream=True)\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert [(x["stream"], x["partial"]) for x in lines] == [(False, False), (True, True)]

    def test_stream_helper(self, client: openai.OpenAI) -> None:
        """The .stream() helper is metered with full usage."""
        with capture_records() as recs:
            with client.chat.completions.stream(model="gpt-4o", messages=MSG) as stream:
                final = stream.get_final_completion()
        assert final.choices[0].message.content
        assert len(recs) == 1 and recs[0].cost_usd == gpt4o_cost(1200, 1024, 300)

    def test_broken_stream_is_error_record(self) -> None:
        """A stream that breaks mid-way re-raises unchanged and records an error."""

        def handler(request: httpx2.Request) -> httpx2.Response:
            def body() -> Any:
                yield b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
                yield b'"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
                raise httpx2.ReadError("connection reset")

            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

        c = llmfinops.wrap(openai_client(handler))
        with capture_records() as recs:
            s = c.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
            with pytest.raises(openai.APIConnectionError):
                list(s)
        (rec,) = recs
        assert rec.status == "error" and rec.partial and rec.error_type == "APIConnectionError"

    async def test_async_stream(self, mock: OpenAIMock) -> None:
        """Async streams are metered the same way."""
        c = llmfinops.wrap(async_openai_client(mock))
        with capture_records() as recs:
            s = await c.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
            chunks = [ch async for ch in s]
        assert all(ch.choices for ch in chunks)
        assert len(recs) == 1 and recs[0].cost_usd == gpt4o_cost(1200, 1024, 300)

    async def test_async_early_close(self, mock: OpenAIMock) -> None:
        """An async stream closed early yields one partial record."""
        c = llmfinops.wrap(async_openai_client(mock))
        with capture_records() as recs:
            s = await c.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
            async for _ in s:
                break
            await s.close()
        assert len(recs) == 1 and recs[0].partial


class TestResponsesAndEmbeddings:
    def test_responses_create(self) -> None:
        """Responses API usage (input_tokens inclusive) is priced."""
        c = llmfinops.wrap(
            openai_client(
                OpenAIMock(
                    prompt_tokens=5_000, cached_tokens=4_000, completion_tokens=800, reasoning_tokens=500
                )
            )
        )
        with capture_records() as recs:
            c.responses.create(model="gpt-5.5", input="hi", max_output_tokens=1000)
        (rec,) = recs
        assert rec.endpoint == "responses" and rec.request_max_tokens == 1000
        assert rec.cost_usd == (1_000 * Decimal(5) + 4_000 * Decimal("0.50") + 800 * Decimal(30)) / M
        assert rec.reasoning_tokens == 500

    def test_responses_stream(self) -> None:
        """Responses streams take usage from response.completed."""
        c = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=5_000, completion_tokens=800)))
        with capture_records() as recs, c.responses.stream(model="gpt-5.5", input="hi") as stream:
            for _ in stream:
                pass
        (rec,) = recs
        assert rec.stream and not rec.partial
        assert rec.cost_usd == (5_000 * Decimal(5) + 800 * Decimal(30)) / M

    async def test_async_responses(self) -> None:
        """AsyncOpenAI responses.create is metered."""
        c = llmfinops.wrap(async_openai_client(OpenAIMock(prompt_tokens=100, completion_tokens=10)))
        with capture_records() as recs:
            await c.responses.create(model="gpt-5.5", input="hi")
        assert recs[0].cost_usd == (100 * Decimal(5) + 10 * Decimal(30)) / M

    def test_embeddings(self) -> None:
        """Embeddings are priced on input tokens only."""
        c = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=8_000)))
        with capture_records() as recs:
            c.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        (rec,) = recs
        assert (rec.operation, rec.input_tokens, rec.output_tokens) == ("embeddings", 8_000, 0)
        assert rec.cost_usd == 8_000 * Decimal("0.02") / M


class TestRawPaths:
    def test_with_raw_response(self, client: openai.OpenAI) -> None:
        """with_raw_response is metered from the body, parse() still works."""
        with capture_records() as recs:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MSG)
            parsed = raw.parse()
        assert parsed.usage is not None
        assert len(recs) == 1 and recs[0].cost_usd == gpt4o_cost(1200, 1024, 300)

    def test_with_streaming_response(self, client: openai.OpenAI) -> None:
        """with_streaming_response is metered once the body is read."""
        with capture_records() as recs:
            with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=MSG) as resp:
                resp.parse()
        assert len(recs) == 1 and recs[0].cost_usd == gpt4o_cost(1200, 1024, 300)

    def test_raw_stream(self, client: openai.OpenAI) -> None:
        """A streamed raw response is metered through the parsed stream."""
        with capture_records() as recs:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MSG, stream=True)
            chunks = list(raw.parse())
        assert chunks
        assert len(recs) == 1 and not recs[0].partial and recs[0].cost_usd == gpt4o_cost(1200, 1024, 300)


class TestRetriesAndErrors:
    def test_retry_then_success(self) -> None:
        """A 429 then 200: one record, retry_count=1."""
        mock = OpenAIMock(prompt_tokens=100, completion_tokens=10, fail_first=1)
        c = llmfinops.wrap(openai_client(mock, max_retries=2))
        with capture_records() as recs:
            c.chat.completions.create(model="gpt-4o", messages=MSG)
        assert len(mock.requests) == 2
        (rec,) = recs
        assert rec.retry_count == 1 and rec.status == "ok"

    def test_error_reaches_caller_unchanged(self) -> None:
        """A failed call raises the SDK's own error and records an error with $0."""
        mock = OpenAIMock(error_status=500)
        c = llmfinops.wrap(openai_client(mock, max_retries=1))
        with capture_records() as recs, pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="gpt-4o", messages=MSG)
        (rec,) = recs
        assert (rec.status, rec.error_type, rec.retry_count) == ("error", "InternalServerError", 1)
        assert rec.cost_usd == 0

    def test_unknown_model_cost_null_and_warned_once(self) -> None:
        """An unknown model: cost_usd is None and one warning, the call still returns."""
        c = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=10)))
        with capture_records() as recs, pytest.warns(CostUnknownWarning, match="my-finetune"):
            r1 = c.chat.completions.create(model="my-finetune", messages=MSG)
            c.chat.completions.create(model="my-finetune", messages=MSG)
        assert r1.choices
        assert [r.cost_usd for r in recs] == [None, None]

    def test_strict_pricing_refuses_before_sending(self) -> None:
        """strict_pricing raises PriceNotFound before anything is sent."""
        mock = OpenAIMock()
        c = llmfinops.wrap(openai_client(mock), strict_pricing=True)
        with capture_records() as recs, pytest.raises(PriceNotFound, match="my-finetune"):
            c.chat.completions.create(model="my-finetune", messages=MSG)
        assert mock.requests == [] and recs == []

    def test_failing_sink_never_breaks_the_call(self) -> None:
        """A sink that raises is retried, then counted; the call's result is intact."""

        def bad_sink(record: object) -> None:
            raise OSError("disk full")

        llmfinops.configure(sinks=[bad_sink])
        c = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=10)))
        r = c.chat.completions.create(model="gpt-4o", messages=MSG)
        assert r.choices[0].message.content
        writer = llmfinops.get_config().writer()
        writer._sleep = lambda s: None
        with pytest.warns(SinkFailedWarning, match="disk full"):
            llmfinops.flush()
        assert writer.dropped_sink_errors == 1


class TestAttributionAndRecords:
    def test_tags_and_hashed_user(self, client: openai.OpenAI) -> None:
        """tags() attribute calls; user ids are hashed with the configured key."""
        with (
            capture_records() as recs,
            llmfinops.tags(team="search", feature="autocomplete", user_id="alice", tenant="acme"),
        ):
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        (rec,) = recs
        assert (rec.team, rec.feature, rec.tags) == ("search", "autocomplete", {"tenant": "acme"})
        assert rec.user_id is not None and rec.user_id.startswith("u_") and "alice" not in rec.user_id

    def test_wrap_tags_and_environment(self, mock: OpenAIMock) -> None:
        """Static wrap() tags and environment apply; scope tags win."""
        c = llmfinops.wrap(openai_client(mock), tags={"team": "platform"}, environment="prod", service="api")
        with capture_records() as recs, llmfinops.tags(feature="chat"):
            c.chat.completions.create(model="gpt-4o", messages=MSG)
        assert (recs[0].team, recs[0].feature, recs[0].environment, recs[0].service) == (
            "platform",
            "chat",
            "prod",
            "api",
        )

    def test_infra_cost_is_separate(self, client: openai.OpenAI) -> None:
        """Infrastructure cost (per second + per request) is recorded apart from token cost."""
        clock = FakeClock()
        llmfinops.configure(
            clock=clock,
            infra_cost=llmfinops.InfraCost(per_second=Decimal("0.001"), per_request=Decimal("0.00005")),
        )
        with capture_records() as recs:
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        assert recs[0].infra_cost_usd == Decimal("0.00005")
        assert recs[0].cost_usd == gpt4o_cost(1200, 1024, 300)

    def test_priced_at_call_timestamp(self) -> None:
        """Effective dates: the same call costs what the table said on its own day."""
        clock = FakeClock(datetime(2026, 11, 30, 12, tzinfo=UTC))
        llmfinops.configure(clock=clock)
        c = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=1_000, completion_tokens=0)))
        with capture_records() as recs:
            c.chat.completions.create(model="gpt-5.6-terra", messages=MSG)
            clock.set(datetime(2026, 7, 15, tzinfo=UTC))
            c.chat.completions.create(model="gpt-5.6-terra", messages=MSG)
        assert recs[0].cost_usd == 1_000 * Decimal(2) / M
        assert recs[1].cost_usd == 1_000 * Decimal("2.50") / M

    def test_jsonl_sink_end_to_end(self, tmp_path: Path, client: openai.OpenAI) -> None:
        """Records reach the JSONL file off the call path and are flushed on demand."""
        path = tmp_path / "calls.jsonl"
        llmfinops.configure(sinks=[llmfinops.sinks.JSONLSink(path)])
        client.chat.completions.create(model="gpt-4o", messages=MSG)
        llmfinops.flush()
        (line,) = path.read_text().splitlines()
        data = json.loads(line)
        assert data["cost_usd"] == float(gpt4o_cost(1200, 1024, 300))
        assert data["timestamp"].endswith("+00:00")
        assert "What is the refund policy" not in line


class TestPrivacy:
    def test_no_content_by_default(self, client: openai.OpenAI) -> None:
        """Records carry no prompt or completion text unless the user opts in."""
        with capture_records() as recs:
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        assert (recs[0].prompt, recs[0].completion) == (None, None)
        assert "refund" not in recs[0].to_json()

    def test_opt_in_content_capped(self, client: openai.OpenAI) -> None:
        """capture_content=True adds prompt and completion text, capped at max_content_chars."""
        llmfinops.configure(capture_content=True, max_content_chars=40)
        with capture_records() as recs:
            client.chat.completions.create(model="gpt-4o", messages=MSG)
            list(client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True))
        for rec in recs:
            assert (
                rec.prompt == '{"messages": [{"role": "user", "content": "What is the refund policy?"}]}'[:40]
            )
            assert rec.completion is not None and rec.completion.startswith("Hello! How can I help")
