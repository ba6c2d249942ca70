"""Metered calls leave no reference cycles behind.

Everything a call allocates must be freed by reference counting once its record is written: a
cycle per call would hand CPython's garbage collector work on every call, and objects that live
through a collection are promoted towards the full collections that pause the whole process
(``docs/performance.md``). Each path below runs through the real SDK and the fakes, with the
collector off, and ``gc.collect()`` must then find nothing unreachable (for the SDK's
``messages.stream()`` manager, which makes cycles of its own now and then: nothing of ours).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import llmfinops
from llmfinops.sinks import JSONLSink, read_jsonl
from llmfinops.testing.anthropic import AnthropicMock, anthropic_client
from llmfinops.testing.google import GoogleMock, google_client
from llmfinops.testing.openai import OpenAIMock, openai_client

MSG = [{"role": "user", "content": "What is the refund policy?"}]
KW: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 256, "messages": MSG}


def _first_then_close(stream: Any) -> None:
    for _ in stream:
        break
    stream.close()


def _manager(c: Any) -> None:
    with c.messages.stream(**KW) as s:
        s.get_final_message()


CALLS: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {
    "openai chat": (
        lambda: openai_client(OpenAIMock(prompt_tokens=100, completion_tokens=20, keep_requests=False)),
        lambda c: c.chat.completions.create(model="gpt-4o", messages=MSG),
    ),
    "openai chat stream": (
        lambda: openai_client(OpenAIMock(prompt_tokens=100, completion_tokens=20, keep_requests=False)),
        lambda c: list(c.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)),
    ),
    "openai chat stream closed early": (
        lambda: openai_client(OpenAIMock(prompt_tokens=100, completion_tokens=20, keep_requests=False)),
        lambda c: _first_then_close(c.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)),
    ),
    "openai responses": (
        lambda: openai_client(OpenAIMock(prompt_tokens=100, completion_tokens=20, keep_requests=False)),
        lambda c: c.responses.create(model="gpt-5.5", input="hi"),
    ),
    "anthropic create": (
        lambda: anthropic_client(AnthropicMock(input_tokens=40, cache_read_tokens=2000, keep_requests=False)),
        lambda c: c.messages.create(**KW),
    ),
    "anthropic stream": (
        lambda: anthropic_client(AnthropicMock(input_tokens=40, cache_write_5m=100, keep_requests=False)),
        lambda c: list(c.messages.create(stream=True, **KW)),
    ),
    "anthropic stream closed early": (
        lambda: anthropic_client(AnthropicMock(input_tokens=40, keep_requests=False)),
        lambda c: _first_then_close(c.messages.create(stream=True, **KW)),
    ),
    "anthropic stream manager": (
        lambda: anthropic_client(AnthropicMock(input_tokens=40, keep_requests=False)),
        _manager,
    ),
    "google generate_content": (
        lambda: google_client(GoogleMock(keep_requests=False)),
        lambda c: c.models.generate_content(model="gemini-2.5-flash", contents="hi"),
    ),
    "google generate_content_stream": (
        lambda: google_client(GoogleMock(keep_requests=False)),
        lambda c: list(c.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")),
    ),
}


@pytest.fixture
def collector_off() -> Iterator[None]:
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _unreachable_after(call: Callable[[Any], None], client: Any, n: int = 5) -> list[Any]:
    """What the collector finds unreachable after ``n`` calls (the objects themselves)."""
    for _ in range(n):
        call(client)
    llmfinops.flush()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


def _ours(objs: list[Any]) -> list[Any]:
    """The objects among ``objs`` that llmfinops made (its classes, functions and generators)."""
    out = []
    for o in objs:
        code = getattr(o, "__code__", None) or getattr(o, "gi_code", None) or getattr(o, "ag_code", None)
        where = code.co_filename if code is not None else type(o).__module__
        if "llmfinops" in where:
            out.append(o)
    return out


@pytest.mark.parametrize("name", sorted(CALLS))
def test_metered_call_leaves_no_cycles(name: str, tmp_path: Path, collector_off: None) -> None:
    llmfinops.configure(sinks=[JSONLSink(tmp_path / "calls.jsonl")])
    make, call = CALLS[name]
    raw, wrapped = make(), llmfinops.wrap(make())
    call(raw)  # first use: lazily built classes, caches, the writer thread
    call(wrapped)
    llmfinops.flush()
    gc.collect()
    assert _unreachable_after(call, raw) == [] or name == "anthropic stream manager"
    found = _unreachable_after(call, wrapped)
    if name == "anthropic stream manager":
        # The SDK's manager now and then rebuilds a pydantic generic class (``ParsedMessage[...]``),
        # cyclic garbage of its own whatever the wrapping: none of it may be ours.
        assert _ours(found) == []
    else:
        assert found == []
    assert len(list(read_jsonl(tmp_path / "calls.jsonl"))) == 6  # the records were written


@pytest.mark.parametrize(
    "make",
    [
        lambda keep: OpenAIMock(keep_requests=keep),
        lambda keep: AnthropicMock(keep_requests=keep),
        lambda keep: GoogleMock(keep_requests=keep),
    ],
    ids=["openai", "anthropic", "google"],
)
def test_fakes_keep_requests_optional(make: Callable[[bool], Any]) -> None:
    """keep_requests=False: nothing is kept, requests are still counted (and numbered)."""
    for keep in (True, False):
        mock = make(keep)
        for _ in range(3):
            if isinstance(mock, OpenAIMock):
                openai_client(mock).chat.completions.create(model="gpt-4o", messages=MSG)
            elif isinstance(mock, AnthropicMock):
                anthropic_client(mock).messages.create(**KW)
            else:
                google_client(mock).models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert mock.received == 3
        assert len(mock.requests) == (3 if keep else 0)
        assert len(mock.paths) == (3 if keep else 0)
