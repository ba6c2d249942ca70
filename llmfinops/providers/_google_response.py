"""Reading google-genai response bodies into a call's state (used by ``_google_http``).

A ``generateContent`` response is queued on its state (:func:`_queue`) and read when the record is
built (:class:`_Pending`, :func:`_read_generate`); a streamed request is a :class:`_StreamHop` that
keeps only the latest running-total usage until then. Embedding responses are read at once.
"""

from __future__ import annotations

__all__ = [
    "_Pending",
    "_StreamHop",
    "_astream_hop",
    "_capture_text",
    "_embed_usage",
    "_finish_partial",
    "_on_generate",
    "_queue",
    "_read_generate",
    "_requested_tier",
    "_response_meta",
    "_text",
    "_warn_no_usage",
]

import json
from collections.abc import AsyncIterator
from typing import Any

from llmfinops._internal import report_internal, warn_once
from llmfinops._recorder import CallState
from llmfinops.exceptions import UsageExtractionFailedWarning
from llmfinops.usage import Usage

# Plain globals of this module on the read path (a test patches ``usage_from_raw`` here).
from ._google_usage import (
    _SCAN,
    _USAGE_KEY,
    _USAGE_LEN,
    _USAGE_OBJECT,
    requested_tier,
    scan_meta,
    scan_usage,
    usage_from_raw,
)


def _text(body: Any) -> str:
    """A response body that is not a plain ``str``: decoded bytes, a ``str`` subclass, or ``""``."""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else ""


def _response_meta(state: CallState, body: str) -> None:
    mv, rid = scan_meta(body)
    if mv is not None:
        state.response_model = mv
    if rid is not None:
        state.request_id = rid  # the last hop's id, as on the SDK's merged response


def _finish_partial(hop: _StreamHop) -> None:
    hop.flush()
    hop.state.finish(partial=True)


def _capture_text(state: CallState, body: str) -> None:
    """Opt-in content capture: the answer text of a response body (or stream chunk)."""
    from ._base import response_text

    try:
        text = response_text(json.loads(body))
        if text and state.completion_parts is not None:
            state.completion_parts.append(text)
    except Exception:
        report_internal("google.capture")


def _requested_tier(request: dict[str, Any]) -> str | None:
    """``requested_tier(request)``, without the call when the body names no tier (the usual case)."""
    if "serviceTier" in request or "service_tier" in request:
        return requested_tier(request)
    return None


class _Pending:
    """The responses of one call, read when its record is built.

    Decoding a response's usage block and metadata costs more than everything else the call
    path does for it, and nothing reads them before the record is built (off the call path
    unless a listener or after-call hook needs the record at once). Installed as the state's
    ``usage_reader``. Items are read in the order the requests were sent, so the last one's
    ``responseId`` and ``modelVersion`` win, as on the SDK's merged response: a
    ``generateContent`` response as ``(body, where its usage key is, requested tier)``, a
    streamed request as its :class:`_StreamHop`.
    """

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[str, int, str | None] | _StreamHop] = []

    def __call__(self, state: CallState) -> None:
        items, self.items = self.items, []
        for item in items:
            if isinstance(item, _StreamHop):
                item.read()
            else:
                _read_generate(state, *item)


def _queue(state: CallState, item: tuple[str, int, str | None] | _StreamHop) -> None:
    """Have ``item`` read with the record of ``state`` (see :class:`_Pending`)."""
    reader = state.usage_reader
    if reader is None:
        reader = state.usage_reader = _Pending()  # holds no reference to the state: no cycle
    elif type(reader) is not _Pending:  # pragma: no cover - no other reader on a Gemini call
        now = _Pending()
        now.items.append(item)
        now(state)  # read at once
        return
    reader.items.append(item)


def _on_generate(state: CallState, request: dict[str, Any], body: str) -> None:
    """A ``generateContent`` response; its metadata and usage are read with its record."""
    if state.completion_parts is not None:
        _capture_text(state, body)
    at = body.rfind(_USAGE_KEY)
    if at < 0:
        _warn_no_usage()
        _read_generate(state, body, at, None)  # the metadata, now
        return
    _queue(state, (body, at, _requested_tier(request)))


def _warn_no_usage() -> None:
    warn_once(
        UsageExtractionFailedWarning,
        "google-generate-nousage",
        "llmfinops: a google generateContent response carried no usageMetadata; "
        "its tokens are missing from the record",
    )


def _read_generate(state: CallState, body: str, at: int, tier: str | None) -> None:
    """Model version, response id and (``at >= 0``: where its key is) the usage of one response."""
    _response_meta(state, body)
    if at < 0:
        return
    raw = scan_usage(body, at)
    if isinstance(raw, dict):
        state.add_hop(usage_from_raw(raw, tier))
    else:
        _warn_no_usage()


class _StreamHop:
    """One streamed HTTP request: each chunk's usage is the running total of this request.

    Only the last usage block counts, so a chunk's is not decoded when it arrives: the hop
    keeps the chunk and where the block starts (and the first chunk naming the model).
    :meth:`flush`, when the request ends, the call finishes or the call's next request starts,
    queues the hop to be read with the record (see ``_Pending``): :meth:`read` then decodes the
    last block into this request's entry in ``state.hops``. The SDK hands over each chunk as
    ``json.dumps`` output, so a usage value that starts as an object decodes to one.
    """

    __slots__ = ("index", "meta", "pending", "pending_at", "queued", "state", "tier")

    def __init__(self, state: CallState, tier: str | None) -> None:
        self.state = state
        self.tier = tier
        self.index = -1
        """This request's entry in ``state.hops`` (-1 until its first usage is settled)."""
        self.meta: str | None = None
        """The first chunk that names the model version (its response id too)."""
        self.pending: str | None = None
        """The latest chunk whose usage block is not yet in ``state.hops``."""
        self.pending_at = 0
        """Where that usage block starts in ``pending``."""
        self.queued = False

    def observe(self, resp: Any) -> None:
        try:
            body = getattr(resp, "body", None)
            if type(body) is not str:
                body = _text(body)
            state = self.state
            if state.first_token_at is None and '"candidates"' in body:
                state.mark_first_token()
            if state.completion_parts is not None:
                _capture_text(state, body)
            i = body.rfind(_USAGE_KEY)
            if i >= 0:  # a running total: replaces the hop's usage, never adds
                j = i + _USAGE_LEN
                if body.startswith(": {", j):  # how json.dumps writes it: no regex needed
                    self.pending = body
                    self.pending_at = j + 2
                else:
                    m = _USAGE_OBJECT(body, i)
                    if m is not None:
                        self.pending = body
                        self.pending_at = m.end()
            if self.meta is None and '"modelVersion"' in body:
                self.meta = body
        except Exception:
            report_internal("google.stream.observe")

    def flush(self) -> None:
        """This request is over (or the record is due): queue it to be read with the record."""
        if not self.queued:
            self.queued = True
            _queue(self.state, self)

    def read(self) -> None:
        """Settle the model version, response id and latest running total into the state."""
        state = self.state
        meta = self.meta
        if meta is not None:
            self.meta = None
            _response_meta(state, meta)
        body = self.pending
        if body is None:
            return
        self.pending = None
        try:
            raw = _SCAN(body, self.pending_at)[0]
        except (StopIteration, ValueError):
            return  # not JSON after all: as a chunk without usage
        try:
            if not isinstance(raw, dict):
                return
            u = usage_from_raw(raw, self.tier)
            if self.index < 0:
                state.add_hop(u)
                assert state.hops is not None
                self.index = len(state.hops) - 1
            else:
                hops = state.hops
                assert hops is not None
                hops[self.index] = (u, None)
        except Exception:
            report_internal("google.stream.observe")


async def _astream_hop(hop: _StreamHop, own: bool, inner: AsyncIterator[Any]) -> AsyncIterator[Any]:
    state = hop.state
    observe = hop.observe
    try:
        async for chunk in inner:
            observe(chunk)
            yield chunk
    except GeneratorExit:
        hop.flush()
        try:
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            if own:
                state.finish(partial=True)
        raise
    except BaseException as exc:
        hop.flush()
        if own:
            state.finish(error=exc, partial=True)
        raise
    hop.flush()
    if own:
        state.finish()


def _embed_usage(body: str, tier: str | None) -> Usage | None:
    raw = scan_usage(body)
    if isinstance(raw, dict):
        return usage_from_raw(raw, tier)
    # Vertex ``:predict`` text-embedding models: per-instance token counts
    data = json.loads(body) if body else None
    preds = data.get("predictions") if isinstance(data, dict) else None
    if not isinstance(preds, list):
        return None
    total = 0
    for p in preds:
        stats = p.get("embeddings", {}).get("statistics", {}) if isinstance(p, dict) else {}
        n = stats.get("token_count") if isinstance(stats, dict) else None
        if isinstance(n, int | float):
            total += int(n)
    return Usage(input_tokens=total, service_tier=tier)
