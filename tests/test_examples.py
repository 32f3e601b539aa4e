"""The examples run as they are and print what the README says they print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_prints_metrics_and_the_performance_table() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_", "ZGEN_OTEL_"))}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "system.cpu_usage" in out.stdout and "average over 5 minutes" in out.stdout
    table = out.stdout.split("operation", 1)[1]
    for operation in ("plan_step", "call_tool", "agent.iteration"):
        assert operation in table
    assert out.stderr == ""


def _run(script: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_", "ZGEN_OTEL_"))}
    env.update(extra_env or {})
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], env=env, capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip


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
    from otlp_receiver import OtlpReceiver

    with OtlpReceiver("http/protobuf") as receiver:
        out = _run("ship_to_collector.py", extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}).stdout
        assert "exported to: {'metrics'" in out
        assert receiver.wait_for(lambda: "agent.step" in receiver.span_names())
        names = {p.name for p in receiver.metric_points()}
        assert {"agent.steps_done", "gen_ai.client.token.usage", "zgen.operation.duration"} <= names


def test_fastapi_app_serves_the_agent_and_the_monitoring_under_ops() -> None:
    import sys as _sys

    _sys.path.insert(0, str(ROOT / "examples"))
    try:
        import fastapi_app
    finally:
        _sys.path.pop(0)
    import httpx
    from test_http import Server

    import zgen_otel

    zgen_otel.configure(interval=3600, system_monitor=False)
    srv = Server(fastapi_app.build())
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as client:
            assert client.get("/ask", params={"q": "hi"}).json() == {"answer": "you asked: hi"}
            assert client.get("/ops/monitoring").status_code == 200
            stats = client.get("/ops/api/monitoring/performance").json()
            assert stats["agent.answer"]["calls"] == 1 and stats["GET /ask"]["calls"] == 1
    finally:
        srv.stop()
