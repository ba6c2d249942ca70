"""Clocks: every time-dependent piece of llmfinops takes one, so tests never sleep."""

from __future__ import annotations

__all__ = ["Clock", "SystemClock", "system_clock"]

import time
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
    """The real clock.

    Example:
        >>> SystemClock().now().tzinfo is not None
        True
    """

    def now(self) -> datetime:
        """Return ``datetime.now(UTC)``."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return ``time.perf_counter()``."""
        return time.perf_counter()


system_clock = SystemClock()
