"""Budget alerts: threshold crossings, refusals, degradations and open breakers, as events.

An alert fires **once per budget key, window, unit and threshold** — across processes,
because the fact that it fired is recorded in the budget store (``mark_alert``). Alerts go
to the configured alert sinks (any ``callable(alert)``); the default sink logs the
structlog event ``"llm.budget_alert"`` with the alert's fields.
"""

from __future__ import annotations

__all__ = ["AlertKind", "AlertSink", "BudgetAlert", "dispatch", "log_alert"]

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeAlias

from llmfinops._internal import logger, warn_once
from llmfinops.exceptions import SinkFailedWarning

AlertKind = Literal["threshold", "refused", "degraded", "breaker_open", "store_error"]


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """One alert event.

    Example:
        >>> a = BudgetAlert(kind="threshold", key="team:search", window="day:2026-11-22", unit="usd",
        ...                 limit=Decimal(5), spent=Decimal("4.51"), threshold=90.0)
        >>> a.message
        "budget 'team:search' (day:2026-11-22) reached 90% of its limit: 4.51 of 5 usd"
    """

    kind: AlertKind
    """What happened: ``threshold``, ``refused``, ``degraded``, ``breaker_open`` or ``store_error``."""
    key: str
    """Budget key, e.g. ``"team:search"`` (user keys are hashed like record user ids)."""
    window: str
    """Window instance, e.g. ``"day:2026-11-22"``."""
    unit: str
    """``usd``, ``tokens``, ``calls``, ``rate`` or ``store``."""
    limit: Decimal
    """The limit in ``unit``."""
    spent: Decimal
    """Spent (reconciled) when the alert fired."""
    threshold: float | None = None
    """The percentage reached (``threshold`` alerts)."""
    reserved: Decimal = Decimal(0)
    """Held by calls in flight when the alert fired."""
    budget: str = ""
    """Description of the budget that fired (its name or decorated function)."""
    at: datetime | None = None
    """When it fired (from the configured clock)."""
    detail: str = ""
    """More context: the degrade target, the store error..."""

    @property
    def message(self) -> str:
        """A one-line human summary."""
        where = f"budget {self.key!r} ({self.window})"
        if self.kind == "threshold":
            return (
                f"{where} reached {self.threshold:g}% of its limit: {self.spent} of {self.limit} {self.unit}"
            )
        if self.kind == "refused":
            held = f"{self.spent} spent + {self.reserved} held"
            return f"{where} refused a call: {held} of {self.limit} {self.unit}"
        if self.kind == "degraded":
            return f"{where} is exhausted; calls are degraded ({self.detail})"
        if self.kind == "breaker_open":
            return f"runaway protection {self.key!r} opened: {self.detail}"
        return f"{where}: budget store failed: {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (money as float, time as ISO-8601).

        Example:
            >>> BudgetAlert(kind="refused", key="org", window="month:2026-11", unit="usd",
            ...             limit=Decimal(100), spent=Decimal(99)).as_dict()["limit"]
            100.0
        """
        return {
            "kind": self.kind,
            "key": self.key,
            "window": self.window,
            "unit": self.unit,
            "limit": float(self.limit),
            "spent": float(self.spent),
            "reserved": float(self.reserved),
            "threshold": self.threshold,
            "budget": self.budget,
            "at": self.at.isoformat() if self.at is not None else None,
            "detail": self.detail,
            "message": self.message,
        }


AlertSink: TypeAlias = Callable[[BudgetAlert], object]
"""Anything callable with a :class:`BudgetAlert` (a Slack poster, a metrics counter, ``list.append``)."""


def log_alert(alert: BudgetAlert) -> None:
    """The default alert sink: the structlog event ``"llm.budget_alert"`` (level warning).

    Example:
        >>> log_alert  # doctest: +ELLIPSIS
        <function log_alert at ...>
    """
    import structlog

    structlog.get_logger("llmfinops").warning("llm.budget_alert", **alert.as_dict())


def dispatch(alert: BudgetAlert, sinks: Sequence[AlertSink]) -> None:
    """Hand ``alert`` to every sink; a failing sink is logged and warned about once."""
    for sink in sinks:
        try:
            sink(alert)
        except Exception as exc:
            logger.exception("llmfinops: budget alert sink %r failed", sink)
            warn_once(
                SinkFailedWarning,
                f"alert-sink:{id(sink)}:{type(exc).__name__}",
                f"llmfinops: budget alert sink {sink!r} raised {type(exc).__name__}: {exc}; the alert "
                f"({alert.message}) was not delivered to it",
            )
