"""What a provider adapter supplies to the shared interception engines."""

from __future__ import annotations

__all__ = ["StainlessSpec", "StreamObserver", "delta_text", "field", "int_field", "response_text", "view"]

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from llmfinops._recorder import CallState, ClientRuntime


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def field(obj: Any, name: str) -> Any:
    """Read ``name`` from an SDK model or a plain dict (tolerant of SDK drift).

    A field the installed SDK does not define is ``None``, found without ``getattr``: on a
    pydantic model a missing attribute goes through ``__getattr__`` and an exception (~5 µs).
    Fields newer than the SDK (``__pydantic_extra__``) and class-level properties are found.
    """
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    d = getattr(obj, "__dict__", None)
    if d is None:
        return getattr(obj, name, None)
    if name in d:
        return d[name]
    extra = getattr(obj, "__pydantic_extra__", None)
    if extra and name in extra:
        return extra[name]
    return getattr(obj, name, None) if hasattr(type(obj), name) else None


def view(obj: Any) -> Mapping[str, Any]:
    """The fields of an SDK model (or a dict) as a mapping: missing fields are absent, not errors.

    Reading ``__dict__`` avoids one attribute lookup per field, and pydantic's slow
    ``__getattr__`` path (an exception) for every field the SDK model does not define. Fields the
    installed SDK does not know yet (``__pydantic_extra__``) are included.
    """
    if type(obj) is dict or isinstance(obj, dict):
        return obj
    try:  # a pydantic model: __dict__ holds every declared field, __pydantic_extra__ the new ones
        d = obj.__dict__
        extra = obj.__pydantic_extra__
    except AttributeError:
        d = getattr(obj, "__dict__", None)
        if not isinstance(d, dict):
            return _EMPTY
        return d
    return {**d, **extra} if extra else d


def int_field(obj: Any, name: str) -> int:
    """Read an integer count; missing or null is 0."""
    v = field(obj, name)
    return v if isinstance(v, int) else 0


class StreamObserver(Protocol):
    """Watches a stream's events; decides which ones the caller sees."""

    complete: bool
    """True once the final usage has been seen.

    An observer may also have a ``skip`` attribute: a set of event classes it does not need.
    Then (unless content capture is on) events of those exact classes pass without a call to
    :meth:`observe` (reading a field of an SDK model costs more than the test). The observer
    may change ``skip`` as the stream goes.
    """

    def observe(self, event: Any) -> bool:
        """Record what ``event`` tells; return ``False`` to hide it from the caller."""
        ...


class StainlessSpec(Protocol):
    """Provider specifics for the Stainless-generated SDKs (openai, anthropic)."""

    provider: str
    attempt_method: str
    """Name of the client method called once per HTTP attempt."""

    def begin(self, runtime: ClientRuntime, options: Any) -> CallState | None:
        """Start metering if ``options`` is a billable request (may rewrite its body), else ``None``."""
        ...

    def on_response(self, state: CallState, response: Any) -> None:
        """Feed a parsed response (SDK model or dict) to ``state``."""
        ...

    def observer(self, state: CallState) -> StreamObserver:
        """A fresh observer for one stream."""
        ...


def response_text(obj: Any) -> str | None:
    """Best-effort answer text of a parsed response (OpenAI chat/Responses, Anthropic, Gemini).

    Only used when content capture is on.
    """
    if obj is None:
        return None
    text = field(obj, "output_text")  # OpenAI Responses convenience property
    if isinstance(text, str):
        return text
    choices = field(obj, "choices")  # OpenAI chat
    if choices:
        parts = [field(field(c, "message"), "content") for c in choices]
        return "".join(p for p in parts if isinstance(p, str)) or None
    content = field(obj, "content")  # Anthropic
    if isinstance(content, list):
        return "".join(t for b in content if isinstance(t := field(b, "text"), str)) or None
    candidates = field(obj, "candidates")  # Gemini
    if candidates:
        texts = []
        for cand in candidates:
            for part in field(field(cand, "content"), "parts") or ():
                t = field(part, "text")
                if isinstance(t, str) and not field(part, "thought"):
                    texts.append(t)
        return "".join(texts) or None
    return None


def delta_text(event: Any) -> str | None:
    """Text carried by one stream event (OpenAI chat chunk / Responses delta, Anthropic delta)."""
    choices = field(event, "choices")
    if choices:
        texts = (field(field(c, "delta"), "content") for c in choices)
        return "".join(t for t in texts if isinstance(t, str)) or None
    kind = field(event, "type")
    if kind == "response.output_text.delta":
        d = field(event, "delta")
        return d if isinstance(d, str) else None
    if kind == "content_block_delta":
        t = field(field(event, "delta"), "text")
        return t if isinstance(t, str) else None
    return None
