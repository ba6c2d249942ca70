"""Contract and infrastructure estimators (seed 004): commit vs pay-as-you-go, self-host, batch.

* :func:`commit_vs_payg`: a committed-use contract against pay-as-you-go (chapter 13).
* :func:`self_host_crossover`: self-hosting on GPUs against the API, from GPU $/hour and
  measured tokens/s (chapter 9); :func:`blended_api_price` prices the API side.
* :func:`batch_savings`: the same workload on the provider's batch tier (chapter 5).

Every amount is Decimal USD.
"""

from __future__ import annotations

__all__ = [
    "BatchEstimate",
    "CommitScenario",
    "Crossover",
    "batch_savings",
    "blended_api_price",
    "commit_table",
    "commit_vs_payg",
    "crossover_table",
    "self_host_crossover",
]

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from llmfinops.exceptions import ConfigurationError
from llmfinops.pricing import PriceTable, default_price_table
from llmfinops.usage import Usage

from ._estimate import _MTOK, _dec, _fields, _resolve_provider
from ._render import Column, Table

# -- commit vs pay-as-you-go (seed 004, chapter 13) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitScenario:
    """One usage scenario under a committed-use contract."""

    expected_usage_usd: Decimal
    payg_usd: Decimal
    effective_usd: Decimal
    savings_usd: Decimal
    """Pay-as-you-go minus effective (negative: the commitment costs more)."""
    waste_usd: Decimal
    """Commitment paid but not used."""
    verdict: str
    """``GOOD COMMIT`` or ``OVERCOMMITTED``."""


def commit_vs_payg(
    monthly_commit_usd: Decimal | str | int,
    discount_pct: Decimal | str | int,
    expected_usage_usd: Sequence[Decimal | str | int] | Decimal | str | int,
) -> list[CommitScenario]:
    """Seed 004's committed-use ROI for one or more usage scenarios.

    Below the commitment you pay the commitment (the difference is waste); above it, the
    commitment is paid in full and usage beyond it is billed at ``(1 - discount)``.

    Example:
        >>> s = commit_vs_payg(50000, 20, [40000, 80000])
        >>> [x.verdict for x in s], [str(x.savings_usd) for x in s]
        (['OVERCOMMITTED', 'GOOD COMMIT'], ['-10000', '6000.0'])
    """
    commit = _dec("monthly_commit_usd", monthly_commit_usd)
    disc = _dec("discount_pct", discount_pct)
    if disc > 100:
        raise ConfigurationError(f"discount_pct={discount_pct!r} must be a percentage between 0 and 100")
    usages = expected_usage_usd if isinstance(expected_usage_usd, (list, tuple)) else [expected_usage_usd]
    out = []
    for u in usages:
        usage = _dec("expected_usage_usd", u)
        if usage < commit:
            out.append(CommitScenario(usage, usage, commit, usage - commit, commit - usage, "OVERCOMMITTED"))
        else:
            total = commit + (usage - commit) * (1 - disc / 100)
            out.append(CommitScenario(usage, usage, total, usage - total, Decimal(0), "GOOD COMMIT"))
    return out


def commit_table(scenarios: Sequence[CommitScenario], commit: Decimal, discount_pct: Decimal) -> Table:
    """A renderable table of commitment scenarios."""
    cols = (
        Column("expected_usage_usd", "expected usage", "money"),
        Column("payg_usd", "pay-as-you-go", "money"),
        Column("effective_usd", "with commit", "money"),
        Column("savings_usd", "savings", "money"),
        Column("waste_usd", "unused commit", "money"),
        Column("verdict", "verdict"),
    )
    return Table(
        title=f"Commit ${commit:,.2f}/month at {discount_pct}% off usage above it vs pay-as-you-go",
        columns=cols,
        rows=tuple(_fields(s) for s in scenarios),
        notes=(
            "run several usage scenarios: be confident in the lower bound, not just the central estimate",
        ),
    )


# -- self-host vs API (seed 004, chapter 9) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Crossover:
    """Self-hosting vs API economics."""

    deployment_usd_per_month: Decimal
    """GPUs x $/hour x hours: paid whether used or not."""
    fixed_usd_per_month: Decimal
    capacity_tokens_per_month: Decimal
    """One deployment at the given utilization."""
    api_usd_per_mtok: Decimal
    self_host_usd_per_mtok_at_capacity: Decimal
    crossover_tokens_per_month: Decimal | None
    """Monthly volume from which self-hosting is cheaper (``None``: never)."""
    volumes: tuple[dict[str, Any], ...]


def self_host_crossover(
    *,
    gpu_usd_per_hour: Decimal | str | int,
    gpus: int,
    tokens_per_second: Decimal | str | int,
    api_usd_per_mtok: Decimal | str | int,
    utilization: Decimal | str = "0.6",
    hours_per_month: Decimal | str | int = 730,
    fixed_usd_per_month: Decimal | str | int = 0,
    volumes: Sequence[int] = (10_000_000, 100_000_000, 500_000_000, 2_000_000_000, 10_000_000_000),
) -> Crossover:
    """Monthly cost of self-hosting vs the API at several volumes, and the crossover volume.

    A deployment (``gpus`` GPUs) costs ``gpus x gpu_usd_per_hour x hours_per_month`` and serves
    up to ``tokens_per_second x 3600 x hours_per_month x utilization`` tokens a month; more
    volume needs more deployments. ``fixed_usd_per_month`` adds engineering/on-call. The API
    costs ``volume x api_usd_per_mtok / 1M``.

    Example:
        >>> c = self_host_crossover(gpu_usd_per_hour=4, gpus=2, tokens_per_second=2000, api_usd_per_mtok=12,
        ...                         hours_per_month=750)
        >>> c.crossover_tokens_per_month
        Decimal('500000000')
    """
    price = _dec("gpu_usd_per_hour", gpu_usd_per_hour)
    tps = _dec("tokens_per_second", tokens_per_second, positive=True)
    api = _dec("api_usd_per_mtok", api_usd_per_mtok, positive=True)
    util = _dec("utilization", utilization, positive=True)
    if util > 1:
        raise ConfigurationError(f"utilization={utilization!r} must be a fraction in (0, 1], e.g. 0.6")
    hours = _dec("hours_per_month", hours_per_month, positive=True)
    fixed = _dec("fixed_usd_per_month", fixed_usd_per_month)
    if gpus < 1:
        raise ConfigurationError(f"gpus={gpus!r} must be at least 1")
    dep = price * gpus * hours
    cap = tps * 3600 * hours * util
    per_tok = api / _MTOK
    margin = per_tok * cap - dep  # what a full deployment saves vs the API
    crossover: Decimal | None
    if margin <= 0:
        crossover = None
    else:
        k = max(1, math.ceil(fixed / margin)) if fixed else 1
        crossover = ((k * dep + fixed) / per_tok).quantize(Decimal(1), rounding=ROUND_CEILING)
    rows = []
    for v in volumes:
        vol = Decimal(v)
        n = max(1, math.ceil(vol / cap))
        self_cost = n * dep + fixed
        api_cost = vol * per_tok
        rows.append(
            {
                "tokens_per_month": v,
                "api_usd": api_cost,
                "deployments": n,
                "self_host_usd": self_cost,
                "cheaper": "self-host" if self_cost < api_cost else "API",
            }
        )
    return Crossover(dep, fixed, cap, api, dep / cap * _MTOK, crossover, tuple(rows))


def crossover_table(c: Crossover) -> Table:
    """A renderable table of the volumes."""
    cols = (
        Column("tokens_per_month", "tokens/month", "int"),
        Column("api_usd", "API", "money"),
        Column("deployments", "deployments", "int"),
        Column("self_host_usd", "self-host", "money"),
        Column("cheaper", "cheaper"),
    )
    where = (
        f"crossover at {int(c.crossover_tokens_per_month):,} tokens/month"
        if c.crossover_tokens_per_month is not None
        else "no crossover: the API is cheaper per token than a fully used deployment"
    )
    return Table(
        title="Self-host vs API",
        columns=cols,
        rows=c.volumes,
        notes=(
            where,
            f"one deployment: ${c.deployment_usd_per_month:,.2f}/month for up to "
            f"{int(c.capacity_tokens_per_month):,} tokens "
            f"(${c.self_host_usd_per_mtok_at_capacity:.4f}/1M at that "
            f"load) vs API ${c.api_usd_per_mtok}/1M",
            "hidden costs (engineering, on-call, quality) belong in fixed_usd_per_month "
            "(seed 004, chapter 9)",
        ),
        meta={k: v for k, v in _fields(c).items() if k != "volumes"},
    )


def blended_api_price(
    model: str,
    *,
    input_share: Decimal | str = "0.75",
    provider: str | None = None,
    price_table: PriceTable | None = None,
    at: datetime | None = None,
) -> Decimal:
    """API $ per 1M tokens for a mix of input and output (uncached, standard tier).

    Example:
        >>> price = blended_api_price("gpt-4o", input_share="0.75", at=datetime(2026, 11, 1, tzinfo=UTC))
        >>> price == Decimal("4.375")
        True
    """
    table = price_table or default_price_table()
    share = _dec("input_share", input_share)
    if share > 1:
        raise ConfigurationError(f"input_share={input_share!r} must be a fraction in [0, 1]")
    prov = _resolve_provider(table, model, provider)
    when = at or datetime.now(UTC)
    c_in = table.cost(prov, model, Usage(input_tokens=1_000_000), at=when)
    c_out = table.cost(prov, model, Usage(input_tokens=0, output_tokens=1_000_000), at=when)
    if c_in.total is None or c_out.total is None:
        raise ConfigurationError(f"cannot price {model!r}: {c_in.note or c_out.note}")
    return share * c_in.total + (1 - share) * c_out.total


# -- batch (seed 002 / seed 004 chapter 5) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchEstimate:
    """A workload on the standard vs the batch tier."""

    model: str
    requests: Decimal
    standard_usd: Decimal
    batch_usd: Decimal
    savings_usd: Decimal
    savings_pct: Decimal


def batch_savings(
    model: str,
    *,
    requests: Decimal | int | str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    batchable_share: Decimal | str = "1",
    provider: str | None = None,
    price_table: PriceTable | None = None,
    at: datetime | None = None,
) -> BatchEstimate:
    """What moving (a share of) a workload to the batch tier saves, priced by the table's batch tier.

    Example:
        >>> b = batch_savings("gpt-4o", requests=100_000, input_tokens=1000, output_tokens=200,
        ...                   at=datetime(2026, 11, 1, tzinfo=UTC))
        >>> (b.standard_usd, b.batch_usd) == (Decimal(450), Decimal(225))
        True
    """
    table = price_table or default_price_table()
    n = _dec("requests", requests)
    share = _dec("batchable_share", batchable_share)
    if share > 1:
        raise ConfigurationError(f"batchable_share={batchable_share!r} must be a fraction in [0, 1]")
    prov = _resolve_provider(table, model, provider)
    when = at or datetime.now(UTC)
    base = Usage(
        input_tokens=input_tokens, cache_read_tokens=cached_input_tokens, output_tokens=output_tokens
    )
    std = table.cost(prov, model, base, at=when)
    bat = table.cost(
        prov,
        model,
        Usage(
            input_tokens=input_tokens,
            cache_read_tokens=cached_input_tokens,
            output_tokens=output_tokens,
            service_tier="batch",
        ),
        at=when,
    )
    if std.total is None:
        raise ConfigurationError(f"cannot price {model!r}: {std.note}")
    if bat.total is None:
        raise ConfigurationError(f"{model!r} has no batch price in the price table: {bat.note}")
    standard = std.total * n
    batch = standard * (1 - share) + bat.total * n * share
    saved = standard - batch
    return BatchEstimate(model, n, standard, batch, saved, saved / standard if standard else Decimal(0))
