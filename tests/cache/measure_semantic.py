"""Measure the semantic cache's hit and wrong-answer rates on tests/data/paraphrases.jsonl.

Run ``python -m tests.cache.measure_semantic`` (needs ``pip install 'llmfinops[semantic]'``);
it prints the table of docs/response-cache.md. Two measurements per threshold:

* **pairs**: each line's cached question alone in the cache. "Paraphrase hit rate" is the share
  of same-answer pairs served; "near-miss false hits" the share of different-answer pairs served
  (each of those is a wrong answer).
* **whole cache**: every distinct cached question in one partition, each query served by its
  nearest neighbour. A hit is *wrong* when the neighbour's answer differs from the query's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmfinops.cache.semantic import cosine_scores

DATA = Path(__file__).resolve().parent.parent / "data" / "paraphrases.jsonl"
THRESHOLDS = (0.70, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.95)


def load() -> list[dict[str, object]]:
    """The paraphrase set."""
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Row:
    """Results at one threshold."""

    threshold: float
    pair_hit_rate: float
    pair_false_hit_rate: float
    cache_hits: int
    cache_wrong: int
    cache_answerable: int
    cache_correct: int

    @property
    def cache_wrong_rate(self) -> float:
        """Wrong answers among hits."""
        return self.cache_wrong / self.cache_hits if self.cache_hits else 0.0

    @property
    def cache_hit_rate(self) -> float:
        """Correct hits among queries whose answer is in the cache."""
        return self.cache_correct / self.cache_answerable if self.cache_answerable else 0.0


def measure(
    embed: Callable[[Sequence[str]], Sequence[Sequence[float]]], thresholds: Sequence[float] = THRESHOLDS
) -> tuple[list[Row], dict[str, int]]:
    """Compute every row; also return the set's counts."""
    from llmfinops.cache.semantic import _normalize

    data = load()
    cached = sorted({str(d["cached"]) for d in data})
    answer_of = {str(d["cached"]): str(d["cached_answer"]) for d in data}
    vec = {t: _normalize(v) for t, v in zip(cached, embed(cached), strict=True)}
    queries = [str(d["query"]) for d in data]
    qvec = [_normalize(v) for v in embed(queries)]
    pair_sims = [cosine_scores(q, [vec[str(d["cached"])]])[0] for d, q in zip(data, qvec, strict=True)]
    matrix = [vec[t] for t in cached]
    nearest = []
    for q in qvec:
        scores = cosine_scores(q, matrix)
        i = max(range(len(scores)), key=scores.__getitem__)
        nearest.append((cached[i], scores[i]))
    answers = set(answer_of.values())
    same = [d for d in data if d["same_answer"]]
    diff = [d for d in data if not d["same_answer"]]
    rows = []
    for t in thresholds:
        pair_hits_same = sum(1 for d, s in zip(data, pair_sims, strict=True) if d["same_answer"] and s >= t)
        pair_hits_diff = sum(
            1 for d, s in zip(data, pair_sims, strict=True) if not d["same_answer"] and s >= t
        )
        hits = wrong = correct = 0
        answerable = 0
        for d, (text, s) in zip(data, nearest, strict=True):
            qa = str(d["query_answer"])
            if qa in answers:
                answerable += 1
            if s < t:
                continue
            hits += 1
            if answer_of[text] == qa:
                correct += 1
            else:
                wrong += 1
        rows.append(
            Row(t, pair_hits_same / len(same), pair_hits_diff / len(diff), hits, wrong, answerable, correct)
        )
    return rows, {"pairs": len(data), "same": len(same), "near_miss": len(diff), "cached": len(cached)}


def table(rows: Sequence[Row]) -> str:
    """The markdown table of docs/response-cache.md."""
    out = [
        "| threshold | paraphrase hit rate (pairs) | near-miss false hits (pairs) "
        "| whole cache: hits | wrong answers among hits | correct-hit rate |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.threshold:.2f} | {r.pair_hit_rate:.0%} | {r.pair_false_hit_rate:.0%} | {r.cache_hits} "
            f"| {r.cache_wrong} ({r.cache_wrong_rate:.0%}) | {r.cache_hit_rate:.0%} |"
        )
    return "\n".join(out)


def main() -> None:
    """Print the counts and the table for the bundled embedder."""
    from llmfinops.cache.semantic import minilm_embedder

    rows, counts = measure(minilm_embedder())
    print(counts)
    print(table(rows))


if __name__ == "__main__":
    main()
