"""Filling the response cache: a live response teed as the SDK reads it, and stored once complete.

Only 2xx JSON or SSE bodies that finished (per provider: ``[DONE]``, ``message_stop``,
``finishReason``, a completed Responses status) and fit ``max_entry_bytes`` become entries.
"""

from __future__ import annotations

__all__ = ["_astore", "_kept_headers", "_store", "capture"]

import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx2

from ._entry import Entry, pack
from ._plan import Plan, _note_billed

_SKIP_HEADERS = frozenset(
    {
        "content-encoding",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "set-cookie",
        "alt-svc",
        "strict-transport-security",
    }
)
_RESPONSES_UNFINISHED = frozenset({"queued", "in_progress", "failed", "cancelled"})


# -- responses -> entries -----------------------------------------------------------------------
def _decoded(raw: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity":
        return raw
    # httpx2 decodes every encoding it supports while reading a response built from bytes.
    return httpx2.Response(200, headers={"content-encoding": encoding}, content=raw).content


def _kept_headers(response: httpx2.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _SKIP_HEADERS]


def _complete(plan: Plan, body: bytes, exhausted: bool) -> bool:
    """Whether a response body is a finished answer worth storing."""
    if plan.fmt == "sse":
        if b"event: error" in body or b'"type":"error"' in body:
            return False
        ep = plan.endpoint
        if plan.provider == "openai":
            if ep == "responses":
                return b"response.completed" in body
            return b"data: [DONE]" in body
        if plan.provider == "anthropic":
            return b"message_stop" in body
        if plan.provider == "google":
            return exhausted and b"finishReason" in body
        return exhausted
    if not exhausted:
        return False
    if plan.provider == "openai" and plan.endpoint == "responses":
        try:
            status = json.loads(body).get("status")
        except (ValueError, AttributeError):
            return False
        return status not in _RESPONSES_UNFINISHED
    return True


def _entry_for(plan: Plan, status: int, headers: list[tuple[str, str]], body: bytes) -> Entry:
    return Entry(status=status, headers=headers, body=body, fmt=plan.fmt, created=time.time())


def _cacheable_status(response: httpx2.Response) -> bool:
    if not 200 <= response.status_code < 300:
        return False
    ctype = response.headers.get("content-type", "")
    return "json" in ctype or "event-stream" in ctype


# -- tee of a live response -----------------------------------------------------------------------
class _Capture:
    """Collects a response body as the SDK reads it; stores it once, if it completed."""

    def __init__(self, plan: Plan, response: httpx2.Response) -> None:
        self.plan = plan
        self.status = response.status_code
        self.headers = _kept_headers(response)
        self.encoding = response.headers.get("content-encoding")
        self.parts: list[bytes] | None = []
        self.size = 0
        self.finished = False

    def feed(self, chunk: bytes) -> None:
        parts = self.parts
        if parts is None:
            return
        self.size += len(chunk)
        if self.size > self.plan.cache.max_entry_bytes:
            self.parts = None  # too large to store; stop holding it
            return
        parts.append(chunk)

    def result(self, exhausted: bool) -> Entry | None:
        """The entry to store, once; ``None`` when incomplete or already handled."""
        if self.finished:
            return None
        self.finished = True
        parts = self.parts
        self.parts = None
        if parts is None:
            return None
        try:
            body = _decoded(b"".join(parts), self.encoding)
        except Exception as exc:
            self.plan.cache._failed("decode", exc)
            return None
        if not _complete(self.plan, body, exhausted):
            return None
        return _entry_for(self.plan, self.status, self.headers, body)


class _TeeStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, capture: _Capture) -> None:
        self._inner = inner
        self._capture = capture

    def __iter__(self) -> Iterator[bytes]:
        capture = self._capture
        for chunk in self._inner:
            capture.feed(chunk)
            yield chunk
        _store(capture.plan, capture.result(exhausted=True))

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            _store(self._capture.plan, self._capture.result(exhausted=False))


class _AsyncTeeStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, capture: _Capture) -> None:
        self._inner = inner
        self._capture = capture

    async def __aiter__(self) -> AsyncIterator[bytes]:
        capture = self._capture
        async for chunk in self._inner:
            capture.feed(chunk)
            yield chunk
        await _astore(capture.plan, capture.result(exhausted=True))

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            await _astore(self._capture.plan, self._capture.result(exhausted=False))


# -- store (sync and async twins) ---------------------------------------------------------------
def _store(plan: Plan, entry: Entry | None) -> None:
    if entry is None:
        return
    cache = plan.cache
    try:
        data = pack(entry)
        cache.store.set(plan.key, data, cache.ttl)
        cache._count("stores")
        if plan.semantic_query is not None and cache.semantic is not None:
            cache.semantic.remember(cache.store, plan.semantic_query, plan.key, cache.ttl)
    except Exception as exc:
        cache._failed("store", exc)


async def _astore(plan: Plan, entry: Entry | None) -> None:
    if entry is None:
        return
    cache = plan.cache
    aset = getattr(cache.store, "aset", None)
    if aset is None:
        _store(plan, entry)
        return
    try:
        await aset(plan.key, pack(entry), cache.ttl)
        cache._count("stores")
        if plan.semantic_query is not None and cache.semantic is not None:
            cache.semantic.remember(cache.store, plan.semantic_query, plan.key, cache.ttl)
    except Exception as exc:
        cache._failed("store", exc)


def capture(plan: Plan, response: httpx2.Response, *, is_async: bool) -> Entry | None:
    """Let a live response through, storing its body once the SDK has read all of it.

    Returns the entry to store right away when the body was already read (e.g. a response
    built from bytes by a ``MockTransport``); otherwise the stream is teed and stored at its end.
    """
    if not 200 <= response.status_code < 300:
        return None
    _note_billed(plan.state)
    if not _cacheable_status(response):
        return None
    cap = _Capture(plan, response)
    if hasattr(response, "_content"):
        cap.encoding = None
        cap.feed(response.content)
        return cap.result(exhausted=True)
    stream = response.stream
    if is_async:
        response.stream = _AsyncTeeStream(stream, cap)  # type: ignore[arg-type]
    else:
        response.stream = _TeeStream(stream, cap)  # type: ignore[arg-type]
    return None
