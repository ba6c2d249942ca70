"""Budget arguments: the limits parsed and validated, and what ``per=`` keys on.

``usd=``, ``tokens=`` and ``calls=`` become positive amounts; a ``per=`` tag name may be an
alias (``user``); a ``per=`` callable is a ``KeyFunc`` that sees a ``CallContext``.
"""

from __future__ import annotations

__all__ = ["CallContext", "KeyFunc"]

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TypeAlias

from llmfinops.exceptions import ConfigurationError

_WELL_KNOWN = {"user": "user_id", "user_id": "user_id"}


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a ``per=`` key function sees about the call.

    Example:
        >>> ctx = CallContext(tags={"team": "search"}, provider="openai", model="gpt-4o")
        >>> ctx.tags["team"]
        'search'
    """

    tags: Mapping[str, str]
    """Attribution in force (``llmfinops.tags(...)``), raw values."""
    provider: str = ""
    model: str = ""
    endpoint: str = ""
    operation: str = ""


KeyFunc: TypeAlias = Callable[[CallContext], "str | None"]
"""``per=`` callable: returns the key of the call (``None``: the budget does not apply to it)."""


def _parse_usd(value: Decimal | str | float | None) -> Decimal | None:
    if value is None:
        return None
    try:
        d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise ConfigurationError(
            f"budget usd={value!r} is not an amount; use e.g. usd=5 or usd='0.50'"
        ) from exc
    if not d.is_finite() or d <= 0:
        raise ConfigurationError(f"budget usd={value!r} must be a positive amount of dollars")
    return d


def _parse_count(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"budget {name}={value!r} must be a positive integer")
    return value
