"""Cascade metrics: escalation rate per cascade and step, cost per accepted answer.

Kept in-process by every :class:`Cascade` (``c.stats()``) and computable from records
(:func:`cascade_stats`), which group hops by ``cascade_id`` and ``cascade_step``.
"""

from __future__ import annotations

__all__ = ["HEALTHY_ESCALATION", "CascadeStats", "StepStats", "cascade_stats"]

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from llmfinops.records import CallRecord

HEALTHY_ESCALATION: tuple[float, float] = (0.05, 0.20)
"""Seed 004: "Goal: escalation rate 5-20 % — captures hard cases without overusing strong model"."""

RunEnd = Literal["accepted", "exhausted", "error"]


@dataclass(frozen=True, slots=True)
class StepStats:
    """Counters of one step.

    Example:
        >>> StepStats(0, "openai:gpt-6-luna", "model", 10, 8, 2, 0, Decimal("0.01")).escalation_rate
        0.2
    """

    step: int
    name: str
    kind: str
    attempts: int
    """Runs that tried this step."""
    accepted: int
    escalated: int
    """Answers rejected (or matcher misses)."""
    failed: int
    """The step raised (an error named in ``escalate_on``, or one that propagated)."""
    cost_usd: Decimal | None
    """Sum of the step's hop costs (answer and judge calls); ``None`` when any is unknown."""

    @property
    def escalation_rate(self) -> float | None:
        """Share of attempts passed on (rejected or failed); ``None`` before any attempt."""
        return (self.escalated + self.failed) / self.attempts if self.attempts else None


@dataclass(frozen=True, slots=True)
class CascadeStats:
    """Counters of one cascade.

    Example:
        >>> s = CascadeStats("bot", runs=4, accepted_runs=4, exhausted_runs=0, error_runs=0,
        ...                  model_runs=4, escalated_runs=1, cost_usd=Decimal("0.02"), steps=())
        >>> s.escalation_rate, s.cost_per_accepted_usd, s.health
        (0.25, Decimal('0.005'), 'high')
    """

    name: str
    runs: int
    accepted_runs: int
    """Runs that returned an accepted answer."""
    exhausted_runs: int
    """Runs where every step failed or was rejected (from records: every run without an accepted hop)."""
    error_runs: int
    """Runs ended by an error not named in ``escalate_on`` (in-process only)."""
    model_runs: int
    """Runs that reached a model or function step (matcher hits do not)."""
    escalated_runs: int
    """Runs in which at least one model/function hop was escalated or failed."""
    cost_usd: Decimal | None
    """Total cost of all runs; ``None`` when any hop's cost is unknown."""
    steps: tuple[StepStats, ...]
    healthy_range: tuple[float, float] = HEALTHY_ESCALATION
    inferred: bool = False
    """From records without ``cascade_outcome``: outcomes were inferred (the last successful hop is taken
    as accepted)."""

    @property
    def escalation_rate(self) -> float | None:
        """Share of model-reaching runs that escalated at least once (seed 004's metric)."""
        return self.escalated_runs / self.model_runs if self.model_runs else None

    @property
    def cost_per_accepted_usd(self) -> Decimal | None:
        """Total cost (rejected and exhausted runs included) per accepted answer."""
        if self.cost_usd is None or not self.accepted_runs:
            return None
        return self.cost_usd / self.accepted_runs

    @property
    def health(self) -> Literal["healthy", "low", "high", "no data"]:
        """``low`` / ``high`` when the escalation rate is outside :attr:`healthy_range`."""
        rate = self.escalation_rate
        if rate is None:
            return "no data"
        lo, hi = self.healthy_range
        return "low" if rate < lo else "high" if rate > hi else "healthy"


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


class _StepAcc:
    __slots__ = ("accepted", "attempts", "cost", "escalated", "failed", "kind", "name")

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind
        self.attempts = self.accepted = self.escalated = self.failed = 0
        self.cost: Decimal | None = Decimal(0)


class Aggregator:
    """Thread-safe running counters; :meth:`add_run` per run, :meth:`snapshot` for a :class:`CascadeStats`."""

    def __init__(
        self,
        name: str,
        steps: Sequence[tuple[str, str]] = (),
        healthy_range: tuple[float, float] = HEALTHY_ESCALATION,
    ) -> None:
        self.name = name
        self.healthy_range = healthy_range
        self._lock = threading.Lock()
        self._steps: dict[int, _StepAcc] = {i: _StepAcc(n, k) for i, (n, k) in enumerate(steps)}
        self.runs = self.accepted_runs = self.exhausted_runs = self.error_runs = 0
        self.model_runs = self.escalated_runs = 0
        self.cost: Decimal | None = Decimal(0)

    def add_run(self, hops: Sequence[tuple[int, str, str, str, Decimal | None]], end: RunEnd) -> None:
        """Count one run: ``hops`` are ``(step, name, kind, outcome, cost)``."""
        with self._lock:
            self.runs += 1
            if end == "accepted":
                self.accepted_runs += 1
            elif end == "exhausted":
                self.exhausted_runs += 1
            else:
                self.error_runs += 1
            reached_model = escalated = False
            for step, name, kind, outcome, cost in hops:
                acc = self._steps.get(step)
                if acc is None:
                    acc = self._steps[step] = _StepAcc(name, kind)
                acc.attempts += 1
                if outcome == "accepted":
                    acc.accepted += 1
                elif outcome == "escalated":
                    acc.escalated += 1
                else:
                    acc.failed += 1
                acc.cost = _add(acc.cost, cost)
                self.cost = _add(self.cost, cost)
                if kind != "match":
                    reached_model = True
                    escalated = escalated or outcome != "accepted"
            self.model_runs += reached_model
            self.escalated_runs += escalated

    def snapshot(self, *, inferred: bool = False) -> CascadeStats:
        """The counters now."""
        with self._lock:
            steps = tuple(
                StepStats(i, a.name, a.kind, a.attempts, a.accepted, a.escalated, a.failed, a.cost)
                for i, a in sorted(self._steps.items())
            )
            return CascadeStats(
                self.name,
                self.runs,
                self.accepted_runs,
                self.exhausted_runs,
                self.error_runs,
                self.model_runs,
                self.escalated_runs,
                self.cost,
                steps,
                self.healthy_range,
                inferred,
            )


def cascade_stats(
    records: Iterable[CallRecord], *, healthy_range: tuple[float, float] = HEALTHY_ESCALATION
) -> dict[str, CascadeStats]:
    """Escalation rates and cost per accepted answer from records, per cascade name (tag ``cascade``).

    Records of one run share ``cascade_id``; each hop's records share ``cascade_step``
    (judge calls are tagged ``cascade_role=judge`` and counted in their step's cost). Matcher
    hits make no call and are not in records: in-process :meth:`Cascade.stats` counts them.
    When records carry no ``cascade_outcome``, the highest step with a successful call is taken
    as the accepted one (``inferred=True``).

    Example:
        >>> from llmfinops.testing import make_record
        >>> recs = [make_record(cascade_id="r1", cascade_step=0, cascade_outcome="escalated",
        ...                     cost_usd="0.001",
        ...                     tags={"cascade": "bot"}),
        ...         make_record(cascade_id="r1", cascade_step=1, cascade_outcome="accepted", cost_usd="0.02",
        ...                     tags={"cascade": "bot"})]
        >>> s = cascade_stats(recs)["bot"]
        >>> s.escalation_rate, s.cost_per_accepted_usd
        (1.0, Decimal('0.021'))
    """
    runs: dict[tuple[str, str], dict[int, list[CallRecord]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        if rec.cascade_id is None or rec.cascade_step is None:
            continue
        name = rec.tags.get("cascade", "cascade")
        runs[(name, rec.cascade_id)][rec.cascade_step].append(rec)
    aggs: dict[str, Aggregator] = {}
    inferred_names: set[str] = set()
    for (name, _), steps in sorted(
        runs.items(), key=lambda kv: min(r.timestamp for s in kv[1].values() for r in s)
    ):
        agg = aggs.setdefault(name, Aggregator(name, healthy_range=healthy_range))
        hops: list[tuple[int, str, str, str, Decimal | None]] = []
        outcomes: dict[int, str | None] = {}
        for step, recs in sorted(steps.items()):
            main = [r for r in recs if r.tags.get("cascade_role") != "judge"] or recs
            known = {r.cascade_outcome for r in main if r.cascade_outcome}
            outcomes[step] = next((o for o in ("accepted", "escalated", "failed") if o in known), None)
        if any(o is None for o in outcomes.values()):
            inferred_names.add(name)
            ok_steps = [
                s
                for s in sorted(steps)
                if any(r.status == "ok" for r in steps[s] if r.tags.get("cascade_role") != "judge")
            ]
            best = ok_steps[-1] if ok_steps else None
            for s in outcomes:
                if outcomes[s] is None:
                    main_ok = s in ok_steps
                    outcomes[s] = "accepted" if s == best else "escalated" if main_ok else "failed"
        for step, recs in sorted(steps.items()):
            cost: Decimal | None = Decimal(0)
            for r in recs:
                cost = _add(cost, r.cost_usd)
            first = next((r for r in recs if r.tags.get("cascade_role") != "judge"), recs[0])
            hops.append((step, f"{first.provider}:{first.model}", "model", outcomes[step] or "failed", cost))
        end: RunEnd = "accepted" if "accepted" in outcomes.values() else "exhausted"
        agg.add_run(hops, end)
    return {n: a.snapshot(inferred=n in inferred_names) for n, a in aggs.items()}
