"""Enforcement through a real wrapped OpenAI client (mock transport): reserve, refuse, degrade, reconcile."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import openai
import pytest

import llmfinops
from llmfinops.budgets import (
    Budget,
    BudgetAlert,
    BudgetStoreWarning,
    BudgetUnavailable,
    budget,
    configure_budgets,
)
from llmfinops.budgets._budget import hash_user
from llmfinops.exceptions import (
    BudgetExceeded,
    ConfigurationError,
    CostUnknownWarning,
    InternalErrorWarning,
    PriceNotFound,
)
from llmfinops.stores import MemoryStore
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.openai import OpenAIMock, async_openai_client, openai_client
from llmfinops.tokens import estimate_prompt_tokens

MSG = [{"role": "user", "content": "hello " * 995}]
"""Estimated at exactly 1000 prompt tokens (o200k), as the mock reports."""
DAY = "day:2026-11-22"
CALL = Decimal("0.0035")  # 1000 x $2.50/M + 100 x $10/M (gpt-4o)
EST = Decimal("0.0045")  # 1000 x $2.50/M + 200 x $10/M (max_completion_tokens=200)


def ask(client: Any, model: str = "gpt-4o", **kw: Any) -> Any:
    kw.setdefault("max_completion_tokens", 200)
    return client.chat.completions.create(model=model, messages=MSG, **kw)


class TestPromptEstimate:
    def test_fixture_prompt_is_1000_tokens(self) -> None:
        """The test prompt is estimated at the 1000 tokens the mock bills."""
        assert estimate_prompt_tokens("openai", {"model": "gpt-4o", "messages": MSG}) == 1000


class TestReserveAndReconcile:
    def test_refusal_names_key_window_limit_spent_reserved_estimate(
        self, client: Any, mock: OpenAIMock, clock: FakeClock
    ) -> None:
        """Five $0.0035 calls fit in $0.02; the sixth (estimate $0.0045) is refused with every number."""
        team = Budget(usd="0.02", per="team")
        with capture_records() as recs, llmfinops.tags(team="search"), team:
            for _ in range(5):
                ask(client)
            with pytest.raises(BudgetExceeded) as info:
                ask(client)
        e = info.value
        assert (e.key, e.window, e.limit, e.spent, e.reserved, e.estimate, e.unit) == (
            "team:search",
            DAY,
            Decimal("0.02"),
            Decimal("0.0175"),
            Decimal(0),
            EST,
            "usd",
        )
        assert "nothing was sent" in str(e)
        assert len(mock.requests) == 5
        assert [r.cost_usd for r in recs] == [CALL] * 5
        assert team.remaining(team="search") == Decimal("0.0025")

    def test_worst_case_is_held_during_the_call(self, clock: FakeClock) -> None:
        """While the request is in flight the estimate is held; afterwards only the actual cost counts."""
        team = Budget(usd=1, per="team")
        seen = []

        def usage_for(body: dict[str, Any]) -> dict[str, Any]:
            seen.append(team.status(team="search")[0])
            return {}

        client = llmfinops.wrap(
            openai_client(OpenAIMock(prompt_tokens=1000, completion_tokens=100, usage_for=usage_for))
        )
        with llmfinops.tags(team="search"), team:
            ask(client)
        assert (seen[0].spent, seen[0].reserved) == (Decimal(0), EST)
        after = team.status(team="search")[0]
        assert (after.spent, after.reserved) == (CALL, Decimal(0))

    def test_error_releases_the_hold_and_counts_the_call(self, clock: FakeClock) -> None:
        """A failed request costs nothing (released) but counts as a call."""
        client = llmfinops.wrap(openai_client(OpenAIMock(error_status=500), max_retries=0))
        b = Budget(usd=1, calls=10, key="org")
        with b, pytest.raises(openai.InternalServerError):
            ask(client)
        usd, calls = b.status()
        assert (usd.spent, usd.reserved, calls.spent, calls.reserved) == (0, 0, 1, 0)

    def test_stream_reconciles_after_consumption(self, client: Any, clock: FakeClock) -> None:
        """A stream holds until it is consumed, then reconciles to its usage."""
        b = Budget(usd=1, key="org")
        with b:
            stream = ask(client, stream=True)
            assert b.status()[0].reserved == EST
            chunks = list(stream)
        assert len(chunks) > 1
        assert (b.status()[0].spent, b.status()[0].reserved) == (CALL, 0)

    async def test_async_client_and_function(self, clock: FakeClock) -> None:
        """Async clients and async decorated functions are enforced the same way."""
        client = llmfinops.wrap(async_openai_client(OpenAIMock(prompt_tokens=1000, completion_tokens=100)))

        @budget(usd="0.008", per="team")
        async def work() -> Any:
            return await client.chat.completions.create(
                model="gpt-4o", messages=MSG, max_completion_tokens=200
            )

        with llmfinops.tags(team="search"):
            await work()
            await work()
            with pytest.raises(BudgetExceeded, match=r"limit=0.008 usd, spent=0.007, reserved=0"):
                await work()

    def test_global_budget_applies_everywhere(self, client: Any, clock: FakeClock) -> None:
        """configure_budgets(budgets=[...]) limits calls made outside any decorator."""
        configure_budgets(budgets=[Budget(calls=2, key="org", window="month")])
        ask(client)
        ask(client)
        with pytest.raises(BudgetExceeded) as info:
            ask(client)
        assert (info.value.key, info.value.window, info.value.unit, info.value.limit) == (
            "org",
            "month:2026-11",
            "calls",
            Decimal(2),
        )


class TestNesting:
    def test_all_or_nothing_across_scopes(self, client: Any, clock: FakeClock) -> None:
        """When the user budget refuses, org and team hold nothing for the refused call."""
        org, team, user = (
            Budget(usd=10, key="org"),
            Budget(usd=5, per="team"),
            Budget(usd="0.005", per="user"),
        )
        with llmfinops.tags(team="search", user_id="alice"), org, team, user:
            ask(client)
            with pytest.raises(BudgetExceeded) as info:
                ask(client)
        assert info.value.key == f"user:{hash_user('alice')}"
        assert [(s.spent, s.reserved) for s in (org.status()[0], team.status(team="search")[0])] == [
            (CALL, 0),
            (CALL, 0),
        ]

    def test_outer_budget_can_refuse(self, client: Any, clock: FakeClock) -> None:
        """The org budget refuses even when the inner budgets have room."""
        with llmfinops.tags(team="t"), budget(usd="0.004", key="org"), budget(usd=5, per="team"):
            ask(client, max_completion_tokens=10)
            with pytest.raises(BudgetExceeded, match=r"budget 'org'"):
                ask(client)

    def test_same_key_counted_once_strictest_limit_wins(self, client: Any, clock: FakeClock) -> None:
        """Two budgets on the same counter share it (held once) and the lower limit applies."""
        loose, tight = Budget(usd=1, per="team"), Budget(usd="0.008", per="team")
        with llmfinops.tags(team="t"), loose, tight:
            ask(client)
            ask(client)
            with pytest.raises(BudgetExceeded) as info:
                ask(client)
        assert (info.value.limit, info.value.spent) == (Decimal("0.008"), Decimal("0.007"))
        assert loose.status(team="t")[0].spent == Decimal("0.007")


class TestUnits:
    def test_tokens_limit(self, client: Any, clock: FakeClock) -> None:
        """A token limit reserves prompt + max output tokens and reconciles to the billed total."""
        b = Budget(tokens=2500, key="org")
        with b:
            ask(client)  # holds 1200, bills 1100
            ask(client)
            with pytest.raises(BudgetExceeded) as info:
                ask(client)
        assert (info.value.unit, info.value.spent, info.value.estimate) == (
            "tokens",
            Decimal(2200),
            Decimal(1200),
        )

    def test_tool_call_storm_guard_per_run(self, client: Any) -> None:
        """calls=3 per run: the fourth call of one task is refused; the next task starts afresh."""
        for _ in range(2):
            with budget(calls=3, window="run") as run:
                for _ in range(3):
                    ask(client)
                with pytest.raises(BudgetExceeded) as info:
                    ask(client)
                assert run.spent("calls") == Decimal(3)
            assert (info.value.unit, info.value.window, info.value.limit) == ("calls", "run", Decimal(3))

    def test_per_call_limit(self, client: Any, mock: OpenAIMock) -> None:
        """window='call' checks each call's worst case on its own."""
        with budget(usd="0.004", window="call"):
            with pytest.raises(BudgetExceeded) as info:
                ask(client)  # worst case 0.0045
            ask(client, max_completion_tokens=100)  # worst case 0.0035
            ask(client, max_completion_tokens=100)
        assert (info.value.window, info.value.estimate) == ("call", EST)
        assert len(mock.requests) == 2


class TestWindows:
    def test_next_day_starts_afresh(self, client: Any, clock: FakeClock) -> None:
        """An exhausted day budget allows calls again after midnight (UTC)."""
        b = Budget(calls=1, key="org", window="day")
        with b:
            ask(client)
            with pytest.raises(BudgetExceeded, match=DAY):
                ask(client)
            clock.advance(12 * 3600)
            ask(client)

    def test_day_in_a_time_zone(self, client: Any, clock: FakeClock) -> None:
        """A Tokyo day ends at 15:00 UTC."""
        b = Budget(calls=1, key="org", window="day", tz="Asia/Tokyo")
        with b:
            ask(client)
            clock.advance(2 * 3600 + 59 * 60)
            with pytest.raises(BudgetExceeded, match=r"day:2026-11-22@Asia/Tokyo"):
                ask(client)
            clock.advance(60)
            ask(client)

    def test_rolling_window(self, client: Any, clock: FakeClock) -> None:
        """A rolling hour frees spend one hour (plus a slot) after it happened."""
        from datetime import timedelta

        b = Budget(calls=2, key="org", window=timedelta(hours=1))
        with b:
            ask(client)
            clock.advance(1800)
            ask(client)
            with pytest.raises(BudgetExceeded, match=r"rolling:1h"):
                ask(client)
            clock.advance(1800 + 60)
            ask(client)
            with pytest.raises(BudgetExceeded):
                ask(client)


class TestOnExceed:
    def test_degrade_rewrites_the_request(
        self, client: Any, mock: OpenAIMock, clock: FakeClock, alerts: list[BudgetAlert]
    ) -> None:
        """When exhausted, calls go to the cheaper model, marked degraded_from; one alert per window."""
        b = Budget(usd="0.005", per="team", degrade_to="gpt-4o-mini")
        with capture_records() as recs, llmfinops.tags(team="t"), b:
            ask(client)
            ask(client)
            ask(client)
        assert [r["model"] for r in mock.requests] == ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]
        assert [(r.model, r.degraded_from) for r in recs] == [
            ("gpt-4o", None),
            ("gpt-4o-mini", "gpt-4o"),
            ("gpt-4o-mini", "gpt-4o"),
        ]
        mini = (1000 * Decimal("0.15") + 100 * Decimal("0.60")) / 1_000_000
        assert b.status(team="t")[0].spent == CALL + 2 * mini
        assert [(a.kind, a.key, a.detail) for a in alerts if a.kind == "degraded"] == [
            ("degraded", "team:t", "gpt-4o -> gpt-4o-mini"),
        ]

    def test_degrade_refuses_when_the_cheaper_model_does_not_fit(self, client: Any, clock: FakeClock) -> None:
        """If even the cheaper model would go over, the call is refused."""
        b = Budget(usd="0.0001", key="org", degrade_to="gpt-4o-mini")
        with b, pytest.raises(BudgetExceeded) as info:
            ask(client)
        assert info.value.estimate == (1000 * Decimal("0.15") + 200 * Decimal("0.60")) / 1_000_000

    def test_degrade_to_unpriced_model_refuses_with_warning(self, client: Any, clock: FakeClock) -> None:
        """A degrade target without a price is not used: the call is refused and the config is flagged."""
        with (
            budget(usd="0.001", key="org", degrade_to="gpt-nano-imaginary"),
            pytest.warns(CostUnknownWarning, match=r"cannot degrade to 'gpt-nano-imaginary'"),
            pytest.raises(BudgetExceeded),
        ):
            ask(client)

    def test_warn_mode_allows_and_alerts(
        self, client: Any, clock: FakeClock, alerts: list[BudgetAlert]
    ) -> None:
        """on_exceed='warn' never refuses; crossing 100% alerts once."""
        b = Budget(usd="0.005", key="org", on_exceed="warn")
        with b:
            for _ in range(4):
                ask(client)
        assert b.status()[0].spent == 4 * CALL
        assert [(a.kind, a.threshold) for a in alerts] == [
            ("threshold", 50.0),
            ("threshold", 70.0),
            ("threshold", 90.0),
            ("threshold", 100.0),
        ]


class TestEstimates:
    def test_missing_output_cap_assumes_default(self, client: Any, clock: FakeClock) -> None:
        """Without max tokens the reservation assumes default_max_output_tokens (16,384)."""
        with budget(usd="0.1", key="org"), pytest.raises(BudgetExceeded) as info:
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        assert info.value.estimate == Decimal("0.0025") + 16_384 * Decimal("0.00001")

    def test_cap_output_writes_the_assumed_cap(self, client: Any, mock: OpenAIMock, clock: FakeClock) -> None:
        """cap_output=True sends the assumed cap, so the reservation is a hard bound."""
        configure_budgets(cap_output=True, default_max_output_tokens=512)
        with capture_records() as recs, budget(usd=1, key="org"):
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        assert mock.requests[0]["max_completion_tokens"] == 512
        assert recs[0].request_max_tokens == 512

    def test_unpriced_model_allowed_with_warning(self, client: Any, clock: FakeClock) -> None:
        """An unpriced model under a USD budget is allowed (warned); its calls still count."""
        b = Budget(usd=1, calls=5, key="org")
        with b, pytest.warns(CostUnknownWarning) as warned:
            ask(client, model="my-finetune-v3")
        assert any("USD budgets cannot hold its cost" in str(w.message) for w in warned)
        usd, calls = b.status()
        assert (usd.spent, calls.spent) == (0, 1)

    def test_unpriced_model_refused_when_configured(
        self, client: Any, mock: OpenAIMock, clock: FakeClock
    ) -> None:
        """unpriced='refuse' raises PriceNotFound before sending."""
        configure_budgets(unpriced="refuse")
        with (
            budget(usd=1, key="org"),
            pytest.raises(PriceNotFound, match=r"configure_budgets\(unpriced='refuse'\)"),
        ):
            ask(client, model="my-finetune-v3")
        assert mock.requests == []

    def test_no_usage_reported_charges_the_estimate(self, clock: FakeClock) -> None:
        """A successful call whose response carries no usage keeps its worst case charged."""
        from llmfinops.exceptions import UsageExtractionFailedWarning
        from llmfinops.testing._sse import json_response
        from llmfinops.testing.openai import chat_completion

        def handler(request: Any) -> Any:
            body = chat_completion(model="gpt-4o-2024-08-06")
            del body["usage"]
            return json_response(200, body)

        client = llmfinops.wrap(openai_client(handler))
        b = Budget(usd=1, tokens=10_000, key="org")
        with b, pytest.warns(UsageExtractionFailedWarning):
            ask(client)
        usd, tokens = b.status()
        assert (usd.spent, tokens.spent) == (EST, Decimal(1200))


class TestStoreFailures:
    class _Down(MemoryStore):
        def reserve(self, *a: Any, **k: Any) -> Any:
            raise ConnectionError("store down")

    def test_fail_open_allows_with_warning(self, client: Any, mock: OpenAIMock, clock: FakeClock) -> None:
        """By default a failing store lets the call through, warned once, and still records it."""
        configure_budgets(store=self._Down())
        with (
            budget(usd="0.0001", key="org"),
            pytest.warns(BudgetStoreWarning, match=r"calls go ahead unmetered"),
        ):
            ask(client)
        assert len(mock.requests) == 1

    def test_fail_closed_refuses(self, client: Any, mock: OpenAIMock, clock: FakeClock) -> None:
        """on_store_error='closed' refuses with BudgetUnavailable (a BudgetExceeded) and sends nothing."""
        configure_budgets(store=self._Down(), on_store_error="closed")
        with budget(usd=1, key="org"), pytest.raises(BudgetUnavailable) as info:
            ask(client)
        assert isinstance(info.value, BudgetExceeded)
        assert (info.value.unit, info.value.key) == ("store", "org")
        assert "ConnectionError: store down" in str(info.value)
        assert mock.requests == []

    def test_internal_error_never_breaks_the_call(
        self, client: Any, mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bug inside the budget code is logged and warned; the call goes ahead."""

        def boom(**kw: Any) -> Any:
            raise RuntimeError("estimator exploded")

        monkeypatch.setattr("llmfinops.budgets._enforce.estimate_call", boom)
        with budget(usd=1, key="org"), pytest.warns(InternalErrorWarning, match=r"estimator exploded"):
            r = ask(client)
        assert r.usage.prompt_tokens == 1000

    def test_missing_tag_can_raise(self, client: Any) -> None:
        """on_missing='raise' stops untagged calls with a configuration error."""
        with (
            budget(usd=1, per="team", on_missing="raise"),
            pytest.raises(ConfigurationError, match=r"'team' tag"),
        ):
            ask(client)


class TestForwardUserId:
    def test_openai_safety_identifier(self, client: Any, mock: OpenAIMock) -> None:
        """With forward_user_id, OpenAI requests carry the keyed hash as safety_identifier."""
        configure_budgets(forward_user_id=True)
        with llmfinops.tags(user_id="alice"):
            ask(client)
            ask(client, safety_identifier="mine")
        ask(client)
        assert [r.get("safety_identifier") for r in mock.requests] == [hash_user("alice"), "mine", None]

    def test_off_by_default(self, client: Any, mock: OpenAIMock) -> None:
        """Nothing is forwarded unless asked."""
        with llmfinops.tags(user_id="alice"):
            ask(client)
        assert "safety_identifier" not in mock.requests[0]

    def test_anthropic_metadata(self) -> None:
        """Anthropic messages get metadata.user_id (a copy of the caller's metadata, never mutated)."""
        from llmfinops._recorder import CallState, ClientRuntime
        from llmfinops.budgets._enforce import forward_user_id

        configure_budgets(forward_user_id=True)
        theirs = {"tenant": "acme"}
        with llmfinops.tags(user_id="alice"):
            state = CallState(
                ClientRuntime("anthropic"),
                endpoint="messages",
                operation="chat",
                model="claude-haiku-4-5",
                body={"model": "claude-haiku-4-5", "metadata": theirs},
            )
        forward_user_id(state)
        assert state.body == {
            "model": "claude-haiku-4-5",
            "metadata": {"tenant": "acme", "user_id": hash_user("alice")},
        }
        assert theirs == {"tenant": "acme"}

    def test_needs_a_key(self, client: Any, mock: OpenAIMock) -> None:
        """Without a user-id key nothing is sent, and the fix is named."""
        llmfinops.reset_defaults()
        llmfinops.configure(sinks=[])
        configure_budgets(forward_user_id=True)
        with (
            llmfinops.tags(user_id="alice"),
            pytest.warns(UserWarning, match=r"set configure\(user_id_key=\.\.\.\)"),
        ):
            ask(client)
        assert "safety_identifier" not in mock.requests[0]


class TestRecords:
    def test_record_shows_crossed_thresholds(self, client: Any, clock: FakeClock) -> None:
        """The record of the call that crossed a threshold names it."""
        with capture_records() as recs, budget(usd="0.01", key="org"):
            ask(client)
            ask(client)

        # a record field once CallRecord has one, the tag until then
        def shown(rec: Any) -> Any:
            return getattr(rec, "budget_alert", None) or rec.tags.get("budget_alert")

        def written(rec: Any) -> Any:
            d = json.loads(rec.to_json())
            return d.get("budget_alert") or d["tags"].get("budget_alert")

        assert shown(recs[0]) is None
        assert shown(recs[1]) == f"org {DAY} usd 50%; org {DAY} usd 70%"
        assert written(recs[1]) == f"org {DAY} usd 50%; org {DAY} usd 70%"


class TestHookEdges:
    def _state(self) -> Any:
        from llmfinops._recorder import CallState, ClientRuntime

        body = {"model": "gpt-4o", "messages": MSG, "max_completion_tokens": 200}
        return CallState(
            ClientRuntime("openai"),
            endpoint="chat.completions",
            operation="chat",
            model="gpt-4o",
            request_max_tokens=200,
            body=body,
        )

    def test_cache_hit_charges_nothing(self, clock: FakeClock) -> None:
        """A response-cache hit (no provider call) releases the hold and charges no USD, tokens or call."""
        from llmfinops.budgets._enforce import after_call, before_call
        from llmfinops.testing import make_record

        b = Budget(usd=1, tokens=10_000, calls=5, key="org")
        with b:
            state = self._state()
            before_call(state)
            assert [s.reserved for s in b.status()] == [EST, Decimal(1200), Decimal(1)]
            after_call(
                state,
                make_record(
                    cache_hit=True, cost_usd="0", input_tokens=1000, output_tokens=100, total_tokens=1100
                ),
            )
        assert [(s.spent, s.reserved) for s in b.status()] == [(0, 0), (0, 0), (0, 0)]

    def test_abort_releases_the_hold(self, clock: FakeClock) -> None:
        """If a later hook refuses the call, abort_call gives the reservation back."""
        from llmfinops.budgets._enforce import abort_call, before_call

        b = Budget(usd=1, key="org")
        with b:
            state = self._state()
            before_call(state)
            assert b.status()[0].reserved == EST
            abort_call(state, RuntimeError("refused later"))
            abort_call(state)  # idempotent
        assert (b.status()[0].spent, b.status()[0].reserved) == (0, 0)

    def test_stream_closed_early_keeps_the_worst_case(self, client: Any, clock: FakeClock) -> None:
        """A stream closed early has only a lower-bound usage: the budget keeps its reservation charged."""
        b = Budget(usd=1, tokens=10_000, key="org")
        with b, capture_records() as recs:
            stream = ask(client, stream=True)
            next(iter(stream))
            stream.close()
        assert recs[0].partial is True
        assert recs[0].cost_usd == Decimal("0.0025")  # the prompt only: a lower bound
        assert [(s.spent, s.reserved) for s in b.status()] == [(EST, 0), (Decimal(1200), 0)]
