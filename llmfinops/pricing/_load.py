"""Parse and validate price-table data (JSON files or dicts) into value objects.

Every error names the origin (file), the model, the period and the field, with the fix.
"""

from __future__ import annotations

__all__ = ["parse_models", "parse_providers"]

import itertools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from llmfinops.exceptions import ConfigurationError

from ._model import ModelPrice, PricePeriod, PriceSet, ProviderDefaults, TierPrice

_PRICE_FIELDS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "reasoning_mtok")
_PERIOD_KEYS = frozenset(
    {
        *_PRICE_FIELDS,
        "cache_storage_mtok_hour",
        "from",
        "until",
        "long_context",
        "tiers",
        "modifiers",
        "source",
        "notes",
    }
)
_MODEL_KEYS = frozenset(
    {
        "id",
        "provider",
        "kind",
        "aliases",
        "patterns",
        "cache_min_tokens",
        "cache_min_tokens_note",
        "context_window",
        "prices",
        "notes",
    }
)
_KINDS = frozenset({"chat", "embedding", "completion", "image", "audio"})


class _Ctx:
    """Where we are in the file, for error messages."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.where = ""

    def fail(self, msg: str) -> ConfigurationError:
        at = f" {self.where}:" if self.where else ":"
        return ConfigurationError(f"price table {self.origin!r}{at} {msg}")


def _dec(ctx: _Ctx, name: str, value: Any) -> Decimal:
    if isinstance(value, float):
        raise ctx.fail(f'field {name!r} = {value!r} is a float; write prices as strings (e.g. "2.50")')
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ctx.fail(f"field {name!r} = {value!r} is not a decimal string")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ctx.fail(f"field {name!r} = {value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ctx.fail(f"field {name!r} = {value!r} is not finite")
    if d < 0:
        raise ctx.fail(
            f"field {name!r} = {value!r} is negative; prices are USD per 1M tokens and must be >= 0"
        )
    return d


def _date(ctx: _Ctx, name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        d = date.fromisoformat(str(value))
    except ValueError:
        raise ctx.fail(f"field {name!r} = {value!r} is not an ISO date (YYYY-MM-DD)") from None
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _price_set(ctx: _Ctx, raw: Mapping[str, Any], *, require: bool = True) -> PriceSet:
    for req in ("input_mtok", "output_mtok"):
        if req not in raw and require:
            raise ctx.fail(f"missing required field {req!r}")
    inp = _dec(ctx, "input_mtok", raw["input_mtok"])
    out = _dec(ctx, "output_mtok", raw["output_mtok"])
    read = (
        None if raw.get("cache_read_mtok") is None else _dec(ctx, "cache_read_mtok", raw["cache_read_mtok"])
    )
    if read is not None and read > inp:
        raise ctx.fail(
            f"cache_read_mtok={read} is more expensive than input_mtok={inp}; a cache read is a discount"
        )
    write: dict[str, Decimal] | None = None
    wr = raw.get("cache_write_mtok")
    if wr is not None:
        if isinstance(wr, Mapping):
            write = {str(k): _dec(ctx, f"cache_write_mtok.{k}", v) for k, v in wr.items()}
        else:
            write = {"*": _dec(ctx, "cache_write_mtok", wr)}
        for ttl, p in write.items():
            if p < inp:
                label = "any TTL" if ttl == "*" else f"the {ttl} TTL"
                raise ctx.fail(
                    f"cache_write_mtok for {label} = {p} is cheaper than input_mtok={inp}; "
                    "cache writes cost at least the input rate (check the column order)"
                )
    reasoning = (
        None if raw.get("reasoning_mtok") is None else _dec(ctx, "reasoning_mtok", raw["reasoning_mtok"])
    )
    storage = (
        None
        if raw.get("cache_storage_mtok_hour") is None
        else _dec(ctx, "cache_storage_mtok_hour", raw["cache_storage_mtok_hour"])
    )
    return PriceSet(
        input_mtok=inp,
        output_mtok=out,
        cache_read_mtok=read,
        cache_write_mtok=write,
        reasoning_mtok=reasoning,
        cache_storage_mtok_hour=storage,
    )


def _tiers(ctx: _Ctx, raw: Any, known: frozenset[str] | None) -> dict[str, TierPrice]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ctx.fail(f"field 'tiers' must be an object of tier name -> price, got {type(raw).__name__}")
    out: dict[str, TierPrice] = {}
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            raise ctx.fail(f"tier {name!r} must be an object with 'multiplier' or prices")
        if "multiplier" in spec:
            out[str(name)] = TierPrice(
                multiplier=_dec(ctx, f"tiers.{name}.multiplier", spec["multiplier"]),
                source=spec.get("source"),
            )
        elif "input_mtok" in spec:
            out[str(name)] = TierPrice(prices=_price_set(ctx, spec), source=spec.get("source"))
        else:
            hint = f"; known tiers: {sorted(known)}" if known else ""
            raise ctx.fail(f"tier {name!r} has neither 'multiplier' nor 'input_mtok'{hint}")
    return out


def _modifiers(ctx: _Ctx, raw: Any) -> dict[str, dict[str, Decimal]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ctx.fail("field 'modifiers' must be an object {response_field: {value: {multiplier}}}")
    out: dict[str, dict[str, Decimal]] = {}
    for fld, values in raw.items():
        if not isinstance(values, Mapping):
            raise ctx.fail(f"modifier {fld!r} must map values to {{'multiplier': ...}}")
        out[str(fld)] = {}
        for val, spec in values.items():
            mult = spec.get("multiplier") if isinstance(spec, Mapping) else spec
            out[str(fld)][str(val)] = _dec(ctx, f"modifiers.{fld}.{val}.multiplier", mult)
    return out


def parse_providers(origin: str, raw: Any) -> dict[str, ProviderDefaults]:
    """Parse the ``providers`` block."""
    ctx = _Ctx(origin)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ctx.fail("'providers' must be an object keyed by provider name")
    out: dict[str, ProviderDefaults] = {}
    for name, spec in raw.items():
        ctx.where = f"provider {name!r}"
        if not isinstance(spec, Mapping):
            raise ctx.fail("must be an object")
        std = spec.get("standard_tiers", ["standard", "default", "auto"])
        out[str(name)] = ProviderDefaults(
            name=str(name),
            standard_tiers=frozenset(str(s).lower() for s in std),
            default_cache_write_ttl=str(spec.get("default_cache_write_ttl", "*")),
            tiers=_tiers(ctx, spec.get("tiers"), None),
            modifiers=_modifiers(ctx, spec.get("modifiers")),
        )
    return out


def _check_long_context(ctx: _Ctx, base: Mapping[str, Any], lc: Mapping[str, Any]) -> int:
    thr = lc.get("threshold_tokens")
    if not isinstance(thr, int) or isinstance(thr, bool) or thr <= 0:
        raise ctx.fail(f"long_context.threshold_tokens = {thr!r} must be a positive integer")
    for f in _PRICE_FIELDS:
        if base.get(f) is not None and lc.get(f) is None:
            raise ctx.fail(
                f"long_context lacks {f!r} although the base period has it; the whole request is "
                "re-priced above the threshold, so every price must be given"
            )
    return thr


def _period(
    ctx: _Ctx, raw: Mapping[str, Any], providers: Mapping[str, ProviderDefaults], provider: str
) -> PricePeriod:
    unknown = set(raw) - _PERIOD_KEYS
    if unknown:
        raise ctx.fail(f"unknown field(s) {sorted(unknown)}; allowed: {sorted(_PERIOD_KEYS)}")
    base = _price_set(ctx, raw)
    lc_raw = raw.get("long_context")
    thr: int | None = None
    lc: PriceSet | None = None
    if lc_raw is not None:
        thr = _check_long_context(ctx, raw, lc_raw)
        lc = _price_set(ctx, lc_raw)
    prov = providers.get(provider)
    known = frozenset(prov.tiers) | prov.standard_tiers if prov else None
    tiers = _tiers(ctx, raw.get("tiers"), known)
    if prov is not None:
        for name, t in tiers.items():
            if t.prices is None and name not in prov.tiers and name not in _GENERIC_TIERS:
                raise ctx.fail(
                    f"unknown tier {name!r} for provider {provider!r} (known: {sorted(known or ())}); "
                    "give it full prices or add it to the provider's 'tiers'"
                )
    source = raw.get("source")
    if not source or not isinstance(source, str):
        raise ctx.fail("missing 'source' (a URL or citation for these prices)")
    start = _date(ctx, "from", raw.get("from"))
    end = _date(ctx, "until", raw.get("until"))
    if start is not None and end is not None and end <= start:
        raise ctx.fail(f"'until' ({raw.get('until')}) must be after 'from' ({raw.get('from')})")
    return PricePeriod(
        start=start,
        end=end,
        base=base,
        long_context_threshold=thr,
        long_context=lc,
        tiers=tiers,
        modifiers=_modifiers(ctx, raw.get("modifiers")),
        source=source,
        notes=raw.get("notes"),
    )


_GENERIC_TIERS = frozenset({"batch", "flex", "priority", "fast", "ultrafast", "scale"})


def parse_models(origin: str, raw: Any, providers: Mapping[str, ProviderDefaults]) -> list[ModelPrice]:
    """Parse and validate the ``models`` list."""
    ctx = _Ctx(origin)
    if not isinstance(raw, list):
        raise ctx.fail("'models' must be a list")
    out: list[ModelPrice] = []
    seen: dict[str, str] = {}
    for i, m in enumerate(raw):
        ctx.where = f"models[{i}]"
        if not isinstance(m, Mapping):
            raise ctx.fail("must be an object")
        mid = m.get("id")
        if not isinstance(mid, str) or not mid:
            raise ctx.fail("missing 'id'")
        ctx.where = f"model {mid!r}"
        unknown = set(m) - _MODEL_KEYS
        if unknown:
            raise ctx.fail(f"unknown field(s) {sorted(unknown)}; allowed: {sorted(_MODEL_KEYS)}")
        provider = m.get("provider")
        if not isinstance(provider, str) or not provider:
            raise ctx.fail("missing 'provider'")
        kind = m.get("kind", "chat")
        if kind not in _KINDS:
            raise ctx.fail(f"kind={kind!r} is not one of {sorted(_KINDS)}")
        prices = m.get("prices")
        if not isinstance(prices, list) or not prices:
            raise ctx.fail("'prices' must be a non-empty list of periods")
        periods = []
        for j, p in enumerate(prices):
            ctx.where = f"model {mid!r} prices[{j}]"
            if not isinstance(p, Mapping):
                raise ctx.fail("must be an object")
            periods.append(_period(ctx, p, providers, provider))
        ctx.where = f"model {mid!r}"
        periods.sort(key=lambda p: p.start or datetime.min.replace(tzinfo=UTC))
        for a, b in itertools.pairwise(periods):
            if a.end is None or b.start is None or a.end > b.start:
                raise ctx.fail(
                    f"overlapping price periods: one from {_fmt(a.start)} until {_fmt(a.end)}, "
                    f"another from {_fmt(b.start)}; give the earlier one an 'until' <= the later 'from'"
                )
        patterns = tuple(str(p) for p in m.get("patterns") or ())
        for pat in patterns:
            try:
                re.compile(pat)
            except re.error as exc:
                raise ctx.fail(f"pattern {pat!r} is not a valid regex: {exc}") from None
        names = [mid.lower(), *(str(a).lower() for a in m.get("aliases") or ())]
        for n in names:
            key = f"{provider}:{n}"
            if key in seen:
                raise ctx.fail(f"id/alias {n!r} is already used by model {seen[key]!r}")
            seen[key] = mid
        cmt = m.get("cache_min_tokens")
        if cmt is not None and (not isinstance(cmt, int) or cmt < 0):
            raise ctx.fail(f"cache_min_tokens={cmt!r} must be a non-negative integer")
        out.append(
            ModelPrice(
                id=mid.lower(),
                provider=provider,
                kind=kind,
                aliases=tuple(names[1:]),
                patterns=patterns,
                periods=tuple(periods),
                cache_min_tokens=cmt,
                context_window=m.get("context_window"),
            )
        )
    return out


def _fmt(d: datetime | None) -> str:
    return "open start" if d is None else d.date().isoformat()
