"""Provider adapters, one module per SDK, all with the same function names.

Each module exposes ``is_client(obj)``, ``patch(client, runtime) -> undo`` and
``extract_usage(sdk_usage) -> Usage``.

SDKs are imported lazily: an adapter module only touches its SDK's objects when a client
of that SDK is wrapped, so ``import llmfinops`` imports no SDK.
"""

from __future__ import annotations

__all__ = ["adapter_for", "register_provider"]

import importlib
from types import ModuleType

_REGISTRY: list[tuple[str, str]] = [
    # (SDK top-level module prefix, adapter module)
    ("openai", "llmfinops.providers.openai"),
    ("anthropic", "llmfinops.providers.anthropic"),
    ("google.genai", "llmfinops.providers.google"),
]


def register_provider(sdk_module_prefix: str, adapter_module: str) -> None:
    """Register a third-party adapter module (checked before the built-ins).

    The adapter module is imported only when a client whose class comes from
    ``sdk_module_prefix`` is wrapped.

    Example:
        >>> register_provider("mistralai", "my_pkg.llmfinops_mistral")
        >>> _REGISTRY[0]  # consulted first
        ('mistralai', 'my_pkg.llmfinops_mistral')
        >>> adapter_for(object()) is None  # other clients: nothing imported
        True
        >>> _REGISTRY.remove(("mistralai", "my_pkg.llmfinops_mistral"))  # undo, for this example
    """
    _REGISTRY.insert(0, (sdk_module_prefix, adapter_module))


def adapter_for(client: object) -> ModuleType | None:
    """The adapter module that can meter ``client``, or ``None``."""
    mods = {c.__module__ for c in type(client).__mro__}
    for prefix, adapter in _REGISTRY:
        if any(m == prefix or m.startswith(prefix + ".") for m in mods):
            mod = importlib.import_module(adapter)
            if mod.is_client(client):
                return mod
    return None
