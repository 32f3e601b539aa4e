"""Apps beyond a single Python script send to one ``zgen-otel serve``: uvicorn workers, and a Node.js agent.

Real processes only: ``python -m zgen_otel serve`` on free ports of 127.0.0.1; a FastAPI app with zgen_otel's
middleware served by ``uvicorn --workers 4`` that opts in with ``OTEL_EXPORTER_OTLP_ENDPOINT``; an agent on
the official OpenTelemetry JavaScript SDK (``tests/js``, OTLP/HTTP with JSON bodies) run by Node.js.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.binaries import require_binary
from tests.support.net import free_port
from tests.support.serve import ROOT, Serve, clean_env
from tests.support.waiting import wait_for

JS_AGENT = ROOT / "tests" / "js"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One ``zgen-otel serve`` for the module."""
    server = Serve(tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


WEB_APP = """
    import time

    from fastapi import FastAPI

    from zgen_otel.asgi import MonitoringMiddleware
    from zgen_otel.performance import track

    app = FastAPI()
    app.add_middleware(MonitoringMiddleware)


    @track("fleet.work")
    def work() -> None:
        time.sleep(0.02)  # on the event loop: while it works, this worker accepts nothing, so others take over


    @app.get("/work")
    async def handle() -> dict[str, bool]:
        work()
        return {"ok": True}
"""
WORKERS = 4
REQUESTS = 48


def request_once(port: int) -> int:
    """GET /work on a connection of its own (so that any worker may accept it); the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/work", headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_an_app_with_four_workers_is_one_table_summed_over_workers_and_split_per_instance(
    serve: Serve, tmp_path: Path
) -> None:
    (tmp_path / "fleet_app.py").write_text(textwrap.dedent(WEB_APP))
    port, log = free_port(), tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "fleet_app:app", "--app-dir", str(tmp_path), "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(WORKERS)]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=clean_env(**serve.agent_env("fleet-web")), stdout=out, stderr=out)
    try:

        def started() -> bool:
            assert proc.poll() is None, log.read_text()
            return log.read_text().count("Application startup complete.") == WORKERS

        wait_for(started, timeout=60, what=f"{WORKERS} uvicorn workers to start")
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(request_once, [port] * REQUESTS))
        assert statuses == [200] * REQUESTS
    finally:
        proc.send_signal(signal.SIGTERM)  # uvicorn stops its workers with SIGTERM; each flushes as it exits
        proc.wait(timeout=30)
    text = log.read_text()
    assert proc.returncode == 0 and "Traceback" not in text and text.count("Finished server process") == WORKERS, text

    def counted() -> dict[str, tuple[int, int]]:
        found = serve.performance(service="fleet-web")
        return found if found.get("GET /work", (0, 0))[0] >= REQUESTS else {}

    wait_for(counted, timeout=10, what="every worker's requests in serve")
    assert serve.performance(service="fleet-web") == {"GET /work": (REQUESTS, 0), "fleet.work": (REQUESTS, 0)}
    instances = [s["instance"] for s in serve.get("/api/monitoring/services") if s["service"] == "fleet-web"]
    split = {i: serve.performance(service="fleet-web", instance=i)["GET /work"][0] for i in instances}
    assert sum(split.values()) == REQUESTS and len(split) >= 2 and all(split.values()), split  # uvicorn spread them
    row = serve.get("/api/monitoring/performance", service="fleet-web")["GET /work"]
    assert row["instances"] == len(split) and row["services"] == ["fleet-web"]

    panels = serve.get("/api/monitoring/dashboard/performance", service="fleet-web")["panels"]
    table = next(p for p in panels if p["id"] == "operations")
    rows = {r[0]: dict(zip(table["columns"], r, strict=True)) for r in table["rows"]}
    assert (rows["GET /work"]["calls"], rows["GET /work"]["instances"]) == (REQUESTS, len(split))  # one row


def ensure_js_agent() -> str:
    """``node``, with the JavaScript SDK installed in tests/js (``npm ci`` when it is not yet).

    Without node, or where npm cannot install (no registry), the test is skipped; in CI (``CI`` set) it fails.
    """
    node = require_binary("node")
    if not (JS_AGENT / "node_modules").is_dir():
        npm = require_binary("npm")
        done = subprocess.run([npm, "ci", "--prefix", str(JS_AGENT), "--no-audit", "--no-fund"], capture_output=True,
                              text=True, timeout=180)  # fmt: skip
        if done.returncode != 0:
            why = f"npm ci --prefix tests/js failed: {done.stderr[-2000:]}"
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)
    return node


def test_a_nodejs_agent_on_the_official_javascript_sdk_shows_up_with_its_spans_and_counter(serve: Serve) -> None:
    node = ensure_js_agent()
    env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=serve.http_endpoint, JS_AGENT_CALLS="5")
    done = subprocess.run([node, str(JS_AGENT / "agent.mjs")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr

    def sender() -> dict[str, Any] | None:
        found = [s for s in serve.get("/api/monitoring/services") if s["service"] == "js-agent"]
        return found[0] if found and found[0]["spans"] >= 5 and found[0]["points"] else None

    agent = wait_for(sender, timeout=10, what="the Node.js agent's spans and metrics in serve")
    assert (agent["instance"], agent["local"], agent["rejected"]) == ("js-1", False, 0)
    traces = serve.get("/api/monitoring/traces", service="js-agent", limit=100)
    assert [(t["name"], t["instance"], t["status"]) for t in traces] == [("js.plan", "js-1", "ok")] * 5
    counter = serve.get("/api/monitoring/metrics/js.requests", service="js-agent")
    [series] = counter["series"]
    assert series["attributes"]["route"] == "/plan" and series["latest"] == 5
