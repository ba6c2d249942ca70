"""Record ids: a random per-process prefix plus a counter, unique across processes and cheap.

:mod:`llmfinops._recorder` calls :data:`_next_id` (as a module global) for every record it builds.
"""

from __future__ import annotations

__all__ = ["_next_id"]

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
