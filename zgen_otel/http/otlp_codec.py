"""OTLP request and response bodies for the endpoints of ``zgen-otel serve``: decoding, size limits, encoding.

Requests are decoded only with the official ``opentelemetry-proto`` messages: ``FromString`` for
``application/x-protobuf``, ``google.protobuf.json_format`` for ``application/json`` (OTLP/JSON writes trace
and span ids as hex strings where the protobuf JSON mapping has base64: they are converted first; unknown
fields are ignored, as the OTLP specification asks). A ``gzip`` or ``deflate`` body is expanded in steps of
at most the size limit, and one that grows past it is refused before more is expanded: a small body that
expands to gigabytes (a "zip bomb") costs no more memory than the limit.

Answers are in the request's encoding: an ``Export*ServiceResponse`` (with ``partial_success`` when the
receiver rejected part of it), or a ``google.rpc.Status`` describing a failure.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from zgen_otel.receiver import Receiver

__all__ = [
    "DEFAULT_MAX_BODY",
    "ENCODINGS",
    "JSON",
    "PROTOBUF",
    "SIGNALS",
    "OtlpError",
    "Signal",
    "decode",
    "encode",
    "expand",
    "media_type",
    "status_body",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: Content encodings accepted (``Content-Encoding``; gRPC compresses on its own).
ENCODINGS = ("identity", "gzip", "deflate")
#: Bytes of one request, before and after expanding: the default of the ``otlp_max_body`` setting.
DEFAULT_MAX_BODY = 16 * 1024 * 1024

# google.rpc.Code of each HTTP status this module answers with (the OTLP clients do not act on it).
_CODES = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 413: code_pb2.INVALID_ARGUMENT,
          415: code_pb2.INVALID_ARGUMENT, 429: code_pb2.RESOURCE_EXHAUSTED, 503: code_pb2.UNAVAILABLE}  # fmt: skip
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
# Where OTLP/JSON holds hex ids, per signal: paths of fields (snake_case; camelCase is accepted too), at whose
# end each object's trace_id, span_id and parent_span_id are hex. A tuple is a choice of fields.
_METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
_ID_PATHS: dict[str, tuple[tuple[str | tuple[str, ...], ...], ...]] = {
    "traces": (("resource_spans", "scope_spans", "spans"), ("resource_spans", "scope_spans", "spans", "links")),
    "logs": (("resource_logs", "scope_logs", "log_records"),),
    "metrics": (("resource_metrics", "scope_metrics", "metrics", _METRIC_KINDS, "data_points", "exemplars"),),
}
_ID_FIELDS = ("trace_id", "span_id", "parent_span_id")


class OtlpError(Exception):
    """A request that cannot be taken: ``status`` is the HTTP status to answer, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Signal:
    """One OTLP signal: its path name, request and response messages, and the response's count of rejected items."""

    name: str
    request: type[Message]
    response: type[Message]
    rejected_field: str

    def ingest(self, receiver: Receiver, request: Message) -> Message:
        """Give ``request`` to ``receiver`` and return the response, with ``partial_success`` if it rejected any."""
        export = getattr(receiver, f"export_{self.name}")
        rejected, message = export(request)
        response = self.response()
        if rejected:
            partial: Any = response.partial_success  # each response message has one
            setattr(partial, self.rejected_field, rejected)
            partial.error_message = message
        return response


#: The signals by the last part of their HTTP path (``/v1/metrics``, ``/v1/traces``, ``/v1/logs``).
SIGNALS = {
    "metrics": Signal("metrics", metrics_service_pb2.ExportMetricsServiceRequest,
                      metrics_service_pb2.ExportMetricsServiceResponse, "rejected_data_points"),
    "traces": Signal("traces", trace_service_pb2.ExportTraceServiceRequest,
                     trace_service_pb2.ExportTraceServiceResponse, "rejected_spans"),
    "logs": Signal("logs", logs_service_pb2.ExportLogsServiceRequest,
                   logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records"),
}  # fmt: skip


def media_type(content_type: str | None) -> str | None:
    """`PROTOBUF` or `JSON` for a ``Content-Type`` header naming one (parameters ignored); else None."""
    media = (content_type or "").partition(";")[0].strip().lower()
    return media if media in (PROTOBUF, JSON) else None


def expand(body: bytes | bytearray, encoding: str, limit: int) -> bytes | bytearray:
    """The body with its ``Content-Encoding`` (one of `ENCODINGS`) undone, expanding at most ``limit`` bytes.

    Raises:
        OtlpError: 413 when the expanded body would pass ``limit`` (found after expanding ``limit`` + 1 bytes,
            never more), 400 when the body is not valid gzip or deflate data or is cut short.
    """
    if encoding == "identity":
        return body
    out = bytearray()
    rest: bytes | bytearray = body
    try:
        while rest:  # gzip allows several members one after another
            expander = zlib.decompressobj(_WBITS[encoding])
            data: bytes | bytearray = rest
            while not expander.eof:
                chunk = expander.decompress(data, limit + 1 - len(out))
                out += chunk
                if len(out) > limit:
                    raise OtlpError(413, f"the request body expands to more than {limit} bytes, the limit")
                progressed = chunk or len(expander.unconsumed_tail) < len(data)
                data = expander.unconsumed_tail
                if not progressed:
                    break  # the input is used up before the end of the stream
            if not expander.eof:
                raise OtlpError(400, f"the {encoding} body is cut short")
            rest = expander.unused_data if encoding == "gzip" else b""
    except zlib.error as exc:
        raise OtlpError(400, f"the body is not valid {encoding} data: {exc}") from None
    return out


def _objects(node: Any, path: tuple[str | tuple[str, ...], ...]) -> Iterator[dict[str, Any]]:
    """The JSON objects at the end of ``path`` under ``node`` (lists are walked; anything unexpected skipped)."""
    if isinstance(node, list):
        for item in node:
            yield from _objects(item, path)
        return
    if not isinstance(node, dict):
        return
    if not path:
        yield node
        return
    step = path[0]
    for name in (step,) if isinstance(step, str) else step:
        for key in dict.fromkeys((name, _camel(name))):  # "spans" is both
            if key in node:
                yield from _objects(node[key], path[1:])


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _hex_ids_to_base64(signal: str, body: dict[str, Any]) -> None:
    """Rewrite the hex trace and span ids of an OTLP/JSON body as the base64 that ``json_format`` reads."""
    for path in _ID_PATHS[signal]:
        for item in _objects(body, path):
            for name in _ID_FIELDS:
                for key in (name, _camel(name)):
                    value = item.get(key)
                    if not isinstance(value, str):
                        continue  # absent; or of a type json_format reports
                    try:
                        item[key] = base64.b64encode(bytes.fromhex(value)).decode()
                    except ValueError:
                        problem = f"{key} {value[:80]!r} is not a hex string (OTLP/JSON writes ids in hex)"
                        raise OtlpError(400, problem) from None


def decode(signal: Signal, data: bytes | bytearray, media: str) -> Message:
    """The ``Export*ServiceRequest`` in ``data`` (``media``: `PROTOBUF` or `JSON`), decoded completely.

    Raises:
        OtlpError: 400 naming what is wrong when ``data`` is not such a message in that encoding.
    """
    what = f"{signal.request.DESCRIPTOR.name} in {'protobuf' if media == PROTOBUF else 'JSON'}"
    try:
        if media == PROTOBUF:
            return signal.request.FromString(data)
        body = json.loads(data)
        if not isinstance(body, dict):
            raise OtlpError(400, f"the body is not an {what}: expected a JSON object, got {type(body).__name__}")
        _hex_ids_to_base64(signal.name, body)
        return json_format.ParseDict(body, signal.request(), ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, ValueError, RecursionError) as exc:
        raise OtlpError(400, f"the body is not a valid {what}: {str(exc)[:300] or type(exc).__name__}") from None


def encode(message: Message, media: str) -> bytes:
    """``message`` in ``media`` (`PROTOBUF` or `JSON`, with OTLP/JSON's camelCase names)."""
    if media == PROTOBUF:
        data: bytes = message.SerializeToString()
        return data
    text: str = json_format.MessageToJson(message, indent=None)
    return text.encode()


def status_body(status: int, message: str, media: str) -> bytes:
    """A ``google.rpc.Status`` body for an HTTP error ``status``, in ``media``, carrying ``message``."""
    return encode(status_pb2.Status(code=_CODES.get(status, code_pb2.UNKNOWN), message=message), media)
