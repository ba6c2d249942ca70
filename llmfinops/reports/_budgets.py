"""Budget vs actual: a small budgets file and the status of each budget.

The budgets file (TOML or JSON) lists budgets; each names a scope ``key``, a ``window``
and a ``limit_usd``::

    # budgets.toml
    [[budget]]
    key = "total"                 # everything in the logs
    window = "month"
    limit_usd = "250000"

    [[budget]]
    key = "team:search"           # <dimension>:<value>; join several with "," (all must match)
    window = "day"                # day | week | month (UTC; weeks start on Monday)
    limit_usd = "400"
    alert_at = [0.5, 0.75, 0.9]   # optional: warn when spend crosses these fractions

    [[budget]]
    key = "feature:tier1-chatbot,environment:prod"
    window = "month"
    limit_usd = 1200.50

The JSON form is ``{"budgets": [{"key": ..., "window": ..., "limit_usd": ...}]}``.
Dimensions are those of reports (``team``, ``feature``, ``user``, ``model``, ``provider``,
``environment``, ``service``, ``tag:<key>``...); ``tag:region:eu`` means tag ``region``
equal to ``eu``.
"""

from __future__ import annotations

__all__ = ["Budget", "BudgetStatus", "budget_status", "budgets_table", "load_budgets", "parse_budgets"]

import calendar
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from llmfinops.exceptions import ConfigurationError

from ._aggregate import Source, open_source
from ._files import _sql_str
from ._forecast import forecast_spend
from ._load import TimeLike, _as_datetime
from ._progress import Progress
from ._render import Column, Table
from ._schema import TIME_DIMENSIONS, dimension_sql

_WINDOWS = ("day", "week", "month")
_DEFAULT_ALERT_AT = (Decimal("0.5"), Decimal("0.75"), Decimal("0.9"))
_KEYS = frozenset({"key", "window", "limit_usd", "alert_at", "name"})


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget: a scope, a window and a limit."""

    key: str
    """``total`` or ``<dimension>:<value>[,<dimension>:<value>...]``."""
    window: str
    """``day``, ``week`` or ``month``."""
    limit_usd: Decimal
    alert_at: tuple[Decimal, ...] = _DEFAULT_ALERT_AT
    name: str | None = None

    @property
    def conditions(self) -> tuple[tuple[str, str], ...]:
        """``((dimension, value), ...)`` of the key (empty for ``total``)."""
        if self.key in ("total", "*"):
            return ()
        out: list[tuple[str, str]] = []
        for part in self.key.split(","):
            part = part.strip()
            if part.startswith("tag:"):
                tag, _, value = part[4:].partition(":")
                out.append((f"tag:{tag}", value))
            else:
                dim, _, value = part.partition(":")
                out.append((dim, value))
        return tuple(out)


def _fail(origin: str, index: int, msg: str) -> ConfigurationError:
    return ConfigurationError(f"budgets {origin!r}: budget #{index + 1}: {msg}")


def parse_budgets(data: Any, origin: str = "<data>") -> list[Budget]:
    """Validate budget entries (the parsed file) into :class:`Budget` objects.

    Raises:
        ConfigurationError: A field is missing or invalid; the message names it and the fix.

    Example:
        >>> b = parse_budgets({"budget": [{"key": "team:search", "window": "day", "limit_usd": "400"}]})
        >>> b[0].limit_usd
        Decimal('400')
    """
    items: Any = data
    if isinstance(data, Mapping):
        items = data.get("budget", data.get("budgets"))
    if not isinstance(items, list) or not items:
        raise ConfigurationError(
            f"budgets {origin!r}: expected a list of budgets under 'budget' (TOML [[budget]]) "
            "or 'budgets' (JSON)"
        )
    out: list[Budget] = []
    for i, raw in enumerate(items):
        if not isinstance(raw, Mapping):
            raise _fail(origin, i, "must be a table/object with key, window and limit_usd")
        unknown = set(raw) - _KEYS
        if unknown:
            raise _fail(origin, i, f"unknown field(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        key = raw.get("key")
        if not isinstance(key, str) or not key.strip():
            raise _fail(
                origin, i, f"key={key!r} must be 'total' or '<dimension>:<value>' (e.g. 'team:search')"
            )
        window = raw.get("window", "month")
        if window not in _WINDOWS:
            raise _fail(origin, i, f"window={window!r} is not one of {', '.join(_WINDOWS)}")
        limit = _decimal(origin, i, "limit_usd", raw.get("limit_usd"))
        if limit <= 0:
            raise _fail(origin, i, f"limit_usd={raw.get('limit_usd')!r} must be a positive amount in USD")
        alert_at = tuple(_decimal(origin, i, "alert_at", v) for v in raw.get("alert_at", _DEFAULT_ALERT_AT))
        if any(not (0 < a <= 1) for a in alert_at):
            raise _fail(
                origin, i, f"alert_at={list(raw.get('alert_at', []))!r}: use fractions in (0, 1], e.g. 0.75"
            )
        b = Budget(
            key=key.strip(),
            window=str(window),
            limit_usd=limit,
            alert_at=tuple(sorted(alert_at)),
            name=raw.get("name"),
        )
        for dim, value in b.conditions:
            if dim in TIME_DIMENSIONS or not value:
                raise _fail(
                    origin, i, f"key={key!r}: each part must be '<dimension>:<value>', e.g. 'team:search'"
                )
            try:
                dimension_sql(dim)
            except ConfigurationError as exc:
                raise _fail(origin, i, f"key={key!r}: {exc}") from None
        out.append(b)
    return out


def _decimal(origin: str, i: int, name: str, v: Any) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (str, int, float, Decimal)):
        raise _fail(origin, i, f'{name}={v!r} must be a number or a decimal string such as "400.00"')
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise _fail(origin, i, f'{name}={v!r} is not a number; write e.g. "400.00"') from None
    if not d.is_finite():
        raise _fail(origin, i, f"{name}={v!r} is not finite")
    return d


def load_budgets(path: str | os.PathLike[str]) -> list[Budget]:
    """Read a budgets file (``.toml`` or ``.json``).

    Raises:
        ConfigurationError: The file cannot be read or parsed, or an entry is invalid.

    Example:
        >>> load_budgets("no/such/budgets.toml")
        Traceback (most recent call last):
        ...
        llmfinops.exceptions.ConfigurationError: budgets 'no/such/budgets.toml': cannot read file: ...
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"budgets {str(p)!r}: cannot read file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            f"budgets {str(p)!r}: invalid {p.suffix.lstrip('.') or 'TOML'}: {exc}"
        ) from None
    return parse_budgets(data, str(p))


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Budget vs actual for the window containing ``as_of``."""

    budget: Budget
    window_start: datetime
    window_end: datetime
    spent_usd: Decimal
    unknown_cost_calls: int
    used: Decimal
    """``spent / limit``."""
    forecast_usd: Decimal
    """Projected spend at the end of the window (month: the seasonal/weighted forecast; else linear)."""
    status: str
    """``over`` (spent >= limit), ``forecast_over``, ``warn`` (crossed an ``alert_at``) or ``ok``."""
    crossed: Decimal | None
    """Highest ``alert_at`` fraction crossed."""

    def as_dict(self) -> dict[str, Any]:
        """Fields plus the budget's key, window and limit."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "budget"}
        d.update(
            key=self.budget.key,
            window=self.budget.window,
            limit_usd=self.budget.limit_usd,
            name=self.budget.name or self.budget.key,
            remaining_usd=self.budget.limit_usd - self.spent_usd,
        )
        return d


def window_bounds(window: str, at: datetime) -> tuple[datetime, datetime]:
    """UTC bounds of the ``day``/``week``/``month`` window containing ``at``.

    Example:
        >>> window_bounds("week", datetime(2026, 11, 19, 8, tzinfo=UTC))[0].date().isoformat()
        '2026-11-16'
    """
    d = at.astimezone(UTC).date()
    if window == "day":
        start = d
        end = d + timedelta(days=1)
    elif window == "week":
        start = d - timedelta(days=d.weekday())
        end = start + timedelta(days=7)
    else:
        start = d.replace(day=1)
        end = start + timedelta(days=calendar.monthrange(d.year, d.month)[1])
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
    )


def budget_status(
    source: Source,
    budgets: Sequence[Budget],
    *,
    as_of: TimeLike | None = None,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> list[BudgetStatus]:
    """Compare each budget's current window with its limit.

    Args:
        source: An open :class:`Dataset` or JSONL/SQLite paths.
        budgets: From :func:`load_budgets`.
        as_of: The instant whose window is checked (default: the last call).
        cache: Parquet cache use.
        cache_dir: Parquet cache location.
        progress: Progress reporter for cache builds.

    Example:
        >>> from llmfinops.testing import make_record, write_records
        >>> log = write_records([make_record(team=t) for t in ("search", "search", "ads")])  # all at noon
        >>> budgets = parse_budgets(  # or load_budgets("budgets.toml")
        ...     {"budget": [{"key": "team:search", "window": "day", "limit_usd": "0.01"}]}
        ... )
        >>> [(s.budget.key, f"{s.used:.0%}", s.status) for s in budget_status(log, budgets)]
        [('team:search', '90%', 'forecast_over')]
    """
    out: list[BudgetStatus] = []
    with open_source(source, cache=cache, cache_dir=cache_dir, progress=progress) as ds:
        bounds = ds.time_bounds()
        at = (
            _as_datetime(as_of, "as_of")
            if as_of is not None
            else (bounds[1] if bounds else datetime.now(UTC))
        )
        for b in budgets:
            start, end = window_bounds(b.window, at)
            conds = [f"CAST({dimension_sql(dim)} AS VARCHAR) = {_sql_str(v)}" for dim, v in b.conditions]
            hist_start = start - timedelta(days=56) if b.window == "month" else start
            where = " AND ".join(["ts >= ?", "ts <= ?", *conds])
            rows = ds.sql(
                "SELECT CAST(ts AS DATE), COALESCE(sum(cost_usd), 0), "
                "count(*) FILTER (WHERE cost_usd IS NULL) "
                f"FROM calls WHERE {where} GROUP BY ALL",
                [hist_start.replace(tzinfo=None), at.astimezone(UTC).replace(tzinfo=None)],
            )
            daily = {d: Decimal(v) for d, v, _ in rows}
            spent = sum((v for d, v in daily.items() if d >= start.date()), Decimal(0))
            unknown = sum(int(u) for d, _, u in rows if d >= start.date())
            if b.window == "month":
                first = bounds[0].date() if bounds else start.date()
                fc = forecast_spend(daily, as_of=at, first_day=first).forecast_usd
            else:
                elapsed = (at - start).total_seconds()
                fc = (
                    spent * Decimal(int((end - start).total_seconds())) / Decimal(int(elapsed))
                    if elapsed >= 1
                    else spent
                )
            used = spent / b.limit_usd
            crossed = max((a for a in b.alert_at if used >= a), default=None)
            if spent >= b.limit_usd:
                status = "over"
            elif fc > b.limit_usd:
                status = "forecast_over"
            elif crossed is not None:
                status = "warn"
            else:
                status = "ok"
            out.append(
                BudgetStatus(
                    b, start, end, spent, unknown, used, fc.quantize(Decimal("0.000001")), status, crossed
                )
            )
    return out


def budgets_table(statuses: Sequence[BudgetStatus]) -> Table:
    """A renderable budget-vs-actual table."""
    cols = (
        Column("name", "budget"),
        Column("window", "window"),
        Column("window_start", "window start", "date"),
        Column("limit_usd", "limit", "money"),
        Column("spent_usd", "spent", "money"),
        Column("used", "used", "pct"),
        Column("remaining_usd", "remaining", "money"),
        Column("forecast_usd", "forecast", "money"),
        Column("unknown_cost_calls", "unpriced", "int"),
        Column("status", "status"),
    )
    notes = []
    if any(s.unknown_cost_calls for s in statuses):
        notes.append("'unpriced' calls have an unknown cost and are not in 'spent'")
    return Table(
        title="Budget vs actual", columns=cols, rows=tuple(s.as_dict() for s in statuses), notes=tuple(notes)
    )
