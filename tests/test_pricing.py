"""Price table: loading, validation, lookup, cost formula, tiers, modifiers, dates, overrides."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from llmfinops.exceptions import ConfigurationError
from llmfinops.pricing import PriceTable, default_price_table, load_price_table
from llmfinops.usage import Usage

NOV = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
M = Decimal(1_000_000)


def _table(models: list[dict[str, Any]], providers: dict[str, Any] | None = None) -> PriceTable:
    from llmfinops.pricing._table import _from_data

    return _from_data(
        {"schema_version": 1, "as_of": "2026-11-22", "providers": providers or {}, "models": models},
        "test.json",
    )


def _model(**prices: Any) -> dict[str, Any]:
    period = {"input_mtok": "1", "output_mtok": "2", "source": "test"}
    period.update(prices)
    return {"id": "m", "provider": "openai", "prices": [period]}


class TestBundledTable:
    def test_loads_and_has_as_of(self) -> None:
        """The bundled table loads, validates, and carries its as_of date."""
        t = default_price_table()
        assert t.as_of == "2026-11-22"
        assert len(t.models) >= 50

    def test_every_period_has_a_source(self) -> None:
        """Every price period names where its numbers come from."""
        for m in default_price_table().models.values():
            for p in m.periods:
                assert p.source, m.id

    @pytest.mark.parametrize(
        ("provider", "model", "expected"),
        [
            ("openai", "gpt-4o", "gpt-4o"),
            ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
            ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("anthropic", "claude-haiku-4-5-20251001", "claude-haiku-4-5"),
            ("anthropic", "anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
            ("google", "models/gemini-2.5-flash", "gemini-2.5-flash"),
            ("openai", "text-embedding-3-small", "text-embedding-3-small"),
            ("openai", "meta-llama/Llama-3.3-70B-Instruct", "meta-llama/llama-3.3-70b-instruct-turbo"),
        ],
    )
    def test_lookup_aliases_and_dated_ids(self, provider: str, model: str, expected: str) -> None:
        """Dated snapshots, provider prefixes and Bedrock suffixes resolve to the table entry."""
        entry = default_price_table().lookup(provider, model)
        assert entry is not None
        assert entry.id == expected

    def test_unknown_model_is_none_not_zero(self) -> None:
        """An unknown model gives an unknown cost with a note — never a silent $0."""
        cost = default_price_table().cost("openai", "gpt-99-imaginary", Usage(input_tokens=10), at=NOV)
        assert cost.total is None
        assert "gpt-99-imaginary" in (cost.note or "")


class TestCostFormula:
    def test_openai_cached_and_write_and_reasoning(self) -> None:
        """OpenAI: input includes cached and written tokens; output includes reasoning."""
        t = default_price_table()
        # gpt-6-sol: in 2, cached 0.20, write 2.50, out 10 (per 1M)
        u = Usage(
            input_tokens=10_000,
            cache_read_tokens=6_000,
            cache_write_tokens=2_000,
            output_tokens=1_500,
            reasoning_tokens=1_000,
        )
        c = t.cost("openai", "gpt-6-sol", u, at=NOV)
        assert c.input == 2_000 * Decimal(2) / M
        assert c.cached_input == 6_000 * Decimal("0.20") / M
        assert c.cache_write == 2_000 * Decimal("2.50") / M
        assert c.output == 1_500 * Decimal(10) / M
        assert c.total == Decimal("0.004") + Decimal("0.0012") + Decimal("0.005") + Decimal("0.015")

    def test_anthropic_ttl_split(self) -> None:
        """Anthropic 5m and 1h writes are priced at their own rates."""
        u = Usage(
            input_tokens=1_000 + 2_000 + 3_000 + 4_000,
            cache_read_tokens=4_000,
            cache_write_tokens=5_000,
            cache_write_by_ttl={"5m": 2_000, "1h": 3_000},
            output_tokens=500,
        )
        c = default_price_table().cost("anthropic", "claude-sonnet-4-5", u, at=NOV)
        assert c.input == 1_000 * Decimal(3) / M
        assert c.cache_write == (2_000 * Decimal("3.75") + 3_000 * Decimal(6)) / M
        assert c.cached_input == 4_000 * Decimal("0.30") / M
        assert c.output == 500 * Decimal(15) / M

    def test_write_without_split_uses_requested_ttl(self) -> None:
        """With no TTL split, the TTL the request asked for prices the write."""
        u = Usage(input_tokens=1_000, cache_write_tokens=1_000, output_tokens=0)
        t = default_price_table()
        c5 = t.cost("anthropic", "claude-sonnet-4-5", u, at=NOV)
        c1 = t.cost("anthropic", "claude-sonnet-4-5", u, at=NOV, cache_write_ttl="1h")
        assert c5.total == Decimal("3.75") / 1000
        assert c1.total == Decimal(6) / 1000

    def test_old_openai_writes_bill_at_input_rate(self) -> None:
        """Models without a write price bill written tokens at the input rate (no surcharge)."""
        u = Usage(input_tokens=2_000, cache_write_tokens=1_000, output_tokens=0)
        c = default_price_table().cost("openai", "gpt-4o", u, at=NOV)
        assert c.total == 2_000 * Decimal("2.50") / M

    def test_reasoning_price_when_different(self) -> None:
        """A model with its own reasoning price bills the reasoning part of output at it."""
        t = _table([_model(reasoning_mtok="8")])
        c = t.cost("openai", "m", Usage(output_tokens=100, reasoning_tokens=40), at=NOV)
        assert c.output == (60 * Decimal(2) + 40 * Decimal(8)) / M


class TestLongContext:
    def test_whole_request_repriced_above_threshold(self) -> None:
        """Above the threshold every token of the request uses the long-context prices."""
        t = default_price_table()
        below = t.cost("openai", "gpt-6-sol", Usage(input_tokens=272_000, output_tokens=1_000), at=NOV)
        above = t.cost("openai", "gpt-6-sol", Usage(input_tokens=272_001, output_tokens=1_000), at=NOV)
        assert below.total == (272_000 * Decimal(2) + 1_000 * Decimal(10)) / M
        assert above.total == (272_001 * Decimal(4) + 1_000 * Decimal(15)) / M

    def test_threshold_counts_cached_tokens(self) -> None:
        """Cache reads count toward the prompt size (Haiku 5.5's 100k band)."""
        u = Usage(input_tokens=120_000, cache_read_tokens=110_000, output_tokens=100)
        c = default_price_table().cost("anthropic", "claude-haiku-5-5", u, at=NOV)
        assert c.input == 10_000 * Decimal("0.50") / M
        assert c.cached_input == 110_000 * Decimal("0.05") / M
        assert c.output == 100 * Decimal("2.50") / M


class TestTiersAndModifiers:
    def test_batch_tier_halves(self) -> None:
        """The tier the response reports prices the call (batch = 50 %)."""
        u = Usage(input_tokens=100_000, output_tokens=100_000, service_tier="batch")
        c = default_price_table().cost("anthropic", "claude-sonnet-4-5", u, at=NOV)
        assert c.total == Decimal("0.9")

    def test_standard_tier_names_are_base(self) -> None:
        """'default' / 'auto' tiers are the base price."""
        t = default_price_table()
        u1 = Usage(input_tokens=1_000, service_tier="default")
        assert t.cost("openai", "gpt-4o", u1, at=NOV).total == Decimal("0.0025")

    def test_priority_tier_model_specific(self) -> None:
        """GPT-6.x priority is 2x (model-level tier)."""
        u = Usage(input_tokens=100_000, service_tier="priority")
        assert default_price_table().cost("openai", "gpt-6-sol", u, at=NOV).total == Decimal("0.4")

    def test_unpriced_tier_is_unknown(self) -> None:
        """A tier without a price makes the cost unknown, not standard."""
        u = Usage(input_tokens=1_000, service_tier="scale")
        c = default_price_table().cost("openai", "gpt-4o", u, at=NOV)
        assert c.total is None
        assert "scale" in (c.note or "")

    def test_geo_and_fast_stack(self) -> None:
        """inference_geo=us (1.1x) and fast mode (6x on Opus 4.6) multiply together."""
        u = Usage(input_tokens=1_000_000, modifiers={"speed": "fast", "inference_geo": "us"})
        c = default_price_table().cost("anthropic", "claude-opus-4-6", u, at=NOV)
        assert c.total == Decimal(5) * 6 * Decimal("1.1")

    def test_neutral_modifier_values_ignored(self) -> None:
        """'standard' speed and 'global' geo change nothing."""
        u = Usage(input_tokens=1_000_000, modifiers={"speed": "standard", "inference_geo": "global"})
        c = default_price_table().cost("anthropic", "claude-opus-4-6", u, at=NOV)
        assert c.total == Decimal(5)
        assert c.note is None


class TestEffectiveDates:
    def test_gemini_4_argon_doubles_on_dec_1(self) -> None:
        """A call is priced at its own timestamp: Gemini 4 Argon doubles on 2026-12-01."""
        t = default_price_table()
        u = Usage(input_tokens=1_000_000)
        before = t.cost("google", "gemini-4-argon", u, at=datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
        after = t.cost("google", "gemini-4-argon", u, at=datetime(2026, 12, 1, tzinfo=UTC))
        assert (before.total, after.total) == (Decimal(2), Decimal(4))

    def test_sonnet_5_5_cache_read_cut(self) -> None:
        """Sonnet 5.5's cache read price halves from 2026-10-07."""
        t = default_price_table()
        u = Usage(input_tokens=1_000_000, cache_read_tokens=1_000_000)
        assert t.cost(
            "anthropic", "claude-sonnet-5-5", u, at=datetime(2026, 10, 6, tzinfo=UTC)
        ).total == Decimal("0.20")
        assert t.cost(
            "anthropic", "claude-sonnet-5-5", u, at=datetime(2026, 10, 7, tzinfo=UTC)
        ).total == Decimal("0.10")

    def test_before_first_period_is_unknown(self) -> None:
        """A call before a model's first priced day is unknown, not priced at a later rate."""
        c = default_price_table().cost(
            "openai", "gpt-6-sol", Usage(input_tokens=1), at=datetime(2026, 1, 1, tzinfo=UTC)
        )
        assert c.total is None


class TestValidation:
    @pytest.mark.parametrize(
        ("prices", "fragment"),
        [
            ({"input_mtok": "-1"}, "'input_mtok' = '-1' is negative"),
            ({"input_mtok": 1.5}, "is a float"),
            ({"cache_write_mtok": {"5m": "0.5"}}, "cheaper than input_mtok=1"),
            ({"cache_read_mtok": "3"}, "more expensive than input_mtok"),
            ({"tiers": {"turbo": {"multiplier": "2"}}}, "unknown tier 'turbo'"),
            (
                {"long_context": {"threshold_tokens": 10, "input_mtok": "2"}},
                "long_context lacks 'output_mtok'",
            ),
            ({"colour": "red"}, "unknown field(s) ['colour']"),
        ],
    )
    def test_bad_period_names_model_and_field(self, prices: dict[str, Any], fragment: str) -> None:
        """Errors name the file, the model and the field."""
        with pytest.raises(ConfigurationError) as exc:
            _table([_model(**prices)], providers={"openai": {"tiers": {"batch": {"multiplier": "0.5"}}}})
        msg = str(exc.value)
        assert "'test.json'" in msg
        assert "model 'm'" in msg
        assert fragment in msg

    def test_overlapping_periods(self) -> None:
        """Overlapping date ranges are refused."""
        model = {
            "id": "m",
            "provider": "openai",
            "prices": [
                {
                    "from": "2026-01-01",
                    "until": "2026-06-01",
                    "input_mtok": "1",
                    "output_mtok": "1",
                    "source": "s",
                },
                {"from": "2026-05-01", "input_mtok": "2", "output_mtok": "2", "source": "s"},
            ],
        }
        with pytest.raises(ConfigurationError, match="overlapping price periods"):
            _table([model])

    def test_missing_source(self) -> None:
        """Every period must say where its prices come from."""
        with pytest.raises(ConfigurationError, match="missing 'source'"):
            _table([{"id": "m", "provider": "openai", "prices": [{"input_mtok": "1", "output_mtok": "1"}]}])


class TestOverrides:
    def test_self_hosted_model_from_code(self) -> None:
        """A self-hosted OpenAI-compatible model can be added at a custom price."""
        t = default_price_table().with_overrides(
            models=[
                {
                    "id": "llama-70b-internal",
                    "provider": "openai",
                    "prices": [{"input_mtok": "0.40", "output_mtok": "0.40", "source": "our GPU cost"}],
                }
            ]
        )
        c = t.cost(
            "openai", "llama-70b-internal", Usage(input_tokens=1_000_000, output_tokens=1_000_000), at=NOV
        )
        assert c.total == Decimal("0.80")
        assert t.lookup("openai", "gpt-4o") is not None

    def test_discount_multiplier(self) -> None:
        """An enterprise discount multiplies every price of the matching provider."""
        t = default_price_table().with_overrides(discounts=[{"provider": "anthropic", "multiplier": "0.85"}])
        u = Usage(input_tokens=100_000)
        assert t.cost("anthropic", "claude-sonnet-4-5", u, at=NOV).total == Decimal("0.255")
        assert t.cost("openai", "gpt-4o", u, at=NOV).total == Decimal("0.250")

    def test_discount_above_one_refused(self) -> None:
        """A 'discount' above 1 is a configuration error."""
        with pytest.raises(ConfigurationError, match="above 1"):
            default_price_table().with_overrides(discounts=[{"multiplier": "1.2"}])

    def test_override_file_replaces_model(self, tmp_path: Path) -> None:
        """An override file with the same schema replaces a model by id."""
        f = tmp_path / "mine.json"
        f.write_text(
            json.dumps(
                {
                    "models": [
                        {
                            "id": "gpt-4o",
                            "provider": "openai",
                            "aliases": ["gpt-4o-2024-08-06"],
                            "prices": [{"input_mtok": "2", "output_mtok": "8", "source": "contract"}],
                        }
                    ]
                }
            )
        )
        t = default_price_table().with_overrides(file=f)
        assert t.cost("openai", "gpt-4o-2024-08-06", Usage(input_tokens=1_000_000), at=NOV).total == Decimal(
            2
        )

    def test_load_missing_file(self, tmp_path: Path) -> None:
        """A missing price file is a configuration error naming the path."""
        with pytest.raises(ConfigurationError, match="cannot read file"):
            load_price_table(tmp_path / "nope.json")

    def test_invalid_json_names_line(self, tmp_path: Path) -> None:
        """Invalid JSON names the line."""
        f = tmp_path / "bad.json"
        f.write_text('{\n  "models": [\n}')
        with pytest.raises(ConfigurationError, match="line 3"):
            load_price_table(f)
