"""Runaway protection: the rate breaker opens above N x baseline, stays open for the cool-down, learns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import llmfinops
from llmfinops.budgets import Breaker, BreakerOpen, BudgetAlert, budget, configure_budgets
from llmfinops.exceptions import BudgetExceeded, ConfigurationError
from llmfinops.testing import FakeClock
from llmfinops.testing.openai import OpenAIMock

from .test_enforce import ask


class TestCallsRate:
    def test_opens_refuses_and_closes_after_cooldown(
        self, client: Any, mock: OpenAIMock, clock: FakeClock, alerts: list[BudgetAlert]
    ) -> None:
        """3 x a baseline of 1/min: the 4th call in a minute opens the breaker for 120 s."""
        configure_budgets(breaker=Breaker(calls_per_minute=1, multiplier=3, cooldown=120, learn=False))
        for _ in range(3):
            ask(client)
            clock.advance(1)
        with pytest.raises(BreakerOpen) as info:
            ask(client)
        e = info.value
        assert isinstance(e, BudgetExceeded)
        assert (e.key, e.unit, e.spent, e.limit, e.baseline, e.retry_after) == (
            "breaker:global",
            "rate",
            Decimal(4),
            Decimal(3),
            Decimal(1),
            120.0,
        )
        assert "runaway protection 'breaker:global': 4 calls in the last minute" in str(e)
        clock.advance(100)
        with pytest.raises(BreakerOpen) as again:
            ask(client)
        assert again.value.retry_after == 20.0
        clock.advance(20)
        ask(client)
        assert len(mock.requests) == 4
        assert [(a.kind, a.key) for a in alerts] == [("breaker_open", "breaker:global")]

    def test_spread_out_calls_never_trip(self, client: Any, clock: FakeClock) -> None:
        """The same number of calls spread over minutes stays under the rate."""
        configure_budgets(breaker=Breaker(calls_per_minute=1, multiplier=3, learn=False))
        for _ in range(12):
            ask(client)
            clock.advance(25)

    def test_per_key_breaker(self, client: Any, clock: FakeClock) -> None:
        """A breaker on a per-user budget stops the runaway user only."""
        b = budget(per="user", breaker=Breaker(calls_per_minute=1, multiplier=2, learn=False))
        with b:
            with llmfinops.tags(user_id="loop"):
                ask(client)
                ask(client)
                with pytest.raises(BreakerOpen, match=r"breaker:user:u_"):
                    ask(client)
            with llmfinops.tags(user_id="normal"):
                ask(client)


class TestSpendRate:
    def test_dollars_per_minute(self, client: Any, mock: OpenAIMock, clock: FakeClock) -> None:
        """Spend above 2 x $0.004/min (three $0.0035 calls) opens the breaker for the next call."""
        configure_budgets(breaker=Breaker(usd_per_minute="0.004", multiplier=2, learn=False))
        for _ in range(3):
            ask(client)
        with pytest.raises(BreakerOpen) as info:
            ask(client)
        assert (info.value.what, info.value.spent, info.value.limit) == (
            "usd",
            Decimal("0.0105"),
            Decimal("0.008"),
        )
        assert len(mock.requests) == 3


class TestLearning:
    def test_baseline_rises_with_steady_traffic(self, client: Any, clock: FakeClock) -> None:
        """After a minute at 5 calls/min the learned baseline (5) replaces the floor (2)."""
        configure_budgets(breaker=Breaker(calls_per_minute=2, multiplier=3, learn_minutes=1))
        for _ in range(5):
            ask(client)
        clock.advance(60)
        for _ in range(15):  # 15 <= 3 x 5; the floor alone (3 x 2) would have tripped at the 7th
            ask(client)
        with pytest.raises(BreakerOpen):
            ask(client)

    def test_floor_holds_when_idle(self, client: Any, clock: FakeClock) -> None:
        """Idle minutes pull the learned baseline down, never below the configured floor."""
        configure_budgets(breaker=Breaker(calls_per_minute=2, multiplier=3, learn_minutes=1))
        for _ in range(5):
            ask(client)
        clock.advance(600)
        for _ in range(6):
            ask(client)
        with pytest.raises(BreakerOpen):
            ask(client)


class TestConfiguration:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, r"Breaker\(\) needs a baseline: calls_per_minute=\.\.\. and/or usd_per_minute=\.\.\."),
            ({"calls_per_minute": 0}, r"calls_per_minute=0\) must be > 0"),
            ({"usd_per_minute": "x"}, r"usd_per_minute='x'\) is not a number"),
            ({"calls_per_minute": 5, "multiplier": 1}, r"multiplier=1\) must be > 1"),
            ({"calls_per_minute": 5, "cooldown": 0}, r"cooldown=0\) must be positive"),
            ({"calls_per_minute": 5, "learn_minutes": 0}, r"learn_minutes=0\) must be >= 1"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs: dict[str, Any], message: str) -> None:
        """Invalid breaker settings are configuration errors with the fix."""
        with pytest.raises(ConfigurationError, match=message):
            Breaker(**kwargs)

    def test_reset_closes(self, client: Any, clock: FakeClock) -> None:
        """reset() closes the breaker and forgets rates."""
        brk = Breaker(calls_per_minute=1, multiplier=2, learn=False)
        configure_budgets(breaker=brk)
        ask(client)
        ask(client)
        with pytest.raises(BreakerOpen):
            ask(client)
        brk.reset()
        ask(client)
