"""RedisStore transport: unix sockets, its own connection pool, script reloads, stale connections, fork."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest

from llmfinops.stores import Line, Reservation

redis = pytest.importorskip("redis")

from llmfinops.stores import redis as redis_store  # noqa: E402
from llmfinops.stores.redis import RedisStore  # noqa: E402

T0 = 1_795_000_000.0
DAY = 86_400


def line(counter: str, amount: int, limit: int | None = None) -> Line:
    return Line(counter, amount=amount, limit=limit, ttl=DAY)


def prefix() -> str:
    return "{r" + uuid.uuid4().hex[:12] + "}:"


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    s = RedisStore(redis_url, prefix=prefix())
    yield s
    s.close()


def cycle(s: RedisStore, counter: str, amount: int = 7) -> None:
    r = s.reserve([line(counter, 10)], now=T0, hold=60)
    assert isinstance(r, Reservation)
    s.commit(r, [amount], now=T0)


class TestUnixSocket:
    def test_unix_url_round_trip_and_repr(self, redis_unix_url: str) -> None:
        """A ``unix://`` URL works like TCP; repr names the socket."""
        s = RedisStore(redis_unix_url, prefix=prefix())
        try:
            cycle(s, "u|d|usd")
            assert s.usage("u|d|usd", now=T0) == (7, 0)
            assert repr(s).startswith("RedisStore('unix://") and "redis.sock?db=0" in repr(s)
        finally:
            s.close()

    def test_tcp_repr(self, store: RedisStore) -> None:
        assert repr(store).startswith("RedisStore('127.0.0.1:")


class TestConnections:
    def test_threads_share_one_store_exactly(self, store: RedisStore) -> None:
        """8 threads on one store: every cycle counted once; at most one connection per thread."""

        def work() -> None:
            for _ in range(50):
                cycle(store, "t|d|usd")

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.usage("t|d|usd", now=T0) == (8 * 50 * 7, 0)
        assert 1 <= len(store._made) <= 8

    def test_close_disconnects_and_store_reconnects(self, store: RedisStore) -> None:
        cycle(store, "c|d|usd")
        conns = list(store._made)
        store.close()
        assert all(c._sock is None for c in conns)
        assert store.usage("c|d|usd", now=T0) == (7, 0)  # a later call opens a fresh connection

    def test_passed_client_uses_its_own_pool(self, redis_url: str) -> None:
        """A client you pass is used as is (no private pool) and stays open after close()."""
        client = redis.Redis.from_url(redis_url)
        s = RedisStore(client=client, prefix=prefix())
        cycle(s, "p|d|usd")
        s.close()
        assert s._made == []
        assert client.ping() is True
        client.close()


class TestRecovery:
    @pytest.mark.parametrize("passed_client", [False, True])
    def test_scripts_reloaded_after_flush(self, redis_url: str, passed_client: bool) -> None:
        """SCRIPT FLUSH (or a server restart) costs one SCRIPT LOAD; nothing is applied twice."""
        client = redis.Redis.from_url(redis_url)
        s = (
            RedisStore(client=client, prefix=prefix())
            if passed_client
            else RedisStore(redis_url, prefix=prefix())
        )
        try:
            cycle(s, "f|d|usd")
            client.script_flush()
            cycle(s, "f|d|usd")
            client.script_flush()
            assert s.usage("f|d|usd", now=T0) == (14, 0)
            client.script_flush()
            assert s.mark_alert("f", now=T0, ttl=60) is True
        finally:
            s.close()
            client.close()

    def _kill_store_connections(self, store: RedisStore, redis_url: str) -> None:
        """CLIENT KILL this store's connections only (other tests' clients live on)."""
        admin = redis.Redis.from_url(redis_url)
        for conn in store._made:
            host, port = conn._sock.getsockname()
            admin.client_kill(f"{host}:{port}")
        admin.close()

    def test_idle_connection_closed_by_server_is_replaced(
        self, store: RedisStore, redis_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An idle pooled connection the server closed is detected before use and reopened."""
        cycle(store, "k|d|usd")
        self._kill_store_connections(store, redis_url)
        monkeypatch.setattr(redis_store, "_IDLE_CHECK", -1.0)  # every connection counts as idle
        cycle(store, "k|d|usd")
        assert store.usage("k|d|usd", now=T0) == (14, 0)

    def test_command_on_a_dead_connection_is_not_retried(
        self, store: RedisStore, redis_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A command whose fate is unknown raises (on_store_error decides) instead of risking a double
        charge; the next call reconnects."""
        cycle(store, "n|d|usd")
        monkeypatch.setattr(redis_store, "_IDLE_CHECK", 1e9)  # no idle check: send on the dead socket
        self._kill_store_connections(store, redis_url)
        with pytest.raises(redis.ConnectionError):
            store.reserve([line("n|d|usd", 10)], now=T0, hold=60)
        assert store.usage("n|d|usd", now=T0) == (7, 0)
        cycle(store, "n|d|usd")
        assert store.usage("n|d|usd", now=T0) == (14, 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_opens_its_own_connections(store: RedisStore) -> None:
    """After fork the child never talks on its parent's sockets; both keep working."""
    cycle(store, "fk|d|usd")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            if not store._free and not store._made:
                cycle(store, "fk|d|usd")
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    cycle(store, "fk|d|usd")
    assert store.usage("fk|d|usd", now=T0) == (21, 0)
