"""Attribution through contextvars: who and what a call is for, without new parameters.

Example:
    >>> import llmfinops
    >>> with llmfinops.tags(team="search", feature="autocomplete"):
    ...     llmfinops.current_tags()["team"]
    'search'
"""

from __future__ import annotations

__all__ = ["current_tags", "tags"]

import contextvars
import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar

from ._internal import is_coroutine_function

_EMPTY: Mapping[str, str] = MappingProxyType({})
_TAGS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("llmfinops_tags", default=_EMPTY)

F = TypeVar("F", bound=Callable[..., Any])


def current_tags() -> Mapping[str, str]:
    """Return the attribution tags in force (read-only mapping).

    Example:
        >>> current_tags()
        mappingproxy({})
    """
    return _TAGS.get()


class tags:
    """Attach attribution to every LLM call made inside the block or decorated function.

    Well-known keys become record fields (``team``, ``feature``, ``user_id``, ``environment``,
    ``service``); any other key lands in the record's ``tags``. Nested blocks merge, the inner
    value winning. ``None`` removes a key. Works across ``await`` and in threads started with
    ``contextvars.copy_context()``.

    Example:
        >>> @tags(feature="summaries")
        ... def summarize(text: str) -> str:
        ...     return current_tags()["feature"]
        >>> summarize("x")
        'summaries'
    """

    __slots__ = ("_token", "_values")

    def __init__(self, **values: str | None) -> None:
        self._values = values
        self._token: contextvars.Token[Mapping[str, str]] | None = None

    def _merged(self) -> Mapping[str, str]:
        merged = dict(_TAGS.get())
        for k, v in self._values.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = str(v)
        return MappingProxyType(merged)

    def __enter__(self) -> Mapping[str, str]:
        if self._token is not None:
            raise RuntimeError("llmfinops.tags(...) is not re-entrant; create a new one per block")
        merged = self._merged()
        self._token = _TAGS.set(merged)
        return merged

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _TAGS.reset(self._token)
            self._token = None

    async def __aenter__(self) -> Mapping[str, str]:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        values = self._values
        if is_coroutine_function(func):

            @functools.wraps(func)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                with tags(**values):
                    return await func(*args, **kwargs)

            return awrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tags(**values):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
