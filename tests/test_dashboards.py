"""Dashboards: HTML that real Chromium draws without errors, a stable JSON schema, custom ones, escaping."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import zgen_otel
from zgen_otel import semconv as sc
from zgen_otel.alerting import get_alert_manager, trigger_alert
from zgen_otel.dashboards.dashboard import (
    Dashboard,
    get_dashboard_manager,
    render_dashboard,
    render_dashboard_index,
)
from zgen_otel.dashboards.rendering import make_environment
from zgen_otel.exceptions import DefinitionError, NotFoundError
from zgen_otel.llm import PriceTable, llm_call, set_price_table
from zgen_otel.performance import get_performance_stats, track
from zgen_otel.system_monitor import get_system_metrics
from zgen_otel.testing import ManualClock

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
BUILTIN = ("system", "performance", "alerts", "metrics", "llm")
# "<!--<script>" left raw inside a <script> element would make the browser swallow the page after it
XSS = [
    "<script>window.__xss = 1</script>",
    '"><img src=x onerror="window.__xss = 2">',
    "</script><b>x</b>",
    "<!--<script>",
]
UNIT = "<script>window.__xss = 3</script>"  # a valid unit: any ASCII of at most 63 characters


@pytest.fixture
def populated() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    for _ in range(3):
        get_system_metrics()
        time.sleep(0.12)

    @track("agent.plan")
    def plan() -> None:
        pass

    @track("agent.tool")
    def tool() -> None:
        raise RuntimeError("tool failed")

    for _ in range(5):
        plan()
        with pytest.raises(RuntimeError):
            tool()
    for i in range(20):
        zgen_otel.record_metric("tokens", 100 + i, "llm", attributes={"model": "m1"}, unit="{token}")
    set_price_table(PriceTable({"small-1": (0.15, 0.6)}))
    with llm_call(model="small-1", provider="openai") as call:
        call.set_usage(input_tokens=1000, output_tokens=200)
    with pytest.raises(TimeoutError), llm_call(model="small-1"):
        raise TimeoutError
    zgen_otel.get_runtime().collect()
    mgr = get_alert_manager()
    mgr.add_metric_rule("tokens_high", "many tokens", "llm.tokens", threshold=110)
    trigger_alert("disk_full", "disk / is 97% full", "critical", "system", {"percent": 97})


def open_page(browser: Any, html: str, name: str) -> tuple[Any, list[str]]:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.html"
    path.write_text(html)
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return page, errors


def panel(doc: dict[str, Any], panel_id: str) -> dict[str, Any]:
    """The panel ``panel_id`` of a dashboard's JSON document."""
    (found,) = [p for p in doc["panels"] if p.get("id") == panel_id]
    return found


def rows_by_key(table: dict[str, Any], key: str | None = None) -> dict[str, dict[str, Any]]:
    """A table panel's rows as {the cell in column ``key`` (default: the first): {column: cell}}."""
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]
    return {row[key or table["columns"][0]]: row for row in rows}


def column(page: Any, panel_id: str, index: int) -> list[str]:
    """The texts of one column of a panel's table, top to bottom, as drawn."""
    cells = page.locator(f"section[data-panel={panel_id}] tbody tr td:nth-child({index + 1})")
    return [t.strip() for t in cells.all_inner_texts()]


def sort_by(page: Any, panel_id: str, header: str) -> None:
    """Click the header ``header`` (exactly) of a panel's table."""
    page.locator(f"section[data-panel={panel_id}] th").filter(has_text=re.compile(f"^{re.escape(header)}$")).click()


def chart_data(page: Any, panel_id: str) -> dict[str, Any]:
    """The hover data the page holds for a panel's chart (what the tooltip reads)."""
    text = page.locator(f"section[data-panel={panel_id}] script.chart-data").text_content()
    return json.loads(text)


SYSTEM_PANELS = {"cpu": "%", "memory": "%", "disk": "%", "disk_io": "By/s", "network": "By/s", "process_cpu": "%",
                 "process_memory": "By"}  # fmt: skip


def drawn_lines(section: Any) -> list[str]:
    """The ``points`` of every line a section's chart drew."""
    return section.locator("svg.chart polyline").evaluate_all("ls => ls.map(l => l.getAttribute('points'))")


@pytest.mark.usefixtures("populated")
@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_dashboards_draw_in_chromium(browser: Any, name: str) -> None:
    page, errors = open_page(browser, render_dashboard(name, format="html"), f"dashboard-{name}")
    assert errors == []
    assert page.title() == get_dashboard_manager().get_dashboard(name).title
    if name == "alerts":
        assert "disk / is 97% full" in page.locator("section[data-panel=active]").inner_text()
        assert "tokens_high" in page.locator("section[data-panel=rules]").inner_text()
        assert page.locator("button[data-action]").count() == 0  # actions only on the web page
        served = render_dashboard("alerts", interactive=True)
        assert served.count('data-action="acknowledge"') == 1 and served.count('data-action="resolve"') == 1
    else:  # every other built-in has charts (sparklines on metrics), and they drew lines
        points = page.locator("svg polyline").evaluate_all("ls => ls.map(l => l.getAttribute('points'))")
        assert points and all(p.strip() for p in points)
    page.close()


@pytest.mark.usefixtures("populated")
@pytest.mark.parametrize("name", BUILTIN)
def test_json_schema_of_builtins(name: str) -> None:
    text = render_dashboard(name, format="json", window_seconds=600)
    assert isinstance(text, str)
    doc = json.loads(text)
    assert {"name", "title", "description", "generated_at", "time_range", "panels"} <= set(doc)
    assert doc["name"] == name and doc["time_range"]["window_seconds"] == 600
    assert doc["time_range"]["end"] - doc["time_range"]["start"] == pytest.approx(600)
    assert doc["panels"]
    for panel in doc["panels"]:
        assert panel["type"] in ("timeseries", "stats", "table") and "title" in panel
        if panel["type"] == "timeseries":
            assert "unit" in panel
            for s in panel["series"]:
                assert set(s) >= {"label", "points", "stats"} and len(s["points"]) <= 1000
                assert set(s["stats"]) == {"latest", "avg", "min", "max"}
                assert all(len(p) == 2 for p in s["points"])
        if panel["type"] == "table":
            assert all(len(r) == len(panel["columns"]) for r in panel["rows"])


def test_long_series_are_downsampled() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, max_raw_points=100_000)
    now = time.time()
    for i in range(8640):  # 24 h of 10-second points
        zgen_otel.record_metric("cpu_percent", float(i % 100), "system", timestamp=now - 86_400 + i * 10)
    doc = json.loads(render_dashboard("system", format="json", window_seconds=86_400))
    (cpu,) = [p for p in doc["panels"] if p.get("id") == "cpu"]
    (series,) = cpu["series"]
    assert len(series["points"]) == 1000 and series["stats"]["max"] == 99


class TokenBudget(Dashboard):
    name = "budget"
    title = "Token budget"
    description = "Tokens against a budget"

    def get_data(self, window_seconds: float = 3600, budget: int = 1000) -> dict[str, Any]:
        used = sum(p.value for p in zgen_otel.get_metric_history("llm.tokens"))
        return {
            "panels": [{"id": "use", "type": "stats", "title": "Use", "items": [
                {"label": "used", "value": used, "unit": "{token}"},
                {"label": "budget", "value": budget, "unit": "{token}"}]}],
            "over_budget": used > budget,
        }  # fmt: skip


def test_custom_dashboard_in_both_formats(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False)
    zgen_otel.record_metric("tokens", 700, "llm")
    manager = get_dashboard_manager()
    manager.register_dashboard(TokenBudget(), replace=True)
    doc = json.loads(render_dashboard("budget", format="json", budget=500))
    assert doc["over_budget"] is True and doc["panels"][0]["items"][1]["value"] == 500
    page, errors = open_page(browser, render_dashboard("budget", budget=500), "dashboard-custom")
    assert errors == [] and "700" in page.inner_text("section") and "over_budget" in page.inner_text("body")
    page.close()
    index, errors = open_page(browser, render_dashboard_index(), "dashboard-index")
    assert errors == []
    link = index.locator("a", has_text="Token budget")
    assert link.get_attribute("href") == "budget.html"
    assert "Tokens against a budget" in index.inner_text("body")
    assert {a.get_attribute("href") for a in index.locator("a").all()} >= {f"{n}.html" for n in BUILTIN}
    index.close()
    with pytest.raises(ValueError, match="unknown dashboard option"):
        render_dashboard("budget", colour="red")
    with pytest.raises(ValueError, match="a dashboard named 'budget' exists"):
        manager.register_dashboard(TokenBudget())
    assert manager.unregister_dashboard("budget")


def test_a_subclass_may_implement_only_get_data_without_options() -> None:
    class Minimal(Dashboard):
        name = "minimal"

        def get_data(self) -> dict[str, Any]:  # type: ignore[override]
            return {"answer": 42}

    manager = get_dashboard_manager()
    manager.register_dashboard(Minimal())
    assert json.loads(render_dashboard("minimal", format="json"))["answer"] == 42
    assert "42" in render_dashboard("minimal")


def test_get_data_may_take_the_runtime_and_a_dashboard_registered_before_configure_stays() -> None:
    seen: list[Any] = []

    class Probe(Dashboard):
        name = "probe"

        def get_data(self, window_seconds: float = 3600, *, runtime: Any = None) -> dict[str, Any]:
            seen.append(runtime)
            return {"window": window_seconds}

    get_dashboard_manager().register_dashboard(Probe())
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    rt = zgen_otel.get_runtime()
    assert json.loads(render_dashboard("probe", format="json"))["window"] == 3600
    assert "probe" in render_dashboard("probe", runtime=rt)
    assert seen == [rt, rt]
    zgen_otel.testing.reset()  # forgets the custom dashboard; the built-in ones stay
    assert {d.name for d in get_dashboard_manager().list_dashboards()} == {*BUILTIN, "traces", "logs"}


def test_windows_follow_the_runtime_clock() -> None:
    clock = ManualClock(1_000_000.0)
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, clock=clock)
    zgen_otel.record_metric("tokens", 5, "llm")
    clock.advance(120)
    zgen_otel.record_metric("tokens", 7, "llm")
    for name in (*BUILTIN, "traces", "logs"):
        doc = json.loads(render_dashboard(name, format="json", window_seconds=60))
        assert doc["time_range"] == {"start": clock.now - 60, "end": clock.now, "window_seconds": 60}, name
        assert doc["generated_at"] == "1970-01-12T13:48:40Z", name
    (table,) = json.loads(render_dashboard("metrics", format="json", window_seconds=60))["panels"]
    assert [row[3] for row in table["rows"]] == [7]  # the latest value; the one 2 minutes ago is out of the window
    index = render_dashboard_index()  # the page says the local time, with the date as it is not today
    assert 'datetime="1970-01-12T13:48:40Z">' + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(clock.now)) in index


def test_an_environment_for_another_package_has_the_filters_and_the_shared_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "pages_pkg"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    page = '{% include "_style.html" %}<p>{{ text }} {{ 0.25 | value("s") }} {{ 1500 | ms }} {{ 0 | clock }}</p>'
    (package / "templates" / "page.html").write_text(page)
    monkeypatch.syspath_prepend(str(tmp_path))
    html = make_environment("pages_pkg").get_template("page.html").render(text=XSS[0])
    epoch = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(0))  # local time, dated: not today
    assert "<style>" in html and html.endswith(
        f"<p>&lt;script&gt;window.__xss = 1&lt;/script&gt; 250 ms 1.5 s {epoch}</p>"
    )


def test_bad_names_formats_and_windows() -> None:
    with pytest.raises(KeyError) as err:
        render_dashboard("nope")
    assert "available" in str(err.value) and "system" in str(err.value)
    assert isinstance(err.value, NotFoundError)
    with pytest.raises(DefinitionError, match="a dashboard named 'system' exists"):
        get_dashboard_manager().register_dashboard(Dashboard("system"))
    with pytest.raises(DefinitionError, match="dashboard name must be a non-empty str"):
        Dashboard(" ")
    with pytest.raises(ValueError, match="format must be one of html, json; got 'xml'"):
        render_dashboard("system", format="xml")
    with pytest.raises(ValueError, match="window_seconds"):
        render_dashboard("system", window_seconds=-5)
    with pytest.raises(TypeError):
        get_dashboard_manager().register_dashboard("system")  # type: ignore[arg-type]


def test_traces_and_logs_take_a_window_longer_than_the_epoch() -> None:
    """A window reaching before 1970 starts at the epoch, as on every other dashboard (no ``since < 0`` error)."""
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)

    @track("agent.ancient")
    def call() -> None:
        logging.getLogger("agent.ancient").warning("still here")

    call()
    for name, key in (("traces", "traces"), ("logs", "logs")):
        doc = json.loads(render_dashboard(name, format="json", window_seconds=1e10))
        assert doc["time_range"]["start"] == 0.0 and doc[key], name
        assert "<!DOCTYPE html>" in render_dashboard(name, window_seconds=1e10)


def test_every_user_string_is_escaped(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    for payload in XSS:
        zgen_otel.record_metric("probe", 1, "xss", attributes={"label": payload})
        trigger_alert("probe", payload, "error", details={"d": payload}, labels={"l": payload})
    zgen_otel.record_metric("unit_probe", 1, "xss", unit=UNIT)
    get_alert_manager().add_metric_rule("probe_rule", XSS[1], "xss.probe", threshold=0)

    class Hostile(Dashboard):
        name = "hostile"
        title = XSS[0]
        description = XSS[1]

        def get_data(self, window_seconds: float = 3600) -> dict[str, Any]:
            now = time.time()
            stats = {"latest": 2, "avg": 1.5, "min": 1, "max": 2}
            series = [{"label": p, "points": [[now - 60, 1], [now, 2]], "stats": stats} for p in XSS]
            return {"panels": [
                {"id": "t", "type": "table", "title": XSS[2], "columns": [XSS[0]], "rows": [[XSS[1]]], "note": XSS[3]},
                {"id": "c", "type": "timeseries", "title": XSS[0], "unit": UNIT, "series": series},
                {"id": "s", "type": "stats", "title": XSS[1], "items": [{"label": XSS[0], "value": 1, "unit": UNIT}]},
            ], "note": XSS[0]}  # fmt: skip

    get_dashboard_manager().register_dashboard(Hostile())
    for name in (*BUILTIN, "hostile"):
        html = render_dashboard(name)
        for payload in (*XSS, UNIT):
            assert payload not in html
        page, errors = open_page(browser, html, f"xss-{name}")
        if name == "hostile":  # the chart, its axis, legend, hover data and the stats show the unit as text
            chart = page.locator("section[data-panel=c]")
            assert len(drawn_lines(chart)) == len(XSS) and UNIT in chart.locator(".legend").inner_text()
            assert chart_data(page, "c")["unit"] == UNIT and UNIT in page.locator("section[data-panel=s]").inner_text()
            chart.locator("svg.chart").hover()
            assert UNIT in page.locator("#tooltip").inner_text()
        if name == "metrics":
            assert UNIT in page.locator("section[data-panel=category-xss]").inner_text()
        assert page.evaluate("window.__xss === undefined") and errors == []
        page.close()
    index = render_dashboard_index()
    assert XSS[0] not in index and XSS[1] not in index


def busy_interfaces(snap: dict[str, Any]) -> list[str]:
    """The network interfaces of a system snapshot with a reading other than 0 in the store (the others are idle)."""
    store = zgen_otel.get_runtime().store
    return [nic for nic in snap["network"] if any(
        p.value for name in (sc.SYSTEM_NET_RECV.name, sc.SYSTEM_NET_SENT.name)
        for s in store.series(name, {"interface": nic}) for p in s.points(0, time.time() + 1))]  # fmt: skip


def test_system_dashboard_panel_by_panel(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    for _ in range(3):
        snap = get_system_metrics()
        time.sleep(0.12)
    expected = {
        "cpu": {"all cores"} | {f"core {i}" for i in range(len(snap["cpu"]["per_core"]))},
        "memory": {"memory", "swap"},
        "disk": set(snap["disks"]),
        "disk_io": {f"{way} {dev}" for dev in snap["disk_io"] for way in ("read", "write")},
        "network": {f"{way} {nic}" for nic in busy_interfaces(snap) for way in ("in", "out")},
        "process_cpu": {"CPU"},
        "process_memory": {"RSS"},
    }
    assert expected["disk"] and expected["disk_io"] and snap["network"]
    doc = json.loads(render_dashboard("system", format="json"))
    assert [p["id"] for p in doc["panels"]] == ["now", *SYSTEM_PANELS]  # no GPU here, so no gpu panel
    latest = {}
    for pid, unit in SYSTEM_PANELS.items():
        p = panel(doc, pid)
        assert p["unit"] == unit and {s["label"] for s in p["series"]} == expected[pid], pid
        assert all(len(s["points"]) >= 2 for s in p["series"]), pid  # a time series, not one reading
        latest.update({(pid, s["label"]): s["stats"]["latest"] for s in p["series"]})
    mount = next(iter(snap["disks"]))
    dev, io = next(iter(snap["disk_io"].items()))
    busy = busy_interfaces(snap)
    idle = sorted(set(snap["network"]) - set(busy))  # left out, and named in the panel's note
    assert panel(doc, "network").get("note") == (f"not shown, idle for the whole window: {', '.join(idle)}" if idle
                                                 else None)  # fmt: skip
    for nic in busy[:1]:
        net = snap["network"][nic]
        assert (latest["network", f"in {nic}"], latest["network", f"out {nic}"]) == (
            net["recv_bytes_per_s"], net["sent_bytes_per_s"])  # fmt: skip
    assert (
        latest["cpu", "all cores"] == snap["cpu"]["percent"] and latest["cpu", "core 0"] == snap["cpu"]["per_core"][0]
    )
    assert (latest["memory", "memory"], latest["memory", "swap"]) == (
        snap["memory"]["percent"],
        snap["swap"]["percent"],
    )
    assert latest["disk", mount] == snap["disks"][mount]["percent"]
    assert (latest["disk_io", f"read {dev}"], latest["disk_io", f"write {dev}"]) == (
        io["read_bytes_per_s"], io["write_bytes_per_s"])  # fmt: skip
    assert latest["process_cpu", "CPU"] == snap["process"]["cpu_percent"]
    assert latest["process_memory", "RSS"] == snap["process"]["rss_bytes"]
    now = {item["label"]: item["value"] for item in panel(doc, "now")["items"]}
    assert (now["CPU"], now["memory"], now["swap"]) == (
        snap["cpu"]["percent"], snap["memory"]["percent"], snap["swap"]["percent"])  # fmt: skip

    page, errors = open_page(browser, render_dashboard("system"), "dashboard-system-panels")
    assert errors == []
    for pid, unit in SYSTEM_PANELS.items():
        section = page.locator(f"section[data-panel={pid}]")
        assert section.locator("svg.chart").get_attribute("data-unit") == unit
        lines = drawn_lines(section)
        assert len(lines) == len(expected[pid]) and all(len(line.split()) >= 2 for line in lines), pid
        legend = section.locator(".legend").inner_text()
        assert all(label in legend for label in expected[pid]), pid
    ticks = page.locator("section[data-panel=network] svg.chart text.tick").all_text_contents()
    # the hour's window holds seconds of data: the time axis fits them (a minute), at round seconds
    clock_ticks = [t for t in ticks if re.fullmatch(r"\d\d:\d\d:\d\d", t)]
    assert len(clock_ticks) >= 3 and all(int(t[-2:]) % 5 == 0 for t in clock_ticks), ticks
    assert any(t.endswith("B/s") for t in ticks)  # the value axis carries the unit
    page.locator("section[data-panel=cpu] svg.chart").hover()
    tip = page.locator("#tooltip").inner_text()
    assert "all cores: " in tip and "core 0: " in tip and "%" in tip  # hover values
    page.close()


def test_gpu_panel_appears_with_gpu_series_only(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    get_system_metrics()
    assert "gpu" not in {p["id"] for p in json.loads(render_dashboard("system", format="json"))["panels"]}
    assert 'data-panel="gpu"' not in render_dashboard("system")
    # No NVIDIA GPU here: store what the system monitor keeps for each GPU (zgen_otel.system.nvml.Nvml.read).
    store, now = zgen_otel.get_runtime().store, time.time()
    for gpu in (0, 1):
        for i in range(3):
            key, ts = (("gpu", str(gpu)),), now - 20 + 10 * i
            store.add("system.gpu_percent", 40.0 + 10 * gpu + i, key, ts, unit="%", category="system")
            store.add("system.gpu_memory_percent", 70.0 + gpu, key, ts, unit="%", category="system")
    gpu_panel = panel(json.loads(render_dashboard("system", format="json")), "gpu")
    assert gpu_panel["unit"] == "%"
    assert {s["label"]: s["stats"]["latest"] for s in gpu_panel["series"]} == {
        "GPU 0": 42.0, "GPU 1": 52.0, "memory 0": 70.0, "memory 1": 71.0}  # fmt: skip
    page, errors = open_page(browser, render_dashboard("system"), "dashboard-system-gpu")
    section = page.locator("section[data-panel=gpu]")
    assert errors == [] and [len(line.split()) for line in drawn_lines(section)] == [3, 3, 3, 3]
    assert "GPU 1" in section.locator(".legend").inner_text()
    page.close()


def test_performance_rows_charts_and_sorting(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)

    @track("a.fail")
    def fail() -> None:
        raise ValueError("boom")

    @track("b.slow")
    def slow() -> None:
        time.sleep(0.05)

    @track("c.fast")
    def fast() -> None:
        pass

    def run(fn: Callable[[], None], times: int) -> None:
        for _ in range(times):
            with contextlib.suppress(ValueError):
                fn()

    run(fail, 2), run(slow, 1), run(fast, 1)
    zgen_otel.get_runtime().collect()
    time.sleep(0.01)  # the store keeps milliseconds: two collections within one would be one point of the chart
    run(fail, 1), run(fast, 1)
    zgen_otel.get_runtime().collect()
    doc = json.loads(render_dashboard("performance", format="json"))
    stats = get_performance_stats()
    table = panel(doc, "operations")
    assert table["columns"][:11] == ["operation", "calls", "errors", "error rate", "mean", "p50", "p95", "p99", "max",
                                     "calls/min", "last call"]  # fmt: skip
    rows = rows_by_key(table)
    assert list(rows) == ["a.fail", "b.slow", "c.fast"] and table["highlight"] == [0]  # the failing one stands out
    assert {n: (r["calls"], r["errors"], r["error rate"]) for n, r in rows.items()} == {
        "a.fail": (3, 3, 1.0), "b.slow": (1, 0, 0.0), "c.fast": (2, 0, 0.0)}  # fmt: skip
    for name, row in rows.items():
        st = stats[name]
        assert [row[c] for c in ("mean", "p50", "p95", "p99", "max")] == [st.mean, st.p50, st.p95, st.p99, st.max]
        assert row["calls/min"] == pytest.approx(st.calls_per_minute, rel=0.25) and row["calls/min"] > 0
        assert row["last call"] == time.strftime("%H:%M:%S", time.localtime(st.last_call))
    assert rows["b.slow"]["p50"] >= 0.05 and rows["c.fast"]["max"] < 0.05
    throughput = {s["label"]: [v for _, v in s["points"]] for s in panel(doc, "throughput")["series"]}
    # calls in the minute up to each collection: the two collections lie within a minute
    assert throughput == {"a.fail": [2.0, 3.0], "b.slow": [1.0], "c.fast": [1.0, 2.0]}
    durations = {s["label"]: s["stats"] for s in panel(doc, "duration")["series"]}
    assert durations["b.slow"]["min"] >= 0.05 and durations["c.fast"]["max"] < 0.05

    page, errors = open_page(browser, render_dashboard("performance"), "dashboard-performance-sorted")
    assert errors == []
    assert column(page, "operations", 0) == ["a.fail", "b.slow", "c.fast"]
    sort_by(page, "operations", "calls")
    assert column(page, "operations", 0) == ["b.slow", "c.fast", "a.fail"]  # 1, 2, 3 calls
    sort_by(page, "operations", "calls")
    assert column(page, "operations", 0) == ["a.fail", "c.fast", "b.slow"]  # and back: 3, 2, 1
    sort_by(page, "operations", "mean")
    assert column(page, "operations", 0)[-1] == "b.slow"
    sort_by(page, "operations", "operation")
    sort_by(page, "operations", "operation")
    assert column(page, "operations", 0) == ["c.fast", "b.slow", "a.fail"]  # text columns sort too
    bad = page.locator("section[data-panel=operations] tr.bad")
    assert bad.count() == 1 and bad.locator("td").first.inner_text() == "a.fail"
    colour = "r => getComputedStyle(r.cells[0]).color"
    assert bad.evaluate(colour) != page.locator("section[data-panel=operations] tr:not(.bad)").first.evaluate(colour)
    assert bad.locator("td").nth(3).inner_text() == "100 %"  # error rate
    for pid in ("duration", "throughput"):
        assert len(drawn_lines(page.locator(f"section[data-panel={pid}]"))) == 3
    assert {s["label"]: s["points"][-1][1] for s in chart_data(page, "throughput")["series"]} == {
        "a.fail": 3, "b.slow": 1, "c.fast": 2}  # fmt: skip  # every call, within the minute up to the last point
    assert any(t.endswith(" ms") for t in page.locator("section[data-panel=duration] text.tick").all_text_contents())
    page.close()


def test_alerts_dashboard_counts_states_and_history(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    mgr = get_alert_manager()
    mgr.add_metric_rule("queue_idle", "queue very deep", "jobs.queue", threshold=100)
    mgr.add_metric_rule("queue_pending", "queue deep for an hour", "jobs.queue", threshold=1, duration=3600)
    mgr.add_metric_rule("queue_firing", "queue not empty", "jobs.queue", threshold=1, severity="error")
    zgen_otel.record_metric("queue", 5, "jobs")
    trigger_alert("db_down", "database unreachable", "critical")
    disk = trigger_alert("disk_full", "disk / is full", "critical")
    trigger_alert("slow", "slow responses", "warning")
    trigger_alert("deploy", "deploy finished", "info")
    flaky = trigger_alert("flaky", "flaky check", "warning")
    mgr.acknowledge_alert(disk.id, by="alice")
    mgr.resolve_alert(flaky.id)

    doc = json.loads(render_dashboard("alerts", format="json"))
    one_each = {
        "firing · critical": 1,
        "firing · error": 1,
        "firing · warning": 1,
        "firing · info": 1,
        "acknowledged": 1,
    }
    assert {i["label"]: i["value"] for i in panel(doc, "summary")["items"]} == one_each
    active = panel(doc, "active")
    by_name = rows_by_key(active, "name")
    assert set(by_name) == {"db_down", "disk_full", "slow", "deploy", "queue_firing"}
    assert by_name["disk_full"]["status"] == "acknowledged" and by_name["queue_firing"]["value"] == 5.0
    assert {active["rows"][i][1] for i in active["highlight"]} == set(by_name) - {"disk_full"}  # firing ones
    rules = rows_by_key(panel(doc, "rules"), "rule")
    assert {n: (r["state"], r["last value"]) for n, r in rules.items()} == {
        "queue_idle": ("inactive", 5.0),
        "queue_pending": ("pending", 5.0),
        "queue_firing": ("firing", 5.0),
    }
    assert rules["queue_firing"]["condition"] == "jobs.queue > 1" and rules["queue_pending"]["for (s)"] == 3600
    history = rows_by_key(panel(doc, "history"), "name")
    assert history["flaky"]["status"] == "resolved" and history["flaky"]["ended"] is not None
    assert history["disk_full"]["acknowledged by"] == "alice" and history["db_down"]["ended"] is None

    page, errors = open_page(browser, render_dashboard("alerts"), "dashboard-alerts-states")
    assert errors == []
    stats = dict(reversed(t.split("\n")) for t in page.locator("section[data-panel=summary] .stat").all_inner_texts())
    assert stats == {label: str(count) for label, count in one_each.items()}
    sort_by(page, "rules", "rule")
    assert column(page, "rules", 0) == ["queue_firing", "queue_idle", "queue_pending"]
    sort_by(page, "rules", "rule")  # the rules table sorts by its own columns, not the active table's
    assert column(page, "rules", 0) == ["queue_pending", "queue_idle", "queue_firing"]
    assert column(page, "rules", 3) == ["pending", "inactive", "firing"]
    assert column(page, "rules", 4) == ["5", "5", "5"]  # last value
    assert page.locator("section[data-panel=rules] tr.bad").inner_text().startswith("queue_firing")
    assert page.locator("section[data-panel=active] tr[data-status=firing]").count() == 4
    history_text = page.locator("section[data-panel=history]").inner_text()
    assert "resolved" in history_text and "alice" in history_text
    page.close()


def test_metrics_dashboard_groups_categories_with_latest_and_average(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    for v in (2, 4, 9):
        zgen_otel.record_metric("queue", v, "jobs", unit="{job}")
    for v in (100, 200):
        zgen_otel.record_metric("tokens", v, "llm", attributes={"model": "m1"}, unit="{token}")
    zgen_otel.record_metric("tokens", 7, "llm", attributes={"model": "m2"}, unit="{token}")
    zgen_otel.record_metric("mood", 0.5)
    doc = json.loads(render_dashboard("metrics", format="json"))
    assert [p["id"] for p in doc["panels"]] == ["category-jobs", "category-llm", "category-uncategorised"]

    def summary(pid: str) -> list[tuple[Any, ...]]:
        table = panel(doc, pid)
        wanted = ("metric", "attributes", "latest", "average", "min", "max", "points", "unit")
        return [tuple(dict(zip(table["columns"], row, strict=True))[c] for c in wanted) for row in table["rows"]]

    assert summary("category-jobs") == [("jobs.queue", None, 9, 5, 2, 9, 3, "{job}")]
    assert summary("category-llm") == [("llm.tokens", "model=m1", 200, 150, 100, 200, 2, "{token}"),
                                       ("llm.tokens", "model=m2", 7, 7, 7, 7, 1, "{token}")]  # fmt: skip
    assert summary("category-uncategorised") == [("mood", None, 0.5, 0.5, 0.5, 0.5, 1, None)]

    page, errors = open_page(browser, render_dashboard("metrics"), "dashboard-metrics-categories")
    assert errors == []
    assert (column(page, "category-jobs", 3), column(page, "category-jobs", 4)) == (["9"], ["5"])
    assert column(page, "category-llm", 1) == ["model=m1", "model=m2"]
    assert (column(page, "category-llm", 3), column(page, "category-llm", 4)) == (["200", "7"], ["150", "7"])
    assert page.locator("section[data-panel=category-jobs] svg.spark polyline").count() == 1
    assert page.locator("section[data-panel=category-uncategorised] h2").inner_text() == "Category: uncategorised"
    page.close()


def test_window_seconds_drops_older_points(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    now = time.time()
    for value, age in ((80, 7200), (20, 60)):
        zgen_otel.record_metric("cpu_percent", value, "system", timestamp=now - age)
    for value, age in ((500, 7200), (3, 60), (5, 30)):
        zgen_otel.record_metric("queue", value, "jobs", timestamp=now - age)

    def cpu(window: float) -> dict[str, Any]:
        (series,) = panel(json.loads(render_dashboard("system", format="json", window_seconds=window)), "cpu")["series"]
        return series

    def queue(window: float) -> dict[str, Any]:
        doc = json.loads(render_dashboard("metrics", format="json", window_seconds=window))
        return rows_by_key(panel(doc, "category-jobs"), "metric")["jobs.queue"]

    assert [v for _, v in cpu(3 * 3600)["points"]] == [80, 20]
    assert [v for _, v in cpu(600)["points"]] == [20] and cpu(600)["stats"]["max"] == 20
    assert (queue(3 * 3600)["points"], queue(3 * 3600)["max"]) == (3, 500)
    assert (queue(600)["points"], queue(600)["average"], queue(600)["max"]) == (2, 4, 5)
    assert [v for _, v in queue(600)["recent"]["spark"]] == [3, 5]
    for window, values in ((3 * 3600, [80, 20]), (600, [20])):
        page, errors = open_page(browser, render_dashboard("system", window_seconds=window), f"window-{window}")
        (series,) = chart_data(page, "cpu")["series"]
        assert errors == [] and [v for _, v in series["points"]] == values
        assert all(ts >= now - window for ts, _ in series["points"])
        page.close()


def test_llm_dashboard_tokens_latency_percentiles_errors_cost(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    prices = PriceTable({"small-1": (0.15, 0.6), "big-2": (3.0, 15.0)})
    set_price_table(prices)
    for pause, tokens in ((0.01, 100), (0.03, 200), (0.2, 300)):
        with llm_call(model="small-1", provider="openai") as call:
            time.sleep(pause)
            call.set_usage(input_tokens=tokens, output_tokens=tokens // 10)
    with pytest.raises(TimeoutError), llm_call(model="big-2", provider="acme"):
        raise TimeoutError
    with llm_call(model="big-2", provider="acme") as call:
        call.set_usage(input_tokens=1000, output_tokens=500)
    zgen_otel.get_runtime().collect()
    doc = json.loads(render_dashboard("llm", format="json"))
    models = panel(doc, "models")
    assert models["columns"] == ["model", "calls", "input tokens", "output tokens", "mean latency", "p50", "p95", "p99",
                                 "errors", "cost"]  # fmt: skip
    rows = rows_by_key(models)
    small, big = rows["small-1"], rows["big-2"]
    assert [small[c] for c in ("calls", "input tokens", "output tokens", "errors")] == [3, 600, 60, 0]
    assert [big[c] for c in ("calls", "input tokens", "output tokens", "errors")] == [2, 1000, 500, 1]
    assert [small["cost"], big["cost"]] == [pytest.approx(prices.cost("small-1", 600, 60)),
                                            pytest.approx(prices.cost("big-2", 1000, 500))]  # fmt: skip
    assert 0.03 <= small["p50"] < 0.2 <= small["p95"] == small["p99"]  # the middle call, then the slowest
    assert 0.08 <= small["mean latency"] < small["p95"] and big["p99"] < 0.2
    assert [models["rows"][i][0] for i in models["highlight"]] == ["big-2"]  # the model with a failing call
    tokens = {s["label"]: sum(v for _, v in s["points"]) for s in panel(doc, "tokens")["series"]}
    assert tokens == {"big-2 input": 1000, "big-2 output": 500, "small-1 input": 600, "small-1 output": 60}
    slowest = {s["label"]: s["stats"]["max"] for s in panel(doc, "latency")["series"]}
    assert set(slowest) == {"small-1 · openai", "big-2 · acme", "big-2 · acme · TimeoutError"}
    assert slowest["small-1 · openai"] >= 0.2
    cost = {s["label"]: s["stats"]["latest"] for s in panel(doc, "cost")["series"]}
    assert cost["small-1 · openai"] == pytest.approx(small["cost"])

    page, errors = open_page(browser, render_dashboard("llm"), "dashboard-llm-content")
    assert errors == []
    assert column(page, "models", 0) == ["small-1", "big-2"] or column(page, "models", 0) == ["big-2", "small-1"]
    p50 = dict(zip(column(page, "models", 0), column(page, "models", 5), strict=True))
    assert p50["small-1"].endswith(" ms") and 30 <= float(p50["small-1"].split()[0]) < 200
    assert page.locator("section[data-panel=models] tr.bad td").first.inner_text() == "big-2"
    assert "ZGEN_OTEL_MAX_SPANS" in page.locator("section[data-panel=models] .note").inner_text()
    for pid, lines in (("tokens", 4), ("latency", 3), ("cost", 2)):
        assert len(drawn_lines(page.locator(f"section[data-panel={pid}]"))) == lines, pid
    page.close()
