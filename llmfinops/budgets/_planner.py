"""Reservation plans: what one call reserves, on which counters, and what a hold keeps.

The budgets a call counts against become targets (budget, key, window instance); their limits
are merged into one slot per store counter, split into per-call checks, ``run`` slots (in this
process) and store slots. Plans are cached by the targets they were built from.
"""

from __future__ import annotations

# Private helpers of the hooks in _enforce.py (the names it imports).
__all__ = [
    "_Hold",
    "_Plan",
    "_Refused",
    "_Slot",
    "_Target",
    "_blame",
    "_lines",
    "_plan",
    "_plans",
    "_targets",
]

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmfinops.stores import BudgetStore, Line, Refusal, Reservation

from ._budget import Budget
from ._counters import counter_name
from ._estimate import Estimate
from ._settings import BudgetSettings
from ._spec import CallContext
from ._window import Span

if TYPE_CHECKING:
    from llmfinops._recorder import CallState

    from ._breaker import Breaker

_INF = float("inf")
_MARGIN = 3600
_RUN_TTL = 86_400


@dataclass(slots=True)
class _Target:
    budget: Budget
    key: str
    span: Span


@dataclass(slots=True)
class _Member:
    target: _Target
    unit: str
    limit: int
    enforcing: bool


@dataclass(frozen=True, slots=True)
class _Slot:
    """One counter of a plan: every member (budget x unit) that counts on it."""

    counter: str
    unit: str
    limit: int | None
    rolling: int
    end: float
    members: tuple[_Member, ...]

    def ttl(self, now: float, hold: float) -> int:
        margin = int(hold) + _MARGIN
        if self.rolling:
            return self.rolling + margin
        if self.end == _INF:
            return _RUN_TTL
        return max(int(self.end - now), 0) + margin


_Plan = tuple[tuple[_Member, ...], tuple[_Slot, ...], tuple[_Slot, ...]]
"""Per-call checks, run-store slots, main-store slots."""
_plans: dict[tuple[Any, ...], _Plan] = {}


@dataclass(slots=True)
class _Refused:
    member: _Member
    spent: int
    reserved: int
    amount: int


@dataclass(slots=True)
class _Hold:
    estimate: Estimate | None
    store: BudgetStore
    main: tuple[_Slot, ...]
    main_res: Reservation | None
    run: tuple[_Slot, ...]
    run_res: Reservation | None
    breakers: list[tuple[Breaker, str]]
    hold: float


def _targets(state: CallState, settings: BudgetSettings, scopes: tuple[Any, ...]) -> list[_Target]:
    ctx = CallContext(
        tags=state.tag_snapshot,
        provider=state.runtime.provider,
        model=state.model,
        endpoint=state.endpoint,
        operation=state.operation,
    )
    out: list[_Target] = []
    seen: set[tuple[int, str]] = set()
    pairs = [(b, None) for b in settings.budgets] + [(a.budget, a.run) for a in scopes]
    for b, run in pairs:
        kind = b.window.kind
        if kind == "run":
            key, span = f"run:{run}", Span("run", float("-inf"), float("inf"))
        elif kind == "call":
            key, span = b.name, Span("call", float("-inf"), float("inf"))
        else:
            k = b.resolve_key(ctx)
            if k is None:
                continue
            key, span = k, b.window.span(state.timestamp, settings.timezone)
        marker = (id(b), key)
        if marker in seen:
            continue
        seen.add(marker)
        out.append(_Target(b, key, span))
    return out


def _plan(targets: list[_Target]) -> _Plan:
    """Split targets into per-call checks, run-store and main-store slots (merged by counter); cached."""
    signature = tuple((t.budget, t.key, t.span.id) for t in targets)
    plan = _plans.get(signature)
    if plan is not None:
        return plan
    calls: list[_Member] = []
    run: dict[str, list[_Member]] = {}
    main: dict[str, list[_Member]] = {}
    spans: dict[str, Span] = {}
    for t in targets:
        b = t.budget
        enforcing = b.on_exceed != "warn"
        for unit, limit in b.limits.items():
            member = _Member(t, unit, limit, enforcing)
            kind = b.window.kind
            if kind == "call":
                calls.append(member)
                continue
            if kind == "run":
                counter, into = counter_name(t.key, "run", unit), run
            else:
                counter, into = counter_name(t.key, t.span.id, unit), main
            into.setdefault(counter, []).append(member)
            spans[counter] = t.span

    def slots(groups: dict[str, list[_Member]]) -> tuple[_Slot, ...]:
        out = []
        for counter, members in groups.items():
            limits = [m.limit for m in members if m.enforcing]
            span = spans[counter]
            out.append(
                _Slot(
                    counter=counter,
                    unit=members[0].unit,
                    limit=min(limits) if limits else None,
                    rolling=span.rolling,
                    end=span.end,
                    members=tuple(members),
                )
            )
        return tuple(out)

    plan = (tuple(calls), slots(run), slots(main))
    if len(_plans) > 4096:
        _plans.clear()
    _plans[signature] = plan
    return plan


def _blame(slot: _Slot, refusal: Refusal, amount: int) -> _Refused:
    enforcing = [m for m in slot.members if m.enforcing]
    member = min(enforcing, key=lambda m: m.limit) if enforcing else slot.members[0]
    return _Refused(member, refusal.spent, refusal.reserved, amount)


def _lines(slots: tuple[_Slot, ...], amounts: dict[str, int], now: float, hold: float) -> list[Line]:
    return [Line(s.counter, amounts[s.unit], s.limit, s.ttl(now, hold), s.rolling) for s in slots]
