"""OpenTelemetry sink: a GenAI span and GenAI metrics per call, plus the cost.

::

    pip install "llmfinops[otel]"

    import llmfinops
    from llmfinops.sinks.otel import OTelSink

    llmfinops.configure(sinks=[OTelSink()])  # uses the global tracer and meter providers

Each record becomes:

* a ``CLIENT`` span named ``"{operation} {model}"`` (e.g. ``chat gpt-4o``) with the
  `GenAI semantic-convention <https://opentelemetry.io/docs/specs/semconv/gen-ai/>`_
  attributes (``gen_ai.provider.name``, ``gen_ai.operation.name``, ``gen_ai.request.model``,
  ``gen_ai.response.model``, ``gen_ai.request.max_tokens``, ``gen_ai.usage.*``), every other
  record field under ``llmfinops.`` (costs as floats, tags as ``llmfinops.tags.<key>``),
  the call's real start time and duration, status ``ERROR`` for failed calls, and the span
  that was current in the caller as its parent;
* ``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration`` histograms
  (semantic-convention bucket boundaries);
* a ``llmfinops.cost`` counter (unit ``{USD}``) by provider, model, team and feature.

Records are exported on llmfinops' background thread, so the parent span is captured
on the caller's thread when the call finishes and carried to the sink.
"""

from __future__ import annotations

__all__ = ["DURATION_BUCKETS", "PROVIDER_NAMES", "TOKEN_BUCKETS", "OTelSink", "provider_name"]

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmfinops.exceptions import ConfigurationError, MissingDependencyError
from llmfinops.records import RECORD_FIELDS, CallRecord

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised in an environment without the extra
    raise MissingDependencyError(
        'llmfinops.sinks.otel needs OpenTelemetry: pip install "llmfinops[otel]"'
    ) from exc

TOKEN_BUCKETS: tuple[float, ...] = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
"""``gen_ai.client.token.usage`` bucket boundaries from the GenAI semantic conventions."""
DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
"""``gen_ai.client.operation.duration`` bucket boundaries (seconds) from the GenAI semantic conventions."""

PROVIDER_NAMES: dict[str, str] = {"google": "gcp.gen_ai", "vertex": "gcp.vertex_ai", "bedrock": "aws.bedrock"}
"""llmfinops provider names that differ from the ``gen_ai.provider.name`` well-known values."""

_GEN_AI_FIELDS = {
    "model": "gen_ai.request.model",
    "response_model": "gen_ai.response.model",
    "request_max_tokens": "gen_ai.request.max_tokens",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cached_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_write_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
    "operation": "gen_ai.operation.name",
}
# Carried by the span itself (name, times, status) or in gen_ai.* above; message text only on request.
_CONTENT_FIELDS = ("prompt", "completion")
_NOT_ATTRIBUTES = {"timestamp", "latency_ms", "provider", "id", "tags", *_GEN_AI_FIELDS, *_CONTENT_FIELDS}
_PREFIX = "llmfinops."
_EXTRA_FIELDS = tuple(f for f in RECORD_FIELDS if f not in _NOT_ATTRIBUTES)
_HIGH_CARDINALITY = frozenset(
    {"id", "user_id", "request_id", "timestamp", "cascade_id", "prefix_fingerprint", *_CONTENT_FIELDS}
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_PENDING = 100_000


def _ns(dt: datetime) -> int:
    """Exact nanoseconds since the epoch (``dt.timestamp()`` would round to ~0.2 us)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = dt - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000


def _value(v: Any) -> Any:
    return float(v) if isinstance(v, Decimal) else v


def provider_name(provider: str) -> str:
    """The ``gen_ai.provider.name`` for an llmfinops provider name.

    Example:
        >>> provider_name("google"), provider_name("openai")
        ('gcp.gen_ai', 'openai')
    """
    return PROVIDER_NAMES.get(provider, provider)


class OTelSink:
    """Export each record as an OpenTelemetry span and GenAI metrics.

    Args:
        tracer_provider: Where spans go; the global provider when ``None``.
        meter_provider: Where metrics go; the global provider when ``None``.
        spans: Export a span per call.
        metrics: Record the token, duration and cost metrics.
        cost_attributes: Record fields added as ``llmfinops.<field>`` attributes to the
            ``llmfinops.cost`` counter (besides provider and model). Keep them low-cardinality:
            ``user_id`` and ids are refused.
        capture_parent: Parent each span to the span current in the caller when the call
            started (costs one context lookup on the caller's thread per call).
        content: Also put message text (``prompt``/``completion`` fields, present only when
            content capture is on) on spans as ``llmfinops.prompt``/``llmfinops.completion``.
            Off by default: traces are often kept longer and seen by more people than logs.

    Raises:
        ConfigurationError: A high-cardinality or unknown field is in ``cost_attributes``.
        MissingDependencyError: OpenTelemetry is not installed.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        >>> from llmfinops.testing import make_record
        >>> exporter = InMemorySpanExporter()
        >>> provider = TracerProvider(); provider.add_span_processor(SimpleSpanProcessor(exporter))
        >>> sink = OTelSink(tracer_provider=provider, metrics=False)
        >>> sink.emit(make_record(model="gpt-4o", cost_usd="0.0045"))
        >>> span = exporter.get_finished_spans()[0]
        >>> span.name, span.attributes["llmfinops.cost_usd"]
        ('chat gpt-4o', 0.0045)
        >>> sink.close()
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        spans: bool = True,
        metrics: bool = True,
        cost_attributes: Sequence[str] = ("team", "feature"),
        capture_parent: bool = True,
        content: bool = False,
    ) -> None:
        from llmfinops import __version__

        for f in cost_attributes:
            if f in _HIGH_CARDINALITY or f not in RECORD_FIELDS:
                raise ConfigurationError(
                    f"OTelSink cost_attributes: {f!r} is "
                    + ("a high-cardinality field" if f in _HIGH_CARDINALITY else "not a record field")
                    + "; use low-cardinality fields such as 'team', 'feature', 'environment', 'service'"
                )
        self.spans = spans
        self.metrics = metrics
        self.cost_attributes = tuple(cost_attributes)
        self.content = content
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._tracer = otel_trace.get_tracer("llmfinops", __version__, tracer_provider=tracer_provider)
        meter = otel_metrics.get_meter("llmfinops", __version__, meter_provider=meter_provider)
        self._token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self._cost = meter.create_counter(
            "llmfinops.cost", unit="{USD}", description="Token cost of LLM calls in US dollars (llmfinops)."
        )
        self._empty: Context = otel_context.Context()
        self._capture = _Capture() if capture_parent and spans else None

    # -- parent context -------------------------------------------------------------------------
    def _parent(self, record: CallRecord) -> Context:
        captured = record.context
        ctx: Any = captured.get("otel") if captured else None
        if isinstance(ctx, otel_context.Context):
            return ctx
        return self._empty  # never the writer thread's (or a flushing caller's) current span

    # -- export ---------------------------------------------------------------------------------
    def emit(self, record: CallRecord) -> None:
        """Export one record."""
        self.emit_batch((record,))

    def emit_batch(self, records: Sequence[CallRecord]) -> None:
        """Export several records (the cost counter is summed per attribute set first)."""
        if self.spans:
            for rec in records:
                self._span(rec)
        if self.metrics:
            self._record_metrics(records)

    def _span(self, rec: CallRecord) -> None:
        attrs: dict[str, Any] = {"gen_ai.provider.name": provider_name(rec.provider)}
        for field, key in _GEN_AI_FIELDS.items():
            v = getattr(rec, field)
            if v is not None:
                attrs[key] = v
        attrs[_PREFIX + "record_id"] = rec.id
        for field in _EXTRA_FIELDS:
            v = getattr(rec, field, None)
            if v is not None:
                attrs[_PREFIX + field] = _value(v)
        for k, v in rec.tags.items():
            attrs[f"{_PREFIX}tags.{k}"] = str(v)
        if self.content:
            for field in _CONTENT_FIELDS:
                v = getattr(rec, field, None)
                if v is not None:
                    attrs[_PREFIX + field] = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        failed = rec.status == "error"
        if failed:
            attrs["error.type"] = rec.error_type or "_OTHER"
        start = _ns(rec.timestamp)
        span = self._tracer.start_span(
            f"{rec.operation} {rec.model}",
            context=self._parent(rec),
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=start,
        )
        if rec.time_to_first_token_ms is not None:
            span.add_event("llmfinops.first_token", timestamp=start + int(rec.time_to_first_token_ms * 1e6))
        if failed:
            span.set_status(Status(StatusCode.ERROR, rec.error_type))
        span.end(end_time=start + max(int(rec.latency_ms * 1e6), 0))

    def _record_metrics(self, records: Sequence[CallRecord]) -> None:
        costs: dict[tuple[tuple[str, Any], ...], Decimal] = {}
        for rec in records:
            attrs: dict[str, Any] = {
                "gen_ai.operation.name": rec.operation,
                "gen_ai.provider.name": provider_name(rec.provider),
                "gen_ai.request.model": rec.model,
            }
            if rec.response_model:
                attrs["gen_ai.response.model"] = rec.response_model
            failed = rec.status == "error"
            if failed:
                attrs["error.type"] = rec.error_type or "_OTHER"
            self._duration.record(max(rec.latency_ms, 0.0) / 1000.0, attrs)
            if not failed or rec.input_tokens or rec.output_tokens:
                attrs.pop("error.type", None)
                self._token_usage.record(rec.input_tokens, {**attrs, "gen_ai.token.type": "input"})
                self._token_usage.record(rec.output_tokens, {**attrs, "gen_ai.token.type": "output"})
            if rec.cost_usd is not None:
                key: list[tuple[str, Any]] = [
                    ("gen_ai.provider.name", attrs["gen_ai.provider.name"]),
                    ("gen_ai.request.model", rec.model),
                ]
                for f in self.cost_attributes:
                    v = getattr(rec, f)
                    if v is not None:
                        key.append((_PREFIX + f, _value(v)))
                k = tuple(key)
                costs[k] = costs.get(k, Decimal(0)) + rec.cost_usd
        for k, total in costs.items():
            self._cost.add(float(total), dict(k))

    def close(self) -> None:
        """Stop capturing parent spans and flush the providers (they stay yours to shut down)."""
        if self._capture is not None:
            self._capture.stop()
            self._capture = None
        for provider in (self._tracer_provider, self._meter_provider):
            flush = getattr(provider, "force_flush", None)
            if flush is not None:
                flush()

    def __repr__(self) -> str:
        return f"OTelSink(spans={self.spans}, metrics={self.metrics})"


class _Capture:
    """Carries the caller's OpenTelemetry context to the writer thread.

    The recorder's context-capture hook takes the context when each call starts; it
    travels on ``record.context["otel"]``. One hook serves every live OTel sink.
    """

    _users = 0
    _lock = threading.Lock()

    def __init__(self) -> None:
        from llmfinops import _recorder

        with _Capture._lock:
            if _Capture._users == 0:
                _recorder.add_context_capture("otel", otel_context.get_current)
            _Capture._users += 1

    def stop(self) -> None:
        from llmfinops import _recorder

        with _Capture._lock:
            _Capture._users -= 1
            if _Capture._users == 0:
                _recorder.remove_context_capture("otel")
