"""A support bot that answers from a FAQ table first, then a cheap model, then a strong one.

Runs offline by default (the official SDK clients talk to llmfinops' mock transports, so
the calls, records and prices are real but nothing leaves the machine)::

    python examples/cascade_support_bot.py

With ``--live`` it uses real ``OpenAI()`` and ``Anthropic()`` clients (``OPENAI_API_KEY`` and
``ANTHROPIC_API_KEY`` must be set; each question costs a fraction of a cent).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import llmfinops
from llmfinops.cascade import (
    ComplexityRouter,
    Match,
    Step,
    cascade,
    cascade_stats,
    no_refusal,
    rate_limited,
    token_confidence,
)
from llmfinops.testing import capture_records

SYSTEM = (
    "You are Northwind Outfitters' support assistant. Policies: returns within 30 days (unused items); "
    "refunds 5-7 business days after we receive the item; standard shipping 3-5 business days, free over "
    "$50; express $15, 1-2 business days, contiguous US only. Answer in 1-3 sentences."
)
QUESTIONS = [
    "What are your opening hours?",
    "How long do refunds take?",
    "Can I return boots I bought 45 days ago that I never wore?",
    "Compare express shipping with Trail Club for someone who orders 6 times a year and recommend one",
]

# Offline answers: what each model says, and how sure it is of its key tokens.
CANNED = {
    "gpt-6-luna": {
        "How long do refunds take?": ("Refunds take 5-7 business days after we receive the item.", 0.93),
        "Can I return boots": ("I'm not sure, but returns may be possible within 60 days.", 0.55),
        "Compare express": ("Trail Club is probably cheaper.", 0.41),
    },
    "claude-sonnet-5-5": {
        "Can I return boots": (
            "No. 45 days is past the 30-day return window, so they can't be returned.",
            None,
        ),
        "Compare express": (
            "Trail Club: 6 express orders cost $90, the $49 membership includes express.",
            None,
        ),
    },
}


def _canned(model: str, question: str) -> tuple[str, float | None]:
    for prefix, answer in CANNED[model].items():
        if question.startswith(prefix):
            return answer
    return "Thanks for reaching out! Could you tell me more?", 0.5


def offline_clients() -> tuple[Any, Any]:
    from llmfinops.testing._sse import json_response
    from llmfinops.testing.anthropic import AnthropicMock, anthropic_client, message
    from llmfinops.testing.openai import chat_completion, openai_client

    def openai_handler(request: Any) -> Any:
        body = json.loads(request.content)
        text, certainty = _canned(body["model"], body["messages"][-1]["content"])
        data = chat_completion(model=body["model"], content=text, prompt_tokens=180, completion_tokens=20)
        if body.get("logprobs") and certainty is not None:
            probs = [0.99] * 17 + [certainty] * 3
            data["choices"][0]["logprobs"] = {
                "content": [
                    {"token": "t", "logprob": math.log(p), "bytes": None, "top_logprobs": []} for p in probs
                ],
                "refusal": None,
            }
        return json_response(200, data)

    class Claude(AnthropicMock):
        def __call__(self, request: Any) -> Any:
            body = json.loads(request.content)
            text, _ = _canned(body["model"], body["messages"][-1]["content"])
            return json_response(
                200, message(model=body["model"], content=text, input_tokens=190, output_tokens=30)
            )

    return openai_client(openai_handler), anthropic_client(Claude())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="use real OpenAI and Anthropic clients")
    args = parser.parse_args()
    llmfinops.configure(sinks=[])  # keep the demo's records in memory (capture_records below)
    if args.live:
        from anthropic import Anthropic
        from openai import OpenAI

        oai, claude = OpenAI(), Anthropic()
    else:
        oai, claude = offline_clients()
    oai, claude = llmfinops.wrap(oai), llmfinops.wrap(claude)

    bot = cascade(
        [
            Match({"opening hours": "We're open Monday-Friday 8am-8pm ET and Saturday 9am-5pm ET."}),
            Step(oai, "gpt-6-luna", params={"max_completion_tokens": 200}),
            Step(claude, "claude-sonnet-5-5", params={"max_tokens": 400}),
        ],
        # Keep the cheap answer unless it hedges, refuses, or its least likely tokens are unlikely.
        # Claude returns no logprobs: "cannot tell" is accepted for it (it is the last step anyway).
        accept=no_refusal() & token_confidence(0.7, on_unknown="accept"),
        escalate_on=rate_limited,
        start=ComplexityRouter(),
        exhausted="last",
        name="support-bot",
    )

    with capture_records() as records:
        for q in QUESTIONS:
            r = bot.run(q, system=SYSTEM)
            hops = ", ".join(f"{h.name}={h.outcome} (${h.cost_usd})" for h in r.hops)
            print(f"Q: {q}\nA: {r.text}\n   answered by {r.name}; total ${r.cost_usd}; hops: {hops}\n")

    s = bot.stats()
    print(
        f"runs={s.runs} escalation rate={s.escalation_rate:.0%} ({s.health}) "
        f"cost per accepted answer=${s.cost_per_accepted_usd}"
    )
    from_records = cascade_stats(records)["support-bot"]
    print(
        f"from records: {len(records)} calls, total ${from_records.cost_usd}, "
        f"escalation rate {from_records.escalation_rate:.0%}"
    )


if __name__ == "__main__":
    main()
