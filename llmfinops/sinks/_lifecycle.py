"""Every live background writer, flushed at interpreter exit and kept consistent across ``os.fork()``.

A writer registers itself in :data:`_writers` when made and calls
:func:`_register_thread_exit_flush` when its thread starts; :func:`flush_all` runs at exit.
"""

from __future__ import annotations

__all__ = ["_register_thread_exit_flush", "_writers", "flush_all"]

import atexit
import contextlib
import os
import threading
import weakref
from typing import TYPE_CHECKING

from llmfinops._internal import logger

if TYPE_CHECKING:
    from llmfinops.sinks._writer import BackgroundWriter

_writers: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


def flush_all() -> None:
    """Flush every live writer (runs at interpreter exit).

    Example:
        >>> flush_all()
    """
    for w in list(_writers):
        try:
            w.flush()
        except Exception:
            logger.exception("llmfinops: flush at exit failed")


_held: list[BackgroundWriter] = []
_exit_hook_registered = False


def _before_fork() -> None:
    _held.extend(w for w in list(_writers) if w._before_fork())


def _after_fork_parent() -> None:
    while _held:
        _held.pop()._drain_lock.release()


def _after_fork_child() -> None:
    _held.clear()
    for w in list(_writers):
        w._after_fork_child()


def _register_thread_exit_flush() -> None:
    """Flush before ``atexit`` handlers run (an OTel provider shuts down in one of those).

    ``threading._register_atexit`` callbacks run when the interpreter starts finalizing, before
    non-daemon threads are joined and before ``atexit``; ``concurrent.futures`` uses the same hook.
    """
    global _exit_hook_registered
    if _exit_hook_registered:
        return
    _exit_hook_registered = True
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - CPython >= 3.9 has it
        return
    with contextlib.suppress(RuntimeError):  # already shutting down; the atexit hook still runs
        register(flush_all)


atexit.register(flush_all)
os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child)
