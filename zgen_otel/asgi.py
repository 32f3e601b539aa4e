"""ASGI middleware for the agent's API server: request spans, ``http.server.request.duration``, statistics.

``app.add_middleware(MonitoringMiddleware)`` (FastAPI/Starlette) or ``MonitoringMiddleware(asgi_app)``. Each
HTTP request becomes a SERVER span named ``{method} {route}`` — the route template (``/items/{item_id}``,
with the prefix of the mounts it went through), never the raw path — and an operation of that name in the
performance statistics; ``http.server.request.duration`` (seconds; ``http.request.method``, ``http.route``,
``http.response.status_code``, ``error.type`` for 5xx and exceptions) follows the HTTP semantic conventions.
A request no route template is known for (a bare ASGI app, a 404) is named by its method alone and has no
``http.route``, so raw paths never make span names, series or statistics. Likewise a method that is not one
of the HTTP methods the semantic conventions know (an h11 server passes any token a client sends) is recorded
as ``http.request.method=_OTHER``, with the token in ``http.request.method_original`` on the span only, and
the span and operation are named ``HTTP`` (or ``HTTP {route}``): made-up methods cannot make new operations.

Requests to the monitoring page and API itself (``make_app`` mounted in the same app: paths with a
``/monitoring`` or ``/api/monitoring`` segment, under any mount prefix) are never tracked: a page left open
polls every few seconds, and its requests are not the agent's traffic.

When opentelemetry-instrumentation-asgi already made a SERVER span for the request, this middleware leaves
span and duration metric to it (no double counting) and only adds the request to the local statistics.

At the app's lifespan shutdown it pushes what the process recorded to the OTLP exporters: uvicorn and gunicorn
workers stopped with SIGTERM end by that signal once the app has shut down, so ``atexit`` never runs there.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from zgen_otel import _current
from zgen_otel import semconv as sc
from zgen_otel._calls import finish_call, start_call
from zgen_otel._context import CURRENT

__all__ = ["DURATION_BUCKETS", "MonitoringMiddleware"]

#: The methods the HTTP semantic conventions know (RFC 9110, RFC 5789 PATCH, and QUERY); any other is ``_OTHER``.
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"})
OTHER_METHOD = "_OTHER"
DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
Scope = dict[str, Any]
# The monitoring app's own paths, under any mount prefix: /monitoring, /monitoring/..., /api/monitoring/...
_MONITORING_PATH = re.compile(r"(^|/)(api/)?monitoring(/|$)")
_FLUSH_DEADLINE = 10.0  # seconds the lifespan shutdown waits for the flush (each export has its own timeout)


class _ServerError(Exception):
    """Stands for a 5xx response on the span and in the statistics (the request raised nothing we saw)."""


_SERVER_ERRORS: dict[int, type[_ServerError]] = {}


def _server_error(code: int) -> _ServerError:
    """A 5xx response as an exception whose type name is the status code: ``error.type`` is ``"503"`` (semconv)."""
    cls = _SERVER_ERRORS.get(code)
    if cls is None:
        cls = _SERVER_ERRORS[code] = type(str(code), (_ServerError,), {"__qualname__": str(code)})
    return cls(f"HTTP {code}")


class MonitoringMiddleware:
    """Track every HTTP request of the wrapped ASGI app (see the module docstring).

    Args:
        app: the ASGI application.
        exclude_paths: paths not tracked (health checks...); the monitoring page and API never are.
    """

    def __init__(self, app: Any, exclude_paths: Collection[str] = ()) -> None:
        self.app = app
        self.exclude = frozenset(exclude_paths)
        self._histograms: dict[int, Any] = {}

    def _histogram(self) -> Any:
        rt = _current.get_runtime()
        if rt.providers is None:
            return None
        found = self._histograms.get(id(rt))
        if found is None:
            meter = rt.providers.meter_provider.get_meter("zgen_otel.asgi")
            spec = sc.HTTP_SERVER_REQUEST_DURATION
            found = meter.create_histogram(spec.name, unit=spec.unit, description=spec.description,
                                           explicit_bucket_boundaries_advisory=DURATION_BUCKETS)  # fmt: skip
            self._histograms = {id(rt): found}
        return found

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Handle one ASGI connection: track HTTP requests, pass everything else through."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _flushing_at_shutdown(send))
            return
        path = scope.get("path", "")
        if scope["type"] != "http" or path in self.exclude or _MONITORING_PATH.search(path):
            await self.app(scope, receive, send)
            return
        method, start_attrs = _method(scope.get("method", "GET"))
        outer = trace.get_current_span()
        instrumented = outer.is_recording() and getattr(outer, "kind", None) is SpanKind.SERVER
        call = None if instrumented else start_call(_span_prefix(method), SpanKind.SERVER, start_attrs)
        root_path = scope.get("root_path", "")
        token = CURRENT.set(call[4]) if call is not None else None
        # no call (another instrumentation owns the span, or tracking is off): local statistics only, timed here
        tracker = _current.get_runtime().performance if call is None else None
        started_ns = tracker.time_ns() if tracker is not None else 0  # the tracker's clock, as finish_call reads it
        status = {"code": 500}
        started = time.perf_counter()

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, capture)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if token is not None:
                CURRENT.reset(token)
            seconds = time.perf_counter() - started
            self._done(_route(scope, root_path), call, method, status["code"], error, seconds, tracker, started_ns)

    def _done(
        self,
        route: str | None,
        call: Any,
        method: str,
        code: int,
        error: BaseException | None,
        seconds: float,
        tracker: Any,
        t0: int,
    ) -> None:
        prefix = _span_prefix(method)
        name = prefix if route is None else f"{prefix} {route}"
        attrs: dict[str, Any] = {"http.request.method": method, "http.response.status_code": code}
        if route is not None:
            attrs["http.route"] = route
        failure = error if error is not None else _server_error(code) if code >= 500 else None
        if call is None:  # opentelemetry-instrumentation-asgi owns span and metric: only the local statistics here
            if tracker is not None:
                finish_call((tracker, name, t0, trace.INVALID_SPAN, None), failure, False)  # type: ignore[arg-type]
            return
        span = call[3]
        span.update_name(name)
        span.set_attributes(attrs)
        finish_call((call[0], name, call[2], span, call[4]), failure, False)
        histogram = self._histogram()
        if histogram is not None:
            if failure is not None:  # the exception's type, or the 5xx status code (_server_error)
                attrs["error.type"] = type(failure).__qualname__
            histogram.record(seconds, attrs)


def _flushing_at_shutdown(send: Any) -> Any:
    """``send`` of a lifespan scope that flushes telemetry before it reports the app's shutdown as done."""

    async def send_after_flush(message: dict[str, Any]) -> None:
        if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            _flush_recorded(_FLUSH_DEADLINE)
        await send(message)

    return send_after_flush


def _flush_recorded(timeout: float) -> None:
    """Push what this process recorded to the OTLP exporters now, waiting ``timeout`` seconds at most.

    Nothing happens when no runtime was started (the app served no request and recorded nothing). The flush
    runs on a daemon thread, so a hanging collector delays the caller by ``timeout`` at most.
    """
    rt = _current.runtime
    if rt is None or not rt.enabled:
        return
    worker = threading.Thread(target=rt.force_flush, name="zgen-otel-flush", daemon=True)
    worker.start()
    worker.join(timeout)


def _method(raw: object) -> tuple[str, dict[str, Any]]:
    """The ``http.request.method`` of a request (``_OTHER`` for an unknown one) and the span's starting attributes.

    As the HTTP semantic conventions say: methods are case-sensitive, and the original token of an unknown one
    goes in ``http.request.method_original`` (on the span only, never on a metric).
    """
    if raw in KNOWN_METHODS:
        return str(raw), {"http.request.method": raw}
    return OTHER_METHOD, {"http.request.method": OTHER_METHOD, "http.request.method_original": str(raw)}


def _span_prefix(method: str) -> str:
    """What a request's span and operation name start with: the method, or ``HTTP`` for ``_OTHER`` (semconv)."""
    return "HTTP" if method == OTHER_METHOD else method


def _route(scope: Scope, root_path: str) -> str | None:
    """The route template the framework matched (after the prefix of the mounts it went through), or None.

    Starlette and FastAPI put the matched route in ``scope["route"]``; a ``Mount`` extends ``root_path`` by
    the part of the path it matched, so what ``root_path`` grew by while the request ran is the mount prefix.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str) or not template:
        return None
    mounted = scope.get("root_path", "")
    prefix = mounted[len(root_path) :] if isinstance(mounted, str) and mounted.startswith(root_path) else ""
    return prefix + template
