"""OpenAI prompt-cache options (provider-semantics §2.3) as a pure function over a request body.

* ``prompt_cache_key``: a routing hint; requests with the same key and prefix are routed to
  the same cache. Derived from the hash of the stable prefix (tools, instructions, leading
  system/developer messages), so requests sharing a prefix share a key. A caller's own key
  is never overwritten.
* ``prompt_cache_options.ttl`` (GPT-5.6 and later only): set only when the policy names a
  TTL and the caller set none. ``mode``, ``prewarm`` and explicit breakpoints are never
  touched: ``mode="explicit"`` without breakpoints disables caching altogether, and the
  price of ``12h`` writes versus ``30m`` is UNVERIFIED.
"""

from __future__ import annotations

__all__ = ["apply_openai_cache", "supports_cache_options"]

import re
from collections.abc import Mapping
from typing import Any

from ._cache_policy import CachePolicy

_GPT = re.compile(r"^(?:ft:)?gpt-(\d+)(?:\.(\d+))?")
_KEY_PREFIX = "llmfinops-"


def supports_cache_options(model: str) -> bool:
    """Whether ``model`` accepts ``prompt_cache_options`` (GPT-5.6 and later, per the SDK docstring).

    Example:
        >>> [supports_cache_options(m) for m in ("gpt-5.6-sol", "gpt-6-astra", "gpt-5.5", "o3")]
        [True, True, False, False]
    """
    m = _GPT.match(model.lower())
    if m is None:
        return False
    major, minor = int(m.group(1)), int(m.group(2) or 0)
    return (major, minor) >= (5, 6)


def apply_openai_cache(
    body: Mapping[str, Any],
    *,
    policy: CachePolicy,
    fingerprint: str | None,
    endpoint: str = "chat.completions",
) -> tuple[dict[str, Any], list[str]]:
    """Return a copy of ``body`` with the cache options of ``policy`` applied, and what was done.

    Args:
        body: A Chat Completions or Responses request body.
        policy: The cache policy.
        fingerprint: The static-prefix fingerprint (see :func:`prefix_fingerprint`); no key without one.
        endpoint: ``chat.completions`` or ``responses`` (others are returned unchanged).

    Example:
        >>> new, notes = apply_openai_cache(
        ...     {"model": "gpt-5.6-sol", "messages": []},
        ...     policy=CachePolicy(prompt_cache_ttl="12h"), fingerprint="3f9a2c1b7d4e")
        >>> new["prompt_cache_key"], new["prompt_cache_options"]
        ('llmfinops-3f9a2c1b7d4e', {'ttl': '12h'})
        >>> notes
        ['prompt_cache_key=llmfinops-3f9a2c1b7d4e', 'prompt_cache_options.ttl=12h']
    """
    new = dict(body)
    notes: list[str] = []
    if endpoint not in ("chat.completions", "responses"):
        return new, notes
    if policy.prompt_cache_key and fingerprint and not new.get("prompt_cache_key"):
        key = _KEY_PREFIX + fingerprint.split(".", 1)[0]
        new["prompt_cache_key"] = key
        notes.append(f"prompt_cache_key={key}")
    ttl = policy.prompt_cache_ttl
    if ttl is not None and supports_cache_options(str(new.get("model") or "")):
        options = new.get("prompt_cache_options")
        if not (isinstance(options, Mapping) and options.get("ttl")):
            new["prompt_cache_options"] = {**(options if isinstance(options, Mapping) else {}), "ttl": ttl}
            notes.append(f"prompt_cache_options.ttl={ttl}")
    return new, notes
