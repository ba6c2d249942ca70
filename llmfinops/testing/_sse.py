"""Server-sent-event helpers shared by the provider fakes."""

from __future__ import annotations

__all__ = ["json_response", "sse_body", "sse_response"]

import json
from collections.abc import Iterable, Iterator
from typing import Any


def sse_body(events: Iterable[tuple[str | None, Any]], *, done: bool = False) -> bytes:
    """Encode ``(event_name, data)`` pairs as an SSE body (``data: [DONE]`` appended if ``done``)."""
    parts: list[str] = []
    for name, data in events:
        if name:
            parts.append(f"event: {name}\n")
        parts.append(f"data: {json.dumps(data, separators=(',', ':'))}\n\n")
    if done:
        parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def _chunks(body: bytes, size: int = 256) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


_byte_stream_class: type | None = None


def _byte_stream(body: bytes) -> Any:
    """A sync-and-async ``httpx2`` byte stream of ``body``.

    The class is made once (``httpx2`` is imported on first use): a class made per response
    would be cyclic garbage, and long runs on the fakes (the benchmarks) would measure the
    garbage collector cleaning up after the fake.
    """
    global _byte_stream_class
    cls = _byte_stream_class
    if cls is None:
        import httpx2

        class _ByteStream(httpx2.SyncByteStream, httpx2.AsyncByteStream):
            def __init__(self, body: bytes) -> None:
                self.body = body

            def __iter__(self) -> Iterator[bytes]:
                yield from _chunks(self.body)

            async def __aiter__(self) -> Any:
                for c in _chunks(self.body):
                    yield c

        cls = _byte_stream_class = _ByteStream
    return cls(body)


def sse_response(body: bytes, *, headers: dict[str, str] | None = None) -> Any:
    """An ``httpx2.Response`` streaming ``body`` in small chunks, as a server would."""
    import httpx2

    h = {"content-type": "text/event-stream", **(headers or {})}
    return httpx2.Response(200, headers=h, stream=_byte_stream(body))


def json_response(status: int, data: Any, *, headers: dict[str, str] | None = None) -> Any:
    """An ``httpx2.Response`` with a JSON body."""
    import httpx2

    return httpx2.Response(status, json=data, headers=headers or {})
