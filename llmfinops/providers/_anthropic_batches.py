"""Message Batch results read through ``messages.batches.results(id)`` (used by ``anthropic.py``).

The SDK's JSONL results decoder (plain, ``with_raw_response`` or ``with_streaming_response``,
sync or async) is wrapped so that every succeeded request read from it is one record, at batch
rates. Its message is read by the adapter's own Messages reader, passed in as ``read_message``.
"""

from __future__ import annotations

__all__ = ["_batch_results_hook"]

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from llmfinops._context import current_tags
from llmfinops._internal import handle_internal_errors
from llmfinops._recorder import CallState, ClientRuntime
from llmfinops.providers._base import field


def _record_batch_item(
    runtime: ClientRuntime,
    item: Any,
    tags: dict[str, str],
    read_message: Callable[[CallState, Any], None],
) -> None:
    result = field(item, "result")
    if field(result, "type") != "succeeded":
        return  # errored / canceled / expired requests are not billed
    msg = field(result, "message")
    model = field(msg, "model")
    state = CallState(
        runtime, endpoint="messages.batches", operation="chat", model=model if isinstance(model, str) else ""
    )
    custom_id = field(item, "custom_id")
    state.tag_snapshot = {**tags, "custom_id": str(custom_id)} if custom_id is not None else dict(tags)
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
) -> Iterator[Any]:
    for item in inner:
        with handle_internal_errors("anthropic.batch_result"):
            _record_batch_item(runtime, item, tags, read_message)
        yield item


async def _aiter_results(
    runtime: ClientRuntime,
    inner: AsyncIterator[Any],
    tags: dict[str, str],
    read_message: Callable[[CallState, Any], None],
) -> AsyncIterator[Any]:
    async for item in inner:
        with handle_internal_errors("anthropic.batch_result"):
            _record_batch_item(runtime, item, tags, read_message)
        yield item


def _wrap_decoder(
    runtime: ClientRuntime,
    decoder: Any,
    tags: dict[str, str],
    is_async: bool,
    read_message: Callable[[CallState, Any], None],
) -> None:
    if getattr(decoder, "_llmfinops_wrapped", False) or not hasattr(type(decoder), "_iterator"):
        return
    inner = decoder._iterator
    decoder._iterator = (
        _aiter_results(runtime, inner, tags, read_message)
        if is_async
        else _iter_results(runtime, inner, tags, read_message)
    )
    decoder._llmfinops_wrapped = True


def _batch_results_hook(
    runtime: ClientRuntime, read_message: Callable[[CallState, Any], None]
) -> Callable[[Any, bool], Any]:
    """The ``result_hook`` of a results request; ``read_message(state, message)`` reads each message."""
    tags = dict(current_tags())

    def hook(result: Any, is_async: bool) -> Any:
        parse = getattr(result, "parse", None)
        if parse is None:
            _wrap_decoder(runtime, result, tags, is_async, read_message)
            return result
        # with_raw_response / with_streaming_response: the decoder appears on .parse()
        if is_async:

            async def aparse(*args: Any, **kwargs: Any) -> Any:
                decoder = await parse(*args, **kwargs)
                with handle_internal_errors("anthropic.batch_results"):
                    _wrap_decoder(runtime, decoder, tags, True, read_message)
                return decoder

            result.parse = aparse
        else:

            def sparse(*args: Any, **kwargs: Any) -> Any:
                decoder = parse(*args, **kwargs)
                with handle_internal_errors("anthropic.batch_results"):
                    _wrap_decoder(runtime, decoder, tags, False, read_message)
                return decoder

            result.parse = sparse
        return result

    return hook
