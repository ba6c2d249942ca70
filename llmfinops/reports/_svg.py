"""Small, dependency-free SVG charts for the HTML report (inline, no script, no network).

Values arrive as Decimal and become floats here, at rendering. Every mark carries a
``<title>`` so hovering shows the exact figure.
"""

from __future__ import annotations

__all__ = ["PALETTE", "forecast_chart", "hbar_chart", "legend", "nice_ticks", "short_money", "stacked_bars"]

import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from html import escape

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def nice_ticks(top: float, n: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least ``top``.

    Example:
        >>> nice_ticks(87)
        [0, 20, 40, 60, 80, 100]
    """
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def short_money(v: float) -> str:
    """Compact dollars for axes: ``$1.2k``, ``$3.4M``, ``$0.05``.

    Example:
        >>> short_money(1234.0), short_money(0.05), short_money(2500000.0)
        ('$1.2k', '$0.05', '$2.5M')
    """
    a = abs(v)
    if a >= 1e6:
        return f"${v / 1e6:.1f}M"
    if a >= 1e3:
        return f"${v / 1e3:.1f}k"
    if a >= 1 or a == 0:
        return f"${v:,.0f}" if a >= 10 or a == 0 else f"${v:.1f}"
    return f"${v:.2g}"


def legend(names: Sequence[str], colors: Sequence[str]) -> str:
    """An HTML legend (wraps with the page, unlike SVG text)."""
    items = "".join(
        f'<span class="lg"><i style="background:{c}"></i>{escape(n)}</span>'
        for n, c in zip(names, colors, strict=False)
    )
    return f'<div class="legend">{items}</div>'


def _frame(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" {_FONT} font-size="12">{body}</svg>'
    )


def _y_axis(ticks: Sequence[float], x0: int, x1: int, y_of: object, fmt: object = short_money) -> str:
    out = []
    for t in ticks:
        y = y_of(t)  # type: ignore[operator]
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#6b7280">{fmt(t)}</text>')  # type: ignore[operator]
    return "".join(out)


def stacked_bars(
    days: Sequence[date],
    series: Sequence[tuple[str, Sequence[Decimal]]],
    *,
    width: int = 1000,
    height: int = 300,
    label: str = "spend over time",
) -> str:
    """Stacked daily bars, one colour per series (``[(name, values per day), ...]``)."""
    left, right, top, bottom = 64, 12, 12, 36
    pw, ph = width - left - right, height - top - bottom
    totals = [float(sum((s[1][i] for s in series), Decimal(0))) for i in range(len(days))]
    ticks = nice_ticks(max(totals, default=0.0))
    ymax = ticks[-1] or 1.0

    def y_of(v: float) -> float:
        return top + ph - v / ymax * ph

    parts = [_y_axis(ticks, left, width - right, y_of)]
    n = max(len(days), 1)
    bw = pw / n
    gap = min(2.0, bw * 0.15)
    for i, d in enumerate(days):
        x = left + i * bw + gap / 2
        acc = 0.0
        for j, (name, values) in enumerate(series):
            v = float(values[i])
            if v <= 0:
                continue
            y1, y0 = y_of(acc + v), y_of(acc)
            acc += v
            parts.append(
                f'<rect x="{x:.1f}" y="{y1:.1f}" width="{max(bw - gap, 0.5):.1f}" '
                f'height="{max(y0 - y1, 0.3):.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(name)} {d.isoformat()}: '
                f"${values[i]:,.4f}</title></rect>"
            )
    step = max(1, math.ceil(n / 12))
    for i in range(0, len(days), step):
        x = left + i * bw + bw / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - 14}" text-anchor="middle" fill="#6b7280">'
            f"{days[i].strftime('%b %d')}</text>"
        )
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + ph}" y2="{top + ph}" stroke="#9ca3af"/>')
    return _frame(width, height, "".join(parts), label)


def hbar_chart(
    items: Sequence[tuple[str, Sequence[Decimal]]],
    part_names: Sequence[str],
    *,
    width: int = 1000,
    label: str = "breakdown",
    bar: int = 22,
    value_labels: Sequence[str] | None = None,
) -> str:
    """Horizontal stacked bars: one row per item, one segment per part (``[(name, parts), ...]``)."""
    left, right, top = 220, 90, 8
    height = top * 2 + len(items) * (bar + 10) + 20
    pw = width - left - right
    totals = [float(sum(p, Decimal(0))) for _, p in items]
    ticks = nice_ticks(max(totals, default=0.0), 4)
    xmax = ticks[-1] or 1.0
    parts = []
    for t in ticks:
        x = left + t / xmax * pw
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - 20}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="#6b7280">{short_money(t)}</text>'
        )
    for i, (name, values) in enumerate(items):
        y = top + i * (bar + 10)
        short = name if len(name) <= 32 else name[:31] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end" fill="#111827">'
            f"{escape(short)}</text>"
        )
        acc = 0.0
        for j, v in enumerate(values):
            fv = float(v)
            if fv <= 0:
                continue
            x = left + acc / xmax * pw
            w = fv / xmax * pw
            acc += fv
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{max(w, 0.5):.1f}" height="{bar}" '
                f'fill="{PALETTE[j % len(PALETTE)]}">'
                f"<title>{escape(name)} — {escape(part_names[j])}: ${v:,.4f}</title></rect>"
            )
        parts.append(
            f'<text x="{left + acc / xmax * pw + 6:.1f}" y="{y + bar * 0.7:.1f}" fill="#374151">'
            f"{escape(value_labels[i]) if value_labels else short_money(totals[i])}</text>"
        )
    return _frame(width, height, "".join(parts), label)


def forecast_chart(
    days_in_month: int,
    cumulative: Sequence[tuple[int, Decimal]],
    as_of_day: float,
    mtd: Decimal,
    forecast: Decimal,
    low: Decimal,
    high: Decimal,
    *,
    budget: Decimal | None = None,
    width: int = 1000,
    height: int = 300,
    label: str = "month-end forecast",
) -> str:
    """Cumulative month-to-date spend, the projection to month end and its band (and a budget line)."""
    left, right, top, bottom = 64, 130, 12, 36
    pw, ph = width - left - right, height - top - bottom
    peak = max(float(high), float(forecast), float(budget or 0), *(float(v) for _, v in cumulative), 0.0)
    ticks = nice_ticks(peak)
    ymax = ticks[-1] or 1.0

    def x_of(day: float) -> float:
        return left + day / days_in_month * pw

    def y_of(v: float) -> float:
        return top + ph - v / ymax * ph

    parts = [_y_axis(ticks, left, width - right, y_of)]
    ax, ay = x_of(as_of_day), y_of(float(mtd))
    ex = x_of(days_in_month)
    parts.append(
        f'<polygon points="{ax:.1f},{ay:.1f} {ex:.1f},{y_of(float(high)):.1f} '
        f'{ex:.1f},{y_of(float(low)):.1f}" '
        f'fill="#4e79a7" fill-opacity="0.18"><title>95% band: ${low:,.2f} to ${high:,.2f}</title></polygon>'
    )
    pts = " ".join(f"{x_of(d):.1f},{y_of(float(v)):.1f}" for d, v in [(0, Decimal(0)), *cumulative])
    parts.append(
        f'<polyline points="{pts} {ax:.1f},{ay:.1f}" fill="none" stroke="#4e79a7" stroke-width="2.5"/>'
    )
    parts.append(
        f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{ex:.1f}" y2="{y_of(float(forecast)):.1f}" stroke="#4e79a7" '
        f'stroke-width="2" stroke-dasharray="6 4"><title>forecast ${forecast:,.2f}</title></line>'
    )
    parts.append(f'<circle cx="{ex:.1f}" cy="{y_of(float(forecast)):.1f}" r="4" fill="#4e79a7"/>')
    parts.append(
        f'<text x="{ex + 8:.1f}" y="{y_of(float(forecast)) + 4:.1f}" fill="#111827">'
        f"forecast {short_money(float(forecast))}</text>"
    )
    if budget is not None:
        by = y_of(float(budget))
        parts.append(
            f'<line x1="{left}" x2="{ex:.1f}" y1="{by:.1f}" y2="{by:.1f}" stroke="#e15759" '
            f'stroke-dasharray="3 3"/>'
        )
        parts.append(
            f'<text x="{ex + 8:.1f}" y="{by + 4:.1f}" fill="#e15759">'
            f"budget {short_money(float(budget))}</text>"
        )
    parts.extend(
        f'<text x="{x_of(d - 0.5):.1f}" y="{height - 14}" text-anchor="middle" fill="#6b7280">{d}</text>'
        for d in range(1, days_in_month + 1, max(1, days_in_month // 10))
    )
    parts.append(f'<line x1="{left}" x2="{ex:.1f}" y1="{top + ph}" y2="{top + ph}" stroke="#9ca3af"/>')
    return _frame(width, height, "".join(parts), label)
