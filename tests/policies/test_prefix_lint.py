"""Prefix fingerprints, OpenAI cache options and the cache-buster lint."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import llmfinops
from llmfinops.policies import (
    CacheBusterWarning,
    CachePolicy,
    apply_openai_cache,
    configure_policies,
    find_cache_busters,
    lint_prefix,
    prefix_fingerprint,
    static_parts,
)
from llmfinops.testing import capture_records
from llmfinops.testing.anthropic import AnthropicMock, anthropic_client
from llmfinops.testing.google import GoogleMock, google_client
from llmfinops.testing.openai import OpenAIMock, openai_client


def caught(fn: Any) -> list[str]:
    """Run fn and return the CacheBusterWarning messages it emitted."""
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in ws if issubclass(w.category, CacheBusterWarning)]


class TestStaticParts:
    """What counts as the static prefix, per provider."""

    def test_openai_chat_leading_system_and_developer(self) -> None:
        """Leading system/developer messages and tools; stops at the first other role."""
        body = {
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [
                {"role": "system", "content": "a"},
                {"role": "developer", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "system", "content": "late"},
            ],
        }
        assert [loc for loc, _ in static_parts("openai", "chat.completions", body)] == [
            "tools",
            "messages[0]",
            "messages[1]",
        ]

    def test_openai_responses(self) -> None:
        """Responses: instructions and leading system/developer input items."""
        body = {
            "instructions": "be brief",
            "input": [{"role": "developer", "content": "x"}, {"role": "user", "content": "y"}],
        }
        assert [loc for loc, _ in static_parts("openai", "responses", body)] == ["instructions", "input[0]"]

    def test_google_wire(self) -> None:
        """Gemini: systemInstruction, tools and cachedContent."""
        body = {
            "systemInstruction": {"parts": [{"text": "s"}]},
            "cachedContent": "cachedContents/x",
            "contents": [],
        }
        assert [loc for loc, _ in static_parts("google", None, body)] == [
            "systemInstruction",
            "cachedContent",
        ]


class TestFingerprint:
    """A short stable hash of the cacheable prefix."""

    def test_stable_and_marker_blind(self) -> None:
        """Same prefix -> same hash, whatever the cache markers, key order or string/block form."""
        a = prefix_fingerprint(
            {"system": "rules", "tools": [{"name": "t", "input_schema": {"a": 1, "b": 2}}]},
            provider="anthropic",
        )
        b = prefix_fingerprint(
            {
                "tools": [
                    {"input_schema": {"b": 2, "a": 1}, "name": "t", "cache_control": {"type": "ephemeral"}}
                ],
                "system": [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}],
            },
            provider="anthropic",
        )
        assert a == b
        assert a is not None
        assert len(a) == 12
        assert prefix_fingerprint({"system": "rules!"}, provider="anthropic") != a

    def test_anthropic_cached_history_suffix(self) -> None:
        """The cached part of the history adds '.' + 8 hex; the uncached newest turn does not count."""
        msgs = [
            {"role": "user", "content": "q1"},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "a1", "cache_control": {"type": "ephemeral"}}],
            },
            {"role": "user", "content": "q2"},
        ]
        fp = prefix_fingerprint({"system": "rules", "messages": msgs}, provider="anthropic")
        other_turn = prefix_fingerprint(
            {"system": "rules", "messages": [*msgs[:2], {"role": "user", "content": "zz"}]},
            provider="anthropic",
        )
        static = prefix_fingerprint({"system": "rules", "messages": [msgs[2]]}, provider="anthropic")
        assert fp is not None
        assert static is not None
        assert fp == other_turn
        assert fp.split(".")[0] == static
        assert len(fp.split(".")[1]) == 8

    def test_no_prefix_no_fingerprint(self) -> None:
        """A request without system, tools or cached history has no fingerprint."""
        assert (
            prefix_fingerprint({"messages": [{"role": "user", "content": "hi"}]}, provider="openai") is None
        )

    def test_records_carry_it_by_default(self) -> None:
        """Every wrapped call's record has a fingerprint; configure_policies(fingerprint=False) drops it."""
        client = llmfinops.wrap(openai_client(OpenAIMock()))
        msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}]
        with capture_records() as recs:
            client.chat.completions.create(model="gpt-4o", messages=msgs)  # type: ignore[arg-type]
            configure_policies(fingerprint=False)
            client.chat.completions.create(model="gpt-4o", messages=msgs)  # type: ignore[arg-type]
        assert recs[0].prefix_fingerprint == prefix_fingerprint({"messages": msgs}, provider="openai")
        assert recs[1].prefix_fingerprint is None

    def test_google_records(self) -> None:
        """A Gemini call with a system instruction gets a fingerprint."""
        client = llmfinops.wrap(google_client(GoogleMock(prompt_tokens=10)))
        with capture_records() as recs:
            client.models.generate_content(
                model="gemini-2.5-flash", contents="hi", config={"system_instruction": "You are terse."}
            )
        assert recs[0].prefix_fingerprint is not None
        assert len(recs[0].prefix_fingerprint) == 12


class TestOpenAICacheOptions:
    """prompt_cache_key from the prefix hash; prompt_cache_options.ttl on GPT-5.6+ only."""

    def test_key_from_fingerprint(self) -> None:
        """Requests sharing a prefix share a key."""
        client = llmfinops.wrap(openai_client(mock := OpenAIMock()), cache="auto")
        sys_msg = {"role": "system", "content": "Long shared instructions."}
        client.chat.completions.create(model="gpt-4o", messages=[sys_msg, {"role": "user", "content": "a"}])
        client.chat.completions.create(model="gpt-4o", messages=[sys_msg, {"role": "user", "content": "b"}])
        fp = prefix_fingerprint({"messages": [sys_msg]}, provider="openai")
        assert (
            mock.requests[0]["prompt_cache_key"] == mock.requests[1]["prompt_cache_key"] == f"llmfinops-{fp}"
        )
        assert "prompt_cache_options" not in mock.requests[0]

    def test_callers_key_is_kept(self) -> None:
        """A caller's own prompt_cache_key is never overwritten."""
        client = llmfinops.wrap(openai_client(mock := OpenAIMock()), cache="auto")
        client.chat.completions.create(
            model="gpt-4o",
            prompt_cache_key="tenant-42",
            messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "a"}],
        )
        assert mock.requests[0]["prompt_cache_key"] == "tenant-42"

    def test_ttl_only_where_supported(self) -> None:
        """GPT-5.6+ gets prompt_cache_options.ttl and the write is priced at that TTL; older models do not."""
        pol = CachePolicy(prompt_cache_ttl="12h")
        client = llmfinops.wrap(openai_client(mock := OpenAIMock()), cache=pol)
        msgs = [{"role": "developer", "content": "rules"}, {"role": "user", "content": "a"}]
        with capture_records() as recs:
            client.responses.create(model="gpt-5.6-sol", input=msgs)  # type: ignore[arg-type]
            client.responses.create(model="gpt-5.5", input=msgs)  # type: ignore[arg-type]
        assert mock.requests[0]["prompt_cache_options"] == {"ttl": "12h"}
        assert "prompt_cache_options" not in mock.requests[1]
        assert recs[0].policy is not None
        assert "prompt_cache_options.ttl=12h" in recs[0].policy

    def test_callers_options_are_merged_not_replaced(self) -> None:
        """A caller's prompt_cache_options keeps its fields; one that has a ttl is left untouched."""
        new, _ = apply_openai_cache(
            {"model": "gpt-6-sol", "prompt_cache_options": {"mode": "implicit"}},
            policy=CachePolicy(prompt_cache_ttl="30m"),
            fingerprint=None,
        )
        assert new["prompt_cache_options"] == {"mode": "implicit", "ttl": "30m"}
        body = {"model": "gpt-6-sol", "prompt_cache_options": {"ttl": "12h"}}
        new, notes = apply_openai_cache(body, policy=CachePolicy(prompt_cache_ttl="30m"), fingerprint=None)
        assert new == body
        assert notes == []


class TestFindCacheBusters:
    """The pure scan."""

    @pytest.mark.parametrize(
        ("text", "kind", "certain"),
        [
            ("Current time: 2026-11-22T10:15:00Z", "timestamp", True),
            ("as of Mon, 22 Nov 2026 10:15:00 GMT", "timestamp", True),
            ("id 7f3a9c2e-1b4d-4e5f-9a8b-0c1d2e3f4a5b", "UUID", True),
            ("request_id=req_8fK2mQ9x", "request id", True),
            ("ts 1763806500", "epoch timestamp", True),
            ("nonce a3f9c2e1b4d74e5f9a8b", "hex nonce", True),
            ("at 10:15:07 today", "time of day", True),
            ("Today is 2026-11-22.", "date", False),
            ("Today is November 22, 2026.", "date", False),
            ("call #4711", "number (counter?)", False),
        ],
    )
    def test_kinds(self, text: str, kind: str, certain: bool) -> None:
        """Each family of per-request values is recognized with its confidence."""
        found = find_cache_busters(text)
        assert [(f.kind, f.certain) for f in found][:1] == [(kind, certain)]

    def test_words_are_not_flagged(self) -> None:
        """Plain prose, version tags and identifiers with digits inside are clean."""
        assert find_cache_busters("Use gpt4o and v2 of the API; be concise.") == []


class TestLint:
    """Warn once per prompt template, with the span and the fix."""

    def test_certain_buster_warns_once_per_template(self) -> None:
        """A UUID in the system prompt warns at first sight, then never again for that template."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(input_tokens=5)))

        def calls() -> None:
            for i in range(3):
                client.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=10,
                    system=f"Session id: 7f3a9c2e-1b4d-4e5f-9a8b-0c1d2e3f4a5{i}. Be kind.",
                    messages=[{"role": "user", "content": "hi"}],
                )

        msgs = caught(calls)
        assert len(msgs) == 1
        assert "(request id 'Session id: 7f3a9c2e-1b4d-4e5f-9a8b-0c1d2e3f4a50')" in msgs[0]
        assert "move it after the last cache breakpoint" in msgs[0]

    def test_varying_counter_warns_on_the_second_call(self) -> None:
        """A number that changes between calls of one template is reported as it changes."""
        client = llmfinops.wrap(openai_client(OpenAIMock()))

        def call(n: int) -> None:
            client.chat.completions.create(
                model="gpt-4o",
                messages=[
                    {"role": "system", "content": f"You are agent. This is conversation number {n} today."},
                    {"role": "user", "content": "hi"},
                ],
            )

        assert caught(lambda: call(41)) == []
        msgs = caught(lambda: call(42))
        assert len(msgs) == 1
        assert (
            "changed between calls in a value that looks like a number (counter?) ('41' -> '42')" in msgs[0]
        )
        assert "move it into the user message at the end of the prompt" in msgs[0]

    def test_static_numbers_and_dates_stay_quiet(self) -> None:
        """Numbers and dates that do not change are not cache busters."""
        system = "Refunds within 30 days. Policy updated 2024-01-15. Hours 9:00 to 17:00."
        body = {"system": system, "messages": []}
        assert caught(lambda: [lint_prefix(body, provider="anthropic") for _ in range(3)]) == []

    def test_history_is_not_linted(self) -> None:
        """Values in the conversation history do not bust the cache (it is append-only)."""
        body = {"system": "static", "messages": [{"role": "user", "content": "at 2026-11-22T10:15:00Z"}]}
        assert caught(lambda: lint_prefix(body, provider="anthropic")) == []

    def test_lint_can_be_switched_off(self) -> None:
        """configure_policies(lint=False) silences it."""
        configure_policies(lint=False)
        client = llmfinops.wrap(anthropic_client(AnthropicMock(input_tokens=5)))
        assert (
            caught(
                lambda: client.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=10,
                    system="Now: 2026-11-22T10:15:00Z",
                    messages=[{"role": "user", "content": "hi"}],
                )
            )
            == []
        )

    def test_tool_descriptions_are_linted(self) -> None:
        """A timestamp inside a tool definition is inside the cached prefix too."""
        body = {
            "tools": [
                {
                    "name": "search",
                    "description": "Index built 2026-11-22T03:00:00Z",
                    "input_schema": {"type": "object"},
                }
            ],
            "messages": [],
        }
        msgs = caught(lambda: lint_prefix(body, provider="anthropic"))
        assert len(msgs) == 1
        assert "at tools" in msgs[0]


# -- the hook's one-pass test: True must promise what the full checks would find -------------------
def _bodies() -> list[tuple[str, str, dict[str, Any]]]:
    from itertools import product

    text = {"role": "user", "content": "hi"}
    marked = {"type": "text", "text": "ctx", "cache_control": {"type": "ephemeral"}}
    plain_block = {"type": "text", "text": "ctx"}
    contents: list[Any] = ["hi", [plain_block], [marked], [], None]
    out: list[tuple[str, str, dict[str, Any]]] = []
    for tools, system, top_cc, content in product(
        (None, [], [{"name": "t"}]), (None, "", "Be brief.", [plain_block]), (False, True), contents
    ):
        body: dict[str, Any] = {"model": "m", "messages": [text, {"role": "user", "content": content}]}
        if tools is not None:
            body["tools"] = tools
        if system is not None:
            body["system"] = system
        if top_cc:
            body["cache_control"] = {"type": "ephemeral"}
        out.append(("anthropic", "messages", body))
    for endpoint, key in (("chat.completions", "messages"), ("responses", "input")):
        for tools, instructions, items in product(
            (None, [], [{"type": "function"}]),
            (None, "", "Be brief."),
            (
                None,
                "hi",
                [],
                [text],
                [{"role": "system", "content": "s"}, text],
                [{"role": "developer", "content": "d"}],
            ),
        ):
            body = {"model": "m"}
            for k, v in (("tools", tools), ("instructions", instructions), (key, items)):
                if v is not None:
                    body[k] = v
            out.append(("openai", endpoint, body))
    for extra in (
        {},
        {"systemInstruction": {"parts": []}},
        {"tools": []},
        {"cachedContent": "c"},
        {"config": {}},
    ):
        out.append(("google", "generate_content", {"contents": [{"parts": [{"text": "hi"}]}], **extra}))
    return out


@pytest.mark.parametrize(("provider", "endpoint", "body"), _bodies())
def test_prefix_free_promises_no_static_parts_and_no_cached_history(
    provider: str, endpoint: str, body: dict[str, Any]
) -> None:
    from llmfinops.policies._prefix import history_end, prefix_free, static_parts

    if prefix_free(provider, endpoint, body):
        assert static_parts(provider, endpoint, body) == []
        if provider == "anthropic":
            assert history_end(body) is None


def test_prefix_free_says_yes_for_the_usual_requests() -> None:
    from llmfinops.policies._prefix import prefix_free

    msgs = [{"role": "user", "content": "What is the refund policy?"}]
    assert prefix_free("anthropic", "messages", {"model": "m", "max_tokens": 5, "messages": msgs})
    assert prefix_free("openai", "chat.completions", {"model": "m", "messages": msgs})
    assert prefix_free("openai", "responses", {"model": "m", "input": "hi"})
    assert prefix_free("google", "generate_content", {"contents": [{"parts": [{"text": "hi"}]}]})
    assert not prefix_free("anthropic", "messages", {"system": "s", "messages": msgs})
    assert not prefix_free("openai", "chat.completions", {"messages": [{"role": "system", "content": "s"}]})
