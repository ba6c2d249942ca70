"""What changed: cost anomalies and spend velocity (seed 002 and seed 004, chapter 11).

Three detectors run on known cost, per scope (the total and each value of the chosen
dimensions):

* ``sigma_hour`` / ``sigma_day``: an hour's (a day's) cost above the mean + 3 standard
  deviations (sample) of the trailing 30 days of hours (days) before it (seed 002). Hours
  and days without calls count as $0 once the logs cover them.
* ``spike_7d``: a day above 3x the average of the 7 days before it (seed 004).
* ``velocity``: the last 7 days up 50 % or more on the 7 days before (seed 004's
  week-over-week velocity per team).

Every detector also needs the excess over the expected value to reach ``min_usd`` (so a
$0.02 hour after a quiet month does not page anyone) and enough history (7 days for the
sigma and spike rules, 14 for velocity). Only periods starting within ``lookback`` of the
data's end are reported, so a cron job sees each alert once.
"""

from __future__ import annotations

__all__ = ["Alert", "alerts_table", "detect_anomalies", "sigma_spikes", "spike_vs_average", "velocity"]

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any, Literal

from ._aggregate import Source, open_source
from ._load import TimeLike, _as_datetime
from ._progress import Progress
from ._render import Column, Table, format_money
from ._schema import dimension_sql, parse_dimensions

_Q = Decimal("0.000001")
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Alert:
    """One anomaly. Money is Decimal USD."""

    kind: str
    """``sigma_hour``, ``sigma_day``, ``spike_7d``, ``velocity`` or ``budget``."""
    severity: str
    """``high`` or ``medium``."""
    scope: str
    """``total`` or ``<dimension>=<value>``."""
    period: str
    """``hour``, ``day``, ``week`` or a budget window."""
    period_start: datetime
    actual_usd: Decimal
    expected_usd: Decimal
    """The trailing mean, the 7-day average, the previous week, or the budget limit."""
    threshold_usd: Decimal
    score: Decimal | None
    """Standard deviations above the mean, multiple of the average, or growth ratio (``None``: from $0)."""
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Every field by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _q(d: Decimal) -> Decimal:
    return d.quantize(_Q)


def _m(d: Decimal) -> str:
    return format_money(d)


def sigma_spikes(
    series: Sequence[Decimal],
    *,
    window: int,
    min_history: int,
    evaluate_from: int,
    sigma: Decimal = Decimal(3),
    min_usd: Decimal = Decimal(0),
) -> list[tuple[int, Decimal, Decimal, Decimal]]:
    """Indexes whose value exceeds mean + ``sigma`` x stdev of the ``window`` values before it.

    Args:
        series: Dense values, oldest first (zeros for empty periods).
        window: Trailing periods compared against (720 hours or 30 days).
        min_history: Minimum trailing periods needed to judge.
        evaluate_from: First index to evaluate.
        sigma: Number of standard deviations.
        min_usd: Minimum excess over the mean.

    Returns:
        ``(index, mean, stdev, threshold)`` for each anomalous index.

    Example:
        >>> s = [Decimal(1), Decimal(2)] * 10 + [Decimal(10)]
        >>> [i for i, *_ in sigma_spikes(s, window=30, min_history=7, evaluate_from=0)]
        [20]
    """
    out: list[tuple[int, Decimal, Decimal, Decimal]] = []
    with localcontext() as ctx:
        ctx.prec = 50
        s = sq = Decimal(0)
        n = 0
        for i, v in enumerate(series):
            if i >= evaluate_from and n >= max(min_history, 2):
                mean = s / n
                var = (sq - s * s / n) / (n - 1)
                sd = var.sqrt() if var > 0 else Decimal(0)
                thr = mean + sigma * sd
                if v > thr and v - mean >= min_usd:
                    out.append((i, mean, sd, thr))
            s += v
            sq += v * v
            n += 1
            if n > window:
                old = series[i - window]
                s -= old
                sq -= old * old
                n -= 1
    return out


def spike_vs_average(
    series: Sequence[Decimal],
    *,
    evaluate_from: int,
    multiple: Decimal = Decimal(3),
    min_usd: Decimal = Decimal(0),
) -> list[tuple[int, Decimal]]:
    """Indexes (days) whose value exceeds ``multiple`` x the average of the 7 values before it.

    Example:
        >>> s = [Decimal(10)] * 7 + [Decimal(31)]
        >>> spike_vs_average(s, evaluate_from=0)
        [(7, Decimal('10'))]
    """
    out: list[tuple[int, Decimal]] = []
    for i in range(max(7, evaluate_from), len(series)):
        avg = sum(series[i - 7 : i], Decimal(0)) / 7
        v = series[i]
        if v > multiple * avg and v - avg >= min_usd and v > 0:
            out.append((i, avg))
    return out


def velocity(
    this_week: Decimal, last_week: Decimal, *, growth: Decimal = Decimal("0.5"), min_usd: Decimal = Decimal(0)
) -> Decimal | Literal[False] | None:
    """Week-over-week growth when it reaches ``growth``: the ratio, ``None`` (up from $0), or ``False``.

    Example:
        >>> velocity(Decimal(150), Decimal(100))
        Decimal('0.5')
        >>> velocity(Decimal(120), Decimal(100))
        False
    """
    if this_week - last_week < min_usd or this_week <= last_week:
        return False
    if last_week <= 0:
        return None
    g = this_week / last_week - 1
    return g if g >= growth else False


def detect_anomalies(
    source: Source,
    *,
    by: str | Sequence[str] | None = ("team", "model"),
    as_of: TimeLike | None = None,
    lookback: timedelta = _DAY,
    sigma: Decimal = Decimal(3),
    spike_multiple: Decimal = Decimal(3),
    growth: Decimal = Decimal("0.5"),
    min_usd: Decimal = Decimal(1),
    where: Mapping[str, str | Sequence[str]] | None = None,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> list[Alert]:
    """Run every detector on the total and on each value of the ``by`` dimensions.

    Args:
        source: An open :class:`Dataset` or JSONL/SQLite paths.
        by: Scopes besides the total (default: each team and each model).
        as_of: End of the data considered (default: the last call).
        lookback: Report hours/days starting within this span before ``as_of``.
        sigma: Standard deviations for the sigma rules.
        spike_multiple: Multiple of the 7-day average for the spike rule.
        growth: Week-over-week growth for the velocity rule (0.5 = +50 %).
        min_usd: Minimum excess in dollars for any alert.
        where: Filters (when ``source`` is paths).
        cache: Parquet cache use.
        cache_dir: Parquet cache location.
        progress: Progress reporter for cache builds.

    Returns:
        Alerts, most severe and most recent first.

    Example:
        >>> from datetime import datetime, UTC
        >>> from llmfinops.testing import make_record, write_records
        >>> def day(d, cost):
        ...     return make_record(timestamp=datetime(2026, 11, d, 12, tzinfo=UTC), cost_usd=cost)
        >>> log = write_records([day(d, 5) for d in range(1, 9)] + [day(9, 40)])  # $5 a day, then $40
        >>> for a in detect_anomalies(log, by=None):  # by=None: the total only
        ...     print(a.message)
        total: hour 2026-11-09 12:00 cost $40.00, above mean $0.2083 + 3 sd ($3.21; 39.7 sigma)
        total: day 2026-11-09 cost $40.00, above mean $5.00 + 3 sd ($5.00; flat history)
        total: 2026-11-09 cost $40.00, 8.0x the 7-day average $5.00
        total: hour 2026-11-08 12:00 cost $5.00, above mean $0.2083 + 3 sd ($3.21; 4.8 sigma)
    """
    dims = parse_dimensions(by)
    alerts: list[Alert] = []
    with open_source(source, where=where, cache=cache, cache_dir=cache_dir, progress=progress) as ds:
        bounds = ds.time_bounds()
        if bounds is None:
            return []
        end = _as_datetime(as_of, "as_of") if as_of is not None else bounds[1]
        cover = bounds[0].replace(minute=0, second=0, microsecond=0)
        lo = max(cover, (end - lookback - timedelta(days=31)).replace(minute=0, second=0, microsecond=0))
        params = [lo.replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)]
        scopes = [("total", "'total'")] + [(d, f"CAST({dimension_sql(d)} AS VARCHAR)") for d in dims]
        for name, expr in scopes:
            rows = ds.sql(
                f"SELECT {expr}, date_trunc('hour', ts), COALESCE(sum(cost_usd), 0) FROM calls "
                "WHERE ts >= ? AND ts <= ? GROUP BY ALL",
                params,
            )
            hourly: dict[str, dict[datetime, Decimal]] = {}
            for k, h, v in rows:
                hourly.setdefault("(none)" if k is None else k, {})[h.replace(tzinfo=UTC)] = Decimal(v)
            for k, by_hour in hourly.items():
                label = "total" if name == "total" else f"{name}={k}"
                alerts.extend(
                    _scope_alerts(
                        label, by_hour, lo, end, lookback, sigma, spike_multiple, growth, min_usd, cover
                    )
                )
    rank = {"high": 0, "medium": 1}
    return sorted(
        alerts, key=lambda a: (rank.get(a.severity, 2), -a.period_start.timestamp(), a.scope, a.kind)
    )


def _scope_alerts(
    label: str,
    by_hour: Mapping[datetime, Decimal],
    lo: datetime,
    end: datetime,
    lookback: timedelta,
    sigma: Decimal,
    spike_multiple: Decimal,
    growth: Decimal,
    min_usd: Decimal,
    cover: datetime,
) -> list[Alert]:
    out: list[Alert] = []
    hours: list[datetime] = []
    h = lo
    while h <= end:
        hours.append(h)
        h += _HOUR
    hv = [by_hour.get(x, Decimal(0)) for x in hours]
    eval_from = next((i for i, x in enumerate(hours) if x >= end - lookback), len(hours))
    for i, mean, sd, thr in sigma_spikes(
        hv, window=720, min_history=168, evaluate_from=eval_from, sigma=sigma, min_usd=min_usd
    ):
        score = (hv[i] - mean) / sd if sd > 0 else None
        out.append(_sigma_alert("sigma_hour", "hour", label, hours[i], hv[i], mean, thr, score))
    # days
    day0 = lo.replace(hour=0) if lo.hour == 0 else (lo + _DAY).replace(hour=0)
    days: list[datetime] = []
    d = day0
    while d <= end:
        days.append(d)
        d += _DAY
    dv = [sum((by_hour.get(x + i * _HOUR, Decimal(0)) for i in range(24)), Decimal(0)) for x in days]
    day_eval = next((i for i, x in enumerate(days) if x + _DAY > end - lookback), len(days))
    for i, mean, sd, thr in sigma_spikes(
        dv, window=30, min_history=7, evaluate_from=day_eval, sigma=sigma, min_usd=min_usd
    ):
        score = (dv[i] - mean) / sd if sd > 0 else None
        out.append(_sigma_alert("sigma_day", "day", label, days[i], dv[i], mean, thr, score))
    for i, avg in spike_vs_average(dv, evaluate_from=day_eval, multiple=spike_multiple, min_usd=min_usd):
        mult = dv[i] / avg if avg > 0 else None
        times = f"{mult:.1f}x" if mult is not None else "up from $0"
        out.append(
            Alert(
                kind="spike_7d",
                severity="high",
                scope=label,
                period="day",
                period_start=days[i],
                actual_usd=_q(dv[i]),
                expected_usd=_q(avg),
                threshold_usd=_q(spike_multiple * avg),
                score=None if mult is None else _q(mult),
                message=f"{label}: {days[i].date()} cost {_m(dv[i])}, {times} the 7-day average {_m(avg)}",
            )
        )
    # week over week, on the 7 x 24 hours ending at ``end``
    if end - cover >= timedelta(days=14):
        this = sum((v for t, v in by_hour.items() if end - timedelta(days=7) < t <= end), Decimal(0))
        prev = sum(
            (v for t, v in by_hour.items() if end - timedelta(days=14) < t <= end - timedelta(days=7)),
            Decimal(0),
        )
        g = velocity(this, prev, growth=growth, min_usd=min_usd)
        if isinstance(g, Decimal) or g is None:
            pct = "new spend" if g is None else f"+{g * 100:.0f}%"
            out.append(
                Alert(
                    kind="velocity",
                    severity="medium",
                    scope=label,
                    period="week",
                    period_start=end - timedelta(days=7),
                    actual_usd=_q(this),
                    expected_usd=_q(prev),
                    threshold_usd=_q(prev * (1 + growth)),
                    score=None if g is None else _q(g),
                    message=f"{label}: last 7 days {_m(this)} vs {_m(prev)} the week before ({pct})",
                )
            )
    return out


def _sigma_alert(
    kind: str,
    period: str,
    label: str,
    start: datetime,
    value: Decimal,
    mean: Decimal,
    thr: Decimal,
    score: Decimal | None,
) -> Alert:
    when = start.strftime("%Y-%m-%d %H:00") if period == "hour" else start.date().isoformat()
    sig = f"{score:.1f} sigma" if score is not None else "flat history"
    return Alert(
        kind=kind,
        severity="high",
        scope=label,
        period=period,
        period_start=start,
        actual_usd=_q(value),
        expected_usd=_q(mean),
        threshold_usd=_q(thr),
        score=None if score is None else _q(score),
        message=f"{label}: {period} {when} cost {_m(value)}, above mean {_m(mean)} + 3 sd ({_m(thr)}; {sig})",
    )


def alerts_table(alerts: Sequence[Alert]) -> Table:
    """A renderable table of alerts."""
    cols = (
        Column("severity", "severity"),
        Column("kind", "kind"),
        Column("scope", "scope"),
        Column("period_start", "period start", "date"),
        Column("actual_usd", "actual", "money"),
        Column("expected_usd", "expected", "money"),
        Column("threshold_usd", "threshold", "money"),
        Column("score", "score", "num"),
        Column("message", "message"),
    )
    return Table(
        title=f"Alerts ({len(alerts)})",
        columns=cols,
        rows=tuple(a.as_dict() for a in alerts),
        notes=() if alerts else ("no anomaly",),
    )
