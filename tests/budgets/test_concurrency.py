"""The proof: 4 processes x 8 threads race for one small USD budget on a persistent store — no overshoot.

Each process runs ``tests/budgets/_worker.py``: a wrapped OpenAI client (mock transport),
a global org budget, a team budget (decorator) and a per-user budget (with block). Every
call must either complete and be recorded (JSONL, one file per process) or raise
``BudgetExceeded``; the recorded spend must stay within the org limit, and every
reservation must be reconciled (0 held) when the processes are done.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import llmfinops
from llmfinops.budgets._budget import counter_name
from llmfinops.budgets._estimate import to_nano
from llmfinops.budgets._window import Window
from llmfinops.records import record_from_dict
from llmfinops.stores import BudgetStore

ROOT = Path(__file__).resolve().parents[2]
PROCS, THREADS, CALLS = 4, 8, 30
ORG, TEAM, USER = Decimal("0.40"), Decimal("1.00"), Decimal("0.05")


def run_proof(store_spec: str, store: BudgetStore, tmp: Path) -> dict[str, Any]:
    go = tmp / "go"
    procs = []
    for i in range(PROCS):
        cmd = [
            sys.executable,
            "-m",
            "tests.budgets._worker",
            "--store",
            store_spec,
            "--jsonl",
            str(tmp / f"calls-{i}.jsonl"),
            "--threads",
            str(THREADS),
            "--calls",
            str(CALLS),
            "--org",
            str(ORG),
            "--team",
            str(TEAM),
            "--user",
            str(USER),
            "--ready",
            str(tmp / f"ready-{i}"),
            "--go",
            str(go),
        ]
        procs.append(
            subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    deadline = time.monotonic() + 120
    while not all((tmp / f"ready-{i}").exists() for i in range(PROCS)):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    records = []
    for i, out in enumerate(outs):
        path = tmp / f"calls-{i}.jsonl"
        # A process that started late can find the org budget already spent by the others:
        # every one of its calls is refused and its sink never opens the file.
        assert path.exists() or out["ok"] == 0, f"process {i} completed {out['ok']} calls but wrote no file"
        lines = path.read_text().splitlines() if path.exists() else []
        records.extend(record_from_dict(json.loads(line)) for line in lines)
    day = Window.day().span(llmfinops.get_config().clock.now()).id
    spent, held = store.usage(counter_name("org", day, "usd"), now=time.time())
    return {"outs": outs, "records": records, "spent": spent, "held": held, "day": day}


def check(result: dict[str, Any]) -> Decimal:
    outs, records = result["outs"], result["records"]
    assert [e for o in outs for e in o["errors"]] == []
    ok = sum(o["ok"] for o in outs)
    refused = sum(o["refused"] for o in outs)
    assert ok + refused == PROCS * THREADS * CALLS  # every call completed or was refused
    assert len(records) == ok  # every completed call has its record
    assert all(r.status == "ok" and r.cost_usd is not None for r in records)
    total = sum((r.cost_usd for r in records if r.cost_usd is not None), Decimal(0))
    assert result["held"] == 0  # every reservation reconciled
    assert result["spent"] == sum(to_nano(r.cost_usd) for r in records if r.cost_usd is not None)
    overshoot = max(total - ORG, Decimal(0))
    estimate = Decimal(outs[0]["estimate"])
    print(
        f"\nbudget proof: {ok} calls ok, {refused} refused, recorded ${total} of ${ORG}; "
        f"overshoot ${overshoot}"
    )
    assert overshoot == 0
    assert refused > 0  # the limit really bound
    assert total > ORG - estimate * PROCS * THREADS  # and was used up to what calls in flight could hold
    return overshoot


@pytest.mark.slow
class TestNoOvershootAcrossProcesses:
    def test_diskcache(self, tmp_path: Path) -> None:
        """diskcache: 4 x 8 concurrent callers, recorded spend <= limit, all reconciled."""
        from llmfinops.stores.diskcache import DiskCacheStore

        directory = tmp_path / "budgets"
        store = DiskCacheStore(directory)
        try:
            check(run_proof(f"diskcache:{directory}", store, tmp_path))
        finally:
            store.close()

    def test_redis(self, tmp_path: Path, redis_url: str) -> None:
        """Redis: 4 x 8 concurrent callers, recorded spend <= limit, all reconciled."""
        from llmfinops.stores.redis import RedisStore

        prefix = "{p" + uuid.uuid4().hex[:10] + "}:"
        store = RedisStore(redis_url, prefix=prefix)
        try:
            check(run_proof(f"redis:{redis_url}#{prefix}", store, tmp_path))
        finally:
            store.close()
