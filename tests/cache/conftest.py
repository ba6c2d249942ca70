"""Response-cache fixtures: mock provider clients with a cache enabled, a real redis-server on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from llmfinops.cache import MemoryStore, ResponseCache, enable
from llmfinops.testing.openai import OpenAIMock, openai_client


@pytest.fixture
def store() -> MemoryStore:
    """An in-memory store."""
    return MemoryStore()


@pytest.fixture
def cache(store: MemoryStore) -> ResponseCache:
    """A cache over the in-memory store (default rule: deterministic requests only)."""
    return ResponseCache(store)


@pytest.fixture
def mock() -> OpenAIMock:
    """The OpenAI mock server: 100 prompt tokens, 20 completion tokens per answer."""
    return OpenAIMock(prompt_tokens=100, completion_tokens=20)


@pytest.fixture
def client(mock: OpenAIMock, cache: ResponseCache) -> Any:
    """A wrapped OpenAI client with the cache enabled."""
    return enable(openai_client(mock), cache)


CHAT = {"model": "gpt-4o", "temperature": 0, "messages": [{"role": "user", "content": "What is 2+2?"}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _need(what: str) -> None:
    """Skip locally, fail in CI: these tests must never skip silently there."""
    msg = (
        f"{what} is required for the Redis response-store tests "
        "(apt-get install redis-server; pip install redis)"
    )
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``redis-server`` on a free loopback port (no persistence) for the session."""
    binary = shutil.which("redis-server")
    if binary is None:
        _need("redis-server")
        return
    try:
        import redis
    except ImportError:
        _need("the redis Python package")
        return
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis-rc")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        r = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                r.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"redis-server did not start on port {port}")
                time.sleep(0.02)
        r.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
