"""Exceptions the background writer understands: a processor's deliberate drop, a sink's failure.

:class:`DropRecord` drops one record on purpose; :func:`is_transient` tells a sink error worth
retrying (with backoff) from a permanent one (the batch is re-sent one record at a time).
"""

from __future__ import annotations

__all__ = ["DropRecord", "is_transient"]


# Errors that another attempt cannot fix: a bug in a sink or a record it cannot encode.
_PERMANENT: tuple[type[BaseException], ...] = (
    TypeError,
    ValueError,
    AttributeError,
    NameError,
    LookupError,
    ImportError,
    NotImplementedError,
    AssertionError,
)
_PERMANENT_SQLITE = frozenset({"ProgrammingError", "IntegrityError", "InterfaceError", "DataError"})


class DropRecord(BaseException):  # named like structlog's DropEvent
    """Raise from a processor to drop the record (it is a ``BaseException`` on purpose).

    Example:
        >>> def no_tests(record):
        ...     if record.environment == "test":
        ...         raise DropRecord
        ...     return record
    """


def is_transient(exc: BaseException) -> bool:
    """Whether retrying a sink after ``exc`` may succeed.

    Programming errors (``TypeError``, ``ValueError``, ``KeyError``...) and SQLite integrity or
    programming errors are permanent; everything else (``OSError``, ``TimeoutError``, a locked
    database, an HTTP client's transport error...) is treated as transient.

    Example:
        >>> is_transient(ConnectionResetError()), is_transient(TypeError())
        (True, False)
    """
    if isinstance(exc, _PERMANENT):
        return False
    cls = type(exc)
    return not (cls.__module__ == "sqlite3" and cls.__name__ in _PERMANENT_SQLITE)
