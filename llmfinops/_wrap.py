"""``wrap()`` / ``unwrap()``: meter an official SDK client in place, keeping its type."""

from __future__ import annotations

__all__ = ["runtime_of", "unwrap", "wrap"]

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._internal import UNSET
from ._internal import Unset as _Unset
from ._recorder import ClientRuntime
from .exceptions import UnsupportedClientError
from .pricing import PriceTable, load_price_table
from .providers import adapter_for
from .records import CallRecord
from .typing import Sink

if TYPE_CHECKING:
    from .cache import ResponseCache
    from .policies import CachePolicy, TokenLimit

ClientT = TypeVar("ClientT")

_SUPPORTED = (
    "openai.OpenAI / openai.AsyncOpenAI (pip install 'llmfinops[openai]'), "
    "anthropic.Anthropic / anthropic.AsyncAnthropic ('llmfinops[anthropic]'), "
    "google.genai.Client ('llmfinops[google]')"
)


def wrap(
    client: ClientT,
    /,
    *,
    sinks: Sequence[Sink | Callable[[CallRecord], object]] | None = None,
    tags: Mapping[str, str] | None = None,
    price_table: PriceTable | str | os.PathLike[str] | None = None,
    service: str | None = None,
    environment: str | None = None,
    strict_pricing: bool | None = None,
    max_output_tokens: TokenLimit | _Unset | None = UNSET,
    max_input_tokens: TokenLimit | _Unset | None = UNSET,
    cache: str | CachePolicy | _Unset | None = UNSET,
    response_cache: ResponseCache | None = None,
) -> ClientT:
    """Meter every billable call of ``client`` and return the same object.

    The client is patched in place (its type, IDE completion and ``isinstance`` checks are
    unchanged); a second ``wrap`` is a no-op and :func:`unwrap` undoes it. Clients derived
    with ``client.with_options(...)`` / ``client.copy()`` are metered too.

    Request policies (``max_output_tokens``, ``max_input_tokens``, ``cache``) set here apply
    to this client; a ``llmfinops.policy(...)`` scope overrides them per call, and
    ``llmfinops.policies.configure_policies(...)`` sets them for every client
    (``docs/policies.md``).

    Args:
        client: An ``OpenAI``/``AsyncOpenAI``, ``Anthropic``/``AsyncAnthropic`` or ``genai.Client``.
        sinks: Sinks for this client only (default: the global ones from :func:`configure`).
        tags: Static attribution for every call of this client (``team``, ``feature``...).
        price_table: A table or price file for this client only.
        service: Service name for this client's records.
        environment: Environment for this client's records.
        strict_pricing: Refuse calls to unpriced models (default: global setting).
        max_output_tokens: Output cap for this client's calls: an int, ``{model or glob: int}``
            or ``fn(model) -> int | None``. Injected with each API's own parameter when the
            caller gave none, a larger value clamped (Anthropic ``max_tokens=0`` pre-warms
            stay 0; embeddings are never capped). ``None`` switches a global cap off.
        max_input_tokens: Refuse (``InputTooLarge``, before sending) requests whose prompt is
            estimated offline above this; same shapes.
        cache: ``"auto"`` or a :class:`~llmfinops.policies.CachePolicy`: place Anthropic
            ``cache_control`` breakpoints on the stable prefix, set an OpenAI
            ``prompt_cache_key`` from it. ``None`` switches a global cache policy off.
            See ``docs/caching.md``.
        response_cache: A :class:`llmfinops.cache.ResponseCache` serving repeated requests from
            the cache (hits cost $0, are recorded with ``cache_hit`` and ``saved_usd``).
            See ``docs/response-cache.md``.

    Returns:
        ``client`` itself.

    Raises:
        UnsupportedClientError: ``client`` is not a supported SDK client.
        ConfigurationError: A policy option is invalid (nothing is patched).

    Example:
        >>> import llmfinops
        >>> from openai import OpenAI
        >>> client = llmfinops.wrap(OpenAI(api_key="sk-test"), tags={"team": "search"})
        >>> isinstance(client, OpenAI)
        True
        >>> llmfinops.unwrap(client) is client
        True
        >>> from anthropic import Anthropic
        >>> claude = llmfinops.wrap(Anthropic(api_key="sk-ant-test"), cache="auto", max_output_tokens=1024)
    """
    if runtime_of(client) is not None:
        return client
    adapter = adapter_for(client)
    if adapter is None:
        raise UnsupportedClientError(
            f"llmfinops.wrap() cannot meter {type(client).__module__}.{type(client).__qualname__}; "
            f"supported clients: {_SUPPORTED}"
        )
    from .policies._hook import make_policy_hook  # the policy engine loads with the first wrap()
    from .policies._settings import make_policy

    layer = make_policy(max_output_tokens=max_output_tokens, max_input_tokens=max_input_tokens, cache=cache)
    table = price_table
    if table is not None and not isinstance(table, PriceTable):
        table = load_price_table(os.fspath(table))
    runtime = ClientRuntime(
        adapter.PROVIDER,
        sinks=list(sinks) if sinks is not None else None,
        tags=tags,
        price_table=table,
        service=service,
        environment=environment,
        strict_pricing=strict_pricing,
    )
    runtime.before_call.append(make_policy_hook(None if layer.is_empty() else layer))
    undo = adapter.patch(client, runtime)
    obj: Any = client
    obj._llmfinops_runtime = runtime
    obj._llmfinops_unpatch = undo
    if response_cache is not None:
        from .cache import enable

        enable(client, response_cache)
    return client


def unwrap(client: ClientT, /) -> ClientT:
    """Remove the metering installed by :func:`wrap` (flushing this client's own sinks).

    Example:
        >>> from openai import OpenAI
        >>> c = unwrap(OpenAI(api_key="sk-test"))  # unwrapping an unwrapped client is a no-op
    """
    obj: Any = client
    undo = getattr(obj, "_llmfinops_unpatch", None)
    runtime: ClientRuntime | None = getattr(obj, "_llmfinops_runtime", None)
    if undo is not None:
        undo()
    for attr in ("_llmfinops_runtime", "_llmfinops_unpatch"):
        obj.__dict__.pop(attr, None)
    if runtime is not None and runtime._writer is not None:
        runtime._writer.flush()
    return client


def runtime_of(client: object) -> ClientRuntime | None:
    """The runtime installed on ``client`` by :func:`wrap`, if any."""
    return getattr(client, "_llmfinops_runtime", None)
