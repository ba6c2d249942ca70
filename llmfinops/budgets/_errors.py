"""Refusals and warnings specific to budgets (subclasses of the public hierarchy)."""

from __future__ import annotations

__all__ = ["BreakerOpen", "BudgetStoreWarning", "BudgetUnavailable"]

from decimal import Decimal

from llmfinops.exceptions import BudgetExceeded, LLMFinOpsWarning

_ZERO = Decimal(0)


class BudgetStoreWarning(LLMFinOpsWarning):
    """The budget store failed; the call went ahead unmetered (``on_store_error="open"``).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     warnings.warn("store down", BudgetStoreWarning)
        >>> w[0].category.__name__
        'BudgetStoreWarning'
    """


class BudgetUnavailable(BudgetExceeded):
    """The budget store failed and ``on_store_error="closed"``: the call was refused, nothing sent.

    ``unit`` is ``"store"``; ``error`` holds the store's exception.

    Example:
        >>> e = BudgetUnavailable(key="org", window="day:2026-11-22", error=TimeoutError("redis"))
        >>> e.unit
        'store'
    """

    def __init__(self, *, key: str, window: str, error: BaseException) -> None:
        super().__init__(
            key=key, window=window, limit=_ZERO, spent=_ZERO, reserved=_ZERO, estimate=_ZERO, unit="store"
        )
        self.error = error
        self.args = (
            f"budget {key!r} ({window}) could not be checked: the budget store failed with "
            f"{type(error).__name__}: {error}; nothing was sent because on_store_error='closed'. "
            "Fix the store, or configure_budgets(on_store_error='open') to allow calls (with a warning) "
            "while it is down.",
        )


class BreakerOpen(BudgetExceeded):
    """Runaway protection: the call rate (or spend rate) went above ``multiplier`` x baseline.

    ``unit`` is ``"rate"``; ``limit`` is the rate that trips the breaker (per minute) and
    ``spent`` the rate seen; ``retry_after`` is the number of seconds left in the cool-down.

    Example:
        >>> e = BreakerOpen(key="breaker:global", what="calls", rate=Decimal(600), limit=Decimal(500),
        ...                 baseline=Decimal(50), multiplier=10.0, retry_after=300.0, cooldown=300.0)
        >>> e.unit, e.retry_after
        ('rate', 300.0)
    """

    def __init__(
        self,
        *,
        key: str,
        what: str,
        rate: Decimal,
        limit: Decimal,
        baseline: Decimal,
        multiplier: float,
        retry_after: float,
        cooldown: float,
    ) -> None:
        super().__init__(
            key=key, window="1m", limit=limit, spent=rate, reserved=_ZERO, estimate=_ZERO, unit="rate"
        )
        self.what = what
        self.baseline = baseline
        self.multiplier = multiplier
        self.retry_after = retry_after
        self.args = (
            f"runaway protection {key!r}: {rate} {what} in the last minute is above {multiplier:g} x the "
            f"baseline of {baseline}/min (limit {limit}/min); the breaker is open for {retry_after:.0f}s "
            "more "
            f"(cool-down {cooldown:.0f}s) and nothing was sent. If this traffic is legitimate, raise the "
            f"baseline (Breaker({what}_per_minute=...)) or the multiplier.",
        )
