"""Cascade test fixtures: pinned clock, per-model scripted OpenAI answers."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import llmfinops
from llmfinops import _recorder
from llmfinops.testing import FakeClock
from llmfinops.testing._sse import json_response
from llmfinops.testing.openai import chat_completion

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _pinned_clock() -> FakeClock:
    """Price at a fixed instant (gpt-6-luna $0.10/$0.50, gpt-6.1-sol $2/$10 per MTok)."""
    clock = FakeClock(NOW)
    llmfinops.configure(clock=clock)
    return clock


@pytest.fixture
def add_before_call() -> Iterator[Callable[[Any], None]]:
    """Add a global before-call hook for one test; only the hooks added this way are removed after it.

    (Restoring the whole list instead would also drop the budget hooks a ``Budget`` installs once
    per process, and leave the budgets of every later test unenforced.)
    """
    added: list[Any] = []

    def add(hook: Any) -> None:
        _recorder.GLOBAL_BEFORE_CALL.append(hook)
        added.append(hook)

    yield add
    for hook in added:
        _recorder.GLOBAL_BEFORE_CALL.remove(hook)


class Scripted:
    """An OpenAI ``MockTransport`` handler answering per requested model.

    ``answers[model]`` is ``(content, token_probabilities, prompt_tokens, completion_tokens)``
    or an int HTTP error status; logprobs are returned only when the request asks for them.
    """

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: Any) -> Any:
        body = json.loads(request.content)
        self.requests.append(body)
        model = body["model"]
        spec = self.answers[model]
        if callable(spec):
            spec = spec(body)
        if isinstance(spec, int):
            err = {
                "error": {
                    "message": f"error {spec}",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded" if spec == 429 else None,
                }
            }
            return json_response(spec, err, headers={"x-should-retry": "false"})
        content, probs, pt, ct = spec
        data = chat_completion(model=model, content=content, prompt_tokens=pt, completion_tokens=ct)
        if body.get("logprobs") and probs is not None:
            data["choices"][0]["logprobs"] = {
                "content": [
                    {"token": f"t{i}", "logprob": math.log(p), "bytes": None, "top_logprobs": []}
                    for i, p in enumerate(probs)
                ],
                "refusal": None,
            }
        return json_response(200, data, headers={"x-request-id": f"req_{len(self.requests)}"})


@pytest.fixture
def scripted() -> Callable[[dict[str, Any]], tuple[Scripted, Any]]:
    """Build ``(handler, wrapped OpenAI client)`` from per-model answers."""
    from llmfinops.testing.openai import openai_client

    def make(answers: dict[str, Any]) -> tuple[Scripted, Any]:
        handler = Scripted(answers)
        return handler, llmfinops.wrap(openai_client(handler, max_retries=0))

    return make
