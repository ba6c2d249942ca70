"""Per-token rates from the price table, for pricing *sums* of tokens exactly.

A call's cost is linear in its token counts once three things are fixed: the price
period (prices start at UTC midnight, so the UTC day fixes it), the service tier, and
the long-context band (whether *that request's* prompt exceeded the model's threshold).
Reports therefore group calls by (provider, model, day, tier, band) in SQL and price each
group's token sums with per-token rates.

The rates are read from :meth:`PriceTable.cost` itself (one probe request per token kind,
sized to fall in the right band), so tiers, discounts and multipliers are applied by the
same engine that priced the calls; a probe ``n * price / n`` is exact in Decimal.
"""

from __future__ import annotations

__all__ = [
    "KEY_SQL",
    "RateBook",
    "Rates",
    "TokenSums",
    "band_sql",
    "cost_sql",
    "create_rates_table",
    "group_cost",
    "join_sql",
]

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from llmfinops.pricing import PriceTable
from llmfinops.usage import Usage

_PROBE_OUT = 1_000_000


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token for one (model, day, tier, band)."""

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal | None
    """``None`` when the model bills cache writes per TTL and the default TTL has no price."""
    output: Decimal
    reasoning: Decimal
    price_model: str
    provider: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class TokenSums:
    """Token sums of a group of calls (``uncached``, ``reasoning`` clamped per call like the engine)."""

    uncached: Decimal
    cached: Decimal
    cache_write: Decimal
    output: Decimal
    reasoning: Decimal


def group_cost(rates: Rates, t: TokenSums) -> Decimal | None:
    """Cost of a group of calls priced with ``rates`` (``None`` when a needed rate is missing).

    Example:
        >>> r = Rates(Decimal("0.000002"), Decimal("0.0000002"), None, Decimal("0.00001"),
        ...           Decimal("0.00001"), "m", "p")
        >>> group_cost(r, TokenSums(Decimal(1000), Decimal(0), Decimal(0), Decimal(100), Decimal(0)))
        Decimal('0.0030000')
    """
    if t.cache_write and rates.cache_write is None:
        return None
    write = t.cache_write * rates.cache_write if rates.cache_write is not None else Decimal(0)
    return (
        t.uncached * rates.input
        + t.cached * rates.cache_read
        + write
        + (t.output - t.reasoning) * rates.output
        + t.reasoning * rates.reasoning
    )


def _thresholds(table: PriceTable) -> set[int]:
    out: set[int] = set()
    for m in table.models.values():
        for p in m.periods:
            if p.long_context is not None:
                out.add(p.long_context_threshold or 0)
    return out


def band_sql(thresholds: tuple[int, ...], column: str = "input_tokens") -> str:
    """SQL for the band index of a call: how many of the sorted ``thresholds`` its prompt exceeds.

    Example:
        >>> band_sql((100, 200))
        '((input_tokens > 100)::INTEGER + (input_tokens > 200)::INTEGER)'
    """
    if not thresholds:
        return "0"
    return "(" + " + ".join(f"({column} > {t})::INTEGER" for t in thresholds) + ")"


class RateBook:
    """Cached :class:`Rates` lookups over one or more price tables.

    Args:
        *tables: Every table whose long-context thresholds the SQL band index must resolve.

    Example:
        >>> from llmfinops.pricing import default_price_table
        >>> book = RateBook(default_price_table())
        >>> r = book.rates(default_price_table(), "openai", "gpt-4o", date(2026, 11, 1), None, 0)
        >>> r.input * 1_000_000 == Decimal("2.5")
        True
    """

    def __init__(self, *tables: PriceTable) -> None:
        ts: set[int] = set()
        for t in tables:
            ts |= _thresholds(t)
        self.thresholds: tuple[int, ...] = tuple(sorted(ts))
        self._cache: dict[tuple[int, str, str, date, str | None, bool], Rates | str] = {}

    def band_sql(self) -> str:
        """SQL band index for this book's thresholds."""
        return band_sql(self.thresholds)

    def rates(
        self, table: PriceTable, provider: str, model: str, day: date, tier: str | None, band: int
    ) -> Rates | str:
        """Rates of ``model`` on ``day`` for calls in ``band``; a note string when it cannot be priced.

        Args:
            table: The price table to read.
            provider: Provider of the calls.
            model: Price-table id or model name.
            day: UTC day of the calls (selects the price period).
            tier: Service tier the calls were billed at (``None``: standard).
            band: Band index from :meth:`band_sql`.
        """
        entry = table.lookup(provider, model)
        if entry is None:
            return f"model {model!r} is not in the price table ({table.origin})"
        at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        period = entry.period_at(at)
        if period is None:
            return f"model {entry.id!r} has no price in force on {day.isoformat()}"
        long = False
        threshold = 0
        if period.long_context is not None:
            threshold = period.long_context_threshold or 0
            if threshold not in self.thresholds:
                raise ValueError(
                    f"RateBook was not built with the table of {entry.id!r}; pass it to RateBook()"
                )
            # ``band`` counts the sorted thresholds the prompt exceeded: it exceeded this model's
            # threshold iff it exceeded more thresholds than there are below it.
            long = band > self.thresholds.index(threshold)
        key = (id(table), provider, model.lower(), day, tier, long)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        result = self._probe(table, provider, model, at, tier, threshold + 1 if long else 1)
        self._cache[key] = result
        return result

    @staticmethod
    def _probe(
        table: PriceTable, provider: str, model: str, at: datetime, tier: str | None, n: int
    ) -> Rates | str:
        nd = Decimal(n)

        def cost(
            read: int = 0, write: int = 0, out: int = 0, reasoning: int = 0
        ) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None, str | None]:
            usage = Usage(
                input_tokens=n,
                cache_read_tokens=read,
                cache_write_tokens=write,
                output_tokens=out,
                reasoning_tokens=reasoning,
                service_tier=tier,
            )
            c = table.cost(provider, model, usage, at=at)
            if c.total is None:
                return None, None, None, None, c.note
            return c.input, c.cached_input, c.cache_write, c.output, c.price_model

        inp, _, _, _, pm = cost()
        if inp is None:
            return str(pm)
        _, read, _, _, _ = cost(read=n)
        _, _, write, _, _ = cost(write=n)
        _, _, _, out, _ = cost(out=_PROBE_OUT)
        _, _, _, reason, _ = cost(out=_PROBE_OUT, reasoning=_PROBE_OUT)
        entry = table.lookup(provider, model)
        if entry is None or read is None or out is None or reason is None:  # pragma: no cover - same engine
            return f"model {model!r} could not be probed"
        return Rates(
            input=inp / nd,
            cache_read=read / nd,
            cache_write=None if write is None else write / nd,
            output=out / _PROBE_OUT,
            reasoning=reason / _PROBE_OUT,
            price_model=entry.id,
            provider=entry.provider,
        )


# -- rates as a DuckDB table, joined to the calls -------------------------------------------------

RATE_TYPE = "DECIMAL(38, 24)"
KEY_SQL = (
    "COALESCE(provider, '')",
    "COALESCE(COALESCE(price_model, model), '')",
    "CAST(ts AS DATE)",
    "COALESCE(service_tier, '')",
)
"""Per-call pricing key (the band is added by :meth:`RateBook.band_sql`)."""
_KEY_COLS = ("k_provider", "k_model", "k_day", "k_tier", "k_band")
_PARTS = ("in", "read", "write", "out", "reason")


def _lit(v: Decimal | None) -> str:
    return "NULL" if v is None else f"CAST('{v}' AS {RATE_TYPE})"


def create_rates_table(
    con: Any,
    name: str,
    rows: Sequence[tuple[tuple[str, str, date, str, int], Sequence[Rates | None]]],
    prefixes: Sequence[str],
) -> None:
    """Create temp table ``name``: the pricing key plus ``<prefix>_in/_read/_write/_out/_reason`` rates.

    A ``None`` rate set leaves its columns NULL (the calls cannot be priced that way).
    """
    cols = [*_KEY_COLS, *(f"{p}_{part}" for p in prefixes for part in _PARTS)]
    types = ["VARCHAR", "VARCHAR", "DATE", "VARCHAR", "INTEGER", *([RATE_TYPE] * (len(cols) - 5))]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} "
        f"({', '.join(f'{c} {t}' for c, t in zip(cols, types, strict=True))})"
    )
    values: list[str] = []
    for (prov, model, day, tier, band), rate_sets in rows:
        cells = [
            "'" + prov.replace("'", "''") + "'",
            "'" + model.replace("'", "''") + "'",
            f"DATE '{day.isoformat()}'",
            "'" + tier.replace("'", "''") + "'",
            str(int(band)),
        ]
        for r in rate_sets:
            if r is None:
                cells += ["NULL"] * 5
            else:
                cells += [
                    _lit(r.input),
                    _lit(r.cache_read),
                    _lit(r.cache_write),
                    _lit(r.output),
                    _lit(r.reasoning),
                ]
        values.append("(" + ", ".join(cells) + ")")
    for i in range(0, len(values), 500):
        con.execute(f"INSERT INTO {name} VALUES {', '.join(values[i : i + 500])}")


def join_sql(name: str, band: str) -> str:
    """``LEFT JOIN`` of the calls to rates table ``name`` on the pricing key."""
    keys = [*KEY_SQL, band]
    conds = " AND ".join(f"{name}.{c} = {k}" for c, k in zip(_KEY_COLS, keys, strict=True))
    return f"LEFT JOIN {name} ON {conds}"


def cost_sql(prefix: str, *, uncached: str, cached: str, write: str, output: str, reasoning: str) -> str:
    """SQL cost of one call from rates ``<prefix>_*`` (NULL when a needed rate is missing)."""
    p = prefix

    def term(tokens: str, rate: str) -> str:
        # token counts may be fractional (assumed hit rates): keep the product at the rate's scale
        return f"CAST({tokens} * {rate} AS {RATE_TYPE})"

    return (
        f"CASE WHEN {p}_in IS NULL OR ({write} > 0 AND {p}_write IS NULL) THEN NULL ELSE "
        f"{term(uncached, f'{p}_in')} + {term(cached, f'{p}_read')} "
        f"+ {term(write, f'COALESCE({p}_write, 0)')} "
        f"+ {term(f'({output} - {reasoning})', f'{p}_out')} + {term(reasoning, f'{p}_reason')} END"
    )
