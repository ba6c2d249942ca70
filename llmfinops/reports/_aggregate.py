"""Where did the money go: spend grouped by any dimensions, with the cost split and rates."""

from __future__ import annotations

__all__ = ["Report", "ReportRow", "open_source", "summarize"]

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from llmfinops.pricing import PriceTable, default_price_table

from ._load import Dataset, TimeLike, open_dataset
from ._progress import Progress
from ._rates import KEY_SQL, RateBook, Rates, create_rates_table, join_sql
from ._render import Column, Table
from ._schema import TIME_DIMENSIONS, dimension_sql, parse_dimensions

_ZERO = Decimal(0)
Source = Dataset | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(slots=True)
class ReportRow:
    """Totals of one group of calls. Money is Decimal USD; ``key`` holds the dimension values."""

    key: tuple[Any, ...] = ()
    calls: int = 0
    unknown_cost_calls: int = 0
    """Calls whose cost is unknown (model not in the price table...): excluded from every cost, never $0."""
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal = _ZERO
    """Known token cost (sum of the split below)."""
    input_cost_usd: Decimal = _ZERO
    cached_input_cost_usd: Decimal = _ZERO
    cache_write_cost_usd: Decimal = _ZERO
    output_cost_usd: Decimal = _ZERO
    cache_storage_cost_usd: Decimal = _ZERO
    infra_cost_usd: Decimal = _ZERO
    """Recorded infrastructure cost (``configure(infra_cost=...)``), apart from token cost."""
    cache_savings_usd: Decimal = _ZERO
    """Cached tokens at the uncached input price minus their cache-read price (per call's day)."""
    cache_savings_unpriced_tokens: int = 0
    """Cached tokens of models the price table cannot price: not in ``cache_savings_usd``."""
    retried_calls: int = 0
    retries: int = 0
    error_calls: int = 0
    error_cost_usd: Decimal = _ZERO
    cascade_runs: int = 0
    escalated_runs: int = 0
    response_cache_hits: int = 0
    response_cache_saved_usd: Decimal = _ZERO
    latency_ms_sum: float = 0.0
    share: Decimal | None = None
    """Share of the report's known cost (``None`` when the total is zero)."""

    @property
    def priced_calls(self) -> int:
        """Calls with a known cost."""
        return self.calls - self.unknown_cost_calls

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    @property
    def cost_per_call(self) -> Decimal | None:
        """Known cost divided by priced calls."""
        return self.cost_usd / self.priced_calls if self.priced_calls else None

    @property
    def cache_hit_rate(self) -> Decimal | None:
        """Cached input tokens / input tokens."""
        return Decimal(self.cached_input_tokens) / self.input_tokens if self.input_tokens else None

    @property
    def retry_rate(self) -> Decimal | None:
        """Share of calls the SDK retried at least once."""
        return Decimal(self.retried_calls) / self.calls if self.calls else None

    @property
    def error_rate(self) -> Decimal | None:
        """Share of calls that ended in an error."""
        return Decimal(self.error_calls) / self.calls if self.calls else None

    @property
    def escalation_rate(self) -> Decimal | None:
        """Share of cascade runs that escalated to a stronger model (``None`` without cascades)."""
        return Decimal(self.escalated_runs) / self.cascade_runs if self.cascade_runs else None

    @property
    def avg_latency_ms(self) -> float | None:
        """Mean latency."""
        return self.latency_ms_sum / self.calls if self.calls else None

    def add(self, other: ReportRow) -> None:
        """Add ``other``'s additive totals into this row (not ``key``, ``share`` or cascade runs)."""
        for f in _ADDITIVE:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def as_dict(self, dims: Sequence[str] = ()) -> dict[str, Any]:
        """Every total and derived rate, keyed by column name (dimension values first)."""
        d: dict[str, Any] = dict(zip(dims, self.key, strict=False))
        for f in fields(self):
            if f.name not in ("key", "latency_ms_sum"):
                d[f.name] = getattr(self, f.name)
        for p in _DERIVED:
            d[p] = getattr(self, p)
        return d


_ADDITIVE = tuple(
    f.name for f in fields(ReportRow) if f.name not in ("key", "share", "cascade_runs", "escalated_runs")
)
_DERIVED = (
    "priced_calls",
    "total_tokens",
    "cost_per_call",
    "cache_hit_rate",
    "retry_rate",
    "error_rate",
    "escalation_rate",
    "avg_latency_ms",
)

_FINE_AGGS = """
  count(*),
  count(*) FILTER (WHERE cost_usd IS NULL),
  COALESCE(sum(input_tokens) FILTER (WHERE NOT cache_hit), 0),
  COALESCE(sum(cached_input_tokens) FILTER (WHERE NOT cache_hit), 0),
  COALESCE(sum(cache_write_tokens) FILTER (WHERE NOT cache_hit), 0),
  COALESCE(sum(output_tokens) FILTER (WHERE NOT cache_hit), 0),
  COALESCE(sum(reasoning_tokens) FILTER (WHERE NOT cache_hit), 0),
  sum(cost_usd), sum(input_cost_usd), sum(cached_input_cost_usd), sum(cache_write_cost_usd),
  sum(output_cost_usd), sum(cache_storage_cost_usd), sum(infra_cost_usd),
  count(*) FILTER (WHERE retry_count > 0), COALESCE(sum(retry_count), 0),
  count(*) FILTER (WHERE status <> 'ok'), sum(cost_usd) FILTER (WHERE status <> 'ok'),
  count(*) FILTER (WHERE cache_hit), sum(saved_usd) FILTER (WHERE cache_hit),
  COALESCE(sum(latency_ms), 0)
"""
_CASCADE_AGGS = """
  count(*) FILTER (WHERE cascade_id IS NULL AND cascade_outcome IS NOT NULL),
  count(*) FILTER (WHERE cascade_id IS NULL AND cascade_outcome = 'escalated'),
  count(DISTINCT cascade_id) FILTER (WHERE cascade_outcome IS NOT NULL),
  count(DISTINCT cascade_id) FILTER (WHERE cascade_outcome = 'escalated')
"""
"""Cascade runs: a record without ``cascade_id`` is a run of its own; others are counted by id."""
_FINE_FIELDS = (
    "calls",
    "unknown_cost_calls",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "input_cost_usd",
    "cached_input_cost_usd",
    "cache_write_cost_usd",
    "output_cost_usd",
    "cache_storage_cost_usd",
    "infra_cost_usd",
    "retried_calls",
    "retries",
    "error_calls",
    "error_cost_usd",
    "response_cache_hits",
    "response_cache_saved_usd",
    "latency_ms_sum",
)


def _row_from(values: Sequence[Any]) -> ReportRow:
    r = ReportRow()
    for name, v in zip(_FINE_FIELDS, values, strict=True):
        if name == "latency_ms_sum":
            r.latency_ms_sum = float(v or 0.0)
        elif name.endswith("_usd"):
            setattr(r, name, _ZERO if v is None else Decimal(v))
        else:
            setattr(r, name, int(v or 0))
    return r


def _time_key(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v
    return v


@contextmanager
def open_source(
    source: Source,
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    where: Mapping[str, str | Sequence[str]] | None = None,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Iterator[Dataset]:
    """Use ``source`` as a :class:`Dataset`: an open one as is, paths by opening (and closing) one."""
    if isinstance(source, Dataset):
        if since is not None or until is not None or where:
            raise TypeError(
                "filters (since/until/where) are given to open_dataset(), not with an open Dataset"
            )
        yield source
        return
    ds = open_dataset(
        source, since=since, until=until, where=where, cache=cache, cache_dir=cache_dir, progress=progress
    )
    try:
        yield ds
    finally:
        ds.close()


@dataclass(frozen=True, slots=True)
class Report:
    """Spend grouped by ``by``: one :class:`ReportRow` per group and the ``total``."""

    by: tuple[str, ...]
    rows: tuple[ReportRow, ...]
    total: ReportRow
    first_call: datetime | None
    last_call: datetime | None
    price_table_as_of: str
    notes: tuple[str, ...] = field(default=())

    def get(self, *key: Any, **named: Any) -> ReportRow:
        """The row for a key, positionally or by dimension name.

        Example:
            >>> from llmfinops.testing import make_record, write_records
            >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])
            >>> rep = summarize(log, by="team")
            >>> rep.get(team="search").calls, round(rep.get(team="search").cost_usd, 4)
            (2, Decimal('0.0090'))
            >>> rep.get("ads").calls
            1
        """
        want = tuple(key) if key else tuple(named.get(d) for d in self.by)
        for r in self.rows:
            if r.key == want:
                return r
        raise KeyError(want)

    def to_table(
        self, *, columns: Sequence[str] | None = None, wide: bool = False, top: int | None = None
    ) -> Table:
        """A renderable table (see :func:`llmfinops.reports.render`).

        Args:
            columns: Column keys to show (default: a compact set, or all with ``wide``).
            wide: Show every column.
            top: Keep the ``top`` rows (by cost) and fold the rest into one ``(other)`` row.
        """
        cols = [Column(d, d, "date" if d in TIME_DIMENSIONS else "text") for d in self.by]
        keys = list(columns) if columns else list(_WIDE if wide else _COMPACT)
        for k in keys:
            if k not in _COLUMN_SPECS:
                from llmfinops.exceptions import ConfigurationError

                raise ConfigurationError(
                    f"unknown report column {k!r}; use any of: {', '.join(_COLUMN_SPECS)}"
                )
            header, kind = _COLUMN_SPECS[k]
            cols.append(Column(k, header, kind))
        rows = list(self.rows)
        if top is not None and len(rows) > top:
            keep = sorted(rows, key=lambda r: r.cost_usd, reverse=True)[:top]
            ids = {id(r) for r in keep}
            other = ReportRow(key=("(other)",) + ("",) * (len(self.by) - 1))
            for r in rows:
                if id(r) not in ids:
                    other.add(r)
            other.share = other.cost_usd / self.total.cost_usd if self.total.cost_usd else None
            rows = [r for r in rows if id(r) in ids] + [other]
        dims = self.by
        return Table(
            title="LLM spend" + (f" by {', '.join(self.by)}" if self.by else ""),
            columns=tuple(cols),
            rows=tuple(r.as_dict(dims) for r in rows),
            total={**dict.fromkeys(dims, ""), **self.total.as_dict(), **({dims[0]: "TOTAL"} if dims else {})},
            notes=self.notes,
        )


_COLUMN_SPECS: dict[str, tuple[str, str]] = {
    "calls": ("calls", "int"),
    "unknown_cost_calls": ("unpriced", "int"),
    "input_tokens": ("input tok", "int"),
    "cached_input_tokens": ("cached tok", "int"),
    "cache_write_tokens": ("cache-write tok", "int"),
    "output_tokens": ("output tok", "int"),
    "reasoning_tokens": ("reasoning tok", "int"),
    "total_tokens": ("total tok", "int"),
    "cost_usd": ("cost", "money"),
    "input_cost_usd": ("input $", "money"),
    "cached_input_cost_usd": ("cached $", "money"),
    "cache_write_cost_usd": ("cache-write $", "money"),
    "output_cost_usd": ("output $", "money"),
    "cache_storage_cost_usd": ("storage $", "money"),
    "infra_cost_usd": ("infra $", "money"),
    "cost_per_call": ("$/call", "money"),
    "share": ("share", "pct"),
    "cache_hit_rate": ("cache hit", "pct"),
    "cache_savings_usd": ("cache saved", "money"),
    "retry_rate": ("retry rate", "pct"),
    "retries": ("retries", "int"),
    "error_calls": ("errors", "int"),
    "error_rate": ("error rate", "pct"),
    "error_cost_usd": ("error $", "money"),
    "escalation_rate": ("escalation", "pct"),
    "response_cache_hits": ("resp-cache hits", "int"),
    "response_cache_saved_usd": ("resp-cache saved", "money"),
    "avg_latency_ms": ("avg ms", "num"),
}
_COMPACT = (
    "calls",
    "unknown_cost_calls",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "cost_usd",
    "cost_per_call",
    "share",
    "cache_hit_rate",
    "cache_savings_usd",
    "retry_rate",
    "error_cost_usd",
    "escalation_rate",
)
_WIDE = tuple(_COLUMN_SPECS)


def summarize(
    source: Source,
    by: str | Sequence[str] | None = ("provider", "model"),
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    where: Mapping[str, str | Sequence[str]] | None = None,
    price_table: PriceTable | None = None,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Aggregate call records by any combination of dimensions.

    Args:
        source: An open :class:`Dataset`, or JSONL/SQLite paths, directories or globs.
        by: Dimensions, e.g. ``("team", "model", "day")`` or ``"team,week"``: ``model``,
            ``provider``, ``feature``, ``team``, ``user``, ``environment``, ``service``,
            ``operation``, ``endpoint``, ``status``, ``tier``, ``price_model``, ``tag:<key>``,
            and the UTC time grains ``hour``, ``day``, ``week``, ``month``. Empty: one total row.
        since: Only calls at or after this instant (when ``source`` is paths).
        until: Only calls before this instant.
        where: Only calls whose dimension has one of the values, e.g. ``{"environment": "prod"}``.
        price_table: Table used to value cache savings (default: the bundled one).
        cache: Parquet cache use (see :func:`open_dataset`).
        cache_dir: Parquet cache location.
        progress: Progress reporter for cache builds.

    Returns:
        A :class:`Report` whose rows are sorted by time (if a time grain is grouped) then cost.

    Example:
        >>> from llmfinops.reports import summarize
        >>> from llmfinops.testing import make_record, write_records
        >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])  # your app's log
        >>> report = summarize(log, by=("team", "model"))
        >>> [(row.key, row.calls) for row in report.rows]
        [(('search', 'gpt-4o'), 2), (('ads', 'gpt-4o'), 1)]
        >>> round(report.total.cost_usd, 4)
        Decimal('0.0135')
    """
    dims = parse_dimensions(by)
    table = price_table or default_price_table()
    book = RateBook(table)
    band = book.band_sql()
    n = len(dims)
    with open_source(
        source, since=since, until=until, where=where, cache=cache, cache_dir=cache_dir, progress=progress
    ) as ds:
        # Value cache savings per (provider, model, day, tier, band): one rate lookup per key, summed in SQL.
        keys = ds.sql(
            f"SELECT DISTINCT {', '.join(KEY_SQL)}, {band} FROM calls "
            "WHERE cached_input_tokens > 0 AND NOT cache_hit"
        )
        unpriced_models: set[str] = set()
        rate_rows: list[tuple[tuple[str, str, date, str, int], list[Rates | None]]] = []
        for prov, pm, day, tier, b in keys:
            r = book.rates(table, prov, pm, day, tier or None, b) if pm else "call has no model"
            if isinstance(r, str):
                unpriced_models.add(pm or "(no model)")
            rate_rows.append(((prov, pm, day, tier, b), [r if isinstance(r, Rates) else None]))
        join = ""
        savings = "NULL, 0"
        if rate_rows:
            create_rates_table(ds.con, "llmfinops_sav", rate_rows, ["s"])
            join = join_sql("llmfinops_sav", band)
            savings = (
                "sum(cached_input_tokens * (s_in - s_read)) "
                "FILTER (WHERE NOT cache_hit AND s_in IS NOT NULL), "
                "COALESCE(sum(cached_input_tokens) FILTER (WHERE NOT cache_hit AND s_in IS NULL), 0)"
            )
        dim_sql = [f"{dimension_sql(d)} AS d{i}" for i, d in enumerate(dims)]
        select = ", ".join([*dim_sql, _FINE_AGGS, savings])
        groups: dict[tuple[Any, ...], ReportRow] = {}
        total = ReportRow()
        any_cascade_id = False
        for rec in ds.sql(f"SELECT {select}, {_CASCADE_AGGS} FROM calls {join} GROUP BY ALL"):
            key = tuple(_time_key(v) for v in rec[:n])
            row = _row_from(rec[n:-6])
            row.key = key
            row.cache_savings_usd = _ZERO if rec[-6] is None else Decimal(rec[-6])
            row.cache_savings_unpriced_tokens = int(rec[-5])
            solo, solo_esc, runs, runs_esc = (int(v) for v in rec[-4:])
            row.cascade_runs, row.escalated_runs = solo + runs, solo_esc + runs_esc
            any_cascade_id = any_cascade_id or runs > 0
            groups[key] = row
            total.add(row)
            total.cascade_runs += solo
            total.escalated_runs += solo_esc
        if any_cascade_id:  # distinct cascade runs do not add up across groups: count them once more
            runs, runs_esc = ds.sql(
                "SELECT count(DISTINCT cascade_id), count(DISTINCT cascade_id) FILTER "
                "(WHERE cascade_outcome = 'escalated') FROM calls "
                "WHERE cascade_id IS NOT NULL AND cascade_outcome IS NOT NULL"
            )[0]
            total.cascade_runs += int(runs)
            total.escalated_runs += int(runs_esc)
        bounds = ds.time_bounds()
    for row in groups.values():
        row.share = row.cost_usd / total.cost_usd if total.cost_usd else None
    total.share = Decimal(1) if total.cost_usd else None
    rows = sorted(groups.values(), key=_sort_key(dims))
    notes: list[str] = []
    if total.unknown_cost_calls:
        notes.append(
            f"{total.unknown_cost_calls} of {total.calls} calls have an unknown cost (see 'unpriced'); "
            "they are excluded from every cost figure, not counted as $0"
        )
    if total.cache_savings_unpriced_tokens:
        notes.append(
            f"cache savings exclude {total.cache_savings_unpriced_tokens:,} cached tokens of models the "
            "price "
            f"table cannot price: {', '.join(sorted(unpriced_models))}"
        )
    return Report(
        by=dims,
        rows=tuple(rows),
        total=total,
        first_call=bounds[0] if bounds else None,
        last_call=bounds[1] if bounds else None,
        price_table_as_of=table.as_of,
        notes=tuple(notes),
    )


def _sort_key(dims: tuple[str, ...]) -> Any:
    time_idx = [i for i, d in enumerate(dims) if d in TIME_DIMENSIONS]

    def key(r: ReportRow) -> tuple[Any, ...]:
        times = tuple(r.key[i] if r.key[i] is not None else date.min for i in time_idx)
        return (*times, -r.cost_usd, -r.calls, tuple((v is None, "" if v is None else str(v)) for v in r.key))

    return key
