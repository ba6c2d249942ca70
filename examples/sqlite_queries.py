"""Log every LLM call to SQLite and answer FinOps questions with SQL.

Runs offline against llmfinops' mock of the OpenAI API: it makes a few dozen tagged calls,
then prints spend per team and feature, the cost decomposition query of the FinOps guide
(unchanged), exact invoice-grade totals and the cache hit rate per feature.

    pip install "llmfinops[openai]"
    python examples/sqlite_queries.py [path/to/llm_calls.db]
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import llmfinops
from llmfinops.sinks.sqlite import SQLiteSink, connect
from llmfinops.testing.openai import OpenAIMock, openai_client

path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "llm_calls.db"
llmfinops.configure(sinks=[SQLiteSink(path)], user_id_key="example-secret")  # keyed hash of user ids

# Simulated traffic: three features of two teams, with different prompt sizes and cache reuse.
rng = random.Random(7)
workloads = {
    ("search", "autocomplete"): (300, 20, 0),
    ("search", "summarize"): (6000, 700, 4096),
    ("support", "chat-agent"): (12000, 900, 10240),
}
for (team, feature), (prompt, completion, cached) in workloads.items():
    mock = OpenAIMock(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached)
    client = llmfinops.wrap(openai_client(mock))
    for i in range(rng.randint(10, 30)):
        with llmfinops.tags(team=team, feature=feature, user_id=f"user-{i % 7}"):
            client.chat.completions.create(
                model="gpt-4o-mini" if feature == "autocomplete" else "gpt-4o",
                messages=[{"role": "user", "content": "..."}],
            )
llmfinops.flush()

db = connect(path)  # a sqlite3 connection with date_trunc() and decimal_sum()


def show(title: str, sql: str) -> None:
    cur = db.execute(sql)
    print(f"\n## {title}\n")
    print(" | ".join(d[0] for d in cur.description))
    for row in cur.fetchall():
        print(" | ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))


show(
    "Spend per team and feature, this month (exact decimals)",
    """
    SELECT team, feature, COUNT(*) AS calls, decimal_sum(cost_usd) AS cost_usd,
           ROUND(AVG(latency_ms)) AS avg_latency_ms
    FROM llm_call_log
    WHERE timestamp >= date_trunc('month', current_date)
    GROUP BY team, feature
    ORDER BY SUM(cost_usd) DESC
    """,
)
show(
    "Cost decomposition per workload (the FinOps guide's query, unchanged)",
    """
    SELECT
        feature,
        SUM(input_tokens) AS input_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(cached_input_tokens) AS cached_input_tokens,
        SUM(input_tokens) * 5.00 / 1e6 AS input_cost,
        SUM(output_tokens) * 25.00 / 1e6 AS output_cost,
        SUM(cached_input_tokens) * 0.50 / 1e6 AS cached_cost,
        100.0 * SUM(output_tokens) * 25 / NULLIF(SUM(input_tokens) * 5 + SUM(output_tokens) * 25, 0)
            AS output_pct_of_spend
    FROM llm_call_log
    WHERE date_trunc('month', timestamp) = date_trunc('month', current_date)
    GROUP BY feature
    ORDER BY input_cost + output_cost + cached_cost DESC;
    """,
)
show(
    "Same breakdown with the prices actually charged (llmfinops' per-part costs)",
    """
    SELECT feature, decimal_sum(input_cost_usd_exact) AS uncached_input,
           decimal_sum(cached_input_cost_usd_exact) AS cached, decimal_sum(output_cost_usd_exact) AS output,
           decimal_sum(cost_usd_exact) AS total
    FROM llm_call_log GROUP BY feature ORDER BY SUM(cost_usd) DESC
    """,
)
show(
    "Prompt-cache hit rate per feature",
    """
    SELECT feature, ROUND(100.0 * SUM(cached_input_tokens) / NULLIF(SUM(input_tokens), 0), 1) AS cache_hit_pct
    FROM llm_call_log GROUP BY feature ORDER BY cache_hit_pct DESC
    """,
)
show(
    "Top 3 users by spend (ids are keyed hashes unless you opt out)",
    """
    SELECT user_id, COUNT(*) AS calls, decimal_sum(cost_usd) AS cost_usd
    FROM llm_call_log GROUP BY user_id ORDER BY SUM(cost_usd) DESC LIMIT 3
    """,
)
print(f"\nDatabase: {path}")
