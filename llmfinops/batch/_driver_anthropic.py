"""Anthropic batch driver: Message Batches (``messages.batches.create/retrieve/results``).

The Anthropic adapter records every succeeded result read through ``messages.batches.results``
of a wrapped client.
"""

from __future__ import annotations

__all__ = ["AnthropicDriver"]

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from llmfinops.exceptions import ConfigurationError

from ._driver_base import Item, RawResult, _ts

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class AnthropicDriver:
    """Anthropic Message Batches (``messages.batches``)."""

    provider = "anthropic"
    result_id_tag = "custom_id"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def recorded_elsewhere(self, batch_id: str, custom_id: str) -> bool:
        # The adapter records each request once per process, on the first read of the results:
        # a read of ours after one elsewhere sees no record, and must not write a second one.
        try:
            from llmfinops.providers import _anthropic_batches
        except ImportError:
            return False
        return _anthropic_batches.recorded(batch_id, custom_id)

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
