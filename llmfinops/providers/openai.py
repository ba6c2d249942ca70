"""OpenAI SDK adapter (``openai.OpenAI`` / ``openai.AsyncOpenAI``, and Azure subclasses).

Metered endpoints: ``chat.completions`` (incl. ``stream=True``, ``.stream()``, ``.parse()``),
``responses`` (incl. streaming), ``embeddings`` and legacy ``completions``, through every
path (``with_raw_response``, ``with_streaming_response``). Usage semantics owned here:
``prompt_tokens``/``input_tokens`` include ``cached_tokens`` and ``cache_write_tokens``;
``completion_tokens``/``output_tokens`` include ``reasoning_tokens``; prices follow the
``service_tier`` the response reports. For Chat streams we ask for ``include_usage`` and
hide the extra usage-only chunk from callers who did not ask for it.
"""

from __future__ import annotations

__all__ = ["PROVIDER", "extract_usage", "is_client", "patch"]

from collections.abc import Callable
from typing import Any

from llmfinops._recorder import CallState, ClientRuntime, new_call_state
from llmfinops.tokens import estimate_prompt_tokens, estimate_tokens
from llmfinops.usage import Usage, make_usage

from ._base import field, int_field, view
from ._stainless import patch_stainless

PROVIDER = "openai"
"""Provider name written on records."""

_ENDPOINTS: dict[str, tuple[str, str, str | None]] = {
    # url: (endpoint, OTel operation, request field carrying the output cap)
    "/chat/completions": ("chat.completions", "chat", "max_completion_tokens"),
    "/responses": ("responses", "chat", "max_output_tokens"),
    "/embeddings": ("embeddings", "embeddings", None),
    "/completions": ("completions", "text_completion", "max_tokens"),
}


def is_client(obj: object) -> bool:
    """Whether ``obj`` is an ``openai.OpenAI``/``AsyncOpenAI`` (or subclass) instance."""
    for cls in type(obj).__mro__:
        if cls.__module__.startswith("openai") and cls.__name__ in ("OpenAI", "AsyncOpenAI"):
            return True
    return False


def extract_usage(usage: Any) -> Usage:
    """Convert an OpenAI usage block (Chat, Responses, Embeddings; model or dict) to :class:`Usage`.

    Example:
        >>> u = extract_usage({"prompt_tokens": 1200, "completion_tokens": 300,
        ...                    "prompt_tokens_details": {"cached_tokens": 1024},
        ...                    "completion_tokens_details": {"reasoning_tokens": 200}})
        >>> (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens)
        (1200, 1024, 300, 200)
    """
    f = view(usage)
    get = f.get
    inp = get("prompt_tokens")
    if inp is None:
        inp = get("input_tokens")
    out = get("completion_tokens")
    if out is None:
        out = get("output_tokens")
    details = get("prompt_tokens_details") or get("input_tokens_details")
    cached = write = 0
    by_ttl: dict[str, int] | None = None
    if details is not None:
        d = view(details)
        cached = d.get("cached_tokens") or 0
        write = d.get("cache_write_tokens") or 0
        wd = d.get("cache_write_tokens_details")
        if wd is not None:
            t30, t12 = int_field(wd, "ttl_30m_tokens"), int_field(wd, "ttl_12h_tokens")
            if t30 or t12:
                by_ttl = {"30m": t30, "12h": t12}
    reasoning = 0
    od = get("completion_tokens_details") or get("output_tokens_details")
    if od is not None:
        r = view(od).get("reasoning_tokens")
        if type(r) is int:
            reasoning = r
    return make_usage(
        inp if type(inp) is int else 0,
        cached if type(cached) is int else 0,
        write if type(write) is int else 0,
        by_ttl,
        out if type(out) is int else 0,
        reasoning,
        None,
    )


class _Dict:
    """Attribute view of a dict (raw-response bodies), so one extraction path serves both."""

    __slots__ = ("_d",)

    def __init__(self, d: dict[str, Any]) -> None:
        self._d = d

    def __getattr__(self, name: str) -> Any:
        v = self._d.get(name)
        return _Dict(v) if isinstance(v, dict) else v


def _from_response(state: CallState, resp: Any) -> None:
    f = view(resp)
    model = f.get("model")
    if type(model) is str:
        state.response_model = model
    if state.request_id is None:
        rid = None if type(resp) is dict else getattr(resp, "_request_id", None)
        state.request_id = rid or f.get("id")
    usage = f.get("usage")
    if usage is not None:
        u = extract_usage(usage)
        tier = f.get("service_tier")
        if type(tier) is str:
            u.service_tier = tier
        state.usage = u


class _Observer:
    """Shared part of the stream observers: the text seen, for an estimate if usage never comes."""

    def __init__(self, state: CallState) -> None:
        self.state = state
        self.complete = False
        self.texts: list[str] = []
        state.estimator = self.estimate

    def estimate(self) -> Usage | None:
        """Usage estimate for a stream cut before the provider reported usage."""
        state = self.state
        if state.body is None:
            return None
        return Usage(
            input_tokens=estimate_prompt_tokens(PROVIDER, state.body),
            output_tokens=estimate_tokens("".join(self.texts), model=state.model),
        )


class _ChatObserver(_Observer):
    """Chat Completions chunks: usage arrives on the last chunk (with empty ``choices``)."""

    def __init__(self, state: CallState, hide_usage_chunk: bool) -> None:
        super().__init__(state)
        self.hide = hide_usage_chunk

    def observe(self, chunk: Any) -> bool:
        if type(chunk) is dict:
            chunk = _Dict(chunk)
        choices = chunk.choices
        if choices:
            state = self.state
            if state.first_token_at is None:
                state.mark_first_token()
                if state.response_model is None:
                    self._meta(chunk)
            for choice in choices:
                delta = choice.delta if type(choice) is not dict else _Dict(choice).delta
                if delta is not None:
                    content = getattr(delta, "content", None)
                    if content:
                        self.texts.append(content)
        elif self.state.response_model is None:
            self._meta(chunk)
        usage = chunk.usage
        if usage is not None:
            u = extract_usage(usage)
            tier = getattr(chunk, "service_tier", None)
            if type(tier) is str:
                u.service_tier = tier
            state = self.state
            state.usage = u
            self.complete = True
            if self.hide and not choices:
                return False
        return True

    def _meta(self, chunk: Any) -> None:
        state = self.state
        model = chunk.model
        if isinstance(model, str):
            state.response_model = model
            state.request_id = state.request_id or chunk.id


class _ResponsesObserver(_Observer):
    """Responses API events: usage is on ``response.completed`` (or incomplete/failed)."""

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def observe(self, event: Any) -> bool:
        kind = field(event, "type")
        if kind in self._FINAL:
            _from_response(self.state, field(event, "response"))
            self.complete = True
        elif isinstance(kind, str) and kind.endswith(".delta"):
            if self.state.first_token_at is None:
                self.state.mark_first_token()
            delta = field(event, "delta")
            if isinstance(delta, str):
                self.texts.append(delta)
        elif kind == "response.created" and self.state.response_model is None:
            resp = field(event, "response")
            model = field(resp, "model")
            if isinstance(model, str):
                self.state.response_model = model
            self.state.request_id = self.state.request_id or field(resp, "id")
        return True


class _Spec:
    provider = PROVIDER
    attempt_method = "_send_request"

    def begin(self, runtime: ClientRuntime, options: Any) -> CallState | None:
        if options.method != "post":
            return None
        ep = _ENDPOINTS.get(options.url)
        body = options.json_data
        if ep is None or not isinstance(body, dict):
            return None
        endpoint, operation, cap_field = ep
        stream = body.get("stream") is True
        cap = body.get(cap_field) if cap_field else None
        if cap is None and endpoint == "chat.completions":
            cap = body.get("max_tokens")
        ttl = None
        pco = body.get("prompt_cache_options")
        if isinstance(pco, dict) and isinstance(pco.get("ttl"), str):
            ttl = pco["ttl"]
        model = body.get("model")
        state = new_call_state(
            runtime,
            endpoint,
            operation,
            model if type(model) is str else str(model or ""),
            stream,
            cap if type(cap) is int else None,
            body,
        )
        if ttl is not None:
            state.cache_write_ttl = ttl
        if stream and endpoint in ("chat.completions", "completions"):
            so = body.get("stream_options")
            if not (isinstance(so, dict) and so.get("include_usage") is True):
                body["stream_options"] = {**(so if isinstance(so, dict) else {}), "include_usage": True}
                state.adapter_data = True  # we injected it: hide the usage-only chunk
        return state

    def on_response(self, state: CallState, response: Any) -> None:
        _from_response(state, response)

    def observer(self, state: CallState) -> _ChatObserver | _ResponsesObserver:
        if state.endpoint == "responses":
            return _ResponsesObserver(state)
        return _ChatObserver(state, hide_usage_chunk=state.adapter_data is True)


SPEC = _Spec()


def patch(client: Any, runtime: ClientRuntime) -> Callable[[], None]:
    """Meter ``client`` in place; return the undo function."""
    return patch_stainless(client, SPEC, runtime)
