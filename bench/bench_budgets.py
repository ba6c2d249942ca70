"""Budget throughput and overhead, measured — never asserted in tests.

Prints:
  * reserve+commit cycles per second for each store (MemoryStore, DiskCacheStore, RedisStore on a
    local redis-server started for the run), one thread and 8 threads, with 1 line (one budget)
    and 3 lines (org + team + user in one atomic reservation), then 4 processes together (the
    shared stores only: what a fleet of workers gets). Targets: >= 5k/s diskcache, >= 20k/s Redis;
  * the per-call overhead the budget hooks add to a wrapped OpenAI call (mock transport);
  * the anchor: a check-then-call budget manager vs llmfinops under N concurrent calls
    (how far over the limit each ends).

Run: ``python bench/bench_budgets.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import llmfinops
from llmfinops.budgets import Budget, configure_budgets
from llmfinops.stores import BudgetStore, Line, MemoryStore, Reservation
from llmfinops.stores.diskcache import DiskCacheStore

QUICK = "--quick" in sys.argv
SECONDS = 1.0 if QUICK else 3.0
T0 = time.time()


def lines(n: int, tag: str) -> list[Line]:
    keys = ["org", "team:search", f"user:{tag}"][:n]
    return [Line(f"{k}|day:2026-11-22|usd", 4_500_000, 10**15, 86_400) for k in keys]


def cycles(store: BudgetStore, n_lines: int, threads: int) -> float:
    """Reserve+commit cycles per second (all threads together)."""
    stop = threading.Event()
    counts = [0] * threads

    def run(i: int) -> None:
        ls = lines(n_lines, str(i))
        c = 0
        while not stop.is_set():
            r = store.reserve(ls, now=T0, hold=900)
            assert isinstance(r, Reservation)
            store.commit(r, [3_700_000] * n_lines, now=T0)
            c += 1
        counts[i] = c

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    t = time.perf_counter()
    for th in ts:
        th.start()
    time.sleep(SECONDS)
    stop.set()
    for th in ts:
        th.join()
    return sum(counts) / (time.perf_counter() - t)


@contextmanager
def redis_server() -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    try:
        import redis
    except ImportError:
        redis = None  # type: ignore[assignment]
    if binary is None or redis is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(500):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        yield url
    finally:
        proc.terminate()
        proc.wait()


def child(spec: str, n_lines: int, seconds: float) -> None:
    """One process of the multi-process measurement: prints its cycle count."""
    global SECONDS
    SECONDS = seconds
    kind, _, where = spec.partition(":")
    if kind == "diskcache":
        store: BudgetStore = DiskCacheStore(where)
    else:
        from llmfinops.stores.redis import RedisStore

        store = RedisStore(where, prefix="{bench}:")
    while not os.path.exists(os.environ["BENCH_GO"]):
        time.sleep(0.001)
    print(int(cycles(store, n_lines, 1) * SECONDS))


def processes(spec: str, n_lines: int, n: int = 4) -> float:
    """Cycles per second of ``n`` processes together (one thread each)."""
    with tempfile.TemporaryDirectory() as tmp:
        go = os.path.join(tmp, "go")
        env = {**os.environ, "BENCH_GO": go}
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--child", spec, str(n_lines), str(SECONDS)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(n)
        ]
        time.sleep(1.5)  # let them import
        open(go, "w").close()
        total = sum(int(p.communicate()[0].strip() or 0) for p in procs)
    return total / SECONDS


def bench_stores() -> None:
    print("reserve+commit cycles/s (1 cycle = 2 atomic store operations)")
    print(
        f"{'store':<16}{'1 line, 1 thr':>15}{'1 line, 8 thr':>15}{'3 lines, 1 thr':>16}{'3 lines, 8 thr':>16}"
    )
    with tempfile.TemporaryDirectory() as tmp, redis_server() as url:
        stores: list[tuple[str, Callable[[], BudgetStore]]] = [
            ("memory", MemoryStore),
            ("diskcache", lambda: DiskCacheStore(os.path.join(tmp, "b"))),
        ]
        if url is not None:
            from llmfinops.stores.redis import RedisStore

            stores.append(("redis", lambda: RedisStore(url, prefix="{bench}:")))
        else:
            print("  (redis: skipped, redis-server or the redis package is not installed)")
        for name, make in stores:
            s = make()
            figures = [cycles(s, n, t) for n, t in ((1, 1), (1, 8), (3, 1), (3, 8))]
            s.close()
            print(
                f"{name:<16}"
                + "".join(f"{f:>15,.0f}" if i < 2 else f"{f:>16,.0f}" for i, f in enumerate(figures))
            )
        print(f"\n{'4 processes':<16}{'1 line':>15}{'3 lines':>15}")
        specs = [("diskcache", f"diskcache:{os.path.join(tmp, 'mp')}")]
        if url is not None:
            specs.append(("redis", f"redis:{url}"))
        for name, spec in specs:
            print(f"{name:<16}{processes(spec, 1):>15,.0f}{processes(spec, 3):>15,.0f}")


def bench_overhead() -> None:
    from llmfinops.testing.openai import OpenAIMock, openai_client

    llmfinops.configure(sinks=[])
    msg = [{"role": "user", "content": "What is the refund policy for an order placed last week?"}]
    plain = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=20, completion_tokens=9)))
    guarded = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=20, completion_tokens=9)))
    org, team, user = (
        Budget(usd=10**6, key="org"),
        Budget(usd=10**6, per="team"),
        Budget(usd=10**6, per="user"),
    )

    def call_plain() -> None:
        plain.chat.completions.create(model="gpt-4o", messages=msg, max_completion_tokens=50)

    def call_guarded() -> None:
        with org, team, user:
            guarded.chat.completions.create(model="gpt-4o", messages=msg, max_completion_tokens=50)

    llmfinops.configure(user_id_key="bench")
    rounds, batch = (9, 50) if QUICK else (21, 100)
    with tempfile.TemporaryDirectory() as tmp:
        for name, store in (("memory", MemoryStore()), ("diskcache", DiskCacheStore(tmp))):
            configure_budgets(store=store, alert_sinks=[])
            with llmfinops.tags(team="search", user_id="alice"):
                for _ in range(batch):
                    call_plain()
                    call_guarded()
                a, b = [], []
                for i in range(rounds):
                    for fn, out in (
                        ((call_plain, a), (call_guarded, b))
                        if i % 2 == 0
                        else ((call_guarded, b), (call_plain, a))
                    ):
                        t = time.perf_counter()
                        for _ in range(batch):
                            fn()
                        out.append((time.perf_counter() - t) / batch)
            pa, pb = statistics.median(a), statistics.median(b)
            print(
                f"hook overhead, 3 nested budgets, {name:<9}: {1e6 * (pb - pa):7.1f} us/call "
                f"({1e6 * pa:.0f} -> {1e6 * pb:.0f} us on the mock transport)"
            )
            store.close()


def bench_anchor(n: int = 1000) -> None:
    """N concurrent calls, each taking 50 ms, against a $1 limit at $0.0045 per call (max 222 calls)."""
    limit, cost, latency = Decimal(1), Decimal("0.0045"), 0.05

    spent = {"v": Decimal(0)}
    lock = threading.Lock()

    def naive() -> None:  # the anchors' pattern: read, check, call, then add
        if spent["v"] + cost <= limit:
            time.sleep(latency)
            with lock:
                spent["v"] += cost

    store = MemoryStore()
    counter = Line("org|day|usd", 4_500_000, 1_000_000_000, 86_400)

    def ours() -> None:
        r = store.reserve([counter], now=T0, hold=900)
        if isinstance(r, Reservation):
            time.sleep(latency)
            store.commit(r, [4_500_000], now=T0)

    for name, fn in (("check-then-call", naive), ("llmfinops reserve", ours)):
        ts = [threading.Thread(target=fn) for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        total = spent["v"] if fn is naive else Decimal(store.usage("org|day|usd", now=T0)[0]) / 10**9
        print(
            f"{name:<18}: {n} concurrent calls, limit ${limit}: spent ${total} "
            f"({total / limit:.2f}x the limit)"
        )


if __name__ == "__main__":
    if "--child" in sys.argv:
        i = sys.argv.index("--child")
        child(sys.argv[i + 1], int(sys.argv[i + 2]), float(sys.argv[i + 3]))
        sys.exit(0)
    try:
        import hiredis  # noqa: F401

        print("redis-py parser: hiredis")
    except ImportError:
        print(
            "redis-py parser: pure Python (pip install 'redis[hiredis]' for ~1.5x faster Redis round trips)"
        )
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    bench_stores()
    print()
    bench_overhead()
    print()
    bench_anchor(300 if QUICK else 1000)
