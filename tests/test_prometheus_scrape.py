"""A real Prometheus (Debian's) scrapes a zgen_otel process: the names PromQL sees for our metrics."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import require_binary

AGENT = textwrap.dedent(
    """
    import sys, uvicorn, zgen_otel
    from zgen_otel.http import make_app
    from zgen_otel.performance import track
    zgen_otel.configure(interval=1, prometheus=True, host_lock="none", default_rules=False)
    zgen_otel.record_metric("queue_depth", 7, "agent", attributes={"queue": "main"})

    @track("agent.step")
    def step():
        pass

    for _ in range(5):
        step()
    uvicorn.run(make_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def query(client: httpx.Client, promql: str) -> list[dict[str, Any]]:
    """Run an instant query; empty while Prometheus is still starting (it answers 503 until its TSDB is open)."""
    response = client.get("/api/v1/query", params={"query": promql})
    if response.status_code != 200:
        return []
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def test_prometheus_scrapes_a_zgen_process(tmp_path: Path) -> None:
    prometheus = require_binary("prometheus")
    agent_port, prom_port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: zgen\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{agent_port}']\n"
    )
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(agent_port)])
    prom = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{prom_port}", timeout=5) as client:
            wanted = {
                "record_metric gauge": 'agent_queue_depth{queue="main"}',
                "tracked histogram": 'zgen_operation_duration_seconds_count{zgen_operation_name="agent.step"}',
                "counter (_total)": 'zgen_operation_calls_total{zgen_operation_name="agent.step"}',
                "system metric (OTel name)": "system_memory_usage_bytes",
                "system metric (seed name)": "system_memory_percent",
            }
            found: dict[str, list[dict[str, Any]]] = {}
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and len(found) < len(wanted):
                for label, promql in wanted.items():
                    try:
                        result = query(client, promql)
                    except httpx.HTTPError:
                        result = []
                    if result:
                        found[label] = result
                time.sleep(0.5)
            assert set(found) == set(wanted), f"missing: {set(wanted) - set(found)}"
            assert float(found["record_metric gauge"][0]["value"][1]) == 7.0
            assert float(found["tracked histogram"][0]["value"][1]) == 5.0
            assert float(found["counter (_total)"][0]["value"][1]) == 5.0
            assert 0 < float(found["system metric (seed name)"][0]["value"][1]) < 100
            assert found["record_metric gauge"][0]["metric"]["job"] == "zgen"
    finally:
        for proc in (prom, agent):
            proc.terminate()
            proc.wait(15)


RULE_AGENT = textwrap.dedent(
    """
    import sys, uvicorn, zgen_otel
    from zgen_otel.alerting import AlertmanagerNotifier, export_prometheus_rules, get_alert_manager
    from zgen_otel.http import make_app
    zgen_otel.configure(interval=1, prometheus=True, host_lock="none", default_rules=False, system_monitor=False)
    manager = get_alert_manager()
    manager.dispatcher.group_wait = 0.1
    manager.add_notifier(AlertmanagerNotifier(sys.argv[3]))
    manager.add_metric_rule("queue_deep", "the queue is deep", "agent.queue_depth", threshold=5, severity="error")
    export_prometheus_rules(sys.argv[2])
    zgen_otel.record_metric("queue_depth", 7, "agent", attributes={"queue": "main"})
    uvicorn.run(make_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def test_generated_rules_fire_in_prometheus_and_reach_alertmanager_like_the_local_alert(tmp_path: Path) -> None:
    prometheus = require_binary("prometheus")
    alertmanager = require_binary("prometheus-alertmanager")
    agent_port, prom_port, am_port = free_port(), free_port(), free_port()
    rules = tmp_path / "zgen-rules.yml"
    (tmp_path / "am.yml").write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{rules}']\n"
        f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n"
        f"scrape_configs:\n  - job_name: zgen\n    static_configs:\n      - targets: ['127.0.0.1:{agent_port}']\n"
    )
    procs = [
        subprocess.Popen(
            [alertmanager, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am'}",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen([sys.executable, "-c", RULE_AGENT, str(agent_port), str(rules), f"http://127.0.0.1:{am_port}"]),
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not rules.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        procs.append(
            subprocess.Popen(
                [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        sources: set[str] = set()
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline and sources != {"prometheus", "zgen_otel"}:
                try:
                    alerts = client.get(f"http://127.0.0.1:{am_port}/api/v2/alerts").json()
                except (httpx.HTTPError, ValueError):
                    alerts = []
                for alert in alerts:
                    labels = alert["labels"]
                    if labels.get("alertname") == "queue_deep" and labels.get("severity") == "error":
                        sources.add("prometheus" if labels.get("job") == "zgen" else "zgen_otel")
                time.sleep(0.5)
        assert sources == {"prometheus", "zgen_otel"}  # the same rule, evaluated in both places
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(15)
