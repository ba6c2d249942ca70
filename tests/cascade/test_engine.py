"""The cascade engine: escalation, records, costs, errors, budgets, async."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import openai
import pytest

import llmfinops
from llmfinops import _recorder
from llmfinops.cascade import (
    AnswerRejected,
    CascadeExhausted,
    FunctionStep,
    Match,
    Step,
    cascade,
    no_refusal,
    rate_limited,
    token_confidence,
)
from llmfinops.exceptions import BudgetExceeded, ConfigurationError
from llmfinops.testing import capture_records
from llmfinops.testing.openai import OpenAIMock, async_openai_client, openai_client

LUNA = "gpt-6-luna"
SOL = "gpt-6.1-sol"
GOOD = "Refunds are issued within 5-7 business days after we receive the item."
HEDGE = "I'm not sure, but refunds probably take a few weeks."
LUNA_COST = Decimal("0.0002")  # 1000 in x $0.10 + 200 out x $0.50 per MTok
SOL_COST = Decimal("0.004")  # 1000 in x $2 + 200 out x $10 per MTok


def _budget_refusing(model: str) -> Any:
    def hook(state: _recorder.CallState) -> None:
        if state.model == model:
            raise BudgetExceeded(
                key="team:support",
                window="day:2026-11-20",
                limit=Decimal("1"),
                spent=Decimal("1"),
                reserved=Decimal(0),
                estimate=Decimal("0.004"),
            )

    return hook


class TestEscalation:
    def test_first_step_accepted(self, scripted):
        """A good cheap answer is kept: one hop, one record, the cheap cost."""
        handler, client = scripted({LUNA: (GOOD, None, 1000, 200), SOL: (GOOD, None, 1000, 200)})
        bot = cascade([Step(client, LUNA), Step(client, SOL)], name="support")
        with capture_records() as recs:
            r = bot.run("How long do refunds take?", system="You are Acme support.")
        assert (r.text, r.step, r.name, r.model, r.provider, r.accepted) == (
            GOOD,
            0,
            "openai:gpt-6-luna",
            LUNA,
            "openai",
            True,
        )
        assert r.cost_usd == LUNA_COST
        assert [h.outcome for h in r.hops] == ["accepted"]
        assert [b["model"] for b in handler.requests] == [LUNA]
        assert handler.requests[0]["messages"] == [
            {"role": "system", "content": "You are Acme support."},
            {"role": "user", "content": "How long do refunds take?"},
        ]
        assert [(x.cascade_id, x.cascade_step, x.cascade_outcome, x.tags["cascade"]) for x in recs] == [
            (r.cascade_id, 0, "accepted", "support")
        ]
        assert r.response.choices[0].message.content == GOOD

    def test_hedged_answer_escalates(self, scripted):
        """A hedge is rejected by the default scorer; the strong step answers; costs add up exactly."""
        _, client = scripted({LUNA: (HEDGE, None, 1000, 200), SOL: (GOOD, None, 1000, 200)})
        bot = cascade([Step(client, LUNA), Step(client, SOL)])
        with capture_records() as recs:
            r = bot.run("How long do refunds take?")
        assert (r.text, r.step) == (GOOD, 1)
        assert [(h.name, h.outcome, h.cost_usd) for h in r.hops] == [
            ("openai:gpt-6-luna", "escalated", LUNA_COST),
            ("openai:gpt-6.1-sol", "accepted", SOL_COST),
        ]
        assert r.cost_usd == LUNA_COST + SOL_COST == sum(x.cost_usd for x in recs)
        assert r.hops[0].score is not None
        assert r.hops[0].score.reason == 'no_refusal: hedge/refusal "I\'m not sure"'
        assert [(x.model, x.cascade_step, x.cascade_outcome) for x in recs] == [
            (LUNA, 0, "escalated"),
            (SOL, 1, "accepted"),
        ]
        assert len({x.cascade_id for x in recs}) == 1

    def test_logprobs_requested_only_when_scored(self, scripted):
        """token_confidence makes the cascade ask for logprobs; the p10 decides."""
        handler, client = scripted(
            {
                LUNA: (GOOD, [0.99] * 16 + [0.3, 0.2, 0.25, 0.35], 1000, 200),
                SOL: (GOOD, [0.99] * 20, 1000, 200),
            }
        )
        bot = cascade([Step(client, LUNA), Step(client, SOL)], accept=token_confidence(0.5))
        r = bot.run("How long do refunds take?")
        assert [b.get("logprobs") for b in handler.requests] == [True, True]
        assert r.step == 1
        assert r.hops[0].score is not None
        assert r.hops[0].score.value == pytest.approx(0.295)  # p10 of 20 tokens: 0.25 + 0.9 x 0.05
        plain, client2 = scripted({LUNA: (GOOD, None, 1000, 200)})
        cascade([Step(client2, LUNA)]).run("hi")
        assert "logprobs" not in plain.requests[0]

    def test_user_logprobs_setting_is_kept(self, scripted):
        """A step that sets logprobs itself is not overridden."""
        handler, client = scripted({LUNA: (GOOD, [0.9], 1000, 200)})
        bot = cascade(
            [Step(client, LUNA, params={"logprobs": False, "temperature": 0})],
            accept=token_confidence(0.5, on_unknown="accept"),
        )
        r = bot.run("q")
        assert handler.requests[0]["logprobs"] is False
        assert handler.requests[0]["temperature"] == 0
        assert r.score is not None
        assert r.score.accepted is True

    def test_plain_callable_scorer_and_step_override(self, scripted):
        """A plain callable over the text is a scorer; a step-level accept wins."""
        _, client = scripted({LUNA: ("billing", None, 1000, 200), SOL: ("shipping", None, 1000, 200)})
        bot = cascade(
            [Step(client, LUNA, accept=lambda t: t == "shipping"), Step(client, SOL)],
            accept=lambda t: False,
            exhausted="last",
        )
        r = bot.run("Which queue?")
        assert (r.text, r.step, r.accepted) == ("shipping", 1, False)

    def test_responses_api_step(self):
        """api='responses' sends input= and reads output_text."""
        mock = OpenAIMock(
            content="Refunds take 5-7 business days.", prompt_tokens=1000, completion_tokens=200
        )
        client = llmfinops.wrap(openai_client(mock))
        r = cascade([Step(client, LUNA, api="responses")]).run("Refund time?", system="Be brief.")
        assert r.text == "Refunds take 5-7 business days."
        assert mock.paths == ["/v1/responses"]
        assert mock.requests[0]["input"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Refund time?"},
        ]
        assert r.cost_usd == LUNA_COST


class TestErrors:
    def test_named_error_escalates(self, scripted):
        """A rate limit named in escalate_on moves on; the failed hop costs 0 and says why."""
        _, client = scripted({LUNA: 429, SOL: (GOOD, None, 1000, 200)})
        bot = cascade([Step(client, LUNA), Step(client, SOL)], escalate_on=rate_limited)
        with capture_records() as recs:
            r = bot.run("q")
        assert r.step == 1
        assert r.hops[0].outcome == "failed"
        assert isinstance(r.hops[0].error, openai.RateLimitError)
        assert r.hops[0].cost_usd == Decimal(0)
        assert r.cost_usd == SOL_COST
        assert [(x.status, x.cascade_step, x.cascade_outcome) for x in recs] == [
            ("error", 0, "failed"),
            ("ok", 1, "accepted"),
        ]

    def test_exception_class_in_tuple(self, scripted):
        """escalate_on takes SDK exception classes and predicates in a tuple."""
        _, client = scripted({LUNA: 500, SOL: (GOOD, None, 1000, 200)})
        bot = cascade(
            [Step(client, LUNA), Step(client, SOL)], escalate_on=(openai.InternalServerError, lambda e: False)
        )
        assert bot.run("q").step == 1

    def test_unnamed_error_propagates_unchanged(self, scripted):
        """An error nobody named is the SDK's own exception; its hop still lands in records and stats."""
        _, client = scripted({LUNA: 500, SOL: (GOOD, None, 1000, 200)})
        bot = cascade([Step(client, LUNA), Step(client, SOL)], escalate_on=rate_limited)
        with capture_records() as recs, pytest.raises(openai.InternalServerError):
            bot.run("q")
        assert [(x.cascade_step, x.cascade_outcome) for x in recs] == [(0, "failed")]
        s = bot.stats()
        assert (s.runs, s.error_runs, s.steps[0].failed) == (1, 1, 1)

    def test_exhausted_carries_every_error_and_cost(self, scripted):
        """All steps fail: one CascadeExhausted with each step's error, hops and total cost."""
        _, client = scripted({LUNA: (HEDGE, None, 1000, 200), SOL: 429})
        bot = cascade([Step(client, LUNA), Step(client, SOL)], escalate_on=rate_limited, name="bot")
        with pytest.raises(CascadeExhausted) as info:
            bot.run("q")
        exc = info.value
        assert isinstance(exc, llmfinops.LLMFinOpsError)
        assert [type(e) for e in exc.exceptions] == [AnswerRejected, openai.RateLimitError]
        assert exc.cost_usd == LUNA_COST
        assert [(h.step, h.outcome, h.cost_usd) for h in exc.hops] == [
            (0, "escalated", LUNA_COST),
            (1, "failed", Decimal(0)),
        ]
        assert exc.exceptions[0].answer is not None
        assert exc.exceptions[0].answer.text == HEDGE
        assert "cascade 'bot' exhausted 2 step(s)" in str(exc)
        assert "exhausted='last'" in str(exc)
        assert bot.stats().exhausted_runs == 1

    def test_except_star_keeps_class_and_attributes(self, scripted):
        """except* splits keep CascadeExhausted and its cost."""
        _, client = scripted({LUNA: 429, SOL: 429})
        bot = cascade([Step(client, LUNA), Step(client, SOL)], escalate_on=rate_limited)
        seen: list[Any] = []
        try:
            bot.run("q")
        except* openai.RateLimitError as eg:
            seen.append(eg)
        assert type(seen[0]) is CascadeExhausted
        assert len(seen[0].exceptions) == 2
        assert seen[0].cost_usd == Decimal(0)
        assert len(seen[0].hops) == 2

    def test_exhausted_last_returns_last_answer(self, scripted):
        """exhausted='last' returns the last answer, marked not accepted."""
        _, client = scripted({LUNA: (HEDGE, None, 1000, 200), SOL: (HEDGE + " x", None, 1000, 200)})
        r = cascade([Step(client, LUNA), Step(client, SOL)], exhausted="last").run("q")
        assert (r.step, r.accepted, r.text, r.cost_usd) == (1, False, HEDGE + " x", LUNA_COST + SOL_COST)

    def test_sdk_retry_is_not_escalation(self):
        """The SDK's own retries stay inside one hop (one record, retry_count=1)."""
        mock = OpenAIMock(fail_first=1, content=GOOD, prompt_tokens=1000, completion_tokens=200)
        client = llmfinops.wrap(openai_client(mock))
        with capture_records() as recs:
            r = cascade([Step(client, LUNA)]).run("q")
        assert len(r.hops) == 1
        assert [(x.retry_count, x.cascade_outcome) for x in recs] == [(1, "accepted")]


class TestBudgets:
    def test_budget_exceeded_raises_by_default(self, scripted, add_before_call):
        """A hop refused by a budget re-raises BudgetExceeded; nothing was sent for it."""
        handler, client = scripted({LUNA: (HEDGE, None, 1000, 200), SOL: (GOOD, None, 1000, 200)})
        add_before_call(_budget_refusing(SOL))
        bot = cascade([Step(client, LUNA), Step(client, SOL)])
        with capture_records() as recs, pytest.raises(BudgetExceeded):
            bot.run("q")
        assert [b["model"] for b in handler.requests] == [LUNA]
        assert [(x.model, x.cascade_outcome) for x in recs] == [(LUNA, "escalated")]

    def test_budget_exceeded_escalates_when_asked(self, scripted, add_before_call):
        """on_budget_exceeded='escalate' skips the refused hop at cost 0."""
        handler, client = scripted({LUNA: (GOOD, None, 1000, 200), SOL: (GOOD, None, 1000, 200)})
        add_before_call(_budget_refusing(LUNA))
        bot = cascade([Step(client, LUNA), Step(client, SOL)], on_budget_exceeded="escalate")
        r = bot.run("q")
        assert r.step == 1
        assert isinstance(r.hops[0].error, BudgetExceeded)
        assert (r.hops[0].outcome, r.hops[0].cost_usd, r.hops[0].records) == ("failed", Decimal(0), [])
        assert [b["model"] for b in handler.requests] == [SOL]


class TestMatchAndFunctionSteps:
    def test_match_answers_for_free(self, scripted):
        """A keyword hit answers without any call or record."""
        handler, client = scripted({LUNA: (GOOD, None, 1000, 200)})
        bot = cascade([Match({"opening hours": "Mon-Fri 8am-8pm ET."}), Step(client, LUNA)])
        with capture_records() as recs:
            r = bot.run("What are your OPENING hours?")
        assert (r.text, r.step, r.name, r.cost_usd, r.response) == (
            "Mon-Fri 8am-8pm ET.",
            0,
            "match",
            Decimal(0),
            None,
        )
        assert (recs, handler.requests) == ([], [])

    def test_match_miss_passes_on(self, scripted):
        """No rule: the matcher hop is 'escalated' at cost 0 and the model answers."""
        _, client = scripted({LUNA: (GOOD, None, 1000, 200)})
        bot = cascade([Match({"opening hours": "x"}), Step(client, LUNA)])
        r = bot.run("hours of opening?")
        assert [(h.kind, h.outcome, h.cost_usd) for h in r.hops] == [
            ("match", "escalated", Decimal(0)),
            ("model", "accepted", LUNA_COST),
        ]
        s = bot.stats()
        assert (s.model_runs, s.escalated_runs, s.steps[0].escalated) == (1, 0, 1)

    def test_function_step_calls_are_costed(self, scripted):
        """A function step's wrapped calls are stamped with the hop and summed."""
        _, client = scripted({LUNA: (GOOD, None, 1000, 200)})

        def two_calls(messages):
            client.chat.completions.create(model=LUNA, messages=messages)
            return client.chat.completions.create(model=LUNA, messages=messages)

        with capture_records() as recs:
            r = cascade([FunctionStep(two_calls, name="double")]).run("q")
        assert (r.text, r.name, r.provider, r.cost_usd) == (GOOD, "double", "openai", 2 * LUNA_COST)
        assert [(x.cascade_step, x.cascade_outcome) for x in recs] == [(0, "accepted"), (0, "accepted")]

    def test_plain_function_and_none(self):
        """Plain functions are steps; returning None passes on."""
        r = cascade([lambda m: None, lambda m: "from rules"]).run("q")
        assert (r.text, r.step, r.hops[0].outcome) == ("from rules", 1, "escalated")


class TestPlainCalls:
    def test_a_cascade_leaves_plain_calls_on_the_fast_path(self, scripted):
        """Running a cascade installs no global listener: later plain calls still defer their records."""
        _, client = scripted({LUNA: (GOOD, None, 1000, 200)})
        cascade([Step(client, LUNA)]).run("q")
        assert _recorder._listeners == []
        state = _recorder.CallState(
            client._llmfinops_runtime, endpoint="chat.completions", operation="chat", model=LUNA
        )
        state.usage = llmfinops.usage.Usage(input_tokens=1, output_tokens=1)
        assert state.finish() is None  # queued for the writer thread, not built here

    def test_calls_outside_a_cascade_are_untouched(self, scripted):
        """A wrapped call outside any cascade has no cascade fields."""
        _, client = scripted({LUNA: (GOOD, None, 1000, 200)})
        cascade([Step(client, LUNA)]).run("q")
        with capture_records() as recs:
            client.chat.completions.create(model=LUNA, messages=[{"role": "user", "content": "q"}])
        assert [(x.cascade_id, x.cascade_step, x.cascade_outcome, x.tags) for x in recs] == [
            (None, None, None, {})
        ]


class TestConfiguration:
    def test_empty_steps(self):
        """An empty cascade names the fix."""
        with pytest.raises(ConfigurationError, match="non-empty list of steps"):
            cascade([])

    def test_unwrapped_client(self):
        """A client that is not wrapped cannot be a step."""
        with pytest.raises(ConfigurationError, match=r"not wrapped.*llmfinops.wrap\(client\)"):
            Step(openai_client(), LUNA)

    def test_empty_escalate_on(self, scripted):
        """escalate_on=() is a configuration error."""
        _, client = scripted({})
        with pytest.raises(ConfigurationError, match=r"escalate_on=\(\) is empty"):
            cascade([Step(client, LUNA)], escalate_on=())

    @pytest.mark.parametrize(
        ("option", "value"),
        [("on_unknown", "maybe"), ("exhausted", "first"), ("on_budget_exceeded", "ignore")],
    )
    def test_bad_option(self, scripted, option, value):
        """Options outside their choices are rejected with the choices."""
        _, client = scripted({})
        with pytest.raises(ConfigurationError, match=f"{option}={value!r}"):
            cascade([Step(client, LUNA)], **{option: value})

    def test_reserved_params_and_duplicate_names(self, scripted):
        """Steps cannot stream or set messages; given names must be distinct, derived ones get numbered."""
        _, client = scripted({})
        with pytest.raises(ConfigurationError, match="cannot stream"):
            Step(client, LUNA, params={"stream": True})
        with pytest.raises(ConfigurationError, match=r"step names \['a'\] repeat"):
            cascade([Step(client, LUNA, name="a"), Step(client, SOL, name="a")])
        bot = cascade([Step(client, LUNA), Step(client, LUNA, params={"temperature": 1})])
        assert bot.names == ("openai:gpt-6-luna#0", "openai:gpt-6-luna#1")

    def test_async_client_in_sync_run(self):
        """run() with an async client says to use arun()."""
        client = llmfinops.wrap(async_openai_client())
        with pytest.raises(ConfigurationError, match=r"await cascade.arun"):
            cascade([Step(client, LUNA)]).run("q")

    def test_bad_input(self, scripted):
        """Messages need a text content and a user turn."""
        _, client = scripted({})
        bot = cascade([Step(client, LUNA)])
        with pytest.raises(ConfigurationError, match="no user message"):
            bot.run([{"role": "system", "content": "x"}])
        with pytest.raises(ConfigurationError, match=r"messages\[0\]"):
            bot.run([{"role": "user", "content": [{"type": "text"}]}])


class TestAsync:
    async def test_arun_with_async_client(self):
        """arun awaits AsyncOpenAI; records carry the hop fields."""
        mock = OpenAIMock(content=GOOD, prompt_tokens=1000, completion_tokens=200)
        client = llmfinops.wrap(async_openai_client(mock))
        with capture_records() as recs:
            r = await cascade([Step(client, LUNA)]).arun("q")
        assert (r.text, r.cost_usd) == (GOOD, LUNA_COST)
        assert [(x.cascade_id, x.cascade_outcome) for x in recs] == [(r.cascade_id, "accepted")]

    async def test_arun_with_sync_client_and_async_scorer(self, scripted):
        """Sync clients run in a worker thread; async scorers are awaited."""
        _, client = scripted({LUNA: (GOOD, None, 1000, 200), SOL: (GOOD, None, 1000, 200)})

        async def strict(text: str) -> bool:
            await asyncio.sleep(0)
            return False

        bot = cascade([Step(client, LUNA, accept=strict), Step(client, SOL)])
        with capture_records() as recs:
            r = await bot.arun("q")
        assert r.step == 1
        assert r.cost_usd == LUNA_COST + SOL_COST
        assert [(x.cascade_step, x.cascade_outcome) for x in recs] == [(0, "escalated"), (1, "accepted")]

    async def test_concurrent_runs_keep_their_records_apart(self, scripted):
        """Parallel runs do not mix their hops' records."""
        _, client = scripted({LUNA: (GOOD, None, 1000, 200)})
        bot = cascade([Step(client, LUNA)])
        results = await asyncio.gather(*(bot.arun(f"q{i}") for i in range(8)))
        assert len({r.cascade_id for r in results}) == 8
        for r in results:
            assert [x.cascade_id for x in r.hops[0].records] == [r.cascade_id]
        assert bot.stats().runs == 8

    async def test_async_function_needs_arun(self):
        """An async function step works in arun and is refused by run."""

        async def fn(messages):
            return "ok"

        bot = cascade([fn])
        assert (await bot.arun("q")).text == "ok"
        with pytest.raises(ConfigurationError, match="async function"):
            bot.run("q")


def test_default_scorer_is_no_refusal(scripted):
    """Without accept=, the cascade uses no_refusal()."""
    _, client = scripted({})
    assert cascade([Step(client, LUNA)]).accept.name == no_refusal().name


class TestScorerErrors:
    def test_scorer_crash_propagates_and_marks_the_hop_failed(self, scripted):
        """A scorer that raises ends the run with its error; the answered hop's record says failed."""
        _, client = scripted({LUNA: (GOOD, None, 1000, 200)})

        def broken(text: str) -> bool:
            raise KeyError("boom")

        bot = cascade([Step(client, LUNA)], accept=broken)
        with capture_records() as recs, pytest.raises(KeyError, match="boom"):
            bot.run("q")
        assert [(x.cascade_outcome, x.cost_usd) for x in recs] == [("failed", LUNA_COST)]
        assert bot.stats().error_runs == 1

    def test_named_error_while_judging_escalates(self, scripted):
        """A named error raised by the scorer (e.g. the judge was rate limited) escalates the answer."""
        _, client = scripted({LUNA: (GOOD, None, 1000, 200), SOL: (GOOD, None, 1000, 200)})

        def judge_down(text: str) -> bool:
            raise TimeoutError("judge timed out")

        bot = cascade([Step(client, LUNA, accept=judge_down), Step(client, SOL)], escalate_on=TimeoutError)
        r = bot.run("q")
        assert [(h.outcome, type(h.error).__name__ if h.error else None) for h in r.hops] == [
            ("escalated", "TimeoutError"),
            ("accepted", None),
        ]
        assert r.cost_usd == LUNA_COST + SOL_COST


class TestRealBudgets:
    def test_run_budget_refuses_the_strong_hop(self):
        """With llmfinops.budgets, the strong hop's reservation is refused: raise by default, or escalate."""
        budgets = pytest.importorskip("llmfinops.budgets")
        client = llmfinops.wrap(
            openai_client(OpenAIMock(content=HEDGE, prompt_tokens=1000, completion_tokens=200))
        )
        steps = [
            Step(client, LUNA, params={"max_completion_tokens": 200}),
            Step(client, SOL, params={"max_completion_tokens": 200}),
        ]
        with pytest.raises(BudgetExceeded), budgets.budget(usd="0.001", window="run"):
            cascade(steps).run("q")
        with budgets.budget(usd="0.001", window="run") as run:
            r = cascade(steps, on_budget_exceeded="escalate", exhausted="last").run("q")
            assert run.spent() == LUNA_COST
        assert [(h.outcome, type(h.error).__name__ if h.error else None, h.cost_usd) for h in r.hops] == [
            ("escalated", None, LUNA_COST),
            ("failed", "BudgetExceeded", Decimal(0)),
        ]
        assert (r.step, r.accepted, r.cost_usd) == (0, False, LUNA_COST)
