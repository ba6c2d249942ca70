"""The price table: model lookup and cost computation.

Example:
    >>> from datetime import datetime, UTC
    >>> from llmfinops.usage import Usage
    >>> table = default_price_table()
    >>> cost = table.cost("openai", "gpt-4o-2024-08-06", Usage(input_tokens=1000, output_tokens=100),
    ...                   at=datetime(2026, 11, 1, tzinfo=UTC))
    >>> cost.total.normalize()  # $2.50/M input, $10/M output
    Decimal('0.0035')
"""

from __future__ import annotations

__all__ = ["Cost", "PriceTable", "default_price_table", "load_price_table"]

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmfinops.exceptions import ConfigurationError
from llmfinops.usage import Usage

from ._load import parse_models, parse_providers
from ._model import ModelPrice, PricePeriod, PriceSet, ProviderDefaults

_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$")
_VERSION_SUFFIX = re.compile(r"(-v\d+(:\d+)?)$")
_PREFIXES = (
    "models/",
    "openai/",
    "anthropic/",
    "google/",
    "gemini/",
    "anthropic.",
    "publishers/google/models/",
)
_NEUTRAL_VALUES = frozenset({"", "standard", "default", "global", "none", "not_available", "unspecified"})
_ZERO = Decimal(0)
_ONE = Decimal(1)


@dataclass(slots=True)
class Cost:
    """A cost breakdown in USD. ``total is None`` means the call could not be priced (see ``note``)."""

    total: Decimal | None
    input: Decimal | None = None
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    output: Decimal | None = None
    cache_storage: Decimal | None = None
    price_model: str | None = None
    note: str | None = None

    @classmethod
    def unknown(cls, note: str, price_model: str | None = None) -> Cost:
        """A cost that could not be computed."""
        return cls(total=None, price_model=price_model, note=note)

    def __add__(self, other: Cost) -> Cost:
        """Sum two breakdowns; unknown + anything is unknown."""
        if self.total is None or other.total is None:
            return Cost.unknown(self.note or other.note or "part of the call could not be priced")

        def s(a: Decimal | None, b: Decimal | None) -> Decimal | None:
            if a is None and b is None:
                return None
            return (a or _ZERO) + (b or _ZERO)

        return Cost(
            total=self.total + other.total,
            input=s(self.input, other.input),
            cached_input=s(self.cached_input, other.cached_input),
            cache_write=s(self.cache_write, other.cache_write),
            output=s(self.output, other.output),
            cache_storage=s(self.cache_storage, other.cache_storage),
            price_model=self.price_model or other.price_model,
            note=self.note or other.note,
        )


class PriceTable:
    """Models and their effective-dated prices. Immutable; ``with_overrides`` returns a new table.

    Example:
        >>> t = default_price_table().with_overrides(
        ...     models=[{"id": "my-llama", "provider": "openai", "prices": [
        ...         {"input_mtok": "0.20", "output_mtok": "0.20", "source": "internal GPU cost"}]}])
        >>> t.lookup("openai", "my-llama").id
        'my-llama'
    """

    def __init__(
        self,
        models: Iterable[ModelPrice],
        providers: Mapping[str, ProviderDefaults],
        *,
        as_of: str,
        origin: str = "<code>",
    ) -> None:
        self.as_of = as_of
        self.origin = origin
        self.providers: dict[str, ProviderDefaults] = dict(providers)
        self.models: dict[tuple[str, str], ModelPrice] = {}
        self._by_name: dict[tuple[str, str], ModelPrice] = {}
        self._any_provider: dict[str, ModelPrice] = {}
        self._patterns: list[tuple[re.Pattern[str], ModelPrice]] = []
        for m in models:
            self._add(m)
        self._cache: dict[tuple[str, str], ModelPrice | None] = {}
        self._cache_lock = threading.Lock()

    def _add(self, m: ModelPrice) -> None:
        self.models[(m.provider, m.id)] = m
        for name in (m.id, *m.aliases):
            self._by_name[(m.provider, name)] = m
            self._any_provider.setdefault(name, m)
        for pat in m.patterns:
            self._patterns.append((re.compile(pat, re.IGNORECASE), m))

    # -- lookup -------------------------------------------------------------------------------
    def lookup(self, provider: str, model: str) -> ModelPrice | None:
        """Find the entry for ``model`` as sent to or reported by ``provider``.

        Tries the exact id/alias, then the id without a provider prefix (``models/``,
        ``anthropic.``...), a date suffix (``-2024-08-06``, ``-20250929``) or a version suffix
        (``-v1:0``), then the entry's regex patterns; the same provider first, any provider after
        (an OpenAI-compatible client can call a model priced under ``together``).

        Example:
            >>> default_price_table().lookup("anthropic", "claude-sonnet-4-5-20250929").id
            'claude-sonnet-4-5'
        """
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._resolve(provider, model)
        with self._cache_lock:
            if len(self._cache) > 10_000:  # unbounded model strings must not grow memory forever
                self._cache.clear()
            self._cache[key] = found
        return found

    def _resolve(self, provider: str, model: str) -> ModelPrice | None:
        name = model.strip().lower()
        candidates = [name]
        candidates.extend(name[len(pre) :] for pre in _PREFIXES if name.startswith(pre))
        for c in list(candidates):
            stripped = _VERSION_SUFFIX.sub("", c)
            if stripped != c:
                candidates.append(stripped)
        for c in list(candidates):
            stripped = _DATE_SUFFIX.sub("", c)
            if stripped != c:
                candidates.append(stripped)
        for c in candidates:
            hit = self._by_name.get((provider, c))
            if hit is not None:
                return hit
        for c in candidates:
            hit = self._any_provider.get(c)
            if hit is not None:
                return hit
        for pat, m in self._patterns:
            if any(pat.fullmatch(c) for c in candidates):
                return m
        return None

    # -- cost ---------------------------------------------------------------------------------
    def cost(
        self,
        provider: str,
        model: str,
        usage: Usage,
        *,
        at: datetime,
        cache_write_ttl: str | None = None,
    ) -> Cost:
        """Price ``usage`` for ``model`` at instant ``at`` (UTC), by the tier the response reported.

        Args:
            provider: Provider name of the client that made the call.
            model: Model id (requested or reported).
            usage: Normalized usage.
            at: The call's timestamp: prices are those in force at that instant.
            cache_write_ttl: TTL the request asked for, used when the response does not split writes.

        Returns:
            A :class:`Cost`; ``total is None`` with a ``note`` when it cannot be priced.
        """
        entry = self.lookup(provider, model)
        if entry is None:
            return Cost.unknown(
                f"model {model!r} is not in the price table ({self.origin}, as of {self.as_of})"
            )
        period = entry.period_at(at)
        if period is None:
            return Cost.unknown(
                f"model {entry.id!r} has no price in force at {at.date().isoformat()}", price_model=entry.id
            )
        return compute_cost(
            entry, period, self.providers.get(entry.provider), usage, cache_write_ttl=cache_write_ttl
        )

    def storage_cost(self, provider: str, model: str, tokens: int, hours: Decimal, *, at: datetime) -> Cost:
        """Cost of keeping ``tokens`` in an explicit cache for ``hours`` (Google context caches).

        Example:
            >>> from datetime import datetime, UTC
            >>> c = default_price_table().storage_cost("google", "gemini-2.5-flash", 1_000_000, Decimal(1),
            ...                                        at=datetime(2026, 11, 1, tzinfo=UTC))
            >>> c.total is not None
            True
        """
        entry = self.lookup(provider, model)
        period = entry.period_at(at) if entry else None
        if entry is None or period is None or period.base.cache_storage_mtok_hour is None:
            return Cost.unknown(
                f"no cache storage price for {model!r}", price_model=entry.id if entry else None
            )
        amount = period.base.cache_storage_mtok_hour * tokens * hours / Decimal(1_000_000)
        return Cost(total=amount, cache_storage=amount, price_model=entry.id)

    # -- overrides ----------------------------------------------------------------------------
    def with_overrides(
        self,
        *,
        models: Iterable[Mapping[str, Any]] = (),
        discounts: Iterable[Mapping[str, Any]] = (),
        file: str | Path | None = None,
    ) -> PriceTable:
        """Return a new table with models added/replaced and discounts applied.

        Args:
            models: Model entries in the file schema; an entry replaces the model with the same
                provider and id, or adds a new one.
            discounts: ``{"multiplier": "0.85", "provider": "openai", "models": ["gpt-4o"]}``
                (``provider``/``models`` optional filters): an enterprise discount applied to
                every price of the matching models.
            file: A JSON file in the same schema (``models``, ``providers``, ``discounts`` keys).

        Example:
            >>> t = default_price_table().with_overrides(
            ...     discounts=[{"provider": "openai", "multiplier": "0.8"}])
            >>> t.lookup("openai", "gpt-4o").periods[0].base.input_mtok
            Decimal('2.000')
        """
        origin = "<code overrides>"
        providers = dict(self.providers)
        new_models = list(models)
        new_discounts = list(discounts)
        as_of = self.as_of
        if file is not None:
            origin = str(file)
            data = _read_json(Path(file))
            providers.update(parse_providers(origin, data.get("providers")))
            new_models = list(data.get("models") or []) + new_models
            new_discounts = list(data.get("discounts") or []) + new_discounts
            as_of = str(data.get("as_of") or as_of)
        merged = dict(self.models)
        for m in parse_models(origin, new_models, providers):
            merged[(m.provider, m.id)] = m
        for d in new_discounts:
            merged = _apply_discount(origin, merged, d)
        return PriceTable(merged.values(), providers, as_of=as_of, origin=f"{self.origin}+{origin}")


def _apply_discount(
    origin: str, models: dict[tuple[str, str], ModelPrice], spec: Mapping[str, Any]
) -> dict[tuple[str, str], ModelPrice]:
    from ._load import _Ctx, _dec

    ctx = _Ctx(origin)
    ctx.where = "discount"
    mult = _dec(ctx, "multiplier", spec.get("multiplier"))
    if mult > 1:
        raise ctx.fail(f"multiplier={mult} is above 1; a discount multiplies prices by a factor in [0, 1]")
    prov = spec.get("provider")
    names = {str(n).lower() for n in spec.get("models") or ()}
    out = {}
    for key, m in models.items():
        if (prov is None or m.provider == prov) and (not names or m.id in names or names & set(m.aliases)):
            m = replace(
                m,
                periods=tuple(
                    replace(
                        p,
                        base=p.base.scaled(mult),
                        long_context=p.long_context.scaled(mult) if p.long_context else None,
                    )
                    for p in m.periods
                ),
            )
        out[key] = m
    return out


def compute_cost(
    entry: ModelPrice,
    period: PricePeriod,
    provider: ProviderDefaults | None,
    usage: Usage,
    *,
    cache_write_ttl: str | None = None,
) -> Cost:
    """Price one request's usage with one period's prices (see :meth:`PriceTable.cost`)."""
    prices: PriceSet = period.base
    if period.long_context is not None and usage.input_tokens > (period.long_context_threshold or 0):
        prices = period.long_context
    multiplier = _ONE
    note: str | None = None
    tier = usage.service_tier.lower() if usage.service_tier else None
    if tier is not None and (provider is None or tier not in provider.standard_tiers):
        t = period.tiers.get(tier) or (provider.tiers.get(tier) if provider else None)
        if t is None:
            return Cost.unknown(
                f"service tier {tier!r} has no price for {entry.id!r} "
                "(add it under 'tiers' in the price table)",
                price_model=entry.id,
            )
        if t.prices is not None:
            prices = t.prices
        elif t.multiplier is not None:
            multiplier *= t.multiplier
    for fld, value in usage.modifiers.items() if usage.modifiers else ():
        table = period.modifiers.get(fld) or (provider.modifiers.get(fld) if provider else None)
        if not table:
            continue
        m = table.get(value)
        if m is None:
            m = table.get(str(value).lower())
        if m is not None:
            multiplier *= m
        elif str(value).lower() not in _NEUTRAL_VALUES:
            note = f"{fld}={value!r} has no price modifier in the table; priced without one"

    uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    if uncached < 0:
        uncached = 0
    input_cost = uncached * prices.input_tok
    cached_cost = _ZERO
    if usage.cache_read_tokens:
        read = prices.cache_read_tok
        if read is None:
            read = prices.input_tok
            note = f"{entry.id!r} has no cache-read price; cache reads billed at the input rate (upper bound)"
        cached_cost = usage.cache_read_tokens * read
    write_cost = _ZERO
    if usage.cache_write_tokens:
        default_ttl = cache_write_ttl or (provider.default_cache_write_ttl if provider else "*")
        split = usage.cache_write_by_ttl
        if split and sum(split.values()) == usage.cache_write_tokens:
            parts = split.items()
        else:
            parts = {default_ttl: usage.cache_write_tokens}.items()
        for ttl, n in parts:
            if not n:
                continue
            p = prices.write_price_tok(ttl)
            if p is None:
                if prices.cache_write_tok is not None:  # the model bills writes, but not at this TTL
                    return Cost.unknown(
                        f"{entry.id!r} has no cache-write price for TTL {ttl!r}", price_model=entry.id
                    )
                p = prices.input_tok  # writes are not surcharged on this model
            write_cost += n * p
    reasoning = usage.reasoning_tokens
    if reasoning > usage.output_tokens:
        reasoning = usage.output_tokens
    if prices.reasoning_tok is not None and reasoning:
        output_cost = (usage.output_tokens - reasoning) * prices.output_tok + reasoning * prices.reasoning_tok
    else:
        output_cost = usage.output_tokens * prices.output_tok
    if multiplier is not _ONE and multiplier != 1:
        input_cost *= multiplier
        cached_cost *= multiplier
        write_cost *= multiplier
        output_cost *= multiplier
    # positional: total, input, cached_input, cache_write, output, cache_storage, price_model, note
    return Cost(
        input_cost + cached_cost + write_cost + output_cost,
        input_cost,
        cached_cost,
        write_cost,
        output_cost,
        None,
        entry.id,
        note,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"price table {str(path)!r}: cannot read file: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"price table {str(path)!r}: invalid JSON at line {exc.lineno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"price table {str(path)!r}: top level must be an object")
    return data


def _from_data(data: Mapping[str, Any], origin: str) -> PriceTable:
    if data.get("schema_version", 1) != 1:
        raise ConfigurationError(
            f"price table {origin!r}: schema_version={data.get('schema_version')!r} "
            "is not supported (expected 1)"
        )
    providers = parse_providers(origin, data.get("providers"))
    models = parse_models(origin, data.get("models"), providers)
    table = PriceTable(models, providers, as_of=str(data.get("as_of", "unknown")), origin=origin)
    discounts = data.get("discounts") or []
    if discounts:
        return table.with_overrides(discounts=discounts)
    return table


def load_price_table(path: str | os.PathLike[str]) -> PriceTable:
    """Load a complete price table from a JSON file (the bundled schema).

    Example:
        >>> load_price_table("no/such/file.json")
        Traceback (most recent call last):
        ...
        llmfinops.exceptions.ConfigurationError: price table 'no/such/file.json': cannot read file: ...
    """
    return _from_data(_read_json(Path(path)), str(path))


_default: PriceTable | None = None
_default_lock = threading.Lock()


def default_price_table() -> PriceTable:
    """The bundled table (``llmfinops/pricing/data/prices.json``), loaded once on first use.

    Example:
        >>> default_price_table().as_of >= "2026-11-01"
        True
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                from importlib import resources  # lazily: ~4 ms of imports

                ref = resources.files("llmfinops.pricing").joinpath("data/prices.json")
                _default = _from_data(json.loads(ref.read_text(encoding="utf-8")), "bundled prices.json")
    return _default
