"""The HTTP API and web page against a hostile or careless client (issue 16), on real uvicorn servers on 127.0.0.1.

DNS rebinding (a ``Host`` that is not this server's), page tokens that outlive their session, cached pages,
times and refresh periods out of range, guessing tokens, short tokens, and ``zgen-otel status`` against a
server that answers something else. The slow-client (slowloris) tests are in
``tests/reliability/test_web_hardening.py``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import zgen_otel
from tests.support.servers import Server, serving
from zgen_otel.alerting import get_alert_manager, trigger_alert
from zgen_otel.cli import main as cli_main
from zgen_otel.config import load_settings
from zgen_otel.exceptions import ConfigError
from zgen_otel.http import make_app
from zgen_otel.http.auth import MAX_FAILURES, PageTokens

TOKEN = "hardening-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def page_tokens(html: str) -> list[str]:
    """Every token-like string a page carries in its script (what a page's buttons would send)."""
    return re.findall(r"[\"']([A-Za-z0-9_\-]{32})[\"']", html)


def current_token(html: str) -> str:
    """The page token a live page's script uses (and picks up again from each refresh)."""
    found = re.search(r'data-token="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@pytest.fixture
def server() -> Iterator[Server]:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    with serving(make_app(token=TOKEN)) as srv:
        yield srv


# --- 1. DNS rebinding: only this server's names in Host ---------------------------------------------------------


def test_a_host_that_is_not_this_servers_gets_421_before_any_route_or_redirect(server: Server) -> None:
    alert_id = trigger_alert("disk_full", "disk is full", "critical", "system").id
    port = server.port
    with httpx.Client(base_url=server.url, timeout=10) as c:
        token = page_tokens(c.get("/monitoring/alerts").text)[0]  # what a page on the right name carries
        rebound = {"Host": f"rebind.evil.example:{port}"}
        for path in ("/api/monitoring", "/api/monitoring/logs", "/api/monitoring/traces", "/monitoring/alerts",
                     "/openapi.json", "/monitoring/", "/api/monitoring/"):  # fmt: skip
            refused = c.get(path, headers=rebound)
            assert refused.status_code == 421 and refused.json()["status"] == 421, path
            assert "location" not in refused.headers and token not in refused.text
            assert "ZGEN_OTEL_ALLOWED_HOSTS" in refused.json()["detail"]
        write = c.post(f"/api/monitoring/alerts/{alert_id}/resolve", headers={**rebound, **bearer(token)})
        assert write.status_code == 421 and get_alert_manager().get_alert(alert_id).status.value == "firing"
        for bad in ("evil.example", "127.0.0.1.evil.example", "localhost.evil.example:80", "127.0.0.1:80:80",
                    "[::1", "[::1]x", "localhost:", ""):  # fmt: skip
            assert c.get("/api/monitoring", headers={"Host": bad}).status_code == 421, bad
        # The loopback names, with any port, in any case.
        for good in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST", "127.0.0.1"):
            assert c.get("/api/monitoring", headers={"Host": good}).status_code == 200, good
        # Redirects name the allowed host only.
        slash = c.get("/monitoring/", headers={"Host": f"localhost:{port}"})
        assert slash.status_code == 307 and slash.headers["location"].startswith(f"http://localhost:{port}/")


def test_allowed_hosts_widen_the_check_by_argument_setting_and_environment() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)

    def status(app: Any, host: str) -> list[int]:
        with serving(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
            return [c.get("/api/monitoring", headers={"Host": h}).status_code for h in host.split()]

    named = make_app(allowed_hosts=["Agent.example", ".corp.example", "10.1.2.3", "[fd00::1]"])
    assert status(named, "agent.example agent.example:8001 corp.example a.b.corp.example 10.1.2.3:80 [fd00::1]:1") \
        == [200] * 6  # fmt: skip
    assert status(named, "evil.example xcorp.example 10.1.2.4 agent.example.evil") == [421] * 4
    assert status(make_app(allowed_hosts="*"), "evil.example anything:1") == [200, 200]
    # None: the runtime's setting, followed at each request (configure() replaces it).
    following = make_app()
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, allowed_hosts="agent.example")
    assert status(following, "agent.example evil.example") == [200, 421]
    from_env = load_settings({"ZGEN_OTEL_ALLOWED_HOSTS": "a.example, B.example"})
    assert from_env.allowed_hosts == ("a.example", "b.example")
    for bad in ("evil.example/x", "a b", "host:80", "[not-an-ip]"):
        with pytest.raises(ConfigError, match="allowed_hosts"):
            make_app(allowed_hosts=[bad])
        with pytest.raises(ConfigError, match="ZGEN_OTEL_ALLOWED_HOSTS"):
            load_settings({"ZGEN_OTEL_ALLOWED_HOSTS": bad})
    with pytest.raises(TypeError, match="allowed_hosts"):
        make_app(allowed_hosts=[b"x"])  # type: ignore[list-item]


# --- 9. The page token ends; nothing is cached -------------------------------------------------------------------


def test_with_require_token_the_page_carries_no_credential_that_outlives_the_session() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    alert_id = trigger_alert("disk_full", "disk is full", "critical", "system").id
    with serving(make_app(token=TOKEN, require_token=True)) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.post("/monitoring/login", data={"token": TOKEN, "next": "/monitoring/alerts"}).status_code == 303
        page = c.get("/monitoring/alerts")
        assert page.status_code == 200 and alert_id in page.text
        responses = [page, c.get("/api/monitoring"), c.get("/monitoring"), c.get("/api/monitoring/alerts")]
        tokens = page_tokens(page.text)
        assert c.post("/monitoring/logout").status_code == 303
        for token in tokens:  # whatever the page held is worthless once the session ended
            assert httpx.get(f"{srv.url}/api/monitoring", headers=bearer(token)).status_code == 401
            url = f"{srv.url}/api/monitoring/alerts/{alert_id}/resolve"
            assert httpx.post(url, headers=bearer(token)).status_code == 401
        assert get_alert_manager().get_alert(alert_id).status.value == "firing"
        for response in responses:  # and no cache kept the page or the data
            assert response.headers["cache-control"] == "no-store"
        refused = httpx.get(f"{srv.url}/api/monitoring")
        assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"


def test_on_loopback_the_page_token_is_replaced_and_the_old_one_ends(server: Server) -> None:
    alert_id = trigger_alert("disk_full", "disk is full", "critical", "system").id
    with httpx.Client(base_url=server.url, timeout=10) as c:
        app = server._server.config.app  # the app the fixture serves: its page tokens, with a short period
        app.state.zgen_page_tokens = PageTokens(period=0.5)
        page = c.get("/monitoring/alerts")
        assert page.headers["cache-control"] == "no-store"
        old = current_token(page.text)
        url = f"/api/monitoring/alerts/{alert_id}/acknowledge"
        assert c.post(url, headers=bearer(old), json={"by": "web"}).status_code == 200
        time.sleep(1.1)  # two periods: the token has ended
        assert c.post(url, headers=bearer(old)).status_code == 401
        new = current_token(c.get("/monitoring/alerts").text)  # a refreshed page carries the current one
        assert new != old
        assert c.post(f"/api/monitoring/alerts/{alert_id}/resolve", headers=bearer(new)).status_code == 200


# --- 11, 12. Times and refresh periods out of range ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "1e309", "1e400", "9" * 400, "-1", "1e12", "nan"])
@pytest.mark.parametrize("name", ["since", "until"])
def test_times_out_of_range_are_422_not_500(server: Server, name: str, value: str) -> None:
    zgen_otel.record_metric("latency", 1.0, "agent")
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for path in ("/api/monitoring/logs", "/api/monitoring/traces", "/api/monitoring/alerts/history",
                     "/api/monitoring/metrics/agent.latency"):  # fmt: skip
            answer = c.get(path, params={name: value})
            assert answer.status_code == 422 and name in answer.json()["detail"], (path, answer.text)


def test_the_refresh_period_of_a_page_is_bounded(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for path in ("/monitoring/alerts", "/monitoring/traces", "/monitoring/logs"):
            for value in ("0", "abc", "0.01", "-5", "inf", "nan", "1e309", "3601"):
                answer = c.get(path, params={"refresh": value})
                assert answer.status_code == 422 and "refresh" in answer.json()["detail"], (path, value)
            page = c.get(path, params={"refresh": "2.5"})
            assert page.status_code == 200 and "var every = 2500," in page.text
            assert "var every = 5000," in c.get(path).text


# --- 15. Guessing tokens, short tokens -------------------------------------------------------------------------------


def test_wrong_credentials_from_one_client_are_limited_whatever_the_concurrency(server: Server) -> None:
    answers: list[int] = []
    WRITE = "/api/monitoring/alerts/" + "0" * 32 + "/resolve"

    def guess() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            answers.append(c.post(WRITE, headers=bearer("guess")).status_code)

    threads = [threading.Thread(target=guess) for _ in range(3 * MAX_FAILURES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers.count(401) <= MAX_FAILURES + 4 and answers.count(429) >= MAX_FAILURES  # a few race the count
    with httpx.Client(base_url=server.url, timeout=10) as c:
        limited = c.post(WRITE, headers=bearer(TOKEN))  # the right token waits too: no oracle
        assert limited.status_code == 429 and 0 < int(limited.headers["retry-after"]) <= 60
        form = c.post("/monitoring/login", data={"token": TOKEN})
        assert form.status_code == 429 and "try again in" in form.text and "set-cookie" not in form.headers
        assert c.get("/api/monitoring").status_code == 200  # reads that need no credential still work


def test_the_login_form_counts_wrong_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    with serving(make_app(token=TOKEN, require_token=True)) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        started = time.monotonic()
        wrong = [c.post("/monitoring/login", data={"token": f"guess-{i}"}).status_code for i in range(MAX_FAILURES + 2)]
        assert wrong == [401] * MAX_FAILURES + [429, 429] and time.monotonic() - started < 5  # no sleeping per guess
        assert c.post("/monitoring/login", data={"token": TOKEN}).status_code == 429


def test_a_short_token_is_refused_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for short in ("~", "~" * 15):
        with pytest.raises(ConfigError, match=r"make_app: token is too short .*at least 16") as caught:
            make_app(token=short)
        assert "~" not in str(caught.value)
    make_app(token="~" * 16)
    monkeypatch.setenv("ZGEN_OTEL_API_TOKEN", "abc123")
    with pytest.raises(ConfigError, match="ZGEN_OTEL_API_TOKEN is too short") as caught:
        make_app()
    assert "abc123" not in str(caught.value)


# --- 16. zgen-otel status against something else ---------------------------------------------------------------------


_NOT_A_STATUS = [b"[]", b'{"unexpected": true}', b'{"service_name": "x", "version": 1}', b"null",
                 b'{"service_name": "x", "version": "1", "enabled": true, "interval": "fast"}']  # fmt: skip


@pytest.mark.parametrize("body", _NOT_A_STATUS)
def test_status_names_json_it_does_not_expect(capsys: pytest.CaptureFixture[str], body: bytes) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    peer = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=peer.serve_forever, daemon=True).start()
    try:
        assert cli_main(["status", "--url", f"http://127.0.0.1:{peer.server_address[1]}"]) == 1
    finally:
        peer.shutdown()
        peer.server_close()
    out = capsys.readouterr()
    assert "answered JSON that is not a zgen-otel status" in out.err and "Traceback" not in out.err + out.out
    assert out.out == ""  # nothing half-printed
    json.loads(body)  # the peer did answer JSON
