"""The cascade engine: run steps in order, score answers, escalate, account for every hop.

How hops find their records (and how the outcome reaches them) is in ``_hops.py``.
"""

from __future__ import annotations

__all__ = ["Cascade", "CascadeResult", "cascade"]

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from llmfinops._context import tags
from llmfinops._internal import handle_internal_errors, warn_once
from llmfinops.exceptions import BudgetExceeded, ConfigurationError

from ._errors import AnswerRejected, CascadeExhausted, CascadeHealthWarning, ErrorCondition, as_condition
from ._hops import HOP, HopScope, install_hooks, sum_costs
from ._router import RouteDecision, Router, StartLike, as_router
from ._scorers import Scorer, ScorerLike, _resolve, as_scorer, no_refusal
from ._stats import HEALTHY_ESCALATION, Aggregator, CascadeStats
from ._steps import BaseStep, StepLike, as_step
from ._types import Answer, Hop, Message, Outcome, Score, last_user_text, normalize_messages

_ZERO = Decimal(0)


@dataclass(slots=True, kw_only=True)
class CascadeResult:
    """What a cascade run returned.

    Example:
        >>> r = CascadeResult(text="Within 30 days.", step=1, name="openai:gpt-6-luna", accepted=True,
        ...                   cascade_id="c1", hops=[], cost_usd=Decimal("0.00012"))
        >>> r.text, r.step
        ('Within 30 days.', 1)
    """

    text: str
    """The answer text."""
    step: int
    """Index of the step that answered."""
    name: str
    """Name of that step."""
    accepted: bool
    """``False`` only with ``exhausted="last"``: no answer was accepted and this is the last one."""
    cascade_id: str
    """Shared by the records of every hop of this run."""
    hops: list[Hop]
    """Every step tried, in order, with model, cost, score and outcome."""
    cost_usd: Decimal | None
    """Sum of every hop's cost (answer and judge calls); ``None`` when any part is unknown."""
    provider: str | None = None
    """Provider of the answering step (``None`` for matcher and function steps)."""
    model: str | None = None
    """Model of the answering step."""
    response: Any = field(default=None, repr=False)
    """The raw SDK response of the answer (``None`` for matcher steps)."""
    score: Score | None = None
    """The accept scorer's verdict on the answer."""
    route: RouteDecision | None = None
    """Where the router started the run."""

    @property
    def answer(self) -> Answer | None:
        """The answering hop's :class:`Answer`."""
        for h in reversed(self.hops):
            if h.step == self.step and h.answer is not None:
                return h.answer
        return None


class Cascade:
    """Cheapest step first; escalate when the answer is not good enough. Build with :func:`cascade`.

    Example:
        >>> from llmfinops.cascade import Match, cascade
        >>> faq = cascade([Match({"hours": "8am-8pm ET"}), lambda messages: "Let me check."], name="faq")
        >>> faq.run("What are your hours?").text, faq.stats().runs
        ('8am-8pm ET', 1)
    """

    def __init__(
        self,
        steps: Sequence[StepLike],
        *,
        accept: ScorerLike | None,
        escalate_on: Any,
        on_unknown: Literal["accept", "escalate"],
        on_budget_exceeded: Literal["raise", "escalate"],
        exhausted: Literal["raise", "last"],
        start: StartLike,
        name: str,
        healthy_range: tuple[float, float] | None,
        health_min_runs: int,
    ) -> None:
        raw: object = steps
        if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or not raw:
            raise ConfigurationError(
                f"cascade(steps={steps!r}): pass a non-empty list of steps, cheapest first, e.g. "
                "[Step(llmfinops.wrap(OpenAI()), 'gpt-6-luna'), Step(..., 'gpt-6.1-sol')]"
            )
        self.steps: tuple[BaseStep, ...] = tuple(as_step(s, i) for i, s in enumerate(steps))
        given = [s.name for s in self.steps]
        names = [
            f"{s.name}#{i}" if s.auto_name and given.count(s.name) > 1 else s.name
            for i, s in enumerate(self.steps)
        ]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigurationError(f"cascade: step names {dupes} repeat; give the steps distinct name=")
        self.names: tuple[str, ...] = tuple(names)
        self.accept: Scorer = as_scorer(accept) if accept is not None else no_refusal()
        self.escalate_on: ErrorCondition | None = (
            as_condition(escalate_on) if escalate_on is not None else None
        )
        for opt, val, allowed in (
            ("on_unknown", on_unknown, ("accept", "escalate")),
            ("on_budget_exceeded", on_budget_exceeded, ("raise", "escalate")),
            ("exhausted", exhausted, ("raise", "last")),
        ):
            if val not in allowed:
                raise ConfigurationError(f"cascade: {opt}={val!r}; use one of {list(allowed)}")
        if healthy_range is not None and not (
            len(healthy_range) == 2 and 0.0 <= healthy_range[0] <= healthy_range[1] <= 1.0
        ):
            raise ConfigurationError(
                f"cascade: healthy_range={healthy_range!r}; use (low, high) with 0<=low<=high<=1"
            )
        if not isinstance(health_min_runs, int) or health_min_runs < 1:
            raise ConfigurationError(f"cascade: health_min_runs={health_min_runs!r}; use an int >= 1")
        self.on_unknown = on_unknown
        self.on_budget_exceeded = on_budget_exceeded
        self.exhausted = exhausted
        self.name = name
        self.router: Router = as_router(start, names)
        self._model_steps = [i for i, s in enumerate(self.steps) if s.kind != "match"]
        self.healthy_range = healthy_range
        self.health_min_runs = health_min_runs
        self._stats = Aggregator(
            name,
            list(zip(self.names, (s.kind for s in self.steps), strict=True)),
            healthy_range or HEALTHY_ESCALATION,
        )

    def __repr__(self) -> str:
        return f"<Cascade {self.name!r}: {' -> '.join(self.names)}>"

    # -- helpers ---------------------------------------------------------------------------------
    def _scorer_for(self, step: BaseStep) -> Scorer:
        if step.accept is not None:
            return step.accept
        if step.kind == "match":
            return _KEEP
        return self.accept

    def _begin(
        self, value: str | Sequence[Message], system: str | None
    ) -> tuple[tuple[Message, ...], RouteDecision]:
        install_hooks()
        messages = normalize_messages(value, system)
        decision = self.router.choose(last_user_text(messages), self.names, self._model_steps)
        bad_prelude = any(not 0 <= i < decision.start for i in decision.prelude)
        if not 0 <= decision.start < len(self.steps) or bad_prelude:
            raise ConfigurationError(
                f"cascade {self.name!r}: the router chose step {decision.start} after "
                f"{list(decision.prelude)}, but there are {len(self.steps)} steps (the prelude must come "
                "before the start)"
            )
        return messages, decision

    def _order(self, decision: RouteDecision) -> list[int]:
        return [*decision.prelude, *range(decision.start, len(self.steps))]

    def _classify_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` escalates (else it propagates)."""
        if isinstance(exc, BudgetExceeded):
            return self.on_budget_exceeded == "escalate"
        if isinstance(exc, ConfigurationError) or not isinstance(exc, Exception):
            return False
        return self.escalate_on is not None and self.escalate_on(exc)

    def _hop(
        self,
        step: BaseStep,
        index: int,
        scope: HopScope,
        outcome: Outcome,
        answer: Answer | None,
        score: Score | None,
        error: BaseException | None,
    ) -> Hop:
        records = scope.close(outcome)
        cost = sum_costs(records)
        if step.kind == "model" and not records and error is None:
            cost = None  # a model step answered but no record reached us: we cannot price it
        provider = step.provider or (answer.provider if answer is not None else None)
        model = step.model or (answer.model if answer is not None else None)
        return Hop(
            step=index,
            name=self.names[index],
            kind=step.kind,
            outcome=outcome,
            provider=provider,
            model=model,
            answer=answer,
            score=score,
            error=error,
            cost_usd=cost,
            records=records,
        )

    def _finish(
        self,
        cid: str,
        hops: list[Hop],
        decision: RouteDecision,
        end: Literal["accepted", "exhausted", "error"],
    ) -> CascadeResult | None:
        with handle_internal_errors("cascade.stats"):
            self._stats.add_run([(h.step, h.name, h.kind, h.outcome, h.cost_usd) for h in hops], end)
        self._check_health()  # outside: under `-W error` the CascadeHealthWarning itself must surface
        if end == "error":
            return None
        total: Decimal | None = _ZERO
        for h in hops:
            total = None if total is None or h.cost_usd is None else total + h.cost_usd
        if end == "accepted":
            h = hops[-1]
            return self._result(h, cid, hops, total, decision, accepted=True)
        answered = [h for h in hops if h.answer is not None]
        if self.exhausted == "last" and answered:
            return self._result(answered[-1], cid, hops, total, decision, accepted=False)
        errors: list[Exception] = []
        parts: list[str] = []
        for h in hops:
            err = h.error
            if not isinstance(err, Exception):
                reason = h.score.reason if h.score is not None else "no rule matched"
                err = AnswerRejected(h.step, h.name, h.answer, h.score, reason)
            errors.append(err)
            parts.append(f"step {h.step} {h.name}: {type(err).__name__}: {err}")
        cost = f"${total}" if total is not None else "unknown"
        raise CascadeExhausted(
            f"cascade {self.name!r} exhausted {len(hops)} step(s) (cascade_id={cid}, total cost {cost}): "
            + "; ".join(parts)
            + ". Lower the accept threshold, add a stronger step, name more errors in escalate_on, or pass "
            "exhausted='last' to get the last answer",
            errors,
            hops=hops,
            cascade_id=cid,
            cost_usd=total,
        )

    def _result(
        self,
        h: Hop,
        cid: str,
        hops: list[Hop],
        total: Decimal | None,
        decision: RouteDecision,
        *,
        accepted: bool,
    ) -> CascadeResult:
        assert h.answer is not None
        return CascadeResult(
            text=h.answer.text,
            step=h.step,
            name=h.name,
            accepted=accepted,
            cascade_id=cid,
            hops=hops,
            cost_usd=total,
            provider=h.provider,
            model=h.model,
            response=h.answer.response,
            score=h.score,
            route=decision,
        )

    def _check_health(self) -> None:
        if self.healthy_range is None:
            return
        snap = self._stats.snapshot()
        if snap.model_runs < self.health_min_runs or snap.model_runs % self.health_min_runs:
            return
        if snap.health in ("low", "high"):
            lo, hi = self.healthy_range
            rate = snap.escalation_rate or 0.0
            advice = (
                "the cheap step rejects too little: check that the scorer can reject, or drop the strong step"
                if snap.health == "low"
                else "the cheap step is rejected often: lower the accept threshold, use a better first step, "
                "or route hard prompts straight up (start=ComplexityRouter())"
            )
            warn_once(
                CascadeHealthWarning,
                f"cascade-health:{self.name}:{snap.health}",
                f"llmfinops: cascade {self.name!r} escalation rate {rate:.1%} over {snap.model_runs} runs is "
                f"outside the healthy {lo:.0%}-{hi:.0%}; {advice}",
            )

    def stats(self) -> CascadeStats:
        """In-process metrics since this cascade was built: escalation rates, cost per accepted answer.

        Example:
            >>> from llmfinops.cascade import Match
            >>> c = cascade([Match({"hours": "8am-8pm ET"})])
            >>> c.stats().runs, c.stats().escalation_rate
            (0, None)
        """
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Start the in-process counters over."""
        self._stats = Aggregator(
            self.name,
            list(zip(self.names, (s.kind for s in self.steps), strict=True)),
            self.healthy_range or HEALTHY_ESCALATION,
        )

    # -- sync ----------------------------------------------------------------------------------
    def run(self, input: str | Sequence[Message], /, *, system: str | None = None) -> CascadeResult:
        """Run the cascade synchronously.

        Args:
            input: The user question, or provider-neutral messages
                ``[{"role": "system" | "user" | "assistant", "content": str}, ...]``.
            system: A system prompt (prepended).

        Returns:
            The accepted answer with every hop and the total cost.

        Raises:
            CascadeExhausted: Every step failed or was rejected (unless ``exhausted="last"``).
            BudgetExceeded: A budget refused a hop (unless ``on_budget_exceeded="escalate"``).
            ConfigurationError: Bad input, or an async step or client.
            Exception: An SDK error not named in ``escalate_on``, unchanged.

        Example:
            >>> import llmfinops
            >>> from llmfinops.cascade import Match, Step, cascade
            >>> from llmfinops.testing.openai import OpenAIMock, openai_client
            >>> mock = OpenAIMock(content="Refunds take 5-7 business days.")
            >>> client = llmfinops.wrap(openai_client(mock), sinks=[])  # an offline OpenAI()
            >>> support = cascade([Match({"opening hours": "8am-8pm ET"}), Step(client, "gpt-6-luna")])
            >>> result = support.run("How long do refunds take?")
            >>> result.text, result.name, [h.outcome for h in result.hops]
            ('Refunds take 5-7 business days.', 'openai:gpt-6-luna', ['escalated', 'accepted'])
        """
        messages, decision = self._begin(input, system)
        for i in self._order(decision):
            self.steps[i].check_sync(i)
        cid = os.urandom(12).hex()
        hops: list[Hop] = []
        end: Literal["accepted", "exhausted", "error"] = "error"
        try:
            with tags(cascade=self.name):
                for i in self._order(decision):
                    if self._run_step(i, messages, cid, hops).outcome == "accepted":
                        end = "accepted"
                        break
                else:
                    end = "exhausted"
        finally:
            if end == "error":
                self._finish(cid, hops, decision, "error")
        result = self._finish(cid, hops, decision, end)
        assert result is not None
        return result

    def _run_step(self, i: int, messages: tuple[Message, ...], cid: str, hops: list[Hop]) -> Hop:
        step = self.steps[i]
        scorer = self._scorer_for(step)
        scope = HopScope(cid, i)
        token = HOP.set(scope)
        answer: Answer | None = None
        score: Score | None = None
        outcome: Outcome = "failed"
        error: BaseException | None = None
        reset = False
        try:
            answer = step.answer(messages, i, scorer.needs_logprobs)
            if answer is None:
                outcome = "escalated"
            else:
                score = _resolve(scorer.score(answer), self.on_unknown)
                outcome = "accepted" if score.accepted else "escalated"
        except BaseException as exc:
            HOP.reset(token)
            reset = True
            outcome = "failed" if answer is None else "escalated"
            error = exc
            if not self._classify_error(exc):
                # The run ends with this error, unchanged; its hop still releases its records.
                hops.append(self._hop(step, i, scope, "failed", answer, score, exc))
                raise
        finally:
            if not reset:
                HOP.reset(token)
        hop = self._hop(step, i, scope, outcome, answer, score, error)
        hops.append(hop)
        return hop

    # -- async ---------------------------------------------------------------------------------
    async def arun(self, input: str | Sequence[Message], /, *, system: str | None = None) -> CascadeResult:
        """Run the cascade with ``await`` (async clients, async functions and scorers).

        Sync clients work too (their calls run in a worker thread). Same arguments, result and
        errors as :meth:`run`.

        Example:
            >>> import asyncio, llmfinops
            >>> from llmfinops.cascade import Match, Step, cascade
            >>> from llmfinops.testing.openai import OpenAIMock, async_openai_client
            >>> mock = OpenAIMock(content="Refunds take 5-7 business days.")
            >>> client = llmfinops.wrap(async_openai_client(mock), sinks=[])  # an offline AsyncOpenAI()
            >>> support = cascade([Match({"opening hours": "8am-8pm ET"}), Step(client, "gpt-6-luna")])
            >>> result = asyncio.run(support.arun("How long do refunds take?"))  # or: await support.arun(...)
            >>> result.text, result.name, [h.outcome for h in result.hops]
            ('Refunds take 5-7 business days.', 'openai:gpt-6-luna', ['escalated', 'accepted'])
        """
        messages, decision = self._begin(input, system)
        cid = os.urandom(12).hex()
        hops: list[Hop] = []
        end: Literal["accepted", "exhausted", "error"] = "error"
        try:
            with tags(cascade=self.name):
                for i in self._order(decision):
                    if (await self._arun_step(i, messages, cid, hops)).outcome == "accepted":
                        end = "accepted"
                        break
                else:
                    end = "exhausted"
        finally:
            if end == "error":
                self._finish(cid, hops, decision, "error")
        result = self._finish(cid, hops, decision, end)
        assert result is not None
        return result

    async def _arun_step(self, i: int, messages: tuple[Message, ...], cid: str, hops: list[Hop]) -> Hop:
        step = self.steps[i]
        scorer = self._scorer_for(step)
        scope = HopScope(cid, i)
        token = HOP.set(scope)
        answer: Answer | None = None
        score: Score | None = None
        outcome: Outcome = "failed"
        error: BaseException | None = None
        reset = False
        try:
            answer = await step.aanswer(messages, i, scorer.needs_logprobs)
            if answer is None:
                outcome = "escalated"
            else:
                score = _resolve(await scorer.ascore(answer), self.on_unknown)
                outcome = "accepted" if score.accepted else "escalated"
        except BaseException as exc:
            HOP.reset(token)
            reset = True
            outcome = "failed" if answer is None else "escalated"
            error = exc
            if not self._classify_error(exc):
                hops.append(self._hop(step, i, scope, "failed", answer, score, exc))
                raise
        finally:
            if not reset:
                HOP.reset(token)
        hop = self._hop(step, i, scope, outcome, answer, score, error)
        hops.append(hop)
        return hop


class _Keep(Scorer):
    name = "matched"

    def score(self, answer: Answer) -> Score:
        return Score(True, reason="matched a rule")


_KEEP = _Keep()


def cascade(
    steps: Sequence[StepLike],
    *,
    accept: ScorerLike | None = None,
    escalate_on: Any = None,
    on_unknown: Literal["accept", "escalate"] = "escalate",
    on_budget_exceeded: Literal["raise", "escalate"] = "raise",
    exhausted: Literal["raise", "last"] = "raise",
    start: StartLike = None,
    name: str = "cascade",
    healthy_range: tuple[float, float] | None = HEALTHY_ESCALATION,
    health_min_runs: int = 100,
) -> Cascade:
    """Build a cascade: try the cheapest step first and escalate only when its answer is not kept.

    Args:
        steps: Cheapest first: :class:`Step` (a wrapped client + model), :class:`Match`
            (free keyword/regex answers) or functions (:class:`FunctionStep`).
        accept: Scorer deciding whether an answer is kept (default :func:`no_refusal`); plain
            callables over the answer text work too. Steps may override it.
        escalate_on: Errors that escalate instead of propagating: exception classes, predicates,
            :data:`rate_limited`-style conditions, or a tuple of them. Others propagate unchanged.
        on_unknown: What to do when the scorer cannot tell (e.g. token confidence on Anthropic).
        on_budget_exceeded: ``"raise"`` (default) re-raises a hop's ``BudgetExceeded``;
            ``"escalate"`` moves on to the next step.
        exhausted: ``"raise"`` :class:`CascadeExhausted` when nothing is accepted, or ``"last"``
            to return the last answer with ``accepted=False``.
        start: First step: an index or name, :class:`ComplexityRouter` (seed 003 heuristic), or
            ``callable(query) -> index | name``.
        name: Name in records (tag ``cascade``), stats and warnings.
        healthy_range: Escalation-rate range outside which a :class:`CascadeHealthWarning` is
            issued (once); ``None`` disables it.
        health_min_runs: Check the range every this many model-reaching runs.

    Returns:
        A :class:`Cascade`; call ``.run(...)`` or ``await .arun(...)``.

    Raises:
        ConfigurationError: Empty or invalid steps, options or ``escalate_on``.

    Example:
        >>> import llmfinops
        >>> from llmfinops.cascade import Step
        >>> from llmfinops.testing.openai import OpenAIMock, openai_client
        >>> mock = OpenAIMock(content="Refunds take 5-7 business days.")
        >>> client = llmfinops.wrap(openai_client(mock), sinks=[])  # an offline OpenAI()
        >>> bot = cascade([Step(client, "gpt-6-luna"), Step(client, "gpt-6.1-sol")], name="support")
        >>> r = bot.run("How long do refunds take?")
        >>> r.text, r.name, len(r.hops)
        ('Refunds take 5-7 business days.', 'openai:gpt-6-luna', 1)
    """
    return Cascade(
        steps,
        accept=accept,
        escalate_on=escalate_on,
        on_unknown=on_unknown,
        on_budget_exceeded=on_budget_exceeded,
        exhausted=exhausted,
        start=start,
        name=name,
        healthy_range=healthy_range,
        health_min_runs=health_min_runs,
    )
