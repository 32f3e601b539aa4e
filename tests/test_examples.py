"""The examples run as they are (subprocesses) and print or serve what the README and the docs say they do."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.net import free_port
from tests.support.otlp import OtlpReceiver

ROOT = Path(__file__).resolve().parent.parent


def _env(extra_env: dict[str, str] | None) -> dict[str, str]:
    """This environment without zgen_otel/OTel settings (the tests' own host lock kept), plus ``extra_env``."""
    env = {k: v for k, v in os.environ.items()
           if k == "ZGEN_OTEL_HOST_LOCK" or not k.startswith(("OTEL_", "MONITORING_", "ZGEN_OTEL_"))}  # fmt: skip
    env.update(extra_env or {})
    return env


def _run(script: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], env=_env(extra_env),
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip


def test_quickstart_runs_the_documented_api_and_prints_what_it_produces() -> None:
    result = _run("quickstart.py")
    out = result.stdout
    # Recording Metrics
    assert "system.cpu_usage" in out and "average over 5 minutes" in out
    # Tracking Performance
    table = out.split("operation", 1)[1]
    for operation in ("plan_step", "call_tool", "agent.iteration"):
        assert operation in table
    # Creating Alerts
    assert "triggered: high_memory_usage (warning, system) details={'memory_percent': 92.5}" in out
    assert "rule: high_cpu_usage fires when system.cpu_percent > 90 for 300 s" in out
    assert "active alerts: ['high_memory_usage']" in out
    # Working with Dashboards
    (dashboard,) = [line for line in out.splitlines() if line.startswith("system dashboard: ")]
    assert int(dashboard.split()[2]) > 1000 and "JSON panels: ['Now', 'CPU'," in dashboard
    (index,) = [line for line in out.splitlines() if line.startswith("dashboard index: ")]
    assert index.endswith("linking ['alerts', 'llm', 'logs', 'metrics', 'performance', 'system', 'traces']")
    # The alert's WARNING record, printed as Python prints any library's warning in a program without logging set-up.
    assert result.stderr == "alert fired: high_memory_usage [warning] Memory usage is above 90%\n"


def test_agent_demo_tracks_tools_llm_tasks_alerts_and_writes_dashboards(tmp_path: Path) -> None:
    out = _run("agent_demo.py", str(tmp_path)).stdout
    assert "invoke_agent planner" in out and "execute_tool calculator" in out and "task:refresh_index" in out
    assert "active alerts: ['calculator_failed', 'llm_budget']" in out
    pages = {p.name for p in tmp_path.glob("*.html")}
    assert pages == {
        "index.html",
        "system.html",
        "performance.html",
        "alerts.html",
        "metrics.html",
        "llm.html",
        "traces.html",
        "logs.html",
    }
    assert "demo-small" in (tmp_path / "llm.html").read_text()


def test_ship_to_collector_sends_over_otlp() -> None:
    with OtlpReceiver("http/protobuf") as receiver:
        out = _run("ship_to_collector.py", extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}).stdout
        assert "exported to: {'metrics'" in out
        assert receiver.wait_for(lambda: "agent.step" in receiver.span_names())
        names = {p.name for p in receiver.metric_points()}
        assert {"agent.steps_done", "gen_ai.client.token.usage", "zgen.operation.duration"} <= names


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_ship_to_collector_with_no_collector_says_so_in_one_line_within_seconds(protocol: str) -> None:
    port = free_port()
    env = _env({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol})
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "ship_to_collector.py")], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 1 and done.stdout == "", done.stdout + done.stderr
    # No retry lines of the exporters and no traceback: zgen_otel's own warning per signal (visible on stderr as
    # any program's warnings are, since it adds no handler), then the example's one line.
    *warnings, line = done.stderr.splitlines()
    assert all(re.fullmatch(r"zgen_otel: exporting (metrics|traces|logs) to .* failed \(connection refused\); .*", w)
               for w in warnings) and len(warnings) <= 3, done.stderr  # fmt: skip
    assert re.fullmatch(rf"could not export (metrics|traces)(, \w+)* to {re.escape(protocol)} http://127\.0\.0\.1:{port}"
                        r"\S* \(connection refused\): is a collector listening there\? \(collector-config/ has one\)",
                        line), line  # fmt: skip
    assert took < 10, took


@dataclass
class _Served:
    """An example serving on ``port``: a client of it, and (once stopped) what it printed."""

    client: httpx.Client
    port: int
    stdout: str = ""


@contextmanager
def _serving(script: str) -> Iterator[_Served]:
    """``python examples/<script> PORT`` on a free port of 127.0.0.1, then stopped with SIGTERM.

    uvicorn shuts down gracefully on SIGTERM and then re-raises it: the exit status is -SIGTERM.
    """
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / script), str(port)], env=_env(None),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    served: _Served | None = None
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.communicate()
                    assert time.monotonic() < deadline, f"{script} did not start serving on port {port}"
                    time.sleep(0.1)
            served = _Served(client, port)
            yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        if served is not None:
            served.stdout = out
    assert proc.returncode == -signal.SIGTERM and "Finished server process" in err, out + err
    assert "Traceback" not in err and "ERROR" not in err, err


def test_fastapi_app_runs_as_is_serving_the_agent_and_the_monitoring_under_ops() -> None:
    with _serving("fastapi_app.py") as served:
        client = served.client
        assert client.get("/ask", params={"q": "hi"}).json() == {"answer": "you asked: hi"}
        page = client.get("/ops/monitoring")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'href="monitoring/performance"' in page.text
        status = client.get("/ops/api/monitoring")
        assert status.status_code == 200 and status.json()["enabled"] is True
        stats = client.get("/ops/api/monitoring/performance").json()
    # The host route is tracked by the middleware and the agent's work by @track; the monitoring page and API
    # mounted under /ops are the operator's polling, not the agent's traffic, so they are not counted.
    assert stats["agent.answer"]["calls"] == 1 and stats["GET /ask"]["calls"] == 1
    assert not [name for name in stats if "monitoring" in name], sorted(stats)
    assert not any(json.dumps(name).count("hi") for name in stats)  # no query or raw path in operation names
    assert f"monitoring page: http://127.0.0.1:{served.port}/ops/monitoring" in served.stdout.splitlines()[0]


def test_first_agent_shows_its_own_data_on_the_page_it_serves() -> None:
    """The README's example: its tracked calls, LLM calls, metric and alert are on the page it prints."""
    with subprocess.Popen([sys.executable, str(ROOT / "examples" / "first_agent.py")], env=_env(None), text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None and proc.stdin is not None
            line = proc.stdout.readline()
            url = re.fullmatch(r"Open (http://127\.0\.0\.1:8001/monitoring) and press Enter to stop\.\n", line)
            assert url, line
            page = httpx.get(url[1], timeout=10)
            api = url[1].removesuffix("/monitoring") + "/api/monitoring"
            performance = httpx.get(f"{api}/performance", timeout=10).json()
            alerts = [a["labels"]["alertname"] for a in httpx.get(f"{api}/alerts", timeout=10).json()]
            llm = httpx.get(f"{api}/dashboard/llm", timeout=10).json()
            metrics = httpx.get(f"{api}/metrics", timeout=10).json()
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert proc.wait(timeout=30) == 0
        finally:  # a failed check must not leave the example waiting for Enter
            if proc.poll() is None:
                proc.kill()
    assert page.status_code == 200 and "my-agent" in page.text  # the page names the service
    assert performance["search_tool"]["calls"] == 20
    assert alerts == ["queue_too_deep"]
    (models,) = [p for p in llm["panels"] if p["id"] == "models"]
    assert [row[:4] for row in models["rows"]] == [["gpt-4o-mini", 20, 2400, 800]]
    assert any(m["name"] == "agent.queue_depth" and m["latest"] == 190 for m in metrics)
