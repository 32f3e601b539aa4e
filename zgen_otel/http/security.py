"""The body-size limit and the security headers on every response of the app (plain ASGI middleware)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zgen_otel.http.errors import problem

__all__ = ["CSP", "MAX_BODY", "Guard"]

#: The largest request body accepted, in bytes; larger ones get 413.
MAX_BODY = 64 * 1024
#: The Content-Security-Policy of every HTML response that does not set its own.
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


class Guard:
    """Body-size limit and security headers on every response (plain ASGI: no per-request task overhead).

    A body over :data:`MAX_BODY` (declared, or chunked and read up to the limit) is answered 413. Every
    response gets ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``; HTML responses
    get :data:`CSP` unless they set a policy of their own.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the body size, then pass the request on with the headers added to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        too_large = length is not None and (not length.isdigit() or int(length) > MAX_BODY)
        if length is None and b"transfer-encoding" in headers:  # chunked: read it here, up to the limit
            receive, too_large = await _buffered(receive)
        if too_large:
            response = problem(413, "Payload Too Large", f"request bodies are limited to {MAX_BODY} bytes")
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _buffered(receive: Receive) -> tuple[Receive, bool]:
    """Read a body of unknown length, up to :data:`MAX_BODY` + 1 bytes.

    Returns a receive that replays it, and whether it is too large.
    """
    chunks: list[bytes] = []
    size, more = 0, True
    while more and size <= MAX_BODY:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay, size > MAX_BODY
