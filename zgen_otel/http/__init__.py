"""The HTTP API and web page (install the ``server`` extra): :func:`make_app`."""

from zgen_otel.http.app import make_app

__all__ = ["make_app"]
