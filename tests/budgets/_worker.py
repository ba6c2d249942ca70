"""One process of the budget concurrency proof: N threads call a wrapped OpenAI client under shared budgets.

Run by ``test_concurrency.py`` (``python -m tests.budgets._worker ...``) and by ``bench/bench_budgets.py``.
Prints one JSON line: ``{"ok": .., "refused": .., "errors": [...]}``; records go to ``--jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import llmfinops
from llmfinops.budgets import Budget, budget, configure_budgets
from llmfinops.exceptions import BudgetExceeded
from llmfinops.sinks import JSONLSink
from llmfinops.stores import BudgetStore
from llmfinops.testing.openai import OpenAIMock, openai_client
from llmfinops.tokens import estimate_prompt_tokens

MSG = [{"role": "user", "content": "hello " * 995}]
MAX_OUT = 200
COMPLETION = 120


def make_store(spec: str) -> BudgetStore:
    kind, _, where = spec.partition(":")
    if kind == "diskcache":
        from llmfinops.stores.diskcache import DiskCacheStore

        return DiskCacheStore(where)
    if kind == "redis":
        from llmfinops.stores.redis import RedisStore

        url, _, prefix = where.partition("#")
        return RedisStore(url, prefix=prefix)
    raise SystemExit(f"unknown store {spec!r}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--store", required=True)
    p.add_argument("--jsonl", required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--org", required=True)
    p.add_argument("--team", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--go", required=True)
    args = p.parse_args()

    llmfinops.configure(sinks=[JSONLSink(args.jsonl)], user_id_key="proof", flush_interval=0.05)
    configure_budgets(
        store=make_store(args.store),
        budgets=[Budget(usd=args.org, key="org", window="day")],
        alert_sinks=[],
    )
    prompt = estimate_prompt_tokens("openai", {"model": "gpt-4o", "messages": MSG})
    client: Any = llmfinops.wrap(
        openai_client(OpenAIMock(prompt_tokens=prompt, completion_tokens=COMPLETION))
    )

    @budget(usd=args.team, per="team", window="day")
    def ask() -> Any:
        return client.chat.completions.create(model="gpt-4o", messages=MSG, max_completion_tokens=MAX_OUT)

    user_budget = Budget(usd=args.user, per="user", window="day")
    ok = refused = 0
    errors: list[str] = []
    lock = threading.Lock()

    def worker(tid: int) -> None:
        nonlocal ok, refused
        with llmfinops.tags(team="search", user_id=f"user-{os.getpid()}-{tid}"), user_budget:
            for _ in range(args.calls):
                try:
                    ask()
                except BudgetExceeded:
                    with lock:
                        refused += 1
                except Exception as exc:  # anything else is a failure of the proof
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    with lock:
                        ok += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    Path(args.ready).touch()
    while not os.path.exists(args.go):  # start every process at once
        time.sleep(0.002)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    llmfinops.flush()
    print(
        json.dumps(
            {
                "ok": ok,
                "refused": refused,
                "errors": errors,
                "prompt": prompt,
                "estimate": str(Decimal(prompt) * Decimal("2.5e-6") + MAX_OUT * Decimal("1e-5")),
            }
        )
    )


if __name__ == "__main__":
    main()
