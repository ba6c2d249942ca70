"""Response stores: one contract for memory, diskcache and Redis, plus each store's own bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmfinops.cache import DiskCacheStore, MemoryStore, RedisStore, ResponseStore, default_cache_dir
from llmfinops.exceptions import ConfigurationError


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["memory", "diskcache", "redis"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResponseStore]:
    """Each store backend in turn."""
    if request.param == "memory":
        s: ResponseStore = MemoryStore()
    elif request.param == "diskcache":
        s = DiskCacheStore(tmp_path / "rc", size_limit=50_000_000)
    else:
        url = request.getfixturevalue("redis_url")
        s = RedisStore(url, prefix=f"t:{request.node.name}:")
    yield s
    s.close()


class TestContract:
    def test_missing_key(self, any_store: ResponseStore) -> None:
        """An unknown key reads as None."""
        assert any_store.get("nope") is None

    def test_set_get_delete(self, any_store: ResponseStore) -> None:
        """Bytes come back identical; delete removes them."""
        any_store.set("k", b"\x00\xffbody", ttl=60)
        assert any_store.get("k") == b"\x00\xffbody"
        any_store.delete("k")
        assert any_store.get("k") is None

    def test_overwrite(self, any_store: ResponseStore) -> None:
        """A second set replaces the value."""
        any_store.set("k", b"one", ttl=None)
        any_store.set("k", b"two", ttl=None)
        assert any_store.get("k") == b"two"

    def test_is_a_response_store(self, any_store: ResponseStore) -> None:
        """Every backend satisfies the ResponseStore protocol."""
        assert isinstance(any_store, ResponseStore)


class TestMemoryStore:
    def test_lru_by_entries(self) -> None:
        """Beyond max_entries the least recently used entry goes first."""
        s = MemoryStore(max_entries=2)
        s.set("a", b"1", None)
        s.set("b", b"2", None)
        assert s.get("a") == b"1"  # a is now most recent
        s.set("c", b"3", None)
        assert (s.get("a"), s.get("b"), s.get("c")) == (b"1", None, b"3")
        assert len(s) == 2

    def test_bounded_by_bytes(self) -> None:
        """Total value bytes stay under max_bytes; a value larger than the bound is not stored."""
        s = MemoryStore(max_bytes=10)
        s.set("a", b"12345", None)
        s.set("b", b"123456", None)
        assert (s.get("a"), s.get("b")) == (None, b"123456")
        s.set("huge", b"x" * 11, None)
        assert s.get("huge") is None

    def test_ttl(self) -> None:
        """An entry expires at its TTL on the injected clock."""
        clock = Clock()
        s = MemoryStore(clock=clock)
        s.set("k", b"v", ttl=30)
        clock.t += 29.9
        assert s.get("k") == b"v"
        clock.t += 0.1
        assert s.get("k") is None
        assert len(s) == 0

    @pytest.mark.parametrize(
        ("kwargs", "field"), [({"max_entries": 0}, "max_entries=0"), ({"max_bytes": -1}, "max_bytes=-1")]
    )
    def test_bad_bounds(self, kwargs: dict, field: str) -> None:
        """Non-positive bounds are configuration errors naming the field."""
        with pytest.raises(ConfigurationError, match=field):
            MemoryStore(**kwargs)


class TestDiskCacheStore:
    def test_shared_between_instances(self, tmp_path: Path) -> None:
        """Two stores on one directory (e.g. two worker processes) see each other's entries."""
        a = DiskCacheStore(tmp_path)
        b = DiskCacheStore(tmp_path)
        a.set("k", b"v", ttl=60)
        assert b.get("k") == b"v"
        a.close()
        b.close()

    def test_size_limit_culls(self, tmp_path: Path) -> None:
        """Writing beyond size_limit culls old entries so the volume stays near the limit."""
        s = DiskCacheStore(tmp_path, size_limit=1_000_000, cull_limit=2)
        for i in range(60):
            s.set(f"k{i}", bytes([i % 251]) * 100_000, ttl=None)
        assert s._cache.volume() < 1_500_000
        assert s.get("k0") is None
        assert s.get("k59") == bytes([59]) * 100_000
        s.close()

    def test_default_dir_from_env(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """$LLMFINOPS_CACHE_DIR moves the default directory."""
        monkeypatch.setenv("LLMFINOPS_CACHE_DIR", str(tmp_path))
        assert default_cache_dir() == tmp_path / "responses"

    def test_default_dir_xdg(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """Without the variable the XDG cache home is used."""
        monkeypatch.delenv("LLMFINOPS_CACHE_DIR", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        assert default_cache_dir() == tmp_path / "llmfinops" / "responses"

    def test_unwritable_directory(self, tmp_path: Path) -> None:
        """A directory that cannot be created is a configuration error naming it."""
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(ConfigurationError, match="cannot create the directory"):
            DiskCacheStore(blocker / "sub")


class TestRedisStore:
    def test_ttl_is_set_in_milliseconds(self, redis_url: str) -> None:
        """Entries carry Redis' own expiry (PX)."""
        import redis

        s = RedisStore(redis_url, prefix="ttl:")
        s.set("k", b"v", ttl=12.5)
        r = redis.Redis.from_url(redis_url)
        assert 12_000 < r.pttl("ttl:k") <= 12_500
        s.set("forever", b"v", ttl=None)
        assert r.pttl("ttl:forever") == -1
        r.close()
        s.close()

    def test_async_twins(self, redis_url: str) -> None:
        """aget/aset use the asyncio client and see the sync client's writes."""
        s = RedisStore(redis_url, prefix="async:")

        async def run() -> tuple[bytes | None, bytes | None]:
            await s.aset("k", b"v1", 60)
            s.set("j", b"v2", 60)
            got = await s.aget("k"), await s.aget("j")
            await s._aclient.aclose()
            return got

        assert asyncio.run(run()) == (b"v1", b"v2")
        s.close()

    def test_requires_url_or_client(self) -> None:
        """Neither url nor client is a configuration error with the fix."""
        with pytest.raises(ConfigurationError, match="pass url="):
            RedisStore()
