"""Budget scopes: the budgets entered in the current context, which the call hooks read.

``BudgetScope`` is what ``with budget(...) as scope`` returns; ``BudgetedFunction`` is what
``@budget(...)`` returns; the drivers keep each step of a decorated generator in its scope.
"""

from __future__ import annotations

__all__ = ["BudgetScope", "BudgetedFunction", "current_scopes"]

import contextvars
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from ._counters import BudgetStatus, Unit

if TYPE_CHECKING:
    from ._budget import Budget

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True, slots=True, eq=False)
class _Active:
    budget: Budget
    run: str | None


_SCOPES: contextvars.ContextVar[tuple[_Active, ...]] = contextvars.ContextVar("llmfinops_budgets", default=())


def current_scopes() -> tuple[_Active, ...]:
    """Budget scopes entered in this context, outermost first."""
    return _SCOPES.get()


class BudgetedFunction(Protocol[P, R_co]):
    """A function decorated with a budget: same signature, plus ``.budget`` and ``.remaining()``.

    Example:
        >>> from llmfinops.stores import MemoryStore
        >>> from llmfinops.budgets import budget, configure_budgets
        >>> configure_budgets(store=MemoryStore())
        >>> @budget(calls=100, per="team")
        ... def triage(ticket: str) -> str:
        ...     return ticket
        >>> triage.budget.calls, triage.remaining("calls", team="support")
        (100, Decimal('100'))
    """

    budget: Budget

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the function inside the budget's scope."""
        ...

    def remaining(self, unit: Unit = "usd", **tags: str) -> Decimal | None:
        """What is left (see :meth:`Budget.remaining`)."""
        ...


class BudgetScope:
    """The active scope returned by ``with budget(...) as scope`` (one run of a ``window="run"`` budget).

    Example:
        >>> from llmfinops.budgets import budget
        >>> with budget(usd="0.50", calls=20, window="run") as run:
        ...     run.remaining("calls")
        Decimal('20')
    """

    __slots__ = ("_active",)

    def __init__(self, active: _Active) -> None:
        self._active = active

    @property
    def budget(self) -> Budget:
        """The budget of this scope."""
        return self._active.budget

    def status(self, **tags: str) -> list[BudgetStatus]:
        """Every limit of this scope (see :meth:`Budget.status`)."""
        b = self._active.budget
        return b._status(b._context(tags), self._active.run)

    def remaining(self, unit: Unit = "usd", **tags: str) -> Decimal | None:
        """What is left in ``unit`` (see :meth:`Budget.remaining`)."""
        for s in self.status(**tags):
            if s.unit == unit:
                return s.remaining
        return None

    def spent(self, unit: Unit = "usd", **tags: str) -> Decimal | None:
        """What was spent in ``unit`` (reconciled)."""
        for s in self.status(**tags):
            if s.unit == unit:
                return s.spent
        return None


def _drive_gen(gen: Iterator[Any], active: _Active) -> Iterator[Any]:
    """Run each step of a generator inside the budget scope (the scope never leaks to the consumer)."""
    send: Any = None
    exc: BaseException | None = None
    g: Any = gen
    while True:
        token = _SCOPES.set((*_SCOPES.get(), active))
        try:
            item = g.throw(exc) if exc is not None else g.send(send)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            _SCOPES.reset(token)
        exc = None
        try:
            send = yield item
        except GeneratorExit:
            g.close()
            raise
        except BaseException as e:
            exc = e


async def _drive_agen(agen: AsyncIterator[Any], active: _Active) -> AsyncIterator[Any]:
    send: Any = None
    exc: BaseException | None = None
    g: Any = agen
    try:
        while True:
            token = _SCOPES.set((*_SCOPES.get(), active))
            try:
                item = await (g.athrow(exc) if exc is not None else g.asend(send))
            except StopAsyncIteration:
                return
            finally:
                _SCOPES.reset(token)
            exc = None
            try:
                send = yield item
            except GeneratorExit:
                raise
            except BaseException as e:
                exc = e
    finally:
        await g.aclose()
