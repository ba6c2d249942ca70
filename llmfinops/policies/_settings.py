"""Policy settings and their three layers: global defaults, per client (``wrap``), per scope.

A setting is resolved per call, field by field: the innermost :class:`policy` scope that
sets it wins, then the ``wrap(...)`` option of the client, then :func:`configure_policies`.
``None`` switches a policy off at that layer; an unset field inherits.
"""

from __future__ import annotations

__all__ = [
    "UNSET",
    "Limit",
    "Policy",
    "Resolved",
    "TokenLimit",
    "configure_policies",
    "current_policy",
    "global_policy",
    "make_policy",
    "policy",
    "reset_policies",
    "resolve",
]

import contextvars
import fnmatch
import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from types import TracebackType
from typing import Any, TypeAlias, TypeVar

from llmfinops._internal import UNSET, Unset, is_coroutine_function
from llmfinops.exceptions import ConfigurationError

from ._cache_policy import CachePolicy

_Unset = Unset  # the sentinel lives in _internal so wrap() can default to it without importing policies

TokenLimit: TypeAlias = int | Mapping[str, int | None] | Callable[[str], int | None]
"""A token limit: one number, a ``{model or glob: limit}`` mapping (``"*"`` = any other), or ``fn(model)``."""

F = TypeVar("F", bound=Callable[..., Any])


class Limit:
    """A validated token limit that answers "what is the limit for this model?".

    Example:
        >>> lim = Limit("max_output_tokens", {"gpt-4o": 512, "claude-*": 1024, "*": 2048})
        >>> lim.for_model("claude-sonnet-4-5"), lim.for_model("gpt-4o"), lim.for_model("o3")
        ((1024, "model 'claude-sonnet-4-5' (key 'claude-*')"), (512, "model 'gpt-4o'"), (2048, "key '*'"))
    """

    __slots__ = ("_exact", "_fn", "_globs", "_value", "name", "spec")

    def __init__(self, name: str, spec: TokenLimit) -> None:
        self.name = name
        self.spec = spec
        self._value: int | None = None
        self._fn: Callable[[str], int | None] | None = None
        self._exact: dict[str, int | None] = {}
        self._globs: list[tuple[str, int | None]] = []
        if isinstance(spec, bool):
            raise ConfigurationError(
                f"{name}={spec!r} is not a token count; use a positive int, a mapping or a callable"
            )
        if isinstance(spec, int):
            self._value = _check(name, spec)
        elif isinstance(spec, Mapping):
            for key, v in spec.items():
                if not isinstance(key, str):
                    raise ConfigurationError(
                        f"{name}: mapping key {key!r} must be a model name or glob (str)"
                    )
                lim = None if v is None else _check(f"{name}[{key!r}]", v)
                if any(c in key for c in "*?["):
                    self._globs.append((key, lim))
                else:
                    self._exact[key] = lim
            # the catch-all "*" goes last so that more specific globs win
            self._globs.sort(key=lambda kv: kv[0] == "*")
        elif callable(spec):
            self._fn = spec
        else:
            raise ConfigurationError(
                f"{name}={spec!r} is not supported; use a positive int, a {{model: int}} mapping "
                "or a callable"
            )

    def for_model(self, model: str) -> tuple[int | None, str]:
        """Return ``(limit, why)`` for ``model``; ``limit`` is ``None`` when no limit applies."""
        if self._value is not None:
            return self._value, ""
        if self._fn is not None:
            v = self._fn(model)
            if v is None:
                return None, ""
            return _check(f"{self.name} (callable, model {model!r})", v), f"model {model!r} (callable)"
        if model in self._exact:
            return self._exact[model], f"model {model!r}"
        for pattern, v in self._globs:
            if fnmatch.fnmatchcase(model, pattern):
                if pattern == "*":
                    return v, "key '*'"
                return v, f"model {model!r} (key {pattern!r})"
        return None, ""

    def __repr__(self) -> str:
        return f"{self.spec!r}"


def _check(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name}={value!r} must be a positive int (tokens)")
    return value


@dataclass(frozen=True, slots=True)
class Policy:
    """One layer of request policies. Build it with :func:`make_policy` (it validates).

    Example:
        >>> p = make_policy(max_output_tokens=256)
        >>> p.max_output_tokens.for_model("gpt-4o")
        (256, '')
    """

    max_output_tokens: Limit | _Unset | None = UNSET
    """Cap on generated tokens (injected when absent, larger values clamped)."""
    max_input_tokens: Limit | _Unset | None = UNSET
    """Refuse requests whose estimated prompt is larger."""
    cache: CachePolicy | _Unset | None = UNSET
    """Prompt-cache placement (Anthropic breakpoints, OpenAI ``prompt_cache_key``)."""
    fingerprint: bool | _Unset = UNSET
    """Write ``prefix_fingerprint`` on records (default on)."""
    lint: bool | _Unset = UNSET
    """Warn about per-request values inside the cacheable prefix (default on)."""

    def merged_over(self, below: Policy) -> Policy:
        """This layer's set fields over ``below``'s."""
        changes = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}
        return replace(below, **changes) if changes else below

    def is_empty(self) -> bool:
        """Whether no field is set."""
        return all(getattr(self, f.name) is UNSET for f in fields(self))


_EMPTY = Policy()


def make_policy(
    *,
    max_output_tokens: TokenLimit | _Unset | None = UNSET,
    max_input_tokens: TokenLimit | _Unset | None = UNSET,
    cache: str | CachePolicy | _Unset | None = UNSET,
    fingerprint: bool | _Unset = UNSET,
    lint: bool | _Unset = UNSET,
) -> Policy:
    """Validate and build one policy layer (shorthands normalized: ``cache="auto"``).

    Raises:
        ConfigurationError: A value is invalid; the message names it and the fix.

    Example:
        >>> make_policy(cache="auto").cache.history_ttl
        '5m'
    """
    out: dict[str, Any] = {}
    for name, value in (("max_output_tokens", max_output_tokens), ("max_input_tokens", max_input_tokens)):
        if value is UNSET or value is None:
            out[name] = value
        else:
            out[name] = Limit(name, value)  # type: ignore[arg-type]
    if cache is UNSET or cache is None or isinstance(cache, CachePolicy):
        out["cache"] = cache
    elif cache == "auto":
        out["cache"] = CachePolicy()
    else:
        raise ConfigurationError(f"cache={cache!r} is not supported; use 'auto', a CachePolicy(...) or None")
    for name, flag in (("fingerprint", fingerprint), ("lint", lint)):
        if flag is not UNSET and not isinstance(flag, bool):
            raise ConfigurationError(f"{name}={flag!r} must be True or False")
        out[name] = flag
    return Policy(**out)


# -- layers --------------------------------------------------------------------------------------
_lock = threading.Lock()
_global: Policy = _EMPTY
_SCOPE: contextvars.ContextVar[Policy | None] = contextvars.ContextVar("llmfinops_policy", default=None)

SCOPE_LABEL = "llmfinops.policy(...) scope"
CLIENT_LABEL = "wrap(...)"
GLOBAL_LABEL = "llmfinops.policies.configure_policies(...)"


def configure_policies(
    *,
    max_output_tokens: TokenLimit | _Unset | None = UNSET,
    max_input_tokens: TokenLimit | _Unset | None = UNSET,
    cache: str | CachePolicy | _Unset | None = UNSET,
    fingerprint: bool | _Unset = UNSET,
    lint: bool | _Unset = UNSET,
) -> None:
    """Set process-wide policy defaults (for every wrapped client). Only the arguments you pass change.

    Args:
        max_output_tokens: Output cap: an int, ``{model or glob: int}`` or ``fn(model) -> int | None``.
        max_input_tokens: Refuse prompts estimated above this (same shapes).
        cache: ``"auto"``, a :class:`CachePolicy` or ``None`` (off).
        fingerprint: Write ``prefix_fingerprint`` on records (default ``True``).
        lint: Warn about cache busters in the static prefix (default ``True``).

    Raises:
        ConfigurationError: On an invalid value.

    Example:
        >>> configure_policies(max_output_tokens={"claude-*": 1024, "*": 2048})
        >>> reset_policies()
    """
    global _global
    layer = make_policy(
        max_output_tokens=max_output_tokens,
        max_input_tokens=max_input_tokens,
        cache=cache,
        fingerprint=fingerprint,
        lint=lint,
    )
    with _lock:
        _global = layer.merged_over(_global)


def reset_policies() -> None:
    """Forget the global policy defaults and the lint's memory of prompts (tests use this).

    Example:
        >>> reset_policies()
    """
    global _global
    from ._lint import reset_lint

    with _lock:
        _global = _EMPTY
    reset_lint()


def global_policy() -> Policy:
    """The global layer set by :func:`configure_policies`.

    Example:
        >>> global_policy().is_empty()
        True
    """
    return _global


def current_policy() -> Policy | None:
    """The merged :class:`policy` scopes in force in this context, if any.

    Example:
        >>> current_policy() is None
        True
    """
    return _SCOPE.get()


class policy:  # used like a function: ``with llmfinops.policy(...)`` / ``@llmfinops.policy(...)``
    """Override request policies for every LLM call made inside a block or decorated function.

    A field passed here beats the client's ``wrap(...)`` option and the global default;
    ``None`` switches that policy off inside the scope; fields not passed are inherited.
    Nested scopes merge, the inner one winning. Works across ``await``.

    Args:
        max_output_tokens: Output cap (int, ``{model or glob: int}`` or ``fn(model)``).
        max_input_tokens: Refuse prompts estimated above this.
        cache: ``"auto"``, a :class:`CachePolicy` or ``None``.
        fingerprint: Write ``prefix_fingerprint`` on records.
        lint: Warn about cache busters.

    Raises:
        ConfigurationError: On an invalid value (when the scope is created).

    Example:
        >>> import llmfinops
        >>> with llmfinops.policies.policy(max_output_tokens=256):
        ...     current_policy().max_output_tokens.for_model("gpt-4o")[0]
        256
        >>> @policy(max_input_tokens=8000)
        ... def summarize() -> int | None:
        ...     return current_policy().max_input_tokens.for_model("x")[0]
        >>> summarize()
        8000
    """

    __slots__ = ("_layer", "_token")

    def __init__(
        self,
        *,
        max_output_tokens: TokenLimit | _Unset | None = UNSET,
        max_input_tokens: TokenLimit | _Unset | None = UNSET,
        cache: str | CachePolicy | _Unset | None = UNSET,
        fingerprint: bool | _Unset = UNSET,
        lint: bool | _Unset = UNSET,
    ) -> None:
        self._layer = make_policy(
            max_output_tokens=max_output_tokens,
            max_input_tokens=max_input_tokens,
            cache=cache,
            fingerprint=fingerprint,
            lint=lint,
        )
        self._token: contextvars.Token[Policy | None] | None = None

    def __enter__(self) -> Policy:
        if self._token is not None:
            raise RuntimeError("llmfinops.policy(...) is not re-entrant; create a new one per block")
        outer = _SCOPE.get()
        merged = self._layer if outer is None else self._layer.merged_over(outer)
        self._token = _SCOPE.set(merged)
        return merged

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _SCOPE.reset(self._token)
            self._token = None

    async def __aenter__(self) -> Policy:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        layer = self._layer

        def scope() -> policy:
            p = policy.__new__(policy)
            p._layer = layer
            p._token = None
            return p

        if is_coroutine_function(func):

            @functools.wraps(func)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                with scope():
                    return await func(*args, **kwargs)

            return awrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with scope():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Resolved:
    """The settings in force for one call, with where each came from (for error messages)."""

    max_output_tokens: Limit | None
    max_output_source: str
    max_input_tokens: Limit | None
    max_input_source: str
    cache: CachePolicy | None
    fingerprint: bool
    lint: bool

    prefix_only: bool = False
    """No caps and no cache placement: at most the fingerprint and the lint apply."""


def _pick(name: str, scope: Policy | None, client: Policy | None, glob: Policy) -> tuple[Any, str]:
    if scope is not None:
        v = getattr(scope, name)
        if v is not UNSET:
            return v, SCOPE_LABEL
    if client is not None:
        v = getattr(client, name)
        if v is not UNSET:
            return v, CLIENT_LABEL
    return getattr(glob, name), GLOBAL_LABEL


def resolve(client: Policy | None) -> Resolved:
    """Merge scope, client and global layers for one call.

    Example:
        >>> r = resolve(make_policy(max_output_tokens=100))
        >>> (r.max_output_tokens.for_model("m")[0], r.max_output_source, r.fingerprint)
        (100, 'wrap(...)', True)
    """
    scope = _SCOPE.get()
    glob = _global
    if scope is None and client is None:  # no scope, no client options: the global layer alone
        hit0 = _plain
        if hit0 is not None and hit0[0] is glob:
            return hit0[1]
    # Layers are immutable, so the merge of the same three objects is always the same. Keyed by
    # identity (a Policy may hold unhashable limits); the entry keeps the layers alive, so an id
    # is never reused while its entry exists.
    key = (id(scope), id(client), id(glob))
    hit = _resolved.get(key)
    if hit is not None and hit[0] is scope and hit[1] is client and hit[2] is glob:
        return hit[3]
    out_lim, out_src = _pick("max_output_tokens", scope, client, glob)
    in_lim, in_src = _pick("max_input_tokens", scope, client, glob)
    cache, _ = _pick("cache", scope, client, glob)
    fp, _ = _pick("fingerprint", scope, client, glob)
    lint, _ = _pick("lint", scope, client, glob)
    r = Resolved(
        max_output_tokens=out_lim or None,
        max_output_source=out_src,
        max_input_tokens=in_lim or None,
        max_input_source=in_src,
        cache=cache or None,
        fingerprint=fp is not False,
        lint=lint is not False,
        prefix_only=not out_lim and not in_lim and not cache,
    )
    if len(_resolved) > 256:  # scopes are created per call site; keep the memo small
        _resolved.clear()
    _resolved[key] = (scope, client, glob, r)
    if scope is None and client is None:
        _set_plain(glob, r)
    return r


_plain: tuple[Policy, Resolved] | None = None
"""The merge for calls with neither a scope nor client options (the common case), by global layer."""


def _set_plain(glob: Policy, r: Resolved) -> None:
    global _plain
    _plain = (glob, r)


_resolved: dict[tuple[int, int, int], tuple[Policy | None, Policy | None, Policy, Resolved]] = {}
