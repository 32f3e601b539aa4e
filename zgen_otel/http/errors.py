"""Error responses of the HTTP API: RFC 9457 style ``{"status", "title", "detail"}`` JSON bodies."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["http_error", "internal_error", "invalid_request", "problem"]


def problem(status: int, title: str, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A JSON problem response with ``status`` as its status code (and ``headers``, e.g. ``Retry-After``)."""
    return JSONResponse({"status": status, "title": title, "detail": detail}, status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: an ``HTTPException`` (404, 401, ...) as a problem with its detail and headers."""
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, "Error", str(exc.detail), exc.headers)


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: a parameter or body that fails validation, as a 422 naming each bad field."""
    assert isinstance(exc, RequestValidationError)
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return problem(422, "Invalid request", detail)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: any other exception, as a 500 naming only its type (no message, no trace)."""
    return problem(500, "Internal error", type(exc).__name__)
