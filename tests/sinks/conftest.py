"""Fixtures for the sink tests: deterministic records and a helper to run Python in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import llmfinops
from llmfinops.records import CallRecord
from llmfinops.testing import make_record

ROOT = Path(llmfinops.__file__).resolve().parents[1]
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def rec(i: int = 0, **overrides: Any) -> CallRecord:
    """Record number ``i``: id ``r000000i``, one second apart from ``T0``."""
    fields: dict[str, Any] = {"id": f"r{i:07d}", "timestamp": T0 + timedelta(seconds=i)}
    fields.update(overrides)
    return make_record(**fields)


@pytest.fixture
def run_python(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a Python script in a fresh interpreter with llmfinops importable; return the result."""

    def run(
        script: str, *, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
