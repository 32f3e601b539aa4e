"""Realistic OTLP payloads for the receiver benchmark: agent spans and agent metrics, made with the real OTel SDK.

Spans come from a ``TracerProvider`` with an ``InMemorySpanExporter``: agent runs (``invoke_agent``) of LLM calls
(``chat <model>``, gen_ai.* attributes and token usage), tool calls (``execute_tool <name>``) and the HTTP calls
the tools make; about one tool call in eight fails with an exception whose event carries the stack trace. They
are encoded in 512-span batches with ``encode_spans(...).SerializeToString()``, as the OTLP exporters send them.

Metrics come from a ``MeterProvider`` with an ``InMemoryMetricReader`` (cumulative, the exporters' default) over
the instruments a zgen_otel agent has (the names, kinds and attribute keys of :mod:`zgen_otel.semconv`): about
200 series of counters, up-down counters, gauges and a few histograms. Each collection is one export
(``encode_metrics``) whose points are stamped 5 seconds after the previous one's, as an exporter sends them.

Nothing here is part of the ``zgen_otel`` package.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from zgen_otel import semconv

__all__ = [
    "BATCH_SPANS",
    "EXPORT_INTERVAL_NS",
    "AgentMetrics",
    "agent_resource",
    "mixed_batches",
    "point_count",
    "span_batches",
]

BATCH_SPANS = 512  # spans per export request, the BatchSpanProcessor's default max_export_batch_size
EXPORT_INTERVAL_NS = 5_000_000_000  # the points of successive metric exports are 5 s apart

_MODELS = (("openai", "gpt-4o-2024-08-06"), ("anthropic", "claude-sonnet-4-20250514"), ("openai", "gpt-4o-mini"))
_TOOLS = ("web_search", "read_file", "run_sql", "fetch_url", "calculator")


def agent_resource(agent: int, service: str = "research-agent") -> Resource:
    """The resource of simulated agent process number ``agent``: its service, instance id, host and pid."""
    return Resource.create(
        {
            "service.name": service,
            "service.instance.id": f"{service}-{agent:04d}-7f3c9a1e",
            "service.version": "1.4.2",
            "deployment.environment.name": "staging",
            "host.name": f"worker-{agent % 4}.example.internal",
            "process.pid": 4000 + agent,
            "process.runtime.name": "cpython",
            "process.runtime.version": "3.11.7",
        }
    )


# -- spans ---------------------------------------------------------------------------------------------------
class ToolError(RuntimeError):
    """What a failing tool raises (its traceback goes into the span's exception event)."""


def _call_remote(url: str, depth: int) -> None:
    """Fail a few frames deep, so the recorded stack trace looks like a real one."""
    if depth:
        _call_remote(url, depth - 1)
        return
    raise ToolError(f"upstream returned 502 Bad Gateway for {url}: connection reset by peer after 30.0 s")


def _llm_call(tracer: Tracer, rng: random.Random, conversation: str, step: int) -> None:
    provider, model = rng.choice(_MODELS)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 4096,
        "gen_ai.conversation.id": conversation,
        "server.address": "api.openai.com" if provider == "openai" else "api.anthropic.com",
        "server.port": 443,
    }
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        span.set_attributes(
            {
                "gen_ai.response.model": model,
                "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(64):016x}",
                "gen_ai.response.finish_reasons": ["tool_calls"] if step < 3 else ["stop"],
                "gen_ai.usage.input_tokens": rng.randint(800, 12_000),
                "gen_ai.usage.output_tokens": rng.randint(20, 900),
            }
        )


def _tool_call(tracer: Tracer, rng: random.Random, conversation: str) -> None:
    tool = rng.choice(_TOOLS)
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": f"call_{rng.getrandbits(48):012x}",
        "gen_ai.conversation.id": conversation,
    }
    url = f"https://tools.example.internal/v1/{tool}?q={rng.getrandbits(32):08x}"
    try:
        with tracer.start_as_current_span(f"execute_tool {tool}", attributes=attributes):
            http = {"http.request.method": "GET", "url.full": url, "server.address": "tools.example.internal"}
            with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes=http) as span:
                if rng.random() < 0.125:
                    span.set_attribute("http.response.status_code", 502)
                    _call_remote(url, 6)
                span.set_attribute("http.response.status_code", 200)
    except ToolError:
        pass  # the agent carries on; both spans recorded the exception (event with the stack trace) and ERROR


def _agent_run(tracer: Tracer, rng: random.Random, agent: int) -> None:
    """One agent run: invoke_agent > (chat, execute_tool > GET) x 3, then a last chat: 11 spans."""
    conversation = f"conv-{rng.getrandbits(64):016x}"
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "research_assistant",
        "gen_ai.agent.id": f"asst_{agent:04d}",
        "gen_ai.conversation.id": conversation,
        "gen_ai.provider.name": "openai",
    }
    with tracer.start_as_current_span("invoke_agent research_assistant", attributes=attributes):
        for step in range(3):
            _llm_call(tracer, rng, conversation, step)
            _tool_call(tracer, rng, conversation)
        _llm_call(tracer, rng, conversation, 3)


def span_batches(agents: int, batches_per_agent: int, seed: int = 17) -> list[bytes]:
    """Serialized ``ExportTraceServiceRequest`` s of :data:`BATCH_SPANS` spans each, from ``agents`` processes.

    The batches are ordered round-robin over the agents (agent 0's first, agent 1's first, ...).
    """
    rng = random.Random(seed)
    per_agent: list[list[bytes]] = []
    for agent in range(agents):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=agent_resource(agent))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("zgen_otel.tracking", "0.1.0")
        while len(exporter.get_finished_spans()) < BATCH_SPANS * batches_per_agent:
            _agent_run(tracer, rng, agent)
        spans = exporter.get_finished_spans()[: BATCH_SPANS * batches_per_agent]
        provider.shutdown()
        per_agent.append(
            [encode_spans(spans[i : i + BATCH_SPANS]).SerializeToString() for i in range(0, len(spans), BATCH_SPANS)]
        )
    return [batch for group in zip(*per_agent, strict=True) for batch in group]


def mixed_batches(batches: Sequence[bytes], quiet: str = "quiet-agent") -> list[bytes]:
    """The ``batches`` as an OTel Collector forwarding two services sends them.

    The last span of each batch goes into a second resource, of the service ``quiet``: each request has 511
    spans of one service and 1 of another.
    """
    out = []
    for payload in batches:
        request = ExportTraceServiceRequest.FromString(payload)
        busy = request.resource_spans[0]
        other = request.resource_spans.add()
        other.resource.CopyFrom(busy.resource)
        for kv in other.resource.attributes:
            if kv.key == "service.name":
                kv.value.string_value = quiet
        scope = other.scope_spans.add()
        scope.scope.CopyFrom(busy.scope_spans[-1].scope)
        scope.spans.add().CopyFrom(busy.scope_spans[-1].spans.pop())
        out.append(request.SerializeToString())
    return out


def span_count(payload: bytes) -> int:
    """How many spans a serialized ``ExportTraceServiceRequest`` holds."""
    request = ExportTraceServiceRequest.FromString(payload)
    return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)


# -- metrics -------------------------------------------------------------------------------------------------
# Values of the attribute keys in zgen_otel.semconv; a key not listed gets "<key>-0", "<key>-1".
_VALUES: dict[str, Sequence[Any]] = {
    "cpu": ("0", "1", "2", "3"),
    "state": ("user", "system", "idle", "iowait"),
    "device": ("nvme0n1", "eth0"),
    "direction": ("read", "write"),
    "mountpoint": ("/", "/data"),
    "type": ("ext4", "user"),
    "interface": ("eth0", "lo"),
    "gpu": ("0",),
    "cpython.gc.generation": (0, 1, 2),
    "generation": ("0",),
    "hw.id": ("gpu0",),
    "hw.name": ("NVIDIA H100 80GB HBM3",),
    "hw.type": ("gpu",),
    "zgen.operation.name": ("plan_step", "search_docs", "summarize", "call_tool"),
    "zgen.operation.outcome": ("ok", "error"),
    "error.type": ("",),
    "gen_ai.operation.name": ("chat",),
    "gen_ai.provider.name": ("openai", "anthropic"),
    "gen_ai.request.model": ("gpt-4o-2024-08-06",),
    "gen_ai.response.model": ("gpt-4o-2024-08-06",),
    "gen_ai.token.type": ("input", "output"),
    "zgen.llm.currency": ("USD",),
    "alertname": ("HighCpu", "HighMemory", "LlmErrors"),
    "severity": ("warning",),
    "alertstate": ("firing",),
}
_MAX_SERIES = {"counter": 16, "updown": 4, "gauge": 16, "histogram": 4}


def _attribute_sets(keys: Sequence[str], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` attribute sets over ``keys`` (empty ``error.type`` left out, as on a success)."""
    choices = [_VALUES.get(k, (f"{k}-0", f"{k}-1")) for k in keys]
    sets = []
    for values in itertools.islice(itertools.product(*choices), limit):
        sets.append({k: v for k, v in zip(keys, values, strict=True) if v != ""})
    return sets


class AgentMetrics:
    """The metric instruments of one simulated agent process, recorded and collected one export at a time.

    Args:
        agent: the agent's number (its resource, see :func:`agent_resource`).
        seed: the seed of the values it records.
    """

    def __init__(self, agent: int, seed: int = 17) -> None:
        self._rng = random.Random(seed * 1000 + agent)
        self._reader = InMemoryMetricReader()
        self._provider = MeterProvider(resource=agent_resource(agent), metric_readers=[self._reader])
        system = self._provider.get_meter("opentelemetry.instrumentation.system_metrics", "0.66b2")
        package = self._provider.get_meter("zgen_otel", "0.1.0")
        self._series: list[tuple[str, Any, dict[str, Any]]] = []
        specs = [(system, s) for s in (*semconv.SYSTEM_INSTRUMENTS, *semconv.SYSTEM_LOCAL_SERIES)]
        specs += [(package, s) for s in semconv.PACKAGE_INSTRUMENTS]
        for meter, spec in specs:
            make = {"counter": meter.create_counter, "updown": meter.create_up_down_counter,
                    "gauge": meter.create_gauge, "histogram": meter.create_histogram}[spec.kind]  # fmt: skip
            instrument = make(spec.name, unit=spec.unit, description=spec.description)
            for attrs in _attribute_sets(spec.attributes, _MAX_SERIES[spec.kind]):
                self._series.append((spec.kind, instrument, attrs))

    @property
    def series(self) -> int:
        """How many series (points per export) the agent has."""
        return len(self._series)

    def export(self, time_ns: int) -> ExportMetricsServiceRequest:
        """Record one interval's values, collect, and return the export request with every point at ``time_ns``."""
        rng = self._rng
        for kind, instrument, attrs in self._series:
            if kind == "counter":
                instrument.add(rng.uniform(0.0, 50.0), attrs)
            elif kind == "updown":
                instrument.add(rng.uniform(-10.0, 12.0), attrs)
            elif kind == "gauge":
                instrument.set(rng.uniform(0.0, 100.0), attrs)
            else:
                for _ in range(3):
                    instrument.record(rng.expovariate(1 / 1.5), attrs)
        data = self._reader.get_metrics_data()
        assert data is not None
        request = encode_metrics(data)
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in getattr(metric, metric.WhichOneof("data")).data_points:
                        point.time_unix_nano = time_ns
        return request

    def exports(self, count: int, first_ns: int) -> Iterator[bytes]:
        """``count`` serialized exports, the first at ``first_ns``, each :data:`EXPORT_INTERVAL_NS` later."""
        for k in range(count):
            yield self.export(first_ns + k * EXPORT_INTERVAL_NS).SerializeToString()

    def close(self) -> None:
        """Shut the meter provider down."""
        self._provider.shutdown()


def point_count(payload: bytes) -> int:
    """How many data points a serialized ``ExportMetricsServiceRequest`` holds (a histogram point counts once)."""
    request = ExportMetricsServiceRequest.FromString(payload)
    return sum(
        len(getattr(m, m.WhichOneof("data")).data_points)
        for r in request.resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
    )
