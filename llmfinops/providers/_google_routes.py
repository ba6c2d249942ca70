"""Which HTTP requests of google-genai are metered, and as what (used by ``_google_http``).

:func:`route` classifies a request by method and SDK path; the HTTP layer looks it up in
``_ROUTES`` first, so each ``(method, path)`` is classified once. The route kinds map to the
record's endpoint and operation (``_SPECS``), to free reads (``_PASSIVE``) and to model calls
(``_GENERATE``).
"""

from __future__ import annotations

__all__ = ["_GENERATE", "_PASSIVE", "_ROUTES", "_SPECS", "_UNSEEN", "Route", "_learn_route", "route"]

from typing import NamedTuple

from llmfinops._internal import report_internal

from ._google_usage import model_from_resource

_VERBS = {
    "generateContent": "generate",
    "streamGenerateContent": "stream",
    "embedContent": "embed",
    "batchEmbedContents": "embed",
    "countTokens": "count",
}
_SPECS = {
    # route kind: (record endpoint, OTel-style operation)
    "generate": ("generate_content", "generate_content"),
    "stream": ("generate_content", "generate_content"),
    "embed": ("embed_content", "embeddings"),
    "count": ("count_tokens", "count_tokens"),
    "cache_create": ("caches.create", "cache_create"),
    "cache_update": ("caches.update", "cache_update"),
    "cache_delete": ("caches.delete", "cache_delete"),
}
_PASSIVE = frozenset({"cache_get", "cache_list", "batch_get", "batch_list"})
_GENERATE = frozenset({"generate", "stream"})


class Route(NamedTuple):
    """What an HTTP request is, for metering."""

    kind: str
    """``generate``, ``stream``, ``embed``, ``count``, ``cache_*``, ``batch_get``, ``batch_list``."""
    name: str
    """The model id (model routes) or the resource name (caches, batches)."""


def route(method: str, path: str) -> Route | None:
    """Classify a request by method and SDK path; ``None`` for requests we do not meter.

    Example:
        >>> route("post", "models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        Route(kind='stream', name='gemini-2.5-flash')
        >>> route("post", "models/gemini-2.5-flash:batchGenerateContent") is None
        True
    """
    base = path.split("?", 1)[0].strip("/")
    m = method.lower()
    if m == "post":
        res, sep, verb = base.rpartition(":")
        if sep:
            kind = _VERBS.get(verb)
            if kind is None and verb == "predict" and "embed" in res.lower():
                kind = "embed"  # Vertex text-embedding models
            return Route(kind, model_from_resource(res)) if kind else None
        if base.rsplit("/", 1)[-1] == "cachedContents":
            return Route("cache_create", "")
        return None
    parts = base.split("/")
    last = parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    if parent == "cachedContents":
        kind = {"patch": "cache_update", "delete": "cache_delete", "get": "cache_get"}.get(m)
        return Route(kind, base) if kind else None
    if m != "get":
        return None
    if last == "cachedContents":
        return Route("cache_list", base)
    if parent == "batches":
        return Route("batch_get", base)
    if last == "batches":
        return Route("batch_list", base)
    return None


_ROUTES: dict[tuple[str, str], Route | None] = {}
""":func:`route` results by ``(method, path)``: a client sends the same few paths over and over."""
_ROUTES_MAX = 1024
_UNSEEN = Route("", "")  # a sentinel: never a real route (``route`` returns no empty kind)


def _learn_route(method: str, path: str) -> Route | None:
    """:func:`route`, remembered (the cache is emptied when full: paths with ids may be unbounded)."""
    try:
        r = route(method, path)
    except Exception:
        report_internal("google.route")
        return None
    if len(_ROUTES) >= _ROUTES_MAX:
        _ROUTES.clear()
    _ROUTES[(method, path)] = r
    return r
