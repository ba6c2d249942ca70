"""Shared fixtures: every test starts from default configuration with no sinks and no network."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

import llmfinops
from llmfinops._internal import reset_warned

# The SDKs must never reach a real host from the test suite.
for _var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
    os.environ.pop(_var, None)
os.environ.pop("LLMFINOPS_JSONL", None)


@pytest.fixture(autouse=True)
def _clean_batch_registries() -> Iterator[None]:
    """Batch results this process recorded (per batch, per request) start empty in every test."""
    from llmfinops.providers import _anthropic_batches, _google_resources

    def clear() -> None:
        _anthropic_batches._recorded.clear()
        _anthropic_batches._recorded_count[0] = 0
        _google_resources._batches_seen.clear()
        _google_resources._batch_files.clear()

    clear()
    yield
    clear()


@pytest.fixture(autouse=True)
def _clean_llmfinops() -> Iterator[None]:
    """Fresh global config per test: no sinks (records are captured), a fixed user-id key."""
    llmfinops.reset_defaults()
    reset_warned()
    llmfinops.configure(sinks=[], user_id_key="test-key")
    yield
    llmfinops.reset_defaults()
    reset_warned()


# -- redis -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _need(what: str) -> None:
    """Skip locally, fail in CI: redis tests must never skip silently there."""
    msg = f"{what} is required for the Redis tests (budget and response-cache stores) (apt-get install redis-server; pip install redis)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``redis-server`` on a free loopback port (no persistence) for the session."""
    binary = shutil.which("redis-server")
    if binary is None:
        _need("redis-server")
    try:
        import redis
    except ImportError:
        _need("the redis Python package")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
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
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"redis-server did not start on port {port}")
                time.sleep(0.02)
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
