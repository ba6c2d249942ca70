"""What the response cache decides about one HTTP request before it is sent.

A :class:`Plan` carries the cache key, the credential-free address and the response format
(JSON or SSE) of a cacheable request, and the per-item split of OpenAI embeddings inputs;
``_note_hit`` / ``_note_billed`` keep the hit/billed bookkeeping on the call's state.
"""

from __future__ import annotations

__all__ = ["Plan", "_note_billed", "_note_hit", "make_plan"]

import json
from dataclasses import dataclass, field
from typing import Any

import httpx2

from llmfinops._recorder import CallState

from ._core import Active, ResponseCache, active_for, allowed
from ._keys import CacheRequest, hash_key, never_cache_reason, strip_body

_SECRET_QUERY = frozenset({"key", "api_key", "alt", "access_token"})


# -- planning -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Plan:
    """Everything decided about one cacheable HTTP request before it is sent."""

    active: Active
    state: CallState
    provider: str
    endpoint: str
    body: dict[str, Any]
    address: str
    fmt: str
    key: str
    semantic_query: Any = None
    items: list[Any] | None = None
    item_base: list[Any] = field(default_factory=list)

    @property
    def cache(self) -> ResponseCache:
        """The cache in use."""
        return self.active.cache


def _address(request: httpx2.Request) -> tuple[str, str]:
    """``scheme://host/path?query`` without credentials, and the response format it implies."""
    url = request.url
    path = url.path
    fmt = "json"
    if ":streamGenerateContent" in path:
        path = path.replace(":streamGenerateContent", ":generateContent")
        fmt = "sse"
    query = sorted((k, v) for k, v in url.params.multi_items() if k.lower() not in _SECRET_QUERY)
    q = "&".join(f"{k}={v}" for k, v in query)
    return f"{url.scheme}://{url.host}{path}{'?' + q if q else ''}", fmt


def make_plan(state: CallState, request: httpx2.Request) -> Plan | None:
    """Decide whether ``request`` is looked up, and under which key; ``None`` passes it through."""
    active = active_for(state)
    if active is None or request.method != "POST":
        return None
    ctype = request.headers.get("content-type", "")
    if "json" not in ctype:
        return None
    try:
        raw = request.content
    except httpx2.RequestNotRead:
        return None
    body = json.loads(raw)
    if not isinstance(body, dict):
        return None
    provider = state.runtime.provider
    if never_cache_reason(provider, body) is not None:
        return None
    req = CacheRequest(provider, state.endpoint, body, state.operation)
    if not allowed(active, req):
        return None
    address, fmt = _address(request)
    if body.get("stream") is True:
        fmt = "sse"
    cache = active.cache
    stripped = strip_body(provider, body, raw)
    plan = Plan(
        active=active,
        state=state,
        provider=provider,
        endpoint=state.endpoint,
        body=body,
        address=address,
        fmt=fmt,
        key="",
    )
    if cache.embedding_items and provider == "openai" and state.endpoint == "embeddings" and fmt == "json":
        items = _embedding_items(body.get("input"))
        if items is not None:
            base = {k: v for k, v in stripped.items() if k != "input"}
            plan.items = items
            plan.item_base = [cache.namespace, provider, address, "embedding-item", base]
    plan.key = hash_key(cache.namespace, provider, address, fmt, stripped)
    if cache.semantic is not None and plan.items is None:
        plan.semantic_query = cache.semantic.prepare(cache.namespace, provider, address, fmt, stripped)
    return plan


def _embedding_items(inp: Any) -> list[Any] | None:
    if isinstance(inp, str):
        return [inp]
    if isinstance(inp, list) and inp:
        if all(isinstance(x, int) for x in inp):
            return [inp]  # one token array
        if all(isinstance(x, str) for x in inp) or all(isinstance(x, list) for x in inp):
            return list(inp)
    return None


# -- accounting on the call's state -------------------------------------------------------------
def _note_hit(state: CallState, kind: str = "exact") -> None:
    sc = state.scratch
    sc["rc_hits"] = sc.get("rc_hits", 0) + 1
    if not sc.get("rc_billed"):
        state.extra_fields["cache_hit"] = True
        state.extra_fields["cache_kind"] = kind


def _note_billed(state: CallState) -> None:
    sc = state.scratch
    sc["rc_billed"] = sc.get("rc_billed", 0) + 1
    state.extra_fields.pop("cache_hit", None)
    state.extra_fields.pop("cache_kind", None)
