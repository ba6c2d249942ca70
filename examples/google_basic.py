"""Meter a google-genai client: one priced record per SDK call.

Runs offline against a mock Gemini API (``llmfinops.testing.google``); set ``GEMINI_API_KEY``
to call the real API instead. Records are printed and written to ``llmfinops_calls.jsonl``.

    python examples/google_basic.py
"""

from __future__ import annotations

import asyncio
import os

from google import genai
from google.genai import types

import llmfinops
from llmfinops.sinks import JSONLSink
from llmfinops.testing.google import GoogleMock, google_client


def show(record: llmfinops.CallRecord) -> None:
    print(
        f"{record.endpoint:17s} {record.model:18s} stream={record.stream!s:5s} "
        f"in={record.input_tokens:>6} (cached {record.cached_input_tokens:>5}) out={record.output_tokens:>5} "
        f"(thoughts {record.reasoning_tokens:>4}) requests={record.http_requests} "
        f"tier={record.service_tier or 'standard':8s} cost=${record.cost_usd}"
    )


def make_client() -> genai.Client:
    if os.environ.get("GEMINI_API_KEY"):
        return genai.Client()
    mock = GoogleMock(prompt_tokens=12_000, cached_tokens=8_000, candidates_tokens=300, thoughts_tokens=900)
    return google_client(mock)


async def main() -> None:
    llmfinops.configure(sinks=[JSONLSink("llmfinops_calls.jsonl"), show], service="example")
    client = llmfinops.wrap(make_client(), tags={"team": "docs"})

    # One call; with thinking, the thoughts are billed as output on top of the answer.
    client.models.generate_content(
        model="gemini-2.5-pro",
        contents="Name three dried flowers.",
        config=types.GenerateContentConfig(max_output_tokens=2048),
    )

    # Flex tier: the Gemini API reports no tier, so the requested one prices the call.
    client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Summarize: ...",
        config=types.GenerateContentConfig(service_tier="flex"),
    )

    # A stream: usage chunks are running totals; one record when the stream ends.
    for chunk in client.models.generate_content_stream(model="gemini-2.5-flash", contents="Tell a story."):
        print(chunk.text or "", end="")
    print()

    # The async client is metered with the same wrap.
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi")
    async for _ in stream:
        pass

    # Attribute spend per feature.
    with llmfinops.tags(feature="search"):
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents="Hi")

    llmfinops.unwrap(client)


if __name__ == "__main__":
    asyncio.run(main())
