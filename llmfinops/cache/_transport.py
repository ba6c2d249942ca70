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

The parts it drives live next to it: :mod:`._plan` (what is cached, under which key),
:mod:`._replay` (lookups and hits), :mod:`._capture` (tee and store of live responses) and
:mod:`._items` (OpenAI embeddings per input item).
"""

from __future__ import annotations

__all__ = ["AsyncCacheTransport", "CacheTransport", "Plan", "install"]

from typing import Any

import httpx2

from llmfinops._internal import warn_once
from llmfinops._recorder import CURRENT_CALL

from ._capture import _astore, _store, capture
from ._core import ResponseCacheWarning, active_for
from ._items import _asend_items, _send_items
from ._items import _item_tokens as _item_tokens  # re-exported: imported from here by tests
from ._plan import Plan, make_plan
from ._replay import alookup, lookup


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
