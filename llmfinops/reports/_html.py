"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network)."""

from __future__ import annotations

__all__ = ["html_report", "write_html"]

import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from llmfinops.pricing import PriceTable

from ._aggregate import Source, open_source, summarize
from ._anomaly import alerts_table, detect_anomalies
from ._budgets import Budget, budget_status, budgets_table
from ._chargeback import chargeback
from ._forecast import Forecast, forecast_month, forecasts_table
from ._load import Dataset, TimeLike
from ._progress import Progress
from ._render import Table, format_money, format_value
from ._schema import dimension_sql
from ._svg import PALETTE, forecast_chart, hbar_chart, legend, stacked_bars

_CSS = """
*{box-sizing:border-box}body{margin:0;background:#f3f4f6;color:#111827;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:0 0 10px}
.sub{color:#6b7280;margin-bottom:18px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin-bottom:18px}
.card,.panel{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:14px 16px}
.panel{margin-bottom:18px}.k{color:#6b7280;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.v{font-size:22px;font-weight:650;margin-top:2px}.s{color:#6b7280;font-size:12px}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;margin:6px 0 2px;font-size:12px;color:#374151}
.lg i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{padding:4px 6px;border-bottom:1px solid #f0f1f3;text-align:left;white-space:nowrap}
th{color:#374151;font-weight:600;background:#f9fafb}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:650;border-top:2px solid #d1d5db}
td.wrap{white-space:normal;min-width:320px}.scroll{overflow-x:auto}
.note{color:#6b7280;font-size:12px;margin:6px 0 0}
.sev-high{color:#b91c1c;font-weight:600}.sev-medium{color:#b45309;font-weight:600}
.st-over{color:#b91c1c;font-weight:600}.st-forecast_over,.st-warn{color:#b45309;font-weight:600}.st-ok{color:#047857}
footer{color:#6b7280;font-size:12px;margin-top:8px}
"""
_NUMERIC = ("int", "money", "pct", "num")
_SPLIT = ("input", "cached input", "cache write", "output", "cache storage")


def _html_table(table: Table, *, limit: int | None = None) -> str:
    head = "".join(
        f'<th class="{"n" if c.kind in _NUMERIC else ""}">{escape(c.header)}</th>' for c in table.columns
    )
    rows = table.rows if limit is None else table.rows[:limit]
    body = []
    for r in rows:
        cells = []
        for c in table.columns:
            text = format_value(r.get(c.key), c.kind)
            cls = "n" if c.kind in _NUMERIC else ""
            if c.key == "message":
                cls = "wrap"
            if c.key in ("severity", "status"):
                cls = f"{'sev' if c.key == 'severity' else 'st'}-{r.get(c.key)}"
            cells.append(f'<td class="{cls}">{escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    if table.total is not None:
        cells = [
            f'<td class="{"n" if c.kind in _NUMERIC else ""}">'
            f"{escape(format_value(table.total.get(c.key), c.kind))}</td>"
            for c in table.columns
        ]
        body.append('<tr class="total">' + "".join(cells) + "</tr>")
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in table.notes)
    more = (
        f'<p class="note">showing {limit} of {len(table.rows)} rows</p>'
        if limit is not None and len(table.rows) > limit
        else ""
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
        f"</table></div>{notes}{more}"
    )


def _panel(title: str, inner: str) -> str:
    anchor = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f'<section class="panel" id="{anchor}"><h2>{escape(title)}</h2>{inner}</section>'


def _card(k: str, v: str, s: str = "") -> str:
    return (
        f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{escape(v)}</div>'
        f'<div class="s">{escape(s)}</div></div>'
    )


def _daily_by(ds: Dataset, dim: str) -> list[tuple[date, Any, Decimal]]:
    """Known cost per (UTC day, value of ``dim``): all the charts need, in one light query."""
    rows = ds.sql(
        f"SELECT CAST(ts AS DATE), {dimension_sql(dim)}, COALESCE(sum(cost_usd), 0) FROM calls GROUP BY ALL"
    )
    return [(d, k, Decimal(v)) for d, k, v in rows]


def _series(
    rows: Sequence[tuple[date, Any, Decimal]], days: list[date], top: int = 8
) -> list[tuple[str, list[Decimal]]]:
    """Costs keyed (day, name) -> the ``top`` names by cost, the rest as "other"."""
    per: dict[str, dict[date, Decimal]] = {}
    for d, name, cost in rows:
        label = "(none)" if name is None else str(name)
        per.setdefault(label, {})[d] = per.get(label, {}).get(d, Decimal(0)) + cost
    ranked = sorted(per, key=lambda n: -sum(per[n].values()))
    out = [(n, [per[n].get(d, Decimal(0)) for d in days]) for n in ranked[:top]]
    if len(ranked) > top:
        rest = [sum((per[n].get(d, Decimal(0)) for n in ranked[top:]), Decimal(0)) for d in days]
        out.append(("other", rest))
    return out


def _forecast_panel(f: Forecast, daily: Mapping[date, Decimal], budget: Decimal | None) -> str:
    cum: list[tuple[int, Decimal]] = []
    acc = Decimal(0)
    d = f.month
    while d < f.as_of.date():
        acc += daily.get(d, Decimal(0))
        cum.append((d.day, acc))
        d += timedelta(days=1)
    chart = forecast_chart(
        f.days_in_month,
        cum,
        float(f.elapsed_days),
        f.month_to_date_usd,
        f.forecast_usd,
        f.low_usd,
        f.high_usd,
        budget=budget,
        label="month-end forecast",
    )
    text = (
        f"Month to date {format_money(f.month_to_date_usd)} after {float(f.elapsed_days):.1f} days; "
        f"forecast {format_money(f.forecast_usd)} ({f.method}), 95% band {format_money(f.low_usd)} to "
        f"{format_money(f.high_usd)}; linear {format_money(f.linear_usd)}."
    )
    return chart + f'<p class="note">{escape(text)}</p>' + _html_table(forecasts_table([f]))


def html_report(
    source: Source,
    *,
    title: str = "LLM spend report",
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    where: Mapping[str, str | Sequence[str]] | None = None,
    budgets: Sequence[Budget] = (),
    shared_cost_usd: Decimal | None = None,
    price_table: PriceTable | None = None,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    generated_at: datetime | None = None,
) -> str:
    """Build the HTML report as one string.

    Sections: headline figures, spend over time by team and by model, cost split, cache
    savings, month-end forecast with its band, alerts, budgets (when given), chargeback
    (when a shared cost is given) and the team/model/feature tables.

    Example:
        >>> from llmfinops.testing import make_record, write_records
        >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])
        >>> html = html_report(log, title="November spend")
        >>> html.startswith("<!doctype html>"), "<h1>November spend</h1>" in html
        (True, True)
    """
    with open_source(
        source, since=since, until=until, where=where, cache=cache, cache_dir=cache_dir, progress=progress
    ) as ds:
        by_team = summarize(ds, ("team",), price_table=price_table)
        by_model = summarize(ds, ("model",), price_table=price_table)
        by_feature = summarize(ds, ("feature",), price_table=price_table)
        day_team = _daily_by(ds, "team")
        day_model = _daily_by(ds, "model")
        forecasts = forecast_month(ds)
        alerts = detect_anomalies(ds, by=("team", "model"))
        statuses = budget_status(ds, budgets) if budgets else []
        cb = chargeback(ds, shared_cost_usd=shared_cost_usd) if shared_cost_usd is not None else None
    total = by_team.total
    now = generated_at or datetime.now(UTC)
    parts: list[str] = [f"<h1>{escape(title)}</h1>"]
    if by_team.first_call is None:
        parts.append('<p class="sub">No calls in the selected logs.</p>')
        return _page(title, "".join(parts), now)
    first, last = by_team.first_call, by_team.last_call
    assert last is not None
    parts.append(
        f'<p class="sub">{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC · {total.calls:,} calls · '
        f"prices as of {escape(by_team.price_table_as_of)} · generated {now:%Y-%m-%d %H:%M} UTC</p>"
    )
    fc = forecasts[0] if forecasts else None
    cards = [
        _card(
            "Spend",
            format_money(total.cost_usd),
            f"{total.unknown_cost_calls:,} calls with unknown cost"
            if total.unknown_cost_calls
            else "all calls priced",
        ),
        _card("Calls", f"{total.calls:,}", f"{format_money(total.cost_per_call)} per call"),
        _card(
            "Cache hit rate",
            format_value(total.cache_hit_rate, "pct"),
            f"{format_money(total.cache_savings_usd)} saved by caching",
        ),
        _card("Errors", f"{total.error_calls:,}", f"{format_money(total.error_cost_usd)} spent on errors"),
    ]
    if fc is not None:
        cards.append(
            _card(
                f"Forecast {fc.month:%B}",
                format_money(fc.forecast_usd),
                f"95%: {format_money(fc.low_usd)} to {format_money(fc.high_usd)}",
            )
        )
    cards.append(_card("Alerts", str(len(alerts)), "anomalies and velocity"))
    parts.append(f'<div class="cards">{"".join(cards)}</div>')
    assert first is not None
    days = [first.date() + timedelta(days=i) for i in range((last.date() - first.date()).days + 1)]
    for label, rep in (("team", day_team), ("model", day_model)):
        series = _series(rep, days)
        chart = stacked_bars(days, series, label=f"daily spend by {label}")
        parts.append(_panel(f"Spend over time by {label}", legend([s[0] for s in series], PALETTE) + chart))
    split_items = [
        (
            "all calls",
            [
                total.input_cost_usd,
                total.cached_input_cost_usd,
                total.cache_write_cost_usd,
                total.output_cost_usd,
                total.cache_storage_cost_usd,
            ],
        )
    ]
    split_items += [
        (
            "(none)" if r.key[0] is None else str(r.key[0]),
            [
                r.input_cost_usd,
                r.cached_input_cost_usd,
                r.cache_write_cost_usd,
                r.output_cost_usd,
                r.cache_storage_cost_usd,
            ],
        )
        for r in sorted(by_model.rows, key=lambda r: -r.cost_usd)[:10]
    ]
    parts.append(
        _panel("Cost split", legend(_SPLIT, PALETTE) + hbar_chart(split_items, _SPLIT, label="cost split"))
    )
    savings = [
        ("(none)" if r.key[0] is None else str(r.key[0]), [r.cached_input_cost_usd, r.cache_savings_usd])
        for r in sorted(by_model.rows, key=lambda r: -r.cache_savings_usd)[:10]
        if r.cached_input_tokens
    ]
    names = ("paid for cached tokens", "saved by caching")
    inner = (
        legend(names, PALETTE)
        + hbar_chart(
            savings,
            names,
            label="cache savings",
            value_labels=[f"saved {format_money(v[1])}" for _, v in savings],
        )
        if savings
        else '<p class="note">No cached input tokens in these calls.</p>'
    )
    inner += (
        '<p class="note">Saved = cached tokens at the uncached input price minus their cache-read price, '
        "from the price table in force on each call's day.</p>"
    )
    parts.append(_panel("Cache savings by model", inner))
    if fc is not None:
        daily = _daily(day_team)
        month_budget = next(
            (s.budget.limit_usd for s in statuses if s.budget.key == "total" and s.budget.window == "month"),
            None,
        )
        parts.append(_panel("Month-end forecast", _forecast_panel(fc, daily, month_budget)))
    parts.append(_panel("Alerts", _html_table(alerts_table(alerts), limit=50)))
    if statuses:
        parts.append(_panel("Budget vs actual", _html_table(budgets_table(statuses))))
    if cb is not None:
        parts.append(_panel("Chargeback", _html_table(cb.to_table())))
    for label, report in (("team", by_team), ("model", by_model), ("feature", by_feature)):
        parts.append(_panel(f"By {label}", _html_table(report.to_table(top=25))))
    return _page(title, "".join(parts), now)


def _daily(rows: Sequence[tuple[date, Any, Decimal]]) -> dict[date, Decimal]:
    out: dict[date, Decimal] = {}
    for d, _, cost in rows:
        out[d] = out.get(d, Decimal(0)) + cost
    return out


def _page(title: str, body: str, now: datetime) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><main>{body}"
        f"<footer>llmfinops report · {now:%Y-%m-%d %H:%M} UTC · money from the logged cost of each call; "
        "see docs/reports.md for every method.</footer></main></body></html>\n"
    )


def write_html(source: Source, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write :func:`html_report` of ``source`` to ``path`` (one self-contained file) and return the path.

    Args:
        source: An open :class:`Dataset`, or JSONL/SQLite paths, directories or globs.
        path: The HTML file to write (parent directories are created).
        **kwargs: Options of :func:`html_report` (``title``, ``since``, ``budgets``, ``shared_cost_usd``...).

    Example:
        >>> from llmfinops.testing import make_record, write_records
        >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])
        >>> out = write_html(log, log.parent / "report.html")
        >>> out.name, out.read_text(encoding="utf-8").startswith("<!doctype html>")
        ('report.html', True)
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(html_report(source, **kwargs), encoding="utf-8")
    return p
