"""OpenAI batch driver: the Batch API through ``files`` and ``batches``.

The requests become a JSONL file (``files.create(purpose="batch")``), then ``batches.create``;
``batches.retrieve`` polls; ``files.content`` reads the output and error files. Nothing of this
is metered by the OpenAI adapter, so llmfinops.batch records results.
"""

from __future__ import annotations

__all__ = ["OpenAIDriver"]

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from llmfinops.exceptions import ConfigurationError
from llmfinops.providers._base import field

from ._driver_base import Item, RawResult, _ts

_OPENAI_ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "chat",
    "/v1/embeddings": "embeddings",
    "/v1/completions": "text_completion",
}
_OPENAI_DONE = frozenset({"completed", "failed", "expired", "cancelled"})


def _openai_endpoint(params: Mapping[str, Any]) -> str:
    if "messages" in params:
        return "/v1/chat/completions"
    if "prompt" in params:
        return "/v1/completions"
    if "input" in params:
        return "/v1/embeddings" if "embedding" in str(params.get("model", "")) else "/v1/responses"
    raise ConfigurationError(
        f"cannot tell the OpenAI endpoint of a request with keys {sorted(params)}; "
        "pass endpoint='/v1/chat/completions' (or /v1/responses, /v1/embeddings, /v1/completions)"
    )


def _openai_type(url: str) -> Any:
    if url == "/v1/chat/completions":
        from openai.types.chat import ChatCompletion

        return ChatCompletion
    if url == "/v1/responses":
        from openai.types.responses import Response

        return Response
    if url == "/v1/embeddings":
        from openai.types import CreateEmbeddingResponse

        return CreateEmbeddingResponse
    from openai.types import Completion

    return Completion


class OpenAIDriver:
    """OpenAI Batch API (``files`` + ``batches``)."""

    provider = "openai"
    result_id_tag = "custom_id"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    def recorded_elsewhere(self, batch_id: str, custom_id: str) -> bool:
        return False  # the OpenAI adapter does not meter files/batches

    def prepare(self, items: list[Item], *, model: str | None, endpoint: str | None) -> dict[str, Any]:
        urls = set()
        for it in items:
            if model is not None:
                it.params.setdefault("model", model)
            if not it.params.get("model"):
                raise ConfigurationError(
                    f"request {it.custom_id!r} has no 'model'; pass model= or set it per request"
                )
            it.url = it.url or endpoint or _openai_endpoint(it.params)
            if it.url not in _OPENAI_ENDPOINTS:
                raise ConfigurationError(
                    f"endpoint={it.url!r} is not a text endpoint of the Batch API; "
                    f"use one of {sorted(_OPENAI_ENDPOINTS)}"
                )
            urls.add(it.url)
        if len(urls) != 1:
            raise ConfigurationError(
                f"requests mix endpoints {sorted(urls)}; an OpenAI batch has one endpoint, "
                "submit one batch per endpoint"
            )
        if len(items) > self.max_requests:
            raise ConfigurationError(
                f"{len(items)} requests exceed the OpenAI limit of {self.max_requests} per batch; "
                "split the list"
            )
        lines = [
            json.dumps(
                {"custom_id": it.custom_id, "method": "POST", "url": it.url, "body": it.params},
                separators=(",", ":"),
                ensure_ascii=False,
            )
            for it in items
        ]
        data = ("\n".join(lines) + "\n").encode()
        if len(data) > self.max_bytes:
            raise ConfigurationError(
                f"the batch file is {len(data)} bytes, over OpenAI's {self.max_bytes}; split the list"
            )
        return {"file": data, "endpoint": urls.pop()}

    def create(self, client: Any, sub: dict[str, Any], *, metadata: Mapping[str, str] | None) -> Any:
        f = client.files.create(
            file=("llmfinops-batch.jsonl", sub["file"], "application/jsonl"), purpose="batch"
        )
        kwargs: dict[str, Any] = {
            "input_file_id": f.id,
            "endpoint": sub["endpoint"],
            "completion_window": "24h",
        }
        if metadata:
            kwargs["metadata"] = dict(metadata)
        return client.batches.create(**kwargs)

    def retrieve(self, client: Any, batch_id: str) -> Any:
        return client.batches.retrieve(batch_id)

    def batch_id(self, raw: Any) -> str:
        return str(raw.id)

    def status(self, raw: Any) -> str:
        return str(raw.status)

    def done(self, raw: Any) -> bool:
        return raw.status in _OPENAI_DONE

    def has_output(self, raw: Any) -> bool:
        return bool(raw.output_file_id or raw.error_file_id)

    def times(self, raw: Any) -> tuple[datetime | None, datetime | None]:
        end = raw.completed_at or raw.failed_at or raw.expired_at or raw.cancelled_at
        return _ts(raw.created_at), _ts(end)

    def errors(self, raw: Any) -> list[str]:
        errs = field(field(raw, "errors"), "data") or []
        return [f"{field(e, 'code')}: {field(e, 'message')}" for e in errs]

    def fetch(self, client: Any, raw: Any) -> list[RawResult]:
        from llmfinops.providers.openai import extract_usage

        url = str(raw.endpoint)
        model_type = _openai_type(url)
        operation = _OPENAI_ENDPOINTS.get(url, "chat")
        out: list[RawResult] = []
        for file_id in (raw.output_file_id, raw.error_file_id):
            if not file_id:
                continue
            text = client.files.content(file_id).text
            for line in text.splitlines():
                if not line.strip():
                    continue
                row = json.loads(line)
                cid = str(row.get("custom_id"))
                resp = row.get("response") or {}
                body = resp.get("body")
                if resp.get("status_code") == 200 and isinstance(body, dict):
                    usage = extract_usage(body["usage"]) if body.get("usage") else None
                    out.append(
                        RawResult(
                            custom_id=cid,
                            status="succeeded",
                            response=model_type.construct(**body),
                            usage=usage,
                            model=str(body.get("model") or ""),
                            response_model=body.get("model"),
                            request_id=resp.get("request_id") or body.get("id"),
                            operation=operation,
                        )
                    )
                else:
                    err = row.get("error") or (body.get("error") if isinstance(body, dict) else None) or body
                    status = (
                        "expired"
                        if isinstance(err, dict) and err.get("code") == "batch_expired"
                        else "errored"
                    )
                    out.append(RawResult(custom_id=cid, status=status, error=err, operation=operation))
        return out

    def wire(self, item: Item, *, model: str | None) -> tuple[str, dict[str, Any], int | None, bool]:
        p = item.params
        m = str(p.get("model") or model or "")
        url = item.url or _openai_endpoint(p)
        if url == "/v1/embeddings":
            return m, p, 0, True
        cap = p.get("max_completion_tokens") or p.get("max_tokens") or p.get("max_output_tokens")
        return m, p, cap if isinstance(cap, int) else None, False
