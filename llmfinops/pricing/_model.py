"""Value objects of the price table (all money is Decimal, USD per 1M tokens)."""

from __future__ import annotations

__all__ = ["ModelPrice", "PricePeriod", "PriceSet", "ProviderDefaults", "TierPrice"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

_PER_TOKEN = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class PriceSet:
    """Prices for one way of billing a model (base, long-context band, or an explicit tier)."""

    input_mtok: Decimal
    """Uncached input, per 1M tokens."""
    output_mtok: Decimal
    """Output, per 1M tokens (reasoning included unless ``reasoning_mtok`` is set)."""
    cache_read_mtok: Decimal | None = None
    """Cache read, per 1M tokens (``None``: the model has no cache-read price)."""
    cache_write_mtok: Mapping[str, Decimal] | None = None
    """Cache write per TTL (``"5m"``, ``"1h"``, ``"30m"``, ``"12h"``; ``"*"`` for any TTL)."""
    reasoning_mtok: Decimal | None = None
    """Reasoning tokens, when priced differently from output."""
    cache_storage_mtok_hour: Decimal | None = None
    """Explicit-cache storage per 1M tokens per hour (Google)."""

    # per-token prices, precomputed once (a Decimal multiply is cheaper than a divide)
    input_tok: Decimal = field(init=False, repr=False, compare=False)
    output_tok: Decimal = field(init=False, repr=False, compare=False)
    cache_read_tok: Decimal | None = field(init=False, repr=False, compare=False)
    reasoning_tok: Decimal | None = field(init=False, repr=False, compare=False)
    cache_write_tok: dict[str, Decimal] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "input_tok", self.input_mtok * _PER_TOKEN)
        s(self, "output_tok", self.output_mtok * _PER_TOKEN)
        s(self, "cache_read_tok", None if self.cache_read_mtok is None else self.cache_read_mtok * _PER_TOKEN)
        s(self, "reasoning_tok", None if self.reasoning_mtok is None else self.reasoning_mtok * _PER_TOKEN)
        s(
            self,
            "cache_write_tok",
            None
            if self.cache_write_mtok is None
            else {k: v * _PER_TOKEN for k, v in self.cache_write_mtok.items()},
        )

    def scaled(self, multiplier: Decimal) -> PriceSet:
        """Return every price multiplied by ``multiplier`` (discounts, tiers)."""

        def m(v: Decimal | None) -> Decimal | None:
            return None if v is None else v * multiplier

        return PriceSet(
            input_mtok=self.input_mtok * multiplier,
            output_mtok=self.output_mtok * multiplier,
            cache_read_mtok=m(self.cache_read_mtok),
            cache_write_mtok=None
            if self.cache_write_mtok is None
            else {k: v * multiplier for k, v in self.cache_write_mtok.items()},
            reasoning_mtok=m(self.reasoning_mtok),
            cache_storage_mtok_hour=m(self.cache_storage_mtok_hour),
        )

    def write_price_tok(self, ttl: str) -> Decimal | None:
        """Per-token cache-write price for ``ttl`` (falls back to the ``"*"`` entry)."""
        w = self.cache_write_tok
        if w is None:
            return None
        p = w.get(ttl)
        if p is None:
            p = w.get("*")
        return p


@dataclass(frozen=True, slots=True)
class TierPrice:
    """How a service tier changes prices: a multiplier on the base, or an explicit price set."""

    multiplier: Decimal | None = None
    prices: PriceSet | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderDefaults:
    """Provider-wide pricing rules, overridable per model."""

    name: str
    standard_tiers: frozenset[str] = frozenset({"standard", "default", "auto"})
    """Tier names that mean "the base price"."""
    default_cache_write_ttl: str = "*"
    """TTL assumed for cache writes when the response gives no split and the request named none."""
    tiers: Mapping[str, TierPrice] = field(default_factory=dict)
    modifiers: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    """``{response_field: {value: multiplier}}``, e.g. ``{"inference_geo": {"us": 1.1}}``."""


@dataclass(frozen=True, slots=True)
class PricePeriod:
    """Prices in force from ``start`` (inclusive) until ``end`` (exclusive), UTC."""

    start: datetime | None
    end: datetime | None
    base: PriceSet
    long_context_threshold: int | None = None
    """Above this many prompt tokens (strictly greater) the whole request uses ``long_context``."""
    long_context: PriceSet | None = None
    tiers: Mapping[str, TierPrice] = field(default_factory=dict)
    """Model-specific tiers (provider tiers apply where a name is missing here)."""
    modifiers: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    source: str = ""
    notes: str | None = None

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` falls inside this period."""
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model of the table with its price periods."""

    id: str
    provider: str
    kind: str = "chat"
    aliases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    periods: tuple[PricePeriod, ...] = ()
    cache_min_tokens: int | None = None
    """Minimum cacheable prefix in tokens (used by cache placement policies)."""
    context_window: int | None = None

    def period_at(self, at: datetime) -> PricePeriod | None:
        """The period in force at ``at`` (UTC), or ``None``."""
        for p in self.periods:
            if p.contains(at):
                return p
        return None
