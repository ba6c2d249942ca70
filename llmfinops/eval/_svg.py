"""A dependency-free SVG of a cost/accuracy curve (deterministic output, for docs and CI artifacts)."""

from __future__ import annotations

__all__ = ["curve_svg"]

from collections.abc import Sequence
from xml.sax.saxutils import escape

_COLORS = ("#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / n
    return [lo + i * step for i in range(n + 1)]


def curve_svg(
    points: Sequence[tuple[float, float, str]],
    marks: Sequence[tuple[float, float, str]],
    *,
    title: str,
    width: int = 640,
    height: int = 400,
) -> str:
    """Plot ``points`` (a line, e.g. a threshold sweep) and ``marks`` (labelled baselines).

    Each item is ``(cost per 1k queries, accuracy 0-1, label)``.

    Example:
        >>> svg = curve_svg([(0.5, 0.9, "t=0.5")], [(2.0, 0.95, "always strong")], title="demo")
        >>> svg.startswith("<svg") and "always strong" in svg
        True
    """
    left, right, top, bottom = 70, 20, 40, 50
    pw, ph = width - left - right, height - top - bottom
    xs = [p[0] for p in (*points, *marks)] or [0.0]
    ys = [p[1] for p in (*points, *marks)] or [0.0]
    x_hi = max(xs) * 1.08 or 1.0
    y_lo = max(0.0, min(ys) - 0.05)
    y_hi = min(1.0, max(ys) + 0.03)
    if y_hi <= y_lo:
        y_hi = y_lo + 0.1

    def sx(x: float) -> float:
        return round(left + pw * (x / x_hi), 2)

    def sy(y: float) -> float:
        return round(top + ph * (1 - (y - y_lo) / (y_hi - y_lo)), 2)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>',
    ]
    for t in _ticks(0.0, x_hi):
        out.append(f'<line x1="{sx(t)}" y1="{top + ph}" x2="{sx(t)}" y2="{top + ph + 4}" stroke="black"/>')
        out.append(f'<text x="{sx(t)}" y="{top + ph + 16}" text-anchor="middle">{t:.2f}</text>')
    for t in _ticks(y_lo, y_hi):
        out.append(f'<line x1="{left - 4}" y1="{sy(t)}" x2="{left}" y2="{sy(t)}" stroke="black"/>')
        out.append(f'<text x="{left - 6}" y="{sy(t) + 4}" text-anchor="end">{t * 100:.0f}%</text>')
    out.append(
        f'<text x="{left + pw / 2}" y="{height - 10}" text-anchor="middle">'
        "cost per 1,000 queries (USD)</text>"
    )
    out.append(
        f'<text x="16" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 {top + ph / 2})">'
        "accuracy</text>"
    )
    ordered = sorted(points)
    if len(ordered) > 1:
        path = " ".join(f"{sx(x)},{sy(y)}" for x, y, _ in ordered)
        out.append(f'<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    for x, y, label in ordered:
        out.append(
            f'<circle cx="{sx(x)}" cy="{sy(y)}" r="3.5" fill="#1f77b4">'
            f"<title>{escape(label)}</title></circle>"
        )
        out.append(
            f'<text x="{sx(x) + 5}" y="{sy(y) - 5}" fill="#1f77b4" font-size="9">{escape(label)}</text>'
        )
    for i, (x, y, label) in enumerate(marks):
        color = _COLORS[i % len(_COLORS)]
        out.append(
            f'<rect x="{sx(x) - 5}" y="{sy(y) - 5}" width="10" height="10" fill="{color}">'
            f"<title>{escape(label)}</title></rect>"
        )
        out.append(
            f'<text x="{sx(x) - 8}" y="{sy(y) + 18}" fill="{color}" text-anchor="end">{escape(label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
