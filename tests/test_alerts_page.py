"""The alerts page as a user reads it: coloured severities, details, the real condition, a flapping rule grouped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zgen_otel
from tests.support.colours import contrast
from tests.support.servers import Server
from zgen_otel.alerting import get_alert_manager, trigger_alert
from zgen_otel.dashboards import render_dashboard
from zgen_otel.dashboards.alerts import OCCURRENCES_SHOWN
from zgen_otel.http import make_app
from zgen_otel.llm import PriceTable, llm_call, set_price_table

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAPS = 30


def populate() -> dict[str, str]:
    """A budget rule that fires on real LLM spend, a repeated alert with details, an acknowledged one, a flapper.

    Returns:
        The ids of the alerts by name.
    """
    mgr = get_alert_manager()
    mgr.add_metric_rule("llm_budget", "LLM spend over budget", "zgen.llm.cost", threshold=0.05, aggregate="increase",
                        window=3600, severity="error")  # fmt: skip
    set_price_table(PriceTable({"big-1": (10.0, 30.0)}))
    for _ in range(3):  # the spend rises by 0.1 a collection: the increase is past 0.05
        with llm_call(model="big-1", provider="openai") as call:
            call.set_usage(input_tokens=2000, output_tokens=1000)
        zgen_otel.get_runtime().collect()
        mgr.evaluate()
    trigger_alert("db_down", "database unreachable", "critical", "infra", {"host": "db1", "attempts": 3})
    db = trigger_alert("db_down", "database unreachable", "critical", "infra", {"attempts": 4})
    trigger_alert("queue_deep", "the job queue holds 500 jobs", "warning")
    slow = trigger_alert("slow_answers", "answers take over 5 s", "warning")
    mgr.acknowledge_alert(slow.id, by="alice", note="looking")
    for _ in range(FLAPS):  # 30 fire/resolve pairs of one check in a moment
        flap = trigger_alert("probe_flapping", "health probe failed", "warning", labels={"probe": "p1"})
        mgr.resolve_alert(flap.id)
    trigger_alert("probe_flapping", "health probe failed", "info", labels={"probe": "p2"})  # another series
    return {"db_down": db.id, "slow_answers": slow.id}


def table(doc: dict[str, Any], panel_id: str) -> list[dict[str, Any]]:
    (panel,) = [p for p in doc["panels"] if p["id"] == panel_id]
    return [dict(zip(panel["columns"], row, strict=True)) for row in panel["rows"]]


def test_the_document_holds_occurrences_details_the_condition_and_one_history_row_per_series() -> None:
    zgen_otel.configure(system_monitor=False, default_rules=False, interval=3600)
    populate()
    doc = json.loads(render_dashboard("alerts", format="json"))
    active = {row["name"]: row for row in table(doc, "active")}
    assert active["db_down"]["occurrences"] == 2 and active["db_down"]["details"] == {"host": "db1", "attempts": 4}
    assert active["llm_budget"]["value"] > 0.05
    (panel,) = [p for p in doc["panels"] if p["id"] == "active"]
    actions = dict(zip([row[1] for row in panel["rows"]], panel["row_actions"], strict=True))
    assert actions["slow_answers"] == ["resolve"] and actions["db_down"] == ["acknowledge", "resolve"]
    (budget,) = table(doc, "rules")
    assert budget["condition"] == "increase(zgen.llm.cost[1h]) > 0.05" and budget["state"] == "firing"
    history = table(doc, "history")
    flapping = [row for row in history if row["name"] == "probe_flapping"]
    assert [(row["labels"], row["fired"], row["status"]) for row in flapping] == [
        ("probe=p2", 1, "firing"),
        ("probe=p1", FLAPS, "resolved"),
    ]
    assert len(history) == 6  # p1, p2, slow_answers, queue_deep, db_down, llm_budget: not 34 rows


@pytest.fixture
def server() -> Iterator[Server]:
    zgen_otel.configure(system_monitor=False, default_rules=False, interval=3600)
    srv = Server(make_app())
    yield srv
    srv.stop()


@pytest.mark.parametrize("width", [1400, 800])
def test_alerts_page_in_chromium(browser: Any, server: Server, width: int) -> None:
    ids = populate()
    errors: list[str] = []
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/monitoring/alerts?refresh=3600")  # refreshed only by the acknowledge button
    ARTIFACTS.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        boxes = page.locator("section[data-panel=summary] .stat")
        colours = boxes.evaluate_all("bs => bs.map(b => [b.dataset.sev, b.classList.contains('lit'), "
                                     "getComputedStyle(b).color, getComputedStyle(b).backgroundColor])")  # fmt: skip
        lit = {sev: background for sev, on, _, background in colours if on}
        assert set(lit) == {"critical", "error", "warning", "info", "acknowledged"}
        assert len(set(lit.values())) == 5  # each severity its own colour
        for sev, _, colour, background in colours:
            assert contrast(colour, background) >= 4.5, f"{sev} box in {scheme}: {colour} on {background}"
        page.screenshot(path=str(ARTIFACTS / f"alerts-{width}-{scheme}.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    db = page.locator(f"section[data-panel=active] tr[data-id='{ids['db_down']}']")
    assert "2 times" in db.inner_text() and re.search(r"host\s+db1", db.inner_text())
    assert re.search(r"attempts\s+4", db.inner_text())
    slow = page.locator(f"section[data-panel=active] tr[data-id='{ids['slow_answers']}']")
    assert slow.locator("button").all_inner_texts() == ["resolve"] and "by alice" in slow.inner_text()
    rules = page.locator("section[data-panel=rules]").inner_text()
    assert "increase(zgen.llm.cost[1h]) > 0.05" in rules and "zgen.llm.cost > 0.05" not in rules

    history = page.locator("section[data-panel=history] table.history > tbody > tr")
    assert history.count() == 6
    flapper = history.filter(has_text="probe=p1")
    assert flapper.count() == 1 and f"{FLAPS} times" in flapper.inner_text()
    flapper.locator("details summary").click()
    times = flapper.locator("table.occurrences tbody tr")
    assert (
        times.count() == OCCURRENCES_SHOWN + 1 and times.last.inner_text() == f"and {FLAPS - OCCURRENCES_SHOWN} earlier"
    )
    page.locator("section[data-panel=history]").screenshot(path=str(ARTIFACTS / f"alerts-{width}-history-open.png"))

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    outside = page.locator("section[data-panel=active]").evaluate(
        "card => { const c = card.getBoundingClientRect(); return [...card.querySelectorAll('button')].filter("
        "b => { const r = b.getBoundingClientRect(); return r.left < c.left || r.right > c.right; }).length; }"
    )
    assert outside == 0 and page.locator("section[data-panel=active] button").count() == 9  # 4 firing, 1 acknowledged
    db.locator("button[data-action=acknowledge]").click()  # acknowledged: the button goes
    db.locator("td", has_text="acknowledged").wait_for(timeout=10_000)
    assert db.locator("button").all_inner_texts() == ["resolve"]
    assert errors == []
    page.close()
