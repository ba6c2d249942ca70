"""Global configuration: ``configure()``, ``get_config()``, ``reset_defaults()``.

A keyword passed to :func:`llmfinops.wrap` overrides that one setting for that client only.

Example:
    >>> import llmfinops
    >>> from llmfinops.sinks import MemorySink
    >>> llmfinops.configure(sinks=[MemorySink()], environment="staging")
    >>> llmfinops.get_config().environment
    'staging'
    >>> llmfinops.reset_defaults()
"""

from __future__ import annotations

__all__ = ["Config", "InfraCost", "configure", "get_config", "reset_defaults"]

import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from ._clock import Clock, system_clock
from .exceptions import ConfigurationError
from .pricing import PriceTable, default_price_table
from .records import CallRecord
from .sinks import BackgroundWriter, JSONLSink, as_sink
from .typing import Processor, Sink

UserIdMode = Literal["hash", "raw", "drop"]
_DEFAULT_JSONL = "llmfinops_calls.jsonl"


@dataclass(frozen=True, slots=True)
class InfraCost:
    """Per-request infrastructure and monitoring cost (seed 002), reported apart from token cost.

    ``infra_cost_usd = per_second * latency_seconds + per_request``.

    Example:
        >>> InfraCost(per_second=Decimal("0.0001"), per_request=Decimal("0.00005")).per_request
        Decimal('0.00005')
    """

    per_second: Decimal = Decimal(0)
    per_request: Decimal = Decimal(0)


@dataclass(slots=True)
class Config:
    """The settings in force. Build it with :func:`configure`, never by hand."""

    sinks: list[Sink] | None = None
    """Sinks; ``None`` means the default JSONL file (``$LLMFINOPS_JSONL`` or ``./llmfinops_calls.jsonl``)."""
    processors: list[Processor] = field(default_factory=list)
    price_table: PriceTable | None = None
    """``None`` means the bundled table."""
    strict_pricing: bool = False
    """Refuse (``PriceNotFound``, before sending) calls to models without a price."""
    service: str | None = None
    environment: str | None = None
    infra_cost: InfraCost | None = None
    user_id_mode: UserIdMode = "hash"
    user_id_key: bytes | None = None
    """Secret for the keyed user-id hash (``$LLMFINOPS_USER_ID_KEY`` if unset)."""
    clock: Clock = system_clock
    capture_content: bool = False
    """Write request/response text into records (``prompt``/``completion``). Off by default."""
    max_content_chars: int = 20_000
    """Cap on each captured text (before any processor runs)."""
    max_queue: int = 100_000
    flush_interval: float = 0.2
    wake_at: int = 64
    """Queued records that make the writer drain at once (see ``BackgroundWriter``)."""
    overflow: Literal["drop_newest", "drop_oldest", "block"] = "drop_newest"
    _writer: BackgroundWriter | None = None

    def table(self) -> PriceTable:
        """The price table in force."""
        return self.price_table if self.price_table is not None else default_price_table()

    def writer(self) -> BackgroundWriter:
        """The background writer for the configured sinks (created on first use)."""
        w = self._writer
        if w is None:
            with _lock:
                w = self._writer
                if w is None:
                    sinks = self.sinks
                    if sinks is None:
                        sinks = [JSONLSink(Path(os.environ.get("LLMFINOPS_JSONL") or _DEFAULT_JSONL))]
                    w = BackgroundWriter(
                        sinks,
                        self.processors,
                        max_queue=self.max_queue,
                        flush_interval=self.flush_interval,
                        wake_at=self.wake_at,
                        overflow=self.overflow,
                    )
                    self._writer = w
        return w


_lock = threading.RLock()
_config = Config()
_WRITER_FIELDS = frozenset({"sinks", "processors", "max_queue", "flush_interval", "wake_at", "overflow"})


def get_config() -> Config:
    """Return the configuration in force.

    Example:
        >>> get_config().user_id_mode
        'hash'
    """
    return _config


def configure(
    *,
    sinks: Sequence[Sink | Callable[[CallRecord], object]] | None = None,
    processors: Sequence[Processor] | None = None,
    price_table: PriceTable | str | os.PathLike[str] | None = None,
    price_overrides: dict[str, Any] | None = None,
    strict_pricing: bool | None = None,
    service: str | None = None,
    environment: str | None = None,
    infra_cost: InfraCost | None = None,
    user_id_mode: UserIdMode | None = None,
    user_id_key: str | bytes | None = None,
    clock: Clock | None = None,
    capture_content: bool | None = None,
    max_content_chars: int | None = None,
    max_queue: int | None = None,
    flush_interval: float | None = None,
    wake_at: int | None = None,
    overflow: Literal["drop_newest", "drop_oldest", "block"] | None = None,
) -> None:
    """Set global defaults. Only the arguments you pass change.

    Args:
        sinks: Where records go (sinks or plain callables). ``[]`` writes nowhere.
        processors: Record processors, applied in order before the sinks.
        price_table: A :class:`~llmfinops.pricing.PriceTable` or a path to a JSON price file
            (a full table in the bundled schema).
        price_overrides: ``{"models": [...], "discounts": [...]}`` applied on top of the table
            (see :meth:`~llmfinops.pricing.PriceTable.with_overrides`).
        strict_pricing: Refuse calls to unpriced models before sending them.
        service: Service name written on every record.
        environment: Environment written on every record (``$LLMFINOPS_ENV`` if unset).
        infra_cost: Per-request infrastructure cost model.
        user_id_mode: ``hash`` (default, keyed HMAC-SHA256), ``raw`` or ``drop``.
        user_id_key: Secret for the user-id hash.
        clock: Clock for timestamps and durations (tests inject a fake).
        capture_content: Opt in to writing prompt and completion text into records. Pair it
            with redaction processors (``llmfinops.processors.redact_text``).
        max_content_chars: Cap on each captured text.
        max_queue: Background queue bound.
        flush_interval: Longest wait, in seconds, between background flushes.
        wake_at: Queued records that make the writer drain at once, without waiting for
            ``flush_interval`` (default 64: queued calls die before the garbage collector promotes
            them; see ``BackgroundWriter``).
        overflow: Queue-full policy.

    Raises:
        ConfigurationError: On an invalid value (the message names it and the fix).

    Example:
        >>> import llmfinops
        >>> llmfinops.configure(service="checkout", sinks=[])
        >>> llmfinops.reset_defaults()
    """
    global _config
    with _lock:
        updates: dict[str, Any] = {}
        if sinks is not None:
            updates["sinks"] = [as_sink(s) for s in sinks]
        if processors is not None:
            for p in processors:
                if not callable(p):
                    raise ConfigurationError(
                        f"processors: {p!r} is not callable; a processor is record -> record"
                    )
            updates["processors"] = list(processors)
        if price_table is not None:
            if isinstance(price_table, PriceTable):
                updates["price_table"] = price_table
            else:
                from .pricing import load_price_table

                updates["price_table"] = load_price_table(price_table)
        if price_overrides is not None:
            base = updates.get("price_table") or _config.table()
            unknown = set(price_overrides) - {"models", "discounts", "file"}
            if unknown:
                raise ConfigurationError(
                    f"price_overrides has unknown key(s) {sorted(unknown)}; "
                    "use 'models', 'discounts' or 'file'"
                )
            updates["price_table"] = base.with_overrides(**price_overrides)
        if user_id_mode is not None:
            if user_id_mode not in ("hash", "raw", "drop"):
                raise ConfigurationError(f"user_id_mode={user_id_mode!r} is not one of 'hash', 'raw', 'drop'")
            updates["user_id_mode"] = user_id_mode
        if user_id_key is not None:
            updates["user_id_key"] = user_id_key.encode() if isinstance(user_id_key, str) else user_id_key
        if max_queue is not None and max_queue <= 0:
            raise ConfigurationError(f"max_queue={max_queue} must be a positive integer")
        if flush_interval is not None and flush_interval <= 0:
            raise ConfigurationError(f"flush_interval={flush_interval} must be > 0 seconds")
        if wake_at is not None and (
            not isinstance(wake_at, int) or isinstance(wake_at, bool) or wake_at <= 0
        ):
            raise ConfigurationError(f"wake_at={wake_at!r} must be a positive integer, e.g. 64")
        plain = (
            ("strict_pricing", strict_pricing),
            ("service", service),
            ("environment", environment),
            ("infra_cost", infra_cost),
            ("clock", clock),
            ("capture_content", capture_content),
            ("max_content_chars", max_content_chars),
            ("max_queue", max_queue),
            ("flush_interval", flush_interval),
            ("wake_at", wake_at),
            ("overflow", overflow),
        )
        updates.update({name: value for name, value in plain if value is not None})
        new = replace(_config, **updates)
        if _WRITER_FIELDS & set(updates):
            old = _config._writer
            new._writer = None
            if old is not None:
                old.close()
        _config = new


def reset_defaults() -> None:
    """Restore the defaults (closing the current writer). Meant for tests.

    Example:
        >>> reset_defaults()
    """
    global _config
    with _lock:
        old = _config._writer
        _config = Config(environment=os.environ.get("LLMFINOPS_ENV") or None)
        if old is not None:
            old.close()
    from .policies import reset_policies  # lazy: policies import the config

    reset_policies()
    budgets = sys.modules.get("llmfinops.budgets")
    if budgets is not None:  # only if the app used budgets; never import them here
        budgets.reset_budgets()


def _env_defaults() -> None:
    global _config
    env = os.environ.get("LLMFINOPS_ENV")
    if env:
        _config.environment = env


_env_defaults()
assert {f.name for f in fields(Config)} >= _WRITER_FIELDS
