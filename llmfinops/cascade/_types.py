"""Value objects shared by the cascade engine, the scorers and the offline harness."""

from __future__ import annotations

__all__ = [
    "Answer",
    "Hop",
    "Message",
    "Outcome",
    "Score",
    "last_user_text",
    "normalize_messages",
]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from llmfinops.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmfinops.records import CallRecord

Message: TypeAlias = Mapping[str, str]
"""A provider-neutral chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""

Outcome: TypeAlias = Literal["accepted", "escalated", "failed"]
"""What happened to one hop: its answer was kept, passed on, or the step raised."""

_ROLES = frozenset({"system", "user", "assistant"})


@dataclass(frozen=True, slots=True)
class Score:
    """A scorer's verdict on one answer.

    Example:
        >>> Score(True, 0.92, "p10 token probability 0.92 >= 0.6").accepted
        True
    """

    accepted: bool | None
    """``True`` keep the answer, ``False`` escalate, ``None`` the scorer could not tell."""
    value: float | None = None
    """The number behind the verdict (probability, confidence, judge grade), when there is one."""
    reason: str = ""
    """Human-readable explanation (shown in hops and in ``CascadeExhausted``)."""


@dataclass(slots=True, kw_only=True)
class Answer:
    """One step's answer, as scorers see it.

    Example:
        >>> a = Answer(text="Returns are accepted within 30 days.", query="Return policy?")
        >>> a.text.startswith("Returns")
        True
    """

    text: str
    """The answer text (all text parts joined; thoughts excluded)."""
    query: str = ""
    """The last user message (what the answer answers)."""
    messages: tuple[Message, ...] = field(default=(), repr=False)
    """The full provider-neutral conversation sent to the step."""
    step: int = 0
    """Index of the step that produced the answer."""
    provider: str | None = None
    """``openai``, ``anthropic``, ``google`` or ``None`` (matcher / callable steps)."""
    model: str | None = None
    """Model the step asked for."""
    response: Any = field(default=None, repr=False)
    """The raw SDK response (``None`` for matcher steps)."""
    logprobs: tuple[float, ...] | None = field(default=None, repr=False)
    """Per-token log probabilities of the answer, when the API returned them."""
    finish_reason: str | None = None
    """Normalized: ``stop``, ``length``, ``content_filter``, ``refusal``, ``tool_calls`` or the raw value."""
    refusal: str | None = None
    """A provider-level refusal message (OpenAI ``message.refusal``)."""
    reported_confidence: float | None = None
    """A confidence recorded next to the answer (offline replay); live answers carry it in their text."""


@dataclass(slots=True, kw_only=True)
class Hop:
    """One step tried during a cascade run.

    Example:
        >>> Hop(step=0, name="faq", kind="match", outcome="escalated", cost_usd=Decimal(0)).outcome
        'escalated'
    """

    step: int
    """Index of the step in the cascade."""
    name: str
    """The step's name (``provider:model`` unless given)."""
    kind: Literal["model", "match", "function"]
    """What kind of step it is."""
    outcome: Outcome
    """``accepted``, ``escalated`` (answer rejected or no rule matched) or ``failed`` (the step raised)."""
    provider: str | None = None
    """Provider of a model step."""
    model: str | None = None
    """Model of a model step."""
    answer: Answer | None = None
    """The answer, when the step produced one."""
    score: Score | None = None
    """The accept scorer's verdict, when the answer was scored."""
    error: BaseException | None = None
    """The error that made the step fail or escalate, if any."""
    cost_usd: Decimal | None = Decimal(0)
    """Cost of every metered call made by the hop (answer and judge); ``None`` when any is unknown."""
    records: list[CallRecord] = field(default_factory=list, repr=False)
    """The records of the hop's calls (answer and judge calls), as sent to the sinks."""


def normalize_messages(value: str | Sequence[Message], system: str | None = None) -> tuple[Message, ...]:
    """Validate the cascade input and return provider-neutral messages.

    Args:
        value: A user question, or chat messages ``{"role": ..., "content": str}``.
        system: An optional system prompt put first.

    Returns:
        The messages as a tuple of plain dicts.

    Raises:
        ConfigurationError: A message has an unknown role or non-string content, or there is no
            user message.

    Example:
        >>> normalize_messages("Where is my order?", system="You are support.")[1]["role"]
        'user'
    """
    out: list[Message] = []
    if system is not None:
        if not isinstance(system, str):
            raise ConfigurationError(f"cascade input: system={system!r} must be a str")
        out.append({"role": "system", "content": system})
    if isinstance(value, str):
        out.append({"role": "user", "content": value})
    else:
        for i, m in enumerate(value):
            role = m.get("role") if isinstance(m, Mapping) else None
            content = m.get("content") if isinstance(m, Mapping) else None
            if role not in _ROLES or not isinstance(content, str):
                raise ConfigurationError(
                    f"cascade input: messages[{i}]={m!r} is not a text message; use "
                    '{"role": "system" | "user" | "assistant", "content": str} (other content needs a '
                    "function step)"
                )
            out.append({"role": role, "content": content})
    if not any(m["role"] == "user" for m in out):
        raise ConfigurationError("cascade input: no user message; pass a question str or a 'user' message")
    return tuple(out)


def last_user_text(messages: Sequence[Message]) -> str:
    """The content of the last user message (what routers and judges look at).

    Example:
        >>> last_user_text([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
        ...                 {"role": "user", "content": "c"}])
        'c'
    """
    for m in reversed(messages):
        if m["role"] == "user":
            return m["content"]
    return ""
