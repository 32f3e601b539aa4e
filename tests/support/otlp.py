"""A small in-process OTLP receiver for tests, and a runtime that ships to one.

The receiver speaks gRPC or HTTP/protobuf, on 127.0.0.1 with an ephemeral port.

It decodes what the official OTLP exporters send into the opentelemetry-proto request messages and keeps
them in thread-safe lists, so a test can wait for them and assert on metric points, resource attributes
and span names::

    with OtlpReceiver("grpc") as receiver:
        exporter = OTLPMetricExporter(endpoint=receiver.endpoint)
        ...
        assert receiver.wait_for(lambda: receiver.metrics_requests, timeout=5)
        print(receiver.metric_points())
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, NamedTuple

import grpc
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

import zgen_otel
from zgen_otel.testing import Capture, capture

__all__ = [
    "MetricPoint",
    "OtlpReceiver",
    "Protocol",
    "any_value",
    "attributes_dict",
    "flush",
    "otlp_metrics",
    "otlp_points",
    "otlp_spans",
    "over_otlp",
]

Protocol = Literal["grpc", "http/protobuf"]
Signal = Literal["metrics", "traces", "logs"]

# signal -> (request message, response message) for the HTTP paths /v1/<signal>.
_MESSAGES: dict[str, tuple[type[Message], type[Message]]] = {
    "metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse),
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}
_PROTOBUF = "application/x-protobuf"
_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "identity": lambda body: body,
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
}


class MetricPoint(NamedTuple):
    """One data point of a received metric, flattened.

    ``value`` is the number of a gauge or sum point, and ``(count, sum)`` of a histogram or exponential
    histogram point.
    """

    resource: dict[str, Any]
    name: str
    unit: str
    attributes: dict[str, Any]
    value: float | tuple[int, float]


def any_value(value: AnyValue) -> Any:
    """The Python value of an OTLP ``AnyValue`` (lists and dicts for array and key-value list values)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    return getattr(value, kind)


def attributes_dict(attributes: Any) -> dict[str, Any]:
    """A dict of an OTLP ``repeated KeyValue`` field."""
    items: list[KeyValue] = list(attributes)
    return {kv.key: any_value(kv.value) for kv in items}


class OtlpReceiver:
    """An OTLP receiver for metrics, traces and logs, over gRPC or HTTP/protobuf, bound to 127.0.0.1.

    ``port`` 0 (the default) takes an ephemeral port; a fixed one lets a test bring a collector back where
    exporters already point.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`); point exporters at
    :attr:`endpoint`. For HTTP the endpoint is the base URL: exporters post to ``/v1/metrics``,
    ``/v1/traces`` and ``/v1/logs`` under it.
    """

    def __init__(self, protocol: Protocol = "http/protobuf", host: str = "127.0.0.1", port: int = 0) -> None:
        if protocol not in ("grpc", "http/protobuf"):
            raise ValueError(f"protocol must be 'grpc' or 'http/protobuf'; got {protocol!r}")
        self.protocol: Protocol = protocol
        self.host = host
        self.port = 0
        self._wanted_port = port
        self._changed = threading.Condition()
        self._requests: dict[str, list[Any]] = {"metrics": [], "traces": [], "logs": []}
        self._headers: list[tuple[str, dict[str, str]]] = []
        self._grpc_server: grpc.Server | None = None
        self._grpc_pool: ThreadPoolExecutor | None = None
        self._http_server: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the gRPC target, or the HTTP base URL (signals under ``/v1/...``)."""
        if not self.port:
            raise RuntimeError("the receiver is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> OtlpReceiver:
        """Start serving (on the port given, or an ephemeral one); return self."""
        if self.port:
            raise RuntimeError("the receiver is already started")
        if self.protocol == "grpc":
            self._start_grpc()
        else:
            self._start_http()
        return self

    def stop(self) -> None:
        """Stop serving and release the port and threads; safe to call twice."""
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None).wait(5)
            self._grpc_server = None
        if self._grpc_pool is not None:
            self._grpc_pool.shutdown(wait=True)
            self._grpc_pool = None
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_server = None
        if self._http_thread is not None:
            self._http_thread.join(5)
            self._http_thread = None
        self.port = 0

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _start_grpc(self) -> None:
        receiver = self

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._add("metrics", request, dict(context.invocation_metadata()))
                return metrics_service_pb2.ExportMetricsServiceResponse()

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._add("traces", request, dict(context.invocation_metadata()))
                return trace_service_pb2.ExportTraceServiceResponse()

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._add("logs", request, dict(context.invocation_metadata()))
                return logs_service_pb2.ExportLogsServiceResponse()

        self._grpc_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-receiver-grpc")
        server = grpc.server(self._grpc_pool)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
        self.port = server.add_insecure_port(f"{self.host}:{self._wanted_port}")
        server.start()
        self._grpc_server = server

    def _start_http(self) -> None:
        server = ThreadingHTTPServer((self.host, self._wanted_port), _Handler)
        server.daemon_threads = True
        server.receiver = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._http_server = server
        self._http_thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="otlp-receiver-http", daemon=True
        )
        self._http_thread.start()

    # --- what arrived -----------------------------------------------------------------------------

    def _add(self, signal: str, request: Any, headers: dict[str, str]) -> None:
        with self._changed:
            self._requests[signal].append(request)
            self._headers.append((signal, headers))
            self._changed.notify_all()

    def _list(self, signal: Signal) -> list[Any]:
        with self._changed:
            return list(self._requests[signal])

    @property
    def metrics_requests(self) -> list[metrics_service_pb2.ExportMetricsServiceRequest]:
        """Every ``ExportMetricsServiceRequest`` received so far, oldest first (a copy)."""
        return self._list("metrics")

    @property
    def trace_requests(self) -> list[trace_service_pb2.ExportTraceServiceRequest]:
        """Every ``ExportTraceServiceRequest`` received so far, oldest first (a copy)."""
        return self._list("traces")

    @property
    def logs_requests(self) -> list[logs_service_pb2.ExportLogsServiceRequest]:
        """Every ``ExportLogsServiceRequest`` received so far, oldest first (a copy)."""
        return self._list("logs")

    @property
    def request_headers(self) -> list[tuple[str, dict[str, str]]]:
        """``(signal, headers)`` of every request, oldest first: HTTP headers or gRPC metadata, keys lower case."""
        with self._changed:
            return [(signal, dict(headers)) for signal, headers in self._headers]

    def clear(self) -> None:
        """Forget everything received so far."""
        with self._changed:
            for requests in self._requests.values():
                requests.clear()
            self._headers.clear()

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> bool:
        """Wait until ``predicate()`` is truthy (checked now and after each request); return whether it was."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if predicate():
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)

    def metric_points(self) -> list[MetricPoint]:
        """Every gauge, sum, histogram and exponential histogram point received, in arrival order."""
        points: list[MetricPoint] = []
        for request in self.metrics_requests:
            for rm in request.resource_metrics:
                resource = attributes_dict(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        points.extend(_points(resource, metric))
        return points

    def span_names(self) -> list[str]:
        """Names of every span received, in arrival order."""
        return [span.name for _, span in self.spans()]

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """``(resource attributes, Span message)`` of every span received, in arrival order."""
        return [
            (attributes_dict(rs.resource.attributes), span)
            for request in self.trace_requests
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]


def _points(resource: dict[str, Any], metric: Any) -> list[MetricPoint]:
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        return [
            MetricPoint(
                resource,
                metric.name,
                metric.unit,
                attributes_dict(p.attributes),
                p.as_double if p.WhichOneof("value") == "as_double" else p.as_int,
            )
            for p in getattr(metric, kind).data_points
        ]
    if kind in ("histogram", "exponential_histogram"):
        return [
            MetricPoint(resource, metric.name, metric.unit, attributes_dict(p.attributes), (p.count, p.sum))
            for p in getattr(metric, kind).data_points
        ]
    return []  # summaries are not produced by the OTel SDK


class _Handler(BaseHTTPRequestHandler):
    """POST /v1/{metrics,traces,logs} with a protobuf body (optionally gzip or deflate encoded)."""

    server_version = "otlp-test-receiver"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        signal = self.path.split("?", 1)[0].rstrip("/").removeprefix("/v1/")
        if signal not in _MESSAGES:
            self._reply(404, f"unknown path {self.path}".encode(), "text/plain")
            return
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if content_type != _PROTOBUF or encoding not in _DECODERS:
            self._reply(415, f"unsupported content {content_type!r} encoded {encoding!r}".encode(), "text/plain")
            return
        request_cls, response_cls = _MESSAGES[signal]
        try:
            request = request_cls.FromString(_DECODERS[encoding](body))
        except (OSError, EOFError, zlib.error, DecodeError) as exc:
            self._reply(400, f"cannot decode the body: {exc}".encode(), "text/plain")
            return
        receiver: OtlpReceiver = self.server.receiver  # type: ignore[attr-defined]
        receiver._add(signal, request, {k.lower(): v for k, v in self.headers.items()})
        self._reply(200, response_cls().SerializeToString(), _PROTOBUF)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


# --- a runtime that ships to a receiver -------------------------------------------------------------


@contextmanager
def over_otlp(**settings: Any) -> Iterator[tuple[Capture, OtlpReceiver]]:
    """A fresh runtime that ships to an OTLP/HTTP receiver on 127.0.0.1 (and captures in memory too)."""
    with OtlpReceiver("http/protobuf") as receiver, capture(otlp_endpoint=receiver.endpoint, interval=3600,
                                                            system_monitor=False, **settings) as cap:  # fmt: skip
        yield cap, receiver


def otlp_metrics(receiver: OtlpReceiver) -> dict[str, Any]:
    """The latest OTLP ``Metric`` message received under each name (cumulative: the latest holds it all)."""
    return {m.name: m for r in receiver.metrics_requests for rm in r.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics}  # fmt: skip


def flush(receiver: OtlpReceiver, metrics: AbstractSet[str], spans: AbstractSet[str] = frozenset()) -> dict[str, Any]:
    """Push everything now and wait until ``metrics`` and ``spans`` (names) arrived; return :func:`otlp_metrics`."""
    zgen_otel.get_runtime().force_flush()
    arrived = receiver.wait_for(lambda: metrics <= set(otlp_metrics(receiver)) and spans <= set(receiver.span_names()))
    assert arrived, (sorted(otlp_metrics(receiver)), receiver.span_names())
    return otlp_metrics(receiver)


def otlp_points(metric: Any) -> list[tuple[dict[str, Any], Any]]:
    """``(attributes, point)`` of each point of an OTLP metric (sum, gauge or histogram)."""
    data = getattr(metric, metric.WhichOneof("data"))
    return [(attributes_dict(p.attributes), p) for p in data.data_points]


def otlp_spans(receiver: OtlpReceiver) -> dict[str, list[dict[str, Any]]]:
    """Attributes of the received spans, by span name."""
    spans: dict[str, list[dict[str, Any]]] = {}
    for _, span in receiver.spans():
        spans.setdefault(span.name, []).append(attributes_dict(span.attributes))
    return spans
