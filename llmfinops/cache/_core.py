"""``ResponseCache`` settings, per-client enablement and per-scope context managers."""

from __future__ import annotations

__all__ = [
    "Active",
    "CacheStats",
    "ResponseCache",
    "ResponseCacheWarning",
    "Scope",
    "active_for",
    "allowed",
    "bypass",
    "cached",
    "client_cache",
    "disable",
    "enable",
]

import contextvars
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from llmfinops._internal import logger, warn_once
from llmfinops.exceptions import ConfigurationError, LLMFinOpsWarning

from ._keys import CacheRequest, is_deterministic
from ._stores import DiskCacheStore, ResponseStore

if TYPE_CHECKING:
    from llmfinops._recorder import CallState, ClientRuntime

    from .semantic import SemanticCache

ClientT = TypeVar("ClientT")
When = Literal["deterministic", "always"] | Callable[[CacheRequest], bool]


class ResponseCacheWarning(LLMFinOpsWarning):
    """The response cache failed (store down, corrupt entry...); the call went to the provider.

    Emitted once per exception type; every failure is logged on the ``llmfinops`` logger.

    Example:
        >>> import warnings
        >>> warnings.simplefilter("ignore", ResponseCacheWarning)  # e.g. in a noisy batch job
    """


@dataclass(slots=True)
class CacheStats:
    """Counters of one :class:`ResponseCache` since it was created (approximate under threads).

    Example:
        >>> s = CacheStats(lookups=10, hits=4, misses=6)
        >>> s.hits / s.lookups
        0.4
    """

    lookups: int = 0
    """Cacheable requests looked up."""
    hits: int = 0
    """Requests served from the cache (exact and semantic)."""
    semantic_hits: int = 0
    """The part of ``hits`` found by similarity."""
    misses: int = 0
    """Lookups that went to the provider."""
    stores: int = 0
    """Responses written."""
    errors: int = 0
    """Store or entry failures (each one fell back to the provider)."""


def _seconds(ttl: float | timedelta | None) -> float | None:
    if ttl is None:
        return None
    secs = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if secs <= 0:
        raise ConfigurationError(
            f"ResponseCache(ttl={ttl!r}) must be positive (seconds or a timedelta), or None to keep entries "
            "until the store evicts them"
        )
    return secs


def _check_when(when: Any) -> None:
    if when in ("deterministic", "always") or callable(when):
        return
    raise ConfigurationError(
        f"when={when!r} is not valid; use 'deterministic' (embeddings and temperature=0 only), "
        "'always', or a callable (CacheRequest) -> bool"
    )


class ResponseCache:
    """An exact-match cache of provider responses, opt-in per client or per scope.

    Args:
        store: Where entries live (default: a :class:`DiskCacheStore` in
            :func:`~llmfinops.cache.default_cache_dir`, 1 GiB).
        ttl: How long an entry may be served (seconds or ``timedelta``; ``None``: until evicted).
        when: Which requests are cacheable: ``"deterministic"`` (default: embeddings and
            requests with ``temperature`` explicitly 0), ``"always"``, or a predicate over a
            :class:`~llmfinops.cache.CacheRequest`.
        namespace: Partition of the key space (e.g. per tenant or per prompt version).
        max_entry_bytes: Responses larger than this are not stored.
        embedding_items: Cache OpenAI embeddings per input item (a request whose items are
            partly cached sends only the missing ones).
        semantic: A :class:`~llmfinops.cache.semantic.SemanticCache` consulted after an
            exact miss.

    Raises:
        ConfigurationError: An invalid ``ttl``, ``when`` or ``max_entry_bytes``.

    Example:
        >>> from llmfinops.cache import MemoryStore
        >>> cache = ResponseCache(MemoryStore(), ttl=3600)
        >>> cache.stats().hits
        0
    """

    def __init__(
        self,
        store: ResponseStore | None = None,
        *,
        ttl: float | timedelta | None = timedelta(days=1),
        when: When = "deterministic",
        namespace: str = "",
        max_entry_bytes: int = 8 * 1024 * 1024,
        embedding_items: bool = True,
        semantic: SemanticCache | None = None,
    ) -> None:
        _check_when(when)
        if max_entry_bytes <= 0:
            raise ConfigurationError(
                f"ResponseCache(max_entry_bytes={max_entry_bytes}) must be a positive integer"
            )
        if store is not None and not isinstance(store, ResponseStore):
            raise ConfigurationError(
                f"ResponseCache(store={store!r}): a store needs get/set/delete/close methods "
                "(use MemoryStore, DiskCacheStore or RedisStore)"
            )
        self.store: ResponseStore = store if store is not None else DiskCacheStore()
        self.ttl = _seconds(ttl)
        self.when = when
        self.namespace = namespace
        self.max_entry_bytes = max_entry_bytes
        self.embedding_items = embedding_items
        self.semantic = semantic
        self._stats = CacheStats()
        self._lock = threading.Lock()

    def stats(self) -> CacheStats:
        """A snapshot of the counters.

        Example:
            >>> from llmfinops.cache import MemoryStore
            >>> ResponseCache(MemoryStore()).stats().stores
            0
        """
        with self._lock:
            s = self._stats
            return CacheStats(s.lookups, s.hits, s.semantic_hits, s.misses, s.stores, s.errors)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + n)

    def _failed(self, where: str, exc: BaseException) -> None:
        self._count("errors")
        logger.debug("llmfinops response cache: %s failed: %s: %s", where, type(exc).__name__, exc)
        warn_once(
            ResponseCacheWarning,
            f"rc:{type(exc).__name__}",
            f"llmfinops: response cache {where} failed ({type(exc).__name__}: {exc}); "
            "the call went to the provider (further failures of this kind are only logged)",
        )

    def close(self) -> None:
        """Close the store.

        Example:
            >>> from llmfinops.cache import MemoryStore
            >>> ResponseCache(MemoryStore()).close()
        """
        self.store.close()


# -- enablement ---------------------------------------------------------------------------------
_CLIENTS: weakref.WeakKeyDictionary[ClientRuntime, ResponseCache] = weakref.WeakKeyDictionary()
_INSTALLED: weakref.WeakKeyDictionary[ClientRuntime, bool] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Scope:
    """The cache settings of a ``with cached(...)`` / ``with bypass()`` block."""

    cache: ResponseCache | None
    when: When
    refresh: bool = False
    off: bool = False


_SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "llmfinops_response_cache", default=None
)


def enable(client: ClientT, cache: ResponseCache | None = None) -> ClientT:
    """Turn the response cache on for ``client`` (wrapping it first if needed); return ``client``.

    With ``cache=None`` nothing is cached by default, but :func:`cached` blocks that name a
    cache apply to this client. Copies made with ``client.with_options(...)`` share the setting.

    Args:
        client: An ``OpenAI``/``AsyncOpenAI``, ``Anthropic``/``AsyncAnthropic`` or ``genai.Client``.
        cache: The cache this client uses outside any :func:`cached` block.

    Raises:
        UnsupportedClientError: ``client`` is not a supported SDK client.

    Example:
        >>> import llmfinops
        >>> from llmfinops.cache import MemoryStore
        >>> from llmfinops.testing.openai import openai_client
        >>> client = enable(openai_client(), ResponseCache(MemoryStore()))
        >>> llmfinops.cache.client_cache(client) is not None
        True
    """
    from llmfinops._wrap import runtime_of, wrap

    from ._transport import install

    if cache is not None and not isinstance(cache, ResponseCache):
        raise ConfigurationError(
            f"enable(client, cache={cache!r}): cache must be a llmfinops.cache.ResponseCache (or None)"
        )
    runtime = runtime_of(client)
    if runtime is None:
        wrap(client)
        runtime = runtime_of(client)
    assert runtime is not None
    install(client)
    _INSTALLED[runtime] = True
    if cache is not None:
        _CLIENTS[runtime] = cache
    else:
        _CLIENTS.pop(runtime, None)
    return client


def disable(client: ClientT) -> ClientT:
    """Stop caching for ``client`` outside :func:`cached` blocks (the transport stays a pass-through).

    Example:
        >>> from llmfinops.testing.openai import openai_client
        >>> c = disable(openai_client())
    """
    from llmfinops._wrap import runtime_of

    runtime = runtime_of(client)
    if runtime is not None:
        _CLIENTS.pop(runtime, None)
    return client


def client_cache(client: object) -> ResponseCache | None:
    """The cache enabled on ``client``, if any.

    Example:
        >>> from llmfinops.testing.openai import openai_client
        >>> client_cache(openai_client()) is None
        True
    """
    from llmfinops._wrap import runtime_of

    runtime = runtime_of(client)
    return _CLIENTS.get(runtime) if runtime is not None else None


class _ScopeCM:
    __slots__ = ("_scope", "_token")

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._token: contextvars.Token[Scope | None] | None = None

    def __enter__(self) -> Scope:
        if self._token is not None:
            raise RuntimeError("a cache scope is not re-entrant; create a new one per block")
        self._token = _SCOPE.set(self._scope)
        return self._scope

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _SCOPE.reset(self._token)
            self._token = None

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def cached(cache: ResponseCache | None = None, *, when: When = "always", refresh: bool = False) -> _ScopeCM:
    """Mark the calls made inside the block as cacheable.

    Applies to every client on which :func:`enable` was called (or wrapped with a response
    cache). Inside the block the cache is ``cache`` (default: the client's own) and the
    cacheability rule is ``when`` (default ``"always"``: you are saying these calls may be
    answered from the cache, whatever their temperature).

    Args:
        cache: The cache to use (default: the one enabled on each client).
        when: ``"always"``, ``"deterministic"`` or a predicate over a ``CacheRequest``.
        refresh: Do not read the cache; call the provider and overwrite the entry.

    Example:
        >>> with cached():
        ...     pass
    """
    _check_when(when)
    return _ScopeCM(Scope(cache=cache, when=when, refresh=refresh))


def bypass() -> _ScopeCM:
    """Neither read nor write the response cache inside the block.

    Example:
        >>> with bypass():
        ...     pass
    """
    return _ScopeCM(Scope(cache=None, when="always", off=True))


@dataclass(frozen=True, slots=True)
class Active:
    """The cache decision for one call."""

    cache: ResponseCache
    when: When
    refresh: bool


def active_for(state: CallState) -> Active | None:
    """The cache and rule that apply to ``state`` (scope first, then the client's setting)."""
    scope = _SCOPE.get()
    runtime = state.runtime
    if scope is not None:
        if scope.off:
            return None
        cache = scope.cache if scope.cache is not None else _CLIENTS.get(runtime)
        if cache is None:
            return None
        return Active(cache, scope.when, scope.refresh)
    cache = _CLIENTS.get(runtime)
    if cache is None:
        return None
    return Active(cache, cache.when, False)


def allowed(active: Active, req: CacheRequest) -> bool:
    """Apply the ``when`` rule."""
    when = active.when
    if when == "always":
        return True
    if when == "deterministic":
        return is_deterministic(req)
    assert callable(when)
    return bool(when(req))
