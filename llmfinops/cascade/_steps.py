"""Cascade steps: a model on a wrapped SDK client, a free matcher, or your own function."""

from __future__ import annotations

__all__ = ["BaseStep", "FunctionStep", "Match", "Step", "StepLike", "as_step"]

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

from llmfinops._internal import is_awaitable, is_coroutine_function
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
from ._scorers import Scorer, ScorerLike, as_scorer
from ._types import Answer, Message, last_user_text

_RESERVED = {
    "openai": ("model", "messages", "input", "stream"),
    "anthropic": ("model", "messages", "stream"),
    "google": ("model", "contents"),
}


class BaseStep:
    """Common interface of steps (see :class:`Step`, :class:`Match`, :class:`FunctionStep`)."""

    kind: Literal["model", "match", "function"] = "model"
    name: str = "step"
    accept: Scorer | None = None
    """Overrides the cascade's ``accept`` for this step."""
    provider: str | None = None
    model: str | None = None
    auto_name: bool = False
    """The name was derived, not given (a cascade numbers repeated derived names)."""

    def answer(self, messages: tuple[Message, ...], index: int, want_logprobs: bool) -> Answer | None:
        """Produce an answer (sync), or ``None`` to pass the input on."""
        raise NotImplementedError

    async def aanswer(self, messages: tuple[Message, ...], index: int, want_logprobs: bool) -> Answer | None:
        """Produce an answer (async)."""
        return self.answer(messages, index, want_logprobs)

    def check_sync(self, index: int) -> None:
        """Raise a ``ConfigurationError`` when the step cannot run in ``Cascade.run``."""


class Step(BaseStep):
    """A model on a wrapped OpenAI, Anthropic or Google client.

    Args:
        client: A client passed through :func:`llmfinops.wrap` (so every hop is priced, budgeted
            and recorded). ``OpenAI``/``Anthropic`` for ``run``, ``AsyncOpenAI``/``AsyncAnthropic``
            for ``arun`` (sync clients also work in ``arun``, in a worker thread); a
            ``genai.Client`` serves both.
        model: The model id.
        api: OpenAI only: ``"chat"`` (Chat Completions, default) or ``"responses"``.
        params: Extra arguments for the SDK call (``temperature``, ``max_tokens``,
            ``max_completion_tokens``...); for Google they go into ``config``.
        accept: Scorer for this step's answers instead of the cascade's.
        name: Step name in results, stats and errors (default ``provider:model``).

    Raises:
        ConfigurationError: The client is not a supported SDK client, is not wrapped, or
            ``params`` sets something the cascade owns (``model``, ``messages``, ``stream``...).

    Example:
        >>> import llmfinops
        >>> from llmfinops.testing.openai import openai_client
        >>> s = Step(llmfinops.wrap(openai_client()), "gpt-6-luna", params={"temperature": 0})
        >>> s.name
        'openai:gpt-6-luna'
    """

    kind: Literal["model", "match", "function"] = "model"

    def __init__(
        self,
        client: Any,
        model: str,
        /,
        *,
        api: Literal["chat", "responses"] | None = None,
        params: Mapping[str, Any] | None = None,
        accept: ScorerLike | None = None,
        name: str | None = None,
    ) -> None:
        provider = detect_provider(client)
        if provider is None:
            raise ConfigurationError(
                f"Step(client={type(client).__qualname__}): not an OpenAI, Anthropic or google-genai client; "
                "use FunctionStep(fn) for anything else"
            )
        if runtime_of(client) is None:
            raise ConfigurationError(
                f"Step({provider}:{model}): the client is not wrapped, so its hops could not be priced, "
                "budgeted or recorded; pass llmfinops.wrap(client)"
            )
        if not isinstance(model, str) or not model:
            raise ConfigurationError(f"Step: model={model!r} must be a non-empty str")
        if api is not None and (provider != "openai" or api not in ("chat", "responses")):
            raise ConfigurationError(
                f"Step({provider}:{model}): api={api!r}; only OpenAI steps take api='chat' or 'responses'"
            )
        p = dict(params or {})
        bad = [k for k in _RESERVED[provider] if k in p and not (k == "stream" and p[k] is False)]
        if bad:
            raise ConfigurationError(
                f"Step({provider}:{model}): params sets {bad}; the cascade sends the model and messages "
                "itself "
                "and cannot stream (each answer is scored before it is returned)"
            )
        if provider == "google" and "stream" in p:
            raise ConfigurationError(
                f"Step({provider}:{model}): params sets 'stream'; cascade steps cannot stream"
            )
        self.client = client
        self.model = model
        self.provider = provider
        self.api = api or (
            "chat" if provider == "openai" else "messages" if provider == "anthropic" else "generate"
        )
        self.params = p
        self.accept = as_scorer(accept) if accept is not None else None
        self.name = name or f"{provider}:{model}"
        self.auto_name = name is None
        self.is_async = is_async_client(client, provider)

    def check_sync(self, index: int) -> None:
        """Async clients cannot serve :meth:`Cascade.run`."""
        if self.is_async:
            raise ConfigurationError(
                f"cascade step {index} ({self.name}) uses an async client; call `await cascade.arun(...)` "
                "or give the step a sync client"
            )

    def _answer(self, response: Any, messages: tuple[Message, ...], index: int) -> Answer:
        assert self.provider is not None
        reply = read_reply(self.provider, self.api, response)
        return Answer(
            text=reply.text,
            query=last_user_text(messages),
            messages=messages,
            step=index,
            provider=self.provider,
            model=self.model,
            response=response,
            logprobs=reply.logprobs,
            finish_reason=reply.finish_reason,
            refusal=reply.refusal,
        )

    def answer(self, messages: tuple[Message, ...], index: int, want_logprobs: bool) -> Answer:
        """Call the model and read its answer."""
        assert self.provider is not None
        assert self.model is not None
        kwargs = build_request(
            self.provider, self.api, self.model, messages, self.params, want_logprobs=want_logprobs
        )
        return self._answer(call_sync(self.client, self.provider, self.api, kwargs), messages, index)

    async def aanswer(self, messages: tuple[Message, ...], index: int, want_logprobs: bool) -> Answer:
        """Call the model (awaiting async clients; sync ones in a worker thread)."""
        assert self.provider is not None
        assert self.model is not None
        kwargs = build_request(
            self.provider, self.api, self.model, messages, self.params, want_logprobs=want_logprobs
        )
        if self.is_async or self.provider == "google":
            response = await call_async(self.client, self.provider, self.api, kwargs)
        else:
            # asyncio.to_thread copies the context, so the hop's contextvar reaches the recorder.
            response = await call_in_thread(self.client, self.provider, self.api, kwargs)
        return self._answer(response, messages, index)


Rules: TypeAlias = "Mapping[str | re.Pattern[str], str] | Callable[[str], str | None]"


class Match(BaseStep):
    """Level 0: answer without any model call, from a keyword/regex table or a function. Costs 0.

    Args:
        rules: ``{keyword_or_pattern: answer}`` checked in order against the last user message
            (a ``str`` key is a case-insensitive whole-word keyword or phrase, an ``re.Pattern``
            key is searched as is), or a function ``(query) -> answer | None``.
        accept: Scorer for matched answers (default: matched answers are kept as they are).
        name: Step name (default ``"match"``).

    A matcher hop makes no call, so it writes no record; its hits and misses show in
    :meth:`Cascade.stats` and in :class:`CascadeResult` only.

    Example:
        >>> faq = Match({"opening hours": "We are open 8am-8pm ET, Monday to Friday."})
        >>> faq.answer(({"role": "user", "content": "What are your opening hours?"},), 0, False).text
        'We are open 8am-8pm ET, Monday to Friday.'
    """

    kind: Literal["model", "match", "function"] = "match"

    def __init__(self, rules: Rules, *, accept: ScorerLike | None = None, name: str = "match") -> None:
        self.table: list[tuple[re.Pattern[str], str]] = []
        self.fn: Callable[[str], str | None] | None = None
        if isinstance(rules, Mapping):
            if not rules:
                raise ConfigurationError("Match(rules={}): the table is empty; add {keyword: answer} pairs")
            for key, text in rules.items():
                if not isinstance(text, str):
                    raise ConfigurationError(f"Match: the answer for {key!r} must be a str, not {text!r}")
                if isinstance(key, re.Pattern):
                    self.table.append((key, text))
                elif isinstance(key, str) and key.strip():
                    words = r"\s+".join(re.escape(w) for w in key.split())
                    self.table.append((re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE), text))
                else:
                    raise ConfigurationError(f"Match: key {key!r} must be a non-empty str or re.Pattern")
        elif callable(rules):
            if is_coroutine_function(rules):
                raise ConfigurationError("Match: the rules function must be sync (it should not do I/O)")
            self.fn = rules
        else:
            raise ConfigurationError(f"Match(rules={rules!r}): pass a {{keyword: answer}} dict or a function")
        self.accept = as_scorer(accept) if accept is not None else None
        self.name = name

    def lookup(self, query: str) -> str | None:
        """The canned answer for ``query``, or ``None``."""
        if self.fn is not None:
            got = self.fn(query)
            if got is not None and not isinstance(got, str):
                raise ConfigurationError(
                    f"Match {self.name}: the rules function returned {got!r}; return str or None"
                )
            return got
        for pattern, text in self.table:
            if pattern.search(query):
                return text
        return None

    def answer(self, messages: tuple[Message, ...], index: int, want_logprobs: bool) -> Answer | None:
        """Match the last user message."""
        query = last_user_text(messages)
        text = self.lookup(query)
        if text is None:
            return None
        return Answer(text=text, query=query, messages=messages, step=index, finish_reason="stop")


class FunctionStep(BaseStep):
    """Your own step: full control over the call(s).

    ``fn(messages)`` gets the provider-neutral messages and returns the answer text, an
    :class:`Answer`, an SDK response (OpenAI, Anthropic or Google: text and logprobs are read
    from it), or ``None`` to pass the input on. Calls it makes through wrapped clients are
    priced, budgeted and stamped with the run's ``cascade_id`` like any hop. ``async def``
    functions need :meth:`Cascade.arun`.

    Example:
        >>> s = FunctionStep(lambda messages: "42", name="oracle")
        >>> s.answer(({"role": "user", "content": "?"},), 0, False).text
        '42'
    """

    kind: Literal["model", "match", "function"] = "function"

    def __init__(
        self,
        fn: Callable[[Sequence[Message]], Any],
        *,
        accept: ScorerLike | None = None,
        name: str | None = None,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(
                f"FunctionStep({fn!r}): pass a callable(messages) -> str | Answer | response"
            )
        self.fn = fn
        self.is_async = is_coroutine_function(fn)
        self.accept = as_scorer(accept) if accept is not None else None
        self.name = name or str(getattr(fn, "__name__", "function"))
        self.auto_name = name is None

    def check_sync(self, index: int) -> None:
        """Async functions cannot serve :meth:`Cascade.run`."""
        if self.is_async:
            raise ConfigurationError(
                f"cascade step {index} ({self.name}) is an async function; call `await cascade.arun(...)`"
            )

    def _to_answer(self, value: Any, messages: tuple[Message, ...], index: int) -> Answer | None:
        if value is None:
            return None
        query = last_user_text(messages)
        if isinstance(value, Answer):
            value.step = index
            value.query = value.query or query
            value.messages = value.messages or messages
            return value
        if isinstance(value, str):
            return Answer(text=value, query=query, messages=messages, step=index)
        provider = detect_provider(value)
        if provider is not None:
            api = "chat"
            if (
                provider == "openai"
                and field_present(value, "output")
                and not field_present(value, "choices")
            ):
                api = "responses"
            reply = read_reply(provider, api, value)
            return Answer(
                text=reply.text,
                query=query,
                messages=messages,
                step=index,
                provider=provider,
                model=getattr(value, "model", None) if provider != "google" else None,
                response=value,
                logprobs=reply.logprobs,
                finish_reason=reply.finish_reason,
                refusal=reply.refusal,
            )
        raise ConfigurationError(
            f"FunctionStep {self.name}: returned {type(value).__qualname__}; return str, Answer, an SDK "
            "response or None"
        )

    def answer(self, messages: tuple[Message, ...], index: int, want_logprobs: bool) -> Answer | None:
        """Call the function."""
        return self._to_answer(self.fn(list(messages)), messages, index)

    async def aanswer(self, messages: tuple[Message, ...], index: int, want_logprobs: bool) -> Answer | None:
        """Call (and await) the function."""
        value = self.fn(list(messages))
        if is_awaitable(value):
            value = await value
        return self._to_answer(value, messages, index)


def field_present(obj: Any, name: str) -> bool:
    """Whether an SDK object has a non-``None`` attribute ``name``."""
    return getattr(obj, name, None) is not None


StepLike: TypeAlias = "BaseStep | Callable[[Sequence[Message]], Any]"
"""A step, or a plain callable (made a :class:`FunctionStep`)."""


def as_step(value: object, index: int) -> BaseStep:
    """Normalize one entry of the cascade's step list."""
    if isinstance(value, BaseStep):
        return value
    if callable(value):
        return FunctionStep(value)
    raise ConfigurationError(
        f"cascade: steps[{index}]={value!r} is not a step; use Step(wrapped_client, model), Match({{...}}) "
        "or a function"
    )
