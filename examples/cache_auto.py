"""cache="auto" on seed 003's support bot: what prompt caching saves, and when it does not.

Replays one day (100 calls, a 10,000-token system prompt, ~50-token questions, 200-token
answers, claude-sonnet-4-6 prices) through ``llmfinops.wrap(Anthropic(), cache="auto")``
against a simulated Anthropic prompt cache (the test suite's ``tests/policies/cache_sim.py``:
5-minute entries refreshed on hits, 1-hour entries, the 20-block lookback), under four
arrival patterns, then shows the cache-buster lint on a timestamped system prompt and the
cache-effectiveness report computed from the records. Offline; nothing is sent anywhere.

    python examples/cache_auto.py
"""

from __future__ import annotations

import sys
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: llmfinops and its tests

import llmfinops
from llmfinops.policies import (
    CacheBusterWarning,
    CachePolicy,
    cache_effectiveness,
    format_cache_effectiveness,
)
from llmfinops.records import CallRecord
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.anthropic import anthropic_client
from tests.policies.cache_sim import CacheSimulator  # the simulator lives with the tests

MODEL = "claude-sonnet-4-6"
POLICY_TEXT = (
    "refunds are accepted within thirty days of purchase when the item is unused and the customer provides "
    "the original receipt agents must stay polite concise and cite the relevant policy section"
)
WORDS = POLICY_TEXT.split()
SYSTEM = " ".join(WORDS[i % len(WORDS)] for i in range(10_000))  # 10,000 simulator tokens


def question(k: int) -> str:
    words = ["where", "is", "my", "order", "can", "I", "return", "it"] * 6
    return f"ticket{k} " + " ".join(words) + " thanks"  # 50 simulator tokens


def day(
    offsets: list[float], *, cache: str | CachePolicy | None = "auto", timestamp: bool = False
) -> list[CallRecord]:
    clock = FakeClock(datetime(2026, 11, 2, tzinfo=UTC))
    llmfinops.configure(clock=clock, sinks=[])
    client = llmfinops.wrap(anthropic_client(CacheSimulator(now=clock.now)), cache=cache)
    start = clock.now()
    with capture_records() as records:
        for k, t in enumerate(offsets):
            clock.set(start + timedelta(seconds=t))
            system = f"Current time: {clock.now().isoformat()}\n{SYSTEM}" if timestamp else SYSTEM
            client.messages.create(
                model=MODEL,
                max_tokens=1024,
                system=system,
                messages=[{"role": "user", "content": question(k)}],
            )
    return list(records)


def summary(label: str, records: list[CallRecord]) -> None:
    rows = cache_effectiveness(records)
    cost = sum((r.cost_usd for r in rows), Decimal(0))
    uncached = sum((r.uncached_cost_usd for r in rows), Decimal(0))
    reads = sum(1 for r in records if r.cached_input_tokens)
    writes = sum(1 for r in records if r.cache_write_tokens)
    saved = (uncached - cost) / uncached * 100
    print(f"{label:<44} {writes:>6} {reads:>6} {cost:>10.4f} {uncached:>10.4f} {saved:>8.1f}%")


def main() -> None:
    within_ttl = [120.0 * k for k in range(100)]
    bursty = [3600.0 * (k // 10) + 30.0 * (k % 10) for k in range(100)]
    even = [864.0 * k for k in range(100)]
    header = ("arrival pattern (100 calls/day)", "writes", "reads", "cost $", "uncached", "saved")
    print(f"{header[0]:<44} {header[1]:>6} {header[2]:>6} {header[3]:>10} {header[4]:>10} {header[5]:>9}")
    summary("every 2 min (the seed's assumption)", day(within_ttl))
    summary("10 bursts of 10, bursts an hour apart", day(bursty))
    summary("evenly spread over 24 h, 5m TTL", day(even))
    summary("evenly spread over 24 h, system_ttl='1h'", day(even, cache=CachePolicy(system_ttl="1h")))
    summary("no caching (cache=None)", day(within_ttl, cache=None))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = day(within_ttl, timestamp=True)
    summary("timestamp in the system prompt", records)
    for w in caught:
        if issubclass(w.category, CacheBusterWarning):
            print("\nlint:", w.message)
    print("\nPer-prefix report of the bursty day:\n")
    print(format_cache_effectiveness(cache_effectiveness(day(bursty))))


if __name__ == "__main__":
    main()
