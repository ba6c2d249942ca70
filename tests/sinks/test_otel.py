"""OTelSink: GenAI spans and metrics, checked with the SDK's in-memory exporters."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import llmfinops
from llmfinops import _recorder
from llmfinops.exceptions import ConfigurationError, MissingDependencyError
from llmfinops.sinks.otel import DURATION_BUCKETS, TOKEN_BUCKETS, OTelSink
from llmfinops.testing import capture_records
from llmfinops.testing.openai import OpenAIMock, openai_client

from .conftest import rec


@dataclasses.dataclass
class OTel:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    sinks: list[OTelSink] = dataclasses.field(default_factory=list)

    def sink(self, **kw: Any) -> OTelSink:
        s = OTelSink(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **kw)
        self.sinks.append(s)
        return s

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[metric.name] = list(metric.data.data_points)
        return out


@pytest.fixture
def otel() -> Iterator[OTel]:
    """Tracer and meter providers exporting to memory."""
    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    o = OTel(spans, reader, tp, mp)
    yield o
    for sink in o.sinks:
        sink.close()
    tp.shutdown()
    mp.shutdown()


RECORD = {
    "model": "gpt-4o",
    "response_model": "gpt-4o-2024-08-06",
    "request_max_tokens": 512,
    "input_tokens": 1200,
    "cached_input_tokens": 1024,
    "cache_write_tokens": 0,
    "output_tokens": 300,
    "reasoning_tokens": 64,
    "total_tokens": 1500,
    "cost_usd": "0.0047",
    "input_cost_usd": "0.00044",
    "cached_input_cost_usd": "0.00128",
    "output_cost_usd": "0.003",
    "latency_ms": 1234.5,
    "team": "search",
    "feature": "autocomplete",
    "user_id": "u_0123456789abcdef0123",
    "tags": {"project": "atlas"},
}


class TestSpans:
    def test_genai_and_cost_attributes(self, otel: OTel) -> None:
        """A span carries the GenAI semantic-convention attributes and the costs as floats."""
        sink = otel.sink(metrics=False)
        sink.emit(rec(7, **RECORD))
        (span,) = otel.finished()
        attrs = dict(span.attributes or {})
        assert (span.name, span.kind) == ("chat gpt-4o", SpanKind.CLIENT)
        assert {k: v for k, v in attrs.items() if k.startswith("gen_ai.")} == {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.request.max_tokens": 512,
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.cache_creation.input_tokens": 0,
            "gen_ai.usage.reasoning.output_tokens": 64,
        }
        assert (
            attrs["llmfinops.cost_usd"],
            attrs["llmfinops.input_cost_usd"],
            attrs["llmfinops.cached_input_cost_usd"],
            attrs["llmfinops.output_cost_usd"],
            attrs["llmfinops.team"],
            attrs["llmfinops.feature"],
            attrs["llmfinops.tags.project"],
            attrs["llmfinops.record_id"],
            attrs["llmfinops.endpoint"],
            attrs["llmfinops.price_version"],
        ) == (0.0047, 0.00044, 0.00128, 0.003, "search", "autocomplete", "atlas", "r0000007",
              "chat.completions", "2026-11-22")  # fmt: skip
        assert "llmfinops.infra_cost_usd" not in attrs  # None values are left out
        assert span.status.status_code == StatusCode.UNSET

    def test_span_times_are_the_calls(self, otel: OTel) -> None:
        """The span starts at the record's timestamp and lasts its latency, to the nanosecond."""
        sink = otel.sink(metrics=False)
        ts = datetime(2026, 11, 2, 9, 30, 0, 123456, tzinfo=UTC)
        sink.emit(rec(1, timestamp=ts, latency_ms=250.5, stream=True, time_to_first_token_ms=80.0))
        (span,) = otel.finished()
        start = 1793611800_123456000  # 2026-11-02T09:30:00.123456Z
        assert (span.start_time, span.end_time) == (start, start + 250_500_000)
        assert [(e.name, e.timestamp) for e in span.events] == [("llmfinops.first_token", start + 80_000_000)]

    def test_error_status(self, otel: OTel) -> None:
        """A failed call's span has status ERROR and error.type."""
        sink = otel.sink(metrics=False)
        sink.emit(rec(1, status="error", error_type="RateLimitError", input_tokens=0, output_tokens=0))
        (span,) = otel.finished()
        assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "RateLimitError")
        assert (span.attributes or {})["error.type"] == "RateLimitError"

    def test_message_text_only_on_request(self, otel: OTel) -> None:
        """Prompt/completion text (content capture) stays off spans unless the sink asks for it."""
        r = dataclasses.replace(rec(1), prompt='[{"role": "user", "content": "hé"}]', completion="ok")
        otel.sink(metrics=False).emit(r)
        otel.sink(metrics=False, content=True).emit(r)
        default, opted_in = otel.finished()
        assert [k for k in (default.attributes or {}) if "prompt" in k or "completion" in k] == []
        attrs = opted_in.attributes or {}
        assert (attrs["llmfinops.prompt"], attrs["llmfinops.completion"]) == (
            '[{"role": "user", "content": "hé"}]',
            "ok",
        )

    def test_google_provider_name(self, otel: OTel) -> None:
        """llmfinops' `google` provider maps to the semantic-convention value `gcp.gen_ai`."""
        otel.sink(metrics=False).emit(
            rec(1, provider="google", operation="generate_content", model="gemini-2.5")
        )
        (span,) = otel.finished()
        assert (span.name, (span.attributes or {})["gen_ai.provider.name"]) == (
            "generate_content gemini-2.5",
            "gcp.gen_ai",
        )


class TestParent:
    def test_span_is_child_of_callers_span(self, otel: OTel) -> None:
        """A wrapped call made inside a span is exported, from the writer thread, as that span's child."""
        sink = otel.sink(metrics=False)
        llmfinops.configure(sinks=[sink])
        client = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=1200, completion_tokens=300)))
        tracer = otel.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("handle_request") as parent:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        llmfinops.flush()
        spans = {s.name: s for s in otel.finished()}
        llm = [s for s in otel.finished() if s.name == "chat gpt-4o"]
        assert len(llm) == 2
        child, orphan = llm
        pctx = parent.get_span_context()
        assert child.parent is not None
        assert (child.parent.span_id, child.context.trace_id) == (pctx.span_id, pctx.trace_id)
        assert orphan.parent is None
        assert set(spans) == {"handle_request", "chat gpt-4o"}
        llmfinops.reset_defaults()

    def test_flushing_inside_a_span_does_not_adopt_it(self, otel: OTel) -> None:
        """A record without a captured parent stays a root span even when flushed inside another span."""
        sink = otel.sink(metrics=False)
        tracer = otel.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("unrelated"):
            sink.emit(rec(1))
        llm = [s for s in otel.finished() if s.name == "chat gpt-4o"]
        assert [s.parent for s in llm] == [None]

    def test_context_captured_on_the_record_is_used(self, otel: OTel) -> None:
        """When the recorder carries `record.context["otel"]`, the span is parented to it."""

        tracer = otel.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("at_call_start") as parent:
            captured = otel_context.get_current()
        sink = otel.sink(metrics=False)
        sink.emit(dataclasses.replace(rec(1), context={"otel": captured}))
        (llm,) = [s for s in otel.finished() if s.name == "chat gpt-4o"]
        assert llm.parent is not None
        assert llm.parent.span_id == parent.get_span_context().span_id

    def test_uses_recorder_context_hook_when_available(
        self, otel: OTel, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With a recorder context-capture hook, the sink registers `otel` once and unregisters on close."""
        hooks: dict[str, Callable[[], object]] = {}
        monkeypatch.setattr(_recorder, "add_context_capture", hooks.__setitem__, raising=False)
        monkeypatch.setattr(_recorder, "remove_context_capture", hooks.pop, raising=False)
        a, b = otel.sink(), otel.sink()
        assert hooks == {"otel": otel_context.get_current}
        a.close()
        assert list(hooks) == ["otel"]
        b.close()
        assert hooks == {}

    def test_capture_removed_on_close(self, otel: OTel) -> None:
        """Closing the sink stops the per-call context capture."""
        sink = otel.sink()
        assert "otel" in _recorder._context_captures
        sink.close()
        assert "otel" not in _recorder._context_captures


class TestMetrics:
    def test_token_usage_duration_and_cost(self, otel: OTel) -> None:
        """Token and duration histograms use semconv buckets; cost is summed by model, team and feature."""
        sink = otel.sink(spans=False)
        sink.emit_batch(
            [
                rec(1, **RECORD),
                rec(2, **{**RECORD, "input_tokens": 100, "output_tokens": 20, "cost_usd": "0.0003",
                          "latency_ms": 80.0}),
                rec(3, **{**RECORD, "team": "ads", "cost_usd": "0.25"}),
                rec(4, **{**RECORD, "cost_usd": None}),
            ]
        )  # fmt: skip
        m = otel.metrics()
        base = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
        }
        tokens = {dp.attributes["gen_ai.token.type"]: dp for dp in m["gen_ai.client.token.usage"]}
        assert {k: dict(dp.attributes) for k, dp in tokens.items()} == {
            "input": {**base, "gen_ai.token.type": "input"},
            "output": {**base, "gen_ai.token.type": "output"},
        }
        assert (tokens["input"].count, tokens["input"].sum, tokens["output"].sum) == (4, 3700, 920)
        assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
        (duration,) = m["gen_ai.client.operation.duration"]
        assert (dict(duration.attributes), duration.count, duration.sum) == (
            base,
            4,
            1.2345 + 0.08 + 1.2345 + 1.2345,
        )
        assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
        costs = {(dp.attributes["llmfinops.team"], dp.attributes["llmfinops.feature"]): dp.value
                 for dp in m["llmfinops.cost"]}  # fmt: skip
        assert costs == {("search", "autocomplete"): 0.005, ("ads", "autocomplete"): 0.25}
        (dp,) = [dp for dp in m["llmfinops.cost"] if dp.attributes["llmfinops.team"] == "ads"]
        assert dict(dp.attributes) == {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "llmfinops.team": "ads",
            "llmfinops.feature": "autocomplete",
        }

    def test_failed_call_duration_has_error_type(self, otel: OTel) -> None:
        """A failed call without usage records its duration with error.type and no token usage."""
        otel.sink(spans=False).emit(
            rec(1, status="error", error_type="APITimeoutError", input_tokens=0, output_tokens=0,
                cost_usd="0", response_model=None, latency_ms=2000.0)
        )  # fmt: skip
        m = otel.metrics()
        (duration,) = m["gen_ai.client.operation.duration"]
        assert dict(duration.attributes) == {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "error.type": "APITimeoutError",
        }
        assert duration.sum == 2.0
        assert "gen_ai.client.token.usage" not in m

    def test_cost_attributes_are_validated(self) -> None:
        """User ids and unknown fields cannot become metric attributes."""
        with pytest.raises(ConfigurationError, match="'user_id' is a high-cardinality field"):
            OTelSink(cost_attributes=["team", "user_id"])
        with pytest.raises(ConfigurationError, match="'squad' is not a record field"):
            OTelSink(cost_attributes=["squad"])


class TestDependency:
    def test_missing_opentelemetry_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without OpenTelemetry, importing the sink says which extra to install."""
        monkeypatch.delitem(sys.modules, "llmfinops.sinks.otel")
        for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
            monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
        monkeypatch.setitem(sys.modules, "opentelemetry", None)  # type: ignore[arg-type]
        with pytest.raises(MissingDependencyError, match=r'pip install "llmfinops\[otel\]"'):
            import llmfinops.sinks.otel  # noqa: F401

    def test_import_llmfinops_imports_no_optional_dependency(self, run_python: Callable[..., Any]) -> None:
        """`import llmfinops` and its sinks pull in neither OpenTelemetry, prometheus_client nor sqlite3."""
        result = run_python(
            """
            import sys, llmfinops, llmfinops.sinks, llmfinops.processors
            optional = {"opentelemetry", "prometheus_client", "sqlite3"}
            print(sorted({m.split(".")[0] for m in sys.modules} & optional))
            """
        )
        assert (result.stdout, result.stderr) == ("[]\n", "")


def test_capture_records_still_sees_records(otel: OTel) -> None:
    """The sink's listener coexists with capture_records()."""
    sink = otel.sink()
    llmfinops.configure(sinks=[sink])
    client = llmfinops.wrap(openai_client(OpenAIMock()))
    with capture_records() as records:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    llmfinops.flush()
    assert len(records) == 1
    assert [s.attributes["llmfinops.record_id"] for s in otel.finished()] == [records[0].id]  # type: ignore[index]
    llmfinops.reset_defaults()


class TestExit:
    def test_spans_exported_before_the_provider_shuts_down_at_exit(
        self, run_python: Callable[..., Any], tmp_path: Path
    ) -> None:
        """Records still queued at exit reach the provider before its own atexit shutdown."""
        result = run_python(
            """
            import llmfinops
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
            from llmfinops.sinks.otel import OTelSink
            from llmfinops.testing.openai import OpenAIMock, openai_client

            class FileExporter(SpanExporter):
                def export(self, spans):
                    with open("spans.txt", "a") as f:
                        f.writelines(s.name + "\\n" for s in spans)
                    return SpanExportResult.SUCCESS

            provider = TracerProvider()  # registers its own shutdown with atexit, after llmfinops
            provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
            sink = OTelSink(tracer_provider=provider, metrics=False)
            llmfinops.configure(sinks=[sink], flush_interval=3600)
            client = llmfinops.wrap(openai_client(OpenAIMock()))
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            """
        )
        assert (result.returncode, result.stderr) == (0, "")
        assert (tmp_path / "spans.txt").read_text() == "chat gpt-4o\n"
