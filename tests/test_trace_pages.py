"""The traces, trace and logs pages as a user reads them: filters, pages, the waterfall, tracebacks (Chromium too)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zgen_otel
from tests.support.colours import contrast
from tests.support.servers import Server
from zgen_otel.dashboards import render_dashboard
from zgen_otel.dashboards.trace_charts import duration_scatter, ruler
from zgen_otel.dashboards.traces_logs import LOGS_PER_PAGE, TRACES_PER_PAGE, render_trace
from zgen_otel.http import make_app
from zgen_otel.logs import get_recent_logs
from zgen_otel.performance import track
from zgen_otel.traces import get_recent_traces, get_trace

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WIDTHS = (1400, 800)
log = logging.getLogger("agent.pages")


@pytest.fixture(autouse=True)
def _agent_logger_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """The agent's logger at INFO for each test (pytest restores it): zgen leaves the root's level alone."""
    caplog.set_level(logging.INFO, logger=log.name)


@track("agent.tool")
def tool(i: int) -> int:
    log.info("tool call %d", i)
    if i % 3 == 2:
        raise ValueError(f"tool {i} failed")
    return i


@track("agent.run")
def run(calls: int) -> int:
    total = 0
    for i in range(calls):
        try:
            total += tool(i)
        except ValueError:
            log.exception("a tool failed")
    return total


@track("calculator")
def divide(a: float, b: float) -> float:
    return a / b


@track("agent.fetch")
async def fetch() -> None:
    raise TimeoutError("upstream took too long")


def calculate() -> None:
    try:
        divide(1, 0)
    except ZeroDivisionError:
        log.exception("the calculator failed")


def exception_event(trace_id: str, name: str) -> dict[str, Any]:
    found = get_trace(trace_id)
    assert found is not None
    (span,) = [s for s in found["spans"] if s["name"] == name]
    (event,) = [e for e in span["events"] if e["name"] == "exception"]
    return dict(event["attributes"])


def test_a_failure_s_traceback_starts_in_the_user_s_code_not_the_tracking_wrapper() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    calculate()
    with pytest.raises(TimeoutError):
        asyncio.run(fetch())
    for name, error, function in (
        ("calculator", "ZeroDivisionError", "divide"),
        ("agent.fetch", "TimeoutError", "fetch"),
    ):
        [summary] = get_recent_traces(operation=name)
        stack = exception_event(summary["trace_id"], name)["exception.stacktrace"]
        frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', stack)
        assert frames[0] == (__file__, function), stack  # the top frame is the decorated function itself
        assert all("zgen_otel" not in path for path, _ in frames) and stack.rstrip().splitlines()[-1].startswith(error)
        page = render_trace(summary["trace_id"])
        assert f"in {function}" in page and "performance.py" not in page


def test_the_trace_page_says_ok_for_an_unset_status_and_shows_the_error_line() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    run(3)
    [summary] = get_recent_traces(operation="agent.run")
    html = render_trace(summary["trace_id"])
    assert "status: unset" not in html and html.count("status: ok") == 3 and html.count("status: failed") == 1
    assert '<div class="exception-line">ValueError: tool 2 failed</div>' in html
    assert re.search(r'<span class="tick"[^>]*>0</span>', html)  # the ruler starts at 0


def test_a_logged_exception_shows_its_traceback_and_a_long_one_keeps_its_end() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False, max_value_length=1000)
    calculate()

    def ping(n: int) -> None:  # ping and pong in turn: frames Python does not fold into "repeated N times"
        if n == 0:
            raise RecursionError("too deep to show whole")
        pong(n - 1)

    def pong(n: int) -> None:
        ping(n)

    try:
        ping(30)
    except RecursionError:
        log.exception("recursion failed")
    html = render_dashboard("logs")
    calculator, recursion = get_recent_logs(contains="failed", logger="agent.pages")[::-1]
    assert "Traceback (most recent call last)" in calculator["attributes"]["exception.stacktrace"]
    assert "ZeroDivisionError: division by zero</span>" in html and "in divide" in html  # the line, then the frames
    stack = recursion["attributes"]["exception.stacktrace"]
    assert stack.startswith("[truncated ") and stack.rstrip().endswith("RecursionError: too deep to show whole")
    assert len(stack) < 1040 and recursion["truncated"]


def test_the_ruler_and_the_scatter_use_round_numbers() -> None:
    assert [t["label"] for t in ruler(30.9)["ticks"]] == ["0", "10 ms", "20 ms", "30 ms"]
    assert [t["label"] for t in ruler(1800)["ticks"]] == ["0", "500 ms", "1 s", "1.5 s"]
    zgen_otel.configure(system_monitor=False, default_rules=False)
    for i in range(12):
        run(1 + i % 3)
        calculate()
    traces = get_recent_traces()
    html = str(duration_scatter(traces))
    assert html.count('class="point') == len(traces) == 24 and html.count('class="point error"') == 16
    decades = re.findall(r'<text class="tick" x="56"[^>]*>([^<]+)</text>', html)
    assert decades and all(re.fullmatch(r"(1|10|100) (µs|ms)|1 s", d) for d in decades), decades


# The text colour of an element and the colour behind it: its own background, else the nearest opaque one above.
COLOURS = """el => {
  const opaque = c => { const m = c.match(/rgba?\\(([^)]*)\\)/); if (!m) { return false; }
                        const parts = m[1].split(','); return parts.length < 4 || parseFloat(parts[3]) === 1; };
  let node = el.classList.contains('inside') ? el.parentNode.querySelector('.bar') : el;
  while (node && !opaque(getComputedStyle(node).backgroundColor)) { node = node.parentElement; }
  return [getComputedStyle(el).color, node ? getComputedStyle(node).backgroundColor : 'rgb(255, 255, 255)'];
}"""


def no_horizontal_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide at {page.viewport_size['width']} px"


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def server() -> Iterator[Server]:
    zgen_otel.configure(system_monitor=False, default_rules=False)
    srv = Server(make_app())
    yield srv
    srv.stop()


def open_page(browser: Any, url: str, width: int, errors: list[str]) -> Any:
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page


def visible_traces(page: Any) -> list[str]:
    return page.locator("table.traces tbody tr:visible").evaluate_all("rs => rs.map(r => r.dataset.trace)")


@pytest.mark.parametrize("width", WIDTHS)
def test_traces_page_filters_pages_and_opens_a_trace_in_chromium(browser: Any, server: Server, width: int) -> None:
    for i in range(TRACES_PER_PAGE * 2 + 10):  # 60 traces: three pages
        run(1 + i % 4)
        if i % 10 == 0:
            calculate()
    newest = [t["trace_id"] for t in get_recent_traces(limit=1000)]
    errors: list[str] = []
    page = open_page(browser, f"{server.url}/monitoring/traces", width, errors)
    assert len(newest) == 66 and visible_traces(page) == newest[:TRACES_PER_PAGE]
    pager = page.locator(".pager[data-for=traces]")
    assert pager.locator(".where").inner_text() == f"1\N{EN DASH}{TRACES_PER_PAGE} of 66"
    assert pager.locator("[data-go=prev]").is_disabled()
    no_horizontal_overflow(page)
    shoot(page, f"traces-{width}")
    page.emulate_media(color_scheme="dark")
    shoot(page, f"traces-{width}-dark")
    page.emulate_media(color_scheme="light")

    pager.locator("[data-go=next]").click()
    assert visible_traces(page) == newest[TRACES_PER_PAGE : 2 * TRACES_PER_PAGE]
    assert pager.locator(".where").inner_text() == f"{TRACES_PER_PAGE + 1}\N{EN DASH}{2 * TRACES_PER_PAGE} of 66"
    page.reload()  # the page is kept in the address
    assert visible_traces(page) == newest[TRACES_PER_PAGE : 2 * TRACES_PER_PAGE]

    form = page.locator("form#trace-filters")
    form.locator("input[name=operation]").fill("calculator")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/monitoring/traces?operation=calculator")
    assert page.locator(".pager[data-for=traces]").is_hidden()  # 6 traces: one page, back at the start
    calculator = [t["trace_id"] for t in get_recent_traces(operation="calculator")]
    assert visible_traces(page) == calculator and len(calculator) == 6
    page.select_option("select[name=order]", "slowest")  # a choice applies at once, keeping the operation
    page.wait_for_url("**/monitoring/traces?operation=calculator&order=slowest")
    assert visible_traces(page) == [t["trace_id"] for t in get_recent_traces(operation="calculator", order="slowest")]
    page.select_option("select[name=status]", "error")
    page.wait_for_url("**status=error**")
    failed = [t["trace_id"] for t in get_recent_traces(operation="calculator", status="error", order="slowest")]
    assert visible_traces(page) == failed and len(failed) == 6
    page.locator("form#trace-filters input[name=min_duration]").fill("60")
    page.locator("form#trace-filters button[type=submit]").click()
    page.wait_for_url("**min_duration=60**")
    assert "no traces match these filters" in page.locator("section[data-panel=traces]").inner_text()
    page.locator("a.clear").click()
    page.wait_for_url("**/monitoring/traces")
    assert page.locator("form#trace-filters input[name=operation]").input_value() == ""

    page.locator(f"tr[data-trace='{newest[5]}'] td.num").first.click()  # the whole row opens the trace
    page.wait_for_url(f"**/monitoring/traces/{newest[5]}")
    page.go_back()
    page.locator(f".scatter .point[data-trace='{newest[0]}']").click()  # and so does its point (the newest, on top)
    page.wait_for_url(f"**/monitoring/traces/{newest[0]}")
    assert errors == []
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_waterfall_labels_read_clearly_with_a_ruler_in_chromium(browser: Any, server: Server, width: int) -> None:
    run(4)
    [summary] = get_recent_traces(operation="agent.run")
    errors: list[str] = []
    page = open_page(browser, f"{server.url}/monitoring/traces/{summary['trace_id']}", width, errors)
    ticks = page.locator(".waterfall .ruler .tick").all_inner_texts()
    assert ticks[0] == "0" and len(ticks) >= 3 and all(t.endswith(("ms", "µs", " s")) for t in ticks[1:])
    failing = page.locator(".waterfall details[data-status=error]")
    failing.locator("summary").click()
    first_frame = failing.locator("pre.traceback").inner_text().splitlines()[1]
    assert "test_trace_pages.py" in first_frame and "in tool" in first_frame
    no_horizontal_overflow(page)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        labels = page.locator(".waterfall .took")
        assert labels.count() == 5
        for i in range(labels.count()):
            label = labels.nth(i)
            ratio = contrast(*label.evaluate(COLOURS))
            assert ratio >= 4.5, f"{label.inner_text()} ({label.get_attribute('class')}): contrast {ratio:.2f}"
            bar, box = label.locator("xpath=..").locator(".bar").bounding_box(), label.bounding_box()
            inside = "inside" in (label.get_attribute("class") or "")
            overlaps = box["x"] < bar["x"] + bar["width"] and bar["x"] < box["x"] + box["width"]
            assert overlaps == inside  # a label sits on its bar only in white on the bar's colour
        shoot(page, f"trace-{width}-{scheme}")
    assert errors == []
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_logs_page_pages_and_opens_a_traceback_in_chromium(browser: Any, server: Server, width: int) -> None:
    for i in range(LOGS_PER_PAGE + 5):
        log.info("step %d", i)
    calculate()
    errors: list[str] = []
    page = open_page(browser, f"{server.url}/monitoring/logs?logger=agent.pages", width, errors)
    rows = page.locator("table.logs tbody > tr:visible")
    assert rows.count() == LOGS_PER_PAGE
    record = rows.first  # newest first: the calculator's failure
    assert (
        "the calculator failed" in record.inner_text() and "ZeroDivisionError: division by zero" in record.inner_text()
    )
    assert record.locator("pre.traceback").is_hidden()
    record.locator("details.exception summary").click()
    traceback = record.locator("pre.traceback").inner_text()
    assert traceback.startswith("Traceback (most recent call last)") and "in divide" in traceback
    assert "test_trace_pages.py" in traceback.splitlines()[1] and "in calculate" in traceback.splitlines()[1]
    dimmed = record.locator("pre.traceback .ours").all_inner_texts()  # the @track wrapper it passed through
    assert dimmed and all("zgen_otel" in d for d in dimmed if d.startswith("  File"))
    assert not any("test_trace_pages.py" in d for d in dimmed)
    no_horizontal_overflow(page)
    shoot(page, f"logs-{width}")
    page.emulate_media(color_scheme="dark")
    shoot(page, f"logs-{width}-dark")
    page.emulate_media(color_scheme="light")
    page.locator(".pager[data-for=logs] [data-go=next]").click()
    assert rows.count() == 6  # 56 records: the second page holds the oldest 6
    assert "step 0" in rows.last.inner_text()
    page.select_option("select[name=min_level]", "ERROR")  # a filter goes back to the first page
    page.wait_for_url("**min_level=ERROR**")
    assert page.locator("table.logs tbody > tr:visible").count() == 1
    assert errors == []
    page.close()
