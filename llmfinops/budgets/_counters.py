"""Budget counters: where spend is counted, and how it reads back.

The store counter of each key, window and unit (name, lifetime, store units), the
process-local store of ``window="run"`` budgets, and ``BudgetStatus``.
"""

from __future__ import annotations

__all__ = [
    "RUN_STORE",
    "UNITS",
    "BudgetStatus",
    "Unit",
    "counter_name",
    "from_units",
    "ttl_for",
]

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from llmfinops.stores import MemoryStore

from ._estimate import NANO
from ._window import Span, Window

Unit = Literal["usd", "tokens", "calls"]
UNITS: tuple[Unit, ...] = ("usd", "tokens", "calls")

RUN_STORE = MemoryStore()
"""Counters of ``window="run"`` budgets: a run lives in one process, so they never leave it."""
_RUN_TTL = 86_400
_ONE = Decimal(1)
_MARGIN = 3600


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Where one limit of a budget stands.

    Example:
        >>> BudgetStatus(key="team:search", window="day:2026-11-22", unit="usd", limit=Decimal(5),
        ...              spent=Decimal(3), reserved=Decimal("0.5")).remaining
        Decimal('1.5')
    """

    key: str
    window: str
    unit: Unit
    limit: Decimal
    spent: Decimal
    reserved: Decimal
    remaining: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "remaining", max(self.limit - self.spent - self.reserved, Decimal(0)))


def from_units(unit: str, amount: int) -> Decimal:
    """Store units back to the user's unit (nano-USD to USD)."""
    if unit != "usd":
        return Decimal(amount)
    d = Decimal(amount) / NANO
    return d.quantize(_ONE) if d == d.to_integral_value() else d.normalize()


def counter_name(key: str, span_id: str, unit: str) -> str:
    """Store counter of ``key`` in window instance ``span_id`` for ``unit``.

    Example:
        >>> counter_name("team:search", "day:2026-11-22", "usd")
        'team:search|day:2026-11-22|usd'
    """
    return f"{key}|{span_id}|{unit}"


def ttl_for(window: Window, span: Span, now: float, hold: float) -> int:
    """Seconds a counter must live after a write at ``now``."""
    margin = int(hold) + _MARGIN
    if window.kind == "rolling":
        return span.rolling + margin
    if window.stored:
        return max(int(span.end - now), 0) + margin
    return _RUN_TTL
