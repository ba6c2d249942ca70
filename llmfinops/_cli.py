"""The ``llmfinops`` command: reports, alerts, forecasts, estimates and what-ifs over call logs.

Example:
    $ llmfinops report logs/*.jsonl --by team,model --month 2026-11
    $ llmfinops alerts logs/ --fail-on-alert
    $ llmfinops whatif logs/ --model claude-haiku-4-5 --by feature --month 2026-10

Run ``llmfinops <command> --help`` for the options, and see ``docs/cli.md``. The shared option
helpers live in :mod:`._cli_common`, ``estimate`` in :mod:`._cli_estimate`, ``eval`` in :mod:`.eval._cli`.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import sys
from collections.abc import Sequence

from ._cli_common import (
    EXIT_ALERT,
    EXIT_OK,
    EXIT_USAGE,
    _add_input,
    _add_output,
    _decimal,
    _duration,
    _emit,
    _open,
    _price_table,
    _where,
)
from ._cli_estimate import _cmd_estimate
from ._cli_estimate import add_arguments as estimate_arguments
from .exceptions import ConfigurationError

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
    estimate_arguments(p)
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
