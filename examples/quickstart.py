"""The documented API end to end, printing what each part produces. Run: python examples/quickstart.py.

Recording metrics, tracking performance, creating alerts and working with dashboards, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time

import zgen_otel
from zgen_otel.alerting import AlertSeverity, get_alert_manager, trigger_alert
from zgen_otel.dashboards.dashboard import get_dashboard_manager, render_dashboard, render_dashboard_index
from zgen_otel.metrics import (
    get_all_metrics,
    get_metric_average,
    get_metric_history,
    get_metric_stats,
    record_metric,
    register_callback,
)
from zgen_otel.performance import get_performance_stats, track, track_async, track_context


@track()
def plan_step(goal: str) -> list[str]:
    """A tracked agent step that sometimes fails."""
    time.sleep(random.uniform(0.001, 0.01))
    if random.random() < 0.1:
        raise RuntimeError("planner gave up")
    return [goal, "act"]


@track_async()
async def call_tool(name: str) -> str:
    """A tracked async tool call."""
    await asyncio.sleep(random.uniform(0.001, 0.005))
    return name


def run_agent() -> None:
    """Drive the tracked functions for a while."""
    for i in range(40):
        with track_context("agent.iteration"):
            with contextlib.suppress(RuntimeError):  # the failure is on the span and in the statistics
                plan_step(f"goal-{i}")
            asyncio.run(call_tool("search"))


def print_performance() -> None:
    """The performance table."""
    print(f"\n{'operation':<20} {'calls':>6} {'errors':>6} {'mean ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, st in get_performance_stats().items():
        print(
            f"{name:<20} {st.calls:>6} {st.errors:>6} {(st.mean or 0) * 1e3:>9.2f} {(st.p50 or 0) * 1e3:>8.2f} "
            f"{(st.p95 or 0) * 1e3:>8.2f} {(st.max or 0) * 1e3:>8.2f}"
        )


def create_alerts() -> None:
    """Creating alerts: an alert raised by hand and a rule on a metric."""
    alert = trigger_alert(
        name="high_memory_usage",
        description="Memory usage is above 90%",
        severity=AlertSeverity.WARNING,
        category="system",
        details={"memory_percent": 92.5},
    )
    print(f"triggered: {alert.name} ({alert.severity.label}, {alert.category}) details={alert.details}")
    alert_manager = get_alert_manager()
    rule = alert_manager.add_metric_rule(
        name="high_cpu_usage",
        description="High CPU usage detected",
        metric_name="system.cpu_percent",
        threshold=90,
        operator=">",
        duration=300,  # 5 minutes
        severity=AlertSeverity.WARNING,
        category="system",
    )
    print(f"rule: {rule.name} fires when {rule.metric_name} {rule.operator} {rule.threshold:g} for {rule.duration:g} s")
    print(f"active alerts: {sorted(a.name for a in alert_manager.get_active_alerts())}")


def render_dashboards() -> None:
    """Working with dashboards: a dashboard as HTML and JSON, and the index page."""
    html = render_dashboard("system", format="html")
    json_data = render_dashboard("system", format="json")
    panels = [panel["title"] for panel in json.loads(json_data)["panels"]]
    print(f"system dashboard: {len(html)} characters of HTML; JSON panels: {panels}")
    index_html = render_dashboard_index()
    linked = [d.name for d in get_dashboard_manager().list_dashboards() if f'href="{d.name}.html"' in index_html]
    print(f"dashboard index: {len(index_html)} characters of HTML linking {linked}")


def main() -> None:
    # React to updates: print every value above 80 as it arrives.
    def on_update(name: str, value: float, timestamp: float, attributes: object) -> None:
        if value > 80:
            print(f"  callback: {name} = {value:.1f}")

    register_callback("system.*", on_update)

    # Record a few seconds of metrics, the way an agent would.
    print("Recording metrics for 2 seconds...")
    deadline = time.time() + 2
    while time.time() < deadline:
        record_metric("cpu_usage", random.uniform(20, 90), "system", unit="%")
        record_metric("step_latency", random.lognormvariate(-3, 0.5), "agent", attributes={"tool": "search"}, unit="s")
        record_metric("tokens", random.randint(50, 500), "llm", attributes={"model": "demo-model"}, unit="{token}")
        time.sleep(0.05)

    history = get_metric_history("system.cpu_usage")
    print(f"\nsystem.cpu_usage: {len(history)} points, last {history[-1].value:.1f}%")
    print(f"average over 5 minutes: {get_metric_average('system.cpu_usage', window_seconds=300):.1f}%")

    print(f"\n{'metric':<22} {'attributes':<20} {'unit':<8} {'latest':>9} {'avg':>9} {'p95':>9} {'n':>5}")
    for info in get_all_metrics():
        stats = get_metric_stats(info.name, 300, info.attributes)
        assert stats is not None
        attrs = ",".join(f"{k}={v}" for k, v in info.attributes.items()) or "-"
        print(
            f"{info.name:<22} {attrs:<20} {info.unit:<8} {stats.latest:>9.3f} {stats.avg:>9.3f} "
            f"{stats.p95:>9.3f} {stats.count:>5}"
        )
    print("\nRunning tracked agent steps...")
    run_agent()
    print_performance()

    print("\nCreating alerts...")
    create_alerts()
    print("\nRendering dashboards...")
    render_dashboards()

    targets = zgen_otel.get_runtime().providers.export_targets
    print(f"\nOTLP export: {targets or 'none configured (set OTEL_EXPORTER_OTLP_ENDPOINT to ship to a collector)'}")
    zgen_otel.shutdown()


if __name__ == "__main__":
    main()
