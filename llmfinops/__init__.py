"""llmfinops: LLM spend made visible and controllable from inside the application.

Keep your official SDK client; wrap it::

    import llmfinops
    from openai import OpenAI

    client = llmfinops.wrap(OpenAI())
    with llmfinops.tags(team="search", feature="autocomplete", user_id=user.id):
        client.chat.completions.create(model="gpt-4o", messages=[...])

Every call is priced from an effective-dated price table and written as one
:class:`CallRecord` to the configured sinks (JSONL by default), off the call path.
Budgets (:func:`budget`), cascades (:func:`cascade`), request policies (``wrap(...,
max_output_tokens=..., cache="auto")``), response caching (:mod:`llmfinops.cache`),
batch helpers (:mod:`llmfinops.batch`) and reports (:mod:`llmfinops.reports`, the
``llmfinops`` CLI) build on those records.
"""

from __future__ import annotations

__all__ = [
    "Budget",
    "BudgetExceeded",
    "CachePolicy",
    "CallRecord",
    "CascadeExhausted",
    "ConfigurationError",
    "InfraCost",
    "InputTooLarge",
    "LLMFinOpsError",
    "PriceNotFound",
    "Step",
    "UnsupportedClientError",
    "Usage",
    "Window",
    "__version__",
    "budget",
    "cascade",
    "configure",
    "current_tags",
    "flush",
    "get_config",
    "policy",
    "remaining",
    "reset_defaults",
    "tags",
    "unwrap",
    "wrap",
]

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from ._config import InfraCost, configure, get_config, reset_defaults
from ._context import current_tags, tags
from ._wrap import unwrap, wrap
from .cascade import CascadeExhausted, Step, cascade
from .exceptions import (
    BudgetExceeded,
    ConfigurationError,
    InputTooLarge,
    LLMFinOpsError,
    PriceNotFound,
    UnsupportedClientError,
)
from .records import CallRecord
from .usage import Usage

if TYPE_CHECKING:
    from .budgets import Budget, Window, budget, remaining
    from .policies import CachePolicy, policy

# Loaded on first use, so `import llmfinops` stays light: budgets pull in their stores, reports
# DuckDB, the cache and batch helpers their stores, only when an application uses them.
_LAZY = {
    "Budget": "llmfinops.budgets",
    "Window": "llmfinops.budgets",
    "budget": "llmfinops.budgets",
    "remaining": "llmfinops.budgets",
    "CachePolicy": "llmfinops.policies",
    "policy": "llmfinops.policies",
}
_SUBMODULES = frozenset(
    {"batch", "budgets", "cache", "eval", "policies", "processors", "reports", "stores", "testing"}
)


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"llmfinops.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmfinops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def flush() -> None:
    """Write every queued record now (all writers). Call it before reading your logs.

    Example:
        >>> import llmfinops
        >>> llmfinops.flush()
    """
    from .sinks._writer import flush_all

    flush_all()
