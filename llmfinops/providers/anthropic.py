"""Anthropic SDK adapter (``anthropic.Anthropic`` / ``anthropic.AsyncAnthropic`` and their subclasses).

Metered: ``messages.create`` (incl. ``stream=True``), the ``messages.stream(...)`` managers,
``messages.parse``, the same under ``beta.messages`` (``tool_runner`` and threads send each
turn through ``create``, so every loop request is its own record), every path
(``with_raw_response``, ``with_streaming_response``), and Message Batch results read through
``messages.batches.results(id)`` (one record per succeeded request, at batch rates).
Not recorded: ``count_tokens`` (free; see ``docs/providers/anthropic.md``) and the batch
management calls (``create``/``retrieve``/``list``/``cancel``/``delete`` bill no tokens).
The parts it uses live next to it: ``_anthropic_request`` (what a request body says),
``_anthropic_events`` (the SDK's stream event classes) and ``_anthropic_batches`` (batch results).

Usage semantics owned here (provider-semantics.md §1):

* Anthropic's ``input_tokens`` *excludes* cache reads and writes; normalized
  ``Usage.input_tokens = input_tokens + cache_creation_input_tokens + cache_read_input_tokens``.
* Cache writes are priced per TTL from ``cache_creation.ephemeral_5m/1h_input_tokens``; when the
  split is missing, at the TTL the request asked for (``cache_control.ttl``; default ``5m``).
* ``output_tokens`` already includes thinking (``thinking_tokens`` is observability only).
* ``usage.service_tier`` (``batch``...), ``usage.speed`` (``fast``) and ``usage.inference_geo``
  (``us``) select price tiers and multipliers.
* Streams: the input side and the TTL split come from ``message_start``; ``message_delta``
  usage is cumulative and *overwrites* (never adds).
* Beta ``usage.iterations``: when present the call is priced per iteration, each at its own
  model (compaction entries sit outside the top-level totals; advisor and fallback entries
  name another model).

Example:
    >>> import llmfinops
    >>> from llmfinops.testing.anthropic import AnthropicMock, anthropic_client
    >>> client = llmfinops.wrap(anthropic_client(AnthropicMock(input_tokens=12, output_tokens=5)))
    >>> msg = client.messages.create(model="claude-sonnet-4-6", max_tokens=64,
    ...                              messages=[{"role": "user", "content": "hi"}])
    >>> msg.usage.output_tokens
    5
"""

from __future__ import annotations

__all__ = ["PROVIDER", "extract_usage", "is_client", "patch", "requested_cache_ttl"]

from collections.abc import Callable, Mapping
from typing import Any

from llmfinops._recorder import CallState, ClientRuntime, new_call_state
from llmfinops.providers._base import field, view
from llmfinops.providers._stainless import patch_stainless
from llmfinops.usage import Usage, make_usage

# The stream observer and the spec read these as globals of this module (one lookup each).
from ._anthropic_batches import _batch_results_hook, batch_id_of
from ._anthropic_events import _KIND_BY_CLASS, _SKIP_FIRST, _SKIP_REST
from ._anthropic_events import _event_classes as _event_classes  # re-exported: tests call it from here
from ._anthropic_request import _strip_unset, requested_cache_ttl

PROVIDER = "anthropic"
"""Provider name written on records."""

_MESSAGES_URL = "/v1/messages"
_BATCHES_PATH = "/messages/batches/"
_MAIN_ITERATIONS = frozenset({"message", "fallback_message"})
_NO_FIELDS: Mapping[str, Any] = {}


def is_client(obj: object) -> bool:
    """Whether ``obj`` is an ``anthropic.Anthropic``/``AsyncAnthropic`` (or subclass) instance.

    Example:
        >>> import anthropic
        >>> is_client(anthropic.Anthropic(api_key="sk-ant-test"))
        True
    """
    for cls in type(obj).__mro__:
        if cls.__module__.startswith("anthropic") and cls.__name__ in ("Anthropic", "AsyncAnthropic"):
            return True
    return False


def extract_usage(usage: Any) -> Usage:
    """Convert an Anthropic usage block (``Usage``, ``BetaUsage``, an iteration entry; model or dict).

    Example:
        >>> u = extract_usage({"input_tokens": 20, "cache_read_input_tokens": 1000,
        ...                    "cache_creation_input_tokens": 300,
        ...                    "cache_creation": {"ephemeral_5m_input_tokens": 100,
        ...                                       "ephemeral_1h_input_tokens": 200},
        ...                    "output_tokens": 80, "speed": "fast"})
        >>> (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.cache_write_by_ttl, u.modifiers)
        (1320, 1000, 300, {'5m': 100, '1h': 200}, {'speed': 'fast'})
    """
    return _usage_from(view(usage), _NO_FIELDS)


def _usage_from(f: Mapping[str, Any], base: Mapping[str, Any] = _NO_FIELDS) -> Usage:
    """:func:`extract_usage` of the fields of a usage block (``None`` in ``f``: the value in ``base``).

    ``base`` is a stream's ``message_start`` usage under its cumulative ``message_delta``: a
    field the delta does not report (absent or null) keeps its start value, as the SDK's own
    accumulator does.
    """
    # Counts that are not ints (missing, null) are 0; ``type(v) is int`` first: the common case
    # without an ``isinstance`` call (which alone also accepts bools and int subclasses).
    get = f.get
    bget = base.get
    inp = get("input_tokens")
    if inp is None:
        inp = bget("input_tokens")
    if type(inp) is not int and not isinstance(inp, int):
        inp = 0
    read = get("cache_read_input_tokens")
    if read is None:
        read = bget("cache_read_input_tokens")
    if type(read) is not int and not isinstance(read, int):
        read = 0
    write = get("cache_creation_input_tokens")
    if write is None:
        write = bget("cache_creation_input_tokens")
    if type(write) is not int and not isinstance(write, int):
        write = 0
    out = get("output_tokens")
    if out is None:
        out = bget("output_tokens")
    if type(out) is not int and not isinstance(out, int):
        out = 0
    split = None
    cache_creation = get("cache_creation")
    if cache_creation is None:
        cache_creation = bget("cache_creation")
    if cache_creation is not None:  # the 5m/1h split of the cache writes
        cc = view(cache_creation)
        t5 = cc.get("ephemeral_5m_input_tokens")
        if type(t5) is not int and not isinstance(t5, int):
            t5 = 0
        t1 = cc.get("ephemeral_1h_input_tokens")
        if type(t1) is not int and not isinstance(t1, int):
            t1 = 0
        if t5 or t1:
            split = {"5m": t5, "1h": t1}
            if not write:
                write = t5 + t1
    thinking = 0
    details = get("output_tokens_details")
    if details is None:
        details = bget("output_tokens_details")
    if details is not None:
        t = view(details).get("thinking_tokens")
        if isinstance(t, int):
            thinking = t
    tier = get("service_tier")
    if tier is None:
        tier = bget("service_tier")
    u = make_usage(
        inp + write + read,
        read,
        write,
        split,
        out,
        thinking,
        tier if type(tier) is str or isinstance(tier, str) else None,
    )
    speed = get("speed")
    if speed is None:
        speed = bget("speed")
    if speed is not None and isinstance(speed, str):
        u.modifiers["speed"] = speed
    geo = get("inference_geo")
    if geo is None:
        geo = bget("inference_geo")
    if geo is not None and isinstance(geo, str):
        u.modifiers["inference_geo"] = geo
    return u


def _iteration_hops(
    state: CallState, top: Usage, iterations: list[Any]
) -> list[tuple[Usage, str | None]] | None:
    """Price parts for a beta ``usage.iterations`` list, or ``None`` to price the top level alone.

    Anthropic documents that compaction entries are *not* in the top-level fields and that
    advisor/fallback entries name their own model; summing the entries is its documented way to get
    the billed total. Whether the top level also counts advisor tokens is not documented, and with
    a fallback chain the top level is the serving hop only. So when the entries account for at
    least the top-level counts, every entry is priced at its own model (right in all those cases);
    if they account for less, the list is incomplete: the top level is priced at the call's model
    and the non-message entries (compaction, advisor) are added on top.
    """
    main: list[tuple[Usage, str | None]] = []
    other: list[tuple[Usage, str | None]] = []
    for it in iterations:
        kind = field(it, "type")
        u = extract_usage(it)
        model = field(it, "model")
        name = model if isinstance(model, str) and model else None
        if kind in _MAIN_ITERATIONS:
            main.append((u, name))
        elif kind == "compaction":
            other.append((u, None))
        else:  # advisor_message and any future kind: billed, at the model it names
            other.append((u, name))
    if not main and not other:
        return None
    if main:
        named = [u for u, m in other if m is not None]
        covered_in = sum(u.input_tokens for u, _m in main) + sum(u.input_tokens for u in named)
        covered_out = sum(u.output_tokens for u, _m in main) + sum(u.output_tokens for u in named)
        if covered_in < top.input_tokens or covered_out < top.output_tokens:
            main = []
    if main:
        main[0][0].reasoning_tokens = top.reasoning_tokens
    else:
        main = [(_copy_usage(top), None)]
    own = {state.model, state.response_model}
    parts = main + other
    for u, model in parts:
        u.service_tier = top.service_tier
        geo = top.modifiers.get("inference_geo")
        if geo is not None:
            u.modifiers["inference_geo"] = geo
        speed = top.modifiers.get("speed")
        # Fast mode is a setting of the call's own model; other models' hops run at their own speed.
        if speed is not None and (model is None or model in own):
            u.modifiers["speed"] = speed
    return parts


def _copy_usage(u: Usage) -> Usage:
    return Usage(
        input_tokens=u.input_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_write_tokens,
        cache_write_by_ttl=u.cache_write_by_ttl,
        output_tokens=u.output_tokens,
        reasoning_tokens=u.reasoning_tokens,
    )


def _set_usage(state: CallState, f: Mapping[str, Any], base: Mapping[str, Any] = _NO_FIELDS) -> None:
    """Replace what ``state`` knows about usage with the fields ``f`` (over ``base``: :func:`_usage_from`).

    Cumulative semantics: never add.
    """
    u = _usage_from(f, base)
    state.usage = u
    iterations = f.get("iterations")
    if iterations is None:
        iterations = base.get("iterations")
    state.hops = _iteration_hops(state, u, iterations) if iterations else None
    state.http_requests = 1  # iterations are priced parts of one request, not extra requests
    if u.cache_write_tokens and state.cache_write_ttl is None:
        split = u.cache_write_by_ttl
        if split is None or split["5m"] + split["1h"] != u.cache_write_tokens:
            state.cache_write_ttl = requested_cache_ttl(state.body)
    elif state.hops and state.cache_write_ttl is None:
        for hop, _ in state.hops:
            if hop.cache_write_tokens and hop.cache_write_by_ttl is None:
                state.cache_write_ttl = requested_cache_ttl(state.body)
                break


def _from_message(state: CallState, msg: Any) -> None:
    d = getattr(msg, "__dict__", None)
    if type(d) is dict and "model" in d and "usage" in d:
        # An SDK ``Message``: declared fields always sit in ``__dict__`` (what ``field`` reads first),
        # and so does the ``_request_id`` the SDK sets on top-level responses.
        model = d["model"]
        usage = d["usage"]
    else:  # dicts (raw-body replays) and anything else
        d = None
        model = field(msg, "model")
        usage = field(msg, "usage")
    if type(model) is str or isinstance(model, str):
        state.response_model = model
    if state.request_id is None:
        if d is not None and "_request_id" in d:
            rid = d["_request_id"]
        else:
            rid = None if isinstance(msg, dict) else getattr(msg, "_request_id", None)
        state.request_id = rid or (d["id"] if d is not None and "id" in d else field(msg, "id"))
    if usage is not None:
        try:  # view(usage), inline: an SDK model's declared fields, plus any it does not know yet
            f = usage.__dict__
            extra = usage.__pydantic_extra__
            if extra:
                f = {**f, **extra}
        except AttributeError:
            f = view(usage)
        _set_usage(state, f)


def _fields_of(usage: Any) -> Mapping[str, Any]:
    """``view(usage)``, with the SDK model case inline (the stream observer's hot path)."""
    try:
        f: Mapping[str, Any] = usage.__dict__
        extra = usage.__pydantic_extra__
    except AttributeError:
        return view(usage)
    return {**f, **extra} if extra else f


class _MessageObserver:
    """Raw Messages stream events; the usage is read once, like the SDK's own accumulator would.

    ``message_start`` carries the input side and the TTL split; the cumulative ``message_delta``
    values overwrite them (never add). The usage is read when the final ``message_delta``
    arrives, or, for a stream that ends before it, when its record is built (the observer is
    then the state's ``usage_reader``).
    """

    __slots__ = ("_delta", "_start", "complete", "skip", "state")

    state: CallState
    complete: bool
    _start: Mapping[str, Any]
    """The ``message_start`` usage fields (with the values of any earlier ``message_delta`` merged in)."""
    _delta: Mapping[str, Any] | None
    """The latest ``message_delta`` usage fields."""
    skip: frozenset[type]
    """Event classes it does not need (see ``StreamObserver``): content deltas join after the first."""

    def __init__(self, state: CallState) -> None:
        self.state = state
        self.complete = False
        self._start = _NO_FIELDS
        self._delta = None
        self.skip = _SKIP_FIRST

    def observe(self, event: Any) -> bool:
        kind = _KIND_BY_CLASS.get(type(event))
        if kind is None:  # another class (a dict from a raw-body replay, a newer SDK's model)
            try:
                kind = event.type
            except AttributeError:
                kind = field(event, "type")
        if kind == "content_block_delta":
            self.state.mark_first_token()
            self.skip = _SKIP_REST
        elif kind == "message_start" or kind == "message_delta":
            # The SDK's event models hold their declared fields in __dict__ (read like ``field``).
            d = getattr(event, "__dict__", None)
            if kind == "message_start":
                self._begin(d["message"] if type(d) is dict and "message" in d else field(event, "message"))
            else:
                self._on_delta(d["usage"] if type(d) is dict and "usage" in d else field(event, "usage"))
        return True

    def _begin(self, msg: Any) -> None:
        state = self.state
        d = getattr(msg, "__dict__", None)
        if type(d) is dict and "model" in d and "usage" in d:  # an SDK ``Message`` (see _from_message)
            model = d["model"]
            usage = d["usage"]
        else:
            d = None
            model = field(msg, "model")
            usage = field(msg, "usage")
        if type(model) is str or isinstance(model, str):
            state.response_model = model
        if state.request_id is None:
            state.request_id = d["id"] if d is not None and "id" in d else field(msg, "id")
        if usage is not None:
            self._start = _fields_of(usage)
            state.usage_reader = self

    def __call__(self, state: CallState) -> None:
        """Read the usage seen so far into ``state`` (a stream that ended before its final delta)."""
        if self._start or self._delta is not None:
            _set_usage(state, self._delta or _NO_FIELDS, self._start)

    def _on_delta(self, usage: Any) -> None:
        state = self.state
        prev = self._delta
        if prev is not None:  # an earlier delta: its reported values become the base
            self._start = {**self._start, **{k: v for k, v in prev.items() if v is not None}}
        self.complete = True
        state.usage_reader = None
        if usage is not None:
            f = self._delta = _fields_of(usage)
            _set_usage(state, f, self._start)
        elif self._start:
            _set_usage(state, _NO_FIELDS, self._start)


_new_object = object.__new__


def _new_observer(state: CallState) -> _MessageObserver:
    """``_MessageObserver(state)`` without a class call (one per stream, on the call path)."""
    o: _MessageObserver = _new_object(_MessageObserver)
    o.state = state  # as __init__ does
    o.complete = False
    o._start = _NO_FIELDS
    o._delta = None
    o.skip = _SKIP_FIRST
    return o


# -- spec -----------------------------------------------------------------------------------------
class _Spec:
    provider = PROVIDER
    attempt_method = "_attempt_request"
    """Called once per HTTP attempt inside the SDK's retry loop (also under client middleware)."""

    def begin(self, runtime: ClientRuntime, options: Any) -> CallState | None:
        if options.method != "post":
            return None
        url = options.url
        if url != _MESSAGES_URL and not url.endswith(_MESSAGES_URL):
            return None  # count_tokens, batches.create, files, models...: nothing billed
        body = options.json_data
        if type(body) is not dict and not isinstance(body, dict):
            return None
        # The resource methods pass every parameter, unset ones as the SDK's ``omit`` sentinel
        # (stripped later in the SDK's own request()); drop them so that before-call hooks see the
        # same clean body as with OpenAI. The dict is built fresh by the resource method.
        _strip_unset(body)
        model = body.get("model")
        cap = body.get("max_tokens")
        return new_call_state(
            runtime,
            "messages",
            "chat",
            model if type(model) is str or isinstance(model, str) else "",
            body.get("stream") is True,
            cap if type(cap) is int else None,
            body,
        )

    # Called directly (no method frame in between): ``on_response(state, response)`` and
    # ``observer(state)``, a fresh observer for one stream.
    on_response = staticmethod(_from_message)
    observer = staticmethod(_new_observer)

    def on_stream(self, state: CallState, stream: Any) -> None:
        # Stream events do not carry the request id; the header is read with the record.
        state.response_headers = stream.response.headers

    def result_hook(self, runtime: ClientRuntime, options: Any) -> Callable[[Any, bool], Any] | None:
        if options.method != "get":
            return None
        path = options.url.split("?", 1)[0]
        if not path.endswith("/results") or _BATCHES_PATH not in path:
            return None
        return _batch_results_hook(runtime, _from_message, batch_id_of(path))


SPEC = _Spec()


def patch(client: Any, runtime: ClientRuntime) -> Callable[[], None]:
    """Meter ``client`` in place; return the undo function.

    Example:
        >>> from llmfinops._recorder import ClientRuntime
        >>> from llmfinops.testing.anthropic import anthropic_client
        >>> c = anthropic_client()
        >>> undo = patch(c, ClientRuntime(PROVIDER))
        >>> undo()
    """
    return patch_stainless(client, SPEC, runtime)
