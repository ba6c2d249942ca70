"""OpenAI embeddings cached per input item: full hits, partial hits that send only the missing items."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx2
import pytest

import llmfinops
from llmfinops.cache import MemoryStore, ResponseCache, enable
from llmfinops.cache._transport import _item_tokens
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.openai import openai_client

MODEL = "text-embedding-3-small"  # $0.02 per 1M input tokens


class EmbedServer:
    """Answers /embeddings with one distinct vector per input text and exact token counts."""

    def __init__(self) -> None:
        self.inputs: list[list[str]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        inp = body["input"]
        items = inp if isinstance(inp, list) else [inp]
        self.inputs.append(list(items))
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), float(sum(map(ord, t)) % 97)]}
            for i, t in enumerate(items)
        ]
        tokens = sum(len(t.split()) for t in items)  # one token per word in this fake
        return httpx2.Response(
            200,
            json={
                "object": "list",
                "data": data,
                "model": MODEL,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


@pytest.fixture(autouse=True)
def _clock() -> None:
    llmfinops.configure(clock=FakeClock(datetime(2026, 11, 22, 12, tzinfo=UTC)))


@pytest.fixture
def server() -> EmbedServer:
    return EmbedServer()


@pytest.fixture
def emb(server: EmbedServer) -> Any:
    return enable(openai_client(server), ResponseCache(MemoryStore()))


def vectors(resp: Any) -> list[list[float]]:
    return [list(d.embedding) for d in sorted(resp.data, key=lambda d: d.index)]


class TestPerItem:
    def test_full_hit(self, emb: Any, server: EmbedServer) -> None:
        """The same inputs again are answered without a request, at $0, saving the full cost."""
        docs = ["alpha beta", "gamma delta epsilon"]
        with capture_records() as recs:
            a = emb.embeddings.create(model=MODEL, input=docs, encoding_format="float")
            b = emb.embeddings.create(model=MODEL, input=docs, encoding_format="float")
        assert vectors(b) == vectors(a)
        assert b.usage.prompt_tokens == 5
        assert server.inputs == [docs]
        assert [(r.cache_hit, r.cost_usd, r.saved_usd, r.input_tokens) for r in recs] == [
            (False, Decimal("0.00000010"), None, 5),
            (True, Decimal(0), Decimal("0.00000010"), 5),
        ]

    def test_partial_hit_sends_only_missing_items(self, emb: Any, server: EmbedServer) -> None:
        """Only new items go to the provider; the answer keeps the caller's order."""
        first = emb.embeddings.create(model=MODEL, input=["one", "two words"], encoding_format="float")
        with capture_records() as recs:
            mixed = emb.embeddings.create(
                model=MODEL, input=["two words", "three new words", "one"], encoding_format="float"
            )
        assert server.inputs == [["one", "two words"], ["three new words"]]
        v_first = vectors(first)
        v_mixed = vectors(mixed)
        assert v_mixed[0] == v_first[1]
        assert v_mixed[2] == v_first[0]
        assert v_mixed[1] == [15.0, float(sum(map(ord, "three new words")) % 97)]
        assert [d.index for d in mixed.data] == [0, 1, 2]
        assert mixed.usage.prompt_tokens == 6  # what the request would have cost uncached
        (rec,) = recs
        assert (rec.cache_hit, rec.input_tokens, rec.cost_usd, rec.saved_usd) == (
            False,
            3,
            Decimal("0.00000006"),
            Decimal("0.00000006"),
        )

    def test_single_string_input(self, emb: Any, server: EmbedServer) -> None:
        """A plain string input is one item."""
        emb.embeddings.create(model=MODEL, input="just one", encoding_format="float")
        r = emb.embeddings.create(model=MODEL, input="just one", encoding_format="float")
        assert len(server.inputs) == 1
        assert vectors(r) == [[8.0, float(sum(map(ord, "just one")) % 97)]]

    def test_encoding_and_dimensions_are_part_of_the_key(self, emb: Any, server: EmbedServer) -> None:
        """The same text at another encoding_format or dimensions is another item."""
        emb.embeddings.create(model=MODEL, input=["x"], encoding_format="float")
        emb.embeddings.create(model=MODEL, input=["x"], encoding_format="float", dimensions=256)
        emb.embeddings.create(model=MODEL, input=["x"], encoding_format="float", user="someone")
        assert len(server.inputs) == 2

    def test_per_request_mode(self, server: EmbedServer) -> None:
        """embedding_items=False caches whole requests only."""
        c = enable(openai_client(server), ResponseCache(MemoryStore(), embedding_items=False))
        c.embeddings.create(model=MODEL, input=["a", "b"], encoding_format="float")
        c.embeddings.create(model=MODEL, input=["b", "a"], encoding_format="float")
        c.embeddings.create(model=MODEL, input=["a", "b"], encoding_format="float")
        assert server.inputs == [["a", "b"], ["b", "a"]]

    def test_provider_error_passes_through(self) -> None:
        """A failing provider answer reaches the SDK unchanged and nothing is stored."""
        import openai

        def handler(request: httpx2.Request) -> httpx2.Response:
            return httpx2.Response(
                400, json={"error": {"message": "bad input", "type": "invalid_request_error"}}
            )

        rc = ResponseCache(MemoryStore())
        c = enable(openai_client(handler, max_retries=0), rc)
        with pytest.raises(openai.BadRequestError):
            c.embeddings.create(model=MODEL, input=["a"], encoding_format="float")
        assert rc.stats().stores == 0


class TestTokenSplit:
    def test_exact_counts_when_they_add_up(self) -> None:
        """Per-item BPE counts are kept when they sum to the reported total."""
        assert _item_tokens(MODEL, ["hello world", "hi"], 3) == [2, 1]

    def test_scaled_to_the_reported_total(self) -> None:
        """Otherwise counts are scaled, largest remainders first, to sum exactly to the total."""
        out = _item_tokens(MODEL, ["hello world", "hi"], 10)
        assert out == [7, 3]
        assert sum(out) == 10

    def test_token_arrays_count_their_length(self) -> None:
        """Token-array inputs count one token per id."""
        assert _item_tokens(MODEL, [[1, 2, 3], [4]], 4) == [3, 1]
