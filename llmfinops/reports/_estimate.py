"""Cost estimators for decisions made before the traffic exists: the monthly projection.

:func:`project_monthly` prices requests/day x tokens per call x model with the price table
(seed 002's "Monthly Cost Projection" table). Contract and infrastructure estimators
(commit vs pay-as-you-go, self-host crossover, batch) are in ``_economics``. Every amount is
Decimal USD.
"""

from __future__ import annotations

__all__ = [
    "Projection",
    "ProjectionRow",
    "Workload",
    "load_workloads",
    "project_monthly",
    "workload_from_mapping",
]

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from llmfinops.exceptions import ConfigurationError
from llmfinops.pricing import PriceTable, default_price_table
from llmfinops.usage import Usage

from ._render import Column, Table

_MTOK = Decimal(1_000_000)


def _dec(name: str, value: Any, *, positive: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ConfigurationError(f'{name}={value!r} must be a number (e.g. 1500 or "0.25")')
    try:
        d = Decimal(str(value).replace("_", ""))
    except InvalidOperation:
        raise ConfigurationError(f"{name}={value!r} is not a number; write e.g. 1500 or 0.25") from None
    if not d.is_finite() or d < 0 or (positive and d == 0):
        raise ConfigurationError(f"{name}={value!r} must be {'positive' if positive else 'zero or more'}")
    return d


def _fields(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _resolve_provider(table: PriceTable, model: str, provider: str | None) -> str:
    if provider:
        if table.lookup(provider, model) is None:
            raise ConfigurationError(
                f"model={model!r} has no price for provider={provider!r} in the price table "
                f"({table.origin}); "
                "check the name or pass --price-table with your own entry"
            )
        return provider
    for p in (*table.providers, *sorted({m.provider for m in table.models.values()})):
        if table.lookup(p, model) is not None:
            entry = table.lookup(p, model)
            return entry.provider if entry else p
    raise ConfigurationError(
        f"model={model!r} is not in the price table ({table.origin}, as of {table.as_of}); "
        "check the spelling or add it with --price-table"
    )


# -- monthly projection (seed 002) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    """One line of a projection: a feature's traffic and tokens per call."""

    name: str
    model: str
    requests_per_day: Decimal
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    """Part of ``input_tokens`` read from the prompt cache."""
    infra_usd_per_request: Decimal = Decimal(0)
    """Infrastructure + monitoring per request (seed 002's cost-per-request formula)."""
    provider: str | None = None
    service_tier: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectionRow:
    """A priced workload."""

    workload: Workload
    cost_per_request_usd: Decimal
    token_cost_per_request_usd: Decimal
    daily_usd: Decimal
    monthly_usd: Decimal
    share: Decimal


@dataclass(frozen=True, slots=True)
class Projection:
    """Seed 002's table: per workload and total."""

    rows: tuple[ProjectionRow, ...]
    days: int
    at: datetime

    @property
    def daily_usd(self) -> Decimal:
        """Total per day."""
        return sum((r.daily_usd for r in self.rows), Decimal(0))

    @property
    def monthly_usd(self) -> Decimal:
        """Total per month."""
        return sum((r.monthly_usd for r in self.rows), Decimal(0))

    @property
    def requests_per_day(self) -> Decimal:
        """Total requests per day."""
        return sum((r.workload.requests_per_day for r in self.rows), Decimal(0))

    def to_table(self) -> Table:
        """A renderable table."""
        cols = (
            Column("name", "workload"),
            Column("model", "model"),
            Column("requests_per_day", "requests/day", "int"),
            Column("cost_per_request_usd", "cost/request", "money"),
            Column("daily_usd", "daily cost", "money"),
            Column("monthly_usd", f"monthly ({self.days} d)", "money"),
            Column("share", "share", "pct"),
        )
        rows = tuple(
            {
                "name": r.workload.name,
                "model": r.workload.model,
                "requests_per_day": int(r.workload.requests_per_day),
                "cost_per_request_usd": r.cost_per_request_usd,
                "daily_usd": r.daily_usd,
                "monthly_usd": r.monthly_usd,
                "share": r.share,
            }
            for r in self.rows
        )
        total = {
            "name": "TOTAL",
            "model": "",
            "requests_per_day": int(self.requests_per_day),
            "cost_per_request_usd": None,
            "daily_usd": self.daily_usd,
            "monthly_usd": self.monthly_usd,
            "share": Decimal(1) if self.monthly_usd else None,
        }
        return Table(
            title=f"Monthly cost projection (prices as of {self.at.date()})",
            columns=cols,
            rows=rows,
            total=total,
            csv_total=True,
        )


def project_monthly(
    workloads: Sequence[Workload],
    *,
    price_table: PriceTable | None = None,
    at: datetime | None = None,
    days: int = 30,
) -> Projection:
    """Price each workload per request, per day and per month.

    ``cost/request = token cost (price table) + infra per request``; ``daily = cost/request x
    requests/day``; ``monthly = daily x days`` (30 by default, as in seed 002).

    Args:
        workloads: The lines of the projection.
        price_table: Prices (default: bundled).
        at: Prices in force at this instant (default: now).
        days: Days per month.

    Raises:
        ConfigurationError: A model is not in the price table or cannot be priced.

    Example:
        >>> p = project_monthly([Workload("chat", "gpt-4o-mini", Decimal(1000), 1000, 200)],
        ...                     at=datetime(2026, 11, 1, tzinfo=UTC))
        >>> (p.rows[0].cost_per_request_usd, p.monthly_usd) == (Decimal("0.00027"), Decimal("8.1"))
        True
    """
    table = price_table or default_price_table()
    when = at or datetime.now(UTC)
    priced: list[tuple[Workload, Decimal, Decimal]] = []
    for w in workloads:
        if w.cached_input_tokens > w.input_tokens:
            raise ConfigurationError(
                f"workload {w.name!r}: cached_input_tokens={w.cached_input_tokens} exceeds "
                f"input_tokens={w.input_tokens}; cached tokens are part of the input"
            )
        provider = _resolve_provider(table, w.model, w.provider)
        usage = Usage(
            input_tokens=w.input_tokens,
            cache_read_tokens=w.cached_input_tokens,
            output_tokens=w.output_tokens,
            service_tier=w.service_tier,
        )
        cost = table.cost(provider, w.model, usage, at=when)
        if cost.total is None:
            raise ConfigurationError(f"workload {w.name!r}: cannot price {w.model!r}: {cost.note}")
        per_req = cost.total + w.infra_usd_per_request
        priced.append((w, cost.total, per_req))
    monthly_total = sum((p * w.requests_per_day * days for w, _, p in priced), Decimal(0))
    rows = []
    for w, token, per_req in priced:
        daily = per_req * w.requests_per_day
        monthly = daily * days
        rows.append(
            ProjectionRow(
                w, per_req, token, daily, monthly, monthly / monthly_total if monthly_total else Decimal(0)
            )
        )
    return Projection(tuple(rows), days, when)


def load_workloads(path: str | os.PathLike[str]) -> list[Workload]:
    """Read workloads from a TOML file of ``[[workload]]`` tables.

    Each table has ``name``, ``model``, ``requests_per_day``, ``input_tokens``, ``output_tokens``
    and optionally ``cached_input_tokens``, ``infra_usd_per_request``, ``provider``, ``service_tier``.

    Raises:
        ConfigurationError: The file cannot be read, or a field is missing or invalid.

    Example:
        >>> load_workloads("no/such.toml")
        Traceback (most recent call last):
        ...
        llmfinops.exceptions.ConfigurationError: workloads 'no/such.toml': cannot read file: ...
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"workloads {str(p)!r}: cannot read file: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"workloads {str(p)!r}: invalid TOML: {exc}") from None
    items = data.get("workload")
    if not isinstance(items, list) or not items:
        raise ConfigurationError(f"workloads {str(p)!r}: expected one or more [[workload]] tables")
    return [
        workload_from_mapping(item, f"workloads {str(p)!r}: workload #{i + 1}")
        for i, item in enumerate(items)
    ]


def workload_from_mapping(item: Mapping[str, Any], where: str = "workload") -> Workload:
    """Validate one workload mapping (file or CLI) into a :class:`Workload`."""
    allowed = {f.name for f in fields(Workload)}
    unknown = set(item) - allowed
    if unknown:
        raise ConfigurationError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    for req in ("model", "requests_per_day", "input_tokens", "output_tokens"):
        if item.get(req) is None:
            raise ConfigurationError(f"{where}: missing required field {req!r}")
    try:
        return Workload(
            name=str(item.get("name") or item["model"]),
            model=str(item["model"]),
            requests_per_day=_dec(f"{where}: requests_per_day", item["requests_per_day"]),
            input_tokens=int(_dec(f"{where}: input_tokens", item["input_tokens"])),
            output_tokens=int(_dec(f"{where}: output_tokens", item["output_tokens"])),
            cached_input_tokens=int(
                _dec(f"{where}: cached_input_tokens", item.get("cached_input_tokens", 0))
            ),
            infra_usd_per_request=_dec(
                f"{where}: infra_usd_per_request", item.get("infra_usd_per_request", 0)
            ),
            provider=item.get("provider"),
            service_tier=item.get("service_tier"),
        )
    except ConfigurationError as exc:
        raise ConfigurationError(str(exc)) from None
