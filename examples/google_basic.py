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
from llmfinops.testing.google import (
    GoogleMock,
    batch_job,
    batch_results_file,
    generate_content_response,
    google_client,
)


def show(record: llmfinops.CallRecord) -> None:
    print(
        f"{record.endpoint:17s} {record.model:18s} stream={record.stream!s:5s} "
        f"in={record.input_tokens:>6} (cached {record.cached_input_tokens:>5}) out={record.output_tokens:>5} "
        f"(thoughts {record.reasoning_tokens:>4}) requests={record.http_requests} "
        f"tier={record.service_tier or 'standard':8s} cost=${record.cost_usd}"
    )


def make_client() -> tuple[genai.Client, GoogleMock | None]:
    if os.environ.get("GEMINI_API_KEY"):
        return genai.Client(), None
    mock = GoogleMock(prompt_tokens=12_000, cached_tokens=8_000, candidates_tokens=300, thoughts_tokens=900)
    # A finished batch job whose results went to a file (two answers and one failed request).
    mock.batches["batches/nightly-1"] = batch_job(
        name="batches/nightly-1", model="models/gemini-2.5-flash", responses_file="files/batch-nightly-1"
    )
    answer = generate_content_response(model_version="gemini-2.5-flash", prompt_tokens=4_000)
    mock.files["files/batch-nightly-1"] = batch_results_file([answer, None, answer])
    return google_client(mock), mock


async def main() -> None:
    llmfinops.configure(sinks=[JSONLSink("llmfinops_calls.jsonl"), show], service="example")
    raw, mock = make_client()
    client = llmfinops.wrap(raw, tags={"team": "docs"})

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

    # Batch results in a file: recorded (at batch rates) as the file is downloaded through the
    # wrapped client, once the polling loop has seen the job finished. Offline only here: with a
    # real key, use the name of one of your own finished jobs.
    if mock is not None:
        job = client.batches.get(name="batches/nightly-1")
        if job.dest is not None and job.dest.file_name:
            client.files.download(file=job.dest.file_name)

    llmfinops.unwrap(client)


if __name__ == "__main__":
    asyncio.run(main())
