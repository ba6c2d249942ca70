"""Explicit context caches and batch results of google-genai (used by ``_google_http``).

What is charged when (docs/providers/google.md has the sources and the UNVERIFIED points):

* ``caches.create``: the cached tokens at the model's input rate (creation), plus storage for
  the whole TTL: ``tokens x (expireTime - createTime) x cache_storage_mtok_hour``.
* ``caches.update``: storage for the change of expiry, ``tokens x (new - old expiry)``
  (negative when the TTL is shortened). If this process never saw the old expiry, the
  storage from the update time to the new expiry is charged (an upper bound, with a note).
* ``caches.delete``: a zero-cost record; storage already charged is not refunded.
* ``caches.get`` / ``caches.list``: free, not recorded; they teach us sizes and expiries.
* ``batches.get`` / ``batches.list``: free themselves; the first time a finished job with
  inlined responses is seen, one record per response is written at the ``batch`` tier. A
  finished job whose results went to a file registers that file: when it is downloaded through
  the wrapped client (``files.download``), one record per billed line, at the ``batch`` tier.
"""

from __future__ import annotations

# The underscored names are for _google_files (batch results files).
__all__ = [
    "CacheInfo",
    "_BatchFile",
    "_batch_files",
    "_expect_file",
    "_lock",
    "_record_result",
    "cache_key",
    "file_key",
    "known_cache",
    "observe_passive",
    "on_cache_response",
    "parse_time",
]

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmfinops._config import get_config
from llmfinops._context import current_tags
from llmfinops._ids import stable_id
from llmfinops._recorder import CallState
from llmfinops.pricing import Cost
from llmfinops.usage import Usage

from ._google_usage import model_from_resource, usage_from_raw

if TYPE_CHECKING:
    from llmfinops._recorder import ClientRuntime

PROVIDER = "google"
_MAX_ENTRIES = 10_000
_MAX_JOBS = 100_000
"""Finished batch jobs remembered (recorded once per process; a job seen again stays remembered)."""
_ZERO = Decimal(0)
_HOUR = Decimal(3600)
_QUANTUM = Decimal("1e-12")
_TERMINAL = frozenset(
    {
        "BATCH_STATE_SUCCEEDED",
        "BATCH_STATE_FAILED",
        "BATCH_STATE_CANCELLED",
        "BATCH_STATE_EXPIRED",
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)


@dataclass(slots=True)
class CacheInfo:
    """What this process knows about one explicit cache."""

    model: str
    tokens: int
    expire: datetime | None


@dataclass(slots=True)
class _BatchFile:
    """A finished batch job whose results are in a file, not yet read whole through a wrapped client."""

    job: str
    model: str
    when: datetime | None
    tags: Mapping[str, str]
    """The attribution in force when the job was seen finished (as for inlined results)."""
    claimed: int = 0
    """Lines of the file recorded so far (in file order: a later download skips them)."""


_caches: OrderedDict[str, CacheInfo] = OrderedDict()
_batches_seen: OrderedDict[str, None] = OrderedDict()
_batch_files: OrderedDict[str, _BatchFile] = OrderedDict()
_lock = threading.Lock()


def cache_key(name: str) -> str:
    """Registry key of a cache: ``cachedContents/<id>`` whatever prefix the name carries."""
    return "cachedContents/" + name.rstrip("/").rsplit("/", 1)[-1]


def known_cache(name: str) -> CacheInfo | None:
    """What is known about cache ``name`` (``None`` if it was never seen here)."""
    return _caches.get(cache_key(name))


def _remember(key: str, info: CacheInfo) -> None:
    with _lock:
        _caches[key] = info
        _caches.move_to_end(key)
        while len(_caches) > _MAX_ENTRIES:
            _caches.popitem(last=False)


def _forget(key: str) -> CacheInfo | None:
    with _lock:
        return _caches.pop(key, None)


def _first_time_batch(name: str) -> bool:
    with _lock:
        if name in _batches_seen:
            _batches_seen.move_to_end(name)  # a job still being listed is not forgotten first
            return False
        _batches_seen[name] = None
        while len(_batches_seen) > _MAX_JOBS:
            _batches_seen.popitem(last=False)
        return True


def file_key(name: str) -> str:
    """Registry key of a Files API file: ``files/<id>``, from a file name or a download path.

    Example:
        >>> file_key("files/batch-7x1:download?alt=media"), file_key("batch-7x1")
        ('files/batch-7x1', 'files/batch-7x1')
    """
    return "files/" + name.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]


def _expect_file(key: str, info: _BatchFile) -> None:
    with _lock:
        _batch_files[key] = info
        while len(_batch_files) > _MAX_JOBS:
            _batch_files.popitem(last=False)


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 timestamp as the API writes it (``Z``, up to nanoseconds).

    Example:
        >>> parse_time("2026-11-01T12:00:00.123456789Z").microsecond
        123456
    """
    if not isinstance(value, str) or not value:
        return None
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        s = s[: dot + 1] + s[dot + 1 : end][:6].ljust(6, "0") + s[end:]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _seconds(td: timedelta) -> Decimal:
    return Decimal(td.days * 86400 + td.seconds) + Decimal(td.microseconds) / Decimal(1_000_000)


def _duration(value: Any) -> Decimal | None:
    """``"3600s"`` / ``"1.5s"`` (protobuf Duration JSON) -> seconds."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return Decimal(value[:-1])
    except ArithmeticError:
        return None


def _storage(runtime: ClientRuntime, state: CallState, model: str, tokens: int, seconds: Decimal) -> Cost:
    table = runtime.table(get_config())
    cost = table.storage_cost(PROVIDER, model, tokens, seconds / _HOUR, at=state.timestamp)
    if cost.total is not None:
        # hours are often a repeating decimal (20 min = 0.333.. h); round the amount once, at 1e-12 USD
        cost.total = cost.total.quantize(_QUANTUM)
        cost.cache_storage = cost.total
    return cost


def _tokens(data: dict[str, Any]) -> int:
    um = data.get("usageMetadata")
    v = um.get("totalTokenCount") if isinstance(um, dict) else None
    return v if isinstance(v, int) else 0


def on_cache_response(
    runtime: ClientRuntime, kind: str, name: str, state: CallState, request: dict[str, Any], body: str
) -> None:
    """Feed a ``caches.create/update/delete`` response to ``state`` (usage, storage cost, registry)."""
    if kind == "cache_delete":
        key = cache_key(name)
        _forget(key)
        state.usage = Usage()
        state.extra_cost = Cost(
            total=_ZERO,
            cache_storage=_ZERO,
            note=f"{key} deleted: storage was charged for its TTL when it was set and is not refunded",
        )
        return
    data = json.loads(body) if body else {}
    if not isinstance(data, dict):
        return
    model = model_from_resource(str(data.get("model") or request.get("model") or state.model or ""))
    if model:
        state.model = model
    key = cache_key(str(data.get("name") or name))
    tokens = _tokens(data)
    expire = parse_time(data.get("expireTime"))
    if kind == "cache_create":
        created = parse_time(data.get("createTime"))
        if created is not None and expire is not None:
            seconds = _seconds(expire - created)
        else:
            seconds = _duration(request.get("ttl")) or _ZERO
            req_expire = parse_time(request.get("expireTime"))
            if not seconds and req_expire is not None:
                seconds = _seconds(req_expire - state.timestamp)
            if not seconds:
                seconds = _HOUR  # the API's default TTL
        # Creation is billed as input tokens at the standard rate (Vertex docs; UNVERIFIED for the
        # Gemini API), storage for the whole TTL up front.
        state.usage = Usage(input_tokens=tokens)
        state.extra_cost = _storage(runtime, state, model, tokens, seconds)
    else:  # cache_update
        previous = _caches.get(key)
        state.usage = Usage()
        if expire is None:
            state.extra_cost = Cost.unknown(f"the update response of {key} carries no expireTime")
        elif previous is not None and previous.expire is not None:
            state.extra_cost = _storage(runtime, state, model, tokens, _seconds(expire - previous.expire))
        else:
            since = parse_time(data.get("updateTime")) or state.timestamp
            cost = _storage(runtime, state, model, tokens, _seconds(expire - since))
            if cost.total is not None:
                cost.note = (
                    f"the previous expiry of {key} is unknown to this process; storage is charged from the "
                    "update time to the new expiry (an upper bound)"
                )
            state.extra_cost = cost
    _remember(key, CacheInfo(model=model, tokens=tokens, expire=expire))


def observe_passive(runtime: ClientRuntime, kind: str, body: str) -> None:
    """Learn from free reads: cache sizes/expiries, and record finished batch jobs' results."""
    if not body:
        return
    data = json.loads(body)
    if not isinstance(data, dict):
        return
    if kind in ("cache_get", "cache_list"):
        items = data.get("cachedContents") if kind == "cache_list" else [data]
        for item in items or ():
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                _remember(
                    cache_key(item["name"]),
                    CacheInfo(
                        model=model_from_resource(str(item.get("model") or "")),
                        tokens=_tokens(item),
                        expire=parse_time(item.get("expireTime")),
                    ),
                )
    else:
        jobs = (data.get("operations") or data.get("batches") or []) if kind == "batch_list" else [data]
        for job in jobs:
            if isinstance(job, dict):
                _record_batch(runtime, job)


def _dig(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def _record_batch(runtime: ClientRuntime, job: dict[str, Any]) -> None:
    name = job.get("name")
    meta = job.get("metadata") if isinstance(job.get("metadata"), dict) else job
    if not isinstance(name, str) or not isinstance(meta, dict) or meta.get("state") not in _TERMINAL:
        return
    items: Any = None
    for out in (meta.get("output"), job.get("response"), meta.get("dest")):
        items = _dig(out, "inlinedResponses", "inlinedResponses") or _dig(
            out, "inlinedEmbedContentResponses", "inlinedResponses"
        )
        if items:
            break
    to_file = None
    if not items:
        to_file = _dig(meta, "output", "responsesFile") or _dig(job, "response", "responsesFile")
        if not isinstance(to_file, str) or not to_file:
            return
    if not _first_time_batch(name):
        return
    model = model_from_resource(str(meta.get("model") or ""))
    # Priced at the job's end (when the tokens were processed); UNVERIFIED which instant Google uses
    when = (
        parse_time(meta.get("endTime"))
        or parse_time(meta.get("updateTime"))
        or parse_time(meta.get("createTime"))
    )
    if to_file is not None:  # recorded when the file is downloaded through a wrapped client
        _expect_file(file_key(to_file), _BatchFile(job=name, model=model, when=when, tags=current_tags()))
        return
    for index, item in enumerate(items):
        resp = item.get("response") if isinstance(item, dict) else None
        key = _dig(item, "metadata", "key")
        key = key if isinstance(key, str) else None
        _record_result(runtime, name, model, when, resp, key, None, f"#{index}")


def _record_result(
    runtime: ClientRuntime,
    job: str,
    model: str,
    when: datetime | None,
    resp: Any,
    key: str | None,
    tags: Mapping[str, str] | None = None,
    item: str | None = None,
) -> bool:
    """One record for one response of a finished batch job, at the batch tier.

    ``resp`` is a ``GenerateContentResponse`` (its ``usageMetadata``) or an embedding result
    (``tokenCount``, all input). Returns whether it was billed (``False``: a failed request, or a
    response that reports no usage). ``tags``: the attribution to use instead of the current one.
    ``item``: what identifies the request in the job, ``#<position>`` (keys are the user's and need
    not be unique): the record id is derived from it, the same wherever and however often the
    result is read.
    """
    if not isinstance(resp, dict):
        return False  # a failed request of the batch: not billed
    raw = resp.get("usageMetadata")
    if isinstance(raw, dict):
        usage = usage_from_raw(raw, None)
        embed = "embedding" in resp or "embeddings" in resp
    else:
        count = resp.get("tokenCount")  # an embedding result; int64 is a JSON string in proto JSON
        if isinstance(count, str) and count.isdigit():
            count = int(count)
        if type(count) is not int:
            return False
        usage = Usage(input_tokens=count)
        embed = True
    state = CallState(
        runtime,
        endpoint="batches",
        operation="embeddings" if embed else "generate_content",
        model=model,
    )
    if when is not None:
        state.timestamp = when
    usage.service_tier = "batch"
    state.add_hop(usage)
    mv, rid = resp.get("modelVersion"), resp.get("responseId")
    state.response_model = mv if isinstance(mv, str) else None
    state.request_id = rid if isinstance(rid, str) else None
    tags_out = {**(state.tag_snapshot if tags is None else tags), "batch_job": job}
    if key is not None:
        tags_out["batch_request_key"] = key
    state.tag_snapshot = tags_out
    if item is not None:
        state.record_id = stable_id("google", job, item)
    state.finish()
    return True
