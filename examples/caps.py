"""Output caps and input limits: per client, per model, per call scope — and the refusal.

Runs offline against llmfinops' OpenAI and Anthropic mocks and prints what each request was
sent with and what its record says.

    python examples/caps.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import llmfinops
from llmfinops.policies import InputTooLarge, configure_policies, policy
from llmfinops.testing import capture_records
from llmfinops.testing.anthropic import AnthropicMock, anthropic_client
from llmfinops.testing.openai import OpenAIMock, openai_client


def main() -> None:
    llmfinops.configure(sinks=[])
    # a fleet-wide ceiling, tighter per client, tighter still for one code path
    configure_policies(max_output_tokens=4096)
    oai_mock, claude_mock = OpenAIMock(), AnthropicMock(input_tokens=30, output_tokens=120)
    oai = llmfinops.wrap(openai_client(oai_mock), max_output_tokens={"gpt-4o-mini": 512, "*": 2048})
    claude = llmfinops.wrap(anthropic_client(claude_mock), max_output_tokens=1024, max_input_tokens=20_000)
    question = [{"role": "user", "content": "Summarize our refund policy."}]

    with capture_records() as records:
        oai.chat.completions.create(model="gpt-4o", messages=question)  # no cap given: one is injected
        # the caller's deprecated max_tokens is clamped (no max_completion_tokens added next to it)
        oai.chat.completions.create(model="gpt-4o-mini", messages=question, max_tokens=8000)
        oai.responses.create(model="gpt-5.5", input="Summarize our refund policy.", max_output_tokens=10_000)
        with policy(max_output_tokens=128):  # e.g. an autocomplete endpoint (also llmfinops.policy)
            claude.messages.create(model="claude-sonnet-4-6", max_tokens=4096, messages=question)
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=0, messages=question)  # cache pre-warm
        try:
            claude.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=1024,
                messages=[{"role": "user", "content": "Review this contract: " + "clause " * 30_000}],
            )
        except InputTooLarge as refused:
            print(f"refused before sending:\n  {refused}\n")

    sent = [
        {k: v for k, v in body.items() if "max" in k} for body in (*oai_mock.requests, *claude_mock.requests)
    ]
    for rec, body in zip(records, sent, strict=True):
        print(f"{rec.model:<18} sent {body!s:<34} record.policy = {rec.policy}")
    print(f"\n{len(claude_mock.requests)} Anthropic requests reached the API (the refused one did not)")


if __name__ == "__main__":
    main()
