"""The SDK-call boundary of google-genai's HTTP layer (opened by ``google.py``, joined in ``_google_http``).

A :class:`Scope` is one SDK call that may span several HTTP requests; :func:`_sent` settles one
request's attempts on its call, and :func:`_changes` finds what the before-call hooks changed on
the first request, which the scope replays on the later ones.
"""

from __future__ import annotations

__all__ = ["SCOPE", "Scope", "_changes", "_note_failed", "_sent"]

import contextvars
from typing import TYPE_CHECKING, Any

from llmfinops._recorder import CURRENT_CALL, CallState, StartMark, call_start

if TYPE_CHECKING:
    from ._google_response import _StreamHop


class Scope:
    """One SDK call that may span several HTTP requests; hops of its client join its state."""

    __slots__ = ("api", "began", "hop", "replay", "state", "stream")

    def __init__(self, api: Any, stream: bool) -> None:
        self.api = api
        self.stream = stream
        self.began: StartMark = call_start()
        self.state: CallState | None = None
        self.replay: dict[str, Any] | None = None
        """Top-level body keys the before-call hooks changed on the first request."""
        self.hop: _StreamHop | None = None
        """The latest streamed request, whose usage :meth:`finish` (or the next hop) settles."""

    def restart(self) -> None:
        """Start the clock again if nothing was sent yet (a stream sends on its first iteration)."""
        if self.state is None:
            self.began = call_start()

    def finish(self, *, error: BaseException | None = None, partial: bool = False) -> None:
        """Finish the call's record (no record when no request was sent)."""
        state = self.state
        if state is not None:
            hop = self.hop
            if hop is not None:
                hop.flush()
            state.finish(error=error, partial=partial)


SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("llmfinops_google_scope", default=None)
"""The SDK call in progress in this context (set only while SDK code runs, never across a yield)."""


def _sent(state: CallState, token: Any, before: int, scope: Scope | None, exc: BaseException | None) -> None:
    """After one metered HTTP request (its SDK retry loop included): settle its attempts.

    Restores the call in progress; on an error, finishes a request that is its own call (no
    SDK-call scope).

    ``request_once`` counted this request's attempts on ``state.attempts`` (from ``before``);
    over all the hops of a call, ``attempts`` is 1 + the retries, so the record's
    ``retry_count`` is right for multi-hop calls.
    """
    CURRENT_CALL.reset(token)
    n = state.attempts - before
    if before:
        state.attempts = before + (n - 1 if n > 1 else 0)
    elif not n:  # an SDK without the per-attempt method: one attempt
        state.attempts = 1
    if exc is not None and scope is None:
        state.finish(error=exc)


def _note_failed(state: CallState, exc: Exception) -> None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        state.error_statuses = [*(state.error_statuses or ()), code]


_PER_REQUEST_KEYS = frozenset({"contents", "continuationToken"})


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """What the before-call hooks changed at the top level of the first request's body.

    The hooks run once per SDK call, but continuation and AFC build a fresh body for every
    request from the caller's config: replaying these changes keeps a policy (an output cap,
    say) in force on every request. Keys that differ per request by design are not replayed.
    """
    if before == after:
        return None
    changed = {k: v for k, v in after.items() if k not in _PER_REQUEST_KEYS and before.get(k) is not v}
    return changed or None
