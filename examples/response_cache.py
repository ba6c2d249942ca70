"""Response cache in five minutes, offline: hits, stream replay, embeddings per item, the records.

    python examples/response_cache.py            # mock OpenAI server, nothing leaves the machine
    OPENAI_API_KEY=... python examples/response_cache.py --live

Every call writes one record; hits have cache_hit=True, cost_usd=0 and saved_usd.
"""

from __future__ import annotations

import sys
import tempfile
from decimal import Decimal

import llmfinops
from llmfinops.cache import DiskCacheStore, ResponseCache, cached, enable
from llmfinops.testing import capture_records


def make_client(live: bool):
    if live:
        from openai import OpenAI

        return OpenAI()
    from llmfinops.testing.openai import OpenAIMock, openai_client

    return openai_client(OpenAIMock(prompt_tokens=1200, completion_tokens=150))


def main() -> None:
    live = "--live" in sys.argv
    llmfinops.configure(sinks=[])  # records are shown below instead of written to a file
    cache = ResponseCache(DiskCacheStore(tempfile.mkdtemp(prefix="llmfinops-rc-")), ttl=3600)
    client = enable(make_client(live), cache)
    question = [{"role": "user", "content": "In one sentence: what is a response cache?"}]

    with capture_records() as records:
        # 1. temperature=0 is cacheable under the default rule: the second call is a hit.
        for _ in range(2):
            r = client.chat.completions.create(model="gpt-4o-mini", temperature=0, messages=question)
        print("answer:", r.choices[0].message.content)

        # 2. streams replay as the SDK's own Stream, chunk for chunk.
        for _ in range(2):
            text = "".join(
                c.choices[0].delta.content or ""
                for c in client.chat.completions.create(
                    model="gpt-4o-mini", temperature=0, messages=question, stream=True
                )
                if c.choices
            )
        print("streamed:", text)

        # 3. a sampled call is only cached where you say so.
        with cached():
            for _ in range(2):
                client.chat.completions.create(model="gpt-4o-mini", temperature=0.8, messages=question)

        # 4. embeddings are cached per input item: the second call sends only "new doc".
        client.embeddings.create(model="text-embedding-3-small", input=["doc one", "doc two"])
        client.embeddings.create(model="text-embedding-3-small", input=["doc two", "new doc", "doc one"])

    print(f"\n{'endpoint':18} {'stream':6} {'hit':5} {'cost_usd':>12} {'saved_usd':>12}")
    for rec in records:
        print(
            f"{rec.endpoint:18} {rec.stream!s:6} {rec.cache_hit!s:5} {rec.cost_usd!s:>12} "
            f"{rec.saved_usd if rec.saved_usd is not None else '':>12}"
        )
    saved = sum((rec.saved_usd or Decimal(0) for rec in records), Decimal(0))
    spent = sum((rec.cost_usd or Decimal(0) for rec in records), Decimal(0))
    print(f"\nspent ${spent}, saved ${saved}; cache stats: {cache.stats()}")


if __name__ == "__main__":
    main()
