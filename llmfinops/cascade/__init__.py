"""Model cascades: cheapest model first, escalate only when the answer is not good enough.

Gateways fall back on *errors*; a cascade also judges the *answer* and escalates when it is
not good enough, across providers, with every hop priced, budgeted and recorded through
your wrapped official SDK clients::

    import llmfinops
    from llmfinops.cascade import Match, Step, cascade, no_refusal, rate_limited, token_confidence

    oai = llmfinops.wrap(OpenAI())
    claude = llmfinops.wrap(Anthropic())

    support = cascade(
        [
            Match({"opening hours": "We are open 8am-8pm ET, Monday to Friday."}),   # free
            Step(oai, "gpt-6-luna", params={"temperature": 0}),                      # cheap
            Step(claude, "claude-sonnet-5-5", params={"max_tokens": 800}),           # strong
        ],
        accept=no_refusal() & token_confidence(0.5, on_unknown="accept"),
        escalate_on=rate_limited,
        name="support-bot",
    )
    result = support.run("How long do refunds take?", system="You are Acme's support agent.")
    result.text, result.name, result.cost_usd, [h.outcome for h in result.hops]
    support.stats().escalation_rate          # healthy: 5-20 % (seed 004)

* **Steps**: :class:`Step` (wrapped client + model + params; OpenAI Chat or Responses,
  Anthropic Messages, Google ``generate_content``), :class:`Match` (keyword/regex table,
  no call, cost 0, no record), or any function (:class:`FunctionStep`).
* **Scorers** (``accept=``, composable with ``&`` / ``|``; plain callables over the text
  work): :func:`no_refusal`, :func:`regex`, :func:`json_schema`, :func:`pydantic_model`,
  :func:`token_confidence` (a quantile of token probabilities; logprobs are requested
  automatically), :func:`self_confidence`, :func:`judge` (an LLM grader whose cost counts).
* **Errors**: ``escalate_on=`` names the errors that escalate (:data:`rate_limited`,
  :data:`context_window_exceeded`, :data:`content_filtered`, :func:`on_error`,
  :func:`on_status`); others propagate unchanged. A hop's ``BudgetExceeded`` is raised unless
  ``on_budget_exceeded="escalate"``. When every step fails, :class:`CascadeExhausted` (an
  ``ExceptionGroup``) carries each step's error and cost.
* **Routing**: ``start=ComplexityRouter()`` starts hard prompts at a stronger step (seed 003
  heuristic, see :func:`route`).
* **Records**: each hop's calls carry ``cascade_id``, ``cascade_step``, ``cascade_outcome``
  and the tag ``cascade=<name>``; :func:`cascade_stats` computes the metrics from records.

Async: ``await support.arun(...)`` with ``AsyncOpenAI`` / ``AsyncAnthropic`` / ``genai.Client``.
See ``docs/cascade.md``.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_JUDGE_PROMPT",
    "DEFAULT_REFUSAL_PATTERNS",
    "Answer",
    "AnswerRejected",
    "Cascade",
    "CascadeExhausted",
    "CascadeHealthWarning",
    "CascadeResult",
    "CascadeStats",
    "Complexity",
    "ComplexityRouter",
    "ErrorCondition",
    "FunctionStep",
    "Hop",
    "Match",
    "RouteDecision",
    "Score",
    "Scorer",
    "Step",
    "StepStats",
    "analyze_complexity",
    "cascade",
    "cascade_stats",
    "content_filtered",
    "context_window_exceeded",
    "json_schema",
    "judge",
    "no_refusal",
    "on_error",
    "on_status",
    "pydantic_model",
    "rate_limited",
    "regex",
    "route",
    "scorer",
    "self_confidence",
    "token_confidence",
]

from ._confidence import self_confidence, token_confidence
from ._engine import Cascade, CascadeResult, cascade
from ._errors import (
    AnswerRejected,
    CascadeExhausted,
    CascadeHealthWarning,
    ErrorCondition,
    content_filtered,
    context_window_exceeded,
    on_error,
    on_status,
    rate_limited,
)
from ._judge import DEFAULT_JUDGE_PROMPT, judge
from ._router import Complexity, ComplexityRouter, RouteDecision, analyze_complexity, route
from ._scorers import (
    DEFAULT_REFUSAL_PATTERNS,
    Scorer,
    json_schema,
    no_refusal,
    pydantic_model,
    regex,
    scorer,
)
from ._stats import CascadeStats, StepStats, cascade_stats
from ._steps import FunctionStep, Match, Step
from ._types import Answer, Hop, Score
