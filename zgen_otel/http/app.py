"""The HTTP API under ``/api/monitoring`` and the live web page at ``/monitoring`` (FastAPI, the ``server`` extra).

``make_app()`` returns an ASGI app that a host application can mount (``host.mount("/ops", make_app())``)
or that ``zgen-otel serve`` runs with uvicorn. It only reads the runtime's store, performance statistics,
alert manager and dashboards. Write endpoints (acknowledge, resolve) always need the bearer token;
``require_token=True`` (set by ``serve`` on a non-loopback address) protects every endpoint, and a browser
opening a page is sent to a login form that takes the token and sets a session cookie.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import math
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import zgen_otel
from zgen_otel import _current
from zgen_otel.alerting import AlertStatus
from zgen_otel.dashboards.charts import downsample
from zgen_otel.dashboards.dashboard import get_dashboard_manager, render_dashboard, render_dashboard_index
from zgen_otel.dashboards.rendering import environment
from zgen_otel.dashboards.traces_logs import find_trace, render_trace
from zgen_otel.logs import LEVELS, get_recent_logs
from zgen_otel.traces import get_recent_traces

__all__ = ["CSP", "MAX_BODY", "SESSION_COOKIE", "SESSION_SECONDS", "make_app"]

MAX_BODY = 64 * 1024
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
_NAME = r"^[A-Za-z][A-Za-z0-9_./\-]{0,254}$"
SESSION_COOKIE = "zgen_otel_session"
SESSION_SECONDS = 12 * 3600
_MAX_SESSIONS = 1000
_LOGIN_FAILURE_DELAY = 0.5  # seconds: damps guessing, one guess per connection at a time


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "title": title, "detail": detail}, status_code=status)


class _Guard:
    """Body-size limit and security headers on every response (plain ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        too_large = length is not None and (not length.isdigit() or int(length) > MAX_BODY)
        if length is None and b"transfer-encoding" in headers:  # chunked: read it here, up to the limit
            receive, too_large = await _buffered(receive)
        if too_large:
            response = _problem(413, "Payload Too Large", f"request bodies are limited to {MAX_BODY} bytes")
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


class _Sessions:
    """The logins of one app, in memory: random ids valid for :data:`SESSION_SECONDS` or until logout.

    Only a SHA-256 of each id is kept, so a lookup's timing tells nothing about the ids.
    """

    def __init__(self) -> None:
        self._expiry: dict[bytes, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(session_id: str) -> bytes:
        return hashlib.sha256(session_id.encode()).digest()

    def start(self) -> str:
        """A new session id; the oldest session ends when :data:`_MAX_SESSIONS` are open."""
        session_id = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            if len(self._expiry) >= _MAX_SESSIONS:
                del self._expiry[next(iter(self._expiry))]
            self._expiry[self._key(session_id)] = now + SESSION_SECONDS
        return session_id

    def valid(self, session_id: str | None) -> bool:
        """Whether ``session_id`` belongs to an open session."""
        expiry = self._expiry.get(self._key(session_id)) if session_id else None
        return expiry is not None and expiry > time.monotonic()

    def end(self, session_id: str | None) -> None:
        """End the session (logout); unknown ids are ignored."""
        if session_id:
            with self._lock:
                self._expiry.pop(self._key(session_id), None)


def _same_origin(request: Request) -> bool:
    """False for a request a browser marks as sent by another site (``Origin``, ``Sec-Fetch-Site``)."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        return False
    return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")


def _auth(request: Request, write: bool) -> None:
    state = request.app.state
    if not (write or state.zgen_require_token):
        return
    header = request.headers.get("authorization", "")
    given = (header[7:] if header.lower().startswith("bearer ") else "").encode()
    matches = [hmac.compare_digest(given, token.encode()) for token in (state.zgen_token, state.zgen_page_token)]
    if any(matches):
        return
    if state.zgen_sessions.valid(request.cookies.get(SESSION_COOKIE)):
        if write and not _same_origin(request):  # SameSite=Strict stops this already; a second lock
            raise HTTPException(403, "a write with the session cookie must come from this server's own page")
        return
    raise HTTPException(401, "a valid 'Authorization: Bearer <ZGEN_OTEL_API_TOKEN>' header is required")


class _LoginRequired(Exception):
    """A browser without credentials asked for a page."""


async def read_auth(request: Request) -> None:
    """Every endpoint: the token, when the app requires it everywhere."""
    _auth(request, write=False)


async def write_auth(request: Request) -> None:
    """Write endpoints: the token, always."""
    _auth(request, write=True)


async def page_auth(request: Request) -> None:
    """Web pages: like :func:`read_auth`, but a request with no ``Authorization`` header goes to the login form."""
    try:
        _auth(request, write=False)
    except HTTPException:
        if "authorization" in request.headers:
            raise
        raise _LoginRequired from None


def _root(request: Request) -> str:
    """The mount prefix ("" when not mounted)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


async def _to_login(request: Request, exc: Exception) -> Response:
    path = request.url.path[len(_root(request)) :]
    here = f"{path}?{request.url.query}" if request.url.query else path
    return RedirectResponse(f"{_root(request)}/monitoring/login?{urlencode({'next': here})}", status_code=303)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return _problem(exc.status_code, "Error", str(exc.detail))


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return _problem(422, "Invalid request", detail)


async def _crashed(request: Request, exc: Exception) -> JSONResponse:
    return _problem(500, "Internal error", type(exc).__name__)


def make_app(*, token: str | None = None, require_token: bool = False, title: str = "zgen_otel") -> FastAPI:
    """The monitoring API and web page as an ASGI app.

    Args:
        token: the bearer token for write endpoints (and all endpoints with ``require_token``). Defaults to
            ``ZGEN_OTEL_API_TOKEN``; when neither is set a random one is made. The dashboard pages embed a
            random token of their own, accepted like this one, so that their buttons work: whoever can read
            those pages can also acknowledge and resolve alerts. They never embed this one.
        require_token: protect every endpoint, not only the writes. ``serve`` sets it on non-loopback addresses;
            a host application serving this app on a reachable address should set it too. A browser opening a
            page without credentials is then sent to ``/monitoring/login``, where the token buys a session
            cookie (:data:`SESSION_COOKIE`, in this process's memory, :data:`SESSION_SECONDS` long).
        title: the name in the OpenAPI document.
    """
    import os

    kwargs: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI).parameters:  # FastAPI >= 0.165 traces itself through OTel
        # The monitoring page polls every few seconds: its own requests must not crowd out the agent's traces.
        kwargs["telemetry"] = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    app = FastAPI(
        title=f"{title} monitoring API",
        version=zgen_otel.__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by `openapi_document` below, behind the same token check as every endpoint
        **kwargs,
    )
    app.state.zgen_token = token or os.environ.get("ZGEN_OTEL_API_TOKEN") or secrets.token_urlsafe(24)
    app.state.zgen_page_token = secrets.token_urlsafe(24)
    app.state.zgen_require_token = require_token
    app.state.zgen_sessions = _Sessions()
    app.state.zgen_started = time.time()
    app.add_middleware(_Guard)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _crashed)
    app.add_exception_handler(_LoginRequired, _to_login)
    app.include_router(api)
    app.include_router(session)
    app.include_router(pages)
    app.include_router(web)
    return app


api = APIRouter(prefix="/api/monitoring", dependencies=[Depends(read_auth)])
pages = APIRouter(dependencies=[Depends(read_auth)], include_in_schema=False)
session = APIRouter(include_in_schema=False)
web = APIRouter(dependencies=[Depends(page_auth)], include_in_schema=False)


@api.get("", summary="Monitoring status")
def status(request: Request) -> dict[str, Any]:
    """Enabled flags, uptime, version, interval, counts, exporters and notification counters."""
    status = _current.get_runtime().status()
    uptime = time.time() - request.app.state.zgen_started
    return {"version": zgen_otel.__version__, **status, "uptime_seconds": uptime}


@api.get("/metrics", summary="Every metric with its latest value, unit and category", response_model=None)
async def metrics(
    category: str | None = Query(None, max_length=255), prefix: str | None = Query(None, max_length=255)
) -> Response:
    """One entry per series; ``category`` and ``prefix`` filter by category and name prefix.

    The body is cached for :data:`LIST_CACHE_SECONDS` per query, so a dashboard polled by many clients costs
    one store walk per second.
    """
    key = (id(_current.get_runtime()), category, prefix)
    now = time.monotonic()
    hit = _list_cache.get(key)
    if hit is None or now - hit[0] > LIST_CACHE_SECONDS:
        found = [
            {**vars(info), "latest": _finite(info.latest)}
            for info in zgen_otel.get_all_metrics()
            if (category is None or info.category == category) and (prefix is None or info.name.startswith(prefix))
        ]
        if len(_list_cache) > 256:
            _list_cache.clear()
        hit = _list_cache[key] = (now, json.dumps(found).encode())
    return Response(hit[1], media_type="application/json")


LIST_CACHE_SECONDS = 1.0
_list_cache: dict[tuple[int, str | None, str | None], tuple[float, bytes]] = {}


@api.get("/metrics/{metric_name}", summary="History of one metric")
def metric(
    metric_name: str = Path(..., pattern=_NAME),
    since: float | None = Query(None, ge=0),
    until: float | None = Query(None, ge=0),
    window: float | None = Query(None, gt=0, le=10 * 365 * 86_400),
    limit: int | None = Query(None, ge=0, le=1_000_000),
    resolution: int | None = Query(None, ge=1, le=100_000, description="downsample to at most this many points"),
) -> dict[str, Any]:
    """Points ``[timestamp, value]`` in time order; 404 for an unknown metric."""
    series = [vars(i) for i in _current.get_runtime().store.info(metric_name)]
    if not series:
        raise HTTPException(404, f"no metric named {metric_name!r}")
    if window is not None:
        since = max(since or 0.0, time.time() - window)
    pairs = [(p.timestamp, p.value) for p in zgen_otel.get_metric_history(metric_name, since, until, limit)]
    if resolution is not None:
        pairs = downsample(pairs, resolution)
    return {"name": metric_name, "series": series, "points": [[t, _finite(v)] for t, v in pairs]}


@api.get("/alerts", summary="Active alerts")
def alerts() -> list[dict[str, Any]]:
    """Firing and acknowledged alerts, most severe first."""
    return [a.to_dict() for a in zgen_otel.get_runtime().alert_manager.get_active_alerts()]


@api.get("/alerts/history", summary="Alert history, newest first")
def alert_history(
    severity: str | None = Query(None, pattern="^(info|warning|error|critical)$"),
    category: str | None = Query(None, max_length=255),
    status: AlertStatus | None = None,
    since: float | None = Query(None, ge=0),
    until: float | None = Query(None, ge=0),
    limit: int = Query(100, ge=0, le=10_000),
) -> list[dict[str, Any]]:
    """Alerts filtered by severity, category, status and start time."""
    found = zgen_otel.get_runtime().alert_manager.get_alert_history(severity, category, status, since, until, limit)
    return [a.to_dict() for a in found]


def _act(alert_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    manager = zgen_otel.get_runtime().alert_manager
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


_ALERT_ID = Path(..., pattern="^[0-9a-f]{32}$")


@api.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an active alert", dependencies=[Depends(write_auth)])
def acknowledge(alert_id: str = _ALERT_ID, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    """Acknowledge (body: optional ``by`` and ``note``); 404 unknown, 409 already resolved."""
    return _act(alert_id, "ack", body)


@api.post("/alerts/{alert_id}/resolve", summary="Resolve an alert", dependencies=[Depends(write_auth)])
def resolve(alert_id: str = _ALERT_ID) -> dict[str, Any]:
    """Resolve by hand; 404 unknown."""
    return _act(alert_id, "resolve", {})


@api.get("/dashboard", summary="The dashboards")
def dashboards() -> list[dict[str, str]]:
    """Every registered dashboard: name, title, description."""
    return [{"name": d.name, "title": d.title, "description": d.description}
            for d in get_dashboard_manager().list_dashboards()]  # fmt: skip


_DASHBOARD = Path(..., pattern=r"^[A-Za-z0-9_.\-]{1,100}$")
_WINDOW = Query(3600, gt=0, le=366 * 86_400)


def _render(name: str, fmt: str, window: float, interactive: bool = False) -> str:
    try:
        return render_dashboard(name, format=fmt, window_seconds=window, interactive=interactive)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None


@api.get("/dashboard/{name}", summary="One dashboard, as JSON (default) or HTML", response_model=None)
def dashboard(
    name: str = _DASHBOARD, format: str = Query("json", pattern="^(html|json)$"), window: float = _WINDOW
) -> Response:
    """The dashboard's JSON document, or its HTML page with ``format=html``."""
    text = _render(name, format, window)
    return HTMLResponse(text) if format == "html" else Response(text, media_type="application/json")


@api.get("/performance", summary="Statistics of tracked operations")
def performance(window: float | None = Query(None, gt=0, le=366 * 86_400)) -> dict[str, Any]:
    """Per operation: calls, errors, durations and percentiles (seconds), whole run or a recent window."""
    return {name: st.to_dict() for name, st in zgen_otel.get_performance_stats(window).items()}


@pages.get("/openapi.json")
def openapi_document(request: Request) -> dict[str, Any]:
    """The OpenAPI document of the API; under a mount prefix its ``servers`` name that prefix."""
    document: dict[str, Any] = dict(request.app.openapi())
    root = _root(request)
    if root:
        document["servers"] = [{"url": root}, *document.get("servers", [])]
    return document


@pages.get("/metrics")
def prometheus_metrics() -> Response:
    """Prometheus scrape endpoint (``ZGEN_OTEL_PROMETHEUS=true`` and the ``prometheus`` extra)."""
    providers = _current.get_runtime().providers
    registry = providers.prometheus_registry if providers is not None else None
    if registry is None:
        raise HTTPException(404, "the Prometheus endpoint is off: set ZGEN_OTEL_PROMETHEUS=true")
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


_LOGIN_CSP = CSP.replace("form-action 'none'", "form-action 'self'")
_NEXT = re.compile(r"/monitoring(?:/[\w.\-]+)*(?:\?[!-~]*)?", re.ASCII)


def _next_page(value: str | None) -> str:
    """``value`` when it is a page of this app (a path under ``/monitoring``), else the index: no open redirect."""
    ok = value is not None and _NEXT.fullmatch(value) and ".." not in value.partition("?")[0]
    return value if ok and value is not None else "/monitoring"


def _login_page(request: Request, next_page: str, error: str = "", status: int = 200) -> HTMLResponse:
    action = f"{_root(request)}/monitoring/login"
    html = environment.get_template("login.html").render(action=action, next=next_page, error=error)
    headers = {"Content-Security-Policy": _LOGIN_CSP, "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status, headers=headers)


def _session_cookie(response: Response, request: Request, value: str, max_age: int) -> Response:
    """Set (or, with ``max_age=0``, clear) the session cookie: HttpOnly, SameSite=Strict, Path the mount prefix."""
    response.set_cookie(SESSION_COOKIE, value, max_age=max_age, path=_root(request) or "/",
                        secure=request.url.scheme == "https", httponly=True, samesite="strict")  # fmt: skip
    return response


@session.get("/monitoring/login")
def login_form(request: Request, next_page: str | None = Query(None, alias="next", max_length=2000)) -> HTMLResponse:
    """The login form of the web page: the API token, for a session cookie."""
    return _login_page(request, _next_page(next_page))


@session.post("/monitoring/login")
async def login(request: Request) -> Response:
    """The form's token (``token``, compared in constant time) and page (``next``).

    Right: a session cookie and 303 to that page. Wrong: after a short delay, 401 and the form again.
    """
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    next_page = _next_page(form.get("next", [None])[0])
    given = form.get("token", [""])[0].encode()
    state = request.app.state
    if not hmac.compare_digest(given, state.zgen_token.encode()):
        await asyncio.sleep(_LOGIN_FAILURE_DELAY)
        return _login_page(request, next_page, "That is not this server's API token.", 401)
    redirect = RedirectResponse(_root(request) + next_page, status_code=303)
    return _session_cookie(redirect, request, state.zgen_sessions.start(), SESSION_SECONDS)


@session.post("/monitoring/logout")
def logout(request: Request) -> Response:
    """End the session, clear its cookie and 303 to the login form."""
    request.app.state.zgen_sessions.end(request.cookies.get(SESSION_COOKIE))
    redirect = RedirectResponse(f"{_root(request)}/monitoring/login", status_code=303)
    return _session_cookie(redirect, request, "", 0)


@web.get("/monitoring")
def index() -> HTMLResponse:
    """The web page: the dashboard index."""
    return HTMLResponse(render_dashboard_index(link="monitoring/{name}"))


_TRACE_ID_PATTERN = "^[0-9a-fA-F]{32}$"
_TRACE_ID = Path(..., pattern=_TRACE_ID_PATTERN)
_LEVELS = f"^({'|'.join([*LEVELS, *(level.lower() for level in LEVELS)])})$"  # the level names, in either case
# The filters shared by each API endpoint and its page. FastAPI sets a Query's alias to the parameter's
# name: a constant serves parameters of one name only.
_OPERATION = Query(None, max_length=255)
_STATUS = Query(None, pattern="^(ok|error)$")
_MIN_DURATION = Query(None, ge=0, le=366 * 86_400, description="seconds")
_ORDER = Query("recent", pattern="^(recent|slowest)$")
_MIN_LEVEL = Query(None, pattern=_LEVELS)
_LOGGER = Query(None, max_length=255)
_CONTAINS = Query(None, max_length=255)
_TRACE_FILTER = Query(None, pattern=_TRACE_ID_PATTERN)


@api.get("/traces", summary="Recent traces in the span buffer")
def traces(
    operation: str | None = _OPERATION,
    status: str | None = _STATUS,
    min_duration: float | None = _MIN_DURATION,
    since: float | None = Query(None, ge=0),
    until: float | None = Query(None, ge=0),
    limit: int = Query(50, ge=1, le=1000),
    order: str = _ORDER,
) -> list[dict[str, Any]]:
    """Trace summaries (root name, start, duration, span and error counts), newest or slowest first."""
    return get_recent_traces(operation, status, min_duration, since, until, limit, order)


@api.get("/traces/{trace_id}", summary="One trace: its spans and logs")
def trace(trace_id: str = _TRACE_ID) -> dict[str, Any]:
    """Every span of the trace (start order, with depth, attributes, events) and its logs; 404 when unknown."""
    try:
        return find_trace(trace_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from None


@api.get("/logs", summary="Captured log records, newest first")
def logs(
    min_level: str | None = _MIN_LEVEL,
    logger: str | None = _LOGGER,
    contains: str | None = _CONTAINS,
    trace_id: str | None = _TRACE_FILTER,
    since: float | None = Query(None, ge=0),
    until: float | None = Query(None, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Log records filtered by minimum level, logger (and its children), text, trace and time."""
    return get_recent_logs(min_level, logger, contains, trace_id, since, until, limit)


def _live(request: Request, html: str) -> HTMLResponse:
    """A page with the live script: refreshed in place, time-range picker, alert buttons."""
    state = request.app.state
    logged_in = state.zgen_sessions.valid(request.cookies.get(SESSION_COOKIE))
    script = _LIVE_SCRIPT.replace("__TOKEN__", json.dumps(state.zgen_page_token))
    script = script.replace("__LOGGED_IN__", json.dumps(logged_in))
    return HTMLResponse(html.replace("</body>", script + "</body>"))


@web.get("/monitoring/traces")
def traces_page(
    request: Request,
    operation: str | None = _OPERATION,
    status: str | None = _STATUS,
    min_duration: float | None = _MIN_DURATION,
    order: str = _ORDER,
    window: float = _WINDOW,
) -> HTMLResponse:
    """The web page: recent traces, live."""
    options: dict[str, Any] = {"operation": operation, "status": status, "min_duration": min_duration, "order": order}
    return _live(request, render_dashboard("traces", window_seconds=window, **options))


@web.get("/monitoring/traces/{trace_id}")
def trace_page(trace_id: str = _TRACE_ID) -> HTMLResponse:
    """The web page: one trace's waterfall and logs."""
    try:
        return HTMLResponse(render_trace(trace_id))
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from None


@web.get("/monitoring/logs")
def logs_page(
    request: Request,
    min_level: str | None = _MIN_LEVEL,
    logger: str | None = _LOGGER,
    contains: str | None = _CONTAINS,
    trace_id: str | None = _TRACE_FILTER,
    window: float = _WINDOW,
) -> HTMLResponse:
    """The web page: log records with filters, live tail."""
    options: dict[str, Any] = {"min_level": min_level, "logger": logger, "contains": contains, "trace_id": trace_id}
    return _live(request, render_dashboard("logs", window_seconds=window, **options))


@web.get("/monitoring/{name}")
def page(request: Request, name: str = _DASHBOARD, window: float = _WINDOW) -> HTMLResponse:
    """The web page: one dashboard, refreshed live, with alert actions and a time-range picker."""
    return _live(request, _render(name, "html", window, interactive=True))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


_LIVE_SCRIPT = """<script>
(function () {
  "use strict";
  var token = __TOKEN__;
  var params = new URLSearchParams(location.search);
  var picker = document.createElement("select");
  picker.id = "window";
  [["300", "5 min"], ["3600", "1 hour"], ["21600", "6 hours"], ["86400", "24 hours"]].forEach(function (o) {
    var opt = document.createElement("option"); opt.value = o[0]; opt.textContent = o[1]; picker.appendChild(opt);
  });
  picker.value = params.get("window") || "3600";
  picker.addEventListener("change", function () { params.set("window", picker.value); location.search = params; });
  var back = document.createElement("a"); back.href = "../monitoring"; back.textContent = "all dashboards";
  back.style.cssText = "color:#93c5fd;margin-right:12px";
  var bar = document.querySelector("header .meta"); bar.appendChild(document.createTextNode(" · "));
  bar.appendChild(back); bar.appendChild(picker);
  if (__LOGGED_IN__) {
    var out = document.createElement("button"); out.id = "logout"; out.textContent = "log out";
    out.style.marginLeft = "12px";
    out.addEventListener("click", function () {
      fetch("../monitoring/logout", {method: "POST"}).then(function (r) { location.href = r.url; });
    });
    bar.appendChild(out);
  }
  function wire() {
    document.querySelectorAll("button[data-action]").forEach(function (b) {
      b.addEventListener("click", function () {
        var url = "../api/monitoring/alerts/" + b.dataset.id + "/" + b.dataset.action;
        fetch(url, {method: "POST", headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
                    body: JSON.stringify({by: "web"})}).then(refresh);
      });
    });
  }
  function refresh() {
    fetch(location.href, {headers: {"Authorization": "Bearer " + token}}).then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelector("main").replaceWith(doc.querySelector("main"));
        document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
        if (window.zgenCharts) { window.zgenCharts(); }
        wire();
      });
  }
  wire();
  setInterval(refresh, Number(params.get("refresh") || 5) * 1000);
})();
</script>"""
