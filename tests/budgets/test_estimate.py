"""Worst-case estimates: what a budget reserves before a call is sent."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from llmfinops.budgets._estimate import Estimate, estimate_call, output_cap_field, to_nano
from llmfinops.pricing import default_price_table

AT = datetime(2026, 11, 22, tzinfo=UTC)
M = Decimal(1_000_000)


def est(
    provider: str,
    model: str,
    prompt: int,
    max_tokens: int | None,
    body: dict[str, Any] | None = None,
    endpoint: str = "chat.completions",
    operation: str = "chat",
    default: int = 16_384,
) -> Estimate:
    return estimate_call(
        table=default_price_table(),
        provider=provider,
        model=model,
        endpoint=endpoint,
        operation=operation,
        body={"model": model, **(body or {})},
        request_max_tokens=max_tokens,
        at=AT,
        default_max_output=default,
        prompt_tokens=prompt,
    )


def usd(e: Estimate) -> Decimal:
    assert e.usd_nano is not None
    return Decimal(e.usd_nano) / 1_000_000_000


class TestPrices:
    def test_base_prices(self) -> None:
        """Prompt x input + max output x output, for the requested model."""
        e = est("openai", "gpt-4o", 1000, 200)
        assert (usd(e), e.tokens, e.price_model) == (Decimal("0.0045"), 1200, "gpt-4o")

    def test_long_context_band(self) -> None:
        """Above the threshold, the whole request uses the long-context prices (gpt-6.1-sol: 272k)."""
        below = est("openai", "gpt-6.1-sol", 272_000, 1000)
        above = est("openai", "gpt-6.1-sol", 272_001, 1000)
        # gpt-6.1-sol bills cache writes, so the input side is priced at the write rate (worst case)
        assert usd(below) == (272_000 * Decimal("2.50") + 1000 * Decimal(10)) / M
        assert usd(above) == (272_001 * Decimal(5) + 1000 * Decimal(15)) / M

    def test_anthropic_cache_control_uses_highest_write_price(self) -> None:
        """An Anthropic request with cache_control may write the prompt at the 1h rate (2x)."""
        plain = est("anthropic", "claude-sonnet-4-6", 10_000, 500, endpoint="messages")
        cached = est(
            "anthropic",
            "claude-sonnet-4-6",
            10_000,
            500,
            endpoint="messages",
            body={"system": [{"type": "text", "text": "policies", "cache_control": {"type": "ephemeral"}}]},
        )
        assert usd(plain) == (10_000 * Decimal(3) + 500 * Decimal(15)) / M
        assert usd(cached) == (10_000 * Decimal(6) + 500 * Decimal(15)) / M

    def test_requested_tier_and_modifier(self) -> None:
        """A flex request is priced at 0.5x; Anthropic inference_geo='us' at 1.1x."""
        assert usd(est("openai", "gpt-4o", 1000, 200, body={"service_tier": "flex"})) == Decimal("0.00225")
        geo = est(
            "anthropic", "claude-haiku-4-5", 1000, 100, endpoint="messages", body={"inference_geo": "us"}
        )
        assert usd(geo) == (1000 * Decimal(1) + 100 * Decimal(5)) / M * Decimal("1.1")

    def test_unpriced_model(self) -> None:
        """A model the table does not know has no USD estimate (tokens still known)."""
        e = est("openai", "my-finetune", 1000, 100)
        assert (e.usd_nano, e.tokens, e.price_model) == (None, 1100, None)


class TestMaxOutput:
    def test_default_when_uncapped(self) -> None:
        """Without a cap, default_max_output_tokens is assumed."""
        assert est("openai", "gpt-4o", 1000, None, default=4096).max_output_tokens == 4096

    def test_bounded_by_context_window(self) -> None:
        """Never more output than the context window leaves after the prompt (gpt-4o: 128k)."""
        assert est("openai", "gpt-4o", 120_000, None, default=16_384).max_output_tokens == 8000
        assert est("openai", "gpt-4o", 130_000, None).max_output_tokens == 0

    def test_embeddings_have_no_output(self) -> None:
        """Embeddings bill input only."""
        e = est("openai", "text-embedding-3-small", 5000, None, endpoint="embeddings", operation="embeddings")
        assert (e.max_output_tokens, usd(e)) == (0, Decimal("0.0001"))

    def test_cap_fields(self) -> None:
        """cap_output writes the field each API reads."""
        assert [
            output_cap_field(p, e)
            for p, e in [
                ("openai", "chat.completions"),
                ("openai", "responses"),
                ("anthropic", "messages"),
                ("google", "generate_content"),
            ]
        ] == [
            "max_completion_tokens",
            "max_output_tokens",
            "max_tokens",
            None,
        ]


class TestRounding:
    @pytest.mark.parametrize(
        ("amount", "nano"),
        [
            ("0.0000000001", 1),
            ("0.000000001", 1),
            ("0.0045", 4_500_000),
            ("0", 0),
            ("12.3456789012", 12_345_678_902),
        ],
    )
    def test_to_nano_rounds_up(self, amount: str, nano: int) -> None:
        """Amounts become nano-dollars, rounded up so a store never under-counts."""
        assert to_nano(Decimal(amount)) == nano
