"""summarize(): grouping, the cost split, rates, cache savings and unknown costs, to the exact decimal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from llmfinops.exceptions import ConfigurationError
from llmfinops.reports import summarize
from llmfinops.testing import make_record

from .conftest import T0, priced

D = Decimal


@pytest.fixture
def basic(write_jsonl):
    return write_jsonl(
        [
            priced("gpt-4o", id="s1", team="search", feature="autocomplete"),
            priced(
                "gpt-4o",
                id="s2",
                team="search",
                feature="autocomplete",
                input_tokens=2000,
                cached=1000,
                output=100,
            ),
            priced("gpt-4o-mini", id="a1", team="ads", feature="copy", input_tokens=10_000, output=1000),
            make_record(
                id="a2",
                team="ads",
                feature="copy",
                model="mystery-1",
                price_model=None,
                cost_usd=None,
                input_cost_usd=None,
                cached_input_cost_usd=None,
                cache_write_cost_usd=None,
                output_cost_usd=None,
            ),
        ]
    )


class TestSpendByTeam:
    def test_costs_and_split(self, basic):
        """Known costs add up exactly; the split follows the recorded parts."""
        rep = summarize(basic, by="team")
        s = rep.get(team="search")
        assert (s.calls, s.cost_usd, s.input_cost_usd, s.cached_input_cost_usd, s.output_cost_usd) == (
            2,
            D("0.00925"),
            D("0.005"),
            D("0.00125"),
            D("0.003"),
        )
        assert rep.total.cost_usd == D("0.01135")

    def test_unknown_cost_is_counted_not_zero(self, basic):
        """An unpriced call is counted apart and excluded from cost per call."""
        rep = summarize(basic, by="team")
        ads = rep.get(team="ads")
        assert (ads.calls, ads.unknown_cost_calls, ads.priced_calls, ads.cost_usd, ads.cost_per_call) == (
            2,
            1,
            1,
            D("0.0021"),
            D("0.0021"),
        )
        assert rep.notes[0].startswith("1 of 4 calls have an unknown cost")

    def test_share_and_rates(self, basic):
        """Share of known cost, cache hit rate (cached/input) and cost per call."""
        s = summarize(basic, by="team").get(team="search")
        assert (s.share, s.cache_hit_rate, s.cost_per_call) == (
            D("0.00925") / D("0.01135"),
            D(1000) / D(3000),
            D("0.004625"),
        )

    def test_rows_sorted_by_cost(self, basic):
        """Without a time grain, the costliest group comes first."""
        assert [r.key for r in summarize(basic, by="team").rows] == [("search",), ("ads",)]

    def test_tokens(self, basic):
        """Token columns are plain sums (input inclusive of cached)."""
        t = summarize(basic, by=()).total
        assert (t.input_tokens, t.cached_input_tokens, t.output_tokens, t.total_tokens) == (
            14_000,
            1000,
            1500,
            15_500,
        )


class TestCacheSavings:
    def test_savings_at_uncached_minus_cached_price(self, basic):
        """gpt-4o: 1000 cached tokens x ($2.50 - $1.25)/1M."""
        assert summarize(basic, by="team").get(team="search").cache_savings_usd == D("0.00125")

    def test_price_change_is_applied_per_day(self, write_jsonl):
        """claude-sonnet-5-5 cut its cache-read price on 2026-10-07: each day is valued at its own price."""
        before = datetime(2026, 10, 6, 9, tzinfo=UTC)
        after = datetime(2026, 10, 8, 9, tzinfo=UTC)
        p = write_jsonl(
            [
                priced("claude-sonnet-5-5", "anthropic", input_tokens=12_000, cached=10_000, ts=before),
                priced("claude-sonnet-5-5", "anthropic", input_tokens=12_000, cached=10_000, ts=after),
            ]
        )
        rep = summarize(p, by="day")
        assert [(r.key[0], r.cache_savings_usd) for r in rep.rows] == [
            (date(2026, 10, 6), D("0.018")),
            (date(2026, 10, 8), D("0.019")),
        ]

    def test_long_context_band_is_per_call(self, write_jsonl):
        """Each call uses its own band: 250k-token prompt at the long rate, 150k at the base rate."""
        ts = datetime(2026, 11, 2, tzinfo=UTC)
        p = write_jsonl(
            [
                priced("claude-sonnet-4-5", "anthropic", input_tokens=250_000, cached=100_000, ts=ts),
                priced("claude-sonnet-4-5", "anthropic", input_tokens=150_000, cached=100_000, ts=ts),
                priced("claude-haiku-5-5", "anthropic", input_tokens=150_000, cached=50_000, ts=ts),
            ]
        )
        rep = summarize(p, by="model")
        assert rep.get(model="claude-sonnet-4-5").cache_savings_usd == D("0.54") + D("0.27")
        assert rep.get(model="claude-haiku-5-5").cache_savings_usd == D("0.0225")

    def test_batch_tier_halves_savings(self, write_jsonl):
        """Batch calls save half as much: both prices are halved."""
        p = write_jsonl([priced("gpt-4o", input_tokens=2000, cached=1000, tier="batch")])
        assert summarize(p, by=()).total.cache_savings_usd == D("0.000625")

    def test_unpriceable_cached_tokens_are_reported(self, write_jsonl):
        """Cached tokens of a model missing from the table are counted and named, not valued at $0."""
        p = write_jsonl([make_record(model="mystery-1", price_model=None, cached_input_tokens=500)])
        rep = summarize(p, by=())
        assert (rep.total.cache_savings_usd, rep.total.cache_savings_unpriced_tokens) == (D(0), 500)
        assert "mystery-1" in rep.notes[-1]


class TestReliabilityColumns:
    def test_retry_error_and_escalation(self, write_jsonl):
        """Retry rate, error cost and escalation rate (per cascade run) from the records."""
        p = write_jsonl(
            [
                priced(id="1", retry_count=2, cascade_id="r1", cascade_outcome="escalated"),
                priced(id="2", cascade_id="r1", cascade_outcome="accepted", model="gpt-4o-mini"),
                priced(id="3", cascade_id="r2", cascade_outcome="accepted"),
                priced(id="4", status="error", error_type="APIError", tags={"cascade_outcome": "escalated"}),
            ]
        )
        t = summarize(p, by=()).total
        assert (t.retry_rate, t.retries, t.error_calls, t.error_cost_usd) == (D("0.25"), 2, 1, D("0.0045"))
        assert (t.cascade_runs, t.escalated_runs, t.escalation_rate) == (3, 2, D(2) / D(3))

    def test_no_cascade_means_no_escalation_rate(self, basic):
        """Without cascade records the escalation rate is unknown (None), not 0 %."""
        assert summarize(basic, by="team").get(team="ads").escalation_rate is None

    def test_response_cache_hits(self, write_jsonl):
        """llmfinops response-cache hits are counted with their savings and consume no tokens."""
        p = write_jsonl(
            [
                priced(id="1"),
                make_record(
                    id="2",
                    cache_hit=True,
                    cost_usd=0,
                    input_cost_usd=0,
                    output_cost_usd=0,
                    saved_usd="0.0045",
                ),
            ]
        )
        t = summarize(p, by=()).total
        assert (t.calls, t.response_cache_hits, t.response_cache_saved_usd, t.input_tokens) == (
            2,
            1,
            D("0.0045"),
            1000,
        )


class TestDimensions:
    def test_time_grains_sorted_by_time(self, write_jsonl):
        """day, week (Monday) and month grains, rows in time order."""
        p = write_jsonl(
            [
                priced(ts=datetime(2026, 11, 8, 23, tzinfo=UTC)),  # Sunday
                priced(ts=datetime(2026, 11, 9, 1, tzinfo=UTC)),  # Monday
                priced(ts=datetime(2026, 10, 31, 12, tzinfo=UTC)),
            ]
        )
        assert [r.key for r in summarize(p, by="week").rows] == [
            (date(2026, 10, 26),),
            (date(2026, 11, 2),),
            (date(2026, 11, 9),),
        ]
        assert [(r.key, r.calls) for r in summarize(p, by="month").rows] == [
            ((date(2026, 10, 1),), 1),
            ((date(2026, 11, 1),), 2),
        ]

    def test_combined_dimensions(self, basic):
        """Several dimensions combine; each row's key holds one value per dimension."""
        rep = summarize(basic, by=("team", "model", "day"))
        assert rep.get("search", "gpt-4o", date(2026, 11, 2)).calls == 2
        assert len(rep.rows) == 3

    def test_tag_and_user_dimensions(self, write_jsonl):
        """tag:<key> groups by a tag; user groups by the (hashed) user id."""
        p = write_jsonl([priced(tags={"region": "eu"}, user_id="u1"), priced(user_id="u1")])
        assert [(r.key, r.calls) for r in summarize(p, by="tag:region").rows] == [(("eu",), 1), ((None,), 1)]
        assert summarize(p, by="user").get(user="u1").calls == 2

    def test_unknown_dimension(self, basic):
        """A typo in a dimension is explained with the valid names."""
        with pytest.raises(ConfigurationError, match=r"unknown dimension 'teams'; use one of: model"):
            summarize(basic, by="teams")

    def test_top_folds_the_rest(self, write_jsonl):
        """top=N keeps the N costliest rows and sums the rest into (other)."""
        p = write_jsonl([priced(team=f"t{i}", input_tokens=1000 * (i + 1)) for i in range(4)])
        table = summarize(p, by="team").to_table(top=2)
        assert [r["team"] for r in table.rows] == ["t3", "t2", "(other)"]
        assert table.rows[-1]["cost_usd"] == D("0.0045") + D("0.007")

    def test_since_filter_on_paths(self, basic):
        """since/until filter the records when summarize opens the files."""
        assert summarize(basic, by=(), since=T0 + timedelta(seconds=1)).total.calls == 0
