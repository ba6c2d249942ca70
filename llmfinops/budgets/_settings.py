"""Budget settings: ``configure_budgets()``, ``reset_budgets()``, and the store in force."""

from __future__ import annotations

__all__ = [
    "BudgetSettings",
    "OnStoreError",
    "Unpriced",
    "configure_budgets",
    "get_budget_settings",
    "get_store",
    "reset_budgets",
]

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from llmfinops.exceptions import ConfigurationError
from llmfinops.stores import BudgetStore

from ._alerts import AlertSink, log_alert
from ._breaker import Breaker
from ._window import _zone

if TYPE_CHECKING:
    from ._budget import Budget

OnStoreError = Literal["open", "closed"]
Unpriced = Literal["allow", "refuse"]


@dataclass(slots=True)
class BudgetSettings:
    """Settings in force for every budget. Build them with :func:`configure_budgets`.

    Example:
        >>> get_budget_settings().thresholds
        (50.0, 70.0, 90.0, 100.0)
    """

    store: BudgetStore | None = None
    """Where counters live; ``None``: a :class:`~llmfinops.stores.DiskCacheStore` in the default directory."""
    timezone: str = "UTC"
    """Time zone of calendar windows that do not name one."""
    thresholds: tuple[float, ...] = (50.0, 70.0, 90.0, 100.0)
    """Alert thresholds in percent of each limit (a budget may override them)."""
    alert_sinks: tuple[AlertSink, ...] = (log_alert,)
    """Where alerts go (default: the structlog event ``llm.budget_alert``)."""
    on_store_error: OnStoreError = "open"
    """``open``: allow the call unmetered and warn once; ``closed``: refuse it (``BudgetUnavailable``)."""
    unpriced: Unpriced = "allow"
    """Calls to a model without a price under a USD limit: ``allow`` (warn once; calls and token limits
    still apply) or ``refuse`` (``PriceNotFound`` before sending)."""
    default_max_output_tokens: int = 16_384
    """Output tokens assumed for a request that sets no output cap (bounded by the model's context)."""
    cap_output: bool = False
    """Write ``default_max_output_tokens`` into uncapped requests, making the reservation a hard bound."""
    reservation_ttl: float = 900.0
    """Seconds a reservation holds budget if its call never reports back (crashed process)."""
    budgets: tuple[Budget, ...] = ()
    """Global budgets: enforced on every call of every wrapped client (org-wide limits)."""
    breaker: Breaker | None = None
    """Global runaway protection for every call."""
    forward_user_id: bool = False
    """Send the keyed hash of ``tags(user_id=...)`` as the provider's own end-user field."""
    _default_store: BudgetStore | None = field(default=None, repr=False)


_lock = threading.RLock()
_settings = BudgetSettings()


def get_budget_settings() -> BudgetSettings:
    """The budget settings in force.

    Example:
        >>> get_budget_settings().on_store_error
        'open'
    """
    return _settings


def get_store() -> BudgetStore:
    """The budget store in force (the default ``DiskCacheStore`` is created on first use).

    Example:
        >>> from llmfinops.stores import MemoryStore
        >>> configure_budgets(store=MemoryStore())
        >>> type(get_store()).__name__
        'MemoryStore'
        >>> reset_budgets()
    """
    s = _settings
    if s.store is not None:
        return s.store
    if s._default_store is None:
        with _lock:
            if s._default_store is None:
                from llmfinops.stores.diskcache import DiskCacheStore

                s._default_store = DiskCacheStore()
    return s._default_store


def configure_budgets(
    *,
    store: BudgetStore | None = None,
    budgets: Sequence[Budget] | None = None,
    timezone: str | None = None,
    thresholds: Iterable[float] | None = None,
    alert_sinks: Sequence[AlertSink] | None = None,
    on_store_error: OnStoreError | None = None,
    unpriced: Unpriced | None = None,
    default_max_output_tokens: int | None = None,
    cap_output: bool | None = None,
    reservation_ttl: timedelta | float | None = None,
    breaker: Breaker | Literal[False] | None = None,
    forward_user_id: bool | None = None,
) -> None:
    """Set budget-wide defaults. Only the arguments you pass change.

    Args:
        store: A :class:`~llmfinops.stores.BudgetStore` (``MemoryStore``, ``DiskCacheStore``, ``RedisStore``).
        budgets: Global budgets, enforced on every wrapped call (e.g. the org's monthly cap).
        timezone: Default IANA time zone of calendar windows (``"UTC"``).
        thresholds: Alert thresholds in percent (default ``50, 70, 90, 100``).
        alert_sinks: Callables receiving each :class:`BudgetAlert` (default: structlog ``llm.budget_alert``).
        on_store_error: ``"open"`` (default: allow, warn once) or ``"closed"`` (refuse) when the store fails.
        unpriced: ``"allow"`` (default, warn once) or ``"refuse"`` for unpriced models under a USD limit.
        default_max_output_tokens: Output assumed when a request sets no cap (default 16,384).
        cap_output: Also write that cap into such requests (OpenAI, Anthropic), making it a hard bound.
        reservation_ttl: How long a reservation of a call that never reports back holds budget (15 min).
        breaker: Global :class:`Breaker`; ``False`` removes it.
        forward_user_id: Send the keyed hash of the ``user_id`` tag as Anthropic ``metadata.user_id`` /
            OpenAI ``safety_identifier`` (never the raw id; the key is ``configure(user_id_key=...)``).

    Raises:
        ConfigurationError: On an invalid value (the message names it and the fix).

    Example:
        >>> from llmfinops.budgets import Budget, configure_budgets, reset_budgets
        >>> from llmfinops.stores import MemoryStore
        >>> configure_budgets(store=MemoryStore(), budgets=[Budget(usd=500, window="month", key="org")])
        >>> reset_budgets()
    """
    global _settings
    updates: dict[str, Any] = {}
    if store is not None:
        if not isinstance(store, BudgetStore):
            raise ConfigurationError(
                f"configure_budgets(store={store!r}): not a BudgetStore; use MemoryStore(), "
                "DiskCacheStore(...) or RedisStore(...) from llmfinops.stores"
            )
        updates["store"] = store
    if budgets is not None:
        from ._budget import Budget

        for b in budgets:
            if not isinstance(b, Budget):
                raise ConfigurationError(
                    f"configure_budgets(budgets=[...]): {b!r} is not a Budget; use Budget(...)"
                )
            if b.window.kind == "run":
                raise ConfigurationError(
                    f"global budget {b.name!r} has window='run', which needs a decorated function or a with "
                    "block; use a calendar/rolling window, or apply it with @budget(...) instead"
                )
        updates["budgets"] = tuple(budgets)
    if timezone is not None:
        _zone(timezone)
        updates["timezone"] = timezone
    if thresholds is not None:
        updates["thresholds"] = _thresholds(thresholds, "configure_budgets(thresholds=...)")
    if alert_sinks is not None:
        for s in alert_sinks:
            if not callable(s):
                raise ConfigurationError(
                    f"alert_sinks: {s!r} is not callable; an alert sink is alert -> None"
                )
        updates["alert_sinks"] = tuple(alert_sinks)
    if on_store_error is not None:
        if on_store_error not in ("open", "closed"):
            raise ConfigurationError(
                f"on_store_error={on_store_error!r}; use 'open' (allow + warn) or 'closed' (refuse)"
            )
        updates["on_store_error"] = on_store_error
    if unpriced is not None:
        if unpriced not in ("allow", "refuse"):
            raise ConfigurationError(f"unpriced={unpriced!r}; use 'allow' (warn once) or 'refuse'")
        updates["unpriced"] = unpriced
    if default_max_output_tokens is not None:
        if not isinstance(default_max_output_tokens, int) or default_max_output_tokens < 1:
            raise ConfigurationError(
                f"default_max_output_tokens={default_max_output_tokens!r} must be a positive integer"
            )
        updates["default_max_output_tokens"] = default_max_output_tokens
    if cap_output is not None:
        updates["cap_output"] = bool(cap_output)
    if reservation_ttl is not None:
        secs = (
            reservation_ttl.total_seconds()
            if isinstance(reservation_ttl, timedelta)
            else float(reservation_ttl)
        )
        if not secs >= 1:
            raise ConfigurationError(f"reservation_ttl={reservation_ttl!r} must be at least 1 second")
        updates["reservation_ttl"] = secs
    if breaker is not None:
        if breaker is not False and not isinstance(breaker, Breaker):
            raise ConfigurationError(
                f"breaker={breaker!r} is not a Breaker; use Breaker(calls_per_minute=...)"
            )
        updates["breaker"] = breaker or None
    if forward_user_id is not None:
        updates["forward_user_id"] = bool(forward_user_id)
    with _lock:
        _settings = replace(_settings, **updates)
    from ._enforce import install

    install()


def reset_budgets() -> None:
    """Back to defaults: no global budgets or breaker; the default store is closed. Meant for tests.

    Example:
        >>> reset_budgets()
    """
    global _settings
    with _lock:
        old = _settings._default_store
        _settings = BudgetSettings()
    if old is not None:
        old.close()
    from ._enforce import reset_state

    reset_state()


def _thresholds(values: Iterable[float], where: str) -> tuple[float, ...]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: {v!r} is not a percentage") from exc
        if not 0 < f <= 1000:
            raise ConfigurationError(f"{where}: {v!r} must be a percentage in (0, 1000], e.g. 90 for 90%")
        out.append(f)
    return tuple(sorted(set(out)))
