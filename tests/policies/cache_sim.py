"""A ``MockTransport`` handler that simulates Anthropic's prompt cache (provider-semantics §1.4).

It answers ``POST /v1/messages`` like the API, but computes the cache counters itself from the
request it receives and from what earlier requests cached:

* the prompt is the block sequence tools -> system -> message content blocks; a block's tokens
  are its whitespace-separated words (so a test controls exact counts), images count 1000;
* a cache entry is keyed by the model and the hash of the prefix up to a breakpoint
  (``cache_control`` ignored in the hash), and lives ``5m`` or ``1h`` from its last write or hit;
* a breakpoint reads the longest live entry at its position or up to ``lookback`` blocks before
  it; the request reads the longest such hit, writes every breakpoint beyond it (each segment
  at its breakpoint's TTL) and refreshes the entries it touched;
* a prefix shorter than ``min_tokens`` is never cached and raises no error;
* like the API it rejects (400) more than 4 breakpoints (top-level automatic caching counted),
  ``cache_control`` on a thinking block and a 1h breakpoint after a 5m one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx2

from llmfinops.testing.anthropic import message

_TTL = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1)}
_RANK = {"5m": 1, "1h": 2}


def words(text: str) -> int:
    """The simulator's tokenizer: whitespace-separated words."""
    return len(text.split())


def block_tokens(block: Any) -> int:
    """Tokens of one prompt block under the simulator's tokenizer."""
    if isinstance(block, str):
        return words(block)
    kind = block.get("type")
    if kind == "text":
        return words(block["text"])
    if kind in ("image", "document"):
        return 1000
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return sum(block_tokens(c) for c in content)
        return words(str(content or ""))
    if kind == "thinking":
        return words(block.get("thinking", ""))
    clean = {k: v for k, v in block.items() if k != "cache_control"}
    return words(json.dumps(clean))


@dataclass
class Usage:
    """What one request was billed, as the simulator reported it."""

    input_tokens: int
    cache_read: int
    write_5m: int
    write_1h: int
    breakpoints: int


@dataclass
class CacheSimulator:
    """Anthropic Messages endpoint with a simulated prompt cache (see module docstring)."""

    now: Callable[[], datetime]
    min_tokens: int = 1024
    lookback: int = 20
    output_tokens: int = 200
    entries: dict[bytes, tuple[datetime, str]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    usages: list[Usage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        try:
            usage = self._bill(body)
        except ValueError as exc:
            self.errors.append(str(exc))
            err = {"type": "error", "error": {"type": "invalid_request_error", "message": str(exc)}}
            return httpx2.Response(400, json=err, headers={"request-id": f"req_{len(self.requests)}"})
        self.usages.append(usage)
        msg = message(
            model=body["model"],
            content="Thanks for reaching out. " * 40,
            input_tokens=usage.input_tokens,
            output_tokens=self.output_tokens if body.get("max_tokens") else 0,
            cache_read_tokens=usage.cache_read,
            cache_write_5m=usage.write_5m,
            cache_write_1h=usage.write_1h,
        )
        return httpx2.Response(200, json=msg, headers={"request-id": f"req_{len(self.requests)}"})

    def _blocks(self, body: dict[str, Any]) -> list[Any]:
        blocks: list[Any] = list(body.get("tools") or [])
        system = body.get("system")
        if isinstance(system, str):
            blocks.append({"type": "text", "text": system})
        elif isinstance(system, list):
            blocks.extend(system)
        for m in body["messages"]:
            content = m["content"]
            if isinstance(content, str):
                blocks.append({"type": "text", "text": content})
            else:
                blocks.extend(content)
        return blocks

    def _bill(self, body: dict[str, Any]) -> Usage:
        blocks = self._blocks(body)
        now = self.now()
        hashes: list[bytes] = []
        cum: list[int] = []
        h = hashlib.blake2b(body["model"].encode(), digest_size=16).digest()
        total = 0
        marks: list[tuple[int, str]] = []
        for i, b in enumerate(blocks):
            clean = {k: v for k, v in b.items() if k != "cache_control"}
            h = hashlib.blake2b(h + json.dumps(clean, sort_keys=True).encode(), digest_size=16).digest()
            hashes.append(h)
            total += block_tokens(b)
            cum.append(total)
            cc = b.get("cache_control")
            if cc:
                if b.get("type") in ("thinking", "redacted_thinking"):
                    raise ValueError(f"blocks[{i}]: thinking blocks cannot have cache_control")
                marks.append((i, cc.get("ttl", "5m")))
        auto = body.get("cache_control")
        if auto:
            last = max(
                i for i, b in enumerate(blocks) if b.get("type") not in ("thinking", "redacted_thinking")
            )
            marks.append((last, auto.get("ttl", "5m")))
            marks.sort()
        if len(marks) > 4:
            raise ValueError(f"A maximum of 4 blocks with cache_control may be provided. Found {len(marks)}.")
        for (_, a), (_, b) in itertools.pairwise(marks):
            if _RANK[b] > _RANK[a]:
                raise ValueError("a ttl='1h' cache_control block must not come after a ttl='5m' one")
        eligible = [(i, ttl) for i, ttl in marks if cum[i] >= self.min_tokens]
        read_pos = -1
        for i, _ttl in eligible:
            for j in range(i, max(-1, i - self.lookback - 1), -1):
                entry = self.entries.get(hashes[j])
                if entry is not None and entry[0] > now:
                    read_pos = max(read_pos, j)
                    break
        read = cum[read_pos] if read_pos >= 0 else 0
        if read_pos >= 0:
            _exp, ttl = self.entries[hashes[read_pos]]
            self.entries[hashes[read_pos]] = (now + _TTL[ttl], ttl)  # refreshed on a hit, at no cost
        written = {"5m": 0, "1h": 0}
        covered = read
        for i, ttl in eligible:
            if cum[i] > covered:
                written[ttl] += cum[i] - covered
                covered = cum[i]
            if i >= read_pos:
                self.entries[hashes[i]] = (now + _TTL[ttl], ttl)
        uncached = total - read - written["5m"] - written["1h"]
        return Usage(uncached, read, written["5m"], written["1h"], len(marks))
