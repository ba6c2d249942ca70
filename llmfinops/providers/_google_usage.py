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
    "scan_meta",
    "scan_usage",
    "tier_from_traffic",
    "usage_from_raw",
]

import json
import re
from collections.abc import Callable
from enum import Enum
from typing import Any

from llmfinops.usage import Usage, make_usage

from ._base import field

_DECODER = json.JSONDecoder()
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
"""``raw_decode`` without its Python frame: ``(value, end)``, or ``StopIteration`` / ``ValueError``."""
_COLON = re.compile(r"[ \t\r\n]*:[ \t\r\n]*").match
"""JSON whitespace, the ``:`` after a key, JSON whitespace (a compiled loop instead of a Python one)."""
_USAGE_KEY = '"usageMetadata"'
_USAGE_LEN = len(_USAGE_KEY)
_USAGE_OBJECT = re.compile(r'"usageMetadata"[ \t\r\n]*:[ \t\r\n]*(?=\{)').match
"""At the last ``"usageMetadata"``: a key whose value is an object (ends where the value starts)."""
# ``"key": "value"`` with a plain string value (no escapes, no control characters, which strict
# JSON forbids unescaped): its text *is* the decoded value. Anything else goes to the decoder.
_MODEL_VERSION = re.compile(r'"modelVersion"[ \t\r\n]*:[ \t\r\n]*"([^"\\\x00-\x1f]*)"').match
_RESPONSE_ID = re.compile(r'"responseId"[ \t\r\n]*:[ \t\r\n]*"([^"\\\x00-\x1f]*)"').match
_META = re.compile(
    # both, as Gemini writes them: ``"modelVersion": "...", "responseId": "..."``
    r'"modelVersion"[ \t\r\n]*:[ \t\r\n]*"([^"\\\x00-\x1f]*)"[ \t\r\n]*,[ \t\r\n]*'
    r'("responseId")[ \t\r\n]*:[ \t\r\n]*"([^"\\\x00-\x1f]*)"'
).match

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
    if isinstance(request, dict):  # the HTTP layer's request body: no ``field`` detour
        value = request.get("serviceTier")
        if value is None:
            value = request.get("service_tier")
            if value is None:
                return None
    else:
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
        return usage_from_raw(usage, None)  # raw camelCase JSON read at the HTTP layer
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
    return make_usage(prompt + tool_use, min(cached, prompt), 0, None, candidates + thoughts, thoughts, tier)


def usage_from_raw(raw: Any, tier: str | None) -> Usage:
    """:func:`extract_usage`, falling back to the *requested* tier when the response names none.

    A raw camelCase block (read at the HTTP layer, once per response) is converted here
    directly: one ``get`` and one type test per count (``bool`` and non-numbers count as 0,
    as in :func:`extract_usage`), no helper calls on the common path.
    """
    if not isinstance(raw, dict) or "prompt_token_count" in raw:
        u = extract_usage(raw)
        if u.service_tier is None:
            u.service_tier = tier
        return u
    g = raw.get
    prompt = g("promptTokenCount", 0)
    if type(prompt) is not int:
        prompt = 0
    cached = g("cachedContentTokenCount", 0)
    if type(cached) is not int:
        cached = 0
    thoughts = g("thoughtsTokenCount", 0)
    if type(thoughts) is not int:
        thoughts = 0
    tool_use = g("toolUsePromptTokenCount", 0)
    if type(tool_use) is not int:
        tool_use = 0
    candidates = g("candidatesTokenCount", 0)
    if type(candidates) is not int:
        candidates = 0
    traffic = g("trafficType")
    reported = tier_from_traffic(traffic) if traffic is not None else None
    if reported is None and "serviceTier" in raw:
        reported = requested_tier(raw)  # embedding usage reports the tier it ran in
    return make_usage(
        prompt + tool_use,
        min(cached, prompt),
        0,
        None,
        candidates + thoughts,
        thoughts,
        tier if reported is None else reported,
    )


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
    m = _COLON(body, i + len(key))
    if m is None:
        return None
    try:
        return _SCAN(body, m.end())[0]
    except (StopIteration, ValueError):  # what ``raw_decode`` raises as ``JSONDecodeError``
        return None


def scan_usage(body: str, at: int | None = None) -> Any:
    """``scan_key(body, '"usageMetadata"')``, for every response and stream chunk.

    ``at``: where ``body.rfind('"usageMetadata"')`` found the key, when the caller knows.

    Example:
        >>> scan_usage('{"usageMetadata": {"promptTokenCount": 7}, "modelVersion": "m"}')
        {'promptTokenCount': 7}
    """
    i = body.rfind(_USAGE_KEY) if at is None else at
    if i < 0:
        return None
    j = i + _USAGE_LEN
    if body.startswith(": {", j):  # as json.dumps and the API write it: no regex needed
        j += 2
    else:
        m = _COLON(body, j)
        if m is None:
            return None
        j = m.end()
    try:
        return _SCAN(body, j)[0]
    except (StopIteration, ValueError):
        return None


def scan_meta(body: str) -> tuple[str | None, str | None]:
    """The ``modelVersion`` and ``responseId`` strings of a response body (``None`` if absent or not strings).

    The same values as :func:`scan_key`: a plain string is read by a regex match at the key
    found from the end (one match for both keys when they are adjacent, as Gemini writes them);
    an escaped one (or another type) goes through the decoder.

    Example:
        >>> scan_meta('{"candidates": [], "modelVersion": "gemini-2.5-flash", "responseId": "r1"}')
        ('gemini-2.5-flash', 'r1')
    """
    i = body.rfind('"modelVersion"')
    j = body.rfind('"responseId"')
    if i >= 0:
        m = _META(body, i)
        if m is not None and m.start(2) == j:  # the ``responseId`` matched is the last one
            return m[1], m[3]
        m = _MODEL_VERSION(body, i)
        model = m[1] if m is not None else scan_key(body, '"modelVersion"')
    else:
        model = None
    if j >= 0:
        m = _RESPONSE_ID(body, j)
        rid = m[1] if m is not None else scan_key(body, '"responseId"')
    else:
        rid = None
    return (model if isinstance(model, str) else None, rid if isinstance(rid, str) else None)


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
