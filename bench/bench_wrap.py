"""Overhead of llmfinops on the call path, measured side by side in one process.

Prints, for each provider SDK available (OpenAI, Anthropic, Google):
  * wrapped/raw per-call time ratio for sync, async and streamed calls (target <= 1.05),
    both clients talking to identical in-process mock transports, rounds interleaved: the
    median of paired rounds (the latency of a typical call);
  * sustained wrapped/raw mean per call over long blocks, with the background writer's work
    and every garbage collection included (the CPU a busy process pays per call), and the
    garbage collections on each side;
  * ``import llmfinops`` time (target <= 50 ms);
  * cost computations per second (target >= 200k/s);
  * JSONL records per second through the background writer (target >= 100k/s).

Run: ``python bench/bench_wrap.py`` (``--quick`` for a short run; ``--no-pin`` to let the process use every core).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import llmfinops
from llmfinops.pricing import default_price_table
from llmfinops.records import CallRecord
from llmfinops.sinks import BackgroundWriter, JSONLSink
from llmfinops.testing import make_record
from llmfinops.usage import Usage

QUICK = "--quick" in sys.argv
PIN = "--no-pin" not in sys.argv
ROUNDS = 61 if QUICK else 301
BATCH = 20
MSG = [{"role": "user", "content": "What is the refund policy for an order placed last week?"}]


def _paired(r_times: list[float], w_times: list[float]) -> tuple[float, float]:
    """Median raw time, and raw + the median of the per-round differences (wrapped - raw).

    Raw and wrapped batches run back to back (order alternating), so a slow spell of the
    machine hits both of a pair; the median of the differences is far steadier than the
    difference of two medians.
    """
    raw = statistics.median(r_times)
    return raw, raw + statistics.median(w - r for r, w in zip(r_times, w_times, strict=True))


def _interleaved(raw: Callable[[], Any], wrapped: Callable[[], Any]) -> tuple[float, float]:
    """Per-call seconds for raw and wrapped (see :func:`_paired`)."""
    for _ in range(BATCH * 5):  # warm-up
        raw()
        wrapped()
    r_times, w_times = [], []
    for i in range(ROUNDS):
        order = (raw, wrapped) if i % 2 == 0 else (wrapped, raw)
        for fn in order:
            t0 = time.perf_counter()
            for _ in range(BATCH):
                fn()
            dt = (time.perf_counter() - t0) / BATCH
            (r_times if fn is raw else w_times).append(dt)
    return _paired(r_times, w_times)


def _ainterleaved(raw: Callable[[], Any], wrapped: Callable[[], Any]) -> tuple[float, float]:
    async def run(fn: Callable[[], Any]) -> float:
        t0 = time.perf_counter()
        for _ in range(BATCH):
            await fn()
        return (time.perf_counter() - t0) / BATCH

    async def main() -> tuple[float, float]:
        for _ in range(BATCH * 5):
            await raw()
            await wrapped()
        r, w = [], []
        for i in range(ROUNDS):
            if i % 2 == 0:
                r.append(await run(raw))
                w.append(await run(wrapped))
            else:
                w.append(await run(wrapped))
                r.append(await run(raw))
        return _paired(r, w)

    return asyncio.run(main())


def _row(name: str, raw: float, wrapped: float) -> None:
    ratio = wrapped / raw
    flag = "ok" if ratio <= 1.05 else "OVER TARGET"
    print(
        f"  {name:<30} raw {raw * 1e6:8.1f} us   wrapped {wrapped * 1e6:8.1f} us   "
        f"ratio {ratio:5.3f}  (+{(wrapped - raw) * 1e6:5.1f} us)  {flag}"
    )


# The fakes every section uses (``keep_requests=False``: their request lists would otherwise grow,
# and hold every body, for the whole run).
def _openai_fake() -> Any:
    from llmfinops.testing.openai import OpenAIMock

    return OpenAIMock(prompt_tokens=1200, completion_tokens=300, cached_tokens=1024, keep_requests=False)


def _anthropic_fake() -> Any:
    from llmfinops.testing.anthropic import AnthropicMock

    return AnthropicMock(
        input_tokens=40, cache_read_tokens=2000, cache_write_5m=100, output_tokens=25, keep_requests=False
    )


def _google_fake() -> Any:
    from llmfinops.testing.google import GoogleMock

    return GoogleMock(keep_requests=False)


def bench_openai() -> None:
    from llmfinops.testing.openai import async_openai_client, openai_client

    raw = openai_client(_openai_fake())
    wrapped = llmfinops.wrap(openai_client(_openai_fake()))
    print("OpenAI (openai {})".format(__import__("openai").__version__))
    _row(
        "chat.completions sync",
        *_interleaved(
            lambda: raw.chat.completions.create(model="gpt-4o", messages=MSG),
            lambda: wrapped.chat.completions.create(model="gpt-4o", messages=MSG),
        ),
    )

    def consume(c: Any) -> None:
        for _ in c.chat.completions.create(
            model="gpt-4o", messages=MSG, stream=True, stream_options={"include_usage": True}
        ):
            pass

    _row("chat.completions stream", *_interleaved(lambda: consume(raw), lambda: consume(wrapped)))
    araw = async_openai_client(_openai_fake())
    awrapped = llmfinops.wrap(async_openai_client(_openai_fake()))
    _row(
        "chat.completions async",
        *_ainterleaved(
            lambda: araw.chat.completions.create(model="gpt-4o", messages=MSG),
            lambda: awrapped.chat.completions.create(model="gpt-4o", messages=MSG),
        ),
    )
    _row(
        "responses sync",
        *_interleaved(
            lambda: raw.responses.create(model="gpt-5.5", input="hi"),
            lambda: wrapped.responses.create(model="gpt-5.5", input="hi"),
        ),
    )


def bench_anthropic() -> None:
    from llmfinops.testing.anthropic import anthropic_client, async_anthropic_client

    kw: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 512, "messages": MSG}
    mk = _anthropic_fake

    raw, wrapped = anthropic_client(mk()), llmfinops.wrap(anthropic_client(mk()))
    araw, awrapped = async_anthropic_client(mk()), llmfinops.wrap(async_anthropic_client(mk()))
    print("Anthropic (anthropic {})".format(__import__("anthropic").__version__))
    _row(
        "messages.create sync",
        *_interleaved(lambda: raw.messages.create(**kw), lambda: wrapped.messages.create(**kw)),
    )
    _row(
        "messages.create stream",
        *_interleaved(
            lambda: list(raw.messages.create(stream=True, **kw)),
            lambda: list(wrapped.messages.create(stream=True, **kw)),
        ),
    )

    def manager(c: Any) -> None:
        with c.messages.stream(**kw) as s:
            s.get_final_message()

    _row("messages.stream manager", *_interleaved(lambda: manager(raw), lambda: manager(wrapped)))
    _row(
        "messages.create async",
        *_ainterleaved(lambda: araw.messages.create(**kw), lambda: awrapped.messages.create(**kw)),
    )

    async def astream(c: Any) -> None:
        async for _ in await c.messages.create(stream=True, **kw):
            pass

    _row("messages.create async stream", *_ainterleaved(lambda: astream(araw), lambda: astream(awrapped)))


def bench_google() -> None:
    from llmfinops.testing.google import google_client

    raw = google_client(_google_fake())
    wrapped = llmfinops.wrap(google_client(_google_fake()))
    print("Google (google-genai {})".format(__import__("google.genai", fromlist=["__version__"]).__version__))
    _row(
        "generate_content sync",
        *_interleaved(
            lambda: raw.models.generate_content(model="gemini-2.5-flash", contents="hi"),
            lambda: wrapped.models.generate_content(model="gemini-2.5-flash", contents="hi"),
        ),
    )

    def consume(c: Any) -> None:
        for _ in c.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
            pass

    _row("generate_content stream", *_interleaved(lambda: consume(raw), lambda: consume(wrapped)))
    _row(
        "generate_content async",
        *_ainterleaved(
            lambda: raw.aio.models.generate_content(model="gemini-2.5-flash", contents="hi"),
            lambda: wrapped.aio.models.generate_content(model="gemini-2.5-flash", contents="hi"),
        ),
    )

    async def aconsume(c: Any) -> None:
        async for _ in await c.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
            pass

    _row("generate_content async stream", *_ainterleaved(lambda: aconsume(raw), lambda: aconsume(wrapped)))


def _sustained(name: str, raw: Callable[[], Any], wrapped: Callable[[], Any]) -> None:
    """Mean per call over blocks of calls, raw and wrapped alternating; a wrapped block ends with
    ``llmfinops.flush()``, so the writer's work on its records is counted in it. Collections by
    CPython's cyclic garbage collector are counted (and timed) on the side during which they ran."""
    import gc

    block, blocks = (200, 6) if QUICK else (1000, 10)
    for _ in range(200):
        raw()
        wrapped()
    llmfinops.flush()
    side = ["raw"]
    started = [0.0]
    pauses = {"raw": [0, 0, 0, 0.0], "wrapped": [0, 0, 0, 0.0]}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            p = pauses[side[0]]
            p[info["generation"]] += 1
            p[3] += time.perf_counter() - started[0]

    total = {"raw": 0.0, "wrapped": 0.0}
    gc.callbacks.append(on_gc)
    try:
        for i in range(blocks):
            for s, fn in (
                (("raw", raw), ("wrapped", wrapped)) if i % 2 == 0 else (("wrapped", wrapped), ("raw", raw))
            ):
                side[0] = s
                t0 = time.perf_counter()
                for _ in range(block):
                    fn()
                if s == "wrapped":
                    llmfinops.flush()
                total[s] += time.perf_counter() - t0
    finally:
        gc.callbacks.remove(on_gc)
    n = block * blocks
    r, w = total["raw"] / n, total["wrapped"] / n
    gr, gw = pauses["raw"], pauses["wrapped"]
    print(
        f"  {name:<30} raw {r * 1e6:8.1f} us   wrapped {w * 1e6:8.1f} us   ratio {w / r:5.3f}  "
        f"(+{(w - r) * 1e6:5.1f} us)   gc per 10k calls raw {gr[0] * 10_000 // n}/{gr[1] * 10_000 // n}/"
        f"{gr[2] * 10_000 // n} ({gr[3] / n * 1e6:.1f} us/call), wrapped {gw[0] * 10_000 // n}/"
        f"{gw[1] * 10_000 // n}/{gw[2] * 10_000 // n} ({gw[3] / n * 1e6:.1f} us/call)"
    )


def bench_sustained() -> None:
    from llmfinops.testing.anthropic import anthropic_client
    from llmfinops.testing.google import google_client
    from llmfinops.testing.openai import openai_client

    def oa() -> Any:
        return openai_client(_openai_fake())

    def an() -> Any:
        return anthropic_client(_anthropic_fake())

    def go() -> Any:
        return google_client(_google_fake())

    kw: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 512, "messages": MSG}
    o_raw, o_w = oa(), llmfinops.wrap(oa())
    a_raw, a_w = an(), llmfinops.wrap(an())
    g_raw, g_w = go(), llmfinops.wrap(go())
    _sustained(
        "openai chat.completions sync",
        lambda: o_raw.chat.completions.create(model="gpt-4o", messages=MSG),
        lambda: o_w.chat.completions.create(model="gpt-4o", messages=MSG),
    )
    _sustained(
        "anthropic messages.create", lambda: a_raw.messages.create(**kw), lambda: a_w.messages.create(**kw)
    )
    _sustained(
        "anthropic messages stream",
        lambda: list(a_raw.messages.create(stream=True, **kw)),
        lambda: list(a_w.messages.create(stream=True, **kw)),
    )
    _sustained(
        "google generate_content",
        lambda: g_raw.models.generate_content(model="gemini-2.5-flash", contents="hi"),
        lambda: g_w.models.generate_content(model="gemini-2.5-flash", contents="hi"),
    )
    _sustained(
        "google generate_content_stream",
        lambda: list(g_raw.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")),
        lambda: list(g_w.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")),
    )


def bench_import() -> None:
    # As installed: bytecode compiled (pip does that at install time). The environment may
    # set PYTHONDONTWRITEBYTECODE, which would make every run compile every module again.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.check_call(
        [sys.executable, "-m", "compileall", "-q", os.path.join(root, "llmfinops")],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    code = "import time; t=time.perf_counter(); import llmfinops; print(time.perf_counter()-t)"
    samples = sorted(
        float(subprocess.check_output([sys.executable, "-c", code], cwd=root, env=env).decode())
        for _ in range(9)
    )
    ms = samples[len(samples) // 2] * 1000
    print(
        f"import llmfinops: {ms:.1f} ms (median of 9 fresh interpreters, bytecode compiled; target <= 50 ms)"
        f"  {'ok' if ms <= 50 else 'OVER TARGET'}"
    )


def bench_cost() -> None:
    t = default_price_table()
    at = datetime(2026, 11, 15, tzinfo=UTC)
    usages = [
        ("openai", "gpt-4o", Usage(input_tokens=1200, cache_read_tokens=1024, output_tokens=300)),
        (
            "anthropic",
            "claude-sonnet-4-5",
            Usage(
                input_tokens=12_000,
                cache_read_tokens=10_000,
                cache_write_tokens=1_000,
                cache_write_by_ttl={"5m": 1_000},
                output_tokens=200,
            ),
        ),
        ("google", "gemini-2.5-pro", Usage(input_tokens=250_000, output_tokens=900, reasoning_tokens=400)),
    ]
    n = 60_000 if QUICK else 300_000
    t0 = time.perf_counter()
    for i in range(n):
        p, m, u = usages[i % 3]
        t.cost(p, m, u, at=at)
    rate = n / (time.perf_counter() - t0)
    print(
        f"cost computations: {rate:,.0f}/s (target >= 200,000/s)  {'ok' if rate >= 200_000 else 'UNDER TARGET'}"
    )


def bench_jsonl() -> None:
    n = 50_000 if QUICK else 200_000
    recs: list[CallRecord] = [
        make_record(team="search", feature="chat", tags={"tenant": "acme"}) for _ in range(1000)
    ]
    with tempfile.TemporaryDirectory() as d:
        w = BackgroundWriter([JSONLSink(os.path.join(d, "calls.jsonl"))], max_queue=n + 1)
        t0 = time.perf_counter()
        for i in range(n):
            w.submit(recs[i % 1000])
        w.close()
        rate = n / (time.perf_counter() - t0)
        size = os.path.getsize(os.path.join(d, "calls.jsonl"))
    print(
        f"JSONL records: {rate:,.0f}/s end to end, submit+serialize+write ({size / n:.0f} B/record; "
        f"target >= 100,000/s)  {'ok' if rate >= 100_000 else 'UNDER TARGET'}"
    )


def main() -> None:
    if PIN and hasattr(os, "sched_setaffinity"):
        # One core for the whole process: the caller and the writer thread share it (as they
        # share the GIL anyway), and the scheduler cannot migrate the benchmark mid-round.
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    with tempfile.TemporaryDirectory() as d:
        llmfinops.configure(sinks=[JSONLSink(os.path.join(d, "bench.jsonl"))], user_id_key="bench")
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
            f"{' (pinned to one)' if PIN else ''}; {ROUNDS} rounds x {BATCH} calls, paired"
        )
        print("\n== wrapped vs raw (same mock transport; records go to a JSONL file) ==")
        bench_openai()
        bench_anthropic()
        bench_google()
        llmfinops.flush()
        print("\n== sustained: mean per call, writer and garbage collections included (gen0/gen1/gen2) ==")
        bench_sustained()
    print("\n== throughput ==")
    bench_import()
    bench_cost()
    bench_jsonl()


if __name__ == "__main__":
    main()
