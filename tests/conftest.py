"""Shared fixtures: every test starts from default configuration with no sinks and no network."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import llmfinops
from llmfinops._internal import reset_warned

# The SDKs must never reach a real host from the test suite.
for _var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
    os.environ.pop(_var, None)
os.environ.pop("LLMFINOPS_JSONL", None)


@pytest.fixture(autouse=True)
def _clean_llmfinops() -> Iterator[None]:
    """Fresh global config per test: no sinks (records are captured), a fixed user-id key."""
    llmfinops.reset_defaults()
    reset_warned()
    llmfinops.configure(sinks=[], user_id_key="test-key")
    yield
    llmfinops.reset_defaults()
    reset_warned()
