"""Policy layers: validation, per-model limits, scopes, precedence."""

from __future__ import annotations

import asyncio

import pytest

import llmfinops
from llmfinops.policies import CachePolicy, Limit, configure_policies, current_policy, policy
from llmfinops.policies._settings import CLIENT_LABEL, GLOBAL_LABEL, SCOPE_LABEL, make_policy, resolve


class TestLimit:
    """A limit is one int, a {model or glob: int} mapping or a callable."""

    def test_int(self) -> None:
        """One number applies to every model."""
        assert Limit("max_output_tokens", 512).for_model("anything") == (512, "")

    def test_mapping_exact_glob_and_default(self) -> None:
        """Exact names beat globs, and the catch-all "*" comes last whatever its position."""
        lim = Limit("max_output_tokens", {"*": 4096, "claude-*": 1024, "claude-haiku-4-5": 256})
        assert lim.for_model("claude-haiku-4-5") == (256, "model 'claude-haiku-4-5'")
        assert lim.for_model("claude-sonnet-4-6") == (1024, "model 'claude-sonnet-4-6' (key 'claude-*')")
        assert lim.for_model("gpt-4o") == (4096, "key '*'")

    def test_mapping_without_default_and_none(self) -> None:
        """A model that matches nothing, or maps to None, has no limit."""
        lim = Limit("max_input_tokens", {"gpt-4o": 8000, "o3": None})
        assert lim.for_model("claude-sonnet-4-6") == (None, "")
        assert lim.for_model("o3") == (None, "model 'o3'")

    def test_callable(self) -> None:
        """A callable decides per model; its result is validated."""
        lim = Limit("max_output_tokens", lambda m: 300 if m.startswith("gpt") else None)
        assert lim.for_model("gpt-4o") == (300, "model 'gpt-4o' (callable)")
        assert lim.for_model("claude") == (None, "")
        bad = Limit("max_output_tokens", lambda m: -1)
        with pytest.raises(
            llmfinops.ConfigurationError, match=r"max_output_tokens \(callable, model 'x'\)=-1"
        ):
            bad.for_model("x")

    @pytest.mark.parametrize("value", [0, -5, True, 1.5, "100"])
    def test_invalid_values(self, value: object) -> None:
        """Zero, negatives, booleans, floats and strings are configuration errors naming the field."""
        with pytest.raises(llmfinops.ConfigurationError, match="max_output_tokens"):
            Limit("max_output_tokens", value)  # type: ignore[arg-type]

    def test_invalid_mapping_value(self) -> None:
        """A bad value inside a mapping names its key."""
        with pytest.raises(
            llmfinops.ConfigurationError, match=r"max_input_tokens\['gpt-4o'\]=0 must be a positive int"
        ):
            Limit("max_input_tokens", {"gpt-4o": 0})


class TestMakePolicy:
    """Shorthands and validation of one policy layer."""

    def test_cache_auto(self) -> None:
        """cache="auto" is the default CachePolicy."""
        assert make_policy(cache="auto").cache == CachePolicy()

    def test_cache_invalid(self) -> None:
        """Anything else than "auto", a CachePolicy or None is rejected."""
        with pytest.raises(llmfinops.ConfigurationError, match="cache='on' is not supported"):
            make_policy(cache="on")

    def test_flags(self) -> None:
        """fingerprint and lint take booleans only."""
        assert make_policy(lint=False).lint is False
        with pytest.raises(llmfinops.ConfigurationError, match="lint='no' must be True or False"):
            make_policy(lint="no")  # type: ignore[arg-type]

    def test_empty(self) -> None:
        """A layer with no field set is empty."""
        assert make_policy().is_empty()
        assert not make_policy(max_output_tokens=None).is_empty()

    def test_wrap_rejects_bad_options_before_patching(self) -> None:
        """wrap() validates policy options and leaves the client unpatched on error."""
        from llmfinops.testing.openai import openai_client

        client = openai_client()
        with pytest.raises(llmfinops.ConfigurationError, match="max_output_tokens=0"):
            llmfinops.wrap(client, max_output_tokens=0)
        assert getattr(client, "_llmfinops_runtime", None) is None


class TestScopes:
    """llmfinops.policy(...) as a context manager and decorator."""

    def test_nested_scopes_merge(self) -> None:
        """The inner scope wins field by field; leaving restores the outer one."""
        with policy(max_output_tokens=500, max_input_tokens=9000):
            with policy(max_output_tokens=100):
                inner = current_policy()
                assert inner is not None
                assert inner.max_output_tokens.for_model("m")[0] == 100  # type: ignore[union-attr]
                assert inner.max_input_tokens.for_model("m")[0] == 9000  # type: ignore[union-attr]
            outer = current_policy()
            assert outer is not None
            assert outer.max_output_tokens.for_model("m")[0] == 500  # type: ignore[union-attr]
        assert current_policy() is None

    def test_none_switches_off_inside_a_scope(self) -> None:
        """None in a scope turns a client's policy off for that scope."""
        client = make_policy(max_output_tokens=256)
        assert resolve(client).max_output_tokens is not None
        with policy(max_output_tokens=None):
            assert resolve(client).max_output_tokens is None

    def test_not_reentrant(self) -> None:
        """One policy object is one scope."""
        p = policy(max_output_tokens=10)
        with p, pytest.raises(RuntimeError, match="not re-entrant"):
            p.__enter__()

    def test_decorator_sync(self) -> None:
        """A decorated function runs inside the scope, every time."""

        @policy(max_output_tokens=64)
        def capped() -> int | None:
            p = current_policy()
            assert p is not None
            return p.max_output_tokens.for_model("m")[0]  # type: ignore[union-attr]

        assert capped() == 64
        assert capped() == 64
        assert current_policy() is None

    def test_decorator_async_and_async_with(self) -> None:
        """Scopes work on coroutines and with async with, across await."""

        @policy(max_input_tokens=1000)
        async def limited() -> int | None:
            await asyncio.sleep(0)
            p = current_policy()
            assert p is not None
            return p.max_input_tokens.for_model("m")[0]  # type: ignore[union-attr]

        async def main() -> tuple[int | None, int | None]:
            async with policy(max_input_tokens=2000):
                await asyncio.sleep(0)
                p = current_policy()
                assert p is not None
                outer = p.max_input_tokens.for_model("m")[0]  # type: ignore[union-attr]
            return outer, await limited()

        assert asyncio.run(main()) == (2000, 1000)


class TestPrecedence:
    """Scope > wrap() > configure_policies(), per field."""

    def test_layers(self) -> None:
        """Each field comes from the innermost layer that sets it, with its source for error messages."""
        configure_policies(max_output_tokens=4000, max_input_tokens=100_000, lint=False)
        client = make_policy(max_output_tokens=1000)
        r = resolve(client)
        assert (r.max_output_tokens.for_model("m")[0], r.max_output_source) == (1000, CLIENT_LABEL)  # type: ignore[union-attr]
        assert (r.max_input_tokens.for_model("m")[0], r.max_input_source) == (100_000, GLOBAL_LABEL)  # type: ignore[union-attr]
        assert r.lint is False
        assert r.fingerprint is True
        with policy(max_input_tokens=500):
            r = resolve(client)
            assert (r.max_input_tokens.for_model("m")[0], r.max_input_source) == (500, SCOPE_LABEL)  # type: ignore[union-attr]

    def test_configure_policies_merges(self) -> None:
        """configure_policies changes only the fields passed."""
        configure_policies(max_output_tokens=100)
        configure_policies(cache="auto")
        r = resolve(None)
        assert r.max_output_tokens is not None
        assert r.cache == CachePolicy()
