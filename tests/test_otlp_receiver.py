"""The OTLP endpoints of ``zgen-otel serve``: the official exporters, OTLP/JSON, and hostile requests.

Real servers on 127.0.0.1 (uvicorn and grpcio), the official OTLP exporters of the OpenTelemetry SDK, raw
HTTP requests for what an exporter never sends, and ``zgen-otel serve`` itself in a subprocess.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import http.client
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import grpc
import psutil
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import zgen_otel
from tests.support.net import free_port
from tests.support.servers import Server
from tests.support.waiting import wait_for
from zgen_otel.http import make_app, serve_options
from zgen_otel.http.auth import Failures
from zgen_otel.http.otlp import make_otlp_app
from zgen_otel.http.otlp_grpc import make_otlp_grpc_server
from zgen_otel.http.serving import open_servers
from zgen_otel.receiver import Receiver

TOKEN = "otlp-test-token-0123456789"
AGENT = {"service.name": "agent-x", "service.instance.id": "agent-x-1"}
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
PARENT_ID = "0102030405060708"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@pytest.fixture
def receiver() -> Receiver:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, capture_logs=False)
    return zgen_otel.get_runtime().start_receiver()


@contextlib.contextmanager
def otlp_http(receiver: Receiver, **options: Any) -> Iterator[Server]:
    """The OTLP/HTTP app for ``receiver`` served by uvicorn as ``serve`` runs it."""
    srv = Server(make_otlp_app(receiver, **options), **serve_options())
    try:
        yield srv
    finally:
        srv.stop()


@contextlib.contextmanager
def otlp_grpc(receiver: Receiver, **options: Any) -> Iterator[str]:
    """The OTLP/gRPC server for ``receiver`` on a free port: its ``http://127.0.0.1:PORT`` endpoint."""
    server, port = make_otlp_grpc_server(receiver, "127.0.0.1:0", **options)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop(None).wait(5)


def post(url: str, body: bytes, content_type: str | None = PROTOBUF, **headers: str) -> tuple[int, Any, bytes]:
    """POST raw bytes with http.client: (status, headers, body)."""
    parts = url.removeprefix("http://").split("/", 1)
    conn = http.client.HTTPConnection(parts[0], timeout=10)
    sent = {"Content-Type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}}
    try:
        conn.request("POST", "/" + parts[1], body, {k: v for k, v in sent.items() if v is not None})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def status_message(body: bytes, content_type: str = PROTOBUF) -> str:
    """The message of a ``google.rpc.Status`` error body."""
    if content_type == PROTOBUF:
        return str(status_pb2.Status.FromString(body).message)
    return str(json.loads(body)["message"])


def span_request(*trace_ids: bytes, service: str = "agent-x") -> bytes:
    """An ``ExportTraceServiceRequest`` with one span per trace id (span ids 1, 2, ...)."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    kv = resource_spans.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    scope = resource_spans.scope_spans.add()
    for i, trace_id in enumerate(trace_ids, 1):
        span = scope.spans.add(trace_id=trace_id, span_id=i.to_bytes(8, "big"), name=f"span-{i}")
        span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_001_000_000_000
    return request.SerializeToString()


def nothing_stored(receiver: Receiver) -> bool:
    return not receiver.senders() and not receiver.rings.span_rows() and not receiver.rings.log_rows()


# --- the official exporters ---------------------------------------------------------------------------


def send_with_sdk(protocol: str, endpoint: str, headers: dict[str, str] | None = None) -> None:
    """A metric, a span and a log record from an OTel SDK of its own, through the official OTLP exporters."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kwargs: dict[str, Any] = {"endpoint": endpoint, "insecure": True, "timeout": 5, "headers": headers}
        exporters = [OTLPMetricExporter(**kwargs), OTLPSpanExporter(**kwargs), OTLPLogExporter(**kwargs)]
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

        exporters = [HttpMetrics(endpoint=f"{endpoint}/v1/metrics", timeout=5, headers=headers),  # uncompressed
                     HttpSpans(endpoint=f"{endpoint}/v1/traces", timeout=5, headers=headers,
                               compression=Compression.Gzip),
                     HttpLogs(endpoint=f"{endpoint}/v1/logs", timeout=5, headers=headers,
                              compression=Compression.Deflate)]  # fmt: skip
    resource = Resource.create(AGENT)
    reader = PeriodicExportingMetricReader(exporters[0], export_interval_millis=3_600_000)
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    tracers = TracerProvider(resource=resource)
    tracers.add_span_processor(SimpleSpanProcessor(exporters[1]))
    loggers = LoggerProvider(resource=resource)
    loggers.add_log_record_processor(SimpleLogRecordProcessor(exporters[2]))
    log = logging.getLogger(f"agent-x.{protocol}")
    log.propagate = False
    handler = LoggingHandler(logger_provider=loggers)
    log.addHandler(handler)
    try:
        meters.get_meter("agent").create_counter("agent.requests", unit="1").add(3, {"route": "/chat"})
        with tracers.get_tracer("agent").start_as_current_span("agent.step"):
            log.warning("step done")
        reader.force_flush()
    finally:
        log.removeHandler(handler)
        for provider in (meters, tracers, loggers):
            provider.shutdown()


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_official_exporters_deliver_metrics_spans_and_logs(receiver: Receiver, protocol: str) -> None:
    """Each signal from an SDK reaches the receiver: spans and records in its rings, metrics in the store."""
    with contextlib.ExitStack() as stack:
        if protocol == "grpc":
            endpoint = stack.enter_context(otlp_grpc(receiver))
        else:
            endpoint = stack.enter_context(otlp_http(receiver)).url
        send_with_sdk(protocol, endpoint)
    [span] = receiver.rings.span_rows("agent-x")
    assert (span.name, span.service, span.instance) == ("agent.step", "agent-x", "agent-x-1")
    [record] = receiver.rings.log_rows("agent-x")
    assert record.convert(record, 4096)["message"] == "step done"
    assert record.trace_id == span.trace_id  # emitted inside the span
    [series] = zgen_otel.get_runtime().store.series("agent.requests", {"route": "/chat"})
    assert series.attributes["service.name"] == "agent-x" and series.attributes["service.instance.id"] == "agent-x-1"
    assert series.latest().value == 3
    [sender] = receiver.senders()
    assert (sender.service, sender.spans, sender.logs, sender.rejected) == ("agent-x", 1, 1, 0) and sender.points


# --- OTLP/JSON and partial success -------------------------------------------------------------------


def json_request() -> dict[str, Any]:
    """An OTLP/JSON trace request as the specification writes it: hex ids, camelCase, int64 as strings."""
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-agent"}}]},
        "scopeSpans": [{"scope": {"name": "handwritten"}, "spans": [{
            "traceId": TRACE_ID, "spanId": SPAN_ID, "parentSpanId": PARENT_ID, "name": "fetch", "kind": 3,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
            "links": [{"traceId": TRACE_ID.upper(), "spanId": PARENT_ID}],
            "someFieldFromTheFuture": {"x": 1},
        }]}],
    }]}  # fmt: skip


def test_otlp_json_with_hex_ids_is_stored_with_those_ids(receiver: Receiver) -> None:
    logs = {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-agent"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": "1700000000000000000", "severityNumber": 13,
                                       "body": {"stringValue": "hello"}, "traceId": TRACE_ID, "spanId": SPAN_ID}]}],
    }]}  # fmt: skip
    with otlp_http(receiver) as srv:
        status, headers, body = post(f"{srv.url}/v1/traces", json.dumps(json_request()).encode(), "application/json")
        assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", {})
        status, _, body = post(f"{srv.url}/v1/logs", json.dumps(logs).encode(), "application/json; charset=utf-8")
        assert status == 200, body
    [span] = receiver.rings.span_rows("json-agent")
    assert (span.trace_id, span.span_id, span.parent_id) == (int(TRACE_ID, 16), int(SPAN_ID, 16), int(PARENT_ID, 16))
    assert span.name == "fetch" and span.source.links[0].trace_id == bytes.fromhex(TRACE_ID)
    [record] = receiver.rings.log_rows("json-agent")
    assert record.trace_id == int(TRACE_ID, 16) and record.source.span_id == bytes.fromhex(SPAN_ID)


def test_partial_success_is_reported_over_http_json_and_grpc(receiver: Receiver) -> None:
    """A span with a malformed trace id is rejected, the rest stored; the response says how many and why."""
    good, short = bytes.fromhex(TRACE_ID), b"\x01\x02\x03"
    body = span_request(good, short)
    with otlp_http(receiver) as srv:
        status, headers, answer = post(f"{srv.url}/v1/traces", body)
        assert status == 200 and headers["Content-Type"] == PROTOBUF
        partial = trace_service_pb2.ExportTraceServiceResponse.FromString(answer).partial_success
        assert partial.rejected_spans == 1 and "invalid trace or span id" in partial.error_message
        as_json = json_request()
        as_json["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "00" * 16  # all zero: invalid
        status, _, answer = post(f"{srv.url}/v1/traces", json.dumps(as_json).encode(), "application/json")
        assert status == 200 and json.loads(answer)["partialSuccess"]["rejectedSpans"] == "1"  # int64: a string
        metrics = metrics_service_pb2.ExportMetricsServiceRequest()
        point = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="m").gauge.data_points.add()
        point.as_double = float("nan")
        status, _, answer = post(f"{srv.url}/v1/metrics", metrics.SerializeToString())
        rejected = metrics_service_pb2.ExportMetricsServiceResponse.FromString(answer).partial_success
        assert status == 200 and rejected.rejected_data_points == 1
    with otlp_grpc(receiver) as endpoint, grpc.insecure_channel(endpoint.removeprefix("http://")) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        response = stub.Export(trace_service_pb2.ExportTraceServiceRequest.FromString(body), timeout=5)
        assert response.partial_success.rejected_spans == 1
    assert [row.name for row in receiver.rings.span_rows("agent-x")] == ["span-1", "span-1"]


# --- hostile and mistaken requests ------------------------------------------------------------------


def test_malformed_bodies_get_400_with_a_reason_and_store_nothing(receiver: Receiver) -> None:
    half_good = json_request()
    half_good["resourceSpans"].append({"scopeSpans": [{"spans": [{"traceId": "not-hex", "spanId": SPAN_ID}]}]})
    cases = [
        ("/v1/traces", b"\xff\xff\xff\xff", PROTOBUF, {}, "not a valid ExportTraceServiceRequest in protobuf"),
        ("/v1/metrics", b"{not json", "application/json", {}, "not a valid ExportMetricsServiceRequest in JSON"),
        ("/v1/logs", b"[1, 2]", "application/json", {}, "expected a JSON object"),
        ("/v1/traces", json.dumps(half_good).encode(), "application/json", {}, "'not-hex' is not a hex string"),
        ("/v1/traces", json.dumps({"resourceSpans": 5}).encode(), "application/json", {}, "resourceSpans"),
        ("/v1/traces", gzip.compress(span_request(bytes(range(1, 17))))[:-12], PROTOBUF,
         {"Content_Encoding": "gzip"}, "the gzip body is cut short"),
        ("/v1/traces", b"plainly not gzip", PROTOBUF, {"Content_Encoding": "gzip"}, "not valid gzip data"),
    ]  # fmt: skip
    with otlp_http(receiver) as srv:
        for path, body, content_type, headers, reason in cases:
            status, got, answer = post(srv.url + path, body, content_type, **headers)
            assert status == 400, (path, reason, answer)
            assert got["Content-Type"] == content_type.split(";")[0]
            assert reason in status_message(answer, got["Content-Type"]), answer
        assert nothing_stored(receiver)
        assert post(f"{srv.url}/v1/traces", span_request(bytes(range(1, 17))))[0] == 200  # still serving
    assert len(receiver.rings.span_rows()) == 1


def test_unsupported_content_types_and_encodings_get_415(receiver: Receiver) -> None:
    with otlp_http(receiver) as srv:
        for content_type in ("text/plain", "application/grpc", "application/protobuf", None):
            status, _, body = post(f"{srv.url}/v1/traces", span_request(bytes(range(1, 17))), content_type)
            assert status == 415 and "application/x-protobuf or application/json" in status_message(body, JSON)
        status, _, body = post(f"{srv.url}/v1/traces", b"x", Content_Encoding="br")
        assert status == 415 and "Content-Encoding 'br' is not supported" in status_message(body)
        assert post(f"{srv.url}/v1/profiles", b"", PROTOBUF)[0] == 404
    assert nothing_stored(receiver)


def chunked_post(url: str, chunks: Iterator[bytes], **headers: str) -> tuple[int, bytes]:
    """POST a body of unknown length (chunked), stopping early if the server answers before the end."""
    parts = url.removeprefix("http://").split("/", 1)
    conn = http.client.HTTPConnection(parts[0], timeout=10)
    try:
        conn.request("POST", "/" + parts[1], chunks, {"Content-Type": PROTOBUF, **headers}, encode_chunked=True)
        response = conn.getresponse()
        return response.status, response.read()
    except (BrokenPipeError, ConnectionResetError):
        return 0, b""
    finally:
        conn.close()


def test_bodies_over_the_limit_get_413_before_or_after_gzip(receiver: Receiver) -> None:
    limit = 64 * 1024
    big = span_request(*[bytes(range(1, 17))] * 3000)  # about 100 KB
    assert len(big) > limit
    with otlp_http(receiver, max_body=limit) as srv:
        status, _, body = post(f"{srv.url}/v1/traces", big)  # declared by Content-Length
        assert status == 413 and f"larger than {limit} bytes" in status_message(body)
        status, body = chunked_post(f"{srv.url}/v1/traces", iter([big[:50_000], big[50_000:]]))
        assert status == 413 and f"larger than {limit} bytes" in status_message(body)
        packed = gzip.compress(big)
        assert len(packed) < limit
        status, _, body = post(f"{srv.url}/v1/traces", packed, Content_Encoding="gzip")
        assert status == 413 and f"expands to more than {limit} bytes" in status_message(body)
        fits = span_request(*[bytes(range(1, 17))] * 1000)
        assert post(f"{srv.url}/v1/traces", gzip.compress(fits), Content_Encoding="gzip")[0] == 200
    assert len(receiver.rings.span_rows()) == 1000
    with otlp_grpc(receiver, max_body=limit) as endpoint, grpc.insecure_channel(endpoint[7:]) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                trace_service_pb2.ExportTraceServiceRequest.FromString(big), timeout=5)  # fmt: skip
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # gRPC's own gzip: 32 MiB of zeros in one attribute, about 32 KiB on the wire, refused by gRPC itself.
    blob = trace_service_pb2.ExportTraceServiceRequest.FromString(span_request(bytes(range(1, 17))))
    blob.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="blob").value.bytes_value = bytes(32 << 20)
    with otlp_grpc(receiver, max_body=limit) as endpoint:
        with grpc.insecure_channel(endpoint[7:], compression=grpc.Compression.Gzip) as channel, \
                pytest.raises(grpc.RpcError) as refused:  # fmt: skip
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(blob, timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in str(refused.value.details())
    assert len(receiver.rings.span_rows()) == 1000


def gzip_of_zeros(mib: int) -> bytes:
    """A valid gzip file of ``mib`` MiB of zeros, made fast: one 1 MiB block compressed once and repeated.

    After a full flush a deflate block does not refer to what came before it, so the same bytes can follow
    each other; the trailer holds the CRC-32 and the length of the whole.
    """
    zeros = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.flush()[:-8]  # the last (empty) block, without the trailer of these 2 MiB
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return head + block * (mib - 1) + end + struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)


def test_gzip_of_zeros_makes_valid_gzip() -> None:
    assert gzip.decompress(gzip_of_zeros(3)) == bytes(3 << 20)


def test_a_gzip_bomb_is_refused_at_once_with_little_memory(receiver: Receiver, record_property: Any) -> None:
    """1 GiB of zeros, gzip'd to about 1 MiB: 413 after expanding no more than the 16 MiB limit."""
    bomb = gzip_of_zeros(1024)
    assert len(bomb) < 2 * 1024 * 1024
    with otlp_http(receiver) as srv:
        tracemalloc.start()
        started = time.monotonic()
        status, _, body = post(f"{srv.url}/v1/metrics", bomb, Content_Encoding="gzip")
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    record_property("gzip_bomb_seconds", round(seconds, 3))
    record_property("gzip_bomb_peak_mib", round(peak / 2**20, 1))
    print(f"\n1 GiB gzip bomb ({len(bomb) / 2**20:.1f} MiB sent): 413 in {seconds * 1000:.0f} ms, "
          f"peak Python memory {peak / 2**20:.0f} MiB")  # fmt: skip
    assert status == 413 and "expands to more than 16777216 bytes" in status_message(body)
    assert seconds < 5 and peak < 100 * 2**20  # the whole would be 1,024 MiB
    assert nothing_stored(receiver)


def test_without_the_token_http_gets_401_and_grpc_unauthenticated(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = span_request(bytes(range(1, 17)))
    with otlp_http(receiver, token=TOKEN) as srv:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
            status, got, answer = post(f"{srv.url}/v1/traces", body, **headers)
            assert status == 401 and got["WWW-Authenticate"] == "Bearer"
            assert "Authorization: Bearer" in status_message(answer)
        send_with_sdk("http/protobuf", srv.url, headers={"Authorization": "Bearer nope"})
        assert nothing_stored(receiver)
        # What the README tells an agent to set; the exporters read it themselves.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{TOKEN}")
        send_with_sdk("http/protobuf", srv.url)
        assert len(receiver.rings.span_rows()) == 1
    with otlp_grpc(receiver, token=TOKEN) as endpoint, grpc.insecure_channel(endpoint[7:]) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        for metadata in ((), (("authorization", "Bearer wrong-token-0123456789"),)):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Export(request, metadata=metadata, timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert len(receiver.rings.span_rows()) == 1
        send_with_sdk("grpc", endpoint)  # OTEL_EXPORTER_OTLP_HEADERS again
        assert len(receiver.rings.span_rows()) == 2
        stub.Export(request, metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=5)
    assert len(receiver.rings.span_rows()) == 3


def test_wrong_tokens_on_either_port_count_together_then_429(receiver: Receiver) -> None:
    """Guessing the token: after the limit of wrong ones from an address, even the right one waits (429)."""
    failures = Failures(limit=3, window=60)
    body = span_request(bytes(range(1, 17)))
    wrong = {"Authorization": "Bearer wrong-token-0123456789"}
    with otlp_http(receiver, token=TOKEN, failures=failures) as srv, \
            otlp_grpc(receiver, token=TOKEN, failures=failures) as endpoint, \
            grpc.insecure_channel(endpoint[7:]) as channel:  # fmt: skip
        assert [post(f"{srv.url}/v1/traces", body, **wrong)[0] for _ in range(2)] == [401, 401]
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Export(request, metadata=(("authorization", "Bearer wrong"),), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        status, headers, answer = post(f"{srv.url}/v1/traces", body, Authorization=f"Bearer {TOKEN}")
        assert status == 429 and 0 < int(headers["Retry-After"]) <= 60
        assert "too many wrong credentials from 127.0.0.1" in status_message(answer)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Export(request, metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=5)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert nothing_stored(receiver)


def test_a_busy_receiver_answers_503_with_retry_after_and_the_exporter_retries(receiver: Receiver) -> None:
    body = span_request(bytes(range(1, 17)))
    with otlp_http(receiver) as srv, otlp_grpc(receiver) as endpoint, grpc.insecure_channel(endpoint[7:]) as channel:
        with contextlib.ExitStack() as held:
            while True:  # take every ingest slot
                try:
                    held.enter_context(receiver.admit())
                except zgen_otel.receiver.Busy:
                    break
            status, headers, answer = post(f"{srv.url}/v1/traces", body)
            assert status == 503 and headers["Retry-After"] == "2" and "busy" in status_message(answer)
            with pytest.raises(grpc.RpcError) as refused:
                trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                    trace_service_pb2.ExportTraceServiceRequest.FromString(body), timeout=5)  # fmt: skip
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            retry = dict(refused.value.trailing_metadata())["google.rpc.retryinfo-bin"]
            assert error_details_pb2.RetryInfo.FromString(retry).retry_delay.seconds == 2
            assert nothing_stored(receiver)
            # The official exporter waits the Retry-After and sends again, once the slots are free.
            sender = threading.Thread(target=send_with_sdk, args=("http/protobuf", srv.url))
            sender.start()
            time.sleep(0.5)
        sender.join(20)
    assert [row.name for row in receiver.rings.span_rows("agent-x")] == ["agent.step"]
    assert receiver.stats()["busy"] >= 3


def test_a_foreign_host_header_is_refused_like_the_web_page(receiver: Receiver) -> None:
    body = span_request(bytes(range(1, 17)))
    with otlp_http(receiver, allowed_hosts=["collector.example"]) as srv:
        status, _, answer = post(f"{srv.url}/v1/traces", body, Host=f"evil.example:{srv.port}")
        assert status == 421 and "is not a name of this server" in json.loads(answer)["detail"]
        assert nothing_stored(receiver)
        assert post(f"{srv.url}/v1/traces", body, Host="collector.example:4318")[0] == 200
        assert post(f"{srv.url}/v1/traces", body, Host=f"localhost:{srv.port}")[0] == 200


def test_a_big_batch_does_not_hold_up_the_web_page(receiver: Receiver, record_property: Any) -> None:
    """The page and OTLP/HTTP share one event loop under ``serve``: decoding and storing run beside it."""
    page = make_app()
    servers = open_servers(page, "127.0.0.1", 0, receiver=receiver, otlp_port=free_port(), otlp_grpc_port=0,
                           token=None, allowed_hosts=[], max_body=2**26, failures=page.state.zgen_failures)  # fmt: skip
    runner = threading.Thread(target=servers.run)
    runner.start()
    big = span_request(*[bytes(range(1, 17))] * 200_000)  # 12 MB, 200,000 spans
    latencies: list[float] = []
    try:
        assert receiver.endpoints == [f"http://127.0.0.1:{servers.otlp_port}"]
        page_url = f"http://127.0.0.1:{servers.page_port}/api/monitoring"
        sender = threading.Thread(target=post, args=(f"{receiver.endpoints[0]}/v1/traces", big))
        started_batch = time.monotonic()
        sender.start()
        while sender.is_alive():
            started = time.monotonic()
            conn = http.client.HTTPConnection(f"127.0.0.1:{servers.page_port}", timeout=10)
            conn.request("GET", page_url)
            assert conn.getresponse().status == 200
            conn.close()
            latencies.append(time.monotonic() - started)
        sender.join()
        batch_seconds = time.monotonic() - started_batch
    finally:
        servers.stop()
        runner.join(20)
    assert len(receiver.rings.span_rows()) == 5000  # max_spans: the newest kept
    record_property("page_max_seconds_during_batch", round(max(latencies), 3))
    print(f"\nthe page answered {len(latencies)} times in the {batch_seconds:.1f} s a 200,000-span batch took to "
          f"send and store, at most in {max(latencies) * 1000:.0f} ms")  # fmt: skip
    # Stored on the event loop, one answer would wait about as long as the whole batch.
    assert len(latencies) >= 3 and max(latencies) < batch_seconds / 3


def test_a_quiet_service_in_requests_of_several_does_not_hold_the_other_services_spans() -> None:
    """An OTel Collector forwards one request for several services: each one's spans and records are its own.

    300 requests of 2,000 spans of a busy service and one span of a quiet one (and the same of log records):
    each ring keeps the newest 100, so the busy service's come from one request; if the quiet service's rows
    pointed into their requests, they would hold 100 of them (over 100 MB).
    """
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, capture_logs=False,
                        max_spans=100, max_logs=100)  # fmt: skip
    receiver = zgen_otel.get_runtime().start_receiver()
    busy = trace_service_pb2.ExportTraceServiceRequest.FromString(
        span_request(*[bytes(range(1, 17))] * 2000, service="busy"))  # fmt: skip
    for span in busy.resource_spans[0].scope_spans[0].spans:
        span.attributes.add(key="payload").value.string_value = "x" * 100
    quiet = trace_service_pb2.ExportTraceServiceRequest.FromString(span_request(bytes(range(2, 18)), service="quiet"))
    mixed = trace_service_pb2.ExportTraceServiceRequest()
    mixed.resource_spans.extend([*busy.resource_spans, *quiet.resource_spans])
    quiet_logs = logs_service_pb2.ExportLogsServiceRequest()
    for service, records in (("busy", 2000), ("quiet", 1)):
        resource_logs = quiet_logs.resource_logs.add()
        resource_logs.resource.attributes.add(key="service.name").value.string_value = service
        scope = resource_logs.scope_logs.add()
        for _ in range(records):
            scope.log_records.add(time_unix_nano=1_700_000_000_000_000_000).body.string_value = f"{service} " * 25
    body, log_body = mixed.SerializeToString(), quiet_logs.SerializeToString()
    gc.collect()
    me = psutil.Process()
    before = me.memory_info().rss
    for _ in range(300):
        assert receiver.export_traces(trace_service_pb2.ExportTraceServiceRequest.FromString(body)) == (0, "")
        assert receiver.export_logs(logs_service_pb2.ExportLogsServiceRequest.FromString(log_body)) == (0, "")
    gc.collect()
    grown = me.memory_info().rss - before
    quiet_rows = receiver.rings.span_rows("quiet")
    assert len(quiet_rows) == 100 and len(receiver.rings.span_rows("busy")) == 100
    assert quiet_rows[0].convert(quiet_rows[0], 4096)["name"] == "span-1"
    [record] = {r.convert(r, 4096)["message"] for r in receiver.rings.log_rows("quiet")}
    assert record == "quiet " * 25
    print(f"\nRSS grew by {grown / 1e6:.1f} MB")
    assert grown < 40e6, f"RSS grew by {grown / 1e6:.0f} MB"


# --- zgen-otel serve ---------------------------------------------------------------------------------

AGENT_SCRIPT = textwrap.dedent("""
    import zgen_otel

    zgen_otel.configure(system_monitor=False)

    @zgen_otel.track("agent.plan")
    def plan():
        zgen_otel.record_metric("queue_depth", 7, "agent", attributes={"queue": "main"})

    plan()
    zgen_otel.shutdown()  # flushes the OTLP exporters
""")


def serve_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZGEN_OTEL_API_TOKEN", "OTEL_"))}
    env.update(ZGEN_OTEL_SYSTEM_MONITOR="false", ZGEN_OTEL_DEFAULT_RULES="false")
    return env


def test_serve_receives_from_an_agent_that_only_sets_the_endpoint() -> None:
    port, otlp, otlp_grpc_port = free_port(), free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "zgen_otel", "serve", "--port", str(port), "--otlp-port",
                             str(otlp), "--otlp-grpc-port", str(otlp_grpc_port)], env=serve_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert f"http://127.0.0.1:{port}/monitoring" in proc.stdout.readline()
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{otlp_grpc_port} (gRPC)" in line
        assert line.rstrip().endswith(f"export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{otlp}")
        agent_env = {**serve_env(), "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp}",
                     "OTEL_SERVICE_NAME": "planner-agent"}  # fmt: skip
        agent = subprocess.run([sys.executable, "-c", AGENT_SCRIPT], env=agent_env, capture_output=True, text=True,
                               timeout=60)  # fmt: skip
        assert agent.returncode == 0, agent.stderr

        def senders() -> list[dict[str, Any]]:
            conn = http.client.HTTPConnection(f"127.0.0.1:{port}", timeout=5)
            conn.request("GET", "/api/monitoring")
            received = json.loads(conn.getresponse().read())["received"]
            conn.close()
            return [s for s in received["senders"] if s["points"] and s["spans"]]

        [sender] = wait_for(senders, timeout=10, what="the agent's metrics and spans")
        assert sender["service"] == "planner-agent" and sender["rejected"] == 0
    finally:
        proc.send_signal(2)  # Ctrl-C
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err, err


@pytest.mark.parametrize("flag", ["--otlp-port", "--otlp-grpc-port"])
def test_serve_names_a_taken_otlp_port_and_its_flag_before_printing_any_url(flag: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": str(free_port()), "--otlp-port": str(free_port()), "--otlp-grpc-port": str(free_port())}
        ports[flag] = str(port)
        args = [x for pair in ports.items() for x in pair]
        done = subprocess.run([sys.executable, "-m", "zgen_otel", "serve", *args], env=serve_env(),
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Address already in use" in done.stderr
    assert f"choose another port with {flag}, or {flag} 0 to turn it off" in done.stderr
    assert "Traceback" not in done.stderr
