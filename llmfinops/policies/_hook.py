"""The before-call hook ``wrap()`` installs: applies the policies in force to one request.

Runs on the caller's thread after the SDK built the wire body and before anything is sent
(budgets run after it, so they see the capped output). Order: input check (may refuse),
output cap, cache placement / cache options, fingerprint, lint. The request dict is
rewritten in place at the top level only; nested user objects are copied before any change.
Failures inside are logged and warned once; only :class:`InputTooLarge` reaches the caller.
"""

from __future__ import annotations

__all__ = ["make_policy_hook"]

import json
import math
from collections.abc import Callable
from typing import Any

from llmfinops._config import get_config
from llmfinops._internal import handle_internal_errors
from llmfinops._recorder import CallState

from ._anthropic import place_cache_breakpoints
from ._caps import InputTooLarge, cap_output_tokens, check_input_tokens
from ._lint import lint_prefix
from ._openai import apply_openai_cache
from ._prefix import history_end, part_digests, prefix_fingerprint, prefix_free, static_parts
from ._settings import Policy, Resolved, resolve

_MARGIN = 1.2  # the estimator's margin for non-OpenAI tokenizers (llmfinops.tokens)
_GENERATE = frozenset({"chat.completions", "responses", "completions", "messages"})


def _scope(source: str, why: str) -> str:
    return f"{source} for {why}" if why else source


_MEDIA_TYPES = frozenset({"image", "image_url", "input_image", "document"})
_MEDIA_KEYS = ("inline_data", "inlineData")
_PER_IMAGE = 1600


def _walk_bound(value: Any, acc: list[int]) -> None:
    """Add an upper bound of the UTF-8 bytes of every string in ``value`` (+1 separator each)."""
    if isinstance(value, str):
        # a BPE token is at least one byte; an ASCII str has len() bytes, any str at most 4 * len()
        acc[0] += (len(value) if value.isascii() else 4 * len(value)) + 1
    elif isinstance(value, dict):
        if value.get("type") in _MEDIA_TYPES or any(k in value for k in _MEDIA_KEYS):
            acc[1] += 1
        for v in value.values():
            _walk_bound(v, acc)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _walk_bound(v, acc)
    elif value is not None:
        acc[0] += len(str(value)) + 1


def _length_bound(body: dict[str, Any]) -> int | None:
    """A cheap upper bound of :func:`llmfinops.tokens.estimate_prompt_tokens` for ``body``.

    Every string of the body counts with an upper bound of its UTF-8 bytes (``str.isascii`` is
    O(1) in CPython), tools with their JSON length, images with the estimator's 1,600, all with
    the estimator's 1.2 margin; when this is within the limit the BPE pass (~2 ms per 10k
    tokens) is skipped. ``None`` when the body cannot be walked.
    """
    acc = [0, 0]
    try:
        for key, value in body.items():
            if key == "tools":
                acc[0] += len(json.dumps(value, default=str)) + 1
            else:
                _walk_bound(value, acc)
    except (TypeError, ValueError, RecursionError):
        return None
    n = 0
    for key in ("messages", "input", "contents", "prompt"):
        v = body.get(key)
        n += len(v) if isinstance(v, list) else 1
    return math.ceil(acc[0] * _MARGIN) + 4 * n + _PER_IMAGE * acc[1]


def make_policy_hook(client_policy: Policy | None) -> Callable[[CallState], None]:
    """Build the hook for one wrapped client (``client_policy``: its ``wrap(...)`` options).

    Example:
        >>> from llmfinops.policies._settings import make_policy
        >>> hook = make_policy_hook(make_policy(max_output_tokens=256))
        >>> callable(hook)
        True
    """

    def policy_hook(state: CallState) -> None:
        try:
            body = state.body
            if type(body) is not dict and not isinstance(body, dict):
                return
            provider = state.runtime.provider
            endpoint = state.endpoint
            if endpoint not in _GENERATE and not (
                provider == "google" and endpoint.startswith("generate_content")
            ):
                return
            r = resolve(client_policy)
            if r.prefix_only:  # the default: no caps, no cache placement
                if (r.fingerprint or r.lint) and not prefix_free(provider, endpoint, body):
                    _prefix_checks(state, body, provider, endpoint, r.fingerprint, r.lint)
                return
            _apply(state, body, provider, endpoint, r)
        except (InputTooLarge, Warning):
            raise  # a deliberate refusal, or a warning the user's filters turned into an error
        except Exception:
            with handle_internal_errors("policies"):
                raise

    return policy_hook


def _apply(state: CallState, body: dict[str, Any], provider: str, endpoint: str, r: Resolved) -> None:
    """Caps, cache placement, fingerprint and lint of a request some policy changes."""
    model = state.model
    notes: list[str] = []
    new: dict[str, Any] = body
    if r.max_input_tokens is not None:
        limit, why = r.max_input_tokens.for_model(model)
        if limit is not None:
            bound = _length_bound(body)
            if bound is not None and bound <= limit:
                notes.append(f"max_input_tokens: ok (<= {bound} by length, limit {limit})")
            else:
                scope = _scope(r.max_input_source, why)
                n = check_input_tokens(body, limit, provider=provider, model=model, scope=scope)
                notes.append(f"max_input_tokens: ok (~{n} estimated, limit {limit})")
    if r.max_output_tokens is not None:
        cap, _why = r.max_output_tokens.for_model(model)
        if cap is not None:
            new, oc = cap_output_tokens(new, cap, provider=provider, endpoint=endpoint)
            if oc.field is not None:
                state.request_max_tokens = oc.applied
                notes.append(oc.describe())
    history = None
    if r.cache is not None and provider == "anthropic" and endpoint == "messages":
        new, report = place_cache_breakpoints(
            new, model=model, policy=r.cache, table=state.runtime.table(get_config())
        )
        history = report.history_end
        notes.append(report.summary())
    fingerprint = None
    parts: list[tuple[str, Any]] | None = None
    digests: list[bytes] | None = None
    if r.fingerprint or r.lint or r.cache is not None:
        parts = static_parts(provider, endpoint, new)  # computed once for fingerprint and lint
        digests = part_digests(parts)
    if r.fingerprint or (r.cache is not None and provider == "openai"):
        fingerprint = prefix_fingerprint(
            new, provider=provider, endpoint=endpoint, cached_history=history, parts=parts, digests=digests
        )
        if r.fingerprint and fingerprint is not None:
            state.extra_fields["prefix_fingerprint"] = fingerprint
    if r.cache is not None and provider == "openai":
        new, more = apply_openai_cache(new, policy=r.cache, fingerprint=fingerprint, endpoint=endpoint)
        if r.cache.prompt_cache_ttl is not None and "prompt_cache_options" in new:
            ttl = new["prompt_cache_options"].get("ttl")
            if isinstance(ttl, str):
                state.cache_write_ttl = ttl
        notes.extend(more)
    if new is not body:
        body.update(new)
    if notes:
        prev = state.extra_fields.get("policy")
        text = "; ".join(notes)
        state.extra_fields["policy"] = f"{prev}; {text}" if prev else text
    if r.lint:
        lint_prefix(body, provider=provider, endpoint=endpoint, parts=parts, digests=digests)


def _prefix_checks(
    state: CallState, body: dict[str, Any], provider: str, endpoint: str, fingerprint: bool, lint: bool
) -> None:
    """Fingerprint and lint of the static prefix, for a request no other policy changes."""
    parts = static_parts(provider, endpoint, body)
    history = None
    if not parts:  # no static prefix: nothing to hash or lint...
        if provider != "anthropic" or not fingerprint:
            return
        history = history_end(body)  # ...but an Anthropic fingerprint may cover a cached history
        if history is None:
            return
    digests = part_digests(parts)
    if fingerprint:
        fp = prefix_fingerprint(
            body, provider=provider, endpoint=endpoint, cached_history=history, parts=parts, digests=digests
        )
        if fp is not None:
            state.extra_fields["prefix_fingerprint"] = fp
    if lint and parts:
        lint_prefix(body, provider=provider, endpoint=endpoint, parts=parts, digests=digests)
