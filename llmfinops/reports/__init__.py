"""Reports over call logs: where the money went, budgets, forecasts, anomalies and what-ifs.

Point any function at the JSONL files (or SQLite databases) that llmfinops wrote; paths,
directories and globs are accepted. Reading is done by DuckDB, with a Parquet cache for
large logs, so the same call works on a thousand records or on ten million::

    from llmfinops.reports import summarize, print_report

    report = summarize("logs/*.jsonl", by=("team", "model"), since="2026-11-01")
    print_report(report)                   # a rich table; report.to_table() + render() for text
    report.get(team="search", model="gpt-4o").cost_usd      # Decimal

Open a :class:`Dataset` once to run several analyses over the same records::

    from llmfinops.reports import open_dataset, forecast_month, detect_anomalies

    with open_dataset("logs/", since="2026-10-01") as ds:
        forecast = forecast_month(ds)[0]
        alerts = detect_anomalies(ds, by="team")

What-if re-pricing of real traffic::

    from llmfinops.reports import Scenario, what_if

    w = what_if("logs/", Scenario(model="claude-haiku-4-5"), by="feature",
                since="2026-10-01", until="2026-11-01")
    w.total.change_usd

Every amount is a :class:`~decimal.Decimal` in USD. Calls whose cost is unknown are
counted apart (``unknown_cost_calls``), never as $0. The same analyses are on the
command line: ``llmfinops report|alerts|forecast|estimate|whatif`` (see ``docs/cli.md``).
"""

from __future__ import annotations

__all__ = [
    "Alert",
    "BatchEstimate",
    "Budget",
    "BudgetStatus",
    "Chargeback",
    "ChargebackRow",
    "Column",
    "CommitScenario",
    "Crossover",
    "Dataset",
    "Forecast",
    "Projection",
    "Report",
    "ReportRow",
    "Scenario",
    "Table",
    "WhatIf",
    "WhatIfRow",
    "Workload",
    "allocate_cents",
    "batch_savings",
    "blended_api_price",
    "budget_status",
    "chargeback",
    "clear_cache",
    "commit_vs_payg",
    "detect_anomalies",
    "forecast_month",
    "forecast_spend",
    "html_report",
    "load_budgets",
    "load_workloads",
    "open_dataset",
    "parse_budgets",
    "print_report",
    "print_table",
    "project_monthly",
    "render",
    "self_host_crossover",
    "summarize",
    "what_if",
    "write_html",
]

from ._aggregate import Report, ReportRow, summarize
from ._anomaly import Alert, detect_anomalies
from ._budgets import Budget, BudgetStatus, budget_status, load_budgets, parse_budgets
from ._chargeback import Chargeback, ChargebackRow, allocate_cents, chargeback
from ._economics import (
    BatchEstimate,
    CommitScenario,
    Crossover,
    batch_savings,
    blended_api_price,
    commit_vs_payg,
    self_host_crossover,
)
from ._estimate import Projection, Workload, load_workloads, project_monthly
from ._forecast import Forecast, forecast_month, forecast_spend
from ._html import html_report, write_html
from ._load import Dataset, clear_cache, open_dataset
from ._render import Column, Table, print_report, print_table, render
from ._whatif import Scenario, WhatIf, WhatIfRow, what_if
