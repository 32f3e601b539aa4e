"""The HTTP API and web page on a real server on 127.0.0.1, a real HTTP client, and the zgen-otel command."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

import zgen_otel
import zgen_otel.system_monitor
from zgen_otel.alerting import get_alert_manager, trigger_alert
from zgen_otel.http import make_app
from zgen_otel.performance import track

TOKEN = "test-token-123"


class Server:
    """uvicorn on 127.0.0.1, an ephemeral port, in a thread."""

    def __init__(self, app: Any) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._sock = sock
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


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
    assert client.get("/api/monitoring/metrics/agent.latency", params={"window": 60}).json()["points"]
    assert [a["id"] for a in client.get("/api/monitoring/alerts").json()] == [alert_id]
    assert client.get("/api/monitoring/alerts/history", params={"severity": "critical"}).json()[0]["id"] == alert_id
    assert {d["name"] for d in client.get("/api/monitoring/dashboard").json()} >= {"system", "alerts"}
    doc = client.get("/api/monitoring/dashboard/alerts").json()
    assert doc["name"] == "alerts" and doc["panels"]
    html = client.get("/api/monitoring/dashboard/performance", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html") and "agent.step" in html.text
    assert "script-src 'self' 'unsafe-inline'" in html.headers["content-security-policy"]
    assert client.get("/api/monitoring/performance").json()["agent.step"]["calls"] == 1
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/monitoring",
        "/api/monitoring/metrics/{metric_name}",
        "/api/monitoring/alerts/{alert_id}/resolve",
    } <= paths


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


def test_writes_need_the_token(client: httpx.Client) -> None:
    alert_id = populate()
    url = f"/api/monitoring/alerts/{alert_id}/acknowledge"
    assert client.post(url, json={"by": "ana"}).status_code == 401
    assert client.post(url, json={"by": "ana"}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
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


def test_token_on_every_endpoint_when_required() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False)
    srv = Server(make_app(token=TOKEN, require_token=True))
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert c.get("/api/monitoring").status_code == 401
            assert c.get("/monitoring").status_code == 401
            assert c.get("/api/monitoring", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    finally:
        srv.stop()


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
    finally:
        srv.stop()


def test_web_page_refreshes_live_and_acknowledges(browser: Any, server: Server) -> None:
    alert_id = populate()
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.url}/monitoring")
    page.click("text=System")
    assert page.url.endswith("/monitoring/system")
    page.close()
    page = browser.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.url}/monitoring/metrics?refresh=0.3")
    assert "101.5" not in page.inner_text("main")
    zgen_otel.record_metric("latency", 101.5, "agent", attributes={"tool": "search"}, unit="s")
    page.locator("main", has_text="101.5").wait_for(timeout=10_000)  # the page's CSP forbids eval-based waits
    zgen_otel.system_monitor.get_system_metrics()
    page.goto(f"{server.url}/monitoring/system?refresh=0.3")
    page.locator("body[data-refreshed]").wait_for(state="attached", timeout=10_000)
    page.locator("svg.chart").first.hover()  # hover values still work on charts the refresh replaced
    assert "%" in page.locator("#tooltip").inner_text()
    page.goto(f"{server.url}/monitoring/alerts?refresh=0.3")
    page.click(f"tr[data-id='{alert_id}'] button[data-action=acknowledge]")
    page.locator("section[data-panel=active]", has_text="acknowledged").wait_for(timeout=10_000)
    assert get_alert_manager().get_alert(alert_id).status.value == "acknowledged"
    page.select_option("#window", "86400")
    page.wait_for_url("**window=86400**")
    assert errors == []
    page.close()


def test_cli_help_dashboard_rules_and_refusal(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZGEN_OTEL_API_TOKEN")}
    for args in (
        ["--help"],
        ["serve", "--help"],
        ["status", "--help"],
        ["dashboard", "--help"],
        ["rules", "export", "--help"],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "zgen_otel", *args], capture_output=True, text=True, env=env, timeout=60
        )
        assert out.returncode == 0 and "usage" in out.stdout
    refused = subprocess.run([sys.executable, "-m", "zgen_otel", "serve", "--host", "0.0.0.0"], capture_output=True,
                             text=True, env=env, timeout=60)  # fmt: skip
    assert refused.returncode == 2 and "ZGEN_OTEL_API_TOKEN" in refused.stderr
    target = tmp_path / "system.json"
    done = subprocess.run([sys.executable, "-m", "zgen_otel", "dashboard", "system", "--format", "json", "-o",
                           str(target)], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0 and json.loads(target.read_text())["name"] == "system"
    rules = subprocess.run([sys.executable, "-m", "zgen_otel", "rules", "export", "--format", "prometheus"],
                           capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert rules.returncode == 0 and 'alert: "system_cpu_high"' in rules.stdout


def test_serve_and_status_end_to_end() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {k: v for k, v in os.environ.items() if k != "ZGEN_OTEL_API_TOKEN"}
    env["MONITORING_INTERVAL"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "zgen_otel", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert f"http://127.0.0.1:{port}/monitoring" in proc.stdout.readline()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            out = subprocess.run([sys.executable, "-m", "zgen_otel", "status", "--url", f"http://127.0.0.1:{port}"],
                                 capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
            if out.returncode == 0 and "rules" in out.stdout:
                break
            time.sleep(0.3)
        assert "alerting      on: 4 rules" in out.stdout
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            deadline = time.monotonic() + 10
            while (
                time.monotonic() < deadline
                and not c.get("/api/monitoring/metrics", params={"prefix": "system.cpu_percent"}).json()
            ):
                time.sleep(0.2)
            assert c.get("/api/monitoring/metrics", params={"prefix": "system.cpu_percent"}).json()
    finally:
        proc.terminate()
        proc.wait(15)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode in (0, -15)


def test_prometheus_scrape_endpoint() -> None:
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
        assert re.search(r'agent_queue_depth\{[^}]*queue="main"[^}]*\} 7\.0', text)
        assert "zgen_operation_duration_seconds_count" in text and 'zgen_operation_name="agent.step"' in text
    finally:
        srv.stop()
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
    app = make_app(token=TOKEN)
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
