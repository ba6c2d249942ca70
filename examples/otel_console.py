"""Export every LLM call as an OpenTelemetry span and GenAI metrics, printed to the console.

Runs offline against llmfinops' mock of the OpenAI API. Swap the console exporters for
``OTLPSpanExporter``/``OTLPMetricExporter`` (``pip install opentelemetry-exporter-otlp``) to send
the same data to Jaeger, Tempo, Honeycomb, Datadog, Grafana...

    pip install "llmfinops[otel,openai]"
    python examples/otel_console.py
"""

from __future__ import annotations

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import llmfinops
from llmfinops.sinks.otel import OTelSink
from llmfinops.testing.openai import OpenAIMock, openai_client

# 1. The usual OpenTelemetry setup of your service (nothing llmfinops-specific).
resource = Resource.create({"service.name": "checkout-api"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(tracer_provider)
meter_provider = MeterProvider(
    resource=resource,
    metric_readers=[PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)],
)
metrics.set_meter_provider(meter_provider)

# 2. One line: every metered call becomes a span + metrics (global providers are used).
llmfinops.configure(sinks=[OTelSink()], environment="dev")

# 3. Your code, unchanged. The LLM span is a child of "POST /checkout".
client = llmfinops.wrap(
    openai_client(OpenAIMock(prompt_tokens=1200, completion_tokens=300, cached_tokens=1024))
)
tracer = trace.get_tracer("checkout-api")
with tracer.start_as_current_span("POST /checkout"), llmfinops.tags(team="payments", feature="fraud-check"):
    client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Is this order suspicious?"}], max_tokens=400
    )

# 4. Records are exported off the call path; flush before exiting (atexit does it too).
llmfinops.flush()
meter_provider.shutdown()  # prints gen_ai.client.token.usage, gen_ai.client.operation.duration, ...
tracer_provider.shutdown()
