"""The web page under ``/monitoring``: the dashboard index, each dashboard live, traces, one trace, logs.

A live page is a dashboard's HTML with the script of ``templates/live.html`` before ``</body>``: it refreshes
the page in place every ``refresh`` seconds (1 to 3600), picks the time range and sends the alert buttons'
writes with the app's current page token, or, when every endpoint needs the token, with the login session
alone (no token in the page: logging out or the session's end ends the page's power to write).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from zgen_otel._runtime import Runtime
from zgen_otel.dashboards.dashboard import render_dashboard, render_dashboard_index
from zgen_otel.dashboards.rendering import make_environment
from zgen_otel.dashboards.traces_logs import render_trace
from zgen_otel.http.auth import logged_in, page_auth
from zgen_otel.http.params import (
    CONTAINS,
    DASHBOARD,
    LOGGER,
    MIN_DURATION,
    MIN_LEVEL,
    OPERATION,
    ORDER,
    REFRESH,
    STATUS,
    TRACE_FILTER,
    TRACE_ID,
    WINDOW,
    CurrentRuntime,
)

__all__ = ["dashboard_or_404", "router"]

_templates = make_environment("zgen_otel.http")

router = APIRouter(dependencies=[Depends(page_auth)], include_in_schema=False)


def dashboard_or_404(runtime: Runtime, name: str, fmt: str, window: float, interactive: bool = False) -> str:
    """The dashboard ``name`` of ``runtime`` rendered as ``fmt`` (``html`` or ``json``) over ``window`` seconds.

    Raises:
        HTTPException: 404 when no dashboard has that name.
    """
    try:
        return render_dashboard(name, format=fmt, window_seconds=window, interactive=interactive, runtime=runtime)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None


def _live(request: Request, html: str, refresh: float) -> HTMLResponse:
    """A page with the live script: refreshed in place every ``refresh`` s, time-range picker, alert buttons."""
    state = request.app.state
    token = None if state.zgen_require_token else state.zgen_page_tokens.current()
    script = _templates.get_template("live.html").render(
        page_token=token, logged_in=logged_in(request), refresh_ms=round(refresh * 1000)
    )
    return HTMLResponse(html.replace("</body>", script + "</body>"))


@router.get("/monitoring")
def index(runtime: CurrentRuntime) -> HTMLResponse:
    """The web page: the dashboard index."""
    return HTMLResponse(render_dashboard_index(link="monitoring/{name}", runtime=runtime))


@router.get("/monitoring/traces")
def traces_page(
    request: Request,
    runtime: CurrentRuntime,
    operation: str | None = OPERATION,
    status: str | None = STATUS,
    min_duration: float | None = MIN_DURATION,
    order: str = ORDER,
    window: float = WINDOW,
    refresh: float = REFRESH,
) -> HTMLResponse:
    """The web page: recent traces, live."""
    options: dict[str, Any] = {"operation": operation, "status": status, "min_duration": min_duration, "order": order}
    return _live(request, render_dashboard("traces", window_seconds=window, runtime=runtime, **options), refresh)


@router.get("/monitoring/traces/{trace_id}")
def trace_page(runtime: CurrentRuntime, trace_id: str = TRACE_ID) -> HTMLResponse:
    """The web page: one trace's waterfall and logs."""
    try:
        return HTMLResponse(render_trace(trace_id, runtime=runtime))
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from None


@router.get("/monitoring/logs")
def logs_page(
    request: Request,
    runtime: CurrentRuntime,
    min_level: str | None = MIN_LEVEL,
    logger: str | None = LOGGER,
    contains: str | None = CONTAINS,
    trace_id: str | None = TRACE_FILTER,
    window: float = WINDOW,
    refresh: float = REFRESH,
) -> HTMLResponse:
    """The web page: log records with filters, live tail."""
    options: dict[str, Any] = {"min_level": min_level, "logger": logger, "contains": contains, "trace_id": trace_id}
    return _live(request, render_dashboard("logs", window_seconds=window, runtime=runtime, **options), refresh)


@router.get("/monitoring/{name}")
def page(
    request: Request, runtime: CurrentRuntime, name: str = DASHBOARD, window: float = WINDOW, refresh: float = REFRESH
) -> HTMLResponse:
    """The web page: one dashboard, refreshed live, with alert actions and a time-range picker."""
    return _live(request, dashboard_or_404(runtime, name, "html", window, interactive=True), refresh)
