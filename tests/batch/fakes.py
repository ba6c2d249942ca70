"""Batch API servers for ``httpx2.MockTransport``: create -> in progress -> ended -> results.

Each server keeps its batches in memory and moves a batch one lifecycle step per retrieve
(the statuses the provider documents), then serves results with the real JSON shapes of the
SDK types (OpenAI ``Batch``/``FileObject`` and output JSONL lines, Anthropic
``MessageBatch``/``MessageBatchIndividualResponse``, Gemini ``batchGenerateContent``
long-running operations with inlined responses).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

from llmfinops.testing.anthropic import batch_errored, batch_succeeded
from llmfinops.testing.google import generate_content_response
from llmfinops.testing.openai import chat_completion, embedding_response

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
_JOB_NUMBERS = itertools.count(
    1
)  # Gemini job names are unique (the Google adapter remembers them per process)
T_END = T0 + timedelta(minutes=42)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(status: int, data: Any) -> httpx2.Response:
    return httpx2.Response(status, json=data)


@dataclass
class Usage:
    """Usage a fake reports for one request."""

    input_tokens: int = 1000
    output_tokens: int = 100


UsageFor = Callable[[str, dict[str, Any]], Usage]


def _default_usage(custom_id: str, params: dict[str, Any]) -> Usage:
    return Usage()


# -- OpenAI ---------------------------------------------------------------------------------------
def _multipart_file(request: httpx2.Request) -> bytes:
    ctype = request.headers["content-type"]
    boundary = re.search(r"boundary=([^;]+)", ctype)
    assert boundary is not None
    sep = b"--" + boundary.group(1).strip('"').encode()
    for part in request.content.split(sep):
        if b'name="file"' in part:
            _head, _, body = part.partition(b"\r\n\r\n")
            return body.rsplit(b"\r\n", 1)[0]
    raise AssertionError("no file part in the upload")


@dataclass
class OpenAIBatchServer:
    """OpenAI ``/files`` + ``/batches``: validating -> in_progress -> finalizing -> completed."""

    steps: tuple[str, ...] = ("validating", "in_progress", "finalizing", "completed")
    fail: frozenset[str] = frozenset()
    usage_for: UsageFor = _default_usage
    fail_validation: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/v1")
        self.calls.append(f"{request.method} {path}")
        if request.method == "POST" and path == "/files":
            data = _multipart_file(request)
            fid = f"file-in{len(self.files) + 1:04d}"
            self.files[fid] = data
            return _json(
                200,
                {
                    "id": fid,
                    "object": "file",
                    "bytes": len(data),
                    "created_at": int(T0.timestamp()),
                    "filename": "llmfinops-batch.jsonl",
                    "purpose": "batch",
                    "status": "processed",
                    "expires_at": None,
                    "status_details": None,
                },
            )
        if request.method == "POST" and path == "/batches":
            body = json.loads(request.content)
            bid = f"batch_6721b3c0e4a8819{len(self.batches)}"
            lines = [json.loads(x) for x in self.files[body["input_file_id"]].decode().splitlines() if x]
            self.batches[bid] = {
                "id": bid,
                "object": "batch",
                "endpoint": body["endpoint"],
                "errors": None,
                "input_file_id": body["input_file_id"],
                "completion_window": body["completion_window"],
                "status": self.steps[0],
                "output_file_id": None,
                "error_file_id": None,
                "created_at": int(T0.timestamp()),
                "in_progress_at": None,
                "expires_at": int((T0 + timedelta(hours=24)).timestamp()),
                "finalizing_at": None,
                "completed_at": None,
                "failed_at": None,
                "expired_at": None,
                "cancelling_at": None,
                "cancelled_at": None,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
                "model": lines[0]["body"].get("model"),
                "_lines": lines,
            }
            self.progress[bid] = 0
            return _json(200, self._public(bid))
        m = re.fullmatch(r"/batches/([^/]+)", path)
        if request.method == "GET" and m:
            bid = m.group(1)
            self._advance(bid)
            return _json(200, self._public(bid))
        m = re.fullmatch(r"/files/([^/]+)/content", path)
        if request.method == "GET" and m:
            return httpx2.Response(
                200, content=self.files[m.group(1)], headers={"content-type": "application/octet-stream"}
            )
        return _json(
            404,
            {"error": {"message": f"no fake for {request.method} {path}", "type": "invalid_request_error"}},
        )

    def _public(self, bid: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[bid].items() if not k.startswith("_")}

    def _advance(self, bid: str) -> None:
        b = self.batches[bid]
        if b["status"] in ("completed", "failed", "expired", "cancelled"):
            return
        self.progress[bid] += 1
        step = min(self.progress[bid], len(self.steps) - 1)
        status = self.steps[step]
        if status == "in_progress":
            b["in_progress_at"] = int((T0 + timedelta(minutes=1)).timestamp())
        if self.fail_validation and status != "validating":
            b["status"] = "failed"
            b["failed_at"] = int((T0 + timedelta(minutes=1)).timestamp())
            b["errors"] = {
                "object": "list",
                "data": [
                    {
                        "code": "missing_required_parameter",
                        "message": "Missing required parameter: 'model'.",
                        "param": "body.model",
                        "line": 1,
                    }
                ],
            }
            return
        b["status"] = status
        if status == "completed":
            self._complete(bid)

    def _complete(self, bid: str) -> None:
        b = self.batches[bid]
        out, err = [], []
        total_in = total_out = 0
        for i, line in enumerate(b["_lines"]):
            cid, params = line["custom_id"], line["body"]
            rid = f"req_{i:04d}"
            if cid in self.fail:
                err.append(
                    {
                        "id": f"batch_req_{i:04d}",
                        "custom_id": cid,
                        "error": None,
                        "response": {
                            "status_code": 400,
                            "request_id": rid,
                            "body": {
                                "error": {
                                    "message": "Invalid 'messages[0].content': empty.",
                                    "type": "invalid_request_error",
                                    "param": "messages",
                                    "code": None,
                                }
                            },
                        },
                    }
                )
                continue
            u = self.usage_for(cid, params)
            total_in += u.input_tokens
            total_out += u.output_tokens
            if line["url"] == "/v1/embeddings":
                body = embedding_response(model=params["model"], inputs=1, prompt_tokens=u.input_tokens)
            else:
                body = chat_completion(
                    model=params["model"],
                    content=f"answer to {cid}",
                    prompt_tokens=u.input_tokens,
                    completion_tokens=u.output_tokens,
                )
                body["id"] = f"chatcmpl-{cid}"
            out.append(
                {
                    "id": f"batch_req_{i:04d}",
                    "custom_id": cid,
                    "error": None,
                    "response": {"status_code": 200, "request_id": rid, "body": body},
                }
            )
        for rows, key in ((out, "output_file_id"), (err, "error_file_id")):
            if rows:
                fid = f"file-{key[:3]}{bid[-4:]}"
                self.files[fid] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                b[key] = fid
        b["finalizing_at"] = int((T_END - timedelta(minutes=1)).timestamp())
        b["completed_at"] = int(T_END.timestamp())
        b["request_counts"] = {"total": len(b["_lines"]), "completed": len(out), "failed": len(err)}
        b["usage"] = {
            "input_tokens": total_in,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": total_out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": total_in + total_out,
        }


# -- Anthropic ------------------------------------------------------------------------------------
@dataclass
class AnthropicBatchServer:
    """Anthropic Message Batches: in_progress (n polls) -> ended, results in JSONL (not in request order)."""

    polls_until_ended: int = 2
    fail: frozenset[str] = frozenset()
    usage_for: UsageFor = _default_usage
    base_url: str = "https://api.anthropic.test"
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.calls.append(f"{request.method} {path}")
        if request.method == "POST" and path == "/v1/messages/batches":
            reqs = json.loads(request.content)["requests"]
            bid = f"msgbatch_01HkcTjaV5uDC8jWR4ZsDV{len(self.batches):02d}"
            self.batches[bid] = {"_requests": reqs, "_polls": 0, **self._batch(bid, len(reqs), ended=False)}
            return _json(200, self._public(bid))
        m = re.fullmatch(r"/v1/messages/batches/([^/]+)", path)
        if request.method == "GET" and m:
            bid = m.group(1)
            b = self.batches[bid]
            b["_polls"] += 1
            if b["processing_status"] != "ended" and b["_polls"] >= self.polls_until_ended:
                n = len(b["_requests"])
                failed = sum(1 for r in b["_requests"] if r["custom_id"] in self.fail)
                b.update(self._batch(bid, n, ended=True, errored=failed))
            return _json(200, self._public(bid))
        m = re.fullmatch(r"/v1/messages/batches/([^/]+)/results", path)
        if request.method == "GET" and m:
            lines = []
            for r in reversed(self.batches[m.group(1)]["_requests"]):  # results come in any order
                cid = r["custom_id"]
                if cid in self.fail:
                    lines.append(batch_errored(cid))
                else:
                    u = self.usage_for(cid, r["params"])
                    lines.append(
                        batch_succeeded(
                            cid,
                            model=r["params"]["model"],
                            content=f"answer to {cid}",
                            input_tokens=u.input_tokens,
                            output_tokens=u.output_tokens,
                        )
                    )
            body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
            return httpx2.Response(200, content=body, headers={"content-type": "application/binary"})
        return _json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})

    def _public(self, bid: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[bid].items() if not k.startswith("_")}

    def _batch(self, bid: str, n: int, *, ended: bool, errored: int = 0) -> dict[str, Any]:
        return {
            "id": bid,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else n,
                "succeeded": n - errored if ended else 0,
                "errored": errored if ended else 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": _iso(T0),
            "ended_at": _iso(T_END) if ended else None,
            "expires_at": _iso(T0 + timedelta(hours=24)),
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.base_url}/v1/messages/batches/{bid}/results" if ended else None,
        }


# -- Google ---------------------------------------------------------------------------------------
@dataclass
class GoogleBatchServer:
    """Gemini API batch mode: PENDING -> RUNNING -> SUCCEEDED, inlined responses in the operation."""

    steps: tuple[str, ...] = ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING", "BATCH_STATE_SUCCEEDED")
    fail: frozenset[str] = frozenset()
    usage_for: UsageFor = _default_usage
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.calls.append(f"{request.method} {path}")
        m = re.fullmatch(r"/v1(?:beta)?/models/([^/:]+):batchGenerateContent", path)
        if request.method == "POST" and m:
            batch = json.loads(request.content)["batch"]
            name = f"batches/4b7xzq2kd0m{next(_JOB_NUMBERS)}"
            reqs = batch["inputConfig"]["requests"]["requests"]
            self.jobs[name] = {
                "_requests": reqs,
                "_step": 0,
                "_model": f"models/{m.group(1)}",
                "_display": batch.get("displayName"),
            }
            return _json(200, self._operation(name))
        m = re.fullmatch(r"/v1(?:beta)?/(batches/[^/]+)", path)
        if request.method == "GET" and m:
            name = m.group(1)
            job = self.jobs[name]
            job["_step"] = min(job["_step"] + 1, len(self.steps) - 1)
            return _json(200, self._operation(name))
        return _json(404, {"error": {"code": 404, "message": path, "status": "NOT_FOUND"}})

    def _operation(self, name: str) -> dict[str, Any]:
        job = self.jobs[name]
        state = self.steps[job["_step"]]
        ended = state in (
            "BATCH_STATE_SUCCEEDED",
            "BATCH_STATE_FAILED",
            "BATCH_STATE_CANCELLED",
            "BATCH_STATE_EXPIRED",
        )
        n = len(job["_requests"])
        meta: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": job["_model"],
            "displayName": job["_display"] or "llmfinops",
            "state": state,
            "createTime": _iso(T0),
            "updateTime": _iso(T_END if ended else T0),
            "batchStats": {"requestCount": str(n), "pendingRequestCount": "0" if ended else str(n)},
            "name": name,
        }
        if ended:
            meta["endTime"] = _iso(T_END)
            items = []
            for r in job["_requests"]:
                key = r["metadata"]["key"]
                if key in self.fail:
                    items.append(
                        {
                            "error": {"code": 400, "message": "Request contains an invalid argument."},
                            "metadata": {"key": key},
                        }
                    )
                    continue
                u = self.usage_for(key, r["request"])
                items.append(
                    {
                        "response": generate_content_response(
                            text=f"answer to {key}",
                            model_version=job["_model"].removeprefix("models/"),
                            response_id=f"resp-{key}",
                            prompt_tokens=u.input_tokens,
                            candidates_tokens=u.output_tokens,
                        ),
                        "metadata": {"key": key},
                    }
                )
            meta["output"] = {"inlinedResponses": {"inlinedResponses": items}}
        return {"name": name, "metadata": meta, "done": ended}


# -- clients --------------------------------------------------------------------------------------
def openai_batch_client(server: OpenAIBatchServer) -> Any:
    import openai

    return openai.OpenAI(
        api_key="sk-test",
        base_url="https://api.openai.test/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(server)),
    )


def anthropic_batch_client(server: AnthropicBatchServer) -> Any:
    import anthropic

    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url=server.base_url,
        http_client=httpx2.Client(transport=httpx2.MockTransport(server)),
    )


def google_batch_client(server: GoogleBatchServer) -> Any:
    from llmfinops.testing.google import google_client

    return google_client(server)


class FakeSleep:
    """Records the delays ``wait`` asks for and moves a fake monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now
