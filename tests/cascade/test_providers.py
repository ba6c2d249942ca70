"""Provider-neutral input translated to each SDK, answers read back, cross-provider cascades, the judge."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google.genai import errors as genai_errors

import llmfinops
from llmfinops.cascade import (
    Step,
    cascade,
    content_filtered,
    context_window_exceeded,
    judge,
    no_refusal,
    on_error,
    on_status,
    rate_limited,
    token_confidence,
)
from llmfinops.cascade._providers import build_request, read_reply
from llmfinops.exceptions import ConfigurationError
from llmfinops.testing import capture_records
from llmfinops.testing._sse import json_response
from llmfinops.testing.anthropic import AnthropicMock, anthropic_client, async_anthropic_client
from llmfinops.testing.google import GoogleMock, generate_content_response, google_client
from llmfinops.testing.openai import OpenAIMock, chat_completion, openai_client

MSGS = (
    {"role": "system", "content": "You are Acme support."},
    {"role": "user", "content": "Refund time?"},
    {"role": "assistant", "content": "For which order?"},
    {"role": "user", "content": "Order 42."},
)
HAIKU_COST = Decimal("0.0002")  # claude-haiku-5-5: 1000 x $0.10 + 200 x $0.50 per MTok
FLASH_COST = Decimal("0.0015")  # gemini-3.8-flash (until 2027-01-01): 1000 x $0.75 + 200 x $3.75 per MTok


def gemini_body(text: str, logprobs: list[float] | None = None, finish: str = "STOP") -> dict[str, Any]:
    body = generate_content_response(
        text=text,
        model_version="gemini-3.8-flash",
        prompt_tokens=1000,
        candidates_tokens=200,
        finish_reason=finish,
    )
    if logprobs is not None:
        body["candidates"][0]["logprobsResult"] = {
            "chosenCandidates": [{"token": f"t{i}", "logProbability": lp} for i, lp in enumerate(logprobs)]
        }
    return body


class TestBuildRequest:
    def test_openai_chat(self):
        """OpenAI Chat keeps the roles; logprobs on request."""
        kw = build_request("openai", "chat", "gpt-6-luna", MSGS, {"temperature": 0}, want_logprobs=True)
        assert kw == {
            "temperature": 0,
            "model": "gpt-6-luna",
            "messages": [dict(m) for m in MSGS],
            "logprobs": True,
        }

    def test_openai_responses(self):
        """Responses gets input= and the logprobs include."""
        kw = build_request(
            "openai",
            "responses",
            "gpt-6-luna",
            MSGS,
            {"include": ["reasoning.encrypted_content"]},
            want_logprobs=True,
        )
        assert kw["input"] == [dict(m) for m in MSGS]
        assert kw["include"] == ["reasoning.encrypted_content", "message.output_text.logprobs"]

    def test_anthropic(self):
        """Anthropic: system extracted (joined with a params system), max_tokens defaulted, no logprobs."""
        kw = build_request(
            "anthropic", "messages", "claude-haiku-5-5", MSGS, {"system": "Policy v2."}, want_logprobs=True
        )
        assert kw == {
            "system": "Policy v2.\n\nYou are Acme support.",
            "max_tokens": 1024,
            "model": "claude-haiku-5-5",
            "messages": [dict(m) for m in MSGS[1:]],
        }
        assert (
            build_request("anthropic", "messages", "m", MSGS[1:2], {"max_tokens": 300}, want_logprobs=False)[
                "max_tokens"
            ]
            == 300
        )

    def test_google(self):
        """Google: contents with model role, system_instruction and params in config."""
        kw = build_request(
            "google",
            "generate",
            "gemini-3.8-flash",
            MSGS,
            {"temperature": 0, "config": {"max_output_tokens": 256}},
            want_logprobs=True,
        )
        assert kw == {
            "model": "gemini-3.8-flash",
            "contents": [
                {"role": "user", "parts": [{"text": "Refund time?"}]},
                {"role": "model", "parts": [{"text": "For which order?"}]},
                {"role": "user", "parts": [{"text": "Order 42."}]},
            ],
            "config": {
                "max_output_tokens": 256,
                "temperature": 0,
                "system_instruction": "You are Acme support.",
                "response_logprobs": True,
            },
        }


class TestReadReply:
    def test_openai_refusal_and_finish(self):
        """OpenAI refusals and finish reasons are read."""
        r = read_reply(
            "openai",
            "chat",
            {
                "choices": [
                    {
                        "message": {"content": None, "refusal": "I can't"},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ]
            },
        )
        assert (r.text, r.refusal, r.logprobs) == ("", "I can't", None)

    def test_responses(self):
        """Responses output_text parts and their logprobs; incomplete maps to length."""
        resp = {
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "output": [
                {"type": "reasoning"},
                {
                    "type": "message",
                    "content": [
                        {"type": "output_text", "text": "Hi ", "logprobs": [{"logprob": -0.1}]},
                        {"type": "output_text", "text": "there", "logprobs": [{"logprob": -0.2}]},
                    ],
                },
            ],
        }
        r = read_reply("openai", "responses", resp)
        assert (r.text, r.logprobs, r.finish_reason) == ("Hi there", (-0.1, -0.2), "length")

    def test_anthropic(self):
        """Anthropic text blocks are joined, thinking skipped, stop reasons normalized."""
        resp = {
            "content": [
                {"type": "thinking", "thinking": "hmm"},
                {"type": "text", "text": "A"},
                {"type": "text", "text": "B"},
            ],
            "stop_reason": "refusal",
        }
        r = read_reply("anthropic", "messages", resp)
        assert (r.text, r.finish_reason, r.logprobs) == ("AB", "refusal", None)

    def test_google_blocked_and_thoughts(self):
        """Google: thoughts excluded, SAFETY is content_filter, a blocked prompt has no candidates."""
        resp = {
            "candidates": [
                {
                    "content": {"parts": [{"text": "plan", "thought": True}, {"text": "answer"}]},
                    "finish_reason": "SAFETY",
                }
            ]
        }
        r = read_reply("google", "generate", resp)
        assert (r.text, r.finish_reason) == ("answer", "content_filter")
        blocked = read_reply(
            "google", "generate", {"candidates": [], "prompt_feedback": {"block_reason": "SAFETY"}}
        )
        assert (blocked.text, blocked.finish_reason) == ("", "content_filter")


class TestAnthropicSteps:
    def test_anthropic_step_priced_and_recorded(self):
        """An Anthropic hop: system extracted, max_tokens sent, cost from the record."""
        mock = AnthropicMock(content="Refunds take 5-7 business days.", input_tokens=1000, output_tokens=200)
        client = llmfinops.wrap(anthropic_client(mock))
        with capture_records() as recs:
            r = cascade([Step(client, "claude-haiku-5-5")]).run("Refund time?", system="Be brief.")
        assert (r.text, r.provider, r.cost_usd) == (
            "Refunds take 5-7 business days.",
            "anthropic",
            HAIKU_COST,
        )
        assert (mock.requests[0]["system"], mock.requests[0]["max_tokens"]) == ("Be brief.", 1024)
        assert [(x.provider, x.cascade_outcome) for x in recs] == [("anthropic", "accepted")]

    def test_no_logprobs_resolved_by_cascade_on_unknown(self):
        """token_confidence on Anthropic is unknown: escalate by default, accept if configured."""
        mock = AnthropicMock(content="5-7 days.", input_tokens=1000, output_tokens=200)
        client = llmfinops.wrap(anthropic_client(mock))
        steps = [Step(client, "claude-haiku-5-5"), Step(client, "claude-sonnet-5-5")]
        r = cascade(steps, accept=token_confidence(0.5), exhausted="last").run("q")
        assert [h.outcome for h in r.hops] == ["escalated", "escalated"]
        assert r.hops[0].score is not None
        assert r.hops[0].score.reason.endswith("(on_unknown='escalate')")
        r2 = cascade(steps, accept=token_confidence(0.5), on_unknown="accept").run("q")
        assert [h.outcome for h in r2.hops] == ["accepted"]

    def test_anthropic_rate_limit_escalates(self):
        """rate_limited recognises Anthropic's 429."""
        client = llmfinops.wrap(anthropic_client(AnthropicMock(error_status=429), max_retries=0))
        ok = llmfinops.wrap(openai_client(OpenAIMock(content="fine")))
        r = cascade([Step(client, "claude-haiku-5-5"), Step(ok, "gpt-6-luna")], escalate_on=rate_limited).run(
            "q"
        )
        assert isinstance(r.hops[0].error, anthropic.RateLimitError)
        assert r.name == "openai:gpt-6-luna"

    async def test_async_anthropic(self):
        """arun awaits AsyncAnthropic."""
        mock = AnthropicMock(content="Yes.", input_tokens=1000, output_tokens=200)
        client = llmfinops.wrap(async_anthropic_client(mock))
        r = await cascade([Step(client, "claude-haiku-5-5")]).arun("q")
        assert (r.text, r.cost_usd) == ("Yes.", HAIKU_COST)


class TestGoogleSteps:
    def test_gemini_logprobs_requested_and_scored(self):
        """A Gemini hop asks for response_logprobs and is scored on them."""
        gm = GoogleMock(script=[gemini_body("Refunds take 5-7 business days.", [-0.01, -0.02, -0.9])])
        client = llmfinops.wrap(google_client(gm))
        with capture_records() as recs:
            r = cascade([Step(client, "gemini-3.8-flash")], accept=token_confidence(0.3)).run("q", system="S")
        assert gm.requests[0]["generationConfig"] == {"responseLogprobs": True}
        assert gm.requests[0]["systemInstruction"]["parts"] == [{"text": "S"}]
        assert r.score is not None
        assert r.score.value == pytest.approx(0.52130, abs=1e-5)  # 0.4066 + 0.2 x (0.9802 - 0.4066)
        assert (r.cost_usd, [x.cascade_outcome for x in recs]) == (FLASH_COST, ["accepted"])

    def test_gemini_safety_block_escalates_to_claude(self):
        """A SAFETY-finished Gemini answer is rejected by no_refusal; Claude answers; both costs count."""
        gm = GoogleMock(script=[gemini_body("", finish="SAFETY")])
        g = llmfinops.wrap(google_client(gm))
        a = llmfinops.wrap(
            anthropic_client(AnthropicMock(content="Here is how.", input_tokens=1000, output_tokens=200))
        )
        with capture_records() as recs:
            r = cascade([Step(g, "gemini-3.8-flash"), Step(a, "claude-haiku-5-5")], accept=no_refusal()).run(
                "q"
            )
        assert (r.text, r.step) == ("Here is how.", 1)
        assert r.hops[0].score is not None
        assert r.hops[0].score.reason == "no_refusal: finish_reason=content_filter"
        assert r.cost_usd == FLASH_COST + HAIKU_COST
        assert [(x.provider, x.cascade_step, x.cascade_outcome) for x in recs] == [
            ("google", 0, "escalated"),
            ("anthropic", 1, "accepted"),
        ]

    async def test_gemini_async_via_aio(self):
        """arun uses client.aio for Google."""
        gm = GoogleMock(script=[gemini_body("ok")])
        client = llmfinops.wrap(google_client(gm))
        r = await cascade([Step(client, "gemini-3.8-flash")]).arun("q")
        assert (r.text, r.cost_usd) == ("ok", FLASH_COST)

    def test_google_rate_limit(self):
        """rate_limited recognises Google's RESOURCE_EXHAUSTED."""
        g = llmfinops.wrap(google_client(GoogleMock(error_status=429)))
        ok = llmfinops.wrap(openai_client(OpenAIMock(content="fine")))
        r = cascade([Step(g, "gemini-3.8-flash"), Step(ok, "gpt-6-luna")], escalate_on=rate_limited).run("q")
        assert isinstance(r.hops[0].error, genai_errors.ClientError)
        assert r.text == "fine"


def _openai_error(status: int, code: str | None, message: str) -> openai.APIStatusError:
    client = openai_client(
        lambda req: json_response(
            status, {"error": {"message": message, "type": "x", "param": None, "code": code}}
        ),
        max_retries=0,
    )
    try:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    except openai.APIStatusError as exc:
        return exc
    raise AssertionError("no error")


class TestErrorConditions:
    def test_context_window(self):
        """OpenAI context_length_exceeded and Anthropic 'prompt is too long' are recognised."""
        assert context_window_exceeded(_openai_error(400, "context_length_exceeded", "too long"))
        req = httpx2.Request("POST", "https://api.anthropic.test/v1/messages")
        body = {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: 210000 tokens > 200000 maximum",
            },
        }
        exc = anthropic.BadRequestError(
            "prompt is too long: 210000 tokens > 200000 maximum",
            response=httpx2.Response(400, request=req),
            body=body,
        )
        assert context_window_exceeded(exc)
        assert not context_window_exceeded(_openai_error(400, None, "bad temperature"))

    def test_content_filter_and_status(self):
        """Content-filter codes and plain statuses are recognised; & and | compose."""
        assert content_filtered(_openai_error(400, "content_filter", "filtered"))
        err529 = _openai_error(529, None, "overloaded")
        assert on_status(529)(err529)
        assert (on_status(529) & on_error(openai.APIStatusError))(err529)
        assert not (on_status(529) & on_error(KeyError))(err529)
        assert (rate_limited | on_status(529))(err529)
        assert rate_limited(_openai_error(429, "insufficient_quota", "quota"))


class TestJudge:
    def test_judge_cost_is_a_hop_cost(self):
        """The judge grades the cheap answer through a wrapped client; its record and cost join the hop."""

        def handler(request: Any) -> Any:
            import json

            body = json.loads(request.content)
            is_judge = "grade answers" in body["messages"][0]["content"]
            text = "3" if is_judge else "Refunds take 5-7 business days."
            return json_response(
                200,
                chat_completion(model=body["model"], content=text, prompt_tokens=1000, completion_tokens=200),
            )

        client = llmfinops.wrap(openai_client(handler))
        grader = judge(client, "gpt-6-luna", threshold=7)
        bot = cascade(
            [Step(client, "gpt-6-luna"), Step(client, "gpt-6.1-sol")],
            accept=no_refusal() & grader,
            exhausted="last",
        )
        with capture_records() as recs:
            r = bot.run("How long do refunds take?")
        assert [(x.model, x.cascade_step, x.tags.get("cascade_role"), x.cascade_outcome) for x in recs] == [
            ("gpt-6-luna", 0, None, "escalated"),
            ("gpt-6-luna", 0, "judge", "escalated"),
            ("gpt-6.1-sol", 1, None, "escalated"),
            ("gpt-6-luna", 1, "judge", "escalated"),
        ]
        assert [h.cost_usd for h in r.hops] == [Decimal("0.0004"), Decimal("0.0042")]
        assert r.cost_usd == Decimal("0.0046")
        assert r.hops[0].score is not None
        assert (r.hops[0].score.value, r.hops[0].score.reason) == (
            0.3,
            "judge openai:gpt-6-luna: grade 3 < 7",
        )

    def test_judge_prompt_and_parse(self):
        """The prompt carries question and answer; a reply without a grade is unknown."""
        mock = OpenAIMock(content="I cannot grade this.")
        grader = judge(
            llmfinops.wrap(openai_client(mock)), "gpt-6-luna", prompt="Q={query} A={answer} {json}"
        )
        from llmfinops.cascade import Answer

        s = grader.score(Answer(text="yes", query="is it?"))
        assert s.accepted is None
        assert mock.requests[0]["messages"] == [{"role": "user", "content": "Q=is it? A=yes {json}"}]

    def test_judge_config_errors(self):
        """Unwrapped clients, bad thresholds and prompts without {answer} are refused."""
        with pytest.raises(ConfigurationError, match="not wrapped"):
            judge(openai_client(), "gpt-6-luna")
        client = llmfinops.wrap(openai_client())
        with pytest.raises(ConfigurationError, match="threshold=11"):
            judge(client, "gpt-6-luna", threshold=11)
        with pytest.raises(ConfigurationError, match="must contain"):
            judge(client, "gpt-6-luna", prompt="grade {query}")

    def test_judge_cannot_run_offline(self):
        """A judge is flagged as making calls (offline replay refuses it)."""
        assert judge(llmfinops.wrap(openai_client()), "gpt-6-luna").makes_calls is True
