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
Request routes live in ``_google_routes``, the scope and the settling of attempts in
``_google_scope``; the response readers stay here, next to the methods that queue them.

Everything here runs on the caller's thread for every request (and every stream chunk), so the
common path is kept short: routes are classified once per ``(method, path)``, a response body
is read with a regex match and one C-level decode of its usage block (never parsed whole), a
stream chunk's running-total usage is only located (the last one is decoded into a
:class:`Usage` when the request ends), and errors are caught with plain ``try`` blocks, not
context managers.
"""

from __future__ import annotations

__all__ = ["SCOPE", "GoogleHttp", "Route", "Scope", "route"]

import json
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from llmfinops._internal import report_internal, warn_once
from llmfinops._recorder import CURRENT_CALL, CallState, ClientRuntime, new_call_state
from llmfinops.exceptions import UsageExtractionFailedWarning
from llmfinops.usage import Usage

# The patched methods read the route cache and the scope as globals of this module (one lookup each;
# ``_ROUTES`` is the same dict there and here, mutated in place, never rebound).
from . import _google_resources as resources
from ._google_routes import _GENERATE, _PASSIVE, _ROUTES, _SPECS, _UNSEEN, Route, _learn_route, route
from ._google_scope import SCOPE, Scope, _changes, _note_failed, _sent
from ._google_usage import (
    _SCAN,
    _USAGE_KEY,
    _USAGE_LEN,
    _USAGE_OBJECT,
    model_from_resource,
    requested_tier,
    scan_meta,
    scan_usage,
    usage_from_raw,
)


def _text(body: Any) -> str:
    """A response body that is not a plain ``str``: decoded bytes, a ``str`` subclass, or ``""``."""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else ""


def _body(resp: Any) -> str:
    body = getattr(resp, "body", None)
    return body if type(body) is str else _text(body)


def _response_meta(state: CallState, body: str) -> None:
    mv, rid = scan_meta(body)
    if mv is not None:
        state.response_model = mv
    if rid is not None:
        state.request_id = rid  # the last hop's id, as on the SDK's merged response


def _max_tokens(request: dict[str, Any]) -> int | None:
    gc = request.get("generationConfig")
    v = gc.get("maxOutputTokens") if isinstance(gc, dict) else None
    return v if isinstance(v, int) else None


def _finish_partial(hop: _StreamHop) -> None:
    hop.flush()
    hop.state.finish(partial=True)


def _capture_text(state: CallState, body: str) -> None:
    """Opt-in content capture: the answer text of a response body (or stream chunk)."""
    from ._base import response_text

    try:
        text = response_text(json.loads(body))
        if text and state.completion_parts is not None:
            state.completion_parts.append(text)
    except Exception:
        report_internal("google.capture")


def _requested_tier(request: dict[str, Any]) -> str | None:
    """``requested_tier(request)``, without the call when the body names no tier (the usual case)."""
    if "serviceTier" in request or "service_tier" in request:
        return requested_tier(request)
    return None


class _Pending:
    """The responses of one call, read when its record is built.

    Decoding a response's usage block and metadata costs more than everything else the call
    path does for it, and nothing reads them before the record is built (off the call path
    unless a listener or after-call hook needs the record at once). Installed as the state's
    ``usage_reader``. Items are read in the order the requests were sent, so the last one's
    ``responseId`` and ``modelVersion`` win, as on the SDK's merged response: a
    ``generateContent`` response as ``(body, where its usage key is, requested tier)``, a
    streamed request as its :class:`_StreamHop`.
    """

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[str, int, str | None] | _StreamHop] = []

    def __call__(self, state: CallState) -> None:
        items, self.items = self.items, []
        for item in items:
            if isinstance(item, _StreamHop):
                item.read()
            else:
                _read_generate(state, *item)


def _queue(state: CallState, item: tuple[str, int, str | None] | _StreamHop) -> None:
    """Have ``item`` read with the record of ``state`` (see :class:`_Pending`)."""
    reader = state.usage_reader
    if reader is None:
        reader = state.usage_reader = _Pending()  # holds no reference to the state: no cycle
    elif type(reader) is not _Pending:  # pragma: no cover - no other reader on a Gemini call
        now = _Pending()
        now.items.append(item)
        now(state)  # read at once
        return
    reader.items.append(item)


def _on_generate(state: CallState, request: dict[str, Any], body: str) -> None:
    """A ``generateContent`` response; its metadata and usage are read with its record."""
    if state.completion_parts is not None:
        _capture_text(state, body)
    at = body.rfind(_USAGE_KEY)
    if at < 0:
        _warn_no_usage()
        _read_generate(state, body, at, None)  # the metadata, now
        return
    _queue(state, (body, at, _requested_tier(request)))


def _warn_no_usage() -> None:
    warn_once(
        UsageExtractionFailedWarning,
        "google-generate-nousage",
        "llmfinops: a google generateContent response carried no usageMetadata; "
        "its tokens are missing from the record",
    )


def _read_generate(state: CallState, body: str, at: int, tier: str | None) -> None:
    """Model version, response id and (``at >= 0``: where its key is) the usage of one response."""
    _response_meta(state, body)
    if at < 0:
        return
    raw = scan_usage(body, at)
    if isinstance(raw, dict):
        state.add_hop(usage_from_raw(raw, tier))
    else:
        _warn_no_usage()


class _StreamHop:
    """One streamed HTTP request: each chunk's usage is the running total of this request.

    Only the last usage block counts, so a chunk's is not decoded when it arrives: the hop
    keeps the chunk and where the block starts (and the first chunk naming the model).
    :meth:`flush`, when the request ends, the call finishes or the call's next request starts,
    queues the hop to be read with the record (see ``_Pending``): :meth:`read` then decodes the
    last block into this request's entry in ``state.hops``. The SDK hands over each chunk as
    ``json.dumps`` output, so a usage value that starts as an object decodes to one.
    """

    __slots__ = ("index", "meta", "pending", "pending_at", "queued", "state", "tier")

    def __init__(self, state: CallState, tier: str | None) -> None:
        self.state = state
        self.tier = tier
        self.index = -1
        """This request's entry in ``state.hops`` (-1 until its first usage is settled)."""
        self.meta: str | None = None
        """The first chunk that names the model version (its response id too)."""
        self.pending: str | None = None
        """The latest chunk whose usage block is not yet in ``state.hops``."""
        self.pending_at = 0
        """Where that usage block starts in ``pending``."""
        self.queued = False

    def observe(self, resp: Any) -> None:
        try:
            body = getattr(resp, "body", None)
            if type(body) is not str:
                body = _text(body)
            state = self.state
            if state.first_token_at is None and '"candidates"' in body:
                state.mark_first_token()
            if state.completion_parts is not None:
                _capture_text(state, body)
            i = body.rfind(_USAGE_KEY)
            if i >= 0:  # a running total: replaces the hop's usage, never adds
                j = i + _USAGE_LEN
                if body.startswith(": {", j):  # how json.dumps writes it: no regex needed
                    self.pending = body
                    self.pending_at = j + 2
                else:
                    m = _USAGE_OBJECT(body, i)
                    if m is not None:
                        self.pending = body
                        self.pending_at = m.end()
            if self.meta is None and '"modelVersion"' in body:
                self.meta = body
        except Exception:
            report_internal("google.stream.observe")

    def flush(self) -> None:
        """This request is over (or the record is due): queue it to be read with the record."""
        if not self.queued:
            self.queued = True
            _queue(self.state, self)

    def read(self) -> None:
        """Settle the model version, response id and latest running total into the state."""
        state = self.state
        meta = self.meta
        if meta is not None:
            self.meta = None
            _response_meta(state, meta)
        body = self.pending
        if body is None:
            return
        self.pending = None
        try:
            raw = _SCAN(body, self.pending_at)[0]
        except (StopIteration, ValueError):
            return  # not JSON after all: as a chunk without usage
        try:
            if not isinstance(raw, dict):
                return
            u = usage_from_raw(raw, self.tier)
            if self.index < 0:
                state.add_hop(u)
                assert state.hops is not None
                self.index = len(state.hops) - 1
            else:
                hops = state.hops
                assert hops is not None
                hops[self.index] = (u, None)
        except Exception:
            report_internal("google.stream.observe")


def _missing(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never installed
    raise AttributeError("this google-genai client has no such method")


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
        # the same, for the per-attempt wrappers (installed only when the SDK has the method)
        self._once: Callable[..., Any] = self.o_once or _missing
        self._aonce: Callable[..., Any] = self.o_aonce or _missing

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
    def _new_state(self, r: Route, request: dict[str, Any]) -> CallState | None:
        """The state of a request that is its own call (no SDK-call scope joined)."""
        try:
            kind = r.kind
            if kind in _GENERATE:
                state = new_call_state(
                    self.runtime,
                    "generate_content",
                    "generate_content",
                    r.name,
                    kind == "stream",
                    _max_tokens(request),
                    request,
                )
            else:
                endpoint, operation = _SPECS[kind]
                model = r.name
                if kind == "cache_create":
                    model = model_from_resource(str(request.get("model") or ""))
                elif kind in ("cache_update", "cache_delete"):
                    info = resources.known_cache(r.name)
                    if info is None and kind == "cache_delete":
                        return None  # nothing known, nothing billed: no record
                    model = info.model if info is not None else ""
                state = CallState(
                    self.runtime, endpoint=endpoint, operation=operation, model=model, body=request
                )
            return state
        except Exception:
            report_internal("google.begin")
            return None

    def _begin(self, r: Route, request: dict[str, Any]) -> tuple[CallState, Scope | None] | None:
        """Join the open scope or open an own state; runs the before-call hooks once per SDK call.

        Returns the state and the scope it belongs to (``None``: the request is its own call,
        finished here), or ``None`` when the request is not metered.
        """
        scope = SCOPE.get()
        if scope is not None and scope.api is self.api and r.kind in _GENERATE:
            state = scope.state
            if state is not None:
                hop = scope.hop
                if hop is not None:
                    hop.flush()  # the previous request's usage goes in before this one's
                if scope.replay:
                    request.update(scope.replay)
                return state, scope
            try:
                gc = request.get("generationConfig")  # _max_tokens(request), inline
                max_tokens = gc.get("maxOutputTokens") if isinstance(gc, dict) else None
                state = new_call_state(
                    self.runtime,
                    "generate_content",
                    "generate_content",
                    r.name,
                    r.kind == "stream",
                    max_tokens if isinstance(max_tokens, int) else None,
                    request,
                    scope.began,
                )
            except Exception:
                report_internal("google.begin")
                return None
            scope.state = state
            before = dict(request)
            self.runtime.prepare(state)  # may raise BudgetExceeded / PriceNotFound: the call is refused
            if before != request:
                replay = scope.replay = _changes(before, request)
                if replay:
                    state.request_max_tokens = _max_tokens(request)  # a hook may have capped it
            return state, scope
        state = self._new_state(r, request)
        if state is None:
            return None
        self.runtime.prepare(state)
        if r.kind in _GENERATE:
            state.request_max_tokens = _max_tokens(request)  # a hook may have capped it
        return state, None

    def _on_response(self, r: Route, state: CallState, request: dict[str, Any], body: str) -> None:
        kind = r.kind
        if kind == "generate":
            _on_generate(state, request, body)
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
        r = _ROUTES.get((http_method, path), _UNSEEN)
        if r is _UNSEEN:
            r = _learn_route(http_method, path)
        if r is None:
            return self.o_request(http_method, path, request_dict, http_options)
        if r.kind in _PASSIVE:
            resp = self.o_request(http_method, path, request_dict, http_options)
            try:
                resources.observe_passive(self.runtime, r.kind, _body(resp))
            except Exception:
                report_internal("google.response")
            return resp
        began = self._begin(r, request_dict)
        if began is None:
            return self.o_request(http_method, path, request_dict, http_options)
        state, scope = began
        token = CURRENT_CALL.set(state)
        before = state.attempts
        try:
            resp = self.o_request(http_method, path, request_dict, http_options)
        except BaseException as exc:
            _sent(state, token, before, scope, exc)
            raise
        _sent(state, token, before, scope, None)
        self._complete(r, state, scope, request_dict, resp)
        return resp

    async def async_request(
        self, http_method: str, path: str, request_dict: dict[str, Any], http_options: Any = None
    ) -> Any:
        """Patched ``BaseApiClient.async_request``."""
        r = _ROUTES.get((http_method, path), _UNSEEN)
        if r is _UNSEEN:
            r = _learn_route(http_method, path)
        if r is None:
            return await self.o_arequest(http_method, path, request_dict, http_options)
        if r.kind in _PASSIVE:
            resp = await self.o_arequest(http_method, path, request_dict, http_options)
            try:
                resources.observe_passive(self.runtime, r.kind, _body(resp))
            except Exception:
                report_internal("google.response")
            return resp
        began = self._begin(r, request_dict)
        if began is None:
            return await self.o_arequest(http_method, path, request_dict, http_options)
        state, scope = began
        token = CURRENT_CALL.set(state)
        before = state.attempts
        try:
            resp = await self.o_arequest(http_method, path, request_dict, http_options)
        except BaseException as exc:
            _sent(state, token, before, scope, exc)
            raise
        _sent(state, token, before, scope, None)
        self._complete(r, state, scope, request_dict, resp)
        return resp

    def _complete(
        self, r: Route, state: CallState, scope: Scope | None, request: dict[str, Any], resp: Any
    ) -> None:
        """Read a non-streamed response into ``state``; finish the call if the request was its own."""
        try:
            body = getattr(resp, "body", None)
            if type(body) is not str:
                body = _text(body)
            if r.kind == "generate":
                _on_generate(state, request, body)
            else:
                self._on_response(r, state, request, body)
        except Exception:
            report_internal("google.response")
        if scope is None:
            state.finish()

    # -- attempts ----------------------------------------------------------------------------
    def request_once(self, *args: Any, **kwargs: Any) -> Any:
        """Patched ``BaseApiClient._request_once``: one HTTP attempt, counted on the call in progress."""
        state = CURRENT_CALL.get()
        if state is None or state.runtime is not self.runtime:
            return self._once(*args, **kwargs)
        state.attempts += 1
        try:
            return self._once(*args, **kwargs)
        except Exception as exc:
            _note_failed(state, exc)
            raise

    async def async_request_once(self, *args: Any, **kwargs: Any) -> Any:
        """Patched ``BaseApiClient._async_request_once``: one HTTP attempt (see ``request_once``)."""
        state = CURRENT_CALL.get()
        if state is None or state.runtime is not self.runtime:
            return await self._aonce(*args, **kwargs)
        state.attempts += 1
        try:
            return await self._aonce(*args, **kwargs)
        except Exception as exc:
            _note_failed(state, exc)
            raise

    # -- streaming ---------------------------------------------------------------------------
    def request_streamed(
        self, http_method: str, path: str, request_dict: dict[str, Any], http_options: Any = None
    ) -> Any:
        """Patched ``BaseApiClient.request_streamed`` (a generator: the request is sent on first ``next``)."""
        r = _ROUTES.get((http_method, path), _UNSEEN)
        if r is _UNSEEN:
            r = _learn_route(http_method, path)
        if r is None or r.kind != "stream":
            return self.o_streamed(http_method, path, request_dict, http_options)
        return self._stream_hop(r, http_method, path, request_dict, http_options)

    def _stream_hop(
        self, r: Route, http_method: str, path: str, request_dict: dict[str, Any], http_options: Any
    ) -> Iterator[Any]:
        began = self._begin(r, request_dict)
        inner = self.o_streamed(http_method, path, request_dict, http_options)
        if began is None:
            yield from inner
            return
        state, scope = began
        hop = _StreamHop(state, _requested_tier(request_dict))
        if scope is not None:
            scope.hop = hop
        first: Any = None
        ended = False
        token = CURRENT_CALL.set(state)
        before = state.attempts
        try:
            first = next(inner)  # sends the request
        except StopIteration:
            ended = True
        except BaseException as exc:
            _sent(state, token, before, scope, exc)
            raise
        _sent(state, token, before, scope, None)
        observe = hop.observe
        try:
            if not ended:
                observe(first)
                yield first
                for chunk in inner:
                    observe(chunk)
                    yield chunk
        except GeneratorExit:
            hop.flush()
            try:
                inner.close()
            finally:
                if scope is None:
                    state.finish(partial=True)
            raise
        except BaseException as exc:
            hop.flush()
            if scope is None:
                state.finish(error=exc, partial=True)
            raise
        hop.flush()
        if scope is None:
            state.finish()

    async def async_request_streamed(
        self, http_method: str, path: str, request_dict: dict[str, Any], http_options: Any = None
    ) -> Any:
        """Patched ``BaseApiClient.async_request_streamed`` (sends the request, returns an async iterator)."""
        r = _ROUTES.get((http_method, path), _UNSEEN)
        if r is _UNSEEN:
            r = _learn_route(http_method, path)
        if r is None or r.kind != "stream":
            return await self.o_astreamed(http_method, path, request_dict, http_options)
        began = self._begin(r, request_dict)
        if began is None:
            return await self.o_astreamed(http_method, path, request_dict, http_options)
        state, scope = began
        token = CURRENT_CALL.set(state)
        before = state.attempts
        try:
            inner = await self.o_astreamed(http_method, path, request_dict, http_options)
        except BaseException as exc:
            _sent(state, token, before, scope, exc)
            raise
        _sent(state, token, before, scope, None)
        hop = _StreamHop(state, _requested_tier(request_dict))
        if scope is not None:
            scope.hop = hop
        gen = _astream_hop(hop, scope is None, inner)
        if scope is None:
            weakref.finalize(gen, _finish_partial, hop)
        return gen


async def _astream_hop(hop: _StreamHop, own: bool, inner: AsyncIterator[Any]) -> AsyncIterator[Any]:
    state = hop.state
    observe = hop.observe
    try:
        async for chunk in inner:
            observe(chunk)
            yield chunk
    except GeneratorExit:
        hop.flush()
        try:
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            if own:
                state.finish(partial=True)
        raise
    except BaseException as exc:
        hop.flush()
        if own:
            state.finish(error=exc, partial=True)
        raise
    hop.flush()
    if own:
        state.finish()


def _embed_usage(body: str, tier: str | None) -> Usage | None:
    raw = scan_usage(body)
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
