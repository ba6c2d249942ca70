"""Fixtures for the policy tests: clean policy layers and lint memory, a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

import llmfinops
from llmfinops.policies import reset_policies
from llmfinops.policies._lint import reset_lint
from llmfinops.testing import FakeClock


@pytest.fixture(autouse=True)
def _clean_policies() -> Iterator[None]:
    """No global policy defaults and no lint memory leak between tests."""
    reset_policies()
    reset_lint()
    yield
    reset_policies()
    reset_lint()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock installed as llmfinops' clock (records and the cache simulator share it)."""
    c = FakeClock(datetime(2026, 11, 2, 0, 0, tzinfo=UTC))
    llmfinops.configure(clock=c)
    return c
