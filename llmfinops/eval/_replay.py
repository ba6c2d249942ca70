"""Replay recorded answers through a cascade policy; compare with single-model baselines."""

from __future__ import annotations

__all__ = ["PolicyStats", "ReplayResult", "Sweep", "SweepRow", "replay", "sweep"]

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from llmfinops._config import get_config
from llmfinops.cascade._router import StartLike, as_router
from llmfinops.cascade._scorers import ScorerLike, _resolve, as_scorer, no_refusal
from llmfinops.cascade._types import Answer
from llmfinops.exceptions import ConfigurationError
from llmfinops.pricing import PriceTable
from llmfinops.usage import Usage

from ._data import Dataset, EvalQuery, RecordedAnswer

_ZERO = Decimal(0)
_THOUSAND = Decimal(1000)


@dataclass(frozen=True, slots=True)
class PolicyStats:
    """Cost and accuracy of one policy over a dataset.

    Example:
        >>> s = PolicyStats("always gpt-6-luna", 100, 80, Decimal("0.01"), 0, {"gpt-6-luna": 100})
        >>> s.accuracy, s.cost_per_1k_usd
        (0.8, Decimal('0.10'))
    """

    name: str
    queries: int
    correct: int
    cost_usd: Decimal
    """Total cost of every call the policy made (escalated hops included)."""
    escalated: int
    """Queries that went past their first step."""
    answered_by: dict[str, int]
    """Model -> queries whose final answer came from it."""

    @property
    def accuracy(self) -> float:
        """Share of correct final answers."""
        return self.correct / self.queries if self.queries else 0.0

    @property
    def escalation_rate(self) -> float:
        """Share of queries escalated at least once."""
        return self.escalated / self.queries if self.queries else 0.0

    @property
    def cost_per_1k_usd(self) -> Decimal:
        """Cost per 1,000 queries."""
        return self.cost_usd * _THOUSAND / self.queries if self.queries else _ZERO


class _Pricer:
    def __init__(self, table: PriceTable, at: datetime | None) -> None:
        self.table = table
        self.at = at
        self._now = get_config().clock.now()

    def cost(self, q: EvalQuery, a: RecordedAnswer) -> Decimal:
        when = self.at or q.timestamp or self._now
        usage = Usage(
            input_tokens=a.input_tokens,
            cache_read_tokens=a.cached_input_tokens,
            output_tokens=a.output_tokens,
        )
        c = self.table.cost(a.provider, a.model, usage, at=when)
        if c.total is None:
            raise ConfigurationError(
                f"eval: cannot price {a.provider}:{a.model} at {when.date().isoformat()} ({c.note}); "
                "add it with "
                "llmfinops.configure(price_overrides=...) or pass price_table="
            )
        return c.total


def _answer(q: EvalQuery, a: RecordedAnswer, step: int) -> Answer:
    messages: list[dict[str, str]] = []
    if q.system:
        messages.append({"role": "system", "content": q.system})
    messages.append({"role": "user", "content": q.query})
    return Answer(
        text=a.text,
        query=q.query,
        messages=tuple(messages),
        step=step,
        provider=a.provider,
        model=a.model,
        logprobs=a.logprobs,
        finish_reason="stop",
        reported_confidence=a.confidence,
    )


def _get(q: EvalQuery, model: str) -> RecordedAnswer:
    a = q.answers.get(model)
    if a is None:
        raise ConfigurationError(f"eval: query {q.id!r} has no recorded answer of model {model!r}")
    return a


def _baseline(ds: Dataset, model: str, pricer: _Pricer) -> PolicyStats:
    correct = 0
    cost = _ZERO
    for q in ds.queries:
        a = _get(q, model)
        correct += a.correct
        cost += pricer.cost(q, a)
    return PolicyStats(f"always {model}", len(ds.queries), correct, cost, 0, {model: len(ds.queries)})


def _run_policy(
    ds: Dataset,
    models: Sequence[str],
    accept: ScorerLike | None,
    start: StartLike,
    on_unknown: Literal["accept", "escalate"],
    pricer: _Pricer,
    name: str,
) -> PolicyStats:
    scorer = as_scorer(accept) if accept is not None else no_refusal()
    if scorer.makes_calls:
        raise ConfigurationError(
            f"eval: the scorer {scorer.name} calls a model (an LLM judge); offline replay cannot run it. "
            "Replay the other scorers, or grade the recorded answers with the judge first and replay "
            "its grades as a callable scorer"
        )
    router = as_router(start, list(models))
    model_steps = list(range(len(models)))
    correct = escalated = 0
    cost = _ZERO
    answered: dict[str, int] = {}
    for q in ds.queries:
        first = router.choose(q.query, list(models), model_steps).start
        final: RecordedAnswer | None = None
        for i in range(first, len(models)):
            a = _get(q, models[i])
            cost += pricer.cost(q, a)
            final = a
            # The last model's answer is final whatever its score (the cascade's exhausted="last").
            if i == len(models) - 1 or _resolve(scorer.score(_answer(q, a, i)), on_unknown).accepted:
                break
        assert final is not None
        escalated += final.model != models[first]
        correct += final.correct
        answered[final.model] = answered.get(final.model, 0) + 1
    return PolicyStats(name, len(ds.queries), correct, cost, escalated, answered)


def _fmt_pct(x: float) -> str:
    return f"{x * 100:5.1f}%"


def _table(rows: Sequence[PolicyStats], reference: PolicyStats, labels: Sequence[str] | None = None) -> str:
    names = list(labels) if labels is not None else [r.name for r in rows]
    w = max(len("policy"), *(len(n) for n in names))
    head = (
        f"{'policy':<{w}} {'accuracy':>8} {'cost USD':>10} {'$ / 1k q':>8} {'vs strongest':>12} "
        f"{'escalated':>9}"
    )
    lines = [head, "-" * len(head)]
    for r, label in zip(rows, names, strict=True):
        delta = (r.cost_usd / reference.cost_usd - 1) if reference.cost_usd else Decimal(0)
        esc = _fmt_pct(r.escalation_rate) if not r.name.startswith("always ") else "-"
        lines.append(
            f"{label:<{w}} {_fmt_pct(r.accuracy):>8} {r.cost_usd:>10.6f} {r.cost_per_1k_usd:>8.4f} "
            f"{float(delta) * 100:>+11.1f}% {esc:>9}"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """A policy's stats next to every single-model baseline (returned by :func:`replay`).

    Example:
        >>> from pathlib import Path
        >>> import llmfinops
        >>> from llmfinops.eval import load_dataset, replay
        >>> sample = Path(llmfinops.__file__).parents[1] / "tests/data/cascade_sample.jsonl"
        >>> ds = load_dataset(sample)  # 150 support queries, answered by 3 models (source checkout)
        >>> r = replay(ds, ["gpt-6-luna", "gpt-6.1-sol"])
        >>> round(r.policy.accuracy, 3), round(r.strongest.accuracy, 3), round(r.savings_vs_strongest, 3)
        (0.873, 0.947, 0.807)
    """

    policy: PolicyStats
    baselines: dict[str, PolicyStats]
    """``always <model>`` for each model in the cascade order."""
    models: tuple[str, ...]

    @property
    def cheapest(self) -> PolicyStats:
        """Always the first model."""
        return self.baselines[self.models[0]]

    @property
    def strongest(self) -> PolicyStats:
        """Always the last model."""
        return self.baselines[self.models[-1]]

    @property
    def savings_vs_strongest(self) -> float:
        """``1 - cost / strongest cost``."""
        s = self.strongest.cost_usd
        return float(1 - self.policy.cost_usd / s) if s else 0.0

    def table(self) -> str:
        """A plain-text comparison table.

        Example:
            >>> from pathlib import Path
            >>> import llmfinops
            >>> from llmfinops.eval import load_dataset, replay
            >>> sample = Path(llmfinops.__file__).parents[1] / "tests/data/cascade_sample.jsonl"
            >>> ds = load_dataset(sample)  # 150 support queries, answered by 3 models (source checkout)
            >>> print(replay(ds, ["gpt-6-luna", "gpt-6.1-sol"]).table())
            policy             accuracy   cost USD $ / 1k q vs strongest escalated
            ----------------------------------------------------------------------
            always gpt-6-luna     80.7%   0.011186   0.0746       -95.2%         -
            always gpt-6.1-sol    94.7%   0.234192   1.5613        +0.0%         -
            cascade               87.3%   0.045136   0.3009       -80.7%     11.3%
        """
        return _table([*self.baselines.values(), self.policy], self.strongest)


def replay(
    dataset: Dataset,
    models: Sequence[str],
    *,
    accept: ScorerLike | None = None,
    start: StartLike = None,
    on_unknown: Literal["accept", "escalate"] = "escalate",
    price_table: PriceTable | None = None,
    at: datetime | None = None,
    name: str = "cascade",
) -> ReplayResult:
    """Replay ``dataset`` through a cascade over ``models`` (cheapest first) with the live scorers.

    For each query the policy starts where ``start`` says (index, name, ``ComplexityRouter()``
    or a callable, as in :func:`~llmfinops.cascade.cascade`), scores each recorded answer with
    ``accept`` and stops at the first one kept; the last model's answer is final, whatever its
    score (the cascade's ``exhausted="last"``), so it needs no logprobs. Every tried answer is
    priced from its token counts with the price table in force at ``at`` (default: each
    query's ``timestamp``, else now).

    Args:
        dataset: From :func:`load_dataset`.
        models: Cascade order, cheapest first (model ids as in the dataset).
        accept: Scorer (default ``no_refusal()``); LLM judges cannot be replayed.
        start: Where each query starts.
        on_unknown: Verdict when the scorer cannot tell.
        price_table: Table to price with (default: the configured one).
        at: Price every call at this instant.
        name: Label of the policy in tables.

    Returns:
        The policy's cost and accuracy with ``always <model>`` baselines.

    Raises:
        ConfigurationError: Unknown models, missing answers, unpriced models or a judge scorer.

    Example:
        >>> from pathlib import Path
        >>> import llmfinops
        >>> from llmfinops.cascade import token_confidence
        >>> from llmfinops.eval import load_dataset, replay
        >>> sample = Path(llmfinops.__file__).parents[1] / "tests/data/cascade_sample.jsonl"
        >>> ds = load_dataset(sample)  # 150 support queries, answered by 3 models (source checkout)
        >>> r = replay(ds, ["gpt-6-luna", "gpt-6.1-sol"], accept=token_confidence(0.6))
        >>> print(r.table())
        policy             accuracy   cost USD $ / 1k q vs strongest escalated
        ----------------------------------------------------------------------
        always gpt-6-luna     80.7%   0.011186   0.0746       -95.2%         -
        always gpt-6.1-sol    94.7%   0.234192   1.5613        +0.0%         -
        cascade               86.0%   0.034046   0.2270       -85.5%      7.3%
    """
    models = list(models)
    if not models:
        raise ConfigurationError("eval: models=[] ; name the cascade's models, cheapest first")
    unknown = [m for m in models if m not in dataset.models]
    if unknown:
        raise ConfigurationError(
            f"eval: models {unknown} are not in {dataset.source} (models: {list(dataset.models)})"
        )
    if len(set(models)) != len(models):
        raise ConfigurationError(f"eval: models={models} repeats a model")
    pricer = _Pricer(price_table or get_config().table(), at)
    baselines = {m: _baseline(dataset, m, pricer) for m in models}
    policy = _run_policy(dataset, models, accept, start, on_unknown, pricer, name)
    return ReplayResult(policy, baselines, tuple(models))


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One threshold of a sweep.

    Example:
        >>> row = SweepRow(0.7, PolicyStats("t=0.7", 150, 141, Decimal("0.0776"), 34, {}))
        >>> row.threshold, round(row.stats.accuracy, 2)
        (0.7, 0.94)
    """

    threshold: float
    stats: PolicyStats


@dataclass(frozen=True, slots=True)
class Sweep:
    """A threshold sweep: the cost/accuracy curve of a scorer family (returned by :func:`sweep`).

    Example:
        >>> from pathlib import Path
        >>> import llmfinops
        >>> from llmfinops.cascade import no_refusal, token_confidence
        >>> from llmfinops.eval import load_dataset, sweep
        >>> sample = Path(llmfinops.__file__).parents[1] / "tests/data/cascade_sample.jsonl"
        >>> ds = load_dataset(sample)  # 150 support queries, answered by 3 models (source checkout)
        >>> s = sweep(ds, ["gpt-6-luna", "gpt-6.1-sol"], lambda t: no_refusal() & token_confidence(t),
        ...           [0.6, 0.7])
        >>> [(row.threshold, round(row.stats.accuracy, 3)) for row in s.rows]
        [(0.6, 0.913), (0.7, 0.94)]
    """

    rows: tuple[SweepRow, ...]
    baselines: dict[str, PolicyStats]
    models: tuple[str, ...]
    label: str

    @property
    def strongest(self) -> PolicyStats:
        """Always the last model."""
        return self.baselines[self.models[-1]]

    def best(self, max_accuracy_loss: float = 0.01) -> SweepRow | None:
        """The cheapest threshold whose accuracy is within ``max_accuracy_loss`` of always-strongest.

        Example:
            >>> from pathlib import Path
            >>> import llmfinops
            >>> from llmfinops.cascade import no_refusal, token_confidence
            >>> from llmfinops.eval import load_dataset, sweep
            >>> sample = Path(llmfinops.__file__).parents[1] / "tests/data/cascade_sample.jsonl"
            >>> ds = load_dataset(sample)  # 150 support queries, answered by 3 models (source checkout)
            >>> s = sweep(ds, ["gpt-6-luna", "gpt-6.1-sol"], lambda t: no_refusal() & token_confidence(t),
            ...           [0.5, 0.6, 0.7, 0.8])
            >>> s.best(0.01).threshold, s.best(0.0).threshold
            (0.7, 0.8)
        """
        floor = self.strongest.accuracy - max_accuracy_loss - 1e-12
        ok = [r for r in self.rows if r.stats.accuracy >= floor]
        return min(ok, key=lambda r: (r.stats.cost_usd, -r.stats.accuracy)) if ok else None

    def table(self) -> str:
        """Baselines then one line per threshold."""
        rows = [*self.baselines.values(), *(r.stats for r in self.rows)]
        labels = [b.name for b in self.baselines.values()] + [
            f"{self.label} t={r.threshold:g}" for r in self.rows
        ]
        return _table(rows, self.strongest, labels)

    def to_svg(self, *, width: int = 640, height: int = 400) -> str:
        """The cost/accuracy curve as a standalone SVG (no dependencies)."""
        from ._svg import curve_svg

        points = [(float(r.stats.cost_per_1k_usd), r.stats.accuracy, f"t={r.threshold:g}") for r in self.rows]
        marks = [(float(b.cost_per_1k_usd), b.accuracy, b.name) for b in self.baselines.values()]
        return curve_svg(
            points,
            marks,
            title=f"{self.label}: cost vs accuracy ({len(self.models)} models)",
            width=width,
            height=height,
        )


def sweep(
    dataset: Dataset,
    models: Sequence[str],
    make_accept: Callable[[float], ScorerLike],
    thresholds: Iterable[float],
    *,
    label: str = "cascade",
    **replay_kwargs: Any,
) -> Sweep:
    """Replay once per threshold: ``make_accept(t)`` builds the scorer for threshold ``t``.

    Example:
        >>> from pathlib import Path
        >>> import llmfinops
        >>> from llmfinops.cascade import token_confidence
        >>> from llmfinops.eval import load_dataset, sweep
        >>> sample = Path(llmfinops.__file__).parents[1] / "tests/data/cascade_sample.jsonl"
        >>> ds = load_dataset(sample)  # 150 support queries, answered by 3 models (source checkout)
        >>> s = sweep(ds, ["gpt-6-luna", "gpt-6.1-sol"], lambda t: token_confidence(t), [0.3, 0.5, 0.7])
        >>> print(s.table())
        policy             accuracy   cost USD $ / 1k q vs strongest escalated
        ----------------------------------------------------------------------
        always gpt-6-luna     80.7%   0.011186   0.0746       -95.2%         -
        always gpt-6.1-sol    94.7%   0.234192   1.5613        +0.0%         -
        cascade t=0.3         82.0%   0.016420   0.1095       -93.0%      1.3%
        cascade t=0.5         82.7%   0.019084   0.1272       -91.9%      2.0%
        cascade t=0.7         91.3%   0.059058   0.3937       -74.8%     16.0%
    """
    ts = list(thresholds)
    if not ts:
        raise ConfigurationError("eval sweep: thresholds is empty")
    rows: list[SweepRow] = []
    result: ReplayResult | None = None
    for t in ts:
        result = replay(dataset, models, accept=make_accept(t), name=f"{label} t={t:g}", **replay_kwargs)
        rows.append(SweepRow(t, result.policy))
    assert result is not None
    return Sweep(tuple(rows), result.baselines, result.models, label)
