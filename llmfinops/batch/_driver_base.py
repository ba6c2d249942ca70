"""The shared side of the batch drivers: the :class:`Driver` protocol and what it works on.

:class:`Item` (a normalized request, from :func:`normalize`), :class:`RawResult` (a result as
read from the provider) and ``_ts`` (provider timestamps to UTC datetimes).
"""

from __future__ import annotations

__all__ = ["Driver", "Item", "RawResult", "_ts", "normalize"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from llmfinops.exceptions import ConfigurationError
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

    def recorded_elsewhere(self, batch_id: str, custom_id: str) -> bool:
        """Whether the provider adapter already recorded this request's result outside our reads."""
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
