"""Budgets end to end, offline: org / team / user limits, degradation, a tool-call storm guard, alerts.

Runs against a mock OpenAI transport (no network, no API key):

    python examples/budgets.py

Swap ``openai_client(OpenAIMock(...))`` for ``OpenAI()`` and the same code guards real calls.
"""

from __future__ import annotations

import tempfile
from typing import Any

import llmfinops
from llmfinops.budgets import Breaker, Budget, BudgetAlert, budget, configure_budgets, remaining
from llmfinops.exceptions import BudgetExceeded
from llmfinops.stores.diskcache import DiskCacheStore
from llmfinops.testing import capture_records
from llmfinops.testing.openai import OpenAIMock, openai_client
from llmfinops.tokens import estimate_prompt_tokens


def show_alert(alert: BudgetAlert) -> None:
    print(f"  ALERT  {alert.message}")


def main() -> None:
    llmfinops.configure(sinks=[], user_id_key="example-secret")
    configure_budgets(
        store=DiskCacheStore(tempfile.mkdtemp()),  # shared by every process on this machine
        budgets=[Budget(usd=5, window="month", key="org")],  # the org cap applies to every call
        alert_sinks=[show_alert],
        breaker=Breaker(calls_per_minute=600),  # runaway protection: 10 x 600 calls/min opens it
    )
    messages = [{"role": "user", "content": "Summarize our refund policy for a customer. " * 100}]
    prompt = estimate_prompt_tokens("openai", {"model": "gpt-4o", "messages": messages})  # what OpenAI bills
    client: Any = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=prompt, completion_tokens=300)))

    @budget(usd="0.05", per="team", window="day")
    @budget(usd="0.02", per="user", window="day", degrade_to="gpt-4o-mini")
    def answer() -> str:
        r = client.chat.completions.create(model="gpt-4o", messages=messages, max_completion_tokens=400)
        return f"{r.model} ({r.usage.total_tokens} tokens)"

    print("1. A user with a $0.02/day allowance: gpt-4o until it runs out, then gpt-4o-mini.")
    with capture_records() as records, llmfinops.tags(team="support", user_id="alice"):
        for i in range(6):
            print(f"  call {i + 1}: {answer()}")
    print(
        f"  spent ${sum(r.cost_usd or 0 for r in records)}; degraded calls: "
        f"{sum(1 for r in records if r.degraded_from)}"
    )
    print(f"  alice has ${remaining('user:alice')} left today; team support ${remaining('team:support')}")

    print("\n2. The team's $0.05/day is shared by all its users; when it is gone, calls are refused.")
    with llmfinops.tags(team="support"):
        for user in ("bob", "carol", "dave", "erin"):
            with llmfinops.tags(user_id=user):
                try:
                    for _ in range(3):
                        answer()
                except BudgetExceeded as e:
                    print(f"  {user}: refused before sending -> {e}")
                    break

    print("\n3. An agent task may make at most 5 LLM calls (a tool-call storm guard).")
    with budget(calls=5, usd="0.10", window="run") as task:
        try:
            while True:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=messages, max_completion_tokens=50
                )
        except BudgetExceeded as e:
            print(f"  stopped after {task.spent('calls')} calls (${task.spent()}): {e.unit} limit {e.limit}")


if __name__ == "__main__":
    main()
