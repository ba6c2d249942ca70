"""llmfinops: LLM spend made visible and controllable from inside the application.

Keep your official SDK client; wrap it::

    import llmfinops
    from openai import OpenAI

    client = llmfinops.wrap(OpenAI())
    with llmfinops.tags(team="search", feature="autocomplete", user_id=user.id):
        client.chat.completions.create(model="gpt-4o", messages=[...])

Every call is priced from an effective-dated price table and written as one
:class:`CallRecord` to the configured sinks (JSONL by default), off the call path.
"""

from __future__ import annotations

__all__ = [
    "BudgetExceeded",
    "CallRecord",
    "ConfigurationError",
    "InfraCost",
    "LLMFinOpsError",
    "PriceNotFound",
    "UnsupportedClientError",
    "Usage",
    "__version__",
    "configure",
    "current_tags",
    "flush",
    "get_config",
    "reset_defaults",
    "tags",
    "unwrap",
    "wrap",
]

__version__ = "0.1.0"

from ._config import InfraCost, configure, get_config, reset_defaults
from ._context import current_tags, tags
from ._wrap import unwrap, wrap
from .exceptions import (
    BudgetExceeded,
    ConfigurationError,
    LLMFinOpsError,
    PriceNotFound,
    UnsupportedClientError,
)
from .records import CallRecord
from .usage import Usage


def flush() -> None:
    """Write every queued record now (all writers). Call it before reading your logs.

    Example:
        >>> import llmfinops
        >>> llmfinops.flush()
    """
    from .sinks._writer import flush_all

    flush_all()
