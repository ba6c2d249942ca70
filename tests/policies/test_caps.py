"""Output caps and input limits: pure functions, and applied by wrap() through the real SDKs."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

import llmfinops
from llmfinops.policies import InputTooLarge, OutputCap, cap_output_tokens, check_input_tokens, policy
from llmfinops.testing import capture_records
from llmfinops.testing.anthropic import AnthropicMock, anthropic_client
from llmfinops.testing.google import GoogleMock, google_client
from llmfinops.testing.openai import OpenAIMock, openai_client
from llmfinops.tokens import estimate_prompt_tokens, estimator_method

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


class TestCapOpenAI:
    """OpenAI: max_completion_tokens (Chat), max_output_tokens (Responses), none for embeddings."""

    def test_chat_injects_max_completion_tokens(self) -> None:
        """No cap given: max_completion_tokens is added (max_tokens is rejected by reasoning models)."""
        new, what = cap_output_tokens(CHAT, 256, provider="openai", endpoint="chat.completions")
        assert new == {**CHAT, "max_completion_tokens": 256}
        assert what == OutputCap("max_completion_tokens", None, 256, "injected")
        assert "max_completion_tokens" not in CHAT

    def test_chat_clamps_max_completion_tokens(self) -> None:
        """A larger max_completion_tokens is lowered; a smaller one is kept."""
        new, what = cap_output_tokens({**CHAT, "max_completion_tokens": 4000}, 256, provider="openai")
        assert (new["max_completion_tokens"], what.action, what.requested) == (256, "clamped", 4000)
        new, what = cap_output_tokens({**CHAT, "max_completion_tokens": 100}, 256, provider="openai")
        assert (new["max_completion_tokens"], what.action) == (100, "kept")

    def test_chat_deprecated_max_tokens_is_clamped_not_doubled(self) -> None:
        """A caller's max_tokens is clamped in place; max_completion_tokens is not added."""
        new, what = cap_output_tokens({**CHAT, "max_tokens": 4000}, 256, provider="openai")
        assert new == {**CHAT, "max_tokens": 256}
        assert what.describe() == "max_output_tokens: max_tokens 4000->256 (clamped)"

    def test_responses(self) -> None:
        """Responses uses max_output_tokens."""
        body = {"model": "gpt-5.5", "input": "hi", "max_output_tokens": 9000}
        new, what = cap_output_tokens(body, 1000, provider="openai", endpoint="responses")
        assert new["max_output_tokens"] == 1000
        assert what.field == "max_output_tokens"

    def test_legacy_completions(self) -> None:
        """Legacy completions use max_tokens."""
        new, _ = cap_output_tokens(
            {"model": "gpt-3.5-turbo-instruct", "prompt": "x"}, 50, provider="openai", endpoint="completions"
        )
        assert new["max_tokens"] == 50

    def test_embeddings_are_never_capped(self) -> None:
        """Embeddings have no output: the body is unchanged."""
        body = {"model": "text-embedding-3-small", "input": ["a"]}
        new, what = cap_output_tokens(body, 50, provider="openai", endpoint="embeddings")
        assert new == body
        assert what.field is None
        assert what.describe() == "max_output_tokens: not applicable"


class TestCapAnthropic:
    """Anthropic: max_tokens; pre-warms stay 0; thinking budgets fit under the cap."""

    def test_clamp(self) -> None:
        """max_tokens is clamped."""
        new, what = cap_output_tokens(
            {"model": "claude-sonnet-4-6", "max_tokens": 8192}, 1024, provider="anthropic"
        )
        assert (new["max_tokens"], what.action) == (1024, "clamped")

    def test_prewarm_stays_zero(self) -> None:
        """max_tokens=0 populates the cache without generating: it is never raised."""
        body = {"model": "claude-sonnet-4-6", "max_tokens": 0}
        new, what = cap_output_tokens(body, 1024, provider="anthropic")
        assert new["max_tokens"] == 0
        assert what.describe() == "max_output_tokens: max_tokens=0 kept (cache pre-warm)"

    def test_thinking_budget_lowered_to_fit(self) -> None:
        """thinking.budget_tokens must stay below max_tokens: it is lowered, the caller's dict untouched."""
        thinking = {"type": "enabled", "budget_tokens": 10_000}
        body = {"model": "claude-sonnet-4-6", "max_tokens": 16_000, "thinking": thinking}
        new, what = cap_output_tokens(body, 4000, provider="anthropic")
        assert new["max_tokens"] == 4000
        assert new["thinking"] == {"type": "enabled", "budget_tokens": 3999}
        assert thinking == {"type": "enabled", "budget_tokens": 10_000}
        assert (
            what.describe()
            == "max_output_tokens: max_tokens 16000->4000 (clamped); thinking.budget_tokens 10000->3999"
        )

    def test_cap_below_minimum_thinking_budget_keeps_the_call_valid(self) -> None:
        """A cap under the 1,024 minimum thinking budget cannot hold: max_tokens becomes 1,025."""
        body = {
            "model": "claude-sonnet-4-6",
            "max_tokens": 16_000,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        }
        new, what = cap_output_tokens(body, 512, provider="anthropic")
        assert (new["max_tokens"], new["thinking"]["budget_tokens"]) == (1025, 1024)
        assert what.note is not None
        assert "max_tokens raised to 1025" in what.note

    def test_adaptive_thinking_untouched(self) -> None:
        """Adaptive thinking has no budget to fit."""
        body = {"model": "claude-opus-5", "max_tokens": 8000, "thinking": {"type": "adaptive"}}
        new, what = cap_output_tokens(body, 1000, provider="anthropic")
        assert new["thinking"] is body["thinking"]
        assert what.note is None


class TestCapGoogle:
    """Gemini: generationConfig.maxOutputTokens on the wire, config.max_output_tokens in SDK form."""

    def test_wire_form_injects(self) -> None:
        """A wire body without generationConfig gets one."""
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        new, what = cap_output_tokens(body, 300, provider="google")
        assert new["generationConfig"] == {"maxOutputTokens": 300}
        assert what.describe() == "max_output_tokens: generationConfig.maxOutputTokens=300 (injected)"

    def test_wire_form_clamps_without_touching_the_original(self) -> None:
        """An existing generationConfig is copied, not modified."""
        gc = {"temperature": 0.2, "maxOutputTokens": 8000}
        new, _ = cap_output_tokens({"contents": [], "generationConfig": gc}, 300, provider="google")
        assert new["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 300}
        assert gc["maxOutputTokens"] == 8000

    def test_sdk_form_with_a_config_object(self) -> None:
        """An SDK GenerateContentConfig is copied with the field changed."""
        from google.genai import types

        cfg = types.GenerateContentConfig(max_output_tokens=9000, temperature=0.1)
        new, what = cap_output_tokens(
            {"model": "gemini-2.5-flash", "contents": "hi", "config": cfg}, 200, provider="google"
        )
        assert new["config"].max_output_tokens == 200
        assert new["config"].temperature == 0.1
        assert cfg.max_output_tokens == 9000
        assert what.action == "clamped"


class TestInputLimit:
    """max_input_tokens refuses before anything is sent, with a message that explains itself."""

    def test_within_limit_returns_the_estimate(self) -> None:
        """Under the limit the estimate is returned."""
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "word " * 100}]}
        assert check_input_tokens(body, 1000, provider="openai") == estimate_prompt_tokens("openai", body)

    def test_refusal_message(self) -> None:
        """The error names the field, the estimate, the method, the limit, the scope and the fix."""
        body = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "word " * 2000}]}
        est = estimate_prompt_tokens("anthropic", body)
        with pytest.raises(InputTooLarge) as info:
            check_input_tokens(body, 500, provider="anthropic", scope="wrap(...)")
        err = info.value
        assert (err.estimate, err.limit, err.scope, err.model) == (est, 500, "wrap(...)", "claude-sonnet-4-6")
        assert err.method == estimator_method() + " x1.20 margin for non-OpenAI tokenizers"
        msg = str(err)
        assert msg.startswith(
            f"max_input_tokens: the anthropic request to model 'claude-sonnet-4-6' has an "
            f"estimated {est:,} prompt tokens"
        )
        assert "above the limit of 500 set by wrap(...); nothing was sent" in msg
        assert msg.endswith(
            f"Shorten the prompt (trim history or retrieved context) or raise the limit, e.g. "
            f"`with llmfinops.policy(max_input_tokens={-(-est // 1000) * 1000})`."
        )
        assert isinstance(err, llmfinops.LLMFinOpsError)


class TestWrappedOpenAI:
    """Caps through a wrapped openai.OpenAI over a mock transport."""

    def test_cap_injected_and_recorded(self) -> None:
        """The request carries max_completion_tokens; the record says what was applied."""
        mock = OpenAIMock()
        client = llmfinops.wrap(openai_client(mock), max_output_tokens=256)
        messages = [{"role": "user", "content": "hi"}]
        with capture_records() as recs:
            client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
        assert mock.requests[0]["max_completion_tokens"] == 256
        assert "max_tokens" not in mock.requests[0]
        assert recs[0].request_max_tokens == 256
        assert recs[0].policy == "max_output_tokens: max_completion_tokens=256 (injected)"
        assert messages == [{"role": "user", "content": "hi"}]

    def test_scope_overrides_client(self) -> None:
        """A policy scope beats the wrap() option, per model."""
        mock = OpenAIMock()
        client = llmfinops.wrap(openai_client(mock), max_output_tokens=1000)
        with policy(max_output_tokens={"gpt-4o": 64, "*": 2000}):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "a"}], max_tokens=500
            )
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "b"}])
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "c"}])
        assert mock.requests[0]["max_tokens"] == 64
        assert "max_completion_tokens" not in mock.requests[0]
        assert mock.requests[1]["max_completion_tokens"] == 2000
        assert mock.requests[2]["max_completion_tokens"] == 1000

    def test_global_default(self) -> None:
        """configure_policies applies to clients wrapped without options."""
        from llmfinops.policies import configure_policies

        configure_policies(max_output_tokens=77)
        mock = OpenAIMock()
        client = llmfinops.wrap(openai_client(mock))
        client.responses.create(model="gpt-5.5", input="hi")
        assert mock.requests[0]["max_output_tokens"] == 77

    def test_embeddings_untouched(self) -> None:
        """Embedding requests get neither a cap nor an input check."""
        mock = OpenAIMock()
        client = llmfinops.wrap(openai_client(mock), max_output_tokens=10, max_input_tokens=1)
        with capture_records() as recs:
            client.embeddings.create(model="text-embedding-3-small", input=["some text " * 50])
        assert set(mock.requests[0]) == {"model", "input", "encoding_format"}
        assert recs[0].policy is None

    def test_input_refused_before_sending(self) -> None:
        """An oversized prompt raises InputTooLarge; no HTTP request, no record."""
        mock = OpenAIMock()
        client = llmfinops.wrap(openai_client(mock), max_input_tokens=100)
        with capture_records() as recs, pytest.raises(InputTooLarge, match=r"set by wrap\(\.\.\.\)"):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "word " * 500}]
            )
        assert mock.requests == []
        assert recs == []

    def test_input_scope_names_the_model_key(self) -> None:
        """A per-model scope limit names the scope and the matching key."""
        client = llmfinops.wrap(openai_client(OpenAIMock()))
        with policy(max_input_tokens={"gpt-4*": 50}), pytest.raises(InputTooLarge) as info:
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "word " * 100}]
            )
        assert info.value.scope == "llmfinops.policy(...) scope for model 'gpt-4o' (key 'gpt-4*')"

    def test_input_within_limit_is_recorded(self) -> None:
        """A prompt whose length alone proves it within the limit skips the BPE pass; the record says so."""
        client = llmfinops.wrap(openai_client(OpenAIMock()), max_input_tokens=5000)
        with capture_records() as recs:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
        assert recs[0].policy is not None
        assert re.fullmatch(r"max_input_tokens: ok \(<= \d+ by length, limit 5000\)", recs[0].policy)

    def test_near_the_limit_the_estimator_decides(self) -> None:
        """When the length bound is above the limit, the real estimate is used (and may pass)."""
        body_text = "word " * 600  # ~600 BPE tokens, 3,000+ characters
        client = llmfinops.wrap(openai_client(mock := OpenAIMock()), max_input_tokens=1000)
        with capture_records() as recs:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": body_text}])
        assert len(mock.requests) == 1
        est = estimate_prompt_tokens(
            "openai", {"model": "gpt-4o", "messages": [{"role": "user", "content": body_text}]}
        )
        assert recs[0].policy == f"max_input_tokens: ok (~{est} estimated, limit 1000)"

    @pytest.mark.parametrize(
        "body",
        [
            {
                "model": "claude-sonnet-4-6",
                "system": "Règles: soyez bref. " * 50,
                "messages": [{"role": "user", "content": "日本語のテキスト " * 40}],
            },
            {
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "x" * 3000},
                    {"role": "user", "content": "🙂" * 500},
                ],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            },
            {
                "contents": [{"role": "user", "parts": [{"text": "a b c " * 200}]}],
                "systemInstruction": {"parts": [{"text": "sys"}]},
            },
        ],
    )
    def test_length_bound_is_an_upper_bound(self, body: dict[str, Any]) -> None:
        """The cheap bound is never below the estimator's count, for any provider and script."""
        from llmfinops.policies._hook import _length_bound

        bound = _length_bound(body)
        assert bound is not None
        for provider in ("openai", "anthropic", "google"):
            assert bound >= estimate_prompt_tokens(provider, body)


class TestWrappedAnthropic:
    """Caps through a wrapped anthropic.Anthropic."""

    def test_clamp_and_prewarm(self) -> None:
        """max_tokens is clamped; a max_tokens=0 pre-warm stays 0 and is recorded as such."""
        mock = AnthropicMock(input_tokens=10, output_tokens=5)
        client = llmfinops.wrap(anthropic_client(mock), max_output_tokens=300)
        msgs = [{"role": "user", "content": "hi"}]
        with capture_records() as recs:
            client.messages.create(model="claude-sonnet-4-6", max_tokens=4096, messages=msgs)  # type: ignore[arg-type]
            client.messages.create(model="claude-sonnet-4-6", max_tokens=0, messages=msgs)  # type: ignore[arg-type]
        assert [r["max_tokens"] for r in mock.requests] == [300, 0]
        assert [r.request_max_tokens for r in recs] == [300, 0]
        assert recs[1].policy == "max_output_tokens: max_tokens=0 kept (cache pre-warm)"

    def test_callers_objects_are_not_mutated(self) -> None:
        """cache="auto" + caps never modify the caller's lists and dicts."""
        mock = AnthropicMock(input_tokens=10, output_tokens=5)
        client = llmfinops.wrap(anthropic_client(mock), cache="auto", max_output_tokens=100)
        system: list[dict[str, Any]] = [{"type": "text", "text": "Rules. " * 3000}]
        msgs: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "text", "text": "q1"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "a1"}]},
            {"role": "user", "content": "q2"},
        ]
        thinking = {"type": "enabled", "budget_tokens": 2000}
        before = copy.deepcopy((system, msgs, thinking))
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=5000,
            system=system,  # type: ignore[arg-type]
            messages=msgs,
            thinking=thinking,
        )  # type: ignore[arg-type]
        assert (system, msgs, thinking) == before
        sent = mock.requests[0]
        assert sent["max_tokens"] == 1025
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert sent["messages"][1]["content"][0]["cache_control"] == {"type": "ephemeral"}


class TestWrappedGoogle:
    """Caps through a wrapped google.genai.Client (wire body: generationConfig.maxOutputTokens)."""

    def test_cap_on_every_request_of_the_call(self) -> None:
        """The cap is sent as generationConfig.maxOutputTokens and recorded."""
        mock = GoogleMock(prompt_tokens=20, candidates_tokens=5)
        client = llmfinops.wrap(google_client(mock), max_output_tokens=128)
        with capture_records() as recs:
            client.models.generate_content(
                model="gemini-2.5-flash",
                contents="hi",
                config={"max_output_tokens": 4096, "temperature": 0.3},
            )
        assert mock.requests[0]["generationConfig"]["maxOutputTokens"] == 128
        assert mock.requests[0]["generationConfig"]["temperature"] == 0.3
        assert recs[0].request_max_tokens == 128
        assert recs[0].policy == "max_output_tokens: generationConfig.maxOutputTokens 4096->128 (clamped)"

    def test_input_refused(self) -> None:
        """A Gemini prompt over the limit is refused before sending."""
        mock = GoogleMock()
        client = llmfinops.wrap(google_client(mock), max_input_tokens=20)
        with pytest.raises(InputTooLarge, match=r"the google request to model 'gemini-2\.5-flash'"):
            client.models.generate_content(model="gemini-2.5-flash", contents="word " * 200)
        assert mock.requests == []


class TestAsyncAndStreams:
    """Policies apply the same way on async clients and streamed calls."""

    async def test_async_anthropic(self) -> None:
        """AsyncAnthropic: the cap and the cache breakpoint are in the sent request."""
        from llmfinops.testing.anthropic import async_anthropic_client

        mock = AnthropicMock(input_tokens=10, output_tokens=5)
        client = llmfinops.wrap(async_anthropic_client(mock), cache="auto", max_output_tokens=200)
        with capture_records() as recs:
            await client.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=4096,
                system="Rules. " * 3000,
                messages=[{"role": "user", "content": "hi"}],
            )
        assert mock.requests[0]["max_tokens"] == 200
        assert mock.requests[0]["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert (
            recs[0].policy
            == "max_output_tokens: max_tokens 4096->200 (clamped); cache=auto: +1 breakpoint (system[0] 5m)"
        )

    def test_anthropic_stream_helper(self) -> None:
        """messages.stream(...) goes through the same hook: capped and cached."""
        mock = AnthropicMock(input_tokens=10, output_tokens=5)
        client = llmfinops.wrap(anthropic_client(mock), cache="auto", max_output_tokens=64)
        with (
            capture_records() as recs,
            client.messages.stream(
                model="claude-sonnet-4-6",
                max_tokens=1000,
                system="Rules. " * 3000,
                messages=[{"role": "user", "content": "hi"}],
            ) as stream,
        ):
            stream.get_final_message()
        assert mock.requests[0]["stream"] is True
        assert mock.requests[0]["max_tokens"] == 64
        assert mock.requests[0]["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert recs[0].request_max_tokens == 64
        assert recs[0].stream

    async def test_async_openai_stream(self) -> None:
        """AsyncOpenAI streamed chat: max_completion_tokens injected, include_usage kept by the adapter."""
        from llmfinops.testing.openai import async_openai_client

        mock = OpenAIMock()
        client = llmfinops.wrap(async_openai_client(mock), max_output_tokens=99)
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async for _ in stream:
            pass
        assert mock.requests[0]["max_completion_tokens"] == 99
        assert mock.requests[0]["stream_options"] == {"include_usage": True}


class TestNeverBreaksTheCall:
    """A failure inside the policies is warned once and the request goes out unchanged."""

    def test_internal_error_is_contained(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A bug in cache placement: InternalErrorWarning, and the call is sent as the caller wrote it."""
        from llmfinops.exceptions import InternalErrorWarning
        from llmfinops.policies import _hook

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise KeyError("boom")

        monkeypatch.setattr(_hook, "place_cache_breakpoints", broken)
        mock = AnthropicMock(input_tokens=10, output_tokens=5)
        client = llmfinops.wrap(anthropic_client(mock), cache="auto", max_output_tokens=100)
        with (
            capture_records() as recs,
            pytest.warns(InternalErrorWarning, match="internal error in policies"),
        ):
            msg = client.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=4096,
                system="Rules. " * 3000,
                messages=[{"role": "user", "content": "hi"}],
            )
        assert msg.usage.output_tokens == 5
        assert mock.requests[0]["max_tokens"] == 4096  # nothing half-applied
        assert mock.requests[0]["system"] == "Rules. " * 3000
        assert recs[0].policy is None

    def test_global_limit_names_its_scope(self) -> None:
        """A refusal by the global layer says where the limit was set."""
        from llmfinops.policies import configure_policies

        configure_policies(max_input_tokens=10)
        client = llmfinops.wrap(openai_client(OpenAIMock()))
        with pytest.raises(InputTooLarge) as info:
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "word " * 50}]
            )
        assert info.value.scope == "llmfinops.policies.configure_policies(...)"
