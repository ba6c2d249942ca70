"""Runaway protection: a rate-based circuit breaker (seed 004, chapter 11).

"A sudden 10x spike in API calls per minute is usually a bug or attack, not legitimate
growth." A :class:`Breaker` watches calls and dollars per minute — globally, or per budget
key (per user, per team) — and when the rate goes above ``multiplier`` x the baseline, it
opens for ``cooldown``: every call in its scope is refused with :class:`BreakerOpen` (a
``BudgetExceeded`` with ``unit="rate"``) before anything is sent.

The baseline is the rate you configure (``calls_per_minute=50``) or, with ``learn=True``
(the default), the moving average of the rates seen in past minutes when that is higher:
the configured baseline is a floor, so a quiet start never trips the breaker.

Rates are measured per process (6 slots of 10 seconds): a runaway loop is almost always
one process misbehaving, and a per-process breaker needs no round trip. Fleet-wide spend
limits are what budgets are for.
"""

from __future__ import annotations

__all__ = ["Breaker", "Trip"]

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from llmfinops.exceptions import ConfigurationError

from ._errors import BreakerOpen

_SLOT = 10.0
_SLOTS = 6
_MAX_KEYS = 10_000
_NANO = Decimal(1_000_000_000)


@dataclass(frozen=True, slots=True)
class Trip:
    """Why a breaker refused a call."""

    what: str
    """``calls`` or ``usd``."""
    rate: Decimal
    limit: Decimal
    baseline: Decimal
    retry_after: float
    opened: bool
    """``True`` for the call that opened the breaker (alert once), ``False`` while it stays open."""


class _State:
    __slots__ = (
        "calls",
        "ewma_calls",
        "ewma_usd",
        "minute",
        "minute_calls",
        "minute_usd",
        "open_until",
        "tainted",
        "usd",
    )

    def __init__(self, minute: int) -> None:
        self.calls: dict[int, int] = {}
        self.usd: dict[int, int] = {}
        self.open_until = -math.inf
        self.minute = minute
        self.minute_calls = 0
        self.minute_usd = 0
        self.tainted = False
        self.ewma_calls = 0.0
        self.ewma_usd = 0.0


class Breaker:
    """Open when calls (or USD) per minute exceed ``multiplier`` x the baseline; stay open for ``cooldown``.

    Args:
        calls_per_minute: Normal calls per minute (baseline). ``None``: calls are not watched.
        usd_per_minute: Normal dollars per minute (baseline). ``None``: spend is not watched.
        multiplier: How many times the baseline counts as a runaway (seed 004 uses 10).
        cooldown: How long the breaker stays open (timedelta or seconds).
        learn: Raise the baseline to the moving average of past minutes when that is higher.
        learn_minutes: Span of that moving average, in minutes.

    Raises:
        ConfigurationError: Without any baseline, or with a multiplier <= 1.

    Example:
        >>> import llmfinops
        >>> from llmfinops.budgets import Breaker, configure_budgets
        >>> configure_budgets(breaker=Breaker(calls_per_minute=50, multiplier=10))  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        calls_per_minute: float | None = None,
        usd_per_minute: Decimal | str | float | None = None,
        multiplier: float = 10.0,
        cooldown: timedelta | float = 300.0,
        learn: bool = True,
        learn_minutes: int = 60,
    ) -> None:
        if calls_per_minute is None and usd_per_minute is None:
            raise ConfigurationError(
                "Breaker() needs a baseline: calls_per_minute=... and/or usd_per_minute=... "
                "(your normal traffic; the breaker opens at multiplier x that)"
            )
        if calls_per_minute is not None and not calls_per_minute > 0:
            raise ConfigurationError(f"Breaker(calls_per_minute={calls_per_minute!r}) must be > 0")
        usd = None
        if usd_per_minute is not None:
            try:
                usd = Decimal(str(usd_per_minute))
            except Exception as exc:
                raise ConfigurationError(
                    f"Breaker(usd_per_minute={usd_per_minute!r}) is not a number"
                ) from exc
            if not usd > 0:
                raise ConfigurationError(f"Breaker(usd_per_minute={usd_per_minute!r}) must be > 0")
        if not multiplier > 1:
            raise ConfigurationError(f"Breaker(multiplier={multiplier!r}) must be > 1 (10 is typical)")
        seconds = cooldown.total_seconds() if isinstance(cooldown, timedelta) else float(cooldown)
        if not seconds > 0:
            raise ConfigurationError(f"Breaker(cooldown={cooldown!r}) must be positive")
        if learn_minutes < 1:
            raise ConfigurationError(f"Breaker(learn_minutes={learn_minutes!r}) must be >= 1")
        self.calls_per_minute = float(calls_per_minute) if calls_per_minute is not None else None
        self.usd_per_minute = usd
        self._usd_nano = float(usd * _NANO) if usd is not None else None
        self.multiplier = float(multiplier)
        self.cooldown = seconds
        self.learn = learn
        self.learn_minutes = learn_minutes
        self._alpha = 2.0 / (learn_minutes + 1)
        self._lock = threading.Lock()
        self._states: OrderedDict[str, _State] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"Breaker(calls_per_minute={self.calls_per_minute}, usd_per_minute={self.usd_per_minute}, "
            f"multiplier={self.multiplier:g}, cooldown={self.cooldown:g})"
        )

    # -- internals ----------------------------------------------------------------------------
    def _state(self, key: str, mono: float) -> _State:
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = _State(int(mono // 60))
            if len(self._states) > _MAX_KEYS:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(key)
        self._roll(st, mono)
        return st

    def _roll(self, st: _State, mono: float) -> None:
        minute = int(mono // 60)
        if minute > st.minute:
            if self.learn:
                folds = [(st.minute_calls, st.minute_usd)] if not st.tainted else []
                folds += [(0, 0)] * min(minute - st.minute - 1, self.learn_minutes)
                a = self._alpha
                for calls, usd in folds:
                    st.ewma_calls += (calls - st.ewma_calls) * a
                    st.ewma_usd += (usd - st.ewma_usd) * a
            st.minute = minute
            st.minute_calls = 0
            st.minute_usd = 0
            st.tainted = mono < st.open_until
        oldest = int(mono // _SLOT) - _SLOTS
        for buckets in (st.calls, st.usd):
            if buckets and min(buckets) <= oldest:
                for k in [k for k in buckets if k <= oldest]:
                    del buckets[k]

    def _limits(self, st: _State) -> tuple[float | None, float | None]:
        calls = usd = None
        if self.calls_per_minute is not None:
            calls = max(self.calls_per_minute, st.ewma_calls if self.learn else 0.0)
        if self._usd_nano is not None:
            usd = max(self._usd_nano, st.ewma_usd if self.learn else 0.0)
        return calls, usd

    def _open(self, st: _State, mono: float) -> None:
        st.open_until = mono + self.cooldown
        st.tainted = True

    # -- used by the enforcement hooks --------------------------------------------------------
    def before_call(self, key: str, mono: float) -> Trip | None:
        """Count one call for ``key``; return a :class:`Trip` if it must be refused."""
        with self._lock:
            st = self._state(key, mono)
            if mono < st.open_until:
                return self._trip(st, mono, opened=False)
            if st.open_until != -math.inf:  # cool-down over: close with a clean slate
                st.open_until = -math.inf
                st.calls.clear()
                st.usd.clear()
            calls_base, usd_base = self._limits(st)
            if calls_base is not None:
                rate = sum(st.calls.values()) + 1
                if rate > self.multiplier * calls_base:
                    self._open(st, mono)
                    return self._trip(st, mono, opened=True, what="calls", rate=rate)
            if usd_base is not None:
                spent = sum(st.usd.values())
                if spent > self.multiplier * usd_base:
                    self._open(st, mono)
                    return self._trip(st, mono, opened=True, what="usd", rate=spent)
            slot = int(mono // _SLOT)
            st.calls[slot] = st.calls.get(slot, 0) + 1
            st.minute_calls += 1
            return None

    def after_call(self, key: str, mono: float, usd_nano: int) -> Trip | None:
        """Add a call's actual cost; return a :class:`Trip` when this spend opened the breaker."""
        if not usd_nano:
            return None
        with self._lock:
            st = self._state(key, mono)
            slot = int(mono // _SLOT)
            st.usd[slot] = st.usd.get(slot, 0) + usd_nano
            st.minute_usd += usd_nano
            _, usd_base = self._limits(st)
            if usd_base is not None and mono >= st.open_until:
                spent = sum(st.usd.values())
                if spent > self.multiplier * usd_base:
                    self._open(st, mono)
                    return self._trip(st, mono, opened=True, what="usd", rate=spent)
            return None

    def _trip(self, st: _State, mono: float, *, opened: bool, what: str = "", rate: float = 0) -> Trip:
        calls_base, usd_base = self._limits(st)
        if not what:
            what = "calls" if calls_base is not None else "usd"
            rate = sum(st.calls.values()) if what == "calls" else sum(st.usd.values())
        if what == "usd":
            base = Decimal(str(usd_base)) / _NANO
            return Trip(
                what="usd",
                rate=(Decimal(int(rate)) / _NANO).normalize(),
                limit=(base * Decimal(str(self.multiplier))).normalize(),
                baseline=base.normalize(),
                retry_after=st.open_until - mono,
                opened=opened,
            )
        base = Decimal(str(round(calls_base or 0.0, 3))).normalize()
        return Trip(
            what="calls",
            rate=Decimal(int(rate)),
            limit=(base * Decimal(str(self.multiplier))).normalize(),
            baseline=base,
            retry_after=st.open_until - mono,
            opened=opened,
        )

    def error(self, key: str, trip: Trip) -> BreakerOpen:
        """The exception for a refused call."""
        return BreakerOpen(
            key=key,
            what=trip.what,
            rate=trip.rate,
            limit=trip.limit,
            baseline=trip.baseline,
            multiplier=self.multiplier,
            retry_after=trip.retry_after,
            cooldown=self.cooldown,
        )

    def reset(self) -> None:
        """Close every breaker and forget the rates and learned baselines."""
        with self._lock:
            self._states.clear()
