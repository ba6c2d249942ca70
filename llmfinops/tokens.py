"""Offline token estimates, for decisions made *before* a call (input caps, budget reservations).

Actual cost always comes from the usage the provider reports; estimates are only used to
refuse or reserve before money is spent. Everything here works without network:

1. ``bpe-openai`` (a core dependency) ships the ``o200k_base`` and ``cl100k_base`` BPE
   tables inside the package: exact counts for OpenAI models, offline.
2. For Anthropic and Google models, whose tokenizers are not public, the o200k count is
   multiplied by a safety margin (``1.20``; tokenizers differ by 5-15 % for English, seed 004).
3. If ``bpe-openai`` cannot load, a character heuristic is used: ``ceil(chars / 3)``, an
   upper bound for English and code (typical is ~4 chars per token).

The method in use is logged once on the ``llmfinops`` logger and returned by
:func:`estimator_method`.

Example:
    >>> from llmfinops.tokens import estimate_tokens
    >>> estimate_tokens("Hello world") > 0
    True
"""

from __future__ import annotations

__all__ = ["estimate_prompt_tokens", "estimate_tokens", "estimator_method"]

import json
import math
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from ._internal import logger

_MARGIN_NON_OPENAI = 1.20
_PER_MESSAGE = 4
_PER_IMAGE = 1600
_lock = threading.Lock()
_encoders: dict[str, Any] = {}
_method: str | None = None


def _encoder(name: str) -> Any:
    global _method
    enc = _encoders.get(name)
    if enc is not None or name in _encoders:
        return enc
    with _lock:
        if name in _encoders:
            return _encoders[name]
        try:
            with warnings.catch_warnings():  # bpe-openai uses a deprecated importlib.resources API
                warnings.simplefilter("ignore", DeprecationWarning)
                import bpe_openai

                enc = bpe_openai.get_encoding(name)
            method = f"bpe-openai ({name}, offline)"
        except Exception as exc:  # missing wheel, unsupported platform...
            enc = None
            method = f"heuristic ceil(chars/3) (bpe-openai unavailable: {type(exc).__name__})"
        _encoders[name] = enc
        if _method is None:
            _method = method
            logger.info("llmfinops token estimates use %s", method)
    return enc


def estimator_method() -> str:
    """Describe the estimation method in use (loads the encoder if needed).

    Example:
        >>> estimator_method().startswith(("bpe-openai", "heuristic"))
        True
    """
    _encoder("o200k_base")
    return _method or "unknown"


def _encoding_for(model: str | None) -> str:
    m = (model or "").lower()
    if m.startswith(("gpt-3.5", "gpt-4-", "text-embedding", "gpt-4")) and not m.startswith(
        ("gpt-4o", "gpt-4.1")
    ):
        return "cl100k_base"
    return "o200k_base"


def estimate_tokens(text: str, *, model: str | None = None, provider: str | None = None) -> int:
    """Estimate the tokens of ``text`` for ``model`` (an upper-leaning estimate off OpenAI).

    Args:
        text: The text.
        model: Model id (selects the BPE table for OpenAI models).
        provider: ``openai``, ``anthropic``, ``google``...; non-OpenAI gets a safety margin.

    Example:
        >>> estimate_tokens("The quick brown fox", model="gpt-4o")
        4
    """
    if not text:
        return 0
    enc = _encoder(_encoding_for(model))
    n = math.ceil(len(text) / 3) if enc is None else len(enc.encode_ordinary(text))
    if provider is not None and provider != "openai":
        n = math.ceil(n * _MARGIN_NON_OPENAI)
    return n


def _collect(value: Any, out: list[str], images: list[int]) -> None:
    """Gather the text of a request fragment (messages, content blocks, parts)."""
    if value is None:
        return
    if isinstance(value, str):
        out.append(value)
        return
    if isinstance(value, Mapping):
        kind = value.get("type")
        if (
            kind in ("image", "image_url", "input_image", "document")
            or "inline_data" in value
            or "inlineData" in value
        ):
            images[0] += 1
            return
        for key, v in value.items():
            if key in (
                "text",
                "content",
                "input",
                "parts",
                "system",
                "instructions",
                "thinking",
                "arguments",
            ):
                _collect(v, out, images)
            elif key == "name" and isinstance(
                v, str
            ):  # tool names; ids, roles and types are not sent as text
                out.append(v)
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _collect(v, out, images)
        return
    out.append(str(value))


def estimate_prompt_tokens(provider: str, body: Mapping[str, Any], *, model: str | None = None) -> int:
    """Estimate all prompt tokens of a request body (messages, system, tools, input).

    Works on the wire-format body of OpenAI Chat/Responses/Embeddings, Anthropic Messages and
    Gemini ``generateContent`` requests. Tool schemas are counted as their JSON text; images
    and documents as a fixed ``1600`` tokens each (an upper-leaning guess).

    Example:
        >>> estimate_prompt_tokens("openai", {"model": "gpt-4o",
        ...     "messages": [{"role": "user", "content": "What is our refund policy?"}]}) > 5
        True
    """
    model = model or str(body.get("model") or "")
    texts: list[str] = []
    images = [0]
    n_messages = 0
    for key in ("system", "instructions", "system_instruction", "systemInstruction"):
        _collect(body.get(key), texts, images)
    for key in ("messages", "input", "contents", "prompt"):
        v = body.get(key)
        if isinstance(v, list):
            n_messages += len(v)
        elif v is not None:
            n_messages += 1
        _collect(v, texts, images)
    tools = body.get("tools")
    if tools:
        texts.append(json.dumps(tools, separators=(",", ":"), default=str))
    total = estimate_tokens("\n".join(texts), model=model, provider=provider)
    return total + n_messages * _PER_MESSAGE + images[0] * _PER_IMAGE
