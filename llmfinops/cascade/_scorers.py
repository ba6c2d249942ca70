"""Accept scorers: decide whether a step's answer is good enough to keep.

A scorer returns a :class:`Score` whose ``accepted`` is ``True`` (keep), ``False``
(escalate) or ``None`` (cannot tell: e.g. token confidence on a provider without
logprobs). Scorers compose like tenacity's strategies: ``a & b`` keeps an answer only if
both keep it, ``a | b`` if either does, with three-valued logic for "cannot tell" and
short-circuiting (put the expensive judge last). Plain callables are accepted anywhere a
scorer is: they receive the answer *text* and return ``bool``, a number (kept when
``>= 0.5``) or ``None``.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_REFUSAL_PATTERNS",
    "AllOf",
    "AnyOf",
    "FnScorer",
    "Scorer",
    "ScorerLike",
    "as_scorer",
    "extract_json",
    "json_schema",
    "no_refusal",
    "pydantic_model",
    "regex",
    "scorer",
]

import importlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

from llmfinops._internal import is_awaitable, is_coroutine_function
from llmfinops.exceptions import ConfigurationError, MissingDependencyError

from ._types import Answer, Score

Unknown: TypeAlias = Literal["accept", "escalate"]


class Scorer:
    """Base class of accept scorers; subclass and implement :meth:`score` (and :meth:`ascore` if it awaits).

    Example:
        >>> class Short(Scorer):
        ...     def score(self, answer):
        ...         return Score(len(answer.text) < 80, reason="short enough")
        >>> (Short() & no_refusal()).score(Answer(text="Yes, within 30 days.")).accepted
        True
    """

    needs_logprobs: bool = False
    """Ask the API for token log probabilities on steps scored by this scorer."""
    makes_calls: bool = False
    """The scorer calls a model (an LLM judge): it cannot run in offline replay."""
    name: str = "scorer"

    def score(self, answer: Answer) -> Score:
        """Judge ``answer`` (sync)."""
        raise NotImplementedError

    async def ascore(self, answer: Answer) -> Score:
        """Judge ``answer`` (async); defaults to :meth:`score`."""
        return self.score(answer)

    def __and__(self, other: ScorerLike) -> Scorer:
        return AllOf(self, as_scorer(other))

    def __rand__(self, other: ScorerLike) -> Scorer:
        return AllOf(as_scorer(other), self)

    def __or__(self, other: ScorerLike) -> Scorer:
        return AnyOf(self, as_scorer(other))

    def __ror__(self, other: ScorerLike) -> Scorer:
        return AnyOf(as_scorer(other), self)

    def __repr__(self) -> str:
        return self.name


ScorerLike: TypeAlias = (
    "Scorer | Callable[[str], bool | float | None] | Callable[[str], Awaitable[bool | float | None]]"
)
"""A :class:`Scorer` or a plain callable over the answer text."""


def _verdict(value: object, threshold: float, name: str) -> Score:
    if isinstance(value, Score):
        return value
    if value is None:
        return Score(None, reason=f"{name}: cannot tell")
    if isinstance(value, bool):
        return Score(value, 1.0 if value else 0.0, f"{name}: {value}")
    if isinstance(value, int | float):
        v = float(value)
        ok = v >= threshold
        return Score(ok, v, f"{name}: {v:g} {'>=' if ok else '<'} {threshold:g}")
    raise ConfigurationError(
        f"scorer {name}: returned {value!r} ({type(value).__name__}); return bool, a number, None or a Score"
    )


class FnScorer(Scorer):
    """A callable as a scorer. Built by :func:`as_scorer` (text in) or :func:`scorer` (:class:`Answer` in)."""

    def __init__(
        self, fn: Callable[[Any], Any], *, threshold: float = 0.5, full: bool = False, name: str | None = None
    ) -> None:
        self.fn = fn
        self.threshold = threshold
        self.full = full
        self.name = name or str(getattr(fn, "__name__", "callable"))
        self.is_async = is_coroutine_function(fn)

    def score(self, answer: Answer) -> Score:
        """Call the function; an async function needs :meth:`ascore`."""
        if self.is_async:
            raise ConfigurationError(
                f"scorer {self.name} is async; run the cascade with `await c.arun(...)` "
                "or pass a sync function"
            )
        return _verdict(self.fn(answer if self.full else answer.text), self.threshold, self.name)

    async def ascore(self, answer: Answer) -> Score:
        """Call (and await) the function."""
        value = self.fn(answer if self.full else answer.text)
        if is_awaitable(value):
            value = await value
        return _verdict(value, self.threshold, self.name)


def as_scorer(value: ScorerLike) -> Scorer:
    """Normalize a scorer or a plain callable over the answer text.

    Raises:
        ConfigurationError: ``value`` is neither.

    Example:
        >>> as_scorer(lambda text: "refund" in text).score(Answer(text="No refund.")).accepted
        True
    """
    if isinstance(value, Scorer):
        return value
    if callable(value):
        return FnScorer(value)
    raise ConfigurationError(
        f"accept={value!r} is not a scorer; pass a Scorer (e.g. no_refusal()) "
        "or a callable(answer_text) -> bool"
    )


def scorer(
    fn: Callable[[Answer], Any] | None = None, *, threshold: float = 0.5, name: str | None = None
) -> Any:
    """Turn a function of the full :class:`Answer` into a scorer (usable as ``@scorer`` or ``@scorer(...)``).

    Args:
        fn: ``(answer: Answer) -> bool | float | Score | None`` (sync or async).
        threshold: Numbers ``>= threshold`` accept.
        name: Name shown in reasons.

    Example:
        >>> @scorer(threshold=0.9)
        ... def finished(answer):
        ...     return 1.0 if answer.finish_reason == "stop" else 0.0
        >>> finished.score(Answer(text="ok", finish_reason="length")).accepted
        False
    """

    def build(f: Callable[[Answer], Any]) -> Scorer:
        return FnScorer(f, threshold=threshold, full=True, name=name)

    return build(fn) if fn is not None else build


# -- composition ------------------------------------------------------------------------------
class AllOf(Scorer):
    """Keep the answer only if every part keeps it (``a & b``); a rejection short-circuits."""

    parts: tuple[Scorer, ...]

    def __init__(self, *parts: Scorer) -> None:
        flat: list[Scorer] = []
        for p in parts:
            flat.extend(p.parts if isinstance(p, AllOf) else (p,))
        self.parts = tuple(flat)
        self.needs_logprobs = any(p.needs_logprobs for p in self.parts)
        self.makes_calls = any(p.makes_calls for p in self.parts)
        self.name = " & ".join(_paren(p) for p in self.parts)

    def _combine(self, scores: list[Score]) -> Score:
        if any(s.accepted is False for s in scores):
            return next(s for s in scores if s.accepted is False)
        if all(s.accepted is True for s in scores):
            values = [s.value for s in scores if s.value is not None]
            return Score(True, min(values) if values else None, "; ".join(s.reason for s in scores))
        return Score(None, None, "; ".join(s.reason for s in scores))

    def score(self, answer: Answer) -> Score:
        """Score the parts left to right, stopping at the first rejection."""
        scores: list[Score] = []
        for p in self.parts:
            s = p.score(answer)
            scores.append(s)
            if s.accepted is False:
                break
        return self._combine(scores)

    async def ascore(self, answer: Answer) -> Score:
        """Async twin of :meth:`score`."""
        scores: list[Score] = []
        for p in self.parts:
            s = await p.ascore(answer)
            scores.append(s)
            if s.accepted is False:
                break
        return self._combine(scores)


class AnyOf(Scorer):
    """Keep the answer if any part keeps it (``a | b``); an acceptance short-circuits."""

    parts: tuple[Scorer, ...]

    def __init__(self, *parts: Scorer) -> None:
        flat: list[Scorer] = []
        for p in parts:
            flat.extend(p.parts if isinstance(p, AnyOf) else (p,))
        self.parts = tuple(flat)
        self.needs_logprobs = any(p.needs_logprobs for p in self.parts)
        self.makes_calls = any(p.makes_calls for p in self.parts)
        self.name = " | ".join(_paren(p) for p in self.parts)

    def _combine(self, scores: list[Score]) -> Score:
        if any(s.accepted is True for s in scores):
            return next(s for s in scores if s.accepted is True)
        if all(s.accepted is False for s in scores):
            values = [s.value for s in scores if s.value is not None]
            return Score(False, max(values) if values else None, "; ".join(s.reason for s in scores))
        return Score(None, None, "; ".join(s.reason for s in scores))

    def score(self, answer: Answer) -> Score:
        """Score the parts left to right, stopping at the first acceptance."""
        scores: list[Score] = []
        for p in self.parts:
            s = p.score(answer)
            scores.append(s)
            if s.accepted is True:
                break
        return self._combine(scores)

    async def ascore(self, answer: Answer) -> Score:
        """Async twin of :meth:`score`."""
        scores: list[Score] = []
        for p in self.parts:
            s = await p.ascore(answer)
            scores.append(s)
            if s.accepted is True:
                break
        return self._combine(scores)


def _paren(s: Scorer) -> str:
    return f"({s.name})" if isinstance(s, AllOf | AnyOf) else s.name


def _resolve(score: Score, on_unknown: Unknown | None) -> Score:
    if score.accepted is not None or on_unknown is None:
        return score
    return Score(on_unknown == "accept", score.value, f"{score.reason} (on_unknown={on_unknown!r})")


def _check_unknown(name: str, on_unknown: object) -> None:
    if on_unknown not in (None, "accept", "escalate"):
        raise ConfigurationError(f"{name}: on_unknown={on_unknown!r}; use 'accept', 'escalate' or None")


def _check_unit(name: str, field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ConfigurationError(f"{name}: {field}={value!r} must be a number in [0, 1]")
    return float(value)


# -- format / validators ----------------------------------------------------------------------
class _Regex(Scorer):
    def __init__(self, pattern: str | re.Pattern[str], flags: int, fullmatch: bool) -> None:
        try:
            self.pattern = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        except re.error as exc:
            raise ConfigurationError(f"regex({pattern!r}): invalid pattern: {exc}") from exc
        self.fullmatch = fullmatch
        self.name = f"regex({self.pattern.pattern!r})"

    def score(self, answer: Answer) -> Score:
        text = answer.text.strip() if self.fullmatch else answer.text
        hit = self.pattern.fullmatch(text) if self.fullmatch else self.pattern.search(text)
        return Score(hit is not None, reason=f"{self.name}: {'matched' if hit else 'no match'}")


def regex(pattern: str | re.Pattern[str], flags: int = 0, *, fullmatch: bool = False) -> Scorer:
    r"""Keep answers matching ``pattern`` (``re.search``; ``fullmatch=True`` for the whole stripped text).

    Example:
        >>> regex(r"^(billing|shipping|account)$", fullmatch=True).score(Answer(text=" billing\n")).accepted
        True
    """
    return _Regex(pattern, flags, fullmatch)


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    r"""Parse the JSON object in an answer: the whole text, a fenced block, or the outermost ``{...}``.

    Raises:
        ValueError: No JSON could be parsed.

    Example:
        >>> extract_json('Sure: ```json\n{"confidence": 0.9}\n```')["confidence"]
        0.9
    """
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for c in candidates:
        if not c:
            continue
        try:
            return json.loads(c)
        except ValueError:
            continue
    raise ValueError("no JSON value found in the answer")


class _JsonSchema(Scorer):
    def __init__(self, schema: Mapping[str, Any]) -> None:
        try:
            jsonschema: Any = importlib.import_module("jsonschema")
        except ImportError as exc:
            raise MissingDependencyError(
                "json_schema() needs the jsonschema package: pip install jsonschema "
                "(or validate with pydantic_model(YourModel), which needs nothing extra)"
            ) from exc
        try:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigurationError(f"json_schema(): invalid schema: {exc.message}") from exc
        self.validator = cls(schema)
        self.name = "json_schema"

    def score(self, answer: Answer) -> Score:
        try:
            data = extract_json(answer.text)
        except ValueError as exc:
            return Score(False, reason=f"json_schema: {exc}")
        errors = sorted(self.validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            return Score(False, reason=f"json_schema: {errors[0].message}")
        return Score(True, reason="json_schema: valid")


def json_schema(schema: Mapping[str, Any]) -> Scorer:
    """Keep answers whose JSON (see :func:`extract_json`) validates against ``schema``.

    Needs the optional ``jsonschema`` package (``pip install jsonschema``).

    Raises:
        MissingDependencyError: ``jsonschema`` is not installed.
        ConfigurationError: ``schema`` is not a valid JSON Schema.

    Example:
        >>> s = json_schema({"type": "object", "required": ["category"]})
        >>> s.score(Answer(text='Sure: {"category": "billing"}')).accepted
        True
        >>> s.score(Answer(text='{"priority": 1}')).reason
        "json_schema: 'category' is a required property"
    """
    return _JsonSchema(schema)


class _Pydantic(Scorer):
    def __init__(self, model: type[Any]) -> None:
        if not hasattr(model, "model_validate"):
            raise ConfigurationError(f"pydantic_model({model!r}): pass a pydantic BaseModel subclass")
        self.model = model
        self.name = f"pydantic_model({model.__name__})"

    def score(self, answer: Answer) -> Score:
        from pydantic import ValidationError

        try:
            self.model.model_validate(extract_json(answer.text))
        except (ValueError, ValidationError) as exc:
            first = str(exc).splitlines()
            return Score(False, reason=f"{self.name}: {' '.join(first[:3])}")
        return Score(True, reason=f"{self.name}: valid")


def pydantic_model(model: type[Any]) -> Scorer:
    """Keep answers whose JSON validates as the pydantic ``model``.

    Example:
        >>> from pydantic import BaseModel
        >>> class Ticket(BaseModel):
        ...     category: str
        >>> pydantic_model(Ticket).score(Answer(text='{"category": "billing"}')).accepted
        True
    """
    return _Pydantic(model)


# -- refusal / hedging ------------------------------------------------------------------------
DEFAULT_REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bI(?:'m| am) (?:not (?:sure|certain)|unsure|unable)\b",
    r"\bI (?:cannot|can't|can not|couldn't|could not|won't|will not) (?:help|assist|answer|provide|"
    r"access|find|determine|say|tell|verify|confirm)\b",
    r"\bI do(?:n't| not) (?:know|have (?:access|information|enough))\b",
    r"\bI(?:'m| am) sorry,? but\b",
    r"\bas an AI\b",
    r"\b(?:not|hard|difficult|impossible) to (?:say|tell|determine) (?:for sure|with certainty)\b",
    r"\bI (?:would|'d) (?:recommend|suggest) (?:contacting|reaching out to|checking with)\b",
    r"\bplease contact (?:support|customer service|our team)\b",
)
"""Phrases that mark a refusal or a hedge (case-insensitive regexes)."""


class _NoRefusal(Scorer):
    def __init__(self, patterns: Sequence[str], min_chars: int, reject_truncated: bool) -> None:
        try:
            self.patterns = [re.compile(p, re.IGNORECASE) for p in patterns]
        except re.error as exc:
            raise ConfigurationError(f"no_refusal(): invalid pattern: {exc}") from exc
        self.min_chars = min_chars
        self.reject_truncated = reject_truncated
        self.name = "no_refusal"

    def score(self, answer: Answer) -> Score:
        text = answer.text.strip()
        if answer.refusal:
            return Score(False, reason=f"no_refusal: the provider refused: {answer.refusal[:80]!r}")
        if answer.finish_reason in ("content_filter", "refusal"):
            return Score(False, reason=f"no_refusal: finish_reason={answer.finish_reason}")
        if self.reject_truncated and answer.finish_reason == "length":
            return Score(False, reason="no_refusal: the answer was truncated (finish_reason=length)")
        if len(text) < self.min_chars:
            return Score(False, reason=f"no_refusal: answer shorter than {self.min_chars} chars")
        for p in self.patterns:
            m = p.search(text)
            if m:
                return Score(False, reason=f"no_refusal: hedge/refusal {m.group(0)!r}")
        return Score(True, reason="no_refusal: no refusal or hedge")


def no_refusal(
    extra_patterns: Iterable[str] = (),
    *,
    patterns: Sequence[str] = DEFAULT_REFUSAL_PATTERNS,
    min_chars: int = 1,
    reject_truncated: bool = True,
) -> Scorer:
    """Reject refusals, hedges ("I'm not sure", "I cannot ..."), empty, filtered and truncated answers.

    This is the default ``accept`` of :func:`cascade`.

    Args:
        extra_patterns: More case-insensitive regexes that mark a refusal in your domain.
        patterns: Replace the built-in list (:data:`DEFAULT_REFUSAL_PATTERNS`).
        min_chars: Answers shorter than this (stripped) are rejected.
        reject_truncated: Reject answers cut by the output cap (``finish_reason == "length"``).

    Example:
        >>> no_refusal().score(Answer(text="I'm not sure, but probably 30 days.")).accepted
        False
    """
    return _NoRefusal([*patterns, *extra_patterns], min_chars, reject_truncated)
