"""Request policies: output and input caps, prompt-cache placement, cache-buster lint, cache reports.

The cheapest tokens are the ones never billed at full price. Policies are applied
in-process by :func:`llmfinops.wrap` just before a request is sent, and every one of them
is also a pure function over a request body that you can call yourself::

    import llmfinops
    from anthropic import Anthropic

    claude = llmfinops.wrap(Anthropic(), cache="auto", max_output_tokens=1024, max_input_tokens=150_000)

    with llmfinops.policy(max_output_tokens=256):     # tighter for one code path
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=4096, system=POLICIES, messages=[...])
        # sent with max_tokens=256 and cache_control on the system prompt

Three layers, resolved per call and per field: a :class:`policy` scope (innermost wins) >
the client's ``wrap(...)`` options > :func:`configure_policies`. ``None`` switches a policy
off at a layer.

* ``max_output_tokens``: injected with each API's own parameter when absent, clamped when
  larger (:func:`cap_output_tokens`); an int, ``{model or glob: int}`` or ``fn(model)``.
* ``max_input_tokens``: refuse with :class:`InputTooLarge` before anything is sent when the
  offline estimate is above the limit (:func:`check_input_tokens`).
* ``cache="auto"`` / :class:`CachePolicy`: Anthropic ``cache_control`` breakpoints on tools,
  system and stable history (:func:`place_cache_breakpoints`); OpenAI ``prompt_cache_key``
  (and ``prompt_cache_options.ttl`` on GPT-5.6+). Google: :class:`llmfinops.policies.google.ContextCache`.
* Always on unless switched off (``configure_policies(fingerprint=False, lint=False)``): the
  record's ``prefix_fingerprint`` (:func:`prefix_fingerprint`) and the cache-buster lint
  (:func:`lint_prefix`, :class:`CacheBusterWarning`).
* Reports: :func:`cache_effectiveness` over records — hit rate, write:read ratio, dollars
  saved per prefix, and prefixes where caching costs more than it saves.

See ``docs/policies.md`` and ``docs/caching.md``.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MIN_TOKENS",
    "Breakpoint",
    "CacheBusterWarning",
    "CachePolicy",
    "CacheReport",
    "Finding",
    "InputTooLarge",
    "Limit",
    "OutputCap",
    "Policy",
    "PrefixStats",
    "TokenLimit",
    "apply_openai_cache",
    "cache_effectiveness",
    "cap_output_tokens",
    "check_input_tokens",
    "configure_policies",
    "current_policy",
    "find_cache_busters",
    "format_cache_effectiveness",
    "lint_prefix",
    "min_cache_tokens",
    "place_cache_breakpoints",
    "policy",
    "prefix_fingerprint",
    "reset_policies",
    "static_parts",
    "supports_cache_options",
]

from ._anthropic import DEFAULT_MIN_TOKENS, Breakpoint, CacheReport, min_cache_tokens, place_cache_breakpoints
from ._cache_policy import CachePolicy
from ._caps import InputTooLarge, OutputCap, cap_output_tokens, check_input_tokens
from ._lint import CacheBusterWarning, Finding, find_cache_busters, lint_prefix
from ._openai import apply_openai_cache, supports_cache_options
from ._prefix import prefix_fingerprint, static_parts
from ._report import PrefixStats, cache_effectiveness, format_cache_effectiveness
from ._settings import (
    Limit,
    Policy,
    TokenLimit,
    configure_policies,
    current_policy,
    policy,
    reset_policies,
)
