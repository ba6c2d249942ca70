"""Recorded per-query answers of several models: the replay dataset (JSONL or CSV)."""

from __future__ import annotations

__all__ = ["Dataset", "EvalQuery", "RecordedAnswer", "guess_provider", "load_dataset"]

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from llmfinops.exceptions import ConfigurationError

_ANSWER_FIELDS = (
    "text",
    "correct",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "logprobs",
    "confidence",
    "provider",
)


def guess_provider(model: str) -> str | None:
    """The provider of a well-known model id (gpt-/o<n>: openai, claude: anthropic, gemini: google).

    Example:
        >>> guess_provider("claude-haiku-5-5"), guess_provider("llama-70b") is None
        ('anthropic', True)
    """
    m = model.lower()
    if m.startswith(("gpt-", "chatgpt", "text-", "davinci")) or (
        len(m) > 1 and m[0] == "o" and m[1].isdigit()
    ):
        return "openai"
    if m.startswith("claude"):
        return "anthropic"
    if m.startswith("gemini"):
        return "google"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedAnswer:
    """One model's logged answer to one query.

    Example:
        >>> RecordedAnswer(model="gpt-6-luna", provider="openai", text="30 days", correct=True,
        ...                input_tokens=420, output_tokens=12).correct
        True
    """

    model: str
    provider: str
    text: str
    correct: bool
    """The label: was this answer right (human or reference grading)."""
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    logprobs: tuple[float, ...] | None = None
    """Per-token log probabilities of the answer, when logged."""
    confidence: float | None = None
    """Self-reported confidence logged with the answer (read by ``self_confidence``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalQuery:
    """One query and every model's recorded answer.

    Example:
        >>> EvalQuery(id="q1", query="Refund time?", answers={}).query
        'Refund time?'
    """

    id: str
    query: str
    answers: Mapping[str, RecordedAnswer]
    system: str | None = None
    category: str | None = None
    timestamp: datetime | None = None
    """When the answers were produced (prices in force then are used unless ``at=`` is given)."""


@dataclass(frozen=True, slots=True)
class Dataset:
    """Queries with recorded answers; ``models`` lists every model seen, in first-seen order.

    Example:
        >>> len(Dataset(queries=()))
        0
    """

    queries: tuple[EvalQuery, ...]
    models: tuple[str, ...] = field(default=())
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.queries)


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "y", "correct"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "n", "incorrect", "wrong"):
        return False
    raise ConfigurationError(f"{where}: correct={value!r} is not a boolean (use true/false or 1/0)")


def _int(value: Any, where: str, name: str, default: int | None = None) -> int:
    if value in (None, "") and default is not None:
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where}: {name}={value!r} is not a token count") from None
    if n < 0 or (isinstance(value, float) and not value.is_integer()):
        raise ConfigurationError(f"{where}: {name}={value!r} must be a whole number >= 0")
    return n


def _logprobs(value: Any, where: str) -> tuple[float, ...] | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        text = value.strip()
        items: Iterable[Any] = json.loads(text) if text.startswith("[") else text.split()
    elif isinstance(value, Sequence):
        items = value
    else:
        raise ConfigurationError(f"{where}: logprobs={value!r} must be a list of numbers")
    try:
        out = tuple(float(x) for x in items)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where}: logprobs must be numbers") from None
    if any(math.isnan(x) or x > 0 for x in out):
        raise ConfigurationError(f"{where}: logprobs must be <= 0 (log probabilities)")
    return out


def _confidence(value: Any, where: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where}: confidence={value!r} is not a number") from None


def _answer(model: str, data: Mapping[str, Any], where: str) -> RecordedAnswer:
    text = data.get("text", "")
    if not isinstance(text, str):
        raise ConfigurationError(f"{where}: text must be a string")
    provider = data.get("provider") or guess_provider(model)
    if not provider:
        raise ConfigurationError(
            f'{where}: cannot tell the provider of model {model!r}; add "provider": "openai" (or the '
            "provider whose price-table entry prices it) to its answers"
        )
    if "correct" not in data:
        raise ConfigurationError(f"{where}: missing 'correct' (the label the accuracy is computed from)")
    return RecordedAnswer(
        model=model,
        provider=str(provider),
        text=text,
        correct=_bool(data["correct"], where),
        input_tokens=_int(data.get("input_tokens"), where, "input_tokens"),
        output_tokens=_int(data.get("output_tokens"), where, "output_tokens"),
        cached_input_tokens=_int(data.get("cached_input_tokens"), where, "cached_input_tokens", 0),
        logprobs=_logprobs(data.get("logprobs"), where),
        confidence=_confidence(data.get("confidence"), where),
    )


def _query(
    row: Mapping[str, Any], answers: Mapping[str, RecordedAnswer], where: str, index: int
) -> EvalQuery:
    query = row.get("query")
    if not isinstance(query, str) or not query:
        raise ConfigurationError(f"{where}: missing 'query' text")
    ts = row.get("timestamp")
    when: datetime | None = None
    if ts not in (None, ""):
        try:
            when = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(f"{where}: timestamp={ts!r} is not ISO 8601") from None
        if when.tzinfo is None:
            raise ConfigurationError(
                f"{where}: timestamp={ts!r} needs a UTC offset (e.g. 2026-11-20T12:00:00Z)"
            )
    return EvalQuery(
        id=str(row.get("id") or index + 1),
        query=query,
        answers=answers,
        system=row.get("system") or None,
        category=row.get("category") or None,
        timestamp=when,
    )


def _collect(queries: list[EvalQuery], source: str) -> Dataset:
    if not queries:
        raise ConfigurationError(f"{source}: no queries")
    models: list[str] = []
    for q in queries:
        for m in q.answers:
            if m not in models:
                models.append(m)
    return Dataset(tuple(queries), tuple(models), source)


def load_dataset(path: str | Path) -> Dataset:
    """Read recorded answers from ``.jsonl`` or ``.csv`` (format in ``docs/eval.md``).

    JSONL, one query per line::

        {"id": "q1", "query": "How long do refunds take?", "timestamp": "2026-11-18T10:00:00Z",
         "answers": {"gpt-6-luna": {"text": "...", "correct": true, "input_tokens": 512,
                                    "output_tokens": 40, "logprobs": [-0.01, ...], "confidence": 0.9}}}

    CSV: ``id, query[, system, category, timestamp]`` plus ``<model>.<field>`` columns
    (``gpt-6-luna.text``, ``gpt-6-luna.correct``, ``gpt-6-luna.input_tokens``, ...);
    ``logprobs`` as a JSON list or space-separated numbers.

    Raises:
        ConfigurationError: A missing or malformed field, named with its line and model.

    Example:
        >>> from pathlib import Path
        >>> import llmfinops
        >>> sample = Path(llmfinops.__file__).parents[1] / "tests/data/cascade_sample.jsonl"
        >>> ds = load_dataset(sample)  # the sample of a source checkout
        >>> len(ds), ds.models
        (150, ('gpt-6-luna', 'gemini-3.8-flash', 'gpt-6.1-sol'))
        >>> ds.queries[0].answers["gpt-6-luna"].correct
        True
    """
    p = Path(path)
    if not p.exists():
        raise ConfigurationError(f"eval dataset {str(p)!r} does not exist")
    if p.suffix.lower() == ".csv":
        return _load_csv(p)
    return _load_jsonl(p)


def _load_jsonl(p: Path) -> Dataset:
    queries: list[EvalQuery] = []
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{p.name}:{n}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ConfigurationError(f"{where}: not JSON ({exc})") from None
            raw = row.get("answers")
            if not isinstance(raw, dict) or not raw:
                raise ConfigurationError(f"{where}: 'answers' must map model -> answer")
            answers = {str(m): _answer(str(m), a, f"{where} [{m}]") for m, a in raw.items()}
            queries.append(_query(row, answers, where, len(queries)))
    return _collect(queries, str(p))


def _load_csv(p: Path) -> Dataset:
    queries: list[EvalQuery] = []
    with p.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for n, row in enumerate(reader, 2):
            where = f"{p.name}:{n}"
            per_model: dict[str, dict[str, Any]] = {}
            for col, value in row.items():
                if col is None or "." not in col:
                    continue
                model, _, name = col.rpartition(".")
                if name in _ANSWER_FIELDS:
                    per_model.setdefault(model, {})[name] = value
            if not per_model:
                raise ConfigurationError(f"{where}: no '<model>.text' / '<model>.correct' columns")
            answers = {m: _answer(m, a, f"{where} [{m}]") for m, a in per_model.items()}
            queries.append(_query(row, answers, where, len(queries)))
    return _collect(queries, str(p))
