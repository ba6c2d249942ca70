"""Message Batch results read through ``messages.batches.results(id)`` (used by ``anthropic.py``).

The SDK's JSONL results decoder (plain, ``with_raw_response`` or ``with_streaming_response``,
sync or async) is wrapped so that every succeeded request read from it is one record, at batch
rates. Its message is read by the adapter's own Messages reader, passed in as ``read_message``.

Each request of a batch (its ``custom_id``, unique in the batch) is recorded once per process,
however often the results are read; the record id is derived from the batch id and the
``custom_id``, so a result recorded by two processes has the same id (sinks with a unique id keep
one).
"""

from __future__ import annotations

__all__ = ["_batch_results_hook", "batch_id_of", "recorded"]

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from llmfinops._context import current_tags
from llmfinops._ids import stable_id
from llmfinops._internal import handle_internal_errors
from llmfinops._recorder import CallState, ClientRuntime
from llmfinops.providers._base import field

_MAX_RECORDED = 200_000
"""custom_ids remembered across batches (two full batches; the oldest batches are forgotten first)."""
_recorded: OrderedDict[str, set[str]] = OrderedDict()
_recorded_count = [0]
_lock = threading.Lock()


def batch_id_of(path: str) -> str:
    """The batch id in a results URL path (``.../messages/batches/<id>/results``).

    Example:
        >>> batch_id_of("/v1/messages/batches/msgbatch_01abc/results?beta=true")
        'msgbatch_01abc'
    """
    return path.split("?", 1)[0].rsplit("/messages/batches/", 1)[-1].split("/", 1)[0]


def recorded(batch_id: str, custom_id: str) -> bool:
    """Whether this process has recorded this request of the batch (from a results read).

    Example:
        >>> recorded("msgbatch_never_read", "ticket-1")
        False
    """
    with _lock:
        seen = _recorded.get(batch_id)
        return seen is not None and custom_id in seen


def _release(batch_id: str, custom_id: str) -> None:
    """Undo :func:`_first_time` for a request whose record could not be written (a later read retries)."""
    with _lock:
        seen = _recorded.get(batch_id)
        if seen is not None and custom_id in seen:
            seen.discard(custom_id)
            _recorded_count[0] -= 1


def _first_time(batch_id: str, custom_id: str) -> bool:
    """Whether this request of the batch has not been recorded by this process yet (and claim it)."""
    with _lock:
        seen = _recorded.get(batch_id)
        if seen is None:
            seen = _recorded[batch_id] = set()
        else:
            _recorded.move_to_end(batch_id)
        if custom_id in seen:
            return False
        seen.add(custom_id)
        _recorded_count[0] += 1
        while _recorded_count[0] > _MAX_RECORDED and len(_recorded) > 1:
            _recorded_count[0] -= len(_recorded.popitem(last=False)[1])
        return True


def _record_batch_item(
    runtime: ClientRuntime,
    item: Any,
    tags: dict[str, str],
    read_message: Callable[[CallState, Any], None],
    batch_id: str,
) -> None:
    result = field(item, "result")
    if field(result, "type") != "succeeded":
        return  # errored / canceled / expired requests are not billed
    custom_id = field(item, "custom_id")
    if custom_id is None:
        _record_message(runtime, result, None, tags, read_message, batch_id)
        return
    if not _first_time(batch_id, str(custom_id)):
        return  # read before by this process: recorded then
    try:
        _record_message(runtime, result, str(custom_id), tags, read_message, batch_id)
    except BaseException:
        _release(batch_id, str(custom_id))  # not recorded: the next read of the results will
        raise


def _record_message(
    runtime: ClientRuntime,
    result: Any,
    custom_id: str | None,
    tags: dict[str, str],
    read_message: Callable[[CallState, Any], None],
    batch_id: str,
) -> None:
    msg = field(result, "message")
    model = field(msg, "model")
    state = CallState(
        runtime, endpoint="messages.batches", operation="chat", model=model if isinstance(model, str) else ""
    )
    state.tag_snapshot = {**tags, "custom_id": custom_id} if custom_id is not None else dict(tags)
    if custom_id is not None:
        state.record_id = stable_id("anthropic", batch_id, custom_id)
    read_message(state, msg)
    # Everything the results endpoint returns was processed (and billed) by the Batch API.
    if state.usage is not None:
        state.usage.service_tier = "batch"
    for hop, _ in state.hops or ():
        hop.service_tier = "batch"
    state.finish()


def _iter_results(
    runtime: ClientRuntime,
    inner: Iterator[Any],
    tags: dict[str, str],
    read_message: Callable[[CallState, Any], None],
    batch_id: str,
) -> Iterator[Any]:
    for item in inner:
        with handle_internal_errors("anthropic.batch_result"):
            _record_batch_item(runtime, item, tags, read_message, batch_id)
        yield item


async def _aiter_results(
    runtime: ClientRuntime,
    inner: AsyncIterator[Any],
    tags: dict[str, str],
    read_message: Callable[[CallState, Any], None],
    batch_id: str,
) -> AsyncIterator[Any]:
    async for item in inner:
        with handle_internal_errors("anthropic.batch_result"):
            _record_batch_item(runtime, item, tags, read_message, batch_id)
        yield item


def _wrap_decoder(
    runtime: ClientRuntime,
    decoder: Any,
    tags: dict[str, str],
    is_async: bool,
    read_message: Callable[[CallState, Any], None],
    batch_id: str,
) -> None:
    if getattr(decoder, "_llmfinops_wrapped", False) or not hasattr(type(decoder), "_iterator"):
        return
    inner = decoder._iterator
    decoder._iterator = (
        _aiter_results(runtime, inner, tags, read_message, batch_id)
        if is_async
        else _iter_results(runtime, inner, tags, read_message, batch_id)
    )
    decoder._llmfinops_wrapped = True


def _batch_results_hook(
    runtime: ClientRuntime, read_message: Callable[[CallState, Any], None], batch_id: str
) -> Callable[[Any, bool], Any]:
    """The ``result_hook`` of a results request; ``read_message(state, message)`` reads each message."""
    tags = dict(current_tags())

    def hook(result: Any, is_async: bool) -> Any:
        parse = getattr(result, "parse", None)
        if parse is None:
            _wrap_decoder(runtime, result, tags, is_async, read_message, batch_id)
            return result
        # with_raw_response / with_streaming_response: the decoder appears on .parse()
        if is_async:

            async def aparse(*args: Any, **kwargs: Any) -> Any:
                decoder = await parse(*args, **kwargs)
                with handle_internal_errors("anthropic.batch_results"):
                    _wrap_decoder(runtime, decoder, tags, True, read_message, batch_id)
                return decoder

            result.parse = aparse
        else:

            def sparse(*args: Any, **kwargs: Any) -> Any:
                decoder = parse(*args, **kwargs)
                with handle_internal_errors("anthropic.batch_results"):
                    _wrap_decoder(runtime, decoder, tags, False, read_message, batch_id)
                return decoder

            result.parse = sparse
        return result

    return hook
