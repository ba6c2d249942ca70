"""Batch helpers: one way to run work through the OpenAI, Anthropic and Gemini batch APIs at 50 % off.

Use them for anything nobody waits on (nightly enrichment, backfills, eval runs)::

    import llmfinops
    from openai import OpenAI

    client = llmfinops.wrap(OpenAI())
    requests = [
        {"custom_id": f"ticket-{t.id}",
         "params": {"model": "gpt-4o-mini", "max_completion_tokens": 200,
                    "messages": [{"role": "user", "content": f"Classify: {t.text}"}]}}
        for t in tickets
    ]

    print(llmfinops.batch.estimate(client, requests))       # before: offline token count, $ bounds
    job = llmfinops.batch.submit(client, requests)           # uploads, creates; keep job.id
    job.wait()                                               # exponential backoff, no busy loop
    for r in job.results():                                  # SDK types: ChatCompletion, Message...
        print(r.custom_id, r.ok, r.cost_usd)
    print(job.savings())                                     # actual batch $ vs the same usage sync

    job = llmfinops.batch.resume(client, "batch_abc123")     # next morning, another process

``requests`` are the keyword arguments you would pass to the synchronous call:
``chat.completions.create`` / ``responses.create`` / ``embeddings.create`` (OpenAI),
``messages.create`` (Anthropic), ``models.generate_content`` (Google). The same list shape
works for all three, so switching provider changes only the client and the params.

Every succeeded request is written as one :class:`~llmfinops.CallRecord` at the ``batch``
price tier with ``tags["batch_id"]`` and its custom id, exactly once per job object: by the
Anthropic and Google adapters where they already record batch results (results read through
a wrapped client), by this module for OpenAI (endpoint ``openai.batch``). Failed, expired
and cancelled requests are not billed and get no record.
"""

from __future__ import annotations

__all__ = [
    "Backoff",
    "BatchEstimate",
    "BatchFailed",
    "BatchJob",
    "BatchRequest",
    "BatchResult",
    "BatchSavings",
    "BatchTimeout",
    "estimate",
    "resume",
    "submit",
]

from ._job import BatchJob, estimate, resume, submit
from ._model import Backoff, BatchEstimate, BatchFailed, BatchRequest, BatchResult, BatchSavings, BatchTimeout
