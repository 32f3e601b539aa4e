"""Who may call the app: the bearer token, the page token, login sessions, and the login and logout routes.

Write endpoints always need a credential; ``require_token`` (``app.state.zgen_require_token``) extends that
to every endpoint. A credential is the API token or the page token as ``Authorization: Bearer``, or a
session cookie bought with the API token at ``/monitoring/login``. A client that sends
`MAX_FAILURES` wrong credentials within `FAILURE_WINDOW` seconds gets 429 on every credential
it sends until the window has passed (`Failures`).
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections.abc import Mapping
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zgen_otel.dashboards.rendering import make_environment
from zgen_otel.exceptions import ConfigError
from zgen_otel.http.security import CSP

__all__ = [
    "FAILURE_WINDOW",
    "MAX_FAILURES",
    "MIN_TOKEN_LENGTH",
    "PAGE_TOKEN_SECONDS",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "Failures",
    "LoginRequired",
    "PageTokens",
    "Sessions",
    "bearer_token",
    "check_token",
    "logged_in",
    "mount_prefix",
    "page_auth",
    "read_auth",
    "router",
    "same_token",
    "to_login",
    "write_auth",
]

SESSION_COOKIE = "zgen_otel_session"
SESSION_SECONDS = 12 * 3600
_MAX_SESSIONS = 1000
#: The fewest characters an API token may have.
MIN_TOKEN_LENGTH = 16
#: How long a page token is handed out; it is accepted for twice as long, then refused.
PAGE_TOKEN_SECONDS = 15 * 60
#: Wrong credentials one client address may send within `FAILURE_WINDOW` seconds before it gets 429.
MAX_FAILURES = 10
FAILURE_WINDOW = 60.0
_MAX_CLIENTS = 10_000  # client addresses whose failures are remembered; the stalest are forgotten first
_LOGIN_CSP = CSP.replace("form-action 'none'", "form-action 'self'")
_NEXT = re.compile(r"/monitoring(?:/[\w.\-]+)*(?:\?[!-~]*)?", re.ASCII)
_templates = make_environment("zgen_otel.http")

router = APIRouter(include_in_schema=False)


class Sessions:
    """The logins of one app, in memory: random ids valid for `SESSION_SECONDS` or until logout.

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


def check_token(token: str, source: str) -> None:
    """Raise `ConfigError` when ``token`` (from ``source``, e.g. ``ZGEN_OTEL_API_TOKEN``) is too short.

    The message names the source and the length, never the token.
    """
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{source} is too short ({len(token)} characters): an API token needs at least {MIN_TOKEN_LENGTH}; "
            "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


def bearer_token(header: str | None) -> bytes:
    """The token of an ``Authorization`` header value ``Bearer <token>``; ``b""`` for any other value or none."""
    return (header[7:] if header is not None and header.lower().startswith("bearer ") else "").encode()


def same_token(given: bytes, token: str) -> bool:
    """Whether ``given`` (from `bearer_token`) is ``token``, compared in constant time."""
    return hmac.compare_digest(given, token.encode())


class PageTokens:
    """The write credential the dashboard pages embed when reads need no token: replaced as time passes.

    `current` hands out one random token for ``period`` seconds, then a new one; each is accepted for
    two periods from when it was made, so a page refreshed in the meantime (which picks up the new one)
    never holds a refused token, and a token copied from an old page, a cache or a history ends.
    """

    def __init__(self, period: float = PAGE_TOKEN_SECONDS) -> None:
        self.period = period
        self._tokens: list[tuple[float, bytes]] = []  # (made at, token), oldest first, at most two
        self._lock = threading.Lock()

    def current(self) -> str:
        """The token to embed in a page now."""
        now = time.monotonic()
        with self._lock:
            if not self._tokens or now - self._tokens[-1][0] >= self.period:
                self._tokens = [*self._tokens[-1:], (now, secrets.token_urlsafe(24).encode())]
            return self._tokens[-1][1].decode()

    def valid(self, given: bytes) -> bool:
        """Whether ``given`` is a token handed out less than two periods ago (compared in constant time)."""
        now = time.monotonic()
        live = [token for made, token in self._tokens if now - made < 2 * self.period]
        return any([hmac.compare_digest(given, token) for token in live])


class Failures:
    """Wrong credentials per client address: past ``limit`` (`MAX_FAILURES`) in ``window`` seconds, 429.

    Guessing then costs ``window`` seconds per ``limit`` tries from each address, however many requests run
    at once. At most 10,000 addresses are remembered (the stalest are forgotten first).
    """

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._times: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may send a credential again (0: now)."""
        now = time.monotonic()
        times = self._times.get(client)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - now)

    def add(self, client: str) -> None:
        """Count one wrong credential from ``client``."""
        now = time.monotonic()
        with self._lock:
            times = self._times.pop(client, None) or collections.deque(maxlen=self.limit)
            times.append(now)
            self._times[client] = times  # newest last: the dict's order is staleness
            if len(self._times) > _MAX_CLIENTS:
                del self._times[next(iter(self._times))]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit(request: Request) -> None:
    """Raise 429 (with ``Retry-After``) while the request's client has too many recent wrong credentials."""
    wait = request.app.state.zgen_failures.retry_after(_client(request))
    if wait > 0:
        raise HTTPException(
            429,
            f"too many wrong credentials from {_client(request)}: try again in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )


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
    header = request.headers.get("authorization")
    if header is not None:
        _limit(request)
        given = bearer_token(header)
        if same_token(given, state.zgen_token):
            return
        if not state.zgen_require_token and state.zgen_page_tokens.valid(given):  # no page has one otherwise
            return
    if logged_in(request):
        if write and not _same_origin(request):  # SameSite=Strict stops this already; a second lock
            raise HTTPException(403, "a write with the session cookie must come from this server's own page")
        return
    if header is not None:
        state.zgen_failures.add(_client(request))
    raise HTTPException(401, "a valid 'Authorization: Bearer <ZGEN_OTEL_API_TOKEN>' header is required")


class LoginRequired(Exception):
    """A browser without credentials asked for a page: answered by `to_login`."""


async def read_auth(request: Request) -> None:
    """Dependency of every endpoint: the token, when the app requires it everywhere."""
    _check(request, write=False)


async def write_auth(request: Request) -> None:
    """Dependency of the write endpoints: the token, always."""
    _check(request, write=True)


async def page_auth(request: Request) -> None:
    """Dependency of the web pages: like `read_auth`, but without credentials a browser logs in.

    A request with no ``Authorization`` header raises `LoginRequired` (the login form) instead of 401.
    """
    try:
        _check(request, write=False)
    except HTTPException:
        if "authorization" in request.headers:
            raise
        raise LoginRequired from None


async def to_login(request: Request, exc: Exception) -> Response:
    """Exception handler of `LoginRequired`: 303 to the login form, which comes back to this page."""
    root = mount_prefix(request)
    path = request.url.path[len(root) :]
    here = f"{path}?{request.url.query}" if request.url.query else path
    return RedirectResponse(f"{root}/monitoring/login?{urlencode({'next': here})}", status_code=303)


def _next_page(value: str | None) -> str:
    """``value`` when it is a page of this app (a path under ``/monitoring``), else the index: no open redirect."""
    ok = value is not None and _NEXT.fullmatch(value) and ".." not in value.partition("?")[0]
    return value if ok and value is not None else "/monitoring"


def _login_page(
    request: Request, next_page: str, error: str = "", status: int = 200, extra: Mapping[str, str] | None = None
) -> HTMLResponse:
    action = f"{mount_prefix(request)}/monitoring/login"
    html = _templates.get_template("login.html").render(action=action, next=next_page, error=error)
    headers = {"Content-Security-Policy": _LOGIN_CSP, **(extra or {})}
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

    Right: a session cookie and 303 to that page. Wrong: 401 and the form again; after too many wrong tokens
    from the client's address, 429 and the form until the `Failures` window has passed.
    """
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    next_page = _next_page(form.get("next", [None])[0])
    given = form.get("token", [""])[0].encode()
    state = request.app.state
    try:
        _limit(request)
    except HTTPException as exc:
        return _login_page(request, next_page, str(exc.detail), 429, exc.headers)
    if not same_token(given, state.zgen_token):
        state.zgen_failures.add(_client(request))
        return _login_page(request, next_page, "That is not this server's API token.", 401)
    redirect = RedirectResponse(mount_prefix(request) + next_page, status_code=303)
    return _session_cookie(redirect, request, state.zgen_sessions.start(), SESSION_SECONDS)


@router.post("/monitoring/logout")
def logout(request: Request) -> Response:
    """End the session, clear its cookie and 303 to the login form."""
    request.app.state.zgen_sessions.end(request.cookies.get(SESSION_COOKIE))
    redirect = RedirectResponse(f"{mount_prefix(request)}/monitoring/login", status_code=303)
    return _session_cookie(redirect, request, "", 0)
