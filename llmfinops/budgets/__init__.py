"""Budgets: hard limits on LLM spend that hold under concurrency.

Limit dollars, tokens and/or calls per user, team, feature, organisation, task or call —
as a decorator, a context manager, or a global rule. Attribution comes from
``llmfinops.tags(...)``, so decorated functions need no new parameters::

    import llmfinops
    from llmfinops.budgets import budget, Budget, configure_budgets

    configure_budgets(budgets=[Budget(usd=2_000, window="month", key="org")])   # every call

    @budget(usd=5, per="team", window="day")                # per team, per calendar day (UTC)
    @budget(usd="0.50", per="user", window="day",
            on_exceed="degrade", degrade_to="gpt-4o-mini") # then the cheaper model
    def answer(question: str) -> str:
        return client.chat.completions.create(model="gpt-4o", messages=[...]).choices[0].message.content

    with llmfinops.tags(team="search", user_id=user.id):
        answer("Where is my order?")

    with budget(usd="0.25", calls=20, window="run") as run:  # one agent task: a tool-call storm guard
        agent.run(task)
        print(run.spent())

How it holds: before each call the worst-case cost (estimated prompt x input price + max
output x output price) is **reserved atomically against every enclosing budget** — all or
none — in a store shared by your processes (:mod:`llmfinops.stores`: ``DiskCacheStore`` by
default, ``RedisStore`` across machines). A call that would go over is refused with
:class:`~llmfinops.BudgetExceeded` before anything is sent (or degraded, or allowed with an
alert). When the call's record is finished the reservation is replaced by the actual cost.

Alerts fire once per key, window and threshold (50/70/90/100 %) to the alert sinks
(default: the structlog event ``"llm.budget_alert"``). A :class:`Breaker` adds runaway
protection: calls or dollars per minute above N x baseline stop calls for a cool-down.

Read ``docs/budgets.md`` for windows, estimates, stores, failure modes and measured figures.
"""

from __future__ import annotations

__all__ = [
    "AlertSink",
    "Breaker",
    "BreakerOpen",
    "Budget",
    "BudgetAlert",
    "BudgetScope",
    "BudgetSettings",
    "BudgetStatus",
    "BudgetStoreWarning",
    "BudgetUnavailable",
    "BudgetedFunction",
    "CallContext",
    "KeyFunc",
    "Window",
    "budget",
    "configure_budgets",
    "get_budget_settings",
    "log_alert",
    "remaining",
    "reset_budgets",
]

from ._alerts import AlertSink, BudgetAlert, log_alert
from ._breaker import Breaker
from ._budget import (
    Budget,
    BudgetedFunction,
    BudgetScope,
    BudgetStatus,
    CallContext,
    KeyFunc,
    budget,
    remaining,
)
from ._errors import BreakerOpen, BudgetStoreWarning, BudgetUnavailable
from ._settings import BudgetSettings, configure_budgets, get_budget_settings, reset_budgets
from ._window import Window
