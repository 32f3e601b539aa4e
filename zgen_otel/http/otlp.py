"""The OTLP/HTTP endpoints of ``zgen-otel serve``: ``POST /v1/metrics``, ``/v1/traces``, ``/v1/logs``.

`make_otlp_app` returns an ASGI app that takes what the official OTLP exporters send
(``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318``) into the runtime's `Receiver`.
It answers as the OTLP specification says:

- 200 with an ``Export*ServiceResponse`` in the request's encoding (protobuf or JSON), with
  ``partial_success`` when the receiver rejected part of the data;
- 400 for a body that does not decode (nothing of it is stored), 401 without the token when one is required,
  413 for a body over the limit (before or after ``gzip``), 415 for another ``Content-Type`` or
  ``Content-Encoding``, 429 (``Retry-After``) after too many wrong tokens, 503 (``Retry-After``) while the
  receiver is busy: the exporters retry on 429 and 503 and give up on the rest. Error bodies are
  ``google.rpc.Status`` messages, in the request's encoding (JSON when it has none of the two).

The ``Host`` check of the web page (`HostCheck`) runs first. At most the
receiver's ``max_pending`` requests are read and stored at once; decoding and storing run on a worker
thread, so a big batch never holds up the server's event loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from zgen_otel.config import load_settings
from zgen_otel.http.auth import Failures, bearer_token, check_token, same_token
from zgen_otel.http.otlp_codec import (
    DEFAULT_MAX_BODY,
    ENCODINGS,
    JSON,
    SIGNALS,
    OtlpError,
    Signal,
    decode,
    encode,
    expand,
    media_type,
    status_body,
)
from zgen_otel.http.security import HostCheck
from zgen_otel.receiver import Busy, Receiver

__all__ = ["DEFAULT_HTTP_PORT", "make_otlp_app"]

#: The OTLP/HTTP port of ``zgen-otel serve`` (``--otlp-port``): the one the OTLP exporters send to by default.
DEFAULT_HTTP_PORT = 4318


class _Endpoint:
    """``POST /v1/<signal>``: check, read, decode and store one request."""

    def __init__(
        self, signal: Signal, receiver: Receiver, token: str | None, max_body: int, failures: Failures
    ) -> None:
        self.signal = signal
        self.receiver = receiver
        self.token = token
        self.max_body = max_body
        self.failures = failures

    @staticmethod
    def error(status: int, message: str, media: str, headers: dict[str, str] | None = None) -> Response:
        """An error answer: a ``google.rpc.Status`` in ``media``."""
        return Response(status_body(status, message, media), status, headers, media_type=media)

    def refused(self, request: Request, media: str) -> Response | None:
        """401 or 429 when the token is required and the request does not carry it; None when it may pass."""
        if self.token is None:
            return None
        client = request.client.host if request.client else "unknown"
        wait = self.failures.retry_after(client)
        if wait > 0:
            seconds = str(math.ceil(wait))
            text = f"too many wrong credentials from {client}: try again in {seconds} s"
            return self.error(429, text, media, {"Retry-After": seconds})
        header = request.headers.get("authorization")
        if same_token(bearer_token(header), self.token):
            return None
        if header is not None:
            self.failures.add(client)
        text = ("a valid 'Authorization: Bearer <ZGEN_OTEL_API_TOKEN>' header is required (exporters send it with "
                "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>)")  # fmt: skip
        return self.error(401, text, media, {"WWW-Authenticate": "Bearer"})

    async def read(self, request: Request) -> bytearray:
        """The request body, read until it passes the limit (413)."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                raise OtlpError(413, f"the request body is larger than {self.max_body} bytes, the limit")
        return body

    def store(self, body: bytearray, encoding: str, media: str) -> bytes:
        """Expand, decode completely, then store (on a worker thread); the encoded response."""
        request = decode(self.signal, expand(body, encoding, self.max_body), media)
        return encode(self.signal.ingest(self.receiver, request), media)

    async def __call__(self, request: Request) -> Response:
        """Answer one export request (see the module's docstring for the statuses)."""
        content_type = request.headers.get("content-type")
        media = media_type(content_type)
        refused = self.refused(request, media or JSON)
        if refused is not None:
            return refused
        if media is None:
            return self.error(415, f"Content-Type {content_type!r} is not supported: send application/x-protobuf "
                                   "or application/json", JSON)  # fmt: skip
        encoding = (request.headers.get("content-encoding") or "identity").strip().lower()
        if encoding not in ENCODINGS:
            return self.error(415, f"Content-Encoding {encoding[:80]!r} is not supported: send gzip, deflate or "
                                   "none", media)  # fmt: skip
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > self.max_body:
            return self.error(413, f"the request body is larger than {self.max_body} bytes, the limit", media)
        try:
            with self.receiver.admit():
                body = await self.read(request)
                answer = await anyio.to_thread.run_sync(self.store, body, encoding, media)
        except Busy as exc:
            return self.error(503, str(exc), media, {"Retry-After": str(exc.retry_after)})
        except OtlpError as exc:
            return self.error(exc.status, str(exc), media)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody reads it
        return Response(answer, media_type=media)


def make_otlp_app(
    receiver: Receiver,
    *,
    token: str | None = None,
    allowed_hosts: Sequence[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
    failures: Failures | None = None,
) -> Starlette:
    """The OTLP/HTTP endpoints ``/v1/metrics``, ``/v1/traces`` and ``/v1/logs`` for ``receiver``, as an ASGI app.

    Args:
        receiver: where the data goes (``zgen_otel.get_runtime().start_receiver()``).
        token: when given, every request needs ``Authorization: Bearer <token>`` (401 otherwise); at least
            16 characters. ``zgen-otel serve`` gives ``ZGEN_OTEL_API_TOKEN`` on a non-loopback address.
        allowed_hosts: the names besides loopback that the ``Host`` header may carry, as for
            `make_app` (``"*"`` for any); others get 421.
        max_body: the largest body in bytes, before and after ``gzip`` (413 past it): the ``otlp_max_body``
            setting (``ZGEN_OTEL_OTLP_MAX_BODY``).
        failures: the wrong-token count to share with the web page's app (``app.state.zgen_failures``), so
            that guesses on either port count together; a new one by default.

    Raises:
        ConfigError: a token shorter than 16 characters, or a malformed name in ``allowed_hosts``.
    """
    if token is not None:
        check_token(token, "make_otlp_app: token")
    names = load_settings({}, allowed_hosts=list(allowed_hosts)).allowed_hosts
    shared = failures or Failures()
    routes = [
        Route(f"/v1/{name}", _Endpoint(signal, receiver, token, max_body, shared).__call__, methods=["POST"])
        for name, signal in SIGNALS.items()
    ]
    return Starlette(routes=routes, middleware=[Middleware(HostCheck, allowed=lambda: names)])
