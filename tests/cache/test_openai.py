"""Response cache on the real OpenAI SDK over a mock transport: hits, streams, rules, failures."""

from __future__ import annotations

import asyncio
import gzip
import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

import llmfinops
from llmfinops.cache import (
    DiskCacheStore,
    MemoryStore,
    RedisStore,
    ResponseCache,
    ResponseCacheWarning,
    bypass,
    cached,
    client_cache,
    disable,
    enable,
)
from llmfinops.exceptions import ConfigurationError
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing._sse import sse_body, sse_response
from llmfinops.testing.openai import OpenAIMock, async_openai_client, chat_chunks, openai_client

from .conftest import CHAT

COST = Decimal("0.00045")  # gpt-4o: 100 input tokens at $2.50/M + 20 output tokens at $10/M


@pytest.fixture(autouse=True)
def _clock() -> None:
    llmfinops.configure(clock=FakeClock(datetime(2026, 11, 22, 12, tzinfo=UTC)))


def chunks_of(stream: Any) -> list[dict[str, Any]]:
    return [c.model_dump() for c in stream]


class TestHits:
    def test_second_identical_call_is_served_from_cache(self, client: Any, mock: OpenAIMock) -> None:
        """The second call returns an equal ChatCompletion without reaching the provider."""
        r1 = client.chat.completions.create(**CHAT)
        r2 = client.chat.completions.create(**CHAT)
        assert type(r2) is openai.types.chat.ChatCompletion
        assert r2.model_dump() == r1.model_dump()
        assert len(mock.requests) == 1

    def test_one_record_per_call_hit_costs_zero_and_saves(self, client: Any) -> None:
        """A hit writes one record: cache_hit, cost 0, saved = what the miss cost."""
        with capture_records() as recs:
            client.chat.completions.create(**CHAT)
            client.chat.completions.create(**CHAT)
        assert [(r.cache_hit, r.cost_usd, r.saved_usd) for r in recs] == [
            (False, COST, None),
            (True, Decimal(0), COST),
        ]
        hit = recs[1]
        assert (hit.input_tokens, hit.output_tokens, hit.input_cost_usd, hit.output_cost_usd) == (
            100,
            20,
            0,
            0,
        )
        assert hit.pricing_note == "served from the llmfinops response cache"
        assert hit.price_model == "gpt-4o"

    def test_hit_is_marked_in_the_raw_response(self, client: Any) -> None:
        """with_raw_response sees the x-llmfinops-cache header and parses to the SDK type."""
        client.chat.completions.create(**CHAT)
        raw = client.chat.completions.with_raw_response.create(**CHAT)
        assert raw.headers["x-llmfinops-cache"] == "hit"
        assert raw.parse().choices[0].message.content == "Hello! How can I help you today?"

    def test_stats(self, client: Any, cache: ResponseCache) -> None:
        """Counters track lookups, hits, misses and stores."""
        client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT)
        s = cache.stats()
        assert (s.lookups, s.hits, s.misses, s.stores, s.errors, s.semantic_hits) == (2, 1, 1, 1, 0, 0)

    def test_irrelevant_fields_share_the_entry(self, client: Any, mock: OpenAIMock) -> None:
        """user, metadata, store and key order do not split the cache."""
        client.chat.completions.create(**CHAT)
        client.chat.completions.create(
            messages=CHAT["messages"],
            temperature=0,
            model="gpt-4o",
            user="u-1",
            store=False,
            metadata={"job": "7"},
        )
        assert len(mock.requests) == 1

    def test_relevant_fields_miss(self, client: Any, mock: OpenAIMock) -> None:
        """A different seed or output cap is a different request."""
        client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT, seed=1)
        client.chat.completions.create(**CHAT, max_completion_tokens=5)
        assert len(mock.requests) == 3

    def test_responses_api(self, client: Any, mock: OpenAIMock) -> None:
        """Responses API calls hit too, as openai Response objects."""
        a = client.responses.create(model="gpt-5.5", temperature=0, input="hi")
        b = client.responses.create(model="gpt-5.5", temperature=0, input="hi")
        assert type(b) is openai.types.responses.Response
        assert (b.output_text, b.id) == (a.output_text, a.id)
        assert len(mock.requests) == 1

    def test_copies_share_the_cache(self, client: Any, mock: OpenAIMock) -> None:
        """A client.with_options(...) copy uses the same cache."""
        client.chat.completions.create(**CHAT)
        client.with_options(timeout=5).chat.completions.create(**CHAT)
        assert len(mock.requests) == 1


class TestStreams:
    def test_stream_replays_as_the_sdk_stream(self, client: Any, mock: OpenAIMock) -> None:
        """A cached stream is an openai.Stream yielding the same chunks, once from the provider."""
        first = chunks_of(client.chat.completions.create(**CHAT, stream=True))
        s = client.chat.completions.create(**CHAT, stream=True)
        assert type(s) is openai.Stream
        assert chunks_of(s) == first
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in first if c["choices"]) == (
            "Hello! How can I help you today? "
        )
        assert len(mock.requests) == 1

    def test_stream_records(self, client: Any) -> None:
        """Both stream calls write one record each; the replay is a zero-cost hit."""
        with capture_records() as recs:
            for _ in range(2):
                for _c in client.chat.completions.create(**CHAT, stream=True):
                    pass
        assert [(r.stream, r.cache_hit, r.cost_usd, r.saved_usd, r.partial) for r in recs] == [
            (True, False, COST, None, False),
            (True, True, Decimal(0), COST, False),
        ]

    def test_usage_chunk_visible_when_asked(self, client: Any) -> None:
        """A replay keeps the usage chunk for callers who asked include_usage."""
        client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True}).close()
        for _c in client.chat.completions.create(**CHAT, stream=True):
            pass
        last = chunks_of(
            client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True})
        )[-1]
        assert last["usage"]["prompt_tokens"] == 100

    def test_stream_helper(self, client: Any, mock: OpenAIMock) -> None:
        """The .stream() helper gets the same final completion from the cache."""
        with client.chat.completions.stream(**CHAT) as s1:
            f1 = s1.get_final_completion()
        with client.chat.completions.stream(**CHAT) as s2:
            f2 = s2.get_final_completion()
        assert f2.choices[0].message.content == f1.choices[0].message.content
        assert len(mock.requests) == 1

    def test_stream_and_non_stream_are_cached_apart(self, client: Any, mock: OpenAIMock) -> None:
        """A streamed and a non-streamed call do not serve each other (different wire formats)."""
        client.chat.completions.create(**CHAT)
        for _c in client.chat.completions.create(**CHAT, stream=True):
            pass
        assert len(mock.requests) == 2

    def test_stream_closed_early_is_not_stored(self, client: Any, mock: OpenAIMock) -> None:
        """A stream the caller abandons after one chunk is not cached."""
        s = client.chat.completions.create(**CHAT, stream=True)
        next(iter(s))
        s.close()
        for _c in client.chat.completions.create(**CHAT, stream=True):
            pass
        assert len(mock.requests) == 2

    def test_responses_stream(self, client: Any, mock: OpenAIMock) -> None:
        """A Responses API stream replays the same event types."""
        kw = {"model": "gpt-5.5", "temperature": 0, "input": "hi", "stream": True}
        first = [e.type for e in client.responses.create(**kw)]
        second = [e.type for e in client.responses.create(**kw)]
        assert second == first
        assert first[-1] == "response.completed"
        assert len(mock.requests) == 1

    def test_unfinished_sse_is_not_stored(self, cache: ResponseCache) -> None:
        """An SSE body without its terminator ([DONE]) is never stored."""
        calls = []

        def handler(request: httpx2.Request) -> httpx2.Response:
            calls.append(request)
            return sse_response(sse_body([(None, c) for c in chat_chunks()], done=False))

        c = enable(openai_client(handler), cache)
        for _ in range(2):
            for _c in c.chat.completions.create(**CHAT, stream=True):
                pass
        assert len(calls) == 2
        assert cache.stats().stores == 0

    def test_gzip_stream_is_stored_decoded(self, cache: ResponseCache, store: MemoryStore) -> None:
        """A gzip-encoded network stream is teed, stored decoded, and replays identically."""
        body = sse_body([(None, c) for c in chat_chunks()], done=True)
        calls = []

        class Chunks(httpx2.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                z = gzip.compress(body)
                for i in range(0, len(z), 64):
                    yield z[i : i + 64]

        def handler(request: httpx2.Request) -> httpx2.Response:
            calls.append(request)
            return httpx2.Response(
                200,
                headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
                stream=Chunks(),
            )

        c = enable(openai_client(handler), cache)
        first = chunks_of(c.chat.completions.create(**CHAT, stream=True))
        second = chunks_of(c.chat.completions.create(**CHAT, stream=True))
        assert second == first
        assert len(calls) == 1
        (entry,) = [v for k, v in store._data.items()]
        from llmfinops.cache._entry import unpack

        stored = unpack(entry[0])
        assert stored.body == body
        assert all(k != "content-encoding" for k, _ in stored.headers)


class TestRules:
    def test_default_rule_skips_sampled_requests(self, client: Any, mock: OpenAIMock) -> None:
        """Without temperature=0 nothing is cached by default."""
        kw = {"model": "gpt-4o", "messages": CHAT["messages"]}
        with capture_records() as recs:
            client.chat.completions.create(**kw)
            client.chat.completions.create(**kw)
        assert len(mock.requests) == 2
        assert [r.cache_hit for r in recs] == [False, False]

    def test_cached_scope_marks_calls_cacheable(self, client: Any, mock: OpenAIMock) -> None:
        """Inside cached() any temperature is cacheable."""
        kw = {"model": "gpt-4o", "temperature": 0.9, "messages": CHAT["messages"]}
        with cached():
            client.chat.completions.create(**kw)
            client.chat.completions.create(**kw)
        assert len(mock.requests) == 1

    def test_scope_rule_can_be_stricter(self, client: Any, mock: OpenAIMock) -> None:
        """cached(when='deterministic') keeps the temperature rule inside the block."""
        kw = {"model": "gpt-4o", "messages": CHAT["messages"]}
        with cached(when="deterministic"):
            client.chat.completions.create(**kw)
            client.chat.completions.create(**kw)
        assert len(mock.requests) == 2

    def test_predicate_rule(self, mock: OpenAIMock, store: MemoryStore) -> None:
        """A callable when= decides per request."""
        c = enable(
            openai_client(mock), ResponseCache(store, when=lambda r: r.body.get("model") == "gpt-4o-mini")
        )
        for model in ("gpt-4o-mini", "gpt-4o-mini", "gpt-4o", "gpt-4o"):
            c.chat.completions.create(model=model, messages=CHAT["messages"])
        assert [r["model"] for r in mock.requests] == ["gpt-4o-mini", "gpt-4o", "gpt-4o"]

    def test_scope_with_its_own_cache(self, mock: OpenAIMock) -> None:
        """cached(cache) applies to clients enabled without a cache of their own."""
        c = enable(openai_client(mock))
        assert client_cache(c) is None
        other = ResponseCache(MemoryStore())
        c.chat.completions.create(**CHAT)
        with cached(other):
            c.chat.completions.create(**CHAT)
            c.chat.completions.create(**CHAT)
        assert len(mock.requests) == 2
        assert other.stats().hits == 1

    def test_bypass(self, client: Any, mock: OpenAIMock, cache: ResponseCache) -> None:
        """bypass() neither reads nor writes."""
        with bypass():
            client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT)
        with bypass():
            client.chat.completions.create(**CHAT)
        assert len(mock.requests) == 3
        assert cache.stats().stores == 1

    def test_refresh_overwrites(self, client: Any, mock: OpenAIMock) -> None:
        """cached(refresh=True) calls the provider and replaces the stored answer."""
        client.chat.completions.create(**CHAT)
        mock.content = "Four."
        with cached(refresh=True):
            assert client.chat.completions.create(**CHAT).choices[0].message.content == "Four."
        assert client.chat.completions.create(**CHAT).choices[0].message.content == "Four."
        assert len(mock.requests) == 2

    def test_disable(self, client: Any, mock: OpenAIMock) -> None:
        """disable(client) stops caching outside scopes."""
        client.chat.completions.create(**CHAT)
        disable(client)
        client.chat.completions.create(**CHAT)
        assert client_cache(client) is None
        assert len(mock.requests) == 2

    def test_namespace_partitions(self, mock: OpenAIMock, store: MemoryStore) -> None:
        """Two namespaces on one store never serve each other."""
        a = enable(openai_client(mock), ResponseCache(store, namespace="tenant-a"))
        b = enable(openai_client(mock), ResponseCache(store, namespace="tenant-b"))
        a.chat.completions.create(**CHAT)
        b.chat.completions.create(**CHAT)
        a.chat.completions.create(**CHAT)
        assert len(mock.requests) == 2

    def test_background_responses_are_never_cached(self, client: Any, mock: OpenAIMock) -> None:
        """Responses with background=True are polled by id, so they always go to the provider."""
        with cached():
            client.responses.create(model="gpt-5.5", input="hi", background=True)
            client.responses.create(model="gpt-5.5", input="hi", background=True)
        assert len(mock.requests) == 2

    def test_other_clients_on_the_same_http_client_pass_through(
        self, mock: OpenAIMock, cache: ResponseCache
    ) -> None:
        """An unwrapped client sharing the httpx2 client is never served from the cache."""
        http = httpx2.Client(transport=httpx2.MockTransport(mock))
        enabled = enable(
            openai.OpenAI(api_key="sk-x", base_url="https://api.openai.test/v1", http_client=http), cache
        )
        plain = openai.OpenAI(api_key="sk-x", base_url="https://api.openai.test/v1", http_client=http)
        enabled.chat.completions.create(**CHAT)
        plain.chat.completions.create(**CHAT)
        assert len(mock.requests) == 2

    def test_enable_wraps_an_unwrapped_client(self, mock: OpenAIMock, cache: ResponseCache) -> None:
        """enable() meters a client that was not wrapped yet, so hits are recorded."""
        c = enable(openai_client(mock), cache)
        assert llmfinops._wrap.runtime_of(c) is not None

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"ttl": 0}, "ttl=0"),
            ({"ttl": -5}, "ttl=-5"),
            ({"when": "sometimes"}, "when='sometimes'"),
            ({"max_entry_bytes": 0}, "max_entry_bytes=0"),
            ({"store": object()}, "store="),
        ],
    )
    def test_bad_settings(self, kwargs: dict, match: str) -> None:
        """Invalid settings are configuration errors naming the field."""
        kwargs.setdefault("store", MemoryStore())
        with pytest.raises(ConfigurationError, match=match):
            ResponseCache(**kwargs)

    def test_enable_rejects_a_non_cache(self, mock: OpenAIMock) -> None:
        """enable(client, cache=<not a ResponseCache>) names the fix."""
        with pytest.raises(ConfigurationError, match=r"must be a llmfinops\.cache\.ResponseCache"):
            enable(openai_client(mock), "yes")  # type: ignore[arg-type]

    def test_bad_scope_rule(self) -> None:
        """cached(when=...) is checked like ResponseCache(when=...)."""
        with pytest.raises(ConfigurationError, match="when=3"):
            cached(when=3)  # type: ignore[arg-type]


class BrokenStore:
    """A store whose backend is down."""

    def get(self, key: str) -> bytes | None:
        raise ConnectionError("store is down")

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        raise ConnectionError("store is down")

    def delete(self, key: str) -> None:
        raise ConnectionError("store is down")

    def close(self) -> None:
        pass


class TestFailures:
    def test_store_down_never_breaks_the_call(self, mock: OpenAIMock) -> None:
        """A failing store warns once; every call still returns the provider's answer."""
        rc = ResponseCache(BrokenStore())
        c = enable(openai_client(mock), rc)
        with pytest.warns(ResponseCacheWarning, match="lookup failed"):
            r = c.chat.completions.create(**CHAT)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            c.chat.completions.create(**CHAT)
        assert r.choices[0].message.content == "Hello! How can I help you today?"
        assert len(mock.requests) == 2
        assert rc.stats().errors == 4  # two failed lookups, two failed stores

    def test_corrupt_entry_is_dropped(self, client: Any, mock: OpenAIMock, store: MemoryStore) -> None:
        """A corrupt entry warns, is deleted, and the next answer is stored again."""
        client.chat.completions.create(**CHAT)
        (key,) = list(store._data)
        store.set(key, b"LFRC\x01garbage", None)
        with pytest.warns(ResponseCacheWarning, match="read failed"):
            client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT)
        assert len(mock.requests) == 2

    def test_error_responses_are_not_stored(self, cache: ResponseCache) -> None:
        """A 400 raises the SDK's error and leaves nothing in the cache."""
        c = enable(openai_client(OpenAIMock(error_status=400), max_retries=0), cache)
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(**CHAT)
        assert cache.stats().stores == 0

    def test_retry_then_success_is_stored_once(self, cache: ResponseCache) -> None:
        """A 429 retried by the SDK is not stored; the final 200 is, and one record shows the retry."""
        m = OpenAIMock(prompt_tokens=100, completion_tokens=20, fail_first=1)
        c = enable(openai_client(m), cache)
        with capture_records() as recs:
            c.chat.completions.create(**CHAT)
            c.chat.completions.create(**CHAT)
        assert len(m.requests) == 2
        assert [(r.retry_count, r.cache_hit, r.cost_usd) for r in recs] == [
            (1, False, COST),
            (0, True, Decimal(0)),
        ]
        assert cache.stats().stores == 1

    def test_oversized_responses_are_not_stored(self, mock: OpenAIMock) -> None:
        """Responses above max_entry_bytes go through uncached."""
        c = enable(openai_client(mock), ResponseCache(MemoryStore(), max_entry_bytes=100))
        c.chat.completions.create(**CHAT)
        c.chat.completions.create(**CHAT)
        assert len(mock.requests) == 2

    def test_ttl_expiry(self, mock: OpenAIMock) -> None:
        """An entry is served until its TTL, then the provider is asked again."""
        now = [0.0]
        c = enable(openai_client(mock), ResponseCache(MemoryStore(clock=lambda: now[0]), ttl=60))
        c.chat.completions.create(**CHAT)
        now[0] = 59.0
        c.chat.completions.create(**CHAT)
        now[0] = 61.0
        c.chat.completions.create(**CHAT)
        assert len(mock.requests) == 2

    def test_legacy_httpx_client_is_left_alone(self, cache: ResponseCache) -> None:
        """A legacy httpx client cannot be cached: enable() warns and calls still work."""
        import httpx

        m = OpenAIMock()

        def handler(request: httpx.Request) -> httpx.Response:
            r = m(request)
            return httpx.Response(r.status_code, headers=dict(r.headers), content=r.content)

        legacy = httpx.Client(transport=httpx.MockTransport(handler))
        c = openai.OpenAI(api_key="sk-x", base_url="https://api.openai.test/v1", http_client=legacy)  # type: ignore[arg-type]
        with pytest.warns(ResponseCacheWarning, match="needs an httpx2 client"):
            enable(c, cache)
        c.chat.completions.create(**CHAT)
        c.chat.completions.create(**CHAT)
        assert len(m.requests) == 2


class TestAsync:
    def test_async_client_hits(self, mock: OpenAIMock, cache: ResponseCache) -> None:
        """AsyncOpenAI calls are served from the cache too."""
        c = enable(async_openai_client(mock), cache)

        async def run() -> tuple[Any, Any]:
            return await c.chat.completions.create(**CHAT), await c.chat.completions.create(**CHAT)

        with capture_records() as recs:
            a, b = asyncio.run(run())
        assert b.model_dump() == a.model_dump()
        assert len(mock.requests) == 1
        assert [r.cache_hit for r in recs] == [False, True]

    def test_async_stream(self, mock: OpenAIMock, cache: ResponseCache) -> None:
        """An async stream replays as openai.AsyncStream with the same chunks."""
        c = enable(async_openai_client(mock), cache)

        async def run() -> tuple[list[Any], list[Any], Any]:
            s1 = await c.chat.completions.create(**CHAT, stream=True)
            first = [x.model_dump() async for x in s1]
            s2 = await c.chat.completions.create(**CHAT, stream=True)
            second = [x.model_dump() async for x in s2]
            return first, second, s2

        first, second, s2 = asyncio.run(run())
        assert second == first
        assert type(s2) is openai.AsyncStream
        assert len(mock.requests) == 1

    def test_async_with_redis(self, mock: OpenAIMock, redis_url: str) -> None:
        """With RedisStore the async path uses the asyncio Redis client."""
        store = RedisStore(redis_url, prefix="async-e2e:")
        c = enable(async_openai_client(mock), ResponseCache(store))

        async def run() -> None:
            await c.chat.completions.create(**CHAT)
            await c.chat.completions.create(**CHAT)
            await store._aclient.aclose()

        asyncio.run(run())
        assert len(mock.requests) == 1
        store.close()


class TestSharedStores:
    def test_diskcache_shared_across_caches(self, mock: OpenAIMock, tmp_path: Path) -> None:
        """Two processes' caches on one directory: the second one's first call is a hit."""
        a = enable(openai_client(mock), ResponseCache(DiskCacheStore(tmp_path)))
        b = enable(openai_client(mock), ResponseCache(DiskCacheStore(tmp_path)))
        a.chat.completions.create(**CHAT)
        with capture_records() as recs:
            b.chat.completions.create(**CHAT)
        assert len(mock.requests) == 1
        assert (recs[0].cache_hit, recs[0].saved_usd) == (True, COST)

    def test_redis_shared_across_caches(self, mock: OpenAIMock, redis_url: str) -> None:
        """Two workers on one Redis share entries."""
        a = enable(openai_client(mock), ResponseCache(RedisStore(redis_url, prefix="e2e:")))
        b = enable(openai_client(mock), ResponseCache(RedisStore(redis_url, prefix="e2e:")))
        a.chat.completions.create(**CHAT)
        b.chat.completions.create(**CHAT)
        assert len(mock.requests) == 1

    def test_stored_entry_holds_no_secret(self, client: Any, store: MemoryStore) -> None:
        """Keys are hashes and entries carry no API key or request headers."""
        client.chat.completions.create(**CHAT)
        ((key, (value, _)),) = list(store._data.items())
        from llmfinops.cache._entry import unpack

        entry = unpack(value)
        assert "What is 2+2" not in key
        assert b"sk-test" not in value
        assert {k for k, _ in entry.headers} == {"content-type", "x-request-id"}
        assert json.loads(entry.body)["object"] == "chat.completion"
