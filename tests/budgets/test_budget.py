"""The Budget API: construction, decorator forms, context manager, nesting, keys and introspection."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

import llmfinops
from llmfinops.budgets import (
    Breaker,
    Budget,
    BudgetScope,
    CallContext,
    Window,
    budget,
    configure_budgets,
    get_budget_settings,
    remaining,
)
from llmfinops.budgets._budget import counter_name, current_scopes, hash_user
from llmfinops.exceptions import ConfigurationError
from llmfinops.stores import Line, MemoryStore


def active_names() -> list[str]:
    return [a.budget.name for a in current_scopes()]


class TestConstruction:
    def test_normalizes_shorthands(self) -> None:
        """usd accepts int/str/float/Decimal; window accepts strings and timedeltas."""
        assert Budget(usd=5, key="a").usd == Decimal(5)
        assert Budget(usd="0.50", key="a").limits == {"usd": 500_000_000}
        assert Budget(usd=0.1, key="a").usd == Decimal("0.1")
        assert Budget(tokens=10, calls=3, key="a", window=timedelta(hours=1)).window == Window.rolling(3600)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, r"budget\(\) needs a limit: usd=\.\.\., tokens=\.\.\. and/or calls=\.\.\."),
            ({"usd": -1}, r"usd=-1 must be a positive amount"),
            ({"usd": "ten"}, r"usd='ten' is not an amount"),
            ({"tokens": 0}, r"tokens=0 must be a positive integer"),
            ({"calls": 2.5}, r"calls=2.5 must be a positive integer"),
            (
                {"usd": 1, "per": "team", "key": "org"},
                r"per= \(whose spend\) or key= \(a fixed key\), not both",
            ),
            ({"usd": 1, "key": "a|b"}, r"key='a\|b' must be a non-empty string without '\|'"),
            ({"usd": 1, "on_exceed": "degrade"}, r"needs degrade_to='<cheaper model>'"),
            ({"usd": 1, "on_exceed": "explode"}, r"on_exceed='explode'; use 'raise', 'degrade' or 'warn'"),
            ({"usd": 1, "on_exceed": "warn", "degrade_to": "m"}, r"degrade_to= needs on_exceed='degrade'"),
            ({"calls": 5, "window": "call"}, r"calls=\.\.\., window='call'\) limits nothing"),
            ({"usd": 1, "window": "run", "tz": "UTC"}, r"tz='UTC' only applies to calendar windows"),
            ({"usd": 1, "thresholds": [0]}, r"0 must be a percentage in \(0, 1000\]"),
            ({"usd": 1, "on_missing": "ignore"}, r"on_missing='ignore'; use 'shared', 'skip' or 'raise'"),
            ({"usd": 1, "per": 42}, r"per=42 must be a tag name or a callable"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs: dict[str, Any], message: str) -> None:
        """Invalid arguments raise ConfigurationError naming the field, the value and the fix."""
        with pytest.raises(ConfigurationError, match=message):
            Budget(**kwargs)

    def test_degrade_to_implies_degrade(self) -> None:
        """degrade_to= alone means on_exceed='degrade'."""
        b = Budget(usd=1, key="a", degrade_to="gpt-4o-mini")
        assert (b.on_exceed, b.degrade_target("gpt-4o"), b.degrade_target("gpt-4o-mini")) == (
            "degrade",
            "gpt-4o-mini",
            None,
        )

    def test_degrade_mapping(self) -> None:
        """A mapping degrades per model; unmapped models cannot degrade."""
        b = Budget(usd=1, key="a", degrade_to={"gpt-4o": "gpt-4o-mini"})
        assert (b.degrade_target("gpt-4o"), b.degrade_target("o3")) == ("gpt-4o-mini", None)

    def test_repr_and_name(self) -> None:
        """repr shows limits, key and window; name prefers name=, then key, then per."""
        b = Budget(usd="2.5", calls=10, per="team", window="month")
        assert repr(b) == "Budget(usd=2.5, calls=10, per='team', window='month')"
        assert (b.name, Budget(usd=1, key="org").name, Budget(usd=1, key="org", name="Org cap").name) == (
            "per team",
            "org",
            "Org cap",
        )


class TestBareDecorator:
    def test_bare_budget_is_a_configuration_error(self) -> None:
        """@budget without a limit would enforce nothing: it is refused with the fix."""
        with pytest.raises(
            ConfigurationError, match=r"@budget on '.*<locals>.f' has no limit; use @budget\(usd=\.\.\."
        ):

            @budget  # type: ignore[misc]
            def f() -> None:
                pass


class TestDecorator:
    def test_sync_function_keeps_signature_and_runs_in_scope(self) -> None:
        """The wrapper keeps name/doc, exposes .budget and runs the body inside the scope."""

        @budget(usd=1, per="team")
        def work(x: int) -> list[str]:
            """Doc."""
            return [*active_names(), str(x)]

        assert (work.__name__, work.__doc__) == ("work", "Doc.")
        assert isinstance(work.budget, Budget)
        assert work(3) == ["per team", "3"]
        assert current_scopes() == ()

    async def test_async_function(self) -> None:
        """Coroutines run inside the scope across awaits."""

        @budget(usd=1, key="org")
        async def work() -> list[str]:
            await asyncio.sleep(0)
            return active_names()

        assert await work() == ["org"]
        assert current_scopes() == ()

    def test_generator_scope_does_not_leak_to_consumer(self) -> None:
        """A generator runs each step inside the scope; the consumer between steps is outside it."""

        @budget(usd=1, key="gen")
        def gen() -> Iterator[list[str]]:
            yield active_names()
            received = yield active_names()
            yield [str(received)]
            return

        g = gen()
        assert next(g) == ["gen"]
        assert current_scopes() == ()
        assert next(g) == ["gen"]
        assert g.send("hi") == ["hi"]
        with pytest.raises(StopIteration):
            next(g)

    def test_generator_throw_and_close(self) -> None:
        """Exceptions thrown into the wrapper reach the generator; close() closes it."""
        closed = []

        @budget(usd=1, key="gen")
        def gen() -> Iterator[str]:
            try:
                yield "a"
            except KeyError:
                yield "caught"
            finally:
                closed.append(True)

        g = gen()
        assert next(g) == "a"
        assert g.throw(KeyError("k")) == "caught"
        g.close()
        assert closed == [True]

    async def test_async_generator(self) -> None:
        """Async generators run each step inside the scope."""

        @budget(usd=1, key="agen")
        async def agen() -> AsyncIterator[list[str]]:
            for _ in range(2):
                await asyncio.sleep(0)
                yield active_names()

        seen = [x async for x in agen()]
        assert seen == [["agen"], ["agen"]]
        assert current_scopes() == ()

    def test_function_key_defaults_to_qualified_name(self) -> None:
        """Without per=/key=, a decorated function's budget counts under fn:<module>.<qualname>."""

        @budget(usd=1)
        def summarize() -> None:
            pass

        assert summarize.budget.resolve_key(CallContext(tags={})) == (
            "fn:tests.budgets.test_budget.TestDecorator.test_function_key_defaults_to_qualified_name."
            "<locals>.summarize"
        )

    def test_rejects_non_callable(self) -> None:
        """Decorating something that is not a function is a configuration error."""
        with pytest.raises(ConfigurationError, match=r"decorates a function, got 3"):
            Budget(usd=1, key="a")(3)  # type: ignore[arg-type]


class TestContextManager:
    def test_nested_scopes_outermost_first(self) -> None:
        """Nested blocks stack outermost first and unwind in order."""
        with budget(usd=100, key="org"), budget(usd=10, per="team"), budget(usd=1, per="user"):
            assert active_names() == ["org", "per team", "per user"]
        assert current_scopes() == ()

    async def test_async_with(self) -> None:
        """async with works the same."""
        async with budget(usd=1, key="org") as scope:
            assert isinstance(scope, BudgetScope)
            assert active_names() == ["org"]
        assert current_scopes() == ()

    def test_stored_window_needs_a_key(self) -> None:
        """A day budget in a with block must say whose spend it limits."""
        with (
            pytest.raises(ConfigurationError, match=r"needs a key: per='user'/'team'/\.\.\. , key='\.\.\.'"),
            budget(usd=1),
        ):
            pass

    def test_run_window_needs_no_key(self) -> None:
        """window='run' gives each block its own allowance."""
        with budget(usd=1, window="run") as a, budget(usd=1, window="run") as b:
            assert a.remaining() == Decimal(1)
            assert current_scopes()[0].run != current_scopes()[1].run
        assert b.budget.window == Window.run()

    def test_same_budget_object_in_threads_is_isolated(self) -> None:
        """One Budget object entered concurrently in threads keeps each thread's scope separate."""
        b = Budget(usd=1, key="shared")
        barrier = threading.Barrier(4)
        seen: list[int] = []

        def worker() -> None:
            with b:
                barrier.wait()
                seen.append(len(current_scopes()))
                barrier.wait()
            seen.append(len(current_scopes()))

        threads = [threading.Thread(target=contextvars.copy_context().run, args=(worker,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(seen) == [0, 0, 0, 0, 1, 1, 1, 1]

    def test_exit_removes_the_right_scope(self) -> None:
        """Leaving a block out of order removes that block's scope only."""
        outer, inner = Budget(usd=1, key="outer"), Budget(usd=1, key="inner")
        outer.__enter__()
        inner.__enter__()
        outer.__exit__(None, None, None)
        assert active_names() == ["inner"]
        inner.__exit__(None, None, None)
        assert current_scopes() == ()


class TestKeys:
    def test_tag_keys(self) -> None:
        """per=<tag> keys by that attribution tag; user ids are hashed like record user ids."""
        ctx = CallContext(
            tags={"team": "search", "feature": "autocomplete", "user_id": "alice", "tenant": "acme"}
        )
        assert Budget(usd=1, per="team").resolve_key(ctx) == "team:search"
        assert Budget(usd=1, per="feature").resolve_key(ctx) == "feature:autocomplete"
        assert Budget(usd=1, per="tenant").resolve_key(ctx) == "tenant:acme"
        assert Budget(usd=1, per="user").resolve_key(ctx) == f"user:{hash_user('alice')}"
        assert (
            hash_user("alice")
            == "u_" + __import__("hmac").new(b"test-key", b"alice", "sha256").hexdigest()[:20]
        )

    def test_raw_user_ids_when_records_are_raw(self) -> None:
        """With user_id_mode='raw', budget keys use the raw id too."""
        llmfinops.configure(user_id_mode="raw")
        assert Budget(usd=1, per="user").resolve_key(CallContext(tags={"user_id": "alice"})) == "user:alice"

    def test_missing_tag_policies(self) -> None:
        """Untagged calls share one allowance, skip the budget, or raise — as configured."""
        ctx = CallContext(tags={})
        assert Budget(usd=1, per="team").resolve_key(ctx) == "team:(untagged)"
        assert Budget(usd=1, per="team", on_missing="skip").resolve_key(ctx) is None
        with pytest.raises(
            ConfigurationError, match=r"has no 'team' tag; wrap the call in llmfinops.tags\(team=\.\.\.\)"
        ):
            Budget(usd=1, per="team", on_missing="raise").resolve_key(ctx)

    def test_callable_key(self) -> None:
        """per=callable keys by its result (None: not applicable), prefixed by its name."""

        def tenant(ctx: CallContext) -> str | None:
            return ctx.tags.get("tenant")

        b = Budget(usd=1, per=tenant)
        assert b.resolve_key(CallContext(tags={"tenant": "acme"})) == "tenant:acme"
        assert b.resolve_key(CallContext(tags={})) is None
        assert (
            Budget(usd=1, per=lambda c: c.model, name="model").resolve_key(
                CallContext(tags={}, model="gpt-4o")
            )
            == "model:gpt-4o"
        )

    def test_callable_key_failure_is_a_configuration_error(self) -> None:
        """A key function that raises is reported as a configuration error with its exception."""
        b = Budget(usd=1, per=lambda c: c.tags["nope"], name="k")
        with pytest.raises(ConfigurationError, match=r"the per= key function raised KeyError: 'nope'"):
            b.resolve_key(CallContext(tags={}))


class TestIntrospection:
    def test_remaining_and_status_read_the_store(self) -> None:
        """remaining()/status() show limit - spent - held for the selected key."""
        store = MemoryStore()
        configure_budgets(store=store)
        b = Budget(usd=5, calls=100, per="team")

        @b
        def f() -> None:
            pass

        now = llmfinops.get_config().clock.now()
        day = Window.day().span(now).id
        r = store.reserve(
            [Line(counter_name("team:search", day, "usd"), 1_250_000_000, None, 3600)],
            now=now.timestamp(),
            hold=600,
        )
        store.commit(r, [1_000_000_000], now=now.timestamp())  # type: ignore[arg-type]
        store.reserve(
            [Line(counter_name("team:search", day, "usd"), 500_000_000, None, 3600)],
            now=now.timestamp(),
            hold=600,
        )
        assert b.remaining(team="search") == Decimal("3.5")
        assert f.remaining(team="search") == Decimal("3.5")
        assert b.remaining("calls", team="search") == Decimal(100)
        assert b.remaining("tokens", team="search") is None
        with llmfinops.tags(team="search"):
            statuses = b.status()
        assert [(s.key, s.window, s.unit, s.limit, s.spent, s.reserved, s.remaining) for s in statuses] == [
            ("team:search", day, "usd", Decimal(5), Decimal(1), Decimal("0.5"), Decimal("3.5")),
            ("team:search", day, "calls", Decimal(100), Decimal(0), Decimal(0), Decimal(100)),
        ]
        assert remaining("team:search") == Decimal("3.5")
        assert remaining("team:search", "day", unit="calls") == Decimal(100)

    def test_remaining_takes_the_tightest_budget(self) -> None:
        """Several budgets on one key: remaining() reports the smallest allowance."""
        budgets = [Budget(usd=5, per="team", window="day"), Budget(usd=2, per="team", window="day")]
        assert remaining("team:search") == Decimal(2)
        del budgets
        with pytest.raises(ConfigurationError):
            remaining("team:search")  # budgets nobody references are not in force

    def test_remaining_hashes_raw_user_ids(self) -> None:
        """remaining('user:alice') looks up the hashed key."""
        store = MemoryStore()
        configure_budgets(store=store)
        user_budget = Budget(usd=1, per="user")
        now = llmfinops.get_config().clock.now()
        counter = counter_name(f"user:{hash_user('alice')}", Window.day().span(now).id, "usd")
        store.commit(
            store.reserve([Line(counter, 0, None, 60)], now=now.timestamp(), hold=60),
            [250_000_000],  # type: ignore[arg-type]
            now=now.timestamp(),
        )
        assert remaining("user:alice") == Decimal("0.75")
        assert remaining(f"user:{hash_user('alice')}") == Decimal("0.75")
        assert user_budget.remaining(user="alice") == Decimal("0.75")

    def test_remaining_without_matching_budget(self) -> None:
        """No budget counts under the key: a configuration error explains the key format."""
        monthly = Budget(usd=1, per="team", window="month")
        assert monthly.window == Window.month()
        with pytest.raises(ConfigurationError, match=r"no budget with a usd limit counts under key 'org'"):
            remaining("org")
        with pytest.raises(ConfigurationError, match=r"in window 'day'"):
            remaining("team:search", "day")

    def test_run_scope_remaining(self) -> None:
        """A run scope reports its own allowance."""
        with budget(calls=20, window="run") as run:
            assert run.remaining("calls") == Decimal(20)
            assert run.spent("calls") == Decimal(0)
            assert run.remaining("usd") is None


class TestSettings:
    def test_global_budgets_validated(self) -> None:
        """Global budgets must be Budgets with a stored window."""
        with pytest.raises(ConfigurationError, match=r"is not a Budget"):
            configure_budgets(budgets=["org"])  # type: ignore[list-item]
        with pytest.raises(ConfigurationError, match=r"window='run', which needs a decorated function"):
            configure_budgets(budgets=[Budget(usd=1, window="run")])

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"store": object()}, r"not a BudgetStore; use MemoryStore\(\)"),
            ({"timezone": "Nowhere/City"}, r"is not a known IANA time zone"),
            (
                {"on_store_error": "maybe"},
                r"on_store_error='maybe'; use 'open' \(allow \+ warn\) or 'closed'",
            ),
            ({"unpriced": "free"}, r"unpriced='free'; use 'allow' \(warn once\) or 'refuse'"),
            ({"default_max_output_tokens": 0}, r"default_max_output_tokens=0 must be a positive integer"),
            ({"reservation_ttl": 0.5}, r"reservation_ttl=0.5 must be at least 1 second"),
            ({"alert_sinks": ["slack"]}, r"alert_sinks: 'slack' is not callable"),
            ({"breaker": "on"}, r"breaker='on' is not a Breaker"),
        ],
    )
    def test_rejects_bad_settings(self, kwargs: dict[str, Any], message: str) -> None:
        """configure_budgets() validates every argument with a fix-it message."""
        with pytest.raises(ConfigurationError, match=message):
            configure_budgets(**kwargs)

    def test_only_passed_settings_change(self) -> None:
        """configure_budgets() changes what it is given; breaker=False removes the breaker."""
        configure_budgets(breaker=Breaker(calls_per_minute=10), reservation_ttl=timedelta(minutes=5))
        configure_budgets(timezone="Europe/Paris")
        s = get_budget_settings()
        assert (s.timezone, s.reservation_ttl, s.breaker is not None) == ("Europe/Paris", 300.0, True)
        configure_budgets(breaker=False)
        assert get_budget_settings().breaker is None
