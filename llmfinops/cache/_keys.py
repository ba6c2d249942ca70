"""Canonical request forms and cache keys.

The key of a request is the SHA-256 of a canonical JSON document made of: the cache
namespace, the provider, the endpoint address (scheme, host, path, and the query minus
credentials and ``alt``), the response format (``json`` or ``sse``) and the request body
minus the fields that cannot change the answer (``stream``, ``stream_options``, ``user``,
``metadata``, ``store``, ``service_tier``, prompt-caching hints, Anthropic ``cache_control``
markers...). Keys are sorted, so two dicts that differ only in key order share a key.

Everything else in the body is part of the key: model, messages/input/contents, system
prompt, temperature/top_p, tools and tool_choice, response_format/text, seed, max tokens,
stop sequences, reasoning effort, previous_response_id...
"""

from __future__ import annotations

__all__ = [
    "CacheRequest",
    "canonical_json",
    "classify",
    "hash_key",
    "is_deterministic",
    "never_cache_reason",
    "strip_body",
]

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Fields that select transport, billing, logging or server-side prompt caching but never the answer.
_DROP: dict[str, frozenset[str]] = {
    "openai": frozenset(
        {
            "stream",
            "stream_options",
            "user",
            "metadata",
            "store",
            "service_tier",
            "safety_identifier",
            "prompt_cache_key",
            "prompt_cache_retention",
            "prompt_cache_options",
        }
    ),
    "anthropic": frozenset(
        {
            "stream",
            "metadata",
            "service_tier",
            "cache_control",
            "diagnostics",
            "inference_geo",
            "user_profile_id",
        }
    ),
    "google": frozenset({"labels"}),
}
_DEEP_DROP: dict[str, tuple[bytes, str]] = {
    # provider: (substring that must occur in the raw body, key dropped at any depth)
    "anthropic": (b"cache_control", "cache_control"),
    "openai": (b"prompt_cache_breakpoint", "prompt_cache_breakpoint"),
}
_EMBED_OPS = frozenset({"embeddings", "embed_content", "embedContent"})


@dataclass(frozen=True, slots=True)
class CacheRequest:
    """What a ``when=`` predicate sees: the provider, llmfinops endpoint name and the wire body.

    Example:
        >>> r = CacheRequest("openai", "chat.completions", {"model": "gpt-4o", "temperature": 0})
        >>> is_deterministic(r)
        True
    """

    provider: str
    endpoint: str
    body: Mapping[str, Any]
    operation: str = ""


def canonical_json(obj: Any) -> bytes:
    """Sorted-key, whitespace-free JSON (the bytes that are hashed).

    Example:
        >>> canonical_json({"b": 1, "a": [1, 2]})
        b'{"a":[1,2],"b":1}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def hash_key(*parts: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``parts``.

    Example:
        >>> hash_key("ns", {"a": 1}) == hash_key("ns", {"a": 1})
        True
    """
    return hashlib.sha256(canonical_json(list(parts))).hexdigest()


def _deep_drop(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _deep_drop(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [_deep_drop(v, key) for v in value]
    return value


def strip_body(provider: str, body: Mapping[str, Any], raw: bytes | None = None) -> dict[str, Any]:
    """The part of ``body`` that can change the answer (see the module docstring).

    Example:
        >>> strip_body("openai", {"model": "gpt-4o", "stream": True, "user": "u1", "seed": 7})
        {'model': 'gpt-4o', 'seed': 7}
    """
    drop = _DROP.get(provider, frozenset())
    out = {k: v for k, v in body.items() if k not in drop}
    deep = _DEEP_DROP.get(provider)
    if deep is not None and (raw is None or deep[0] in raw):
        out = _deep_drop(out, deep[1])
    return out


def never_cache_reason(provider: str, body: Mapping[str, Any]) -> str | None:
    """Why a request must never be served from a cache (server-side state or side effects), or ``None``.

    Example:
        >>> never_cache_reason("anthropic", {"max_tokens": 0})
        'max_tokens=0 is a prompt-cache pre-warm'
    """
    if body.get("background") is True:
        return "background responses are polled by id"
    if body.get("conversation") not in (None, ""):
        return "a server-side conversation changes between calls"
    if body.get("max_tokens") == 0:
        return "max_tokens=0 is a prompt-cache pre-warm"
    pco = body.get("prompt_cache_options")
    if isinstance(pco, Mapping) and pco.get("prewarm"):
        return "prompt_cache_options.prewarm warms the provider's cache"
    return None


def classify(provider: str, endpoint: str, operation: str) -> bool:
    """Whether an endpoint is an embeddings endpoint (always deterministic)."""
    return operation in _EMBED_OPS or "embed" in endpoint.lower()


def is_deterministic(req: CacheRequest) -> bool:
    """Whether the request asks for deterministic output: embeddings, or ``temperature`` explicitly 0.

    Temperature 0 is *not* bit-for-bit reproducible on any hosted model (batching, hardware
    and silent snapshot updates behind an alias change outputs); caching it freezes one
    sample for the TTL. See ``docs/response-cache.md``.

    Example:
        >>> is_deterministic(CacheRequest("google", "generate_content",
        ...                               {"generationConfig": {"temperature": 0.0}}))
        True
        >>> is_deterministic(CacheRequest("openai", "chat.completions", {"model": "gpt-4o"}))
        False
    """
    if classify(req.provider, req.endpoint, req.operation):
        return True
    body = req.body
    temp = body.get("temperature")
    if temp is None:
        gc = body.get("generationConfig") or body.get("generation_config")
        if isinstance(gc, Mapping):
            temp = gc.get("temperature")
    return isinstance(temp, (int, float)) and not isinstance(temp, bool) and temp == 0
