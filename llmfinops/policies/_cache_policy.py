"""``CachePolicy``: how ``cache="auto"`` places prompt-cache markers."""

from __future__ import annotations

__all__ = ["ANTHROPIC_TTLS", "OPENAI_TTLS", "CachePolicy", "ttl_rank"]

from dataclasses import dataclass

from llmfinops.exceptions import ConfigurationError

ANTHROPIC_TTLS = ("5m", "1h")
"""``cache_control.ttl`` values the Anthropic API accepts."""
OPENAI_TTLS = ("30m", "12h")
"""``prompt_cache_options.ttl`` values the OpenAI API accepts (GPT-5.6 and later)."""
_RANK = {"5m": 1, "1h": 2}


def ttl_rank(ttl: str | None) -> int:
    """Order of Anthropic TTLs (``1h`` > ``5m``; unknown/absent counts as ``5m``, the API default).

    Example:
        >>> ttl_rank("1h") > ttl_rank(None)
        True
    """
    return _RANK.get(ttl or "5m", 1)


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Where and how long to cache the stable prefix of requests.

    Anthropic (``cache_control`` breakpoints, provider-semantics §1.4): one breakpoint after the
    tools, one after the system prompt and one on the stable conversation history (the last
    message before the newest user turn), each with its own TTL; a layer whose TTL is ``None``
    gets no breakpoint. Anthropic requires 1h breakpoints before 5m ones, so an earlier layer's
    TTL is raised to the longest TTL placed after it (``system_ttl="1h"`` makes the tools
    breakpoint 1h too). OpenAI: a ``prompt_cache_key`` derived from the stable prefix and,
    for GPT-5.6 and later, ``prompt_cache_options.ttl``.

    Example:
        >>> CachePolicy(tools_ttl="1h", system_ttl="1h", history_ttl="5m").history_ttl
        '5m'
        >>> CachePolicy(history_ttl="10m")
        Traceback (most recent call last):
        ...
        llmfinops.exceptions.ConfigurationError: CachePolicy: history_ttl='10m' is not one of ('5m', '1h') ...
    """

    tools_ttl: str | None = "5m"
    """TTL of the breakpoint after the tool definitions (``"5m"``, ``"1h"`` or ``None``)."""
    system_ttl: str | None = "5m"
    """TTL of the breakpoint after the system prompt."""
    history_ttl: str | None = "5m"
    """TTL of the breakpoint(s) on the stable conversation history."""
    max_breakpoints: int = 4
    """Breakpoints allowed per request, the caller's own and automatic caching included."""
    lookback_blocks: int = 20
    """Blocks a breakpoint looks back for an earlier cache entry; longer gaps get intermediate breakpoints."""
    min_tokens: int | None = None
    """Minimum cacheable prefix; ``None`` uses the price table's ``cache_min_tokens`` for the model."""
    prompt_cache_key: bool = True
    """OpenAI: set ``prompt_cache_key`` from a hash of the stable prefix when the caller set none."""
    prompt_cache_ttl: str | None = None
    """OpenAI GPT-5.6+: ``prompt_cache_options.ttl`` to ask for (``"30m"``/``"12h"``; ``None``: default)."""

    def __post_init__(self) -> None:
        layers = (
            ("tools_ttl", self.tools_ttl),
            ("system_ttl", self.system_ttl),
            ("history_ttl", self.history_ttl),
        )
        for name, ttl in layers:
            if ttl is not None and ttl not in ANTHROPIC_TTLS:
                raise ConfigurationError(
                    f"CachePolicy: {name}={ttl!r} is not one of {ANTHROPIC_TTLS} (or None)"
                )
        if not 1 <= self.max_breakpoints <= 4:
            raise ConfigurationError(
                f"CachePolicy: max_breakpoints={self.max_breakpoints} must be between 1 and 4 "
                "(the API allows 4)"
            )
        if self.lookback_blocks < 1:
            raise ConfigurationError(f"CachePolicy: lookback_blocks={self.lookback_blocks} must be >= 1")
        if self.min_tokens is not None and self.min_tokens < 0:
            raise ConfigurationError(f"CachePolicy: min_tokens={self.min_tokens} must be >= 0 or None")
        if self.prompt_cache_ttl is not None and self.prompt_cache_ttl not in OPENAI_TTLS:
            raise ConfigurationError(
                f"CachePolicy: prompt_cache_ttl={self.prompt_cache_ttl!r} is not one of {OPENAI_TTLS} "
                "(or None)"
            )
