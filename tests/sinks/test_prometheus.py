"""PrometheusSink: counters, histogram, cardinality caps, registries and multiprocess mode."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from llmfinops.exceptions import ConfigurationError
from llmfinops.sinks.prometheus import LATENCY_BUCKETS, PrometheusSink, multiprocess_registry

from .conftest import rec

RunPython = Callable[..., subprocess.CompletedProcess[str]]
LABELS = {"provider": "openai", "model": "gpt-4o", "team": "search", "feature": "ask", "status": "ok"}


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {**LABELS, **labels})


class TestMetrics:
    def test_counters_and_histogram(self) -> None:
        """Calls, cost, tokens by type and latency buckets add up per label set."""
        registry = CollectorRegistry()
        sink = PrometheusSink(registry)
        sink.emit_batch(
            [
                rec(1, team="search", feature="ask", cost_usd="0.25", input_tokens=1000,
                    cached_input_tokens=800, output_tokens=200, reasoning_tokens=50, latency_ms=300.0),
                rec(2, team="search", feature="ask", cost_usd="0.5", input_tokens=10, output_tokens=5,
                    latency_ms=3000.0),
                rec(3, team="search", feature="ask", cost_usd=None, input_tokens=7, output_tokens=1,
                    latency_ms=50.0),
                rec(4, team="ads", feature="ask", cost_usd="1", status="error", latency_ms=10.0),
            ]
        )  # fmt: skip
        assert [
            _value(registry, "llmfinops_calls_total"),
            _value(registry, "llmfinops_cost_usd_total"),
            _value(registry, "llmfinops_unpriced_calls_total"),
            _value(registry, "llmfinops_tokens_total", token_type="input"),
            _value(registry, "llmfinops_tokens_total", token_type="cached_input"),
            _value(registry, "llmfinops_tokens_total", token_type="output"),
            _value(registry, "llmfinops_tokens_total", token_type="reasoning"),
            _value(registry, "llmfinops_tokens_total", token_type="cache_write"),
            _value(registry, "llmfinops_latency_seconds_count"),
            _value(registry, "llmfinops_latency_seconds_sum"),
            _value(registry, "llmfinops_latency_seconds_bucket", le="0.32"),
            _value(registry, "llmfinops_latency_seconds_bucket", le="2.56"),
            _value(registry, "llmfinops_latency_seconds_bucket", le="+Inf"),
        ] == [3.0, 0.75, 1.0, 1017.0, 800.0, 206.0, 50.0, None, 3.0, 0.3 + 3.0 + 0.05, 2.0, 2.0, 3.0]
        assert _value(registry, "llmfinops_cost_usd_total", team="ads", status="error") == 1.0
        assert _value(registry, "llmfinops_unpriced_calls_total", team="ads", status="error") is None

    def test_missing_values_and_tag_labels(self) -> None:
        """None becomes `unknown`; a tag can be a label."""
        registry = CollectorRegistry()
        sink = PrometheusSink(registry, labels=("model", "team", "tags.cost-center"))
        sink.emit_batch([rec(1, team=None, tags={"cost-center": "cc-42"}), rec(2, team="x")])
        assert (
            registry.get_sample_value(
                "llmfinops_calls_total", {"model": "gpt-4o", "team": "unknown", "cost_center": "cc-42"}
            )
            == 1.0
        )
        assert (
            registry.get_sample_value(
                "llmfinops_calls_total", {"model": "gpt-4o", "team": "x", "cost_center": "unknown"}
            )
            == 1.0
        )

    def test_default_buckets(self) -> None:
        """The latency histogram uses the GenAI semantic-convention boundaries (seconds)."""
        registry = CollectorRegistry()
        PrometheusSink(registry).emit(rec(1))
        text = generate_latest(registry).decode()
        bounds = [float(line.split('le="')[1].split('"')[0]) for line in text.splitlines()
                  if line.startswith("llmfinops_latency_seconds_bucket") and "+Inf" not in line]  # fmt: skip
        assert tuple(bounds) == LATENCY_BUCKETS


class TestCardinality:
    def test_values_past_the_cap_become_other(self) -> None:
        """Each label keeps at most max_label_values values; the rest fold into `other` and are counted."""
        registry = CollectorRegistry()
        sink = PrometheusSink(registry, labels=("model", "feature"), max_label_values={"feature": 2})
        sink.emit_batch([rec(i, feature=f"f{i % 5}", cost_usd="1") for i in range(10)])
        series = {
            f: registry.get_sample_value("llmfinops_cost_usd_total", {"model": "gpt-4o", "feature": f})
            for f in ("f0", "f1", "f2", "other")
        }
        assert series == {"f0": 2.0, "f1": 2.0, "f2": None, "other": 6.0}
        assert registry.get_sample_value("llmfinops_label_overflow_total", {"label": "feature"}) == 6.0

    def test_user_id_can_never_be_a_label(self) -> None:
        """user_id (and ids) are refused with a message saying why."""
        for field in ("user_id", "id", "request_id", "prompt"):
            with pytest.raises(ConfigurationError, match=f"'{field}' would give every user or call its own"):
                PrometheusSink(CollectorRegistry(), labels=("model", field))
        for field in ("input_tokens", "tags", "cost_usd"):
            with pytest.raises(ConfigurationError, match=f"'{field}' is not a label-able record field"):
                PrometheusSink(CollectorRegistry(), labels=(field,))

    def test_invalid_caps_and_names(self) -> None:
        """Bad caps, duplicate labels and bad namespaces are configuration errors."""
        with pytest.raises(ConfigurationError, match="max_label_values for 'provider' is 0"):
            PrometheusSink(CollectorRegistry(), max_label_values=0)
        with pytest.raises(ConfigurationError, match="duplicate label names"):
            PrometheusSink(CollectorRegistry(), labels=("team", "tags.team"))
        with pytest.raises(ConfigurationError, match="namespace='llm-finops' is not a valid"):
            PrometheusSink(CollectorRegistry(), namespace="llm-finops")


class TestRegistry:
    def test_two_sinks_share_one_registry(self) -> None:
        """A second sink on the same registry and namespace reuses the metrics instead of failing."""
        registry = CollectorRegistry()
        PrometheusSink(registry).emit(rec(1, team="search", feature="ask"))
        PrometheusSink(registry).emit(rec(2, team="search", feature="ask"))
        assert _value(registry, "llmfinops_calls_total") == 2.0

    def test_conflicting_labels_on_same_namespace(self) -> None:
        """Same namespace with other labels is refused with the fix."""
        registry = CollectorRegistry()
        PrometheusSink(registry)
        with pytest.raises(ConfigurationError, match="already exists in this registry"):
            PrometheusSink(registry, labels=("model",))
        PrometheusSink(registry, labels=("model",), namespace="llmfinops_by_model").emit(rec(1))
        assert registry.get_sample_value("llmfinops_by_model_calls_total", {"model": "gpt-4o"}) == 1.0

    def test_names_taken_by_another_collector(self) -> None:
        """Metric names already registered by someone else give a configuration error."""
        from prometheus_client import Counter

        registry = CollectorRegistry()
        Counter("llmfinops_calls", "theirs", registry=registry)
        with pytest.raises(ConfigurationError, match="pass another namespace= or registry="):
            PrometheusSink(registry)


MP_WRITER = """
import sys
from prometheus_client import CollectorRegistry
from llmfinops.sinks.prometheus import PrometheusSink
from llmfinops.testing import make_record
sink = PrometheusSink(CollectorRegistry())
n = int(sys.argv[1])
record = make_record(team="search", feature="ask", cost_usd="0.125", latency_ms=100.0)
sink.emit_batch([record] * n)
"""


class TestMultiprocess:
    @pytest.mark.slow
    def test_values_from_several_processes_are_aggregated(self, tmp_path: Path) -> None:
        """With PROMETHEUS_MULTIPROC_DIR, values written by several processes are summed at scrape time."""
        import os
        import sys
        import textwrap

        from .conftest import ROOT

        mp_dir = tmp_path / "prom"
        mp_dir.mkdir()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
        for n in (3, 5):
            done = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(MP_WRITER), str(n)],
                env=env, capture_output=True, text=True, check=False, timeout=60,
            )  # fmt: skip
            assert (done.returncode, done.stderr) == (0, "")
        assert len(list(mp_dir.glob("counter_*.db"))) == 2  # one file per process
        registry = multiprocess_registry(str(mp_dir))
        assert [
            _value(registry, "llmfinops_calls_total"),
            _value(registry, "llmfinops_cost_usd_total"),
            _value(registry, "llmfinops_latency_seconds_count"),
            _value(registry, "llmfinops_latency_seconds_bucket", le="0.16"),
        ] == [8.0, 1.0, 8.0, 8.0]
