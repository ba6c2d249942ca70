"""A nightly batch job: estimate and submit tonight, collect tomorrow, report the saving.

    python examples/batch_nightly.py submit tickets.jsonl      # prints the batch id
    python examples/batch_nightly.py collect batch_abc123      # waits, prints results + savings
    python examples/batch_nightly.py demo                      # offline, against a mock Batch API
                                                               # (run from a repo checkout)

``tickets.jsonl`` has one ``{"id": ..., "text": ...}`` per line. Uses OpenAI (``OPENAI_API_KEY``);
the same code runs on Anthropic or Gemini by changing the client and the params.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import llmfinops
from llmfinops import batch

MODEL = "gpt-4o-mini"
INSTRUCTIONS = "Classify the support ticket: billing, bug, feature or other."


def requests_for(tickets: list[dict]) -> list[dict]:
    return [
        {
            "custom_id": f"ticket-{t['id']}",
            "params": {
                "model": MODEL,
                "max_completion_tokens": 20,
                "messages": [
                    {"role": "system", "content": INSTRUCTIONS},
                    {"role": "user", "content": t["text"]},
                ],
            },
        }
        for t in tickets
    ]


def submit(client, tickets: list[dict]) -> str:
    reqs = requests_for(tickets)
    est = batch.estimate(client, reqs)
    print(
        f"{est.requests} requests, ~{est.input_tokens} prompt tokens: "
        f"batch ${est.batch_cost_usd_min}-${est.batch_cost_usd_max} "
        f"(synchronously up to ${est.standard_cost_usd_max}, saving up to ${est.saving_usd_max})"
    )
    job = batch.submit(client, reqs, metadata={"job": "nightly-ticket-triage"})
    print("submitted", job.id)
    return job.id


def collect(client, batch_id: str, **wait_kwargs) -> None:
    job = batch.resume(client, batch_id).wait(poll=batch.Backoff(initial=30, max=600), **wait_kwargs)
    for r in job.results():
        label = r.response.choices[0].message.content if r.ok else f"FAILED: {r.error}"
        print(f"{r.custom_id}: {label}  (${r.cost_usd})")
    s = job.savings()
    print(
        f"\n{s.results} results: batch ${s.batch_cost_usd} vs ${s.standard_cost_usd} synchronously, "
        f"saved ${s.saved_usd} ({s.saved_fraction:.0%})"
    )


def demo() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.batch.fakes import FakeSleep, OpenAIBatchServer, openai_batch_client

    llmfinops.configure(sinks=[])
    client = openai_batch_client(OpenAIBatchServer())
    tickets = [{"id": 1, "text": "I was charged twice"}, {"id": 2, "text": "The export button crashes"}]
    batch_id = submit(client, tickets)
    fake = FakeSleep()
    collect(client, batch_id, sleep=fake.sleep, clock=fake.clock)
    print("polled after", fake.delays, "seconds (simulated)")


def main() -> None:
    cmd = sys.argv[1] if len(sys.argv) > 1 else "demo"
    if cmd == "demo":
        demo()
        return
    from openai import OpenAI

    client = llmfinops.wrap(OpenAI())
    if cmd == "submit":
        tickets = [json.loads(line) for line in Path(sys.argv[2]).read_text().splitlines() if line.strip()]
        submit(client, tickets)
    elif cmd == "collect":
        collect(client, sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
