"""Google GenAI adapter: ``llmfinops.wrap(genai.Client(...))`` meters the client and ``client.aio``.

Example:
    >>> import llmfinops
    >>> from llmfinops.testing import capture_records
    >>> from llmfinops.testing.google import GoogleMock, google_client
    >>> api = GoogleMock(prompt_tokens=1200, candidates_tokens=300)
    >>> client = llmfinops.wrap(google_client(api), sinks=[])  # offline genai.Client(api_key="...")
    >>> with capture_records() as records:
    ...     r = client.models.generate_content(model="gemini-2.5-flash", contents="Hi")
    >>> records[0].input_tokens, records[0].output_tokens, records[0].cost_usd
    (1200, 300, Decimal('0.00111000'))

One record per SDK call, written to the sinks:

* ``models.generate_content`` / ``generate_content_stream`` and their ``client.aio`` twins
  (``chats`` go through them). Every HTTP request behind the call is metered and priced on its
  own — automatic continuation and automatic function calling send several — and summed into
  the record; ``http_requests`` says how many there were. The >200k price tier is judged per
  request. Streams closed early or garbage-collected give one record with ``partial=True``.
* ``models.embed_content`` (``operation="embeddings"``) and ``models.count_tokens``
  (``operation="count_tokens"``, free: a record with zero tokens and cost 0).
* ``caches.create`` / ``update`` / ``delete``: creation and storage of explicit caches.
* ``batches.get`` / ``batches.list``: a finished job's inlined responses, one record each, at
  the ``batch`` tier, the first time the job is seen in this process.
* ``files.download`` of a finished job's results file (seen by ``batches.get``/``list`` first):
  one record per billed line, at the ``batch`` tier, once the download completes.

Usage semantics owned here: ``prompt_token_count`` includes the cached part; thoughts are
billed as output on top of ``candidates_token_count``; a stream chunk's usage is a running
total. The Gemini API reports no tier, so the *requested* ``config.service_tier`` prices the
call; on Vertex the reported ``traffic_type`` wins. See docs/providers/google.md.
"""

from __future__ import annotations

__all__ = ["PROVIDER", "extract_usage", "is_client", "patch"]

import functools
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from llmfinops._internal import report_internal
from llmfinops._recorder import ClientRuntime

from ._google_http import SCOPE, GoogleHttp, Scope
from ._google_usage import extract_usage

PROVIDER = "google"
"""Provider name written on records."""


def is_client(obj: object) -> bool:
    """Whether ``obj`` is a ``google.genai.Client`` (or subclass) instance.

    Example:
        >>> is_client(object())
        False
    """
    for cls in type(obj).__mro__:
        if cls.__name__ == "Client" and cls.__module__ == "google.genai.client":
            return True
    return False


def patch(client: Any, runtime: ClientRuntime) -> Callable[[], None]:
    """Meter ``client`` (and ``client.aio``) in place; return the undo function.

    The HTTP layer (``client._api_client``) meters every request; ``generate_content`` and
    ``generate_content_stream`` on ``client.models`` and ``client.aio.models`` mark where one
    SDK call starts and ends, so its requests end up in one record.

    Example:
        >>> from llmfinops.testing import capture_records
        >>> from llmfinops.testing.google import google_client
        >>> client = google_client()  # offline genai.Client
        >>> undo = patch(client, ClientRuntime("google", sinks=[]))
        >>> with capture_records() as records:
        ...     _ = client.models.generate_content(model="gemini-2.5-flash", contents="Hi")
        >>> undo()  # later calls are not metered
        >>> with capture_records() as after_undo:
        ...     _ = client.models.generate_content(model="gemini-2.5-flash", contents="Hi")
        >>> len(records), len(after_undo)
        (1, 0)
    """
    http = GoogleHttp(client._api_client, runtime, owner=client)
    undos = [http.install()]
    try:
        undos.append(_patch_models(client.models, http, is_async=False))
        undos.append(_patch_models(client.aio.models, http, is_async=True))
    except Exception:
        # An SDK without these methods still gets per-request metering from the HTTP layer.
        report_internal("google.patch")

    def undo() -> None:
        for u in reversed(undos):
            u()

    return undo


def _open(api: Any, *, stream: bool) -> Scope | None:
    try:
        return Scope(api, stream)
    except Exception:
        report_internal("google.scope")
        return None


def _patch_models(models: Any, http: GoogleHttp, *, is_async: bool) -> Callable[[], None]:
    orig = models.generate_content
    orig_stream = models.generate_content_stream
    api = http.api

    if is_async:

        async def generate_content(*args: Any, **kwargs: Any) -> Any:
            scope = _open(api, stream=False)
            if scope is None:
                return await orig(*args, **kwargs)
            token = SCOPE.set(scope)
            try:
                result = await orig(*args, **kwargs)
            except BaseException as exc:
                scope.finish(error=exc)
                raise
            finally:
                SCOPE.reset(token)
            scope.finish()
            return result

        async def generate_content_stream(*args: Any, **kwargs: Any) -> Any:
            scope = _open(api, stream=True)
            if scope is None:
                return await orig_stream(*args, **kwargs)
            token = SCOPE.set(scope)
            try:
                inner = await orig_stream(*args, **kwargs)
            except BaseException as exc:
                scope.finish(error=exc)
                raise
            finally:
                SCOPE.reset(token)
            gen = _ameter(scope, inner)
            # asyncio finalizes an abandoned async generator only while its loop runs; this
            # guarantees the one record even when it does not
            weakref.finalize(gen, scope.finish, partial=True)
            return gen

    else:

        def generate_content(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            try:
                scope: Scope | None = Scope(api, False)
            except Exception:
                report_internal("google.scope")
                scope = None
            if scope is None:
                return orig(*args, **kwargs)
            token = SCOPE.set(scope)
            try:
                result = orig(*args, **kwargs)
            except BaseException as exc:
                scope.finish(error=exc)
                raise
            finally:
                SCOPE.reset(token)
            scope.finish()
            return result

        def generate_content_stream(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            # a generator: nothing is sent yet; the scope opens (and its clock starts) when the
            # caller first iterates, which is when the request goes out
            return _meter(api, orig_stream(*args, **kwargs))

    models.generate_content = functools.wraps(orig)(generate_content)
    models.generate_content_stream = functools.wraps(orig_stream)(generate_content_stream)

    def undo() -> None:
        models.__dict__.pop("generate_content", None)
        models.__dict__.pop("generate_content_stream", None)

    return undo


def _meter(api: Any, inner: Iterator[Any]) -> Iterator[Any]:
    # The scope is set only while SDK code runs (around each ``next``), never across a
    # ``yield``: the caller's code between chunks must not see it.
    scope = _open(api, stream=True)  # the request goes out now, not when the stream object was made
    if scope is None:
        yield from inner
        return
    set_scope, reset_scope = SCOPE.set, SCOPE.reset
    try:
        while True:
            token = set_scope(scope)
            try:
                chunk = next(inner)
            except StopIteration:
                break
            finally:
                reset_scope(token)
            yield chunk
    except GeneratorExit:
        try:
            close = getattr(inner, "close", None)
            if close is not None:
                close()
        finally:
            scope.finish(partial=True)
        raise
    except BaseException as exc:
        scope.finish(error=exc, partial=True)
        raise
    scope.finish()


async def _ameter(scope: Scope, inner: AsyncIterator[Any]) -> AsyncIterator[Any]:
    scope.restart()
    try:
        while True:
            token = SCOPE.set(scope)
            try:
                chunk = await inner.__anext__()
            except StopAsyncIteration:
                break
            finally:
                SCOPE.reset(token)
            yield chunk
    except GeneratorExit:
        try:
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            scope.finish(partial=True)
        raise
    except BaseException as exc:
        scope.finish(error=exc, partial=True)
        raise
    scope.finish()
