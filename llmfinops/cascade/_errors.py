"""Cascade errors and the conditions that say which errors escalate.

``escalate_on=`` takes exception classes, predicates over the exception, or the ready-made
conditions below, alone or in a tuple, composable with ``|`` and ``&``::

    escalate_on=rate_limited | context_window_exceeded | on_error(openai.APITimeoutError)

An error that no condition names propagates unchanged.
"""

from __future__ import annotations

__all__ = [
    "AnswerRejected",
    "CascadeExhausted",
    "CascadeHealthWarning",
    "ErrorCondition",
    "ErrorConditionLike",
    "as_condition",
    "content_filtered",
    "context_window_exceeded",
    "on_error",
    "on_status",
    "rate_limited",
]

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

from llmfinops.exceptions import ConfigurationError, LLMFinOpsError, LLMFinOpsWarning

if TYPE_CHECKING:
    from ._types import Answer, Hop, Score


class CascadeHealthWarning(LLMFinOpsWarning):
    """A cascade's escalation rate left its healthy range (seed 004: 5-20 %).

    Example:
        >>> issubclass(CascadeHealthWarning, UserWarning)  # visible by default; filter it while tuning
        True
    """


class AnswerRejected(LLMFinOpsError):
    """A step answered but its answer was not kept (or a matcher step had no rule for the input).

    Attributes:
        step: Index of the step.
        answer: The rejected answer (``None`` for a matcher miss).
        score: The scorer's verdict.

    Example:
        >>> str(AnswerRejected(0, "openai:gpt-6-luna", None, None, "no_refusal: hedge 'I'm not sure'"))
        "step 0 (openai:gpt-6-luna): no_refusal: hedge 'I'm not sure'"
    """

    def __init__(self, step: int, name: str, answer: Answer | None, score: Score | None, reason: str) -> None:
        self.step = step
        self.name = name
        self.answer = answer
        self.score = score
        super().__init__(f"step {step} ({name}): {reason}")


class CascadeExhausted(LLMFinOpsError, ExceptionGroup):
    """Every step of a cascade failed or was rejected: one error carrying each step's error and cost.

    It is an :class:`ExceptionGroup`: ``.exceptions`` holds, per tried step, the step's
    exception (an SDK error named in ``escalate_on``, a ``BudgetExceeded`` under
    ``on_budget_exceeded="escalate"``) or an :class:`AnswerRejected`. ``except*`` splits keep
    the class and its attributes.

    Attributes:
        hops: Every :class:`Hop` tried, in order, each with its ``error``, ``score`` and ``cost_usd``
            (``hops[i]`` is the hop of ``exceptions[i]`` in the unsplit group).
        cascade_id: The id shared by the run's records.
        cost_usd: What the run cost in total (``None`` when a part is unknown).

    Example:
        >>> try:
        ...     raise CascadeExhausted("all failed", [ValueError("x")], hops=[], cascade_id="c1",
        ...                            cost_usd=Decimal("0.002"))
        ... except* ValueError as eg:
        ...     print(type(eg).__name__, eg.cost_usd)
        CascadeExhausted 0.002
    """

    hops: list[Hop]
    cascade_id: str
    cost_usd: Decimal | None

    def __new__(
        cls,
        message: str,
        exceptions: Sequence[Exception],
        *,
        hops: Sequence[Hop] = (),
        cascade_id: str = "",
        cost_usd: Decimal | None = None,
    ) -> CascadeExhausted:
        self: CascadeExhausted = super().__new__(cls, message, exceptions)
        self.hops = list(hops)
        self.cascade_id = cascade_id
        self.cost_usd = cost_usd
        return self

    def __init__(
        self,
        message: str,
        exceptions: Sequence[Exception],
        *,
        hops: Sequence[Hop] = (),
        cascade_id: str = "",
        cost_usd: Decimal | None = None,
    ) -> None:
        super().__init__(message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> CascadeExhausted:  # type: ignore[override]
        """Keep the class and attributes when ``except*`` splits the group."""
        return CascadeExhausted(
            self.message, excs, hops=self.hops, cascade_id=self.cascade_id, cost_usd=self.cost_usd
        )


# -- escalate_on conditions -------------------------------------------------------------------
class ErrorCondition:
    """A predicate over an exception, composable with ``|`` and ``&``.

    Example:
        >>> cond = on_error(TimeoutError) | on_status(429)
        >>> cond(TimeoutError()), cond(ValueError())
        (True, False)
    """

    def __init__(self, fn: Callable[[BaseException], bool], name: str) -> None:
        self.fn = fn
        self.name = name

    def __call__(self, exc: BaseException) -> bool:
        return bool(self.fn(exc))

    def __or__(self, other: ErrorConditionLike) -> ErrorCondition:
        o = as_condition(other)
        return ErrorCondition(lambda e: self(e) or o(e), f"{self.name} | {o.name}")

    def __ror__(self, other: ErrorConditionLike) -> ErrorCondition:
        return as_condition(other) | self

    def __and__(self, other: ErrorConditionLike) -> ErrorCondition:
        o = as_condition(other)
        return ErrorCondition(lambda e: self(e) and o(e), f"({self.name}) & ({o.name})")

    def __rand__(self, other: ErrorConditionLike) -> ErrorCondition:
        return as_condition(other) & self

    def __repr__(self) -> str:
        return self.name


ErrorConditionLike: TypeAlias = (
    "ErrorCondition | type[BaseException] | Callable[[BaseException], bool] | "
    "Sequence[ErrorCondition | type[BaseException] | Callable[[BaseException], bool]]"
)
"""What ``escalate_on=`` accepts."""


def as_condition(value: Any) -> ErrorCondition:
    """Normalize ``escalate_on`` input into one condition (a tuple means "any of").

    Raises:
        ConfigurationError: An empty tuple or an item that is neither a class nor a callable.

    Example:
        >>> as_condition((KeyError, lambda e: "quota" in str(e)))(RuntimeError("quota hit"))
        True
    """
    if isinstance(value, ErrorCondition):
        return value
    if isinstance(value, type) and issubclass(value, BaseException):
        return on_error(value)
    if isinstance(value, list | tuple | set | frozenset):
        if not value:
            raise ConfigurationError(
                "cascade: escalate_on=() is empty; omit it (errors then propagate) or name the errors to "
                "escalate on, e.g. escalate_on=(openai.RateLimitError, rate_limited)"
            )
        parts = [as_condition(v) for v in value]
        return ErrorCondition(lambda e: any(p(e) for p in parts), " | ".join(p.name for p in parts))
    if callable(value):
        return ErrorCondition(value, getattr(value, "__name__", "predicate"))
    raise ConfigurationError(
        f"cascade: escalate_on={value!r} is not an exception class, a predicate or a tuple of them"
    )


def on_error(*types: type[BaseException]) -> ErrorCondition:
    """Escalate on instances of ``types``.

    Example:
        >>> on_error(KeyError, IndexError)(IndexError())
        True
    """
    if not types or not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise ConfigurationError(f"on_error{types!r}: pass one or more exception classes")
    return ErrorCondition(
        lambda e: isinstance(e, types), "on_error(" + ", ".join(t.__name__ for t in types) + ")"
    )


def _status(exc: BaseException) -> int | None:
    for name in ("status_code", "code"):
        v = getattr(exc, name, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def _error_code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            for k in ("code", "type"):
                if isinstance(err.get(k), str):
                    return str(err[k])
    return ""


def on_status(*codes: int) -> ErrorCondition:
    """Escalate on SDK errors with these HTTP statuses (``status_code`` or Google's ``code``).

    Example:
        >>> class E(Exception): status_code = 529
        >>> on_status(503, 529)(E())
        True
    """
    wanted = frozenset(codes)
    return ErrorCondition(lambda e: _status(e) in wanted, f"on_status({', '.join(map(str, codes))})")


def _rate_limited(exc: BaseException) -> bool:
    return (
        type(exc).__name__ == "RateLimitError"
        or _status(exc) == 429
        or getattr(exc, "status", None) == "RESOURCE_EXHAUSTED"
    )


def _context_window(exc: BaseException) -> bool:
    code = _error_code(exc)
    if code in ("context_length_exceeded", "string_above_max_length"):
        return True
    if _status(exc) not in (400, 413):
        return False
    msg = str(exc).lower()
    return any(
        s in msg
        for s in (
            "prompt is too long",
            "context length",
            "context window",
            "maximum context",
            "exceeds the maximum number of tokens",
            "input token count",
            "too many tokens",
        )
    )


def _content_filtered(exc: BaseException) -> bool:
    if type(exc).__name__ == "ContentFilterFinishReasonError":
        return True
    code = _error_code(exc)
    if code in ("content_filter", "content_policy_violation"):
        return True
    msg = str(exc).lower()
    return _status(exc) == 400 and any(
        s in msg
        for s in ("content management policy", "content policy", "safety settings", "blocked due to safety")
    )


rate_limited = ErrorCondition(_rate_limited, "rate_limited")
"""Rate limit / quota errors of any provider (HTTP 429, ``RateLimitError``, Google ``RESOURCE_EXHAUSTED``)."""

context_window_exceeded = ErrorCondition(_context_window, "context_window_exceeded")
"""The prompt does not fit the model (OpenAI ``context_length_exceeded``, Anthropic "prompt is too long",
Google "exceeds the maximum number of tokens")."""

content_filtered = ErrorCondition(_content_filtered, "content_filtered")
"""The provider's content filter refused the request (OpenAI ``content_filter`` / policy errors,
``ContentFilterFinishReasonError``). Filtered *answers* are rejected by :func:`no_refusal` instead."""
