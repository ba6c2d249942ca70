"""Normalized token usage: one shape for every provider.

Every provider module converts its SDK's usage block into :class:`Usage` and owns that
provider's semantics (Anthropic's ``input_tokens`` excludes cache reads and writes,
OpenAI's and Google's include them; Google's thinking tokens sit outside the candidates
count). After conversion, ``input_tokens`` always counts *all* prompt tokens (the
OpenTelemetry GenAI definition) and ``output_tokens`` always includes reasoning.

Example:
    >>> u = Usage(input_tokens=1000, cache_read_tokens=800, output_tokens=50)
    >>> u.uncached_input_tokens
    200
"""

from __future__ import annotations

__all__ = ["Usage"]

from dataclasses import dataclass, field


@dataclass(slots=True, kw_only=True)
class Usage:
    """Token counts of one billed request (or the sum of several)."""

    input_tokens: int = 0
    """All prompt tokens, inclusive of cache reads and cache writes."""
    cache_read_tokens: int = 0
    """Prompt tokens served from a cache (billed at the cache-read rate)."""
    cache_write_tokens: int = 0
    """Prompt tokens written to a cache (billed at the cache-write rate)."""
    cache_write_by_ttl: dict[str, int] | None = None
    """Split of ``cache_write_tokens`` by TTL (``{"5m": .., "1h": ..}``) when the provider reports it."""
    output_tokens: int = 0
    """All generated tokens, inclusive of reasoning/thinking."""
    reasoning_tokens: int = 0
    """The reasoning part of ``output_tokens`` (observability; already inside output)."""
    service_tier: str | None = None
    """The tier the *response* reports (``batch``, ``flex``, ``priority``, ...)."""
    modifiers: dict[str, str] = field(default_factory=dict)
    """Other price modifiers reported by the response, e.g. ``{"speed": "fast", "inference_geo": "us"}``."""

    @property
    def uncached_input_tokens(self) -> int:
        """Prompt tokens billed at the plain input rate."""
        return max(self.input_tokens - self.cache_read_tokens - self.cache_write_tokens, 0)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        """Sum two usages (e.g. several HTTP requests behind one SDK call)."""
        ttl: dict[str, int] | None = None
        if self.cache_write_by_ttl or other.cache_write_by_ttl:
            ttl = dict(self.cache_write_by_ttl or {})
            for k, v in (other.cache_write_by_ttl or {}).items():
                ttl[k] = ttl.get(k, 0) + v
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_write_by_ttl=ttl,
            output_tokens=self.output_tokens + other.output_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            service_tier=self.service_tier or other.service_tier,
            modifiers={**other.modifiers, **self.modifiers},
        )


_new_usage = object.__new__


def make_usage(
    input_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
    cache_write_by_ttl: dict[str, int] | None,
    output_tokens: int,
    reasoning_tokens: int,
    service_tier: str | None,
) -> Usage:
    """``Usage(...)`` with every field given positionally (``modifiers`` empty), for the call path.

    Provider adapters build one :class:`Usage` per response on the caller's thread. In CPython
    3.11 calling a class with keyword arguments goes through ``type.__call__`` and a keyword
    dict (~5k instructions for this dataclass); this function stores the slots directly (~1k).
    A test checks that it sets exactly the dataclass's fields.

    Example:
        >>> make_usage(1000, 800, 0, None, 50, 0, None) == Usage(input_tokens=1000, cache_read_tokens=800,
        ...                                                      output_tokens=50)
        True
    """
    u: Usage = _new_usage(Usage)
    u.input_tokens = input_tokens
    u.cache_read_tokens = cache_read_tokens
    u.cache_write_tokens = cache_write_tokens
    u.cache_write_by_ttl = cache_write_by_ttl
    u.output_tokens = output_tokens
    u.reasoning_tokens = reasoning_tokens
    u.service_tier = service_tier
    u.modifiers = {}
    return u
