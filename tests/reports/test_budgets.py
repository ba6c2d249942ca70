"""The budgets file and budget vs actual."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from llmfinops.exceptions import ConfigurationError
from llmfinops.reports import budget_status, load_budgets, parse_budgets
from llmfinops.reports._budgets import budgets_table, window_bounds

from .conftest import priced

D = Decimal

TOML = """
[[budget]]
key = "total"
window = "month"
limit_usd = "1.00"

[[budget]]
name = "search daily"
key = "team:search"
window = "day"
limit_usd = 0.01
alert_at = [0.5, 0.9]

[[budget]]
key = "team:ads,environment:prod"
window = "week"
limit_usd = 100
"""


class TestBudgetFile:
    def test_toml(self, tmp_path):
        """TOML [[budget]] tables become Budget objects with decimal limits."""
        p = tmp_path / "budgets.toml"
        p.write_text(TOML)
        b = load_budgets(p)
        assert [(x.key, x.window, x.limit_usd, x.alert_at) for x in b] == [
            ("total", "month", D("1.00"), (D("0.5"), D("0.75"), D("0.9"))),
            ("team:search", "day", D("0.01"), (D("0.5"), D("0.9"))),
            ("team:ads,environment:prod", "week", D(100), (D("0.5"), D("0.75"), D("0.9"))),
        ]
        assert b[2].conditions == (("team", "ads"), ("environment", "prod"))

    def test_json_and_tag_keys(self, tmp_path):
        """JSON {"budgets": [...]} works too; tag:<key>:<value> scopes a tag."""
        p = tmp_path / "b.json"
        p.write_text('{"budgets": [{"key": "tag:region:eu", "window": "month", "limit_usd": "5"}]}')
        assert load_budgets(p)[0].conditions == (("tag:region", "eu"),)

    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            (
                {"key": "team:a", "window": "year", "limit_usd": 1},
                "window='year' is not one of day, week, month",
            ),
            ({"key": "team:a", "limit_usd": -5}, "limit_usd=-5 must be a positive amount"),
            ({"key": "team:a", "limit_usd": "lots"}, "limit_usd='lots' is not a number"),
            ({"key": "squad:a", "limit_usd": 1}, "unknown dimension 'squad'"),
            ({"key": "team", "limit_usd": 1}, "each part must be '<dimension>:<value>'"),
            ({"key": "team:a", "limit_usd": 1, "limit": 2}, "unknown field(s) ['limit']"),
            ({"key": "team:a", "limit_usd": 1, "alert_at": [75]}, "use fractions in (0, 1]"),
        ],
    )
    def test_errors_name_the_field(self, entry, message):
        """Every invalid field is reported with its value and the fix."""
        with pytest.raises(ConfigurationError) as info:
            parse_budgets({"budget": [entry]}, "b.toml")
        assert str(info.value).startswith("budgets 'b.toml': budget #1: ")
        assert message in str(info.value)

    def test_unreadable_and_invalid_files(self, tmp_path):
        """A missing file or bad TOML is a ConfigurationError naming the file."""
        with pytest.raises(ConfigurationError, match="cannot read file"):
            load_budgets(tmp_path / "none.toml")
        p = tmp_path / "bad.toml"
        p.write_text("[[budget]\n")
        with pytest.raises(ConfigurationError, match=r"budgets '.*bad\.toml': invalid toml"):
            load_budgets(p)


class TestBudgetStatus:
    def test_windows(self):
        """Day, ISO week (Monday) and calendar month windows in UTC."""
        at = datetime(2026, 11, 19, 8, tzinfo=UTC)
        assert [
            tuple(x.date().isoformat() for x in window_bounds(w, at)) for w in ("day", "week", "month")
        ] == [("2026-11-19", "2026-11-20"), ("2026-11-16", "2026-11-23"), ("2026-11-01", "2026-12-01")]

    def test_spent_used_and_status(self, write_jsonl, tmp_path):
        """Each budget sums its own scope and window; over, warn and ok are decided on the limit."""
        p = write_jsonl(
            [
                priced(team="search", ts=datetime(2026, 11, 19, 8, tzinfo=UTC)),
                priced(team="search", ts=datetime(2026, 11, 19, 9, tzinfo=UTC)),
                priced(team="search", ts=datetime(2026, 11, 18, 9, tzinfo=UTC)),
                priced(team="ads", environment="prod", ts=datetime(2026, 11, 17, 9, tzinfo=UTC)),
            ]
        )
        f = tmp_path / "b.toml"
        f.write_text(TOML)
        st = budget_status(p, load_budgets(f), as_of=datetime(2026, 11, 19, 12, tzinfo=UTC))
        assert [(s.budget.key, s.spent_usd, s.used, s.status) for s in st] == [
            ("total", D("0.018"), D("0.018"), "ok"),
            ("team:search", D("0.009"), D("0.9"), "forecast_over"),
            ("team:ads,environment:prod", D("0.0045"), D("0.000045"), "ok"),
        ]
        assert st[1].crossed == D("0.9")
        assert st[1].forecast_usd == D("0.018")  # half the day gone, $0.009 spent

    def test_over(self, write_jsonl):
        """Spend at or above the limit is 'over'; the table shows what remains (negative)."""
        p = write_jsonl([priced(team="search") for _ in range(3)])
        st = budget_status(
            p, parse_budgets({"budget": [{"key": "team:search", "window": "day", "limit_usd": "0.01"}]})
        )
        assert (st[0].status, st[0].spent_usd) == ("over", D("0.0135"))
        assert budgets_table(st).rows[0]["remaining_usd"] == D("-0.0035")
