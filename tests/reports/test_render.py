"""Rendering tables: terminal, JSON, CSV and Markdown."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from llmfinops.exceptions import ConfigurationError
from llmfinops.reports import Column, Table, render, summarize
from llmfinops.reports._render import format_money, format_value

from .conftest import priced

D = Decimal
T = Table(
    title="Spend",
    columns=(
        Column("team", "team"),
        Column("day", "day", "date"),
        Column("cost", "cost", "money"),
        Column("share", "share", "pct"),
        Column("calls", "calls", "int"),
    ),
    rows=(
        {
            "team": "search",
            "day": date(2026, 11, 2),
            "cost": D("1234.5678"),
            "share": D(2) / D(3),
            "calls": 12345,
        },
        {"team": "ads|x", "day": date(2026, 11, 3), "cost": D("0.0000825"), "share": None, "calls": 1},
    ),
    total={"team": "TOTAL", "day": "", "cost": D("1234.5678825"), "share": D(1), "calls": 12346},
    notes=("a note",),
)


class TestFormats:
    def test_money(self):
        """Cents above $1, four significant digits below, a minus sign before the dollar."""
        assert [format_money(D(x)) for x in ("1234.5678", "0.5", "0.0045", "0.0000825", "0", "-3")] == [
            "$1,234.57",
            "$0.50",
            "$0.0045",
            "$0.0000825",
            "$0.00",
            "-$3.00",
        ]
        assert format_money(None) == "—"

    def test_values(self):
        """Percentages, integers, dates and missing values."""
        assert (
            format_value(D("0.1234"), "pct"),
            format_value(1234567, "int"),
            format_value(None, "money"),
            format_value(date(2026, 1, 2), "date"),
        ) == ("12.3%", "1,234,567", "—", "2026-01-02")

    def test_csv_exact_decimals(self):
        """CSV keeps exact money, rounds ratios to 6 decimals, leaves missing values empty."""
        assert render(T, "csv").splitlines() == [
            "team,day,cost,share,calls",
            "search,2026-11-02,1234.5678,0.666667,12345",
            "ads|x,2026-11-03,0.0000825,,1",
        ]

    def test_json_money_as_strings(self):
        """JSON carries money as exact decimal strings and the total row and notes."""
        doc = json.loads(render(T, "json"))
        assert doc["rows"][1] == {
            "team": "ads|x",
            "day": "2026-11-03",
            "cost": "0.0000825",
            "share": None,
            "calls": 1,
        }
        assert (doc["total"]["cost"], doc["notes"], doc["columns"][2]["kind"]) == (
            "1234.5678825",
            ["a note"],
            "money",
        )

    def test_markdown(self):
        """Markdown escapes pipes, right-aligns numbers and bolds the total."""
        md = render(T, "md").splitlines()
        assert md[0] == "### Spend"
        assert md[3] == "| --- | --- | ---: | ---: | ---: |"
        assert md[5] == "| ads\\|x | 2026-11-03 | $0.0000825 | — | 1 |"
        assert md[6] == "| **TOTAL** |  | **$1,234.57** | **100.0%** | **12,346** |"

    def test_table_text(self):
        """The terminal table shows every value, the total and the notes."""
        text = render(T, "table")
        assert all(s in text for s in ("search", "$1,234.57", "66.7%", "12,345", "TOTAL", "note: a note"))

    def test_csv_takes_one_table(self):
        """CSV of several tables is refused with the fix."""
        with pytest.raises(ConfigurationError, match="--format csv writes one table, but this output has 2"):
            render([T, T], "csv")
        with pytest.raises(ConfigurationError, match="format='xml' is not supported"):
            render(T, "xml")

    def test_report_columns(self, write_jsonl):
        """Reports render their compact columns by default and all columns with wide=True."""
        rep = summarize(write_jsonl([priced(team="a")]), by="team")
        assert len(rep.to_table().columns) == 14
        assert [c.key for c in rep.to_table(columns=["calls", "cost_usd"]).columns] == [
            "team",
            "calls",
            "cost_usd",
        ]
        with pytest.raises(ConfigurationError, match="unknown report column 'price'"):
            rep.to_table(columns=["price"])
        assert (
            render(rep.to_table(wide=True), "csv")
            .splitlines()[1]
            .startswith("a,1,0,1000,0,0,200,0,1200,0.0045,")
        )
