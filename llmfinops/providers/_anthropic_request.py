"""What an Anthropic Messages request body says (used by ``anthropic.py``).

:func:`_strip_unset` drops the SDK's unset-parameter sentinels from a body before the hooks see
it; :func:`requested_cache_ttl` is the cache TTL a body asks for (provider-semantics.md §1).
"""

from __future__ import annotations

__all__ = ["_strip_unset", "requested_cache_ttl"]

from typing import Any

from anthropic import NotGiven, Omit, omit

_DEFAULT_TTL = "5m"
_UNSET = (Omit, NotGiven)
_OMIT = omit
# Types whose instances are never ``Omit``/``NotGiven`` (built-in instances cannot report another
# ``__class__`` to ``isinstance``); the JSON types a request body is made of.
_PLAIN_TYPES = frozenset((str, int, float, bool, type(None), list, dict, tuple))


def requested_cache_ttl(body: Any) -> str:
    """The cache TTL a Messages request asked for: ``"1h"`` if any ``cache_control`` says so, else ``"5m"``.

    Looks at the top-level ``cache_control`` and at ``tools``, ``system`` and message content
    blocks. Only used when a response reports cache writes without the TTL split; with mixed
    TTLs the dearer one is assumed (an upper bound). Lazy iterables are never consumed.

    Example:
        >>> requested_cache_ttl({"system": [{"type": "text", "text": "...",
        ...                                  "cache_control": {"type": "ephemeral", "ttl": "1h"}}]})
        '1h'
    """
    if not isinstance(body, dict):
        return _DEFAULT_TTL
    blocks: list[Any] = [body]
    for key in ("tools", "system"):
        v = body.get(key)
        if isinstance(v, (list, tuple)):
            blocks.extend(v)
    messages = body.get("messages")
    if isinstance(messages, (list, tuple)):
        for m in messages:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, (list, tuple)):
                blocks.extend(content)
    for block in blocks:
        cc = block.get("cache_control") if isinstance(block, dict) else None
        if isinstance(cc, dict) and cc.get("ttl") == "1h":
            return "1h"
    return _DEFAULT_TTL


def _strip_unset(body: dict[str, Any]) -> None:
    """Delete the entries of ``body`` whose value is an ``Omit``/``NotGiven`` instance, in place.

    Same result as deleting every key whose value passes ``isinstance(value, (Omit, NotGiven))``:
    the SDK's ``omit`` singleton is dropped by identity and values of plain JSON types are kept;
    a value of any other type (``NOT_GIVEN``, a user object...) sends the whole body through
    that ``isinstance`` test.
    """
    kept = {}
    for k, v in body.items():
        if v is not _OMIT:
            if type(v) not in _PLAIN_TYPES:
                break
            kept[k] = v
    else:
        if len(kept) != len(body):
            body.clear()
            body.update(kept)
        return
    unset = [k for k, v in body.items() if isinstance(v, _UNSET)]
    for k in unset:
        del body[k]
