"""Google GenAI usage semantics and cheap reads of raw response bodies.

The rules (provider-semantics.md §3.1-3.2):

* ``prompt_token_count`` already *includes* ``cached_content_token_count``.
* ``tool_use_prompt_token_count`` (results of built-in tools fed back to the model) sits
  *outside* the prompt count (``total = prompt + candidates + tool_use + thoughts``); we bill
  it as input (UNVERIFIED, see docs/providers/google.md).
* ``thoughts_token_count`` is *not* inside ``candidates_token_count`` but is billed as output.
* A streamed chunk's usage is the running total of its HTTP request: keep the last, never sum.

The HTTP layer hands us JSON *text*. Parsing the whole body a second time would cost as much
as the SDK's own parse (and megabytes for image or embedding responses), so
:func:`scan_key` decodes only the value of one top-level key found from the end of the text,
where Gemini puts ``usageMetadata``, ``modelVersion`` and ``responseId``.
"""

from __future__ import annotations

__all__ = [
    "extract_usage",
    "model_from_resource",
    "requested_tier",
    "scan_key",
    "tier_from_traffic",
    "usage_from_raw",
]

import json
from enum import Enum
from typing import Any

from llmfinops.usage import Usage

from ._base import field

_DECODER = json.JSONDecoder()
_WS = frozenset(" \t\r\n")

_TRAFFIC_TIERS = {
    # Vertex ``usage_metadata.traffic_type`` -> price-table tier name
    "ON_DEMAND": "standard",
    "ON_DEMAND_PRIORITY": "priority",
    "ON_DEMAND_FLEX": "flex",
    "ON_DEMAND_OFFPEAK": "offpeak",
    "PROVISIONED_THROUGHPUT": "provisioned_throughput",
}


def _int(obj: Any, *names: str) -> int:
    for name in names:
        v = field(obj, name)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return 0


def _enum_str(value: Any) -> str | None:
    if isinstance(value, Enum):
        value = value.value
    return value if isinstance(value, str) else None


def tier_from_traffic(traffic_type: Any) -> str | None:
    """Map a Vertex ``traffic_type`` to the tier name the price table uses.

    Example:
        >>> tier_from_traffic("ON_DEMAND_FLEX")
        'flex'
    """
    s = _enum_str(traffic_type)
    if not s:
        return None
    return _TRAFFIC_TIERS.get(s.upper(), None if s.upper() == "TRAFFIC_TYPE_UNSPECIFIED" else s.lower())


def requested_tier(request: Any) -> str | None:
    """The tier a request body (or ``GenerateContentConfig``) asks for; ``None`` means standard.

    Example:
        >>> requested_tier({"serviceTier": "flex"})
        'flex'
        >>> requested_tier({"serviceTier": "unspecified"}) is None
        True
    """
    value = field(request, "serviceTier")
    if value is None:
        value = field(request, "service_tier")
    s = _enum_str(value)
    if not s:
        return None
    s = s.lower()
    return None if s == "unspecified" else s


def extract_usage(usage: Any) -> Usage:
    """Convert a Gemini usage block (SDK model, snake_case dict or raw camelCase JSON) to :class:`Usage`.

    ``input_tokens = prompt + tool_use_prompt`` (prompt already contains the cached part),
    ``output_tokens = candidates + thoughts``, ``reasoning_tokens = thoughts``. The tier comes
    from ``traffic_type`` (Vertex) or ``service_tier`` (embedding responses) when reported.

    Example:
        >>> u = extract_usage({"promptTokenCount": 12000, "cachedContentTokenCount": 8000,
        ...                    "candidatesTokenCount": 300, "thoughtsTokenCount": 900})
        >>> (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens)
        (12000, 8000, 1200, 900)
    """
    if isinstance(usage, dict) and "prompt_token_count" not in usage:
        return _from_wire(usage)  # the hot path: raw camelCase JSON read at the HTTP layer
    prompt = _int(usage, "prompt_token_count", "promptTokenCount")
    cached = _int(usage, "cached_content_token_count", "cachedContentTokenCount")
    candidates = _int(
        usage, "candidates_token_count", "candidatesTokenCount", "response_token_count", "responseTokenCount"
    )
    thoughts = _int(usage, "thoughts_token_count", "thoughtsTokenCount")
    tool_use = _int(usage, "tool_use_prompt_token_count", "toolUsePromptTokenCount")
    traffic = field(usage, "traffic_type")
    if traffic is None:
        traffic = field(usage, "trafficType")
    tier = tier_from_traffic(traffic)
    if tier is None:
        tier = requested_tier(usage)  # embedding usage reports the tier it ran in
    return Usage(
        input_tokens=prompt + tool_use,
        cache_read_tokens=min(cached, prompt),
        output_tokens=candidates + thoughts,
        reasoning_tokens=thoughts,
        service_tier=tier,
    )


def _n(v: Any) -> int:
    return v if type(v) is int else 0


def _from_wire(u: dict[str, Any]) -> Usage:
    g = u.get
    prompt = _n(g("promptTokenCount"))
    cached = _n(g("cachedContentTokenCount"))
    thoughts = _n(g("thoughtsTokenCount"))
    traffic = g("trafficType")
    tier = tier_from_traffic(traffic) if traffic is not None else None
    if tier is None and "serviceTier" in u:
        tier = requested_tier(u)
    return Usage(
        input_tokens=prompt + _n(g("toolUsePromptTokenCount")),
        cache_read_tokens=min(cached, prompt),
        output_tokens=_n(g("candidatesTokenCount")) + thoughts,
        reasoning_tokens=thoughts,
        service_tier=tier,
    )


def usage_from_raw(raw: Any, tier: str | None) -> Usage:
    """:func:`extract_usage`, falling back to the *requested* tier when the response names none."""
    u = extract_usage(raw)
    if u.service_tier is None:
        u.service_tier = tier
    return u


def scan_key(body: str, key: str) -> Any:
    """Decode the value of the last ``key`` (given with its quotes) in a JSON text, alone.

    Inside a JSON string every ``"`` is escaped, so ``"usageMetadata"`` followed by ``:`` can
    only be an object key; searching from the end finds the top-level one, which Gemini writes
    after ``candidates``. Returns ``None`` when the key is absent or its value is not JSON.

    Example:
        >>> scan_key('{"candidates": [], "usageMetadata": {"promptTokenCount": 7}}', '"usageMetadata"')
        {'promptTokenCount': 7}
    """
    i = body.rfind(key)
    if i < 0:
        return None
    n = len(body)
    j = i + len(key)
    while j < n and body[j] in _WS:
        j += 1
    if j >= n or body[j] != ":":
        return None
    j += 1
    while j < n and body[j] in _WS:
        j += 1
    try:
        return _DECODER.raw_decode(body, j)[0]
    except ValueError:
        return None


def model_from_resource(resource: str) -> str:
    """The model id inside a resource path (``models/x``, ``publishers/google/models/x``...).

    Tuned models and Vertex endpoints keep their full resource name.

    Example:
        >>> model_from_resource("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro")
        'gemini-2.5-pro'
        >>> model_from_resource("tunedModels/abc123")
        'tunedModels/abc123'
    """
    i = resource.rfind("models/")
    if i == 0 or (i > 0 and resource[i - 1] == "/"):
        return resource[i + 7 :]
    return resource
