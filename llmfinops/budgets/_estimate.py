"""Worst-case cost of a call before it is sent: what a budget reserves.

``usd = (prompt x input price + max output x output price) x tier/modifier multipliers``

* ``prompt``: :func:`llmfinops.tokens.estimate_prompt_tokens` (exact BPE for OpenAI; +20 %
  for Anthropic and Google, whose tokenizers are not public).
* input price: the long-context price when the prompt estimate is above the model's
  threshold; the highest cache-write price when the request may write to a cache
  (Anthropic ``cache_control`` anywhere in the request; OpenAI models that bill writes).
* max output: the request's cap (``max_tokens``, ``max_completion_tokens``,
  ``max_output_tokens``...), else the model's maximum output when the price table knows
  it, else ``default_max_output_tokens`` (16,384) — never more than the context window left
  after the prompt. Embeddings have no output.
* output price: the higher of the output and reasoning prices.
* multipliers: a requested service tier with a known price (``flex``: 0.5) and request
  fields with a price modifier (Anthropic ``inference_geo="us"``: 1.1).
"""

from __future__ import annotations

__all__ = ["Estimate", "estimate_call", "output_cap_field", "to_nano"]

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from llmfinops.pricing import PriceSet, PriceTable
from llmfinops.tokens import estimate_prompt_tokens

NANO = Decimal(1_000_000_000)
_ONE = Decimal(1)
_OUTPUT_FIELDS = {
    ("openai", "chat.completions"): "max_completion_tokens",
    ("openai", "responses"): "max_output_tokens",
    ("openai", "completions"): "max_tokens",
    ("anthropic", "messages"): "max_tokens",
}


def to_nano(usd: Decimal) -> int:
    """USD as integer nano-dollars, rounded up (a store never under-counts).

    Example:
        >>> to_nano(Decimal("0.0000000001"))
        1
    """
    return int((usd * NANO).to_integral_value(ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class Estimate:
    """The worst case of one call."""

    usd_nano: int | None
    """Worst-case cost in nano-USD; ``None`` when the model has no price."""
    prompt_tokens: int
    max_output_tokens: int
    price_model: str | None

    @property
    def tokens(self) -> int:
        """Prompt plus maximum output tokens."""
        return self.prompt_tokens + self.max_output_tokens


def _has_cache_control(value: Any, depth: int = 0) -> bool:
    if depth > 6:
        return False
    if isinstance(value, Mapping):
        if "cache_control" in value:
            return True
        return any(
            _has_cache_control(value[k], depth + 1)
            for k in ("system", "tools", "messages", "content")
            if k in value
        )
    if isinstance(value, list):
        return any(_has_cache_control(v, depth + 1) for v in value)
    return False


def estimate_call(
    *,
    table: PriceTable,
    provider: str,
    model: str,
    endpoint: str,
    operation: str,
    body: Mapping[str, Any] | None,
    request_max_tokens: int | None,
    at: datetime,
    default_max_output: int,
    prompt_tokens: int | None = None,
) -> Estimate:
    """Worst-case estimate of one call (see the module docstring).

    Example:
        >>> from datetime import UTC, datetime
        >>> from llmfinops.pricing import default_price_table
        >>> e = estimate_call(table=default_price_table(), provider="openai", model="gpt-4o",
        ...     endpoint="chat.completions", operation="chat", body={"model": "gpt-4o", "messages": []},
        ...     request_max_tokens=100, at=datetime(2026, 11, 22, tzinfo=UTC), default_max_output=16384,
        ...     prompt_tokens=1000)
        >>> e.usd_nano  # 1000 x $2.50/M + 100 x $10/M
        3500000
    """
    body = body or {}
    if prompt_tokens is None:
        prompt_tokens = estimate_prompt_tokens(provider, body, model=model)
    entry = table.lookup(provider, model)
    period = entry.period_at(at) if entry is not None else None
    embeddings = operation == "embeddings" or "embed" in endpoint
    if request_max_tokens is not None:
        max_out = max(int(request_max_tokens), 0)
    elif embeddings:
        max_out = 0
    else:
        known = getattr(entry, "max_output_tokens", None)
        max_out = known if isinstance(known, int) and known > 0 else default_max_output
        window = entry.context_window if entry is not None else None
        if window:
            max_out = max(min(max_out, window - prompt_tokens), 0)
    if entry is None or period is None:
        return Estimate(
            usd_nano=None, prompt_tokens=prompt_tokens, max_output_tokens=max_out, price_model=None
        )
    prices: PriceSet = period.base
    if period.long_context is not None and prompt_tokens > (period.long_context_threshold or 0):
        prices = period.long_context
    multiplier = _ONE
    pdef = table.providers.get(entry.provider)
    tier = body.get("service_tier")
    if isinstance(tier, str) and (pdef is None or tier.lower() not in pdef.standard_tiers):
        t = period.tiers.get(tier.lower()) or (pdef.tiers.get(tier.lower()) if pdef else None)
        if t is not None:
            if t.prices is not None:
                prices = t.prices
            elif t.multiplier is not None:
                multiplier *= t.multiplier
    mods = dict(pdef.modifiers) if pdef else {}
    mods.update(period.modifiers)
    for fld, values in mods.items():
        v = body.get(fld)
        if isinstance(v, str):
            m = values.get(v) or values.get(v.lower())
            if m is not None:
                multiplier *= m
    in_price = prices.input_tok
    writes = prices.cache_write_tok
    if writes and (provider != "anthropic" or _has_cache_control(body)):
        in_price = max(in_price, *writes.values())
    out_price = prices.output_tok
    if prices.reasoning_tok is not None and prices.reasoning_tok > out_price:
        out_price = prices.reasoning_tok
    usd = (prompt_tokens * in_price + max_out * out_price) * multiplier
    return Estimate(
        usd_nano=to_nano(usd), prompt_tokens=prompt_tokens, max_output_tokens=max_out, price_model=entry.id
    )


def output_cap_field(provider: str, endpoint: str) -> str | None:
    """The request field that caps output for ``provider``/``endpoint`` (for ``cap_output``)."""
    return _OUTPUT_FIELDS.get((provider, endpoint))
