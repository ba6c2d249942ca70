"""Offline evaluation: replay recorded answers of several models through a cascade policy.

Before turning a cascade on, replay your own logs: for each query, every model's recorded
answer with its correctness label and token counts. The same scorers the live cascade uses
decide which answer is kept; every tried answer is priced with the price table; the result
is compared with always-cheapest and always-strongest, and a threshold sweep draws the
cost/accuracy curve::

    from llmfinops.cascade import no_refusal, token_confidence
    from llmfinops.eval import load_dataset, replay, sweep

    ds = load_dataset("answers.jsonl")
    r = replay(ds, ["gpt-6-luna", "gpt-6.1-sol"], accept=no_refusal() & token_confidence(0.6))
    print(r.table())
    s = sweep(ds, ["gpt-6-luna", "gpt-6.1-sol"], lambda t: no_refusal() & token_confidence(t),
              [0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    print(s.table()); s.best(max_accuracy_loss=0.01)
    open("curve.svg", "w").write(s.to_svg())

From the shell: ``llmfinops eval answers.jsonl --models gpt-6-luna,gpt-6.1-sol
--scorer no_refusal --scorer token_confidence --sweep 0.3:0.8:0.05 --svg curve.svg``
(or ``python -m llmfinops.eval ...``). The file format is in ``docs/eval.md``; a sample
with 150 support queries is ``tests/data/cascade_sample.jsonl``.
"""

from __future__ import annotations

__all__ = [
    "Dataset",
    "EvalQuery",
    "PolicyStats",
    "RecordedAnswer",
    "ReplayResult",
    "Sweep",
    "SweepRow",
    "load_dataset",
    "main",
    "replay",
    "sweep",
]

from ._cli import main
from ._data import Dataset, EvalQuery, RecordedAnswer, load_dataset
from ._replay import PolicyStats, ReplayResult, Sweep, SweepRow, replay, sweep
