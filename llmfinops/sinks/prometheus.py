"""Prometheus sink: cost, token and latency metrics with bounded label cardinality.

::

    pip install "llmfinops[prometheus]"

    import llmfinops
    from llmfinops.sinks.prometheus import PrometheusSink
    from prometheus_client import start_http_server

    llmfinops.configure(sinks=[PrometheusSink()])  # the default prometheus_client registry
    start_http_server(9464)

Metrics (``llmfinops`` is the ``namespace``), each labelled by ``provider``, ``model``,
``team``, ``feature`` and ``status`` by default:

* ``llmfinops_calls_total``, ``llmfinops_cost_usd_total`` (token cost of priced calls),
  ``llmfinops_unpriced_calls_total`` (calls whose cost is unknown);
* ``llmfinops_tokens_total`` with an extra ``token_type`` label: ``input`` (inclusive of
  cached), ``cached_input``, ``cache_write``, ``output`` (inclusive of reasoning), ``reasoning``;
* ``llmfinops_latency_seconds`` histogram;
* ``llmfinops_label_overflow_total{label=...}``: records whose label value was folded into
  ``other`` by the cardinality cap.

**Cardinality.** Every label keeps at most ``max_label_values`` distinct values (per
process); later values are reported as ``other``. User ids and record ids can never be
labels. **Multiprocess.** With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn, uWSGI), the
values go to prometheus_client's shared files; expose them with :func:`multiprocess_registry`.
"""

from __future__ import annotations

__all__ = ["LATENCY_BUCKETS", "PrometheusSink", "allowed_labels", "multiprocess_registry"]

import re
import threading
import typing
import weakref
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from llmfinops.exceptions import ConfigurationError, MissingDependencyError
from llmfinops.records import RECORD_FIELDS, CallRecord

try:
    import prometheus_client
    from prometheus_client import CollectorRegistry, Counter, Histogram
except ImportError as exc:  # pragma: no cover - exercised in an environment without the extra
    raise MissingDependencyError(
        'llmfinops.sinks.prometheus needs prometheus_client: pip install "llmfinops[prometheus]"'
    ) from exc

LATENCY_BUCKETS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84,
)  # fmt: skip
"""Latency histogram buckets in seconds (the OpenTelemetry GenAI boundaries, plus one)."""

_NEVER = frozenset(
    {
        *("id", "user_id", "request_id", "timestamp", "pricing_note", "prefix_fingerprint", "cascade_id"),
        *("policy", "prompt", "completion"),
    }
)
_TOKEN_TYPES = (
    ("input", "input_tokens"),
    ("cached_input", "cached_input_tokens"),
    ("cache_write", "cache_write_tokens"),
    ("output", "output_tokens"),
    ("reasoning", "reasoning_tokens"),
)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MAX_VALUE_LEN = 128


def allowed_labels() -> tuple[str, ...]:
    """Record fields that may be labels (text and boolean fields, minus ids and free text).

    Tags may be labels too, written ``"tags.<key>"``.

    Example:
        >>> "team" in allowed_labels(), "user_id" in allowed_labels()
        (True, False)
    """
    hints = typing.get_type_hints(CallRecord)
    out = []
    for f in RECORD_FIELDS:
        if typing.get_origin(hints[f]) is dict:
            continue
        args = set(typing.get_args(hints[f])) or {hints[f]}
        args.discard(type(None))
        if f not in _NEVER and args and args <= {str, bool}:
            out.append(f)
    return tuple(out)


class _Label:
    """One label: where its value comes from and the cap on its distinct values."""

    __slots__ = ("field", "limit", "lock", "name", "seen", "tag")

    def __init__(self, spec: str, limit: int) -> None:
        self.tag = spec[5:] if spec.startswith("tags.") else None
        self.field = None if self.tag is not None else spec
        self.name = re.sub(r"[^a-zA-Z0-9_]", "_", self.tag) if self.tag is not None else spec
        self.limit = limit
        self.seen: set[str] = set()
        self.lock = threading.Lock()


class _Metrics:
    """The collectors of one (registry, namespace); shared by every sink that uses them."""

    def __init__(
        self,
        registry: CollectorRegistry,
        namespace: str,
        labels: list[_Label],
        buckets: Sequence[float],
    ) -> None:
        names = [lab.name for lab in labels]
        self.signature = (tuple(names), tuple(buckets))
        self.labels = labels
        kw: dict[str, Any] = {"namespace": namespace, "registry": registry}
        try:
            self.calls = Counter("calls", "LLM calls recorded by llmfinops.", names, **kw)
            self.cost = Counter("cost_usd", "Token cost of priced LLM calls, in US dollars.", names, **kw)
            self.unpriced = Counter(
                "unpriced_calls", "LLM calls whose cost is unknown (no price for the model).", names, **kw
            )
            self.tokens = Counter(
                "tokens",
                "LLM tokens by type (input includes cached_input; output includes reasoning).",
                [*names, "token_type"],
                **kw,
            )
            self.latency = Histogram(
                "latency_seconds", "LLM call wall time, in seconds.", names, buckets=tuple(buckets), **kw
            )
            self.overflow = Counter(
                "label_overflow",
                "Records whose label value was replaced by the overflow value (cardinality cap).",
                ["label"],
                **kw,
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"PrometheusSink namespace={namespace!r}: {exc}. Another collector already uses these "
                "metric names in this registry; pass another namespace= or registry="
            ) from exc


_bundles: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, _Metrics]] = weakref.WeakKeyDictionary()
_bundles_lock = threading.Lock()


class PrometheusSink:
    """Count cost, calls and tokens and observe latency in Prometheus metrics.

    Args:
        registry: A ``prometheus_client`` ``CollectorRegistry``; the default ``REGISTRY`` when ``None``.
        namespace: Metric name prefix.
        labels: Record fields (see :func:`allowed_labels`) or ``"tags.<key>"`` used as labels.
        max_label_values: Distinct values kept per label (an int for all, or ``{label: n}``
            with the rest at 100); later values become ``overflow_value``.
        overflow_value: Label value for values past the cap.
        missing_value: Label value when the field is ``None``.
        buckets: Latency histogram buckets, in seconds.

    Raises:
        ConfigurationError: A label is not allowed (``user_id``, ids, numbers), a cap is not
            positive, or the metric names are already taken in the registry.
        MissingDependencyError: ``prometheus_client`` is not installed.

    Example:
        >>> from prometheus_client import CollectorRegistry
        >>> from llmfinops.testing import make_record
        >>> registry = CollectorRegistry()
        >>> sink = PrometheusSink(registry)
        >>> sink.emit(make_record(team="search", feature="ask", cost_usd="0.25"))
        >>> registry.get_sample_value("llmfinops_cost_usd_total", {"provider": "openai", "model": "gpt-4o",
        ...     "team": "search", "feature": "ask", "status": "ok"})
        0.25
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "llmfinops",
        labels: Sequence[str] = ("provider", "model", "team", "feature", "status"),
        max_label_values: int | Mapping[str, int] = 100,
        overflow_value: str = "other",
        missing_value: str = "unknown",
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        allowed = set(allowed_labels())
        specs: list[_Label] = []
        for spec in labels:
            if spec in _NEVER:
                raise ConfigurationError(
                    f"PrometheusSink labels: {spec!r} would give every user or call its own time series; "
                    "remove it (group by it in your logs or SQL instead)"
                )
            if not spec.startswith("tags.") and spec not in allowed:
                raise ConfigurationError(
                    f"PrometheusSink labels: {spec!r} is not a label-able record field; use one of "
                    f"{sorted(allowed)} or 'tags.<key>'"
                )
            limit = max_label_values if isinstance(max_label_values, int) else max_label_values.get(spec, 100)
            if not isinstance(limit, int) or limit < 1:
                raise ConfigurationError(
                    f"PrometheusSink max_label_values for {spec!r} is {limit!r}; use >= 1"
                )
            lab = _Label(spec, limit)
            if not _LABEL_NAME.match(lab.name) or lab.name.startswith("__") or lab.name == "token_type":
                raise ConfigurationError(
                    f"PrometheusSink labels: {spec!r} gives the invalid label name {lab.name!r}"
                )
            specs.append(lab)
        if len({lab.name for lab in specs}) != len(specs):
            raise ConfigurationError(f"PrometheusSink labels={list(labels)!r} has duplicate label names")
        if not _LABEL_NAME.match(namespace):
            raise ConfigurationError(
                f"PrometheusSink namespace={namespace!r} is not a valid metric name prefix"
            )
        self.registry = registry if registry is not None else prometheus_client.REGISTRY
        self.namespace = namespace
        self.overflow_value = overflow_value
        self.missing_value = missing_value
        with _bundles_lock:
            per_registry = _bundles.setdefault(self.registry, {})
            bundle = per_registry.get(namespace)
            if bundle is None:
                bundle = _Metrics(self.registry, namespace, specs, buckets)
                per_registry[namespace] = bundle
            elif bundle.signature != (tuple(lab.name for lab in specs), tuple(buckets)):
                raise ConfigurationError(
                    f"PrometheusSink namespace={namespace!r} already exists in this registry with labels "
                    f"{list(bundle.signature[0])}, not {[lab.name for lab in specs]} (or other buckets); "
                    "use the same labels and buckets, or another namespace="
                )
        self._m = bundle

    def _label(self, lab: _Label, rec: CallRecord) -> str:
        v: Any = rec.tags.get(lab.tag) if lab.tag is not None else getattr(rec, lab.field or "")
        if v is None:
            return self.missing_value
        s = ("true" if v else "false") if isinstance(v, bool) else str(v)[:_MAX_VALUE_LEN]
        seen = lab.seen
        if s in seen:
            return s
        with lab.lock:
            if s in seen or len(seen) < lab.limit:
                seen.add(s)
                return s
        self._m.overflow.labels(lab.name).inc()
        return self.overflow_value

    def emit(self, record: CallRecord) -> None:
        """Count one record."""
        self.emit_batch((record,))

    def emit_batch(self, records: Sequence[CallRecord]) -> None:
        """Count several records (counters are summed per label set before they are updated)."""
        m = self._m
        labels = m.labels
        agg: dict[tuple[str, ...], list[Any]] = {}
        latency = m.latency
        for rec in records:
            key = tuple(self._label(lab, rec) for lab in labels)
            a = agg.get(key)
            if a is None:
                a = agg[key] = [0, Decimal(0), 0, 0, 0, 0, 0, 0]
            a[0] += 1
            if rec.cost_usd is None:
                a[2] += 1
            else:
                a[1] += rec.cost_usd
            for i, (_, field) in enumerate(_TOKEN_TYPES):
                a[3 + i] += getattr(rec, field)
            latency.labels(*key).observe(max(rec.latency_ms, 0.0) / 1000.0)
        for key, a in agg.items():
            m.calls.labels(*key).inc(a[0])
            m.cost.labels(*key).inc(float(a[1]))
            if a[2]:
                m.unpriced.labels(*key).inc(a[2])
            for i, (token_type, _) in enumerate(_TOKEN_TYPES):
                if a[3 + i]:
                    m.tokens.labels(*key, token_type).inc(a[3 + i])

    def close(self) -> None:
        """Nothing to release (the metrics stay registered and keep their values)."""

    def __repr__(self) -> str:
        return f"PrometheusSink(namespace={self.namespace!r}, labels={[lab.name for lab in self._m.labels]})"


def multiprocess_registry(path: str | None = None) -> CollectorRegistry:
    """A registry that collects every process's values (``PROMETHEUS_MULTIPROC_DIR`` mode).

    Create it per scrape (e.g. in your ``/metrics`` view), as prometheus_client recommends.

    Args:
        path: The multiprocess directory; ``$PROMETHEUS_MULTIPROC_DIR`` when ``None``.

    Example:
        >>> import tempfile
        >>> from prometheus_client import generate_latest
        >>> generate_latest(multiprocess_registry(tempfile.mkdtemp()))
        b''
    """
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry
