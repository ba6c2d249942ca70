"""Provider drivers: one batch lifecycle (create, retrieve, read results) per SDK.

* OpenAI: the requests become a JSONL file (``files.create(purpose="batch")``), then
  ``batches.create``; ``batches.retrieve`` polls; ``files.content`` reads the output and error
  files. Nothing of this is metered by the OpenAI adapter, so llmfinops.batch records results.
* Anthropic: ``messages.batches.create/retrieve/results``. The Anthropic adapter records every
  succeeded result read through ``messages.batches.results`` of a wrapped client.
* Google: ``batches.create`` with inlined requests, ``batches.get``; the results are the job's
  ``dest.inlined_responses``. The Google adapter records them the first time a finished job
  is read through a wrapped client.

This module is the registry (:data:`DRIVERS`, :func:`driver_for`); the protocol and the request
normalization live in :mod:`._driver_base`, each driver in ``._driver_<provider>``.
"""

from __future__ import annotations

__all__ = ["DRIVERS", "Driver", "Item", "RawResult", "driver_for"]

from llmfinops.exceptions import ConfigurationError

from ._driver_anthropic import AnthropicDriver
from ._driver_base import Driver, Item, RawResult
from ._driver_base import normalize as normalize  # re-exported: llmfinops.batch._job imports it from here
from ._driver_google import GoogleDriver
from ._driver_openai import OpenAIDriver

DRIVERS: dict[str, Driver] = {
    "openai": OpenAIDriver(),
    "anthropic": AnthropicDriver(),
    "google": GoogleDriver(),
}


def driver_for(provider: str) -> Driver:
    """The driver of ``provider``."""
    try:
        return DRIVERS[provider]
    except KeyError:
        raise ConfigurationError(
            f"provider {provider!r} has no batch driver; supported: {sorted(DRIVERS)}"
        ) from None
