"""The web page as someone keeps it open: live, at any width, light or dark.

One agent's worth of telemetry (tracked calls, LLM calls, a failing tool, logs, alerts, a custom metric) is
recorded once, served by ``zgen_otel.start_server`` on 127.0.0.1, and every page is opened in Debian's
Chromium at 1400 and 800 px, light and dark: no horizontal overflow, every visible text readable (WCAG AA
contrast, computed in the browser), numbers on one line. The refresh keeps what the reader did (sort, a
half-typed filter, focus, scroll, open details), says how old the data is, pauses, says "disconnected" when
the server stops and recovers when it comes back; a system chart moves while the page is open. Screenshots of
every page go to ``test-artifacts/pages/``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zgen_otel
from tests.support.waiting import wait_for
from zgen_otel.alerting import AlertSeverity, trigger_alert
from zgen_otel.config import ENV_VARS
from zgen_otel.dashboards.dashboard import get_dashboard_manager, render_dashboard, render_dashboard_index
from zgen_otel.dashboards.traces_logs import render_trace
from zgen_otel.http.background import ServerHandle
from zgen_otel.llm import PriceTable, llm_call, set_price_table
from zgen_otel.testing import reset

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "pages"
_log = logging.getLogger("agent")


@zgen_otel.track("calculator")
def calculator(x: float) -> float:
    return 1 / x


@zgen_otel.track("planner")
def plan(i: int) -> None:
    """One agent step: an LLM call, a log line, a tool that fails one time in five."""
    with llm_call(model="demo-small", provider="demo") as call:
        call.set_usage(300 + i, 42)
    _log.warning("step %d: planned the next tool call for the calculator tool", i)
    try:
        calculator(0 if i % 5 == 0 else 1)
    except ZeroDivisionError:
        _log.exception("the calculator failed")


@pytest.fixture(autouse=True)
def _clean_runtime() -> Iterator[None]:
    """Replaces conftest's per-test reset: this module's tests share one runtime and one server (``site``)."""
    yield


class Site:
    """The served runtime: its server (stopped and started again by one test) and a recorded trace id."""

    def __init__(self, handle: ServerHandle, trace_id: str) -> None:
        self.handle = handle
        self.port = handle.port
        self.trace_id = trace_id

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/monitoring{path}"

    def pages(self) -> dict[str, str]:
        """Every page: name -> path under /monitoring."""
        names = [d.name for d in get_dashboard_manager().list_dashboards()]
        return {"index": "", **{n: f"/{n}" for n in names}, "trace": f"/traces/{self.trace_id}"}


def _record() -> str:
    """An agent's few minutes: tracked calls, LLM calls, a failing tool, logs, an alert; the id of a trace."""
    for i in range(60):
        plan(i)
        zgen_otel.record_metric("queue_depth", i % 7, "agent")
    for _ in range(5):
        with zgen_otel.track_context("index.refresh"):
            pass
    trigger_alert("calculator_failed", "the calculator tool divided by zero", AlertSeverity.ERROR, "tools")
    with zgen_otel.track_context("agent.turn") as span, zgen_otel.track_context("agent.step"):
        _log.warning("inside the traced turn")
    return format(span.get_span_context().trace_id, "032x")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The recorded runtime (MONITORING_INTERVAL 60 s), served on 127.0.0.1."""
    with pytest.MonkeyPatch.context() as env:
        for spec in ENV_VARS.values():
            env.delenv(spec.env, raising=False)
        env.setenv("ZGEN_OTEL_HOST_LOCK", str(tmp_path_factory.mktemp("lock") / "host.lock"))
        reset()
        zgen_otel.configure(interval=60, service_name="live-agent")
        set_price_table(PriceTable({"demo-small": (0.15, 0.60)}, currency="USD"))
        trace_id = _record()
        handle = zgen_otel.start_server(port=0)
        served = Site(handle, trace_id)
        try:
            yield served
        finally:
            served.handle.stop()
            reset()


def open_page(browser: Any, url: str, *, width: int = 1400, scheme: str = "light") -> tuple[Any, list[str]]:
    """A page at ``url`` in a ``width`` px wide window with the ``scheme`` colour setting, and its script errors."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    page.goto(url)
    return page, errors


def refreshes(page: Any) -> int:
    """How many times the live script has refreshed the page."""
    return int(page.evaluate("Number(document.body.dataset.refreshed || 0)"))


def wait_refreshed(page: Any, times: int = 2) -> None:
    """Wait until the page has refreshed ``times`` more times."""
    target = refreshes(page) + times
    page.locator(f"body[data-refreshed='{target}']").wait_for(state="attached", timeout=20_000)


# Every visible text, its colour and the background it is drawn on, as the contrast ratio of WCAG 2.x: what a
# reader with low vision sees. The background is what lies under the text's middle, top to bottom (a bar that a
# label overlaps counts), semi-transparent layers blended down to the first opaque one; the window must be as
# tall as the page, so that every text is under a point.
CONTRAST = """
() => {
  function rgba(text) {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) { return null; }
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, below) {
    const a = top[3] + below[3] * (1 - top[3]);
    if (!a) { return [0, 0, 0, 0]; }
    return [0, 1, 2].map(i => (top[i] * top[3] + below[i] * below[3] * (1 - top[3])) / a).concat([a]);
  }
  function background(el, node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    const r = range.getClientRects()[0] || el.getBoundingClientRect();
    const under = document.elementsFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    let stack = under.indexOf(el) >= 0 ? under.slice(under.indexOf(el)) : [];
    if (!stack.length) { for (let e = el; e; e = e.parentElement) { stack.push(e); } }  // not hit-testable
    const layers = [];
    for (const e of stack) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) { break; } }
    }
    let colour = [255, 255, 255, 1];  // the canvas under everything
    for (let i = layers.length - 1; i >= 0; i--) { colour = over(layers[i], colour); }
    return colour;
  }
  function luminance(c) {
    const [r, g, b] = c.slice(0, 3).map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  const seen = new Set(), low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || seen.has(el) || !node.textContent.trim()) { continue; }
    seen.add(el);
    if (el.closest("script, style, title, option, #tooltip")) { continue; }
    const style = getComputedStyle(el), box = el.getBoundingClientRect();
    if (style.visibility !== "visible" || !box.width || !box.height || !el.getClientRects().length) { continue; }
    const fill = el instanceof SVGElement ? style.fill : style.color;
    const bg = background(el, node), fg = over(rgba(fill) || [0, 0, 0, 1], bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05), size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) {
      const text = node.textContent.trim().slice(0, 40);
      low.push({text, ratio: Math.round(ratio * 100) / 100, fill, bg: bg.map(Math.round).join(",")});
    }
  }
  return low;
}
"""

# Numbers that wrap (``580⏎ms``): numeric cells and stat values whose text takes more than one line.
WRAPPED_NUMBERS = """
() => Array.from(document.querySelectorAll("td.num, .stat .v")).filter(el => {
  const range = document.createRange(); range.selectNodeContents(el);
  const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
  return tops.size > 1;
}).map(el => el.textContent.trim())
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1400, 800])
def test_every_page_fits_and_reads_at_any_width_in_both_themes(
    site: Site, browser: Any, width: int, scheme: str
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, path in site.pages().items():
        page, errors = open_page(browser, site.url(path), width=width, scheme=scheme)
        page.locator("#zgen-status").wait_for()
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (dark == "rgb(11, 17, 32)") == (scheme == "dark"), (name, dark)  # the theme follows the system
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width, f"{name} overflows at {width} px"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}-{scheme}.png"), full_page=True)
        page.click("#zgen-pause")  # the page stays as it is while it is measured
        height = page.evaluate("document.scrollingElement.scrollHeight")
        page.set_viewport_size({"width": width, "height": min(height, 16_000)})
        assert page.evaluate(CONTRAST) == [], f"{name}: text below WCAG AA contrast ({scheme}, {width} px)"
        assert page.evaluate(WRAPPED_NUMBERS) == [], f"{name}: numbers wrap at {width} px"
        assert errors == [], name
        page.close()


def test_the_theme_button_switches_and_is_remembered(site: Site, browser: Any) -> None:
    page, errors = open_page(browser, site.url("/system"), scheme="light")
    try:
        assert page.evaluate("document.documentElement.dataset.theme") is None  # the system's setting
        page.click("#zgen-theme")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(11, 17, 32)"
        page.goto(site.url("/alerts"))  # another page, the same browser: still dark, with a light system setting
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(11, 17, 32)"
        page.click("#zgen-theme")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(11, 17, 32)"
        assert errors == []
    finally:
        page.evaluate("localStorage.removeItem('zgen-theme')")
        page.close()


def test_a_refresh_keeps_the_sort_a_half_typed_filter_focus_scroll_and_open_details(site: Site, browser: Any) -> None:
    page, errors = open_page(browser, site.url("/performance?refresh=1"))
    rows = page.locator("section[data-panel=operations] tbody tr")
    default = [rows.nth(i).get_attribute("data-id") for i in range(rows.count())]
    calls = page.locator("section[data-panel=operations] th", has_text=re.compile(r"^calls$"))
    calls.click()
    calls.click()  # most calls first
    by_calls = [rows.nth(i).get_attribute("data-id") for i in range(rows.count())]
    counts = [int(c) for c in page.locator("section[data-panel=operations] tbody td:nth-child(2)").all_inner_texts()]
    assert by_calls != default and counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    wait_refreshed(page)
    assert [rows.nth(i).get_attribute("data-id") for i in range(rows.count())] == by_calls
    assert calls.get_attribute("aria-sort") == "descending"

    page.goto(site.url("/logs?refresh=1"))
    box = page.locator("#filters input[name=contains]")
    box.click()
    box.press_sequentially("calcula")
    page.mouse.wheel(0, 700)  # reading further down while typing
    wait_for(lambda: page.evaluate("scrollY") > 0, what="the logs page to scroll")
    scrolled = page.evaluate("scrollY")
    wait_refreshed(page)
    assert box.input_value() == "calcula"
    assert page.evaluate("[document.activeElement.name, document.activeElement.selectionStart]") == ["contains", 7]
    assert page.evaluate("scrollY") == scrolled
    box.press_sequentially("tor")  # typing goes on where it was
    assert box.input_value() == "calculator"

    page.goto(site.url(f"/traces/{site.trace_id}?refresh=1"))
    step = page.locator("details.span", has_text="agent.step")
    step.locator("summary").click()
    wait_refreshed(page)
    assert step.evaluate("d => d.open") is True
    assert errors == []
    page.close()


def test_the_data_age_advances_and_pause_stops_the_refresh(site: Site, browser: Any) -> None:
    page, errors = open_page(browser, site.url("/system?refresh=1"))
    status = page.locator("#zgen-status")
    wait_refreshed(page, 1)
    assert status.inner_text().startswith("updated")
    page.click("#zgen-pause")
    assert page.locator("#zgen-pause").inner_text() == "resume" and status.inner_text().startswith("paused")
    paused_at = refreshes(page)

    def age() -> int | None:
        found = re.search(r"updated (\d+) s ago", status.inner_text())
        return int(found.group(1)) if found else None

    first = wait_for(age, what="the data's age in seconds")
    later = wait_for(lambda: (a := age()) is not None and a >= first + 2 and a, what="the age to advance")
    assert later >= first + 2 and refreshes(page) == paused_at  # no refresh while paused
    page.click("#zgen-pause")
    wait_refreshed(page, 1)
    assert status.inner_text() == "updated just now" and errors == []
    page.close()


def test_a_stopped_server_shows_disconnected_and_the_page_recovers(site: Site, browser: Any) -> None:
    page, errors = open_page(browser, site.url("/alerts?refresh=1"))
    status = page.locator("#zgen-status")
    wait_refreshed(page, 1)
    assert site.handle.stop()
    page.locator("#zgen-status.down").wait_for(timeout=15_000)
    assert "disconnected" in status.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "alerts-disconnected.png"))
    before = refreshes(page)
    site.handle = zgen_otel.start_server(port=site.port)  # the same address again
    page.locator("body[data-live=live]").wait_for(timeout=30_000)
    assert refreshes(page) > before and status.inner_text().startswith("updated")
    assert "calculator_failed" in page.locator("section[data-panel=active]").inner_text()
    page.close()
    errors = [e for e in errors if "Failed to fetch" not in e and "ERR_CONNECTION_REFUSED" not in e]
    assert errors == []


def chart_data(page: Any, panel: str) -> dict[str, Any]:
    """The hover data of a panel's chart: its unit and its lines' points."""
    data: dict[str, Any] = json.loads(page.locator(f"section[data-panel={panel}] script.chart-data").text_content())
    return data


def test_a_system_chart_moves_while_the_page_is_open(site: Site, browser: Any) -> None:
    """MONITORING_INTERVAL is 60 s; while the page is open the monitor samples every 5 s."""
    page, errors = open_page(browser, site.url("/system?refresh=1"))

    def points() -> int:
        return sum(len(s["points"]) for s in chart_data(page, "cpu")["series"])

    first = points()
    wait_for(lambda: points() > first, timeout=12, what="a new CPU point on the open page")
    assert errors == []
    page.close()


def table_cell(page: Any, panel: str, row: str, column: str) -> str:
    """The text of ``column`` in the row of a panel's table whose first cell is ``row``."""
    headers = page.locator(f"section[data-panel={panel}] thead th").all_inner_texts()
    cells = page.locator(f"section[data-panel={panel}] tbody tr", has_text=row).first.locator("td")
    return str(cells.nth(headers.index(column)).inner_text())


def test_tables_and_charts_show_one_moment(site: Site, browser: Any) -> None:
    """Calls made a moment ago are in the performance table, its charts and the LLM table alike.

    The store collects every 60 s here: without the page's own collection the charts and the LLM table would
    lag the live table by up to a minute.
    """
    page, errors = open_page(browser, site.url("/performance"))
    before = int(table_cell(page, "operations", "planner", "calls"))
    for i in range(7):
        plan(i)
    made = time.time()
    page.reload()
    calls = table_cell(page, "operations", "planner", "calls")
    assert int(calls) == before + 7
    for chart in ("duration", "throughput"):
        planner = next(s for s in chart_data(page, chart)["series"] if s["label"] == "planner")
        assert planner["points"][-1][0] >= made - 1, chart  # the charts have the calls of a moment ago
    page.goto(site.url("/llm"))
    assert table_cell(page, "models", "demo-small", "calls") == calls  # one LLM call per planner call
    assert errors == []
    page.close()


def test_saved_pages_have_no_dead_links(site: Site, tmp_path: Path) -> None:
    """Dashboards written to files (as examples/agent_demo.py does) link only to pages saved beside them."""
    for dashboard in get_dashboard_manager().list_dashboards():
        (tmp_path / f"{dashboard.name}.html").write_text(render_dashboard(dashboard.name))
    (tmp_path / "index.html").write_text(render_dashboard_index())
    (tmp_path / "trace.html").write_text(render_trace(site.trace_id))
    checked = 0
    for saved in tmp_path.glob("*.html"):
        for href in re.findall(r'<a [^>]*href="([^"]*)"', saved.read_text()):
            target = href.split("#")[0].split("?")[0]
            assert not target or (tmp_path / target).is_file(), f"{saved.name} links to {href}, which is not saved"
            checked += 1
    assert checked >= len(get_dashboard_manager().list_dashboards())  # the index links every saved dashboard
