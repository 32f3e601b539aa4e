"""Telemetry received from other processes lands where this process's lands: every view reads both.

Four agents (service A with instances a1 and a2, service B, and service C that has gone quiet) record with
zgen_otel itself and ship over OTLP/HTTP with the official exporters to a capture receiver; the decoded
requests are then fed to the receiver of a server runtime that tracks a call of its own. The API, served by
uvicorn on 127.0.0.1, must count every call exactly per service, per instance and in total, filter traces,
logs and series by service, list the services, and the pages (Debian Chromium) must offer the selection.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import zgen_otel
from tests.support.otlp import flush, over_otlp
from tests.support.servers import Server, serving
from zgen_otel.config import ENV_VARS
from zgen_otel.dashboards.dashboard import Dashboard, get_dashboard_manager
from zgen_otel.http import make_app
from zgen_otel.llm import llm_call
from zgen_otel.metrics import record_metric
from zgen_otel.performance import track
from zgen_otel.receiver import Receiver
from zgen_otel.selection import select
from zgen_otel.testing import ManualClock
from zgen_otel.traces import get_recent_traces

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ENDPOINT = "http://127.0.0.1:4318"
LOCAL = "monitor"  # the server's own service name


@dataclass
class Sent:
    """The OTLP requests one agent's exporters sent."""

    metrics: list[Any] = field(default_factory=list)
    traces: list[Any] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)

    def into(self, receiver: Receiver) -> None:
        """Hand every request to ``receiver``, as its endpoints would; nothing may be rejected."""
        for request in self.metrics:
            assert receiver.export_metrics(request) == (0, "")
        for request in self.traces:
            assert receiver.export_traces(request) == (0, "")
        for request in self.logs:
            assert receiver.export_logs(request) == (0, "")


def log_records(requests: list[Any]) -> int:
    return sum(len(s.log_records) for r in requests for rl in r.resource_logs for s in rl.scope_logs)


def record_agent(service: str, instance: str, steps: int, failing: int, *, tools: int = 0, llm: int = 0,
                 system: bool = False) -> Sent:  # fmt: skip
    """Run one agent on zgen_otel and return what it shipped.

    It makes ``steps`` tracked steps (the first ``failing`` raise), each logging a warning, then ``tools``
    tool calls and ``llm`` LLM calls, each a trace of its own; ``system``: a custom metric and two sweeps.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OTEL_RESOURCE_ATTRIBUTES", f"service.instance.id={instance}")
        with over_otlp(service_name=service, default_rules=False) as (cap, receiver):
            log = logging.getLogger(f"agent.{service}")

            @track("agent.step")
            def step(i: int) -> None:
                log.warning("step %d of %s/%s", i, service, instance)
                if i < failing:
                    raise ValueError("boom")

            for i in range(steps):
                with contextlib.suppress(ValueError):
                    step(i)
            for _ in range(tools):
                track("tool.search")(lambda: time.sleep(0.001))()
            for _ in range(llm):
                with llm_call(model="gpt-test", provider="openai") as call:
                    time.sleep(0.01)
                    call.set_usage(input_tokens=10, output_tokens=5)
            if system:
                record_metric("queue.depth", 7, category="agent")
                for _ in range(2):  # two sweeps: rates need a previous reading
                    cap.runtime.system_monitor.collect()
                    time.sleep(0.2)
            names = {"zgen.operation.duration"} | ({"system.cpu_percent"} if system else set())
            flush(receiver, names, {"agent.step"} if steps else set())
            assert receiver.wait_for(lambda: log_records(receiver.logs_requests) >= steps, timeout=10)
            return Sent(list(receiver.metrics_requests), list(receiver.trace_requests), list(receiver.logs_requests))


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Sent]]:
    """What the four agents shipped (recorded once for the module, each agent on a fresh runtime)."""
    with pytest.MonkeyPatch.context() as mp:
        for spec in ENV_VARS.values():
            mp.delenv(spec.env, raising=False)
        mp.setenv("ZGEN_OTEL_HOST_LOCK", str(tmp_path_factory.mktemp("lock") / "host.lock"))
        yield {
            "a1": record_agent("A", "a1", steps=3, failing=1, tools=2),
            "a2": record_agent("A", "a2", steps=2, failing=0),
            "b1": record_agent("B", "b1", steps=4, failing=2, llm=2, system=True),
            "c1": record_agent("C", "c1", steps=0, failing=0, tools=1),
        }


@dataclass
class Served:
    runtime: Any
    server: Server
    client: httpx.Client
    clock: ManualClock


@pytest.fixture
def served(sent: dict[str, Sent]) -> Iterator[Served]:
    """The server: one tracked call of its own; C sent two minutes ago (stale now), A and B just now."""
    clock = ManualClock(time.time())
    zgen_otel.configure(service_name=LOCAL, interval=3600, system_monitor=False, default_rules=False, clock=clock)
    rt = zgen_otel.get_runtime()
    track("agent.step")(lambda: None)()
    receiver = rt.start_receiver()
    receiver.endpoints = [ENDPOINT]
    sent["c1"].into(receiver)
    clock.advance(120)
    for agent in ("a1", "a2", "b1"):
        sent[agent].into(receiver)
    with serving(make_app(runtime=rt)) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield Served(rt, server, client, clock)


def get(served: Served, path: str, **params: Any) -> Any:
    response = served.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def calls(served: Served, **params: Any) -> dict[str, tuple[int, int]]:
    """(calls, errors) per operation from ``/performance`` for a selection (and window)."""
    found = get(served, "/api/monitoring/performance", **params)
    return {name: (row["calls"], row["errors"]) for name, row in found.items()}


def test_performance_counts_every_call_per_service_per_instance_and_in_total(served: Served) -> None:
    assert calls(served) == {"agent.step": (10, 3), "tool.search": (3, 0)}  # A 5, B 4, this server 1; A 2, C 1
    assert calls(served, service="A") == {"agent.step": (5, 1), "tool.search": (2, 0)}
    assert calls(served, service="A", instance="a1") == {"agent.step": (3, 1), "tool.search": (2, 0)}
    assert calls(served, instance="a2") == {"agent.step": (2, 0)}
    assert calls(served, service="B") == {"agent.step": (4, 2)}
    assert calls(served, service=LOCAL) == {"agent.step": (1, 0)}
    assert calls(served, service="C") == {"tool.search": (1, 0)}
    assert calls(served, service="nobody") == {} and calls(served, service="A", instance="b1") == {}
    assert calls(served, window=3600) == calls(served)  # everything happened in the last hour
    assert calls(served, service="A", window=60) == {}  # A's calls are two minutes old on the server's clock
    total = get(served, "/api/monitoring/performance")["agent.step"]
    assert total["services"] == ["A", "B", LOCAL] and total["instances"] == 4 and total["error_rate"] == 0.3
    assert 0 < total["p50"] <= total["p95"] <= total["p99"] and total["max"] >= total["p99"] * 0.99
    a = get(served, "/api/monitoring/performance", service="A")["agent.step"]
    assert a["services"] == ["A"] and a["instances"] == 2 and a["mean"] > 0 and a["last_call"] is not None

    table = next(p for p in get(served, "/api/monitoring/dashboard/performance", service="A")["panels"]
                 if p["id"] == "operations")  # fmt: skip
    assert table["columns"][:3] == ["operation", "instances", "calls"]  # one service: no services column
    rows = {r[0]: dict(zip(table["columns"], r, strict=True)) for r in table["rows"]}
    assert {n: (r["calls"], r["errors"], r["instances"]) for n, r in rows.items()} == {
        "agent.step": (5, 1, 2), "tool.search": (2, 0, 1)}  # fmt: skip
    everything = get(served, "/api/monitoring/dashboard/performance")
    table = next(p for p in everything["panels"] if p["id"] == "operations")
    assert table["columns"][:4] == ["operation", "services", "instances", "calls"]
    assert [r[:4] for r in table["rows"]] == [["agent.step", f"A, B, {LOCAL}", 4, 10], ["tool.search", "A, C", 2, 3]]
    lines = {s["label"] for s in next(p for p in everything["panels"] if p["id"] == "throughput")["series"]}
    assert {"agent.step · A · a1", "agent.step · A · a2", "agent.step · B", "tool.search · C"} <= lines


def test_a_bad_selection_is_refused_and_an_unknown_one_is_empty(served: Served) -> None:
    for path in ("/api/monitoring/performance", "/api/monitoring/traces", "/api/monitoring/logs",
                 "/api/monitoring/metrics", "/api/monitoring/dashboard/performance"):  # fmt: skip
        response = served.client.get(path, params={"service": "x" * 256})
        assert response.status_code == 422 and "service" in response.text, path
        assert served.client.get(path, params={"instance": "y" * 256}).status_code == 422, path
    assert get(served, "/api/monitoring/traces", service="nobody") == []
    assert get(served, "/api/monitoring/logs", service="nobody") == []
    assert get(served, "/api/monitoring/metrics", service="nobody") == []
    empty = get(served, "/api/monitoring/metrics/zgen.operation.duration.count", service="nobody")
    assert empty["series"] == [] and empty["points"] == []
    assert served.client.get("/api/monitoring/metrics/no.such.metric", params={"service": "A"}).status_code == 404
    with pytest.raises(TypeError, match="service must be a str"):
        get_recent_traces(service=3)  # type: ignore[arg-type]


def test_traces_and_logs_of_a_service(served: Served) -> None:
    b = get(served, "/api/monitoring/traces", service="B", limit=1000)
    assert len(b) == 6 and {(t["service"], t["instance"]) for t in b} == {("B", "b1")}  # 4 steps, 2 LLM calls
    assert sum(t["status"] == "error" for t in b) == 2
    a1 = get(served, "/api/monitoring/traces", service="A", instance="a1", limit=1000)
    assert sorted(t["name"] for t in a1) == ["agent.step"] * 3 + ["tool.search"] * 2
    every = get(served, "/api/monitoring/traces", limit=1000)
    assert len(every) == 15 and {t["service"] for t in every} == {"A", "B", "C", LOCAL}

    failed = next(t for t in b if t["status"] == "error" and t["name"] == "agent.step")
    trace = get(served, f"/api/monitoring/traces/{failed['trace_id']}")
    assert [(s["name"], s["service"], s["instance"], s["status"]) for s in trace["spans"]] == [
        ("agent.step", "B", "b1", "error")]  # fmt: skip
    assert [(r["service"], r["instance"], r["level"]) for r in trace["logs"]] == [("B", "b1", "WARNING")]
    assert trace["logs"][0]["message"].startswith("step ") and trace["logs"][0]["message"].endswith("of B/b1")
    gone = served.client.get(f"/api/monitoring/traces/{failed['trace_id']}", params={"service": "A"})
    assert gone.status_code == 404 and "service 'A'" in gone.json()["detail"]

    a = get(served, "/api/monitoring/logs", service="A", logger="agent")
    assert len(a) == 5 and {r["service"] for r in a} == {"A"} and {r["instance"] for r in a} == {"a1", "a2"}
    assert [r["message"] for r in get(served, "/api/monitoring/logs", instance="a2")] == [
        "step 1 of A/a2", "step 0 of A/a2"]  # fmt: skip
    assert len(get(served, "/api/monitoring/logs", logger="agent", min_level="WARNING")) == 9  # A 5, B 4


def test_series_and_dashboards_by_service(served: Served) -> None:
    b = get(served, "/api/monitoring/metrics", service="B")
    assert b and {(s["attributes"]["service.name"], s["attributes"]["service.instance.id"]) for s in b} == {
        ("B", "b1")}  # fmt: skip
    counts = get(served, "/api/monitoring/metrics/zgen.operation.duration.count", service="A")
    assert {s["attributes"]["service.name"] for s in counts["series"]} == {"A"}
    assert sum(v for _, v in counts["points"]) == 7  # 5 steps and 2 tool calls, each counted once

    def panel(doc: dict[str, Any], pid: str) -> dict[str, Any]:
        return next(p for p in doc["panels"] if p["id"] == pid)

    system_b = get(served, "/api/monitoring/dashboard/system", service="B")
    now = {item["label"]: item["value"] for item in panel(system_b, "now")["items"]}
    assert set(now) == {"CPU", "memory", "swap", "load (1 min)"} and 0 <= now["memory"] <= 100
    assert {s["label"] for s in panel(system_b, "cpu")["series"]} >= {"all cores", "core 0"}
    system_all = get(served, "/api/monitoring/dashboard/system")
    assert "all cores · B" in {s["label"] for s in panel(system_all, "cpu")["series"]}

    llm = panel(get(served, "/api/monitoring/dashboard/llm", service="B"), "models")
    (row,) = [dict(zip(llm["columns"], r, strict=True)) for r in llm["rows"]]
    assert (row["model"], row["calls"], row["input tokens"]) == ("gpt-test", 2, 20)
    assert row["p50"] is not None and row["p50"] >= 0.01  # from B's llm_call spans, received
    assert panel(get(served, "/api/monitoring/dashboard/llm", service="A"), "models")["rows"] == []

    metrics = get(served, "/api/monitoring/dashboard/metrics", service="B")
    assert [r[0] for p in metrics["panels"] for r in p["rows"]] == ["agent.queue.depth"]
    alerts = get(served, "/api/monitoring/dashboard/alerts", service="B")
    assert alerts["selection"] == {"service": "B", "instance": None, "applied": False}  # it shows every service
    assert 'id="not-selected"' in served.client.get("/monitoring/alerts", params={"service": "B"}).text
    assert 'id="not-selected"' not in served.client.get("/monitoring/alerts").text
    assert get(served, "/api/monitoring/dashboard/performance", service="B")["selection"]["applied"] is True


def test_custom_dashboards_old_and_new(served: Served) -> None:
    class Old(Dashboard):  # written before selections existed: still served, and says it shows everything
        name = "old"

        def get_data(self, window_seconds: float = 3600) -> dict[str, Any]:
            return {"panels": [], "series": len(zgen_otel.get_runtime().store.all_series())}

    class Mine(Dashboard):  # takes the selection and reads through it
        name = "mine"

        def get_data(self, window_seconds: float = 3600, *, service: str | None = None, instance: str | None = None,
                     runtime: Any = None) -> dict[str, Any]:  # fmt: skip
            view = select(runtime, service, instance)
            return {"panels": [], "processes": [p.service for p in view.processes],
                    "series": len(view.store.all_series())}  # fmt: skip

    manager = get_dashboard_manager()
    manager.register_dashboard(Old())
    manager.register_dashboard(Mine())
    old = get(served, "/api/monitoring/dashboard/old", service="A")
    assert old["selection"]["applied"] is False and old["series"] == len(served.runtime.store.all_series())
    mine = get(served, "/api/monitoring/dashboard/mine", service="A")
    assert mine["selection"]["applied"] is True and mine["processes"] == ["A", "A"]
    assert 0 < mine["series"] < old["series"]
    assert get(served, "/api/monitoring/dashboard/mine")["processes"] == [LOCAL, "A", "A", "B", "C"]


def test_services_lists_this_process_and_every_sender(served: Served) -> None:
    found = get(served, "/api/monitoring/services")
    assert [(p["service"], p["local"]) for p in found] == [(LOCAL, True)] + [(s, False) for s in "AABC"]
    assert [p["instance"] for p in found[1:]] == ["a1", "a2", "b1", "c1"]
    by_instance = {p["instance"]: p for p in found[1:]}
    assert {i: (p["spans"], p["logs"], p["stale"]) for i, p in by_instance.items()} == {
        "a1": (5, 3, False), "a2": (2, 2, False), "b1": (6, 4, False), "c1": (1, 0, True)}  # fmt: skip
    assert by_instance["c1"]["age"] == pytest.approx(120) and by_instance["a1"]["age"] == 0
    assert all(p["last_seen"] <= served.clock.now for p in found) and found[0]["stale"] is False


def test_the_empty_server_says_how_to_point_an_agent_at_it(sent: dict[str, Sent]) -> None:
    zgen_otel.configure(service_name=LOCAL, interval=3600, system_monitor=False, default_rules=False)
    rt = zgen_otel.get_runtime()
    line = f"OTEL_EXPORTER_OTLP_ENDPOINT={ENDPOINT}"
    with serving(make_app(runtime=rt)) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert line not in client.get("/monitoring").text  # no receiver: nothing to point at
        receiver = rt.start_receiver()
        receiver.endpoints = [ENDPOINT]
        for path in ("/monitoring", "/monitoring/performance", "/monitoring/traces", "/monitoring/logs"):
            assert client.get(path).text.count(line) == 1, path  # one line, on every page
        sent["a2"].into(receiver)
        assert line not in client.get("/monitoring").text and line not in client.get("/monitoring/system").text


def _page(browser: Any, width: int) -> tuple[Any, list[str]]:
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_pages_select_a_service_and_keep_it(served: Served, browser: Any) -> None:
    page, errors = _page(browser, 1400)
    page.goto(f"{served.server.url}/monitoring")
    services = page.locator("section[data-panel=services] tbody tr")
    assert [r.get_attribute("data-service") for r in services.all()] == [LOCAL, "A", "A", "B", "C"]
    assert [r.get_attribute("data-instance") for r in services.all()][1:] == ["a1", "a2", "b1", "c1"]
    stale = page.locator("section[data-panel=services] tr.stale")
    assert stale.count() == 1 and stale.get_attribute("data-instance") == "c1"
    assert "stale" in stale.inner_text() and "2 min ago" in stale.inner_text()
    assert "this server" in services.first.inner_text() and "live" in services.nth(1).inner_text()
    picker = page.locator("select#service")
    assert picker.is_visible()
    options = picker.locator("option").all_inner_texts()
    assert options == ["All services", "A", "A / a1", "A / a2", "B", "C (stale)", f"{LOCAL} (this server)"]
    _shot(page, "received-index-1400")

    page.locator("tr[data-instance=b1] a", has_text="b1").click()  # a service's only instance: selected as such
    page.wait_for_url(re.compile(r"/monitoring\?service=B&instance=b1$"))
    assert page.locator("select#service option:checked").inner_text() == "B / b1"
    picker = page.locator("select#service")
    picker.select_option(label="B")
    page.wait_for_url(re.compile(r"/monitoring\?service=B$"))
    page.locator("a", has_text="Performance").click()
    page.wait_for_url(re.compile(r"/monitoring/performance\?service=B$"))
    table = page.locator("section[data-panel=operations] table")
    assert table.locator("th").all_inner_texts()[:3] == ["operation", "calls", "errors"]  # B alone: no columns
    assert [c.strip() for c in table.locator("tbody tr td:nth-child(2)").all_inner_texts()] == ["4"]
    assert page.locator("select#service option:checked").inner_text() == "B"
    _shot(page, "received-performance-B-1400")

    page.locator("section[data-panel=operations] a", has_text="recent").click()
    page.wait_for_url(re.compile(r"/monitoring/traces\?operation=agent.step&service=B$"))
    assert page.locator("table.traces tbody tr").count() == 4

    page.goto(f"{served.server.url}/monitoring/performance")
    table = page.locator("section[data-panel=operations] table")
    assert table.locator("th").all_inner_texts()[:4] == ["operation", "services", "instances", "calls"]
    assert table.locator("tbody tr").first.locator("td").nth(3).inner_text() == "10"
    _shot(page, "received-performance-all-1400")
    page.goto(f"{served.server.url}/monitoring/traces")
    assert page.locator("table.traces th").all_inner_texts()[:2] == ["started", "service"]  # several services
    assert set(page.locator("table.traces td.service").all_inner_texts()) == {"A", "B", "C", LOCAL}
    _shot(page, "received-traces-all-1400")
    page.goto(f"{served.server.url}/monitoring/traces?service=B&status=error")
    page.locator("table.traces tr.bad a").first.click()
    page.wait_for_url(re.compile(r"/monitoring/traces/[0-9a-f]{32}\?service=B$"))  # the link kept the selection
    assert "service B (b1)" in (page.locator("details.span .info").first.text_content() or "")
    assert page.locator("section[data-panel=logs] tbody td").nth(1).inner_text() == "B"  # the trace's log, from B
    page.set_viewport_size({"width": 800, "height": 900})
    _shot(page, "received-performance-all-800")
    page.goto(f"{served.server.url}/monitoring")
    _shot(page, "received-index-800")
    assert errors == []
    page.close()


def test_the_empty_state_line_in_chromium(sent: dict[str, Sent], browser: Any) -> None:
    zgen_otel.configure(service_name=LOCAL, interval=3600, system_monitor=False, default_rules=False)
    rt = zgen_otel.get_runtime()
    rt.start_receiver().endpoints = [ENDPOINT]
    with serving(make_app(runtime=rt)) as server:
        page, errors = _page(browser, 1400)
        for path, name in (("/monitoring", "index"), ("/monitoring/performance", "performance")):
            page.goto(f"{server.url}{path}")
            hint = page.locator("#zgen-hint")
            assert hint.count() == 1 and hint.is_visible() and f"OTEL_EXPORTER_OTLP_ENDPOINT={ENDPOINT}" in (
                hint.inner_text())  # fmt: skip
            _shot(page, f"received-empty-{name}-1400")
        assert errors == []
        page.close()
