"""Record ids: a random per-process prefix plus a counter, unique across processes and cheap.

:mod:`llmfinops._recorder` calls :data:`_next_id` (as a module global) for every record it builds.
"""

from __future__ import annotations

__all__ = ["_next_id", "stable_id"]

import itertools
import os


class _Ids:
    """Record ids: a random per-process prefix plus a counter (unique across processes, cheap)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):08x}"


_next_id = _Ids()


def stable_id(*parts: str) -> str:
    """A record id derived from what identifies one billed item (24 hex digits, like random ids).

    For records that can be written more than once by design: a batch result read by two
    processes, or read again after a restart, gets the same id both times, so a sink with a unique
    id (SQLite) or a query grouping by ``id`` keeps one.

    Example:
        >>> a = stable_id("anthropic", "msgbatch_01", "ticket-1")
        >>> a == stable_id("anthropic", "msgbatch_01", "ticket-1"), a == stable_id("anthropic", "b", "x")
        (True, False)
        >>> len(stable_id("google", "batches/7", "#0"))
        24
    """
    import hashlib  # lazily: hashlib/OpenSSL cost ~4 ms at `import llmfinops`

    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
