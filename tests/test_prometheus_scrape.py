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
    result: list[dict[str, Any]] = client.get("/api/v1/query", params={"query": promql}).json()["data"]["result"]
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
            assert 0 < float(found["system metric (seed name)"][0]["value"][1]) < 100
            assert found["record_metric gauge"][0]["metric"]["job"] == "zgen"
    finally:
        for proc in (prom, agent):
            proc.terminate()
            proc.wait(15)
