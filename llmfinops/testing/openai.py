"""Realistic OpenAI responses and an ``httpx2.MockTransport`` handler for offline tests and demos.

Example:
    >>> import llmfinops
    >>> from llmfinops.testing.openai import OpenAIMock, openai_client
    >>> mock = OpenAIMock(prompt_tokens=1200, completion_tokens=300, cached_tokens=1024)
    >>> client = llmfinops.wrap(openai_client(mock))
    >>> r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    >>> r.usage.prompt_tokens
    1200
"""

from __future__ import annotations

__all__ = [
    "OpenAIMock",
    "async_openai_client",
    "chat_chunks",
    "chat_completion",
    "embedding_response",
    "openai_client",
    "response_object",
    "responses_events",
]

import json
import time
from collections.abc import Callable
from typing import Any

from ._sse import json_response, sse_body, sse_response


def _usage_chat(
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    cache_write_tokens: int,
    reasoning_tokens: int,
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {
            "cached_tokens": cached_tokens,
            "cache_write_tokens": cache_write_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(
    *,
    model: str = "gpt-4o-2024-08-06",
    content: str = "Hello! How can I help you today?",
    prompt_tokens: int = 20,
    completion_tokens: int = 9,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    service_tier: str | None = "default",
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """A ``chat.completion`` object as the API returns it."""
    return {
        "id": "chatcmpl-AbC123xyz",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_50cad350e4",
        "service_tier": service_tier,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": _usage_chat(
            prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens
        ),
    }


def chat_chunks(
    *,
    model: str = "gpt-4o-2024-08-06",
    content: str = "Hello! How can I help you today?",
    include_usage: bool = True,
    prompt_tokens: int = 20,
    completion_tokens: int = 9,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    service_tier: str | None = "default",
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` sequence of a stream (usage chunk last, with empty choices)."""
    base = {
        "id": "chatcmpl-AbC123xyz",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_50cad350e4",
        "service_tier": service_tier,
    }
    u = None  # content chunks carry "usage": null; only the last chunk has it
    chunks = [
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "", "refusal": None},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
            "usage": u,
        }
    ]
    chunks.extend(
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"content": word + " "}, "logprobs": None, "finish_reason": None}
            ],
            "usage": u,
        }
        for word in content.split(" ")
    )
    chunks.append(
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
            "usage": u,
        }
    )
    if include_usage:
        chunks.append(
            {
                **base,
                "choices": [],
                "usage": _usage_chat(
                    prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens
                ),
            }
        )
    return chunks


def response_object(
    *,
    model: str = "gpt-5.5-2026-08-01",
    content: str = "Here is the answer.",
    input_tokens: int = 50,
    output_tokens: int = 30,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    service_tier: str | None = "default",
    status: str = "completed",
) -> dict[str, Any]:
    """A Responses API ``response`` object."""
    return {
        "id": "resp_68af4030592c81938ec0a5fbab4a3e9f",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_68af40337e",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": content, "annotations": [], "logprobs": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "service_tier": service_tier,
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {
                "cached_tokens": cached_tokens,
                "cache_write_tokens": cache_write_tokens,
            },
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens,
        },
    }


def responses_events(**kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
    """The event sequence of a streamed Responses API call (``response.completed`` carries usage)."""
    final = response_object(**kwargs)
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    msg = final["output"][0]
    text = msg["content"][0]["text"]
    seq = iter(range(10_000))
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"type": "response.created", "sequence_number": next(seq), "response": created}),
        (
            "response.in_progress",
            {"type": "response.in_progress", "sequence_number": next(seq), "response": created},
        ),
        (
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "sequence_number": next(seq),
                "output_index": 0,
                "item": {**msg, "status": "in_progress", "content": []},
            },
        ),
        (
            "response.content_part.added",
            {
                "type": "response.content_part.added",
                "sequence_number": next(seq),
                "item_id": msg["id"],
                "output_index": 0,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            },
        ),
    ]
    for i, word in enumerate(text.split(" ")):
        events.append(
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "sequence_number": next(seq),
                    "item_id": msg["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": word if i == 0 else " " + word,
                    "logprobs": [],
                },
            )
        )
    events += [
        (
            "response.output_text.done",
            {
                "type": "response.output_text.done",
                "sequence_number": next(seq),
                "item_id": msg["id"],
                "output_index": 0,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            },
        ),
        (
            "response.content_part.done",
            {
                "type": "response.content_part.done",
                "sequence_number": next(seq),
                "item_id": msg["id"],
                "output_index": 0,
                "content_index": 0,
                "part": msg["content"][0],
            },
        ),
        (
            "response.output_item.done",
            {
                "type": "response.output_item.done",
                "sequence_number": next(seq),
                "output_index": 0,
                "item": msg,
            },
        ),
    ]
    kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
    events.append((kind, {"type": kind, "sequence_number": next(seq), "response": final}))
    return events


def embedding_response(
    *, model: str = "text-embedding-3-small", inputs: int = 1, prompt_tokens: int = 8
) -> dict[str, Any]:
    """An embeddings ``list`` object."""
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": [0.0023, -0.0091, 0.0154]} for i in range(inputs)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


class OpenAIMock:
    """A ``MockTransport`` handler that answers like the OpenAI API.

    Args:
        prompt_tokens / completion_tokens / cached_tokens / cache_write_tokens / reasoning_tokens:
            The usage to report (``prompt_tokens=None``: about len(request)/4).
        model: Response model (default: the requested model, with a dated suffix for gpt-4o).
        content: Answer text.
        service_tier: Tier to report.
        fail_first: Answer the first N requests with ``fail_status`` (retry tests).
        fail_status: Status of those failures (429 by default, with ``retry-after-ms: 1``).
        error_status: Answer every request with this error status.
        usage_for: ``callable(request_json) -> dict`` of overrides per request.
        keep_requests: Keep every request in ``requests``/``paths`` (set ``False`` for long runs such
            as benchmarks: the lists would grow, and hold every body, for the life of the mock).

    Attributes:
        requests: Parsed JSON bodies of every request received, in order.
        paths: URL paths, in order.
        received: How many requests arrived (kept or not).
    """

    def __init__(
        self,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int = 9,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        model: str | None = None,
        content: str = "Hello! How can I help you today?",
        service_tier: str | None = "default",
        fail_first: int = 0,
        fail_status: int = 429,
        error_status: int | None = None,
        usage_for: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        keep_requests: bool = True,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cached_tokens = cached_tokens
        self.cache_write_tokens = cache_write_tokens
        self.reasoning_tokens = reasoning_tokens
        self.model = model
        self.content = content
        self.service_tier = service_tier
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.error_status = error_status
        self.usage_for = usage_for
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.keep_requests = keep_requests
        self.received = 0

    def __call__(self, request: Any) -> Any:
        """Answer one HTTP request (the ``httpx2.MockTransport`` handler protocol)."""
        body = json.loads(request.content or b"{}")
        self.received += 1
        if self.keep_requests:
            self.requests.append(body)
            self.paths.append(request.url.path)
        if self.error_status is not None or self.received <= self.fail_first:
            status = self.error_status or self.fail_status
            err = {
                "error": {
                    "message": "Rate limit reached" if status == 429 else "The server had an error",
                    "type": "requests" if status == 429 else "server_error",
                    "param": None,
                    "code": "rate_limit_exceeded" if status == 429 else None,
                }
            }
            return json_response(status, err, headers={"retry-after-ms": "1", "x-should-retry": "true"})
        requested = str(body.get("model", "gpt-4o"))
        model = self.model or ("gpt-4o-2024-08-06" if requested == "gpt-4o" else requested)
        prompt = self.prompt_tokens if self.prompt_tokens is not None else max(1, len(request.content) // 4)
        params: dict[str, Any] = {
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "prompt_tokens": prompt,
        }
        if self.usage_for is not None:
            params.update(self.usage_for(body))
        headers = {"x-request-id": f"req_{self.received:08d}"}
        path = request.url.path
        if path.endswith("/embeddings"):
            inputs = body.get("input")
            n = len(inputs) if isinstance(inputs, list) else 1
            return json_response(
                200,
                embedding_response(model=requested, inputs=n, prompt_tokens=params["prompt_tokens"]),
                headers=headers,
            )
        if path.endswith("/responses"):
            kw = {
                "model": model,
                "content": self.content,
                "input_tokens": params["prompt_tokens"],
                "output_tokens": params["completion_tokens"],
                "cached_tokens": params["cached_tokens"],
                "cache_write_tokens": params["cache_write_tokens"],
                "reasoning_tokens": params["reasoning_tokens"],
                "service_tier": self.service_tier,
            }
            if body.get("stream"):
                return sse_response(sse_body(responses_events(**kw)), headers=headers)
            return json_response(200, response_object(**kw), headers=headers)
        kw = {
            "model": model,
            "content": self.content,
            **params,
            "service_tier": self.service_tier,
        }
        if body.get("stream"):
            so = body.get("stream_options") or {}
            chunks = chat_chunks(include_usage=bool(so.get("include_usage")), **kw)
            return sse_response(sse_body([(None, c) for c in chunks], done=True), headers=headers)
        return json_response(200, chat_completion(**kw), headers=headers)


def openai_client(handler: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
    """An ``openai.OpenAI`` whose HTTP goes to ``handler`` (default: a fresh :class:`OpenAIMock`)."""
    import httpx2
    import openai

    kwargs.setdefault("api_key", "sk-test-not-a-real-key")
    kwargs.setdefault("base_url", "https://api.openai.test/v1")
    return openai.OpenAI(
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler or OpenAIMock())), **kwargs
    )


def async_openai_client(handler: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
    """An ``openai.AsyncOpenAI`` whose HTTP goes to ``handler``."""
    import httpx2
    import openai

    kwargs.setdefault("api_key", "sk-test-not-a-real-key")
    kwargs.setdefault("base_url", "https://api.openai.test/v1")
    return openai.AsyncOpenAI(
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler or OpenAIMock())), **kwargs
    )
