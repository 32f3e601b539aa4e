"""Several agent processes send to one ``zgen-otel serve``, as a user runs them: every count arrives once.

Real processes only: ``python -m zgen_otel serve --rules rules.py`` on free ports of 127.0.0.1, agents on
zgen_otel that opt in with ``OTEL_EXPORTER_OTLP_ENDPOINT`` alone (the official OTLP exporters, gRPC and
HTTP/protobuf), serve's JSON API, and its pages in Debian's Chromium.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from tests.support.serve import Serve, clean_env, finish, serving_rules, start_python
from tests.support.waiting import wait_for

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

RULES = """
from zgen_otel.alerting import AlertSeverity, get_alert_manager

get_alert_manager().add_metric_rule(
    name="fleet_queue_deep", description="An agent's queue is deeper than 100", metric_name="fleet.queue_depth",
    threshold=100, operator=">", duration=0, severity=AlertSeverity.ERROR, category="fleet")
"""

AGENT = """
    import sys
    import zgen_otel

    calls, failing = int(sys.argv[1]), int(sys.argv[2])

    @zgen_otel.track("fleet.step")
    def step(i):
        if i < failing:
            raise ValueError("step failed")

    for i in range(calls):
        try:
            step(i)
        except ValueError:
            pass
    for value in sys.argv[3:]:
        zgen_otel.record_metric("queue_depth", float(value), "fleet")
        zgen_otel.get_runtime().force_flush()  # each value in an export of its own: serve's history holds each
    zgen_otel.shutdown()  # flushes the OTLP exporters
"""


class Agent(NamedTuple):
    """One agent process of the fleet: how it sends, what it does."""

    protocol: str
    calls: int
    failing: int
    depths: list[float]


FLEET = {
    "fleet-planner": Agent("grpc", 7, 2, [3, 8, 5]),
    "fleet-coder": Agent("http/protobuf", 5, 0, [1, 2]),
    "fleet-critic": Agent("http/protobuf", 4, 3, [9]),
}


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One ``zgen-otel serve --rules rules.py`` for the module (no default rules, no system monitor)."""
    with serving_rules(tmp_path_factory.mktemp("serve"), RULES) as server:
        yield server


def sender(serve: Serve, service: str) -> dict[str, Any] | None:
    """The entry of ``/api/monitoring/services`` for a service that sent (its only instance), or None."""
    found = [s for s in serve.get("/api/monitoring/services") if s["service"] == service]
    assert len(found) <= 1, found
    return found[0] if found else None


@pytest.fixture(scope="module")
def fleet(serve: Serve, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Agent]:
    """The three agents, run side by side to their end; returned once serve holds all they sent."""
    workdir = tmp_path_factory.mktemp("fleet")
    procs = [start_python(name, AGENT, workdir, str(a.calls), str(a.failing), *map(str, a.depths),
                          **serve.agent_env(name, a.protocol)) for name, a in FLEET.items()]  # fmt: skip
    for proc in procs:
        finish(proc)

    def arrived() -> bool:
        for name, agent in FLEET.items():
            found = sender(serve, name)
            if found is None or found["spans"] < agent.calls:
                return False
            history = serve.get("/api/monitoring/metrics/fleet.queue_depth", service=name)
            if not history["series"] or history["series"][0]["latest"] != agent.depths[-1]:
                return False
        return True

    wait_for(arrived, timeout=10, what="every agent's spans and last queue depth in serve")
    return FLEET


def test_serve_lists_every_agent_and_counts_each_ones_calls_exactly(serve: Serve, fleet: dict[str, Agent]) -> None:
    services = serve.get("/api/monitoring/services")
    assert set(fleet) <= {s["service"] for s in services}
    for name, agent in fleet.items():
        found = sender(serve, name)
        assert found is not None and found["local"] is False and found["stale"] is False and found["rejected"] == 0
        assert found["spans"] == agent.calls  # one span a tracked call
        assert serve.performance(service=name) == {"fleet.step": (agent.calls, agent.failing)}
        assert serve.performance(service=name, instance=found["instance"]) == serve.performance(service=name)
    total = serve.get("/api/monitoring/performance")["fleet.step"]
    sums = (sum(a.calls for a in fleet.values()), sum(a.failing for a in fleet.values()))
    assert (total["calls"], total["errors"]) == sums == (16, 5)  # 7 + 5 + 4 calls, 2 + 0 + 3 failed
    assert total["services"] == sorted(fleet) and total["instances"] == 3


def test_each_agents_recorded_values_arrive_in_order(serve: Serve, fleet: dict[str, Agent]) -> None:
    for name, agent in fleet.items():
        history = serve.get("/api/monitoring/metrics/fleet.queue_depth", service=name)
        [series] = history["series"]
        assert series["attributes"]["service.name"] == name and series["category"] == "fleet"
        assert series["latest"] == agent.depths[-1]
        # Every export carries the gauge's value at that moment; the final flush at shutdown repeats the last one.
        values = [value for value, _ in groupby(v for _, v in history["points"])]
        assert values == agent.depths, history["points"]


ALARM = """
    import sys
    import zgen_otel

    for line in sys.stdin:  # a queue depth a line, each exported at once
        zgen_otel.record_metric("queue_depth", float(line), "fleet")
        zgen_otel.get_runtime().force_flush()
        print("sent", flush=True)
    zgen_otel.shutdown()
"""


def test_a_rule_from_the_rules_file_fires_and_resolves_on_an_agents_metric(serve: Serve, tmp_path: Path) -> None:
    assert serve.get("/api/monitoring")["rules"] == 1  # rules.py's; no default rules in these tests
    agent = start_python("alarm", ALARM, tmp_path, **serve.agent_env("fleet-alarm"))
    assert agent.stdin is not None and agent.stdout is not None

    def send(depth: int) -> None:
        agent.stdin.write(f"{depth}\n")
        agent.stdin.flush()
        assert agent.stdout.readline() == "sent\n"

    def firing() -> list[dict[str, Any]]:
        return [a for a in serve.get("/api/monitoring/alerts") if a["labels"]["alertname"] == "fleet_queue_deep"]

    try:
        send(150)
        [alert] = wait_for(firing, timeout=10, what="the rule to fire in serve")
        assert alert["labels"]["service.name"] == "fleet-alarm" and alert["labels"]["severity"] == "error"
        assert alert["status"] == "firing" and alert["value"] == 150
        send(20)
        wait_for(lambda: not firing(), timeout=10, what="the alert to resolve in serve")
    finally:
        finish(agent)
    [resolved] = [a for a in serve.get("/api/monitoring/alerts/history", status="resolved")
                  if a["fingerprint"] == alert["fingerprint"]]  # fmt: skip
    assert resolved["endsAt"] is not None


def test_the_page_offers_every_agent_and_shows_one_services_operations(
    serve: Serve, fleet: dict[str, Agent], browser: Any
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{serve.url}/monitoring")
    rows = page.locator("section[data-panel=services] tbody tr")
    listed = {r.get_attribute("data-service"): r for r in rows.all()}
    assert set(fleet) <= set(listed) and all(listed[name].is_visible() for name in fleet)
    picker = page.locator("select#service")
    assert picker.is_visible()
    options = picker.locator("option").all_inner_texts()
    assert all(name in options for name in fleet), options  # one instance each: listed by the service's name
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "fleet-index.png"), full_page=True)

    picker.select_option(label="fleet-planner")
    page.wait_for_url(re.compile(r"/monitoring\?service=fleet-planner$"))
    page.locator("a", has_text="Performance").click()
    page.wait_for_url(re.compile(r"/monitoring/performance\?service=fleet-planner$"))
    table = page.locator("section[data-panel=operations] table")
    header = table.locator("th").all_inner_texts()
    cells = [dict(zip(header, row.locator("td").all_inner_texts(), strict=False))
             for row in table.locator("tbody tr").all()]  # fmt: skip
    assert [(c["operation"].strip(), c["calls"].strip(), c["errors"].strip()) for c in cells] == [
        ("fleet.step", "7", "2")]  # fmt: skip
    page.screenshot(path=str(ARTIFACTS / "fleet-performance-planner.png"), full_page=True)
    assert errors == []
    page.close()


SELF_SERVING = """
    import sys
    import zgen_otel

    handle = zgen_otel.start_server(port=0)  # its own page, and it sends to serve as well

    @zgen_otel.track("fleet.own")
    def own():
        pass

    for _ in range(3):
        own()
    print(handle.url, flush=True)
    sys.stdin.read()  # the test reads this process's own page meanwhile
    zgen_otel.shutdown()
"""


def test_a_process_that_serves_its_own_page_and_sends_to_serve_is_counted_once_in_each(
    serve: Serve, tmp_path: Path
) -> None:
    agent = start_python("self_serving", SELF_SERVING, tmp_path, **serve.agent_env("fleet-self"))
    assert agent.stdout is not None
    url = agent.stdout.readline().strip()
    try:
        with httpx.Client(timeout=10) as own:
            for path in ("", "/performance", "/traces"):  # the operator's polling of the agent's own page
                assert own.get(url + path).status_code == 200
            api = url.removesuffix("/monitoring") + "/api/monitoring/performance"
            for _ in range(3):
                assert own.get(api).status_code == 200
            own_counts = {name: row["calls"] for name, row in own.get(api).json().items()}
    finally:
        finish(agent)
    assert own_counts == {"fleet.own": 3}  # its own page: its calls once, its page's requests not at all

    for path in ("/monitoring", "/monitoring/performance", "/monitoring/traces"):  # serve's page, polled
        assert serve.client.get(path).status_code == 200
    wait_for(lambda: serve.performance(service="fleet-self"), timeout=10, what="fleet-self's calls in serve")
    assert serve.performance(service="fleet-self") == {"fleet.own": (3, 0)}
    [local] = [s for s in serve.get("/api/monitoring/services") if s["local"]]
    assert local["service"] == "zgen-otel-serve"  # serve's own telemetry under its own name, not an agent's default
    assert serve.performance(service=local["service"]) == {}  # serve's own page and API are not its operations
    assert not [name for name in serve.performance() if "monitoring" in name or name.startswith("GET")]


# --- serve --rules --------------------------------------------------------------------------------------


A_RULE = """
from zgen_otel.alerting import get_alert_manager

get_alert_manager().add_metric_rule(name="{name}", description="d", metric_name="m", threshold=1, operator="{op}")
"""
BAD_RULES = {  # what bad.py holds -> what serve says
    "missing": (None, "--rules bad.py: no such file"),
    "invalid-rule": (A_RULE.format(name="q", op="=>"), "--rules bad.py, line 4: DefinitionError: operator must be "
                     "one of '>', '>=', '<', '<=', '==', '!='; got '=>'"),
    "syntax-error": ("def rules(:\n", "--rules bad.py, line 1: SyntaxError: invalid syntax"),
    "raises": ("import json\n\njson.loads('{')\n", "--rules bad.py, line 3: JSONDecodeError: Expecting property name"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_RULES)
def test_a_rules_file_that_is_missing_or_fails_stops_serve_before_it_serves(tmp_path: Path, case: str) -> None:
    source, message = BAD_RULES[case]
    (tmp_path / "good.py").write_text(A_RULE.format(name="ok", op=">"))  # run first, then bad.py
    if source is not None:
        (tmp_path / "bad.py").write_text(source)
    done = subprocess.run([sys.executable, "-m", "zgen_otel", "serve", "--port", "0", "--otlp-port", "0",
                           "--otlp-grpc-port", "0", "--rules", "good.py", "--rules", "bad.py"], env=clean_env(),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""  # no page announced: it never served
    assert done.stderr.startswith(f"zgen-otel: {message}") and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_serve_help_explains_rules() -> None:
    done = subprocess.run([sys.executable, "-m", "zgen_otel", "serve", "--help"], env=clean_env(),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    text = " ".join(done.stdout.split())
    assert done.returncode == 0 and "--rules FILE.py" in text and "add alert rules" in text and "repeatable" in text
