"""Pieces every ``llmfinops`` subcommand shares: option values, input and output options, rendering.

Parsers of option values (money, durations, token counts, ``DIM=VALUE`` filters), the log
selection and output options, opening the selected logs and writing tables in the chosen format.
"""

from __future__ import annotations

__all__ = [
    "EXIT_ALERT",
    "EXIT_OK",
    "EXIT_USAGE",
    "_add_input",
    "_add_output",
    "_decimal",
    "_duration",
    "_emit",
    "_open",
    "_price_table",
    "_selection",
    "_tokens",
    "_where",
]

import argparse
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .pricing import PriceTable
    from .reports import Table

EXIT_OK, EXIT_ALERT, EXIT_USAGE = 0, 1, 2
_DURATION = re.compile(r"^(\d+)([hdw])$")


def _decimal(flag: str, text: str) -> Decimal:
    try:
        d = Decimal(text.replace(",", "").replace("_", "").lstrip("$"))
    except InvalidOperation:
        raise ConfigurationError(f"{flag}={text!r} is not a number; write e.g. {flag} 50000") from None
    if not d.is_finite():
        raise ConfigurationError(f"{flag}={text!r} is not a finite number")
    return d


def _duration(flag: str, text: str) -> timedelta:
    m = _DURATION.match(text.strip())
    if not m:
        raise ConfigurationError(f"{flag}={text!r} is not a duration; use e.g. 24h, 7d or 2w")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(hours=n) if unit == "h" else timedelta(days=n * (7 if unit == "w" else 1))


def _tokens(flag: str, text: str) -> int:
    t = text.strip().lower().replace("_", "").replace(",", "")
    mult = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000}.get(t[-1:], 1)
    try:
        v = Decimal(t[:-1] if mult != 1 else t) * mult
    except InvalidOperation:
        raise ConfigurationError(f"{flag}={text!r} is not a count; write e.g. 500000, 500k or 2B") from None
    if v < 0 or v != v.to_integral_value():
        raise ConfigurationError(f"{flag}={text!r} must be a whole, non-negative number")
    return int(v)


def _where(items: Sequence[str] | None, flag: str = "--where") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items or ():
        dim, sep, value = item.partition("=")
        if not sep or not dim.strip():
            raise ConfigurationError(f"{flag} {item!r}: use DIMENSION=VALUE, e.g. {flag} team=search")
        out.setdefault(dim.strip(), []).append(value.strip())
    return out


def _price_table(path: str | None) -> PriceTable:
    from .pricing import default_price_table

    table = default_price_table()
    return table.with_overrides(file=path) if path else table


# -- shared options --------------------------------------------------------------------------------


def _add_input(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        help="JSONL/SQLite logs, directories or globs (default: $LLMFINOPS_JSONL or ./llmfinops_calls.jsonl)",
    )
    g = p.add_argument_group("selection")
    g.add_argument("--since", help="first instant (ISO date/time, UTC)")
    g.add_argument("--until", help="end instant, exclusive (ISO date/time, UTC)")
    g.add_argument("--month", help="one calendar month, YYYY-MM (UTC)")
    g.add_argument("--last", help="only the last N hours/days/weeks before now, e.g. 30d")
    g.add_argument(
        "--where",
        action="append",
        metavar="DIM=VALUE",
        help="keep calls whose dimension has this value (repeat; same DIM = any of)",
    )
    g.add_argument("--price-table", metavar="FILE", help="price overrides file merged onto the bundled table")
    c = p.add_argument_group("cache")
    c.add_argument(
        "--cache",
        dest="cache",
        action="store_true",
        default=None,
        help="always use the Parquet cache (default: for inputs of 64 MiB or more)",
    )
    c.add_argument("--no-cache", dest="cache", action="store_false", help="never use the Parquet cache")
    c.add_argument("--cache-dir", help="cache location (default: $LLMFINOPS_CACHE_DIR or ~/.cache/llmfinops)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_output(p: argparse.ArgumentParser) -> None:
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=("table", "json", "csv", "md"), default="table")
    o.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def _selection(ns: argparse.Namespace) -> dict[str, Any]:
    from .reports._load import month_bounds

    since, until = ns.since, ns.until
    if ns.month:
        if since or until:
            raise ConfigurationError("--month cannot be combined with --since/--until; use one or the other")
        since, until = month_bounds(ns.month)
    if ns.last:
        if since:
            raise ConfigurationError("--last cannot be combined with --since/--month")
        since = datetime.now(UTC) - _duration("--last", ns.last)
    paths = ns.paths or [os.environ.get("LLMFINOPS_JSONL") or "llmfinops_calls.jsonl"]
    return {"paths": paths, "since": since, "until": until, "where": _where(ns.where)}


def _open(ns: argparse.Namespace) -> Any:
    from .reports import open_dataset
    from .reports._progress import make_progress

    sel = _selection(ns)
    return open_dataset(
        sel["paths"],
        since=sel["since"],
        until=sel["until"],
        where=sel["where"],
        cache=ns.cache,
        cache_dir=ns.cache_dir,
        progress=make_progress(False if ns.quiet else None),
    )


def _emit(ns: argparse.Namespace, tables: Table | Sequence[Table]) -> None:
    from .reports import Table, render
    from .reports._render import print_table

    items: list[Table] = [tables] if isinstance(tables, Table) else list(tables)
    if ns.format == "table" and not ns.output:
        from rich.console import Console

        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 200))  # pipes and files: do not squeeze columns
        for t in items:
            print_table(t, console)
        return
    text = render(items, ns.format)
    if ns.output:
        with open(ns.output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
