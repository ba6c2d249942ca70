"""User ids in budgets: the keyed pseudonym that keys and records carry, and its forwarding.

``hash_user`` makes the ``u_...`` pseudonym of a raw user id; ``forward_user_id`` (opt-in)
puts it in the provider's end-user field.
"""

from __future__ import annotations

__all__ = ["forward_user_id", "hash_user"]

import re
from typing import TYPE_CHECKING

from llmfinops._config import get_config
from llmfinops._internal import warn_once
from llmfinops._privacy import pseudonym
from llmfinops.exceptions import LLMFinOpsWarning

if TYPE_CHECKING:
    from llmfinops._recorder import CallState

_HASHED = re.compile(r"^u_[0-9a-f]{20}$")


def hash_user(raw: str, *, always: bool = False) -> str:
    """The user id as records show it: ``u_`` + keyed HMAC-SHA256 (``configure(user_id_key=...)``).

    With ``configure(user_id_mode="raw")`` the raw id is returned unless ``always``.

    Example:
        >>> import llmfinops
        >>> llmfinops.configure(user_id_key="secret")
        >>> hash_user("alice")
        'u_4360c67bc81025114044'
        >>> llmfinops.reset_defaults()
    """
    cfg = get_config()
    if cfg.user_id_mode == "raw" and not always:
        return raw
    return pseudonym(cfg, raw)


def forward_user_id(state: CallState) -> None:
    """Put the keyed hash of the ``user_id`` tag in the provider's end-user field (opt-in)."""
    raw = state.tag_snapshot.get("user_id")
    body = state.body
    if not raw or body is None:
        return
    cfg = get_config()
    if cfg.user_id_key is None and not _env_key():
        warn_once(
            LLMFinOpsWarning,
            "forward-user-id-nokey",
            "llmfinops: forward_user_id is on but no user-id key is set, so no user id is sent to the "
            "provider; set configure(user_id_key=...) or $LLMFINOPS_USER_ID_KEY",
        )
        return
    provider = state.runtime.provider
    hashed = hash_user(raw, always=True)
    if provider == "anthropic" and state.endpoint == "messages":
        md = body.get("metadata")
        if md is None:
            body["metadata"] = {"user_id": hashed}
        elif isinstance(md, dict) and "user_id" not in md:
            body["metadata"] = {**md, "user_id": hashed}  # a copy: never mutate the caller's dict
    elif provider == "openai" and state.endpoint in ("chat.completions", "responses"):
        body.setdefault("safety_identifier", hashed)


def _env_key() -> bool:
    import os

    return bool(os.environ.get("LLMFINOPS_USER_ID_KEY"))
