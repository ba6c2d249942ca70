"""Internal error handling: log and warn once, never break the user's call."""

from __future__ import annotations

__all__ = [
    "UNSET",
    "Unset",
    "handle_internal_errors",
    "is_awaitable",
    "is_coroutine_function",
    "logger",
    "report_internal",
    "reset_warned",
    "warn_once",
]

import contextlib
import logging
import sys
import threading
import warnings
from collections.abc import Iterator

from .exceptions import InternalErrorWarning, LLMFinOpsWarning

logger = logging.getLogger("llmfinops")

_warned: set[tuple[type[Warning], str]] = set()
_lock = threading.Lock()


def warn_once(category: type[LLMFinOpsWarning], key: str, message: str) -> None:
    """Log ``message`` and emit ``category`` the first time ``(category, key)`` is seen.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_once(InternalErrorWarning, "demo", "something odd")
        ...     warn_once(InternalErrorWarning, "demo", "something odd")  # same key: silent
        >>> [str(w.message) for w in caught]
        ['something odd']
        >>> _warned.discard((InternalErrorWarning, "demo"))  # forget it again (tests: reset_warned())
    """
    marker = (category, key)
    if marker in _warned:
        return
    with _lock:
        if marker in _warned:
            return
        _warned.add(marker)
    logger.warning(message)
    warnings.warn(message, category, stacklevel=3)


def reset_warned() -> None:
    """Forget which warnings were emitted (tests use this)."""
    with _lock:
        _warned.clear()


def report_internal(where: str) -> None:
    """Log and warn once about the exception being handled; call it from an ``except`` block.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     try:
        ...         1 / 0
        ...     except ZeroDivisionError:
        ...         report_internal("demo")
        >>> print(caught[0].message)  # doctest: +ELLIPSIS
        llmfinops: internal error in demo: ZeroDivisionError: division by zero (...)
        >>> _warned.discard((InternalErrorWarning, "internal:demo:ZeroDivisionError"))  # forget it again
    """
    exc = sys.exc_info()[1]
    logger.error("llmfinops internal error in %s", where, exc_info=True)
    warn_once(
        InternalErrorWarning,
        f"internal:{where}:{type(exc).__name__}",
        f"llmfinops: internal error in {where}: {type(exc).__name__}: {exc} "
        "(the call itself was not affected; please report this)",
    )


@contextlib.contextmanager
def handle_internal_errors(where: str) -> Iterator[None]:
    """Swallow any exception raised inside the block, logging it and warning once per place.

    Example:
        >>> with handle_internal_errors("demo"):
        ...     pass
    """
    try:
        yield
    except Exception:  # the user's call must never see our failures
        report_internal(where)


def is_coroutine_function(fn: object) -> bool:
    """``inspect.iscoroutinefunction``, importing ``inspect`` (~5 ms) only when first needed."""
    import inspect

    return inspect.iscoroutinefunction(fn)


def is_awaitable(value: object) -> bool:
    """``inspect.isawaitable``, importing ``inspect`` only when first needed."""
    import inspect

    return inspect.isawaitable(value)


class Unset:
    """Marker for "this layer does not set the field" (``None`` means "off")."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = Unset()
