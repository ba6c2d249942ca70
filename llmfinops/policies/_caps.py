"""Output and input caps as pure functions over wire-format request bodies.

Each API has its own output-cap parameter (provider-semantics §2.5, §3.6):

============================  =========================================================
``openai`` chat.completions   ``max_completion_tokens`` (a caller's ``max_tokens`` is clamped instead)
``openai`` responses          ``max_output_tokens``
``openai`` completions        ``max_tokens``
``openai`` embeddings         no cap
``anthropic`` messages        ``max_tokens`` (``0``, a cache pre-warm, stays ``0``)
``google`` generate_content   ``generationConfig.maxOutputTokens`` (``config.max_output_tokens`` in SDK form)
============================  =========================================================
"""

from __future__ import annotations

__all__ = ["InputTooLarge", "OutputCap", "cap_output_tokens", "check_input_tokens"]

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmfinops.exceptions import InputTooLarge
from llmfinops.tokens import estimate_prompt_tokens, estimator_method

_THINKING_MIN_BUDGET = 1024  # Anthropic rejects thinking.budget_tokens below this


@dataclass(frozen=True, slots=True)
class OutputCap:
    """What :func:`cap_output_tokens` did.

    Example:
        >>> OutputCap("max_tokens", 4096, 256, "clamped").describe()
        'max_output_tokens: max_tokens 4096->256 (clamped)'
    """

    field: str | None
    """The request parameter used (``None`` for an endpoint without an output cap)."""
    requested: int | None
    """The caller's value (``None`` when absent)."""
    applied: int | None
    """The value sent."""
    action: str
    """``injected``, ``clamped``, ``kept`` (caller's value is within the cap), ``prewarm`` or ``none``."""
    note: str | None = None
    """Extra adjustments (e.g. an Anthropic thinking budget lowered to fit)."""

    def describe(self) -> str:
        """One human-readable line for the record's ``policy`` field."""
        if self.field is None:
            return "max_output_tokens: not applicable"
        if self.action == "injected":
            text = f"max_output_tokens: {self.field}={self.applied} (injected)"
        elif self.action == "clamped":
            text = f"max_output_tokens: {self.field} {self.requested}->{self.applied} (clamped)"
        elif self.action == "prewarm":
            text = f"max_output_tokens: {self.field}=0 kept (cache pre-warm)"
        else:
            text = f"max_output_tokens: {self.field}={self.requested} (kept, within cap)"
        return f"{text}; {self.note}" if self.note else text


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def cap_output_tokens(
    body: Mapping[str, Any], cap: int, *, provider: str, endpoint: str | None = None
) -> tuple[dict[str, Any], OutputCap]:
    """Return a copy of ``body`` whose output cap is at most ``cap``, and what was done.

    Injects the API's own cap parameter when the caller gave none and clamps a larger one.
    The input is never modified (nested objects that change are copied).

    Args:
        body: Wire-format request body.
        cap: Maximum output tokens (>= 1).
        provider: ``openai``, ``anthropic`` or ``google``.
        endpoint: ``chat.completions`` (OpenAI default), ``responses``, ``completions``,
            ``embeddings``; ``messages`` (Anthropic); ``generate_content`` (Google).

    Returns:
        ``(new_body, OutputCap)``; ``new_body`` is a new dict even when nothing changed.

    Example:
        >>> new, what = cap_output_tokens({"model": "gpt-4o", "messages": [], "max_tokens": 4000}, 256,
        ...                               provider="openai")
        >>> new["max_tokens"], "max_completion_tokens" in new, what.action
        (256, False, 'clamped')
        >>> prewarm = {"model": "claude-sonnet-4-5", "max_tokens": 0}
        >>> cap_output_tokens(prewarm, 256, provider="anthropic")[1].action
        'prewarm'
    """
    new = dict(body)
    if provider == "openai":
        ep = endpoint or "chat.completions"
        if ep == "embeddings" or ep.startswith("embeddings"):
            return new, OutputCap(None, None, None, "none")
        if ep == "chat.completions":
            name = "max_completion_tokens"
            if _int(new.get(name)) is None and _int(new.get("max_tokens")) is not None:
                name = "max_tokens"  # deprecated but the caller chose it: clamp it, never send both
        elif ep == "responses":
            name = "max_output_tokens"
        else:
            name = "max_tokens"
        return _simple(new, name, cap)
    if provider == "anthropic":
        requested = _int(new.get("max_tokens"))
        if requested == 0:
            return new, OutputCap("max_tokens", 0, 0, "prewarm")
        new, result = _simple(new, "max_tokens", cap)
        if result.action in ("injected", "clamped"):
            note = _fit_thinking(new, cap)
            if note is not None:
                result = OutputCap(
                    result.field, result.requested, _int(new.get("max_tokens")), result.action, note
                )
        return new, result
    if provider == "google":
        return _google_cap(new, cap)
    return new, OutputCap(None, None, None, "none")


def _simple(new: dict[str, Any], name: str, cap: int) -> tuple[dict[str, Any], OutputCap]:
    requested = _int(new.get(name))
    if requested is None:
        new[name] = cap
        return new, OutputCap(name, None, cap, "injected")
    if requested > cap:
        new[name] = cap
        return new, OutputCap(name, requested, cap, "clamped")
    return new, OutputCap(name, requested, requested, "kept")


def _fit_thinking(new: dict[str, Any], cap: int) -> str | None:
    """Anthropic requires ``thinking.budget_tokens < max_tokens``; lower the budget so the cap holds."""
    thinking = new.get("thinking")
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled":
        return None
    budget = _int(thinking.get("budget_tokens"))
    max_tokens = _int(new.get("max_tokens")) or cap
    if budget is None or budget < max_tokens:
        return None
    new_budget = max(_THINKING_MIN_BUDGET, max_tokens - 1)
    new["thinking"] = {**thinking, "budget_tokens": new_budget}
    note = f"thinking.budget_tokens {budget}->{new_budget}"
    if new_budget >= max_tokens:  # the cap is below the API's minimum thinking budget: keep the call valid
        new["max_tokens"] = new_budget + 1
        note += f"; max_tokens raised to {new_budget + 1} (thinking needs budget_tokens >= 1024 < max_tokens)"
    return note


def _google_cap(new: dict[str, Any], cap: int) -> tuple[dict[str, Any], OutputCap]:
    # Wire form (what the SDK sends and the adapter hands to hooks): generationConfig.maxOutputTokens.
    # SDK-call form (model/contents/config keyword arguments): config.max_output_tokens.
    if "generation_config" in new:
        return _nested_cap(new, "generation_config", "max_output_tokens", cap)
    if "config" in new:
        return _nested_cap(new, "config", "max_output_tokens", cap)
    return _nested_cap(new, "generationConfig", "maxOutputTokens", cap)


def _nested_cap(new: dict[str, Any], container: str, key: str, cap: int) -> tuple[dict[str, Any], OutputCap]:
    label = f"{container}.{key}"
    cfg = new.get(container)
    if cfg is not None and not isinstance(cfg, Mapping):
        # an SDK config object (pydantic): copy it with the field changed
        requested = _int(getattr(cfg, key, None))
        if requested is not None and requested <= cap:
            return new, OutputCap(label, requested, requested, "kept")
        copy = getattr(cfg, "model_copy", None)
        if copy is None:
            return new, OutputCap(
                None, requested, requested, "none", f"cannot cap a {type(cfg).__name__} config"
            )
        new[container] = copy(update={key: cap})
        return new, OutputCap(label, requested, cap, "injected" if requested is None else "clamped")
    inner = dict(cfg or {})
    requested = _int(inner.get(key))
    if requested is not None and requested <= cap:
        return new, OutputCap(label, requested, requested, "kept")
    inner[key] = cap
    new[container] = inner
    return new, OutputCap(label, requested, cap, "injected" if requested is None else "clamped")


def check_input_tokens(
    body: Mapping[str, Any],
    limit: int,
    *,
    provider: str,
    model: str | None = None,
    scope: str = "the caller",
) -> int:
    """Estimate the prompt of ``body`` offline and raise :class:`InputTooLarge` above ``limit``.

    Args:
        body: Wire-format request body.
        limit: Maximum estimated prompt tokens.
        provider: ``openai``, ``anthropic``, ``google`` (non-OpenAI estimates carry a safety margin).
        model: Model id (default: ``body["model"]``).
        scope: Where the limit was set, for the error message.

    Returns:
        The estimate, when within the limit.

    Raises:
        InputTooLarge: The estimate exceeds ``limit``.

    Example:
        >>> body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "word " * 500}]}
        >>> check_input_tokens(body, 10_000, provider="openai") < 10_000
        True
        >>> check_input_tokens(body, 100, provider="openai")
        Traceback (most recent call last):
        ...
        llmfinops.exceptions.InputTooLarge: max_input_tokens: the openai request to model 'gpt-4o' ...
    """
    m = model if model is not None else str(body.get("model") or "")
    estimate = estimate_prompt_tokens(provider, body, model=m or None)
    if estimate > limit:
        method = estimator_method()
        if provider != "openai":
            method += " x1.20 margin for non-OpenAI tokenizers"
        raise InputTooLarge(
            estimate=estimate, limit=limit, method=method, scope=scope, model=m, provider=provider
        )
    return estimate
