"""What enforcement reports: budget alerts and budget-store failures.

An alert fires once per counter, kind (or threshold) and limit: markers are kept in the store (shared by
processes) and, to skip a round trip per refused call, in a process-local cache.
"""

from __future__ import annotations

# Private helpers of the hooks in _enforce.py (the names it imports).
__all__ = [
    "_alert",
    "_emit",
    "_marks",
    "_store_failed",
    "_thresholds",
]

from llmfinops._config import get_config
from llmfinops._internal import handle_internal_errors, logger, warn_once
from llmfinops.stores import BudgetStore

from ._alerts import AlertKind, BudgetAlert, dispatch
from ._counters import RUN_STORE, counter_name, from_units, ttl_for
from ._errors import BudgetStoreWarning
from ._planner import _Refused, _Slot
from ._settings import BudgetSettings

_marks: dict[str, float] = {}
"""Alerts already fired (marker -> until, epoch seconds): skips a store round trip per refused call."""


def _emit(settings: BudgetSettings, alert: BudgetAlert) -> None:
    dispatch(alert, settings.alert_sinks)


def _first_time(store: BudgetStore, marker: str, now: float, ttl: int) -> bool:
    until = _marks.get(marker)
    if until is not None and until > now:
        return False
    try:
        first = store.mark_alert(marker, now=now, ttl=ttl)
    except Exception as exc:
        _store_failed(exc, "mark_alert")
        first = True
    if len(_marks) > 50_000:
        _marks.clear()
    _marks[marker] = now + ttl
    return first


def _store_failed(exc: BaseException, op: str) -> None:
    logger.warning("llmfinops: budget store %s failed: %s: %s", op, type(exc).__name__, exc)
    warn_once(
        BudgetStoreWarning,
        f"budget-store:{op}:{type(exc).__name__}",
        f"llmfinops: the budget store failed during {op} ({type(exc).__name__}: {exc}); calls go ahead "
        "unmetered while it is down (on_store_error='open'). Use configure_budgets(on_store_error='closed') "
        "to refuse them instead.",
    )


def _alert(
    settings: BudgetSettings,
    store: BudgetStore,
    kind: AlertKind,
    refused: _Refused,
    now: float,
    detail: str = "",
) -> None:
    try:
        m = refused.member
        t = m.target
        marker = f"{counter_name(t.key, t.span.id, m.unit)}|{kind}|{m.limit}"
        ttl = ttl_for(t.budget.window, t.span, now, settings.reservation_ttl)
        if t.budget.window.kind == "call":
            ttl = 3600  # a per-call limit has no window: remind at most hourly
        if not _first_time(RUN_STORE if not t.budget.window.stored else store, marker, now, ttl):
            return
        _emit(
            settings,
            BudgetAlert(
                kind=kind,
                key=t.key,
                window=t.span.id,
                unit=m.unit,
                limit=from_units(m.unit, m.limit),
                spent=from_units(m.unit, refused.spent),
                reserved=from_units(m.unit, refused.reserved),
                threshold=100.0,
                budget=t.budget.name,
                at=get_config().clock.now(),
                detail=detail,
            ),
        )
    except Exception:
        with handle_internal_errors("budgets.alert"):
            raise


def _thresholds(
    settings: BudgetSettings,
    store: BudgetStore,
    accs: tuple[_Slot, ...],
    amounts: list[int],
    spent: tuple[int, ...],
    now: float,
    hold: float,
    fired: list[str],
) -> None:
    for acc, amount, new in zip(accs, amounts, spent, strict=True):
        if not amount:
            continue
        old = new - amount
        for m in acc.members:
            limit = m.limit
            b = m.target.budget
            # A run is one task: its thresholds are noise unless the budget asks for them.
            thresholds = b.thresholds
            if thresholds is None and b.window.kind != "run":
                thresholds = settings.thresholds
            for pct in thresholds or ():
                level = limit * pct  # compare in hundredths to stay in integers
                if old * 100 < level <= new * 100:
                    marker = f"{acc.counter}|{pct:g}%|{limit}"
                    if not _first_time(store, marker, now, acc.ttl(now, hold)):
                        continue
                    t = m.target
                    alert = BudgetAlert(
                        kind="threshold",
                        key=t.key,
                        window=t.span.id,
                        unit=m.unit,
                        limit=from_units(m.unit, limit),
                        spent=from_units(m.unit, new),
                        threshold=pct,
                        budget=t.budget.name,
                        at=get_config().clock.now(),
                    )
                    fired.append(f"{t.key} {t.span.id} {m.unit} {pct:g}%")
                    _emit(settings, alert)
