"""Proof: seed 003's support bot replayed through ``wrap(Anthropic(), cache="auto")`` over a simulated cache.

Workload (seed 003 "Cost Impact Analysis"): a 10,000-token static system prompt, ~50-token user
messages, 200-token answers, 100 calls a day, Sonnet-class prices (``claude-sonnet-4-6``:
$3 input, $3.75 5m write, $6 1h write, $0.30 read, $15 output per 1M tokens). The seed estimates
a 79 % saving assuming every call after the first hits the cache. Whether calls hit depends on
how they are spaced against the 5-minute TTL (refreshed on each hit), so the same 100 calls are
replayed under four arrival patterns (a fake clock moves between calls):

* ``within_ttl``: the seed's implicit assumption, a call every 2 minutes;
* ``bursty``: 10 bursts of 10 calls 30 s apart, bursts an hour apart (support traffic clustered);
* ``even``: spread evenly over 24 h (one call every 14.4 min) — every call misses a 5m cache;
* ``even`` with ``CachePolicy(system_ttl="1h")``: the same spacing with the 1-hour TTL.

And the seed's pitfall: a timestamp in the system prompt — the lint fires, the saving collapses.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from decimal import Decimal

import pytest

import llmfinops
from llmfinops.policies import CacheBusterWarning, CachePolicy, cache_effectiveness
from llmfinops.records import CallRecord
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.anthropic import anthropic_client

from .cache_sim import CacheSimulator

MODEL = "claude-sonnet-4-6"
_POLICY_TEXT = (
    "refunds are accepted within thirty days of purchase when the item is unused and the customer "
    "provides the original receipt or order confirmation email shipping costs are refunded only "
    "for damaged goods agents must stay polite concise and cite the relevant policy section"
)
_VOCAB = _POLICY_TEXT.split()
SYSTEM = " ".join(_VOCAB[i % len(_VOCAB)] for i in range(10_000))
"""10,000 simulator tokens of static policy text (no digits, no dates)."""
CALLS = 100
PER_CALL_UNCACHED = Decimal("0.03315")  # 10,050 x $3/M + 200 x $15/M


def question(k: int) -> str:
    """A distinct ~50-token customer question."""
    return (
        f"ticket{k} " + " ".join(["where", "is", "my", "order", "can", "I", "return", "it"] * 6) + " thanks"
    )


def within_ttl() -> list[float]:
    return [120.0 * k for k in range(CALLS)]


def bursty() -> list[float]:
    return [3600.0 * (k // 10) + 30.0 * (k % 10) for k in range(CALLS)]


def even() -> list[float]:
    return [86_400.0 / CALLS * k for k in range(CALLS)]


def replay(
    clock: FakeClock,
    offsets: list[float],
    *,
    cache: str | CachePolicy | None = "auto",
    timestamp: bool = False,
) -> tuple[list[CallRecord], CacheSimulator]:
    """Send the day's 100 calls through a wrapped client; return the records and the simulator."""
    sim = CacheSimulator(now=clock.now, min_tokens=1024)
    client = llmfinops.wrap(anthropic_client(sim), cache=cache)
    start = clock.now()
    with capture_records() as records:
        for k, t in enumerate(offsets):
            clock.set(start + timedelta(seconds=t))
            system = SYSTEM
            if timestamp:
                system = f"Current time: {clock.now().isoformat()}\n" + SYSTEM
            client.messages.create(
                model=MODEL,
                max_tokens=1024,
                system=system,
                messages=[{"role": "user", "content": question(k)}],
            )
    assert not sim.errors
    return list(records), sim


def total(records: list[CallRecord]) -> Decimal:
    costs = [r.cost_usd for r in records]
    assert all(c is not None for c in costs)
    return sum((c for c in costs if c is not None), Decimal(0))


def writes_and_reads(sim: CacheSimulator) -> tuple[int, int]:
    writes = sum(1 for u in sim.usages if u.write_5m or u.write_1h)
    reads = sum(1 for u in sim.usages if u.cache_read)
    return writes, reads


class TestSupportBotDay:
    """Seed 003's support bot: 100 calls a day, 10k-token system prompt, cache="auto"."""

    def test_calls_within_ttl_save_80_percent(self, clock: FakeClock) -> None:
        """The seed's assumption (all calls within 5 min of the previous): 1 write, 99 reads, 80.4% saved."""
        records, sim = replay(clock, within_ttl())
        assert writes_and_reads(sim) == (1, 99)
        # 1 x (10,000 x 3.75 + 50 x 3 + 200 x 15)/1M + 99 x (10,000 x 0.30 + 50 x 3 + 200 x 15)/1M
        assert total(records) == Decimal("0.6495")
        row = cache_effectiveness(records)[0]
        assert row.calls == CALLS
        assert row.uncached_cost_usd == PER_CALL_UNCACHED * CALLS
        assert row.saved_usd == Decimal("3.315") - Decimal("0.6495")
        assert round(row.saved_pct, 2) == 80.41
        assert round(row.hit_rate, 4) == round(99 * 10_000 / (CALLS * 10_050), 4)
        assert not row.costs_more

    def test_bursty_traffic_saves_71_percent(self, clock: FakeClock) -> None:
        """Ten bursts an hour apart: one write per burst (the 5m entry expires in between), 71.0% saved."""
        records, sim = replay(clock, bursty())
        assert writes_and_reads(sim) == (10, 90)
        assert total(records) == 10 * Decimal("0.04065") + 90 * Decimal("0.00615")
        row = cache_effectiveness(records)[0]
        assert round(row.saved_pct, 2) == 71.04
        assert row.reads_per_write == 9.0

    def test_evenly_spread_calls_never_hit_a_5m_cache(self, clock: FakeClock) -> None:
        """One call every 14.4 minutes outlives the 5m TTL: 100 writes, caching costs 22.6% more."""
        records, sim = replay(clock, even())
        assert writes_and_reads(sim) == (100, 0)
        assert total(records) == 100 * Decimal("0.04065")
        row = cache_effectiveness(records)[0]
        assert row.costs_more
        assert round(row.saved_pct, 2) == -22.62
        assert row.verdict.startswith("caching costs more than it saves: writes not amortized")

    def test_evenly_spread_calls_with_a_1h_ttl_save_80_percent(self, clock: FakeClock) -> None:
        """The same spacing with system_ttl="1h": one 2x write, 99 reads refreshing the hour, 79.7% saved."""
        records, sim = replay(clock, even(), cache=CachePolicy(system_ttl="1h"))
        assert writes_and_reads(sim) == (1, 99)
        assert sim.usages[0].write_1h == 10_000
        assert sim.requests[0]["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
        # 1 x (10,000 x 6 + 50 x 3 + 200 x 15)/1M + 99 x 0.00615
        assert total(records) == Decimal("0.06315") + 99 * Decimal("0.00615")
        assert round(cache_effectiveness(records)[0].saved_pct, 2) == 79.73

    def test_without_cache_policy_nothing_is_cached(self, clock: FakeClock) -> None:
        """Baseline: the same day without cache="auto" costs exactly the uncached price."""
        records, sim = replay(clock, within_ttl(), cache=None)
        assert writes_and_reads(sim) == (0, 0)
        assert total(records) == PER_CALL_UNCACHED * CALLS
        assert "cache_control" not in str(sim.requests[0])

    def test_placement_and_records(self, clock: FakeClock) -> None:
        """The system prompt is sent as one cached block; records carry the policy and one fingerprint."""
        records, sim = replay(clock, within_ttl()[:3])
        assert sim.requests[0]["system"] == [
            {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
        ]
        assert sim.requests[0]["messages"] == [{"role": "user", "content": question(0)}]
        assert records[0].policy == "cache=auto: +1 breakpoint (system[0] 5m)"
        assert len({r.prefix_fingerprint for r in records}) == 1
        assert records[1].cached_input_tokens == 10_000
        assert records[1].input_tokens == 10_050


class TestTimestampInSystemPrompt:
    """Seed 003's pitfall: "Current time" in the system prompt busts the cache on every call."""

    def test_lint_fires_once_and_the_saving_collapses(self, clock: FakeClock) -> None:
        """The lint warns once with the span and the fix; every call writes, nothing is read."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            records, sim = replay(clock, within_ttl(), timestamp=True)
        busters = [w for w in caught if issubclass(w.category, CacheBusterWarning)]
        assert len(busters) == 1
        text = str(busters[0].message)
        assert "timestamp '2026-11-02T00:00:00+00:00'" in text
        assert "at system[0]" in text
        assert "move it after the last cache breakpoint, into the user message" in text
        assert writes_and_reads(sim) == (100, 0)
        # each call writes 10,003 tokens at $3.75/M instead of reading them at $0.30/M
        assert total(records) == 100 * (Decimal("10003") * Decimal("3.75") + 50 * 3 + 200 * 15) / 1_000_000
        assert len({r.prefix_fingerprint for r in records}) == CALLS
        rows = cache_effectiveness(records)
        assert len(rows) == CALLS
        saved = sum((r.saved_usd for r in rows), Decimal(0))
        uncached = sum((r.uncached_cost_usd for r in rows), Decimal(0))
        assert round(float(saved / uncached * 100), 2) == -22.63
        assert all(r.costs_more for r in rows)

    def test_warning_is_pytest_visible(self, clock: FakeClock) -> None:
        """The warning is a CacheBusterWarning (an LLMFinOpsWarning) that pytest.warns can catch."""
        with pytest.warns(CacheBusterWarning, match="per-request value"):
            replay(clock, within_ttl()[:2], timestamp=True)

    def test_no_prompt_text_in_records(self, clock: FakeClock) -> None:
        """Records carry a hash and the policy summary, never the prompt or the offending span."""
        with pytest.warns(CacheBusterWarning):
            records, _ = replay(clock, within_ttl()[:2], timestamp=True)
        for rec in records:
            dumped = rec.to_json()
            assert "Current time" not in dumped
            assert "refunds are accepted" not in dumped
