"""Record processors: small callables that transform or drop records before any sink sees them.

A processor takes a :class:`~llmfinops.CallRecord` and returns one (the same, or a copy
made with :func:`dataclasses.replace`); raising :class:`DropRecord` drops the record.
They run in order on llmfinops' background writer thread, never on the call path::

    import llmfinops
    from llmfinops.processors import add_static, drop_if, hash_user_id, redact_text, truncate_content

    llmfinops.configure(
        user_id_mode="raw",                         # keep raw ids in memory...
        processors=[
            hash_user_id(key=SECRET),               # ...but only a keyed hash leaves the process
            redact_text(),                          # emails, API keys, cards, phones in content/tags
            truncate_content(4000),                 # cap stored prompt/completion text
            add_static(region="eu-west-1"),         # a tag on every record
            drop_if(lambda r: r.environment == "test"),
        ],
    )

**Content.** Records carry no prompt or completion text unless you opt in to content
capture. The content processors act on the fields in :data:`CONTENT_FIELDS` when the
record has them and are no-ops otherwise, so the same pipeline works either way.

Example:
    >>> from llmfinops.testing import make_record
    >>> redact = redact_text()
    >>> redact.redact("mail bob@example.com, key sk-proj-abcdefghijklmnopqrstuv")
    'mail [REDACTED_EMAIL], key [REDACTED_API_KEY]'
"""

from __future__ import annotations

__all__ = [
    "CONTENT_FIELDS",
    "DropRecord",
    "Redactor",
    "add_static",
    "drop_if",
    "hash_user_id",
    "luhn_valid",
    "redact_text",
    "truncate_content",
]

import dataclasses
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .exceptions import ConfigurationError
from .records import RECORD_FIELDS, CallRecord
from .sinks._writer import DropRecord

CONTENT_FIELDS: tuple[str, ...] = ("prompt", "completion")
"""Record fields that hold message text when content capture is on (absent otherwise)."""

_FIELDS = frozenset(RECORD_FIELDS)


def _present(rec: CallRecord, fields: Iterable[str]) -> list[str]:
    return [f for f in fields if getattr(rec, f, None) is not None]


def _replace(rec: CallRecord, changes: dict[str, Any]) -> CallRecord:
    return dataclasses.replace(rec, **changes) if changes else rec


# -- redaction ------------------------------------------------------------------------------------
# One regex per kind, applied in this order (keys first: they can hold digit runs that look like
# phones). Patterns start with a literal or a character class so that the regex engine can scan
# fast; conditions on the character before a match are checked in Python (_BEFORE_OK).
_PATTERNS: dict[str, str] = {
    "api_key": "|".join(
        (
            r"\bsk-ant-[A-Za-z0-9_\-]{16,}",
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}",
            r"\bAIza[0-9A-Za-z_\-]{35}",
            r"\bgh[pousr]_[A-Za-z0-9]{30,}",
            r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
            r"\bBearer\s+[A-Za-z0-9_\-.=]{20,}",
        )
    ),
    "email": r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b",
    # 13-19 digits, optionally grouped by single spaces or dashes; Luhn-checked in the callback.
    "card": r"\d(?:[ \-]?\d){12,18}(?![\d\-])",
    # International (+CC ...) or grouped national numbers (555-123-4567, (555) 123 4567).
    "phone": (
        r"[+(\d](?:(?<=\+)\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){1,4}"
        r"|(?<=\()\d{2,4}\)[ .\-]?\d{3,4}[ .\-]?\d{3,4}"
        r"|(?<=\d)\d{2}[.\-]\d{3}[.\-]\d{4})(?!\w)"
    ),
}
KINDS: tuple[str, ...] = tuple(_PATTERNS)
_DIGITS = "0123456789"
_KEY_HINTS = ("sk-", "AIza", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AKIA", "ASIA", "Bearer")
# Cheap substring tests that skip a kind's regex when it cannot match.
_PRECHECK: dict[str, Callable[[str], bool]] = {
    "api_key": lambda t: any(h in t for h in _KEY_HINTS),
    "email": lambda t: "@" in t,
    "card": lambda t: any(d in t for d in _DIGITS),
    "phone": lambda t: any(d in t for d in _DIGITS),
}
# What may not precede a match (a longer number, a word).
_BEFORE_BAD: dict[str, str] = {"card": _DIGITS + "-", "phone": "+"}


def luhn_valid(number: str) -> bool:
    """Whether the digits of ``number`` pass the Luhn checksum (payment card numbers do).

    Example:
        >>> luhn_valid("4111 1111 1111 1111"), luhn_valid("4111 1111 1111 1112")
        (True, False)
    """
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class Redactor:
    """A processor that masks secrets and personal data in text fields; build it with :func:`redact_text`.

    Call :meth:`redact` on a string, or use the object itself as a processor.
    """

    def __init__(
        self,
        *,
        kinds: Iterable[str],
        fields: Iterable[str],
        tags: bool,
        extra: Mapping[str, str],
        replacement: str,
    ) -> None:
        self.kinds = tuple(kinds)
        self.fields = tuple(fields)
        self.tags = tags
        self.replacement = replacement
        self._steps: list[
            tuple[Callable[[str], bool] | None, re.Pattern[str], Callable[[re.Match[str]], str]]
        ]
        self._steps = [
            (_PRECHECK[k], re.compile(_PATTERNS[k]), self._replacer(k)) for k in KINDS if k in self.kinds
        ]
        self._steps += [(None, re.compile(p), self._replacer(k)) for k, p in extra.items()]

    def _replacer(self, kind: str) -> Callable[[re.Match[str]], str]:
        masked = self.replacement.format(kind=kind.upper())
        bad_before = _BEFORE_BAD.get(kind, "")
        word_before = kind == "phone"

        def replace(m: re.Match[str]) -> str:
            start = m.start()
            if start and (bad_before or word_before):
                prev = m.string[start - 1]
                if prev in bad_before or (word_before and (prev.isalnum() or prev == "_")):
                    return m.group()
            if kind == "card" and not luhn_valid(m.group()):
                return m.group()  # an order number or a timestamp, not a card
            return masked

        return replace

    def redact(self, text: str) -> str:
        """Return ``text`` with every match replaced.

        Example:
            >>> redact_text().redact("card 4111-1111-1111-1111, order 1234567890123")
            'card [REDACTED_CARD], order 1234567890123'
        """
        for precheck, regex, replace in self._steps:
            if precheck is None or precheck(text):
                text = regex.sub(replace, text)
        return text

    def _redact_value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.redact(v)
        if isinstance(v, list | tuple):
            return type(v)(self._redact_value(x) for x in v)
        if isinstance(v, dict):
            return {k: self._redact_value(x) for k, x in v.items()}
        return v

    def __call__(self, record: CallRecord) -> CallRecord:
        """Return ``record`` with its text fields (and tag values) masked."""
        changes: dict[str, Any] = {}
        for f in _present(record, self.fields):
            old = getattr(record, f)
            new = self._redact_value(old)
            if new != old:
                changes[f] = new
        if self.tags and record.tags:
            tags = {k: self.redact(v) if isinstance(v, str) else v for k, v in record.tags.items()}
            if tags != record.tags:
                changes["tags"] = tags
        return _replace(record, changes)

    def __repr__(self) -> str:
        return f"redact_text(kinds={self.kinds!r}, fields={self.fields!r}, tags={self.tags!r})"


def redact_text(
    *,
    kinds: Iterable[str] = KINDS,
    fields: Iterable[str] = CONTENT_FIELDS,
    tags: bool = True,
    extra_patterns: Mapping[str, str] | None = None,
    replacement: str = "[REDACTED_{kind}]",
) -> Redactor:
    """Build a processor that masks emails, API keys, payment cards and phone numbers.

    Cards are only masked when their digits pass the Luhn check, so order numbers and
    timestamps survive. Strings nested in lists or dicts (message lists) are masked too.

    Args:
        kinds: Which built-in patterns to use: ``api_key``, ``email``, ``card``, ``phone``.
        fields: Record fields to mask (absent fields are skipped).
        tags: Also mask the values of ``record.tags``.
        extra_patterns: More ``{name: regex}`` patterns, masked as ``[REDACTED_NAME]``.
        replacement: Replacement template; ``{kind}`` is the upper-cased pattern name.

    Raises:
        ConfigurationError: An unknown kind or an invalid extra pattern.

    Example:
        >>> redact_text(kinds=["email"]).redact("call +1 415 555 0100 or a@b.io")
        'call +1 415 555 0100 or [REDACTED_EMAIL]'
    """
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in _PATTERNS]
    if unknown:
        raise ConfigurationError(f"redact_text kinds: unknown {unknown}; use some of {list(KINDS)}")
    extra = dict(extra_patterns or {})
    for name, pattern in extra.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise ConfigurationError(f"redact_text extra_patterns: name {name!r} must be an identifier")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigurationError(f"redact_text extra_patterns[{name!r}]: invalid regex ({exc})") from exc
    return Redactor(kinds=kinds, fields=fields, tags=tags, extra=extra, replacement=replacement)


# -- content size ---------------------------------------------------------------------------------
def truncate_content(
    max_chars: int, *, fields: Iterable[str] = CONTENT_FIELDS, marker: str = "…[truncated {n} chars]"
) -> Callable[[CallRecord], CallRecord]:
    """Build a processor that cuts text fields to ``max_chars`` characters (plus a marker).

    Args:
        max_chars: Longest text kept per field.
        fields: Record fields to cut (absent or non-text fields are left alone).
        marker: Appended after the cut; ``{n}`` is the number of characters removed.

    Raises:
        ConfigurationError: ``max_chars`` is negative.

    Example:
        >>> cut = truncate_content(5, fields=["pricing_note"])
        >>> from llmfinops.testing import make_record
        >>> cut(make_record(pricing_note="approximate price")).pricing_note
        'appro…[truncated 12 chars]'
    """
    if not isinstance(max_chars, int) or max_chars < 0:
        raise ConfigurationError(f"truncate_content max_chars={max_chars!r} must be an integer >= 0")
    fields = tuple(fields)

    def truncate(record: CallRecord) -> CallRecord:
        changes: dict[str, Any] = {}
        for f in _present(record, fields):
            v = getattr(record, f)
            if isinstance(v, str) and len(v) > max_chars:
                changes[f] = v[:max_chars] + marker.format(n=len(v) - max_chars)
        return _replace(record, changes)

    truncate.__qualname__ = f"truncate_content({max_chars})"
    return truncate


# -- attribution ----------------------------------------------------------------------------------
def hash_user_id(
    key: str | bytes, *, prefix: str = "u_", length: int = 20
) -> Callable[[CallRecord], CallRecord]:
    """Build a processor that replaces ``user_id`` with a keyed HMAC-SHA256 (a stable pseudonym).

    llmfinops already hashes user ids by default (``configure(user_id_mode="hash")``) with
    the same scheme; use this processor with ``user_id_mode="raw"`` to keep raw ids for
    in-process listeners (budgets per user) while only the hash reaches the sinks.

    Args:
        key: The secret (keep it out of the logs; rotate it to unlink old pseudonyms).
        prefix: Prepended to the hex digest.
        length: Hex characters kept (20 = 80 bits).

    Raises:
        ConfigurationError: The key is empty or ``length`` is out of range.

    Example:
        >>> from llmfinops.testing import make_record
        >>> hash_user_id("s3cret")(make_record(user_id="alice")).user_id
        'u_765542af1f1d587bc60c'
    """
    k = key.encode() if isinstance(key, str) else bytes(key)
    if not k:
        raise ConfigurationError(
            "hash_user_id key is empty; pass a secret, e.g. os.environ['LLMFINOPS_USER_ID_KEY']"
        )
    if not 8 <= length <= 64:
        raise ConfigurationError(f"hash_user_id length={length!r} must be between 8 and 64 hex characters")
    cache: dict[str, str] = {}

    def hash_user(record: CallRecord) -> CallRecord:
        uid = record.user_id
        if uid is None:
            return record
        hashed = cache.get(uid)
        if hashed is None:
            hashed = prefix + hmac.new(k, uid.encode(), hashlib.sha256).hexdigest()[:length]
            if len(cache) > 8192:
                cache.clear()
            cache[uid] = hashed
        return dataclasses.replace(record, user_id=hashed)

    return hash_user


def add_static(**fields: Any) -> Callable[[CallRecord], CallRecord]:
    """Build a processor that sets fields on every record; names that are not record fields become tags.

    Args:
        **fields: ``field=value``; record fields are overwritten, other names are added to
            ``tags`` (values converted to ``str``).

    Raises:
        ConfigurationError: No field given, or ``id``/``timestamp``/``tags`` given.

    Example:
        >>> from llmfinops.testing import make_record
        >>> r = add_static(environment="prod", region="eu")(make_record())
        >>> r.environment, r.tags
        ('prod', {'region': 'eu'})
    """
    if not fields:
        raise ConfigurationError("add_static() needs at least one field, e.g. add_static(environment='prod')")
    forbidden = sorted({"id", "timestamp", "tags"} & set(fields))
    if forbidden:
        raise ConfigurationError(
            f"add_static: {forbidden} cannot be set statically; ids and timestamps are per call, and tags "
            "are added by passing other names (add_static(region='eu'))"
        )
    record_fields = {k: v for k, v in fields.items() if k in _FIELDS}
    tag_fields = {k: str(v) for k, v in fields.items() if k not in _FIELDS}

    def add(record: CallRecord) -> CallRecord:
        changes: dict[str, Any] = dict(record_fields)
        if tag_fields:
            changes["tags"] = {**record.tags, **tag_fields}
        return dataclasses.replace(record, **changes)

    return add


def drop_if(predicate: Callable[[CallRecord], object]) -> Callable[[CallRecord], CallRecord]:
    """Build a processor that drops the records for which ``predicate(record)`` is true.

    Example:
        >>> from llmfinops.testing import make_record
        >>> drop_tests = drop_if(lambda r: r.environment == "test")
        >>> drop_tests(make_record(environment="prod")).environment
        'prod'
    """
    if not callable(predicate):
        raise ConfigurationError(f"drop_if: {predicate!r} is not callable; pass a function record -> bool")

    def drop(record: CallRecord) -> CallRecord:
        if predicate(record):
            raise DropRecord
        return record

    return drop
