"""Budget fixtures: a fresh in-memory store per test, a real redis-server on loopback, store factories."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import llmfinops
from llmfinops.budgets import BudgetAlert, configure_budgets, reset_budgets
from llmfinops.stores import BudgetStore, MemoryStore
from llmfinops.testing import FakeClock
from llmfinops.testing.openai import OpenAIMock, openai_client

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_budgets() -> Iterator[None]:
    """Every budget test starts with no budgets, a private MemoryStore and no alert sinks."""
    reset_budgets()
    configure_budgets(store=MemoryStore(), alert_sinks=[])
    yield
    reset_budgets()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 2026-11-22 12:00 UTC, installed as the llmfinops clock."""
    c = FakeClock(START)
    llmfinops.configure(clock=c)
    return c


@pytest.fixture
def alerts() -> list[BudgetAlert]:
    """Alerts delivered to a list."""
    out: list[BudgetAlert] = []
    configure_budgets(alert_sinks=[out.append])
    return out


@pytest.fixture
def mock() -> OpenAIMock:
    """OpenAI answers with 1000 prompt and 100 completion tokens."""
    return OpenAIMock(prompt_tokens=1000, completion_tokens=100)


@pytest.fixture
def client(mock: OpenAIMock) -> Any:
    """A wrapped OpenAI client on the mock transport."""
    return llmfinops.wrap(openai_client(mock, max_retries=0))


StoreFactory = Callable[[], BudgetStore]


@pytest.fixture(scope="session")
def redis_unix_url() -> Iterator[str]:
    """A second ``redis-server`` listening only on a unix domain socket (``unix://...?db=0``)."""
    binary = shutil.which("redis-server")
    try:
        import redis
    except ImportError:
        redis = None  # type: ignore[assignment]
    if binary is None or redis is None:
        msg = "redis-server and the redis package are required for the Redis tests"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    with tempfile.TemporaryDirectory(prefix="lfo-redis-") as workdir:  # short: sun_path <= 107 bytes
        sock = os.path.join(workdir, "redis.sock")
        proc = subprocess.Popen(
            [
                *(binary, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700"),
                *("--save", "", "--appendonly", "no", "--dir", workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"unix://{sock}?db=0"
        try:
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except (redis.ConnectionError, FileNotFoundError):
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("redis-server did not start on a unix socket")
                    time.sleep(0.02)
            client.close()
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(params=["memory", "diskcache", "redis", "redis-unix", "redis-client"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Builds handles on ONE backend per test: every handle sees the same counters (memory: same object)."""
    made: list[BudgetStore] = []
    kind = request.param
    if kind == "memory":
        shared = MemoryStore()

        def factory() -> BudgetStore:
            return shared

    elif kind == "diskcache":
        from llmfinops.stores.diskcache import DiskCacheStore

        def factory() -> BudgetStore:
            s = DiskCacheStore(tmp_path / "budgets")
            made.append(s)
            return s

    else:
        # "redis": a URL store on TCP (its own lean connection pool); "redis-unix": the same on a
        # unix socket; "redis-client": a client passed in (redis-py's own pool and command path).
        url = request.getfixturevalue("redis_unix_url" if kind == "redis-unix" else "redis_url")
        import redis

        from llmfinops.stores.redis import RedisStore

        prefix = "{t" + uuid.uuid4().hex[:12] + "}:"

        def factory() -> BudgetStore:
            if kind == "redis-client":
                s = RedisStore(client=redis.Redis.from_url(url, decode_responses=True), prefix=prefix)
            else:
                s = RedisStore(url, prefix=prefix)
            made.append(s)
            return s

    yield factory
    for s in made:
        s.close()
        if kind == "redis-client":
            s.client.close()  # type: ignore[attr-defined]


@pytest.fixture
def store(store_factory: StoreFactory) -> BudgetStore:
    """One handle on the backend under test."""
    return store_factory()
