"""Realistic Anthropic Messages API responses and an ``httpx2.MockTransport`` handler.

The factories build the JSON the API sends (``message`` objects, the SSE event sequence
``message_start`` → ``content_block_*`` → ``message_delta`` → ``message_stop``, Message Batch
objects and ``.jsonl`` results), so the real ``anthropic`` SDK runs offline, parsing and
streaming included.

Example:
    >>> import llmfinops
    >>> from llmfinops.testing.anthropic import AnthropicMock, anthropic_client
    >>> mock = AnthropicMock(input_tokens=40, cache_read_tokens=2000, output_tokens=25)
    >>> client = llmfinops.wrap(anthropic_client(mock))
    >>> msg = client.messages.create(model="claude-sonnet-4-6", max_tokens=256,
    ...                              messages=[{"role": "user", "content": "hi"}])
    >>> (msg.usage.input_tokens, msg.usage.cache_read_input_tokens)
    (40, 2000)
"""

from __future__ import annotations

__all__ = [
    "AnthropicMock",
    "anthropic_client",
    "async_anthropic_client",
    "batch_errored",
    "batch_results_body",
    "batch_succeeded",
    "message",
    "message_batch",
    "message_events",
    "usage_block",
]

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from llmfinops.testing._sse import json_response, sse_body, sse_response

_MODEL_SNAPSHOTS = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
}
_BATCH_URL = re.compile(r"/v1/messages/batches/([^/]+)(/results)?$")


def usage_block(
    *,
    input_tokens: int = 12,
    output_tokens: int = 9,
    cache_read_tokens: int = 0,
    cache_write_5m: int = 0,
    cache_write_1h: int = 0,
    report_ttl_split: bool = True,
    thinking_tokens: int | None = None,
    service_tier: str | None = "standard",
    speed: str | None = None,
    inference_geo: str | None = None,
    iterations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``usage`` object as the API returns it (``input_tokens`` excludes cache reads and writes)."""
    u: dict[str, Any] = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write_5m + cache_write_1h,
        "cache_read_input_tokens": cache_read_tokens,
        "output_tokens": output_tokens,
        "server_tool_use": None,
        "service_tier": service_tier,
    }
    if report_ttl_split:
        u["cache_creation"] = {
            "ephemeral_5m_input_tokens": cache_write_5m,
            "ephemeral_1h_input_tokens": cache_write_1h,
        }
    if thinking_tokens is not None:
        u["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    if speed is not None:
        u["speed"] = speed
    if inference_geo is not None:
        u["inference_geo"] = inference_geo
    if iterations is not None:
        u["iterations"] = iterations
    return u


def _content(text: str, thinking: str | None) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if thinking is not None:
        blocks.append({"type": "thinking", "thinking": thinking, "signature": "EqQBCkYIARgCKkBsig=="})
    blocks.append({"type": "text", "text": text, "citations": None})
    return blocks


def message(
    *,
    model: str = "claude-sonnet-4-5-20250929",
    content: str = "Hello! How can I help you today?",
    thinking: str | None = None,
    stop_reason: str = "end_turn",
    message_id: str = "msg_01XFDUDYJgAACzvnptvVoYEL",
    **usage: Any,
) -> dict[str, Any]:
    """A ``message`` object (non-streaming response); ``usage`` keywords go to :func:`usage_block`."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(content, thinking),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage_block(**usage),
    }


def message_events(
    *,
    model: str = "claude-sonnet-4-5-20250929",
    content: str = "Hello! How can I help you today?",
    thinking: str | None = None,
    stop_reason: str = "end_turn",
    message_id: str = "msg_01XFDUDYJgAACzvnptvVoYEL",
    delta_repeats_input: bool = True,
    delta_input_tokens: int | None = None,
    **usage: Any,
) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events of a streamed message, as ``(event, data)`` pairs.

    ``message_start`` carries the input side, the TTL split and ``output_tokens: 1``;
    ``message_delta`` carries the *cumulative* usage. With ``delta_repeats_input`` the delta
    repeats the input counts too (as the API does today); ``delta_input_tokens`` makes it
    report a different, replacing value. Iterations (beta) are sent on the delta only.
    """
    full = usage_block(**usage)
    start_usage = {k: v for k, v in full.items() if k not in ("iterations", "output_tokens_details")}
    start_usage["output_tokens"] = 1
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    index = 0
    if thinking is not None:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            )
        )
        events.extend(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": part},
                },
            )
            for part in thinking.split(" ")
        )
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": "EqQBCkYIARgCKkBsig=="},
                },
            )
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    events.append(
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": "", "citations": None},
            },
        )
    )
    words = content.split(" ")
    for i, word in enumerate(words):
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": word if i == 0 else " " + word},
                },
            )
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta_usage: dict[str, Any] = {"output_tokens": full["output_tokens"]}
    if delta_repeats_input:
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            delta_usage[k] = full[k]
        delta_usage["server_tool_use"] = None
    if delta_input_tokens is not None:
        delta_usage["input_tokens"] = delta_input_tokens
    for k in ("output_tokens_details", "iterations"):
        if k in full:
            delta_usage[k] = full[k]
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": delta_usage,
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def batch_succeeded(custom_id: str, **message_kwargs: Any) -> dict[str, Any]:
    """One ``.jsonl`` line of a succeeded batch request (``service_tier`` defaults to ``batch``)."""
    message_kwargs.setdefault("service_tier", "batch")
    message_kwargs.setdefault("message_id", f"msg_batch_{custom_id}")
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message(**message_kwargs)}}


def batch_errored(custom_id: str) -> dict[str, Any]:
    """One ``.jsonl`` line of a batch request that failed (not billed)."""
    return {
        "custom_id": custom_id,
        "result": {
            "type": "errored",
            "error": {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
                "request_id": None,
            },
        },
    }


def batch_results_body(lines: Sequence[dict[str, Any]]) -> bytes:
    """A Message Batch results file: one JSON object per line."""
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)


def message_batch(
    batch_id: str = "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d",
    *,
    ended: bool = True,
    base_url: str = "https://api.anthropic.test",
    succeeded: int = 0,
    errored: int = 0,
) -> dict[str, Any]:
    """A ``message_batch`` object (``results_url`` set once it has ended)."""
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": {
            "processing": 0 if ended else succeeded + errored,
            "succeeded": succeeded if ended else 0,
            "errored": errored if ended else 0,
            "canceled": 0,
            "expired": 0,
        },
        "created_at": "2026-11-20T10:00:00Z",
        "ended_at": "2026-11-20T11:12:13Z" if ended else None,
        "expires_at": "2026-11-21T10:00:00Z",
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"{base_url}/v1/messages/batches/{batch_id}/results" if ended else None,
    }


_ERRORS = {
    400: ("invalid_request_error", "messages: at least one message is required"),
    401: ("authentication_error", "invalid x-api-key"),
    429: ("rate_limit_error", "This request would exceed your organization's rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


class AnthropicMock:
    """A ``MockTransport`` handler that answers like the Anthropic API.

    Args:
        input_tokens: Uncached input tokens to report (``None``: about len(request)/4).
        output_tokens: Output tokens (cumulative total on the stream's ``message_delta``).
        cache_read_tokens / cache_write_5m / cache_write_1h: Cache counters to report.
        report_ttl_split: Include ``usage.cache_creation`` (the TTL split).
        thinking: Thinking text to return (a thinking block first).
        thinking_tokens: ``usage.output_tokens_details.thinking_tokens``.
        model: Response model (default: the requested one, dated for 4.5 models).
        content: Answer text.
        service_tier / speed / inference_geo: Reported in ``usage``.
        iterations: Beta ``usage.iterations`` entries to report.
        delta_repeats_input / delta_input_tokens: See :func:`message_events`.
        fail_first: Answer the first N requests with ``fail_status`` (``retry-after-ms: 1``).
        fail_status: Status of those failures (429 by default).
        error_status: Answer every Messages request with this status.
        count_tokens: What ``messages.count_tokens`` returns.
        batch_results: Lines of the results file of every batch.
        usage_for: ``callable(request_json) -> dict`` of usage keyword overrides per request.
        stream_bodies: Send JSON bodies as a byte stream, as a real network response arrives
            (``MockTransport`` otherwise hands the SDK an already-read body).
        keep_requests: Keep every request in ``requests``/``paths`` (set ``False`` for long runs such
            as benchmarks: the lists would grow, and hold every body, for the life of the mock).

    Attributes:
        requests: Parsed JSON bodies of every request received (``{}`` for GETs), in order.
        paths: URL paths, in order.
        received: How many requests arrived (kept or not).
    """

    def __init__(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int = 9,
        cache_read_tokens: int = 0,
        cache_write_5m: int = 0,
        cache_write_1h: int = 0,
        report_ttl_split: bool = True,
        thinking: str | None = None,
        thinking_tokens: int | None = None,
        model: str | None = None,
        content: str = "Hello! How can I help you today?",
        service_tier: str | None = "standard",
        speed: str | None = None,
        inference_geo: str | None = None,
        iterations: list[dict[str, Any]] | None = None,
        delta_repeats_input: bool = True,
        delta_input_tokens: int | None = None,
        fail_first: int = 0,
        fail_status: int = 429,
        error_status: int | None = None,
        count_tokens: int = 1234,
        batch_results: Sequence[dict[str, Any]] = (),
        usage_for: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        stream_bodies: bool = False,
        keep_requests: bool = True,
    ) -> None:
        self.stream_bodies = stream_bodies
        self.usage: dict[str, Any] = {
            "output_tokens": output_tokens,
            "cache_read_tokens": cache_read_tokens,
            "cache_write_5m": cache_write_5m,
            "cache_write_1h": cache_write_1h,
            "report_ttl_split": report_ttl_split,
            "thinking_tokens": thinking_tokens,
            "service_tier": service_tier,
            "speed": speed,
            "inference_geo": inference_geo,
            "iterations": iterations,
        }
        self.input_tokens = input_tokens
        self.thinking = thinking
        self.model = model
        self.content = content
        self.delta_repeats_input = delta_repeats_input
        self.delta_input_tokens = delta_input_tokens
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.error_status = error_status
        self.count_tokens = count_tokens
        self.batch_results = list(batch_results)
        self.usage_for = usage_for
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.keep_requests = keep_requests
        self.received = 0
        self._messages_calls = 0

    def _headers(self) -> dict[str, str]:
        return {"request-id": f"req_011CV{self.received:08d}", "anthropic-organization-id": "org-test"}

    def _error(self, status: int) -> Any:
        kind, text = _ERRORS.get(status, ("api_error", "error"))
        headers = {**self._headers(), "retry-after-ms": "1"}
        if status == 429 or status >= 500:
            headers["x-should-retry"] = "true"
        body = {
            "type": "error",
            "error": {"type": kind, "message": text},
            "request_id": headers["request-id"],
        }
        return json_response(status, body, headers=headers)

    def __call__(self, request: Any) -> Any:
        """Answer one ``httpx2.Request``."""
        import httpx2

        body = json.loads(request.content) if request.content else {}
        path = request.url.path
        self.received += 1
        if self.keep_requests:
            self.requests.append(body)
            self.paths.append(path)
        headers = self._headers()
        if request.method == "GET":
            m = _BATCH_URL.search(path)
            if m is None:
                return self._error(400)
            if m.group(2):
                return httpx2.Response(
                    200,
                    content=batch_results_body(self.batch_results),
                    headers={**headers, "content-type": "application/binary"},
                )
            ok = sum(1 for r in self.batch_results if r["result"]["type"] == "succeeded")
            base = f"{request.url.scheme}://{request.url.host}"
            return json_response(
                200,
                message_batch(m.group(1), base_url=base, succeeded=ok, errored=len(self.batch_results) - ok),
                headers=headers,
            )
        if path.endswith("/messages/count_tokens"):
            return json_response(200, {"input_tokens": self.count_tokens}, headers=headers)
        if path.endswith("/messages/batches"):
            n = len(body.get("requests") or ())
            return json_response(200, message_batch(ended=False, succeeded=n), headers=headers)
        self._messages_calls += 1
        if self.error_status is not None:
            return self._error(self.error_status)
        if self._messages_calls <= self.fail_first:
            return self._error(self.fail_status)
        requested = str(body.get("model", "claude-sonnet-4-5"))
        model = self.model or _MODEL_SNAPSHOTS.get(requested, requested)
        usage = dict(self.usage)
        usage["input_tokens"] = (
            self.input_tokens if self.input_tokens is not None else max(1, len(request.content) // 4)
        )
        if self.usage_for is not None:
            usage.update(self.usage_for(body))
        if body.get("max_tokens") == 0:
            usage["output_tokens"] = 0  # cache pre-warm: nothing generated
        kw: dict[str, Any] = {"model": model, "content": self.content, "thinking": self.thinking, **usage}
        if body.get("stream"):
            events = message_events(
                delta_repeats_input=self.delta_repeats_input, delta_input_tokens=self.delta_input_tokens, **kw
            )
            return sse_response(sse_body(events), headers=headers)
        if self.stream_bodies:
            data = json.dumps(message(**kw)).encode()
            return sse_response(data, headers={**headers, "content-type": "application/json"})
        return json_response(200, message(**kw), headers=headers)


def anthropic_client(handler: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
    """An ``anthropic.Anthropic`` whose HTTP goes to ``handler`` (default: a fresh :class:`AnthropicMock`).

    Example:
        >>> anthropic_client().base_url.host
        'api.anthropic.test'
    """
    import anthropic
    import httpx2

    kwargs.setdefault("api_key", "sk-ant-test-not-a-real-key")
    kwargs.setdefault("base_url", "https://api.anthropic.test")
    return anthropic.Anthropic(
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler or AnthropicMock())), **kwargs
    )


def async_anthropic_client(handler: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
    """An ``anthropic.AsyncAnthropic`` whose HTTP goes to ``handler``.

    Example:
        >>> async_anthropic_client().base_url.host
        'api.anthropic.test'
    """
    import anthropic
    import httpx2

    kwargs.setdefault("api_key", "sk-ant-test-not-a-real-key")
    kwargs.setdefault("base_url", "https://api.anthropic.test")
    return anthropic.AsyncAnthropic(
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler or AnthropicMock())), **kwargs
    )
