"""cache_effectiveness: hit rate, write:read ratio and dollars saved per prefix, from records."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from llmfinops.policies import cache_effectiveness, format_cache_effectiveness
from llmfinops.pricing import default_price_table
from llmfinops.records import CallRecord
from llmfinops.testing import make_record
from llmfinops.usage import Usage

AT = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
TABLE = default_price_table()


def anthropic_record(
    fp: str | None, *, uncached: int, read: int, write: int, output: int = 200
) -> CallRecord:
    """A Sonnet 4.6 record priced by the real table (input_tokens inclusive, as records are)."""
    usage = Usage(
        input_tokens=uncached + read + write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=output,
    )
    cost = TABLE.cost("anthropic", "claude-sonnet-4-6", usage, at=AT, cache_write_ttl="5m")
    return make_record(
        provider="anthropic",
        model="claude-sonnet-4-6",
        response_model="claude-sonnet-4-6",
        price_model="claude-sonnet-4-6",
        timestamp=AT,
        prefix_fingerprint=fp,
        input_tokens=usage.input_tokens,
        cached_input_tokens=read,
        cache_write_tokens=write,
        output_tokens=output,
        total_tokens=usage.input_tokens + output,
        cost_usd=cost.total,
        input_cost_usd=cost.input,
        cached_input_cost_usd=cost.cached_input,
        cache_write_cost_usd=cost.cache_write,
        output_cost_usd=cost.output,
    )


class TestCacheEffectiveness:
    """Per-prefix figures computed from records alone."""

    def test_amortized_prefix(self) -> None:
        """1 write + 4 reads of 10,000 tokens: exact dollars saved versus no caching."""
        recs = [anthropic_record("aaaaaaaaaaaa", uncached=50, read=0, write=10_000)]
        recs += [anthropic_record("aaaaaaaaaaaa", uncached=50, read=10_000, write=0) for _ in range(4)]
        (row,) = cache_effectiveness(recs)
        assert (row.calls, row.input_tokens, row.cached_tokens, row.cache_write_tokens) == (
            5,
            50_250,
            40_000,
            10_000,
        )
        assert row.cost_usd == Decimal("0.04065") + 4 * Decimal("0.00615")
        assert row.uncached_cost_usd == 5 * Decimal("0.03315")
        assert row.saved_usd == Decimal("0.1005")
        assert row.reads_per_write == 4.0
        assert round(row.hit_rate, 4) == 0.796
        assert not row.costs_more
        assert row.verdict == f"saves {row.saved_pct:.1f}%"

    def test_unamortized_writes_are_flagged(self) -> None:
        """Writes never read back cost 1.25x: the prefix is flagged."""
        recs = [anthropic_record("bbbbbbbbbbbb", uncached=50, read=0, write=10_000) for _ in range(3)]
        (row,) = cache_effectiveness(recs)
        assert row.costs_more
        assert row.saved_usd == -3 * Decimal("0.0075")
        assert row.reads_per_write == 0.0
        assert row.verdict.startswith(
            "caching costs more than it saves: writes not amortized (write:read 1:0.00)"
        )

    def test_groups_by_static_prefix_or_full_fingerprint(self) -> None:
        """by="static" merges conversations of one template; by="full" keeps the cached history apart."""
        recs = [
            anthropic_record("cccccccccccc.11111111", uncached=50, read=5000, write=100),
            anthropic_record("cccccccccccc.22222222", uncached=50, read=5000, write=100),
            anthropic_record("dddddddddddd", uncached=50, read=0, write=0),
            anthropic_record(None, uncached=80, read=0, write=0),
        ]
        static = cache_effectiveness(recs)
        # the most expensive first: the 80-token uncached call costs more than the 50-token one
        assert [(r.fingerprint, r.calls) for r in static] == [
            ("cccccccccccc", 2),
            (None, 1),
            ("dddddddddddd", 1),
        ]
        full = cache_effectiveness(recs, by="full")
        assert sorted((r.fingerprint or "", r.calls) for r in full) == [
            ("", 1),
            ("cccccccccccc.11111111", 1),
            ("cccccccccccc.22222222", 1),
            ("dddddddddddd", 1),
        ]
        assert static[2].verdict == "not cached"

    def test_unpriced_records(self) -> None:
        """Records without a price count in tokens but not in dollars."""
        recs = [
            make_record(prefix_fingerprint="eeeeeeeeeeee", cost_usd=None, input_cost_usd=None),
            make_record(prefix_fingerprint="eeeeeeeeeeee"),
        ]
        (row,) = cache_effectiveness(recs)
        assert (row.calls, row.unpriced_calls) == (2, 1)
        assert row.cost_usd == Decimal("0.0045")

    def test_counterfactual_from_the_table_when_everything_was_cached(self) -> None:
        """An OpenAI record with every input token cached is priced uncached from the table."""
        rec = make_record(
            model="gpt-4o",
            price_model="gpt-4o",
            timestamp=AT,
            prefix_fingerprint="ffffffffffff",
            input_tokens=2048,
            cached_input_tokens=2048,
            output_tokens=0,
            input_cost_usd="0",
            cached_input_cost_usd="0.00256",
            cache_write_cost_usd="0",
            output_cost_usd="0",
            cost_usd="0.00256",
        )
        (row,) = cache_effectiveness([rec], table=TABLE)
        expected = TABLE.cost("openai", "gpt-4o", Usage(input_tokens=2048), at=AT).input
        assert row.uncached_cost_usd == expected
        assert row.saved_usd == expected - Decimal("0.00256")

    def test_format(self) -> None:
        """The text table shows one line per prefix."""
        recs = [
            anthropic_record("aaaaaaaaaaaa", uncached=50, read=0, write=10_000),
            anthropic_record("aaaaaaaaaaaa", uncached=50, read=10_000, write=0),
        ]
        lines = format_cache_effectiveness(cache_effectiveness(recs)).splitlines()
        assert lines[0].split() == [
            "prefix",
            "calls",
            "hit",
            "rate",
            "write:read",
            "cost",
            "uncached",
            "saved",
            "verdict",
        ]
        assert lines[1].split()[:8] == [
            "aaaaaaaaaaaa",
            "2",
            "49.8%",
            "1:1.0",
            "0.046800",
            "0.066300",
            "0.019500",
            "saves",
        ]
