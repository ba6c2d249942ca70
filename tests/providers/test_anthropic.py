"""The Anthropic adapter: the real ``anthropic`` SDK over ``httpx2.MockTransport``, priced by hand."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anthropic
import httpx2
import pytest
from pydantic import BaseModel

import llmfinops
from llmfinops._recorder import CallState
from llmfinops._wrap import runtime_of
from llmfinops.exceptions import (
    CostUnknownWarning,
    InternalErrorWarning,
    LLMFinOpsWarning,
    UsageExtractionFailedWarning,
)
from llmfinops.providers import anthropic as adapter
from llmfinops.records import CallRecord
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing._sse import json_response, sse_body, sse_response
from llmfinops.testing.anthropic import (
    AnthropicMock,
    anthropic_client,
    async_anthropic_client,
    batch_errored,
    batch_succeeded,
    message,
    message_events,
)

D = Decimal
MSGS: list[dict[str, Any]] = [{"role": "user", "content": "What is the capital of France?"}]
SONNET45_DEPRECATED = "ignore:The model 'claude-sonnet-4-5:DeprecationWarning"


@pytest.fixture(autouse=True)
def clock() -> FakeClock:
    """A fixed clock: prices are looked up at 2026-11-20."""
    c = FakeClock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    llmfinops.configure(clock=c)
    return c


@pytest.fixture
def records() -> Iterator[list[CallRecord]]:
    """Every record finished during the test."""
    with capture_records() as recs:
        yield recs


def create(client: Any, **kw: Any) -> Any:
    kw.setdefault("model", "claude-sonnet-4-6")
    kw.setdefault("max_tokens", 1024)
    kw.setdefault("messages", MSGS)
    return client.messages.create(**kw)


CACHED = {
    "input_tokens": 40,
    "cache_read_tokens": 2000,
    "cache_write_5m": 100,
    "cache_write_1h": 300,
    "output_tokens": 25,
}
# claude-sonnet-4-6: $3 in, $0.30 read, $3.75 5m write, $6 1h write, $15 out (per 1M tokens)
SONNET_CACHED_COST = D("0.000120") + D("0.000600") + D("0.000375") + D("0.0018") + D("0.000375")  # 0.00327
OPUS = {
    "input_tokens": 1000,
    "cache_read_tokens": 50000,
    "cache_write_5m": 2000,
    "cache_write_1h": 4000,
    "output_tokens": 800,
}
# claude-opus-4-6: $5 in, $0.50 read, $6.25 5m, $10 1h, $25 out
OPUS_COST = D("0.005") + D("0.025") + D("0.0125") + D("0.04") + D("0.02")  # 0.1025


class TestWrap:
    def test_keeps_type(self) -> None:
        """A wrapped client is still an anthropic.Anthropic / AsyncAnthropic."""
        assert isinstance(llmfinops.wrap(anthropic_client()), anthropic.Anthropic)
        assert isinstance(llmfinops.wrap(async_anthropic_client()), anthropic.AsyncAnthropic)

    def test_wrap_is_idempotent(self, records: list[CallRecord]) -> None:
        """Wrapping twice returns the same client and still writes one record per call."""
        client = anthropic_client()
        assert llmfinops.wrap(llmfinops.wrap(client)) is client
        create(client)
        assert len(records) == 1

    def test_unwrap_stops_metering(self, records: list[CallRecord]) -> None:
        """After unwrap the instance patches are gone and calls write nothing."""
        client = llmfinops.wrap(anthropic_client())
        assert "request" in vars(client)
        llmfinops.unwrap(client)
        assert "request" not in vars(client)
        assert "_attempt_request" not in vars(client)
        create(client)
        assert records == []

    def test_with_options_copy_is_metered(self, records: list[CallRecord]) -> None:
        """Clients derived with with_options() and with_middleware() stay metered."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(input_tokens=10, output_tokens=2)))
        create(client.with_options(timeout=30, max_retries=0))
        create(client.with_middleware(lambda req, call_next: call_next(req)))
        assert [r.input_tokens for r in records] == [10, 10]

    def test_hooks_see_a_clean_body(self) -> None:
        """Before-call hooks see the request body without the SDK's `omit` sentinels, and may edit it."""
        mock = AnthropicMock()
        client = llmfinops.wrap(anthropic_client(mock))
        seen: list[dict[str, Any]] = []

        def hook(state: Any) -> None:
            seen.append(dict(state.body))
            state.body["max_tokens"] = 100

        runtime = runtime_of(client)
        assert runtime is not None
        runtime.before_call.insert(0, hook)
        create(client, max_tokens=5000)
        assert seen == [{"max_tokens": 5000, "messages": MSGS, "model": "claude-sonnet-4-6"}]
        assert mock.requests[0]["max_tokens"] == 100

    def test_hooks_see_a_clean_body_with_other_sentinels(self) -> None:
        """Explicit `NOT_GIVEN`, fresh `Omit()` instances and subclasses are stripped too; values are kept."""

        class MyOmit(anthropic.Omit):
            pass

        mock = AnthropicMock()
        client = llmfinops.wrap(anthropic_client(mock))
        seen: list[dict[str, Any]] = []
        runtime = runtime_of(client)
        assert runtime is not None
        runtime.before_call.insert(0, lambda state: seen.append(dict(state.body)))
        create(
            client,
            messages=tuple(MSGS),
            service_tier=anthropic.NOT_GIVEN,
            system=anthropic.Omit(),
            tools=MyOmit(),
            metadata={"user_id": "u1"},
            stop_sequences=["END"],
        )
        assert seen == [
            {
                "max_tokens": 1024,
                "messages": tuple(MSGS),
                "metadata": {"user_id": "u1"},
                "model": "claude-sonnet-4-6",
                "stop_sequences": ["END"],
            }
        ]
        assert list(seen[0]) == list(mock.requests[0])  # the SDK's order, as sent

    def test_is_client(self) -> None:
        """Only Anthropic SDK clients are claimed."""
        assert adapter.is_client(anthropic_client())
        assert adapter.is_client(async_anthropic_client())
        assert not adapter.is_client(object())


class TestExtractUsage:
    def test_input_is_made_inclusive(self) -> None:
        """input_tokens excludes cache reads and writes on the wire; normalized it includes both."""
        u = adapter.extract_usage(
            {
                "input_tokens": 20,
                "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 300,
                "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
                "output_tokens": 80,
                "output_tokens_details": {"thinking_tokens": 60},
            }
        )
        assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (1320, 1000, 300)
        assert u.cache_write_by_ttl == {"5m": 100, "1h": 200}
        assert (u.output_tokens, u.reasoning_tokens, u.uncached_input_tokens) == (80, 60, 20)

    def test_sdk_model_and_modifiers(self) -> None:
        """An SDK Usage model works the same; tier, speed and geo are carried."""
        sdk = anthropic.types.Usage(
            input_tokens=5, output_tokens=7, service_tier="batch", speed="fast", inference_geo="us"
        )
        u = adapter.extract_usage(sdk)
        assert (u.input_tokens, u.output_tokens, u.service_tier) == (5, 7, "batch")
        assert u.modifiers == {"speed": "fast", "inference_geo": "us"}
        assert u.cache_write_by_ttl is None

    def test_missing_fields_are_zero(self) -> None:
        """Null cache counters and an all-zero split read as zero / no split."""
        u = adapter.extract_usage(
            {
                "input_tokens": 3,
                "output_tokens": 1,
                "cache_read_input_tokens": None,
                "cache_creation_input_tokens": None,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            }
        )
        assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.cache_write_by_ttl) == (
            3,
            0,
            0,
            None,
        )


class TestRequestedTtl:
    def test_default_is_5m(self) -> None:
        """Without any 1h marker the provider default (5m) applies."""
        body = {"system": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}
        assert adapter.requested_cache_ttl(body) == "5m"

    @pytest.mark.parametrize(
        "body",
        [
            {"cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {
                "tools": [
                    {"name": "t", "input_schema": {}, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
                ]
            },
            {"system": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "x", "cache_control": {"ttl": "1h"}}],
                    }
                ]
            },
        ],
    )
    def test_finds_1h(self, body: dict[str, Any]) -> None:
        """A 1h marker at the top level, in tools, system or message content is found."""
        assert adapter.requested_cache_ttl(body) == "1h"

    def test_lazy_iterables_are_not_consumed(self) -> None:
        """A generator of messages is left untouched for the SDK to send."""
        gen = iter([{"role": "user", "content": "hi"}])
        assert adapter.requested_cache_ttl({"messages": gen}) == "5m"
        assert next(gen) == {"role": "user", "content": "hi"}


class TestNonStreaming:
    def test_cached_call_priced_per_ttl(self, records: list[CallRecord]) -> None:
        """Cache reads and 5m/1h writes are each priced at their own rate (claude-sonnet-4-6)."""
        mock = AnthropicMock(**CACHED)
        msg = create(llmfinops.wrap(anthropic_client(mock)))
        assert msg.usage.input_tokens == 40
        (rec,) = records
        assert (rec.provider, rec.operation, rec.endpoint) == ("anthropic", "chat", "messages")
        assert (rec.model, rec.response_model, rec.price_model) == (
            "claude-sonnet-4-6",
            "claude-sonnet-4-6",
            "claude-sonnet-4-6",
        )
        assert (rec.input_tokens, rec.cached_input_tokens, rec.cache_write_tokens, rec.output_tokens) == (
            2440,
            2000,
            400,
            25,
        )
        assert rec.total_tokens == 2465
        assert rec.cost_usd == SONNET_CACHED_COST == D("0.00327")
        assert rec.input_cost_usd == D("0.000120")
        assert rec.cached_input_cost_usd == D("0.000600")
        assert rec.cache_write_cost_usd == D("0.002175")
        assert rec.output_cost_usd == D("0.000375")
        assert rec.service_tier == "standard"
        assert rec.request_max_tokens == 1024
        assert rec.request_id == "req_011CV00000001"
        assert (rec.status, rec.stream, rec.partial, rec.retry_count) == ("ok", False, False, 0)

    @pytest.mark.filterwarnings(SONNET45_DEPRECATED)
    def test_sonnet_4_5_dated_snapshot(self, records: list[CallRecord]) -> None:
        """claude-sonnet-4-5 answers as a dated snapshot, priced at the 4.5 entry."""
        create(llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED))), model="claude-sonnet-4-5")
        (rec,) = records
        assert rec.response_model == "claude-sonnet-4-5-20250929"
        assert rec.price_model == "claude-sonnet-4-5"
        assert rec.cost_usd == D("0.00327")

    def test_opus_4_6(self, records: list[CallRecord]) -> None:
        """claude-opus-4-6 with reads and both write TTLs."""
        create(llmfinops.wrap(anthropic_client(AnthropicMock(**OPUS))), model="claude-opus-4-6")
        (rec,) = records
        assert rec.input_tokens == 57000
        assert rec.cost_usd == OPUS_COST == D("0.1025")

    def test_ttl_from_body_when_split_missing(self, records: list[CallRecord]) -> None:
        """Without the cache_creation split, writes are priced at the TTL the request asked for."""
        client = llmfinops.wrap(
            anthropic_client(
                AnthropicMock(input_tokens=10, cache_write_5m=1000, output_tokens=10, report_ttl_split=False)
            )
        )
        system_1h = [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
        create(client, system=system_1h)
        create(client, system=[{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}])
        # 10 x $3 + 1000 x $6 (1h) + 10 x $15  |  10 x $3 + 1000 x $3.75 (5m) + 10 x $15
        assert [r.cost_usd for r in records] == [D("0.00618"), D("0.00393")]

    def test_thinking_is_inside_output(self, records: list[CallRecord]) -> None:
        """Thinking tokens are reported as reasoning and billed once, inside output."""
        mock = AnthropicMock(
            input_tokens=100, output_tokens=500, thinking="Let me think.", thinking_tokens=400
        )
        msg = create(llmfinops.wrap(anthropic_client(mock)), thinking={"type": "adaptive"})
        assert msg.content[0].type == "thinking"
        (rec,) = records
        assert (rec.output_tokens, rec.reasoning_tokens) == (500, 400)
        assert rec.output_cost_usd == D("0.0075")
        assert rec.cost_usd == D("0.0003") + D("0.0075")

    @pytest.mark.parametrize(
        ("mods", "multiplier"),
        [
            ({"speed": "fast"}, D(6)),
            ({"inference_geo": "us"}, D("1.1")),
            ({"speed": "fast", "inference_geo": "us"}, D("6.6")),
            ({"speed": "standard", "inference_geo": "global"}, D(1)),
        ],
    )
    def test_fast_and_geo_multipliers(
        self, records: list[CallRecord], mods: dict[str, str], multiplier: Decimal
    ) -> None:
        """Fast mode (6x on Opus 4.6) and US inference (1.1x) stack on the whole bill."""
        create(llmfinops.wrap(anthropic_client(AnthropicMock(**OPUS, **mods))), model="claude-opus-4-6")
        (rec,) = records
        assert rec.cost_usd == OPUS_COST * multiplier
        assert rec.pricing_note is None

    def test_priority_tier_is_flagged_not_guessed(self, records: list[CallRecord]) -> None:
        """A tier the table has no price for gives cost None with a warning, never a standard price."""
        with pytest.warns(CostUnknownWarning, match="priority"):
            create(llmfinops.wrap(anthropic_client(AnthropicMock(service_tier="priority"))))
        (rec,) = records
        assert rec.cost_usd is None
        assert rec.service_tier == "priority"

    def test_max_tokens_zero_prewarm(self, records: list[CallRecord]) -> None:
        """max_tokens=0 (cache pre-warm) is metered: the write is billed, the cap recorded as 0."""
        mock = AnthropicMock(input_tokens=5, cache_write_5m=3000, output_tokens=50)
        msg = create(llmfinops.wrap(anthropic_client(mock)), max_tokens=0)
        assert msg.usage.output_tokens == 0
        assert mock.requests[0]["max_tokens"] == 0
        (rec,) = records
        assert rec.request_max_tokens == 0
        assert (rec.output_tokens, rec.cache_write_tokens) == (0, 3000)
        assert rec.cost_usd == D("0.000015") + D("0.01125")

    def test_parse(self, records: list[CallRecord]) -> None:
        """messages.parse() is metered like create()."""

        class Answer(BaseModel):
            city: str

        mock = AnthropicMock(input_tokens=100, output_tokens=10, content='{"city": "Paris"}')
        parsed = llmfinops.wrap(anthropic_client(mock)).messages.parse(
            model="claude-sonnet-4-6", max_tokens=100, messages=MSGS, output_format=Answer
        )
        assert parsed.parsed_output == Answer(city="Paris")
        (rec,) = records
        assert rec.cost_usd == D("0.0003") + D("0.00015")

    def test_tags_attribution(self, records: list[CallRecord]) -> None:
        """Context tags and wrap() tags land on the record."""
        client = llmfinops.wrap(anthropic_client(), tags={"service": "support-bot"})
        with llmfinops.tags(team="search", feature="faq", ticket="T-1"):
            create(client)
        (rec,) = records
        assert (rec.team, rec.feature, rec.service, rec.tags) == (
            "search",
            "faq",
            "support-bot",
            {"ticket": "T-1"},
        )

    def test_count_tokens_is_not_recorded(self, records: list[CallRecord]) -> None:
        """count_tokens is free: it works unchanged and writes no record (GA and beta)."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(count_tokens=4321)))
        assert client.messages.count_tokens(model="claude-sonnet-4-6", messages=MSGS).input_tokens == 4321
        assert (
            client.beta.messages.count_tokens(model="claude-sonnet-4-6", messages=MSGS).input_tokens == 4321
        )
        assert records == []

    async def test_async_create(self, records: list[CallRecord]) -> None:
        """AsyncAnthropic messages.create is metered with the same numbers."""
        client = llmfinops.wrap(async_anthropic_client(AnthropicMock(**CACHED)))
        msg = await client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=MSGS)
        assert msg.usage.cache_read_input_tokens == 2000
        (rec,) = records
        assert (rec.cost_usd, rec.request_max_tokens, rec.request_id) == (
            D("0.00327"),
            64,
            "req_011CV00000001",
        )


class TestStreaming:
    def test_event_classes_skipped_are_the_sdks(self) -> None:
        """Events are skipped by SDK class; each class is checked against its ``type`` literal."""
        acted = {"message_start", "message_delta", "content_block_delta"}
        assert set(adapter._KIND_BY_CLASS.values()) == acted
        assert len(adapter._KIND_BY_CLASS) == 6  # plain and beta
        for cls in adapter._SKIP_REST:
            (literal,) = cls.model_fields["type"].annotation.__args__
            assert literal not in acted or literal == "content_block_delta"
        for cls, kind in adapter._KIND_BY_CLASS.items():
            assert cls.model_fields["type"].annotation.__args__ == (kind,)
        assert adapter._SKIP_FIRST < adapter._SKIP_REST  # content deltas are skipped after the first

    def test_sdk_without_event_classes_skips_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An SDK lacking the event classes leaves every event to be read by its ``type``."""
        import sys
        import types

        monkeypatch.setitem(sys.modules, "anthropic.types.beta", types.ModuleType("anthropic.types.beta"))
        assert adapter._event_classes() == ({}, frozenset(), frozenset())

    def test_unknown_event_class_is_read_by_type(self, records: list[CallRecord]) -> None:
        """An event of a class the observer does not know is read by its ``type`` (no skipping)."""
        state = CallState(runtime_of(llmfinops.wrap(anthropic_client())), "messages", "chat", "m")
        observer = adapter._MessageObserver(state)

        class Start(BaseModel):
            type: str = "message_start"
            message: dict[str, Any] = {
                "id": "msg_1",
                "model": "claude-sonnet-4-6",
                "usage": {"input_tokens": 7, "output_tokens": 1},
            }

        class Delta(BaseModel):
            type: str = "message_delta"
            usage: dict[str, Any] = {"output_tokens": 4}

        assert type(Start()) not in observer.skip
        observer.observe(Start())
        observer.observe(Delta())
        assert observer.complete
        assert state.usage is not None
        assert (state.usage.input_tokens, state.usage.output_tokens) == (7, 4)
        assert (state.response_model, state.request_id) == ("claude-sonnet-4-6", "msg_1")

    def test_later_delta_overwrites_only_what_it_reports(self) -> None:
        """Several ``message_delta`` events: each reported value overwrites; a null or absent one keeps
        the latest value seen (start, then earlier deltas), the way the SDK accumulates a message."""
        state = CallState(runtime_of(llmfinops.wrap(anthropic_client())), "messages", "chat", "m")
        observer = adapter._new_observer(state)
        observer.observe(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "model": "claude-sonnet-4-6",
                    "usage": {
                        "input_tokens": 10,
                        "cache_read_input_tokens": 100,
                        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 30},
                        "cache_creation_input_tokens": 30,
                        "output_tokens": 1,
                        "speed": "fast",
                    },
                },
            }
        )
        assert state.usage is None and state.has_usage  # read when needed (a stream cut here)
        observer.observe({"type": "message_delta", "usage": {"output_tokens": 40, "input_tokens": 12}})
        observer.observe({"type": "message_delta", "usage": {"output_tokens": 90, "input_tokens": None}})
        u = state.usage
        assert u is not None and observer.complete and state.usage_reader is None
        assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.output_tokens) == (
            142,
            100,
            30,
            90,
        )
        assert u.cache_write_by_ttl == {"5m": 0, "1h": 30} and u.modifiers == {"speed": "fast"}

    def test_stream_cut_after_start_is_read_from_start(self) -> None:
        state = CallState(runtime_of(llmfinops.wrap(anthropic_client())), "messages", "chat", "m")
        observer = adapter._new_observer(state)
        observer.observe(
            {"type": "message_start", "message": {"id": "m1", "model": "m", "usage": {"input_tokens": 5}}}
        )
        assert state.usage_reader is observer and state.usage is None
        observer(state)  # what CallState._build does for a record built before the final delta
        assert state.usage is not None and state.usage.input_tokens == 5

    def test_create_stream(self, records: list[CallRecord], clock: FakeClock) -> None:
        """stream=True: input side from message_start, cumulative delta overwrites (never adds)."""

        def handler(request: httpx2.Request) -> httpx2.Response:
            clock.advance(0.25)  # time to first byte
            return mock(request)

        mock = AnthropicMock(**CACHED)  # the delta repeats the input counts, as the API does
        client = llmfinops.wrap(anthropic_client(handler))
        events = list(create(client, stream=True))
        assert (events[0].type, events[-1].type) == ("message_start", "message_stop")
        (rec,) = records
        assert (rec.input_tokens, rec.cached_input_tokens, rec.cache_write_tokens, rec.output_tokens) == (
            2440,
            2000,
            400,
            25,
        )
        assert rec.cost_usd == D("0.00327")
        assert (rec.stream, rec.partial, rec.status) == (True, False, "ok")
        assert rec.time_to_first_token_ms == pytest.approx(250.0)
        assert rec.request_id == "req_011CV00000001"
        assert rec.response_model == "claude-sonnet-4-6"

    def test_delta_input_replaces_start(self, records: list[CallRecord]) -> None:
        """Input counts on message_delta replace those of message_start (cumulative totals)."""
        mock = AnthropicMock(**CACHED, delta_input_tokens=90)
        list(create(llmfinops.wrap(anthropic_client(mock)), stream=True))
        (rec,) = records
        assert rec.input_tokens == 90 + 2000 + 400
        # the TTL split from message_start still prices the writes
        assert rec.cost_usd == D("0.00327") + 50 * D("0.000003")

    def test_stream_ttl_from_body_when_split_missing(self, records: list[CallRecord]) -> None:
        """A stream whose message_start has no TTL split prices writes at the requested TTL."""
        mock = AnthropicMock(input_tokens=10, cache_write_5m=1000, output_tokens=10, report_ttl_split=False)
        client = llmfinops.wrap(anthropic_client(mock))
        tools = [
            {
                "name": "lookup",
                "input_schema": {"type": "object"},
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ]
        list(create(client, stream=True, tools=tools))
        (rec,) = records
        assert rec.cost_usd == D("0.00618")

    def test_thinking_stream(self, records: list[CallRecord]) -> None:
        """Thinking deltas count as first content; thinking tokens come from message_delta."""
        mock = AnthropicMock(
            input_tokens=10, output_tokens=300, thinking="Step one. Step two.", thinking_tokens=250
        )
        events = list(create(llmfinops.wrap(anthropic_client(mock)), stream=True))
        assert any(e.type == "content_block_delta" and e.delta.type == "thinking_delta" for e in events)
        (rec,) = records
        assert (rec.output_tokens, rec.reasoning_tokens) == (300, 250)
        assert rec.time_to_first_token_ms is not None

    def test_stream_manager_final_message(self, records: list[CallRecord]) -> None:
        """messages.stream(): get_final_message() works and one record carries the final usage."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED)))
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=512, messages=MSGS) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert text == "Hello! How can I help you today?"
        assert (final.usage.input_tokens, final.usage.output_tokens) == (40, 25)
        (rec,) = records
        assert (rec.cost_usd, rec.stream, rec.partial, rec.request_max_tokens) == (
            D("0.00327"),
            True,
            False,
            512,
        )

    async def test_async_create_stream(self, records: list[CallRecord]) -> None:
        """AsyncAnthropic create(stream=True) is metered once, complete."""
        client = llmfinops.wrap(async_anthropic_client(AnthropicMock(**OPUS)))
        stream = await client.messages.create(
            model="claude-opus-4-6", max_tokens=64, messages=MSGS, stream=True
        )
        kinds = [e.type async for e in stream]
        assert kinds.count("message_delta") == 1
        (rec,) = records
        assert (rec.cost_usd, rec.stream, rec.partial) == (D("0.1025"), True, False)

    async def test_async_stream_manager(self, records: list[CallRecord]) -> None:
        """async with client.messages.stream(...): final message and one record."""
        client = llmfinops.wrap(async_anthropic_client(AnthropicMock(**CACHED)))
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=MSGS) as stream:
            final = await stream.get_final_message()
        assert final.usage.output_tokens == 25
        (rec,) = records
        assert (rec.cost_usd, rec.partial) == (D("0.00327"), False)

    def test_closed_early(self, records: list[CallRecord]) -> None:
        """A stream closed after the first delta writes exactly one partial record, input priced."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED)))
        stream = create(client, stream=True)
        for event in stream:
            if event.type == "content_block_delta":
                break
        stream.close()
        stream.close()
        (rec,) = records
        assert rec.partial is True
        assert (rec.input_tokens, rec.output_tokens) == (2440, 1)  # message_start's initial output count
        # input side of 0.00327 plus one output token at $15/M
        assert rec.cost_usd == D("0.00327") - D("0.000375") + D("0.000015")

    def test_manager_exited_early(self, records: list[CallRecord]) -> None:
        """Leaving the stream manager's block early also writes one partial record."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED)))
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=MSGS) as stream:
            next(iter(stream.text_stream))
        (rec,) = records
        assert (rec.partial, rec.input_tokens, rec.output_tokens) == (True, 2440, 1)

    async def test_async_closed_early(self, records: list[CallRecord]) -> None:
        """An async stream closed early writes one partial record."""
        client = llmfinops.wrap(async_anthropic_client(AnthropicMock(**CACHED)))
        stream = await client.messages.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=MSGS, stream=True
        )
        async for event in stream:
            if event.type == "content_block_start":
                break
        await stream.close()
        (rec,) = records
        assert (rec.partial, rec.input_tokens, rec.output_tokens) == (True, 2440, 1)

    def test_dropped_stream_is_recorded(self, records: list[CallRecord]) -> None:
        """A stream that is never read nor closed is recorded when garbage-collected."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED)))
        stream = create(client, stream=True)
        del stream
        gc.collect()
        (rec,) = records
        assert (rec.partial, rec.stream, rec.cost_usd) == (True, True, None)

    def test_error_event_mid_stream(self, records: list[CallRecord]) -> None:
        """An `error` event raises the SDK's error to the caller and writes an error record."""
        events = message_events(model="claude-sonnet-4-6", input_tokens=100, output_tokens=20)
        cut = [
            *events[:4],
            ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ]

        def handler(request: httpx2.Request) -> httpx2.Response:
            return sse_response(sse_body(cut), headers={"request-id": "req_err"})

        client = llmfinops.wrap(anthropic_client(handler))
        with pytest.raises(anthropic.APIStatusError):
            list(create(client, stream=True))
        (rec,) = records
        assert (rec.status, rec.error_type, rec.partial) == ("error", "APIStatusError", True)
        assert rec.input_tokens == 100
        assert rec.cost_usd == D("0.0003") + D("0.000015")


class TestRetriesAndErrors:
    def test_retry_then_success(self, records: list[CallRecord]) -> None:
        """A 429 retried by the SDK counts as an attempt; one record with retry_count=1."""
        mock = AnthropicMock(fail_first=1, input_tokens=10, output_tokens=5)
        msg = create(llmfinops.wrap(anthropic_client(mock)))
        assert msg.usage.input_tokens == 10
        assert mock.paths == ["/v1/messages", "/v1/messages"]
        (rec,) = records
        assert (rec.status, rec.retry_count) == ("ok", 1)
        assert rec.request_id == "req_011CV00000002"

    def test_user_middleware_runs_per_attempt(self, records: list[CallRecord]) -> None:
        """The user's middleware still sees every attempt; attempts are still counted."""
        seen: list[int] = []

        def count(req: Any, call_next: Any) -> Any:
            resp = call_next(req)
            seen.append(resp.status_code)
            return resp

        mock = AnthropicMock(fail_first=2, fail_status=529)
        client = llmfinops.wrap(anthropic_client(mock, middleware=[count]))
        create(client)
        assert seen == [529, 529, 200]
        (rec,) = records
        assert rec.retry_count == 2

    def test_exhausted_retries_raise_original(self, records: list[CallRecord]) -> None:
        """After the last retry the SDK's own exception reaches the caller; the record says error."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(error_status=429)))
        with pytest.raises(anthropic.RateLimitError) as info:
            create(client)
        assert info.value.status_code == 429
        (rec,) = records
        assert (rec.status, rec.error_type, rec.retry_count) == ("error", "RateLimitError", 2)
        assert rec.cost_usd == 0

    def test_bad_request_not_retried(self, records: list[CallRecord]) -> None:
        """A 400 is raised at once as BadRequestError, with an error record."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(error_status=400)))
        with pytest.raises(anthropic.BadRequestError):
            create(client)
        (rec,) = records
        assert (rec.error_type, rec.retry_count, rec.input_tokens) == ("BadRequestError", 0, 0)

    async def test_async_retry(self, records: list[CallRecord]) -> None:
        """Async clients count attempts too."""
        client = llmfinops.wrap(async_anthropic_client(AnthropicMock(fail_first=1)))
        await client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=MSGS)
        (rec,) = records
        assert (rec.status, rec.retry_count) == ("ok", 1)

    def test_internal_error_never_breaks_the_call(
        self, records: list[CallRecord], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If usage extraction blows up, the caller still gets the message and we warn once."""

        def boom(usage: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(adapter, "_usage_from", boom)
        client = llmfinops.wrap(anthropic_client(AnthropicMock(output_tokens=3)))
        with pytest.warns(LLMFinOpsWarning) as caught:
            msg = create(client)
            events = list(create(client, stream=True))
        assert {type(w.message) for w in caught} == {InternalErrorWarning, UsageExtractionFailedWarning}
        assert msg.usage.output_tokens == 3
        assert events[-1].type == "message_stop"
        assert len(records) == 2


class TestRawPaths:
    def test_with_raw_response(self, records: list[CallRecord]) -> None:
        """with_raw_response.create is metered from the raw body."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED)))
        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=MSGS
        )
        assert raw.parse().usage.output_tokens == 25
        (rec,) = records
        assert (rec.cost_usd, rec.request_id) == (D("0.00327"), "req_011CV00000001")

    @pytest.mark.parametrize("stream_bodies", [False, True])
    def test_with_streaming_response(self, records: list[CallRecord], stream_bodies: bool) -> None:
        """with_streaming_response.create (non-stream body) is metered once the body is parsed."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED, stream_bodies=stream_bodies)))
        with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=MSGS
        ) as resp:
            assert resp.parse().usage.input_tokens == 40
        (rec,) = records
        assert (rec.cost_usd, rec.partial) == (D("0.00327"), False)

    def test_with_streaming_response_read_only(self, records: list[CallRecord]) -> None:
        """A streamed raw body that is read (not parsed) is priced from the bytes read."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED, stream_bodies=True)))
        with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=MSGS
        ) as resp:
            resp.read()
        (rec,) = records
        assert (rec.cost_usd, rec.partial) == (D("0.00327"), False)

    async def test_async_with_streaming_response(self, records: list[CallRecord]) -> None:
        """Async with_streaming_response over a streamed body is metered once parsed."""
        client = llmfinops.wrap(async_anthropic_client(AnthropicMock(**CACHED, stream_bodies=True)))
        async with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=MSGS
        ) as resp:
            assert (await resp.parse()).usage.output_tokens == 25
        (rec,) = records
        assert (rec.cost_usd, rec.partial) == (D("0.00327"), False)

    def test_with_streaming_response_stream(self, records: list[CallRecord]) -> None:
        """with_streaming_response.create(stream=True): the parsed event stream is metered."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED)))
        with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=MSGS, stream=True
        ) as resp:
            kinds = [e.type for e in resp.parse()]
        assert kinds[-1] == "message_stop"
        (rec,) = records
        assert (rec.cost_usd, rec.stream, rec.partial) == (D("0.00327"), True, False)

    def test_raw_stream_read_as_bytes(self, records: list[CallRecord]) -> None:
        """A raw streamed body read in full (not parsed) is replayed for usage on close."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED)))
        with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=MSGS, stream=True
        ) as resp:
            resp.read()
        (rec,) = records
        assert (rec.cost_usd, rec.stream) == (D("0.00327"), True)

    async def test_async_raw(self, records: list[CallRecord]) -> None:
        """Async with_raw_response is metered."""
        client = llmfinops.wrap(async_anthropic_client(AnthropicMock(**CACHED)))
        raw = await client.messages.with_raw_response.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=MSGS
        )
        assert (await raw.parse()).usage.output_tokens == 25
        (rec,) = records
        assert rec.cost_usd == D("0.00327")


def _compaction_usage() -> dict[str, Any]:
    return {
        "input_tokens": 500,
        "output_tokens": 100,
        "iterations": [
            {
                "type": "compaction",
                "input_tokens": 20000,
                "output_tokens": 1500,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
            {
                "type": "message",
                "input_tokens": 500,
                "output_tokens": 100,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        ],
    }


def _advisor_iterations(advisor: str = "claude-opus-4-6") -> list[dict[str, Any]]:
    zero = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    return [
        {"type": "message", "input_tokens": 300, "output_tokens": 50, **zero},
        {
            "type": "advisor_message",
            "model": advisor,
            "input_tokens": 2000,
            "output_tokens": 400,
            **zero,
        },
        {"type": "message", "input_tokens": 700, "output_tokens": 150, **zero},
    ]


# messages at sonnet-4-6: 1000 x $3 + 200 x $15 = 0.006; advisor at opus-4-6: 2000 x $5 + 400 x $25 = 0.02
ADVISOR_COST = D("0.026")


class TestBeta:
    def test_beta_create(self, records: list[CallRecord]) -> None:
        """beta.messages.create is metered on the same endpoint."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(**CACHED)))
        client.beta.messages.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=MSGS, betas=["context-1m-2025-08-07"]
        )
        (rec,) = records
        assert (rec.endpoint, rec.cost_usd) == ("messages", D("0.00327"))

    def test_compaction_added_on_top(self, records: list[CallRecord]) -> None:
        """Compaction tokens sit outside the top-level totals and are billed at the call's model."""
        mock = AnthropicMock(usage_for=lambda body: _compaction_usage())
        client = llmfinops.wrap(anthropic_client(mock))
        client.beta.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=MSGS)
        (rec,) = records
        assert (rec.input_tokens, rec.output_tokens) == (20500, 1600)
        # 500 x $3 + 100 x $15 = 0.003 ; compaction 20000 x $3 + 1500 x $15 = 0.0825
        assert rec.cost_usd == D("0.0855")

    @pytest.mark.parametrize(("top_in", "top_out"), [(1000, 200), (3000, 600)])
    def test_advisor_at_its_own_model(self, records: list[CallRecord], top_in: int, top_out: int) -> None:
        """Advisor iterations are priced at the model they name, whether or not the top level counts them."""
        usage = {"input_tokens": top_in, "output_tokens": top_out, "iterations": _advisor_iterations()}
        client = llmfinops.wrap(anthropic_client(AnthropicMock(usage_for=lambda body: usage)))
        client.beta.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=MSGS)
        (rec,) = records
        assert (rec.input_tokens, rec.output_tokens) == (3000, 600)
        assert rec.cost_usd == ADVISOR_COST

    def test_incomplete_iterations_fall_back_to_top_level(self, records: list[CallRecord]) -> None:
        """Iterations that account for less than the top level: top level at the call's model + advisor."""
        usage = {"input_tokens": 5000, "output_tokens": 1000, "iterations": _advisor_iterations()}
        client = llmfinops.wrap(anthropic_client(AnthropicMock(usage_for=lambda body: usage)))
        client.beta.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=MSGS)
        (rec,) = records
        # 5000 x $3 + 1000 x $15 = 0.03 ; advisor 0.02
        assert rec.cost_usd == D("0.05")

    def test_fallback_chain(self, records: list[CallRecord]) -> None:
        """A refused hop and the fallback that served are each priced at their own model."""
        zero = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        usage = {
            "input_tokens": 400,
            "output_tokens": 80,
            "iterations": [
                {
                    "type": "message",
                    "model": "claude-opus-4-6",
                    "input_tokens": 100,
                    "output_tokens": 5,
                    **zero,
                },
                {
                    "type": "fallback_message",
                    "model": "claude-sonnet-4-6",
                    "input_tokens": 400,
                    "output_tokens": 80,
                    **zero,
                },
            ],
        }
        client = llmfinops.wrap(anthropic_client(AnthropicMock(usage_for=lambda body: usage)))
        client.beta.messages.create(model="claude-opus-4-6", max_tokens=64, messages=MSGS)
        (rec,) = records
        # opus 100 x $5 + 5 x $25 = 0.000625 ; sonnet 400 x $3 + 80 x $15 = 0.0024
        assert rec.cost_usd == D("0.003025")

    def test_fast_mode_only_on_own_model(self, records: list[CallRecord]) -> None:
        """Fast mode multiplies the call's own model, not the advisor's hop."""
        usage = {
            "input_tokens": 1000,
            "output_tokens": 200,
            "speed": "fast",
            "iterations": _advisor_iterations("claude-opus-4-5"),
        }
        client = llmfinops.wrap(anthropic_client(AnthropicMock(usage_for=lambda body: usage)))
        client.beta.messages.create(model="claude-opus-4-6", max_tokens=64, messages=MSGS)
        (rec,) = records
        # messages at opus-4-6 fast: (1000 x $5 + 200 x $25) x 6 = 0.06
        # advisor at opus-4-5, standard speed: 2000 x $5 + 400 x $25 = 0.02
        assert rec.cost_usd == D("0.08")

    def test_beta_stream_iterations_from_delta(self, records: list[CallRecord]) -> None:
        """In a beta stream the iterations arrive on message_delta and are priced the same way."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(usage_for=lambda body: _compaction_usage())))
        with client.beta.messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=MSGS) as stream:
            final = stream.get_final_message()
        assert final.usage.iterations is not None
        (rec,) = records
        assert (rec.cost_usd, rec.stream) == (D("0.0855"), True)

    def test_tool_runner_records_each_request(self, records: list[CallRecord]) -> None:
        """tool_runner's loop sends each turn through create: one record per request."""

        @anthropic.beta_tool
        def get_weather(city: str) -> str:
            """Weather for a city."""
            return f"Sunny in {city}"

        turns: list[dict[str, Any]] = []

        def handler(request: httpx2.Request) -> httpx2.Response:
            if not turns:
                body = message(
                    model="claude-sonnet-4-6", input_tokens=100, output_tokens=30, stop_reason="tool_use"
                )
                body["content"] = [
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}
                ]
            else:
                body = message(model="claude-sonnet-4-6", input_tokens=200, output_tokens=20)
            turns.append(body)
            return json_response(200, body, headers={"request-id": f"req_{len(turns)}"})

        client = llmfinops.wrap(anthropic_client(handler))
        runner = client.beta.messages.tool_runner(
            model="claude-sonnet-4-6", max_tokens=256, messages=MSGS, tools=[get_weather]
        )
        final = runner.until_done()
        assert final.stop_reason == "end_turn"
        assert [(r.input_tokens, r.output_tokens, r.request_id) for r in records] == [
            (100, 30, "req_1"),
            (200, 20, "req_2"),
        ]
        assert [r.cost_usd for r in records] == [D("0.00075"), D("0.0009")]


BATCH_LINES = [
    batch_succeeded("ticket-1", model="claude-sonnet-4-6", input_tokens=1000, output_tokens=200),
    batch_succeeded("ticket-2", model="claude-opus-4-6", input_tokens=2000, output_tokens=400),
    batch_errored("ticket-3"),
]


class TestBatches:
    def test_results_recorded_per_request_at_batch_rates(self, records: list[CallRecord]) -> None:
        """Each succeeded result is one record at 50%, tagged with its custom_id; errors are not billed."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=BATCH_LINES)))
        batch = client.messages.batches.create(
            requests=[
                {
                    "custom_id": "ticket-1",
                    "params": {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": MSGS},
                }
            ]
        )
        client.messages.batches.retrieve(batch.id)
        assert records == []  # batch management bills nothing
        with llmfinops.tags(team="support"):
            results = list(client.messages.batches.results(batch.id))
        assert [r.custom_id for r in results] == ["ticket-1", "ticket-2", "ticket-3"]
        assert [(r.tags, r.team) for r in records] == [
            ({"custom_id": "ticket-1"}, "support"),
            ({"custom_id": "ticket-2"}, "support"),
        ]
        assert {(r.operation, r.endpoint, r.service_tier) for r in records} == {
            ("chat", "messages.batches", "batch")
        }
        # sonnet (1000 x $3 + 200 x $15) / 2 = 0.003 ; opus (2000 x $5 + 400 x $25) / 2 = 0.01
        assert [r.cost_usd for r in records] == [D("0.003"), D("0.01")]
        assert [r.request_id for r in records] == ["msg_batch_ticket-1", "msg_batch_ticket-2"]

    def test_missing_tier_still_batch(self, records: list[CallRecord]) -> None:
        """A result line without usage.service_tier is still priced at batch rates."""
        line = batch_succeeded(
            "a", model="claude-sonnet-4-6", input_tokens=1000, output_tokens=200, service_tier=None
        )
        client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=[line])))
        list(client.messages.batches.results("msgbatch_x"))
        (rec,) = records
        assert (rec.service_tier, rec.cost_usd) == ("batch", D("0.003"))

    async def test_async_results(self, records: list[CallRecord]) -> None:
        """Async batch results are recorded per item."""
        client = llmfinops.wrap(async_anthropic_client(AnthropicMock(batch_results=BATCH_LINES)))
        decoder = await client.messages.batches.results("msgbatch_x")
        ids = [r.custom_id async for r in decoder]
        assert ids == ["ticket-1", "ticket-2", "ticket-3"]
        assert [r.cost_usd for r in records] == [D("0.003"), D("0.01")]

    def test_raw_results(self, records: list[CallRecord]) -> None:
        """with_raw_response.results(): items are recorded when the parsed decoder is read."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=BATCH_LINES)))
        raw = client.messages.batches.with_raw_response.results("msgbatch_x")
        decoder = raw.parse()
        assert raw.parse() is decoder
        list(decoder)
        assert [r.tags["custom_id"] for r in records] == ["ticket-1", "ticket-2"]

    async def test_async_raw_results(self, records: list[CallRecord]) -> None:
        """Async with_raw_response.results(): the awaited parse() yields a recording decoder."""
        client = llmfinops.wrap(async_anthropic_client(AnthropicMock(batch_results=BATCH_LINES)))
        raw = await client.messages.batches.with_raw_response.results("msgbatch_x")
        decoder = await raw.parse()
        assert [r.custom_id async for r in decoder] == ["ticket-1", "ticket-2", "ticket-3"]
        assert [r.cost_usd for r in records] == [D("0.003"), D("0.01")]

    def test_beta_results(self, records: list[CallRecord]) -> None:
        """beta.messages.batches.results() is recorded the same way."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=BATCH_LINES)))
        list(client.beta.messages.batches.results("msgbatch_x"))
        assert [r.cost_usd for r in records] == [D("0.003"), D("0.01")]

    def test_results_read_twice_are_recorded_once_with_stable_ids(self, records: list[CallRecord]) -> None:
        """A second read in the same process adds nothing; another process would write the same ids."""
        from llmfinops._ids import stable_id
        from llmfinops.providers import _anthropic_batches as ab

        client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=BATCH_LINES)))
        list(client.messages.batches.results("msgbatch_x"))
        list(client.beta.messages.batches.results("msgbatch_x"))  # the same batch, read again
        assert [r.tags["custom_id"] for r in records] == ["ticket-1", "ticket-2"]
        first_ids = [r.id for r in records]
        assert first_ids == [stable_id("anthropic", "msgbatch_x", c) for c in ("ticket-1", "ticket-2")]
        ab._recorded.clear()  # as a fresh process would
        list(client.messages.batches.results("msgbatch_x"))
        assert [r.id for r in records[2:]] == first_ids
        list(client.messages.batches.results("msgbatch_y"))  # another batch: its own ids
        assert not {r.id for r in records[4:]} & set(first_ids)

    def test_a_result_that_failed_to_record_is_recorded_by_the_next_read(
        self, records: list[CallRecord], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An internal failure on one result does not use up its once-per-process claim."""
        from llmfinops.providers import anthropic as adapter

        real = adapter._from_message
        calls = [0]

        def flaky(state: Any, msg: Any) -> None:
            calls[0] += 1
            if calls[0] == 1:
                raise RuntimeError("boom")
            real(state, msg)

        client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=BATCH_LINES)))
        monkeypatch.setattr(adapter, "_from_message", flaky)
        with pytest.warns(InternalErrorWarning):
            list(client.messages.batches.results("msgbatch_f"))  # ticket-1 fails, ticket-2 recorded
        list(client.messages.batches.results("msgbatch_f"))  # ticket-1 now, ticket-2 not again
        assert sorted(r.tags["custom_id"] for r in records) == ["ticket-1", "ticket-2"]

    def test_sqlite_keeps_one_row_per_result(self, tmp_path: Any) -> None:
        """Two processes reading the same results into one SQLite database: one row per request."""
        from llmfinops.providers import _anthropic_batches as ab
        from llmfinops.sinks import SQLiteSink, read_sqlite

        db = tmp_path / "calls.db"
        for _ in range(2):  # two "processes": each with its own sink and an empty registry
            ab._recorded.clear()
            sink = SQLiteSink(db)
            client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=BATCH_LINES)), sinks=[sink])
            list(client.messages.batches.results("msgbatch_x"))
            llmfinops.unwrap(client)
            llmfinops.flush()
            sink.close()
        rows = read_sqlite(db)
        assert sorted(r.tags["custom_id"] for r in rows) == ["ticket-1", "ticket-2"]

    def test_partial_read_records_what_was_read(self, records: list[CallRecord]) -> None:
        """Reading only the first result records only that one."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=BATCH_LINES)))
        decoder = client.messages.batches.results("msgbatch_x")
        next(iter(decoder))
        decoder.close()
        assert [r.tags["custom_id"] for r in records] == ["ticket-1"]
