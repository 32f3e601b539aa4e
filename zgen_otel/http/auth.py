"""Who may call the app: the bearer token, the page token, login sessions, and the login and logout routes.

Write endpoints always need a credential; ``require_token`` (``app.state.zgen_require_token``) extends that
to every endpoint. A credential is the API token or the page token as ``Authorization: Bearer``, or a
session cookie bought with the API token at ``/monitoring/login``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zgen_otel.dashboards.rendering import make_environment
from zgen_otel.http.security import CSP

__all__ = [
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "LoginRequired",
    "Sessions",
    "logged_in",
    "mount_prefix",
    "page_auth",
    "read_auth",
    "router",
    "to_login",
    "write_auth",
]

SESSION_COOKIE = "zgen_otel_session"
SESSION_SECONDS = 12 * 3600
_MAX_SESSIONS = 1000
_LOGIN_FAILURE_DELAY = 0.5  # seconds: damps guessing, one guess per connection at a time
_LOGIN_CSP = CSP.replace("form-action 'none'", "form-action 'self'")
_NEXT = re.compile(r"/monitoring(?:/[\w.\-]+)*(?:\?[!-~]*)?", re.ASCII)
_templates = make_environment("zgen_otel.http")

router = APIRouter(include_in_schema=False)


class Sessions:
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
        """A new session id; the oldest session ends when 1,000 are open."""
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


def mount_prefix(request: Request) -> str:
    """The path the app is mounted under ("" when not mounted)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def logged_in(request: Request) -> bool:
    """Whether the request carries the cookie of an open session of this app."""
    sessions: Sessions = request.app.state.zgen_sessions
    return sessions.valid(request.cookies.get(SESSION_COOKIE))


def _same_origin(request: Request) -> bool:
    """False for a request a browser marks as sent by another site (``Origin``, ``Sec-Fetch-Site``)."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        return False
    return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")


def _check(request: Request, write: bool) -> None:
    """Raise 401 (no valid credential) or 403 (a cross-site write with the cookie) unless the call may pass."""
    state = request.app.state
    if not (write or state.zgen_require_token):
        return
    header = request.headers.get("authorization", "")
    given = (header[7:] if header.lower().startswith("bearer ") else "").encode()
    matches = [hmac.compare_digest(given, token.encode()) for token in (state.zgen_token, state.zgen_page_token)]
    if any(matches):
        return
    if logged_in(request):
        if write and not _same_origin(request):  # SameSite=Strict stops this already; a second lock
            raise HTTPException(403, "a write with the session cookie must come from this server's own page")
        return
    raise HTTPException(401, "a valid 'Authorization: Bearer <ZGEN_OTEL_API_TOKEN>' header is required")


class LoginRequired(Exception):
    """A browser without credentials asked for a page: answered by :func:`to_login`."""


async def read_auth(request: Request) -> None:
    """Dependency of every endpoint: the token, when the app requires it everywhere."""
    _check(request, write=False)


async def write_auth(request: Request) -> None:
    """Dependency of the write endpoints: the token, always."""
    _check(request, write=True)


async def page_auth(request: Request) -> None:
    """Dependency of the web pages: like :func:`read_auth`, but without credentials a browser logs in.

    A request with no ``Authorization`` header raises :class:`LoginRequired` (the login form) instead of 401.
    """
    try:
        _check(request, write=False)
    except HTTPException:
        if "authorization" in request.headers:
            raise
        raise LoginRequired from None


async def to_login(request: Request, exc: Exception) -> Response:
    """Exception handler of :class:`LoginRequired`: 303 to the login form, which comes back to this page."""
    root = mount_prefix(request)
    path = request.url.path[len(root) :]
    here = f"{path}?{request.url.query}" if request.url.query else path
    return RedirectResponse(f"{root}/monitoring/login?{urlencode({'next': here})}", status_code=303)


def _next_page(value: str | None) -> str:
    """``value`` when it is a page of this app (a path under ``/monitoring``), else the index: no open redirect."""
    ok = value is not None and _NEXT.fullmatch(value) and ".." not in value.partition("?")[0]
    return value if ok and value is not None else "/monitoring"


def _login_page(request: Request, next_page: str, error: str = "", status: int = 200) -> HTMLResponse:
    action = f"{mount_prefix(request)}/monitoring/login"
    html = _templates.get_template("login.html").render(action=action, next=next_page, error=error)
    headers = {"Content-Security-Policy": _LOGIN_CSP, "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status, headers=headers)


def _session_cookie(response: Response, request: Request, value: str, max_age: int) -> Response:
    """Set (or, with ``max_age=0``, clear) the session cookie: HttpOnly, SameSite=Strict, Path the mount prefix."""
    response.set_cookie(SESSION_COOKIE, value, max_age=max_age, path=mount_prefix(request) or "/",
                        secure=request.url.scheme == "https", httponly=True, samesite="strict")  # fmt: skip
    return response


@router.get("/monitoring/login")
def login_form(request: Request, next_page: str | None = Query(None, alias="next", max_length=2000)) -> HTMLResponse:
    """The login form of the web page: the API token, for a session cookie."""
    return _login_page(request, _next_page(next_page))


@router.post("/monitoring/login")
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
    redirect = RedirectResponse(mount_prefix(request) + next_page, status_code=303)
    return _session_cookie(redirect, request, state.zgen_sessions.start(), SESSION_SECONDS)


@router.post("/monitoring/logout")
def logout(request: Request) -> Response:
    """End the session, clear its cookie and 303 to the login form."""
    request.app.state.zgen_sessions.end(request.cookies.get(SESSION_COOKIE))
    redirect = RedirectResponse(f"{mount_prefix(request)}/monitoring/login", status_code=303)
    return _session_cookie(redirect, request, "", 0)
