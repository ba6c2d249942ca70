"""HTTP-level interception for google-genai: every HTTP request of a wrapped client passes here.

One ``generate_content`` call can be several billed HTTP requests (automatic continuation,
automatic function calling), and the SDK's merged response either sums the hops (wrong for
the 200k price tier) or keeps only the last one (AFC: undercounts). So we patch the
``BaseApiClient`` *instance* behind the client: ``request`` / ``request_streamed`` /
``async_request`` / ``async_request_streamed`` see every request with its body and path, and
``_request_once`` / ``_async_request_once`` see every attempt of the SDK's tenacity retry loop.
``download_file`` / ``async_download_file`` pass a finished batch job's results file through
``_google_files``, which records its billed lines.

Each request is one *hop*: its usage is read from the raw body and priced on its own
(:meth:`CallState.add_hop`). The SDK-call boundary is a :class:`Scope` that ``google.py`` opens
around ``generate_content`` / ``generate_content_stream``; hops of the same client join it.
A request with no scope open (embeddings, token counts, caches, a private SDK path) is its own
call and its own record.
Request routes live in ``_google_routes``, the scope and the settling of attempts in
``_google_scope``, the reading of response bodies (queued with the record, streamed hops) in
``_google_response``.

Everything here runs on the caller's thread for every request (and every stream chunk), so the
common path is kept short: routes are classified once per ``(method, path)``, a response body
is read with a regex match and one C-level decode of its usage block (never parsed whole), a
stream chunk's running-total usage is only located (the last one is decoded into a
:class:`Usage` when the request ends), and errors are caught with plain ``try`` blocks, not
context managers.
"""

from __future__ import annotations

__all__ = ["SCOPE", "GoogleHttp", "Route", "Scope", "route"]

import weakref
from collections.abc import Callable, Iterator
from typing import Any

from llmfinops._internal import report_internal
from llmfinops._recorder import CURRENT_CALL, CallState, ClientRuntime, new_call_state
from llmfinops.usage import Usage

# The patched methods read the route cache, the scope and the response readers as globals of this
# module (one lookup each; ``_ROUTES`` is the same dict there and here, mutated in place, never rebound).
from . import _google_resources as resources
from ._google_files import batch_results_for, download_done, download_failed, tee_destination
from ._google_response import (
    _astream_hop,
    _embed_usage,
    _finish_partial,
    _on_generate,
    _requested_tier,
    _StreamHop,
    _text,
)
from ._google_routes import _GENERATE, _PASSIVE, _ROUTES, _SPECS, _UNSEEN, Route, _learn_route, route
from ._google_scope import SCOPE, Scope, _changes, _note_failed, _sent
from ._google_usage import model_from_resource, requested_tier


def _body(resp: Any) -> str:
    body = getattr(resp, "body", None)
    return body if type(body) is str else _text(body)


def _max_tokens(request: dict[str, Any]) -> int | None:
    gc = request.get("generationConfig")
    v = gc.get("maxOutputTokens") if isinstance(gc, dict) else None
    return v if isinstance(v, int) else None


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
        "download_file",
        "async_download_file",
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
        self.o_download: Callable[..., Any] | None = getattr(api, "download_file", None)
        self.o_adownload: Callable[..., Any] | None = getattr(api, "async_download_file", None)

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
        if self.o_download is not None:
            api.download_file = self.download_file
        if self.o_adownload is not None:
            api.async_download_file = self.async_download_file
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

    # -- files: batch results ----------------------------------------------------------------
    def download_file(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        """Patched ``BaseApiClient.download_file``: a batch job's results file is recorded as it is read."""
        download: Callable[..., Any] = self.o_download or _missing
        reader = batch_results_for(self.runtime, path)
        if reader is None:
            return download(path, *args, **kwargs)
        file_tee = tee_destination(kwargs, reader)
        try:
            data = download(path, *args, **kwargs)
        except BaseException:
            download_failed(reader, file_tee)
            raise
        download_done(reader, data, file_tee)
        return data

    async def async_download_file(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        """Patched ``BaseApiClient.async_download_file`` (see :meth:`download_file`)."""
        download: Callable[..., Any] = self.o_adownload or _missing
        reader = batch_results_for(self.runtime, path)
        if reader is None:
            return await download(path, *args, **kwargs)
        file_tee = tee_destination(kwargs, reader)
        try:
            data = await download(path, *args, **kwargs)
        except BaseException:
            download_failed(reader, file_tee)
            raise
        download_done(reader, data, file_tee)
        return data

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
