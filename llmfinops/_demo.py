"""``llmfinops demo``: a week of a fictional company's LLM traffic, offline, through the real SDKs.

The official ``openai``, ``anthropic`` and ``google-genai`` clients are wrapped with
:func:`llmfinops.wrap` and talk to in-process mock transports that answer with realistic
usage blocks (prompt caching, reasoning/thinking tokens, a retried 429, a failed call,
streams). Every call is priced by the real price table and written as a real record to a
JSONL file; the report at the end is computed from that file.
"""

from __future__ import annotations

__all__ = ["main", "run_demo"]

import argparse
import contextlib
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import llmfinops
from llmfinops.sinks import JSONLSink
from llmfinops.testing import FakeClock

SUPPORT_SYSTEM = "You are Acme's support assistant. " + "Policy text. " * 3300  # ~10k tokens, static
DAYS = 7


@dataclass
class _Traffic:
    """Counters the mock handlers use to answer like a provider would for this workload."""

    rng: random.Random
    clock: FakeClock
    support_calls_this_hour: dict[str, int] = field(default_factory=dict)

    def slow(self, handler: Callable[[Any], Any], low: float, high: float) -> Callable[[Any], Any]:
        """Make ``handler`` take a realistic time (the fake clock advances), so latencies are real-looking."""

        def timed(request: Any) -> Any:
            self.clock.advance(self.rng.uniform(low, high))
            return handler(request)

        return timed


def _openai_clients(t: _Traffic) -> tuple[Any, Any]:
    from llmfinops.testing.openai import OpenAIMock, openai_client

    def usage_for(body: dict[str, Any]) -> dict[str, Any]:
        model = body.get("model", "")
        if model == "text-embedding-3-small":
            return {"prompt_tokens": t.rng.randint(200, 800)}
        if model == "gpt-5.5":  # research assistant: long prompts, reasoning
            prompt = t.rng.randint(6_000, 30_000)
            return {
                "prompt_tokens": prompt,
                "cached_tokens": (prompt // 2 // 128) * 128,
                "completion_tokens": t.rng.randint(800, 3_000),
                "reasoning_tokens": t.rng.randint(300, 700),
            }
        return {"prompt_tokens": t.rng.randint(120, 400), "completion_tokens": t.rng.randint(10, 40)}

    search = llmfinops.wrap(
        openai_client(t.slow(OpenAIMock(usage_for=usage_for), 0.15, 0.6), max_retries=2),
        tags={"team": "search"},
    )
    flaky = OpenAIMock(
        usage_for=usage_for, fail_first=1
    )  # the first research call meets a 429, then succeeds
    research = llmfinops.wrap(
        openai_client(t.slow(flaky, 2.0, 9.0), max_retries=2), tags={"team": "research"}
    )
    return search, research


def _anthropic_client(t: _Traffic, clock: FakeClock) -> Any:
    from llmfinops.testing.anthropic import AnthropicMock, anthropic_client

    def usage_for(body: dict[str, Any]) -> dict[str, Any]:
        # Prompt caching as the API reports it: the first call of a 5-minute window writes
        # the ~10k-token system prompt, the next ones read it.
        window = clock.now().strftime("%Y%m%d%H") + str(clock.now().minute // 5)
        n = t.support_calls_this_hour.get(window, 0)
        t.support_calls_this_hour[window] = n + 1
        cache = (
            {"cache_write_5m": 10_012, "cache_read_tokens": 0}
            if n == 0
            else {"cache_write_5m": 0, "cache_read_tokens": 10_012}
        )
        return {"input_tokens": t.rng.randint(40, 90), "output_tokens": t.rng.randint(120, 260), **cache}

    return llmfinops.wrap(
        anthropic_client(t.slow(AnthropicMock(usage_for=usage_for), 0.8, 2.5), max_retries=2),
        tags={"team": "support"},
    )


def _google_client(t: _Traffic) -> Any:
    from llmfinops.testing.google import GoogleMock, generate_content_response, google_client

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        prompt = t.rng.choice([40_000, 80_000, 150_000, 230_000])  # one in four crosses the 200k tier
        return generate_content_response(
            model_version="gemini-2.5-pro",
            text="The contracts renew on ...",
            prompt_tokens=prompt,
            cached_tokens=(prompt // 4) if prompt < 200_000 else 0,
            candidates_tokens=t.rng.randint(500, 1500),
            thoughts_tokens=t.rng.randint(1000, 4000),
        )

    mock = GoogleMock(script=[answer] * 1000)
    return llmfinops.wrap(google_client(t.slow(mock, 3.0, 15.0)), tags={"team": "research"})


def run_demo(out: Path, *, seed: int = 7, echo: Callable[[str], None] = print) -> Path:
    """Simulate a week of traffic and write the records to ``out`` (replaced). Returns ``out``.

    It configures llmfinops globally (a sink for ``out``, a fake clock) and leaves that in force;
    :func:`main` restores the defaults afterwards.

    Example:
        >>> import tempfile
        >>> out = run_demo(Path(tempfile.mkdtemp(), "calls.jsonl"), echo=lambda s: None)
        >>> llmfinops.reset_defaults()  # undo the demo configuration
        >>> from llmfinops.reports import summarize
        >>> sorted(row.key[0] for row in summarize(out, by="team").rows)
        ['research', 'search', 'support']
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    start = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=DAYS)
    clock = FakeClock(start)
    llmfinops.configure(
        sinks=[JSONLSink(out)], clock=clock, environment="demo", service="acme-app", user_id_key="demo-secret"
    )
    t = _Traffic(rng=random.Random(seed), clock=clock)
    search, research = _openai_clients(t)
    support = _anthropic_client(t, clock)
    gemini = _google_client(t)
    from openai import InternalServerError

    from llmfinops.testing.openai import OpenAIMock, openai_client

    broken = llmfinops.wrap(
        openai_client(t.slow(OpenAIMock(error_status=500), 0.5, 1.0), max_retries=1),
        tags={"team": "research"},
    )

    calls = 0
    for day in range(DAYS):
        clock.set(start + timedelta(days=day))
        volume = 1.0 if (start + timedelta(days=day)).weekday() < 5 else 0.4  # quieter weekends
        for minute in range(0, 10 * 60, 6):  # a working day, a tick every 6 minutes
            clock.set(start + timedelta(days=day, minutes=minute))
            if t.rng.random() > volume:
                continue
            user = f"user-{t.rng.randint(1, 40)}"
            with llmfinops.tags(feature="support-bot", user_id=user):
                support.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=400,
                    system=[{"type": "text", "text": SUPPORT_SYSTEM, "cache_control": {"type": "ephemeral"}}],
                    messages=[{"role": "user", "content": "Where is my order #1234?"}],
                )
                calls += 1
            if t.rng.random() < 0.5:
                with llmfinops.tags(feature="support-bot", user_id=user):
                    # a follow-up within the cache window, streamed
                    with support.messages.stream(
                        model="claude-sonnet-4-6",
                        max_tokens=400,
                        system=[
                            {"type": "text", "text": SUPPORT_SYSTEM, "cache_control": {"type": "ephemeral"}}
                        ],
                        messages=[{"role": "user", "content": "And can I change the address?"}],
                    ) as s:
                        s.get_final_message()
                    calls += 1
            with llmfinops.tags(feature="autocomplete", user_id=user):
                for _ in search.chat.completions.create(
                    model="gpt-4o-mini",
                    stream=True,
                    max_completion_tokens=60,
                    messages=[{"role": "user", "content": "complete: how do I reset my pass"}],
                ):
                    pass
                search.embeddings.create(model="text-embedding-3-small", input=["reset password"])
                calls += 2
            if minute % 60 == 0:
                with llmfinops.tags(feature="analyst", user_id="analyst-1"):
                    research.responses.create(
                        model="gpt-5.5", input="Summarize Q3 churn drivers", max_output_tokens=4_000
                    )
                    calls += 1
                    if minute % 120 == 0:
                        gemini.models.generate_content(
                            model="gemini-2.5-pro", contents="Analyze the attached contracts"
                        )
                        calls += 1
        with llmfinops.tags(feature="analyst", user_id="analyst-1"):
            # the failed call is recorded (status=error, $0); the app handles the error
            with contextlib.suppress(InternalServerError):
                broken.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            calls += 1
    llmfinops.flush()
    echo(
        f"Simulated {calls} calls over {DAYS} days through the real openai, anthropic and google-genai "
        "clients (offline mock transports)."
    )
    with out.open("rb") as fh:
        lines = sum(1 for _ in fh)
    echo(f"Records: {out} ({lines} lines)")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``llmfinops demo``.

    Example:
        >>> import tempfile  # doctest: +SKIP
        >>> main(["--out", str(Path(tempfile.mkdtemp(), "calls.jsonl"))])  # doctest: +SKIP +ELLIPSIS
        Simulated ... calls over 7 days through the real openai, anthropic and google-genai clients ...
        Records: ...calls.jsonl (... lines)
        LLM spend by team, feature, model...
        0
    """
    parser = argparse.ArgumentParser(prog="llmfinops demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("llmfinops-demo/calls.jsonl"),
        help="JSONL file to write (replaced); default: ./llmfinops-demo/calls.jsonl",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--html", type=Path, default=None, help="also write an HTML report here")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        out = run_demo(args.out, seed=args.seed)
    finally:
        llmfinops.reset_defaults()
    _print_report(out, args.html)
    return 0


def _print_report(path: Path, html: Path | None) -> None:
    from llmfinops import reports

    rep = reports.summarize([path], by=("team", "feature", "model"))
    reports.print_report(rep)
    if html is not None:
        reports.write_html([path], html)
        print(f"HTML report: {html}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
