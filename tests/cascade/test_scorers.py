"""Accept scorers: validators, refusal heuristics, confidence, composition."""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel

from llmfinops.cascade import (
    Answer,
    Score,
    Scorer,
    json_schema,
    no_refusal,
    pydantic_model,
    regex,
    scorer,
    self_confidence,
    token_confidence,
)
from llmfinops.cascade._confidence import quantile
from llmfinops.cascade._scorers import AllOf, AnyOf, as_scorer, extract_json
from llmfinops.exceptions import ConfigurationError, MissingDependencyError


def A(text: str = "ok", **kw) -> Answer:
    return Answer(text=text, **kw)


class Fixed(Scorer):
    """A scorer with a fixed verdict that counts its calls."""

    def __init__(self, verdict: bool | None, name: str) -> None:
        self.verdict = verdict
        self.name = name
        self.calls = 0

    def score(self, answer: Answer) -> Score:
        self.calls += 1
        return Score(self.verdict, None, self.name)


class TestComposition:
    @pytest.mark.parametrize(
        ("a", "b", "both", "either"),
        [
            (True, True, True, True),
            (True, False, False, True),
            (False, None, False, None),
            (True, None, None, True),
            (None, None, None, None),
            (False, False, False, False),
        ],
    )
    def test_three_valued_logic(self, a, b, both, either):
        """& and | follow Kleene logic for 'cannot tell'."""
        assert (Fixed(a, "a") & Fixed(b, "b")).score(A()).accepted is both
        assert (Fixed(a, "a") | Fixed(b, "b")).score(A()).accepted is either

    def test_short_circuit(self):
        """A rejection stops &; an acceptance stops | (the judge is not called)."""
        expensive = Fixed(True, "judge")
        assert (Fixed(False, "cheap") & expensive).score(A()).accepted is False
        assert (Fixed(True, "cheap") | expensive).score(A()).accepted is True
        assert expensive.calls == 0

    def test_flattening_names_and_callables(self):
        """Chains flatten; plain callables compose on either side."""
        c = no_refusal() & regex("x") & (lambda t: True)
        assert isinstance(c, AllOf)
        assert len(c.parts) == 3
        assert c.name == "no_refusal & regex('x') & <lambda>"
        d = (lambda t: False) | regex("o")
        assert isinstance(d, AnyOf)
        assert d.score(A("ok")).accepted is True

    def test_needs_logprobs_propagates(self):
        """A composite needs logprobs when any part does."""
        assert (no_refusal() & token_confidence()).needs_logprobs is True
        assert (no_refusal() | regex("x")).needs_logprobs is False

    async def test_async_composition(self):
        """ascore awaits async callables inside composites."""

        async def slow(text: str) -> float:
            return 0.7

        assert (await (no_refusal() & slow).ascore(A("fine"))).accepted is True
        with pytest.raises(ConfigurationError, match="is async"):
            as_scorer(slow).score(A())


class TestPlainCallables:
    @pytest.mark.parametrize(
        ("value", "accepted"),
        [(True, True), (False, False), (0.5, True), (0.49, False), (None, None), (Score(True), True)],
    )
    def test_return_values(self, value, accepted):
        """bool, numbers (>= 0.5), None and Score are understood."""
        assert as_scorer(lambda t: value).score(A()).accepted is accepted

    def test_bad_return_value(self):
        """Anything else is a configuration error naming the value."""
        with pytest.raises(ConfigurationError, match="returned 'yes'"):
            as_scorer(lambda t: "yes").score(A())

    def test_scorer_decorator_gets_the_answer(self):
        """@scorer functions receive the full Answer and a threshold."""

        @scorer(threshold=0.9)
        def finished(answer: Answer) -> float:
            return 1.0 if answer.finish_reason == "stop" else 0.0

        assert finished.score(A(finish_reason="stop")).accepted is True
        assert finished.score(A(finish_reason="length")).value == 0.0

    def test_not_a_scorer(self):
        """A non-callable accept is rejected."""
        with pytest.raises(ConfigurationError, match="is not a scorer"):
            as_scorer(42)  # type: ignore[arg-type]


class TestValidators:
    def test_regex(self):
        """regex searches; fullmatch checks the stripped text."""
        assert regex(r"\d+ days").score(A("about 30 days")).accepted is True
        assert regex(r"billing|shipping", fullmatch=True).score(A(" shipping\n")).accepted is True
        assert regex(r"billing|shipping", fullmatch=True).score(A("shipping, I think")).accepted is False
        with pytest.raises(ConfigurationError, match="invalid pattern"):
            regex("(")

    def test_extract_json(self):
        """JSON is found whole, fenced, or as the outer object."""
        assert extract_json('{"a": 1}') == {"a": 1}
        assert extract_json('Here:\n```json\n{"a": 2}\n```') == {"a": 2}
        assert extract_json('Result {"a": {"b": 3}} done') == {"a": {"b": 3}}
        with pytest.raises(ValueError, match="no JSON"):
            extract_json("nothing here")

    def test_pydantic_model(self):
        """pydantic_model validates the answer's JSON."""

        class Ticket(BaseModel):
            category: str
            priority: int

        s = pydantic_model(Ticket)
        assert s.score(A('{"category": "billing", "priority": 2}')).accepted is True
        bad = s.score(A('{"category": "billing", "priority": "high"}'))
        assert bad.accepted is False
        assert "pydantic_model(Ticket)" in bad.reason
        assert s.score(A("billing, priority 2")).accepted is False

    def test_json_schema_needs_jsonschema(self):
        """Without the optional jsonschema package the error carries the pip line."""
        try:
            import jsonschema  # noqa: F401
        except ImportError:
            with pytest.raises(MissingDependencyError, match="pip install jsonschema"):
                json_schema({"type": "object"})
        else:
            s = json_schema({"type": "object", "required": ["category"]})
            assert s.score(A('{"category": "x"}')).accepted is True
            assert s.score(A('{"x": 1}')).accepted is False


class TestNoRefusal:
    @pytest.mark.parametrize(
        "text",
        [
            "I'm not sure, but it might be 30 days.",
            "I cannot help with that request.",
            "I don't have access to your order history.",
            "I'm sorry, but I can't share that.",
            "As an AI, I do not know your account.",
            "I would recommend contacting our billing team.",
            "   ",
        ],
    )
    def test_rejects(self, text):
        """Refusals, hedges and blank answers are rejected."""
        assert no_refusal().score(A(text)).accepted is False

    @pytest.mark.parametrize(
        "text",
        [
            "Refunds take 5-7 business days.",
            "You can cancel anytime from Settings > Billing.",
            "Yes. Express shipping arrives in 1-2 business days.",
        ],
    )
    def test_accepts(self, text):
        """Plain answers pass."""
        assert no_refusal().score(A(text)).accepted is True

    def test_provider_signals(self):
        """Provider refusals, filtered and truncated answers are rejected."""
        assert no_refusal().score(A("x", refusal="I can't help")).accepted is False
        assert no_refusal().score(A("x", finish_reason="content_filter")).accepted is False
        assert no_refusal().score(A("x", finish_reason="length")).accepted is False
        assert no_refusal(reject_truncated=False).score(A("x", finish_reason="length")).accepted is True

    def test_extra_patterns(self):
        """Domain phrases can be added."""
        s = no_refusal([r"\bescalat(e|ing) to a human\b"])
        assert s.score(A("I'm escalating to a human agent.")).accepted is False


class TestTokenConfidence:
    def test_quantile_interpolates(self):
        """quantile matches numpy's linear method."""
        assert quantile([0.1, 0.5, 0.9, 1.0], 0.1) == 0.22
        assert quantile([0.3], 0.1) == 0.3
        assert quantile([0.2, 0.4, 0.6, 0.8, 1.0], 0.5) == 0.6

    def test_p10_not_mean(self):
        """A long answer of easy tokens with a few unsure ones is caught by the p10 (the mean is high)."""
        probs = [0.999] * 89 + [0.2] * 11
        a = A("x", logprobs=tuple(math.log(p) for p in probs))
        assert sum(probs) / len(probs) > 0.9
        s = token_confidence(0.5).score(a)
        assert s.accepted is False
        assert s.value == pytest.approx(0.2)

    def test_unknown_without_logprobs(self):
        """No logprobs (Anthropic) is 'cannot tell' unless on_unknown says otherwise."""
        a = A("x", provider="anthropic")
        s = token_confidence(0.5).score(a)
        assert s.accepted is None
        assert "Anthropic returns no logprobs" in s.reason
        assert token_confidence(0.5, on_unknown="accept").score(a).accepted is True
        assert token_confidence(0.5, on_unknown="escalate").score(a).accepted is False

    def test_sentinel_logprob(self):
        """OpenAI's -9999 'very unlikely' counts as probability 0."""
        s = token_confidence(0.5, quantile=0.0).score(A("x", logprobs=(-9999.0, 0.0)))
        assert s.value == 0.0

    @pytest.mark.parametrize(
        ("kw", "msg"),
        [
            ({"threshold": 1.5}, "threshold=1.5"),
            ({"quantile": -1}, "quantile=-1"),
            ({"on_unknown": "maybe"}, "on_unknown='maybe'"),
        ],
    )
    def test_bad_config(self, kw, msg):
        """Thresholds outside [0, 1] are rejected."""
        with pytest.raises(ConfigurationError, match=msg):
            token_confidence(**kw)


class TestSelfConfidence:
    @pytest.mark.parametrize(
        ("text", "accepted", "value"),
        [
            ('{"answer": "billing", "confidence": 0.91}', True, 0.91),
            ('{"answer": "billing", "confidence": 0.6}', False, 0.6),
            ('{"answer": "billing", "confidence": 85}', True, 0.85),
            ('{"answer": "billing", "confidence": "90%"}', True, 0.9),
            ('{"answer": "billing"}', None, None),
            ("billing", None, None),
        ],
    )
    def test_reads_field(self, text, accepted, value):
        """The confidence field is read from the answer's JSON (percentages too)."""
        s = self_confidence(0.8).score(A(text))
        assert (s.accepted, s.value) == (accepted, value)

    def test_reported_confidence_and_field_name(self):
        """A recorded confidence (offline replay) wins; the field name is configurable."""
        assert self_confidence(0.8).score(A("x", reported_confidence=0.95)).accepted is True
        assert self_confidence(0.8, field="p").score(A('{"p": 0.5}')).value == 0.5
