"""Gemini explicit context caches: create once, reuse while valid, refresh, delete — and know when not to.

Gemini caches prompts *implicitly* (no storage fee, no guarantee, provider-semantics §3.4) and
*explicitly* through ``client.caches`` (cheap reads, plus storage per token-hour, §3.5).
:class:`ContextCache` manages one explicit cache for a large reused context::

    from google import genai
    import llmfinops
    from llmfinops.policies.google import ContextCache

    client = llmfinops.wrap(genai.Client())
    with ContextCache(client, model="gemini-2.5-pro", contents=[HANDBOOK], ttl=3600) as handbook:
        r = handbook.generate_content("What is the refund window?")
        ...
        print(handbook.report().recommendation)

Storage cost: when ``client`` is wrapped, the ``caches.create``/``update`` calls are records of
their own with ``cache_storage_cost_usd`` (the adapter charges the whole TTL up front); the
report computes the same figure from the price table. It then compares the explicit cache
(creation + storage + reads) with what implicit caching would have cost at the request rate
observed, and logs a recommendation when the explicit cache does not pay for itself.
"""

from __future__ import annotations

__all__ = ["ContextCache", "ContextCacheReport"]

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any

from llmfinops._clock import Clock
from llmfinops._config import get_config
from llmfinops._internal import handle_internal_errors, logger
from llmfinops.exceptions import ConfigurationError
from llmfinops.pricing import PriceTable

from ._anthropic import min_cache_tokens

_HOUR = Decimal(3600)
_MTOK = Decimal(1_000_000)
_ZERO = Decimal(0)
_DEFAULT_IMPLICIT_WINDOW = 300.0


@dataclass(frozen=True, slots=True)
class ContextCacheReport:
    """Explicit cache versus implicit caching for the requests made so far."""

    model: str
    """Model the cache belongs to."""
    cached_tokens: int
    """Size of the cached context."""
    requests: int
    """Requests that used the cache."""
    hours: float
    """Observed span from creation to the last use (or now)."""
    creation_usd: Decimal | None
    """Writing the cache (tokens at the input rate; UNVERIFIED for Gemini 3.x/4, §3.5)."""
    storage_usd: Decimal | None
    """Storage bought so far (token-hours of every TTL set)."""
    reads_usd: Decimal | None
    """Cache reads of the requests."""
    implicit_hit_rate: float
    """Expected implicit-cache hit rate at the observed request rate."""
    implicit_usd: Decimal | None
    """Expected cost of the same context under implicit caching only."""
    uncached_usd: Decimal | None
    """The same context billed at the input rate on every request."""
    recommendation: str
    """What to do, in one sentence."""

    @property
    def explicit_usd(self) -> Decimal | None:
        """Creation + storage + reads (``None`` when a price is missing)."""
        if self.creation_usd is None or self.storage_usd is None or self.reads_usd is None:
            return None
        return self.creation_usd + self.storage_usd + self.reads_usd


def _ttl_seconds(ttl: float | int | timedelta | str) -> float:
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, str):
        try:
            seconds = float(ttl.strip().rstrip("s"))
        except ValueError:
            raise ConfigurationError(
                f"ContextCache: ttl={ttl!r} is not a duration; use seconds, '3600s' or a timedelta"
            ) from None
    else:
        seconds = float(ttl)
    if seconds < 60:
        raise ConfigurationError(f"ContextCache: ttl={ttl!r} is shorter than a minute; use >= 60 seconds")
    return seconds


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


class ContextCache:
    """One explicit Gemini context cache, created lazily and reused while valid.

    Args:
        client: A ``google.genai.Client`` (wrapped or not).
        model: Model id the cache is for (``caches`` are per model).
        contents: The large reused context (``CreateCachedContentConfig.contents``).
        system_instruction: A system instruction to cache with it.
        tools: Tools to cache with it.
        ttl: Lifetime: seconds, ``"3600s"`` or a ``timedelta`` (default 1 hour).
        display_name: Name shown in ``caches.list``.
        refresh_when: Extend the TTL when less than this fraction of it is left at a use.
        implicit_window: Seconds an implicit-cache entry is assumed to live, for the comparison
            (Google documents no value; 300 s is an assumption).
        clock: Clock (default: the configured one).
        table: Price table (default: the client's or the configured one).

    Example:
        >>> from llmfinops.testing.google import GoogleMock, google_client
        >>> cache = ContextCache(google_client(GoogleMock()), model="gemini-2.5-pro",
        ...                      contents=["(the 300-page handbook)"], ttl=3600)
        >>> cache.name.startswith("cachedContents/")
        True
        >>> cache.close()
    """

    def __init__(
        self,
        client: Any,
        *,
        model: str,
        contents: Any = None,
        system_instruction: Any = None,
        tools: Any = None,
        ttl: float | timedelta | str = 3600,
        display_name: str | None = None,
        refresh_when: float = 0.25,
        implicit_window: float = _DEFAULT_IMPLICIT_WINDOW,
        clock: Clock | None = None,
        table: PriceTable | None = None,
    ) -> None:
        if contents is None and system_instruction is None:
            raise ConfigurationError("ContextCache: give contents= and/or system_instruction= to cache")
        if not 0 <= refresh_when < 1:
            raise ConfigurationError(f"ContextCache: refresh_when={refresh_when} must be in [0, 1)")
        self.client = client
        self.model = model
        self.ttl = _ttl_seconds(ttl)
        self.refresh_when = refresh_when
        self.implicit_window = implicit_window
        self._config: dict[str, Any] = {"ttl": f"{int(self.ttl)}s"}
        for key, value in (
            ("contents", contents),
            ("system_instruction", system_instruction),
            ("tools", tools),
            ("display_name", display_name),
        ):
            if value is not None:
                self._config[key] = value
        self._clock = clock
        self._table = table
        self._name: str | None = None
        self._expire: datetime | None = None
        self._created: datetime | None = None
        self._last_use: datetime | None = None
        self.tokens = 0
        """Size of the cached context (from the API's ``usage_metadata.total_token_count``)."""
        self.requests = 0
        """Requests that used the cache."""
        self.read_tokens = 0
        """Cache-read tokens reported by the responses of :meth:`generate_content`."""
        self.creations = 0
        """Caches created (more than one when an expired cache was recreated)."""
        self.storage_seconds = Decimal(0)
        """Seconds of storage bought for the cached tokens (every TTL set, extensions included)."""

    @property
    def storage_hours(self) -> float:
        """Hours of storage bought so far (for display; costs use :attr:`storage_seconds`)."""
        return float(self.storage_seconds) / 3600

    # -- lifecycle -------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return (self._clock or get_config().clock).now()

    def _price_table(self) -> PriceTable:
        if self._table is not None:
            return self._table
        cfg = get_config()
        runtime = getattr(self.client, "_llmfinops_runtime", None)
        return runtime.table(cfg) if runtime is not None else cfg.table()

    @property
    def name(self) -> str:
        """The cache's resource name (``cachedContents/...``), creating or refreshing it as needed."""
        return self.ensure()

    def ensure(self) -> str:
        """Create the cache if missing or expired, extend its TTL when it is about to run out.

        Returns:
            The resource name to pass as ``cached_content``.
        """
        now = self._now()
        if self._name is None or self._expire is None or now >= self._expire:
            self._create(now)
        elif (self._expire - now).total_seconds() < self.refresh_when * self.ttl:
            self._refresh(now)
        assert self._name is not None
        return self._name

    def _create(self, now: datetime) -> None:
        cache = self.client.caches.create(model=self.model, config=dict(self._config))
        self._name = str(_field(cache, "name"))
        usage = _field(cache, "usage_metadata")
        tokens = _field(usage, "total_token_count")
        self.tokens = tokens if isinstance(tokens, int) else self.tokens
        created = _as_datetime(_field(cache, "create_time")) or now
        expire = _as_datetime(_field(cache, "expire_time")) or created + timedelta(seconds=self.ttl)
        if self._created is None:
            self._created = created
        self._expire = expire
        self.creations += 1
        self.storage_seconds += Decimal(str((expire - created).total_seconds()))

    def _refresh(self, now: datetime) -> None:
        cache = self.client.caches.update(name=self._name, config={"ttl": f"{int(self.ttl)}s"})
        expire = _as_datetime(_field(cache, "expire_time")) or now + timedelta(seconds=self.ttl)
        if self._expire is not None and expire > self._expire:
            self.storage_seconds += Decimal(str((expire - self._expire).total_seconds()))
        self._expire = expire

    def config(self, **fields: Any) -> dict[str, Any]:
        """A ``GenerateContentConfig`` dict using the cache (counts one request).

        Example:
            >>> from llmfinops.testing.google import google_client
            >>> cache = ContextCache(google_client(), model="gemini-2.5-pro", contents=["doc"])
            >>> sorted(cache.config(temperature=0.2))
            ['cached_content', 'temperature']
        """
        name = self.ensure()
        self.requests += 1
        self._last_use = self._now()
        return {**fields, "cached_content": name}

    def generate_content(self, contents: Any, *, config: dict[str, Any] | None = None) -> Any:
        """``client.models.generate_content`` with the cache attached.

        Args:
            contents: The per-request part of the prompt.
            config: Other ``GenerateContentConfig`` fields (a dict).

        Returns:
            The SDK's ``GenerateContentResponse``.
        """
        response = self.client.models.generate_content(
            model=self.model, contents=contents, config=self.config(**(config or {}))
        )
        with handle_internal_errors("google.context_cache"):
            read = _field(_field(response, "usage_metadata"), "cached_content_token_count")
            if isinstance(read, int):
                self.read_tokens += read
        return response

    def close(self) -> None:
        """Delete the cache (storage already bought is not refunded) and log the recommendation."""
        if self._name is None:
            return
        name, self._name = self._name, None
        with handle_internal_errors("google.context_cache.report"):
            if self.requests:
                logger.info("llmfinops ContextCache %s: %s", name, self.report().recommendation)
        self.client.caches.delete(name=name)
        self._expire = None

    def __enter__(self) -> ContextCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- economics -------------------------------------------------------------------------------
    def report(self, *, now: datetime | None = None) -> ContextCacheReport:
        """Compare this explicit cache with implicit caching for the requests made so far.

        Implicit caching is modelled with Poisson arrivals at the observed rate: a request hits
        when the previous one came less than ``implicit_window`` seconds before
        (``1 - exp(-rate * window)``), and never when the context is below the model's
        minimum cacheable length. Only the cached context is compared (the rest of each
        prompt and the output cost the same either way).

        Example:
            >>> from llmfinops.testing.google import google_client
            >>> cache = ContextCache(google_client(), model="gemini-2.5-pro", contents=["doc"])
            >>> cache.report().requests
            0
        """
        table = self._price_table()
        at = self._created or self._now()
        end = now or self._last_use or self._now()
        hours = max((end - at).total_seconds(), 0.0) / 3600 if self._created is not None else 0.0
        entry = table.lookup("google", self.model)
        period = entry.period_at(at) if entry is not None else None
        prices = period.base if period is not None else None
        n, tokens = self.requests, self.tokens
        input_tok = prices.input_tok if prices is not None else None
        read_tok = prices.cache_read_tok if prices is not None else None
        storage_price = prices.cache_storage_mtok_hour if prices is not None else None
        creation = None if input_tok is None else tokens * self.creations * input_tok
        storage = (
            None if storage_price is None else storage_price * tokens * self.storage_seconds / (_HOUR * _MTOK)
        )
        read_tokens = self.read_tokens or n * tokens
        reads = None if read_tok is None else read_tokens * read_tok
        rate = (n - 1) / hours if n > 1 and hours > 0 else 0.0
        minimum = min_cache_tokens(self.model, provider="google", table=table)
        p_hit = 0.0 if tokens < minimum or n < 2 else 1 - math.exp(-rate * self.implicit_window / 3600)
        hits = (n - 1) * p_hit if n > 1 else 0.0
        implicit = None
        uncached = None
        if input_tok is not None:
            uncached = n * tokens * input_tok
            if read_tok is not None:
                h = Decimal(str(round(hits, 6)))
                implicit = h * tokens * read_tok + (n - h) * tokens * input_tok
        report = ContextCacheReport(
            model=self.model,
            cached_tokens=tokens,
            requests=n,
            hours=hours,
            creation_usd=creation,
            storage_usd=storage,
            reads_usd=reads,
            implicit_hit_rate=hits / n if n else 0.0,
            implicit_usd=implicit,
            uncached_usd=uncached,
            recommendation="",
        )
        return _with_recommendation(report, rate, minimum)


def _money(v: Decimal | None) -> str:
    return "unknown" if v is None else f"${v.quantize(Decimal('0.0001'))}"


def _with_recommendation(r: ContextCacheReport, rate: float, minimum: int) -> ContextCacheReport:
    explicit = r.explicit_usd
    if r.requests == 0:
        text = "no request used the cache yet"
    elif r.storage_usd is None:
        text = (
            f"the price table has no explicit-cache storage price for {r.model!r} (implicit caching only on "
            "some models): rely on implicit caching, keep the shared context at the start of the prompt"
        )
    elif explicit is None or r.implicit_usd is None:
        text = f"cannot compare: a cache price of {r.model!r} is missing from the price table"
    elif r.implicit_usd <= explicit:
        text = (
            f"implicit caching would have served: at {rate:.1f} requests/hour the implicit cache is "
            f"expected to hit {r.implicit_hit_rate:.0%} (context {r.cached_tokens} tokens, "
            f"minimum {minimum}); explicit {_money(explicit)} (storage {_money(r.storage_usd)}) "
            f"vs implicit {_money(r.implicit_usd)}. "
            "Delete the explicit cache and keep the shared context at the start of the prompt."
        )
    else:
        text = (
            f"the explicit cache pays: {_money(explicit)} (storage {_money(r.storage_usd)}) vs implicit "
            f"{_money(r.implicit_usd)} and uncached {_money(r.uncached_usd)} at {rate:.1f} requests/hour"
        )
    return ContextCacheReport(
        model=r.model,
        cached_tokens=r.cached_tokens,
        requests=r.requests,
        hours=r.hours,
        creation_usd=r.creation_usd,
        storage_usd=r.storage_usd,
        reads_usd=r.reads_usd,
        implicit_hit_rate=r.implicit_hit_rate,
        implicit_usd=r.implicit_usd,
        uncached_usd=r.uncached_usd,
        recommendation=text,
    )
