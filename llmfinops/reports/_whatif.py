"""What would it have cost: re-price logged traffic under another choice.

A :class:`Scenario` changes one or more of: the model (``claude-haiku-4-5``), the price
table (a negotiated price file, an enterprise discount), the pricing date (next month's
announced prices), the cache hit rate, or the tier (batch). :func:`what_if` re-prices every
call twice from its logged tokens -- once as it was (the *re-priced* baseline) and once
under the scenario -- so that the difference shows only the effect of the change, and
also reports the *actual* recorded cost.

Calls are priced in groups of identical (provider, model, UTC day, tier, long-context band)
with :class:`~llmfinops.reports._rates.RateBook`, which makes the sums exact: cost is linear
in tokens within a group, and the band is decided per call against the target model's
threshold.
"""

from __future__ import annotations

__all__ = ["Scenario", "WhatIf", "WhatIfRow", "what_if"]

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from llmfinops.exceptions import ConfigurationError
from llmfinops.pricing import PriceTable, default_price_table

from ._aggregate import Source, _time_key, open_source
from ._load import TimeLike, _where_sql
from ._progress import Progress
from ._rates import KEY_SQL, RateBook, Rates, cost_sql, create_rates_table, join_sql
from ._render import Column, Table
from ._schema import dimension_sql, parse_dimensions

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A change to re-price under. Leave a field ``None`` to keep it as logged."""

    model: str | None = None
    """Substitute model, ``"claude-haiku-4-5"`` or ``"anthropic:claude-haiku-4-5"``."""
    price_table: PriceTable | None = None
    """Price every call from this table instead."""
    at: datetime | None = None
    """Price every call at this instant instead of its own day."""
    cache_hit_rate: Decimal | None = None
    """Assume this share of input tokens is read from the cache (cache writes stay as logged)."""
    batch: bool = False
    """Bill on the provider's batch tier."""
    only: Mapping[str, str | Sequence[str]] | None = None
    """Re-price only calls matching these filters (others keep their re-priced baseline)."""

    def describe(self) -> str:
        """One line for titles.

        Example:
            >>> Scenario(model="claude-haiku-4-5", batch=True).describe()
            'model=claude-haiku-4-5, batch tier'
        """
        parts = []
        if self.model:
            parts.append(f"model={self.model}")
        if self.price_table is not None:
            parts.append(f"prices={self.price_table.origin}")
        if self.at is not None:
            parts.append(f"priced at {self.at.date().isoformat()}")
        if self.cache_hit_rate is not None:
            parts.append(f"cache hit rate {float(self.cache_hit_rate) * 100:g}%")
        if self.batch:
            parts.append("batch tier")
        if self.only:
            parts.append("only " + ", ".join(f"{k}={v}" for k, v in self.only.items()))
        return ", ".join(parts) or "no change"


@dataclass(slots=True)
class WhatIfRow:
    """Re-pricing totals of one group."""

    key: tuple[Any, ...] = ()
    calls: int = 0
    repriced_calls: int = 0
    """Calls the scenario applies to."""
    actual_usd: Decimal = _ZERO
    """Recorded cost (known part)."""
    actual_unknown_calls: int = 0
    baseline_usd: Decimal = _ZERO
    """Logged tokens re-priced as they were (calls priced in both cases)."""
    whatif_usd: Decimal = _ZERO
    """Logged tokens under the scenario (same calls)."""
    unpriced_calls: int = 0
    """Calls that could not be priced as logged or under the scenario (not in the two columns above)."""

    @property
    def change_usd(self) -> Decimal:
        """``whatif - baseline``."""
        return self.whatif_usd - self.baseline_usd

    @property
    def change_pct(self) -> Decimal | None:
        """Relative change."""
        return self.change_usd / self.baseline_usd if self.baseline_usd else None

    def add(self, o: WhatIfRow) -> None:
        """Accumulate ``o``."""
        self.calls += o.calls
        self.repriced_calls += o.repriced_calls
        self.actual_usd += o.actual_usd
        self.actual_unknown_calls += o.actual_unknown_calls
        self.baseline_usd += o.baseline_usd
        self.whatif_usd += o.whatif_usd
        self.unpriced_calls += o.unpriced_calls

    def as_dict(self, dims: Sequence[str]) -> dict[str, Any]:
        """Values by column key."""
        d: dict[str, Any] = dict(zip(dims, self.key, strict=False))
        for k in (
            "calls",
            "repriced_calls",
            "actual_usd",
            "actual_unknown_calls",
            "baseline_usd",
            "whatif_usd",
            "unpriced_calls",
            "change_usd",
            "change_pct",
        ):
            d[k] = getattr(self, k)
        return d


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The scenario's effect per group and in total."""

    scenario: Scenario
    by: tuple[str, ...]
    rows: tuple[WhatIfRow, ...]
    total: WhatIfRow
    notes: tuple[str, ...] = field(default=())

    def to_table(self) -> Table:
        """A renderable table."""
        cols = [Column(d, d) for d in self.by] + [
            Column("calls", "calls", "int"),
            Column("repriced_calls", "in scope", "int"),
            Column("actual_usd", "actual", "money"),
            Column("baseline_usd", "re-priced", "money"),
            Column("whatif_usd", "what-if", "money"),
            Column("change_usd", "change", "money"),
            Column("change_pct", "change %", "pct"),
            Column("unpriced_calls", "unpriced", "int"),
        ]
        total = self.total.as_dict(())
        if self.by:
            total[self.by[0]] = "TOTAL"
        return Table(
            title=f"What if: {self.scenario.describe()}",
            columns=tuple(cols),
            rows=tuple(r.as_dict(self.by) for r in self.rows),
            total=total,
            notes=self.notes,
        )


def _parse_target(table: PriceTable, spec: str) -> tuple[str, str, str]:
    """``"provider:model"`` or ``"model"`` -> (provider, model id, kind)."""
    head, sep, tail = spec.partition(":")
    known = {*table.providers, *(m.provider for m in table.models.values())}
    provider, name = (head, tail) if sep and head in known else ("", spec)
    candidates = (
        [provider] if provider else [*table.providers, *sorted({m.provider for m in table.models.values()})]
    )
    for p in candidates:
        entry = table.lookup(p, name)
        if entry is not None and (not provider or entry.provider == provider):
            return entry.provider, entry.id, entry.kind
    raise ConfigurationError(
        f"model={spec!r} is not in the price table ({table.origin}); use a price-table id such as "
        "'claude-haiku-4-5' or 'anthropic:claude-haiku-4-5', or add it with --prices"
    )


def what_if(
    source: Source,
    scenario: Scenario,
    *,
    by: str | Sequence[str] | None = ("feature",),
    price_table: PriceTable | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    where: Mapping[str, str | Sequence[str]] | None = None,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> WhatIf:
    """Re-price logged calls under ``scenario`` and compare, per ``by`` group.

    Args:
        source: An open :class:`Dataset` or JSONL/SQLite paths.
        scenario: What changes.
        by: Grouping of the comparison (default: per feature).
        price_table: The table for the baseline (default: bundled).
        since: Period start (when ``source`` is paths).
        until: Period end (exclusive).
        where: Filters on which calls are considered at all.
        cache: Parquet cache use.
        cache_dir: Parquet cache location.
        progress: Progress reporter for cache builds.

    Raises:
        ConfigurationError: The scenario's model is not in its price table, or the hit rate is
            outside [0, 1].

    Example:
        >>> from llmfinops.testing import make_record, write_records
        >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])  # gpt-4o
        >>> w = what_if(log, Scenario(model="claude-haiku-4-5"), since="2026-11-01",
        ...             until="2026-12-01")
        >>> round(w.total.change_usd, 4), f"{w.total.change_pct:.0%}"
        (Decimal('-0.0075'), '-56%')
    """
    dims = parse_dimensions(by)
    base = price_table or default_price_table()
    scen_table = scenario.price_table or base
    if scenario.cache_hit_rate is not None and not (0 <= scenario.cache_hit_rate <= 1):
        raise ConfigurationError(
            f"cache_hit_rate={scenario.cache_hit_rate} must be a fraction between 0 and 1 (e.g. 0.6)"
        )
    target = _parse_target(scen_table, scenario.model) if scenario.model else None
    book = RateBook(base, scen_table)
    band = book.band_sql()
    conds = [*_where_sql(scenario.only), "NOT cache_hit"]
    if target is not None:
        conds.append(
            "operation = 'embeddings'"
            if target[2] == "embedding"
            else "operation IS DISTINCT FROM 'embeddings'"
        )
    scope_sql = " AND ".join(conds)
    notes: set[str] = set()
    n = len(dims)
    groups: dict[tuple[Any, ...], WhatIfRow] = {}
    total = WhatIfRow()
    with open_source(
        source, since=since, until=until, where=where, cache=cache, cache_dir=cache_dir, progress=progress
    ) as ds:
        keys = ds.sql(f"SELECT DISTINCT {', '.join(KEY_SQL)}, {band} FROM calls")
        std = {name: p.standard_tiers for name, p in base.providers.items()}
        rate_rows: list[tuple[tuple[str, str, date, str, int], list[Rates | None]]] = []
        for prov, pm, day, tier, b in keys:
            rb = book.rates(base, prov, pm, day, tier or None, b) if pm else "call has no model"
            if isinstance(rb, str):
                notes.add(f"not re-priced: {rb}")
            rs = _scenario_rates(
                book, scenario, scen_table, target, prov, pm, day, tier or None, b, notes, std
            )
            rate_rows.append(((prov, pm, day, tier, b), [rb if isinstance(rb, Rates) else None, rs]))
        create_rates_table(ds.con, "llmfinops_whatif", rate_rows, ["b", "s"])
        uncached = "greatest(input_tokens - cached_input_tokens - cache_write_tokens, 0)"
        reasoning = "least(reasoning_tokens, output_tokens)"
        base_cost = cost_sql(
            "b",
            uncached=uncached,
            cached="cached_input_tokens",
            write="cache_write_tokens",
            output="output_tokens",
            reasoning=reasoning,
        )
        if scenario.cache_hit_rate is not None:
            h = f"CAST('{scenario.cache_hit_rate}' AS DECIMAL(18, 6))"
            cached_s = f"(input_tokens * {h})"
            write_s = f"least(cache_write_tokens, input_tokens - {cached_s})"
            uncached_s = f"(input_tokens - {cached_s} - {write_s})"
        else:
            cached_s, write_s, uncached_s = "cached_input_tokens", "cache_write_tokens", uncached
        scen_cost = cost_sql(
            "s",
            uncached=uncached_s,
            cached=cached_s,
            write=write_s,
            output="output_tokens",
            reasoning=reasoning,
        )
        dim_sql = [f"{dimension_sql(d)} AS d{i}" for i, d in enumerate(dims)]
        inner = ", ".join(
            [
                *dim_sql,
                "cost_usd",
                f"({scope_sql}) AS in_scope",
                f"{base_cost} AS base_cost",
                f"CASE WHEN {scope_sql} THEN {scen_cost} ELSE {base_cost} END AS scen_cost",
            ]
        )
        outer = ", ".join(
            [
                *(f"d{i}" for i in range(n)),
                "count(*)",
                "count(*) FILTER (WHERE in_scope)",
                "sum(cost_usd)",
                "count(*) FILTER (WHERE cost_usd IS NULL)",
                "sum(base_cost) FILTER (WHERE base_cost IS NOT NULL AND scen_cost IS NOT NULL)",
                "sum(scen_cost) FILTER (WHERE base_cost IS NOT NULL AND scen_cost IS NOT NULL)",
                "count(*) FILTER (WHERE base_cost IS NULL OR scen_cost IS NULL)",
            ]
        )
        sql = f"SELECT {outer} FROM (SELECT {inner} FROM calls {join_sql('llmfinops_whatif', band)}) " + (
            f"GROUP BY {', '.join(f'd{i}' for i in range(n))}" if n else ""
        )
        for rec in ds.sql(sql):
            key = tuple(_time_key(v) for v in rec[:n])
            calls, in_scope, actual, unknown, b_sum, s_sum, unpriced = rec[n:]
            row = WhatIfRow(
                key=key,
                calls=int(calls),
                repriced_calls=int(in_scope),
                actual_usd=Decimal(actual or 0),
                actual_unknown_calls=int(unknown),
                baseline_usd=Decimal(b_sum or 0),
                whatif_usd=Decimal(s_sum or 0),
                unpriced_calls=int(unpriced),
            )
            groups[key] = row
            total.add(row)
    ordered = sorted(groups.values(), key=lambda r: (r.change_usd, -r.baseline_usd, str(r.key)))
    all_notes = sorted(notes)
    if total.unpriced_calls:
        all_notes.insert(
            0,
            f"{total.unpriced_calls} calls could not be priced as logged or under the scenario; "
            "they are excluded from re-priced, what-if and change",
        )
    diff = total.actual_usd - total.baseline_usd
    if total.baseline_usd and abs(diff) > total.baseline_usd / 100:
        all_notes.append(
            f"recorded cost differs from re-pricing the logged tokens by ${diff:,.2f}: prices changed since "
            "the calls were recorded, or price modifiers/cache-write TTLs are not in the log"
        )
    if scenario.cache_hit_rate is not None:
        all_notes.append("cache writes are kept as logged; a real cache also pays writes for new prefixes")
    return WhatIf(scenario=scenario, by=dims, rows=tuple(ordered), total=total, notes=tuple(all_notes))


def _scenario_rates(
    book: RateBook,
    scenario: Scenario,
    table: PriceTable,
    target: tuple[str, str, str] | None,
    provider: str,
    pm: str,
    day: date,
    tier: str | None,
    band: int,
    notes: set[str],
    standard_tiers: Mapping[str, frozenset[str]],
) -> Rates | None:
    prov, model = (target[0], target[1]) if target else (provider, pm)
    if not model:
        return None
    when = scenario.at.date() if scenario.at is not None else day
    tier_s = "batch" if scenario.batch else tier
    if target is not None and tier_s is not None and tier_s in standard_tiers.get(provider, ()):
        tier_s = None  # the source provider's name for its standard tier ("default", "standard"...)
    rates = book.rates(table, prov, model, when, tier_s, band)
    if isinstance(rates, str) and target is not None and tier_s not in (None, "batch"):
        # e.g. an OpenAI "flex" call moved to a provider without that tier: price it at standard
        rates = book.rates(table, prov, model, when, None, band)
        notes.add(
            f"tier {tier_s!r} is not offered for {model!r}: those calls are priced at the standard tier"
        )
    if isinstance(rates, str):
        notes.add(f"not priced under the scenario: {rates}")
        return None
    return rates
