"""Meter an Anthropic client: a cached call, a stream, and batch results.

Runs offline against llmfinops' mock of the API by default; set ANTHROPIC_API_KEY (and
LLMFINOPS_EXAMPLE_LIVE=1) to use the real API instead. Records are printed as they are written.

    python examples/anthropic_basic.py
"""

from __future__ import annotations

import os

import anthropic

import llmfinops
from llmfinops.testing.anthropic import AnthropicMock, anthropic_client, batch_errored, batch_succeeded

SYSTEM = [
    {
        "type": "text",
        "text": "You are a support assistant for ACME. <long product manual here>",
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
]


def make_client() -> anthropic.Anthropic:
    if os.environ.get("LLMFINOPS_EXAMPLE_LIVE") == "1":
        return anthropic.Anthropic()
    calls = iter(range(1_000))

    def cache_state(body: dict[str, object]) -> dict[str, int]:
        # first call writes the system prompt to the 1h cache, later calls read it
        if next(calls) == 0:
            return {"cache_write_1h": 4000, "cache_read_tokens": 0}
        return {"cache_write_1h": 0, "cache_read_tokens": 4000}

    mock = AnthropicMock(
        input_tokens=42,
        output_tokens=180,
        usage_for=cache_state,
        batch_results=[
            batch_succeeded("ticket-1", model="claude-sonnet-4-6", input_tokens=900, output_tokens=150),
            batch_errored("ticket-2"),
        ],
    )
    return anthropic_client(mock)


def show(record: llmfinops.CallRecord) -> None:
    print(
        f"{record.endpoint:17s} {record.model:18s} in={record.input_tokens:>6} "
        f"(cached {record.cached_input_tokens}, written {record.cache_write_tokens}) "
        f"out={record.output_tokens:>4} tier={record.service_tier} partial={record.partial} "
        f"cost=${record.cost_usd} tags={record.tags}"
    )


def main() -> None:
    llmfinops.configure(sinks=[show])
    client = llmfinops.wrap(make_client())

    with llmfinops.tags(team="support", feature="answer"):
        # A cached call: the system prompt is written to (then read from) the 1h cache.
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=512,
            system=SYSTEM,
            messages=[{"role": "user", "content": "How do I reset my password?"}],
        )

        # A stream: usage is assembled from message_start and the cumulative message_delta.
        with client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=512,
            system=SYSTEM,
            messages=[{"role": "user", "content": "And my username?"}],
        ) as stream:
            for text in stream.text_stream:
                print(text, end="", flush=True)
            print()

    # Batch results: one record per succeeded request, at batch rates, tagged with its custom_id.
    if os.environ.get("LLMFINOPS_EXAMPLE_LIVE") != "1":
        for item in client.messages.batches.results("msgbatch_example"):
            print("result", item.custom_id, item.result.type)

    llmfinops.flush()


if __name__ == "__main__":
    main()
