"""Response cache on the real Anthropic and Google SDKs: own types, stream replay, one record per call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anthropic
import pytest
from google.genai import types as gtypes

import llmfinops
from llmfinops.cache import MemoryStore, ResponseCache, cached, enable
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.anthropic import AnthropicMock, anthropic_client, async_anthropic_client
from llmfinops.testing.google import GoogleMock, google_client

MSG = {"model": "claude-sonnet-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
SONNET5 = Decimal("0.00040")  # 100 input tokens at $2/M + 20 output tokens at $10/M
FLASH = Decimal("0.000040")  # gemini-2.5-flash: 50 prompt tokens at $0.30/M + 10 output at $2.50/M


@pytest.fixture(autouse=True)
def _clock() -> None:
    llmfinops.configure(clock=FakeClock(datetime(2026, 11, 22, 12, tzinfo=UTC)))


@pytest.fixture
def amock() -> AnthropicMock:
    return AnthropicMock(input_tokens=100, output_tokens=20, stream_bodies=True)


@pytest.fixture
def aclient(amock: AnthropicMock) -> Any:
    return enable(anthropic_client(amock), ResponseCache(MemoryStore()))


@pytest.fixture
def gmock() -> GoogleMock:
    return GoogleMock(prompt_tokens=50, candidates_tokens=10)


@pytest.fixture
def gclient(gmock: GoogleMock) -> Any:
    return enable(google_client(gmock), ResponseCache(MemoryStore()))


class TestAnthropic:
    def test_message_hit(self, aclient: Any, amock: AnthropicMock) -> None:
        """A repeated Messages call (marked cacheable) returns an equal anthropic Message."""
        with cached(), capture_records() as recs:
            a = aclient.messages.create(**MSG)
            b = aclient.messages.create(**MSG)
        assert type(b) is anthropic.types.Message
        assert b.model_dump() == a.model_dump()
        assert len(amock.requests) == 1
        assert [(r.cache_hit, r.cost_usd, r.saved_usd) for r in recs] == [
            (False, SONNET5, None),
            (True, Decimal(0), SONNET5),
        ]

    def test_default_rule_needs_temperature_zero(self, aclient: Any, amock: AnthropicMock) -> None:
        """Anthropic's default temperature is 1, so only temperature=0 (extra_body) is cached by default."""
        aclient.messages.create(**MSG)
        aclient.messages.create(**MSG)
        aclient.messages.create(**MSG, extra_body={"temperature": 0})
        aclient.messages.create(**MSG, extra_body={"temperature": 0})
        assert len(amock.requests) == 3

    def test_cache_control_does_not_split(self, aclient: Any, amock: AnthropicMock) -> None:
        """A cache_control marker on the prompt does not change the key."""
        marked = {
            **MSG,
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
                }
            ],
        }
        plain = {**MSG, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
        with cached():
            aclient.messages.create(**marked)
            aclient.messages.create(**plain)
        assert len(amock.requests) == 1

    def test_stream_manager_replays(self, aclient: Any, amock: AnthropicMock) -> None:
        """messages.stream() replays the same text and final message from the cache."""
        outs = []
        with cached(), capture_records() as recs:
            for _ in range(2):
                with aclient.messages.stream(**MSG) as s:
                    outs.append(("".join(s.text_stream), s.get_final_message().usage.output_tokens))
        assert outs == [("Hello! How can I help you today?", 20)] * 2
        assert len(amock.requests) == 1
        assert [(r.stream, r.cache_hit, r.saved_usd) for r in recs] == [
            (True, False, None),
            (True, True, SONNET5),
        ]

    def test_raw_stream_events_equal(self, aclient: Any) -> None:
        """create(stream=True) yields the same event types both times."""
        with cached():
            first = [e.type for e in aclient.messages.create(**MSG, stream=True)]
            second = [e.type for e in aclient.messages.create(**MSG, stream=True)]
        assert second == first
        assert first[0] == "message_start"
        assert first[-1] == "message_stop"

    def test_prewarm_is_never_cached(self, aclient: Any, amock: AnthropicMock) -> None:
        """max_tokens=0 warms Anthropic's prompt cache, so it always goes out."""
        with cached():
            aclient.messages.create(**{**MSG, "max_tokens": 0})
            aclient.messages.create(**{**MSG, "max_tokens": 0})
        assert len(amock.requests) == 2

    def test_async_client(self, amock: AnthropicMock) -> None:
        """AsyncAnthropic calls hit the cache too."""
        c = enable(async_anthropic_client(amock), ResponseCache(MemoryStore()))

        async def run() -> tuple[Any, Any]:
            with cached():
                return await c.messages.create(**MSG), await c.messages.create(**MSG)

        a, b = asyncio.run(run())
        assert b.content[0].text == a.content[0].text
        assert len(amock.requests) == 1


class TestGoogle:
    def test_generate_content_hit(self, gclient: Any, gmock: GoogleMock) -> None:
        """generate_content returns an equal GenerateContentResponse from the cache."""
        cfg = gtypes.GenerateContentConfig(temperature=0)
        with capture_records() as recs:
            a = gclient.models.generate_content(model="gemini-2.5-flash", contents="hi", config=cfg)
            b = gclient.models.generate_content(model="gemini-2.5-flash", contents="hi", config=cfg)
        assert type(b) is gtypes.GenerateContentResponse
        assert (b.text, b.usage_metadata.prompt_token_count) == (a.text, 50)
        assert len(gmock.requests) == 1
        assert [(r.cache_hit, r.cost_usd, r.saved_usd) for r in recs] == [
            (False, FLASH, None),
            (True, Decimal(0), FLASH),
        ]

    def test_stream_replays(self, gclient: Any, gmock: GoogleMock) -> None:
        """generate_content_stream replays the same chunks."""
        with cached():
            first = [
                c.text
                for c in gclient.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
            ]
            second = [
                c.text
                for c in gclient.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
            ]
        assert second == first
        assert "".join(t or "" for t in first) == "Hello! How can I help you today?"
        assert len(first) == 7
        assert len(gmock.requests) == 1

    def test_aio(self, gclient: Any, gmock: GoogleMock) -> None:
        """client.aio goes through the async transport and hits."""

        async def run() -> list[str | None]:
            with cached():
                out = []
                for _ in range(2):
                    r = await gclient.aio.models.generate_content(model="gemini-2.5-flash", contents="hey")
                    out.append(r.text)
                return out

        assert asyncio.run(run()) == ["Hello! How can I help you today?"] * 2
        assert len(gmock.requests) == 1

    def test_api_key_is_not_part_of_the_key(self, gmock: GoogleMock) -> None:
        """Two clients with different API keys share entries (the key is never stored or hashed)."""
        rc = ResponseCache(MemoryStore())
        a = enable(google_client(gmock, api_key="key-one"), rc)
        b = enable(google_client(gmock, api_key="key-two"), rc)
        with cached():
            a.models.generate_content(model="gemini-2.5-flash", contents="hi")
            b.models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert len(gmock.requests) == 1
