"""The ``llmfinops`` command: reports, alerts, forecasts, estimates and what-ifs over call logs.

Example:
    $ llmfinops report logs/*.jsonl --by team,model --month 2026-11
    $ llmfinops alerts logs/ --fail-on-alert
    $ llmfinops whatif logs/ --model claude-haiku-4-5 --by feature --month 2026-10

Run ``llmfinops <command> --help`` for the options, and see ``docs/cli.md``.
"""

from __future__ import annotations

__all__ = ["main"]

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


# -- commands --------------------------------------------------------------------------------------


def _cmd_report(ns: argparse.Namespace) -> int:
    from .reports import budget_status, chargeback, load_budgets, summarize, write_html
    from .reports._budgets import budgets_table

    if ns.chargeback and ns.budgets:
        raise ConfigurationError("--chargeback and --budgets are separate views; run them one at a time")
    table = _price_table(ns.price_table)
    budgets = load_budgets(ns.budgets) if ns.budgets else []
    shared = _decimal("--shared-cost", ns.shared_cost) if ns.shared_cost is not None else None
    with _open(ns) as ds:
        if ns.chargeback:
            out = chargeback(ds, by=ns.by or "team", shared_cost_usd=shared or 0, basis=ns.basis).to_table()
        elif budgets:
            out = budgets_table(budget_status(ds, budgets, as_of=ns.as_of))
        else:
            rep = summarize(ds, by=ns.by if ns.by is not None else "provider,model", price_table=table)
            cols = [c.strip() for c in ns.columns.split(",")] if ns.columns else None
            out = rep.to_table(columns=cols, wide=ns.wide or ns.format in ("json", "csv"), top=ns.top)
        if ns.html:
            write_html(
                ds, ns.html, title=ns.title, budgets=budgets, shared_cost_usd=shared, price_table=table
            )
    _emit(ns, out)
    if ns.html:
        print(f"wrote {ns.html}", file=sys.stderr)
    return EXIT_OK


def _cmd_alerts(ns: argparse.Namespace) -> int:
    from .reports import Alert, budget_status, detect_anomalies, load_budgets
    from .reports._anomaly import alerts_table
    from .reports._render import format_money

    budgets = load_budgets(ns.budgets) if ns.budgets else []
    with _open(ns) as ds:
        alerts = detect_anomalies(
            ds,
            by=ns.by,
            as_of=ns.as_of,
            lookback=_duration("--lookback", ns.lookback),
            sigma=_decimal("--sigma", ns.sigma),
            spike_multiple=_decimal("--spike-multiple", ns.spike_multiple),
            growth=_decimal("--growth", ns.growth),
            min_usd=_decimal("--min-usd", ns.min_usd),
        )
        for s in budget_status(ds, budgets, as_of=ns.as_of) if budgets else []:
            if s.status == "ok":
                continue
            what = {
                "over": "is over",
                "forecast_over": "is forecast over",
                "warn": "crossed an alert level of",
            }
            alerts.append(
                Alert(
                    kind="budget",
                    severity="high" if s.status == "over" else "medium",
                    scope=s.budget.key,
                    period=s.budget.window,
                    period_start=s.window_start,
                    actual_usd=s.spent_usd,
                    expected_usd=s.budget.limit_usd,
                    threshold_usd=s.budget.limit_usd,
                    score=s.used,
                    message=f"budget {s.budget.name or s.budget.key} ({s.budget.window}) "
                    f"{what[s.status]} its {format_money(s.budget.limit_usd)} limit: "
                    f"spent {format_money(s.spent_usd)} ({float(s.used) * 100:.0f}%), "
                    f"forecast {format_money(s.forecast_usd)}",
                )
            )
    _emit(ns, alerts_table(alerts))
    return EXIT_ALERT if alerts and ns.fail_on_alert else EXIT_OK


def _cmd_forecast(ns: argparse.Namespace) -> int:
    from .reports import forecast_month
    from .reports._forecast import forecasts_table

    with _open(ns) as ds:
        fc = forecast_month(ds, by=ns.by, as_of=ns.as_of)
    _emit(ns, forecasts_table(fc))
    return EXIT_OK


def _cmd_whatif(ns: argparse.Namespace) -> int:
    from .reports import Scenario, what_if
    from .reports._load import _as_datetime

    base = _price_table(ns.price_table)
    scen_table = base.with_overrides(file=ns.prices) if ns.prices else None
    if ns.discount is not None:
        pct = _decimal("--discount", ns.discount)
        if not 0 <= pct < 100:
            raise ConfigurationError(f"--discount={ns.discount!r} must be a percentage in [0, 100), e.g. 15")
        scen_table = (scen_table or base).with_overrides(discounts=[{"multiplier": str(1 - pct / 100)}])
    rate = _decimal("--cache-hit-rate", ns.cache_hit_rate) if ns.cache_hit_rate is not None else None
    if rate is not None and rate > 1:
        rate = rate / 100  # accept 60 as 60 %
    scenario = Scenario(
        model=ns.model,
        price_table=scen_table,
        at=_as_datetime(ns.at, "--at") if ns.at else None,
        cache_hit_rate=rate,
        batch=ns.batch,
        only=_where(ns.only, "--only") or None,
    )
    if scenario.describe() == "no change":
        raise ConfigurationError(
            "whatif needs a change: --model, --prices, --discount, --at, --cache-hit-rate or --batch"
        )
    with _open(ns) as ds:
        result = what_if(ds, scenario, by=ns.by, price_table=base)
    _emit(ns, result.to_table())
    return EXIT_OK


def _cmd_estimate(ns: argparse.Namespace) -> int:
    from .reports import batch_savings, commit_vs_payg, load_workloads, project_monthly, self_host_crossover
    from .reports._economics import blended_api_price, commit_table, crossover_table
    from .reports._estimate import workload_from_mapping
    from .reports._load import _as_datetime
    from .reports._render import Column, Table

    table = _price_table(ns.price_table)
    at = _as_datetime(ns.at, "--at") if getattr(ns, "at", None) else datetime.now(UTC)
    if ns.kind == "project":
        if ns.file:
            workloads = load_workloads(ns.file)
        else:
            if not ns.model or ns.requests_per_day is None:
                raise ConfigurationError("estimate project needs --file, or --model and --requests-per-day")
            workloads = [
                workload_from_mapping(
                    {
                        "name": ns.name or ns.model,
                        "model": ns.model,
                        "provider": ns.provider,
                        "requests_per_day": _tokens("--requests-per-day", ns.requests_per_day),
                        "input_tokens": _tokens("--input-tokens", ns.input_tokens),
                        "output_tokens": _tokens("--output-tokens", ns.output_tokens),
                        "cached_input_tokens": _tokens("--cached-tokens", ns.cached_tokens),
                        "infra_usd_per_request": str(_decimal("--infra-per-request", ns.infra_per_request)),
                    },
                    "options",
                )
            ]
        _emit(ns, project_monthly(workloads, price_table=table, at=at, days=ns.days).to_table())
    elif ns.kind == "commit":
        commit, disc = _decimal("--commit", ns.commit), _decimal("--discount", ns.discount)
        usages = [_decimal("--usage", u) for u in ns.usage]
        _emit(ns, commit_table(commit_vs_payg(commit, disc, usages), commit, disc))
    elif ns.kind == "selfhost":
        if ns.api_price_mtok is not None:
            api = _decimal("--api-price-mtok", ns.api_price_mtok)
        elif ns.model:
            api = blended_api_price(
                ns.model, input_share=_decimal("--input-share", ns.input_share), price_table=table, at=at
            )
        else:
            raise ConfigurationError(
                "estimate selfhost needs --api-price-mtok or --model (to price the API side)"
            )
        vols = [_tokens("--volumes", v) for v in ns.volumes.split(",")] if ns.volumes else None
        c = self_host_crossover(
            gpu_usd_per_hour=_decimal("--gpu-hourly", ns.gpu_hourly),
            gpus=ns.gpus,
            tokens_per_second=_decimal("--tokens-per-second", ns.tokens_per_second),
            api_usd_per_mtok=api,
            utilization=_decimal("--utilization", ns.utilization),
            hours_per_month=_decimal("--hours-per-month", ns.hours_per_month),
            fixed_usd_per_month=_decimal("--fixed-monthly", ns.fixed_monthly),
            **({"volumes": vols} if vols else {}),
        )
        _emit(ns, crossover_table(c))
    else:
        b = batch_savings(
            ns.model,
            requests=_tokens("--requests", ns.requests),
            input_tokens=_tokens("--input-tokens", ns.input_tokens),
            output_tokens=_tokens("--output-tokens", ns.output_tokens),
            cached_input_tokens=_tokens("--cached-tokens", ns.cached_tokens),
            batchable_share=_decimal("--share", ns.share),
            provider=ns.provider,
            price_table=table,
            at=at,
        )
        cols = (
            Column("model", "model"),
            Column("requests", "requests", "int"),
            Column("standard_usd", "standard", "money"),
            Column("batch_usd", "with batch", "money"),
            Column("savings_usd", "savings", "money"),
            Column("savings_pct", "savings %", "pct"),
        )
        row = {
            "model": b.model,
            "requests": int(b.requests),
            "standard_usd": b.standard_usd,
            "batch_usd": b.batch_usd,
            "savings_usd": b.savings_usd,
            "savings_pct": b.savings_pct,
        }
        _emit(
            ns,
            Table(
                title="Batch tier savings",
                columns=cols,
                rows=(row,),
                notes=("batch results arrive asynchronously (up to 24 h): only for work that can wait",),
            ),
        )
    return EXIT_OK


def _cmd_demo(ns: argparse.Namespace) -> int:
    from . import _demo

    return int(_demo.main(list(ns.args)))


# -- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests).

    Example:
        >>> build_parser().prog
        'llmfinops'
    """
    from . import __version__

    ap = argparse.ArgumentParser(
        prog="llmfinops", description="LLM spend reports, alerts, forecasts and what-ifs."
    )
    ap.add_argument("--version", action="version", version=f"llmfinops {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("report", help="spend by team/model/feature/day..., chargeback, budgets, HTML")
    _add_input(p)
    p.add_argument("--by", help="dimensions, e.g. team,model,day (default: provider,model)")
    p.add_argument("--columns", help="columns to show (default: a compact set; json/csv: all)")
    p.add_argument("--wide", action="store_true", help="show every column")
    p.add_argument("--top", type=int, help="keep the N costliest rows, fold the rest into (other)")
    p.add_argument("--chargeback", action="store_true", help="chargeback view: direct + shared cost per team")
    p.add_argument("--shared-cost", metavar="USD", help="fixed shared cost to split (chargeback, HTML)")
    p.add_argument(
        "--basis", choices=("cost", "tokens", "calls"), default="cost", help="chargeback share basis"
    )
    p.add_argument("--budgets", metavar="FILE", help="budget-vs-actual view from a budgets TOML/JSON file")
    p.add_argument("--as-of", help="budget window / forecast instant (default: the last call)")
    p.add_argument("--html", metavar="FILE", help="also write the self-contained HTML report")
    p.add_argument("--title", default="LLM spend report", help="HTML report title")
    _add_output(p)
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("alerts", help="cost anomalies, spikes, velocity and budget alerts")
    _add_input(p)
    p.add_argument("--by", default="team,model", help="scopes besides the total (default: team,model)")
    p.add_argument("--lookback", default="1d", help="report periods starting within this span (default 1d)")
    p.add_argument("--sigma", default="3", help="standard deviations (default 3)")
    p.add_argument("--spike-multiple", default="3", help="multiple of the 7-day average (default 3)")
    p.add_argument("--growth", default="0.5", help="week-over-week growth that alerts (default 0.5 = +50%%)")
    p.add_argument("--min-usd", default="1", help="ignore excesses below this many dollars (default 1)")
    p.add_argument(
        "--budgets", metavar="FILE", help="also alert on budgets (over, forecast over, thresholds)"
    )
    p.add_argument("--as-of", help="end of the data considered (default: the last call)")
    p.add_argument("--fail-on-alert", action="store_true", help="exit 1 when there is any alert (cron/CI)")
    _add_output(p)
    p.set_defaults(func=_cmd_alerts)

    p = sub.add_parser("forecast", help="month-end forecast with a 95%% band")
    _add_input(p)
    p.add_argument("--by", help="also forecast each value of a dimension, e.g. team")
    p.add_argument("--as-of", help="cut the data here (default: the last call)")
    _add_output(p)
    p.set_defaults(func=_cmd_forecast)

    p = sub.add_parser(
        "whatif", help="re-price logged calls under another model, prices, date, caching or batch"
    )
    _add_input(p)
    p.add_argument("--by", default="feature", help="compare per these dimensions (default: feature)")
    p.add_argument("--model", help="substitute model, e.g. claude-haiku-4-5 or anthropic:claude-haiku-4-5")
    p.add_argument("--prices", metavar="FILE", help="price overrides file for the scenario")
    p.add_argument("--discount", metavar="PCT", help="enterprise discount on every price, in percent")
    p.add_argument("--at", help="price every call at this date instead of its own")
    p.add_argument(
        "--cache-hit-rate", metavar="RATE", help="assumed share of input tokens read from cache (0.6)"
    )
    p.add_argument("--batch", action="store_true", help="bill everything at the batch tier")
    p.add_argument("--only", action="append", metavar="DIM=VALUE", help="re-price only these calls (repeat)")
    _add_output(p)
    p.set_defaults(func=_cmd_whatif)

    p = sub.add_parser("estimate", help="projections, commit vs pay-as-you-go, self-host crossover, batch")
    est = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    e = est.add_parser("project", help="monthly cost from requests/day x tokens x model (seed 002)")
    e.add_argument("--file", help="TOML file of [[workload]] tables")
    e.add_argument("--name")
    e.add_argument("--model")
    e.add_argument("--provider")
    e.add_argument("--requests-per-day")
    e.add_argument("--input-tokens", default="0")
    e.add_argument("--output-tokens", default="0")
    e.add_argument("--cached-tokens", default="0")
    e.add_argument("--infra-per-request", default="0", metavar="USD")
    e.add_argument("--days", type=int, default=30)
    e.add_argument("--at", help="prices in force at this date (default: now)")
    e.add_argument("--price-table", metavar="FILE")
    _add_output(e)
    e = est.add_parser("commit", help="committed-use contract vs pay-as-you-go (seed 004 ch. 13)")
    e.add_argument("--commit", required=True, metavar="USD", help="monthly commitment")
    e.add_argument("--discount", required=True, metavar="PCT", help="discount on usage above it, in percent")
    e.add_argument(
        "--usage", required=True, action="append", metavar="USD", help="expected monthly usage (repeat)"
    )
    e.add_argument("--price-table", metavar="FILE")
    _add_output(e)
    e = est.add_parser("selfhost", help="self-host vs API crossover (seed 004 ch. 9)")
    e.add_argument("--gpu-hourly", required=True, metavar="USD", help="$ per GPU-hour")
    e.add_argument("--gpus", type=int, default=1, help="GPUs per deployment")
    e.add_argument("--tokens-per-second", required=True, help="measured throughput of one deployment")
    e.add_argument("--utilization", default="0.6", help="average share of capacity used (default 0.6)")
    e.add_argument("--hours-per-month", default="730")
    e.add_argument("--fixed-monthly", default="0", metavar="USD", help="engineering/on-call per month")
    e.add_argument("--api-price-mtok", metavar="USD", help="API $ per 1M tokens (blended)")
    e.add_argument("--model", help="price the API side from the table (blended by --input-share)")
    e.add_argument("--input-share", default="0.75", help="input share of tokens for --model (default 0.75)")
    e.add_argument("--volumes", help="monthly token volumes to compare, e.g. 10M,100M,1B")
    e.add_argument("--at", help="prices in force at this date (default: now)")
    e.add_argument("--price-table", metavar="FILE")
    _add_output(e)
    e = est.add_parser("batch", help="savings from the batch tier")
    e.add_argument("--model", required=True)
    e.add_argument("--provider")
    e.add_argument("--requests", required=True, help="number of requests (e.g. per month)")
    e.add_argument("--input-tokens", required=True)
    e.add_argument("--output-tokens", required=True)
    e.add_argument("--cached-tokens", default="0")
    e.add_argument("--share", default="1", help="batchable share of the requests (default 1)")
    e.add_argument("--at", help="prices in force at this date (default: now)")
    e.add_argument("--price-table", metavar="FILE")
    _add_output(e)
    p.set_defaults(func=_cmd_estimate)

    from .eval._cli import add_arguments as eval_arguments
    from .eval._cli import run as eval_run

    p = sub.add_parser("eval", help="replay recorded answers through a cascade policy (docs/eval.md)")
    eval_arguments(p)
    p.set_defaults(func=eval_run)

    p = sub.add_parser("demo", help="run the offline demo", add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_demo)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 alerts with --fail-on-alert, 2 usage error).

    Example:
        >>> main(["estimate", "commit", "--commit", "50000", "--discount", "20", "--usage", "80000",
        ...       "--format", "csv"])  # doctest: +NORMALIZE_WHITESPACE
        expected_usage_usd,payg_usd,effective_usd,savings_usd,waste_usd,verdict
        80000,80000,74000,6000,0,GOOD COMMIT
        0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["demo"]:  # everything after "demo" belongs to the demo
        from . import _demo

        return int(_demo.main(args[1:]))
    parser = build_parser()
    ns = parser.parse_args(args)
    try:
        return int(ns.func(ns))
    except ConfigurationError as exc:
        print(f"llmfinops: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("llmfinops: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `llmfinops report | head`
        return EXIT_OK
