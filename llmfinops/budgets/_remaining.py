"""``remaining()``: what is left under a budget key, across every budget defined in this process.

Owns the registry of live budgets it looks through (every ``Budget`` adds itself).
"""

from __future__ import annotations

__all__ = ["remaining"]

import weakref
from decimal import Decimal
from typing import TYPE_CHECKING

from llmfinops._config import get_config
from llmfinops.exceptions import ConfigurationError

from ._counters import Unit, counter_name, from_units
from ._settings import get_budget_settings, get_store
from ._userid import _HASHED, hash_user
from ._window import Window, WindowLike

if TYPE_CHECKING:
    from ._budget import Budget

_REGISTRY: weakref.WeakSet[Budget] = weakref.WeakSet()


def remaining(key: str, window: WindowLike | None = None, *, unit: Unit = "usd") -> Decimal:
    """What is left under budget key ``key`` (as ``BudgetExceeded.key`` shows it: ``"team:search"``).

    Every budget defined in this process that counts under ``key`` (matching ``key=`` or the
    ``per=`` name) and has a limit in ``unit`` is considered, in ``window`` if given; the
    smallest remainder wins. Raw user ids are hashed like record user ids
    (``remaining("user:alice")`` works).

    Raises:
        ConfigurationError: No budget matches.

    Example:
        >>> from llmfinops.budgets import Budget, configure_budgets
        >>> from llmfinops.stores import MemoryStore
        >>> configure_budgets(store=MemoryStore())
        >>> team_budget = Budget(usd=50, per="team", window="month")
        >>> remaining("team:search", "month")
        Decimal('50')
    """
    want = Window.parse(window) if window is not None else None
    prefix, _, value = key.partition(":")
    candidates = []
    for b in [*get_budget_settings().budgets, *list(_REGISTRY)]:
        if unit not in b.limits or not b.window.stored or not b.matches(key):
            continue
        if want is not None and (
            b.window.kind != want.kind
            or b.window.seconds != want.seconds
            or (want.tz and want.tz != b.window.tz)
        ):
            continue
        candidates.append(b)
    if not candidates:
        where = f" in window {str(want)!r}" if want is not None else ""
        raise ConfigurationError(
            f"no budget with a {unit} limit counts under key {key!r}{where}; keys look like 'team:search', "
            "'user:<id>' or a fixed key='...'; define the Budget first, or use Budget.remaining()/status()"
        )
    if prefix == "user" and value and not _HASHED.match(value):
        key = f"user:{hash_user(value)}"
    now_dt = get_config().clock.now()
    now = now_dt.timestamp()
    tz = get_budget_settings().timezone
    store = get_store()
    best: Decimal | None = None
    seen: set[int] = set()
    for b in candidates:
        if id(b) in seen:
            continue
        seen.add(id(b))
        span = b.window.span(now_dt, tz)
        spent, held = store.usage(counter_name(key, span.id, unit), now=now, rolling=span.rolling)
        left = max(from_units(unit, b.limits[unit] - spent - held), Decimal(0))
        best = left if best is None else min(best, left)
    assert best is not None
    return best
