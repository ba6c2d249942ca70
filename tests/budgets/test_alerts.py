"""Alerts: thresholds fire exactly once per key and window (across processes), to every sink."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

import llmfinops
from llmfinops.budgets import Budget, BudgetAlert, budget, configure_budgets, log_alert
from llmfinops.budgets._enforce import reset_state
from llmfinops.exceptions import BudgetExceeded, SinkFailedWarning
from llmfinops.testing import FakeClock

from .test_enforce import DAY, ask


class TestThresholds:
    def test_each_threshold_fires_once_with_exact_figures(
        self, client: Any, clock: FakeClock, alerts: list[BudgetAlert]
    ) -> None:
        """50/70/90% of $0.02 fire once each, carrying the spend that crossed them."""
        with llmfinops.tags(team="search"), budget(usd="0.02", per="team", name="search daily"):
            for _ in range(5):
                ask(client)
            with pytest.raises(BudgetExceeded):
                ask(client)
            with pytest.raises(BudgetExceeded):
                ask(client)
        assert [(a.kind, a.threshold, a.spent, a.limit, a.key, a.window, a.budget) for a in alerts] == [
            ("threshold", 50.0, Decimal("0.0105"), Decimal("0.02"), "team:search", DAY, "search daily"),
            ("threshold", 70.0, Decimal("0.014"), Decimal("0.02"), "team:search", DAY, "search daily"),
            ("refused", 100.0, Decimal("0.0175"), Decimal("0.02"), "team:search", DAY, "search daily"),
        ]
        assert (
            alerts[0].message
            == "budget 'team:search' (day:2026-11-22) reached 50% of its limit: 0.0105 of 0.02 usd"
        )
        assert alerts[0].at == clock.now()

    def test_custom_thresholds_and_units(
        self, client: Any, clock: FakeClock, alerts: list[BudgetAlert]
    ) -> None:
        """A budget's own thresholds apply per unit."""
        with budget(calls=4, key="org", thresholds=[25, 75]):
            for _ in range(4):
                ask(client)
        assert [(a.unit, a.threshold, a.spent) for a in alerts] == [("calls", 25.0, 1), ("calls", 75.0, 3)]

    def test_fires_again_in_the_next_window(
        self, client: Any, clock: FakeClock, alerts: list[BudgetAlert]
    ) -> None:
        """A new day is a new window: its thresholds fire again."""
        with budget(calls=2, key="org", thresholds=[50]):
            ask(client)
            clock.advance(86_400)
            ask(client)
        assert [a.window for a in alerts] == ["day:2026-11-22", "day:2026-11-23"]

    def test_refusal_alert_once_across_processes(
        self, client: Any, clock: FakeClock, alerts: list[BudgetAlert], tmp_path: Path
    ) -> None:
        """A second process refusing in the same window does not alert again: the store remembers."""
        from llmfinops.stores.diskcache import DiskCacheStore

        configure_budgets(store=DiskCacheStore(tmp_path))
        with budget(calls=1, key="org"):
            ask(client)
            for _ in range(2):
                reset_state()  # forget this process's cache, as another process would not have it
                configure_budgets(store=DiskCacheStore(tmp_path))  # and open its own handle
                with pytest.raises(BudgetExceeded):
                    ask(client)
        assert [a.kind for a in alerts] == ["threshold", "threshold", "threshold", "threshold", "refused"]


class TestSinks:
    def test_default_sink_is_a_structlog_event(self) -> None:
        """log_alert emits 'llm.budget_alert' with the alert's fields."""
        alert = BudgetAlert(
            kind="threshold",
            key="org",
            window="month:2026-11",
            unit="usd",
            limit=Decimal(100),
            spent=Decimal(90),
            threshold=90.0,
        )
        with structlog.testing.capture_logs() as logs:
            log_alert(alert)
        assert logs == [{**alert.as_dict(), "event": "llm.budget_alert", "log_level": "warning"}]
        assert logs[0]["message"] == "budget 'org' (month:2026-11) reached 90% of its limit: 90 of 100 usd"

    def test_failing_sink_does_not_break_the_call(self, client: Any, clock: FakeClock) -> None:
        """A sink that raises is warned about once; other sinks and the call carry on."""
        got: list[BudgetAlert] = []

        def broken(alert: BudgetAlert) -> None:
            raise RuntimeError("slack is down")

        configure_budgets(alert_sinks=[broken, got.append])
        with (
            budget(calls=2, key="org", thresholds=[50]),
            pytest.warns(SinkFailedWarning, match=r"slack is down"),
        ):
            r = ask(client)
        assert r.usage.prompt_tokens == 1000
        assert [a.threshold for a in got] == [50.0]

    def test_as_dict_is_json_ready(self) -> None:
        """as_dict() has floats and ISO time."""
        from datetime import UTC, datetime

        a = BudgetAlert(
            kind="refused",
            key="org",
            window="day:2026-11-22",
            unit="usd",
            limit=Decimal("0.5"),
            spent=Decimal("0.25"),
            reserved=Decimal("0.2"),
            at=datetime(2026, 11, 22, tzinfo=UTC),
        )
        d = a.as_dict()
        assert (d["limit"], d["spent"], d["reserved"], d["at"]) == (
            0.5,
            0.25,
            0.2,
            "2026-11-22T00:00:00+00:00",
        )
        assert (
            d["message"] == "budget 'org' (day:2026-11-22) refused a call: 0.25 spent + 0.2 held of 0.5 usd"
        )


class TestBudgetObjectsShareAlerts:
    def test_two_budgets_same_key_different_limits_alert_separately(
        self, client: Any, clock: FakeClock, alerts: list[BudgetAlert]
    ) -> None:
        """Budgets sharing a counter but with different limits each get their own thresholds."""
        small, big = Budget(calls=2, key="org", thresholds=[50]), Budget(calls=4, key="org", thresholds=[50])
        with big, small:
            ask(client)
            ask(client)
        assert [(a.limit, a.spent) for a in alerts] == [(2, 1), (4, 2)]
