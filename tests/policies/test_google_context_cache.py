"""ContextCache: one explicit Gemini cache, driven through the real google-genai client offline."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

import llmfinops
from llmfinops.policies.google import ContextCache
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.google import GoogleMock, google_client

MODEL = "gemini-2.5-pro"  # $1.25 input, $0.125 cache read, $4.50 per 1M tokens per hour of storage
HANDBOOK = "The handbook. " * 1000


def server(clock: FakeClock, **kwargs: Any) -> tuple[GoogleMock, Any]:
    """A GoogleMock whose server time follows the fake clock, and a handler for it."""
    mock = GoogleMock(cache_tokens=100_000, prompt_tokens=100_050, cached_tokens=100_000, **kwargs)

    def handler(request: Any) -> Any:
        mock.now = clock.now()
        return mock(request)

    return mock, handler


def calls(mock: GoogleMock) -> list[tuple[str, str]]:
    return [(m, p.rsplit("/", 1)[-1]) for m, p in zip(mock.methods, mock.paths, strict=True)]


class TestLifecycle:
    """Create once, reuse while valid, extend the TTL, recreate after expiry, delete on close."""

    def test_create_once_and_reuse(self, clock: FakeClock) -> None:
        """Three requests share one cache; each carries its name as cachedContent."""
        mock, handler = server(clock)
        cache = ContextCache(google_client(handler), model=MODEL, contents=[HANDBOOK], ttl=3600)
        for q in ("a", "b", "c"):
            cache.generate_content(q)
            clock.advance(60)
        assert [m for m, _ in calls(mock)] == ["POST", "POST", "POST", "POST"]
        name = cache.name
        assert [r.get("cachedContent") for r in mock.requests[1:]] == [name, name, name]
        assert mock.requests[0]["ttl"] == "3600s"
        assert mock.requests[0]["model"] == f"models/{MODEL}"
        assert (cache.requests, cache.creations, cache.tokens, cache.read_tokens) == (3, 1, 100_000, 300_000)

    def test_refresh_when_a_quarter_is_left(self, clock: FakeClock) -> None:
        """After 50 of 60 minutes, the next use extends the TTL by PATCH; storage grows by the extension."""
        mock, handler = server(clock)
        cache = ContextCache(google_client(handler), model=MODEL, contents=[HANDBOOK], ttl=timedelta(hours=1))
        cache.config()
        clock.advance(50 * 60)
        cfg = cache.config(temperature=0.1)
        assert cfg == {"temperature": 0.1, "cached_content": cache.name}
        assert calls(mock)[-1][0] == "PATCH"
        assert mock.requests[-1] == {"ttl": "3600s"}
        assert cache.storage_seconds == 3600 + 3000

    def test_recreate_after_expiry(self, clock: FakeClock) -> None:
        """An expired cache is created again, under a new name."""
        mock, handler = server(clock)
        cache = ContextCache(google_client(handler), model=MODEL, contents=[HANDBOOK], ttl="600s")
        first = cache.name
        clock.advance(601)
        second = cache.name
        assert first != second
        assert cache.creations == 2
        assert [m for m, _ in calls(mock)] == ["POST", "POST"]

    def test_close_deletes(self, clock: FakeClock) -> None:
        """Leaving the with-block deletes the cache on the server."""
        mock, handler = server(clock)
        with ContextCache(
            google_client(handler), model=MODEL, system_instruction="You are the handbook bot."
        ) as c:
            name = c.name
        assert calls(mock)[-1] == ("DELETE", name.rsplit("/", 1)[-1])
        assert mock.caches == {}

    def test_configuration_errors(self) -> None:
        """Nothing to cache, or a TTL under a minute, are configuration errors."""
        client = google_client()
        with pytest.raises(llmfinops.ConfigurationError, match="give contents= and/or system_instruction="):
            ContextCache(client, model=MODEL)
        with pytest.raises(llmfinops.ConfigurationError, match="ttl='30s' is shorter than a minute"):
            ContextCache(client, model=MODEL, contents=["x"], ttl="30s")


class TestCosts:
    """Storage is recorded by the wrapped client; the report compares explicit and implicit caching."""

    def test_storage_recorded_and_matching_the_report(self, clock: FakeClock) -> None:
        """caches.create is a record with one hour of storage; the report shows the same dollars."""
        _, handler = server(clock)
        client = llmfinops.wrap(google_client(handler))
        with capture_records() as recs:
            cache = ContextCache(client, model=MODEL, contents=[HANDBOOK])
            cache.generate_content("refund window?")
        create = next(r for r in recs if r.endpoint == "caches.create")
        storage = Decimal("4.50") * 100_000 / 1_000_000  # 1 hour of 100k tokens
        assert create.cache_storage_cost_usd == storage
        report = cache.report()
        assert report.storage_usd == storage
        assert report.creation_usd == Decimal("0.125")  # 100k tokens at $1.25/M
        assert report.reads_usd == Decimal("0.0125")  # 100k cached tokens at $0.125/M
        gen = next(r for r in recs if r.endpoint == "generate_content")
        assert gen.cached_input_tokens == 100_000

    def test_busy_traffic_implicit_would_have_served(
        self, clock: FakeClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        """60 requests a minute apart: implicit caching hits ~98% without storage; explicit loses."""
        _, handler = server(clock)
        cache = ContextCache(google_client(handler), model=MODEL, contents=[HANDBOOK])
        for _ in range(60):
            cache.generate_content("q")
            clock.advance(60)
        report = cache.report()
        assert report.requests == 60
        # one hour of storage at creation, then at minute 46 (<15 of 60 minutes left) the TTL is extended
        # to minute 106: 46 more minutes of storage bought
        assert cache.storage_seconds == 3600 + 46 * 60
        assert report.storage_usd == Decimal("0.795")  # $4.50/M/h x 100k tokens x 106 min
        assert report.explicit_usd == Decimal("0.125") + Decimal("0.795") + 60 * Decimal("0.0125")
        assert round(report.implicit_hit_rate, 3) == 0.977
        assert report.implicit_usd is not None
        assert report.explicit_usd is not None
        assert report.implicit_usd < report.explicit_usd
        assert report.recommendation.startswith("implicit caching would have served: at 60.0 requests/hour")
        assert report.recommendation.endswith(
            "Delete the explicit cache and keep the shared context at the start of the prompt."
        )
        with caplog.at_level(logging.INFO, logger="llmfinops"):
            cache.close()
        assert "implicit caching would have served" in caplog.text

    def test_steady_traffic_explicit_pays_when_implicit_entries_live_briefly(self, clock: FakeClock) -> None:
        """21 requests 3 minutes apart with a 60 s implicit window: the explicit cache is cheaper."""
        _, handler = server(clock)
        cache = ContextCache(google_client(handler), model=MODEL, contents=[HANDBOOK], implicit_window=60)
        for _ in range(21):
            cache.generate_content("q")
            clock.advance(180)
        report = cache.report(now=clock.now() - timedelta(seconds=180))
        assert report.hours == 1.0
        # storage: 1 h + 48 min (TTL extended at minute 48); reads: 21 x 100k at $0.125/M
        assert report.explicit_usd == Decimal("0.125") + Decimal("0.45") * Decimal("1.8") + 21 * Decimal(
            "0.0125"
        )
        # Poisson at 20 requests/hour, 60 s window: P(hit) = 1 - exp(-1/3) for the 20 requests after the first
        assert round(report.implicit_hit_rate, 4) == round(20 * (1 - 2.718281828459045 ** (-1 / 3)) / 21, 4)
        assert report.uncached_usd == 21 * Decimal("0.125")
        assert report.recommendation.startswith(
            "the explicit cache pays: $1.1975 (storage $0.8100) vs implicit"
        )

    def test_model_without_storage_price(self, clock: FakeClock) -> None:
        """A model with implicit caching only (no storage price) gets that recommendation."""
        _, handler = server(clock)
        cache = ContextCache(google_client(handler), model="gemini-4-argon", contents=[HANDBOOK])
        cache.config()
        assert cache.report().storage_usd is None
        assert "no explicit-cache storage price for 'gemini-4-argon'" in cache.report().recommendation
