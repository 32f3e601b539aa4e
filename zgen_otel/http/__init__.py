"""The HTTP API and web page (install the ``server`` extra): :func:`make_app`, and :func:`serve_options` to run it."""

from zgen_otel.http.app import make_app
from zgen_otel.http.server import serve_options

__all__ = ["make_app", "serve_options"]
