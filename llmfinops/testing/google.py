"""Realistic Gemini API responses and an ``httpx2.MockTransport`` handler, so ``genai.Client`` runs offline.

Example:
    >>> import llmfinops
    >>> from llmfinops.testing.google import GoogleMock, google_client
    >>> llmfinops.configure(sinks=[])
    >>> mock = GoogleMock(prompt_tokens=1200, candidates_tokens=300, thoughts_tokens=200)
    >>> client = llmfinops.wrap(google_client(mock))
    >>> r = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    >>> r.usage_metadata.thoughts_token_count
    200

The same client serves ``client.aio`` (an async transport on the same handler).
"""

from __future__ import annotations

__all__ = [
    "GoogleMock",
    "batch_job",
    "batch_results_file",
    "cached_content",
    "count_tokens_response",
    "embed_content_response",
    "error_body",
    "generate_content_response",
    "google_client",
    "stream_chunks",
    "usage_metadata",
]

import base64
import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ._sse import json_response, sse_body, sse_response

_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _ts(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def usage_metadata(
    *,
    prompt_tokens: int = 20,
    candidates_tokens: int = 9,
    cached_tokens: int = 0,
    thoughts_tokens: int = 0,
    tool_use_prompt_tokens: int = 0,
    traffic_type: str | None = None,
) -> dict[str, Any]:
    """A ``usageMetadata`` block as the API writes it (camelCase, zero counts omitted)."""
    u: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": candidates_tokens,
        "totalTokenCount": prompt_tokens + candidates_tokens + thoughts_tokens + tool_use_prompt_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
    }
    if cached_tokens:
        u["cachedContentTokenCount"] = cached_tokens
        u["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached_tokens}]
    if thoughts_tokens:
        u["thoughtsTokenCount"] = thoughts_tokens
    if tool_use_prompt_tokens:
        u["toolUsePromptTokenCount"] = tool_use_prompt_tokens
    if traffic_type:
        u["trafficType"] = traffic_type
    return u


def _token(tok: str | bytes | None) -> str | None:
    if tok is None:
        return None
    raw = tok.encode() if isinstance(tok, str) else tok
    return base64.b64encode(raw).decode()


def generate_content_response(
    *,
    text: str = "Hello! How can I help you today?",
    model_version: str = "gemini-2.5-flash",
    response_id: str = "mJ3xaP2fLqSq1MkPn8mH6Ag",
    finish_reason: str = "STOP",
    continuation_token: str | bytes | None = None,
    function_call: dict[str, Any] | None = None,
    **usage: Any,
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` body.

    Args:
        text: Answer text (ignored when ``function_call`` is given).
        model_version: ``modelVersion`` to report.
        response_id: ``responseId`` to report.
        finish_reason: ``STOP``, ``MAX_TOKENS``, ``CONTINUATION``...
        continuation_token: Token for automatic continuation (with ``finish_reason="CONTINUATION"``).
        function_call: ``{"name": ..., "args": {...}}`` to answer with a function call (AFC tests).
        **usage: Keyword arguments of :func:`usage_metadata`.
    """
    part: dict[str, Any] = {"functionCall": function_call} if function_call else {"text": text}
    cand: dict[str, Any] = {
        "content": {"parts": [part], "role": "model"},
        "finishReason": finish_reason,
        "index": 0,
    }
    tok = _token(continuation_token)
    if tok:
        cand["continuationToken"] = tok
    return {
        "candidates": [cand],
        "usageMetadata": usage_metadata(**usage),
        "modelVersion": model_version,
        "responseId": response_id,
    }


def stream_chunks(
    *,
    text: str = "Hello! How can I help you today?",
    model_version: str = "gemini-2.5-flash",
    response_id: str = "mJ3xaP2fLqSq1MkPn8mH6Ag",
    finish_reason: str = "STOP",
    continuation_token: str | bytes | None = None,
    prompt_tokens: int = 20,
    candidates_tokens: int = 9,
    cached_tokens: int = 0,
    thoughts_tokens: int = 0,
    tool_use_prompt_tokens: int = 0,
    traffic_type: str | None = None,
) -> list[dict[str, Any]]:
    """The chunks of a ``streamGenerateContent?alt=sse`` response.

    Every chunk carries ``usageMetadata`` with the *running total* of the request (prompt and
    thoughts from the first chunk, candidates growing), as the API does; the last chunk has the
    final counts and the finish reason.
    """
    words = text.split(" ")
    n = len(words)
    chunks: list[dict[str, Any]] = []
    for i, word in enumerate(words):
        last = i == n - 1
        cand: dict[str, Any] = {
            "content": {"parts": [{"text": word if i == 0 else " " + word}], "role": "model"}
        }
        if last:
            cand["finishReason"] = finish_reason
            tok = _token(continuation_token)
            if tok:
                cand["continuationToken"] = tok
        cand["index"] = 0
        chunks.append(
            {
                "candidates": [cand],
                "usageMetadata": usage_metadata(
                    prompt_tokens=prompt_tokens,
                    candidates_tokens=candidates_tokens if last else (candidates_tokens * (i + 1)) // n,
                    cached_tokens=cached_tokens,
                    thoughts_tokens=thoughts_tokens,
                    tool_use_prompt_tokens=tool_use_prompt_tokens,
                    traffic_type=traffic_type,
                ),
                "modelVersion": model_version,
                "responseId": response_id,
            }
        )
    return chunks


def embed_content_response(*, inputs: int = 1, prompt_tokens: int = 8, dimensions: int = 4) -> dict[str, Any]:
    """A ``batchEmbedContents`` body with ``usageMetadata``."""
    vec = [round(0.0123 * (k + 1), 4) for k in range(dimensions)]
    return {
        "embeddings": [{"values": vec} for _ in range(inputs)],
        "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
    }


def count_tokens_response(*, total_tokens: int = 20, cached_tokens: int = 0) -> dict[str, Any]:
    """A ``countTokens`` body."""
    out: dict[str, Any] = {
        "totalTokens": total_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total_tokens}],
    }
    if cached_tokens:
        out["cachedContentTokenCount"] = cached_tokens
    return out


def cached_content(
    *,
    name: str = "cachedContents/9x1qv4aw2bgc",
    model: str = "models/gemini-2.5-flash",
    total_tokens: int = 50_000,
    create_time: datetime | None = None,
    update_time: datetime | None = None,
    expire_time: datetime | None = None,
    display_name: str | None = None,
) -> dict[str, Any]:
    """A ``CachedContent`` resource (what create/get/update return)."""
    created = create_time or datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    out: dict[str, Any] = {
        "name": name,
        "model": model,
        "createTime": _ts(created),
        "updateTime": _ts(update_time or created),
        "expireTime": _ts(expire_time or created + timedelta(hours=1)),
        "usageMetadata": {"totalTokenCount": total_tokens},
    }
    if display_name:
        out["displayName"] = display_name
    return out


def batch_job(
    *,
    name: str = "batches/4b7xzq2kd0m9",
    model: str = "models/gemini-2.5-flash",
    state: str = "BATCH_STATE_SUCCEEDED",
    responses: Sequence[dict[str, Any]] = (),
    create_time: datetime | None = None,
    end_time: datetime | None = None,
    responses_file: str | None = None,
) -> dict[str, Any]:
    """A batch job (the long-running operation ``batches.get`` reads) with inlined responses."""
    created = create_time or datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    meta: dict[str, Any] = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": model,
        "displayName": "nightly-eval",
        "state": state,
        "createTime": _ts(created),
        "updateTime": _ts(end_time or created),
    }
    if end_time is not None:
        meta["endTime"] = _ts(end_time)
    if responses:
        meta["output"] = {
            "inlinedResponses": {
                "inlinedResponses": [
                    {"response": r, "metadata": {"key": f"request-{i + 1}"}} for i, r in enumerate(responses)
                ]
            }
        }
    elif responses_file:
        meta["output"] = {"responsesFile": responses_file}
    return {"name": name, "metadata": meta, "done": state != "BATCH_STATE_RUNNING"}


def batch_results_file(responses: Sequence[dict[str, Any] | None]) -> bytes:
    """A batch job's results file (JSONL): ``{"key": "request-N", "response": ...}`` per line.

    A ``None`` gives an ``error`` line instead (a request that failed inside the batch: not billed).
    """
    failed = {"error": error_body(400)["error"]}
    lines = [
        {"key": f"request-{n}", **({"response": r} if r else failed)} for n, r in enumerate(responses, 1)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """A Google API error body (``{"error": {"code", "message", "status"}}``)."""
    return {
        "error": {
            "code": status,
            "message": message
            or ("Resource has been exhausted (e.g. check quota)." if status == 429 else "Error"),
            "status": _STATUS.get(status, "UNKNOWN"),
        }
    }


ScriptItem = dict[str, Any] | list[dict[str, Any]] | int | Callable[[dict[str, Any]], Any]


class GoogleMock:
    """A ``MockTransport`` handler that answers like the Gemini API.

    Args:
        prompt_tokens / candidates_tokens / cached_tokens / thoughts_tokens / tool_use_prompt_tokens:
            Usage of ``generateContent`` answers (``prompt_tokens=None``: about len(request)/4).
        model_version: ``modelVersion`` to report (default: the requested model).
        text: Answer text.
        traffic_type: Vertex ``trafficType`` to report.
        script: Answers for successive generate/stream requests, used before the defaults: a
            dict (a response body; a stream sends it as one chunk), a list of dicts (stream
            chunks), an int (an error status) or ``callable(request_json)`` returning one of those.
        error_status: Answer every request with this error status.
        fail_first: Answer the first N requests with ``fail_status`` (retry tests).
        fail_status: Status of those failures.
        now: Server time for cache timestamps (change it between calls to move time).
        cache_tokens: Size of created caches (default: about len(contents)/4, at least 4096).
        keep_requests: Keep every request in ``requests``/``paths``/``methods`` (set ``False``
            for long runs such as benchmarks: the lists would grow, and hold every body, for the
            life of the mock).

    Attributes:
        requests: Parsed JSON bodies of every request, in order.
        paths: URL paths of every request.
        methods: HTTP methods of every request.
        received: How many requests arrived (kept or not).
        caches: Cached contents by name (create/update/delete/get keep it current).
        batches: Batch jobs served by ``GET batches/<id>`` and ``GET batches`` (``batch_job(...)`` values).
        files: File contents served by ``files/<id>:download`` (e.g. ``batch_results_file(...)``).
    """

    def __init__(
        self,
        *,
        prompt_tokens: int | None = None,
        candidates_tokens: int = 9,
        cached_tokens: int = 0,
        thoughts_tokens: int = 0,
        tool_use_prompt_tokens: int = 0,
        model_version: str | None = None,
        text: str = "Hello! How can I help you today?",
        traffic_type: str | None = None,
        script: Iterable[ScriptItem] = (),
        error_status: int | None = None,
        fail_first: int = 0,
        fail_status: int = 429,
        now: datetime | None = None,
        cache_tokens: int | None = None,
        keep_requests: bool = True,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.candidates_tokens = candidates_tokens
        self.cached_tokens = cached_tokens
        self.thoughts_tokens = thoughts_tokens
        self.tool_use_prompt_tokens = tool_use_prompt_tokens
        self.model_version = model_version
        self.text = text
        self.traffic_type = traffic_type
        self.script: list[ScriptItem] = list(script)
        self.error_status = error_status
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.now = now or datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.methods: list[str] = []
        self.keep_requests = keep_requests
        self.received = 0
        self.caches: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.cache_tokens = cache_tokens

    # -- helpers -----------------------------------------------------------------------------
    def _usage(self, body: dict[str, Any], raw: bytes) -> dict[str, Any]:
        prompt = self.prompt_tokens if self.prompt_tokens is not None else max(1, len(raw) // 4)
        return {
            "prompt_tokens": prompt,
            "candidates_tokens": self.candidates_tokens,
            "cached_tokens": self.cached_tokens,
            "thoughts_tokens": self.thoughts_tokens,
            "tool_use_prompt_tokens": self.tool_use_prompt_tokens,
            "traffic_type": self.traffic_type,
        }

    def _error(self, status: int) -> Any:
        return json_response(status, error_body(status))

    def _generate(self, model: str, body: dict[str, Any], raw: bytes, stream: bool) -> Any:
        item: Any = None
        if self.script:
            item = self.script.pop(0)
            if callable(item):
                item = item(body)
        if isinstance(item, int):
            return self._error(item)
        version = self.model_version or model
        if item is None:
            kw = {"text": self.text, "model_version": version, **self._usage(body, raw)}
            if stream:
                return sse_response(sse_body([(None, c) for c in stream_chunks(**kw)]))
            return json_response(200, generate_content_response(**kw))
        if stream:
            chunks = item if isinstance(item, list) else [item]
            return sse_response(sse_body([(None, c) for c in chunks]))
        return json_response(200, item)

    def _cache(self, method: str, name: str, body: dict[str, Any]) -> Any:
        if method == "POST":
            name = f"cachedContents/{os.urandom(6).hex()}"
            ttl = float(str(body.get("ttl") or "3600s").rstrip("s"))
            tokens = 0
            for content in body.get("contents") or []:
                for part in content.get("parts") or []:
                    tokens += max(1, len(str(part.get("text", ""))) // 4)
            res = cached_content(
                name=name,
                model=str(body.get("model")),
                total_tokens=self.cache_tokens if self.cache_tokens is not None else max(tokens, 4096),
                create_time=self.now,
                expire_time=self.now + timedelta(seconds=ttl),
            )
            self.caches[name] = res
            return json_response(200, res)
        found = self.caches.get(name)
        if found is None:
            return json_response(404, error_body(404, f"CachedContent not found: {name}"))
        res = found
        if method == "DELETE":
            del self.caches[name]
            return json_response(200, {})
        if method == "PATCH":
            if body.get("ttl"):
                expire = self.now + timedelta(seconds=float(str(body["ttl"]).rstrip("s")))
            else:
                expire = datetime.fromisoformat(str(body["expireTime"]).replace("Z", "+00:00"))
            res = {**res, "updateTime": _ts(self.now), "expireTime": _ts(expire)}
            self.caches[name] = res
        return json_response(200, res)

    # -- handler -----------------------------------------------------------------------------
    def __call__(self, request: Any) -> Any:
        """Answer one ``httpx2.Request``."""
        raw = request.content or b""
        body = json.loads(raw) if raw else {}
        path = request.url.path
        self.received += 1
        if self.keep_requests:
            self.requests.append(body)
            self.paths.append(path)
            self.methods.append(request.method)
        if self.error_status is not None:
            return self._error(self.error_status)
        if self.received <= self.fail_first:
            return self._error(self.fail_status)
        head, _, verb = path.rpartition(":")
        model = head.rsplit("/models/", 1)[-1]
        if verb in ("generateContent", "streamGenerateContent"):
            return self._generate(model, body, raw, stream=verb == "streamGenerateContent")
        if verb == "countTokens":
            n = self.prompt_tokens if self.prompt_tokens is not None else max(1, len(raw) // 4)
            return json_response(200, count_tokens_response(total_tokens=n, cached_tokens=self.cached_tokens))
        if verb in ("batchEmbedContents", "embedContent"):
            reqs = body.get("requests")
            n = len(reqs) if isinstance(reqs, list) else 1
            tokens = self.prompt_tokens if self.prompt_tokens is not None else max(1, len(raw) // 4)
            return json_response(200, embed_content_response(inputs=n, prompt_tokens=tokens))
        if verb == "predict" and "embedding" in model:  # Vertex text-embedding models
            instances = body.get("instances") or [{}]
            tokens = self.prompt_tokens if self.prompt_tokens is not None else max(1, len(raw) // 4)
            preds = [
                {
                    "embeddings": {
                        "values": [0.0123, -0.0456],
                        "statistics": {"token_count": tokens, "truncated": False},
                    }
                }
                for _ in instances
            ]
            return json_response(
                200, {"predictions": preds, "metadata": {"billableCharacterCount": 4 * tokens}}
            )
        if "/cachedContents" in path:
            name = (
                "cachedContents/" + path.rsplit("/cachedContents/", 1)[-1]
                if "/cachedContents/" in path
                else ""
            )
            return self._cache(request.method, name, body)
        if verb == "download" and "/files/" in head:
            import httpx2

            data = self.files.get("files/" + head.rsplit("/files/", 1)[-1])
            if data is None:
                return json_response(404, error_body(404, f"File not found: {head}"))
            return httpx2.Response(200, content=data, headers={"content-type": "application/octet-stream"})
        if path.endswith("/batches") and request.method == "GET":  # batches.list, one page
            return json_response(200, {"operations": list(self.batches.values())})
        if "/batches/" in path and request.method == "GET":
            name = "batches/" + path.rsplit("/batches/", 1)[-1]
            job = self.batches.get(name)
            if job is None:
                return json_response(404, error_body(404, f"Batch not found: {name}"))
            return json_response(200, job)
        return json_response(404, error_body(404, f"no mock for {request.method} {path}"))


def google_client(
    handler: Callable[[Any], Any] | None = None,
    *,
    vertexai: bool = False,
    retry_options: Any = None,
    **kwargs: Any,
) -> Any:
    """A ``google.genai.Client`` whose HTTP (sync and ``client.aio``) goes to ``handler``.

    Args:
        handler: A ``MockTransport`` handler (default: a fresh :class:`GoogleMock`).
        vertexai: Use the Vertex AI (Agent Platform) express-mode surface instead of the Gemini API.
        retry_options: ``types.HttpRetryOptions`` for the client (the SDK does not retry by default).
        **kwargs: Other ``genai.Client`` arguments.
    """
    import httpx2
    from google import genai
    from google.genai import types

    h = handler or GoogleMock()
    options = types.HttpOptions(
        httpx_client=httpx2.Client(transport=httpx2.MockTransport(h)),
        httpx_async_client=httpx2.AsyncClient(transport=httpx2.MockTransport(h)),
        retry_options=retry_options,
    )
    kwargs.setdefault("api_key", "test-key-not-a-real-key")
    return genai.Client(vertexai=vertexai, http_options=options, **kwargs)
