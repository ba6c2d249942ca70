"""Hop plumbing: which hop a wrapped call belongs to, and its records held until the outcome is known.

While a hop runs, a contextvar names it; a record enricher stamps ``cascade_id`` and
``cascade_step`` on the record of every wrapped call made in it (answer and judge calls, in
any thread or task that inherits the context). The outcome is only known after scoring, so
the enricher also offers the recorder a *deferred dispatch* (``state.scratch
["llmfinops.defer_dispatch"]``): a recorder that honours it hands the built record to the hop,
which adds ``cascade_outcome`` and dispatches it to listeners and sinks when the hop ends.
Budgets still reconcile immediately (after-call hooks are not deferred). No global listener
is installed: a listener would force every record of the process onto the synchronous path
(see ``CallState.finish``).
"""

from __future__ import annotations

__all__ = ["DEFER_DISPATCH_KEY", "HOP", "HopScope", "install_hooks", "sum_costs"]

import contextvars
import dataclasses
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmfinops._internal import handle_internal_errors
from llmfinops._recorder import RECORD_ENRICHERS

from ._types import Outcome

if TYPE_CHECKING:
    from llmfinops._recorder import CallState
    from llmfinops.records import CallRecord

DEFER_DISPATCH_KEY = "llmfinops.defer_dispatch"
"""``CallState.scratch`` key of the deferred-dispatch hook (see the module docstring)."""


class HopScope:
    """The hop in progress: collects its records and holds them until the outcome is known."""

    __slots__ = ("_held", "_lock", "cascade_id", "open", "records", "step")

    def __init__(self, cascade_id: str, step: int) -> None:
        self.cascade_id = cascade_id
        self.step = step
        self.open = True
        self.records: dict[str, CallRecord] = {}
        self._held: list[tuple[CallRecord, Callable[[CallRecord], None]]] = []
        self._lock = threading.Lock()

    def note(self, rec: CallRecord) -> None:
        with self._lock:
            if self.open:
                self.records.setdefault(rec.id, rec)

    def defer(self, rec: CallRecord, dispatch: Callable[[CallRecord], None]) -> bool:
        """Recorder hook: keep ``rec`` until the hop's outcome is known. ``False`` if the hop is over."""
        with self._lock:
            if not self.open:
                return False
            self.records[rec.id] = rec
            self._held.append((rec, dispatch))
            return True

    def close(self, outcome: Outcome) -> list[CallRecord]:
        """Stamp the outcome on held records, dispatch them, and return the hop's records."""
        with self._lock:
            self.open = False
            held, self._held = self._held, []
        for rec, dispatch in held:
            final = dataclasses.replace(rec, cascade_outcome="failed" if rec.status == "error" else outcome)
            self.records[rec.id] = final
            with handle_internal_errors("cascade.dispatch"):
                dispatch(final)
        return list(self.records.values())


HOP: contextvars.ContextVar[HopScope | None] = contextvars.ContextVar("llmfinops_cascade_hop", default=None)
_hooks_lock = threading.Lock()


def _enrich(state: CallState, extra: dict[str, Any]) -> None:
    hop = HOP.get()
    if hop is None or not hop.open:
        return
    extra["cascade_id"] = hop.cascade_id
    extra["cascade_step"] = hop.step
    state.scratch[DEFER_DISPATCH_KEY] = hop.defer


def install_hooks() -> None:
    """Install the record enricher (idempotent, re-checked per run: apps and tests may reset the list)."""
    if _enrich in RECORD_ENRICHERS:
        return
    with _hooks_lock:
        if _enrich not in RECORD_ENRICHERS:
            RECORD_ENRICHERS.append(_enrich)


def sum_costs(records: Sequence[CallRecord]) -> Decimal | None:
    total: Decimal | None = Decimal(0)
    for r in records:
        total = None if total is None or r.cost_usd is None else total + r.cost_usd
    return total
