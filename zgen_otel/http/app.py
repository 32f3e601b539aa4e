"""The monitoring API under ``/api/monitoring`` and the live web page at ``/monitoring``: `make_app`.

``make_app()`` returns an ASGI app that a host application can mount (``host.mount("/ops", make_app())``)
or that ``zgen-otel serve`` runs with uvicorn. It only reads the runtime's store, performance statistics,
alert manager and dashboards. Write endpoints (acknowledge, resolve) always need the bearer token;
``require_token=True`` (set by ``serve`` on a non-loopback address) protects every endpoint, and a browser
opening a page is sent to a login form that takes the token and sets a session cookie.

The parts: `security` (body limit, headers), `auth` (token,
sessions, login), `api` (JSON API), `pages` (web page).
"""

from __future__ import annotations

import inspect
import os
import secrets
from collections.abc import Callable, Collection, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from zgen_otel import _current
from zgen_otel._runtime import Runtime
from zgen_otel._util import safe_repr
from zgen_otel._version import __version__
from zgen_otel.config import load_settings
from zgen_otel.http import api, auth, pages
from zgen_otel.http.auth import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    Failures,
    LoginRequired,
    PageTokens,
    Sessions,
    check_token,
    to_login,
)
from zgen_otel.http.errors import http_error, internal_error, invalid_request
from zgen_otel.http.security import CSP, MAX_BODY, Guard, HostCheck

__all__ = ["CSP", "MAX_BODY", "SESSION_COOKIE", "SESSION_SECONDS", "make_app"]


def _check_arguments(token: object, require_token: object, title: object, runtime: object, hosts: object) -> None:
    """Raise ``TypeError`` naming the first argument of `make_app` of the wrong type."""
    names = hosts is None or isinstance(hosts, str) or (
        isinstance(hosts, Sequence) and all(isinstance(h, str) for h in hosts))  # fmt: skip
    checks = (
        ("allowed_hosts", hosts, names, "a str, a sequence of str or None"),
        ("token", token, token is None or isinstance(token, str), "a str or None"),
        ("require_token", require_token, isinstance(require_token, bool), "a bool"),
        ("title", title, isinstance(title, str), "a str"),
        ("runtime", runtime, runtime is None or isinstance(runtime, Runtime), "a zgen_otel Runtime or None"),
    )
    for name, value, ok, wanted in checks:
        if not ok:
            raise TypeError(f"make_app: {name} must be {wanted}; got {type(value).__name__} {safe_repr(value)}")


def _host_names(allowed_hosts: str | Sequence[str] | None, runtime: Runtime | None) -> Callable[[], Collection[str]]:
    """What `HostCheck` reads at each request: the given names, else the runtime's setting."""
    if allowed_hosts is not None:
        names = load_settings({}, allowed_hosts=allowed_hosts).allowed_hosts
        return lambda: names
    return lambda: (runtime or _current.get_runtime()).settings.allowed_hosts


def make_app(
    *,
    token: str | None = None,
    require_token: bool = False,
    title: str = "zgen_otel",
    runtime: Runtime | None = None,
    allowed_hosts: str | Sequence[str] | None = None,
) -> FastAPI:
    """The monitoring API and web page as an ASGI app.

    Args:
        token: the bearer token for write endpoints (and all endpoints with ``require_token``), at least
            16 characters. Defaults to ``ZGEN_OTEL_API_TOKEN``; when neither is set a random one is made.
            Without ``require_token``, the dashboard pages embed a random token of their own, accepted like
            this one for 30 minutes at most (`PageTokens`), so that their buttons
            work: whoever can read those pages can also acknowledge and resolve alerts. They never embed this
            one. With ``require_token`` they embed none: their buttons use the login session.
        require_token: protect every endpoint, not only the writes. ``serve`` sets it on non-loopback addresses;
            a host application serving this app on a reachable address should set it too. A browser opening a
            page without credentials is then sent to ``/monitoring/login``, where the token buys a session
            cookie (`SESSION_COOKIE`, in this process's memory, `SESSION_SECONDS` long).
        title: the name in the OpenAPI document.
        runtime: the runtime whose status, metrics, alerts and performance statistics the API serves. None
            (the default) means the current runtime at each request, so the app follows ``configure()``.
            The dashboards, traces and logs always show the current runtime's.
        allowed_hosts: the names besides loopback (``127.0.0.1``, ``localhost``, ``[::1]``, any port) that
            the ``Host`` header may carry: a host name, an IP address, ``.example.com`` for it and its
            subdomains, or ``"*"`` for any. Any other ``Host`` gets 421 before a route or redirect runs
            (DNS rebinding). None (the default) means the runtime's ``allowed_hosts`` setting
            (``ZGEN_OTEL_ALLOWED_HOSTS``, empty by default). A host application serving this app under
            its own name must list that name.

    Returns:
        A FastAPI app; its ``state`` holds its tokens, sessions and list cache.

    Raises:
        TypeError: an argument of the wrong type, named in the message.
        ConfigError: a token shorter than 16 characters, or a malformed name in ``allowed_hosts``.
    """
    _check_arguments(token, require_token, title, runtime, allowed_hosts)
    if token is not None:
        check_token(token, "make_app: token")
    elif os.environ.get("ZGEN_OTEL_API_TOKEN"):
        check_token(os.environ["ZGEN_OTEL_API_TOKEN"], "ZGEN_OTEL_API_TOKEN")
    host_names = _host_names(allowed_hosts, runtime)
    kwargs: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI).parameters:  # FastAPI >= 0.165 traces itself through OTel
        # The monitoring page polls every few seconds: its own requests must not crowd out the agent's traces.
        kwargs["telemetry"] = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    app = FastAPI(
        title=f"{title} monitoring API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by `api.openapi_document`, behind the same token check as every endpoint
        **kwargs,
    )
    app.state.zgen_token = token or os.environ.get("ZGEN_OTEL_API_TOKEN") or secrets.token_urlsafe(24)
    app.state.zgen_page_tokens = PageTokens()
    app.state.zgen_failures = Failures()
    app.state.zgen_require_token = require_token
    app.state.zgen_sessions = Sessions()
    app.state.zgen_runtime = runtime
    app.state.zgen_list_cache = {}
    app.add_middleware(Guard)
    app.add_middleware(HostCheck, allowed=host_names)  # added last: the outermost, before routes and redirects
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(LoginRequired, to_login)
    app.include_router(api.router)
    app.include_router(auth.router)
    app.include_router(api.service_router)
    app.include_router(pages.router)
    return app
