"""Value objects of the store protocol (see :mod:`llmfinops.stores`)."""

from __future__ import annotations

__all__ = ["Line", "Refusal", "Reservation"]

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Line:
    """One counter touched by a reservation.

    Example:
        >>> Line("org|month:2026-11|usd", amount=4_500_000, limit=500_000_000_000, ttl=3_000_000).limit
        500000000000
    """

    counter: str
    """Counter name, e.g. ``"team:search|day:2026-11-22|usd"``. Distinct within one reservation."""
    amount: int
    """Amount to hold (integer units: nano-USD, tokens or calls); ``>= 0``."""
    limit: int | None
    """Refuse when ``spent + held + amount > limit``; ``None`` tracks without limiting."""
    ttl: int
    """Seconds the counter must outlive this write (the rest of its window plus a margin)."""
    rolling: int = 0
    """Length in seconds of a rolling window; ``0`` for calendar windows (one spent total)."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """Amounts held for one call; hand it back to :meth:`BudgetStore.commit` or ``release``.

    Example:
        >>> Reservation.unheld([Line("k", amount=0, limit=None, ttl=60)]).deadline
        0
    """

    lines: tuple[Line, ...]
    """The lines held, in the order given to ``reserve``."""
    deadline: int
    """Epoch second at which the hold expires (``0``: nothing is held)."""
    totals: tuple[int, ...] = ()
    """``spent + held`` of each line right after this reservation (this call included)."""

    @classmethod
    def unheld(cls, lines: Sequence[Line]) -> Reservation:
        """A reservation that holds nothing (used when the store was unreachable at reserve time)."""
        return cls(lines=tuple(lines), deadline=0)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why ``reserve`` refused: line ``index`` would have gone over its limit.

    Example:
        >>> Refusal(index=0, spent=90, reserved=5).reserved
        5
    """

    index: int
    """Index of the refusing line in the list given to ``reserve``."""
    spent: int
    """That counter's reconciled spend at the time of the check."""
    reserved: int
    """What calls in flight held on it at the time of the check."""
