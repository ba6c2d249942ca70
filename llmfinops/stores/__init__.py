"""Budget stores: where budgets keep their counters. One contract, three implementations.

=================  =========================================  =====================================
Store              Scope                                      Atomicity
=================  =========================================  =====================================
``MemoryStore``    one process                                a lock
``DiskCacheStore`` every process on one machine (the default)  a SQLite transaction (``diskcache``)
``RedisStore``     every machine sharing a Redis              one server-side Lua script per op
=================  =========================================  =====================================

Pick one with :func:`llmfinops.budgets.configure_budgets`::

    from llmfinops.budgets import configure_budgets
    from llmfinops.stores import RedisStore

    configure_budgets(store=RedisStore("redis://budgets.internal:6379/0"))

How a store counts
------------------
A *counter* is one budget key in one window for one unit, e.g.
``"team:search|day:2026-11-22|usd"``. Amounts are integers: USD in nano-dollars
(``1e-9``, rounded up), tokens and calls as they are. Each counter holds what was
**spent** (reconciled actual cost) and what is **held** by reservations of calls in flight.

* :meth:`BudgetStore.reserve` checks every line of a call (org, team, user...) and holds
  the worst-case amount on all of them, or on none: one atomic step, so concurrent callers
  can never overshoot together (the failure of check-then-call budget managers).
* :meth:`BudgetStore.commit` releases the hold and adds the actual amount.
* A hold expires at its deadline (``reserve(..., hold=seconds)``): a process that crashes
  mid-call cannot block a budget for longer than that, and no sweeper is needed.
* Counters expire on their own once their window is over (``Line.ttl``).

Write your own store by implementing :class:`BudgetStore`; ``tests/budgets/test_store_contract.py``
is the suite it has to pass.

Example:
    >>> from llmfinops.stores import Line, MemoryStore, Refusal
    >>> store = MemoryStore()
    >>> line = Line("team:search|day:2026-11-22|calls", amount=1, limit=2, ttl=86_400)
    >>> r1 = store.reserve([line], now=0.0, hold=60.0)
    >>> r2 = store.reserve([line], now=0.0, hold=60.0)
    >>> isinstance(store.reserve([line], now=0.0, hold=60.0), Refusal)
    True
    >>> store.commit(r1, [1], now=1.0)
    (1,)
    >>> store.release(r2, now=1.0)
    >>> store.usage(line.counter, now=1.0)
    (1, 0)
"""

from __future__ import annotations

__all__ = [
    "BudgetStore",
    "DiskCacheStore",
    "Line",
    "MemoryStore",
    "RedisStore",
    "Refusal",
    "Reservation",
]

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._logic import CounterState, commit_states, hold_deadline, live, new_state, reserve_states
from ._types import Line, Refusal, Reservation

if TYPE_CHECKING:
    from .diskcache import DiskCacheStore
    from .redis import RedisStore


@runtime_checkable
class BudgetStore(Protocol):
    """**Protocol:** a small atomic interface for budget counters.

    Every method is atomic with respect to every other caller of the same store (threads,
    processes, machines — as far as the store reaches). ``now`` is epoch seconds from the
    injected clock, so windows and hold deadlines follow ``configure(clock=...)``.

    Example:
        >>> isinstance(MemoryStore(), BudgetStore)
        True
    """

    def reserve(self, lines: Sequence[Line], *, now: float, hold: float) -> Reservation | Refusal:
        """Hold ``line.amount`` on every line if none would go over its limit; else hold nothing.

        Args:
            lines: Distinct counters with the amounts to hold and their limits.
            now: Current epoch seconds.
            hold: Seconds after which the hold lapses if never committed (crashed caller).
        """
        ...

    def commit(self, reservation: Reservation, actual: Sequence[int], *, now: float) -> tuple[int, ...]:
        """Release the hold (if it has not lapsed) and add ``actual[i]`` to line ``i``.

        Returns:
            The new spent total of each line (inside its window).
        """
        ...

    def release(self, reservation: Reservation, *, now: float) -> None:
        """Release the hold without spending (the call was never sent or cost nothing)."""
        ...

    def usage(self, counter: str, *, now: float, rolling: int = 0) -> tuple[int, int]:
        """Return ``(spent, held)`` of a counter (zeros when it does not exist)."""
        ...

    def mark_alert(self, name: str, *, now: float, ttl: int) -> bool:
        """Record that alert ``name`` fired; ``True`` only for the first caller until ``now + ttl``."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class MemoryStore:
    """Counters in this process's memory, behind a lock. Fast; forgets everything on exit.

    Use it for tests, single-process services, and budgets that are per-process by nature.

    Example:
        >>> store = MemoryStore()
        >>> r = store.reserve([Line("user:u_1|day:2026-11-22|usd", 10, 100, 86_400)], now=0, hold=60)
        >>> r.totals
        (10,)
    """

    _GC_EVERY = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, CounterState] = {}
        self._expiry: dict[str, float] = {}
        self._alerts: dict[str, float] = {}
        self._ops = 0

    def _state(self, counter: str) -> CounterState:
        st = self._counters.get(counter)
        if st is None:
            st = self._counters[counter] = new_state()
        return st

    def _touch(self, lines: Sequence[Line], now: float) -> None:
        for line in lines:
            self._expiry[line.counter] = now + line.ttl
        self._ops += 1
        if self._ops >= self._GC_EVERY:
            self._ops = 0
            dead = [k for k, t in self._expiry.items() if t <= now]
            for k in dead:
                del self._expiry[k]
                self._counters.pop(k, None)

    def reserve(self, lines: Sequence[Line], *, now: float, hold: float) -> Reservation | Refusal:
        """See :meth:`BudgetStore.reserve`."""
        deadline = hold_deadline(now, hold)
        with self._lock:
            states = [self._state(line.counter) for line in lines]
            result = reserve_states(states, lines, now, deadline)
            if isinstance(result, Refusal):
                return result
            self._touch(lines, now)
        return Reservation(lines=tuple(lines), deadline=deadline, totals=result)

    def commit(self, reservation: Reservation, actual: Sequence[int], *, now: float) -> tuple[int, ...]:
        """See :meth:`BudgetStore.commit`."""
        lines = reservation.lines
        with self._lock:
            states = [self._state(line.counter) for line in lines]
            out = commit_states(states, lines, actual, now, reservation.deadline)
            self._touch(lines, now)
        return out

    def release(self, reservation: Reservation, *, now: float) -> None:
        """See :meth:`BudgetStore.release`."""
        self.commit(reservation, [0] * len(reservation.lines), now=now)

    def usage(self, counter: str, *, now: float, rolling: int = 0) -> tuple[int, int]:
        """See :meth:`BudgetStore.usage`."""
        with self._lock:
            st = self._counters.get(counter)
            if st is None or self._expiry.get(counter, now + 1) <= now:
                return 0, 0
            return live(st, now, rolling)

    def mark_alert(self, name: str, *, now: float, ttl: int) -> bool:
        """See :meth:`BudgetStore.mark_alert`."""
        with self._lock:
            until = self._alerts.get(name)
            if until is not None and until > now:
                return False
            self._alerts[name] = now + ttl
            if len(self._alerts) > 100_000:
                for k in [k for k, v in self._alerts.items() if v <= now]:
                    del self._alerts[k]
            return True

    def close(self) -> None:
        """Forget everything."""
        with self._lock:
            self._counters.clear()
            self._expiry.clear()
            self._alerts.clear()

    def __repr__(self) -> str:
        return f"MemoryStore(counters={len(self._counters)}, pid={os.getpid()})"


for _cls in (Line, Refusal, Reservation):
    _cls.__module__ = __name__


def __getattr__(name: str) -> Any:
    # Optional backends are imported on first use: ``import llmfinops`` never imports diskcache or redis.
    if name == "DiskCacheStore":
        from .diskcache import DiskCacheStore

        return DiskCacheStore
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(f"module 'llmfinops.stores' has no attribute {name!r}")
