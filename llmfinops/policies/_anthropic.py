"""Anthropic ``cache_control`` breakpoint placement: a pure function over a Messages request body.

Rules followed (provider-semantics §1.4):

* at most 4 breakpoints per request, the caller's own included; a top-level ``cache_control``
  ("automatic caching": a marker on the last cacheable block) is counted as one — whether the
  API counts it is UNVERIFIED, and counting it can only leave a slot unused, never exceed 4;
* prefix order tools -> system -> messages; one breakpoint after the tools, one after the
  system prompt, one on the stable history (the last cacheable block before the newest user
  turn) — by priority history, system, tools when the budget is short;
* each breakpoint looks back at most 20 blocks for an earlier entry: when the gap between two
  breakpoints in the messages is longer, intermediate breakpoints go on a fixed grid (every 20
  blocks from the previous breakpoint, so later requests find them again), the ones nearest
  the history breakpoint first, while the budget allows;
* 1h breakpoints must come before 5m ones: a placed 5m breakpoint is raised to 1h when a later
  breakpoint is 1h; a placed breakpoint that cannot be ordered is dropped;
* a string ``system`` becomes a one-block list; thinking blocks never carry ``cache_control``;
* no breakpoint on a prefix shorter than the model's minimum cacheable length (estimated
  offline; below it the API silently caches nothing);
* the caller's breakpoints are kept; a section (tools, system, history) where the caller placed
  one is left to the caller.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MIN_TOKENS", "Breakpoint", "CacheReport", "min_cache_tokens", "place_cache_breakpoints"]

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmfinops.pricing import PriceTable

from ._cache_policy import CachePolicy, ttl_rank
from ._digest import cached_head_tokens, cached_tokens

DEFAULT_MIN_TOKENS = {"anthropic": 1024, "openai": 1024, "google": 4096}
"""Minimum cacheable prefix assumed when the price table has no ``cache_min_tokens`` for a model.

Anthropic 1,024: the most common documented minimum (Sonnet/Opus 4.x, Sonnet 5); newer
models document 512 and some older ones 2,048-4,096 (those are in the table). A breakpoint
on a too-short prefix costs nothing but a slot, while skipping a cacheable one loses the
saving, so the default leans low. OpenAI 1,024 and Google 4,096 follow §2.3 / §3.4.
"""

_NOT_CACHEABLE = frozenset({"thinking", "redacted_thinking"})
_PER_MESSAGE = 4
_PER_IMAGE = 1600


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """One ``cache_control`` marker placed by :func:`place_cache_breakpoints`."""

    location: str
    """Where, e.g. ``tools[2]``, ``system[0]``, ``messages[3].content[1]``."""
    ttl: str
    """``5m`` or ``1h``."""
    layer: str
    """``tools``, ``system``, ``history`` or ``lookback`` (an intermediate for the 20-block lookback)."""
    prefix_tokens: int | None = None
    """Estimated prefix tokens up to this block, when computed (``None``: known to be above the minimum)."""


@dataclass(frozen=True, slots=True)
class CacheReport:
    """What :func:`place_cache_breakpoints` did, and why."""

    placed: tuple[Breakpoint, ...] = ()
    """Breakpoints added, in prefix order."""
    existing: int = 0
    """The caller's breakpoints (automatic caching included)."""
    automatic: bool = False
    """The request uses top-level ``cache_control`` (automatic caching)."""
    skipped: tuple[str, ...] = ()
    """Why a layer got no breakpoint."""
    min_tokens: int = 0
    """Minimum cacheable prefix used."""
    history_end: tuple[int, int] | None = field(default=None, compare=False)
    """``(message, block)`` of the last breakpoint in the messages, if any (block -1: string content)."""

    def summary(self) -> str:
        """One line for the record's ``policy`` field.

        Example:
            >>> CacheReport(placed=(Breakpoint("system[0]", "5m", "system"),)).summary()
            'cache=auto: +1 breakpoint (system[0] 5m)'
        """
        n = len(self.placed)
        if n:
            where = ", ".join(f"{b.location} {b.ttl}" for b in self.placed)
            text = f"cache=auto: +{n} breakpoint{'s' if n > 1 else ''} ({where})"
        else:
            text = "cache=auto: no breakpoint placed"
            if self.skipped:
                text += f" ({self.skipped[0]})"
        if self.existing:
            text += f"; {self.existing} of the caller's kept"
        return text


@dataclass(slots=True)
class _Slot:
    section: str  # tools | system | messages
    index: int  # tool index / system block index (-1: string) / message index
    block: int  # message block index (-1: string content); -1 elsewhere
    value: Any
    cacheable: bool
    ttl: str | None  # caller's breakpoint TTL, None when the slot has none

    def location(self) -> str:
        if self.section == "tools":
            return f"tools[{self.index}]"
        if self.section == "system":
            return f"system[{max(self.index, 0)}]"
        return f"messages[{self.index}].content[{max(self.block, 0)}]"


def min_cache_tokens(model: str, *, provider: str = "anthropic", table: PriceTable | None = None) -> int:
    """Minimum cacheable prefix for ``model``: the price table's ``cache_min_tokens`` or the default.

    Example:
        >>> min_cache_tokens("claude-sonnet-4-5"), min_cache_tokens("claude-haiku-4-5")
        (1024, 4096)
    """
    if table is None:
        from llmfinops._config import get_config

        table = get_config().table()
    entry = table.lookup(provider, model) if model else None
    if entry is not None and entry.cache_min_tokens is not None:
        return entry.cache_min_tokens
    return DEFAULT_MIN_TOKENS.get(provider, 1024)


def _cc_ttl(block: Any) -> str | None:
    if isinstance(block, Mapping):
        cc = block.get("cache_control")
        if isinstance(cc, Mapping):
            ttl = cc.get("ttl")
            return ttl if isinstance(ttl, str) else "5m"
    return None


def _slots(body: Mapping[str, Any]) -> list[_Slot]:
    out: list[_Slot] = []
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, t in enumerate(tools):
            out.append(_Slot("tools", i, -1, t, isinstance(t, Mapping), _cc_ttl(t)))
    system = body.get("system")
    if isinstance(system, str) and system:
        out.append(_Slot("system", -1, -1, system, True, None))
    elif isinstance(system, list):
        for i, b in enumerate(system):
            out.append(_Slot("system", i, -1, b, isinstance(b, Mapping), _cc_ttl(b)))
    messages = body.get("messages")
    if isinstance(messages, list):
        for mi, m in enumerate(messages):
            content = m.get("content") if isinstance(m, Mapping) else None
            if isinstance(content, str):
                out.append(_Slot("messages", mi, -1, content, bool(content), None))
            elif isinstance(content, list):
                for bi, b in enumerate(content):
                    ok = isinstance(b, Mapping) and b.get("type") not in _NOT_CACHEABLE
                    out.append(_Slot("messages", mi, bi, b, ok, _cc_ttl(b)))
    return out


def _text_tokens(text: str, model: str, need: int | None) -> tuple[int, bool]:
    """Tokens of ``text`` (exact estimate), or of its head when that already reaches ``need``.

    A constant system prompt is estimated once (identity cache). A long text that changes every
    call (the very case the lint warns about) would cost a full BPE pass per call, so only a
    head of ``8 x need`` characters is estimated when that is enough to cross the minimum.
    """
    if need is not None and need > 0 and len(text) > 8 * need + 64:
        head = cached_head_tokens(text, 8 * need, model=model, provider="anthropic")
        if head >= need:
            return head, False
    return cached_tokens(text, model=model, provider="anthropic"), True


def _block_tokens(value: Any, model: str, need: int | None = None) -> tuple[int, bool]:
    """Estimated tokens of one block, and whether the figure is the whole block's."""
    if isinstance(value, str):
        return _text_tokens(value, model, need)
    if not isinstance(value, Mapping):
        return 0, True
    kind = value.get("type")
    if kind == "text" and isinstance(value.get("text"), str):
        return _text_tokens(value["text"], model, need)
    if kind in ("image", "document"):
        return _PER_IMAGE, True
    if kind == "tool_result":
        content = value.get("content")
        if isinstance(content, list):
            return sum(_block_tokens(c, model)[0] for c in content) + _PER_MESSAGE, True
        return (_block_tokens(content, model)[0], True) if content is not None else (_PER_MESSAGE, True)
    if kind in ("thinking", "redacted_thinking"):
        text = value.get("thinking") or value.get("data") or ""
        return _text_tokens(str(text), model, need)
    clean = {k: v for k, v in value.items() if k != "cache_control"}
    dumped = json.dumps(clean, separators=(",", ":"), default=str)
    return cached_tokens(dumped, model=model, provider="anthropic"), True


class _Prefix:
    """Cumulative prefix estimates, computed lazily and only until the minimum is reached."""

    __slots__ = ("_cum", "_exact_until", "_first_ok", "_minimum", "_model", "_slots")

    def __init__(self, slots: list[_Slot], model: str, minimum: int) -> None:
        self._slots = slots
        self._model = model
        self._minimum = minimum
        self._cum: list[int] = []
        self._exact_until = 1 << 30  # slots from here on have a partial (head-only) estimate
        self._first_ok: int | None = 0 if minimum <= 0 else None

    def _advance(self, upto: int) -> None:
        total = self._cum[-1] if self._cum else 0
        for i in range(len(self._cum), upto + 1):
            s = self._slots[i]
            if s.section == "messages" and s.block <= 0:
                total += _PER_MESSAGE
            n, exact = _block_tokens(s.value, self._model, self._minimum - total)
            if not exact:
                self._exact_until = min(self._exact_until, i)
            total += n
            self._cum.append(total)
            if total >= self._minimum:
                self._first_ok = i
                return

    def eligible(self, i: int) -> tuple[bool, int | None]:
        """Whether the prefix ending at slot ``i`` reaches the minimum, and its estimate if computed."""
        if self._first_ok is None:
            self._advance(i)
        known = self._cum[i] if i < len(self._cum) and i < self._exact_until else None
        return self._first_ok is not None and i >= self._first_ok, known


def place_cache_breakpoints(
    body: Mapping[str, Any],
    *,
    model: str | None = None,
    policy: CachePolicy | None = None,
    table: PriceTable | None = None,
) -> tuple[dict[str, Any], CacheReport]:
    """Place Anthropic ``cache_control`` breakpoints on the stable prefix of a Messages request.

    Pure: ``body`` and everything inside it are left untouched; containers that change are
    copied (copy-on-write), the rest is shared with the input.

    Args:
        body: A Messages request body (``model``, ``system``, ``messages``, ``tools``...).
        model: Model id (default ``body["model"]``), for the minimum cacheable length.
        policy: TTLs and limits (default :class:`CachePolicy`).
        table: Price table for ``cache_min_tokens`` (default: the configured one).

    Returns:
        ``(new_body, report)``.

    Example:
        >>> body = {"model": "claude-sonnet-4-5", "max_tokens": 256,
        ...         "system": "You are the Acme support agent. " * 400,
        ...         "messages": [{"role": "user", "content": "Where is my order?"}]}
        >>> new, report = place_cache_breakpoints(body, policy=CachePolicy(system_ttl="1h"))
        >>> new["system"][0]["cache_control"], report.summary()
        ({'type': 'ephemeral', 'ttl': '1h'}, 'cache=auto: +1 breakpoint (system[0] 1h)')
        >>> isinstance(body["system"], str)  # the input is unchanged
        True
    """
    pol = policy or CachePolicy()
    model_id = model if model is not None else str(body.get("model") or "")
    minimum = pol.min_tokens if pol.min_tokens is not None else min_cache_tokens(model_id, table=table)
    slots = _slots(body)
    automatic_ttl = _cc_ttl({"cache_control": body.get("cache_control")})
    automatic = automatic_ttl is not None
    last_cacheable = max((i for i, s in enumerate(slots) if s.cacheable), default=None)
    existing: dict[int, str] = {i: s.ttl for i, s in enumerate(slots) if s.ttl is not None}
    n_existing = len(existing) + (1 if automatic else 0)
    caller_sections = {slots[i].section for i in existing}
    budget = pol.max_breakpoints - n_existing
    skipped: list[str] = []
    prefix = _Prefix(slots, model_id, minimum)

    # candidates by priority: the longest stable prefix first
    messages = body.get("messages")
    newest_user = None
    if isinstance(messages, list):
        for mi in range(len(messages) - 1, -1, -1):
            m = messages[mi]
            if isinstance(m, Mapping) and m.get("role") == "user":
                newest_user = mi
                break
    candidates: list[tuple[str, str | None, int | None]] = []
    hist = None
    if newest_user is not None:
        hist = max(
            (
                i
                for i, s in enumerate(slots)
                if s.section == "messages" and s.index < newest_user and s.cacheable
            ),
            default=None,
        )
    candidates.append(("history", pol.history_ttl, hist))
    candidates.append(
        (
            "system",
            pol.system_ttl,
            max((i for i, s in enumerate(slots) if s.section == "system"), default=None),
        )
    )
    candidates.append(
        ("tools", pol.tools_ttl, max((i for i, s in enumerate(slots) if s.section == "tools"), default=None))
    )
    chosen: dict[int, tuple[str, str, int | None]] = {}  # slot -> (ttl, layer, prefix tokens)
    section_of = {"history": "messages", "system": "system", "tools": "tools"}
    for layer, ttl, slot in candidates:
        if slot is None:
            continue
        if ttl is None:
            skipped.append(f"{layer}: {layer}_ttl=None")
            continue
        if section_of[layer] in caller_sections:
            skipped.append(f"{layer}: the caller placed its own breakpoint there")
            continue
        if layer == "history" and automatic:
            skipped.append("history: top-level cache_control (automatic caching) covers it")
            continue
        if not slots[slot].cacheable or slot in existing:
            continue
        ok, tokens = prefix.eligible(slot)
        if not ok:
            skipped.append(
                f"{layer}: prefix ~{tokens if tokens is not None else '?'} tokens "
                f"< minimum {minimum} for {model_id!r}"
            )
            continue
        if budget <= 0:
            skipped.append(
                f"{layer}: no breakpoint left ({pol.max_breakpoints} max, {n_existing} used by the caller)"
            )
            continue
        chosen[slot] = (ttl, layer, tokens)
        budget -= 1

    # intermediates for the 20-block lookback, inside the messages
    if budget > 0 and pol.history_ttl is not None:
        _add_lookback(slots, existing, automatic, last_cacheable, chosen, prefix, pol, budget)

    _order_ttls(existing, automatic_ttl, last_cacheable, chosen, skipped)
    new = _apply(body, slots, chosen)
    placed = tuple(
        Breakpoint(slots[i].location(), ttl, layer, tokens)
        for i, (ttl, layer, tokens) in sorted(chosen.items())
    )
    marks = [i for i in (*existing, *chosen) if slots[i].section == "messages"]
    if automatic and last_cacheable is not None and slots[last_cacheable].section == "messages":
        marks.append(last_cacheable)
    history_end = None
    if marks:
        s = slots[max(marks)]
        history_end = (s.index, s.block)
    return new, CacheReport(
        placed=placed,
        existing=n_existing,
        automatic=automatic,
        skipped=tuple(skipped),
        min_tokens=minimum,
        history_end=history_end,
    )


def _add_lookback(
    slots: list[_Slot],
    existing: dict[int, str],
    automatic: bool,
    last_cacheable: int | None,
    chosen: dict[int, tuple[str, str, int | None]],
    prefix: _Prefix,
    pol: CachePolicy,
    budget: int,
) -> None:
    ttl = pol.history_ttl
    assert ttl is not None
    first_msg = next((i for i, s in enumerate(slots) if s.section == "messages"), None)
    if first_msg is None:
        return
    marks = sorted(
        {*existing, *chosen} | ({last_cacheable} if automatic and last_cacheable is not None else set())
    )
    step = pol.lookback_blocks
    gaps: list[tuple[int, int]] = []
    prev = -1
    for b in marks:
        if b >= first_msg and b - prev > step:
            gaps.append((prev, b))
        prev = b
    for prev, nxt in reversed(gaps):  # the gap before the latest breakpoint matters most
        grid = list(range(prev + step, nxt, step))
        for g in reversed(grid):  # nearest the later breakpoint first
            if budget <= 0:
                return
            pos = g
            while pos > prev and (not slots[pos].cacheable or pos < first_msg):
                pos -= 1
            if pos <= prev or pos in chosen or pos in existing or pos < first_msg:
                continue
            ok, tokens = prefix.eligible(pos)
            if not ok:
                continue
            chosen[pos] = (ttl, "lookback", tokens)
            budget -= 1


def _order_ttls(
    existing: dict[int, str],
    automatic_ttl: str | None,
    last_cacheable: int | None,
    chosen: dict[int, tuple[str, str, int | None]],
    skipped: list[str],
) -> None:
    """Make the placed TTLs non-increasing along the prefix (1h before 5m), around the caller's."""
    fixed: list[tuple[int, int]] = [(i, ttl_rank(t)) for i, t in existing.items()]
    if automatic_ttl is not None and last_cacheable is not None:
        fixed.append((last_cacheable, ttl_rank(automatic_ttl)))  # nothing is placed on that block itself
    for i in sorted(chosen, reverse=True):
        ttl, layer, tokens = chosen[i]
        later = max((r for j, r in fixed if j > i), default=0)
        earlier = min((r for j, r in fixed if j < i), default=99)
        rank = max(ttl_rank(ttl), later)
        if rank > earlier:
            rank = earlier
        if rank < later:  # the caller's own order leaves no valid TTL here
            del chosen[i]
            skipped.append(f"{layer}: no TTL fits between the caller's breakpoints (1h must precede 5m)")
            continue
        new_ttl = "1h" if rank >= 2 else "5m"
        chosen[i] = (new_ttl, layer, tokens)
        fixed.append((i, rank))


def _marker(ttl: str) -> dict[str, str]:
    return {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": ttl}


def _apply(
    body: Mapping[str, Any], slots: list[_Slot], chosen: dict[int, tuple[str, str, int | None]]
) -> dict[str, Any]:
    new = dict(body)
    if not chosen:
        return new
    tools: list[Any] | None = None
    system: list[Any] | None = None
    messages: list[Any] | None = None
    contents: dict[int, list[Any]] = {}
    for i, (ttl, _layer, _tokens) in chosen.items():
        s = slots[i]
        marker = _marker(ttl)
        if s.section == "tools":
            if tools is None:
                tools = list(new["tools"])
            tools[s.index] = {**tools[s.index], "cache_control": marker}
        elif s.section == "system":
            if s.index < 0:
                system = [{"type": "text", "text": s.value, "cache_control": marker}]
            else:
                if system is None:
                    system = list(new["system"])
                system[s.index] = {**system[s.index], "cache_control": marker}
        else:
            if messages is None:
                messages = list(new["messages"])
            if s.index not in contents:
                msg = messages[s.index]
                content = msg["content"]
                contents[s.index] = (
                    [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
                )
                messages[s.index] = {**msg, "content": contents[s.index]}
            blocks = contents[s.index]
            bi = max(s.block, 0)
            blocks[bi] = {**blocks[bi], "cache_control": marker}
    if tools is not None:
        new["tools"] = tools
    if system is not None:
        new["system"] = system
    if messages is not None:
        new["messages"] = messages
    return new
