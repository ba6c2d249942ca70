"""Per-call state and record building: the spine every provider adapter feeds.

A provider adapter opens a :class:`CallState` when a billable request starts, feeds it
what it learns (usage, response model, attempts, first-token time) and calls
:meth:`CallState.finish` exactly once — on success, error, early stream close or garbage
collection. ``finish`` prices the usage, applies attribution and hands the record to the
background writer. Nothing in here may raise into the user's call.

Around it: the per-client runtime and hook registries (:mod:`._runtime`), call opening
(:mod:`._callstart`), record ids (:mod:`._ids`), user ids and prompts (:mod:`._privacy`).
"""

from __future__ import annotations

__all__ = [
    "DEFER_DISPATCH",
    "CallState",
    "ClientRuntime",
    "add_context_capture",
    "add_listener",
    "call_start",
    "new_call_state",
    "remove_context_capture",
    "remove_listener",
]

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

# The call path reads what _callstart, _ids, _privacy and _runtime define as globals of this module
# (``_fill``, ``_next_id``, ``_user_id``, ``_listeners``...: one global lookup each); the registries
# are the same objects there and here (mutated in place, never rebound). The other names are
# re-exported for importers of ``llmfinops._recorder``.
from . import _config as _configuration
from ._callstart import StartMark as StartMark
from ._callstart import _fill as _fill
from ._callstart import call_start as call_start
from ._config import Config, get_config
from ._ids import _next_id as _next_id
from ._internal import report_internal, warn_once
from ._privacy import _prompt_text as _prompt_text
from ._privacy import _uid_cache as _uid_cache
from ._privacy import _user_id as _user_id
from ._runtime import CURRENT_CALL as CURRENT_CALL
from ._runtime import DEFER_DISPATCH as DEFER_DISPATCH
from ._runtime import GLOBAL_AFTER_CALL as GLOBAL_AFTER_CALL
from ._runtime import GLOBAL_BEFORE_CALL as GLOBAL_BEFORE_CALL
from ._runtime import GLOBAL_CALL_ABORTED as GLOBAL_CALL_ABORTED
from ._runtime import RECORD_ENRICHERS as RECORD_ENRICHERS
from ._runtime import ClientRuntime as ClientRuntime
from ._runtime import _context_captures as _context_captures
from ._runtime import _dispatch as _dispatch
from ._runtime import _listeners as _listeners
from ._runtime import add_context_capture as add_context_capture
from ._runtime import add_listener as add_listener
from ._runtime import remove_context_capture as remove_context_capture
from ._runtime import remove_listener as remove_listener
from .exceptions import CostUnknownWarning, UsageExtractionFailedWarning
from .pricing import Cost, PriceTable
from .records import CORE_FIELDS, RECORD_FIELDS, CallRecord, new_record
from .usage import Usage

_FIELD_TAGS = frozenset({"team", "feature", "user_id", "environment", "service"})
_ZERO = Decimal(0)
_THOUSAND = Decimal(1000)
_NO_FIELDS: dict[str, Any] = {}
_new_object = object.__new__
_from_wall = datetime.fromtimestamp


def new_call_state(
    runtime: ClientRuntime,
    endpoint: str,
    operation: str,
    model: str,
    stream: bool,
    request_max_tokens: int | None,
    body: dict[str, Any] | None,
    began: StartMark | None = None,
) -> CallState:
    """``CallState(runtime, endpoint, operation, model, stream, request_max_tokens, body=body)``, cheaper.

    For adapters on the call path: in CPython 3.11 calling a class runs its ``__init__`` through
    ``type.__call__`` in a fresh interpreter frame; this fills a bare instance in the caller's.

    Example:
        >>> rt = ClientRuntime("openai")
        >>> state = new_call_state(rt, "chat.completions", "chat", "gpt-4o", False, None, {})
        >>> (state.model, state.attempts, state.timestamp.tzinfo is not None)
        ('gpt-4o', 0, True)
    """
    state: CallState = _new_object(CallState)
    _fill(state, runtime, endpoint, operation, model, stream, request_max_tokens, None, body, began)
    return state


class CallState:
    """Everything known about one metered call so far."""

    # Attributes most calls never change live on the class: the constructor sets only what
    # every call has (a dozen stores instead of thirty, on the call path). Mutable values are
    # created per instance, or lazily by the code that changes them.
    captured: dict[str, object] | None = None
    """Values of :func:`add_context_capture` functions, taken when the call started."""
    completion_parts: list[str] | None = None
    """Response text seen so far (only when content capture is on)."""
    attempts = 0
    """HTTP attempts made so far (the SDK's retry loop)."""
    usage: Usage | None = None
    hops: list[tuple[Usage, str | None]] | None = None
    extra_cost: Cost | None = None
    http_requests: int | None = None
    """Billed HTTP requests behind the call when an adapter knows it (default: one per hop, >= 1)."""
    response_model: str | None = None
    request_id: str | None = None
    response_headers: Any = None
    """Response headers whose ``request-id`` (or ``x-request-id``) becomes the record's request id
    when the record is built (:attr:`request_id` is the fallback): the lookup runs off the call path."""
    first_token_at: float | None = None
    estimator: Callable[[], Usage | None] | None = None
    """Set by a stream observer: estimates usage when a stream ends before the provider reported it."""
    after_record: list[Callable[[CallState, CallRecord], None]] | None = None
    """After-call hooks of this call only (see :meth:`on_record`)."""
    adapter_data: Any = None
    """Private to the provider adapter (e.g. whether it injected ``include_usage``)."""
    record_id: str | None = None
    """The record's id when it must be stable (batch results: :func:`llmfinops._ids.stable_id`);
    ``None``: a fresh random id."""
    usage_reader: Callable[[CallState], None] | None = None
    """Set by an adapter that has seen usage it has not read yet (Anthropic's ``message_start``
    before the final ``message_delta``; Google responses, read with the record): called with
    the state when its record is built, it reads that usage into :attr:`usage` / :attr:`hops`."""
    done = False
    error_statuses: list[int] | None = None
    """Status codes of the failed HTTP attempts (created by the first one)."""
    _ts: datetime | None = None
    _wall = 0.0
    end = 0.0
    """Monotonic time the call ended (set by :meth:`finish`)."""
    finish_cfg: Config | None = None
    """The configuration in force when the call ended (a deferred record is built with it)."""
    extra_fields: dict[str, Any]
    """Record fields set by policies, budgets, cascade (``policy``, ``degraded_from``...)."""
    scratch: dict[str, Any]
    """Per-call data of hooks (e.g. a budget's reservation ids)."""
    runtime: ClientRuntime
    body: dict[str, Any] | None
    endpoint: str
    operation: str
    model: str
    stream: bool
    request_max_tokens: int | None
    cache_write_ttl: str | None
    start: float
    """Monotonic time the call began."""
    tag_snapshot: Mapping[str, str]

    def __init__(
        self,
        runtime: ClientRuntime,
        endpoint: str,
        operation: str,
        model: str,
        stream: bool = False,
        request_max_tokens: int | None = None,
        cache_write_ttl: str | None = None,
        body: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
        start: float | None = None,
    ) -> None:
        """Open the state of one call (``timestamp``/``start``: when it began, default now).

        Adapters on the call path use :func:`new_call_state` (same result, cheaper).
        """
        _fill(self, runtime, endpoint, operation, model, stream, request_max_tokens, cache_write_ttl, body)
        if timestamp is not None:
            self._ts = timestamp
        if start is not None:
            self.start = start

    @property
    def timestamp(self) -> datetime:
        """When the call began (UTC). With the system clock, made from the wall time on first read."""
        ts = self._ts
        if ts is None:
            ts = self._ts = _from_wall(self._wall, UTC)
        return ts

    @timestamp.setter
    def timestamp(self, value: datetime) -> None:
        self._ts = value

    # -- feeding ----------------------------------------------------------------------------
    def mark_first_token(self) -> None:
        """Note the time of the first content event of a stream."""
        if self.first_token_at is None:
            self.first_token_at = _configuration._config.clock.monotonic()

    def add_hop(self, usage: Usage, model: str | None = None) -> None:
        """Add one more billed request (or a part priced at another model's rates)."""
        if self.hops is None:
            self.hops = []
        self.hops.append((usage, model))

    def on_record(self, hook: Callable[[CallState, CallRecord], None]) -> None:
        """Run ``hook(state, record)`` on the caller's thread when this call's record is built.

        For a before-call hook that must see the outcome of the calls it acted on (a budget
        reconciling its reservation). Unlike a global after-call hook, it keeps only this
        call's record on the caller's thread; other calls still have theirs built off the
        call path.
        """
        if self.after_record is None:
            self.after_record = []
        self.after_record.append(hook)

    # -- finishing --------------------------------------------------------------------------
    def finish(
        self, *, error: BaseException | None = None, partial: bool = False, sync: bool = False
    ) -> CallRecord | None:
        """End the call: build and dispatch its record. Idempotent: only the first call does anything.

        When nothing on the caller's side needs the record now (no listener, no after-call
        hook such as a budget's reconciliation, no cascade hop, no content capture) and the
        call completed normally, the record is built on the background writer thread instead:
        the caller only notes the end time and queues this state. Pricing and record
        construction then run in a batch, off the call path. Otherwise (or with ``sync=True``)
        the record is built here and returned.
        """
        if self.done:
            return None
        self.done = True
        try:
            cfg = _configuration._config
            self.end = cfg.clock.monotonic()
            self.finish_cfg = cfg
            for enrich in RECORD_ENRICHERS:
                enrich(self, self.extra_fields)
            runtime = self.runtime
            if (
                not sync
                and error is None
                and not partial
                and not _listeners
                and not runtime.after_call
                and not GLOBAL_AFTER_CALL
                and self.after_record is None
                and not cfg.capture_content
                and (self.usage is not None or self.hops or self.usage_reader is not None)
                and not (self.scratch and DEFER_DISPATCH in self.scratch)
            ):
                # What only the caller's side or an estimate would need is dropped: a queue held
                # up by a failing sink must not keep request bodies (whole prompts) alive.
                self.body = self.estimator = self.adapter_data = None
                runtime.writer(cfg).submit(self)
                return None
            rec = self._build(cfg, error, partial)
            self.estimator = None  # it references its observer, which references this state
        except Exception:  # never into the user's call (a try block is cheaper than a context manager)
            report_internal("record")
            return None
        # A cascade hop holds its records until it knows the outcome (accepted/escalated),
        # then dispatches them itself; budgets (after-call hooks) still reconcile right away.
        deferred = False
        defer = self.scratch.get(DEFER_DISPATCH) if self.scratch else None
        if defer is not None:
            try:
                deferred = bool(defer(rec, functools.partial(_dispatch, self.runtime, cfg)))
            except Exception:
                report_internal("defer")
        # Each consumer is isolated: a failing hook must not cost the record its sinks.
        for hook in (
            (*self.runtime.after_call, *(self.after_record or ()), *GLOBAL_AFTER_CALL)
            if (self.runtime.after_call or self.after_record or GLOBAL_AFTER_CALL)
            else ()
        ):
            try:
                hook(self, rec)
            except Exception:
                report_internal("after_call")
        if not deferred:
            _dispatch(self.runtime, cfg, rec)
        return rec

    def materialize(self) -> CallRecord | None:
        """Build the record of a call whose :meth:`finish` deferred it (the writer thread calls this).

        ``None`` (and an internal-error report) if it cannot be built.
        """
        cfg = self.finish_cfg or get_config()
        try:
            return self._build(cfg, None, False)
        except Exception:
            report_internal("record")
            return None

    @property
    def has_usage(self) -> bool:
        """Whether the provider reported any usage (read already, or waiting in :attr:`usage_reader`)."""
        return self.usage is not None or bool(self.hops) or self.usage_reader is not None

    def _read_pending_usage(self) -> None:
        reader = self.usage_reader
        self.usage_reader = None
        if reader is not None:
            try:
                reader(self)
            except Exception:
                report_internal("usage")

    def _header_request_id(self) -> str | None:
        try:
            headers = self.response_headers
            rid = headers.get("request-id") or headers.get("x-request-id")
        except Exception:
            report_internal("request_id")
            rid = None
        return rid if isinstance(rid, str) and rid else self.request_id

    def _total_usage(self) -> Usage | None:
        hops = self.hops
        if hops and len(hops) == 1:
            return hops[0][0]
        if hops:
            total = Usage()
            for u, _ in hops:
                total = total + u
            return total
        return self.usage

    def _price(self, cfg: Config, table: PriceTable) -> Cost:
        provider = self.runtime.provider
        parts = self.hops if self.hops else ([(self.usage, None)] if self.usage is not None else [])
        total: Cost | None = None
        for usage, model in parts:
            name = model or self.response_model or self.model
            if model is None and name is self.response_model and table.lookup(provider, name) is None:
                name = self.model  # a reported snapshot the table does not know: price the requested model
            c = table.cost(provider, name, usage, at=self.timestamp, cache_write_ttl=self.cache_write_ttl)
            total = c if total is None else total + c
        if total is None:
            return Cost.unknown("no usage was reported")
        if self.extra_cost is not None:
            total = total + self.extra_cost
        return total

    def _build(self, cfg: Config, error: BaseException | None, partial: bool) -> CallRecord:
        if self.usage_reader is not None:
            self._read_pending_usage()
        runtime = self.runtime
        table = runtime.table(cfg)
        usage = self._total_usage()
        latency = ((self.end or cfg.clock.monotonic()) - self.start) * 1000.0
        estimated = False
        if usage is None and self.estimator is not None:
            # The stream was accepted (billing started) but ended before the provider reported
            # usage: an estimate beats a silent null that drops real spend from reports.
            usage = self.estimator()
            estimated = usage is not None
        if usage is None:
            if error is not None:
                cost = Cost(
                    total=_ZERO,
                    input=_ZERO,
                    cached_input=_ZERO,
                    cache_write=_ZERO,
                    output=_ZERO,
                    note="failed before any usage was reported; providers do not bill failed requests",
                )
            else:
                cost = Cost.unknown("the response reported no usage")
                if not partial:
                    warn_once(
                        UsageExtractionFailedWarning,
                        f"nousage:{runtime.provider}:{self.endpoint}",
                        f"llmfinops: a {runtime.provider} {self.endpoint} response carried no usage; "
                        "its record has cost_usd=null",
                    )
            usage = Usage()
        else:
            if estimated:
                self.usage, self.hops = usage, None
            cost = self._price(cfg, table)
            if estimated and cost.total is not None:
                cost.note = (
                    "estimated: the stream ended before the provider reported usage; input from an offline "
                    "estimate of the request, output from the text received (a lower bound)"
                )
            if cost.total is None:
                warn_once(
                    CostUnknownWarning,
                    f"cost:{runtime.provider}:{self.response_model or self.model}",
                    f"llmfinops: cannot price {runtime.provider} model "
                    f"{self.response_model or self.model!r}: {cost.note}. The record has cost_usd=null; "
                    "add the model with configure(price_overrides=...) (docs/price-table.md).",
                )
        fields: dict[str, Any]
        if runtime.tags or self.tag_snapshot:
            tags = {**runtime.tags, **self.tag_snapshot}
            fields = {k: tags.pop(k) for k in _FIELD_TAGS.intersection(tags)}
        else:
            tags, fields = {}, _NO_FIELDS
        user_id = fields.get("user_id")
        if user_id is not None:
            user_id = _user_id(cfg, user_id)
        infra = None
        if cfg.infra_cost is not None:
            infra = cfg.infra_cost.per_second * Decimal(latency) / _THOUSAND + cfg.infra_cost.per_request
            infra = infra.quantize(Decimal("1e-12"))
        ttft = None
        if self.first_token_at is not None:
            ttft = (self.first_token_at - self.start) * 1000.0
        extra = self.extra_fields
        if extra.get("cache_hit"):
            # Served from llmfinops' response cache: nothing was billed; what it would have
            # cost is the saving.
            extra["saved_usd"] = cost.total
            cost = Cost(
                total=_ZERO,
                input=_ZERO,
                cached_input=_ZERO,
                cache_write=_ZERO,
                output=_ZERO,
                price_model=cost.price_model,
                note="served from the llmfinops response cache",
            )
        if cfg.capture_content:
            extra.setdefault("prompt", _prompt_text(self.body, cfg.max_content_chars))
            if self.completion_parts:
                extra.setdefault("completion", "".join(self.completion_parts)[: cfg.max_content_chars])
        # Positional, in CORE_FIELDS order (a keyword call to the dataclass costs ~3x more).
        rec: CallRecord = new_record(
            self.record_id or _next_id(),  # id
            self.timestamp,
            runtime.provider,
            self.operation,
            self.endpoint,
            self.model,
            self.response_model,
            cost.price_model,
            usage.input_tokens,
            usage.cache_read_tokens,  # cached_input_tokens
            usage.cache_write_tokens,
            usage.output_tokens,
            usage.reasoning_tokens,
            usage.input_tokens + usage.output_tokens,  # total_tokens
            cost.total,  # cost_usd
            cost.input,
            cost.cached_input,
            cost.cache_write,
            cost.output,
            cost.cache_storage,
            infra,
            latency,
            ttft,
            self.attempts - 1 if self.attempts > 1 else 0,  # retry_count
            self.http_requests or (len(self.hops) if self.hops else 1),
            "ok" if error is None else "error",
            None if error is None else type(error).__name__,
            self.stream,
            partial,
            usage.service_tier,
            self.request_max_tokens,
            fields.get("service") or runtime.service or cfg.service,
            user_id,
            fields.get("team"),
            fields.get("feature"),
            fields.get("environment") or runtime.environment or cfg.environment,
            tags,
            self.request_id if self.response_headers is None else self._header_request_id(),
            table.as_of,  # price_version
            cost.note,  # pricing_note
        )
        if extra:
            for name, value in extra.items():
                if name not in _EXTRA_FIELDS:
                    raise TypeError(f"{name!r} is not a record field")
                setattr(rec, name, value)
        if self.captured:
            rec.context = MappingProxyType(self.captured)
        return rec


_EXTRA_FIELDS = frozenset(RECORD_FIELDS) - frozenset(CORE_FIELDS)
