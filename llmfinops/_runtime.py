"""Per-client runtime and process-wide call hooks: what runs around every metered call.

:class:`ClientRuntime` holds what ``wrap(client, **options)`` decided for one client; the
registries here hold the hooks every client runs (listeners, context captures, global
before/after-call hooks, record enrichers). :mod:`llmfinops._recorder` re-exports them all:
the lists and dicts are shared objects, mutated in place, never copied.
"""

from __future__ import annotations

__all__ = [
    "CURRENT_CALL",
    "DEFER_DISPATCH",
    "GLOBAL_AFTER_CALL",
    "GLOBAL_BEFORE_CALL",
    "GLOBAL_CALL_ABORTED",
    "RECORD_ENRICHERS",
    "ClientRuntime",
    "_context_captures",
    "_dispatch",
    "_listeners",
    "add_context_capture",
    "add_listener",
    "remove_context_capture",
    "remove_listener",
]

import contextlib
import contextvars
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._config import Config, get_config
from ._internal import report_internal
from .exceptions import PriceNotFound
from .pricing import PriceTable
from .records import CallRecord
from .sinks import BackgroundWriter, as_sink

if TYPE_CHECKING:
    from ._recorder import CallState

_listeners: list[Callable[[CallRecord], None]] = []
GLOBAL_BEFORE_CALL: list[Callable[[CallState], None]] = []
"""Before-call hooks for every wrapped client, run after the client's own (budgets install here)."""
GLOBAL_AFTER_CALL: list[Callable[[CallState, CallRecord], None]] = []
"""After-call hooks for every wrapped client, run after the client's own. While any is installed,
every record is built on the caller's thread; prefer :meth:`CallState.on_record` per call."""
GLOBAL_CALL_ABORTED: list[Callable[[CallState, BaseException], None]] = []
"""Run when a before-call hook refuses a call (nothing is sent): earlier hooks release what they hold."""
RECORD_ENRICHERS: list[Callable[[CallState, dict[str, Any]], None]] = []
"""Called on the caller's thread while a record is built; may set extra record fields in the dict."""

CURRENT_CALL: contextvars.ContextVar[CallState | None] = contextvars.ContextVar(
    "llmfinops_call", default=None
)
"""The call in progress in this context (adapters use it to count HTTP attempts)."""


_context_captures: dict[str, Callable[[], object]] = {}


def add_context_capture(name: str, fn: Callable[[], object]) -> None:
    """Run ``fn`` on the caller's thread when each call starts; its value travels on ``record.context[name]``.

    Sinks run on the background writer thread; this is how they see caller-side state such
    as the OpenTelemetry span in force.
    """
    _context_captures[name] = fn


def remove_context_capture(name: str) -> None:
    """Undo :func:`add_context_capture`."""
    _context_captures.pop(name, None)


def add_listener(fn: Callable[[CallRecord], None]) -> None:
    """Receive every record synchronously, before the sinks (used by ``capture_records``)."""
    _listeners.append(fn)


def remove_listener(fn: Callable[[CallRecord], None]) -> None:
    """Undo :func:`add_listener`."""
    with contextlib.suppress(ValueError):
        _listeners.remove(fn)


DEFER_DISPATCH = "llmfinops.defer_dispatch"
"""``CallState.scratch`` key: ``callable(record, dispatch) -> bool``; returning True means the
callable takes over dispatching the record (it must call ``dispatch(record)`` later)."""


def _dispatch(runtime: ClientRuntime, cfg: Config, rec: CallRecord) -> None:
    """Hand a finished record to the listeners and the writer (each failure isolated)."""
    for fn in _listeners:
        try:
            fn(rec)
        except Exception:
            report_internal("listener")
    try:
        runtime.writer(cfg).submit(rec)
    except Exception:
        report_internal("submit")


class ClientRuntime:
    """What ``wrap(client, **options)`` decided for one client. Shared by its copies."""

    def __init__(
        self,
        provider: str,
        *,
        sinks: list[Any] | None = None,
        tags: Mapping[str, str] | None = None,
        price_table: PriceTable | None = None,
        service: str | None = None,
        environment: str | None = None,
        strict_pricing: bool | None = None,
    ) -> None:
        self.provider = provider
        self.tags = dict(tags or {})
        self.price_table = price_table
        self.service = service
        self.environment = environment
        self.strict_pricing = strict_pricing
        self._writer: BackgroundWriter | None = None
        self._sinks = [as_sink(s) for s in sinks] if sinks is not None else None
        self.before_call: list[Callable[[CallState], None]] = []
        """Hooks run before a metered request is sent; they may rewrite ``state.body`` or raise
        an allowed error (``BudgetExceeded``, ``PriceNotFound``, a configuration error)."""
        self.after_call: list[Callable[[CallState, CallRecord], None]] = []
        """Hooks run with each finished record (budgets reconcile here)."""

    def prepare(self, state: CallState) -> None:
        """Strict-pricing check and before-call hooks; a refusal marks the state done without a record."""
        try:
            strict = self.strict_pricing
            if strict is None:
                strict = get_config().strict_pricing
            if strict:
                self.check_priced(state.model)
            for hook in self.before_call:
                hook(state)
            for hook in GLOBAL_BEFORE_CALL:
                hook(state)
        except BaseException as exc:
            state.done = True
            for abort in GLOBAL_CALL_ABORTED:
                try:
                    abort(state, exc)
                except Exception:
                    report_internal("call_aborted")
            raise

    def writer(self, cfg: Config) -> BackgroundWriter:
        """This client's writer: its own sinks if given to ``wrap``, else the global one."""
        if self._sinks is None:
            return cfg.writer()
        if self._writer is None:
            self._writer = BackgroundWriter(
                self._sinks,
                cfg.processors,
                max_queue=cfg.max_queue,
                flush_interval=cfg.flush_interval,
                wake_at=cfg.wake_at,
                overflow=cfg.overflow,
            )
        return self._writer

    def table(self, cfg: Config) -> PriceTable:
        """The price table for this client."""
        return self.price_table if self.price_table is not None else cfg.table()

    def check_priced(self, model: str) -> None:
        """In strict mode, refuse an unpriced model before anything is sent."""
        cfg = get_config()
        strict = self.strict_pricing if self.strict_pricing is not None else cfg.strict_pricing
        if strict and model and self.table(cfg).lookup(self.provider, model) is None:
            raise PriceNotFound(self.provider, model, "strict pricing is on")
