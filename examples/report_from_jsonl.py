"""From a JSONL call log to the FinOps answers: spend, forecast, alerts, chargeback, what-if and HTML.

Runs offline: it first writes three weeks of plausible, correctly priced call records with the
real JSONLSink (in your app, `llmfinops.wrap(OpenAI())` writes them), then reads them back.

    python examples/report_from_jsonl.py [output-dir]
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from llmfinops.pricing import default_price_table
from llmfinops.reports import (
    Scenario,
    chargeback,
    detect_anomalies,
    forecast_month,
    open_dataset,
    parse_budgets,
    print_report,
    summarize,
    what_if,
    write_html,
)
from llmfinops.sinks import JSONLSink
from llmfinops.testing import make_record
from llmfinops.usage import Usage

WORKLOADS = [  # team, feature, provider, model, calls/day, input, cached share, output
    ("search", "autocomplete", "openai", "gpt-4o-mini", 400, 600, 0.0, 40),
    ("support", "tier1-chatbot", "anthropic", "claude-sonnet-4-5", 150, 6000, 0.7, 350),
    ("research", "analyst", "openai", "gpt-4o", 30, 20_000, 0.3, 900),
]


def write_logs(path: Path, days: int = 21) -> None:
    rng = random.Random(7)
    table = default_price_table()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sink = JSONLSink(path)
    for day in range(days):
        batch = []
        for team, feature, provider, model, per_day, inp, cached_share, out in WORKLOADS:
            n = per_day if (start + timedelta(days=day)).weekday() < 5 else per_day // 3
            if team == "research" and day == days - 1:
                n *= 6  # a runaway agent on the last day: the alerts will see it
            for _ in range(n):
                ts = start + timedelta(days=day, seconds=rng.randrange(86_400))
                i = int(inp * rng.uniform(0.6, 1.4))
                c = int(i * cached_share)
                o = int(out * rng.uniform(0.5, 1.5))
                cost = table.cost(
                    provider, model, Usage(input_tokens=i, cache_read_tokens=c, output_tokens=o), at=ts
                )
                batch.append(
                    make_record(
                        timestamp=ts,
                        provider=provider,
                        model=model,
                        response_model=model,
                        price_model=cost.price_model,
                        input_tokens=i,
                        cached_input_tokens=c,
                        output_tokens=o,
                        total_tokens=i + o,
                        cost_usd=cost.total,
                        input_cost_usd=cost.input,
                        cached_input_cost_usd=cost.cached_input,
                        cache_write_cost_usd=cost.cache_write,
                        output_cost_usd=cost.output,
                        team=team,
                        feature=feature,
                        environment="prod",
                    )
                )
        sink.emit_batch(batch)
    sink.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "llmfinops-report-example")
    out.mkdir(parents=True, exist_ok=True)
    log = out / "calls.jsonl"
    log.unlink(missing_ok=True)
    write_logs(log)

    with open_dataset(log) as ds:
        # Where did the money go?
        print_report(summarize(ds, by=("team", "model")))
        # What will the month cost?
        f = forecast_month(ds)[0]
        band = f"95%: ${f.low_usd:,.2f} - ${f.high_usd:,.2f}"
        print(f"\nNovember forecast: ${f.forecast_usd:,.2f} ({band}, {f.method})")
        # What changed?
        for alert in detect_anomalies(ds, by="team"):
            print("ALERT", alert.message)
        # Who pays? (platform cost of $500 split by usage)
        print_report(chargeback(ds, shared_cost_usd=Decimal(500)))
        # What would a different choice have cost?
        print_report(what_if(ds, Scenario(model="claude-haiku-4-5", only={"team": "support"}), by="team"))
        budgets = parse_budgets({"budget": [{"key": "total", "window": "month", "limit_usd": "900"}]})
        html = write_html(ds, out / "report.html", budgets=budgets, shared_cost_usd=Decimal(500))
    print(f"\nHTML report: {html}")


if __name__ == "__main__":
    main()
