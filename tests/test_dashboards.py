"""Dashboards: HTML that real Chromium draws without errors, a stable JSON schema, custom ones, escaping."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import zgen_otel
from zgen_otel.alerting import get_alert_manager, trigger_alert
from zgen_otel.dashboards.dashboard import (
    Dashboard,
    get_dashboard_manager,
    render_dashboard,
    render_dashboard_index,
)
from zgen_otel.llm import PriceTable, llm_call, set_price_table
from zgen_otel.performance import track
from zgen_otel.system_monitor import get_system_metrics

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
BUILTIN = ("system", "performance", "alerts", "metrics", "llm")
XSS = ["<script>window.__xss = 1</script>", '"><img src=x onerror="window.__xss = 2">', "</script><b>x</b>"]


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
    set_price_table(None)
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


@pytest.mark.usefixtures("populated")
@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_dashboards_draw_in_chromium(browser: Any, name: str) -> None:
    page, errors = open_page(browser, render_dashboard(name, format="html"), f"dashboard-{name}")
    assert errors == []
    assert page.title() == get_dashboard_manager().get_dashboard(name).title
    if name == "system":
        lines = page.locator("svg.chart polyline")
        assert lines.count() >= 8
        assert all(
            len(pts.split()) >= 3 for pts in lines.evaluate_all("ls => ls.map(l => l.getAttribute('points'))")[:3]
        )
        page.locator("svg.chart").first.hover()
        assert "%" in page.locator("#tooltip").inner_text()  # hover values
    if name == "performance":
        rows = page.locator("section[data-panel=operations] tbody tr")
        assert rows.count() == 2
        bad = page.locator("tr.bad")
        assert bad.count() == 1 and "agent.tool" in bad.inner_text()
        page.locator("section[data-panel=operations] th", has_text="errors").click()  # sortable
        assert "agent.tool" in rows.last.inner_text()
    if name == "alerts":
        assert "disk / is 97% full" in page.locator("section[data-panel=active]").inner_text()
        assert "tokens_high" in page.locator("section[data-panel=rules]").inner_text()
        assert page.locator("button[data-action]").count() == 0  # actions only on the web page
        served = render_dashboard("alerts", interactive=True)
        assert served.count('data-action="acknowledge"') == 1 and served.count('data-action="resolve"') == 1
    if name == "llm":
        row = page.locator("section[data-panel=models] tbody tr")
        assert row.count() == 1 and "small-1" in row.inner_text() and "1000" in row.inner_text()
        assert page.locator("tr.bad").count() == 1  # a failing call stands out
        assert page.locator("section[data-panel=tokens] svg.chart circle").count() >= 2
    if name == "metrics":
        assert page.locator("svg.spark polyline").count() == 1
        assert "llm.tokens" in page.locator("section[data-panel=category-llm]").inner_text()
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
    try:
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
    finally:
        assert manager.unregister_dashboard("budget")


def test_a_subclass_may_implement_only_get_data_without_options() -> None:
    class Minimal(Dashboard):
        name = "minimal"

        def get_data(self) -> dict[str, Any]:  # type: ignore[override]
            return {"answer": 42}

    manager = get_dashboard_manager()
    manager.register_dashboard(Minimal())
    try:
        assert json.loads(render_dashboard("minimal", format="json"))["answer"] == 42
        assert "42" in render_dashboard("minimal")
    finally:
        manager.unregister_dashboard("minimal")


def test_bad_names_formats_and_windows() -> None:
    with pytest.raises(KeyError) as err:
        render_dashboard("nope")
    assert "available" in str(err.value) and "system" in str(err.value)
    with pytest.raises(ValueError, match="format must be one of html, json; got 'xml'"):
        render_dashboard("system", format="xml")
    with pytest.raises(ValueError, match="window_seconds"):
        render_dashboard("system", window_seconds=-5)
    with pytest.raises(TypeError):
        get_dashboard_manager().register_dashboard("system")  # type: ignore[arg-type]


def test_every_user_string_is_escaped(browser: Any) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    for payload in XSS:
        zgen_otel.record_metric("probe", 1, "xss", attributes={"label": payload})
        trigger_alert("probe", payload, "error", details={"d": payload}, labels={"l": payload})
    get_alert_manager().add_metric_rule("probe_rule", XSS[1], "xss.probe", threshold=0)

    class Hostile(Dashboard):
        name = "hostile"
        title = XSS[0]
        description = XSS[1]

        def get_data(self, window_seconds: float = 3600) -> dict[str, Any]:
            return {"panels": [{"id": "t", "type": "table", "title": XSS[2], "columns": [XSS[0]], "rows": [[XSS[1]]]}],
                    "note": XSS[0]}  # fmt: skip

    get_dashboard_manager().register_dashboard(Hostile())
    try:
        for name in (*BUILTIN, "hostile"):
            html = render_dashboard(name)
            for payload in XSS:
                assert payload not in html
            page, errors = open_page(browser, html, f"xss-{name}")
            assert page.evaluate("window.__xss === undefined") and errors == []
            page.close()
        index = render_dashboard_index()
        assert XSS[0] not in index and XSS[1] not in index
    finally:
        get_dashboard_manager().unregister_dashboard("hostile")
