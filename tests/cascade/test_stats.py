"""Cascade metrics: in-process stats, stats from records, the escalation-rate health warning."""

from __future__ import annotations

import json
import warnings
from decimal import Decimal

import pytest

from llmfinops.cascade import CascadeHealthWarning, FunctionStep, Match, Step, cascade, cascade_stats
from llmfinops.records import record_from_dict
from llmfinops.testing import capture_records, make_record

LUNA, SOL = "gpt-6-luna", "gpt-6.1-sol"


def rec(cid, step, outcome, cost, **kw):
    return make_record(
        cascade_id=cid,
        cascade_step=step,
        cascade_outcome=outcome,
        cost_usd=cost,
        tags={"cascade": kw.pop("name", "bot"), **kw.pop("tags", {})},
        **kw,
    )


class TestInProcess:
    def test_counts_and_cost_per_accepted(self, scripted):
        """Per-step attempts/outcomes, run escalation rate and cost per accepted answer are exact."""
        answers = iter(["I'm not sure.", "Fine answer.", "Fine answer.", "Fine answer."])
        _, client = scripted(
            {LUNA: lambda body: (next(answers), None, 1000, 200), SOL: ("Strong answer.", None, 1000, 200)}
        )
        bot = cascade([Match({"hours": "8-8"}), Step(client, LUNA), Step(client, SOL)], name="bot")
        for q in ("hours?", "q1", "q2", "q3", "q4"):
            bot.run(q)
        s = bot.stats()
        assert (s.runs, s.accepted_runs, s.model_runs, s.escalated_runs) == (5, 5, 4, 1)
        assert s.escalation_rate == 0.25
        assert s.health == "high"
        assert [(x.name, x.attempts, x.accepted, x.escalated, x.failed, x.cost_usd) for x in s.steps] == [
            ("match", 5, 1, 4, 0, Decimal(0)),
            ("openai:gpt-6-luna", 4, 3, 1, 0, Decimal("0.0008")),
            ("openai:gpt-6.1-sol", 1, 1, 0, 0, Decimal("0.004")),
        ]
        assert s.cost_usd == Decimal("0.0048")
        assert s.cost_per_accepted_usd == Decimal("0.00096")
        assert s.steps[1].escalation_rate == 0.25
        bot.reset_stats()
        assert bot.stats().runs == 0

    def test_health_warning_once_outside_range(self):
        """Every health_min_runs runs the rate is checked; outside 5-20 % warns once."""
        flip = iter([False, True] * 10)
        bot = cascade(
            [
                FunctionStep(lambda m: "a" if next(flip) else None, name="cheap"),
                FunctionStep(lambda m: "b", name="strong"),
            ],
            name="noisy",
            health_min_runs=4,
        )
        for _ in range(3):
            bot.run("q")
        with pytest.warns(CascadeHealthWarning, match=r"cascade 'noisy' escalation rate 50.0% over 4 runs"):
            bot.run("q")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(4):
                bot.run("q")
        assert bot.stats().health == "high"

    def test_health_check_disabled(self):
        """healthy_range=None never warns."""
        bot = cascade([lambda m: None, lambda m: "b"], healthy_range=None, health_min_runs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            bot.run("q")
        assert bot.stats().escalation_rate == 1.0


class TestFromRecords:
    def test_groups_by_cascade_and_step(self):
        """Runs group by cascade_id, hops by step; judge records add to their step's cost."""
        recs = [
            rec("r1", 0, "escalated", "0.0002"),
            rec("r1", 0, "escalated", "0.0001", tags={"cascade_role": "judge"}),
            rec("r1", 1, "accepted", "0.004"),
            rec("r2", 0, "accepted", "0.0002"),
            rec("r3", 0, "accepted", "0.0002"),
            rec("r4", 0, "failed", "0", status="error"),
            rec("r4", 1, "escalated", "0.004"),
            rec("x1", 0, "accepted", "0.001", name="other"),
            make_record(cost_usd="9"),  # not a cascade hop
        ]
        stats = cascade_stats(recs)
        assert sorted(stats) == ["bot", "other"]
        s = stats["bot"]
        assert (s.runs, s.accepted_runs, s.exhausted_runs, s.escalated_runs, s.inferred) == (
            4,
            3,
            1,
            2,
            False,
        )
        assert s.escalation_rate == 0.5
        assert s.cost_usd == Decimal("0.0087")
        assert s.cost_per_accepted_usd == Decimal("0.0029")
        assert [(x.step, x.attempts, x.accepted, x.escalated, x.failed, x.cost_usd) for x in s.steps] == [
            (0, 4, 2, 1, 1, Decimal("0.0007")),
            (1, 2, 1, 1, 0, Decimal("0.008")),
        ]

    def test_unknown_cost_propagates(self):
        """One unpriced hop makes the total unknown, not zero."""
        s = cascade_stats([rec("r1", 0, "accepted", None)])["bot"]
        assert (s.cost_usd, s.cost_per_accepted_usd) == (None, None)

    def test_outcomes_inferred_without_field(self):
        """Without cascade_outcome, the last successful step is taken as accepted."""
        recs = [
            rec("r1", 0, None, "0.0002"),
            rec("r1", 1, None, "0.004"),
            rec("r2", 0, None, "0", status="error"),
            rec("r2", 1, None, "0.004"),
        ]
        s = cascade_stats(recs)["bot"]
        assert s.inferred is True
        assert [(x.accepted, x.escalated, x.failed) for x in s.steps] == [(0, 1, 1), (2, 0, 0)]

    def test_matches_in_process_stats_on_real_runs(self, scripted):
        """Stats from the run's own records (via JSON) agree with the in-process counters."""
        answers = iter(["I'm not sure.", "Fine.", "I cannot say.", "Fine."])
        _, client = scripted(
            {LUNA: lambda body: (next(answers), None, 1000, 200), SOL: ("Sure.", None, 1000, 200)}
        )
        bot = cascade([Step(client, LUNA), Step(client, SOL)], name="bot")
        with capture_records() as recs:
            for q in ("a", "b", "c", "d"):
                bot.run(q)
        from_records = cascade_stats(record_from_dict(json.loads(r.to_json())) for r in recs)["bot"]
        live = bot.stats()
        for attr in ("runs", "accepted_runs", "escalated_runs", "cost_usd", "escalation_rate"):
            assert getattr(from_records, attr) == getattr(live, attr), attr
        assert from_records.cost_usd == Decimal("0.0088")
