"""Response-cache fixtures: mock provider clients with a cache enabled, a real redis-server on loopback."""

from __future__ import annotations

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
