"""Benchmark: reports over 10M call records on this machine.

Generates N synthetic records once (JSONL in exactly the JSONLSink format, costs priced
from the bundled table) into ``$LLMFINOPS_BENCH_DIR`` (default: ``/tmp/llmfinops-bench``),
then times:

1. the cold report by team/model/day: JSONL -> Parquet cache build + aggregation;
2. the warm report (cache up to date), the number that matters for daily use;
3. a second, live log of 1 % more records, then 1 % appended to it (incremental conversion);
4. a what-if (model substitution), the anomaly scan, the forecast and a report by user.

Run:  python bench/bench_reports.py [--records 10000000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb

from llmfinops.records import record_from_dict
from llmfinops.reports import Scenario, detect_anomalies, forecast_month, open_dataset, summarize, what_if

# provider, model, input $/M, cache read $/M, output $/M (bundled table, November 2026)
MODELS = [
    ("openai", "gpt-4o", "2.50", "1.25", "10"),
    ("openai", "gpt-4o-mini", "0.15", "0.075", "0.60"),
    ("anthropic", "claude-sonnet-4-5", "3", "0.30", "15"),
    ("anthropic", "claude-haiku-4-5", "1", "0.10", "5"),
    ("google", "gemini-2.5-pro", "1.25", "0.125", "10"),
    ("openai", "gpt-5.4", "2.50", "0.25", "15"),
]


def generate(path: Path, n: int, *, offset: int = 0, start: str = "2026-09-23", days: int = 60) -> None:
    """Write n records as JSONL (one COPY, a few seconds per million)."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(
        "CREATE TABLE m AS SELECT * FROM (VALUES "
        + ", ".join(
            f"({i}, '{p}', '{m}', {inp}::DECIMAL(18,6), {cr}::DECIMAL(18,6), {out}::DECIMAL(18,6))"
            for i, (p, m, inp, cr, out) in enumerate(MODELS)
        )
        + ") t(k, provider, model, pin, pcr, pout)"
    )
    sql = f"""
    COPY (
      WITH base AS (
        SELECT i,
          TIMESTAMP '{start}' + to_microseconds(CAST(hash(i, 1) % {days * 86_400_000_000} AS BIGINT)) AS ts,
          CAST(hash(i, 2) % {len(MODELS)} AS INTEGER) AS k,
          200 + CAST(hash(i, 3) % 6000 AS BIGINT) AS inp,
          CASE WHEN hash(i, 4) % 3 = 0 THEN 0.6 ELSE 0 END AS cache_share,
          50 + CAST(hash(i, 5) % 800 AS BIGINT) AS out,
          hash(i, 6) % 100 AS r
        FROM range({offset}, {offset + n}) t(i)
      ), priced AS (
        SELECT b.*, m.provider, m.model, m.pin, m.pcr, m.pout,
          CAST(floor(b.inp * b.cache_share) AS BIGINT) AS cached
        FROM base b JOIN m USING (k)
      )
      SELECT
        printf('%024x', i) AS id,
        strftime(ts, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00' AS "timestamp",
        provider, 'chat' AS operation,
        CASE provider WHEN 'openai' THEN 'chat.completions' WHEN 'anthropic' THEN 'messages'
             ELSE 'generate_content' END AS endpoint,
        model, model AS response_model, model AS price_model,
        inp AS input_tokens, cached AS cached_input_tokens, 0 AS cache_write_tokens,
        out AS output_tokens, 0 AS reasoning_tokens, inp + out AS total_tokens,
        CAST((inp - cached) * pin * 0.000001 + cached * pcr * 0.000001 + out * pout * 0.000001 AS DOUBLE)
          AS cost_usd,
        CAST((inp - cached) * pin * 0.000001 AS DOUBLE) AS input_cost_usd,
        CAST(cached * pcr * 0.000001 AS DOUBLE) AS cached_input_cost_usd,
        0.0 AS cache_write_cost_usd,
        CAST(out * pout * 0.000001 AS DOUBLE) AS output_cost_usd,
        NULL AS cache_storage_cost_usd, NULL AS infra_cost_usd,
        CAST(200 + hash(i, 7) % 3000 AS DOUBLE) AS latency_ms, NULL AS time_to_first_token_ms,
        CASE WHEN r < 3 THEN 1 ELSE 0 END AS retry_count, 1 AS http_requests,
        CASE WHEN r = 99 THEN 'error' ELSE 'ok' END AS status,
        CASE WHEN r = 99 THEN 'APITimeoutError' END AS error_type,
        r % 4 = 0 AS stream, false AS partial,
        CASE provider WHEN 'openai' THEN 'default' WHEN 'anthropic' THEN 'standard' END AS service_tier,
        2048 AS request_max_tokens,
        'api' AS service, printf('u%012x', hash(i, 8) % 5000) AS user_id,
        'team-' || (hash(i, 9) % 8) AS team, 'feature-' || (hash(i, 10) % 20) AS feature,
        CASE WHEN r < 90 THEN 'prod' ELSE 'staging' END AS environment,
        CAST(CASE WHEN r < 5 THEN '{{"cascade_outcome":"escalated"}}'
                  WHEN r < 40 THEN '{{"cascade_outcome":"accepted"}}' ELSE '{{}}' END AS JSON) AS tags,
        printf('req_%x', i) AS request_id, '2026-11-22' AS price_version, NULL AS pricing_note
      FROM priced
    ) TO '{path}' (FORMAT JSON)
    """
    con.execute(sql)
    con.close()


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    print(f"{label:<58} {dt:8.2f} s")
    return out, dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument(
        "--keep", action="store_true", help="keep the Parquet cache of an earlier run (skips the cold build)"
    )
    args = ap.parse_args()
    root = Path(os.environ.get("LLMFINOPS_BENCH_DIR", "/tmp/llmfinops-bench"))
    root.mkdir(parents=True, exist_ok=True)
    data = root / f"calls-{args.records}.jsonl"
    cache = root / "cache"
    if not data.exists():
        timed(f"generate {args.records:,} records", lambda: generate(data, args.records))
        first = json.loads(data.open().readline())
        record_from_dict(first)  # the synthetic lines are valid CallRecord dicts
    size = data.stat().st_size
    print(f"input: {data} ({size / 1e9:.2f} GB, {args.records:,} records), {os.cpu_count()} CPUs")
    if not args.keep:
        shutil.rmtree(cache, ignore_errors=True)

    def report(paths: list[Path]) -> Any:
        return summarize(paths, by=("team", "model", "day"), cache=True, cache_dir=cache)

    cold = None
    if not args.keep:
        rep, cold = timed("report team/model/day, cold (builds the Parquet cache)", lambda: report([data]))
        assert rep.total.calls == args.records, rep.total.calls
    _, warm = timed("report team/model/day, warm cache", lambda: report([data]))
    _, warm2 = timed("report team/model/day, warm cache (again)", lambda: report([data]))
    # a second, live log: 1 % more records, then 1 % appended to it (only the new bytes are converted)
    extra = max(args.records // 100, 1)
    live = root / "live.jsonl"
    live.unlink(missing_ok=True)
    generate(live, extra, offset=args.records, start="2026-11-20", days=1)
    timed(f"report + a new {extra:,}-record log", lambda: report([data, live]))
    more = root / "more.jsonl"
    generate(more, extra, offset=args.records + extra, start="2026-11-21", days=1)
    with live.open("ab") as fo, more.open("rb") as fi:
        shutil.copyfileobj(fi, fo)
    more.unlink()
    rep2, inc = timed(
        f"report after appending {extra:,} records to it (incremental)", lambda: report([data, live])
    )
    assert rep2.total.calls == args.records + 2 * extra, rep2.total.calls
    live.unlink()
    with open_dataset(data, cache=True, cache_dir=cache) as ds:
        timed(
            "what-if: everything on claude-haiku-4-5, by feature",
            lambda: what_if(ds, Scenario(model="claude-haiku-4-5"), by="feature"),
        )
        timed("alerts: sigma/spike/velocity for total, teams, models", lambda: detect_anomalies(ds))
        timed("forecast: month end, total and per team", lambda: forecast_month(ds, by="team"))
        timed("report by user (5,000 groups)", lambda: summarize(ds, by="user"))
    print(
        f"\nsummary for {args.records:,} records: "
        + (f"cold {cold:.1f} s, " if cold is not None else "")
        + f"warm {min(warm, warm2):.2f} s, incremental {inc:.2f} s"
    )


if __name__ == "__main__":
    main()
