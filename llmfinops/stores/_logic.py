"""The counter algorithm shared by :class:`MemoryStore` and :class:`DiskCacheStore`.

A counter's state is a small list ``[spent, slots, holds]``:

* ``spent`` (int): what calendar-window calls have spent (reconciled);
* ``slots`` (dict slot index -> int): spend of a rolling window, in ``ROLLING_SLOTS`` slots;
* ``holds`` (dict deadline -> int): amounts held by reservations, grouped by the second at
  which the hold expires.

A hold is live while its deadline is in the future. A process that dies between reserve
and commit leaves its hold behind; the hold simply stops counting at its deadline, so no
sweeper is needed. ``RedisStore`` runs the same algorithm in Lua (see ``redis.py``).
"""

from __future__ import annotations

__all__ = [
    "ROLLING_SLOTS",
    "CounterState",
    "commit_states",
    "hold_deadline",
    "live",
    "new_state",
    "reserve_states",
    "slot_seconds",
]

import math
from collections.abc import Sequence
from typing import Any

from ._types import Line, Refusal

ROLLING_SLOTS = 60
"""A rolling window is tracked in this many slots: spend leaves it up to 1/60 of its length late."""
_HOLD_BUCKETS = 16

CounterState = list[Any]
"""``[spent: int, slots: dict[int, int], holds: dict[int, int]]``."""


def new_state() -> CounterState:
    """A fresh, empty counter."""
    return [0, {}, {}]


def slot_seconds(rolling: int) -> int:
    """Length of one slot of a rolling window of ``rolling`` seconds."""
    return max(rolling // ROLLING_SLOTS, 1)


def hold_deadline(now: float, hold: float) -> int:
    """The (bucketed) epoch second at which a hold taken at ``now`` for ``hold`` seconds expires.

    Deadlines are rounded *up* to 1/16 of the hold time, so a counter carries at most ~17
    hold buckets however many calls are in flight.
    """
    grain = max(1, math.ceil(hold / _HOLD_BUCKETS))
    return math.ceil((now + hold) / grain) * grain


def live(state: CounterState, now: float, rolling: int) -> tuple[int, int]:
    """Return ``(spent, held)`` at ``now``, dropping expired holds and slots from ``state``."""
    holds: dict[int, int] = state[2]
    held = 0
    dead: list[int] | None = None
    for deadline, amount in holds.items():
        if deadline > now:
            held += amount
        else:
            if dead is None:
                dead = []
            dead.append(deadline)
    if dead:
        for d in dead:
            del holds[d]
    if not rolling:
        return state[0], held
    slots: dict[int, int] = state[1]
    size = slot_seconds(rolling)
    horizon = now - rolling
    spent = 0
    gone: list[int] | None = None
    for idx, amount in slots.items():
        if (idx + 1) * size > horizon:
            spent += amount
        else:
            if gone is None:
                gone = []
            gone.append(idx)
    if gone:
        for i in gone:
            del slots[i]
    return spent, held


def reserve_states(
    states: Sequence[CounterState], lines: Sequence[Line], now: float, deadline: int
) -> tuple[int, ...] | Refusal:
    """Check every line, then hold every amount; all or nothing.

    Returns the totals (spent + held, this hold included) per line, or the first refusal.
    """
    seen: list[tuple[int, int]] = []
    for i, (st, line) in enumerate(zip(states, lines, strict=True)):
        spent, held = live(st, now, line.rolling)
        if line.limit is not None and spent + held + line.amount > line.limit:
            return Refusal(index=i, spent=spent, reserved=held)
        seen.append((spent, held))
    totals = []
    for st, line, (spent, held) in zip(states, lines, seen, strict=True):
        if line.amount:
            holds = st[2]
            holds[deadline] = holds.get(deadline, 0) + line.amount
        totals.append(spent + held + line.amount)
    return tuple(totals)


def commit_states(
    states: Sequence[CounterState],
    lines: Sequence[Line],
    actual: Sequence[int],
    now: float,
    deadline: int,
) -> tuple[int, ...]:
    """Release each line's hold (if still live) and add the actual amount; return new spent per line."""
    out = []
    for st, line, amount in zip(states, lines, actual, strict=True):
        if deadline > now and line.amount:
            holds = st[2]
            left = holds.get(deadline, 0) - line.amount
            if left > 0:
                holds[deadline] = left
            else:
                holds.pop(deadline, None)
        if amount:
            if line.rolling:
                idx = math.floor(now / slot_seconds(line.rolling))
                slots = st[1]
                slots[idx] = slots.get(idx, 0) + amount
            else:
                st[0] += amount
        out.append(live(st, now, line.rolling)[0])
    return tuple(out)
