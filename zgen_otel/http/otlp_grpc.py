"""The OTLP/gRPC endpoint of ``zgen-otel serve``: the three ``Export`` services on one ``grpcio`` server.

`make_otlp_grpc_server` registers the generated servicers of ``opentelemetry-proto`` (metrics, traces,
logs) for a `Receiver`, binds the port and returns the server to start. gRPC
decodes the messages itself, refusing one over ``max_receive_message_length`` (the ``otlp_max_body``
setting) with RESOURCE_EXHAUSTED. A busy receiver answers UNAVAILABLE with a ``RetryInfo`` (the exporters
retry); a rejected part of a batch is reported in the response's ``partial_success``. When a token is
required, a call without ``authorization: Bearer <token>`` metadata is answered UNAUTHENTICATED before its
message is decoded.
"""

from __future__ import annotations

import math
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from zgen_otel.http.auth import Failures, bearer_token, check_token, same_token
from zgen_otel.http.otlp_codec import DEFAULT_MAX_BODY, SIGNALS, Signal
from zgen_otel.receiver import Busy, Receiver

__all__ = ["DEFAULT_GRPC_PORT", "make_otlp_grpc_server"]

#: The OTLP/gRPC port of ``zgen-otel serve`` (``--otlp-grpc-port``).
DEFAULT_GRPC_PORT = 4317
_WORKERS = 8  # threads serving calls; calls past the receiver's slots get UNAVAILABLE at once
_MAX_CALLS = 64  # calls waiting for a thread; more get RESOURCE_EXHAUSTED (the exporters retry)

# (generated servicer base, its registration function, signal)
_SERVICES = (
    (metrics_service_pb2_grpc.MetricsServiceServicer, metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
     SIGNALS["metrics"]),
    (trace_service_pb2_grpc.TraceServiceServicer, trace_service_pb2_grpc.add_TraceServiceServicer_to_server,
     SIGNALS["traces"]),
    (logs_service_pb2_grpc.LogsServiceServicer, logs_service_pb2_grpc.add_LogsServiceServicer_to_server,
     SIGNALS["logs"]),
)  # fmt: skip


def _retry_metadata(seconds: int, message: str) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata telling a client to retry after ``seconds``.

    A ``RetryInfo`` as Python's OTLP exporter reads it (``google.rpc.retryinfo-bin``) and as the other gRPC
    clients do (in ``grpc-status-details-bin``).
    """
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[detail])
    return (("google.rpc.retryinfo-bin", info.SerializeToString()),
            ("grpc-status-details-bin", status.SerializeToString()))  # fmt: skip


def _servicer(base: type, signal: Signal, receiver: Receiver) -> Any:
    """An instance of the generated servicer ``base`` whose ``Export`` stores into ``receiver``."""

    class Servicer(base):  # type: ignore[misc]
        def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
            try:
                with receiver.admit():
                    return signal.ingest(receiver, request)
            except Busy as exc:
                context.set_trailing_metadata(_retry_metadata(exc.retry_after, str(exc)))
                context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))

    Servicer.__name__ = Servicer.__qualname__ = f"{signal.name.title()}Servicer"
    return Servicer()


def _client(context: grpc.ServicerContext) -> str:
    """The client's address from ``context.peer()`` (``ipv4:127.0.0.1:5000``, ``ipv6:%5B::1%5D:5000``), no port."""
    address = urllib.parse.unquote(context.peer()).partition(":")[2].rpartition(":")[0]
    return address.strip("[]") or "unknown"


class _TokenCheck(grpc.ServerInterceptor):  # type: ignore[misc]
    """The token check of the gRPC calls.

    UNAUTHENTICATED for a call without the token (its message is never decoded); RESOURCE_EXHAUSTED for a
    client past the wrong-token limit of `Failures` (shared with the HTTP ports).
    """

    def __init__(self, token: str, failures: Failures) -> None:
        self.token = token
        self.failures = failures

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        """Wrap the call's handler in the checks."""
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        header = dict(handler_call_details.invocation_metadata).get("authorization")
        allowed = isinstance(header, str) and same_token(bearer_token(header), self.token)
        inner = handler.unary_unary

        def checked(request: Any, context: grpc.ServicerContext) -> Any:
            client = _client(context)
            wait = self.failures.retry_after(client)
            if wait > 0:
                text = f"too many wrong credentials from {client}: try again in {math.ceil(wait)} s"
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, text)
            if not allowed:
                if header is not None:
                    self.failures.add(client)
                context.abort(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "valid 'authorization: Bearer <ZGEN_OTEL_API_TOKEN>' "
                    "metadata is required (OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>)",
                )
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            checked,
            request_deserializer=handler.request_deserializer if allowed else None,  # raw bytes: not decoded
            response_serializer=handler.response_serializer,
        )


def make_otlp_grpc_server(
    receiver: Receiver,
    address: str,
    *,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    max_connections: int = 250,
    failures: Failures | None = None,
) -> tuple[grpc.Server, int]:
    """An OTLP/gRPC server for ``receiver`` bound to ``address`` (``host:port``, ``[::1]:port``), not yet started.

    Args:
        receiver: where the data goes.
        address: where to listen; port 0 takes a free one.
        token: when given, every call needs ``authorization: Bearer <token>`` metadata (else UNAUTHENTICATED).
        max_body: the largest message in bytes (gRPC's ``max_receive_message_length``).
        max_connections: connections accepted at once.
        failures: the wrong-token count shared with the HTTP ports; a new one by default.

    Returns:
        The server (call ``start()``, and ``stop(grace)`` at the end) and the port it is bound to.

    Raises:
        OSError: the address cannot be bound (the port is in use, or the host is no address of this machine).
        ConfigError: a token shorter than 16 characters.
    """
    if token is not None:
        check_token(token, "make_otlp_grpc_server: token")
    options = [
        ("grpc.max_receive_message_length", max_body),
        ("grpc.so_reuseport", 0),  # a second server on a taken port fails instead of sharing it
        ("grpc.max_allowed_incoming_connections", max_connections),
    ]
    interceptors = [_TokenCheck(token, failures or Failures())] if token is not None else []
    pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="zgen-otel-grpc")
    server = grpc.server(pool, interceptors=interceptors, options=options, maximum_concurrent_rpcs=_MAX_CALLS)
    for base, register, signal in _SERVICES:
        register(_servicer(base, signal, receiver), server)  # type: ignore[no-untyped-call]
    try:
        port: int = server.add_insecure_port(address)
    except RuntimeError:  # grpcio >= 1.50; earlier ones return 0
        port = 0
    if not port:
        server.stop(None)
        pool.shutdown(wait=False)
        raise OSError(f"cannot listen on {address}: the port is in use, or the host is no address of this machine")
    return server, port
