"""What a provider adapter supplies to the shared interception engines."""

from __future__ import annotations

__all__ = ["StreamObserver", "StainlessSpec", "field", "int_field"]

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._recorder import CallState, ClientRuntime


def field(obj: Any, name: str) -> Any:
    """Read ``name`` from an SDK model or a plain dict (tolerant of SDK drift)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def int_field(obj: Any, name: str) -> int:
    """Read an integer count; missing or null is 0."""
    v = field(obj, name)
    return v if isinstance(v, int) else 0


class StreamObserver(Protocol):
    """Watches a stream's events; decides which ones the caller sees."""

    complete: bool
    """True once the final usage has been seen."""

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
