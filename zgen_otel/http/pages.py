"""The web page under ``/monitoring``: the dashboard index, each dashboard live, traces, one trace, logs.

Every page is live: its HTML gets the script of ``templates/live.html`` before ``</body>``, which refreshes the
page in place every ``refresh`` seconds (1 to 3600) by morphing the fresh page into the open one (sort, filters,
focus, scroll and open details stay), shows the data's age, pauses, says when the server stopped answering,
picks the time range and sends the alert buttons' writes with the app's current page token, or, when every
endpoint needs the token, with the login session alone (no token in the page: logging out or the session's
end ends the page's power to write).

Each request for a page counts as someone watching (`watched`): the system monitor samples at its live
interval for a while, and before a dashboard is drawn the tracked calls and instruments reach the store, so
its tables (read from the live statistics) and charts (read from the store) show one moment.

Every page also gets ``templates/nav.html``: the service selector (``?service=`` and ``?instance=``, kept by
the links between pages) and, on a server that receives OTLP from no agent yet, how to point one at it.
"""

from __future__ import annotations

from collections import defaultdict
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from zgen_otel._runtime import Runtime
from zgen_otel.dashboards.dashboard import render_dashboard, render_dashboard_index
from zgen_otel.dashboards.rendering import make_environment
from zgen_otel.dashboards.traces_logs import render_trace
from zgen_otel.http.auth import logged_in, page_auth
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
    REFRESH,
    SEARCH,
    SERVICE,
    STATUS,
    TRACE_FILTER,
    TRACE_ID,
    WINDOW,
    CurrentRuntime,
)
from zgen_otel.selection import Selection, describe, waiting_line

__all__ = ["dashboard_or_404", "router", "watched"]

_templates = make_environment("zgen_otel.http")
#: The DOM morphing script the live refresh uses (vendored, see ``http/vendor/README.md``); read once.
_MORPH = Markup((resources.files("zgen_otel.http") / "vendor" / "idiomorph.min.js").read_text(encoding="utf-8"))
#: The least time a page keeps the system monitor on its live interval after a request, in seconds.
_WATCH_SECONDS = 15.0

router = APIRouter(dependencies=[Depends(page_auth)], include_in_schema=False)


def dashboard_or_404(
    runtime: Runtime,
    name: str,
    fmt: str,
    window: float,
    interactive: bool = False,
    *,
    service: str | None = None,
    instance: str | None = None,
    **options: Any,
) -> str:
    """The dashboard ``name`` of ``runtime`` rendered as ``fmt`` (``html`` or ``json``) over ``window`` seconds.

    ``service`` and ``instance`` select the processes shown (all when None); ``options`` that are not None go to
    the dashboard (``search``, ``category``, ``page`` and ``metric`` of the metrics dashboard).

    The tracked calls and every instrument are collected into the store first: the tables that read the live
    statistics (performance) and the charts and tables that read the store (performance charts, LLM calls) then
    show the same moment, and a call recorded a second ago is in them. A collection runs every instrument's
    callbacks (about 25 ms per 1,000 ``record_metric`` series), which is why the traces and logs pages, which read
    the span and log rings, do not come through here.

    Raises:
        HTTPException: 404 when no dashboard has that name, 422 for an option the dashboard does not take.
    """
    given = {k: v for k, v in options.items() if v is not None}
    runtime.collect()
    try:
        return render_dashboard(name, format=fmt, window_seconds=window, interactive=interactive, runtime=runtime,
                                service=service, instance=instance, **given)  # fmt: skip
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    except ValueError as exc:
        if not given:
            raise
        raise HTTPException(422, str(exc)) from None


def navigation(runtime: Runtime, selection: Selection, with_hint: bool = True) -> dict[str, Any]:
    """The selector's data: its choices, the one selected, the selection, and the `waiting_line`.

    The choices: All, each service, and each instance of a service with several (or of the selected
    instance's service); a selected service that sent nothing is one more, marked so. ``with_hint`` False:
    no hint (the page shows it itself).
    """
    processes = describe(runtime)
    by_service: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in processes:
        by_service[p["service"]].append(p)
    choices: list[dict[str, Any]] = [{"label": "All services", "service": None, "instance": None, "stale": False}]
    for service, members in sorted(by_service.items()):
        stale = all(m["stale"] for m in members)
        mark = " (this server)" if all(m["local"] for m in members) else " (stale)" if stale else ""
        choices.append({"label": f"{service}{mark}", "service": service, "instance": None, "stale": stale})
        if len(members) > 1 or any(selection.instance and m["instance"] == selection.instance for m in members):
            choices += [{"label": f"{service} / {m['instance'] or 'this server'}", "service": service,
                         "instance": m["instance"] or None, "stale": m["stale"]} for m in members]  # fmt: skip
    owner = next((p["service"] for p in processes if p["instance"] == selection.instance), None)
    wanted = (selection.service or owner, selection.instance)
    at = [i for i, c in enumerate(choices) if (c["service"], c["instance"]) == wanted]
    if not at:  # a service or instance that sent nothing (yet): shown, so the page says what it shows
        text = " / ".join(v for v in wanted if v)
        choices.append({"label": f"{text} (nothing received)", "service": wanted[0], "instance": wanted[1],
                        "stale": True})  # fmt: skip
        at = [len(choices) - 1]
    line = waiting_line(runtime) if with_hint else None
    return {"choices": choices, "selected": at[0], **selection.to_dict(), "hint": line}


def watched(runtime: Runtime, refresh: float) -> None:
    """A page of ``runtime`` is open and refreshes every ``refresh`` seconds: make its data move.

    The system monitor samples at its live interval for three refreshes (at least 15 s) after this call.
    """
    monitor = runtime.system_monitor
    if monitor is not None and monitor.running:
        monitor.watch(max(3 * refresh, _WATCH_SECONDS))


def _live(
    request: Request,
    html: str,
    runtime: Runtime,
    selection: Selection,
    *,
    refresh: float,
    depth: int = 1,
    windowed: bool = True,
    writes: bool = True,
    with_hint: bool = True,
) -> HTMLResponse:
    """A page with the live script and the selector put before ``</body>``.

    The script refreshes the page in place every ``refresh`` s, wires the alert buttons and, when ``windowed``,
    adds the time-range picker. Only a page that ``writes`` (a dashboard: alert buttons) carries the page token.

    ``depth``: how many folders the page's path lies below the mount point's root (``/monitoring`` 0,
    ``/monitoring/x`` 1, ``/monitoring/traces/x`` 2), for the relative links to the index, logout and the API.
    """
    state = request.app.state
    token = None if state.zgen_require_token or not writes else state.zgen_page_tokens.current()
    script = _templates.get_template("live.html").render(
        page_token=token, logged_in=logged_in(request), refresh_ms=round(refresh * 1000), morph_library=_MORPH,
        root="../" * depth or "./", index_link=depth > 0, windowed=windowed,
    )  # fmt: skip
    nav = _templates.get_template("nav.html").render(nav=navigation(runtime, selection, with_hint))
    return HTMLResponse(html.replace("</body>", script + nav + "</body>"))


@router.get("/monitoring")
def index(
    request: Request,
    runtime: CurrentRuntime,
    refresh: float = REFRESH,
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
) -> HTMLResponse:
    """The web page: the dashboard index, with the services sending here (and their last-seen times), live."""
    watched(runtime, refresh)
    html = render_dashboard_index(link="monitoring/{name}", runtime=runtime, services=True)
    return _live(request, html, runtime, Selection(service, instance), refresh=refresh, depth=0, windowed=False,
                 writes=False, with_hint=False)  # fmt: skip


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
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
) -> HTMLResponse:
    """The web page: recent traces, live."""
    watched(runtime, refresh)
    options: dict[str, Any] = {"operation": operation, "status": status, "min_duration": min_duration, "order": order}
    html = render_dashboard("traces", window_seconds=window, runtime=runtime, service=service, instance=instance,
                            interactive=True, **options)  # fmt: skip
    return _live(request, html, runtime, Selection(service, instance), refresh=refresh, writes=False)


@router.get("/monitoring/traces/{trace_id}")
def trace_page(
    request: Request,
    runtime: CurrentRuntime,
    trace_id: str = TRACE_ID,
    refresh: float = REFRESH,
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
) -> HTMLResponse:
    """The web page: one trace's waterfall and logs, live (spans that end later join it; open spans stay open)."""
    watched(runtime, refresh)
    try:
        html = render_trace(trace_id, service=service, instance=instance, runtime=runtime, interactive=True)
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    return _live(request, html, runtime, Selection(service, instance), refresh=refresh, depth=2, windowed=False,
                 writes=False)  # fmt: skip


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
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
) -> HTMLResponse:
    """The web page: log records with filters, live tail."""
    watched(runtime, refresh)
    options: dict[str, Any] = {"min_level": min_level, "logger": logger, "contains": contains, "trace_id": trace_id}
    html = render_dashboard("logs", window_seconds=window, runtime=runtime, service=service, instance=instance,
                            interactive=True, **options)  # fmt: skip
    return _live(request, html, runtime, Selection(service, instance), refresh=refresh, writes=False)


@router.get("/monitoring/{name}")
def page(
    request: Request,
    runtime: CurrentRuntime,
    name: str = DASHBOARD,
    window: float = WINDOW,
    refresh: float = REFRESH,
    service: str | None = SERVICE,
    instance: str | None = INSTANCE,
    search: str | None = SEARCH,
    category: str | None = CATEGORY,
    page: int | None = PAGE,
    metric: str | None = METRIC,
) -> HTMLResponse:
    """The web page: one dashboard, refreshed live, with alert actions, a time-range picker and the selector."""
    watched(runtime, refresh)
    html = dashboard_or_404(runtime, name, "html", window, interactive=True, service=service, instance=instance,
                            search=search, category=category, page=page, metric=metric)  # fmt: skip
    return _live(request, html, runtime, Selection(service, instance), refresh=refresh)
