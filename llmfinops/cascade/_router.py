"""Complexity routing: pick the first step from the prompt, so hard prompts skip the cheap models.

The default heuristic is seed 003's ``IntelligentRouter.analyzeComplexity``, reproduced
exactly (same keywords, same regexes, same float arithmetic, same thresholds):

* words (split on whitespace): ``< 10`` -> +0.1, ``< 30`` -> +0.3, else +0.5;
* question type: ``^(what|when|where|who) is`` -> factual +0.1; else contains
  ``how|why|explain|compare|analyze`` -> analytical +0.5; else procedural/general +0.3;
* multi-step keyword (compare, analyze, design, implement, evaluate, recommend,
  strategize) -> +0.3; context reference (previous, earlier, mentioned) -> +0.2;
* capped at 1.0; ``< 0.3`` simple, ``< 0.7`` medium, else complex.

Note the seed's own quirks, kept on purpose so results match the seed: only short
``what/when/where/who is`` questions can be *simple* (its "What's your return policy?"
example scores 0.4, *medium*), and keywords match inside words ("show" contains "how").
Tune the thresholds, or pass your own ``analyzer``, if that does not suit your traffic.
"""

from __future__ import annotations

__all__ = ["Complexity", "ComplexityRouter", "RouteDecision", "Tier", "analyze_complexity", "route"]

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

from llmfinops.exceptions import ConfigurationError

Tier: TypeAlias = Literal["simple", "medium", "complex"]

_MULTI_STEP = ("compare", "analyze", "design", "implement", "evaluate", "recommend", "strategize")
_CONTEXT = ("previous", "earlier", "mentioned")
_FACTUAL = re.compile(r"(what|when|where|who) is")
_ANALYTICAL = re.compile(r"(how|why|explain|compare|analyze)")
_PROCEDURAL = re.compile(r"(how to|steps|process|implement)")


@dataclass(frozen=True, slots=True)
class Complexity:
    """The heuristic's reading of one query.

    Example:
        >>> route("What is SSO?").tier
        'simple'
    """

    score: float
    """0.0-1.0."""
    tier: Tier
    """``simple`` (< simple_threshold), ``medium`` or ``complex`` (>= complex_threshold)."""
    word_count: int
    question_type: str
    """``factual``, ``analytical``, ``procedural`` or ``general``."""
    context_required: bool
    multi_step_reasoning: bool


def _question_type(lower: str) -> str:
    if _FACTUAL.match(lower):
        return "factual"
    if _ANALYTICAL.search(lower):
        return "analytical"
    if _PROCEDURAL.search(lower):
        return "procedural"
    return "general"


def analyze_complexity(
    query: str, *, simple_threshold: float = 0.3, complex_threshold: float = 0.7
) -> Complexity:
    """Seed 003's complexity heuristic (see the module docstring).

    Example:
        >>> c = analyze_complexity("Compare our enterprise and business plans, analyze which would be "
        ...     "better for a mid-sized company with 500 employees, considering scalability and cost "
        ...     "over 3 years")
        >>> c.score, c.tier
        (1.0, 'complex')
    """
    word_count = len(re.split(r"\s+", query))
    lower = query.lower()
    qtype = _question_type(lower)
    multi = any(kw in lower for kw in _MULTI_STEP)
    context = any(kw in lower for kw in _CONTEXT)
    score = 0.0
    if word_count < 10:
        score += 0.1
    elif word_count < 30:
        score += 0.3
    else:
        score += 0.5
    if qtype == "factual":
        score += 0.1
    elif qtype == "analytical":
        score += 0.5
    else:
        score += 0.3
    if multi:
        score += 0.3
    if context:
        score += 0.2
    score = min(1.0, score)
    tier: Tier
    if score < simple_threshold:
        tier = "simple"
    elif score < complex_threshold:
        tier = "medium"
    else:
        tier = "complex"
    return Complexity(score, tier, word_count, qtype, context, multi)


def route(query: str, *, simple_threshold: float = 0.3, complex_threshold: float = 0.7) -> Complexity:
    """Classify ``query`` as simple / medium / complex with the default heuristic.

    Example:
        >>> route("What's your return policy?").tier   # seed 003 scores it 0.4
        'medium'
    """
    return analyze_complexity(query, simple_threshold=simple_threshold, complex_threshold=complex_threshold)


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where a cascade run starts, and why (``CascadeResult.route``).

    Example:
        >>> ComplexityRouter().choose("What is SSO?", ["faq", "mini", "strong"], [1, 2])
        RouteDecision(start=1, tier='simple', score=0.2, prelude=(0,))
    """

    start: int
    """Index of the first step to try."""
    tier: str | None = None
    """The tier the router saw (``None`` for custom routers that return an index)."""
    score: float | None = None
    """The complexity score, when there is one."""
    prelude: tuple[int, ...] = ()
    """Free matcher steps (before ``start``) tried first."""


class Router(Protocol):
    """**Protocol:** chooses the first step of a run."""

    def choose(self, query: str, step_names: Sequence[str], model_steps: Sequence[int]) -> RouteDecision:
        """Pick the start step for ``query`` (``model_steps``: indices of the non-matcher steps)."""
        ...


def _index(value: int | str, step_names: Sequence[str], what: str) -> int:
    if isinstance(value, bool):
        raise ConfigurationError(f"{what}={value!r} is not a step index or name")
    if isinstance(value, int):
        if not 0 <= value < len(step_names):
            raise ConfigurationError(
                f"{what}={value} is out of range; the cascade has {len(step_names)} steps"
            )
        return value
    if value in step_names:
        return step_names.index(value)
    raise ConfigurationError(f"{what}={value!r} is not a step name; names: {list(step_names)}")


class ComplexityRouter:
    """Start easy prompts at the first step and hard ones further up (seed 003 heuristic by default).

    Args:
        simple_threshold: Scores below it are ``simple``.
        complex_threshold: Scores at or above it are ``complex``.
        tiers: Tier -> step index or name. Default: ``simple`` -> the first model step,
            ``medium`` -> the middle model step (the lower one of two), ``complex`` -> the last step.
        analyzer: Replace the heuristic: ``(query) -> Complexity`` or ``(query) -> float score``.
        matchers_first: For simple and medium prompts, still try the free :class:`Match` steps
            at the front of the cascade before the chosen step (complex prompts skip them:
            a canned answer rarely fits a complex question).

    Example:
        >>> r = ComplexityRouter(tiers={"simple": 0, "medium": 0, "complex": 1})
        >>> r.choose("What is SSO?", ["mini", "strong"], [0, 1]).start
        0
    """

    def __init__(
        self,
        *,
        simple_threshold: float = 0.3,
        complex_threshold: float = 0.7,
        tiers: Mapping[str, int | str] | None = None,
        analyzer: Callable[[str], Complexity | float] | None = None,
        matchers_first: bool = True,
    ) -> None:
        if not 0.0 <= simple_threshold <= complex_threshold <= 1.0:
            raise ConfigurationError(
                f"ComplexityRouter: simple_threshold={simple_threshold}, "
                f"complex_threshold={complex_threshold}; "
                "need 0 <= simple_threshold <= complex_threshold <= 1"
            )
        if tiers is not None and set(tiers) - {"simple", "medium", "complex"}:
            raise ConfigurationError(
                f"ComplexityRouter: tiers={dict(tiers)!r}; keys must be 'simple', 'medium', 'complex'"
            )
        self.simple_threshold = simple_threshold
        self.complex_threshold = complex_threshold
        self.tiers = dict(tiers) if tiers is not None else None
        self.analyzer = analyzer
        self.matchers_first = matchers_first

    def analyze(self, query: str) -> Complexity:
        """Score ``query`` with the analyzer and thresholds."""
        if self.analyzer is None:
            return analyze_complexity(
                query, simple_threshold=self.simple_threshold, complex_threshold=self.complex_threshold
            )
        got = self.analyzer(query)
        if isinstance(got, Complexity):
            return got
        score = float(got)
        tier: Tier = (
            "simple"
            if score < self.simple_threshold
            else "medium"
            if score < self.complex_threshold
            else "complex"
        )
        return Complexity(score, tier, len(re.split(r"\s+", query)), "custom", False, False)

    def choose(self, query: str, step_names: Sequence[str], model_steps: Sequence[int]) -> RouteDecision:
        """The start step for ``query``."""
        c = self.analyze(query)
        if self.tiers is not None and c.tier in self.tiers:
            start = _index(self.tiers[c.tier], step_names, f"ComplexityRouter tiers[{c.tier!r}]")
        else:
            start = default_tier_start(c.tier, len(step_names), model_steps)
        prelude: tuple[int, ...] = ()
        if self.matchers_first and c.tier != "complex" and model_steps:
            prelude = tuple(i for i in range(min(model_steps[0], start)))
        return RouteDecision(start, c.tier, c.score, prelude)


def default_tier_start(tier: str, n_steps: int, model_steps: Sequence[int]) -> int:
    """Default tier -> step mapping (see :class:`ComplexityRouter`).

    Example:
        >>> [default_tier_start(t, 4, [1, 2, 3]) for t in ("simple", "medium", "complex")]
        [1, 2, 3]
    """
    if not model_steps:
        return 0
    if tier == "simple":
        return model_steps[0]
    if tier == "complex":
        return model_steps[-1]
    return model_steps[(len(model_steps) - 1) // 2]


class _FnRouter:
    def __init__(self, fn: Callable[[str], int | str]) -> None:
        self.fn = fn

    def choose(self, query: str, step_names: Sequence[str], model_steps: Sequence[int]) -> RouteDecision:
        return RouteDecision(_index(self.fn(query), step_names, "start(query)"))


class _FixedRouter:
    def __init__(self, start: int) -> None:
        self.start = start

    def choose(self, query: str, step_names: Sequence[str], model_steps: Sequence[int]) -> RouteDecision:
        return RouteDecision(self.start)


StartLike: TypeAlias = "int | str | Router | Callable[[str], int | str] | None"


def as_router(start: object, step_names: Sequence[str]) -> Router:
    """Normalize the ``start=`` option of a cascade."""
    if start is None:
        return _FixedRouter(0)
    if isinstance(start, int | str) and not isinstance(start, bool):
        return _FixedRouter(_index(start, step_names, "cascade start"))
    if hasattr(start, "choose"):
        return start
    if callable(start):
        return _FnRouter(start)
    raise ConfigurationError(
        f"cascade: start={start!r}; pass a step index or name, ComplexityRouter(), "
        "or a callable(query) -> index"
    )
