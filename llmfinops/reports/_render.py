"""Render any report result as a rich terminal table, JSON, CSV or Markdown.

Every result (report, forecast, alerts, estimates, what-if...) converts itself into a
:class:`Table`; the renderers only format values. Money stays Decimal until here: JSON
and CSV carry the exact decimal text (JSON as strings, so no parser turns it into a
float), the terminal and Markdown show rounded dollars.
"""

from __future__ import annotations

__all__ = [
    "FORMATS",
    "Column",
    "Table",
    "format_money",
    "format_value",
    "print_report",
    "print_table",
    "render",
]

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

FORMATS = ("table", "json", "csv", "md")


@dataclass(frozen=True, slots=True)
class Column:
    """One column: ``key`` into the row dicts, a ``header`` and a value ``kind``.

    ``kind`` is ``text``, ``int``, ``money``, ``pct`` (a ratio shown as a percentage),
    ``num``, ``date`` or ``bool``.
    """

    key: str
    header: str
    kind: str = "text"


@dataclass(frozen=True, slots=True)
class Table:
    """A titled table of rows (dicts keyed by column key) with an optional total row and notes."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    total: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    csv_total: bool = False
    """Append the total row to CSV output (for finance sheets that reconcile on it)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra JSON-only information (method, parameters)."""


def _plain_decimal(d: Decimal) -> str:
    if not d.is_finite():
        return str(d)
    if d == 0:
        return "0"
    return format(d.normalize(), "f")


def format_money(value: Decimal | None, *, signed: bool = False) -> str:
    """Dollars for humans: cents above $1, four significant digits below.

    Example:
        >>> format_money(Decimal("1234.5678")), format_money(Decimal("0.0045")), format_money(Decimal("-3"))
        ('$1,234.57', '$0.0045', '-$3.00')
    """
    if value is None:
        return "—"
    neg = value < 0
    v = -value if neg else value
    if v == 0:
        text = "$0.00"
    elif v >= 1:
        text = f"${v:,.2f}"
    elif v >= Decimal("0.01"):
        text = f"${v:.4f}".rstrip("0")
        if len(text.split(".")[1]) < 2:
            text = f"${v:.2f}"
    else:
        exp = v.adjusted()  # 4 significant digits
        text = f"${v:.{min(-exp + 3, 12)}f}".rstrip("0").rstrip(".")
    if neg:
        return "-" + text
    return ("+" + text) if signed and v > 0 else text


def format_value(value: Any, kind: str) -> str:
    """Format one value for the terminal or Markdown.

    Example:
        >>> format_value(Decimal("0.1234"), "pct"), format_value(1234567, "int")
        ('12.3%', '1,234,567')
    """
    if value is None or value == "":
        return "—" if value is None else ""
    if kind == "money" and isinstance(value, (Decimal, int)):
        return format_money(Decimal(value))
    if kind == "pct" and isinstance(value, (Decimal, float, int)):
        return f"{float(value) * 100:.1f}%"
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if kind == "num" and isinstance(value, (Decimal, float, int)):
        return f"{float(value):,.2f}" if abs(float(value)) < 1000 else f"{float(value):,.0f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _plain_decimal(value)
    return str(value)


_RATIO_Q = Decimal("0.000001")


def _rounded(value: Any, kind: str) -> Any:
    """Ratios (``pct``) and plain numbers are rounded to 6 decimals; money is never rounded."""
    if kind == "pct" and isinstance(value, Decimal):
        return value.quantize(_RATIO_Q)
    if kind in ("pct", "num") and isinstance(value, float):
        return round(value, 6)
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _plain_decimal(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return _plain_decimal(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def to_jsonable(table: Table) -> dict[str, Any]:
    """The JSON document of a table: money as exact decimal strings.

    Example:
        >>> t = Table("t", (Column("c", "c", "money"),), ({"c": Decimal("0.10")},))
        >>> to_jsonable(t)["rows"]
        [{'c': '0.1'}]
    """
    doc: dict[str, Any] = {
        "title": table.title,
        "columns": [{"key": c.key, "header": c.header, "kind": c.kind} for c in table.columns],
        "rows": [
            {c.key: _json_value(_rounded(r.get(c.key), c.kind)) for c in table.columns} for r in table.rows
        ],
    }
    if table.total is not None:
        doc["total"] = {c.key: _json_value(_rounded(table.total.get(c.key), c.kind)) for c in table.columns}
    doc["notes"] = list(table.notes)
    if table.meta:
        doc["meta"] = _json_value(table.meta)
    return doc


def render(tables: Table | Sequence[Table], fmt: str = "table", *, width: int = 160) -> str:
    """Render one or more tables as text.

    Args:
        tables: A :class:`Table` or several (JSON gives a list; CSV takes exactly one).
        fmt: ``table`` (rich, plain text), ``json``, ``csv`` or ``md``.
        width: Line width of the ``table`` format.

    Raises:
        ConfigurationError: Unknown format, or CSV asked for several tables.

    Example:
        >>> t = Table("Spend", (Column("team", "team"), Column("cost", "cost", "money")),
        ...           ({"team": "search", "cost": Decimal("12.5")},))
        >>> print(render(t, "csv").strip())
        team,cost
        search,12.5
    """
    from llmfinops.exceptions import ConfigurationError

    items = [tables] if isinstance(tables, Table) else list(tables)
    if fmt == "json":
        docs = [to_jsonable(t) for t in items]
        return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        if len(items) != 1:
            raise ConfigurationError(
                f"--format csv writes one table, but this output has {len(items)} "
                f"({', '.join(t.title for t in items)}); use --format json or md, or ask for one table"
            )
        return _csv(items[0])
    if fmt == "md":
        return "\n".join(_markdown(t) for t in items)
    if fmt == "table":
        from rich.console import Console

        buf = io.StringIO()
        console = Console(
            file=buf, width=width, color_system=None, force_terminal=False, legacy_windows=False
        )
        for t in items:
            print_table(t, console)
        return buf.getvalue()
    raise ConfigurationError(f"format={fmt!r} is not supported; use one of: {', '.join(FORMATS)}")


def _csv(table: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.key for c in table.columns])
    for r in table.rows:
        w.writerow([_csv_value(_rounded(r.get(c.key), c.kind)) for c in table.columns])
    if table.csv_total and table.total is not None:
        w.writerow([_csv_value(_rounded(table.total.get(c.key), c.kind)) for c in table.columns])
    return buf.getvalue()


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _markdown(table: Table) -> str:
    lines = [f"### {table.title}", ""]
    lines.append("| " + " | ".join(_md_escape(c.header) for c in table.columns) + " |")
    aligns = ["---:" if c.kind in ("int", "money", "pct", "num") else "---" for c in table.columns]
    lines.append("| " + " | ".join(aligns) + " |")
    lines.extend(
        "| " + " | ".join(_md_escape(format_value(r.get(c.key), c.kind)) for c in table.columns) + " |"
        for r in table.rows
    )
    if table.total is not None:
        cells = [format_value(table.total.get(c.key), c.kind) for c in table.columns]
        lines.append("| " + " | ".join(f"**{_md_escape(v)}**" if v else "" for v in cells) + " |")
    if table.notes:
        lines.append("")
        lines.extend(f"- {_md_escape(n)}" for n in table.notes)
    return "\n".join(lines) + "\n"


def print_table(table: Table, console: Console | None = None) -> None:
    """Print a table to a rich console (stdout by default), with its total row and notes.

    Example:
        >>> from rich.console import Console
        >>> from llmfinops.reports import summarize, print_table
        >>> from llmfinops.testing import make_record, write_records
        >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])
        >>> table = summarize(log, by="team").to_table(columns=["calls", "cost_usd", "share"])
        >>> plain = Console(force_terminal=False)  # stdout without colour codes
        >>> print_table(table, plain)  # doctest: +NORMALIZE_WHITESPACE
        LLM spend by team
        ┏━━━━━━━━┳━━━━━━━┳━━━━━━━━━┳━━━━━━━━┓
        ┃ team   ┃ calls ┃    cost ┃  share ┃
        ┡━━━━━━━━╇━━━━━━━╇━━━━━━━━━╇━━━━━━━━┩
        │ search │     2 │  $0.009 │  66.7% │
        │ ads    │     1 │ $0.0045 │  33.3% │
        ├────────┼───────┼─────────┼────────┤
        │ TOTAL  │     3 │ $0.0135 │ 100.0% │
        └────────┴───────┴─────────┴────────┘
    """
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table as RichTable

    console = console or Console()
    rt = RichTable(title=table.title, show_footer=False, header_style="bold", title_justify="left")
    cells = [[format_value(r.get(c.key), c.kind) for c in table.columns] for r in table.rows]
    total = (
        [format_value(table.total.get(c.key), c.kind) for c in table.columns]
        if table.total is not None
        else None
    )
    for i, c in enumerate(table.columns):
        right = c.kind in ("int", "money", "pct", "num")
        longest = max([len(row[i]) for row in cells] + ([len(total[i])] if total else []) + [1])
        word = max((len(w) for w in c.header.split()), default=1)
        # values never shrink (headers wrap instead); free text (messages) may wrap
        rt.add_column(
            c.header,
            justify="right" if right else "left",
            min_width=max(word, min(longest, 40)),
            overflow="fold",
        )
    for row in cells:
        rt.add_row(*row)
    if total is not None:
        rt.add_section()
        rt.add_row(*total, style="bold")
    if not console.is_terminal:  # files and pipes: as wide as the table, never cropped
        need = Measurement.get(console, console.options.update_width(100_000), rt).maximum
        if need > console.width:
            console.width = need
    console.print(rt)
    for n in table.notes:
        console.print(f"note: {n}", style="dim", highlight=False, soft_wrap=True)


def print_report(
    report: Any,
    console: Console | None = None,
    *,
    columns: Sequence[str] | None = None,
    wide: bool = False,
    top: int | None = None,
) -> None:
    """Print a :class:`~llmfinops.reports.Report` (or anything with ``to_table()``) as a rich table.

    Args:
        report: The result to print (``Report``, ``WhatIf``, ``Chargeback``, ``Projection``...).
        console: A rich console (default: stdout; wide enough not to squeeze columns when piped).
        columns: Report columns to show (reports only).
        wide: Show every column (reports only).
        top: Fold all but the ``top`` costliest rows into ``(other)`` (reports only).

    Example:
        >>> from rich.console import Console
        >>> from llmfinops.reports import summarize, print_report
        >>> from llmfinops.testing import make_record, write_records
        >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])
        >>> report = summarize(log, by=("team", "model"))
        >>> plain = Console(force_terminal=False)  # stdout without colour codes
        >>> print_report(report, plain, columns=["calls", "cost_usd"])  # doctest: +NORMALIZE_WHITESPACE
        LLM spend by team, model
        ┏━━━━━━━━┳━━━━━━━━┳━━━━━━━┳━━━━━━━━━┓
        ┃ team   ┃ model  ┃ calls ┃    cost ┃
        ┡━━━━━━━━╇━━━━━━━━╇━━━━━━━╇━━━━━━━━━┩
        │ search │ gpt-4o │     2 │  $0.009 │
        │ ads    │ gpt-4o │     1 │ $0.0045 │
        ├────────┼────────┼───────┼─────────┤
        │ TOTAL  │        │     3 │ $0.0135 │
        └────────┴────────┴───────┴─────────┘
    """
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 200))
    if columns is not None or wide or top is not None:
        table = report.to_table(columns=columns, wide=wide, top=top)
    else:
        table = report.to_table()
    print_table(table, console)
