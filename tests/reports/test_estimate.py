"""Estimators: seed 002's monthly projection, seed 004's commit ROI and self-host crossover, batch savings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from llmfinops.exceptions import ConfigurationError
from llmfinops.pricing import default_price_table
from llmfinops.reports import (
    Workload,
    batch_savings,
    blended_api_price,
    commit_vs_payg,
    load_workloads,
    project_monthly,
    render,
    self_host_crossover,
)

D = Decimal
AT = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def seed_table():
    """Seed 002's prices: $0.01 per 1K input tokens, $0.03 per 1K output tokens."""
    return default_price_table().with_overrides(
        models=[
            {
                "id": "seed-model",
                "provider": "openai",
                "prices": [{"input_mtok": "10", "output_mtok": "30", "source": "seed 002"}],
            }
        ]
    )


SEED_WORKLOADS = [
    Workload("Document Summarizer", "seed-model", D(500_000), 450, 125, infra_usd_per_request=D("0.00015")),
    Workload("Code Reviewer", "seed-model", D(300_000), 500, 200, infra_usd_per_request=D("0.0002")),
    Workload("Sentiment Analyzer", "seed-model", D(200_000), 300, 40, infra_usd_per_request=D("0.0003")),
]


class TestProjection:
    def test_seed_002_cost_per_request(self, seed_table):
        """450 in x $0.00001 + 125 out x $0.00003 + $0.0001 infra + $0.00005 monitoring = $0.0084."""
        p = project_monthly(SEED_WORKLOADS[:1], price_table=seed_table, at=AT)
        r = p.rows[0]
        assert (r.token_cost_per_request_usd, r.cost_per_request_usd, r.daily_usd, r.monthly_usd) == (
            D("0.00825"),
            D("0.0084"),
            D(4200),
            D(126_000),
        )

    def test_seed_002_table(self, seed_table):
        """The three-line table: $8,460 a day, $253,800 a month."""
        p = project_monthly(SEED_WORKLOADS, price_table=seed_table, at=AT)
        assert [(r.cost_per_request_usd, r.daily_usd, r.monthly_usd) for r in p.rows] == [
            (D("0.0084"), D(4200), D(126_000)),
            (D("0.0112"), D(3360), D(100_800)),
            (D("0.0045"), D(900), D(27_000)),
        ]
        assert (p.requests_per_day, p.daily_usd, p.monthly_usd) == (D(1_000_000), D(8460), D(253_800))
        assert p.rows[0].share.quantize(D("0.001")) == D("0.496")

    def test_cached_tokens_and_real_model(self):
        """Cached input tokens are priced at the model's cache-read rate."""
        p = project_monthly([Workload("chat", "gpt-4o", D(1000), 2000, 100, cached_input_tokens=1000)], at=AT)
        assert p.rows[0].cost_per_request_usd == D("0.00475")

    def test_unknown_model(self):
        """A model missing from the table is explained."""
        with pytest.raises(ConfigurationError, match="model='gpt-9' is not in the price table"):
            project_monthly([Workload("x", "gpt-9", D(1), 1, 1)], at=AT)

    def test_workload_file(self, tmp_path, seed_table):
        """Workloads load from TOML; errors name the workload and field."""
        f = tmp_path / "w.toml"
        f.write_text(
            '[[workload]]\nname = "Doc"\nmodel = "seed-model"\nrequests_per_day = 500_000\n'
            'input_tokens = 450\noutput_tokens = 125\ninfra_usd_per_request = "0.00015"\n'
        )
        assert project_monthly(load_workloads(f), price_table=seed_table, at=AT).monthly_usd == D(126_000)
        f.write_text('[[workload]]\nmodel = "gpt-4o"\nrequests_per_day = 5\ninput_tokens = 1\n')
        with pytest.raises(ConfigurationError, match="workload #1: missing required field 'output_tokens'"):
            load_workloads(f)

    def test_table_render(self, seed_table):
        """The projection renders with a TOTAL row."""
        csv = render(project_monthly(SEED_WORKLOADS, price_table=seed_table, at=AT).to_table(), "csv")
        assert csv.splitlines()[-1] == "TOTAL,,1000000,,8460,253800,1"


class TestCommit:
    def test_seed_004_formula(self):
        """Below the commitment you pay it (waste); above, usage beyond it is discounted."""
        under, exact, over = commit_vs_payg(50_000, 20, [40_000, 50_000, 80_000])
        assert (under.effective_usd, under.waste_usd, under.savings_usd, under.verdict) == (
            D(50_000),
            D(10_000),
            D(-10_000),
            "OVERCOMMITTED",
        )
        assert (exact.effective_usd, exact.savings_usd, exact.verdict) == (D(50_000), D(0), "GOOD COMMIT")
        assert (over.effective_usd, over.savings_usd) == (D(74_000), D(6_000))

    def test_bad_discount(self):
        """A discount above 100 % is rejected."""
        with pytest.raises(ConfigurationError, match="discount_pct=120 must be a percentage"):
            commit_vs_payg(1, 120, 1)


class TestSelfHost:
    def test_seed_004_crossover(self):
        """2 GPUs at $4/h for 750 h ($6,000/month) vs $12/1M API: crossover at 500M tokens/month."""
        c = self_host_crossover(
            gpu_usd_per_hour=4,
            gpus=2,
            tokens_per_second=2000,
            api_usd_per_mtok=12,
            hours_per_month=750,
            utilization=1,
        )
        assert (c.deployment_usd_per_month, c.capacity_tokens_per_month, c.crossover_tokens_per_month) == (
            D(6000),
            D(5_400_000_000),
            D(500_000_000),
        )
        assert [
            (v["tokens_per_month"], v["api_usd"], v["self_host_usd"], v["cheaper"]) for v in c.volumes
        ] == [
            (10_000_000, D(120), D(6000), "API"),
            (100_000_000, D(1200), D(6000), "API"),
            (500_000_000, D(6000), D(6000), "API"),
            (2_000_000_000, D(24_000), D(6000), "self-host"),
            (10_000_000_000, D(120_000), D(12_000), "self-host"),
        ]

    def test_fixed_costs_and_more_deployments(self):
        """Engineering cost moves the crossover; volume beyond capacity needs more deployments."""
        c = self_host_crossover(
            gpu_usd_per_hour=4,
            gpus=2,
            tokens_per_second=100,
            api_usd_per_mtok=12,
            hours_per_month=750,
            utilization=1,
            fixed_usd_per_month=30_000,
        )
        # capacity 270M tokens ($3,240 at API prices) per $6,000 deployment: the API is always cheaper
        assert c.crossover_tokens_per_month is None
        c = self_host_crossover(
            gpu_usd_per_hour=4,
            gpus=2,
            tokens_per_second=1000,
            api_usd_per_mtok=12,
            hours_per_month=750,
            utilization=1,
            fixed_usd_per_month=30_000,
        )
        # 2.7B tokens ($32,400) per deployment saves $26,400: two deployments cover the fixed $30,000
        assert c.crossover_tokens_per_month == D(3_500_000_000)

    def test_blended_api_price(self):
        """75 % input / 25 % output on gpt-4o: 0.75 x $2.50 + 0.25 x $10 = $4.375 per 1M."""
        assert blended_api_price("gpt-4o", input_share="0.75", at=AT) == D("4.375")


class TestBatch:
    def test_half_price(self):
        """The batch tier halves gpt-4o's price: $450 -> $225 for 100k requests."""
        b = batch_savings("gpt-4o", requests=100_000, input_tokens=1000, output_tokens=200, at=AT)
        assert (b.standard_usd, b.batch_usd, b.savings_usd, b.savings_pct) == (
            D(450),
            D(225),
            D(225),
            D("0.5"),
        )

    def test_batchable_share(self):
        """Only the batchable share moves."""
        b = batch_savings(
            "gpt-4o", requests=100_000, input_tokens=1000, output_tokens=200, batchable_share="0.4", at=AT
        )
        assert (b.batch_usd, b.savings_usd) == (D(360), D(90))

    def test_no_batch_tier(self):
        """A model whose provider has no batch price is explained."""
        with pytest.raises(ConfigurationError, match="has no batch price"):
            batch_savings(
                "meta-llama/llama-3.3-70b-instruct-turbo", requests=1, input_tokens=1, output_tokens=1, at=AT
            )
