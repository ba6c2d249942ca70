"""Records, context attribution, configuration, token estimates, the public surface."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import llmfinops
from llmfinops._config import get_config
from llmfinops.exceptions import ConfigurationError
from llmfinops.records import RECORD_FIELDS, CallRecord, record_from_dict
from llmfinops.testing import FakeClock, make_record
from llmfinops.tokens import estimate_prompt_tokens, estimate_tokens, estimator_method
from llmfinops.usage import Usage


class TestRecords:
    def test_json_matches_as_dict(self) -> None:
        """The generated serializer writes exactly what as_dict() holds."""
        rec = make_record(team='a"b', tags={"tenant": "ünï"}, cost_usd=None, latency_ms=12.5)
        assert json.loads(rec.to_json()) == rec.as_dict()

    def test_costs_are_exact_in_json(self) -> None:
        """Costs keep their exact decimal digits in JSON and read back exactly."""
        rec = make_record(cost_usd=Decimal("0.000123456789012345678"))
        line = rec.to_json()
        assert '"cost_usd":0.000123456789012345678' in line
        back = record_from_dict(json.loads(line, parse_float=Decimal))
        assert back.cost_usd == Decimal("0.000123456789012345678")

    def test_round_trip_all_fields(self) -> None:
        """A record survives JSON and back, field for field."""
        rec = make_record(cache_hit=True, saved_usd="0.5", cascade_step=2, tags={"k": "v"})
        back = record_from_dict(json.loads(rec.to_json(), parse_float=Decimal))
        assert back == rec

    def test_new_record_matches_the_dataclass_constructor(self) -> None:
        """The recorder's positional constructor gives the same record as ``CallRecord(**fields)``."""
        import inspect

        from llmfinops.records import CORE_FIELDS, new_record

        assert tuple(inspect.signature(new_record).parameters) == CORE_FIELDS
        ref = make_record(team="t", tags={"k": "v"}, reasoning_tokens=3, pricing_note="n")
        built = new_record(*(getattr(ref, f) for f in CORE_FIELDS))
        assert built == ref
        assert (built.policy, built.cache_hit, built.context) == (None, False, None)

    def test_unknown_keys_ignored(self) -> None:
        """Newer logs with extra keys stay readable."""
        d = make_record().as_dict() | {"future_field": 1}
        assert isinstance(record_from_dict(d), CallRecord)

    def test_field_order_is_public(self) -> None:
        """RECORD_FIELDS starts with the identity fields and holds every documented column."""
        assert RECORD_FIELDS[:4] == ("id", "timestamp", "provider", "operation")
        for f in (
            "cached_input_tokens",
            "cost_usd",
            "input_cost_usd",
            "cache_write_cost_usd",
            "retry_count",
            "time_to_first_token_ms",
            "service_tier",
            "price_version",
            "environment",
            "request_id",
        ):
            assert f in RECORD_FIELDS


class TestUsage:
    def test_uncached_and_total(self) -> None:
        """Uncached input excludes reads and writes; total is input + output."""
        u = Usage(input_tokens=100, cache_read_tokens=60, cache_write_tokens=30, output_tokens=7)
        assert (u.uncached_input_tokens, u.total_tokens) == (10, 107)

    def test_sum_merges_ttl_split(self) -> None:
        """Adding usages sums counts and TTL splits."""
        a = Usage(input_tokens=10, cache_write_tokens=4, cache_write_by_ttl={"5m": 4})
        b = Usage(input_tokens=5, cache_write_tokens=3, cache_write_by_ttl={"1h": 3}, output_tokens=2)
        s = a + b
        assert (s.input_tokens, s.cache_write_tokens, s.cache_write_by_ttl, s.output_tokens) == (
            15,
            7,
            {"5m": 4, "1h": 3},
            2,
        )


class TestTags:
    def test_nesting_and_removal(self) -> None:
        """Inner tags win; None removes a key; the outer scope is restored."""
        with llmfinops.tags(team="a", feature="x"):
            with llmfinops.tags(team="b", feature=None):
                assert dict(llmfinops.current_tags()) == {"team": "b"}
            assert dict(llmfinops.current_tags()) == {"team": "a", "feature": "x"}
        assert dict(llmfinops.current_tags()) == {}

    async def test_async_decorator_and_tasks(self) -> None:
        """The decorator works on coroutines and tags follow tasks."""

        @llmfinops.tags(feature="bg")
        async def job() -> str:
            await asyncio.sleep(0)
            return llmfinops.current_tags()["feature"]

        with llmfinops.tags(team="t"):
            results = await asyncio.gather(job(), job())
        assert results == ["bg", "bg"]


class TestConfig:
    def test_unknown_price_override_key(self) -> None:
        """A typo in price_overrides names the key and the allowed ones."""
        with pytest.raises(ConfigurationError, match=r"unknown key\(s\) \['model'\]"):
            llmfinops.configure(price_overrides={"model": []})

    def test_bad_user_id_mode(self) -> None:
        """user_id_mode is validated."""
        with pytest.raises(ConfigurationError, match="user_id_mode='plain'"):
            llmfinops.configure(user_id_mode="plain")  # type: ignore[arg-type]

    def test_wake_at_reaches_the_writer(self) -> None:
        """configure(wake_at=...) builds the writer with it; the default is 64; bad values are refused."""
        assert get_config().writer().wake_at == 64
        llmfinops.configure(sinks=[], wake_at=8)
        assert get_config().writer().wake_at == 8
        for bad in (0, -3, 2.5, True):
            with pytest.raises(ConfigurationError, match=f"wake_at={bad!r} must be a positive integer"):
                llmfinops.configure(wake_at=bad)  # type: ignore[arg-type]
        assert get_config().writer().wake_at == 8

    def test_writer_options_reach_a_clients_own_writer(self) -> None:
        """wrap(client, sinks=[...]) builds its own writer with the configured writer options."""
        from llmfinops._recorder import ClientRuntime
        from llmfinops.sinks import MemorySink

        llmfinops.configure(sinks=[], wake_at=8, max_queue=500, flush_interval=0.05, overflow="drop_oldest")
        w = ClientRuntime("openai", sinks=[MemorySink()]).writer(get_config())
        assert (w.wake_at, w.max_queue, w.flush_interval, w.overflow) == (8, 500, 0.05, "drop_oldest")
        w.close()

    def test_fake_clock_is_utc(self) -> None:
        """FakeClock refuses naive datetimes and advances both clocks."""
        with pytest.raises(ValueError, match="timezone-aware"):
            FakeClock(datetime(2026, 1, 1))
        c = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
        m = c.monotonic()
        c.advance(2.5)
        assert c.monotonic() - m == 2.5 and c.now().second == 2


class TestTokens:
    def test_method_is_offline_bpe(self) -> None:
        """Estimates use the bundled BPE tables, no network."""
        assert estimator_method().startswith("bpe-openai (o200k_base")

    def test_exact_for_openai(self) -> None:
        """OpenAI counts are exact BPE counts."""
        assert estimate_tokens("The quick brown fox", model="gpt-4o") == 4

    def test_margin_for_other_providers(self) -> None:
        """Anthropic/Google estimates carry a 20 % safety margin."""
        text = "word " * 1000
        assert estimate_tokens(text, provider="anthropic") == -(-estimate_tokens(text) * 12 // 10)

    def test_prompt_estimate_counts_system_tools_images(self) -> None:
        """System, messages, tools and images all count."""
        body = {
            "model": "claude-sonnet-4-6",
            "system": "You are helpful. " * 50,
            "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi"}, {"type": "image", "source": {"data": "..."}}],
                }
            ],
        }
        n = estimate_prompt_tokens("anthropic", body)
        assert n > 1600 + 200


class TestPublicSurface:
    def test_all_is_sorted_and_importable(self) -> None:
        """__all__ is sorted and every name exists."""
        assert list(llmfinops.__all__) == sorted(llmfinops.__all__)
        for name in llmfinops.__all__:
            assert hasattr(llmfinops, name), name

    def test_import_pulls_no_sdk(self) -> None:
        """import llmfinops imports no provider SDK and no heavy optional dependency."""
        import subprocess
        import sys

        code = (
            "import sys, llmfinops; bad=[m for m in ('openai','anthropic','google.genai','duckdb','redis',"
            "'opentelemetry','prometheus_client','httpx2','bpe_openai','tiktoken') if m in sys.modules];"
            "print(','.join(bad))"
        )
        out = subprocess.check_output([sys.executable, "-c", code], text=True).strip()
        assert out == ""


# -- call-path constructors ---------------------------------------------------------------------
def test_make_usage_sets_every_field_of_the_dataclass() -> None:
    import dataclasses

    from llmfinops.usage import make_usage

    u = make_usage(1000, 800, 100, {"5m": 100, "1h": 0}, 50, 20, "batch")
    assert u == Usage(
        input_tokens=1000,
        cache_read_tokens=800,
        cache_write_tokens=100,
        cache_write_by_ttl={"5m": 100, "1h": 0},
        output_tokens=50,
        reasoning_tokens=20,
        service_tier="batch",
    )
    for f in dataclasses.fields(Usage):  # a field added to Usage must be added to make_usage
        getattr(u, f.name)
    u.modifiers["speed"] = "fast"
    assert make_usage(0, 0, 0, None, 0, 0, None).modifiers == {}  # a fresh dict each time


def test_new_call_state_matches_the_constructor_and_reads_the_system_clock_lazily() -> None:
    from llmfinops._recorder import CallState, ClientRuntime, call_start, new_call_state

    rt = ClientRuntime("openai")
    body = {"model": "gpt-4o"}
    fast = new_call_state(rt, "chat.completions", "chat", "gpt-4o", True, 64, body)
    slow = CallState(rt, "chat.completions", "chat", "gpt-4o", True, 64, body=body)
    assert {k: v for k, v in vars(fast).items() if k not in ("_wall", "start")} == {
        k: v for k, v in vars(slow).items() if k not in ("_wall", "start")
    }
    before = datetime.now(UTC)
    state = new_call_state(rt, "chat.completions", "chat", "gpt-4o", False, None, None)
    assert "_ts" not in vars(state)  # no datetime made on the call path
    assert before <= state.timestamp <= datetime.now(UTC)
    assert state.timestamp is state.timestamp and state.timestamp.tzinfo is not None
    state.timestamp = datetime(2026, 1, 1, tzinfo=UTC)
    assert state.timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    mark = call_start()
    later = new_call_state(rt, "chat.completions", "chat", "gpt-4o", False, None, None, mark)
    assert later.start == mark[2] and later.timestamp == datetime.fromtimestamp(mark[1], UTC)


def test_call_states_take_a_fake_clock_as_it_is() -> None:
    from llmfinops._recorder import ClientRuntime, call_start, new_call_state

    clock = FakeClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    llmfinops.configure(clock=clock)
    try:
        state = new_call_state(ClientRuntime("openai"), "chat.completions", "chat", "m", False, None, None)
        assert state.timestamp == datetime(2026, 3, 1, 12, tzinfo=UTC)
        assert state.start == clock.monotonic()
        assert call_start()[0] == datetime(2026, 3, 1, 12, tzinfo=UTC)
    finally:
        llmfinops.configure(clock=llmfinops._clock.system_clock)
