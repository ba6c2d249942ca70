"""Provider-neutral chat input translated to each official SDK, and answers read back.

* OpenAI: ``chat.completions.create`` (default) or ``responses.create`` (``api="responses"``).
* Anthropic: ``messages.create`` with system messages moved to ``system`` and a default
  ``max_tokens`` (the API requires one).
* Google: ``models.generate_content`` with ``contents`` (``assistant`` -> ``model``) and
  ``config.system_instruction``; parameters go into ``config``.

No SDK is imported here: clients are recognised by their class's module.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_ANTHROPIC_MAX_TOKENS",
    "Reply",
    "build_request",
    "call_async",
    "call_in_thread",
    "call_sync",
    "detect_provider",
    "is_async_client",
    "read_reply",
]

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmfinops._internal import is_coroutine_function
from llmfinops.exceptions import ConfigurationError
from llmfinops.providers._base import field

from ._types import Message

DEFAULT_ANTHROPIC_MAX_TOKENS = 1024
"""``max_tokens`` sent to Anthropic when the step's params do not set it (the API requires it)."""

_GOOGLE_FILTERED = frozenset(
    {"SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "RECITATION", "IMAGE_SAFETY"}
)
_ANTHROPIC_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "refusal",
    "tool_use": "tool_calls",
}


def detect_provider(client: object) -> str | None:
    """``openai``, ``anthropic``, ``google`` or ``None``, from the client's class hierarchy.

    Example:
        >>> detect_provider(object()) is None
        True
    """
    mods = {c.__module__ for c in type(client).__mro__}
    for prefix, name in (("openai", "openai"), ("anthropic", "anthropic"), ("google.genai", "google")):
        if any(m == prefix or m.startswith(prefix + ".") for m in mods):
            return name
    return None


def is_async_client(client: object, provider: str) -> bool:
    """Whether an OpenAI/Anthropic client is the async flavour (a Google client serves both)."""
    if provider == "google":
        return False
    return is_coroutine_function(getattr(client, "request", None))


def _split_system(messages: Sequence[Message]) -> tuple[str | None, list[Message]]:
    system = [m["content"] for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    return ("\n\n".join(system) if system else None), rest


def build_request(
    provider: str,
    api: str,
    model: str,
    messages: Sequence[Message],
    params: Mapping[str, Any],
    *,
    want_logprobs: bool,
) -> dict[str, Any]:
    """Keyword arguments for the SDK method of ``provider``/``api``.

    Example:
        >>> kw = build_request("anthropic", "messages", "claude-haiku-5-5",
        ...     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], {},
        ...     want_logprobs=False)
        >>> kw["system"], kw["max_tokens"], kw["messages"]
        ('Be brief.', 1024, [{'role': 'user', 'content': 'Hi'}])
    """
    kwargs = dict(params)
    if provider == "openai" and api == "responses":
        kwargs["model"] = model
        kwargs["input"] = [{"role": m["role"], "content": m["content"]} for m in messages]
        if want_logprobs:
            include = list(kwargs.get("include") or [])
            if "message.output_text.logprobs" not in include:
                include.append("message.output_text.logprobs")
            kwargs["include"] = include
        return kwargs
    if provider == "openai":
        kwargs["model"] = model
        kwargs["messages"] = [{"role": m["role"], "content": m["content"]} for m in messages]
        if want_logprobs and "logprobs" not in kwargs:
            kwargs["logprobs"] = True
        return kwargs
    if provider == "anthropic":
        system, rest = _split_system(messages)
        kwargs.setdefault("max_tokens", DEFAULT_ANTHROPIC_MAX_TOKENS)
        kwargs["model"] = model
        kwargs["messages"] = [{"role": m["role"], "content": m["content"]} for m in rest]
        if system is not None:
            given = kwargs.get("system")
            kwargs["system"] = f"{given}\n\n{system}" if isinstance(given, str) and given else system
        return kwargs
    if provider == "google":
        system, rest = _split_system(messages)
        config = _google_config(kwargs.pop("config", None))
        config.update(kwargs)
        if system is not None:
            config["system_instruction"] = system
        if want_logprobs:
            config.setdefault("response_logprobs", True)
        contents = [
            {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
            for m in rest
        ]
        out: dict[str, Any] = {"model": model, "contents": contents}
        if config:
            out["config"] = config
        return out
    raise ConfigurationError(f"cascade: unsupported provider {provider!r}")


def _google_config(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    dump = getattr(config, "model_dump", None)
    if callable(dump):
        return dict(dump(exclude_none=True))
    raise ConfigurationError(
        f"google step: params['config']={config!r} must be a dict or GenerateContentConfig"
    )


def _method(client: Any, provider: str, api: str, *, aio: bool) -> Any:
    if provider == "openai":
        return client.responses.create if api == "responses" else client.chat.completions.create
    if provider == "anthropic":
        return client.messages.create
    models = client.aio.models if aio else client.models
    return models.generate_content


def call_sync(client: Any, provider: str, api: str, kwargs: dict[str, Any]) -> Any:
    """Make the SDK call (sync clients; Google through ``client.models``)."""
    return _method(client, provider, api, aio=False)(**kwargs)


async def call_in_thread(client: Any, provider: str, api: str, kwargs: dict[str, Any]) -> Any:
    """Make a sync client's call in a worker thread (the context, hence the hop, goes along)."""
    import asyncio  # lazily: only async runs need it, and it is slow to import

    return await asyncio.to_thread(call_sync, client, provider, api, kwargs)


async def call_async(client: Any, provider: str, api: str, kwargs: dict[str, Any]) -> Any:
    """Make the SDK call (async clients; Google through ``client.aio.models``)."""
    return await _method(client, provider, api, aio=True)(**kwargs)


@dataclass(frozen=True, slots=True)
class Reply:
    """What an SDK response says, provider-neutral."""

    text: str
    logprobs: tuple[float, ...] | None
    finish_reason: str | None
    refusal: str | None


def _floats(items: Any, name: str) -> list[float]:
    out: list[float] = []
    for it in items or ():
        v = field(it, name)
        if isinstance(v, int | float) and not math.isnan(v):
            out.append(float(v))
    return out


def read_reply(provider: str, api: str, response: Any) -> Reply:
    """Read text, token logprobs, finish reason and refusal from an SDK response.

    Example:
        >>> r = read_reply("openai", "chat", {"choices": [{"message": {"content": "Hi", "refusal": None},
        ...     "finish_reason": "stop", "logprobs": {"content": [{"token": "Hi", "logprob": -0.01}]}}]})
        >>> (r.text, r.logprobs, r.finish_reason)
        ('Hi', (-0.01,), 'stop')
    """
    if provider == "openai" and api == "responses":
        return _read_responses(response)
    if provider == "openai":
        choices = field(response, "choices") or []
        if not choices:
            return Reply("", None, None, None)
        choice = choices[0]
        msg = field(choice, "message")
        text = field(msg, "content")
        refusal = field(msg, "refusal")
        lp = field(field(choice, "logprobs"), "content")
        logprobs = tuple(_floats(lp, "logprob")) if lp else None
        finish = field(choice, "finish_reason")
        return Reply(
            text if isinstance(text, str) else "",
            logprobs,
            finish if isinstance(finish, str) else None,
            refusal if isinstance(refusal, str) and refusal else None,
        )
    if provider == "anthropic":
        parts = [field(b, "text") for b in field(response, "content") or () if field(b, "type") == "text"]
        stop = field(response, "stop_reason")
        finish = _ANTHROPIC_FINISH.get(stop, stop) if isinstance(stop, str) else None
        return Reply("".join(p for p in parts if isinstance(p, str)), None, finish, None)
    return _read_google(response)


def _read_responses(response: Any) -> Reply:
    texts: list[str] = []
    logprobs: list[float] = []
    saw_logprobs = False
    refusal: str | None = None
    for item in field(response, "output") or ():
        if field(item, "type") != "message":
            continue
        for part in field(item, "content") or ():
            kind = field(part, "type")
            if kind == "output_text":
                t = field(part, "text")
                texts.append(t if isinstance(t, str) else "")
                lp = field(part, "logprobs")
                if lp:
                    saw_logprobs = True
                    logprobs.extend(_floats(lp, "logprob"))
            elif kind == "refusal":
                r = field(part, "refusal")
                refusal = r if isinstance(r, str) else "refused"
    status = field(response, "status")
    finish: str | None = "stop" if status == "completed" else None
    if status == "incomplete":
        reason = field(field(response, "incomplete_details"), "reason")
        finish = {"max_output_tokens": "length", "content_filter": "content_filter"}.get(reason, "length")
    return Reply("".join(texts), tuple(logprobs) if saw_logprobs else None, finish, refusal)


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    name = getattr(value, "value", value)
    return str(name).upper()


def _read_google(response: Any) -> Reply:
    candidates = field(response, "candidates") or []
    if not candidates:
        blocked = _enum_name(field(field(response, "prompt_feedback"), "block_reason"))
        return Reply("", None, "content_filter" if blocked else None, None)
    cand = candidates[0]
    parts = field(field(cand, "content"), "parts") or ()
    text = "".join(t for p in parts if not field(p, "thought") and isinstance(t := field(p, "text"), str))
    chosen = field(field(cand, "logprobs_result"), "chosen_candidates")
    logprobs = tuple(_floats(chosen, "log_probability")) if chosen else None
    raw = _enum_name(field(cand, "finish_reason"))
    finish: str | None
    if raw is None:
        finish = None
    elif raw == "STOP":
        finish = "stop"
    elif raw == "MAX_TOKENS":
        finish = "length"
    elif raw in _GOOGLE_FILTERED:
        finish = "content_filter"
    else:
        finish = raw.lower()
    return Reply(text, logprobs, finish, None)
