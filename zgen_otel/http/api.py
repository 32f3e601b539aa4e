"""The JSON API under ``/api/monitoring``, the OpenAPI document and the Prometheus scrape endpoint.

Every handler reads the runtime through `zgen_otel.http.params.runtime_of`: the one given to
``make_app(runtime=...)``, or else the current runtime at each request. It reads only what the runtime and
its parts offer for reading (``status()``, the store's ``info``/``history``, the alert manager's queries,
the tracker's ``stats``).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from zgen_otel._runtime import Runtime
from zgen_otel._version import __version__
from zgen_otel.alerting import AlertStatus
from zgen_otel.dashboards.charts import downsample
from zgen_otel.dashboards.dashboard import get_dashboard_manager
from zgen_otel.dashboards.operations import operation_stats
from zgen_otel.http.auth import mount_prefix, read_auth, write_auth
from zgen_otel.http.pages import dashboard_or_404
from zgen_otel.http.params import (
    CATEGORY,
    CONTAINS,
    DASHBOARD,
    INSTANCE,
    LOGGER,
    METRIC,
    MIN_DURATION,
    MIN_LEVEL,
    OPERATION,
    ORDER,
    PAGE,
    SEARCH,
    SERVICE,
    SINCE,
    STATUS,
    TRACE_FILTER,
    TRACE_ID,
    UNTIL,
    WINDOW,
    CurrentRuntime,
)
from zgen_otel.logs import get_recent_logs
from zgen_otel.selection import describe, select
from zgen_otel.traces import find_trace, get_recent_traces

__all__ = ["LIST_CACHE_SECONDS", "ListCache", "router", "service_router"]

#: How long ``GET /api/monitoring/metrics`` serves the same body for the same query.
LIST_CACHE_SECONDS = 1.0
_LIST_CACHE_ENTRIES = 256
_NAME = r"^[A-Za-z][A-Za-z0-9_./\-]{0,254}$"
_ALERT_ID = Path(..., pattern="^[0-9a-f]{32}$")

#: Bodies of ``GET /api/monitoring/metrics`` by (runtime id, category, prefix, service, instance):
#: (time.monotonic(), JSON).
ListCache = dict[tuple[int, str | None, str | None, str | None, str | None], tuple[float, bytes]]

router = APIRouter(prefix="/api/monitoring", dependencies=[Depends(read_auth)])
#: ``/openapi.json`` and ``/metrics``: at the root, outside the API's prefix.
service_router = APIRouter(dependencies=[Depends(read_auth)], include_in_schema=False)


def _finite(value: float | None) -> float | None:
    """``value``, or None for a NaN or an infinity (JSON has neither)."""
    return value if value is not None and math.isfinite(value) else None


@router.get("", summary="Monitoring status")
def status(runtime: CurrentRuntime) -> dict[str, Any]:
    """Enabled flags, uptime, version, interval, counts, exporters and notification counters."""
    return {"version": __version__, **runtime.status()}


@router.get("/metrics", summary="Every metric with its latest value, unit and category", response_model=None)
async def metrics(
    request: Request,
    runtime: CurrentRuntime,
    category: str | None = Query(None, max_length=255),
    prefix: str | None = Query(None, max_length=255),
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
) -> Response:
    """One entry per series; ``category``, ``prefix``, ``service`` and ``instance`` filter.

    ``category`` and ``prefix`` filter by category and name prefix, ``service`` and ``instance`` by the
    process that recorded the series (received series carry ``service.name`` and ``service.instance.id``;
    this process's carry none).

    The body is cached for `LIST_CACHE_SECONDS` per query (in the app), so a dashboard polled by many
    clients costs one store walk per second. The cache ages by ``time.monotonic()``, not by the runtime's
    clock: a test's manual clock that stands still must not keep an old body.
    """
    cache: ListCache = request.app.state.zgen_list_cache
    key = (id(runtime), category, prefix, service, instance)
    now = time.monotonic()
    hit = cache.get(key)
    if hit is None or now - hit[0] > LIST_CACHE_SECONDS:
        found = [
            {**vars(info), "latest": _finite(info.latest)}
            for info in select(runtime, service, instance).store.info()
            if (category is None or info.category == category) and (prefix is None or info.name.startswith(prefix))
        ]
        if len(cache) > _LIST_CACHE_ENTRIES:
            cache.clear()
        hit = cache[key] = (now, json.dumps(found).encode())
    return Response(hit[1], media_type="application/json")


@router.get("/metrics/{metric_name}", summary="History of one metric")
def metric(
    runtime: CurrentRuntime,
    metric_name: str = Path(..., pattern=_NAME),
    since: float | None = SINCE,
    until: float | None = UNTIL,
    window: float | None = Query(None, gt=0, le=10 * 365 * 86_400),
    limit: int | None = Query(None, ge=0, le=1_000_000),
    resolution: int | None = Query(None, ge=1, le=100_000, description="downsample to at most this many points"),
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
) -> dict[str, Any]:
    """Points ``[timestamp, value]`` in time order (of the selected processes' series); 404 for an unknown metric."""
    if not runtime.store.series(metric_name):
        raise HTTPException(404, f"no metric named {metric_name!r}")
    store = select(runtime, service, instance).store
    series = [vars(i) for i in store.info(metric_name)]
    if window is not None:
        since = max(since or 0.0, runtime.clock() - window)
    pairs = [(p.timestamp, p.value) for p in store.history(metric_name, None, since, until, limit)]
    if resolution is not None:
        pairs = downsample(pairs, resolution)
    return {"name": metric_name, "series": series, "points": [[t, _finite(v)] for t, v in pairs]}


@router.get("/alerts", summary="Active alerts")
def alerts(runtime: CurrentRuntime) -> list[dict[str, Any]]:
    """Firing and acknowledged alerts, most severe first."""
    return [a.to_dict() for a in runtime.alert_manager.get_active_alerts()]


@router.get("/alerts/history", summary="Alert history, newest first")
def alert_history(
    runtime: CurrentRuntime,
    severity: str | None = Query(None, pattern="^(info|warning|error|critical)$"),
    category: str | None = Query(None, max_length=255),
    status: AlertStatus | None = None,
    since: float | None = SINCE,
    until: float | None = UNTIL,
    limit: int = Query(100, ge=0, le=10_000),
) -> list[dict[str, Any]]:
    """Alerts filtered by severity, category, status and start time."""
    found = runtime.alert_manager.get_alert_history(severity, category, status, since, until, limit)
    return [a.to_dict() for a in found]


def _act(runtime: Runtime, alert_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """Acknowledge (``ack``) or resolve the alert; 404 unknown, 409 not allowed in its state, 422 bad body."""
    manager = runtime.alert_manager
    by, note = body.get("by"), body.get("note")
    if not (by is None or isinstance(by, str)) or not (note is None or isinstance(note, str)):
        raise HTTPException(422, "'by' and 'note' must be strings")
    try:
        alert = (
            manager.acknowledge_alert(alert_id, by=by, note=note)
            if action == "ack"
            else manager.resolve_alert(alert_id)
        )
    except KeyError:
        raise HTTPException(404, f"no alert with id {alert_id!r}") from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    result: dict[str, Any] = alert.to_dict()
    return result


@router.post(
    "/alerts/{alert_id}/acknowledge", summary="Acknowledge an active alert", dependencies=[Depends(write_auth)]
)
def acknowledge(
    runtime: CurrentRuntime, alert_id: str = _ALERT_ID, body: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    """Acknowledge (body: optional ``by`` and ``note``); 404 unknown, 409 already resolved."""
    return _act(runtime, alert_id, "ack", body)


@router.post("/alerts/{alert_id}/resolve", summary="Resolve an alert", dependencies=[Depends(write_auth)])
def resolve(runtime: CurrentRuntime, alert_id: str = _ALERT_ID) -> dict[str, Any]:
    """Resolve by hand; 404 unknown."""
    return _act(runtime, alert_id, "resolve", {})


@router.get("/dashboard", summary="The dashboards")
def dashboards() -> list[dict[str, str]]:
    """Every registered dashboard: name, title, description."""
    return [{"name": d.name, "title": d.title, "description": d.description}
            for d in get_dashboard_manager().list_dashboards()]  # fmt: skip


@router.get("/dashboard/{name}", summary="One dashboard, as JSON (default) or HTML", response_model=None)
def dashboard(
    runtime: CurrentRuntime,
    name: str = DASHBOARD,
    format: str = Query("json", pattern="^(html|json)$"),
    window: float = WINDOW,
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
    search: str | None = SEARCH,
    category: str | None = CATEGORY,
    page: int | None = PAGE,
    metric: str | None = METRIC,
) -> Response:
    """The dashboard's JSON document, or its HTML page with ``format=html``, of the selected processes.

    ``search``, ``category``, ``page`` and ``metric`` go to the dashboards that take them (``metrics``). As for
    the web page, the tracked calls and the instruments are collected into the store first, so that the
    document shows this moment (an LLM call recorded a second ago is in it).
    """
    text = dashboard_or_404(runtime, name, format, window, service=service, instance=instance, search=search,
                            category=category, page=page, metric=metric)  # fmt: skip
    return HTMLResponse(text) if format == "html" else Response(text, media_type="application/json")


@router.get("/performance", summary="Statistics of tracked operations")
def performance(
    runtime: CurrentRuntime,
    window: float | None = Query(None, gt=0, le=366 * 86_400),
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
) -> dict[str, Any]:
    """Per operation: calls, errors, durations and percentiles (seconds), whole run or a recent window.

    Summed over the selected processes (this one and every sender by default), with the ``services`` and the
    number of ``instances`` that made the calls.
    """
    return {name: row.to_dict() for name, row in operation_stats(select(runtime, service, instance), window).items()}


@router.get("/traces", summary="Recent traces in the span buffer")
def traces(
    runtime: CurrentRuntime,
    operation: str | None = OPERATION,
    status: str | None = STATUS,
    min_duration: float | None = MIN_DURATION,
    since: float | None = SINCE,
    until: float | None = UNTIL,
    limit: int = Query(50, ge=1, le=1000),
    order: str = ORDER,
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
) -> list[dict[str, Any]]:
    """Trace summaries (root name, start, duration, span and error counts, services), newest or slowest first.

    ``service`` and ``instance`` keep the traces the selected processes took part in.
    """
    return get_recent_traces(operation, status, min_duration, since, until, limit, order, service=service,
                             instance=instance, runtime=runtime)  # fmt: skip


@router.get("/traces/{trace_id}", summary="One trace: its spans and logs")
def trace(
    runtime: CurrentRuntime, trace_id: str = TRACE_ID, service: str | None = SERVICE, instance: str | None = INSTANCE
) -> dict[str, Any]:
    """Every span of the trace (start order, with depth, attributes, events) and its logs; 404 when unknown."""
    try:
        return find_trace(trace_id, service=service, instance=instance, runtime=runtime)
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from None


@router.get("/logs", summary="Captured log records, newest first")
def logs(
    runtime: CurrentRuntime,
    min_level: str | None = MIN_LEVEL,
    logger: str | None = LOGGER,
    contains: str | None = CONTAINS,
    trace_id: str | None = TRACE_FILTER,
    since: float | None = SINCE,
    until: float | None = UNTIL,
    limit: int = Query(100, ge=1, le=1000),
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
) -> list[dict[str, Any]]:
    """Log records filtered by minimum level, logger (and its children), text, trace, time and process."""
    return get_recent_logs(min_level, logger, contains, trace_id, since, until, limit, service=service,
                           instance=instance, runtime=runtime)  # fmt: skip


@router.get("/services", summary="This process and every process that sent telemetry")
def services(runtime: CurrentRuntime) -> list[dict[str, Any]]:
    """Each process: service, instance, host, pid, ``local``, first and last seen, ``age``, ``stale`` and counts."""
    return describe(runtime)


@service_router.get("/openapi.json")
def openapi_document(request: Request) -> dict[str, Any]:
    """The OpenAPI document of the API; under a mount prefix its ``servers`` name that prefix."""
    document: dict[str, Any] = dict(request.app.openapi())
    root = mount_prefix(request)
    if root:
        document["servers"] = [{"url": root}, *document.get("servers", [])]
    return document


@service_router.get("/metrics")
def prometheus_metrics(runtime: CurrentRuntime) -> Response:
    """Prometheus scrape endpoint (``ZGEN_OTEL_PROMETHEUS=true`` and the ``prometheus`` extra)."""
    registry = runtime.prometheus_registry()
    if registry is None:
        raise HTTPException(404, "the Prometheus endpoint is off: set ZGEN_OTEL_PROMETHEUS=true")
    # prometheus_client is the optional `prometheus` extra: imported only when the endpoint is on.
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
