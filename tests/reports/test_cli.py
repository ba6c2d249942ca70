"""The llmfinops command line."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import llmfinops
from llmfinops._cli import main

from .conftest import priced

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def logs(write_jsonl):
    return write_jsonl(
        [
            priced("gpt-4o", team="search", feature="autocomplete"),
            priced(
                "gpt-4o", team="search", feature="autocomplete", input_tokens=2000, cached=1000, output=100
            ),
            priced("gpt-4o-mini", team="ads", feature="copy", input_tokens=10_000, output=1000),
        ]
    )


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestReport:
    def test_table(self, capsys, logs):
        """The default report groups by provider and model and prints a table with a TOTAL row."""
        code, out, _ = run(capsys, "report", str(logs), "--quiet")
        assert code == 0
        assert all(s in out for s in ("LLM spend by provider, model", "gpt-4o-mini", "TOTAL", "$0.0114"))

    def test_json_by_team(self, capsys, logs):
        """--format json has every column, money as exact strings."""
        code, out, _ = run(capsys, "report", str(logs), "--by", "team", "--format", "json")
        doc = json.loads(out)
        assert code == 0
        assert [(r["team"], r["cost_usd"], r["cache_savings_usd"]) for r in doc["rows"]] == [
            ("search", "0.00925", "0.00125"),
            ("ads", "0.0021", "0"),
        ]
        assert doc["total"]["calls"] == 3

    def test_csv_where_and_output_file(self, capsys, logs, tmp_path):
        """--where filters, -o writes the file."""
        out_file = tmp_path / "r.csv"
        code, out, _ = run(
            capsys,
            "report",
            str(logs),
            "--by",
            "feature",
            "--where",
            "team=search",
            "--format",
            "csv",
            "-o",
            str(out_file),
        )
        assert (code, out) == (0, "")
        lines = out_file.read_text().splitlines()
        assert (len(lines), lines[1].split(",")[:3]) == (2, ["autocomplete", "2", "0"])

    def test_markdown_time_grain(self, capsys, logs):
        """--by day --format md prints a Markdown table per day."""
        code, out, _ = run(capsys, "report", str(logs), "--by", "day", "--format", "md")
        assert code == 0
        assert "| 2026-11-02 | 3 |" in out

    def test_chargeback_csv(self, capsys, logs):
        """--chargeback splits the shared cost by team and ends with a TOTAL row."""
        code, out, _ = run(
            capsys, "report", str(logs), "--chargeback", "--shared-cost", "1000", "--format", "csv"
        )
        lines = out.splitlines()
        assert code == 0
        assert lines[0].startswith("team,calls,tokens")
        assert [line.split(",")[0] for line in lines[1:]] == ["search", "ads", "TOTAL"]
        assert lines[-1].split(",")[-1] == "1000.01"

    def test_budgets_view(self, capsys, logs, tmp_path):
        """--budgets shows budget vs actual."""
        f = tmp_path / "b.toml"
        f.write_text('[[budget]]\nkey = "team:search"\nwindow = "day"\nlimit_usd = "0.01"\n')
        code, out, _ = run(capsys, "report", str(logs), "--budgets", str(f), "--format", "csv")
        assert code == 0
        assert out.splitlines()[1].split(",")[:2] == ["team:search", "day"]

    def test_html(self, capsys, logs, tmp_path):
        """--html writes the self-contained page as well."""
        page = tmp_path / "out" / "r.html"
        code, _, err = run(capsys, "report", str(logs), "--html", str(page), "--format", "json")
        assert (code, page.read_text()[:15], f"wrote {page}" in err) == (0, "<!doctype html>", True)

    def test_default_input_from_env(self, capsys, logs, monkeypatch):
        """Without paths the report reads $LLMFINOPS_JSONL."""
        monkeypatch.setenv("LLMFINOPS_JSONL", str(logs))
        code, out, _ = run(capsys, "report", "--by", "team", "--format", "csv")
        assert code == 0
        assert out.count("\n") == 3


class TestErrors:
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["report", "nope/*.jsonl"], "input 'nope/*.jsonl' matches no file"),
            (["report", "{logs}", "--by", "squad"], "unknown dimension 'squad'"),
            (
                ["report", "{logs}", "--month", "2026-11", "--since", "2026-11-02"],
                "--month cannot be combined",
            ),
            (["report", "{logs}", "--last", "3 days"], "--last='3 days' is not a duration"),
            (["report", "{logs}", "--where", "team"], "--where 'team': use DIMENSION=VALUE"),
            (["whatif", "{logs}"], "whatif needs a change"),
            (["report", "{logs}", "--budgets", "missing.toml"], "budgets 'missing.toml': cannot read file"),
            (
                ["estimate", "commit", "--commit", "lots", "--discount", "5", "--usage", "1"],
                "--commit='lots'",
            ),
        ],
    )
    def test_usage_errors_exit_2_without_traceback(self, capsys, logs, argv, message):
        """Configuration errors print one line naming the value and exit 2."""
        code, out, err = run(capsys, *(a.replace("{logs}", str(logs)) for a in argv))
        assert (code, out) == (2, "")
        assert err.startswith("llmfinops: error: ")
        assert message in err
        assert "Traceback" not in err


class TestAlerts:
    def test_fail_on_alert(self, capsys, write_jsonl, tmp_path):
        """--fail-on-alert exits 1 when a spike is found, 0 when the logs are quiet."""
        start = datetime(2026, 11, 1, tzinfo=UTC)
        quiet = [priced(team="a", ts=start + timedelta(days=d, hours=12)) for d in range(9)]
        p = write_jsonl(quiet, "quiet.jsonl")
        assert run(capsys, "alerts", str(p), "--fail-on-alert")[0] == 0
        spiky = [*quiet, priced(team="a", ts=start + timedelta(days=8, hours=13), input_tokens=900_000)]
        p = write_jsonl(spiky, "spiky.jsonl")
        code, out, _ = run(capsys, "alerts", str(p), "--fail-on-alert", "--format", "json")
        doc = json.loads(out)
        assert code == 1
        assert {(r["kind"], r["scope"]) for r in doc["rows"]} >= {
            ("spike_7d", "team=a"),
            ("sigma_day", "total"),
        }

    def test_budget_alerts(self, capsys, logs, tmp_path):
        """Budgets over their limit are alerts too."""
        f = tmp_path / "b.toml"
        f.write_text('[[budget]]\nkey = "total"\nwindow = "month"\nlimit_usd = "0.001"\n')
        code, out, _ = run(
            capsys, "alerts", str(logs), "--budgets", str(f), "--format", "json", "--fail-on-alert"
        )
        rows = json.loads(out)["rows"]
        assert (code, rows[0]["kind"], rows[0]["severity"]) == (1, "budget", "high")
        assert "is over its $0.001 limit: spent $0.0114 (1135%)" in rows[0]["message"]


class TestOtherCommands:
    def test_forecast(self, capsys, logs):
        """forecast prints the total's month-end forecast."""
        code, out, _ = run(capsys, "forecast", str(logs), "--format", "json")
        assert (code, json.loads(out)["rows"][0]["scope"]) == (0, "total")

    def test_whatif(self, capsys, logs):
        """whatif --model re-prices per feature."""
        code, out, _ = run(capsys, "whatif", str(logs), "--model", "claude-haiku-4-5", "--format", "json")
        doc = json.loads(out)
        assert code == 0
        assert (doc["total"]["baseline_usd"], doc["total"]["whatif_usd"]) == ("0.01135", "0.0186")

    def test_whatif_discount_and_hit_rate_percent(self, capsys, logs):
        """--discount 20 and --cache-hit-rate 50 (percent) are accepted."""
        code, out, _ = run(
            capsys, "whatif", str(logs), "--discount", "20", "--by", "team", "--format", "json"
        )
        assert (code, json.loads(out)["total"]["whatif_usd"]) == (0, "0.00908")
        code, out, _ = run(capsys, "whatif", str(logs), "--cache-hit-rate", "50", "--format", "json")
        assert "cache hit rate 50%" in json.loads(out)["title"]

    def test_estimate_project(self, capsys):
        """estimate project prices requests/day x tokens with the table."""
        code, out, _ = run(
            capsys,
            "estimate",
            "project",
            "--model",
            "gpt-4o-mini",
            "--requests-per-day",
            "1k",
            "--input-tokens",
            "1000",
            "--output-tokens",
            "200",
            "--at",
            "2026-11-01",
            "--format",
            "csv",
        )
        assert code == 0
        assert out.splitlines()[1] == "gpt-4o-mini,gpt-4o-mini,1000,0.00027,0.27,8.1,1"

    def test_estimate_selfhost_and_batch(self, capsys):
        """selfhost prints the crossover; batch the savings."""
        code, out, _ = run(
            capsys,
            "estimate",
            "selfhost",
            "--gpu-hourly",
            "4",
            "--gpus",
            "2",
            "--tokens-per-second",
            "2000",
            "--api-price-mtok",
            "12",
            "--hours-per-month",
            "750",
            "--utilization",
            "1",
            "--format",
            "json",
        )
        assert code == 0
        assert "crossover at 500,000,000 tokens/month" in json.loads(out)["notes"][0]
        code, out, _ = run(
            capsys,
            "estimate",
            "batch",
            "--model",
            "gpt-4o",
            "--requests",
            "100k",
            "--input-tokens",
            "1000",
            "--output-tokens",
            "200",
            "--at",
            "2026-11-01",
            "--format",
            "csv",
        )
        assert code == 0
        assert out.splitlines()[1] == "gpt-4o,100000,450,225,225,0.5"

    def test_demo_is_delegated(self, capsys, monkeypatch):
        """`llmfinops demo ...` calls llmfinops._demo.main with the remaining arguments."""
        seen: list[list[str]] = []
        fake = types.ModuleType("llmfinops._demo")
        fake.main = lambda argv: seen.append(argv) or 7  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "llmfinops._demo", fake)
        monkeypatch.setattr(llmfinops, "_demo", fake, raising=False)
        assert main(["demo", "--records", "5"]) == 7
        assert seen == [["--records", "5"]]

    def test_python_dash_m(self):
        """`python -m llmfinops --version` works."""
        r = subprocess.run(
            [sys.executable, "-m", "llmfinops", "--version"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (r.returncode, r.stdout.strip()) == (0, f"llmfinops {llmfinops.__version__}")
