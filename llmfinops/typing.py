"""Public protocols and type aliases: what you implement to extend llmfinops.

Example:
    >>> from llmfinops.typing import Sink
    >>> class PrintSink:
    ...     def emit(self, record): print(record.model)
    ...     def close(self): pass
    >>> isinstance(PrintSink(), Sink)
    True
"""

from __future__ import annotations

__all__ = ["BatchSink", "BudgetStore", "Processor", "Sink", "SinkLike"]

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from .records import CallRecord
    from .stores import BudgetStore


def __getattr__(name: str) -> Any:
    if name == "BudgetStore":  # the budget-store protocol lives with the stores (loaded on demand)
        from .stores import BudgetStore

        return BudgetStore
    raise AttributeError(f"module 'llmfinops.typing' has no attribute {name!r}")


@runtime_checkable
class Sink(Protocol):
    """**Protocol:** receives finished :class:`~llmfinops.CallRecord` objects.

    ``emit`` is called on llmfinops' background writer thread, never on the caller's
    thread, so it may block briefly (file or network I/O). Raising is allowed: the writer
    retries with backoff, then counts the records as dropped and warns once.
    """

    def emit(self, record: CallRecord) -> None:
        """Write one record."""
        ...

    def close(self) -> None:
        """Flush and release resources."""
        ...


@runtime_checkable
class BatchSink(Sink, Protocol):
    """**Protocol:** a sink that can write many records at once (preferred by the writer)."""

    def emit_batch(self, records: Sequence[CallRecord]) -> None:
        """Write several records, in order."""
        ...


Processor: TypeAlias = "Callable[[CallRecord], CallRecord]"
"""Transforms a record before any sink sees it; raise :class:`llmfinops.processors.DropRecord` to drop it."""

SinkLike: TypeAlias = "Sink | Callable[[CallRecord], object]"
"""A :class:`Sink` or a plain callable taking a record."""
