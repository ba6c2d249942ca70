"""The HTTP layer of the response cache: an httpx2 transport wrapped around the SDK client's own.

Why here: every SDK call ends in one ``transport.handle_request`` per HTTP attempt, with the
exact bytes that go on the wire. A hit returns an ``httpx2.Response`` rebuilt from stored
bytes, so the SDK parses it into its own types and replays streams through its own stream
classes; nothing above the transport can tell, except the ``x-llmfinops-cache: hit`` header.

The transport only acts while a metered call is in progress on this context
(:data:`~llmfinops._recorder.CURRENT_CALL`) and a cache applies to it; every other request
(other clients sharing the ``httpx2.Client``, file uploads, retrievals) passes straight
through. Any failure of the cache is logged, warned once, and the request goes to the
provider.
"""

from __future__ import annotations

__all__ = ["AsyncCacheTransport", "CacheTransport", "Plan", "install"]

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx2

from llmfinops._config import get_config
from llmfinops._internal import logger, warn_once
from llmfinops._recorder import CURRENT_CALL, CallState
from llmfinops.usage import Usage

from ._core import Active, ResponseCache, ResponseCacheWarning, active_for, allowed
from ._entry import CorruptEntry, Entry, pack, unpack
from ._keys import CacheRequest, hash_key, never_cache_reason, strip_body

_HIT_HEADER = ("x-llmfinops-cache", "hit")
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
_SECRET_QUERY = frozenset({"key", "api_key", "alt", "access_token"})
_RESPONSES_UNFINISHED = frozenset({"queued", "in_progress", "failed", "cancelled"})


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


# -- entries <-> responses ----------------------------------------------------------------------
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


# -- store / lookup (sync and async twins) --------------------------------------------------------
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


# -- OpenAI embeddings per item -------------------------------------------------------------------
def _item_key(plan: Plan, item: Any) -> str:
    return hash_key(*plan.item_base, item)


def _item_tokens(model: str, items: list[Any], total: int) -> list[int]:
    """Split a reported token total over the items: exact per-item BPE counts, adjusted to the total."""
    from llmfinops.tokens import estimate_tokens

    est = [
        len(it) if isinstance(it, list) else max(estimate_tokens(it, model=model, provider="openai"), 1)
        for it in items
    ]
    s = sum(est)
    if s == total or s == 0:
        return est
    shares = [e * total / s for e in est]
    out = [int(x) for x in shares]
    rest = total - sum(out)
    order = sorted(range(len(items)), key=lambda i: shares[i] - out[i], reverse=True)
    for i in order[:rest]:
        out[i] += 1
    return out


@dataclass(slots=True)
class _ItemLookup:
    keys: list[str]
    found: dict[int, Entry]


def _items_found(plan: Plan, values: list[bytes | None], keys: list[str]) -> _ItemLookup:
    found: dict[int, Entry] = {}
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        e = _entry_from(plan.cache, k, v)
        if e is not None:
            found[i] = e
    return _ItemLookup(keys, found)


def _embedding_body(plan: Plan, vectors: list[Any], tokens: int, model: str) -> bytes:
    return json.dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        separators=(",", ":"),
    ).encode()


def _sub_request(request: httpx2.Request, body: dict[str, Any], inputs: list[Any]) -> httpx2.Request:
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
    content = json.dumps({**body, "input": inputs}, separators=(",", ":")).encode()
    return httpx2.Request(
        request.method, request.url, headers=headers, content=content, extensions=request.extensions
    )


def _saved_for(plan: Plan, model: str, tokens: int) -> Decimal | None:
    state = plan.state
    cfg = get_config()
    cost = state.runtime.table(cfg).cost(
        state.runtime.provider, model, Usage(input_tokens=tokens), at=state.timestamp
    )
    return cost.total


def _finish_items(
    plan: Plan, found: _ItemLookup, response: httpx2.Response | None, missing: list[int]
) -> httpx2.Response:
    """Merge cached items with a provider response for the missing ones; store the new items."""
    cache = plan.cache
    items = plan.items
    assert items is not None
    vectors: list[Any] = [None] * len(items)
    tokens = 0
    model = str(plan.body.get("model") or "")
    for i, e in found.found.items():
        vectors[i] = json.loads(e.body)
        tokens += int(e.meta.get("t", 0))
        model = str(e.meta.get("m") or model)
    cached_tokens = tokens
    headers: list[tuple[str, str]] = [("content-type", "application/json")]
    billed = 0
    if response is not None:
        data = json.loads(response.content)
        rows = sorted(data.get("data") or [], key=lambda r: r.get("index", 0))
        billed = int((data.get("usage") or {}).get("prompt_tokens") or 0)
        model = str(data.get("model") or model)
        if len(rows) != len(missing):
            raise ValueError(f"embeddings response has {len(rows)} items for {len(missing)} inputs")
        per_item = _item_tokens(model, [items[i] for i in missing], billed)
        headers = _kept_headers(response)
        for row, i, t in zip(rows, missing, per_item, strict=True):
            vectors[i] = row.get("embedding")
            entry = Entry(
                status=200,
                headers=[],
                body=json.dumps(vectors[i]).encode(),
                fmt="json",
                created=time.time(),
                meta={"t": t, "m": model},
            )
            try:
                cache.store.set(found.keys[i], pack(entry), cache.ttl)
                cache._count("stores")
            except Exception as exc:
                cache._failed("store", exc)
        tokens += billed
    body = _embedding_body(plan, vectors, tokens, model)
    state = plan.state
    if response is None:
        cache._count("hits")
        _note_hit(state)
        headers.append(_HIT_HEADER)
    elif found.found:
        # Partly served: the record prices what was billed and reports the rest as saved.
        state.add_hop(Usage(input_tokens=billed))
        saved = _saved_for(plan, model, cached_tokens)
        if saved is not None:
            state.extra_fields["saved_usd"] = (state.extra_fields.get("saved_usd") or Decimal(0)) + saved
        headers.append(("x-llmfinops-cache", f"partial; items={len(found.found)}/{len(items)}"))
    return httpx2.Response(200, headers=headers, content=body)


def _send_items(plan: Plan, request: httpx2.Request, inner: httpx2.BaseTransport) -> httpx2.Response:
    cache = plan.cache
    items = plan.items
    assert items is not None
    keys = [_item_key(plan, it) for it in items]
    try:
        if plan.active.refresh:
            found = _ItemLookup(keys, {})
        else:
            cache._count("lookups")
            found = _items_found(plan, [cache.store.get(k) for k in keys], keys)
    except Exception as exc:
        cache._failed("lookup", exc)
        return inner.handle_request(request)
    missing = [i for i in range(len(items)) if i not in found.found]
    if not missing:
        try:
            return _finish_items(plan, found, None, missing)
        except Exception as exc:
            cache._failed("serve", exc)
            return inner.handle_request(request)
    cache._count("misses")
    sub = (
        request
        if len(missing) == len(items)
        else _sub_request(request, plan.body, [items[i] for i in missing])
    )
    response = inner.handle_request(sub)
    if not 200 <= response.status_code < 300:
        return response
    _note_billed(plan.state)
    response.read()
    try:
        return _finish_items(plan, found, response, missing)
    except Exception as exc:
        cache._failed("store", exc)
        if sub is request:
            return response
    return inner.handle_request(request)  # could not merge: ask for every item


async def _asend_items(
    plan: Plan, request: httpx2.Request, inner: httpx2.AsyncBaseTransport
) -> httpx2.Response:
    cache = plan.cache
    items = plan.items
    assert items is not None
    keys = [_item_key(plan, it) for it in items]
    aget = getattr(cache.store, "aget", None)
    try:
        if plan.active.refresh:
            found = _ItemLookup(keys, {})
        else:
            cache._count("lookups")
            values = [await aget(k) for k in keys] if aget is not None else [cache.store.get(k) for k in keys]
            found = _items_found(plan, values, keys)
    except Exception as exc:
        cache._failed("lookup", exc)
        return await inner.handle_async_request(request)
    missing = [i for i in range(len(items)) if i not in found.found]
    if not missing:
        try:
            return _finish_items(plan, found, None, missing)
        except Exception as exc:
            cache._failed("serve", exc)
            return await inner.handle_async_request(request)
    cache._count("misses")
    sub = (
        request
        if len(missing) == len(items)
        else _sub_request(request, plan.body, [items[i] for i in missing])
    )
    response = await inner.handle_async_request(sub)
    if not 200 <= response.status_code < 300:
        return response
    _note_billed(plan.state)
    await response.aread()
    try:
        return _finish_items(plan, found, response, missing)
    except Exception as exc:
        cache._failed("store", exc)
        if sub is request:
            return response
    return await inner.handle_async_request(request)  # could not merge: ask for every item


# -- the transports -----------------------------------------------------------------------------
def _plan_for(request: httpx2.Request) -> Plan | None:
    state = CURRENT_CALL.get()
    if state is None:
        return None
    try:
        return make_plan(state, request)
    except Exception as exc:
        active = active_for(state)
        if active is not None:
            active.cache._failed("key", exc)
        return None


class CacheTransport(httpx2.BaseTransport):
    """Wraps a sync ``httpx2`` transport; serves and fills the response cache of metered calls."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Serve from the cache, or send and capture."""
        plan = _plan_for(request)
        if plan is None:
            return self.inner.handle_request(request)
        if plan.items is not None:
            return _send_items(plan, request, self.inner)
        hit = lookup(plan)
        if hit is not None:
            return hit
        response = self.inner.handle_request(request)
        try:
            _store(plan, capture(plan, response, is_async=False))
        except Exception as exc:
            plan.cache._failed("capture", exc)
        return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()


class AsyncCacheTransport(httpx2.AsyncBaseTransport):
    """Wraps an async ``httpx2`` transport (see :class:`CacheTransport`)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Serve from the cache, or send and capture."""
        plan = _plan_for(request)
        if plan is None:
            return await self.inner.handle_async_request(request)
        if plan.items is not None:
            return await _asend_items(plan, request, self.inner)
        hit = await alookup(plan)
        if hit is not None:
            return hit
        response = await self.inner.handle_async_request(request)
        try:
            await _astore(plan, capture(plan, response, is_async=True))
        except Exception as exc:
            plan.cache._failed("capture", exc)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


# -- installation -------------------------------------------------------------------------------
def _http_clients(client: Any) -> list[Any]:
    found: list[Any] = []
    inner = getattr(client, "_client", None)
    if inner is not None:
        found.append(inner)
    api = getattr(client, "_api_client", None)
    if api is not None:
        for name in ("_httpx_client", "_async_httpx_client"):
            hc = getattr(api, name, None)
            if hc is not None:
                found.append(hc)
    return found


def _wrap_transport(t: Any, is_async: bool) -> Any:
    if t is None or isinstance(t, (CacheTransport, AsyncCacheTransport)):
        return t
    return AsyncCacheTransport(t) if is_async else CacheTransport(t)


def install(client: Any) -> None:
    """Put the cache transport under ``client``'s ``httpx2`` client(s); idempotent.

    Clients whose HTTP stack is not httpx2 (a legacy ``httpx`` client passed to openai,
    aiohttp or google-auth sessions in google-genai) are left alone with a warning: their
    calls are still metered, never cached.
    """
    hcs = _http_clients(client)
    for hc in hcs:
        if isinstance(hc, httpx2.AsyncClient):
            is_async = True
        elif isinstance(hc, httpx2.Client):
            is_async = False
        else:
            warn_once(
                ResponseCacheWarning,
                f"rc:install:{type(hc).__module__}.{type(hc).__name__}",
                f"llmfinops: the response cache needs an httpx2 client; {type(client).__name__} uses "
                f"{type(hc).__module__}.{type(hc).__name__}, so its calls will not be cached",
            )
            continue
        hc._transport = _wrap_transport(hc._transport, is_async)
        mounts = getattr(hc, "_mounts", None)
        if isinstance(mounts, dict):
            for pattern, t in list(mounts.items()):
                mounts[pattern] = _wrap_transport(t, is_async)
    if not hcs:
        warn_once(
            ResponseCacheWarning,
            f"rc:install:none:{type(client).__name__}",
            f"llmfinops: found no httpx2 client inside {type(client).__name__}; its calls will not be cached",
        )
