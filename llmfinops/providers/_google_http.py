"""HTTP-level interception for google-genai: every HTTP request of a wrapped client passes here.

One ``generate_content`` call can be several billed HTTP requests (automatic continuation,
automatic function calling), and the SDK's merged response either sums the hops (wrong for
the 200k price tier) or keeps only the last one (AFC: undercounts). So we patch the
``BaseApiClient`` *instance* behind the client: ``request`` / ``request_streamed`` /
``async_request`` / ``async_request_streamed`` see every request with its body and path, and
``_request_once`` / ``_async_request_once`` see every attempt of the SDK's tenacity retry loop.

Each request is one *hop*: its usage is read from the raw body and priced on its own
(:meth:`CallState.add_hop`). The SDK-call boundary is a :class:`Scope` that ``google.py`` opens
around ``generate_content`` / ``generate_content_stream``; hops of the same client join it.
A request with no scope open (embeddings, token counts, caches, a private SDK path) is its own
call and its own record.
"""

from __future__ import annotations

__all__ = ["SCOPE", "GoogleHttp", "Route", "Scope", "route"]

import contextvars
import json
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

from llmfinops._config import get_config
from llmfinops._internal import handle_internal_errors, report_internal, warn_once
from llmfinops._recorder import CURRENT_CALL, CallState, ClientRuntime
from llmfinops.exceptions import UsageExtractionFailedWarning
from llmfinops.usage import Usage

from . import _google_resources as resources
from ._google_usage import model_from_resource, requested_tier, scan_key, usage_from_raw

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


class Scope:
    """One SDK call that may span several HTTP requests; hops of its client join its state."""

    __slots__ = ("api", "replay", "start", "state", "stream", "timestamp")

    def __init__(self, api: Any, *, stream: bool) -> None:
        clock = get_config().clock
        self.api = api
        self.stream = stream
        self.timestamp: datetime = clock.now()
        self.start: float = clock.monotonic()
        self.state: CallState | None = None
        self.replay: dict[str, Any] | None = None
        """Top-level body keys the before-call hooks changed on the first request."""

    def restart(self) -> None:
        """Start the clock again if nothing was sent yet (a stream sends on its first iteration)."""
        if self.state is None:
            clock = get_config().clock
            self.timestamp = clock.now()
            self.start = clock.monotonic()

    def finish(self, *, error: BaseException | None = None, partial: bool = False) -> None:
        """Finish the call's record (no record when no request was sent)."""
        state = self.state
        if state is not None:
            state.finish(error=error, partial=partial)


SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("llmfinops_google_scope", default=None)
"""The SDK call in progress in this context (set only while SDK code runs, never across a yield)."""


class _Attempts:
    __slots__ = ("count", "statuses")

    def __init__(self) -> None:
        self.count = 0
        self.statuses: list[int] = []


_ATTEMPTS: contextvars.ContextVar[_Attempts | None] = contextvars.ContextVar(
    "llmfinops_google_attempts", default=None
)


def _settle(state: CallState, att: _Attempts) -> None:
    # ``attempts`` = 1 + retries over all hops, so the record's retry_count is right for multi-hop calls
    state.attempts = max(state.attempts, 1) + max(att.count - 1, 0)
    state.error_statuses.extend(att.statuses)


def _body(resp: Any) -> str:
    body = getattr(resp, "body", None)
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else ""


def _response_meta(state: CallState, body: str) -> None:
    mv = scan_key(body, '"modelVersion"')
    if isinstance(mv, str):
        state.response_model = mv
    rid = scan_key(body, '"responseId"')
    if isinstance(rid, str):
        state.request_id = rid  # the last hop's id, as on the SDK's merged response


def _max_tokens(request: dict[str, Any]) -> int | None:
    gc = request.get("generationConfig")
    v = gc.get("maxOutputTokens") if isinstance(gc, dict) else None
    return v if isinstance(v, int) else None


_PER_REQUEST_KEYS = frozenset({"contents", "continuationToken"})


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """What the before-call hooks changed at the top level of the first request's body.

    The hooks run once per SDK call, but continuation and AFC build a fresh body for every
    request from the caller's config: replaying these changes keeps a policy (an output cap,
    say) in force on every request. Keys that differ per request by design are not replayed.
    """
    if before == after:
        return None
    changed = {k: v for k, v in after.items() if k not in _PER_REQUEST_KEYS and before.get(k) is not v}
    return changed or None


def _finish_partial(state: CallState) -> None:
    state.finish(partial=True)


def _capture_text(state: CallState, body: str) -> None:
    """Opt-in content capture: the answer text of a response body (or stream chunk)."""
    import json

    from llmfinops._internal import handle_internal_errors

    from ._base import response_text

    with handle_internal_errors("google.capture"):
        text = response_text(json.loads(body))
        if text and state.completion_parts is not None:
            state.completion_parts.append(text)


class _StreamHop:
    """One streamed HTTP request: each chunk's usage is the running total of this request."""

    __slots__ = ("index", "meta_seen", "state", "tier")

    def __init__(self, state: CallState, tier: str | None) -> None:
        self.state = state
        self.tier = tier
        self.index: int | None = None
        self.meta_seen = False

    def observe(self, resp: Any) -> None:
        try:
            body = _body(resp)
            state = self.state
            if state.first_token_at is None and '"candidates"' in body:
                state.mark_first_token()
            if state.completion_parts is not None:
                _capture_text(state, body)
            raw = scan_key(body, '"usageMetadata"')
            if isinstance(raw, dict):
                u = usage_from_raw(raw, self.tier)
                if self.index is None:
                    state.add_hop(u)
                    assert state.hops is not None
                    self.index = len(state.hops) - 1
                else:
                    assert state.hops is not None
                    state.hops[self.index] = (u, None)  # running total: replace, never add
            if not self.meta_seen:
                _response_meta(state, body)
                self.meta_seen = state.response_model is not None
        except Exception:
            report_internal("google.stream.observe")


class _Call:
    __slots__ = ("own", "state")

    def __init__(self, state: CallState, own: bool) -> None:
        self.state = state
        self.own = own


class GoogleHttp:
    """The patched methods of one ``BaseApiClient`` instance.

    Holds a strong reference to the ``genai.Client`` that owns the API client: a ``Client``
    that is garbage-collected closes its HTTP client (provider-semantics.md §4.2), so while
    anything reachable still uses the API client (``client.models``, ``client.aio``), its
    owner must stay alive.
    """

    _PATCHED = (
        "request",
        "request_streamed",
        "async_request",
        "async_request_streamed",
        "_request_once",
        "_async_request_once",
    )

    def __init__(self, api: Any, runtime: ClientRuntime, owner: Any) -> None:
        self.api = api
        self.runtime = runtime
        self.owner = owner
        self.o_request: Callable[..., Any] = api.request
        self.o_streamed: Callable[..., Any] = api.request_streamed
        self.o_arequest: Callable[..., Any] = api.async_request
        self.o_astreamed: Callable[..., Any] = api.async_request_streamed
        self.o_once: Callable[..., Any] | None = getattr(api, "_request_once", None)
        self.o_aonce: Callable[..., Any] | None = getattr(api, "_async_request_once", None)

    def install(self) -> Callable[[], None]:
        """Patch the API client instance; return the undo function."""
        api = self.api
        api.request = self.request
        api.request_streamed = self.request_streamed
        api.async_request = self.async_request
        api.async_request_streamed = self.async_request_streamed
        if self.o_once is not None:
            api._request_once = self.request_once
        if self.o_aonce is not None:
            api._async_request_once = self.async_request_once
        api._llmfinops_http = self

        def undo() -> None:
            for name in (*self._PATCHED, "_llmfinops_http"):
                api.__dict__.pop(name, None)

        return undo

    # -- call states -------------------------------------------------------------------------
    def _new_state(self, r: Route, request: dict[str, Any], scope: Scope | None) -> CallState | None:
        try:
            endpoint, operation = _SPECS[r.kind]
            model = r.name
            if r.kind == "cache_create":
                model = model_from_resource(str(request.get("model") or ""))
            elif r.kind in ("cache_update", "cache_delete"):
                info = resources.known_cache(r.name)
                if info is None and r.kind == "cache_delete":
                    return None  # nothing known, nothing billed: no record
                model = info.model if info is not None else ""
            state = CallState(
                self.runtime,
                endpoint=endpoint,
                operation=operation,
                model=model,
                stream=r.kind == "stream",
                request_max_tokens=_max_tokens(request) if r.kind in _GENERATE else None,
                body=request,
            )
            if scope is not None:
                state.timestamp = scope.timestamp
                state.start = scope.start
            return state
        except Exception:
            report_internal("google.begin")
            return None

    def _begin(self, r: Route, request: dict[str, Any]) -> _Call | None:
        """Join the open scope or open an own state; runs the before-call hooks once per SDK call."""
        scope = SCOPE.get()
        if scope is not None and scope.api is self.api and r.kind in _GENERATE:
            if scope.state is not None:
                if scope.replay:
                    request.update(scope.replay)
                return _Call(scope.state, own=False)
            state = self._new_state(r, request, scope)
            if state is None:
                return None
            scope.state = state
            before = dict(request)
            self.runtime.prepare(state)  # may raise BudgetExceeded / PriceNotFound: the call is refused
            scope.replay = _changes(before, request)
            if scope.replay:
                state.request_max_tokens = _max_tokens(request)  # a hook may have capped it
            return _Call(state, own=False)
        state = self._new_state(r, request, None)
        if state is None:
            return None
        self.runtime.prepare(state)
        if r.kind in _GENERATE:
            state.request_max_tokens = _max_tokens(request)  # a hook may have capped it
        return _Call(state, own=True)

    def _on_response(self, r: Route, state: CallState, request: dict[str, Any], body: str) -> None:
        kind = r.kind
        if kind == "generate":
            _response_meta(state, body)
            if state.completion_parts is not None:
                _capture_text(state, body)
            raw = scan_key(body, '"usageMetadata"')
            if isinstance(raw, dict):
                state.add_hop(usage_from_raw(raw, requested_tier(request)))
            else:
                warn_once(
                    UsageExtractionFailedWarning,
                    "google-generate-nousage",
                    "llmfinops: a google generateContent response carried no usageMetadata; "
                    "its tokens are missing from the record",
                )
        elif kind == "embed":
            state.usage = _embed_usage(body, requested_tier(request))
        elif kind == "count":
            state.usage = Usage()  # countTokens is free
        else:
            resources.on_cache_response(self.runtime, kind, r.name, state, request, body)

    # -- non-streaming -----------------------------------------------------------------------
    def request(
        self, http_method: str, path: str, request_dict: dict[str, Any], http_options: Any = None
    ) -> Any:
        """Patched ``BaseApiClient.request``."""
        r = route(http_method, path)
        if r is None:
            return self.o_request(http_method, path, request_dict, http_options)
        if r.kind in _PASSIVE:
            resp = self.o_request(http_method, path, request_dict, http_options)
            with handle_internal_errors("google.response"):
                resources.observe_passive(self.runtime, r.kind, _body(resp))
            return resp
        call = self._begin(r, request_dict)
        if call is None:
            return self.o_request(http_method, path, request_dict, http_options)
        state = call.state
        att = _Attempts()
        t_att = _ATTEMPTS.set(att)
        t_cur = CURRENT_CALL.set(state)
        try:
            resp = self.o_request(http_method, path, request_dict, http_options)
        except BaseException as exc:
            _settle(state, att)
            if call.own:
                state.finish(error=exc)
            raise
        finally:
            CURRENT_CALL.reset(t_cur)
            _ATTEMPTS.reset(t_att)
        _settle(state, att)
        with handle_internal_errors("google.response"):
            self._on_response(r, state, request_dict, _body(resp))
        if call.own:
            state.finish()
        return resp

    async def async_request(
        self, http_method: str, path: str, request_dict: dict[str, Any], http_options: Any = None
    ) -> Any:
        """Patched ``BaseApiClient.async_request``."""
        r = route(http_method, path)
        if r is None:
            return await self.o_arequest(http_method, path, request_dict, http_options)
        if r.kind in _PASSIVE:
            resp = await self.o_arequest(http_method, path, request_dict, http_options)
            with handle_internal_errors("google.response"):
                resources.observe_passive(self.runtime, r.kind, _body(resp))
            return resp
        call = self._begin(r, request_dict)
        if call is None:
            return await self.o_arequest(http_method, path, request_dict, http_options)
        state = call.state
        att = _Attempts()
        t_att = _ATTEMPTS.set(att)
        t_cur = CURRENT_CALL.set(state)
        try:
            resp = await self.o_arequest(http_method, path, request_dict, http_options)
        except BaseException as exc:
            _settle(state, att)
            if call.own:
                state.finish(error=exc)
            raise
        finally:
            CURRENT_CALL.reset(t_cur)
            _ATTEMPTS.reset(t_att)
        _settle(state, att)
        with handle_internal_errors("google.response"):
            self._on_response(r, state, request_dict, _body(resp))
        if call.own:
            state.finish()
        return resp

    # -- attempts ----------------------------------------------------------------------------
    def request_once(self, *args: Any, **kwargs: Any) -> Any:
        """Patched ``BaseApiClient._request_once``: one HTTP attempt."""
        assert self.o_once is not None
        att = _ATTEMPTS.get()
        if att is None:
            return self.o_once(*args, **kwargs)
        att.count += 1
        try:
            return self.o_once(*args, **kwargs)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(code, int):
                att.statuses.append(code)
            raise

    async def async_request_once(self, *args: Any, **kwargs: Any) -> Any:
        """Patched ``BaseApiClient._async_request_once``: one HTTP attempt."""
        assert self.o_aonce is not None
        att = _ATTEMPTS.get()
        if att is None:
            return await self.o_aonce(*args, **kwargs)
        att.count += 1
        try:
            return await self.o_aonce(*args, **kwargs)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(code, int):
                att.statuses.append(code)
            raise

    # -- streaming ---------------------------------------------------------------------------
    def request_streamed(
        self, http_method: str, path: str, request_dict: dict[str, Any], http_options: Any = None
    ) -> Any:
        """Patched ``BaseApiClient.request_streamed`` (a generator: the request is sent on first ``next``)."""
        r = route(http_method, path)
        if r is None or r.kind != "stream":
            return self.o_streamed(http_method, path, request_dict, http_options)
        return self._stream_hop(r, http_method, path, request_dict, http_options)

    def _stream_hop(
        self, r: Route, http_method: str, path: str, request_dict: dict[str, Any], http_options: Any
    ) -> Iterator[Any]:
        call = self._begin(r, request_dict)
        inner = self.o_streamed(http_method, path, request_dict, http_options)
        if call is None:
            yield from inner
            return
        state = call.state
        hop = _StreamHop(state, requested_tier(request_dict))
        att = _Attempts()
        t_att = _ATTEMPTS.set(att)
        t_cur = CURRENT_CALL.set(state)
        first: Any = None
        ended = False
        try:
            first = next(inner)  # sends the request
        except StopIteration:
            ended = True
        except BaseException as exc:
            _settle(state, att)
            if call.own:
                state.finish(error=exc)
            raise
        finally:
            CURRENT_CALL.reset(t_cur)
            _ATTEMPTS.reset(t_att)
        _settle(state, att)
        try:
            if not ended:
                hop.observe(first)
                yield first
                for chunk in inner:
                    hop.observe(chunk)
                    yield chunk
        except GeneratorExit:
            try:
                inner.close()
            finally:
                if call.own:
                    state.finish(partial=True)
            raise
        except BaseException as exc:
            if call.own:
                state.finish(error=exc, partial=True)
            raise
        if call.own:
            state.finish()

    async def async_request_streamed(
        self, http_method: str, path: str, request_dict: dict[str, Any], http_options: Any = None
    ) -> Any:
        """Patched ``BaseApiClient.async_request_streamed`` (sends the request, returns an async iterator)."""
        r = route(http_method, path)
        if r is None or r.kind != "stream":
            return await self.o_astreamed(http_method, path, request_dict, http_options)
        call = self._begin(r, request_dict)
        if call is None:
            return await self.o_astreamed(http_method, path, request_dict, http_options)
        state = call.state
        att = _Attempts()
        t_att = _ATTEMPTS.set(att)
        t_cur = CURRENT_CALL.set(state)
        try:
            inner = await self.o_astreamed(http_method, path, request_dict, http_options)
        except BaseException as exc:
            _settle(state, att)
            if call.own:
                state.finish(error=exc)
            raise
        finally:
            CURRENT_CALL.reset(t_cur)
            _ATTEMPTS.reset(t_att)
        _settle(state, att)
        gen = _astream_hop(call, _StreamHop(state, requested_tier(request_dict)), inner)
        if call.own:
            weakref.finalize(gen, _finish_partial, state)
        return gen


async def _astream_hop(call: _Call, hop: _StreamHop, inner: AsyncIterator[Any]) -> AsyncIterator[Any]:
    state = call.state
    try:
        async for chunk in inner:
            hop.observe(chunk)
            yield chunk
    except GeneratorExit:
        try:
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            if call.own:
                state.finish(partial=True)
        raise
    except BaseException as exc:
        if call.own:
            state.finish(error=exc, partial=True)
        raise
    if call.own:
        state.finish()


def _embed_usage(body: str, tier: str | None) -> Usage | None:
    raw = scan_key(body, '"usageMetadata"')
    if isinstance(raw, dict):
        return usage_from_raw(raw, tier)
    # Vertex ``:predict`` text-embedding models: per-instance token counts
    data = json.loads(body) if body else None
    preds = data.get("predictions") if isinstance(data, dict) else None
    if not isinstance(preds, list):
        return None
    total = 0
    for p in preds:
        stats = p.get("embeddings", {}).get("statistics", {}) if isinstance(p, dict) else {}
        n = stats.get("token_count") if isinstance(stats, dict) else None
        if isinstance(n, int | float):
            total += int(n)
    return Usage(input_tokens=total, service_tier=tier)
