"""Confidence scorers: token log probabilities (a low quantile) and self-reported confidence."""

from __future__ import annotations

__all__ = ["quantile", "self_confidence", "token_confidence"]

import math
from collections.abc import Sequence

from ._scorers import Scorer, Unknown, _check_unit, _check_unknown, _resolve, extract_json
from ._types import Answer, Score


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile with linear interpolation between order statistics (numpy's default).

    Example:
        >>> quantile([0.1, 0.5, 0.9, 1.0], 0.1)
        0.22
    """
    if not values:
        raise ValueError("quantile of no values")
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return round(s[lo] + (s[hi] - s[lo]) * (pos - lo), 12)


class _TokenConfidence(Scorer):
    needs_logprobs = True

    def __init__(self, threshold: float, q: float, on_unknown: Unknown | None) -> None:
        self.threshold = _check_unit("token_confidence()", "threshold", threshold)
        self.q = _check_unit("token_confidence()", "quantile", q)
        _check_unknown("token_confidence()", on_unknown)
        self.on_unknown = on_unknown
        self.name = f"token_confidence(p{round(self.q * 100):d} >= {self.threshold:g})"

    def score(self, answer: Answer) -> Score:
        if not answer.logprobs:
            why = "no logprobs" if answer.provider != "anthropic" else "Anthropic returns no logprobs"
            return _resolve(Score(None, reason=f"{self.name}: cannot tell ({why})"), self.on_unknown)
        probs = [math.exp(lp) if lp > -700 else 0.0 for lp in answer.logprobs]
        v = quantile(probs, self.q)
        ok = v >= self.threshold
        return Score(
            ok,
            v,
            f"token_confidence: p{round(self.q * 100):d} token probability {v:.3f} "
            f"{'>=' if ok else '<'} {self.threshold:g}",
        )


def token_confidence(
    threshold: float = 0.5, *, quantile: float = 0.1, on_unknown: Unknown | None = None
) -> Scorer:
    """Keep answers whose weakest tokens are still likely: the ``quantile`` of token probabilities.

    The 10th percentile of ``exp(logprob)`` over the answer's tokens is compared with
    ``threshold``. A quantile, unlike the mean, is not diluted by long answers full of easy
    tokens. The cascade asks for logprobs automatically (OpenAI ``logprobs=True``, Responses
    ``include=["message.output_text.logprobs"]``, Google ``response_logprobs=True``).
    Anthropic returns none: the verdict is "cannot tell", resolved by ``on_unknown`` here or
    by the cascade's ``on_unknown`` (default: escalate).

    Args:
        threshold: Minimum probability in [0, 1].
        quantile: Which quantile of the token probabilities, in [0, 1] (0 = the least likely token).
        on_unknown: ``"accept"`` / ``"escalate"`` when there are no logprobs; ``None`` defers to the cascade.

    Example:
        >>> import math
        >>> a = Answer(text="30 days", logprobs=(math.log(0.99), math.log(0.95), math.log(0.4)))
        >>> token_confidence(0.5).score(a).accepted
        True
    """
    return _TokenConfidence(threshold, quantile, on_unknown)


class _SelfConfidence(Scorer):
    def __init__(self, threshold: float, field: str, on_unknown: Unknown | None) -> None:
        self.threshold = _check_unit("self_confidence()", "threshold", threshold)
        _check_unknown("self_confidence()", on_unknown)
        self.field = field
        self.on_unknown = on_unknown
        self.name = f"self_confidence({field} >= {self.threshold:g})"

    def score(self, answer: Answer) -> Score:
        value: object = answer.reported_confidence
        if value is None:
            try:
                data = extract_json(answer.text)
            except ValueError:
                data = None
            value = data.get(self.field) if isinstance(data, dict) else None
        if isinstance(value, str):
            try:
                value = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            return _resolve(
                Score(None, reason=f"{self.name}: no numeric {self.field!r} field"), self.on_unknown
            )
        v = float(value)
        if 1.0 < v <= 100.0:
            v /= 100.0  # "confidence": 85 means 85 %
        ok = v >= self.threshold
        return Score(ok, v, f"self_confidence: {self.field}={v:g} {'>=' if ok else '<'} {self.threshold:g}")


def self_confidence(
    threshold: float = 0.8, *, field: str = "confidence", on_unknown: Unknown | None = None
) -> Scorer:
    """Keep answers whose self-reported confidence (a JSON field) is at least ``threshold``.

    Ask the model for JSON such as ``{"answer": ..., "confidence": 0.0-1.0}``. Values above 1
    and up to 100 are read as percentages. A missing field is "cannot tell".

    Example:
        >>> self_confidence(0.85).score(Answer(text='{"answer": "billing", "confidence": 0.91}')).accepted
        True
    """
    return _SelfConfidence(threshold, field, on_unknown)
