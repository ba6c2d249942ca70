"""Wrap an OpenAI client, attribute calls, and read the records — offline.

The client talks to an in-process mock transport (``llmfinops.testing.openai``) that answers
like the API; with a real key, use ``OpenAI()`` instead of ``openai_client(...)``.

Run: python examples/openai_basic.py
"""

from __future__ import annotations

import llmfinops
from llmfinops.sinks import MemorySink
from llmfinops.testing.openai import OpenAIMock, openai_client

sink = MemorySink()
llmfinops.configure(sinks=[sink], service="example", user_id_key="example-secret")

mock = OpenAIMock(prompt_tokens=2_400, cached_tokens=2_048, completion_tokens=350, reasoning_tokens=120)
client = llmfinops.wrap(openai_client(mock), tags={"team": "search"})

with llmfinops.tags(feature="answers", user_id="user-42"):
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    for _chunk in client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], stream=True
    ):
        pass  # the usage-only chunk llmfinops asked for is not shown here
    client.responses.create(model="gpt-5.5", input="Summarize our refund policy", max_output_tokens=800)
    client.embeddings.create(model="text-embedding-3-small", input=["refund policy"])

llmfinops.flush()
for r in sink.records:
    print(
        f"{r.endpoint:17} {r.model:24} stream={r.stream!s:5} in={r.input_tokens:5} "
        f"(cached {r.cached_input_tokens:5}) out={r.output_tokens:4} (reasoning {r.reasoning_tokens:3}) "
        f"cost=${r.cost_usd} team={r.team} feature={r.feature} user={r.user_id}"
    )
print(f"total ${sum(r.cost_usd or 0 for r in sink.records)}")
