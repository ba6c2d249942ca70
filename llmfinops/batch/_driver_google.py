"""Google batch driver: Gemini ``batches.create`` with inlined requests, ``batches.get``.

The results are the job's ``dest.inlined_responses``; the Google adapter records them the
first time a finished job is read through a wrapped client.
"""

from __future__ import annotations

__all__ = ["GoogleDriver"]

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from llmfinops.exceptions import ConfigurationError

from ._driver_base import Item, RawResult, _ts

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

    def recorded_elsewhere(self, batch_id: str, custom_id: str) -> bool:
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
