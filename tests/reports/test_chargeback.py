"""Showback/chargeback: direct spend plus a shared cost split by usage share (seed 004, chapter 12)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmfinops.exceptions import ConfigurationError
from llmfinops.reports import allocate_cents, chargeback, render
from llmfinops.reports._chargeback import round_cents
from llmfinops.testing import make_record

D = Decimal


class TestAllocation:
    def test_largest_remainder(self):
        """Cents add up exactly; leftover cents go to the largest remainders."""
        assert allocate_cents(D(100), [D(1), D(1), D(1)]) == [D("33.34"), D("33.33"), D("33.33")]
        assert allocate_cents(D("0.05"), [D(1), D(2)]) == [D("0.02"), D("0.03")]
        assert sum(allocate_cents(D("50000"), [D("0.3"), D("0.1"), D("0.07")])) == D("50000")

    def test_zero_weights_split_evenly(self):
        """No usage at all: the shared cost is split evenly."""
        assert allocate_cents(D(10), [D(0), D(0)]) == [D(5), D(5)]

    def test_round_cents_keeps_the_total(self):
        """Rounding each amount to cents keeps the sum equal to the rounded total."""
        amounts = [D("0.005"), D("0.005"), D("0.005")]
        assert (round_cents(amounts), sum(round_cents(amounts))) == ([D("0.01"), D("0.01"), D(0)], D("0.02"))


def _rec(team: str | None, cost: str, **kw):
    return make_record(team=team, cost_usd=cost, input_cost_usd=cost, output_cost_usd=0, **kw)


class TestChargeback:
    def test_seed_004_allocation(self, write_jsonl):
        """$50,000 of shared infra split by share of direct cost: 75 % / 25 %."""
        p = write_jsonl([_rec("search", "200"), _rec("search", "100"), _rec("ads", "100")])
        cb = chargeback(p, shared_cost_usd="50000")
        assert [
            (r.key, r.direct_cost_usd, r.share, r.shared_cost_usd, r.total_usd, r.charge_usd) for r in cb.rows
        ] == [
            ("search", D(300), D("0.75"), D(37500), D(37800), D(37800)),
            ("ads", D(100), D("0.25"), D(12500), D(12600), D(12600)),
        ]
        assert cb.total_usd == D(50400)

    def test_csv_for_finance(self, write_jsonl):
        """The CSV has exact amounts and a TOTAL row that foots."""
        p = write_jsonl([_rec("a", "1"), _rec("b", "1"), _rec("c", "1")])
        csv = render(chargeback(p, shared_cost_usd=100).to_table(), "csv").splitlines()
        assert csv[0] == (
            "team,calls,tokens,unknown_cost_calls,direct_cost_usd,infra_cost_usd,share,"
            "shared_cost_usd,total_usd,charge_usd"
        )
        assert [line.split(",")[7] for line in csv[1:]] == ["33.34", "33.33", "33.33", "100"]
        assert csv[-1].startswith("TOTAL,3,3600,0,3,0,1,100,103,103")

    def test_untagged_and_infra(self, write_jsonl):
        """Calls without a team are charged to (untagged); recorded infra cost is part of the total."""
        p = write_jsonl([_rec("a", "3", infra_cost_usd="0.5"), _rec(None, "1")])
        cb = chargeback(p, shared_cost_usd=0)
        assert [(r.key, r.infra_cost_usd, r.total_usd) for r in cb.rows] == [
            ("a", D("0.5"), D("3.5")),
            ("(untagged)", D(0), D(1)),
        ]
        assert any("(untagged)" in n for n in cb.notes)

    def test_basis_calls_and_tokens(self, write_jsonl):
        """The share can be taken on calls or tokens instead of cost."""
        p = write_jsonl([_rec("a", "9"), _rec("b", "1", input_tokens=3400, total_tokens=3600)])
        by_calls = chargeback(p, shared_cost_usd=10, basis="calls")
        by_tokens = chargeback(p, shared_cost_usd=10, basis="tokens")
        assert [r.shared_cost_usd for r in by_calls.rows] == [D(5), D(5)]
        assert [(r.key, r.shared_cost_usd) for r in by_tokens.rows] == [("a", D("2.5")), ("b", D("7.5"))]

    def test_bad_arguments(self, write_jsonl):
        """Unknown basis and negative shared cost are explained."""
        p = write_jsonl([_rec("a", "1")])
        with pytest.raises(ConfigurationError, match="basis='users' is not one of cost, tokens, calls"):
            chargeback(p, basis="users")
        with pytest.raises(ConfigurationError, match="shared_cost_usd=-1 must be a non-negative"):
            chargeback(p, shared_cost_usd=-1)
