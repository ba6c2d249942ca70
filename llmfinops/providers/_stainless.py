"""Interception engine for the Stainless-generated SDKs (openai, anthropic).

Every resource method of these SDKs — ``create``, ``parse``, ``.stream()`` helpers, the
``with_raw_response`` and ``with_streaming_response`` twins — ends in the client's
``request()``; every HTTP attempt of its retry loop goes through one attempt method. We
patch those two on the *instance* (no proxy, the client keeps its type), plus ``copy`` /
``with_options`` so derived clients stay metered. One interception point covers every
surface and survives SDK upgrades that add resources.

Besides the required :class:`~llmfinops.providers._base.StainlessSpec` members, a spec may
define two optional hooks (looked up once per patch, so specs without them pay nothing):

* ``on_stream(state, stream)`` runs when a metered stream is wrapped (e.g. to read the
  ``request-id`` header that stream events do not carry);
* ``result_hook(runtime, options) -> Callable[[result, is_async], result] | None`` runs for
  requests ``begin`` does not meter; a returned function sees the result (e.g. Anthropic's
  Message Batch results, a JSONL stream whose items are the billed calls).
"""

from __future__ import annotations

__all__ = ["patch_stainless"]

import atexit
import functools
import inspect
import json
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any

from pydantic import BaseModel

from llmfinops._internal import handle_internal_errors, logger, report_internal
from llmfinops._recorder import CURRENT_CALL, CallState, ClientRuntime
from llmfinops.providers._base import StainlessSpec, StreamObserver, delta_text, response_text

_PATCHED = ("request", "copy", "with_options")


def patch_stainless(client: Any, spec: StainlessSpec, runtime: ClientRuntime) -> Callable[[], None]:
    """Patch ``client`` in place; return the undo function."""
    orig_request = client.request
    orig_attempt = getattr(client, spec.attempt_method)
    orig_copy = client.copy
    is_async = inspect.iscoroutinefunction(orig_request)
    result_hook: Callable[[ClientRuntime, Any], Callable[[Any, bool], Any] | None] | None = getattr(
        spec, "result_hook", None
    )

    def begin(options: Any) -> CallState | None:
        try:
            state = spec.begin(runtime, options)
        except Exception:
            report_internal(f"{spec.provider}.begin")
            return None
        if state is not None:
            runtime.prepare(state)
        return state

    def hook_for(options: Any) -> Callable[[Any, bool], Any] | None:
        if result_hook is None:
            return None
        try:
            return result_hook(runtime, options)
        except Exception:
            report_internal(f"{spec.provider}.result_hook")
            return None

    if is_async:

        @functools.wraps(orig_request)
        async def request(cast_to: Any, options: Any, **kwargs: Any) -> Any:
            state = begin(options)
            if state is None:
                hook = hook_for(options)
                if hook is None:
                    return await orig_request(cast_to, options, **kwargs)
                return _apply_hook(spec, hook, await orig_request(cast_to, options, **kwargs), is_async=True)
            token = CURRENT_CALL.set(state)
            try:
                result = await orig_request(cast_to, options, **kwargs)
            except BaseException as exc:
                state.finish(error=exc)
                raise
            finally:
                CURRENT_CALL.reset(token)
            return _handle_result(spec, state, result, is_async=True)

        @functools.wraps(orig_attempt)
        async def attempt(*args: Any, **kwargs: Any) -> Any:
            state = CURRENT_CALL.get()
            if state is None:
                return await orig_attempt(*args, **kwargs)
            state.attempts += 1
            resp = await orig_attempt(*args, **kwargs)
            _note_status(state, resp)
            return resp

    else:

        @functools.wraps(orig_request)
        def request(cast_to: Any, options: Any, **kwargs: Any) -> Any:
            state = begin(options)
            if state is None:
                hook = hook_for(options)
                if hook is None:
                    return orig_request(cast_to, options, **kwargs)
                return _apply_hook(spec, hook, orig_request(cast_to, options, **kwargs), is_async=False)
            token = CURRENT_CALL.set(state)
            try:
                result = orig_request(cast_to, options, **kwargs)
            except BaseException as exc:
                state.finish(error=exc)
                raise
            finally:
                CURRENT_CALL.reset(token)
            return _handle_result(spec, state, result, is_async=False)

        @functools.wraps(orig_attempt)
        def attempt(*args: Any, **kwargs: Any) -> Any:
            state = CURRENT_CALL.get()
            if state is None:
                return orig_attempt(*args, **kwargs)
            state.attempts += 1
            resp = orig_attempt(*args, **kwargs)
            _note_status(state, resp)
            return resp

    @functools.wraps(orig_copy)
    def copy(*args: Any, **kwargs: Any) -> Any:
        new = orig_copy(*args, **kwargs)
        with handle_internal_errors(f"{spec.provider}.copy"):
            patch_stainless(new, spec, runtime)
            new._llmfinops_runtime = runtime
            new._llmfinops_unpatch = None
        return new

    client.request = request
    setattr(client, spec.attempt_method, attempt)
    client.copy = copy
    client.with_options = copy

    def unpatch() -> None:
        for name in (*_PATCHED, spec.attempt_method):
            client.__dict__.pop(name, None)

    return unpatch


def _note_status(state: CallState, resp: Any) -> None:
    if type(resp) is tuple:  # anthropic's _attempt_request returns (response, prepared)
        resp = resp[0] if resp else None
    status = getattr(resp, "status_code", None)
    if type(status) is int and status >= 400:
        state.error_statuses = [*(state.error_statuses or ()), status]


def _apply_hook(spec: StainlessSpec, hook: Callable[[Any, bool], Any], result: Any, *, is_async: bool) -> Any:
    try:
        return hook(result, is_async)
    except Exception:
        report_internal(f"{spec.provider}.result_hook")
        return result


def _stream_started(spec: StainlessSpec, state: CallState, stream: Any) -> None:
    on_stream = getattr(spec, "on_stream", None)
    if on_stream is not None:
        try:
            on_stream(state, stream)
        except Exception:
            report_internal(f"{spec.provider}.on_stream")


# What a ``request()`` result is, by its class (the SDKs return a few classes, each always of one
# kind): the ABC ``isinstance`` and the ``hasattr`` probes run once per class, not per call.
_MODEL, _STREAM, _RAW, _OTHER = range(4)
_KIND_OF: dict[type, int] = {}


def _kind_of(result: Any) -> int:
    cls = type(result)
    kind = _KIND_OF.get(cls)
    if kind is None:
        if isinstance(result, BaseModel):  # hasattr on a pydantic model is slow
            kind = _MODEL
        elif hasattr(result, "_iterator") and hasattr(result, "response"):
            kind = _STREAM
        elif hasattr(result, "http_response") and hasattr(result, "parse"):
            kind = _RAW
        else:
            kind = _OTHER
        if len(_KIND_OF) < 1024:
            _KIND_OF[cls] = kind
    return kind


def _handle_result(spec: StainlessSpec, state: CallState, result: Any, *, is_async: bool) -> Any:
    try:
        kind = _kind_of(result)
        if kind == _MODEL:  # the common case
            spec.on_response(state, result)
            if state.completion_parts is not None:
                _capture_text(state, result)
            state.finish()
        elif kind == _STREAM:
            # ``_iterator`` is a plain attribute in openai and a ``functools.cached_property``
            # (settable per instance) in anthropic; both are replaced the same way.
            _stream_started(spec, state, result)
            _wrap_stream(state, result, spec.observer(state), is_async=is_async)
        elif kind == _RAW:
            _wrap_raw(spec, state, result, is_async=is_async)
        else:
            spec.on_response(state, result)
            state.finish()
    except Exception:
        report_internal(f"{spec.provider}.response")
        state.finish()
    return result


def _capture_text(state: CallState, result: Any) -> None:
    text = response_text(result)
    if text and state.completion_parts is not None:
        state.completion_parts.append(text)


# -- streams -------------------------------------------------------------------------------------
# Streams in flight, for the one record of a stream that is garbage-collected (or still open at
# exit) before it was consumed or closed. A plain weak reference per stream costs a tenth of a
# ``weakref.finalize``; the exit sweep below does what finalize's ``atexit`` option did.
_live: dict[weakref.ref[Any], tuple[CallState, StreamObserver]] = {}


def _collected(ref: weakref.ref[Any]) -> None:
    item = _live.pop(ref, None)
    if item is not None and not item[0].done:
        try:
            item[0].finish(partial=not item[1].complete)
        except Exception:
            report_internal("stream.gc")


@atexit.register  # registered after the writer's own exit flush: runs before it (LIFO)
def _finish_open_streams() -> None:
    for ref in list(_live):
        _collected(ref)


def _wrap_stream(state: CallState, stream: Any, observer: StreamObserver, *, is_async: bool) -> None:
    if getattr(stream, "_llmfinops_state", None) is not None:
        return
    inner = stream._iterator
    response = stream.response
    ref = weakref.ref(stream, _collected)
    _live[ref] = (state, observer)
    if is_async:
        agen = _aobserve(state, observer, inner, response, ref)
        stream._iterator = agen
        orig_aclose = response.aclose

        async def aclose() -> None:
            try:
                await orig_aclose()
            finally:
                if not getattr(agen, "ag_running", False):
                    state.finish(partial=not observer.complete)
                    _release(response, ref)

        response.aclose = aclose
    else:
        gen = _observe(state, observer, inner, response, ref)
        stream._iterator = gen
        orig_close = response.close

        def close() -> None:
            try:
                orig_close()
            finally:
                if not getattr(gen, "gi_running", False):
                    state.finish(partial=not observer.complete)
                    _release(response, ref)

        response.close = close
    stream._llmfinops_state = state


def _release(response: Any, ref: weakref.ref[Any]) -> None:
    """After the record: drop our hold on the stream's objects.

    The patched ``close`` closes a reference cycle through the response; without it, plain
    reference counting frees what the stream used, with no work left for the cyclic GC.
    """
    _live.pop(ref, None)
    d = getattr(response, "__dict__", None)
    if d is not None:
        d.pop("close", None)
        d.pop("aclose", None)


def _skippable(observer: StreamObserver, parts: list[str] | None) -> Any:
    """The observer's ``skip`` (event classes it does not need), unless it must see every event."""
    return getattr(observer, "skip", None) if parts is None else None


def _observe(
    state: CallState, observer: StreamObserver, inner: Iterator[Any], response: Any, ref: weakref.ref[Any]
) -> Generator[Any, None, None]:
    parts = state.completion_parts  # not None only when content capture is on
    observe = observer.observe
    skip = _skippable(observer, parts)
    try:
        for event in inner:
            if skip is not None and type(event) in observer.skip:  # type: ignore[attr-defined]
                yield event  # an event class the observer never needs: no call, no field read
                continue
            try:
                show = observe(event)
            except Exception:
                show = True
                report_internal("stream.observe")
            if parts is not None and (text := delta_text(event)):
                parts.append(text)
            if show:
                yield event
    except GeneratorExit:
        state.finish(partial=not observer.complete)
        _release(response, ref)
        raise
    except BaseException as exc:
        state.finish(error=exc, partial=True)
        _release(response, ref)
        raise
    state.finish(partial=not observer.complete)
    _release(response, ref)


async def _aobserve(
    state: CallState,
    observer: StreamObserver,
    inner: AsyncIterator[Any],
    response: Any,
    ref: weakref.ref[Any],
) -> AsyncGenerator[Any, None]:
    parts = state.completion_parts  # not None only when content capture is on
    observe = observer.observe
    skip = _skippable(observer, parts)
    try:
        async for event in inner:
            if skip is not None and type(event) in observer.skip:  # type: ignore[attr-defined]
                yield event  # an event class the observer never needs: no call, no field read
                continue
            try:
                show = observe(event)
            except Exception:
                show = True
                report_internal("stream.observe")
            if parts is not None and (text := delta_text(event)):
                parts.append(text)
            if show:
                yield event
    except GeneratorExit:
        state.finish(partial=not observer.complete)
        _release(response, ref)
        raise
    except BaseException as exc:
        state.finish(error=exc, partial=True)
        _release(response, ref)
        raise
    state.finish(partial=not observer.complete)
    _release(response, ref)


# -- raw responses -------------------------------------------------------------------------------
def _finish_from_body(spec: StainlessSpec, state: CallState, http: Any) -> None:
    if state.done:
        return
    content = getattr(http, "_content", None)
    if content is None:
        state.finish(partial=True)
        return
    try:
        if state.stream:
            _replay_sse(spec, state, content)
        else:
            spec.on_response(state, json.loads(content))
    except Exception:
        logger.debug("could not read usage from a raw response body", exc_info=True)
    state.finish(partial=not state.has_usage)


def _replay_sse(spec: StainlessSpec, state: CallState, content: bytes) -> None:
    observer = spec.observer(state)
    for line in content.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data and data != "[DONE]":
                observer.observe(json.loads(data))


def _wrap_raw(spec: StainlessSpec, state: CallState, raw: Any, *, is_async: bool) -> None:
    http = raw.http_response
    if state.request_id is None:
        state.request_id = http.headers.get("x-request-id") or http.headers.get("request-id")
    if not state.stream and getattr(http, "_content", None) is not None:
        _finish_from_body(spec, state, http)  # body already read (with_raw_response)
        return
    orig_parse = raw.parse
    stream_wrapped = [False]
    # httpx closes a response at the end of ``read()``, *before* it stores ``_content``; the
    # close hook must wait for the read to return, or it would find no body to price.
    reading = [False]

    def after_parse(parsed: Any) -> None:
        if hasattr(parsed, "_iterator") and hasattr(parsed, "response"):
            stream_wrapped[0] = True
            _stream_started(spec, state, parsed)
            _wrap_stream(state, parsed, spec.observer(state), is_async=is_async)
        elif not state.done:
            _finish_from_body(spec, state, http)

    def on_close() -> None:
        if not stream_wrapped[0] and not reading[0]:
            _finish_from_body(spec, state, http)

    if is_async:

        async def aparse(*args: Any, **kwargs: Any) -> Any:
            parsed = await orig_parse(*args, **kwargs)
            with handle_internal_errors(f"{spec.provider}.parse"):
                after_parse(parsed)
            return parsed

        raw.parse = aparse
        orig_aclose = http.aclose

        async def aclose() -> None:
            try:
                await orig_aclose()
            finally:
                on_close()

        http.aclose = aclose
        orig_aread = http.aread

        async def aread() -> Any:
            reading[0] = True
            try:
                return await orig_aread()
            finally:
                reading[0] = False
                on_close()

        http.aread = aread
    else:

        def parse(*args: Any, **kwargs: Any) -> Any:
            parsed = orig_parse(*args, **kwargs)
            with handle_internal_errors(f"{spec.provider}.parse"):
                after_parse(parsed)
            return parsed

        raw.parse = parse
        orig_close = http.close

        def close() -> None:
            try:
                orig_close()
            finally:
                on_close()

        http.close = close
        orig_read = http.read

        def read() -> Any:
            reading[0] = True
            try:
                return orig_read()
            finally:
                reading[0] = False
                on_close()

        http.read = read
    weakref.finalize(raw, on_close)
