"""Legible pages: one formatter for every number, round ticks, key numbers, the metrics page, the network panel.

The index's key numbers and the metrics page's search and pages are checked in Chromium at 1400 and 800 px.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

import zgen_otel
from tests.support.servers import Server
from zgen_otel import semconv as sc
from zgen_otel.alerting import trigger_alert
from zgen_otel.dashboards.charts import PALETTE
from zgen_otel.dashboards.dashboard import render_dashboard, render_dashboard_index
from zgen_otel.dashboards.traces_logs import render_trace
from zgen_otel.http import make_app
from zgen_otel.llm import PriceTable, record_llm_usage, set_price_table
from zgen_otel.performance import track
from zgen_otel.system_monitor import get_system_metrics
from zgen_otel.testing import ManualClock
from zgen_otel.traces import get_recent_traces

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# a number written with an exponent (8.904e+04, 1.796e+09, 1e-05), not part of an id (span 5e5..., uuid 909e-4ecf)
EXPONENT = re.compile(r"(?<![0-9A-Za-z-])\d+(\.\d+)?[eE][+-]\d+(?![0-9A-Za-z-])")
DASHBOARDS = ("system", "performance", "alerts", "metrics", "llm", "traces", "logs")
WIDTHS = (1400, 800)
NETWORK = (sc.SYSTEM_NET_RECV.name, sc.SYSTEM_NET_SENT.name)  # the network panel's series
DASH = "\u2013"  # the en dash of "1-50 of 130 series"


@pytest.fixture
def realistic() -> ManualClock:
    """Ten minutes of an agent, on a manual clock, and three firing alerts.

    System samples, calls of 160 µs, 86 ms and 1.2 s (some failing), LLM calls with big token counts, priced and
    unpriced, and custom metrics (a timestamp among them).
    """
    clock = ManualClock(time.time() - 610)
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, clock=clock)
    rt = zgen_otel.get_runtime()
    set_price_table(PriceTable({"big-1": (3.0, 15.0)}))

    @track("tool.lookup")
    def lookup() -> None:
        clock.advance(0.00016)

    @track("llm.plan")
    def plan() -> None:
        clock.advance(0.086)

    @track("agent.step")
    def step(fail: bool) -> None:
        clock.advance(1.2)
        if fail:
            raise RuntimeError("step failed")

    for minute in range(10):
        get_system_metrics()
        for _ in range(20):
            lookup()
        for _ in range(5):
            plan()
        for i in range(2):
            with contextlib.suppress(RuntimeError):
                step(fail=minute % 3 == 0 and i == 0)
        record_llm_usage("big-1", 89_040, 12_000, provider="openai", duration=0.8)
        record_llm_usage("mystery-2", 1_200, 300, provider="other", duration=0.3)
        zgen_otel.record_metric("tokens_total", 8.904e4 * (minute + 1), "llm", unit="{token}")
        zgen_otel.record_metric("last_run", clock(), "task", unit="s")
        zgen_otel.record_metric("bytes_sent", 1.5e12 * (minute + 1), "io", unit="By")
        zgen_otel.record_metric("latency", 0.000154 * (minute + 1), "agent", attributes={"tool": "search"}, unit="s")
        rt.collect()
        clock.advance(55)
    clock.now = max(clock.now, time.time() + 1)  # the SDK dates collected histograms by the wall clock
    trigger_alert("disk_full", "disk / is 97% full", "error", "system")
    trigger_alert("budget", "LLM budget exceeded", "error", "llm")
    trigger_alert("slow", "slow responses", "warning")
    return clock


class Text(HTMLParser):
    """The text a browser shows of an HTML page (no scripts, styles or attributes); SVG tick labels by axis."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def pages() -> dict[str, str]:
    """Every page there is to read: each dashboard, the index, a metric's chart and a trace."""
    found = {name: render_dashboard(name) for name in DASHBOARDS}
    found["index"] = render_dashboard_index()
    found["metrics-chart"] = render_dashboard("metrics", metric="agent.latency")
    found["trace"] = render_trace(get_recent_traces(limit=1)[0]["trace_id"])
    return found


@pytest.mark.usefixtures("realistic")
def test_no_page_writes_a_number_with_an_exponent() -> None:
    assert EXPONENT.search("tokens 8.904e+04") and EXPONENT.search("at 1.796e+09 s")  # what the pages once wrote
    texts = {name: Text(html).text for name, html in pages().items()}
    for name, text in texts.items():
        assert not EXPONENT.search(text), (name, EXPONENT.findall(text), text[:2000])
    llm = texts["llm"]
    assert "890,400" in llm and "89,040" in texts["metrics"]  # tokens with separators
    assert re.search(r"\$\d+\.\d\d\b", llm) and "no price" in llm  # cost with currency; unpriced: no price
    performance = texts["performance"]
    assert all(d in performance for d in ("160 µs", "86 ms", "1.2 s")) and " 0 s " not in performance
    assert re.search(r"task\.last_run .*? \d\d:\d\d:\d\d ", texts["metrics"])  # a timestamp metric as a time
    assert "1.36 TiB" in texts["metrics"] and "154 µs" in texts["metrics"]
    for name in ("index", "system", "performance", "alerts", "metrics", "llm"):  # the service and the zone, once
        assert "service zgen-agent" in texts[name] and texts[name].count("times in ") == 1, name


def axis_labels(html: str) -> list[tuple[bool, list[str], list[str]]]:
    """For each chart of a page: whether its value axis is a log axis, its value labels and its time labels."""
    charts = []
    for svg in re.findall(r"<svg class=\"chart\".*?</svg>", html, re.S):
        values = re.findall(r'<text class="tick" x="58(?:\.0)?" y="[\d.]+" text-anchor="end">([^<]*)</text>', svg)
        times = re.findall(r'<text class="tick" x="[\d.]+" y="\d+" text-anchor="(?:start|middle|end)">([^<]*)<', svg)
        charts.append(('data-scale="log"' in svg, values, [t for t in times if t not in values]))
    return charts


def clock_seconds(label: str) -> int | None:
    """A tick label ``HH:MM`` or ``HH:MM:SS`` as seconds since midnight (None for any other label)."""
    m = re.fullmatch(r"(\d\d):(\d\d)(?::(\d\d))?", label)
    return None if m is None else int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3] or 0)


@pytest.mark.usefixtures("realistic")
def test_every_chart_has_round_ticks() -> None:
    html = {name: render_dashboard(name) for name in ("system", "performance", "llm")}
    seen_log = False
    for name, page in html.items():
        for log, values, times in axis_labels(page):
            numbers = [float(re.sub(r"[^0-9.\-]", "", v) or 0) for v in values]
            if log:  # decades: 100 µs, 1 ms, 10 ms...
                seen_log = True
                assert all(re.fullmatch(r"(1|10|100) (ns|µs|ms|s)|1,000 s|10,000 s", v) for v in values), values
            else:
                steps = {round(b - a, 9) for a, b in pairwise(numbers)}
                assert len(steps) == 1, (name, values)
                (step,) = steps
                mantissa = step / 10 ** int(f"{step:e}".split("e")[1])
                assert round(mantissa, 6) in (1, 2, 2.5, 5), (name, values)
            # minutes of data in an hour's window: the axis fits them, at round clock times, evenly
            seconds = [s for s in map(clock_seconds, times) if s is not None]
            assert len(seconds) == len(times) >= 3, (name, times)
            (step,) = {(b - a) % 86_400 for a, b in pairwise(seconds)}
            assert step in (5, 10, 15, 30, 60, 120, 300) and all(s % step == 0 for s in seconds), (name, times)
    assert seen_log  # the performance page's p95 chart: 160 µs, 86 ms and 1.2 s on one log axis


def test_network_panel_hides_idle_interfaces_and_has_more_than_eight_colours() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    store, now = zgen_otel.get_runtime().store, time.time()
    for i in range(5):
        for nic in ("ifb0", "ifb1"):
            for metric in NETWORK:
                store.add(metric, 0.0, (("interface", nic),), now - 50 + 10 * i, unit="By/s", category="system")
        for n in range(7):  # 14 busy lines
            for metric in NETWORK:
                store.add(metric, 1000.0 * (n + 1) + i, (("interface", f"eth{n}"),), now - 50 + 10 * i,
                          unit="By/s", category="system")  # fmt: skip
    doc = json.loads(render_dashboard("system", format="json"))
    (network,) = [p for p in doc["panels"] if p["id"] == "network"]
    assert {s["labels"]["interface"] for s in network["series"]} == {f"eth{n}" for n in range(7)}
    assert network["note"] == "not shown, idle for the whole window: ifb0, ifb1"
    html = render_dashboard("system")
    (svg,) = [s for s in re.findall(r'<section class="panel" data-panel="network".*?</section>', html, re.S)]
    lines = re.findall(
        r'<polyline class="line" fill="none" stroke="(#[0-9a-f]{6})" stroke-width="1.6"( stroke-dasharray="[^"]+")?',
        svg,
    )
    assert len(lines) == 14 and len({colour for colour, _ in lines}) == len(PALETTE) == 12  # 12 distinct colours
    assert [bool(dash) for _, dash in lines] == [False] * 12 + [True] * 2  # then dashed
    swatches = re.findall(r'class="swatch( dashed)?" style="--swatch: (#[0-9a-f]{6})"', svg)
    assert [(colour, bool(dash)) for dash, colour in swatches] == [(c, bool(d)) for c, d in lines]  # legend = lines


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(make_app())
    yield srv
    srv.stop()


def open_page(browser: Any, url: str, width: int) -> tuple[Any, list[str]]:
    """A page of ``url`` at ``width`` px, with the errors its scripts report."""
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def overflow(page: Any, selector: str) -> list[str]:
    """The elements under ``selector`` that reach past the window's right edge."""
    return page.locator(selector).evaluate_all(
        "els => els.filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.className || e.id)"
    )


@pytest.mark.usefixtures("realistic")
@pytest.mark.parametrize("width", WIDTHS)
def test_index_leads_with_the_key_numbers_in_chromium(browser: Any, server: Server, width: int) -> None:
    calls = sum(s.calls for s in zgen_otel.get_performance_stats(3600).values())
    errors_made = sum(s.errors for s in zgen_otel.get_performance_stats(3600).values())
    page, errors = open_page(browser, f"{server.url}/monitoring", width)
    shoot(page, f"legible-index-{width}")
    key = {k: page.locator(f"#key-{k} .v").inner_text() for k in ("alerts", "calls", "errors", "cpu", "memory")}
    assert key["alerts"] == "3" and key["calls"] == f"{calls:,}" and calls == 270
    assert key["errors"] == f"{errors_made / calls * 100:.3g} %" and errors_made == 4
    assert re.fullmatch(r"\d+(\.\d+)? %", key["cpu"]) and re.fullmatch(r"\d+(\.\d+)? %", key["memory"])
    severities = page.locator("#key-alerts .sev-count").all_inner_texts()
    assert severities == ["critical 0", "error 2", "warning 1", "info 0"]
    assert page.locator("#key-alerts .sev-error").count() == 1  # coloured when some fire
    assert page.locator("header #zgen-service").inner_text() == "service zgen-agent"
    page.click("#key-alerts")  # each number opens its dashboard
    page.wait_for_url("**/monitoring/alerts")
    assert page.locator("header #zgen-service").inner_text() == "service zgen-agent"
    assert errors == []
    page.close()


@pytest.mark.usefixtures("realistic")
@pytest.mark.parametrize("width", WIDTHS)
def test_the_dashboards_draw_their_numbers_in_chromium(browser: Any, server: Server, width: int) -> None:
    """Every built-in dashboard with realistic data, as the browser shows it: no exponent, a log axis for the p95."""
    for name in DASHBOARDS:
        page, errors = open_page(browser, f"{server.url}/monitoring/{name}", width)
        shoot(page, f"legible-{name}-{width}")
        text = page.locator("body").inner_text()
        assert errors == [] and not EXPONENT.search(text), (name, EXPONENT.findall(text))
        if name == "performance":
            p95 = page.locator("section[data-panel=p95]")
            assert p95.locator("svg.chart").get_attribute("data-scale") == "log"
            assert {"100 µs", "1 ms", "1 s"} <= set(p95.locator("text.tick").all_text_contents())
            assert "log scale" in p95.locator(".note").inner_text()
        page.close()


@pytest.mark.usefixtures("realistic")
def test_every_dashboard_page_names_its_service_and_zone(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for name in ("system", "performance", "alerts", "metrics", "llm"):
            text = Text(client.get(f"/monitoring/{name}").text).text
            assert "service zgen-agent" in text and text.count("times in ") == 1, name


def fill_metrics(count: int = 130) -> None:
    """``count`` series: metrics alpha.* and beta.* over three categories, with attributes."""
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    for i in range(count):
        name = ("alpha", "beta")[i % 2] + f".m{i % 13}"
        category = ("agent", "llm", "jobs")[i % 3]
        zgen_otel.record_metric(name, float(i), category, attributes={"shard": str(i)}, unit="{item}")


@pytest.mark.parametrize("width", WIDTHS)
def test_metrics_page_searches_filters_pages_and_opens_a_chart_in_chromium(
    browser: Any, server: Server, width: int
) -> None:
    fill_metrics()
    page, errors = open_page(browser, f"{server.url}/monitoring/metrics", width)
    count = page.locator("main .pager .count").first
    assert count.inner_text() == f"1{DASH}50 of 130 series" and page.locator("main tbody tr").count() == 50
    shoot(page, f"legible-metrics-{width}")
    page.locator("main .pager a[rel=next]").first.click()
    page.wait_for_url("**page=2**")
    assert count.inner_text() == f"51{DASH}100 of 130 series"
    page.fill("#metric-filters input[name=search]", "alpha m3")  # words, in any order of name and attributes
    page.press("#metric-filters input[name=search]", "Enter")
    page.wait_for_url("**search=alpha+m3**")
    names = page.locator("main tbody tr td:first-child").all_inner_texts()
    assert len(names) == 5 and set(names) == {"agent.alpha.m3", "llm.alpha.m3", "jobs.alpha.m3"}
    assert count.inner_text() == f"1{DASH}5 of 5 series (130 in all)"
    page.select_option("#metric-filters select[name=category]", "llm")  # the filter submits on change
    page.wait_for_url("**category=llm**")
    assert set(page.locator("main tbody tr td:first-child").all_inner_texts()) == {"llm.alpha.m3"}
    page.locator("main tbody a.metric").first.click()  # a click opens the metric as a full chart
    page.wait_for_url("**metric=llm.alpha.m3**")
    chart = page.locator("section[data-panel=chart]")
    shown = len(zgen_otel.get_runtime().store.series("llm.alpha.m3"))
    assert chart.locator("h2").inner_text() == "llm.alpha.m3" and chart.locator("svg.chart circle").count() == shown
    assert overflow(page, "header, .toolbar, .pager, section.panel") == []
    shoot(page, f"legible-metrics-chart-{width}")
    page.click("text=close the chart")
    page.wait_for_url(re.compile(r"^(?!.*metric=).*$"))
    assert page.locator("section[data-panel=chart]").count() == 0 and errors == []
    page.close()


def test_metrics_json_pages_and_bad_options(server: Server) -> None:
    fill_metrics()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        doc = client.get("/api/monitoring/dashboard/metrics", params={"page": 3, "search": "beta"}).json()
        listing = doc["listing"]
        assert (listing["page"], listing["pages"], listing["matched"], listing["total"]) == (2, 2, 65, 130)
        assert listing["categories"] == ["agent", "jobs", "llm"] and listing["links"]["next"] is None
        rows = [r for p in doc["panels"] for r in p["rows"]]
        assert len(rows) == 15 and all(".beta." in r[0] for r in rows)  # the second page: 50 + 15 of 65
        bad = client.get("/monitoring/system", params={"page": 2})
        assert bad.status_code == 422 and "unknown dashboard option(s) ['page']" in bad.text
        assert client.get("/monitoring/metrics", params={"page": 0}).status_code == 422
    with pytest.raises(ValueError, match="page_size must be a whole number from 1 to 500; got 501"):
        render_dashboard("metrics", page_size=501)


def test_no_chart_draws_a_point_after_now_or_before_its_axis(realistic: ManualClock) -> None:
    """Binned charts (p95, error rate) put the running bin's point at now, not in the future past the axis."""
    realistic.now = math.ceil(realistic.now / 60) * 60 + 1  # just past a bin's start: its middle is still to come
    zgen_otel.track("late")(lambda: None)()  # a call in the running bin
    for name in DASHBOARDS:
        doc = json.loads(render_dashboard(name, format="json"))
        start, end = doc["time_range"]["start"], doc["time_range"]["end"]
        for panel in doc["panels"]:
            for series in panel.get("series", ()) if panel.get("type") == "timeseries" else ():
                times = [t for t, _ in series["points"]]
                assert all(start <= t <= end for t in times), (name, panel["id"], series["label"])
    performance = json.loads(render_dashboard("performance", format="json"))
    (p95,) = [p for p in performance["panels"] if p["id"] == "p95"]
    assert all(len(s["points"]) >= 5 for s in p95["series"] if s["label"] != "late")  # ten minutes of calls
