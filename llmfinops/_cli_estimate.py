"""``llmfinops estimate``: projections, commit vs pay-as-you-go, self-host crossover, batch savings.

Unlike the other subcommands it reads no logs: every figure comes from the options and the
price table.
"""

from __future__ import annotations

__all__ = ["_cmd_estimate", "add_arguments"]

import argparse
from datetime import UTC, datetime

from ._cli_common import EXIT_OK, _add_output, _decimal, _emit, _price_table, _tokens
from .exceptions import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``estimate`` kinds and their options to ``p`` (used by the main ``llmfinops`` CLI).

    Example:
        >>> p = argparse.ArgumentParser()
        >>> add_arguments(p)
        >>> p.parse_args(["commit", "--commit", "50000", "--discount", "20", "--usage", "80000"]).kind
        'commit'
    """
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
