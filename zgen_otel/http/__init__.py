"""The HTTP API and web page (install the ``server`` extra): :func:`make_app`, and :func:`serve_options` to run it.

:func:`zgen_otel.start_server` (:mod:`zgen_otel.http.background`) serves them from the agent's own process. The
names here are imported on first use, so that ``import zgen_otel`` (which imports ``start_server``) needs
neither FastAPI nor uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zgen_otel.http.app import make_app
    from zgen_otel.http.server import serve_options

__all__ = ["make_app", "serve_options"]


def __getattr__(name: str) -> Any:
    """``make_app`` and ``serve_options``, imported on first use (ImportError when the server extra is missing)."""
    if name == "make_app":
        from zgen_otel.http.app import make_app

        return make_app
    if name == "serve_options":
        from zgen_otel.http.server import serve_options

        return serve_options
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
