"""The cacheable prefix of a request, per provider, and its fingerprint.

The *static* prefix is what should be identical across requests of one prompt template:

* Anthropic: ``tools`` and ``system`` (the cached part of the history is added to the
  fingerprint after a ``.``: ``"3f9a2c1b7d4e.9c1d20aa"``);
* OpenAI: ``tools``, ``instructions`` (Responses) and the leading ``system``/``developer``
  messages or input items;
* Google: ``systemInstruction``, ``tools`` and ``cachedContent``.
"""

from __future__ import annotations

__all__ = ["history_end", "part_digests", "prefix_fingerprint", "prefix_free", "static_parts"]

import hashlib
from collections.abc import Mapping
from typing import Any

from ._digest import canonical_digest, hex_digest

_LEADING_ROLES = frozenset({"system", "developer"})
_GOOGLE_KEYS = frozenset(
    {"systemInstruction", "system_instruction", "config", "tools", "cachedContent", "cached_content"}
)


def static_parts(provider: str, endpoint: str | None, body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The static prefix of ``body`` as ``(location, value)`` pairs, in prefix order.

    Example:
        >>> static_parts("openai", "chat.completions", {"messages": [
        ...     {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]})
        [('messages[0]', {'role': 'system', 'content': 'Be brief.'})]
    """
    parts: list[tuple[str, Any]] = []
    tools = body.get("tools")
    if provider == "anthropic":
        if tools:
            parts.append(("tools", tools))
        system = body.get("system")
        if isinstance(system, str):
            if system:  # the API treats a string as one text block; so does the fingerprint
                parts.append(("system", {"type": "text", "text": system}))
        elif isinstance(system, list):
            parts.extend((f"system[{i}]", b) for i, b in enumerate(system))
        return parts
    if provider == "openai":
        if tools:
            parts.append(("tools", tools))
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            parts.append(("instructions", instructions))
        key = "messages" if (endpoint or "chat.completions") == "chat.completions" else "input"
        items = body.get(key)
        if isinstance(items, list):
            for i, m in enumerate(items):
                if not (isinstance(m, Mapping) and m.get("role") in _LEADING_ROLES):
                    break
                parts.append((f"{key}[{i}]", m))
        return parts
    if provider == "google":
        if _GOOGLE_KEYS.isdisjoint(body):  # the common case: nothing static to collect
            return parts
        for key in ("systemInstruction", "system_instruction"):
            v = body.get(key)
            if v:
                parts.append((key, v))
        config = body.get("config")
        if config is not None:  # SDK form: the system prompt and tools live in the config
            for key in ("system_instruction", "tools", "cached_content"):
                v = config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)
                if v:
                    parts.append((f"config.{key}", v))
        if tools:
            parts.append(("tools", tools))
        for key in ("cachedContent", "cached_content"):
            v = body.get(key)
            if v:
                parts.append((key, v))
    return parts


def prefix_free(provider: str, endpoint: str | None, body: dict[str, Any]) -> bool:
    """Whether ``body`` surely has no static prefix and no cache marker in its history.

    ``True`` promises ``static_parts(provider, endpoint, body) == []`` and, for Anthropic,
    ``history_end(body) is None``: the usual request with neither tools nor a system prompt,
    told from its top-level keys in one pass (the policy hook runs it on every call).
    ``False`` means "maybe": the full checks decide.

    Example:
        >>> prefix_free("anthropic", "messages", {"messages": [{"role": "user", "content": "hi"}]})
        True
        >>> prefix_free("anthropic", "messages", {"system": "Be brief.", "messages": []})
        False
    """
    if provider == "anthropic":
        if body.get("tools") or body.get("system") or "cache_control" in body:
            return False
        messages = body.get("messages")
        if type(messages) is list:
            for m in messages:
                # a string content is one text block without a marker; blocks need the full scan
                if type(m) is not dict or type(m.get("content")) is not str:
                    return False
        return True
    if provider == "openai":
        if body.get("tools") or body.get("instructions"):
            return False
        items = body.get("messages" if (endpoint or "chat.completions") == "chat.completions" else "input")
        if type(items) is list:
            if not items:
                return True
            first = items[0]
            return type(first) is dict and first.get("role") not in _LEADING_ROLES
        return items is None or type(items) is str
    if provider == "google":
        return _GOOGLE_KEYS.isdisjoint(body)
    return False


def _as_blocks(message: Any) -> Any:
    """A string ``content`` as the one text block the API sees."""
    if isinstance(message, Mapping) and isinstance(message.get("content"), str):
        return {**message, "content": [{"type": "text", "text": message["content"]}]}
    return message


def history_end(body: Mapping[str, Any]) -> tuple[int, int] | None:
    """Anthropic: ``(message, block)`` of the last ``cache_control`` in the messages (or the automatic one).

    Example:
        >>> history_end({"messages": [{"role": "user", "content": [
        ...     {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]}]})
        (0, 0)
    """
    messages = body.get("messages")
    if not messages or not isinstance(messages, list):
        return None
    automatic = _is_mapping(body.get("cache_control"))
    for mi in range(len(messages) - 1, -1, -1):
        m = messages[mi]
        content = m.get("content") if _is_mapping(m) else None
        if type(content) is str:  # one text block: it carries no marker of its own
            if automatic:
                return (mi, -1)
        elif isinstance(content, list):
            for bi in range(len(content) - 1, -1, -1):
                b = content[bi]
                if not _is_mapping(b):
                    continue
                if automatic and b.get("type") not in ("thinking", "redacted_thinking"):
                    return (mi, bi)
                if _is_mapping(b.get("cache_control")):
                    return (mi, bi)
        elif isinstance(content, str) and automatic:
            return (mi, -1)
    return None


def _is_mapping(v: Any) -> bool:
    """``isinstance(v, Mapping)``, without the ABC machinery for the usual ``dict`` (and ``None``)."""
    t = type(v)
    if t is dict:
        return True
    return v is not None and t is not str and isinstance(v, Mapping)


def part_digests(parts: list[tuple[str, Any]]) -> list[bytes]:
    """One canonical digest per static part's value; shared by the fingerprint and the lint.

    Example:
        >>> len(part_digests([("system", "Be brief.")])[0])
        16
    """
    return [canonical_digest(value) for _, value in parts]


def prefix_fingerprint(
    body: Mapping[str, Any],
    *,
    provider: str,
    endpoint: str | None = None,
    cached_history: tuple[int, int] | None = None,
    parts: list[tuple[str, Any]] | None = None,
    digests: list[bytes] | None = None,
) -> str | None:
    """A short stable hash of the cacheable prefix (``None`` when the request has none).

    12 hex characters for the static prefix; Anthropic requests whose history carries a
    breakpoint add ``.`` and 8 more for the cached part of the history. Cache markers
    (``cache_control``) and key order do not change it.

    Args:
        body: Wire-format request body.
        provider: ``anthropic``, ``openai`` or ``google``.
        endpoint: OpenAI endpoint (``chat.completions`` default, ``responses``).
        cached_history: Anthropic ``(message, block)`` end of the cached history
            (default: found from the body's ``cache_control`` markers).
        parts: ``static_parts(provider, endpoint, body)`` when the caller already has them.
        digests: ``part_digests(parts)`` when the caller already has them.

    Example:
        >>> text = "You are a support agent."
        >>> a = prefix_fingerprint({"system": text, "messages": []}, provider="anthropic")
        >>> marked = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]
        >>> b = prefix_fingerprint({"system": marked}, provider="anthropic")
        >>> len(a), a == b
        (12, True)
    """
    if parts is None:
        parts = static_parts(provider, endpoint, body)
    hist = None
    if provider == "anthropic":
        end = cached_history if cached_history is not None else history_end(body)
        messages = body.get("messages")
        if end is not None and isinstance(messages, list):
            mi, bi = end
            head = [_as_blocks(m) for m in messages[:mi]]
            m = _as_blocks(messages[mi])
            content = m.get("content") if isinstance(m, Mapping) else None
            if isinstance(content, list) and bi >= 0:
                m = {**m, "content": content[: bi + 1]}
            head.append(m)
            hist = hex_digest(canonical_digest(head), 8)
    if not parts and hist is None:
        return None
    if digests is None:
        digests = part_digests(parts)
    static = hex_digest(hashlib.blake2b(b"".join(digests), digest_size=16).digest(), 12)
    return static if hist is None else f"{static}.{hist}"
