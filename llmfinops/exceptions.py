"""Exceptions and warnings raised by llmfinops.

The hierarchy::

    * LLMFinOpsError(Exception)                          base of every library error
      x ConfigurationError(LLMFinOpsError, ValueError)   bad configure()/wrap()/price-table input
      x UnsupportedClientError(LLMFinOpsError, TypeError) wrap() got a client it cannot meter
      x MissingDependencyError(LLMFinOpsError, ImportError) an optional extra is not installed
      x PriceNotFound(LLMFinOpsError, LookupError)       no price for a model, only in strict mode
      x BudgetExceeded(LLMFinOpsError)                   a budget refused a call before it was sent
        x BreakerOpen(BudgetExceeded)                    the runaway circuit breaker is open (unit="rate")
        x BudgetUnavailable(BudgetExceeded)              the budget store is down and on_store_error="closed"
      x CascadeExhausted(LLMFinOpsError, ExceptionGroup) every cascade step failed (llmfinops.cascade)
      x InputTooLarge(LLMFinOpsError)                    a max_input_tokens policy refused a call
    * LLMFinOpsWarning(UserWarning)
      x CostUnknownWarning                               a call could not be priced (cost_usd is null)
      x UsageExtractionFailedWarning                     a response's usage could not be read
      x SinkFailedWarning                                a sink raised; the record was counted as dropped
      x RecordsDroppedWarning                            the background queue was full
      x InternalErrorWarning                             any other llmfinops failure inside a call
      x CacheBusterWarning                               a per-request value sits in the cacheable prefix
      x BudgetStoreWarning                               the budget store failed; the call was allowed

Only ``BudgetExceeded``, ``InputTooLarge``, cascade exhaustion and configuration errors
(and ``PriceNotFound`` in strict mode) ever reach the caller of an SDK method. Every other
failure inside llmfinops is logged on the ``llmfinops`` logger and warned once; the user's
call returns its normal result.
"""

from __future__ import annotations

__all__ = [
    "BudgetExceeded",
    "CacheBusterWarning",
    "CascadeExhausted",
    "ConfigurationError",
    "CostUnknownWarning",
    "InputTooLarge",
    "InternalErrorWarning",
    "LLMFinOpsError",
    "LLMFinOpsWarning",
    "MissingDependencyError",
    "PriceNotFound",
    "RecordsDroppedWarning",
    "SinkFailedWarning",
    "UnsupportedClientError",
    "UsageExtractionFailedWarning",
]

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cascade._errors import CascadeExhausted


def __getattr__(name: str) -> Any:
    # CascadeExhausted lives with the cascade code; re-exported lazily so this module stays import-free.
    if name == "CascadeExhausted":
        from .cascade._errors import CascadeExhausted

        return CascadeExhausted
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class LLMFinOpsError(Exception):
    """Base class of every error raised by llmfinops."""


class ConfigurationError(LLMFinOpsError, ValueError):
    """Invalid configuration: the message names the field, the value and the fix.

    Example:
        >>> raise ConfigurationError("price table 'x.json': model 'm': input_mtok=-1 is negative")
        Traceback (most recent call last):
        ...
        llmfinops.exceptions.ConfigurationError: price table 'x.json': model 'm': input_mtok=-1 is negative
    """


class UnsupportedClientError(LLMFinOpsError, TypeError):
    """``wrap()`` was given an object that is not a supported SDK client."""


class MissingDependencyError(LLMFinOpsError, ImportError):
    """An optional dependency is missing; the message carries the ``pip install`` line."""


class PriceNotFound(LLMFinOpsError, LookupError):
    """No price for a model (raised only when ``configure(strict_pricing=True)``)."""

    def __init__(self, provider: str, model: str, reason: str) -> None:
        self.provider = provider
        self.model = model
        self.reason = reason
        super().__init__(
            f"no price for provider={provider!r} model={model!r}: {reason}. "
            "Add it with llmfinops.configure(price_overrides=...) or a price file "
            "(see docs/price-table.md), or set strict_pricing=False to record cost_usd=null."
        )


class BudgetExceeded(LLMFinOpsError):
    """A budget refused a call before anything was sent.

    Attributes:
        key: The budget key (e.g. ``"team:search"``).
        window: The window the limit applies to (e.g. ``"day:2026-11-22"``).
        limit: The limit in its unit.
        spent: Already spent (reconciled) in the window.
        reserved: Held by calls in flight.
        estimate: What this call would reserve.
        unit: ``"usd"``, ``"tokens"`` or ``"calls"``.
    """

    def __init__(
        self,
        *,
        key: str,
        window: str,
        limit: Decimal,
        spent: Decimal,
        reserved: Decimal,
        estimate: Decimal,
        unit: str = "usd",
    ) -> None:
        self.key = key
        self.window = window
        self.limit = limit
        self.spent = spent
        self.reserved = reserved
        self.estimate = estimate
        self.unit = unit
        super().__init__(
            f"budget {key!r} ({window}) would be exceeded: limit={limit} {unit}, spent={spent}, "
            f"reserved={reserved}, this call's estimate={estimate}; nothing was sent. "
            "Raise the limit, lower max output tokens, or use on_exceed='degrade'."
        )


class InputTooLarge(LLMFinOpsError):
    """A ``max_input_tokens`` policy refused a request before it was sent.

    Attributes:
        estimate: Estimated prompt tokens of the request.
        limit: The limit in force.
        method: How the estimate was made (see :func:`llmfinops.tokens.estimator_method`).
        scope: Where the limit was set (``wrap(...)``, ``llmfinops.policy(...) scope``...).
        model: The requested model.
        provider: The provider of the client.
    """

    def __init__(
        self, *, estimate: int, limit: int, method: str, scope: str, model: str, provider: str
    ) -> None:
        self.estimate = estimate
        self.limit = limit
        self.method = method
        self.scope = scope
        self.model = model
        self.provider = provider
        super().__init__(
            f"max_input_tokens: the {provider} request to model {model!r} has an estimated {estimate:,} "
            f"prompt tokens (estimated with {method}), above the limit of {limit:,} set by {scope}; "
            "nothing was sent. "
            "Shorten the prompt (trim history or retrieved context) or raise the limit, e.g. "
            f"`with llmfinops.policy(max_input_tokens={-(-estimate // 1000) * 1000})`."
        )


class LLMFinOpsWarning(UserWarning):
    """Base class of llmfinops warnings (visible by default)."""


class CostUnknownWarning(LLMFinOpsWarning):
    """A call could not be priced; its record has ``cost_usd=None``."""


class UsageExtractionFailedWarning(LLMFinOpsWarning):
    """The usage block of a response could not be read."""


class SinkFailedWarning(LLMFinOpsWarning):
    """A sink raised while writing records."""


class RecordsDroppedWarning(LLMFinOpsWarning):
    """Records were dropped because the background queue was full."""


class InternalErrorWarning(LLMFinOpsWarning):
    """An unexpected error inside llmfinops; the user's call was not affected."""


class CacheBusterWarning(LLMFinOpsWarning):
    """A value that changes per request sits inside the cacheable prompt prefix."""
