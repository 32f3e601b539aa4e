"""A real Prometheus and Alertmanager (Debian's) run collector-config/'s files against zgen_otel processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.binaries import require_binary
from tests.support.net import free_port
from tests.support.waiting import poll_until

CONFIG = Path(__file__).resolve().parent.parent / "collector-config"
TOKEN = "scrape-token-for-tests"
AUTH_EXAMPLE = "    # authorization:\n    #   credentials_file: /etc/prometheus/zgen-token\n"

AGENT = textwrap.dedent(
    """
    import sys, uvicorn, zgen_otel
    from zgen_otel.http import make_app
    from zgen_otel.performance import track
    zgen_otel.configure(interval=1, prometheus=True, host_lock="none")
    zgen_otel.record_metric("queue_depth", 7, "agent", attributes={"queue": "main"})
    # A full disk, as the system monitor would report it: the shipped rule system_disk_high watches this.
    zgen_otel.record_metric("disk_percent", 97, "system", attributes={"mountpoint": "/zgen-test"})

    @track("agent.step")
    def step():
        pass

    for _ in range(5):
        step()
    app = make_app(token=sys.argv[2], require_token=True)  # as `zgen-otel serve` on a public address
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def query(client: httpx.Client, promql: str) -> list[dict[str, Any]]:
    """Run an instant query; empty while Prometheus is still starting (it answers 503 until its TSDB is open)."""
    try:
        response = client.get("/api/v1/query", params={"query": promql})
    except httpx.HTTPError:
        return []
    if response.status_code != 200:
        return []
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def shipped_prometheus_config(
    tmp_path: Path, agent_port: int, am_port: int, rules: Path, token_file: Path | None
) -> Path:
    """collector-config/prometheus.yml with only addresses, the rule file path and intervals (1 s) changed.

    With ``token_file``, the file's commented ``authorization`` example is switched on, pointing at it.
    """
    text = (CONFIG / "prometheus.yml").read_text()
    if token_file is not None:
        assert AUTH_EXAMPLE in text, "prometheus.yml lost its scrape-authorization example"
        text = text.replace(AUTH_EXAMPLE, f"    authorization:\n      credentials_file: {token_file}\n")
    config = yaml.safe_load(text)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(rules)]
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{am_port}"]}]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "zgen-agents"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{agent_port}"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_prometheus(config: Path, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [require_binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@contextmanager
def running(*procs: subprocess.Popen[bytes]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stop the processes (and any appended later) in reverse order of start."""
    started = list(procs)
    try:
        yield started
    finally:
        for proc in reversed(started):
            proc.terminate()
            proc.wait(15)


def test_shipped_prometheus_config_scrapes_a_token_protected_zgen_process(tmp_path: Path) -> None:
    """The shipped scrape job (with its authorization example on) and the shipped rules, against a real agent."""
    require_binary("prometheus")
    agent_port, prom_port = free_port(), free_port()
    token_file = tmp_path / "zgen-token"
    token_file.write_text(TOKEN + "\n")
    config = shipped_prometheus_config(tmp_path, agent_port, free_port(), CONFIG / "zgen-rules.yml", token_file)
    wanted = {
        "record_metric gauge": 'agent_queue_depth{queue="main"}',
        "tracked histogram": 'zgen_operation_duration_seconds_count{zgen_operation_name="agent.step"}',
        "counter (_total)": 'zgen_operation_calls_total{zgen_operation_name="agent.step"}',
        "system metric (OTel name)": "system_memory_usage_bytes",
        "system metric (seed name)": "system_memory_percent",
        "shipped rule pending": 'ALERTS{alertname="system_disk_high",alertstate="pending",mountpoint="/zgen-test"}',
    }
    found: dict[str, list[dict[str, Any]]] = {}
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(agent_port), TOKEN])
    with running(agent, start_prometheus(config, tmp_path, prom_port)):
        with httpx.Client(base_url=f"http://127.0.0.1:{prom_port}", timeout=5) as client:

            def all_found() -> bool:
                found.update({label: r for label, promql in wanted.items() if (r := query(client, promql))})
                return len(found) == len(wanted)

            poll_until(all_found, 40)
            rules = client.get("/api/v1/rules").json()["data"]["groups"][0]["rules"]
        # The agent refuses a scrape without the token: the series above came through the authorization block.
        assert httpx.get(f"http://127.0.0.1:{agent_port}/metrics").status_code == 401
    assert set(found) == set(wanted), f"missing: {set(wanted) - set(found)}"
    assert float(found["record_metric gauge"][0]["value"][1]) == 7.0
    assert float(found["tracked histogram"][0]["value"][1]) == 5.0
    assert float(found["counter (_total)"][0]["value"][1]) == 5.0
    assert 0 < float(found["system metric (seed name)"][0]["value"][1]) < 100
    assert found["record_metric gauge"][0]["metric"]["job"] == "zgen-agents"
    # The shipped rule's condition holds on the real series; it fires after its 5 minutes (promtool proves that
    # part in test_collector_config), so here it is pending, with the rule's own labels.
    pending = found["shipped rule pending"][0]["metric"]
    assert pending["severity"] == "warning" and pending["category"] == "system" and pending["job"] == "zgen-agents"
    assert {rule["name"]: rule["duration"] for rule in rules}["system_disk_high"] == 300


UNIT_AGENT = textwrap.dedent(
    """
    import sys, uvicorn, zgen_otel
    from zgen_otel.alerting import export_prometheus_rules, get_alert_manager
    from zgen_otel.http import make_app
    zgen_otel.configure(interval=1, prometheus=True, host_lock="none", default_rules=False)
    manager = get_alert_manager()
    # Rules on series whose units the old name translation got wrong: 1, By/s (the system monitor's) and a
    # record_metric gauge in {request}/s.
    manager.add_metric_rule("load_reported", "the 1-minute load is reported", "system.load_1m", 0, ">=")
    manager.add_metric_rule("lo_traffic", "loopback traffic is reported", "system.net_recv", 0, ">=",
                            attributes={"interface": "lo"})
    manager.add_metric_rule("busy", "more than 100 requests a second", "agent.request_rate", 100, ">")
    zgen_otel.record_metric("request_rate", 250, "agent", unit="{request}/s")
    export_prometheus_rules(sys.argv[2])
    uvicorn.run(make_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def test_generated_rules_on_non_percent_series_fire_in_prometheus(tmp_path: Path) -> None:
    """Rules on series of units 1, By/s and {x}/s name what /metrics serves, so Prometheus fires them."""
    require_binary("prometheus")
    agent_port, prom_port = free_port(), free_port()
    rules = tmp_path / "zgen-rules.yml"
    config = shipped_prometheus_config(tmp_path, agent_port, free_port(), rules, token_file=None)
    wanted = {"load_reported", "lo_traffic", "busy"}
    firing: dict[str, list[dict[str, Any]]] = {}
    agent = subprocess.Popen([sys.executable, "-c", UNIT_AGENT, str(agent_port), str(rules)])
    with running(agent) as procs:
        poll_until(rules.exists, 20)
        procs.append(start_prometheus(config, tmp_path, prom_port))
        with httpx.Client(base_url=f"http://127.0.0.1:{prom_port}", timeout=5) as client:

            def all_fire() -> bool:
                for alert in wanted - set(firing):
                    if found := query(client, f'ALERTS{{alertname="{alert}",alertstate="firing"}}'):
                        firing[alert] = found
                return set(firing) == wanted

            poll_until(all_fire, 40)
    assert set(firing) == wanted, f"not firing: {wanted - set(firing)}"
    assert firing["lo_traffic"][0]["metric"]["interface"] == "lo"
    exprs = {line.strip() for line in rules.read_text().splitlines() if line.strip().startswith("expr:")}
    assert exprs == {'expr: "system_load_1m >= 0"', 'expr: "system_net_recv_bytes_per_second{interface=\\"lo\\"} >= 0"',
                     'expr: "agent_request_rate_per_second > 100"'}  # fmt: skip


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


def shipped_alertmanager_config(tmp_path: Path) -> Path:
    """collector-config/alertmanager.yml with its receivers (webhook, e-mail) replaced by one that sends nothing."""
    config = yaml.safe_load((CONFIG / "alertmanager.yml").read_text())
    config["route"]["receiver"] = "none"
    for route in config["route"].get("routes", []):
        route["receiver"] = "none"
    config["receivers"] = [{"name": "none"}]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_generated_rules_fire_in_prometheus_and_reach_alertmanager_like_the_local_alert(tmp_path: Path) -> None:
    require_binary("prometheus")
    alertmanager = require_binary("prometheus-alertmanager")
    agent_port, prom_port, am_port = free_port(), free_port(), free_port()
    rules = tmp_path / "zgen-rules.yml"
    config = shipped_prometheus_config(tmp_path, agent_port, am_port, rules, token_file=None)
    am = subprocess.Popen(
        [alertmanager, f"--config.file={shipped_alertmanager_config(tmp_path)}", f"--storage.path={tmp_path / 'am'}",
         f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    agent = subprocess.Popen(
        [sys.executable, "-c", RULE_AGENT, str(agent_port), str(rules), f"http://127.0.0.1:{am_port}"]
    )
    states: dict[str, dict[str, Any]] = {}
    with running(am, agent) as procs:
        poll_until(rules.exists, 20)
        procs.append(start_prometheus(config, tmp_path, prom_port))
        with httpx.Client(timeout=5) as client:

            def both_arrived() -> bool:
                try:
                    alerts = client.get(f"http://127.0.0.1:{am_port}/api/v2/alerts").json()
                except (httpx.HTTPError, ValueError):
                    return False
                for alert in alerts:
                    labels = alert["labels"]
                    if labels.get("alertname") == "queue_deep" and labels.get("severity") == "error":
                        states["prometheus" if labels.get("job") == "zgen-agents" else "zgen_otel"] = alert["status"]
                return set(states) == {"prometheus", "zgen_otel"} and states["zgen_otel"]["state"] == "suppressed"

            poll_until(both_arrived, 60)
    assert set(states) == {"prometheus", "zgen_otel"}  # the same rule, evaluated in both places
    # The shipped inhibit rule keeps one of the two: Prometheus's copy is active, the agent's own is muted.
    assert states["prometheus"]["state"] == "active"
    assert states["zgen_otel"]["state"] == "suppressed" and states["zgen_otel"]["inhibitedBy"]
