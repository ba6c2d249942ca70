"""Canonical hashing of request fragments, and per-string caches that keep hooks cheap.

System prompts are usually module-level constants: the same ``str`` object arrives on every
call. Digests and token estimates of long strings are cached by object identity (the cache
holds the object, so an id is never reused while cached), so a 10,000-token prompt is hashed
and estimated once per process, not once per call.
"""

from __future__ import annotations

__all__ = ["cached_tokens", "canonical_digest", "hex_digest", "text_digest"]

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from llmfinops.tokens import estimate_tokens

_MAX_ENTRIES = 512
_LONG = 256  # strings shorter than this are cheaper to hash than to look up
_TEXT_BLOCK_KEYS = frozenset({"type", "text", "cache_control"})
_MESSAGE_KEYS = frozenset({"role", "content"})
_lock = threading.Lock()
_digests: dict[int, tuple[str, bytes]] = {}
_tokens: dict[tuple[int, str, str], tuple[str, int]] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    with _lock:
        if len(cache) >= _MAX_ENTRIES:
            cache.pop(next(iter(cache)))  # oldest first: dicts keep insertion order
        cache[key] = value


def text_digest(text: str) -> bytes:
    """A 16-byte BLAKE2b digest of ``text`` (cached by identity for long strings).

    Example:
        >>> text_digest("abc") == text_digest("ab" + "c")
        True
    """
    if len(text) < _LONG:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    hit = _digests.get(id(text))
    if hit is not None and hit[0] is text:
        return hit[1]
    d = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    _remember(_digests, id(text), (text, d))
    return d


def _key(h: Any, key: str) -> None:
    raw = key.encode("utf-8", "surrogatepass")
    h.update(b"%d:" % len(raw))  # length-prefixed: no two key sequences encode alike
    h.update(raw)


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, str):
        h.update(b"s")
        h.update(text_digest(value))
    elif isinstance(value, Mapping):
        if (
            value.get("type") == "text"
            and value.keys() <= _TEXT_BLOCK_KEYS
            and isinstance(value.get("text"), str)
        ):
            h.update(b"{T")  # fast path for the most common block; its own tag keeps encodings apart
            h.update(text_digest(value["text"]))
            h.update(b"}")
            return
        if value.keys() <= _MESSAGE_KEYS and isinstance(value.get("role"), str):
            h.update(b"{M")
            _key(h, value["role"])
            _feed(h, value.get("content"))
            h.update(b"}")
            return
        h.update(b"{")
        for key in sorted(value, key=str):
            if key == "cache_control" or key == "prompt_cache_breakpoint":
                continue  # cache markers do not change the prompt
            _key(h, str(key))
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for item in value:
            _feed(h, item)
            h.update(b",")
        h.update(b"]")
    elif value is None or isinstance(value, (bool, int, float)):
        h.update(json.dumps(value).encode())
    else:
        dump = getattr(value, "model_dump", None)  # SDK objects (pydantic) in SDK-form bodies
        if callable(dump):
            _feed(h, dump(exclude_none=True))
        else:
            h.update(repr(value).encode())


def canonical_digest(*parts: Any) -> bytes:
    """A digest of JSON-like values that ignores key order and cache markers.

    Example:
        >>> a = canonical_digest([{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}])
        >>> a == canonical_digest([{"text": "x", "type": "text"}])
        True
    """
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        _feed(h, p)
        h.update(b"|")
    return h.digest()


def hex_digest(digest: bytes, chars: int = 12) -> str:
    """The first ``chars`` hex characters of ``digest``.

    Example:
        >>> hex_digest(bytes(range(16)), 6)
        '000102'
    """
    return digest.hex()[:chars]


def cached_tokens(text: str, *, model: str | None, provider: str) -> int:
    """:func:`llmfinops.tokens.estimate_tokens`, cached by identity for long strings.

    Example:
        >>> cached_tokens("hello world", model="gpt-4o", provider="openai")
        2
    """
    if len(text) < _LONG:
        return estimate_tokens(text, model=model, provider=provider)
    key = (id(text), model or "", provider)
    hit = _tokens.get(key)
    if hit is not None and hit[0] is text:
        return hit[1]
    n = estimate_tokens(text, model=model, provider=provider)
    _remember(_tokens, key, (text, n))
    return n


def cached_head_tokens(text: str, chars: int, *, model: str | None, provider: str) -> int:
    """Estimated tokens of ``text[:chars]``, cached by the identity of ``text``.

    Example:
        >>> cached_head_tokens("hello world, hello world", 11, model="gpt-4o", provider="openai")
        2
    """
    key = (id(text), f"{model or ''}@{chars}", provider)
    hit = _tokens.get(key)
    if hit is not None and hit[0] is text:
        return hit[1]
    n = estimate_tokens(text[:chars], model=model, provider=provider)
    if len(text) >= _LONG:
        _remember(_tokens, key, (text, n))
    return n
