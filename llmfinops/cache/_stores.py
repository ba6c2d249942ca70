"""Byte stores for the response cache: in-process LRU, diskcache (default) and Redis.

A store maps a hex key to opaque bytes with a time-to-live. The response cache never
trusts what comes back (entries are length- and magic-checked before use), so a store only
has to be a dumb, bounded key/value map. Stores are shared by every thread of the process;
``DiskCacheStore`` and ``RedisStore`` are also shared across processes.
"""

from __future__ import annotations

__all__ = ["DiskCacheStore", "MemoryStore", "RedisStore", "ResponseStore", "default_cache_dir"]

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from llmfinops.exceptions import ConfigurationError, MissingDependencyError


@runtime_checkable
class ResponseStore(Protocol):
    """**Protocol:** where cached responses live (bytes in, bytes out).

    Implementations must be thread-safe. They may raise on failure: the response cache
    catches everything, logs it, warns once and lets the call go to the provider.
    Async clients call ``aget``/``aset`` when a store defines them (``RedisStore`` does),
    else the sync methods.

    Example:
        >>> store = MemoryStore(max_entries=2)
        >>> store.set("k", b"v", ttl=None)
        >>> store.get("k")
        b'v'
    """

    def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or ``None`` (missing or expired)."""
        ...

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: until evicted)."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        ...

    def close(self) -> None:
        """Release connections/files."""
        ...


def default_cache_dir() -> Path:
    """Where :class:`DiskCacheStore` keeps responses by default.

    ``$LLMFINOPS_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/llmfinops/responses``
    (``~/.cache/llmfinops/responses``).

    Example:
        >>> default_cache_dir().name
        'responses'
    """
    env = os.environ.get("LLMFINOPS_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "responses"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "llmfinops" / "responses"


class MemoryStore:
    """An in-process LRU store bounded by entry count and total bytes (tests, single workers).

    Args:
        max_entries: Most entries kept; the least recently used goes first.
        max_bytes: Most value bytes kept in total.
        clock: ``() -> seconds`` used for TTLs (default ``time.monotonic``).

    Example:
        >>> s = MemoryStore(max_entries=1)
        >>> s.set("a", b"1", ttl=None); s.set("b", b"2", ttl=None)
        >>> (s.get("a"), s.get("b"))
        (None, b'2')
    """

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries <= 0:
            raise ConfigurationError(f"MemoryStore(max_entries={max_entries}) must be a positive integer")
        if max_bytes <= 0:
            raise ConfigurationError(f"MemoryStore(max_bytes={max_bytes}) must be a positive number of bytes")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """The value, or ``None``; a hit makes the entry most recently used."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            value, expires = item
            if expires is not None and self._clock() >= expires:
                del self._data[key]
                self._bytes -= len(value)
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value``; evicts least recently used entries beyond the bounds."""
        if len(value) > self.max_bytes:
            return
        expires = None if ttl is None else self._clock() + ttl
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0])
            self._data[key] = (value, expires)
            self._bytes += len(value)
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                _, (v, _e) = self._data.popitem(last=False)
                self._bytes -= len(v)

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0])

    def close(self) -> None:
        """Drop everything."""
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)


class DiskCacheStore:
    """A ``diskcache.Cache`` on local disk, bounded in bytes (the default store).

    Shared by every process that opens the same directory (SQLite index + files). The
    directory holds provider responses, i.e. your prompts' completions: keep it private.

    Args:
        directory: Cache directory (default :func:`default_cache_dir`).
        size_limit: Bytes kept before the least recently stored entries are culled (default 1 GiB).
        eviction_policy: A diskcache policy name (``least-recently-stored`` costs no write per hit;
            ``least-recently-used`` keeps hot entries but writes on every read).
        **settings: Other ``diskcache.Cache`` settings.

    Example:
        >>> import tempfile
        >>> s = DiskCacheStore(tempfile.mkdtemp(), size_limit=10_000_000)
        >>> s.set("k", b"v", ttl=60); s.get("k")
        b'v'
        >>> s.close()
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        size_limit: int = 1024**3,
        eviction_policy: str = "least-recently-stored",
        **settings: Any,
    ) -> None:
        if size_limit <= 0:
            raise ConfigurationError(
                f"DiskCacheStore(size_limit={size_limit}) must be a positive number of bytes"
            )
        import diskcache

        path = Path(directory).expanduser() if directory is not None else default_cache_dir()
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigurationError(
                f"DiskCacheStore(directory={str(path)!r}): cannot create the directory ({exc}); "
                "pass a writable directory or set $LLMFINOPS_CACHE_DIR"
            ) from None
        self.directory = path
        self._cache = diskcache.Cache(
            str(path), size_limit=size_limit, eviction_policy=eviction_policy, **settings
        )

    def get(self, key: str) -> bytes | None:
        """The value, or ``None``."""
        value = self._cache.get(key, default=None, retry=True)
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value`` (diskcache culls beyond ``size_limit``)."""
        self._cache.set(key, value, expire=ttl, retry=True)

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        self._cache.delete(key, retry=True)

    def close(self) -> None:
        """Close the SQLite connection of this thread."""
        self._cache.close()


class RedisStore:
    """A Redis store, shared by every worker; entries expire with Redis' own TTL.

    Size is bounded by the server: set ``maxmemory`` and an eviction policy such as
    ``allkeys-lru`` (or ``volatile-lru``, since every entry here has a TTL when ``ttl`` is set).

    Args:
        url: ``redis://host:port/db`` (used to build both a sync and an asyncio client).
        client: An existing ``redis.Redis`` (sync calls).
        async_client: An existing ``redis.asyncio.Redis`` (async clients' calls).
        prefix: Key prefix, so the cache can share a database.

    Raises:
        MissingDependencyError: The ``redis`` package is not installed.
        ConfigurationError: Neither ``url`` nor ``client`` was given.

    Example:
        >>> from llmfinops.cache import RedisStore, ResponseCache
        >>> cache = ResponseCache(RedisStore(url="redis://localhost:6379/0"))  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        async_client: Any = None,
        prefix: str = "llmfinops:rc:",
    ) -> None:
        try:
            import redis
            import redis.asyncio
        except ImportError:
            raise MissingDependencyError(
                "RedisStore needs the redis package: pip install 'llmfinops[redis]'"
            ) from None
        if url is None and client is None:
            raise ConfigurationError(
                "RedisStore(url=None, client=None): pass url='redis://host:port/0' or client=redis.Redis(...)"
            )
        self.prefix = prefix
        self._client = client if client is not None else redis.Redis.from_url(str(url))
        self._aclient = async_client
        if self._aclient is None and url is not None:
            self._aclient = redis.asyncio.Redis.from_url(url)

    def get(self, key: str) -> bytes | None:
        """The value, or ``None``."""
        v = self._client.get(self.prefix + key)
        return v if isinstance(v, bytes) else None

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """``SET key value PX ttl``."""
        self._client.set(self.prefix + key, value, px=None if ttl is None else max(int(ttl * 1000), 1))

    def delete(self, key: str) -> None:
        """``DEL key``."""
        self._client.delete(self.prefix + key)

    async def aget(self, key: str) -> bytes | None:
        """Async :meth:`get` (falls back to the sync client when no asyncio client exists)."""
        if self._aclient is None:
            return self.get(key)
        v = await self._aclient.get(self.prefix + key)
        return v if isinstance(v, bytes) else None

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        """Async :meth:`set`."""
        if self._aclient is None:
            self.set(key, value, ttl)
            return
        await self._aclient.set(self.prefix + key, value, px=None if ttl is None else max(int(ttl * 1000), 1))

    def close(self) -> None:
        """Close the sync connection pool (close an asyncio client you passed yourself)."""
        self._client.close()
