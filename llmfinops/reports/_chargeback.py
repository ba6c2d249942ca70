"""Showback and chargeback: direct spend per team plus a fixed shared cost split by usage.

This is seed 004's allocation query (chapter 12): each team's share of the total is its
direct (known) token cost over everyone's, and a fixed shared cost (platform infra, a
gateway, support) is split by that share. The share can also be taken on tokens or
calls. For finance, the shared cost is allocated in whole cents with the largest
remainder method, so the allocations add up exactly to the shared cost, and ``charge_usd``
(direct + recorded infra + shared, in cents) adds up exactly to the rounded grand total.
"""

from __future__ import annotations

__all__ = ["Chargeback", "ChargebackRow", "allocate_cents", "chargeback", "round_cents"]

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from llmfinops.exceptions import ConfigurationError

from ._aggregate import Source, summarize
from ._load import TimeLike
from ._progress import Progress
from ._render import Column, Table

_CENT = Decimal("0.01")
_BASES = ("cost", "tokens", "calls")


def allocate_cents(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``amount`` (rounded to cents) in proportion to ``weights``, in cents that add up exactly.

    Largest remainder method: everyone gets the floor of their exact share, and the cents
    left over go to the largest fractional remainders (ties: earlier rows first). Zero
    total weight splits evenly.

    Example:
        >>> allocate_cents(Decimal("100"), [Decimal(1), Decimal(1), Decimal(1)])
        [Decimal('33.34'), Decimal('33.33'), Decimal('33.33')]
    """
    if not weights:
        return []
    cents = int((amount.quantize(_CENT, rounding=ROUND_HALF_EVEN) * 100).to_integral_value())
    total = sum(weights, Decimal(0))
    ws = list(weights) if total > 0 else [Decimal(1)] * len(weights)
    total = sum(ws, Decimal(0))
    exact = [Decimal(cents) * w / total for w in ws]
    floors = [int(e.to_integral_value(rounding=ROUND_DOWN)) for e in exact]
    left = cents - sum(floors)
    order = sorted(range(len(ws)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(c) / 100 for c in floors]


def round_cents(values: Sequence[Decimal]) -> list[Decimal]:
    """Round amounts to cents so that they add up to their rounded sum (largest remainder).

    Example:
        >>> round_cents([Decimal("0.005"), Decimal("0.005"), Decimal("0.005")])
        [Decimal('0.01'), Decimal('0.01'), Decimal('0')]
    """
    target = int((sum(values, Decimal(0)) * 100).to_integral_value(rounding=ROUND_HALF_EVEN))
    floors = [
        int((v * 100).to_integral_value(rounding=ROUND_DOWN))
        if v >= 0
        else int((v * 100).to_integral_value(rounding=ROUND_FLOOR))
        for v in values
    ]
    left = target - sum(floors)
    order = sorted(range(len(values)), key=lambda i: (-(values[i] * 100 - floors[i]), i))
    for i in order[: max(left, 0)]:
        floors[i] += 1
    return [Decimal(c) / 100 for c in floors]


@dataclass(frozen=True, slots=True)
class ChargebackRow:
    """One team's (or feature's...) allocation."""

    key: str
    calls: int
    tokens: int
    unknown_cost_calls: int
    direct_cost_usd: Decimal
    infra_cost_usd: Decimal
    share: Decimal
    shared_cost_usd: Decimal
    total_usd: Decimal
    """Exact: direct + infra + shared."""
    charge_usd: Decimal
    """``total_usd`` in cents; the column adds up to the rounded grand total."""


@dataclass(frozen=True, slots=True)
class Chargeback:
    """Allocation of spend to ``by`` values."""

    by: str
    basis: str
    shared_cost_usd: Decimal
    rows: tuple[ChargebackRow, ...]
    notes: tuple[str, ...] = ()

    @property
    def total_usd(self) -> Decimal:
        """Sum of ``charge_usd`` (the grand total in cents)."""
        return sum((r.charge_usd for r in self.rows), Decimal(0))

    def to_table(self) -> Table:
        """A renderable table; its CSV carries a TOTAL row for reconciliation."""
        cols = (
            Column(self.by, self.by),
            Column("calls", "calls", "int"),
            Column("tokens", "tokens", "int"),
            Column("unknown_cost_calls", "unpriced", "int"),
            Column("direct_cost_usd", "direct", "money"),
            Column("infra_cost_usd", "infra", "money"),
            Column("share", f"share ({self.basis})", "pct"),
            Column("shared_cost_usd", "shared", "money"),
            Column("total_usd", "total", "money"),
            Column("charge_usd", "charge", "money"),
        )
        rows = tuple(_row_dict(self.by, r) for r in self.rows)
        total: dict[str, Any] = {
            self.by: "TOTAL",
            "calls": sum(r.calls for r in self.rows),
            "tokens": sum(r.tokens for r in self.rows),
            "unknown_cost_calls": sum(r.unknown_cost_calls for r in self.rows),
            "direct_cost_usd": sum((r.direct_cost_usd for r in self.rows), Decimal(0)),
            "infra_cost_usd": sum((r.infra_cost_usd for r in self.rows), Decimal(0)),
            "share": Decimal(1) if self.rows else None,
            "shared_cost_usd": sum((r.shared_cost_usd for r in self.rows), Decimal(0)),
            "total_usd": sum((r.total_usd for r in self.rows), Decimal(0)),
            "charge_usd": self.total_usd,
        }
        return Table(
            title=f"Chargeback by {self.by} (shared cost ${self.shared_cost_usd:,.2f} split by {self.basis})",
            columns=cols,
            rows=rows,
            total=total,
            notes=self.notes,
            csv_total=True,
        )


def _row_dict(by: str, r: ChargebackRow) -> dict[str, Any]:
    return {
        by: r.key,
        "calls": r.calls,
        "tokens": r.tokens,
        "unknown_cost_calls": r.unknown_cost_calls,
        "direct_cost_usd": r.direct_cost_usd,
        "infra_cost_usd": r.infra_cost_usd,
        "share": r.share,
        "shared_cost_usd": r.shared_cost_usd,
        "total_usd": r.total_usd,
        "charge_usd": r.charge_usd,
    }


def chargeback(
    source: Source,
    *,
    by: str = "team",
    shared_cost_usd: Decimal | str | int = 0,
    basis: str = "cost",
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    where: Mapping[str, str | Sequence[str]] | None = None,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Chargeback:
    """Allocate direct spend and a shared fixed cost to teams (or features, users...).

    Args:
        source: An open :class:`Dataset` or JSONL/SQLite paths.
        by: The dimension charged (``team`` by default).
        shared_cost_usd: Fixed cost to split (e.g. monthly platform infra).
        basis: ``cost`` (share of direct cost, seed 004), ``tokens`` or ``calls``.
        since: Period start (e.g. the first of the month).
        until: Period end (exclusive).
        where: Filters.
        cache: Parquet cache use.
        cache_dir: Parquet cache location.
        progress: Progress reporter for cache builds.

    Raises:
        ConfigurationError: ``basis`` is unknown or ``shared_cost_usd`` is negative.

    Example:
        >>> from llmfinops.testing import make_record, write_records
        >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])
        >>> cb = chargeback(log, shared_cost_usd="100", since="2026-11-01")
        >>> [(r.key, r.charge_usd) for r in cb.rows]
        [('search', Decimal('66.68')), ('ads', Decimal('33.33'))]
        >>> cb.total_usd
        Decimal('100.01')
    """
    if basis not in _BASES:
        raise ConfigurationError(f"basis={basis!r} is not one of {', '.join(_BASES)}")
    try:
        shared = Decimal(str(shared_cost_usd))
    except ArithmeticError:
        raise ConfigurationError(
            f"shared_cost_usd={shared_cost_usd!r} is not a number (e.g. 50000)"
        ) from None
    if not shared.is_finite() or shared < 0:
        raise ConfigurationError(f"shared_cost_usd={shared_cost_usd!r} must be a non-negative amount in USD")
    rep = summarize(
        source,
        by=(by,),
        since=since,
        until=until,
        where=where,
        cache=cache,
        cache_dir=cache_dir,
        progress=progress,
    )
    groups = sorted(rep.rows, key=lambda r: (-r.cost_usd, str(r.key[0])))
    if basis == "cost":
        weights = [r.cost_usd for r in groups]
    elif basis == "tokens":
        weights = [Decimal(r.total_tokens) for r in groups]
    else:
        weights = [Decimal(r.calls) for r in groups]
    wsum = sum(weights, Decimal(0))
    shares = [w / wsum if wsum > 0 else (Decimal(1) / len(groups)) for w in weights]
    alloc = allocate_cents(shared, weights)
    totals = [r.cost_usd + r.infra_cost_usd + a for r, a in zip(groups, alloc, strict=True)]
    charges = round_cents(totals)
    rows = tuple(
        ChargebackRow(
            key="(untagged)" if r.key[0] is None else str(r.key[0]),
            calls=r.calls,
            tokens=r.total_tokens,
            unknown_cost_calls=r.unknown_cost_calls,
            direct_cost_usd=r.cost_usd,
            infra_cost_usd=r.infra_cost_usd,
            share=s,
            shared_cost_usd=a,
            total_usd=t,
            charge_usd=c,
        )
        for r, s, a, t, c in zip(groups, shares, alloc, totals, charges, strict=True)
    )
    notes = list(rep.notes)
    if shared and wsum == 0:
        notes.append(f"no {basis} recorded: the shared cost was split evenly")
    if any(r.key == "(untagged)" for r in rows):
        notes.append(f"'(untagged)' holds calls without a {by}; tag them with llmfinops.tags({by}=...)")
    return Chargeback(
        by=by, basis=basis, shared_cost_usd=shared.quantize(_CENT), rows=rows, notes=tuple(notes)
    )
