"""Opening a call on the caller's thread: when it began and the state every call starts with.

:func:`call_start` marks the start of a call opened later; :func:`_fill` is the body of
``CallState.__init__`` (shared with :func:`~llmfinops._recorder.new_call_state`): the start
time, the attribution tags in force and the context captures. Both run on every call.
"""

from __future__ import annotations

__all__ = ["StartMark", "_fill", "call_start"]

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import _config as _configuration
from ._clock import SystemClock
from ._context import _TAGS
from ._internal import report_internal
from ._runtime import ClientRuntime, _context_captures

if TYPE_CHECKING:
    from ._recorder import CallState

_SYSTEM_CLOCK = SystemClock
_wall_time = time.time
_perf_counter = time.perf_counter


def _fill(
    self: CallState,
    runtime: ClientRuntime,
    endpoint: str,
    operation: str,
    model: str,
    stream: bool,
    request_max_tokens: int | None,
    cache_write_ttl: str | None,
    body: dict[str, Any] | None,
    began: StartMark | None = None,
) -> None:
    """The body of ``CallState.__init__`` (shared with :func:`new_call_state`)."""
    cfg = _configuration._config  # get_config() without a call frame: this runs on every call
    self.runtime = runtime
    self.body = body
    self.endpoint = endpoint
    self.operation = operation
    self.model = model
    self.stream = stream
    self.request_max_tokens = request_max_tokens
    self.cache_write_ttl = cache_write_ttl
    if began is not None:
        self._ts, self._wall, self.start = began
    else:
        clock = cfg.clock
        if type(clock) is _SYSTEM_CLOCK:
            # The wall time as a float: the datetime is made when first read, mostly off the call path.
            self._wall = _wall_time()
            self.start = _perf_counter()
        else:
            self._ts = clock.now()
            self.start = clock.monotonic()
    self.tag_snapshot = _TAGS.get()
    if _context_captures:
        try:
            self.captured = {k: fn() for k, fn in _context_captures.items()}
        except Exception:
            report_internal("context_capture")
    if cfg.capture_content:
        self.completion_parts = []
    self.extra_fields = {}
    self.scratch = {}


StartMark = tuple[datetime | None, float, float]
"""When a call began: ``(timestamp or None, wall time, monotonic time)`` (see :func:`call_start`)."""


def call_start() -> StartMark:
    """The start of a call that begins now, for a :class:`CallState` opened later (``began=``).

    Example:
        >>> ts, wall, start = call_start()
        >>> wall > 0 and start > 0
        True
    """
    clock = _configuration._config.clock
    if type(clock) is _SYSTEM_CLOCK:
        return None, _wall_time(), _perf_counter()
    return clock.now(), 0.0, clock.monotonic()
