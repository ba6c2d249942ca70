"""Serving from the response cache: exact and semantic lookups, and stored entries replayed.

A hit becomes an ``httpx2.Response`` rebuilt from the stored bytes (SSE bodies replay one event
per chunk) and carries the ``x-llmfinops-cache: hit`` header; a corrupt entry is dropped.
"""

from __future__ import annotations

__all__ = ["_HIT_HEADER", "_entry_from", "alookup", "lookup", "response_from"]

from collections.abc import AsyncIterator, Iterator

import httpx2

from llmfinops._internal import logger

from ._core import ResponseCache
from ._entry import CorruptEntry, Entry, unpack
from ._plan import Plan, _note_hit

_HIT_HEADER = ("x-llmfinops-cache", "hit")


# -- entries -> responses -----------------------------------------------------------------------
def _sse_chunks(body: bytes) -> Iterator[bytes]:
    start = 0
    while True:
        i = body.find(b"\n\n", start)
        if i < 0:
            if start < len(body):
                yield body[start:]
            return
        yield body[start : i + 2]
        start = i + 2


class _Replay(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A stored SSE body, replayed one event per chunk."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        yield from _sse_chunks(self._body)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in _sse_chunks(self._body):
            yield chunk


def response_from(entry: Entry) -> httpx2.Response:
    """An ``httpx2.Response`` that replays ``entry``."""
    headers = [*entry.headers, _HIT_HEADER]
    if entry.fmt == "sse":
        return httpx2.Response(entry.status, headers=headers, stream=_Replay(entry.body))
    return httpx2.Response(entry.status, headers=headers, content=entry.body)


# -- lookup (sync and async twins) ---------------------------------------------------------------
def _entry_from(cache: ResponseCache, key: str, data: bytes | None) -> Entry | None:
    if data is None:
        return None
    try:
        return unpack(data)
    except CorruptEntry as exc:
        cache._failed("read", exc)
        try:
            cache.store.delete(key)
        except Exception:
            logger.debug("could not delete a corrupt cache entry", exc_info=True)
        return None


def _semantic_entry(plan: Plan) -> Entry | None:
    cache = plan.cache
    sem = cache.semantic
    if sem is None or plan.semantic_query is None:
        return None
    key = sem.lookup(cache.store, plan.semantic_query)
    if key is None or key == plan.key:
        return None
    entry = _entry_from(cache, key, cache.store.get(key))
    if entry is not None and entry.fmt != plan.fmt:
        return None
    return entry


def _served(plan: Plan, entry: Entry, *, semantic: bool) -> httpx2.Response:
    cache = plan.cache
    cache._count("hits")
    if semantic:
        cache._count("semantic_hits")
    _note_hit(plan.state, "semantic" if semantic else "exact")
    return response_from(entry)


def lookup(plan: Plan) -> httpx2.Response | None:
    """A response served from the cache, or ``None`` (miss, refresh, or a failure)."""
    cache = plan.cache
    if plan.active.refresh:
        return None
    cache._count("lookups")
    try:
        entry = _entry_from(cache, plan.key, cache.store.get(plan.key))
        if entry is not None and entry.fmt == plan.fmt:
            return _served(plan, entry, semantic=False)
        entry = _semantic_entry(plan)
        if entry is not None:
            return _served(plan, entry, semantic=True)
    except Exception as exc:
        cache._failed("lookup", exc)
        return None
    cache._count("misses")
    return None


async def alookup(plan: Plan) -> httpx2.Response | None:
    """Async :func:`lookup` (uses the store's ``aget`` when it has one)."""
    cache = plan.cache
    aget = getattr(cache.store, "aget", None)
    if aget is None or plan.active.refresh:
        return lookup(plan)
    cache._count("lookups")
    try:
        entry = _entry_from(cache, plan.key, await aget(plan.key))
        if entry is not None and entry.fmt == plan.fmt:
            return _served(plan, entry, semantic=False)
        entry = _semantic_entry(plan)
        if entry is not None:
            return _served(plan, entry, semantic=True)
    except Exception as exc:
        cache._failed("lookup", exc)
        return None
    cache._count("misses")
    return None
