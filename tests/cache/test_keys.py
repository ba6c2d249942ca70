"""Canonical request forms, cache keys, cacheability rules, and the stored entry format."""

from __future__ import annotations

import pytest

from llmfinops.cache._entry import CorruptEntry, Entry, pack, unpack
from llmfinops.cache._keys import (
    CacheRequest,
    canonical_json,
    hash_key,
    is_deterministic,
    never_cache_reason,
    strip_body,
)

BODY = {
    "model": "gpt-4o",
    "temperature": 0,
    "messages": [{"role": "user", "content": "hi"}],
}


def key(provider: str, body: dict) -> str:
    return hash_key("", provider, "https://api/x", "json", strip_body(provider, body))


class TestCanonicalKey:
    def test_key_order_does_not_matter(self) -> None:
        """Two bodies that differ only in key order share a key."""
        reordered = {"messages": BODY["messages"], "temperature": 0, "model": "gpt-4o"}
        assert key("openai", BODY) == key("openai", reordered)

    @pytest.mark.parametrize(
        "extra",
        [
            {"stream": True},
            {"stream_options": {"include_usage": True}},
            {"user": "u-123"},
            {"metadata": {"run": "7"}},
            {"store": True},
            {"service_tier": "flex"},
            {"safety_identifier": "abc"},
            {"prompt_cache_key": "tenant-1"},
            {"prompt_cache_retention": "24h"},
            {"prompt_cache_options": {"ttl": "12h"}},
        ],
    )
    def test_openai_fields_that_do_not_change_the_answer_are_ignored(self, extra: dict) -> None:
        """Transport, logging and prompt-caching fields are not part of the key."""
        assert key("openai", {**BODY, **extra}) == key("openai", BODY)

    @pytest.mark.parametrize(
        "change",
        [
            {"model": "gpt-4o-mini"},
            {"temperature": 0.7},
            {"messages": [{"role": "user", "content": "hi!"}]},
            {"tools": [{"type": "function", "function": {"name": "f"}}]},
            {"response_format": {"type": "json_object"}},
            {"seed": 7},
            {"max_completion_tokens": 10},
            {"top_p": 0.5},
            {"stop": ["\n"]},
            {"reasoning_effort": "low"},
        ],
    )
    def test_fields_that_change_the_answer_change_the_key(self, change: dict) -> None:
        """Model, prompt and sampling/format parameters are part of the key."""
        assert key("openai", {**BODY, **change}) != key("openai", BODY)

    def test_anthropic_cache_control_is_stripped_at_any_depth(self) -> None:
        """Anthropic cache breakpoints (top level, system and content blocks) do not split the cache."""
        marked = {
            "model": "claude-sonnet-5",
            "max_tokens": 10,
            "cache_control": {"type": "ephemeral"},
            "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Q", "cache_control": {}}]}],
            "metadata": {"user_id": "x"},
        }
        plain = {
            "model": "claude-sonnet-5",
            "max_tokens": 10,
            "system": [{"type": "text", "text": "S"}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Q"}]}],
        }
        assert strip_body("anthropic", marked) == plain

    def test_openai_prompt_cache_breakpoints_are_stripped(self) -> None:
        """OpenAI explicit cache breakpoints on content blocks do not split the cache."""
        body = {
            "model": "m",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "x", "prompt_cache_breakpoint": {"ttl": "30m"}}
                    ],
                }
            ],
        }
        assert strip_body("openai", body) == {
            "model": "m",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}],
        }

    def test_raw_body_guard_skips_the_deep_walk(self) -> None:
        """Without the marker in the raw bytes the deep walk is skipped (the body is kept as is)."""
        body = {"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "q"}]}
        assert strip_body("anthropic", body, raw=b'{"model":"claude-sonnet-5"}') == body

    def test_canonical_json_is_compact_and_sorted(self) -> None:
        """The hashed bytes are sorted, whitespace-free UTF-8 JSON."""
        assert (
            canonical_json({"b": "é", "a": [1, {"d": 1, "c": 2}]})
            == '{"a":[1,{"c":2,"d":1}],"b":"é"}'.encode()
        )

    def test_key_is_a_sha256_hex_digest(self) -> None:
        """Keys are 64 hex characters and never contain the prompt."""
        k = key("openai", BODY)
        assert len(k) == 64
        assert set(k) <= set("0123456789abcdef")


class TestDeterministic:
    @pytest.mark.parametrize(
        ("provider", "endpoint", "body", "expected"),
        [
            ("openai", "chat.completions", {"temperature": 0}, True),
            ("openai", "chat.completions", {"temperature": 0.0}, True),
            ("openai", "chat.completions", {"temperature": 0.2}, False),
            ("openai", "chat.completions", {}, False),
            ("openai", "chat.completions", {"temperature": False}, False),
            ("openai", "responses", {"temperature": 0}, True),
            ("anthropic", "messages", {"temperature": 0}, True),
            ("anthropic", "messages", {"max_tokens": 5}, False),
            ("google", "generate_content", {"generationConfig": {"temperature": 0}}, True),
            ("google", "generate_content", {"generationConfig": {"temperature": 1}}, False),
            ("openai", "embeddings", {"input": "x"}, True),
        ],
    )
    def test_rule(self, provider: str, endpoint: str, body: dict, expected: bool) -> None:
        """Embeddings and explicit temperature 0 are deterministic; anything else is not."""
        assert is_deterministic(CacheRequest(provider, endpoint, body)) is expected

    def test_embeddings_operation(self) -> None:
        """An endpoint whose operation is embeddings counts as deterministic."""
        assert is_deterministic(CacheRequest("google", "models.embed_content", {}, "embeddings")) is True


class TestNeverCache:
    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            ({"background": True}, "background responses are polled by id"),
            ({"conversation": "conv_1"}, "a server-side conversation changes between calls"),
            ({"max_tokens": 0}, "max_tokens=0 is a prompt-cache pre-warm"),
            (
                {"prompt_cache_options": {"prewarm": True}},
                "prompt_cache_options.prewarm warms the provider's cache",
            ),
            ({"max_tokens": 5}, None),
        ],
    )
    def test_reasons(self, body: dict, reason: str | None) -> None:
        """Requests with server-side state or side effects are never cached."""
        assert never_cache_reason("openai", body) == reason


class TestEntry:
    def test_roundtrip_small(self) -> None:
        """A small entry round-trips uncompressed."""
        e = Entry(200, [("content-type", "application/json")], b'{"a":1}', "json", 1.5, {"t": 3})
        assert unpack(pack(e)) == e

    def test_roundtrip_large_is_compressed(self) -> None:
        """Bodies of 4 KiB or more are stored compressed and come back identical."""
        body = b"data: " + b"x" * 5000 + b"\n\n"
        e = Entry(200, [], body, "sse", 2.0)
        data = pack(e)
        assert len(data) < 200
        assert unpack(data) == e

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"LFRC",
            b"XXXX\x01\x00\x00\x00\x00\x02{}",
            b"LFRC\x02\x00\x00\x00\x00\x02{}",
            b'LFRC\x01\x00\x00\x00\x00\x09{"s":200}',
            b"LFRC\x01\x00\x00\x00\x00\x02{}",
            b"LFRC\x01\x01\x00\x00\x00\x2a" + b'{"s":200,"h":[],"f":"json","t":0,"m":{}}' + b"not zlib",
        ],
    )
    def test_corrupt_entries_are_rejected(self, data: bytes) -> None:
        """Truncated, foreign, unknown-version or undecodable bytes raise CorruptEntry."""
        with pytest.raises(CorruptEntry):
            unpack(data)
