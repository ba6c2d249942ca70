"""Clocks: every time-dependent piece of llmfinops takes one, so tests never sleep."""

from __future__ import annotations

__all__ = ["Clock", "SystemClock", "system_clock"]

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """**Protocol:** wall-clock and monotonic time."""

    def now(self) -> datetime:
        """Return the current UTC time (timezone-aware)."""
        ...

    def monotonic(self) -> float:
        """Return a monotonic time in seconds, for durations."""
        ...


class SystemClock:
    """The real clock: ``now()`` is ``datetime.now(UTC)``, ``monotonic()`` is ``time.perf_counter()``.

    Both are the C functions themselves (no Python frame per reading: they run on every call).

    Example:
        >>> clock = SystemClock()
        >>> clock.now().tzinfo is not None, clock.monotonic() <= clock.monotonic()
        (True, True)
    """

    now: Callable[[], datetime] = staticmethod(functools.partial(datetime.now, UTC))
    """Return the current UTC time (timezone-aware)."""
    monotonic: Callable[[], float] = staticmethod(time.perf_counter)
    """Return a monotonic time in seconds, for durations."""


system_clock = SystemClock()
