"""What of the caller's data a record may carry: user-id pseudonyms and captured prompts.

``user_id`` tags are kept raw, dropped or hashed (keyed HMAC-SHA256 by default) per
``configure(user_id_mode=...)``; with opt-in content capture, the content-bearing part of the
request body becomes the record's ``prompt``. :mod:`llmfinops._recorder` calls both when it
builds a record.
"""

from __future__ import annotations

__all__ = ["_prompt_text", "_uid_cache", "_user_id", "pseudonym"]

import json
import os
from typing import Any

from ._config import Config
from ._internal import warn_once
from .exceptions import LLMFinOpsWarning

_PROMPT_KEYS = (
    "system",
    "instructions",
    "messages",
    "input",
    "contents",
    "systemInstruction",
    "system_instruction",
    "prompt",
    "tools",
)


def _prompt_text(body: dict[str, Any] | None, limit: int) -> str | None:
    """The content-bearing part of a request body as JSON (opt-in content capture)."""
    if not body:
        return None
    part = {k: body[k] for k in _PROMPT_KEYS if k in body}
    return json.dumps(part, ensure_ascii=False, default=str)[:limit]


_uid_cache: dict[tuple[bytes | None, str], str] = {}


def _user_id(cfg: Config, raw: str) -> str | None:
    mode = cfg.user_id_mode
    if mode == "raw":
        return raw
    if mode == "drop":
        return None
    return pseudonym(cfg, raw)


def pseudonym(cfg: Config, raw: str) -> str:
    """The ``u_...`` pseudonym of a user id (cached).

    Keyed HMAC-SHA256 with ``user_id_key`` (or ``$LLMFINOPS_USER_ID_KEY``), plain SHA-256 with a
    warning when no key is set. Records and budgets use this one function, so a budget's per-user
    key is the id the records show.

    Example:
        >>> from llmfinops._config import Config
        >>> pseudonym(Config(user_id_key=b"secret"), "alice")
        'u_4360c67bc81025114044'
    """
    key = cfg.user_id_key
    if key is None:
        env = os.environ.get("LLMFINOPS_USER_ID_KEY")
        key = env.encode() if env else None
    hit = _uid_cache.get((key, raw))
    if hit is not None:
        return hit
    import hashlib  # lazily: hashlib/OpenSSL cost ~4 ms at `import llmfinops`
    import hmac

    if key is None:
        warn_once(
            LLMFinOpsWarning,
            "userid-nokey",
            "llmfinops: user ids are hashed with plain SHA-256 because no key is set; set "
            "configure(user_id_key=...) or $LLMFINOPS_USER_ID_KEY for a keyed hash",
        )
        hashed = "u_" + hashlib.sha256(raw.encode()).hexdigest()[:20]
    else:
        hashed = "u_" + hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()[:20]
    if len(_uid_cache) > 8192:
        _uid_cache.clear()
    _uid_cache[(key, raw)] = hashed
    return hashed
