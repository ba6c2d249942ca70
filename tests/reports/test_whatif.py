"""What-if re-pricing of logged traffic: another model, prices, date, cache hit rate or batch."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from llmfinops.exceptions import ConfigurationError
from llmfinops.pricing import default_price_table
from llmfinops.reports import Scenario, what_if
from llmfinops.testing import make_record

from .conftest import priced

D = Decimal


@pytest.fixture
def traffic(write_jsonl):
    return write_jsonl(
        [
            priced("gpt-4o", feature="search", team="a"),
            priced("gpt-4o", feature="search", team="a", input_tokens=2000, cached=1000, output=100),
            priced("gpt-4o-mini", feature="chat", team="b", input_tokens=10_000, output=1000),
            priced("text-embedding-3-small", feature="embed", team="b", output=0, operation="embeddings"),
        ]
    )


class TestModelSubstitution:
    def test_per_feature(self, traffic):
        """Every chat call re-priced on claude-haiku-4-5 ($1/$5, cache read $0.10); embeddings untouched."""
        w = what_if(traffic, Scenario(model="claude-haiku-4-5"))
        rows = {r.key[0]: (r.baseline_usd, r.whatif_usd, r.change_usd) for r in w.rows}
        assert rows == {
            "search": (D("0.00925"), D("0.0036"), D("-0.00565")),
            "chat": (D("0.0021"), D("0.015"), D("0.0129")),
            "embed": (D("0.00002"), D("0.00002"), D(0)),
        }
        t = w.total
        assert (t.calls, t.repriced_calls, t.actual_usd, t.baseline_usd, t.whatif_usd) == (
            4,
            3,
            D("0.01137"),
            D("0.01137"),
            D("0.01862"),
        )
        assert [r.key[0] for r in w.rows] == ["search", "embed", "chat"]  # biggest saving first

    def test_provider_prefix_and_unknown_model(self, traffic):
        """'anthropic:claude-haiku-4-5' names the provider; an unknown model is explained."""
        assert what_if(traffic, Scenario(model="anthropic:claude-haiku-4-5")).total.whatif_usd == D("0.01862")
        with pytest.raises(ConfigurationError, match="model='claude-haiku-9' is not in the price table"):
            what_if(traffic, Scenario(model="claude-haiku-9"))

    def test_long_context_threshold_is_per_call(self, write_jsonl):
        """On claude-sonnet-4-5 two 150k-token calls stay at the base rate; a 250k one pays the long rate."""
        p = write_jsonl(
            [priced("gpt-4o", input_tokens=150_000, output=0) for _ in range(2)]
            + [priced("gpt-4o", input_tokens=250_000, output=0)]
        )
        w = what_if(p, Scenario(model="claude-sonnet-4-5"), by=())
        assert w.total.whatif_usd == D("0.45") * 2 + D("1.5")

    def test_only_filter(self, traffic):
        """only= re-prices the matching calls; the rest keep their baseline."""
        w = what_if(traffic, Scenario(model="claude-haiku-4-5", only={"team": "a"}), by="team")
        assert [(r.key[0], r.repriced_calls, r.change_usd) for r in w.rows] == [
            ("a", 2, D("-0.00565")),
            ("b", 0, D(0)),
        ]

    def test_flex_tier_falls_back_to_standard(self, write_jsonl):
        """A tier the target provider does not offer is priced at its standard tier, with a note."""
        p = write_jsonl([priced("gpt-4o", tier="flex"), priced("gpt-4o", tier="default")])
        w = what_if(p, Scenario(model="claude-haiku-4-5"), by=())
        assert w.total.whatif_usd == D("0.004")
        assert any("tier 'flex' is not offered" in n for n in w.notes)
        assert not any("'default'" in n for n in w.notes)


class TestOtherScenarios:
    def test_cache_hit_rate(self, write_jsonl):
        """With a 50 % hit rate half the input is billed at the cache-read price."""
        p = write_jsonl([priced("gpt-4o", input_tokens=2000, output=0)])
        w = what_if(p, Scenario(cache_hit_rate=D("0.5")), by=())
        assert (w.total.baseline_usd, w.total.whatif_usd) == (D("0.005"), D("0.00375"))

    def test_batch(self, traffic):
        """Batch halves every price."""
        w = what_if(traffic, Scenario(batch=True), by=())
        assert w.total.whatif_usd == D("0.01137") / 2

    def test_at_another_date(self, write_jsonl):
        """Priced at 2026-10-08, claude-sonnet-5-5's cheaper cache read applies to calls of October 1."""
        p = write_jsonl(
            [
                priced(
                    "claude-sonnet-5-5",
                    "anthropic",
                    input_tokens=12_000,
                    cached=10_000,
                    output=0,
                    ts=datetime(2026, 10, 1, tzinfo=UTC),
                )
            ]
        )
        w = what_if(p, Scenario(at=datetime(2026, 10, 8, tzinfo=UTC)), by=())
        assert (w.total.baseline_usd, w.total.whatif_usd) == (D("0.006"), D("0.005"))

    def test_discounted_price_table(self, traffic):
        """A 20 % enterprise discount on OpenAI, applied through the price table."""
        table = default_price_table().with_overrides(discounts=[{"provider": "openai", "multiplier": "0.8"}])
        w = what_if(traffic, Scenario(price_table=table), by=())
        assert w.total.whatif_usd == D("0.01137") * D("0.8")

    def test_unpriced_calls_are_counted(self, write_jsonl):
        """Calls that cannot be priced are counted and left out of both sides."""
        p = write_jsonl([priced("gpt-4o"), make_record(model="mystery-1", price_model=None, cost_usd=None)])
        w = what_if(p, Scenario(batch=True), by=())
        assert (w.total.unpriced_calls, w.total.baseline_usd, w.total.whatif_usd) == (
            1,
            D("0.0045"),
            D("0.00225"),
        )
        assert w.notes[0].startswith("1 calls could not be priced")

    def test_bad_hit_rate(self, traffic):
        """A hit rate outside [0, 1] is refused."""
        with pytest.raises(ConfigurationError, match=r"cache_hit_rate=1\.5 must be a fraction"):
            what_if(traffic, Scenario(cache_hit_rate=D("1.5")))

    def test_table(self, traffic):
        """The table names the scenario and has a TOTAL row."""
        t = what_if(traffic, Scenario(model="claude-haiku-4-5", batch=True)).to_table()
        assert (t.title, t.total["feature"]) == ("What if: model=claude-haiku-4-5, batch tier", "TOTAL")
