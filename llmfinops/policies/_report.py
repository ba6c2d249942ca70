"""Cache effectiveness per prompt prefix: pure functions over :class:`~llmfinops.CallRecord` lists.

For each prefix fingerprint: the hit rate (cached / input tokens), the write:read ratio, the
dollars saved versus the same calls without any caching, and a flag when caching costs more
than it saves (cache writes not amortized by reads: seed 004 ch. 4 — "ratios where reads
dominate writes (5:1 or higher) are where caching pays off").

The uncached counterfactual prices every input token at the record's own uncached input
rate (``input_cost_usd / uncached tokens``, so tiers and multipliers carry over), or from
the price table at the record's timestamp when the record has no uncached tokens. Output
costs are the same either way.
"""

from __future__ import annotations

__all__ = ["PrefixStats", "cache_effectiveness", "format_cache_effectiveness"]

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from llmfinops.pricing import PriceTable
from llmfinops.records import CallRecord
from llmfinops.usage import Usage

_ZERO = Decimal(0)
_CENT = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class PrefixStats:
    """Cache effectiveness of one prompt prefix."""

    fingerprint: str | None
    """The prefix fingerprint (``None``: records without one)."""
    provider: str
    """Provider of the calls (the first seen when mixed)."""
    models: tuple[str, ...]
    """Models called with this prefix."""
    calls: int
    """Records in the group."""
    input_tokens: int
    """All prompt tokens (inclusive)."""
    cached_tokens: int
    """Prompt tokens read from the cache."""
    cache_write_tokens: int
    """Prompt tokens written to the cache."""
    cost_usd: Decimal
    """What the priced calls cost."""
    uncached_cost_usd: Decimal
    """What the same calls would have cost with no caching at all."""
    unpriced_calls: int = 0
    """Calls without a price (left out of the dollar figures)."""

    @property
    def hit_rate(self) -> float:
        """``cached_tokens / input_tokens``."""
        return self.cached_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def reads_per_write(self) -> float | None:
        """Cache-read tokens per cache-write token (``None`` when nothing was written)."""
        return self.cached_tokens / self.cache_write_tokens if self.cache_write_tokens else None

    @property
    def saved_usd(self) -> Decimal:
        """Dollars saved versus no caching (negative: caching cost more)."""
        return self.uncached_cost_usd - self.cost_usd

    @property
    def saved_pct(self) -> float:
        """``saved_usd`` as a percentage of the uncached cost."""
        return float(self.saved_usd / self.uncached_cost_usd * 100) if self.uncached_cost_usd else 0.0

    @property
    def costs_more(self) -> bool:
        """Caching cost more than it saved: cache writes were not amortized by reads."""
        return self.saved_usd < 0

    @property
    def verdict(self) -> str:
        """A one-line reading of the numbers."""
        if not self.cached_tokens and not self.cache_write_tokens:
            return "not cached"
        if self.costs_more:
            rpw = self.reads_per_write or 0.0
            return (
                f"caching costs more than it saves: writes not amortized (write:read 1:{rpw:.2f}); "
                "check the TTL against the request spacing and the lint warnings"
            )
        return f"saves {self.saved_pct:.1f}%"


def _uncached_input(rec: CallRecord, table: PriceTable) -> Decimal | None:
    uncached = rec.input_tokens - rec.cached_input_tokens - rec.cache_write_tokens
    if uncached > 0 and rec.input_cost_usd is not None:
        return rec.input_cost_usd / uncached * rec.input_tokens
    usage = Usage(input_tokens=rec.input_tokens, service_tier=rec.service_tier)
    cost = table.cost(rec.provider, rec.price_model or rec.model, usage, at=rec.timestamp)
    return cost.input


def cache_effectiveness(
    records: Iterable[CallRecord],
    *,
    table: PriceTable | None = None,
    by: Literal["static", "full"] = "static",
) -> list[PrefixStats]:
    """Group records by prompt prefix and measure what caching did for each.

    Args:
        records: Call records (e.g. read back from a JSONL sink).
        table: Price table for records without uncached input (default: the configured one).
        by: ``"static"`` groups by the static prefix (tools + system: one row per prompt
            template, all conversations together); ``"full"`` by the whole fingerprint
            (static prefix + cached history).

    Returns:
        One :class:`PrefixStats` per prefix, the most expensive first.

    Example:
        >>> from llmfinops.testing import make_record
        >>> recs = [make_record(provider="anthropic", model="claude-sonnet-4-6",
        ...                     price_model="claude-sonnet-4-6", prefix_fingerprint="3f9a2c1b7d4e",
        ...                     input_tokens=10_050,
        ...                     cached_input_tokens=10_000, cache_write_tokens=0, output_tokens=200,
        ...                     input_cost_usd="0.00015", cached_input_cost_usd="0.003",
        ...                     cache_write_cost_usd="0", output_cost_usd="0.003", cost_usd="0.00615")]
        >>> row = cache_effectiveness(recs)[0]
        >>> row.uncached_cost_usd, row.saved_usd, round(row.hit_rate, 3)
        (Decimal('0.033150'), Decimal('0.027000'), 0.995)
    """
    if table is None:
        from llmfinops._config import get_config

        table = get_config().table()
    groups: dict[str | None, _Acc] = {}
    for rec in records:
        fp = rec.prefix_fingerprint
        key = fp.split(".", 1)[0] if (fp is not None and by == "static") else fp
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Acc(rec.provider)
        g.add(rec, table)
    rows = [g.stats(key) for key, g in groups.items()]
    rows.sort(key=lambda r: r.cost_usd, reverse=True)
    return rows


class _Acc:
    __slots__ = (
        "cached",
        "calls",
        "cost",
        "inp",
        "models",
        "provider",
        "uncached_cost",
        "unpriced",
        "writes",
    )

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.models: dict[str, None] = {}
        self.calls = self.inp = self.cached = self.writes = self.unpriced = 0
        self.cost = self.uncached_cost = _ZERO

    def add(self, rec: CallRecord, table: PriceTable) -> None:
        self.models[rec.model] = None
        self.calls += 1
        self.inp += rec.input_tokens
        self.cached += rec.cached_input_tokens
        self.writes += rec.cache_write_tokens
        counterfactual = None if rec.cost_usd is None else _uncached_input(rec, table)
        if rec.cost_usd is None or counterfactual is None:
            self.unpriced += 1
            return
        input_side = (
            (rec.input_cost_usd or _ZERO)
            + (rec.cached_input_cost_usd or _ZERO)
            + (rec.cache_write_cost_usd or _ZERO)
        )
        self.cost += rec.cost_usd
        self.uncached_cost += rec.cost_usd - input_side + counterfactual

    def stats(self, key: str | None) -> PrefixStats:
        return PrefixStats(
            fingerprint=key,
            provider=self.provider,
            models=tuple(self.models),
            calls=self.calls,
            input_tokens=self.inp,
            cached_tokens=self.cached,
            cache_write_tokens=self.writes,
            cost_usd=self.cost,
            uncached_cost_usd=self.uncached_cost,
            unpriced_calls=self.unpriced,
        )


def format_cache_effectiveness(rows: Iterable[PrefixStats]) -> str:
    """Render :func:`cache_effectiveness` rows as a plain-text table.

    Example:
        >>> print(format_cache_effectiveness([]))
        prefix        calls  hit rate  write:read        cost    uncached       saved  verdict
    """
    lines = [
        f"{'prefix':<12}  {'calls':>5}  {'hit rate':>8}  {'write:read':>10}  {'cost':>10}  {'uncached':>10}  "
        f"{'saved':>10}  verdict"
    ]
    for r in rows:
        rpw = r.reads_per_write
        ratio = "-" if rpw is None else f"1:{rpw:.1f}"
        lines.append(
            f"{(r.fingerprint or '(none)')[:12]:<12}  {r.calls:>5}  {r.hit_rate:>8.1%}  {ratio:>10}  "
            f"{r.cost_usd.quantize(_CENT):>10}  {r.uncached_cost_usd.quantize(_CENT):>10}  "
            f"{r.saved_usd.quantize(_CENT):>10}  {r.verdict}"
        )
    return "\n".join(lines)
