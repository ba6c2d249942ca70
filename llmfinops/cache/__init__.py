"""Response cache: answer repeated LLM requests from a local store, at $0, with your SDK's own types.

Opt in per client, or per block of code::

    import llmfinops
    from openai import OpenAI
    from llmfinops.cache import ResponseCache, cached, enable

    client = llmfinops.wrap(OpenAI())
    enable(client, ResponseCache(ttl=3600))      # embeddings and temperature=0 calls are cached

    client.chat.completions.create(model="gpt-4o", temperature=0, messages=[...])  # miss: provider
    client.chat.completions.create(model="gpt-4o", temperature=0, messages=[...])  # hit: $0

    with cached():                                # you declare these calls cacheable, any temperature
        client.chat.completions.create(model="gpt-4o", messages=[...])

A hit returns the SDK's own response object (``ChatCompletion``, ``Message``,
``GenerateContentResponse``...) and a cached stream replays as the SDK's own stream type,
event for event. Every hit still writes one :class:`~llmfinops.CallRecord`, with
``cache_hit=True``, ``cost_usd=0`` and ``saved_usd`` = what the call would have cost.

What makes two requests "the same": provider, endpoint address, model and every body field
that can change the answer (messages, system prompt, temperature, tools, response format,
seed, max tokens...); not ``stream_options``, ``user``, ``metadata``, ``store``,
``service_tier`` or prompt-caching hints. ``stream=True`` and ``stream=False`` are cached
apart (the bytes differ). OpenAI embeddings are cached per input item.

Stores: :class:`DiskCacheStore` (default; ``~/.cache/llmfinops/responses``, 1 GiB),
:class:`RedisStore` (shared by workers; ``pip install 'llmfinops[redis]'``),
:class:`MemoryStore`. Stored entries are your completions: keep the store private.

Never cached: background/conversation-bound Responses calls, Anthropic ``max_tokens=0``
pre-warms, error responses and streams that did not finish. Any failure of the cache
(store down, corrupt entry) is logged, warned once (:class:`ResponseCacheWarning`), and the
call goes to the provider. See ``docs/response-cache.md`` (and its semantic-cache section:
:mod:`llmfinops.cache.semantic`).
"""

from __future__ import annotations

__all__ = [
    "CacheRequest",
    "CacheStats",
    "DiskCacheStore",
    "MemoryStore",
    "RedisStore",
    "ResponseCache",
    "ResponseCacheWarning",
    "ResponseStore",
    "bypass",
    "cached",
    "client_cache",
    "default_cache_dir",
    "disable",
    "enable",
    "is_deterministic",
]

from ._core import (
    CacheStats,
    ResponseCache,
    ResponseCacheWarning,
    bypass,
    cached,
    client_cache,
    disable,
    enable,
)
from ._keys import CacheRequest, is_deterministic
from ._stores import DiskCacheStore, MemoryStore, RedisStore, ResponseStore, default_cache_dir
