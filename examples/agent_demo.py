"""A small simulated agent (no network, no real LLM), then its dashboards rendered to files.

Run: ``python examples/agent_demo.py [OUTPUT_DIR]`` (default ``agent-demo-output``). Tracked tools, LLM calls
with token counts and cost, a scheduled task, a failing tool and an alert, then every dashboard as HTML.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import zgen_otel
from zgen_otel.alerting import AlertSeverity, get_alert_manager, trigger_alert
from zgen_otel.dashboards.dashboard import get_dashboard_manager, render_dashboard, render_dashboard_index
from zgen_otel.llm import PriceTable, llm_call, set_price_table
from zgen_otel.performance import get_performance_stats, track_agent, track_tool
from zgen_otel.tasks import task

random.seed(7)


@track_tool("web_search")
def web_search(query: str) -> list[str]:
    """A tool that answers from a canned list."""
    return [f"result for {query}"]


@track_tool("calculator")
def calculator(expression: str) -> float:
    """A tool that fails on division by zero."""
    left, _, right = expression.partition("/")
    return float(left) / float(right)


def fake_llm(prompt: str) -> dict[str, object]:
    """Stands in for an LLM client: a response with usage, like the real ones."""
    return {"model": "demo-small", "usage": {"prompt_tokens": len(prompt) * 3, "completion_tokens": 42}}


@track_agent("planner")
def run_agent(goal: str) -> str:
    """One agent turn: an LLM call, a tool, maybe a failing tool."""
    with llm_call(model="demo-small", provider="demo") as call:
        response = fake_llm(goal)
        usage = response["usage"]
        assert isinstance(usage, dict)
        call.set_usage(usage["prompt_tokens"], usage["completion_tokens"])
    web_search(goal)
    if random.random() < 0.3:
        try:
            calculator("1/0")
        except ZeroDivisionError:
            trigger_alert("calculator_failed", "the calculator tool divided by zero", AlertSeverity.ERROR, "tools")
    return "done"


@task("refresh_index")
def refresh_index() -> None:
    """A scheduled job."""


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "agent-demo-output")
    out.mkdir(parents=True, exist_ok=True)
    zgen_otel.configure(interval=3600)
    set_price_table(PriceTable({"demo-small": (0.15, 0.60)}, currency="USD"))
    get_alert_manager().add_metric_rule("llm_budget", "LLM spend above $0.0002 an hour", "zgen.llm.cost",
                                        threshold=0.0002, aggregate="increase", window=3600)  # fmt: skip
    for i in range(20):
        run_agent(f"goal {i}")
        zgen_otel.record_metric("queue_depth", random.randint(0, 9), "agent")
        if i == 4:
            zgen_otel.get_runtime().collect()  # a first cost sample: the budget rule measures the increase
    refresh_index()
    zgen_otel.get_runtime().collect()
    for dashboard in get_dashboard_manager().list_dashboards():
        (out / f"{dashboard.name}.html").write_text(render_dashboard(dashboard.name))
    (out / "index.html").write_text(render_dashboard_index())
    print(f"{'operation':<26} {'calls':>5} {'errors':>6}")
    for name, st in get_performance_stats().items():
        print(f"{name:<26} {st.calls:>5} {st.errors:>6}")
    alerts = sorted(a.name for a in get_alert_manager().get_active_alerts())
    print(f"active alerts: {alerts}")
    print(f"dashboards written to {out}/ (open index.html)")
    zgen_otel.shutdown()


if __name__ == "__main__":
    main()
