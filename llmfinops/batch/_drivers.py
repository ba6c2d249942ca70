"""Provider drivers: one batch lifecycle (create, retrieve, read results) per SDK.

* OpenAI: the requests become a JSONL file (``files.create(purpose="batch")``), then
  ``batches.create``; ``batches.retrieve`` polls; ``files.content`` reads the output and error
  files. Nothing of this is metered by the OpenAI adapter, so llmfinops.batch records results.
* Anthropic: ``messages.batches.create/retrieve/results``. The Anthropic adapter records every
  succeeded result read through ``messages.batches.results`` of a wrapped client.
* Google: ``batches.create`` with inlined requests, ``batches.get``; the results are the job's
  ``dest.inlined_responses``. The Google adapter records them the first time a finished job
  is read through a wrapped client.
"""

from __future__ import annotations

__all__ = ["DRIVERS", "Driver", "Item", "RawResult", "driver_for"]

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from llmfinops.exceptions import ConfigurationError
from llmfinops.providers._base import field
from llmfinops.usage import Usage

from ._model import BatchRequest


@dataclass(slots=True)
class Item:
    """A normalized request: id, the call's keyword arguments, and (OpenAI) its endpoint URL."""

    custom_id: str
    params: dict[str, Any]
    url: str | None = None


@dataclass(slots=True)
class RawResult:
    """One result as a driver reads it (before pricing and recording)."""

    custom_id: str
    status: str
    response: Any = None
    error: Any = None
    usage: Usage | None = None
    model: str = ""
    response_model: str | None = None
    request_id: str | None = None
    operation: str = "chat"


def _ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return _ts(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def normalize(requests: Sequence[Any], provider: str) -> list[Item]:
    """Turn the accepted request shapes into :class:`Item` s; ids are unique or this raises."""
    if isinstance(requests, (str, bytes, Mapping)) or not isinstance(requests, Sequence):
        raise ConfigurationError(
            f"requests={type(requests).__name__}: pass a list of request dicts or BatchRequest objects"
        )
    if not requests:
        raise ConfigurationError("requests=[]: a batch needs at least one request")
    items: list[Item] = []
    for i, r in enumerate(requests):
        url: str | None = None
        if isinstance(r, BatchRequest):
            cid, params = r.custom_id, dict(r.params)
        elif isinstance(r, Mapping) and "custom_id" in r and isinstance(r.get("params"), Mapping):
            cid, params = r["custom_id"], dict(r["params"])
        elif isinstance(r, Mapping) and "custom_id" in r and isinstance(r.get("body"), Mapping):
            cid, params, url = r["custom_id"], dict(r["body"]), r.get("url")
        elif isinstance(r, Mapping):
            cid, params = None, dict(r)
        else:
            raise ConfigurationError(
                f"requests[{i}] is a {type(r).__name__}; "
                "use a dict of the call's keyword arguments or a BatchRequest"
            )
        if cid is None:
            cid = f"request-{i + 1}"
        if not isinstance(cid, str) or not cid:
            raise ConfigurationError(f"requests[{i}].custom_id={cid!r} must be a non-empty string")
        if params.get("stream"):
            raise ConfigurationError(
                f"requests[{i}] ({cid}) has stream=True; batch requests cannot stream, drop it"
            )
        items.append(Item(cid, params, url))
    seen: set[str] = set()
    for it in items:
        if it.custom_id in seen:
            raise ConfigurationError(
                f"custom_id {it.custom_id!r} appears twice; every request of a batch needs its own id"
            )
        seen.add(it.custom_id)
    return items


class Driver(Protocol):
    """What the job needs from one provider."""

    provider: str
    result_id_tag: str
    """The record tag that carries a result's custom id."""

    def prepare(self, items: list[Item], *, model: str | None, endpoint: str | None) -> dict[str, Any]:
        """Validate; return the submission (raises ConfigurationError)."""
        ...

    def recorded_elsewhere(self, batch_id: str) -> bool:
        """Whether the provider adapter already recorded this batch's results outside our reads."""
        ...

    def create(self, client: Any, sub: dict[str, Any], *, metadata: Mapping[str, str] | None) -> Any:
        """Submit; return the provider's batch object."""
        ...

    def retrieve(self, client: Any, batch_id: str) -> Any:
        """The provider's batch object, fresh."""
        ...

    def batch_id(self, raw: Any) -> str:
        """The id to resume with."""
        ...

    def status(self, raw: Any) -> str:
        """The provider's status string."""
        ...

    def done(self, raw: Any) -> bool:
        """Whether processing ended (successfully or not)."""
        ...

    def has_output(self, raw: Any) -> bool:
        """Whether an ended batch has results to read."""
        ...

    def times(self, raw: Any) -> tuple[datetime | None, datetime | None]:
        """(created, ended) instants, UTC."""
        ...

    def errors(self, raw: Any) -> list[str]:
        """Batch-level error messages."""
        ...

    def fetch(self, client: Any, raw: Any) -> list[RawResult]:
        """Read every result of an ended batch."""
        ...

    def wire(self, item: Item, *, model: str | None) -> tuple[str, dict[str, Any], int | None, bool]:
        """(model, wire-format body, output cap, is_embedding) of a request, for estimates."""
        ...


# -- OpenAI -------------------------------------------------------------------------------------
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

    def recorded_elsewhere(self, batch_id: str) -> bool:
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


# -- Anthropic ----------------------------------------------------------------------------------
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class AnthropicDriver:
    """Anthropic Message Batches (``messages.batches``)."""

    provider = "anthropic"
    result_id_tag = "custom_id"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def recorded_elsewhere(self, batch_id: str) -> bool:
        return False  # the adapter records during the results read itself, which we observe

    def prepare(self, items: list[Item], *, model: str | None, endpoint: str | None) -> dict[str, Any]:
        if len(items) > self.max_requests:
            raise ConfigurationError(
                f"{len(items)} requests exceed the Anthropic limit of {self.max_requests} per batch; "
                "split the list"
            )
        reqs = []
        for it in items:
            if not _CUSTOM_ID.match(it.custom_id):
                raise ConfigurationError(
                    f"custom_id {it.custom_id!r} is not accepted by Anthropic; "
                    "use 1-64 letters, digits, '_' or '-'"
                )
            if model is not None:
                it.params.setdefault("model", model)
            for key in ("model", "max_tokens", "messages"):
                if key not in it.params:
                    raise ConfigurationError(
                        f"request {it.custom_id!r} has no {key!r}; batch params are messages.create arguments"
                    )
            reqs.append({"custom_id": it.custom_id, "params": it.params})
        size = len(json.dumps(reqs, default=str))
        if size > self.max_bytes:
            raise ConfigurationError(
                f"the batch is {size} bytes, over Anthropic's {self.max_bytes}; split the list"
            )
        return {"requests": reqs}

    def create(self, client: Any, sub: dict[str, Any], *, metadata: Mapping[str, str] | None) -> Any:
        return client.messages.batches.create(requests=sub["requests"])

    def retrieve(self, client: Any, batch_id: str) -> Any:
        return client.messages.batches.retrieve(batch_id)

    def batch_id(self, raw: Any) -> str:
        return str(raw.id)

    def status(self, raw: Any) -> str:
        return str(raw.processing_status)

    def done(self, raw: Any) -> bool:
        return bool(raw.processing_status == "ended")

    def has_output(self, raw: Any) -> bool:
        return bool(raw.results_url)

    def times(self, raw: Any) -> tuple[datetime | None, datetime | None]:
        return _ts(raw.created_at), _ts(raw.ended_at)

    def errors(self, raw: Any) -> list[str]:
        return []

    def fetch(self, client: Any, raw: Any) -> list[RawResult]:
        from llmfinops.providers.anthropic import extract_usage

        out: list[RawResult] = []
        for item in client.messages.batches.results(raw.id):
            result = item.result
            kind = str(result.type)
            if kind == "succeeded":
                msg = result.message
                usage = extract_usage(msg.usage)
                out.append(
                    RawResult(
                        custom_id=item.custom_id,
                        status="succeeded",
                        response=msg,
                        usage=usage,
                        model=str(msg.model),
                        response_model=str(msg.model),
                        request_id=str(msg.id),
                    )
                )
            else:
                err = getattr(result, "error", None)
                out.append(RawResult(custom_id=item.custom_id, status=kind, error=err))
        return out

    def wire(self, item: Item, *, model: str | None) -> tuple[str, dict[str, Any], int | None, bool]:
        p = item.params
        cap = p.get("max_tokens")
        return str(p.get("model") or model or ""), p, cap if isinstance(cap, int) else None, False


# -- Google -------------------------------------------------------------------------------------
_GOOGLE_DONE = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)
_GOOGLE_INLINE_MAX = 20 * 1024 * 1024


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class GoogleDriver:
    """Gemini API batch mode with inlined requests (``client.batches``)."""

    provider = "google"
    result_id_tag = "batch_request_key"

    def recorded_elsewhere(self, batch_id: str) -> bool:
        # The adapter records a finished job's results on the first read of it in this process.
        try:
            from llmfinops.providers import _google_resources
        except ImportError:
            return False
        seen = getattr(_google_resources, "_batches_seen", None)
        return seen is not None and batch_id in seen

    def prepare(self, items: list[Item], *, model: str | None, endpoint: str | None) -> dict[str, Any]:
        models = {str(it.params["model"]) for it in items if it.params.get("model")}
        chosen = model or (models.pop() if len(models) == 1 else None)
        if chosen is None or (model is not None and models - {model}):
            raise ConfigurationError(
                "a Gemini batch runs one model: pass model='gemini-...' (requests name "
                f"{sorted(models) or 'none'})"
            )
        src = []
        for it in items:
            if "contents" not in it.params:
                raise ConfigurationError(
                    f"request {it.custom_id!r} has no 'contents'; batch params are generate_content arguments"
                )
            req: dict[str, Any] = {"contents": it.params["contents"], "metadata": {"key": it.custom_id}}
            if it.params.get("config") is not None:
                req["config"] = it.params["config"]
            src.append(req)
        size = len(json.dumps(_plain(src), default=str))
        if size > _GOOGLE_INLINE_MAX:
            raise ConfigurationError(
                f"inlined requests total {size} bytes, over Gemini's 20 MB inline limit; split the list"
            )
        return {"model": chosen, "src": src}

    def create(self, client: Any, sub: dict[str, Any], *, metadata: Mapping[str, str] | None) -> Any:
        config: dict[str, Any] = {}
        if metadata and metadata.get("display_name"):
            config["display_name"] = metadata["display_name"]
        return client.batches.create(model=sub["model"], src=sub["src"], config=config or None)

    def retrieve(self, client: Any, batch_id: str) -> Any:
        return client.batches.get(name=batch_id)

    def batch_id(self, raw: Any) -> str:
        return str(raw.name)

    def status(self, raw: Any) -> str:
        state = raw.state
        return str(getattr(state, "value", state))

    def done(self, raw: Any) -> bool:
        return self.status(raw) in _GOOGLE_DONE

    def has_output(self, raw: Any) -> bool:
        return bool(raw.dest is not None and raw.dest.inlined_responses)

    def times(self, raw: Any) -> tuple[datetime | None, datetime | None]:
        return _ts(raw.create_time), _ts(raw.end_time or raw.update_time)

    def errors(self, raw: Any) -> list[str]:
        err = raw.error
        return [str(err.message or err)] if err is not None else []

    def fetch(self, client: Any, raw: Any) -> list[RawResult]:
        from llmfinops.providers.google import extract_usage

        out: list[RawResult] = []
        model = str(raw.model or "").removeprefix("models/")
        dest = raw.dest
        for i, item in enumerate((dest.inlined_responses if dest is not None else None) or []):
            cid = str((item.metadata or {}).get("key") or f"request-{i + 1}")
            resp = item.response
            if resp is not None and item.error is None:
                um = resp.usage_metadata
                out.append(
                    RawResult(
                        custom_id=cid,
                        status="succeeded",
                        response=resp,
                        usage=extract_usage(um) if um is not None else None,
                        model=model,
                        response_model=resp.model_version,
                        request_id=resp.response_id,
                        operation="generate_content",
                    )
                )
            else:
                out.append(RawResult(custom_id=cid, status="errored", error=item.error, model=model))
        return out

    def wire(self, item: Item, *, model: str | None) -> tuple[str, dict[str, Any], int | None, bool]:
        p = item.params
        config = _plain(p.get("config")) or {}
        body = {
            "contents": _plain(p.get("contents")),
            "system_instruction": config.get("system_instruction"),
            "tools": config.get("tools"),
        }
        cap = config.get("max_output_tokens")
        return str(p.get("model") or model or ""), body, cap if isinstance(cap, int) else None, False


DRIVERS: dict[str, Driver] = {
    "openai": OpenAIDriver(),
    "anthropic": AnthropicDriver(),
    "google": GoogleDriver(),
}


def driver_for(provider: str) -> Driver:
    """The driver of ``provider``."""
    try:
        return DRIVERS[provider]
    except KeyError:
        raise ConfigurationError(
            f"provider {provider!r} has no batch driver; supported: {sorted(DRIVERS)}"
        ) from None
