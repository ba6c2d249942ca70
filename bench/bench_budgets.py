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


def cycles(store: BudgetStore, n_lines: int, threads: int, tag: str = "") -> float:
    """Reserve+commit cycles per second (all threads together)."""
    stop = threading.Event()
    counts = [0] * threads

    def run(i: int) -> None:
        ls = lines(n_lines, f"{tag}.{i}")
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
def redis_server(tmp: str) -> Iterator[dict[str, str]]:
    """Start a redis-server for the run, listening on loopback TCP and on a unix socket in ``tmp``."""
    binary = shutil.which("redis-server")
    try:
        import redis
    except ImportError:
        redis = None  # type: ignore[assignment]
    if binary is None or redis is None:
        yield {}
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sock = os.path.join(tmp, "redis.sock")
    proc = subprocess.Popen(
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1"),
            *("--unixsocket", sock, "--unixsocketperm", "700"),
            *("--save", "", "--appendonly", "no", "--dir", tmp),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    urls = {"redis tcp": f"redis://127.0.0.1:{port}/0", "redis unix": f"unix://{sock}?db=0"}
    try:
        client = redis.Redis.from_url(urls["redis tcp"])
        for _ in range(500):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        client.close()
        yield urls
    finally:
        proc.terminate()
        proc.wait()


def child(spec: str, n_lines: int, seconds: float, threads: int) -> None:
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
    print(int(cycles(store, n_lines, threads, tag=str(os.getpid())) * SECONDS))


def processes(spec: str, n_lines: int, n: int = 4, threads: int = 1) -> float:
    """Cycles per second of ``n`` processes together (``threads`` threads each)."""
    with tempfile.TemporaryDirectory() as tmp:
        go = os.path.join(tmp, "go")
        env = {**os.environ, "BENCH_GO": go}
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--child", spec, str(n_lines), str(SECONDS), str(threads)],
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


def _cell(c: float, ops: bool) -> str:
    return f"{c:,.0f} ({2 * c / 1000:.1f}k ops)" if ops else f"{c:,.0f}"


def bench_stores() -> None:
    print("reserve+commit cycles/s; 1 cycle = 2 atomic store operations, (Nk ops) = store operations/s")
    cols = [(1, 1), (1, 8), (3, 1), (3, 8)]
    heads = [f"{n} line{'s' if n > 1 else ''}, {t} thr" for n, t in cols]
    print(f"{'store':<12}" + "".join(f"{h:>24}" for h in heads))
    with tempfile.TemporaryDirectory() as tmp, redis_server(tmp) as urls:
        stores: list[tuple[str, Callable[[], BudgetStore]]] = [
            ("memory", MemoryStore),
            ("diskcache", lambda: DiskCacheStore(os.path.join(tmp, "b"))),
        ]
        if urls:
            from llmfinops.stores.redis import RedisStore

            for name, url in urls.items():
                stores.append((name, lambda url=url: RedisStore(url, prefix="{bench}:")))  # type: ignore[misc]
        else:
            print("  (redis: skipped, redis-server or the redis package is not installed)")
        best: dict[str, float] = {}
        for name, make in stores:
            s = make()
            figures = [cycles(s, n, t) for n, t in cols]
            s.close()
            is_redis = name.startswith("redis")
            print(f"{name:<12}" + "".join(f"{_cell(f, is_redis):>24}" for f in figures))
            if is_redis:
                best[f"{name}, 1 process"] = 2 * max(figures[:2])
        layouts = [(4, 1), (4, 4)]
        print(f"\n{'processes':<12}{'store':<12}{'1 line':>24}{'3 lines':>24}")
        specs = [("diskcache", f"diskcache:{os.path.join(tmp, 'mp')}")]
        specs += [(name, f"redis:{url}") for name, url in urls.items()]
        for name, spec in specs:
            is_redis = name.startswith("redis")
            for n, t in layouts if is_redis else layouts[:1]:
                figures = [processes(spec, k, n, t) for k in (1, 3)]
                print(
                    f"{f'{n} x {t} thr':<12}{name:<12}"
                    + "".join(f"{_cell(f, is_redis):>24}" for f in figures)
                )
                if is_redis:
                    best[f"{name}, {n} processes x {t} thr"] = 2 * figures[0]
        if best:
            where, ops = max(best.items(), key=lambda kv: kv[1])
            print(
                f"\nRedis, 1 line: best {ops:,.0f} store ops/s ({where}); target >= 20,000 ops/s: "
                + ("met" if ops >= 20_000 else "NOT met")
            )


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
        child(sys.argv[i + 1], int(sys.argv[i + 2]), float(sys.argv[i + 3]), int(sys.argv[i + 4]))
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
