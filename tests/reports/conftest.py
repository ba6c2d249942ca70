"""Fixtures for report tests: priced records written to JSONL/SQLite files in a temp dir."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from llmfinops.pricing import default_price_table
from llmfinops.records import RECORD_FIELDS, CallRecord
from llmfinops.sinks import JSONLSink
from llmfinops.testing import make_record
from llmfinops.usage import Usage

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def priced(
    model: str = "gpt-4o",
    provider: str = "openai",
    *,
    input_tokens: int = 1000,
    cached: int = 0,
    output: int = 200,
    reasoning: int = 0,
    ts: datetime = T0,
    tier: str | None = None,
    **fields: Any,
) -> CallRecord:
    """A record priced exactly as the recorder would (bundled table, at ``ts``)."""
    c = default_price_table().cost(
        provider,
        model,
        Usage(
            input_tokens=input_tokens,
            cache_read_tokens=cached,
            output_tokens=output,
            reasoning_tokens=reasoning,
            service_tier=tier,
        ),
        at=ts,
    )
    base: dict[str, Any] = {
        "timestamp": ts,
        "provider": provider,
        "model": model,
        "response_model": model,
        "price_model": c.price_model,
        "input_tokens": input_tokens,
        "cached_input_tokens": cached,
        "output_tokens": output,
        "reasoning_tokens": reasoning,
        "total_tokens": input_tokens + output,
        "cost_usd": c.total,
        "input_cost_usd": c.input,
        "cached_input_cost_usd": c.cached_input,
        "cache_write_cost_usd": c.cache_write,
        "output_cost_usd": c.output,
        "service_tier": tier,
    }
    base.update(fields)
    return make_record(**base)


@pytest.fixture(autouse=True)
def _cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch ~/.cache: the default Parquet cache lives in the test's temp dir."""
    d = tmp_path / "cache"
    monkeypatch.setenv("LLMFINOPS_CACHE_DIR", str(d))
    return d


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write records with the real JSONLSink; returns the file."""

    def write(records: Iterable[CallRecord], name: str = "calls.jsonl") -> Path:
        path = tmp_path / name
        sink = JSONLSink(path)
        sink.emit_batch(list(records))
        sink.close()
        return path

    return write


@pytest.fixture
def write_sqlite(tmp_path: Path) -> Callable[..., Path]:
    """Write records to a SQLite ``llm_call_log`` table (one column per field, tags as JSON text)."""

    def write(
        records: Iterable[CallRecord],
        name: str = "calls.db",
        *,
        money_as_text: bool = True,
        extra_column: bool = False,
    ) -> Path:
        path = tmp_path / name
        db = sqlite3.connect(path)
        cols = list(RECORD_FIELDS) + (["future_field"] if extra_column else [])
        db.execute(f"CREATE TABLE IF NOT EXISTS llm_call_log ({', '.join(cols)})")
        for r in records:
            d = r.as_dict()
            d["tags"] = json.dumps(d["tags"])
            for k, v in list(d.items()):
                if k.endswith("_usd") and v is not None:
                    dec = getattr(r, k)
                    d[k] = str(dec) if money_as_text else float(dec)
                elif isinstance(v, bool):
                    d[k] = int(v)
            if extra_column:
                d["future_field"] = "x"
            db.execute(
                f"INSERT INTO llm_call_log ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [d[c] for c in cols],
            )
        db.commit()
        db.close()
        return path

    return write


def dec(s: str) -> Decimal:
    """Shorthand."""
    return Decimal(s)
