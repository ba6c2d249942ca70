"""``Budget`` / ``budget()``: limits as a decorator, a context manager, or global rules."""

from __future__ import annotations

__all__ = [
    "RUN_STORE",
    "Budget",
    "BudgetScope",
    "BudgetStatus",
    "BudgetedFunction",
    "CallContext",
    "KeyFunc",
    "OnExceed",
    "Unit",
    "budget",
    "counter_name",
    "current_scopes",
    "hash_user",
    "remaining",
    "ttl_for",
]

import functools
import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, NoReturn, ParamSpec, TypeVar, overload

from llmfinops._config import get_config
from llmfinops._context import current_tags
from llmfinops.exceptions import ConfigurationError

from ._breaker import Breaker
from ._counters import RUN_STORE, BudgetStatus, Unit, counter_name, ttl_for
from ._counters import UNITS as UNITS
from ._counters import from_units as from_units
from ._estimate import to_nano
from ._remaining import _REGISTRY, remaining
from ._scopes import _SCOPES, BudgetedFunction, BudgetScope, _Active, _drive_agen, _drive_gen, current_scopes
from ._settings import _thresholds, get_budget_settings, get_store
from ._spec import _WELL_KNOWN, CallContext, KeyFunc, _parse_count, _parse_usd
from ._userid import hash_user
from ._window import Span, Window, WindowLike

P = ParamSpec("P")
R = TypeVar("R")

OnExceed = Literal["raise", "degrade", "warn"]
OnMissing = Literal["shared", "skip", "raise"]


class Budget:
    """A spending limit in USD, tokens and/or calls, over a window, for a key.

    Use it as a decorator (sync or async functions, generators), as a context manager, or
    globally (``configure_budgets(budgets=[...])``). Scopes nest: a call made inside
    ``org ⊃ team ⊃ user`` scopes reserves its worst-case cost against all of them at once —
    or against none, refused with :class:`~llmfinops.BudgetExceeded` before anything is sent.

    Args:
        usd: Dollar limit (``5``, ``"0.50"``, ``Decimal``).
        tokens: Token limit (input + output).
        calls: Limit on the number of LLM calls (a tool-call storm guard).
        window: ``"call"``, ``"run"``, ``"hour"``, ``"day"`` (default), ``"week"``, ``"month"``,
            a ``timedelta`` (rolling) or a :class:`Window`.
        per: Whose spend: a tag name (``"user"``, ``"team"``, ``"feature"``, ``"environment"``
            or any custom tag from ``llmfinops.tags(...)``) or a callable ``(CallContext) -> key``.
        key: A fixed key instead (``"org"``, ``"acme-prod"``). Without ``per``/``key`` a decorated
            function's budget is keyed by the function's qualified name.
        tz: Time zone of a calendar window (default ``configure_budgets(timezone=...)``, UTC).
        on_exceed: ``"raise"`` (default), ``"degrade"`` (switch to ``degrade_to``) or ``"warn"``
            (allow, alert).
        degrade_to: The cheaper model, or a mapping ``{model: cheaper_model}`` (chains are followed).
        thresholds: Alert percentages for this budget (default from settings: 50, 70, 90, 100).
        name: Display name (alerts, errors) and the prefix of keys from a ``per`` callable.
        on_missing: When the ``per`` tag is not set: ``"shared"`` (one shared ``team:(untagged)``
            allowance, default), ``"skip"`` (the budget does not apply) or ``"raise"``.
        breaker: Runaway protection per key (see :class:`Breaker`).

    Raises:
        ConfigurationError: On invalid arguments.

    Example:
        >>> import llmfinops
        >>> from llmfinops.budgets import Budget
        >>> @Budget(usd=2, per="user", window="day")
        ... def answer(question: str) -> str:
        ...     return "..."
        >>> answer.budget.usd
        Decimal('2')
    """

    def __init__(
        self,
        *,
        usd: Decimal | str | float | None = None,
        tokens: int | None = None,
        calls: int | None = None,
        window: WindowLike = "day",
        per: str | KeyFunc | None = None,
        key: str | None = None,
        tz: str | None = None,
        on_exceed: OnExceed | None = None,
        degrade_to: str | Mapping[str, str] | None = None,
        thresholds: Iterable[float] | None = None,
        name: str | None = None,
        on_missing: OnMissing = "shared",
        breaker: Breaker | None = None,
    ) -> None:
        self.usd = _parse_usd(usd)
        self.tokens = _parse_count("tokens", tokens)
        self.calls = _parse_count("calls", calls)
        if self.usd is None and self.tokens is None and self.calls is None and breaker is None:
            raise ConfigurationError(
                "budget() needs a limit: usd=..., tokens=... and/or calls=... (or breaker=Breaker(...)), "
                "e.g. @budget(usd=5, per='user', window='day')"
            )
        self.window = Window.parse(window, tz=tz)
        if tz is not None and self.window.kind not in ("hour", "day", "week", "month"):
            raise ConfigurationError(
                f"budget tz={tz!r} only applies to calendar windows, not window={window!r}"
            )
        if self.window.kind == "call" and self.calls is not None:
            raise ConfigurationError(
                "budget(calls=..., window='call') limits nothing (each call is one call); "
                "use window='run' to cap the calls of one task, or a time window"
            )
        if per is not None and key is not None:
            raise ConfigurationError("budget(): give per= (whose spend) or key= (a fixed key), not both")
        if key is not None and (not isinstance(key, str) or not key or "|" in key):
            raise ConfigurationError(f"budget key={key!r} must be a non-empty string without '|'")
        self.key = key
        self._per_tag: str | None = None
        self._per_fn: KeyFunc | None = None
        if isinstance(per, str):
            if not per:
                raise ConfigurationError("budget per='' is empty; use a tag name such as 'user' or 'team'")
            self._per_tag = _WELL_KNOWN.get(per, per)
            self._key_name = "user" if self._per_tag == "user_id" else per
        elif per is not None:
            if not callable(per):
                raise ConfigurationError(
                    f"budget per={per!r} must be a tag name or a callable (CallContext) -> key"
                )
            self._per_fn = per
            fname = getattr(per, "__name__", "") or ""
            self._key_name = name or (fname if fname.isidentifier() and fname != "<lambda>" else "key")
        else:
            self._key_name = name or ""
        if on_missing not in ("shared", "skip", "raise"):
            raise ConfigurationError(f"budget on_missing={on_missing!r}; use 'shared', 'skip' or 'raise'")
        self.on_missing: OnMissing = on_missing
        if on_exceed is None:
            on_exceed = "degrade" if degrade_to is not None else "raise"
        if on_exceed not in ("raise", "degrade", "warn"):
            raise ConfigurationError(f"budget on_exceed={on_exceed!r}; use 'raise', 'degrade' or 'warn'")
        if on_exceed == "degrade":
            if not degrade_to:
                raise ConfigurationError(
                    "budget(on_exceed='degrade') needs degrade_to='<cheaper model>' "
                    "(or a {model: cheaper} mapping)"
                )
            if not isinstance(degrade_to, (str, Mapping)):
                raise ConfigurationError(
                    f"budget degrade_to={degrade_to!r} must be a model name or a mapping"
                )
        elif degrade_to is not None:
            raise ConfigurationError(
                f"budget degrade_to= needs on_exceed='degrade' (got on_exceed={on_exceed!r})"
            )
        self.on_exceed: OnExceed = on_exceed
        self.degrade_to = degrade_to
        self.thresholds = (
            _thresholds(thresholds, "budget(thresholds=...)") if thresholds is not None else None
        )
        if breaker is not None and not isinstance(breaker, Breaker):
            raise ConfigurationError(f"budget breaker={breaker!r} is not a Breaker")
        self.breaker = breaker
        self._fn_key: str | None = None
        self._name = name
        self.limits: dict[Unit, int] = {}
        """Limits in store units (nano-USD, tokens, calls)."""
        if self.usd is not None:
            self.limits["usd"] = to_nano(self.usd)
        if self.tokens is not None:
            self.limits["tokens"] = self.tokens
        if self.calls is not None:
            self.limits["calls"] = self.calls
        _REGISTRY.add(self)
        from ._enforce import install

        install()

    # -- description --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Display name: ``name=``, the fixed key, ``per <tag>`` or the decorated function."""
        if self._name:
            return self._name
        if self.key:
            return self.key
        if self._per_tag or self._per_fn:
            return f"per {self._key_name}"
        return self._fn_key or f"{self.window.kind} budget"

    def __repr__(self) -> str:
        parts = [
            f"{u}={v}" for u, v in (("usd", self.usd), ("tokens", self.tokens), ("calls", self.calls)) if v
        ]
        if self.key:
            parts.append(f"key={self.key!r}")
        elif self._per_tag or self._per_fn:
            parts.append(f"per={self._key_name!r}")
        parts.append(f"window={str(self.window)!r}")
        return f"Budget({', '.join(parts)})"

    # -- keys ---------------------------------------------------------------------------------
    def resolve_key(self, ctx: CallContext) -> str | None:
        """The key a call with ``ctx`` is counted under (``None``: the budget does not apply).

        Example:
            >>> Budget(usd=1, per="team").resolve_key(CallContext(tags={"team": "search"}))
            'team:search'
        """
        if self.key is not None:
            return self.key
        if self._per_tag is not None:
            value = ctx.tags.get(self._per_tag)
            if value is None:
                if self.on_missing == "skip":
                    return None
                if self.on_missing == "raise":
                    raise ConfigurationError(
                        f"budget {self.name!r} is per {self._key_name!r} but the call has no "
                        f"{self._per_tag!r} tag; wrap the call in llmfinops.tags({self._per_tag}=...) "
                        "or set on_missing='shared'/'skip'"
                    )
                return f"{self._key_name}:(untagged)"
            if self._per_tag == "user_id":
                value = hash_user(value)
            return f"{self._key_name}:{value}"
        if self._per_fn is not None:
            try:
                value = self._per_fn(ctx)
            except Exception as exc:
                raise ConfigurationError(
                    f"budget {self.name!r}: the per= key function raised {type(exc).__name__}: {exc}; "
                    "it must return a key string or None"
                ) from exc
            if value is None:
                return None
            return f"{self._key_name}:{value}"
        return self._fn_key

    def matches(self, key: str) -> bool:
        """Whether this budget counts spend under ``key`` (``"team:search"``, ``"org"``...)."""
        if key in (self.key, self._fn_key):
            return True
        return bool(self._per_tag or self._per_fn) and key.startswith(self._key_name + ":")

    def degrade_target(self, model: str) -> str | None:
        """The cheaper model to use instead of ``model`` (``None``: cannot degrade)."""
        d = self.degrade_to
        if isinstance(d, str):
            return d if d != model else None
        if isinstance(d, Mapping):
            target = d.get(model)
            return target if isinstance(target, str) and target != model else None
        return None

    # -- scopes -------------------------------------------------------------------------------
    def _needs_key(self) -> bool:
        return self.window.stored and self.key is None and self._per_tag is None and self._per_fn is None

    def _activate(self) -> _Active:
        if self._needs_key() and self._fn_key is None:
            raise ConfigurationError(
                f"budget {self!r} used as a context manager needs a key: per='user'/'team'/... , "
                "key='...', or window='run' (one allowance per block)"
            )
        return _Active(self, os.urandom(6).hex() if self.window.kind == "run" else None)

    def __enter__(self) -> BudgetScope:
        active = self._activate()
        _SCOPES.set((*_SCOPES.get(), active))
        return BudgetScope(active)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        scopes = _SCOPES.get()
        for i in range(len(scopes) - 1, -1, -1):
            if scopes[i].budget is self:
                _SCOPES.set(scopes[:i] + scopes[i + 1 :])
                return

    async def __aenter__(self) -> BudgetScope:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[P, R]) -> BudgetedFunction[P, R]:
        """Decorate ``fn`` (sync, async, generator or async generator): calls run inside this budget."""
        if not callable(fn):
            raise ConfigurationError(f"@budget(...) decorates a function, got {fn!r}")
        if self._needs_key() and self._fn_key is None:
            self._fn_key = f"fn:{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
        wrapper: Any
        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                return _drive_agen(fn(*args, **kwargs), self._activate())

            wrapper = agen_wrapper
        elif inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                return _drive_gen(fn(*args, **kwargs), self._activate())

            wrapper = gen_wrapper
        elif inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _SCOPES.set((*_SCOPES.get(), self._activate()))
                try:
                    return await fn(*args, **kwargs)
                finally:
                    _SCOPES.reset(token)

            wrapper = async_wrapper
        else:

            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _SCOPES.set((*_SCOPES.get(), self._activate()))
                try:
                    return fn(*args, **kwargs)
                finally:
                    _SCOPES.reset(token)

            wrapper = sync_wrapper
        wrapper.budget = self
        wrapper.remaining = self.remaining
        return wrapper  # type: ignore[no-any-return]

    # -- introspection ------------------------------------------------------------------------
    def _context(self, tags: Mapping[str, str]) -> CallContext:
        merged = dict(current_tags())
        for k, v in tags.items():
            merged[_WELL_KNOWN.get(k, k)] = str(v)
        return CallContext(tags=merged)

    def _scope_key(self, ctx: CallContext, run: str | None) -> tuple[str, Span] | None:
        cfg = get_config()
        if self.window.kind == "run":
            if run is None:
                for a in reversed(_SCOPES.get()):
                    if a.budget is self:
                        run = a.run
                        break
            return (f"run:{run}" if run else "run:(none)"), Span("run", float("-inf"), float("inf"))
        if self.window.kind == "call":
            return self.name, Span("call", float("-inf"), float("inf"))
        key = self.resolve_key(ctx)
        if key is None:
            return None
        return key, self.window.span(cfg.clock.now(), get_budget_settings().timezone)

    def _status(self, ctx: CallContext, run: str | None = None) -> list[BudgetStatus]:
        resolved = self._scope_key(ctx, run)
        if resolved is None:
            return []
        key, span = resolved
        now = get_config().clock.now().timestamp()
        out = []
        for unit, limit in self.limits.items():
            spent = held = 0
            if self.window.kind == "run" and not key.endswith("(none)"):
                spent, held = RUN_STORE.usage(counter_name(key, "run", unit), now=now)
            elif self.window.stored:
                spent, held = get_store().usage(
                    counter_name(key, span.id, unit), now=now, rolling=span.rolling
                )
            out.append(
                BudgetStatus(
                    key=key,
                    window=span.id,
                    unit=unit,
                    limit=from_units(unit, limit),
                    spent=from_units(unit, spent),
                    reserved=from_units(unit, held),
                )
            )
        return out

    def status(self, **tags: str) -> list[BudgetStatus]:
        """Every limit of this budget for the key that ``tags`` (merged over the current tags) select.

        Example:
            >>> from llmfinops.stores import MemoryStore
            >>> from llmfinops.budgets import configure_budgets
            >>> configure_budgets(store=MemoryStore())
            >>> [s.remaining for s in Budget(usd=5, calls=100, per="team").status(team="search")]
            [Decimal('5'), Decimal('100')]
        """
        return self._status(self._context(tags))

    def remaining(self, unit: Unit = "usd", **tags: str) -> Decimal | None:
        """What is left in ``unit`` for the key ``tags`` select: limit - spent - held by calls in flight.

        Returns ``None`` when the budget has no limit in that unit, or does not apply.

        Example:
            >>> from llmfinops.stores import MemoryStore
            >>> from llmfinops.budgets import configure_budgets
            >>> configure_budgets(store=MemoryStore())
            >>> Budget(usd=5, per="team").remaining(team="search")
            Decimal('5')
        """
        for s in self.status(**tags):
            if s.unit == unit:
                return s.remaining
        return None


@overload
def budget(fn: Callable[..., Any], /) -> NoReturn: ...


@overload
def budget(
    *,
    usd: Decimal | str | float | None = None,
    tokens: int | None = None,
    calls: int | None = None,
    window: WindowLike = "day",
    per: str | KeyFunc | None = None,
    key: str | None = None,
    tz: str | None = None,
    on_exceed: OnExceed | None = None,
    degrade_to: str | Mapping[str, str] | None = None,
    thresholds: Iterable[float] | None = None,
    name: str | None = None,
    on_missing: OnMissing = "shared",
    breaker: Breaker | None = None,
) -> Budget: ...


def budget(fn: Callable[..., Any] | None = None, /, **kwargs: Any) -> Budget:
    """Create a :class:`Budget`, used as a decorator or as a context manager.

    A bare ``@budget`` (no limit) is a :class:`~llmfinops.ConfigurationError`: a budget
    without a limit would silently enforce nothing.

    Example:
        >>> import llmfinops
        >>> @llmfinops.budgets.budget(usd=5, per="team", window="day")
        ... def summarize(text: str) -> str:
        ...     return text[:10]
        >>> summarize.remaining(team="search")  # doctest: +SKIP
        Decimal('5')
    """
    if fn is not None:
        raise ConfigurationError(
            f"@budget on {getattr(fn, '__qualname__', fn)!r} has no limit; use @budget(usd=..., per=..., "
            "window=...), e.g. @budget(usd=5, per='user', window='day')"
        )
    return Budget(**kwargs)
