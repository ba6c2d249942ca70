"""Cache-buster lint: per-request values inside the static prefix (seed 004 ch. 4, seed 003).

"Static content first, variable content last": a timestamp, a UUID or a request id in the
system prompt or tool definitions gives every request a new prefix, so the provider cache
never hits — and on Anthropic each call pays the 1.25x cache write instead of the 0.1x read.

Two checks, each warning once per prompt *template* (the text with its variable-looking
spans normalized away):

1. **At first sight** for values that are almost never static: timestamps with a time of day,
   epoch timestamps, UUIDs, labelled request/trace/session ids, long hex nonces.
2. **Across calls** for values that may be static (dates, times without seconds, plain
   numbers such as counters): when the same template is seen again with a different value.

Only the static prefix is linted (Anthropic tools + system; OpenAI tools, instructions and
leading system/developer messages; Google system instruction and tools): values in the
conversation history do not bust the cache, because history is append-only. A prefix text
already linted is recognized by its digest and skipped, so a constant system prompt costs
one scan per process. The warning message shows the offending span (truncated); records
never carry prompt text.
"""

from __future__ import annotations

__all__ = ["CacheBusterWarning", "Finding", "find_cache_busters", "lint_prefix", "reset_lint"]

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmfinops._internal import warn_once
from llmfinops.exceptions import CacheBusterWarning

from ._digest import canonical_digest, hex_digest
from ._prefix import static_parts

_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
# (group, human kind, certain at first sight?). The scan is split into four regexes that each
# start with a character class, so the regex engine skips ahead to candidate characters
# (one big alternation behind ``\b`` costs ~10x more on a 50 KB prompt).
_KINDS: dict[str, tuple[str, bool]] = {
    "iso": ("timestamp", True),
    "http": ("timestamp", True),
    "uuid": ("UUID", True),
    "reqid": ("request id", True),
    "epoch": ("epoch timestamp", True),
    "hex": ("hex nonce", True),
    "clock": ("time of day", True),
    "date": ("date", False),
    "mdate": ("date", False),
    "hhmm": ("time", False),
    "num": ("number (counter?)", False),
}
_DIGIT_LED = re.compile(
    r"[0-9](?:"
    r"(?P<iso>\d{3}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"(?:\s?(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}))?)"
    r"|(?P<uuid>[0-9a-fA-F]{7}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<epoch>(?<=1)[5-9]\d{8}(?:\d{3})?(?:\.\d+)?)"
    r"|(?P<hex>(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{15,})"
    r"|(?P<clock>\d?:\d{2}:\d{2}(?:\.\d+)?)"
    r"|(?P<date>\d{3}-\d{2}-\d{2}|\d?/\d{1,2}/\d{2,4}|\d?\s+" + _MON + r"\s+\d{4})"
    r"|(?P<hhmm>\d?:\d{2}(?:\s?[AaPp][Mm])?)"
    r"|(?P<num>\d*)"
    r")\b"
)
_HEX_LED = re.compile(
    r"[a-fA-F](?:(?P<uuid>[0-9a-fA-F]{7}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<hex>(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{15,}))\b"
)
_NAME_LED = re.compile(
    r"[ADFJMNOSTW](?:(?P<http>(?<=[MTWFS])(?:on|ue|ed|hu|ri|at|un)[a-z]*,?\s+\d{1,2}\s+"
    + _MON
    + r"\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?)"
    r"|(?P<mdate>(?:an|eb|ar|pr|ay|un|ul|ug|ep|ct|ov|ec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}))\b"
)
_ID_VALUE = re.compile(r"\s*[\"']?[A-Za-z0-9][\w.-]{4,}[A-Za-z0-9]")
_REACH = 40  # characters around a digit where a pattern containing it may start or end
_ID_LABEL = re.compile(r"(?i:(?:request|req|trace|span|session|correlation|run|nonce)[ _-]?id)\s*$")
_SKIP_KEYS = frozenset(
    {"type", "role", "cache_control", "signature", "id", "tool_use_id", "mime_type", "mimeType"}
)
_MAX_SEEN = 4096
_MAX_TEMPLATES = 1024

_lock = threading.Lock()
_seen: dict[tuple[str, bytes], None] = {}
_templates: dict[bytes, tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True)
class Finding:
    """One variable-looking span of a static prefix part."""

    location: str
    """Where, e.g. ``system[0]``, ``tools``, ``messages[0]``."""
    kind: str
    """``timestamp``, ``UUID``, ``request id``, ``date``, ``number (counter?)``..."""
    certain: bool
    """Almost never static (reported at first sight)."""
    start: int
    """Offset of the span in the part's text."""
    end: int
    """End offset (exclusive)."""


def _texts(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if k not in _SKIP_KEYS:
                _texts(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _texts(v, out)
    elif value is not None and not isinstance(value, (bool, int, float)):
        dump = getattr(value, "model_dump", None)
        if callable(dump):
            _texts(dump(exclude_none=True), out)


def _excerpt(text: str, start: int, end: int, width: int = 24, limit: int = 100) -> str:
    a = max(0, start - width)
    b = min(len(text), end + width)
    snippet = text[a:b].replace("\n", " ")
    if len(snippet) > limit:
        snippet = snippet[: limit - 3] + "..."
    return ("..." if a else "") + snippet + ("..." if b < len(text) else "")


def _word_start(text: str, i: int) -> bool:
    if i == 0:
        return True
    c = text[i - 1]
    return not (c.isalnum() or c == "_")


class _Finder:
    """Next position of any of ``chars`` at or after a position, with ``str.find`` (memchr speed).

    A regex character class scans ~50x slower than ``str.find`` on long prose, and a system
    prompt is scanned on every call where it changed.
    """

    __slots__ = ("_next", "_text")

    def __init__(self, text: str, chars: str) -> None:
        self._text = text
        self._next = {c: i for c in chars if (i := text.find(c)) >= 0}

    def at_or_after(self, pos: int) -> int:
        nxt = self._next
        for c, i in list(nxt.items()):
            if i < pos:
                j = self._text.find(c, pos)
                if j < 0:
                    del nxt[c]
                else:
                    nxt[c] = j
        return min(nxt.values(), default=-1)


def _windows(text: str) -> list[tuple[int, int]]:
    """Regions around the digits of ``text``, widened to word boundaries and merged.

    Every pattern but a labelled id contains a digit (a UUID or a 16+ character hex nonce
    without one is vanishingly rare), and prose has few digits: scanning only near them keeps
    a 50 KB system prompt well under a millisecond.
    """
    out: list[tuple[int, int]] = []
    n = len(text)
    digits = _Finder(text, "0123456789")
    pos = 0
    while (i := digits.at_or_after(pos)) >= 0:
        a = max(0, i - _REACH)
        b = min(n, i + 1 + _REACH)
        while a > 0 and not text[a - 1].isspace():
            a -= 1
        while b < n and not text[b].isspace():
            b += 1
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
        pos = b
    return out


def _labelled_ids(text: str) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    seps = _Finder(text, ":=#")
    pos = 0
    while (i := seps.at_or_after(pos)) >= 0:
        pos = i + 1
        label = _ID_LABEL.search(text, max(0, i - 24), i)
        if label is None:
            continue
        value = _ID_VALUE.match(text, pos)
        if value is not None:
            out.append((label.start(), value.end(), "reqid"))
            pos = value.end()
    return out


def _spans(text: str) -> list[tuple[int, int, str]]:
    spans = _labelled_ids(text)
    for a, b in _windows(text):
        for rx in (_DIGIT_LED, _HEX_LED, _NAME_LED):
            spans.extend(
                (m.start(), m.end(), m.lastgroup or "num")
                for m in rx.finditer(text, a, b)
                if _word_start(text, m.start())
            )
    if not spans:
        return spans
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged = [spans[0]]
    for sp in spans[1:]:
        if sp[0] < merged[-1][1]:  # overlaps the previous (longer or earlier) span
            continue
        merged.append(sp)
    return merged


def find_cache_busters(text: str, *, location: str = "prefix") -> list[Finding]:
    """All variable-looking spans of ``text`` (a pure scan; no warning, no state).

    Example:
        >>> [f.kind for f in find_cache_busters("Now: 2026-11-22T10:15:00Z. Refunds within 30 days.")]
        ['timestamp', 'number (counter?)']
    """
    out = []
    for a, b, group in _spans(text):
        kind, certain = _KINDS[group]
        out.append(Finding(location, kind, certain, a, b))
    return out


def _template(location: str, text: str, findings: list[Finding]) -> bytes:
    pieces = [location, "\x00"]
    pos = 0
    for f in findings:
        pieces.append(text[pos : f.start])
        pieces.append(f"\x00{f.kind}\x00")
        pos = f.end
    pieces.append(text[pos:])
    return canonical_digest("".join(pieces))


def _remember_seen(key: tuple[str, bytes]) -> None:
    with _lock:
        if len(_seen) >= _MAX_SEEN:
            _seen.pop(next(iter(_seen)))
        _seen[key] = None


def _fix(provider: str) -> str:
    if provider == "anthropic":
        return (
            "move it after the last cache breakpoint, into the user message (or a block after the "
            "breakpoint), and keep tools and system static"
        )
    return (
        "move it into the user message at the end of the prompt, and keep the instructions and tools static"
    )


def lint_prefix(
    body: Mapping[str, Any],
    *,
    provider: str,
    endpoint: str | None = None,
    parts: list[tuple[str, Any]] | None = None,
    digests: list[bytes] | None = None,
) -> list[Finding]:
    """Lint the static prefix of a request, warning (:class:`CacheBusterWarning`) once per template.

    Returns the findings reported for this call: a certain cache buster, or a value seen to
    change since the last call of the same template (the warning itself is emitted once per
    template and process). A prefix part already linted is skipped.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True):
        ...     warnings.simplefilter("always")
        ...     found = lint_prefix({"system": "Request id: 7f3a9c2e-1b4d-4e5f-9a8b-0c1d2e3f4a5b"},
        ...                         provider="anthropic")
        >>> [f.kind for f in found]
        ['request id']
    """
    reported: list[Finding] = []
    if parts is None:
        parts = static_parts(provider, endpoint, body)
    if digests is None:
        digests = [canonical_digest(value) for _, value in parts]
    for (location, value), digest in zip(parts, digests, strict=True):
        key = (location, digest)
        if key in _seen:
            continue
        _remember_seen(key)
        texts: list[str] = []
        _texts(value, texts)
        text = "\n".join(texts)
        finding = _check_part(provider, location, text)
        if finding is not None:
            reported.append(finding)
    return reported


def _check_part(provider: str, location: str, text: str) -> Finding | None:
    findings = find_cache_busters(text, location=location)
    if not findings:
        return None
    tkey = _template(location, text, findings)
    tname = hex_digest(tkey, 8)
    certain = next((f for f in findings if f.certain), None)
    if certain is not None:
        f = certain
        span = text[f.start : f.end][:60]
        warn_once(
            CacheBusterWarning,
            f"cachebuster:{tname}",
            f"llmfinops: a per-request value ({f.kind} {span!r}) sits inside the cacheable prefix at "
            f"{location}: {_excerpt(text, f.start, f.end)!r}. Every request then has a different prefix and "
            f"the prompt cache never hits. Fix: {_fix(provider)}. (prompt template {tname}; warned once)",
        )
        return f
    values = tuple(text[f.start : f.end] for f in findings)
    with _lock:
        before = _templates.pop(tkey, None)
        if len(_templates) >= _MAX_TEMPLATES:
            _templates.pop(next(iter(_templates)))
        _templates[tkey] = values
    if before is None or before == values or len(before) != len(values):
        return None
    i = next(i for i, (a, b) in enumerate(zip(before, values, strict=True)) if a != b)
    f = findings[i]
    warn_once(
        CacheBusterWarning,
        f"cachebuster:{tname}",
        f"llmfinops: the cacheable prefix at {location} changed between calls in a value that looks like a "
        f"{f.kind} ({before[i][:40]!r} -> {values[i][:40]!r}): {_excerpt(text, f.start, f.end)!r}. Each "
        f"change starts a new prompt-cache entry. Fix: {_fix(provider)}. "
        f"(prompt template {tname}; warned once)",
    )
    return f


def reset_lint() -> None:
    """Forget linted prefixes and templates (tests use this).

    Example:
        >>> reset_lint()
    """
    with _lock:
        _seen.clear()
        _templates.clear()
