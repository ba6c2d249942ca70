"""OpenAI embeddings cached per input item: cached items are served, only the missing ones are sent.

The provider's response for the missing items is merged with the cached ones into one
embeddings response; billed tokens are split over the new items and the rest is reported saved.
"""

from __future__ import annotations

__all__ = ["_asend_items", "_item_tokens", "_send_items"]

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx2

from llmfinops._config import get_config
from llmfinops.usage import Usage

from ._capture import _kept_headers
from ._entry import Entry, pack
from ._keys import hash_key
from ._plan import Plan, _note_billed, _note_hit
from ._replay import _HIT_HEADER, _entry_from


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
