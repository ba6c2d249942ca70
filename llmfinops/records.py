"""The call record: the one structured thing every sink receives.

One record is written per metered SDK call (one chat completion, one stream, one
embedding request...). Field names follow the OpenTelemetry GenAI conventions where
they exist (``input_tokens`` is inclusive of cached tokens) and seed 000's
"minimum viable tracking" otherwise.

Money is :class:`~decimal.Decimal` in Python. In JSON it is written as a plain number with
the exact decimal digits (``str(Decimal)``); read it back exactly with
``json.loads(line, parse_float=Decimal)`` (:func:`record_from_dict` accepts either).

Example:
    >>> from llmfinops.testing import make_record
    >>> rec = make_record(model="gpt-4o", cost_usd="0.0125")
    >>> rec.as_dict()["cost_usd"]
    0.0125
"""

from __future__ import annotations

__all__ = ["RECORD_FIELDS", "CallRecord", "record_from_dict"]

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

_COST_FIELDS = (
    "cost_usd",
    "input_cost_usd",
    "cached_input_cost_usd",
    "cache_write_cost_usd",
    "output_cost_usd",
    "cache_storage_cost_usd",
    "infra_cost_usd",
    "saved_usd",
)


@dataclass(slots=True, kw_only=True)
class CallRecord:
    """One metered LLM call. Treat it as immutable: processors return ``dataclasses.replace(...)``."""

    id: str
    """Random id of this record (hex); for a batch result, derived from the batch and request, so
    the same result recorded twice (two processes) has the same id."""
    timestamp: datetime
    """When the call started, UTC. Prices are looked up at this instant."""
    provider: str
    """``openai``, ``anthropic``, ``google`` (or a custom provider name)."""
    operation: str
    """OTel GenAI operation name: ``chat``, ``embeddings``, ``generate_content``, ``text_completion``..."""
    endpoint: str
    """The API surface that was called, e.g. ``chat.completions``, ``responses``, ``messages``."""
    model: str
    """The model the request asked for."""
    response_model: str | None = None
    """The model the response reports (often a dated snapshot)."""
    price_model: str | None = None
    """The price-table entry used to price the call (``None`` when unpriced)."""
    input_tokens: int = 0
    """All prompt tokens, inclusive of cached and cache-write tokens."""
    cached_input_tokens: int = 0
    """Prompt tokens read from a cache."""
    cache_write_tokens: int = 0
    """Prompt tokens written to a cache."""
    output_tokens: int = 0
    """Generated tokens, inclusive of reasoning."""
    reasoning_tokens: int = 0
    """Reasoning/thinking part of ``output_tokens``."""
    total_tokens: int = 0
    """``input_tokens + output_tokens``."""
    cost_usd: Decimal | None = None
    """Token cost in USD (sum of the four parts and any cache storage); ``None`` when it is not known."""
    input_cost_usd: Decimal | None = None
    """Cost of uncached input tokens."""
    cached_input_cost_usd: Decimal | None = None
    """Cost of cache-read tokens."""
    cache_write_cost_usd: Decimal | None = None
    """Cost of cache-write tokens."""
    output_cost_usd: Decimal | None = None
    """Cost of output tokens (reasoning included)."""
    cache_storage_cost_usd: Decimal | None = None
    """Explicit-cache storage cost (Google context caches), when the call created or extended one."""
    infra_cost_usd: Decimal | None = None
    """Optional infrastructure/monitoring cost (``configure(infra_cost=...)``), separate from ``cost_usd``."""
    latency_ms: float = 0.0
    """Wall time of the call, including retries and (for streams) consumption."""
    time_to_first_token_ms: float | None = None
    """Streams only: time until the first content event."""
    retry_count: int = 0
    """HTTP attempts beyond the first, made by the SDK's retry loop."""
    http_requests: int = 1
    """Billed HTTP requests behind this call (Google continuation / function calling may make several)."""
    status: str = "ok"
    """``ok`` or ``error``."""
    error_type: str | None = None
    """Exception class name when ``status == "error"``."""
    stream: bool = False
    """Whether the call was streamed."""
    partial: bool = False
    """The stream ended early (closed, broken, garbage-collected): usage is what was seen."""
    service_tier: str | None = None
    """The tier the response reports (prices follow it)."""
    request_max_tokens: int | None = None
    """The output cap sent with the request, after policies."""
    service: str | None = None
    """Service name (``configure(service=...)``)."""
    user_id: str | None = None
    """End-user id; hashed with a keyed hash unless ``configure(user_id_mode="raw")``."""
    team: str | None = None
    """Attribution: owning team."""
    feature: str | None = None
    """Attribution: product feature."""
    environment: str | None = None
    """Attribution: ``prod``, ``staging``..."""
    tags: dict[str, str] = field(default_factory=dict)
    """Other attribution from ``llmfinops.tags(...)``."""
    request_id: str | None = None
    """Provider request id (``x-request-id`` / ``request-id``) or response id."""
    price_version: str | None = None
    """``as_of`` date of the price table used."""
    pricing_note: str | None = None
    """Why the cost is unknown or approximate, when it is."""
    policy: str | None = None
    """Request policies applied before sending (e.g. ``max_output_tokens=1024 (clamped from 4096)``)."""
    prefix_fingerprint: str | None = None
    """Hash of the cacheable prompt prefix (tools, system, stable history), for cache reports."""
    degraded_from: str | None = None
    """The model originally requested, when a budget degraded the call to a cheaper one."""
    cache_hit: bool = False
    """Served from llmfinops' response cache (no provider call; ``cost_usd`` is 0)."""
    saved_usd: Decimal | None = None
    """Dollars a response-cache hit saved (what the call would have cost)."""
    cache_kind: str | None = None
    """``exact`` or ``semantic`` for response-cache hits."""
    cascade_id: str | None = None
    """Shared by every hop of one ``cascade()`` run."""
    cascade_step: int | None = None
    """Index of the cascade step that made this call."""
    cascade_outcome: str | None = None
    """``accepted``, ``escalated`` or ``failed`` for cascade hops."""
    budget_alert: str | None = None
    """Budget thresholds this call crossed, e.g. ``team:search day:2026-11-22 usd 90%``."""
    prompt: str | None = None
    """Request content (JSON of the messages/system/input) — only with ``configure(capture_content=True)``."""
    completion: str | None = None
    """Response text — only with ``configure(capture_content=True)``."""
    context: Mapping[str, object] | None = field(default=None, repr=False, compare=False)
    """Values captured on the caller's thread when the call started (e.g. the OpenTelemetry
    context, so spans get the right parent). Never serialized."""

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: ISO timestamp, costs as floats (``None`` stays ``None``).

        Example:
            >>> from llmfinops.testing import make_record
            >>> make_record().as_dict()["provider"]
            'openai'
        """
        d: dict[str, Any] = _as_dict(self)
        return d

    def to_json(self) -> str:
        """Serialize to one JSON line (no trailing newline); same content as ``json.dumps(as_dict())``.

        Example:
            >>> from llmfinops.testing import make_record
            >>> make_record().to_json().startswith("{")
            True
        """
        line: str = _to_json(self)
        return line


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CallRecord) if f.name != "context")
"""Field names, in order (the JSONL keys and the SQLite columns)."""


def record_from_dict(data: dict[str, Any]) -> CallRecord:
    """Rebuild a :class:`CallRecord` from :meth:`CallRecord.as_dict` output (e.g. a JSONL line).

    Unknown keys are ignored so that newer logs stay readable.

    Example:
        >>> from llmfinops.testing import make_record
        >>> r = make_record(cost_usd="0.5")
        >>> record_from_dict(r.as_dict()).cost_usd
        Decimal('0.5')
    """
    kwargs = {k: v for k, v in data.items() if k in _FIELD_SET}
    ts = kwargs.get("timestamp")
    if isinstance(ts, str):
        kwargs["timestamp"] = datetime.fromisoformat(ts)
    for f in _COST_FIELDS:
        v = kwargs.get(f)
        if v is not None and not isinstance(v, Decimal):
            kwargs[f] = Decimal(str(v))
    return CallRecord(**kwargs)


_FIELD_SET = frozenset(RECORD_FIELDS)


# -- fast serialization ----------------------------------------------------------------------------
# Records are serialized on the background writer thread, which shares the GIL with the
# application: every microsecond here is taken from the caller. ``json.dumps`` of a generic
# dict costs ~13 us per record; code generated once from the field types costs a fraction.
_enc = json.encoder.encode_basestring  # C-accelerated string escaping (keeps non-ASCII)


def _s(v: str | None) -> str:
    return "null" if v is None else _enc(v)


def _f(v: float | None) -> str:
    if v is None or v != v or v in (float("inf"), float("-inf")):
        return "null"
    return repr(float(v))


def _dec(v: Decimal | None) -> str:
    return "null" if v is None else repr(float(v))


def _b(v: bool) -> str:
    return "true" if v else "false"


def _i(v: int | None) -> str:
    return "null" if v is None else str(int(v))


_encode_tags = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # built once


def _tags(v: dict[str, str]) -> str:
    if not v:
        return "{}"
    try:  # str -> str, the shape tags() produces: join the C-escaped pieces
        return "{" + ",".join([_enc(k) + ":" + _enc(x) for k, x in v.items()]) + "}"
    except TypeError:
        out: str = _encode_tags(v)
        return out


def _ts(v: datetime) -> str:
    return '"' + v.isoformat() + '"'


def _kind(f: dataclasses.Field[Any]) -> str:
    t = str(f.type).replace(" ", "")
    if f.name == "timestamp":
        return "_ts"
    if f.name == "tags":
        return "_tags"
    if t.startswith("Decimal"):
        return "_dec"
    if t.startswith("bool"):
        return "_b"
    if t.startswith("float"):
        return "_f"
    if t.startswith("int"):
        return "_i"
    return "_s"


_INLINE = {
    "_s": "('null' if r.{0} is None else _enc(r.{0}))",
    # str(Decimal) is valid JSON (e.g. "0.00472", "0E-10") and exact, unlike a float round trip.
    "_dec": "('null' if r.{0} is None else str(r.{0}))",
    "_b": "('true' if r.{0} else 'false')",
    "_ts": "('\"' + r.{0}.isoformat() + '\"')",
}


def _compile() -> tuple[Any, Any]:
    fields = [f for f in dataclasses.fields(CallRecord) if f.name in _FIELD_SET]
    parts = []
    for i, f in enumerate(fields):
        key = ("{" if i == 0 else ",") + json.dumps(f.name) + ":"
        kind = _kind(f)
        t = str(f.type).replace(" ", "")
        if kind == "_i" and t == "int":
            expr = f"str(r.{f.name})"
        else:
            expr = _INLINE.get(kind, kind + "(r.{0})").format(f.name)
        parts.append(repr(key))
        parts.append(expr)
    parts.append("'}'")
    src_json = "def _to_json(r):\n    return ''.join((" + ",\n        ".join(parts) + "))\n"
    conv = {"_ts": "r.{0}.isoformat()", "_tags": "dict(r.{0})", "_dec": "_df(r.{0})"}
    items = []
    for f in fields:
        k = _kind(f)
        expr = conv.get(k, "r.{0}").format(f.name)
        items.append(f"{f.name!r}: {expr}")
    src_dict = "def _as_dict(r):\n    return {" + ", ".join(items) + "}\n"
    ns: dict[str, Any] = {
        "_s": _s,
        "_f": _f,
        "_dec": _dec,
        "_b": _b,
        "_i": _i,
        "_tags": _tags,
        "_ts": _ts,
        "_enc": _enc,
        "_df": lambda v: None if v is None else float(v),
    }
    exec(src_json, ns)
    exec(src_dict, ns)
    return ns["_to_json"], ns["_as_dict"]


_to_json, _as_dict = _compile()

CORE_FIELDS: tuple[str, ...] = RECORD_FIELDS[: RECORD_FIELDS.index("pricing_note") + 1]
"""The fields the recorder sets on every record, in order: the parameters of :func:`new_record`."""


def _compile_new() -> Any:
    """Generate ``new_record(<CORE_FIELDS>)``: positional, every other field at its default.

    A 53-field dataclass ``__init__`` called with ~45 keyword arguments spends most of its time
    matching names; the recorder builds one record per call, so it uses this instead.
    """
    lines = ["def new_record(" + ", ".join(CORE_FIELDS) + "):", "    r = _new(_cls)"]
    defaults: dict[str, Any] = {}
    for f in dataclasses.fields(CallRecord):
        if f.name in CORE_FIELDS:
            lines.append(f"    r.{f.name} = {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory
            lines.append(f"    r.{f.name} = _d_{f.name}()")
        else:
            value = f.default
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise TypeError(f"field {f.name}: a mutable default needs a default_factory")
            defaults[f.name] = value
            lines.append(f"    r.{f.name} = _d_{f.name}")
    lines.append("    return r")
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": CallRecord}
    ns.update({f"_d_{k}": v for k, v in defaults.items()})
    exec("\n".join(lines) + "\n", ns)
    return ns["new_record"]


new_record: Any = _compile_new()
"""``new_record(*values)``: a :class:`CallRecord` from :data:`CORE_FIELDS` values given in order
(the other fields at their defaults). Internal to the recorder; use ``CallRecord(...)`` elsewhere."""
