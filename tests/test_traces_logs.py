"""Traces and logs in the local view: the span buffer, captured logging records, their API, pages and OTLP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

import zgen_otel
from tests.support.otlp import OtlpReceiver, Protocol, attributes_dict
from tests.support.servers import Server
from zgen_otel.alerting import get_alert_manager, trigger_alert
from zgen_otel.dashboards import render_dashboard
from zgen_otel.dashboards.traces_logs import render_trace
from zgen_otel.http import make_app
from zgen_otel.logs import get_recent_logs, log_buffer_stats
from zgen_otel.performance import track
from zgen_otel.traces import get_recent_traces, get_trace, span_buffer_stats

log = logging.getLogger("agent.core")


@pytest.fixture(autouse=True)
def _agent_logger_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """The agent's logger at INFO for each test (pytest restores it): zgen leaves the root's level alone."""
    caplog.set_level(logging.INFO, logger=log.name)


@track("agent.tool")
def tool(i: int) -> int:
    log.info("tool call %d", i)
    if i == 2:
        raise ValueError(f"tool {i} failed")
    return i


@track("agent.run")
def run() -> int:
    total = 0
    for i in range(3):
        try:
            total += tool(i)
        except ValueError:
            log.exception("a tool failed")
    return total


def one_trace() -> dict[str, Any]:
    run()
    [summary] = get_recent_traces(operation="agent.run")
    found = get_trace(summary["trace_id"])
    assert found is not None
    return found


def test_nested_and_failing_calls_are_one_trace_with_parents_exception_and_logs() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    found = one_trace()
    spans = found["spans"]
    assert [s["name"] for s in spans] == ["agent.run", "agent.tool", "agent.tool", "agent.tool"]
    root = spans[0]
    assert root["parent_span_id"] is None and root["depth"] == 0
    assert all(s["parent_span_id"] == root["span_id"] and s["depth"] == 1 for s in spans[1:])
    failed = [s for s in spans if s["status"] == "error"]
    assert len(failed) == 1 and failed[0]["status_description"].startswith("ValueError")
    [event] = failed[0]["events"]
    assert event["name"] == "exception" and "tool 2 failed" in event["attributes"]["exception.stacktrace"]
    assert found["status"] == "error" and found["span_count"] == 4 and found["error_count"] == 1
    # Logs emitted inside carry the trace id and the id of the span they were emitted in.
    messages = [(r["level"], r["message"], r["span_id"]) for r in found["logs"]]
    tool_spans = [s["span_id"] for s in spans[1:]]
    expected = [("INFO", f"tool call {i}", tool_spans[i]) for i in range(3)]
    assert messages == [*expected, ("ERROR", "a tool failed", root["span_id"])]
    error = get_recent_logs(min_level="ERROR")[0]
    assert error["attributes"]["exception.type"] == "ValueError" and error["trace_id"] == found["trace_id"]


def test_spans_of_any_instrumentation_on_the_provider_are_kept() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    tracer = otel_trace.get_tracer("third.party")  # the global provider zgen_otel installed
    with tracer.start_as_current_span("http.request") as span:
        span.set_attribute("http.route", "/chat")
    [summary] = get_recent_traces(operation="http.request")
    assert get_trace(summary["trace_id"])["spans"][0]["attributes"] == {"http.route": "/chat"}  # type: ignore[index]


def test_the_buffers_are_bounded_drop_oldest_and_count() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False, max_spans=50, max_logs=30)
    first = None
    for i in range(120):
        with zgen_otel.track_context("op") as _:
            log.info("record %d", i)
        if first is None:
            first = get_recent_traces()[0]["trace_id"]
    assert span_buffer_stats() == {"spans": 50, "capacity": 50, "dropped": 70}
    assert log_buffer_stats() == {"records": 30, "capacity": 30, "dropped": 90}
    assert get_trace(first) is None  # evicted
    assert [r["message"] for r in get_recent_logs(limit=2)] == ["record 119", "record 118"]


def test_large_values_are_truncated_with_a_marker_never_dropped() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False, max_value_length=100)
    with zgen_otel.track_context("big") as span:
        span.set_attribute("prompt", "x" * 10_000)
        log.warning("y" * 5_000)
    [summary] = get_recent_traces(operation="big")
    big = get_trace(summary["trace_id"])["spans"][0]  # type: ignore[index]
    assert big["truncated"] and big["attributes"]["prompt"] == "x" * 100 + "… [truncated 9900 chars]"
    record = get_recent_logs(min_level="WARNING")[0]
    assert record["truncated"] and record["message"].endswith("… [truncated 4900 chars]")


def test_bad_filters_raise_errors_naming_the_value() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    with pytest.raises(ValueError, match="'failed'"):
        get_recent_traces(status="failed")
    with pytest.raises(ValueError, match="limit"):
        get_recent_traces(limit=0)
    with pytest.raises(ValueError, match="32 hex digits"):
        get_trace("not-a-trace")
    with pytest.raises(ValueError, match="'LOUD'"):
        get_recent_logs(min_level="LOUD")
    with pytest.raises(TypeError, match="contains"):
        get_recent_logs(contains=5)  # type: ignore[arg-type]


def test_alert_state_changes_are_log_records() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    logging.getLogger("zgen_otel.alerts").setLevel(logging.INFO)
    try:
        manager = get_alert_manager()
        alert = trigger_alert("disk_full", "the disk is full", "error", "system")
        manager.acknowledge_alert(alert.id, by="ana")
        manager.resolve_alert(alert.id)
    finally:
        logging.getLogger("zgen_otel.alerts").setLevel(logging.NOTSET)
    story = [r["message"] for r in reversed(get_recent_logs(logger="zgen_otel.alerts"))]
    assert [m.split(":")[0] for m in story] == ["alert fired", "alert acknowledged", "alert resolved"]


def test_log_capture_can_be_turned_off() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False, capture_logs=False)
    log.warning("not captured")
    assert get_recent_logs() == []


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_and_logs_reach_the_otlp_receiver(protocol: Protocol) -> None:
    with OtlpReceiver(protocol) as receiver:
        zgen_otel.configure(otlp_endpoint=receiver.endpoint, otlp_protocol=protocol, system_monitor=False,
                            default_rules=False)  # fmt: skip
        found = one_trace()
        zgen_otel.shutdown()  # flushes every exporter while the receiver listens
        assert {"agent.run", "agent.tool"} <= set(receiver.span_names())
        records = [
            (attributes_dict(rl.resource.attributes), record)
            for request in receiver.logs_requests
            for rl in ExportLogsServiceRequest.FromString(request.SerializeToString()).resource_logs
            for sl in rl.scope_logs
            for record in sl.log_records
        ]
    bodies = {r.body.string_value: r for _, r in records}
    assert {"tool call 0", "tool call 1", "tool call 2", "a tool failed"} <= set(bodies)
    assert bodies["a tool failed"].trace_id.hex() == found["trace_id"]
    assert bodies["a tool failed"].severity_text == "ERROR"
    assert all(resource["service.name"] == "zgen-agent" for resource, _ in records)


XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_span_and_log_text_is_escaped_in_html() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    with zgen_otel.track_context(f"op{XSS}") as span:
        span.set_attribute(f"key{XSS}", XSS)
        log.error("message %s", XSS)
    [summary] = get_recent_traces()
    for html in (render_trace(summary["trace_id"]), render_dashboard("traces"), render_dashboard("logs")):
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.fixture
def served() -> Iterator[httpx.Client]:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    server = Server(make_app())
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
    server.stop()


def test_http_api_lists_filters_and_returns_traces_and_logs(served: httpx.Client) -> None:
    found = one_trace()
    traces = served.get("/api/monitoring/traces", params={"status": "error"}).json()
    assert [t["trace_id"] for t in traces] == [found["trace_id"]]
    assert served.get("/api/monitoring/traces", params={"status": "ok"}).json() == []
    assert served.get("/api/monitoring/traces", params={"min_duration": 60}).json() == []
    one = served.get(f"/api/monitoring/traces/{found['trace_id']}").json()
    assert [s["name"] for s in one["spans"]] == [s["name"] for s in found["spans"]]
    missing = served.get("/api/monitoring/traces/" + "0" * 32)
    assert missing.status_code == 404 and missing.json()["title"] == "Error"
    assert served.get("/api/monitoring/traces/nothex").status_code == 422
    logs = served.get("/api/monitoring/logs", params={"min_level": "ERROR", "logger": "agent"}).json()
    assert [r["message"] for r in logs] == ["a tool failed"]
    by_text = served.get("/api/monitoring/logs", params={"contains": "CALL 1"}).json()
    assert [r["message"] for r in by_text] == ["tool call 1"]
    by_trace = served.get("/api/monitoring/logs", params={"trace_id": found["trace_id"]}).json()
    assert len(by_trace) == 4
    status = served.get("/api/monitoring").json()
    assert status["traces"]["spans"] == 4 and status["logs"]["records"] >= 4
    assert served.get("/monitoring/traces/" + "0" * 32).status_code == 404


def test_traces_waterfall_and_logs_pages_in_chromium(browser: Any) -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    server = Server(make_app())
    try:
        found = one_trace()
        failing = next(s for s in found["spans"] if s["status"] == "error")
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.url}/monitoring/performance")  # each operation links to its slowest traces
        page.locator("tr[data-id='agent.run'] a", has_text="slowest").click()
        page.wait_for_url("**/monitoring/traces?operation=agent.run&order=slowest")
        assert page.locator(f"tr[data-trace='{found['trace_id']}']").count() == 1
        page.goto(f"{server.url}/monitoring/traces?refresh=1")
        row = page.locator(f"tr[data-trace='{found['trace_id']}']")
        assert "agent.run" in row.inner_text() and row.locator(".mark").count() == 1  # the error mark
        with zgen_otel.track_context("later.op"):  # the list is live: a new trace shows up without a reload
            pass
        page.locator("main", has_text="later.op").wait_for(timeout=10_000)

        page.locator(f"tr[data-trace='{found['trace_id']}'] a").click()
        page.wait_for_url(f"**/monitoring/traces/{found['trace_id']}")
        bars = page.locator(".waterfall .bar")
        assert bars.count() == 4 and page.locator(".waterfall .bar.error").count() == 1
        root_box = bars.nth(0).bounding_box()
        assert root_box is not None
        lefts = []
        for i in range(1, 4):  # children sit inside the root's bar, in start order, each indented under it
            box = bars.nth(i).bounding_box()
            assert box is not None
            assert root_box["x"] - 1 <= box["x"] and box["x"] + box["width"] <= root_box["x"] + root_box["width"] + 1
            lefts.append(box["x"])
        assert lefts == sorted(lefts)
        details = page.locator(f"details[data-span='{failing['span_id']}']")
        assert not details.locator(".info").is_visible()
        details.locator("summary").click()  # click a span: its attributes and events open
        info = details.locator(".info")
        assert info.is_visible() and "code.function.name" in info.inner_text()
        assert "tool 2 failed" in info.locator("pre").inner_text()
        assert page.locator("section[data-panel=logs] tbody tr").count() == 4

        page.goto(f"{server.url}/monitoring/logs")
        levels = {r.get_attribute("data-level") for r in page.locator("tbody tr[data-level]").all()}
        assert {"INFO", "ERROR"} <= levels
        page.select_option("select[name=min_level]", "ERROR")
        page.wait_for_url("**min_level=ERROR**")
        levels = {r.get_attribute("data-level") for r in page.locator("tbody tr[data-level]").all()}
        assert levels == {"ERROR"}
        page.locator("tbody tr[data-level=ERROR] a").first.click()  # a record links to its trace
        page.wait_for_url(f"**/monitoring/traces/{found['trace_id']}")
        assert errors == []
        page.close()
    finally:
        server.stop()
