"""google-genai adapter: the real SDK over httpx2.MockTransport, priced from the bundled table."""

from __future__ import annotations

import asyncio
import gc
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors, types

import llmfinops
from llmfinops._ids import stable_id
from llmfinops._wrap import runtime_of
from llmfinops.exceptions import (
    BudgetExceeded,
    CostUnknownWarning,
    InternalErrorWarning,
    PriceNotFound,
    UnsupportedClientError,
    UsageExtractionFailedWarning,
)
from llmfinops.providers import adapter_for
from llmfinops.providers import google as gadapter
from llmfinops.providers._google_http import route
from llmfinops.providers._google_resources import parse_time
from llmfinops.providers._google_usage import model_from_resource, scan_key, scan_meta
from llmfinops.records import CallRecord
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing._sse import sse_body
from llmfinops.testing.google import (
    GoogleMock,
    batch_job,
    batch_results_file,
    cached_content,
    generate_content_response,
    google_client,
    stream_chunks,
)

M = Decimal(1_000_000)


def wrapped(mock: GoogleMock | None = None, **kwargs: Any) -> Any:
    return llmfinops.wrap(google_client(mock or GoogleMock(), **kwargs))


def pro_response(**kw: Any) -> dict[str, Any]:
    return generate_content_response(model_version="gemini-2.5-pro", **kw)


def pro_chunks(**kw: Any) -> list[dict[str, Any]]:
    return stream_chunks(model_version="gemini-2.5-pro", **kw)


def _continued_stream(first_prompt: int, second_prompt: int) -> list[list[dict[str, Any]]]:
    """A two-hop stream: 40 output tokens then a continuation token, then 60 more."""
    hop1 = pro_chunks(
        text="part one",
        prompt_tokens=first_prompt,
        candidates_tokens=40,
        finish_reason="CONTINUATION",
        continuation_token=b"tok-1",
    )
    return [hop1, pro_chunks(text="part two", prompt_tokens=second_prompt, candidates_tokens=60)]


def usage_kw(prompt: int, out: int, **kw: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "candidates_tokens": out, **kw}


# -- prices from prices.json, per 1M tokens --------------------------------------------------------
FLASH_IN, FLASH_OUT, FLASH_STORAGE = Decimal("0.30"), Decimal("2.50"), Decimal("1.00")
PRO_IN, PRO_OUT, PRO_READ = Decimal("1.25"), Decimal("10"), Decimal("0.125")
PRO_IN_LONG, PRO_OUT_LONG = Decimal("2.50"), Decimal("15")


class TestWrap:
    def test_keeps_type_and_is_found_by_the_registry(self) -> None:
        """wrap() returns the same genai.Client, found by the registry under google.genai."""
        raw = google_client()
        assert adapter_for(raw) is gadapter
        client = llmfinops.wrap(raw)
        assert client is raw
        assert isinstance(client, genai.Client)
        assert runtime_of(client) is not None
        assert runtime_of(client).provider == "google"  # type: ignore[union-attr]

    def test_wrap_is_idempotent(self) -> None:
        """A second wrap is a no-op: one record per call, not two."""
        client = wrapped(GoogleMock(prompt_tokens=10))
        runtime = runtime_of(client)
        assert llmfinops.wrap(client) is client
        assert runtime_of(client) is runtime
        with capture_records() as recs:
            client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert len(recs) == 1

    def test_unwrap_restores_the_sdk(self) -> None:
        """After unwrap no record is written and the instance patches are gone."""
        client = wrapped()
        llmfinops.unwrap(client)
        assert "request" not in client._api_client.__dict__
        assert "generate_content" not in client.models.__dict__
        assert "generate_content_stream" not in client.aio.models.__dict__
        with capture_records() as recs:
            r = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert r.text == "Hello! How can I help you today?"
        assert recs == []

    def test_async_client_alone_is_refused_with_a_hint(self) -> None:
        """client.aio is metered through its genai.Client; wrapping it alone names the supported client."""
        with pytest.raises(UnsupportedClientError, match=r"google\.genai\.Client"):
            llmfinops.wrap(google_client().aio)

    def test_keeps_the_client_alive_for_its_http_client(self) -> None:
        """A dropped genai.Client closes its HTTP client; the wrapper keeps it alive while in use."""
        plain_models = genai.Client(api_key="k").models
        gc.collect()
        assert plain_models._api_client._httpx_client.is_closed  # the SDK's own behaviour (§4.2)
        models = llmfinops.wrap(genai.Client(api_key="k")).models
        aio = llmfinops.wrap(genai.Client(api_key="k")).aio
        gc.collect()
        assert not models._api_client._httpx_client.is_closed
        assert not aio.models._api_client._httpx_client.is_closed


class TestGenerateContent:
    def test_flash_cached_and_thinking_tokens(self) -> None:
        """Prompt includes the cached part; thoughts are billed as output on top of candidates."""
        mock = GoogleMock(**usage_kw(12_000, 300, cached_tokens=8_000, thoughts_tokens=900))
        client = wrapped(mock)
        with capture_records() as recs:
            r = client.models.generate_content(
                model="gemini-2.5-flash",
                contents="hi",
                config=types.GenerateContentConfig(max_output_tokens=2048),
            )
        assert r.usage_metadata.candidates_token_count == 300
        (rec,) = recs
        assert (rec.input_tokens, rec.cached_input_tokens, rec.output_tokens, rec.reasoning_tokens) == (
            12_000,
            8_000,
            1_200,
            900,
        )
        assert rec.total_tokens == 13_200
        # gemini-2.5-flash has no cache-read price in the table: reads at the input rate (upper bound)
        assert rec.input_cost_usd == 4_000 * FLASH_IN / M
        assert rec.cached_input_cost_usd == 8_000 * FLASH_IN / M
        assert rec.output_cost_usd == 1_200 * FLASH_OUT / M
        assert rec.cost_usd == Decimal("0.0066")
        assert "upper bound" in (rec.pricing_note or "")
        assert rec.provider == "google"
        assert rec.endpoint == "generate_content"
        assert rec.operation == "generate_content"
        assert rec.model == "gemini-2.5-flash"
        assert rec.response_model == "gemini-2.5-flash"
        assert rec.price_model == "gemini-2.5-flash"
        assert rec.request_id == "mJ3xaP2fLqSq1MkPn8mH6Ag"
        assert rec.request_max_tokens == 2048
        assert rec.http_requests == 1
        assert rec.retry_count == 0
        assert rec.status == "ok"
        assert rec.stream is False
        assert rec.service_tier is None

    def test_pro_cached_and_thinking_tokens(self) -> None:
        """gemini-2.5-pro: uncached at $1.25, cached at $0.125, output+thoughts at $10."""
        client = wrapped(GoogleMock(**usage_kw(12_000, 300, cached_tokens=8_000, thoughts_tokens=900)))
        with capture_records() as recs:
            client.models.generate_content(model="gemini-2.5-pro", contents="hi")
        (rec,) = recs
        assert rec.cost_usd == (4_000 * PRO_IN + 8_000 * PRO_READ + 1_200 * PRO_OUT) / M
        assert rec.cost_usd == Decimal("0.018")
        assert rec.pricing_note is None

    @pytest.mark.parametrize(
        ("prompt", "expected"),
        [
            (200_000, (200_000 * PRO_IN + 1_000 * PRO_OUT) / M),
            (250_000, (250_000 * PRO_IN_LONG + 1_000 * PRO_OUT_LONG) / M),
        ],
    )
    def test_long_context_tier_on_pro(self, prompt: int, expected: Decimal) -> None:
        """Above 200,000 prompt tokens (strictly) the whole request is re-priced."""
        client = wrapped(GoogleMock(**usage_kw(prompt, 1_000)))
        with capture_records() as recs:
            client.models.generate_content(model="gemini-2.5-pro", contents="long")
        assert recs[0].cost_usd == expected

    def test_tool_use_prompt_tokens_are_billed_as_input(self) -> None:
        """tool_use_prompt_token_count sits outside the prompt count and is added to input."""
        client = wrapped(GoogleMock(**usage_kw(1_000, 100, tool_use_prompt_tokens=500)))
        with capture_records() as recs:
            client.models.generate_content(model="gemini-2.5-pro", contents="search")
        assert recs[0].input_tokens == 1_500
        assert recs[0].cost_usd == (1_500 * PRO_IN + 100 * PRO_OUT) / M

    def test_requested_flex_tier_prices_at_half(self) -> None:
        """The Gemini API reports no tier: the requested service_tier prices the call."""
        mock = GoogleMock(**usage_kw(10_000, 1_000))
        client = wrapped(mock)
        with capture_records() as recs:
            client.models.generate_content(
                model="gemini-2.5-pro", contents="hi", config=types.GenerateContentConfig(service_tier="flex")
            )
        assert mock.requests[0]["serviceTier"] == "flex"
        assert recs[0].service_tier == "flex"
        assert recs[0].cost_usd == (10_000 * PRO_IN + 1_000 * PRO_OUT) / M / 2

    def test_priority_tier_without_a_price_is_unknown_not_wrong(self) -> None:
        """The table has no Google priority multiplier: cost is null with a warning, never standard."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 1_000)))
        with capture_records() as recs, pytest.warns(CostUnknownWarning, match="priority"):
            client.models.generate_content(
                model="gemini-2.5-pro", contents="hi", config={"service_tier": types.ServiceTier.PRIORITY}
            )
        assert recs[0].service_tier == "priority"
        assert recs[0].cost_usd is None

    def test_vertex_traffic_type_wins(self) -> None:
        """On Vertex the reported traffic_type is the tier (ON_DEMAND_FLEX -> flex)."""
        mock = GoogleMock(**usage_kw(10_000, 1_000), traffic_type="ON_DEMAND_FLEX")
        client = wrapped(mock, vertexai=True)
        with capture_records() as recs:
            client.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert mock.paths == ["/v1beta1/publishers/google/models/gemini-2.5-pro:generateContent"]
        assert recs[0].model == "gemini-2.5-pro"
        assert recs[0].service_tier == "flex"
        assert recs[0].cost_usd == (10_000 * PRO_IN + 1_000 * PRO_OUT) / M / 2

    def test_effective_date_pricing(self) -> None:
        """gemini-4-argon doubles on 2026-12-01; each call is priced at its own timestamp."""
        clock = FakeClock(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
        llmfinops.configure(clock=clock)
        client = wrapped(GoogleMock(**usage_kw(100_000, 10_000, thoughts_tokens=5_000)))
        with capture_records() as recs:
            client.models.generate_content(model="gemini-4-argon", contents="hi")
            clock.advance(1)
            client.models.generate_content(model="gemini-4-argon", contents="hi")
        before, after = recs
        assert before.timestamp == datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
        assert before.cost_usd == (100_000 * Decimal(2) + 15_000 * Decimal(10)) / M
        assert after.timestamp == datetime(2026, 12, 1, tzinfo=UTC)
        assert after.cost_usd == (100_000 * Decimal(4) + 15_000 * Decimal(20)) / M

    async def test_async_generate_content(self) -> None:
        """client.aio.models.generate_content is metered with the same semantics."""
        client = wrapped(GoogleMock(**usage_kw(12_000, 300, cached_tokens=8_000, thoughts_tokens=900)))
        with capture_records() as recs:
            r = await client.aio.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert r.text == "Hello! How can I help you today?"
        assert recs[0].cost_usd == Decimal("0.018")
        assert recs[0].http_requests == 1

    async def test_concurrent_async_calls_stay_apart(self) -> None:
        """Concurrent tasks each get their own record with their own usage."""

        def answer(body: dict[str, Any]) -> dict[str, Any]:
            n = len(body["contents"][0]["parts"][0]["text"])
            return pro_response(prompt_tokens=n * 1000, candidates_tokens=n)

        client = wrapped(GoogleMock(script=[answer, answer, answer]))
        with capture_records() as recs:
            await asyncio.gather(
                *(
                    client.aio.models.generate_content(model="gemini-2.5-pro", contents="x" * k)
                    for k in (1, 2, 3)
                )
            )
        assert sorted((r.input_tokens, r.output_tokens, r.http_requests) for r in recs) == [
            (1000, 1, 1),
            (2000, 2, 1),
            (3000, 3, 1),
        ]

    def test_request_without_the_sdk_method_is_still_metered(self) -> None:
        """A request that bypasses models.generate_content (private path) is its own record."""
        client = wrapped(GoogleMock(**usage_kw(1_000, 100)))
        with capture_records() as recs:
            client.models._generate_content(model="gemini-2.5-pro", contents="hi")
        assert len(recs) == 1
        assert recs[0].cost_usd == (1_000 * PRO_IN + 100 * PRO_OUT) / M


class TestStreaming:
    def test_sync_stream_keeps_the_last_running_total(self) -> None:
        """Every chunk repeats the running total: the record takes the last, never the sum."""
        client = wrapped(GoogleMock(**usage_kw(12_000, 300, cached_tokens=8_000, thoughts_tokens=900)))
        with capture_records() as recs:
            chunks = list(client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi"))
        assert len(chunks) == 7
        assert [c.usage_metadata.candidates_token_count for c in chunks] == [42, 85, 128, 171, 214, 257, 300]
        (rec,) = recs
        assert (rec.input_tokens, rec.cached_input_tokens, rec.output_tokens, rec.reasoning_tokens) == (
            12_000,
            8_000,
            1_200,
            900,
        )
        assert rec.cost_usd == Decimal("0.018")
        assert rec.stream is True
        assert rec.partial is False
        assert rec.http_requests == 1
        assert rec.time_to_first_token_ms is not None
        assert rec.response_model == "gemini-2.5-pro"

    async def test_async_stream_keeps_the_last_running_total(self) -> None:
        """await client.aio.models.generate_content_stream(...) returns an async iterator; one record."""
        client = wrapped(GoogleMock(**usage_kw(12_000, 300, cached_tokens=8_000, thoughts_tokens=900)))
        with capture_records() as recs:
            stream = await client.aio.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
            texts = [c.text async for c in stream]
        assert "".join(texts) == "Hello! How can I help you today?"
        (rec,) = recs
        assert rec.output_tokens == 1_200
        assert rec.cost_usd == Decimal("0.018")
        assert (rec.stream, rec.partial) == (True, False)
        assert rec.time_to_first_token_ms is not None

    def test_stream_closed_early_gives_one_partial_record(self) -> None:
        """Closing a stream after one chunk: one record, partial, with the usage seen so far."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 700)))
        with capture_records() as recs:
            stream = client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
            first = next(stream)
            stream.close()
            stream.close()
        assert first.text == "Hello!"
        (rec,) = recs
        assert rec.partial is True
        assert rec.output_tokens == 100  # running total of the first chunk
        assert rec.cost_usd == (10_000 * PRO_IN + 100 * PRO_OUT) / M

    def test_stream_closed_after_several_chunks_keeps_the_latest_total(self) -> None:
        """Closing mid-stream: the partial record has the running total of the last chunk seen."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 700)))
        with capture_records() as recs:
            stream = client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
            seen = [next(stream) for _ in range(3)]
            stream.close()
        assert [c.usage_metadata.candidates_token_count for c in seen] == [100, 200, 300]
        (rec,) = recs
        assert (rec.partial, rec.output_tokens, rec.http_requests) == (True, 300, 1)
        assert rec.cost_usd == (10_000 * PRO_IN + 300 * PRO_OUT) / M

    def test_stream_abandoned_after_several_chunks_keeps_the_latest_total(self) -> None:
        """A stream dropped mid-way and collected: its record has the last total seen."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 700)))
        with capture_records() as recs:
            stream = client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
            for _ in range(4):
                next(stream)
            del stream
            gc.collect()
        (rec,) = recs
        assert (rec.partial, rec.output_tokens) == (True, 400)

    def test_stream_without_the_sdk_method_is_its_own_call(self) -> None:
        """A stream that bypasses models.generate_content_stream is metered as its own record."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 700)))
        with capture_records() as recs:
            chunks = list(client.models._generate_content_stream(model="gemini-2.5-pro", contents="hi"))
            stream = client.models._generate_content_stream(model="gemini-2.5-pro", contents="hi")
            next(stream)
            next(stream)
            stream.close()
        assert len(chunks) == 7
        full, part = recs
        assert (full.partial, full.output_tokens, full.stream, full.response_model) == (
            False,
            700,
            True,
            "gemini-2.5-pro",
        )
        assert (part.partial, part.output_tokens) == (True, 200)

    def test_stream_garbage_collected_gives_one_partial_record(self) -> None:
        """An abandoned stream is finished when collected."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 700)))
        with capture_records() as recs:
            stream = client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
            next(stream)
            del stream
            gc.collect()
        assert len(recs) == 1
        assert recs[0].partial is True

    def test_stream_never_iterated_sends_nothing_and_records_nothing(self) -> None:
        """The SDK's stream is lazy: no request, no record."""
        mock = GoogleMock()
        client = wrapped(mock)
        with capture_records() as recs:
            stream = client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
            del stream
            gc.collect()
        assert mock.requests == []
        assert recs == []

    def test_stream_is_timed_from_its_first_iteration(self) -> None:
        """The SDK sends a stream's request on first iteration: timestamp and latency start there."""
        clock = FakeClock(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
        llmfinops.configure(clock=clock)
        client = wrapped(GoogleMock(**usage_kw(1_000, 100)))
        with capture_records() as recs:
            stream = client.models.generate_content_stream(model="gemini-4-argon", contents="hi")
            clock.advance(3600)  # made before the 2026-12-01 price change, sent after it
            list(stream)
        assert recs[0].timestamp == datetime(2026, 12, 1, tzinfo=UTC)
        assert recs[0].latency_ms == 0
        assert recs[0].cost_usd == (1_000 * Decimal(4) + 100 * Decimal(20)) / M

    async def test_async_stream_closed_early(self) -> None:
        """aclose() after one chunk: one partial record."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 700)))
        with capture_records() as recs:
            stream = await client.aio.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
            await stream.__anext__()
            await stream.aclose()
        (rec,) = recs
        assert rec.partial is True
        assert rec.output_tokens == 100

    async def test_async_stream_closed_after_several_chunks(self) -> None:
        """aclose() after three chunks: the partial record has the third chunk's total."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 700)))
        with capture_records() as recs:
            stream = await client.aio.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
            for _ in range(3):
                await stream.__anext__()
            await stream.aclose()
        (rec,) = recs
        assert (rec.partial, rec.output_tokens) == (True, 300)

    async def test_async_stream_without_the_sdk_method_is_its_own_call(self) -> None:
        """The async private stream path is metered on its own, complete or abandoned."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 700)))
        with capture_records() as recs:
            stream = await client.aio.models._generate_content_stream(model="gemini-2.5-pro", contents="hi")
            n = len([c async for c in stream])
            stream = await client.aio.models._generate_content_stream(model="gemini-2.5-pro", contents="hi")
            await stream.__anext__()
            await stream.__anext__()
            del stream
            gc.collect()
            for _ in range(5):
                await asyncio.sleep(0)
        assert n == 7
        full, part = recs
        assert (full.partial, full.output_tokens) == (False, 700)
        assert (part.partial, part.output_tokens) == (True, 200)

    async def test_async_stream_abandoned_gives_one_partial_record(self) -> None:
        """An async stream dropped mid-way is finished (by the loop's finalizer or ours)."""
        client = wrapped(GoogleMock(**usage_kw(10_000, 700)))
        with capture_records() as recs:
            stream = await client.aio.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")
            await stream.__anext__()
            del stream
            gc.collect()
            for _ in range(5):
                await asyncio.sleep(0)
        assert len(recs) == 1
        assert recs[0].partial is True

    def test_stream_error_before_any_chunk(self) -> None:
        """A rejected stream raises the SDK's error and writes an error record at cost 0."""
        client = wrapped(GoogleMock(error_status=429))
        with capture_records() as recs, pytest.raises(errors.ClientError) as info:
            list(client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi"))
        assert info.value.code == 429
        (rec,) = recs
        assert rec.status == "error"
        assert rec.error_type == "ClientError"
        assert rec.cost_usd == 0

    def test_streamed_continuation_bills_each_hop(self) -> None:
        """A stream resumed with a continuation token: each hop's last total, summed."""
        mock = GoogleMock(script=_continued_stream(150_000, 150_000))
        client = wrapped(mock)
        with capture_records() as recs:
            chunks = list(client.models.generate_content_stream(model="gemini-2.5-pro", contents="long"))
        assert len(mock.requests) == 2
        assert mock.requests[1]["continuationToken"] == "dG9rLTE="
        # the SDK adds previous hops to each chunk it yields; we read each HTTP request raw
        assert chunks[-1].usage_metadata.prompt_token_count == 300_000
        (rec,) = recs
        assert rec.http_requests == 2
        assert (rec.input_tokens, rec.output_tokens) == (300_000, 100)
        assert rec.cost_usd == (300_000 * PRO_IN + 100 * PRO_OUT) / M

    def test_streamed_hops_are_read_when_the_record_is_built_on_the_writer(self) -> None:
        """No listener: each hop keeps its last chunk unread; the writer prices both hops."""
        from llmfinops._config import get_config
        from llmfinops._recorder import CallState
        from llmfinops.sinks import MemorySink

        sink = MemorySink()
        llmfinops.configure(sinks=[sink], flush_interval=60)
        client = wrapped(GoogleMock(script=_continued_stream(210_000, 1_000)))
        list(client.models.generate_content_stream(model="gemini-2.5-pro", contents="long"))
        (item,) = list(get_config().writer()._queue)
        assert isinstance(item, CallState) and item.hops is None and item.response_model is None
        llmfinops.flush()
        (rec,) = sink.records
        assert (rec.http_requests, rec.input_tokens, rec.output_tokens) == (2, 211_000, 100)
        assert rec.response_model == "gemini-2.5-pro" and rec.time_to_first_token_ms is not None
        long_hop = (210_000 * PRO_IN_LONG + 40 * PRO_OUT_LONG) / M  # the >200k tier: per request
        assert rec.cost_usd == long_hop + (1_000 * PRO_IN + 60 * PRO_OUT) / M

    def test_stream_dropped_and_resumed_by_the_sdk_bills_both_requests(self) -> None:
        """A connection lost mid-stream after a checkpoint: the SDK resumes; both requests are billed."""
        first = pro_chunks(text="one two", prompt_tokens=5_000, candidates_tokens=10)[:1]
        first[0]["candidates"][0]["continuationToken"] = "Y2sx"  # a checkpoint, no finish reason yet
        sent = sse_body([(None, c) for c in first])

        class Dropped(httpx2.SyncByteStream):
            def __iter__(self) -> Any:
                yield sent
                raise httpx2.ReadError("connection reset by peer")

        mock = GoogleMock(script=[pro_chunks(text="two", prompt_tokens=5_000, candidates_tokens=7)])
        requests: list[dict[str, Any]] = []

        def handler(request: httpx2.Request) -> httpx2.Response:
            if not requests:
                requests.append({})
                return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=Dropped())
            return mock(request)

        client = llmfinops.wrap(google_client(handler))
        with capture_records() as recs:
            text = "".join(
                c.text or ""
                for c in client.models.generate_content_stream(model="gemini-2.5-pro", contents="x")
            )
        assert text == "onetwo"
        assert mock.requests[0]["continuationToken"] == "Y2sx"
        (rec,) = recs
        assert rec.http_requests == 2
        assert (rec.input_tokens, rec.output_tokens, rec.partial, rec.status) == (10_000, 12, False, "ok")


class TestMultiRequestCalls:
    def test_continuation_prices_the_tier_per_hop(self) -> None:
        """Two 150k hops: both billed, neither above 200k, though the SDK's merged prompt says 300k."""
        mock = GoogleMock(
            script=[
                pro_response(
                    text="part one",
                    prompt_tokens=150_000,
                    candidates_tokens=1_000,
                    finish_reason="CONTINUATION",
                    continuation_token=b"tok-1",
                ),
                pro_response(text="part two", prompt_tokens=150_000, candidates_tokens=2_000),
            ]
        )
        client = wrapped(mock)
        with capture_records() as recs:
            r = client.models.generate_content(model="gemini-2.5-pro", contents="long")
        assert r.text == "part onepart two"
        assert r.usage_metadata.prompt_token_count == 300_000
        assert len(mock.requests) == 2
        (rec,) = recs
        assert rec.http_requests == 2
        assert (rec.input_tokens, rec.output_tokens) == (300_000, 3_000)
        assert rec.cost_usd == (300_000 * PRO_IN + 3_000 * PRO_OUT) / M  # standard rates on both hops
        assert rec.cost_usd == Decimal("0.405")

    def test_continuation_hop_above_200k_alone_is_long_context(self) -> None:
        """Only the hop whose own prompt exceeds 200k is re-priced."""
        mock = GoogleMock(
            script=[
                pro_response(
                    prompt_tokens=210_000,
                    candidates_tokens=1_000,
                    finish_reason="CONTINUATION",
                    continuation_token=b"t",
                ),
                pro_response(prompt_tokens=100_000, candidates_tokens=1_000),
            ]
        )
        client = wrapped(mock)
        with capture_records() as recs:
            client.models.generate_content(model="gemini-2.5-pro", contents="long")
        expected = (210_000 * PRO_IN_LONG + 1_000 * PRO_OUT_LONG + 100_000 * PRO_IN + 1_000 * PRO_OUT) / M
        assert recs[0].cost_usd == expected

    def test_automatic_function_calling_bills_every_request(self) -> None:
        """AFC: three requests, the SDK returns only the last usage; the record has all three."""
        calls: list[str] = []

        def get_weather(city: str) -> str:
            """Return the weather of a city."""
            calls.append(city)
            return "sunny"

        fc = {"name": "get_weather", "args": {"city": "Paris"}}
        mock = GoogleMock(
            script=[
                pro_response(function_call=fc, prompt_tokens=1_000, candidates_tokens=20),
                pro_response(
                    function_call=fc, prompt_tokens=1_100, candidates_tokens=30, thoughts_tokens=200
                ),
                pro_response(text="It is sunny.", prompt_tokens=1_200, candidates_tokens=40),
            ]
        )
        client = wrapped(mock)
        with capture_records() as recs:
            r = client.models.generate_content(
                model="gemini-2.5-pro",
                contents="Weather in Paris?",
                config=types.GenerateContentConfig(tools=[get_weather]),
            )
        assert r.text == "It is sunny."
        assert calls == ["Paris", "Paris"]
        assert r.usage_metadata.prompt_token_count == 1_200  # the SDK keeps only the last request's usage
        (rec,) = recs
        assert rec.http_requests == 3
        assert (rec.input_tokens, rec.output_tokens, rec.reasoning_tokens) == (3_300, 290, 200)
        assert rec.cost_usd == (3_300 * PRO_IN + 290 * PRO_OUT) / M

    def test_afc_usage_is_read_when_the_record_is_built_on_the_writer(self) -> None:
        """No listener: the caller queues the call with its three responses unread; the writer reads
        each one's usage (its own tier and price) and the last one's id and model version."""
        from llmfinops._config import get_config
        from llmfinops._recorder import CallState
        from llmfinops.sinks import MemorySink

        sink = MemorySink()
        llmfinops.configure(sinks=[sink], flush_interval=60)
        fc = {"name": "get_weather", "args": {"city": "Paris"}}
        mock = GoogleMock(
            script=[
                pro_response(function_call=fc, prompt_tokens=1_000, candidates_tokens=20, response_id="r1"),
                pro_response(function_call=fc, prompt_tokens=210_000, candidates_tokens=30, response_id="r2"),
                pro_response(
                    text="It is sunny.", prompt_tokens=1_200, candidates_tokens=40, response_id="r3"
                ),
            ]
        )
        client = wrapped(mock)

        def get_weather(city: str) -> str:
            """Return the weather of a city."""
            return "sunny"

        client.models.generate_content(
            model="gemini-2.5-pro",
            contents="Weather in Paris?",
            config=types.GenerateContentConfig(tools=[get_weather]),
        )
        (item,) = list(get_config().writer()._queue)
        assert isinstance(item, CallState) and item.hops is None and item.has_usage  # nothing read yet
        llmfinops.flush()
        (rec,) = sink.records
        assert (rec.http_requests, rec.input_tokens, rec.output_tokens) == (3, 212_200, 90)
        assert (rec.request_id, rec.response_model) == ("r3", "gemini-2.5-pro")
        expected = (1_000 * PRO_IN + 20 * PRO_OUT + 210_000 * PRO_IN_LONG + 30 * PRO_OUT_LONG) / M
        assert rec.cost_usd == expected + (1_200 * PRO_IN + 40 * PRO_OUT) / M

    async def test_async_automatic_function_calling(self) -> None:
        """The async AFC loop is metered per request too."""

        async def lookup(sku: str) -> str:
            """Look up a product."""
            return "in stock"

        fc = {"name": "lookup", "args": {"sku": "A1"}}
        mock = GoogleMock(
            script=[
                pro_response(function_call=fc, prompt_tokens=500, candidates_tokens=10),
                pro_response(text="Yes.", prompt_tokens=600, candidates_tokens=5),
            ]
        )
        client = wrapped(mock)
        with capture_records() as recs:
            r = await client.aio.models.generate_content(
                model="gemini-2.5-pro",
                contents="In stock?",
                config=types.GenerateContentConfig(tools=[lookup]),
            )
        assert r.text == "Yes."
        assert recs[0].http_requests == 2
        assert (recs[0].input_tokens, recs[0].output_tokens) == (1_100, 15)

    def test_before_call_changes_apply_to_every_request(self) -> None:
        """Hooks run once per SDK call; their body changes are replayed on later AFC requests."""

        def cap(state: Any) -> None:
            state.body["generationConfig"] = {**state.body.get("generationConfig", {}), "maxOutputTokens": 64}

        def get_weather(city: str) -> str:
            """Return the weather of a city."""
            return "sunny"

        fc = {"name": "get_weather", "args": {"city": "Paris"}}
        mock = GoogleMock(
            script=[
                pro_response(function_call=fc, prompt_tokens=100, candidates_tokens=5),
                pro_response(function_call=fc, prompt_tokens=110, candidates_tokens=5),
                pro_response(text="Sunny.", prompt_tokens=120, candidates_tokens=5),
            ]
        )
        client = wrapped(mock)
        hooks: list[Any] = []
        runtime_of(client).before_call.append(lambda s: (hooks.append(s), cap(s)))  # type: ignore[union-attr]
        with capture_records() as recs:
            client.models.generate_content(
                model="gemini-2.5-pro",
                contents="Weather?",
                config=types.GenerateContentConfig(tools=[get_weather], temperature=0.2),
            )
        assert len(hooks) == 1
        assert [r["generationConfig"] for r in mock.requests] == [
            {"temperature": 0.2, "maxOutputTokens": 64}
        ] * 3
        assert [len(r["contents"]) for r in mock.requests] == [1, 3, 5]
        assert recs[0].request_max_tokens == 64

    def test_failed_second_hop_keeps_the_first_hops_usage(self) -> None:
        """Hop 2 fails: the SDK's error reaches the caller unchanged; hop 1 stays billed on the record."""
        mock = GoogleMock(
            script=[
                pro_response(
                    prompt_tokens=150_000,
                    candidates_tokens=1_000,
                    finish_reason="CONTINUATION",
                    continuation_token=b"t",
                ),
                503,
            ]
        )
        client = wrapped(mock)
        with capture_records() as recs, pytest.raises(errors.ServerError) as info:
            client.models.generate_content(model="gemini-2.5-pro", contents="long")
        assert info.value.code == 503
        (rec,) = recs
        assert rec.status == "error"
        assert rec.error_type == "ServerError"
        assert rec.http_requests == 1
        assert rec.cost_usd == (150_000 * PRO_IN + 1_000 * PRO_OUT) / M

    async def test_async_continuation(self) -> None:
        """Async continuation: both hops on one record."""
        mock = GoogleMock(
            script=[
                pro_response(
                    prompt_tokens=1_000,
                    candidates_tokens=10,
                    finish_reason="CONTINUATION",
                    continuation_token=b"t",
                ),
                pro_response(prompt_tokens=1_000, candidates_tokens=20),
            ]
        )
        client = wrapped(mock)
        with capture_records() as recs:
            await client.aio.models.generate_content(model="gemini-2.5-pro", contents="x")
        assert recs[0].http_requests == 2
        assert recs[0].output_tokens == 30


class TestChats:
    def test_send_message_goes_through_models(self) -> None:
        """Each chat turn is one record."""
        client = wrapped(GoogleMock(**usage_kw(1_000, 100)))
        with capture_records() as recs:
            chat = client.chats.create(model="gemini-2.5-pro")
            chat.send_message("hello")
            chat.send_message("again")
            list(chat.send_message_stream("streamed"))
        assert [(r.stream, r.input_tokens) for r in recs] == [(False, 1_000), (False, 1_000), (True, 1_000)]
        assert all(r.cost_usd == (1_000 * PRO_IN + 100 * PRO_OUT) / M for r in recs)

    async def test_async_chat(self) -> None:
        """client.aio.chats goes through client.aio.models."""
        client = wrapped(GoogleMock(**usage_kw(1_000, 100)))
        with capture_records() as recs:
            chat = client.aio.chats.create(model="gemini-2.5-pro")
            await chat.send_message("hello")
        assert len(recs) == 1
        assert recs[0].operation == "generate_content"


class TestEmbeddingsAndTokenCounts:
    def test_embed_content(self) -> None:
        """embed_content: input tokens at the embedding model's rate."""
        client = wrapped(GoogleMock(prompt_tokens=1_000))
        with capture_records() as recs:
            r = client.models.embed_content(model="gemini-embedding-001", contents=["a", "b", "c"])
        assert len(r.embeddings) == 3
        (rec,) = recs
        assert (rec.endpoint, rec.operation, rec.model) == (
            "embed_content",
            "embeddings",
            "gemini-embedding-001",
        )
        assert (rec.input_tokens, rec.output_tokens) == (1_000, 0)
        assert rec.cost_usd == 1_000 * Decimal("0.15") / M

    async def test_async_embed_content(self) -> None:
        """The async twin is metered the same way."""
        client = wrapped(GoogleMock(prompt_tokens=2_000))
        with capture_records() as recs:
            await client.aio.models.embed_content(model="gemini-embedding-001", contents="a")
        assert recs[0].cost_usd == 2_000 * Decimal("0.15") / M

    def test_vertex_predict_embeddings(self) -> None:
        """Vertex text-embedding models answer :predict with per-instance token counts."""
        llmfinops.configure(
            price_overrides={
                "models": [
                    {
                        "id": "text-embedding-005",
                        "provider": "google",
                        "kind": "embedding",
                        "prices": [{"input_mtok": "0.10", "output_mtok": "0", "source": "test"}],
                    }
                ]
            }
        )
        client = wrapped(GoogleMock(prompt_tokens=300), vertexai=True)
        with capture_records() as recs:
            client.models.embed_content(model="text-embedding-005", contents=["a", "b"])
        assert recs[0].input_tokens == 600
        assert recs[0].cost_usd == 600 * Decimal("0.10") / M

    def test_count_tokens_is_recorded_free(self) -> None:
        """count_tokens is free: a record with zero tokens and cost 0."""
        client = wrapped(GoogleMock(prompt_tokens=4_321))
        with capture_records() as recs:
            r = client.models.count_tokens(model="gemini-2.5-pro", contents="hello")
        assert r.total_tokens == 4_321
        (rec,) = recs
        assert (rec.operation, rec.endpoint) == ("count_tokens", "count_tokens")
        assert (rec.input_tokens, rec.output_tokens) == (0, 0)
        assert rec.cost_usd == 0


def _cache_config(ttl: str) -> types.CreateCachedContentConfig:
    return types.CreateCachedContentConfig(
        contents=[types.Content(role="user", parts=[types.Part(text="a long document")])], ttl=ttl
    )


class TestCaches:
    def test_create_bills_input_and_storage_for_the_ttl(self) -> None:
        """create: cached tokens at the input rate + tokens x TTL hours x storage price."""
        mock = GoogleMock(cache_tokens=100_000)
        client = wrapped(mock)
        with capture_records() as recs:
            cache = client.caches.create(model="gemini-2.5-flash", config=_cache_config("7200s"))
        assert cache.usage_metadata.total_token_count == 100_000
        (rec,) = recs
        assert (rec.endpoint, rec.operation, rec.model) == (
            "caches.create",
            "cache_create",
            "gemini-2.5-flash",
        )
        assert rec.input_tokens == 100_000
        assert rec.input_cost_usd == 100_000 * FLASH_IN / M
        assert rec.cache_storage_cost_usd == 100_000 * 2 * FLASH_STORAGE / M
        assert rec.cost_usd == Decimal("0.23")

    def test_update_bills_the_added_hours(self) -> None:
        """update: storage for the change of expiry (created 1h at T, extended at T+30m by 1h -> +30m)."""
        mock = GoogleMock(cache_tokens=100_000)
        client = wrapped(mock)
        with capture_records() as recs:
            cache = client.caches.create(model="gemini-2.5-pro", config=_cache_config("3600s"))
            mock.now += timedelta(minutes=30)
            client.caches.update(name=cache.name, config=types.UpdateCachedContentConfig(ttl="3600s"))
        create, update = recs
        assert create.cache_storage_cost_usd == 100_000 * Decimal("4.50") / M
        assert (update.endpoint, update.model, update.input_tokens) == ("caches.update", "gemini-2.5-pro", 0)
        assert update.cache_storage_cost_usd == 100_000 * Decimal("0.5") * Decimal("4.50") / M
        assert update.cost_usd == Decimal("0.225")
        assert update.pricing_note is None

    def test_update_of_an_unseen_cache_is_an_upper_bound(self) -> None:
        """Without the old expiry, storage is charged from the update time, with a note."""
        mock = GoogleMock()
        created = datetime(2026, 11, 1, 11, 0, tzinfo=UTC)
        mock.caches["cachedContents/unseen01"] = cached_content(
            name="cachedContents/unseen01",
            model="models/gemini-2.5-flash",
            total_tokens=60_000,
            create_time=created,
            expire_time=created + timedelta(hours=2),
        )
        client = wrapped(mock)
        with capture_records() as recs:
            client.caches.update(name="cachedContents/unseen01", config={"ttl": "1800s"})
        (rec,) = recs
        assert rec.cache_storage_cost_usd == 60_000 * Decimal("0.5") * FLASH_STORAGE / M
        assert "upper bound" in (rec.pricing_note or "")

    def test_get_teaches_the_expiry(self) -> None:
        """caches.get is free and unrecorded, but lets a later update be priced exactly."""
        mock = GoogleMock()
        created = datetime(2026, 11, 1, 11, 0, tzinfo=UTC)
        mock.caches["cachedContents/seen0001"] = cached_content(
            name="cachedContents/seen0001",
            model="models/gemini-2.5-flash",
            total_tokens=60_000,
            create_time=created,
            expire_time=datetime(2026, 11, 1, 12, 20, tzinfo=UTC),
        )
        client = wrapped(mock)
        with capture_records() as recs:
            client.caches.get(name="cachedContents/seen0001")
            client.caches.update(
                name="cachedContents/seen0001", config={"ttl": "3600s"}
            )  # now 12:00 -> 13:00
        (rec,) = recs
        # 40 minutes added (12:20 -> 13:00): 2/3 h, rounded once at 1e-12 USD
        assert rec.cache_storage_cost_usd == Decimal("0.040000000000")
        assert rec.pricing_note is None

    def test_delete_is_a_zero_cost_record(self) -> None:
        """delete: storage is not refunded; a zero-cost record; unknown caches are not recorded."""
        mock = GoogleMock(cache_tokens=10_000)
        client = wrapped(mock)
        with capture_records() as recs:
            cache = client.caches.create(model="gemini-2.5-flash", config=_cache_config("900s"))
            client.caches.delete(name=cache.name)
            mock.caches["cachedContents/other"] = cached_content(name="cachedContents/other")
            client.caches.delete(name="cachedContents/other")
        create, delete = recs
        assert create.cost_usd == (10_000 * FLASH_IN + 10_000 * FLASH_STORAGE / 4) / M
        assert (delete.endpoint, delete.model, delete.cost_usd) == ("caches.delete", "gemini-2.5-flash", 0)
        assert "not refunded" in (delete.pricing_note or "")

    def test_generate_with_the_cache_reads_at_the_cache_rate(self) -> None:
        """A call using cached_content bills the cached part at the cache-read rate."""
        client = wrapped(GoogleMock(**usage_kw(100_500, 200, cached_tokens=100_000)))
        with capture_records() as recs:
            client.models.generate_content(
                model="gemini-2.5-pro",
                contents="q",
                config=types.GenerateContentConfig(cached_content="cachedContents/abc"),
            )
        assert recs[0].cost_usd == (500 * PRO_IN + 100_000 * PRO_READ + 200 * PRO_OUT) / M

    async def test_async_cache_create(self) -> None:
        """client.aio.caches.create is metered too."""
        client = wrapped(GoogleMock(cache_tokens=100_000))
        with capture_records() as recs:
            await client.aio.caches.create(model="gemini-2.5-flash", config=_cache_config("3600s"))
        assert recs[0].cost_usd == (100_000 * FLASH_IN + 100_000 * FLASH_STORAGE) / M


class TestBatches:
    def _job(self, name: str, state: str = "BATCH_STATE_SUCCEEDED") -> dict[str, Any]:
        return batch_job(
            name=name,
            model="models/gemini-2.5-pro",
            state=state,
            end_time=datetime(2026, 11, 2, 3, 0, tzinfo=UTC),
            responses=[
                pro_response(prompt_tokens=10_000, candidates_tokens=1_000, response_id="b1"),
                pro_response(
                    prompt_tokens=20_000, candidates_tokens=500, thoughts_tokens=500, response_id="b2"
                ),
            ],
        )

    def test_finished_job_records_each_response_at_batch_rates(self) -> None:
        """One record per inlined response, tier batch (50%), once per job."""
        mock = GoogleMock()
        mock.batches["batches/job0001"] = self._job("batches/job0001")
        client = wrapped(mock)
        with capture_records() as recs:
            job = client.batches.get(name="batches/job0001")
            client.batches.get(name="batches/job0001")  # polled again: nothing new
        assert job.state == types.JobState.JOB_STATE_SUCCEEDED
        assert len(recs) == 2
        first, second = recs
        assert all(r.service_tier == "batch" for r in recs)
        assert all(r.endpoint == "batches" and r.model == "gemini-2.5-pro" for r in recs)
        assert first.cost_usd == (10_000 * PRO_IN + 1_000 * PRO_OUT) / M / 2
        assert second.cost_usd == (20_000 * PRO_IN + 1_000 * PRO_OUT) / M / 2
        assert first.timestamp == datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
        assert (first.request_id, second.request_id) == ("b1", "b2")
        assert first.tags == {"batch_job": "batches/job0001", "batch_request_key": "request-1"}

    def test_results_have_the_same_ids_in_every_process(self) -> None:
        """A job read by two processes writes the same record ids (a sink with unique ids keeps one)."""
        from llmfinops.providers import _google_resources as res

        mock = GoogleMock()
        mock.batches["batches/job0020"] = self._job("batches/job0020")
        client = wrapped(mock)
        with capture_records() as recs:
            client.batches.get(name="batches/job0020")
            res._batches_seen.clear()  # as a fresh process would
            client.batches.get(name="batches/job0020")
        assert len(recs) == 4
        assert [r.id for r in recs[:2]] == [r.id for r in recs[2:]]
        assert recs[0].id == stable_id("google", "batches/job0020", "#0")

    def test_running_job_records_nothing(self) -> None:
        """A job that has not finished has no billed results yet."""
        mock = GoogleMock()
        mock.batches["batches/job0002"] = self._job("batches/job0002", state="BATCH_STATE_RUNNING")
        client = wrapped(mock)
        with capture_records() as recs:
            client.batches.get(name="batches/job0002")
        assert recs == []

    def _file_job(self, n: int) -> tuple[GoogleMock, str]:
        """A finished job whose three results (the second one failed) are in ``files/batch-out<n>``."""
        mock = GoogleMock()
        name, file = f"batches/filejob{n}", f"files/batch-out{n}"
        mock.batches[name] = batch_job(
            name=name,
            model="models/gemini-2.5-pro",
            end_time=datetime(2026, 11, 2, 3, 0, tzinfo=UTC),
            responses_file=file,
        )
        mock.files[file] = batch_results_file(
            [
                pro_response(prompt_tokens=10_000, candidates_tokens=1_000, response_id="f1"),
                None,
                pro_response(
                    prompt_tokens=20_000, candidates_tokens=500, thoughts_tokens=500, response_id="f3"
                ),
            ]
        )
        return mock, name

    def _assert_file_records(self, recs: list[CallRecord], job: str) -> None:
        first, second = recs
        assert all(r.service_tier == "batch" and r.endpoint == "batches" for r in recs)
        assert first.cost_usd == (10_000 * PRO_IN + 1_000 * PRO_OUT) / M / 2
        assert second.cost_usd == (20_000 * PRO_IN + 1_000 * PRO_OUT) / M / 2
        assert first.timestamp == datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
        assert (first.request_id, second.request_id) == ("f1", "f3")
        assert [r.tags for r in recs] == [
            {"batch_job": job, "batch_request_key": "request-1"},
            {"batch_job": job, "batch_request_key": "request-3"},
        ]
        assert [r.id for r in recs] == [stable_id("google", job, f"#{i}") for i in (0, 2)]  # by position

    def test_file_results_are_recorded_when_downloaded(self) -> None:
        """A job whose results went to a file: one record per billed line of its download, once."""
        mock, name = self._file_job(1)
        client = wrapped(mock)
        with capture_records() as recs:
            job = client.batches.get(name=name)
            assert recs == []  # nothing billed is known until the file is read
            data = client.files.download(file=job.dest.file_name)
            again = client.files.download(file=job.dest.file_name)  # read twice: recorded once
        assert data == again == mock.files["files/batch-out1"]  # the caller gets the file unchanged
        self._assert_file_records(recs, name)

    def test_download_to_a_path_or_a_stream(self, tmp_path: Any) -> None:
        """Results downloaded to a file path or into a writable stream are recorded the same way."""
        import io

        for n, destination in ((2, tmp_path / "results.jsonl"), (3, io.BytesIO())):
            mock, name = self._file_job(n)
            client = wrapped(mock)
            with capture_records() as recs:
                client.batches.get(name=name)
                assert client.files.download(file=f"files/batch-out{n}", destination=destination) is None
            written = (
                destination.read_bytes()
                if isinstance(destination, type(tmp_path))
                else destination.getvalue()
            )
            assert written == mock.files[f"files/batch-out{n}"]
            self._assert_file_records(recs, name)

    async def test_async_download(self) -> None:
        """client.aio.files.download records the results too."""
        mock, name = self._file_job(4)
        client = wrapped(mock)
        with capture_records() as recs:
            await client.aio.batches.get(name=name)
            await client.aio.files.download(file="files/batch-out4")
        self._assert_file_records(recs, name)

    def test_failed_download_records_nothing_and_a_retry_does(self) -> None:
        """A download that fails records nothing; the next successful one records the results."""
        mock, name = self._file_job(5)
        content = mock.files.pop("files/batch-out5")
        client = wrapped(mock)
        with capture_records() as recs:
            client.batches.get(name=name)
            with pytest.raises(errors.ClientError):
                client.files.download(file="files/batch-out5")
            assert recs == []
            mock.files["files/batch-out5"] = content
            client.files.download(file="files/batch-out5")
        self._assert_file_records(recs, name)

    def test_other_files_pass_through(self) -> None:
        """A file this process never saw as a job's results is not read or recorded."""
        mock, name = self._file_job(6)
        client = wrapped(mock)
        with capture_records() as recs:
            data = client.files.download(file="files/batch-out6")  # no batches.get before
            client.batches.get(name=name)
        assert recs == []
        assert data == mock.files["files/batch-out6"]

    def test_registered_by_list_and_tagged_as_when_polled(self) -> None:
        """batches.list registers a finished job's file too; records carry the tags of the poll."""
        mock, name = self._file_job(7)
        client = wrapped(mock)
        with capture_records() as recs:
            with llmfinops.tags(team="poller"):
                list(client.batches.list())
            with llmfinops.tags(team="downloader"):
                client.files.download(file="files/batch-out7")
        assert [r.team for r in recs] == ["poller", "poller"]
        self._assert_file_records(recs, name)

    async def test_async_stream_with_async_write_and_async_path(self, tmp_path: Any) -> None:
        """aio downloads into a stream whose write is a coroutine, or to a path: data and records intact."""

        class AsyncSink:
            def __init__(self) -> None:
                self.data = b""

            async def write(self, chunk: bytes) -> int:
                self.data += chunk
                return len(chunk)

        for n, destination in ((8, AsyncSink()), (9, tmp_path / "aresults.jsonl")):
            mock, name = self._file_job(n)
            client = wrapped(mock)
            with capture_records() as recs:
                await client.aio.batches.get(name=name)
                await client.aio.files.download(file=f"files/batch-out{n}", destination=destination)
            written = destination.data if isinstance(destination, AsyncSink) else destination.read_bytes()
            assert written == mock.files[f"files/batch-out{n}"]
            self._assert_file_records(recs, name)

    async def test_async_failed_download_then_retry(self) -> None:
        """An aio download that fails records nothing and creates no file; the retry records."""
        mock, name = self._file_job(10)
        content = mock.files.pop("files/batch-out10")
        client = wrapped(mock)
        with capture_records() as recs:
            await client.aio.batches.get(name=name)
            with pytest.raises(errors.ClientError):
                await client.aio.files.download(file="files/batch-out10")
            mock.files["files/batch-out10"] = content
            await client.aio.files.download(file="files/batch-out10")
        self._assert_file_records(recs, name)

    def test_failed_download_to_a_path_creates_no_file(self, tmp_path: Any) -> None:
        """As without llmfinops: an error response leaves no file at the destination path."""
        mock, name = self._file_job(11)
        mock.files.pop("files/batch-out11")
        client = wrapped(mock)
        client.batches.get(name=name)
        with pytest.raises(errors.ClientError):
            client.files.download(file="files/batch-out11", destination=tmp_path / "out.jsonl")
        assert not (tmp_path / "out.jsonl").exists()

    def test_fifo_destination_does_not_block(self, tmp_path: Any) -> None:
        """A path that is a pipe is written once, never read back (the call returns)."""
        import os
        import threading

        mock, name = self._file_job(12)
        client = wrapped(mock)
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
        reader.start()
        with capture_records() as recs:
            client.batches.get(name=name)
            client.files.download(file="files/batch-out12", destination=str(fifo))
        reader.join(timeout=10)
        assert got == [mock.files["files/batch-out12"]]
        self._assert_file_records(recs, name)

    def test_unwrap_removes_the_download_patch(self) -> None:
        """After unwrap, downloads go straight to the SDK and nothing is recorded."""
        mock, name = self._file_job(13)
        client = wrapped(mock)
        client.batches.get(name=name)
        llmfinops.unwrap(client)
        assert "download_file" not in vars(client._api_client)
        with capture_records() as recs:
            client.files.download(file="files/batch-out13")
        assert recs == []

    def test_inlined_embedding_results_are_recorded(self) -> None:
        """Embedding batch results carry tokenCount (a JSON string for int64), not usageMetadata."""
        mock = GoogleMock()
        job = batch_job(name="batches/emb1", model="models/gemini-embedding-001")
        job["metadata"]["output"] = {
            "inlinedEmbedContentResponses": {
                "inlinedResponses": [
                    {"response": {"embedding": {"values": [0.1, 0.2]}, "tokenCount": "1200"}},
                    {"error": {"code": 400, "message": "bad input"}},
                ]
            }
        }
        mock.batches["batches/emb1"] = job
        client = wrapped(mock)
        with capture_records() as recs:
            client.batches.get(name="batches/emb1")
        (rec,) = recs
        assert (rec.operation, rec.input_tokens, rec.service_tier) == ("embeddings", 1200, "batch")
        assert rec.cost_usd is not None and rec.cost_usd > 0

    async def test_async_batch_get(self) -> None:
        """client.aio.batches.get records the results too."""
        mock = GoogleMock()
        mock.batches["batches/job0004"] = self._job("batches/job0004")
        client = wrapped(mock)
        with capture_records() as recs:
            await client.aio.batches.get(name="batches/job0004")
        assert len(recs) == 2


class TestBatchResultsReader:
    """The results-file reader fed directly: line framing, shapes, once-only across downloads."""

    @staticmethod
    def _reader(claimed: int = 0) -> Any:
        from llmfinops._recorder import ClientRuntime
        from llmfinops.providers._google_files import BatchResults
        from llmfinops.providers._google_resources import _BatchFile

        info = _BatchFile("batches/r1", "gemini-2.5-pro", datetime(2026, 11, 2, tzinfo=UTC), {}, claimed)
        return info, lambda: BatchResults(ClientRuntime("google"), "files/r1", info)

    @staticmethod
    def _content() -> bytes:
        ok = [
            json.dumps(
                {"key": f"k{i}", "response": pro_response(prompt_tokens=1000 * i, response_id=f"r{i}")}
            )
            for i in range(1, 5)
        ]
        bare = json.dumps(pro_response(prompt_tokens=5000, response_id="r5"))  # a line that is the response
        error = json.dumps({"key": "k6", "error": {"code": 400, "message": "invalid"}})
        embed = json.dumps({"key": "k7", "response": {"embedding": {"values": [0.5]}, "tokenCount": "70"}})
        return "\r\n".join([*ok, bare, error, embed]).encode()  # CRLF, no newline at the end

    def test_lines_split_across_chunks_crlf_and_no_final_newline(self) -> None:
        """Fed 7 bytes at a time: every billed line once, keys and response ids right."""
        _, make = self._reader()
        reader = make()
        data = self._content()
        with capture_records() as recs:
            for i in range(0, len(data), 7):
                reader.feed(data[i : i + 7])
            reader.close()
        assert reader.lines == 7
        assert [(r.tags.get("batch_request_key"), r.request_id, r.input_tokens) for r in recs] == [
            ("k1", "r1", 1000),
            ("k2", "r2", 2000),
            ("k3", "r3", 3000),
            ("k4", "r4", 4000),
            (None, "r5", 5000),
            ("k7", None, 70),
        ]
        assert all(r.service_tier == "batch" for r in recs)

    def test_a_failed_download_then_a_retry_records_each_line_once(self) -> None:
        """Lines read before a failure stay recorded; the retry records only the rest."""
        _, make = self._reader()
        data = self._content()
        with capture_records() as recs:
            first = make()
            first.feed(data[: len(data) // 2])
            first.abort()
            partial = len(recs)
            second = make()
            second.feed(data)
            second.close()
        assert 0 < partial < 6
        assert len(recs) == 6
        assert sorted((str(r.tags.get("batch_request_key")), str(r.request_id)) for r in recs) == [
            ("None", "r5"),
            ("k1", "r1"),
            ("k2", "r2"),
            ("k3", "r3"),
            ("k4", "r4"),
            ("k7", "None"),
        ]

    def test_concurrent_downloads_share_the_lines(self) -> None:
        """Two readers of one file, interleaved: each billed line is recorded by exactly one."""
        _, make = self._reader()
        data = self._content()
        a, b = make(), make()
        with capture_records() as recs:
            for i in range(0, len(data), 50):
                a.feed(data[i : i + 50])
                b.feed(data[i : i + 50])
            a.close()
            b.close()
        assert len(recs) == 6
        assert a.recorded + b.recorded == 6

    def _read_same_line(self, n: int, *, key: str, prompt_tokens: int) -> Any:
        """A fresh reader fed ``n`` identical billed lines, closed, the writer flushed."""
        reader = self._reader()[1]()
        line = json.dumps({"key": key, "response": pro_response(prompt_tokens=prompt_tokens)}).encode()
        reader.feed((line + b"\n") * n)
        reader.close()
        llmfinops.flush()
        return reader

    @pytest.mark.parametrize(("max_queue", "lines"), [(200, 3000), (10, 500)])
    def test_the_writer_queue_does_not_overflow(self, max_queue: int, lines: int) -> None:
        """Read faster than the writer builds records: the reader drains the queue (checked on every
        record, so even a 10-record queue drops nothing)."""
        from llmfinops.sinks import MemorySink

        sink = MemorySink()
        llmfinops.configure(sinks=[sink], max_queue=max_queue)
        reader = self._read_same_line(lines, key="k", prompt_tokens=100)
        assert len(sink.records) == reader.recorded == lines
        assert llmfinops.get_config().writer().stats()["dropped_overflow"] == 0

    def test_repeated_keys_still_give_distinct_ids(self, tmp_path: Any) -> None:
        """Keys are the user's and may repeat: ids come from the position, and SQLite keeps every row."""
        from llmfinops.sinks import SQLiteSink, read_sqlite

        llmfinops.configure(sinks=[SQLiteSink(tmp_path / "calls.db")])
        self._read_same_line(3, key="same", prompt_tokens=1000)
        rows = list(read_sqlite(tmp_path / "calls.db"))
        assert (len(rows), sum(r.input_tokens for r in rows)) == (3, 3000)

    def test_responses_without_usage_and_garbage_lines(self, caplog: Any) -> None:
        """A response that reports no usage warns once; a line that is not JSON is logged."""
        _, make = self._reader()
        reader = make()
        with capture_records() as recs, pytest.warns(UsageExtractionFailedWarning, match="report no usage"):
            reader.feed(b'{"key": "x", "response": {"candidates": []}}\nnot json\n')
            reader.close()
        assert recs == []
        assert "not JSON objects" in caplog.text


class TestErrorsAndRetries:
    def test_error_reaches_the_caller_unchanged(self) -> None:
        """A 429 raises the SDK's ClientError; the record is an error at cost 0."""
        client = wrapped(GoogleMock(error_status=429))
        with capture_records() as recs, pytest.raises(errors.ClientError) as info:
            client.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert info.value.code == 429
        assert info.value.status == "RESOURCE_EXHAUSTED"
        (rec,) = recs
        assert (rec.status, rec.error_type, rec.cost_usd, rec.input_tokens) == ("error", "ClientError", 0, 0)

    async def test_async_error(self) -> None:
        """The async twin behaves the same."""
        client = wrapped(GoogleMock(error_status=500))
        with capture_records() as recs, pytest.raises(errors.ServerError):
            await client.aio.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert recs[0].status == "error"

    def test_retries_are_counted(self) -> None:
        """With HttpRetryOptions, two 429s then a success: retry_count 2, one billed request."""
        mock = GoogleMock(fail_first=2, **usage_kw(1_000, 100))
        opts = types.HttpRetryOptions(attempts=3, initial_delay=0.001, max_delay=0.001, jitter=0)
        client = llmfinops.wrap(google_client(mock, retry_options=opts))
        with capture_records() as recs:
            client.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert len(mock.requests) == 3
        (rec,) = recs
        assert (rec.retry_count, rec.http_requests, rec.status) == (2, 1, "ok")
        assert rec.cost_usd == (1_000 * PRO_IN + 100 * PRO_OUT) / M

    async def test_async_retries_are_counted(self) -> None:
        """The async retry loop is counted per attempt too."""
        mock = GoogleMock(fail_first=1, **usage_kw(1_000, 100))
        opts = types.HttpRetryOptions(attempts=3, initial_delay=0.001, max_delay=0.001, jitter=0)
        client = llmfinops.wrap(google_client(mock, retry_options=opts))
        with capture_records() as recs:
            await client.aio.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert recs[0].retry_count == 1

    def test_internal_failure_never_breaks_the_call(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """If reading usage fails, the call returns normally; the failure and the missing usage are warned."""
        from llmfinops.providers import _google_response

        def boom(*args: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(_google_response, "usage_from_raw", boom)
        client = wrapped(GoogleMock(**usage_kw(1_000, 100)))
        with (
            capture_records() as recs,
            pytest.warns(UsageExtractionFailedWarning),
            pytest.warns(InternalErrorWarning, match="boom"),
        ):
            r = client.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert r.text == "Hello! How can I help you today?"
        assert recs[0].cost_usd is None

    def test_strict_pricing_refuses_before_sending(self) -> None:
        """strict_pricing: an unpriced model raises PriceNotFound and nothing is sent."""
        mock = GoogleMock()
        client = llmfinops.wrap(google_client(mock), strict_pricing=True)
        with capture_records() as recs, pytest.raises(PriceNotFound):
            client.models.generate_content(model="gemini-unknown-9", contents="hi")
        assert mock.requests == []
        assert recs == []

    def test_budget_refusal_reaches_the_caller(self) -> None:
        """A before-call hook raising BudgetExceeded stops the call before any request."""
        mock = GoogleMock()
        client = wrapped(mock)
        seen: list[dict[str, Any] | None] = []

        def refuse(state: Any) -> None:
            seen.append(state.body)
            raise BudgetExceeded(
                key="team:search",
                window="day:2026-11-01",
                limit=Decimal(1),
                spent=Decimal(1),
                reserved=Decimal(0),
                estimate=Decimal("0.01"),
            )

        runtime_of(client).before_call.append(refuse)  # type: ignore[union-attr]
        with capture_records() as recs, pytest.raises(BudgetExceeded):
            list(client.models.generate_content_stream(model="gemini-2.5-pro", contents="hi"))
        assert mock.requests == []
        assert recs == []
        assert seen[0] is not None
        assert seen[0]["contents"] == [{"parts": [{"text": "hi"}], "role": "user"}]

    def test_missing_usage_warns(self) -> None:
        """A response without usageMetadata: cost unknown, and a warning says so."""
        body = pro_response()
        del body["usageMetadata"]
        client = wrapped(GoogleMock(script=[body]))
        with capture_records() as recs, pytest.warns(UsageExtractionFailedWarning):
            client.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert recs[0].cost_usd is None


class TestPureFunctions:
    def test_extract_usage_from_the_sdk_object(self) -> None:
        """extract_usage reads the SDK's snake_case model."""
        um = types.GenerateContentResponseUsageMetadata(
            prompt_token_count=1_000,
            cached_content_token_count=600,
            candidates_token_count=50,
            thoughts_token_count=70,
            tool_use_prompt_token_count=30,
            traffic_type=types.TrafficType.ON_DEMAND_PRIORITY,
        )
        u = gadapter.extract_usage(um)
        assert (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens) == (
            1_030,
            600,
            120,
            70,
        )
        assert u.service_tier == "priority"

    @pytest.mark.parametrize(
        ("method", "path", "expected"),
        [
            ("post", "models/gemini-2.5-pro:generateContent", ("generate", "gemini-2.5-pro")),
            (
                "post",
                "publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
                ("stream", "gemini-2.5-pro"),
            ),
            ("post", "models/gemini-embedding-001:batchEmbedContents", ("embed", "gemini-embedding-001")),
            ("post", "models/gemini-2.5-pro:countTokens", ("count", "gemini-2.5-pro")),
            ("post", "cachedContents", ("cache_create", "")),
            ("patch", "cachedContents/abc", ("cache_update", "cachedContents/abc")),
            ("delete", "cachedContents/abc", ("cache_delete", "cachedContents/abc")),
            ("get", "cachedContents/abc", ("cache_get", "cachedContents/abc")),
            ("get", "batches/123", ("batch_get", "batches/123")),
            ("post", "models/gemini-2.5-pro:batchGenerateContent", None),
            ("post", "publishers/google/models/imagen-4:predict", None),
            ("get", "models/gemini-2.5-pro", None),
        ],
    )
    def test_route(self, method: str, path: str, expected: tuple[str, str] | None) -> None:
        """Requests are classified by method and path; batch creation and images are not metered."""
        r = route(method, path)
        assert (tuple(r) if r else None) == expected

    def test_scan_key_reads_only_the_top_level_value(self) -> None:
        """scan_key decodes the last key's value; quoted text cannot fake a key."""
        body = '{"candidates": [{"text": "say \\"usageMetadata\\": 1"}], "usageMetadata" :  {"a": 1}}'
        assert scan_key(body, '"usageMetadata"') == {"a": 1}
        assert scan_key('{"x": 1}', '"usageMetadata"') is None

    @pytest.mark.parametrize(
        "body",
        [
            '{"candidates": [], "modelVersion": "gemini-2.5-pro", "responseId": "r1"}',
            '{\n  "modelVersion" : "gemini-2.5-pro",\n  "responseId":"r1"\n}',
            '{"responseId": "r1", "modelVersion": "gemini-2.5-pro"}',
            '{"modelVersion": "a\\"b", "responseId": "r\\u00e9"}',
            '{"modelVersion": 5, "responseId": null}',
            '{"modelVersion": "m", "responseId": "r1", "x": {"responseId": "r2"}}',
            '{"modelVersion": "m", "responseId": "responseId"}',
            '{"c": "say \\"modelVersion\\": \\"x\\"", "modelVersion": "m"}',
            '{"modelVersion": "m\tx", "responseId": "r"}',
            '{"candidates": []}',
            '{"modelVersion": "m", "responseId": "r',
        ],
    )
    def test_scan_meta_reads_what_scan_key_reads(self, body: str) -> None:
        """The model version and response id are the strings scan_key decodes, or None."""
        mv, rid = scan_key(body, '"modelVersion"'), scan_key(body, '"responseId"')
        assert scan_meta(body) == (mv if isinstance(mv, str) else None, rid if isinstance(rid, str) else None)

    def test_model_from_resource(self) -> None:
        """Prefixes are stripped; tuned models keep their name."""
        assert model_from_resource("models/gemini-2.5-flash") == "gemini-2.5-flash"
        assert model_from_resource("tunedModels/t1") == "tunedModels/t1"

    def test_parse_time_nanoseconds(self) -> None:
        """RFC 3339 with nanoseconds and Z."""
        assert parse_time("2026-11-01T12:00:00.123456789Z") == datetime(
            2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC
        )
        assert parse_time("garbage") is None


def test_records_are_callrecords() -> None:
    """The adapter produces ordinary CallRecords that serialize to JSON."""
    client = wrapped(GoogleMock(**usage_kw(10, 5)))
    with capture_records() as recs:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert isinstance(recs[0], CallRecord)
    assert '"provider":"google"' in recs[0].to_json().replace(" ", "")


def test_http_client_type() -> None:
    """The test helper really injects httpx2 clients (no network)."""
    client = google_client()
    assert isinstance(client._api_client._httpx_client, httpx2.Client)
