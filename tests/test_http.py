"""The HTTP API and web page on a real server on 127.0.0.1, a real HTTP client, and the zgen-otel command."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import zgen_otel
import zgen_otel.system_monitor
import zgen_otel.traces
from tests.support.net import free_port
from tests.support.otlp import OtlpReceiver
from tests.support.servers import Server
from zgen_otel import _current
from zgen_otel._runtime import Runtime
from zgen_otel.alerting import get_alert_manager, trigger_alert
from zgen_otel.config import load_settings
from zgen_otel.http import make_app
from zgen_otel.http.auth import Failures, PageTokens
from zgen_otel.performance import track
from zgen_otel.testing import ManualClock

TOKEN = "test-token-1234567890"


@pytest.fixture
def server() -> Iterator[Server]:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    srv = Server(make_app(token=TOKEN))
    yield srv
    srv.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def populate() -> str:
    for v in range(5):
        zgen_otel.record_metric("latency", v, "agent", attributes={"tool": "search"}, unit="s")

    @track("agent.step")
    def step() -> None:
        pass

    step()
    alert = trigger_alert("disk_full", "disk is full", "critical", "system")
    return alert.id


def test_every_read_endpoint(client: httpx.Client) -> None:
    alert_id = populate()
    status = client.get("/api/monitoring").json()
    assert status["enabled"] and status["version"] == zgen_otel.__version__ and status["active_alerts"] == 1
    assert status["store"]["series"] >= 1 and status["exporters"] == {}
    metrics = client.get("/api/monitoring/metrics", params={"category": "agent"}).json()
    assert [(m["name"], m["latest"], m["unit"]) for m in metrics] == [("agent.latency", 4.0, "s")]
    history = client.get("/api/monitoring/metrics/agent.latency", params={"limit": 3}).json()
    assert [p[1] for p in history["points"]] == [2.0, 3.0, 4.0]
    assert len(client.get("/api/monitoring/metrics/agent.latency", params={"resolution": 2}).json()["points"]) == 2
    assert [a["id"] for a in client.get("/api/monitoring/alerts").json()] == [alert_id]
    assert client.get("/api/monitoring/alerts/history", params={"severity": "critical"}).json()[0]["id"] == alert_id
    assert {d["name"] for d in client.get("/api/monitoring/dashboard").json()} >= {"system", "alerts"}
    doc = client.get("/api/monitoring/dashboard/alerts").json()
    assert doc["name"] == "alerts" and doc["panels"]
    html = client.get("/api/monitoring/dashboard/performance", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html") and "agent.step" in html.text
    assert "script-src 'self' 'unsafe-inline'" in html.headers["content-security-policy"]
    assert client.get("/api/monitoring/performance").json()["agent.step"]["calls"] == 1


def test_status_reports_uptime_interval_version_and_counts() -> None:
    zgen_otel.configure(interval=7, system_monitor=False, default_rules=False)
    srv = Server(make_app())
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            first = c.get("/api/monitoring").json()
            assert (first["interval"], first["version"]) == (7, zgen_otel.__version__)
            assert (first["store"]["series"], first["rules"], first["active_alerts"]) == (0, 0, 0)
            for tool in ("search", "browse"):
                zgen_otel.record_metric("latency", 1.0, "agent", attributes={"tool": tool})
            zgen_otel.record_metric("queue_depth", 3, "agent")
            get_alert_manager().add_rule("deep_queue", "queue is deep", lambda: False)
            trigger_alert("kept", "by hand")
            get_alert_manager().resolve_alert(trigger_alert("gone", "by hand").id)
            time.sleep(0.3)
            second = c.get("/api/monitoring").json()
        assert (second["store"]["series"], second["rules"], second["active_alerts"]) == (3, 1, 1)
        assert first["uptime_seconds"] >= 0 and second["uptime_seconds"] >= first["uptime_seconds"] + 0.25
    finally:
        srv.stop()


def _endpoints(pattern: str, text: str) -> set[tuple[str, str]]:
    """(METHOD, path) pairs, path parameters written ``{}`` so that ``{id}`` and ``{alert_id}`` compare equal."""
    return {(method.upper(), re.sub(r"\{[^}]*\}", "{}", path)) for method, path in re.findall(pattern, text)}


def test_openapi_document_lists_every_endpoint_of_the_docs(client: httpx.Client) -> None:
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "http-api.md").read_text(encoding="utf-8")
    documented = _endpoints(r"(?m)^\| `(GET|POST) (/api/monitoring[^`?\s]*)", page)
    spec = client.get("/openapi.json").json()
    served = _endpoints(r"(\w+) (\S+)", "\n".join(f"{m} {p}" for p, ops in spec["paths"].items() for m in ops))
    assert len(documented) >= 13
    assert documented == served


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/monitoring/metrics/nope", {}, 404),
        ("/api/monitoring/dashboard/nope", {}, 404),
        ("/api/monitoring/metrics/agent.latency", {"window": -5}, 422),
        ("/api/monitoring/metrics/agent.latency", {"limit": "ten"}, 422),
        ("/api/monitoring/dashboard/system", {"format": "xml"}, 422),
        ("/api/monitoring/alerts/history", {"severity": "loud"}, 422),
        ("/api/monitoring/nothing-here", {}, 404),
    ],
)
def test_bad_requests_get_json_problems(client: httpx.Client, path: str, params: dict[str, Any], status: int) -> None:
    populate()
    response = client.get(path, params=params)
    assert response.status_code == status
    problem = response.json()
    assert problem["status"] == status and problem["detail"] and "Traceback" not in response.text


def test_metric_history_filters_by_time_count_and_resolution(client: httpx.Client) -> None:
    now = float(int(time.time()))
    values = {now - 7200: 1.0, now - 1800: 2.0, now - 600: 3.0, now - 60: 4.0, now - 5: 5.0}
    for ts, value in values.items():
        zgen_otel.record_metric("latency", value, "agent", unit="s", timestamp=ts)

    def points(**params: float) -> list[list[float]]:
        response = client.get("/api/monitoring/metrics/agent.latency", params=params)
        assert response.status_code == 200
        found: list[list[float]] = response.json()["points"]
        return found

    assert points(since=now - 1900, until=now - 100) == [
        [pytest.approx(now - 1800, abs=0.002), 2.0],
        [pytest.approx(now - 600, abs=0.002), 3.0],
    ]
    assert [v for _, v in points(window=1000)] == [3.0, 4.0, 5.0]
    assert [v for _, v in points(window=1000, until=now - 30)] == [3.0, 4.0]
    assert [v for _, v in points(limit=2)] == [4.0, 5.0]
    assert [v for _, v in points(since=now - 7300, limit=0)] == []
    assert len(points()) == 5 and len(points(resolution=2)) == 2


def test_alert_history_filters(client: httpx.Client) -> None:
    clock = ManualClock()
    zgen_otel.configure(clock=clock, interval=3600, system_monitor=False, default_rules=False)
    start = clock.now
    ids = []
    for name, severity, category in (
        ("disk_full", "critical", "system"),
        ("slow_step", "warning", "performance"),
        ("cost_high", "critical", "llm"),
        ("memory_high", "info", "system"),
    ):
        ids.append(trigger_alert(name, name, severity, category).id)
        clock.advance(100)
    get_alert_manager().resolve_alert(ids[0])
    get_alert_manager().acknowledge_alert(ids[1])

    def names(path: str = "/api/monitoring/alerts/history", **params: Any) -> list[str]:
        return [a["name"] for a in client.get(path, params=params).json()]

    assert names() == ["memory_high", "cost_high", "slow_step", "disk_full"]
    assert names(severity="critical") == ["cost_high", "disk_full"]
    assert names(category="system") == ["memory_high", "disk_full"]
    assert names(status="resolved") == ["disk_full"]
    assert names(status="acknowledged") == ["slow_step"]
    assert names(severity="critical", status="firing") == ["cost_high"]
    assert names(since=start + 50, until=start + 250) == ["cost_high", "slow_step"]
    assert names(limit=2) == ["memory_high", "cost_high"]
    assert names("/api/monitoring/alerts") == ["cost_high", "slow_step", "memory_high"]


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def test_writes_need_the_token(client: httpx.Client) -> None:
    alert_id = populate()
    url = f"/api/monitoring/alerts/{alert_id}/acknowledge"
    for action in ("acknowledge", "resolve"):
        denied = client.post(f"/api/monitoring/alerts/{alert_id}/{action}", json={"by": "ana"})
        assert denied.status_code == 401 and "Bearer" in denied.json()["detail"]
        assert client.post(f"/api/monitoring/alerts/{alert_id}/{action}", headers=bearer("wrong")).status_code == 401
    assert get_alert_manager().get_alert(alert_id).status.value == "firing"
    good = bearer(TOKEN)
    acked = client.post(url, json={"by": "ana", "note": "on it"}, headers=good)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledgedBy"] == "ana"
    resolved = client.post(f"/api/monitoring/alerts/{alert_id}/resolve", headers=good)
    assert resolved.json()["status"] == "resolved"
    assert client.post(url, headers=good).status_code == 409
    assert client.post(f"/api/monitoring/alerts/{'0' * 32}/resolve", headers=good).status_code == 404
    assert client.post("/api/monitoring/alerts/../../etc/resolve", headers=good).status_code == 404
    big = client.post(url, content=b"x" * 100_000, headers={**good, "Content-Type": "application/json"})
    assert big.status_code == 413
    # A body sent in chunks (no Content-Length) is held to the same limit, and a small one still arrives whole.
    json_type = {**good, "Content-Type": "application/json"}
    chunked = client.post(url, content=iter([b"x" * 50_000] * 2), headers=json_type)
    assert "content-length" not in chunked.request.headers and chunked.status_code == 413
    other = trigger_alert("queue_deep", "queue is deep").id
    small = client.post(f"/api/monitoring/alerts/{other}/acknowledge", content=iter([b'{"by": ', b'"bo"}']),
                        headers=json_type)  # fmt: skip
    assert small.status_code == 200 and small.json()["acknowledgedBy"] == "bo"


def test_token_on_every_endpoint_when_required() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, prometheus=True)
    alert_id = populate()
    (trace,) = zgen_otel.traces.get_recent_traces(limit=1)
    app = make_app(token=TOKEN, require_token=True)
    app.state.zgen_failures = Failures(limit=1000)  # this test sends dozens of wrong tokens on purpose
    values = {"metric_name": "agent.latency", "alert_id": alert_id, "name": "system", "trace_id": trace["trace_id"]}
    pages = ["/openapi.json", "/metrics", "/monitoring", "/monitoring/system", "/monitoring/traces", "/monitoring/logs",
             "/monitoring/traces/{trace_id}"]  # fmt: skip
    # The POSTs come last, in this order: acknowledge, then resolve.
    endpoints = [("GET", p) for p in pages] + sorted(
        (m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops
    )
    assert len(endpoints) >= 20 and endpoints[-2:] == [
        ("POST", "/api/monitoring/alerts/{alert_id}/acknowledge"),
        ("POST", "/api/monitoring/alerts/{alert_id}/resolve"),
    ]
    srv = Server(app)
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            for method, path in endpoints:
                url = path.format(**values)
                for headers in ({}, bearer("wrong"), bearer(PageTokens().current())):
                    denied = c.request(method, url, headers=headers)
                    if not headers and path.startswith("/monitoring"):  # a browser: sent to the login form
                        assert denied.status_code == 303, url
                        assert denied.headers["location"].startswith("/monitoring/login?next=")
                    else:
                        assert denied.status_code == 401 and denied.json()["status"] == 401, (method, url, headers)
                assert c.request(method, url, headers=bearer(TOKEN)).status_code == 200, (method, url)
    finally:
        srv.stop()
    assert get_alert_manager().get_alert(alert_id).status.value == "resolved"


def test_default_app_writes_only_with_a_token_from_its_own_page() -> None:
    """``make_app()`` without a token (``zgen-otel serve`` on loopback): reads are open, writes need a token.

    The token the page's buttons use is in the page, so any client that can read the page can write
    (the README says so); a missing, wrong or other server's token cannot.
    """
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    alert_id = populate()
    other = make_app()
    srv = Server(make_app())
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert c.get("/api/monitoring/alerts").status_code == 200
            for action in ("acknowledge", "resolve"):
                url = f"/api/monitoring/alerts/{alert_id}/{action}"
                assert c.post(url).status_code == 401
                for token in ("wrong", other.state.zgen_page_tokens.current(), other.state.zgen_token):
                    assert c.post(url, headers=bearer(token)).status_code == 401
            assert get_alert_manager().get_alert(alert_id).status.value == "firing"
            assert "var token = null;" in c.get("/monitoring").text  # the index is live but has no buttons: no token
            found = re.search(r"var token = (\"[^\"]+\");", c.get("/monitoring/alerts").text)
            assert found is not None
            page_token = json.loads(found.group(1))
            acked = c.post(f"/api/monitoring/alerts/{alert_id}/acknowledge", headers=bearer(page_token))
            assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    finally:
        srv.stop()


def test_an_app_given_a_runtime_serves_it_on_its_clock_and_never_builds_the_global() -> None:
    clock = ManualClock()
    runtime = Runtime(load_settings({}, interval=3600, system_monitor=False, default_rules=False), clock=clock)
    runtime.store.add("agent.latency", 1.0, timestamp=clock.now - 500, unit="s", category="agent")
    runtime.store.add("agent.latency", 2.0, timestamp=clock.now - 10, unit="s", category="agent")
    alert_id = runtime.alert_manager.trigger_alert("disk_full", "disk is full", "critical").id
    with runtime.tracer.start_as_current_span("plan") as span:
        logging.getLogger("agent").warning("planning in the given runtime")
    trace_id = format(span.get_span_context().trace_id, "032x")
    srv = Server(make_app(token=TOKEN, runtime=runtime))
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert c.get("/api/monitoring").json()["uptime_seconds"] == 0
            clock.advance(30)  # the uptime and the metric window follow the runtime's clock
            assert c.get("/api/monitoring").json()["uptime_seconds"] == 30
            metrics = c.get("/api/monitoring/metrics").json()
            assert [(m["name"], m["latest"]) for m in metrics] == [("agent.latency", 2.0)]
            window = c.get("/api/monitoring/metrics/agent.latency", params={"window": 60}).json()
            assert window["points"] == [[clock.now - 40, 2.0]]
            assert [a["id"] for a in c.get("/api/monitoring/alerts").json()] == [alert_id]
            acked = c.post(f"/api/monitoring/alerts/{alert_id}/acknowledge", headers=bearer(TOKEN))
            assert acked.status_code == 200 and runtime.alert_manager.get_alert(alert_id).status.value == "acknowledged"
            assert c.get("/api/monitoring/performance").json() == {}
            assert c.get("/metrics").status_code == 404  # the Prometheus endpoint is off in this runtime
            # Traces, logs and dashboards come from the given runtime too, in the API and on the pages.
            assert [t["trace_id"] for t in c.get("/api/monitoring/traces").json()] == [trace_id]
            assert [sp["name"] for sp in c.get(f"/api/monitoring/traces/{trace_id}").json()["spans"]] == ["plan"]
            logs = c.get("/api/monitoring/logs", params={"logger": "agent"}).json()
            assert [r["message"] for r in logs] == ["planning in the given runtime"]
            trace_page = c.get(f"/monitoring/traces/{trace_id}", headers=bearer(TOKEN)).text
            assert "planning in the given runtime" in trace_page
            assert trace_id in c.get("/monitoring/traces", headers=bearer(TOKEN)).text
            generated = c.get("/api/monitoring/dashboard/metrics").json()["generated_at"]
            assert generated == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.now))  # the runtime's clock
            assert "disk is full" in c.get("/monitoring/alerts", headers=bearer(TOKEN)).text
        assert _current.runtime is None
    finally:
        srv.stop()
        runtime.shutdown()


def test_each_app_has_its_own_metric_list_cache() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    zgen_otel.record_metric("first", 1.0, "agent")
    first, second = make_app(), make_app()
    servers = [Server(first), Server(second)]
    try:
        with httpx.Client(timeout=10) as c:
            names = [m["name"] for m in c.get(f"{servers[0].url}/api/monitoring/metrics").json()]
            assert names == ["agent.first"] and len(first.state.zgen_list_cache) == 1
            zgen_otel.record_metric("second", 2.0, "agent")
            names = [m["name"] for m in c.get(f"{servers[1].url}/api/monitoring/metrics").json()]
            assert names == ["agent.first", "agent.second"]  # not the other app's cached body
    finally:
        for srv in servers:
            srv.stop()


@pytest.mark.parametrize(
    ("argument", "value"),
    [("token", 123), ("require_token", "yes"), ("title", None), ("runtime", "the runtime")],
)
def test_make_app_names_an_argument_of_the_wrong_type(argument: str, value: Any) -> None:
    with pytest.raises(TypeError, match=f"make_app: {argument} must be"):
        make_app(**{argument: value})


def test_mounting_into_a_host_app_under_a_prefix() -> None:
    from fastapi import FastAPI

    zgen_otel.configure(interval=3600, system_monitor=False)
    host = FastAPI()

    @host.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "agent"}

    host.mount("/ops", make_app())
    srv = Server(host)
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert c.get("/hello").json() == {"hello": "agent"}
            assert c.get("/ops/api/monitoring").json()["enabled"] is True
            page = c.get("/ops/monitoring")
            assert page.status_code == 200 and 'href="monitoring/system"' in page.text
            assert c.get("/ops/monitoring/system").status_code == 200
            assert c.get("/ops/openapi.json").json()["servers"] == [{"url": "/ops"}]
    finally:
        srv.stop()


@pytest.fixture
def locked() -> Iterator[tuple[Server, Any]]:
    """A server that needs the token everywhere (``serve`` on a non-loopback address), and its app."""
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    app = make_app(token=TOKEN, require_token=True)
    srv = Server(app)
    yield srv, app
    srv.stop()


def session_cookie(response: httpx.Response) -> dict[str, str]:
    """The attributes of the response's session cookie (lower-case names; the value under ``value``)."""
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith("zgen_otel_session=")]
    first, *rest = (part.strip() for part in header.split(";"))
    attributes = dict([*a.split("=", 1), ""][:2] for a in rest)
    return {"value": first.split("=", 1)[1], **{k.lower(): v for k, v in attributes.items()}}


def log_in(c: httpx.Client, token: str = TOKEN, next_page: str = "/monitoring", prefix: str = "") -> httpx.Response:
    """POST the login form as a browser does."""
    return c.post(f"{prefix}/monitoring/login", data={"token": token, "next": next_page})


def test_a_browser_without_credentials_gets_the_login_form(locked: tuple[Server, Any]) -> None:
    srv, _ = locked
    populate()
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        sent = c.get("/monitoring/alerts", params={"window": 300})
        assert sent.status_code == 303
        assert sent.headers["location"] == "/monitoring/login?next=%2Fmonitoring%2Falerts%3Fwindow%3D300"
        form = c.get(sent.headers["location"])
        assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
        assert '<input type="password" name="token"' in form.text
        assert 'name="next" value="/monitoring/alerts?window=300"' in form.text
        assert "disk_full" not in form.text and "data-panel" not in form.text  # no dashboard content
        assert TOKEN not in form.text
        csp = form.headers["content-security-policy"]
        assert (
            "default-src 'none'" in csp and "form-action 'self'" in csp and "http" not in form.text.split("</form>")[0]
        )
        assert "set-cookie" not in form.headers
        hostile = c.get("/monitoring/login", params={"next": '/monitoring?a="><script>alert(1)</script>'}).text
        assert "<script>alert(1)" not in hostile and "&lt;script&gt;" in hostile  # autoescaped
        # JSON endpoints, and a client that sends a wrong header, still get 401 problems.
        for path, headers in (("/api/monitoring", {}), ("/openapi.json", {}), ("/monitoring", bearer("wrong"))):
            denied = c.get(path, headers=headers)
            assert denied.status_code == 401 and denied.json()["status"] == 401


def test_login_sets_a_session_cookie_for_pages_api_and_buttons(locked: tuple[Server, Any]) -> None:
    srv, _ = locked
    alert_id = populate()
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        wrong = log_in(c, "wrong-token", "/monitoring/alerts")
        assert wrong.status_code == 401 and "not this server" in wrong.text and 'name="token"' in wrong.text
        assert "set-cookie" not in wrong.headers and not c.cookies
        right = log_in(c, next_page="/monitoring/alerts")
        assert right.status_code == 303 and right.headers["location"] == "/monitoring/alerts"
        cookie = session_cookie(right)
        assert cookie["path"] == "/" and cookie["samesite"].lower() == "strict" and "httponly" in cookie
        assert "secure" not in cookie and int(cookie["max-age"]) > 3600  # plain http here
        assert TOKEN not in right.headers["set-cookie"] and len(cookie["value"]) >= 32
        assert c.get("/monitoring").status_code == 200 and "/monitoring/login" not in c.get("/monitoring").text
        page = c.get("/monitoring/alerts")
        assert page.status_code == 200 and f"data-id='{alert_id}'" in page.text.replace('"', "'")
        assert c.get("/api/monitoring/alerts").json()[0]["id"] == alert_id
        # Writes with the cookie: refused when a browser says another site sent them.
        url = f"/api/monitoring/alerts/{alert_id}/acknowledge"
        for foreign in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
            refused = c.post(url, json={"by": "evil"}, headers=foreign)
            assert refused.status_code == 403 and refused.json()["status"] == 403
        assert get_alert_manager().get_alert(alert_id).status.value == "firing"
        acked = c.post(url, json={"by": "web"}, headers={"Origin": srv.url, "Sec-Fetch-Site": "same-origin"})
        assert acked.status_code == 200 and acked.json()["acknowledgedBy"] == "web"
        # Logout clears the cookie, and the server forgets the session: the old value no longer works.
        out = c.post("/monitoring/logout")
        assert out.status_code == 303 and out.headers["location"] == "/monitoring/login"
        assert session_cookie(out)["max-age"] == "0" and not c.cookies
        old = {"zgen_otel_session": cookie["value"]}
        assert httpx.get(f"{srv.url}/api/monitoring", cookies=old).status_code == 401
        assert httpx.get(f"{srv.url}/monitoring", cookies=old).status_code == 303
        # Behind a TLS-terminating proxy on 127.0.0.1 (uvicorn trusts its X-Forwarded-Proto): a Secure cookie.
        secure = c.post("/monitoring/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
        assert "secure" in session_cookie(secure)
    other = Server(make_app(token=TOKEN, require_token=True))  # another app never accepts this app's sessions
    try:
        assert (
            httpx.get(f"{other.url}/api/monitoring", cookies={"zgen_otel_session": cookie["value"]}).status_code == 401
        )
    finally:
        other.stop()


def test_login_redirects_only_to_pages_of_the_app(locked: tuple[Server, Any]) -> None:
    srv, _ = locked
    refused = ["//evil.example", "http://evil.example/", "https://evil.example/monitoring", "/\\evil.example",
               "\\\\evil.example", "javascript:alert(1)", "/monitoringevil", "/monitoring/../../admin",
               "/monitoring//evil.example", "/api/monitoring", "", "/monitoring/x\r\nSet-Cookie: a=b",
               "/monitoring/\u00e9"]  # fmt: skip
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        for target in refused:
            sent = log_in(c, next_page=target)
            assert (sent.status_code, sent.headers["location"]) == (303, "/monitoring"), target
            form = c.get("/monitoring/login", params={"next": target})
            assert 'name="next" value="/monitoring"' in form.text, target
        kept = log_in(c, next_page="/monitoring/system?window=300")
        assert kept.headers["location"] == "/monitoring/system?window=300"


def test_login_under_a_mount_prefix() -> None:
    from fastapi import FastAPI

    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    host = FastAPI()
    host.mount("/ops", make_app(token=TOKEN, require_token=True))
    srv = Server(host)
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            sent = c.get("/ops/monitoring/system")
            assert sent.status_code == 303
            assert sent.headers["location"] == "/ops/monitoring/login?next=%2Fmonitoring%2Fsystem"
            assert 'action="/ops/monitoring/login"' in c.get(sent.headers["location"]).text
            right = log_in(c, next_page="/monitoring/system", prefix="/ops")
            assert right.status_code == 303 and right.headers["location"] == "/ops/monitoring/system"
            assert session_cookie(right)["path"] == "/ops"
            assert c.get("/ops/monitoring/system").status_code == 200
            assert c.get("/ops/api/monitoring").json()["enabled"] is True
            out = c.post("/ops/monitoring/logout")
            assert out.headers["location"] == "/ops/monitoring/login" and session_cookie(out)["path"] == "/ops"
            assert c.get("/ops/monitoring/system").status_code == 303
    finally:
        srv.stop()


def test_web_page_login_acknowledge_and_logout_in_a_browser(browser: Any, locked: tuple[Server, Any]) -> None:
    srv, _ = locked
    alert_id = populate()
    errors: list[str] = []
    page = browser.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{srv.url}/monitoring")
        assert "/monitoring/login" in page.url and page.locator("main section").count() == 1
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url(f"{srv.url}/monitoring")
        page.click("text=Alerts")
        page.wait_for_url("**/monitoring/alerts")
        row = f"section[data-panel=active] tr[data-id='{alert_id}']"
        page.click(f"{row} button[data-action=acknowledge]")
        page.locator(row, has_text="acknowledged").wait_for(timeout=10_000)
        assert get_alert_manager().get_alert(alert_id).status.value == "acknowledged"
        (cookie,) = [k for k in browser.cookies(srv.url) if k["name"] == "zgen_otel_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != TOKEN
        page.click("#logout")
        page.wait_for_url("**/monitoring/login")
        assert [k for k in browser.cookies(srv.url) if k["name"] == "zgen_otel_session"] == []
        page.goto(f"{srv.url}/monitoring/alerts")
        assert "/monitoring/login?next=" in page.url and page.locator("input[name=token]").count() == 1
        assert errors == []
    finally:
        page.close()
        browser.clear_cookies()


def test_web_page_refreshes_live_and_acknowledges(browser: Any, server: Server) -> None:
    alert_id = populate()
    errors: list[str] = []

    def open_page(url: str) -> Any:
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}{url}")
        return page

    page = open_page("/monitoring")
    page.click("text=System")
    assert page.url.endswith("/monitoring/system")
    page.close()
    zgen_otel.record_metric("cpu_percent", 12.5, "system", unit="%")
    page = open_page("/monitoring/system?refresh=1")
    now = page.locator("section[data-panel=now]")
    assert "12.5 %" in now.inner_text() and "87.5 %" not in now.inner_text()
    zgen_otel.record_metric("cpu_percent", 87.5, "system", unit="%")
    page.locator("section[data-panel=now]", has_text="87.5 %").wait_for(timeout=10_000)  # CSP: no eval-based waits
    page.locator("svg.chart").first.hover()  # hover values still work on charts the refresh replaced
    assert "%" in page.locator("#tooltip").inner_text()
    page.goto(f"{server.url}/monitoring/alerts?refresh=1")
    row = f"section[data-panel=active] tr[data-id='{alert_id}']"
    page.click(f"{row} button[data-action=acknowledge]")
    page.locator(row, has_text="acknowledged").wait_for(timeout=10_000)
    assert get_alert_manager().get_alert(alert_id).status.value == "acknowledged"
    page.click(f"{row} button[data-action=resolve]")
    page.locator(row).wait_for(state="detached", timeout=10_000)
    assert get_alert_manager().get_alert(alert_id).status.value == "resolved"
    page.select_option("#window", "86400")
    page.wait_for_url("**window=86400**")
    assert errors == []
    page.close()


def zgen_otel_command() -> str:
    """The ``zgen-otel`` console script installed beside this Python (``pip install`` makes it)."""
    from pathlib import Path

    script = Path(sys.executable).parent / "zgen-otel"
    assert script.is_file(), f"{script} is missing: install the package (pip install -e .)"
    return str(script)


def test_cli_help_dashboard_rules_and_refusal(tmp_path: Any) -> None:
    from zgen_otel.dashboards.dashboard import get_dashboard_manager

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZGEN_OTEL_API_TOKEN")}
    command = zgen_otel_command()
    helps = {}
    for args in (["--help"], ["serve", "--help"], ["status", "--help"], ["rules", "export", "--help"],
                 ["dashboard", "--help"]):  # fmt: skip
        out = subprocess.run([command, *args], capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith("usage: zgen-otel")
        helps[args[0]] = " ".join(out.stdout.split())
    names = [d.name for d in get_dashboard_manager().list_dashboards()]
    assert {"llm", "traces", "logs", "system"} <= set(names) and f"one of: {', '.join(names)}" in helps["dashboard"]
    refused = subprocess.run([sys.executable, "-m", "zgen_otel", "serve", "--host", "0.0.0.0"], capture_output=True,
                             text=True, env=env, timeout=60)  # fmt: skip
    assert refused.returncode == 2 and "ZGEN_OTEL_API_TOKEN" in refused.stderr
    target = tmp_path / "system.json"
    done = subprocess.run([command, "dashboard", "system", "--format", "json", "-o", str(target)],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0 and json.loads(target.read_text())["name"] == "system"
    rules = subprocess.run([command, "rules", "export", "--format", "prometheus"], capture_output=True, text=True,
                           env=env, timeout=60)  # fmt: skip
    assert rules.returncode == 0 and 'alert: "system_cpu_high"' in rules.stdout


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_status_and_clean_stop_with_flush(tmp_path: Any, stop: signal.Signals) -> None:
    """``zgen-otel serve`` until Ctrl-C (or SIGTERM): exit 0, and the last samples reach OTLP and SQLite."""
    port = free_port()
    store = tmp_path / "store.db"
    env = {k: v for k, v in os.environ.items() if k != "ZGEN_OTEL_API_TOKEN"}
    # Samples every second; the SQLite flusher and the OTLP export wait an hour: only the stop can flush.
    env.update(MONITORING_INTERVAL="1", ZGEN_OTEL_STORE_PATH=str(store), ZGEN_OTEL_STORE_FLUSH_INTERVAL="3600",
               OTEL_METRIC_EXPORT_INTERVAL="3600000")  # fmt: skip

    def stored(name: str) -> int:
        with sqlite3.connect(store) as db:
            query = "SELECT count(*) FROM points JOIN series ON series.id = points.series_id WHERE series.name = ?"
            count: int = db.execute(query, (name,)).fetchone()[0]
        return count

    with OtlpReceiver("http/protobuf") as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        proc = subprocess.Popen([zgen_otel_command(), "serve", "--port", str(port), "--otlp-port", str(free_port()),
                                 "--otlp-grpc-port", str(free_port())], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert proc.stdout is not None
            assert f"http://127.0.0.1:{port}/monitoring" in proc.stdout.readline()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                out = subprocess.run([zgen_otel_command(), "status", "--url", f"http://127.0.0.1:{port}"],
                                     capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
                if out.returncode == 0 and "rules" in out.stdout:
                    break
                time.sleep(0.3)
            assert "alerting      on: 4 rules" in out.stdout and "every 1 s" in out.stdout
            cpu = f"http://127.0.0.1:{port}/api/monitoring/metrics/system.cpu_percent"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not httpx.get(cpu).is_success:
                time.sleep(0.2)
            assert httpx.get(cpu).json()["points"]
            assert receiver.metrics_requests == [] and stored("system.cpu_percent") == 0
        finally:
            proc.send_signal(stop)
            _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0 and "Traceback" not in err, err
        assert receiver.wait_for(lambda: receiver.metrics_requests, timeout=5)
        assert "system.cpu_percent" in {p.name for p in receiver.metric_points()}
    assert stored("system.cpu_percent") >= 1


def test_prometheus_scrape_endpoint_with_its_own_registry() -> None:
    from prometheus_client import REGISTRY, Counter, generate_latest

    probe = Counter("zgen_probe_global", "a metric on prometheus_client's global registry")  # and its default ones
    probe.inc()
    zgen_otel.configure(interval=3600, system_monitor=False, prometheus=True)
    zgen_otel.record_metric("queue_depth", 7, "agent", attributes={"queue": "main"})

    @track("agent.step")
    def step() -> None:
        pass

    step()
    zgen_otel.get_runtime().performance.drain()
    srv = Server(make_app())
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            text = c.get("/metrics").text
        assert "zgen_probe_global_total" in generate_latest(REGISTRY).decode()
        assert "zgen_probe_global" not in text and "python_gc_objects_collected_total" not in text
        assert re.search(r'agent_queue_depth\{[^}]*queue="main"[^}]*\} 7\.0', text)
        assert "zgen_operation_duration_seconds_count" in text and 'zgen_operation_name="agent.step"' in text
    finally:
        srv.stop()
        REGISTRY.unregister(probe)
    zgen_otel.configure(interval=3600, system_monitor=False)
    srv = Server(make_app())
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert c.get("/metrics").status_code == 404
    finally:
        srv.stop()


def test_fuzzing_the_openapi_document_finds_no_server_error() -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    populate()
    app = make_app(token=TOKEN, allowed_hosts=["testserver"])  # the Host of in-process ASGI clients
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    calls: list[int] = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        run()
    assert failures == []
    assert len(calls) >= 100 and any(c == 200 for c in calls) and any(c in (404, 422) for c in calls)


def test_the_dashboard_api_shows_an_llm_call_recorded_just_before(client: httpx.Client) -> None:
    """The JSON API collects first, as the web page does: no waiting for the next MONITORING_INTERVAL (1 h here)."""
    from zgen_otel.llm import record_llm_usage

    record_llm_usage("gpt-test", input_tokens=120, output_tokens=40, provider="openai", duration=0.5)
    doc = client.get("/api/monitoring/dashboard/llm").json()
    (models,) = [p for p in doc["panels"] if p["id"] == "models"]
    assert [row[:4] for row in models["rows"]] == [["gpt-test", 1, 120, 40]]
