"""What will the month cost: month-end forecasts with a band (seed 004, chapter 11).

Three estimates are computed from daily known spend:

* **linear**: month-to-date spend / elapsed days x days in the month (seed 004's
  ``forecast_month_end_spend``, with the real month length and fractional elapsed days);
* **weighted**: month-to-date spend + the recency-weighted daily rate of the last 7
  complete days (weights ``0.5, 0.7, 0.9, 1, 1, 1, 1``, oldest first, as in seed 004's
  ``adjusted_forecast``) x the days left;
* **seasonal**: the weighted variant on weekday-adjusted spend, used when at least
  3 weeks of complete days exist: each weekday's factor is its mean spend over the last
  whole weeks (up to 8) divided by the overall mean, the rate is computed on
  ``spend / factor`` and each remaining day is projected as ``rate x factor(weekday)``.

The headline is the seasonal estimate when available, else the weighted one, else the
linear one. The band is a 95 % prediction interval for the spend still to come,
treating the (weekday-adjusted) days as independent with the standard deviation ``s``
of the last up to 28 complete days: ``+/- 1.96 s sqrt(sum f_d^2 + (sum f_d)^2 / n)``
where ``f_d`` are the remaining days' weekday factors (1 without seasonality; the rest of
today counts pro rata) and ``n`` the days behind ``s``. The low end never goes below
the spend already booked.
"""

from __future__ import annotations

__all__ = ["Forecast", "forecast_month", "forecast_spend"]

import calendar
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from ._aggregate import Source, open_source
from ._load import TimeLike, _as_datetime
from ._progress import Progress
from ._render import Column, Table
from ._schema import dimension_sql

_Q = Decimal("0.000001")
_WEIGHTS = (Decimal("0.5"), Decimal("0.7"), Decimal("0.9"), Decimal(1), Decimal(1), Decimal(1), Decimal(1))
_Z95 = Decimal("1.96")
_DAY = Decimal(86400)


def _q(d: Decimal) -> Decimal:
    return d.quantize(_Q, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Forecast:
    """A month-end forecast for one scope (``total`` or ``team=search``...). Money in Decimal USD."""

    scope: str
    month: date
    """First day of the forecast month."""
    as_of: datetime
    days_in_month: int
    elapsed_days: Decimal
    month_to_date_usd: Decimal
    linear_usd: Decimal
    weighted_usd: Decimal | None
    """``None`` before the first complete day of data."""
    seasonal_usd: Decimal | None
    """``None`` with less than 3 weeks of complete days."""
    forecast_usd: Decimal
    """The headline: seasonal, else weighted, else linear."""
    low_usd: Decimal
    high_usd: Decimal
    daily_rate_usd: Decimal
    """The (weighted) daily run-rate behind the headline."""
    method: str
    history_days: int
    weekday_factors: tuple[Decimal, ...] | None = None
    """Monday..Sunday factors when seasonality was used."""

    def as_dict(self) -> dict[str, Any]:
        """Every field by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _weekday_factors(days: Sequence[tuple[date, Decimal]]) -> tuple[Decimal, ...] | None:
    if len(days) < 21:
        return None
    whole = days[-min(56, len(days) // 7 * 7) :]
    total = sum((v for _, v in whole), Decimal(0))
    if total <= 0:
        return None
    mean = total / len(whole)
    sums = [Decimal(0)] * 7
    counts = [0] * 7
    for d, v in whole:
        sums[d.weekday()] += v
        counts[d.weekday()] += 1
    return tuple((sums[w] / counts[w]) / mean for w in range(7))


def _weighted(values: Sequence[Decimal]) -> Decimal:
    ws = _WEIGHTS[-len(values) :]
    return sum((w * v for w, v in zip(ws, values, strict=True)), Decimal(0)) / sum(ws, Decimal(0))


def forecast_spend(
    daily: Mapping[date, Decimal],
    *,
    as_of: datetime,
    first_day: date | None = None,
    scope: str = "total",
) -> Forecast:
    """Forecast month-end spend from daily known costs.

    Args:
        daily: Known cost per UTC day; missing days inside the data are zero. The ``as_of``
            day holds the spend so far that day.
        as_of: The instant the data runs to (UTC); the month forecast is the month of ``as_of``.
        first_day: First day the logs cover (default: the earliest key of ``daily``); days
            before it are not treated as zero spend.
        scope: Label of what is forecast.

    Returns:
        A :class:`Forecast`.

    Example:
        >>> from datetime import date, datetime, UTC
        >>> f = forecast_spend({date(2026, 11, d): Decimal(10) for d in range(1, 11)},
        ...                    as_of=datetime(2026, 11, 11, tzinfo=UTC))
        >>> f.linear_usd, f.forecast_usd
        (Decimal('300.000000'), Decimal('300.000000'))
    """
    as_of = as_of.astimezone(UTC)
    today = as_of.date()
    month = today.replace(day=1)
    dim = calendar.monthrange(month.year, month.month)[1]
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    elapsed = Decimal(int((as_of - start).total_seconds())) / _DAY
    frac_today = (
        Decimal(int((as_of - datetime(today.year, today.month, today.day, tzinfo=UTC)).total_seconds()))
        / _DAY
    )
    first = first_day or (min(daily) if daily else today)
    mtd = sum((v for d, v in daily.items() if month <= d <= today), Decimal(0))
    linear = mtd / elapsed * dim if elapsed > 0 else Decimal(0)
    # complete days before today, from the first covered day (up to 8 weeks)
    hist: list[tuple[date, Decimal]] = []
    d = max(first, today - timedelta(days=56))
    while d < today:
        hist.append((d, daily.get(d, Decimal(0))))
        d += timedelta(days=1)
    factors = _weekday_factors(hist)
    remaining: list[tuple[date, Decimal]] = [(today, Decimal(1) - frac_today)]
    d = today + timedelta(days=1)
    while d.month == month.month:
        remaining.append((d, Decimal(1)))
        d += timedelta(days=1)
    weighted = seasonal = None
    rate = linear / dim if dim else Decimal(0)
    method = "linear"
    low = high = linear
    if hist:
        with localcontext() as ctx:
            ctx.prec = 40
            last7 = [v for _, v in hist[-7:]]
            rate = _weighted(last7)
            weighted = mtd + rate * sum((w for _, w in remaining), Decimal(0))
            f = (lambda day: factors[day.weekday()]) if factors else (lambda day: Decimal(1))
            headline = weighted
            method = "weighted"
            if factors is not None:
                adj = [(v / f(day)) for day, v in hist[-7:] if f(day) > 0]
                rate = _weighted(adj) if adj else Decimal(0)
                seasonal = mtd + sum((rate * f(day) * w for day, w in remaining), Decimal(0))
                headline = seasonal
                method = "seasonal"
            sample = [(v / f(day)) for day, v in hist[-28:] if f(day) > 0]
            if len(sample) >= 2:
                mean = sum(sample, Decimal(0)) / len(sample)
                var = sum(((x - mean) ** 2 for x in sample), Decimal(0)) / (len(sample) - 1)
                sf = [f(day) * w for day, w in remaining]
                spread = sum((x * x for x in sf), Decimal(0)) + sum(sf, Decimal(0)) ** 2 / len(sample)
                half = _Z95 * var.sqrt() * spread.sqrt()
            else:
                half = Decimal(0)
            low, high = max(mtd, headline - half), headline + half
    else:
        headline = linear
    return Forecast(
        scope=scope,
        month=month,
        as_of=as_of,
        days_in_month=dim,
        elapsed_days=_q(elapsed),
        month_to_date_usd=_q(mtd),
        linear_usd=_q(linear),
        weighted_usd=None if weighted is None else _q(weighted),
        seasonal_usd=None if seasonal is None else _q(seasonal),
        forecast_usd=_q(headline),
        low_usd=_q(low),
        high_usd=_q(high),
        daily_rate_usd=_q(rate),
        method=method,
        history_days=len(hist),
        weekday_factors=None if factors is None else tuple(_q(x) for x in factors),
    )


def forecast_month(
    source: Source,
    *,
    by: str | None = None,
    as_of: TimeLike | None = None,
    where: Mapping[str, str | Sequence[str]] | None = None,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> list[Forecast]:
    """Month-end forecasts from call logs: one for the total, plus one per value of ``by``.

    Args:
        source: An open :class:`Dataset` or JSONL/SQLite paths.
        by: Optional dimension (``team``, ``feature``, ``model``...).
        as_of: Where the data is cut (default: the last call's timestamp).
        where: Filters (when ``source`` is paths).
        cache: Parquet cache use.
        cache_dir: Parquet cache location.
        progress: Progress reporter for cache builds.

    Example:
        >>> from datetime import datetime, UTC
        >>> from llmfinops.testing import make_record, write_records
        >>> noons = [datetime(2026, 11, d, 12, tzinfo=UTC) for d in range(1, 11)]  # Nov 1-10
        >>> log = write_records([make_record(timestamp=t, cost_usd=100) for t in noons])  # $100 a day
        >>> [(f.method, f.forecast_usd, f.linear_usd) for f in forecast_month(log)]
        [('weighted', Decimal('3050.000000'), Decimal('3157.894737'))]
    """
    with open_source(source, where=where, cache=cache, cache_dir=cache_dir, progress=progress) as ds:
        bounds = ds.time_bounds()
        if bounds is None:
            return []
        cut = _as_datetime(as_of, "as_of") if as_of is not None else bounds[1]
        lo = datetime.combine(cut.date() - timedelta(days=62), datetime.min.time())
        params = [lo, cut.astimezone(UTC).replace(tzinfo=None)]
        scopes: list[tuple[str, str]] = [("total", "'total'")]
        if by:
            scopes.append((by, f"CAST({dimension_sql(by)} AS VARCHAR)"))
        out: list[Forecast] = []
        for name, expr in scopes:
            rows = ds.sql(
                f"SELECT {expr} AS k, CAST(ts AS DATE) AS d, COALESCE(sum(cost_usd), 0) FROM calls "
                "WHERE ts >= ? AND ts <= ? GROUP BY ALL",
                params,
            )
            series: dict[str, dict[date, Decimal]] = {}
            for k, d, v in rows:
                series.setdefault(k if k is not None else "(none)", {})[d] = Decimal(v)
            for k in sorted(series, key=lambda s: -sum(series[s].values())):
                label = "total" if name == "total" else f"{name}={k}"
                out.append(forecast_spend(series[k], as_of=cut, first_day=bounds[0].date(), scope=label))
        return out


def forecasts_table(forecasts: Sequence[Forecast]) -> Table:
    """A renderable table of forecasts."""
    cols = (
        Column("scope", "scope"),
        Column("month", "month", "date"),
        Column("month_to_date_usd", "month to date", "money"),
        Column("linear_usd", "linear", "money"),
        Column("weighted_usd", "weighted", "money"),
        Column("seasonal_usd", "seasonal", "money"),
        Column("forecast_usd", "forecast", "money"),
        Column("low_usd", "low (95%)", "money"),
        Column("high_usd", "high (95%)", "money"),
        Column("daily_rate_usd", "daily rate", "money"),
        Column("method", "method"),
    )
    as_of = forecasts[0].as_of.isoformat() if forecasts else "-"
    return Table(
        title=f"Month-end forecast (as of {as_of})",
        columns=cols,
        rows=tuple(f.as_dict() for f in forecasts),
        notes=("band: 95% prediction interval of the spend still to come (see docs/reports.md)",),
    )
