"""``llmfinops eval``: replay recorded answers through a cascade policy from the command line.

Also runnable as ``python -m llmfinops.eval``.
"""

from __future__ import annotations

__all__ = ["add_arguments", "main", "run"]

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from llmfinops.cascade import ComplexityRouter, no_refusal, self_confidence, token_confidence
from llmfinops.cascade._scorers import Scorer
from llmfinops.exceptions import ConfigurationError

_SCORERS = ("token_confidence", "self_confidence", "no_refusal")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``eval`` options to ``parser`` (used by the main ``llmfinops`` CLI)."""
    parser.add_argument("dataset", help="recorded answers, .jsonl or .csv (format: docs/eval.md)")
    parser.add_argument(
        "--models",
        required=True,
        help="cascade order, cheapest first, comma-separated (e.g. gpt-6-luna,gpt-6.1-sol)",
    )
    parser.add_argument(
        "--scorer",
        action="append",
        choices=_SCORERS,
        default=None,
        help="accept scorer; repeat to combine with & (default: no_refusal)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="threshold of token_confidence / self_confidence (default 0.5 / 0.8)",
    )
    parser.add_argument("--quantile", type=float, default=0.1, help="token_confidence quantile (default 0.1)")
    parser.add_argument(
        "--on-unknown",
        choices=("escalate", "accept"),
        default="escalate",
        help="verdict when a scorer cannot tell (default escalate)",
    )
    parser.add_argument("--route", action="store_true", help="start each query with ComplexityRouter()")
    parser.add_argument(
        "--sweep", default=None, help="thresholds to sweep: 'start:stop:step' or a comma-separated list"
    )
    parser.add_argument(
        "--max-accuracy-loss",
        type=float,
        default=0.01,
        help="with --sweep: recommend the cheapest threshold within this of always-strongest",
    )
    parser.add_argument("--at", default=None, help="price every call at this date (YYYY-MM-DD, UTC)")
    parser.add_argument("--svg", default=None, help="with --sweep: write the cost/accuracy curve here")


def _thresholds(spec: str) -> list[float]:
    try:
        if ":" in spec:
            start, stop, step = (float(x) for x in spec.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            n = round((stop - start) / step)
            return [round(start + i * step, 6) for i in range(n + 1)]
        return [float(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise ConfigurationError(
            f"--sweep {spec!r}: use start:stop:step (e.g. 0.1:0.9:0.1) or a list (0.3,0.5,0.7)"
        ) from None


def _factory(names: Sequence[str], quantile: float) -> tuple[Callable[[float | None], Scorer], str | None]:
    thresholded = next((n for n in names if n != "no_refusal"), None)

    def make(t: float | None) -> Scorer:
        parts: list[Scorer] = []
        for n in names:
            if n == "no_refusal":
                parts.append(no_refusal())
            elif n == "token_confidence":
                parts.append(token_confidence(0.5 if t is None else t, quantile=quantile))
            else:
                parts.append(self_confidence(0.8 if t is None else t))
        s = parts[0]
        for p in parts[1:]:
            s = s & p
        return s

    return make, thresholded


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Execute ``eval`` with parsed ``args``; return the exit code."""
    from . import load_dataset, replay, sweep

    stream = out or sys.stdout
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    names = args.scorer or ["no_refusal"]
    make, thresholded = _factory(names, args.quantile)
    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at).replace(tzinfo=UTC)
        except ValueError:
            raise ConfigurationError(f"--at {args.at!r}: use YYYY-MM-DD") from None
    start = ComplexityRouter() if args.route else None
    ds = load_dataset(args.dataset)
    kwargs = {"start": start, "on_unknown": args.on_unknown, "at": at}
    label = " & ".join(names) + (" +route" if args.route else "")
    if args.sweep:
        if thresholded is None:
            raise ConfigurationError(
                "--sweep needs a thresholded scorer: --scorer token_confidence or self_confidence"
            )
        result = sweep(ds, models, make, _thresholds(args.sweep), label=label, **kwargs)
        print(f"{len(ds)} queries from {ds.source}; sweeping the {thresholded} threshold\n", file=stream)
        print(result.table(), file=stream)
        best = result.best(args.max_accuracy_loss)
        if best is None:
            print(
                f"\nno threshold is within {args.max_accuracy_loss:.1%} of always-{models[-1]}", file=stream
            )
        else:
            s = best.stats
            saving = 1 - s.cost_usd / result.strongest.cost_usd
            print(
                f"\nrecommended: t={best.threshold:g} -> accuracy {s.accuracy:.1%}, cost ${s.cost_usd:.6f} "
                f"({float(saving):.1%} cheaper than always-{models[-1]}), "
                f"escalation rate {s.escalation_rate:.1%}",
                file=stream,
            )
        if args.svg:
            Path(args.svg).write_text(result.to_svg(), encoding="utf-8")
            print(f"wrote {args.svg}", file=stream)
        return 0
    r = replay(ds, models, accept=make(args.threshold), name=label, **kwargs)
    print(f"{len(ds)} queries from {ds.source}\n", file=stream)
    print(r.table(), file=stream)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m llmfinops.eval``.

    Example:
        >>> from pathlib import Path
        >>> import llmfinops
        >>> sample = Path(llmfinops.__file__).parents[1] / "tests/data/cascade_sample.jsonl"
        >>> main([str(sample), "--models", "gpt-6-luna,gpt-6.1-sol"])  # doctest: +ELLIPSIS
        150 queries from ...cascade_sample.jsonl
        <BLANKLINE>
        policy             accuracy   cost USD $ / 1k q vs strongest escalated
        ----------------------------------------------------------------------
        always gpt-6-luna     80.7%   0.011186   0.0746       -95.2%         -
        always gpt-6.1-sol    94.7%   0.234192   1.5613        +0.0%         -
        no_refusal            87.3%   0.045136   0.3009       -80.7%     11.3%
        0
    """
    parser = argparse.ArgumentParser(
        prog="llmfinops eval", description="Replay recorded answers through a cascade policy (docs/eval.md)."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ConfigurationError as exc:
        print(f"llmfinops eval: {exc}", file=sys.stderr)
        return 2
