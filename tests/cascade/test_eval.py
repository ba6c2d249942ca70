"""Offline evaluation: the sample dataset, replay, sweeps, the CLI, and agreement with live cascades."""

from __future__ import annotations

import importlib.util
import io
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import llmfinops
from llmfinops.cascade import (
    ComplexityRouter,
    Step,
    cascade,
    judge,
    no_refusal,
    self_confidence,
    token_confidence,
)
from llmfinops.eval import load_dataset, main, replay, sweep
from llmfinops.eval._cli import _thresholds
from llmfinops.exceptions import ConfigurationError
from llmfinops.testing._sse import json_response
from llmfinops.testing.openai import chat_completion, openai_client

DATA = Path(__file__).resolve().parents[1] / "data" / "cascade_sample.jsonl"
LUNA, FLASH, SOL = "gpt-6-luna", "gemini-3.8-flash", "gpt-6.1-sol"


@pytest.fixture(scope="module")
def ds():
    return load_dataset(DATA)


class TestSampleDataset:
    def test_generator_reproduces_the_committed_file(self):
        """make_cascade_sample.py regenerates tests/data/cascade_sample.jsonl byte for byte."""
        spec = importlib.util.spec_from_file_location(
            "make_cascade_sample", Path(__file__).with_name("make_cascade_sample.py")
        )
        assert spec is not None
        assert spec.loader is not None
        gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen)
        assert gen.render() == DATA.read_text(encoding="utf-8")

    def test_shape(self, ds):
        """150 queries (75 easy, 45 medium, 30 hard), three models, token counts and signals."""
        assert (len(ds), ds.models) == (150, (LUNA, FLASH, SOL))
        cats = [q.category for q in ds.queries]
        assert (cats.count("easy"), cats.count("medium"), cats.count("hard")) == (75, 45, 30)
        q = ds.queries[0]
        assert q.id == "q001"
        a = q.answers[LUNA]
        assert (
            q.query,
            a.provider,
            a.input_tokens,
            a.output_tokens,
            len(a.logprobs or ()),
            a.confidence,
        ) == ("Will you match a lower price?", "openai", 419, 21, 21, 0.99)
        assert q.answers[FLASH].provider == "google"
        assert q.answers[SOL].logprobs is None
        assert q.timestamp is not None
        assert q.timestamp.isoformat() == "2026-11-10T08:39:00+00:00"


class TestReplay:
    def test_baselines_and_cascade(self, ds):
        """Exact cost and accuracy of the cascade vs always-cheapest and always-strongest."""
        r = replay(ds, [LUNA, SOL], accept=no_refusal() & token_confidence(0.7))
        assert (r.cheapest.correct, r.cheapest.cost_usd) == (121, Decimal("0.01118610"))
        assert (r.strongest.correct, r.strongest.cost_usd) == (142, Decimal("0.234192"))
        p = r.policy
        assert (p.correct, p.cost_usd, p.escalated, p.answered_by) == (
            141,
            Decimal("0.07760010"),
            34,
            {LUNA: 116, SOL: 34},
        )
        assert (p.accuracy, round(p.escalation_rate, 4)) == (0.94, 0.2267)
        assert round(r.savings_vs_strongest, 4) == 0.6686
        assert p.cost_per_1k_usd == Decimal("0.5173340")

    def test_three_models(self, ds):
        """A middle model answers part of the escalations more cheaply."""
        r = replay(ds, [LUNA, FLASH, SOL], accept=no_refusal() & token_confidence(0.7))
        assert (r.policy.correct, r.policy.cost_usd) == (142, Decimal("0.05636435"))
        assert r.policy.answered_by == {LUNA: 116, FLASH: 24, SOL: 10}
        assert (r.baselines[FLASH].correct, r.baselines[FLASH].cost_usd) == (131, Decimal("0.08763075"))

    def test_router(self, ds):
        """ComplexityRouter starts hard prompts at the strong model."""
        r = replay(ds, [LUNA, SOL], accept=no_refusal() & token_confidence(0.7), start=ComplexityRouter())
        assert (r.policy.correct, r.policy.cost_usd, r.policy.escalated) == (146, Decimal("0.11982800"), 17)
        assert r.policy.answered_by == {LUNA: 96, SOL: 54}

    def test_other_scorers(self, ds):
        """The heuristic alone and self-reported confidence replay too."""
        assert replay(ds, [LUNA, SOL]).policy.correct == 131
        sc = replay(ds, [LUNA, SOL], accept=no_refusal() & self_confidence(0.75)).policy
        assert (sc.correct, sc.cost_usd) == (142, Decimal("0.07945610"))

    def test_prices_follow_the_date(self, ds):
        """at= prices every call at one instant (gemini-3.8-flash doubles on 2027-01-01)."""
        from datetime import UTC, datetime

        late = replay(ds, [FLASH, SOL], at=datetime(2027, 1, 2, tzinfo=UTC)).baselines[FLASH].cost_usd
        assert late == 2 * Decimal("0.08763075")

    def test_table(self, ds):
        """The table lists baselines and the policy with savings."""
        text = replay(ds, [LUNA, SOL], accept=token_confidence(0.75), name="tc").table()
        lines = text.splitlines()
        assert lines[0].split() == [
            "policy",
            "accuracy",
            "cost",
            "USD",
            "$",
            "/",
            "1k",
            "q",
            "vs",
            "strongest",
            "escalated",
        ]
        assert lines[2].split() == ["always", LUNA, "80.7%", "0.011186", "0.0746", "-95.2%", "-"]
        assert lines[4].split() == ["tc", "92.7%", "0.065262", "0.4351", "-72.1%", "18.7%"]

    def test_errors(self, ds, tmp_path):
        """Unknown models, judges and unpriced models are configuration errors naming the fix."""
        with pytest.raises(ConfigurationError, match=r"models \['gpt-9'\] are not in"):
            replay(ds, [LUNA, "gpt-9"])
        client = llmfinops.wrap(openai_client())
        with pytest.raises(ConfigurationError, match="offline replay cannot run it"):
            replay(ds, [LUNA, SOL], accept=no_refusal() & judge(client, LUNA))
        f = tmp_path / "x.jsonl"
        f.write_text(
            json.dumps(
                {
                    "query": "q",
                    "answers": {
                        "my-llm": {
                            "provider": "openai",
                            "text": "a",
                            "correct": True,
                            "input_tokens": 1,
                            "output_tokens": 1,
                        }
                    },
                }
            )
            + "\n"
        )
        with pytest.raises(ConfigurationError, match=r"cannot price openai:my-llm.*price_overrides"):
            replay(load_dataset(f), ["my-llm"])


class TestSweep:
    def test_curve_and_recommendation(self, ds):
        """The sweep is monotone in cost here; best() picks the cheapest within 1 point of the strongest."""
        s = sweep(ds, [LUNA, SOL], lambda t: no_refusal() & token_confidence(t), [0.5, 0.6, 0.7, 0.8, 0.9])
        assert [(r.threshold, r.stats.correct, r.stats.cost_usd) for r in s.rows] == [
            (0.5, 134, Decimal("0.05303410")),
            (0.6, 137, Decimal("0.06374610")),
            (0.7, 141, Decimal("0.07760010")),
            (0.8, 145, Decimal("0.10299010")),
            (0.9, 145, Decimal("0.16393410")),
        ]
        best = s.best(0.01)
        assert best is not None
        assert best.threshold == 0.7
        assert s.best(0.0) is not None
        assert s.best(0.0).threshold == 0.8  # type: ignore[union-attr]
        assert "cascade t=0.7" in s.table()

    def test_svg(self, ds):
        """The SVG has one point per threshold and one mark per baseline."""
        s = sweep(ds, [LUNA, SOL], lambda t: token_confidence(t), [0.6, 0.7, 0.8])
        svg = s.to_svg()
        assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
        assert svg.count("<circle") == 3
        assert svg.count("<rect x=") == 2
        assert "always gpt-6.1-sol" in svg

    def test_threshold_specs(self):
        """--sweep accepts start:stop:step and lists."""
        assert _thresholds("0.3:0.5:0.1") == [0.3, 0.4, 0.5]
        assert _thresholds("0.2,0.4") == [0.2, 0.4]
        with pytest.raises(ConfigurationError, match="start:stop:step"):
            _thresholds("0.5:0.3:0.1")


class TestLoading:
    def test_csv(self, tmp_path):
        """CSV with <model>.<field> columns (model ids with dots) loads like JSONL."""
        f = tmp_path / "log.csv"
        f.write_text(
            "id,query,gpt-6.1-sol.text,gpt-6.1-sol.correct,gpt-6.1-sol.input_tokens,gpt-6.1-sol.output_tokens,"
            "gpt-6.1-sol.logprobs,gpt-6.1-sol.confidence\n"
            'a1,Refund time?,5-7 days,yes,500,10,"-0.01 -0.2",0.9\n',
            encoding="utf-8",
        )
        d = load_dataset(f)
        a = d.queries[0].answers[SOL]
        assert (d.models, a.correct, a.input_tokens, a.logprobs, a.confidence, a.provider) == (
            (SOL,),
            True,
            500,
            (-0.01, -0.2),
            0.9,
            "openai",
        )

    @pytest.mark.parametrize(
        ("answer", "msg"),
        [
            ({"text": "a", "input_tokens": 1, "output_tokens": 1}, "missing 'correct'"),
            ({"text": "a", "correct": "maybe", "input_tokens": 1, "output_tokens": 1}, "correct='maybe'"),
            ({"text": "a", "correct": True, "input_tokens": -1, "output_tokens": 1}, "input_tokens=-1"),
            (
                {"text": "a", "correct": True, "input_tokens": 1, "output_tokens": 1, "logprobs": [0.5]},
                "must be <= 0",
            ),
        ],
    )
    def test_bad_rows(self, tmp_path, answer, msg):
        """Malformed answers name the line, model and field."""
        f = tmp_path / "bad.jsonl"
        f.write_text(json.dumps({"query": "q", "answers": {LUNA: answer}}) + "\n")
        with pytest.raises(ConfigurationError, match=rf"bad.jsonl:1 \[gpt-6-luna\]: .*{msg}"):
            load_dataset(f)

    def test_unknown_provider_and_missing_file(self, tmp_path):
        """A model of unknown provider needs 'provider'; a missing file is named."""
        f = tmp_path / "p.jsonl"
        f.write_text(
            json.dumps(
                {
                    "query": "q",
                    "answers": {
                        "llama-70b": {"text": "a", "correct": True, "input_tokens": 1, "output_tokens": 1}
                    },
                }
            )
        )
        with pytest.raises(ConfigurationError, match='add "provider"'):
            load_dataset(f)
        with pytest.raises(ConfigurationError, match="does not exist"):
            load_dataset(tmp_path / "nope.jsonl")


class TestCli:
    def test_sweep_with_svg(self, tmp_path, capsys):
        """The CLI prints the table and the recommendation, and writes the SVG."""
        svg = tmp_path / "curve.svg"
        code = main(
            [
                str(DATA),
                "--models",
                f"{LUNA},{SOL}",
                "--scorer",
                "no_refusal",
                "--scorer",
                "token_confidence",
                "--sweep",
                "0.5:0.9:0.1",
                "--svg",
                str(svg),
            ]
        )
        out = capsys.readouterr().out
        assert code == 0
        assert "no_refusal & token_confidence t=0.7" in out
        assert (
            "recommended: t=0.7 -> accuracy 94.0%, cost $0.077600 (66.9% cheaper than always-gpt-6.1-sol), "
            "escalation rate 22.7%"
        ) in out
        assert svg.read_text().startswith("<svg")

    def test_single_replay_and_errors(self, capsys):
        """A single replay prints one table; bad input exits 2 with the message."""
        assert (
            main(
                [
                    str(DATA),
                    "--models",
                    f"{LUNA},{SOL}",
                    "--scorer",
                    "token_confidence",
                    "--threshold",
                    "0.75",
                ]
            )
            == 0
        )
        assert "token_confidence" in capsys.readouterr().out
        assert main([str(DATA), "--models", f"{LUNA},gpt-9"]) == 2
        assert "are not in" in capsys.readouterr().err
        assert main([str(DATA), "--models", LUNA, "--sweep", "0.5"]) == 2
        assert "needs a thresholded scorer" in capsys.readouterr().err


class TestReplayMatchesLive:
    def test_live_cascade_on_recorded_answers_costs_the_same(self, ds):
        """Serving the recorded answers through real wrapped SDK calls gives replay's choices and cost."""
        by_id = {q.id: q for q in ds.queries}

        def handler(request: Any) -> Any:
            body = json.loads(request.content)
            q = by_id[body["messages"][0]["content"]]
            a = q.answers[body["model"]]
            data = chat_completion(
                model=body["model"],
                content=a.text,
                prompt_tokens=a.input_tokens,
                completion_tokens=a.output_tokens,
            )
            if body.get("logprobs") and a.logprobs is not None:
                data["choices"][0]["logprobs"] = {
                    "content": [
                        {"token": "t", "logprob": lp, "bytes": None, "top_logprobs": []} for lp in a.logprobs
                    ],
                    "refusal": None,
                }
            return json_response(200, data)

        client = llmfinops.wrap(openai_client(handler))
        accept = no_refusal() & token_confidence(0.7)
        live = cascade(
            [Step(client, LUNA), Step(client, SOL)], accept=accept, exhausted="last", healthy_range=None
        )
        total = Decimal(0)
        correct = 0
        for q in ds.queries:
            r = live.run(q.query, system=q.id)
            assert r.cost_usd is not None
            total += r.cost_usd
            correct += q.answers[r.model or ""].correct
        expected = replay(ds, [LUNA, SOL], accept=accept).policy
        assert (correct, total) == (expected.correct, expected.cost_usd)
        assert live.stats().escalated_runs == expected.escalated
        assert math.isclose(live.stats().escalation_rate or 0, expected.escalation_rate)


def test_stdout_default(capsys):
    """run() prints to stdout by default and to a given stream otherwise."""
    import argparse

    from llmfinops.eval._cli import add_arguments, run

    p = argparse.ArgumentParser()
    add_arguments(p)
    buf = io.StringIO()
    assert run(p.parse_args([str(DATA), "--models", f"{LUNA},{SOL}"]), out=buf) == 0
    assert "always gpt-6.1-sol" in buf.getvalue()
    assert capsys.readouterr().out == ""
