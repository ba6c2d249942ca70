"""LLM judge: a cheap model grades an answer. Its calls are hops' costs too."""

from __future__ import annotations

__all__ = ["DEFAULT_JUDGE_PROMPT", "judge"]

import re
from collections.abc import Mapping
from typing import Any, Literal

from llmfinops._context import tags
from llmfinops._wrap import runtime_of
from llmfinops.exceptions import ConfigurationError

from ._providers import (
    build_request,
    call_async,
    call_in_thread,
    call_sync,
    detect_provider,
    is_async_client,
    read_reply,
)
from ._scorers import Scorer, Unknown, _check_unknown, _resolve
from ._types import Answer, Score

DEFAULT_JUDGE_PROMPT = (
    "You grade answers of a customer-support assistant.\n"
    "Question:\n{query}\n\n"
    "Answer:\n{answer}\n\n"
    "Is the answer correct, specific and complete? Reply with one integer from 1 (wrong or useless) "
    "to 10 (correct and complete) and nothing else."
)
"""The default grading prompt; ``{query}`` and ``{answer}`` are replaced (other braces are kept)."""

_GRADE = re.compile(r"(?<!\d)(10|[1-9])(?!\d)")


class _Judge(Scorer):
    makes_calls = True

    def __init__(
        self,
        client: Any,
        model: str,
        threshold: int,
        prompt: str,
        params: Mapping[str, Any],
        api: Literal["chat", "responses"] | None,
        on_unknown: Unknown | None,
    ) -> None:
        provider = detect_provider(client)
        if provider is None:
            raise ConfigurationError(
                f"judge(client={type(client).__qualname__}): not an OpenAI, Anthropic or google-genai client"
            )
        if runtime_of(client) is None:
            raise ConfigurationError(
                f"judge({provider}:{model}): the client is not wrapped, so the judge's cost could not be "
                "counted; pass llmfinops.wrap(client)"
            )
        if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 10:
            raise ConfigurationError(f"judge(): threshold={threshold!r} must be an int grade from 1 to 10")
        if "{answer}" not in prompt:
            raise ConfigurationError("judge(): prompt must contain '{answer}' (and usually '{query}')")
        _check_unknown("judge()", on_unknown)
        self.client = client
        self.model = model
        self.provider = provider
        self.api = api or (
            "chat" if provider == "openai" else "messages" if provider == "anthropic" else "generate"
        )
        self.threshold = threshold
        self.prompt = prompt
        self.params = dict(params)
        self.on_unknown = on_unknown
        self.is_async = is_async_client(client, provider)
        self.name = f"judge({provider}:{model} >= {threshold})"

    def _request(self, answer: Answer) -> dict[str, Any]:
        text = self.prompt.replace("{query}", answer.query).replace("{answer}", answer.text)
        return build_request(
            self.provider,
            self.api,
            self.model,
            [{"role": "user", "content": text}],
            self.params,
            want_logprobs=False,
        )

    def _grade(self, response: Any) -> Score:
        reply = read_reply(self.provider, self.api, response).text
        m = _GRADE.search(reply)
        if m is None:
            return _resolve(Score(None, reason=f"{self.name}: no grade in {reply[:40]!r}"), self.on_unknown)
        grade = int(m.group(1))
        ok = grade >= self.threshold
        return Score(
            ok,
            grade / 10,
            f"judge {self.provider}:{self.model}: grade {grade} {'>=' if ok else '<'} {self.threshold}",
        )

    def score(self, answer: Answer) -> Score:
        if self.is_async:
            raise ConfigurationError(
                f"{self.name} uses an async client; run the cascade with `await c.arun(...)`"
            )
        with tags(cascade_role="judge"):
            return self._grade(call_sync(self.client, self.provider, self.api, self._request(answer)))

    async def ascore(self, answer: Answer) -> Score:
        kwargs = self._request(answer)
        with tags(cascade_role="judge"):
            if self.is_async or self.provider == "google":
                response = await call_async(self.client, self.provider, self.api, kwargs)
            else:
                response = await call_in_thread(self.client, self.provider, self.api, kwargs)
        return self._grade(response)


def judge(
    client: Any,
    model: str,
    *,
    threshold: int = 7,
    prompt: str = DEFAULT_JUDGE_PROMPT,
    params: Mapping[str, Any] | None = None,
    api: Literal["chat", "responses"] | None = None,
    on_unknown: Unknown | None = None,
) -> Scorer:
    """An LLM judge: ``model`` grades the answer from 1 to 10; grades ``>= threshold`` are kept.

    The judge's calls go through the wrapped ``client``: they are budgeted, recorded with the
    run's ``cascade_id`` and the graded step's index (tag ``cascade_role=judge``), and their cost
    is part of the hop's cost. Combine it last (``no_refusal() & judge(...)``) so it only runs
    when the cheap checks pass. A reply without a grade is "cannot tell".

    Args:
        client: A wrapped OpenAI, Anthropic or Google client.
        model: The grading model (a cheap one).
        threshold: Lowest grade kept (1-10).
        prompt: Grading prompt with ``{query}`` and ``{answer}`` placeholders.
        params: Extra SDK arguments (e.g. ``{"max_completion_tokens": 5}``).
        api: OpenAI only: ``"chat"`` or ``"responses"``.
        on_unknown: ``"accept"`` / ``"escalate"`` when no grade can be read.

    Example:
        >>> import llmfinops
        >>> from llmfinops.testing.openai import OpenAIMock, openai_client
        >>> grader = judge(llmfinops.wrap(openai_client(OpenAIMock(content="8")), sinks=[]), "gpt-6-luna")
        >>> grader.score(Answer(text="Within 30 days.", query="Return window?")).accepted
        True
    """
    return _Judge(client, model, threshold, prompt, params or {}, api, on_unknown)
