"""The built-in dashboards ``alerts`` and ``metrics``, and :func:`builtin_dashboards`, the list of all.

``system``, ``performance`` and ``llm`` live in their own modules, ``traces`` and ``logs`` in ``traces_logs``.

Each reads a runtime (the current one unless ``get_data`` is given one), through the selection of processes
it is given (:func:`zgen_otel.selection.select`; ``alerts`` shows every rule and alert); each is a small
class whose ``get_data`` returns panels (``timeseries``, ``stats``, ``table``). Adding one is another such
class, listed in :func:`builtin_dashboards`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from zgen_otel import _current
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.llm import LLMDashboard
from zgen_otel.dashboards.operations import PerformanceDashboard
from zgen_otel.dashboards.panels import labels_text, value_stats
from zgen_otel.dashboards.rendering import format_time, window
from zgen_otel.dashboards.system import SystemDashboard
from zgen_otel.dashboards.traces_logs import LogsDashboard, TracesDashboard
from zgen_otel.selection import INSTANCE, SERVICE, select
from zgen_otel.store import series_sort_key

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = [
    "AlertsDashboard",
    "LLMDashboard",
    "MetricsDashboard",
    "PerformanceDashboard",
    "SystemDashboard",
    "builtin_dashboards",
]


class AlertsDashboard(Dashboard):
    """Firing alerts by severity, acknowledged ones, recent history and the rules with their state."""

    name = "alerts"
    title = "Alerts"
    description = "Active alerts by severity, acknowledgements, recent history, and every rule's state."

    def get_data(
        self, window_seconds: float = DEFAULT_WINDOW, history_limit: int = 50, *, runtime: Runtime | None = None
    ) -> dict[str, Any]:
        """Stats, the active alerts (with actions on the web page), the history and the rules."""
        rt = runtime or _current.get_runtime()
        manager = rt.alert_manager
        active = manager.get_active_alerts()
        by_severity = [
            {"label": f"firing · {sev}", "value": sum(1 for a in active if a.severity.label == sev and
                                                        a.status.value == "firing"), "unit": "{alert}"}
            for sev in ("critical", "error", "warning", "info")
        ]  # fmt: skip
        by_severity.append({"label": "acknowledged", "unit": "{alert}",
                            "value": sum(1 for a in active if a.status.value == "acknowledged")})  # fmt: skip

        def fmt(ts: float | None) -> str | None:
            return format_time(ts, "%m-%d %H:%M:%S") if ts else None

        active_rows = [
            [a.severity.label, a.name, a.description, a.status.value, fmt(a.starts_at), a.value, labels_text(a.labels)]
            for a in active
        ]
        history = manager.get_alert_history(since=window(window_seconds, rt)[0], limit=history_limit)
        history_rows = [[a.severity.label, a.name, a.status.value, fmt(a.starts_at), fmt(a.ends_at),
                         a.acknowledged_by] for a in history]  # fmt: skip
        rules = manager.list_rules()
        rule_rows = []
        for r in rules:
            d = r.to_dict()
            condition = f"{d['metric_name']} {d['operator']} {d['threshold']:g}" if d["type"] == "metric" else "custom"
            rule_rows.append([d["name"], condition, d["duration"], d["state"], d["last_value"], d["severity"],
                              "on" if d["enabled"] else "off"])  # fmt: skip
        return {
            "panels": [
                {"id": "summary", "type": "stats", "title": "Now", "items": by_severity},
                {"id": "active", "type": "table", "title": "Active alerts",
                 "columns": ["severity", "name", "description", "status", "started", "value", "labels"],
                 "rows": active_rows, "row_ids": [a.id for a in active], "actions": ["acknowledge", "resolve"],
                 "highlight": [i for i, a in enumerate(active) if a.status.value == "firing"],
                 "empty": "no active alerts"},
                {"id": "rules", "type": "table", "title": "Rules",
                 "columns": ["rule", "condition", "for (s)", "state", "last value", "severity", "enabled"],
                 "rows": rule_rows, "highlight": [i for i, r in enumerate(rules) if r.state == "firing"],
                 "empty": "no rules"},
                {"id": "history", "type": "table", "title": "Recent history",
                 "columns": ["severity", "name", "status", "started", "ended", "acknowledged by"],
                 "rows": history_rows, "empty": "no alerts in this time range"},
            ],
        }  # fmt: skip


class MetricsDashboard(Dashboard):
    """Every metric recorded with ``record_metric``, here or in the processes sending here, by category."""

    name = "metrics"
    title = "Custom metrics"
    description = "Every metric recorded with record_metric, by category: sparkline, latest and average."

    def get_data(
        self,
        window_seconds: float = DEFAULT_WINDOW,
        *,
        service: str | None = None,
        instance: str | None = None,
        runtime: Runtime | None = None,
    ) -> dict[str, Any]:
        """One table per category, of the selected processes' series (a ``service`` column when several)."""
        view = select(runtime, service, instance)
        rt = view.runtime
        names = rt.metrics.recorded_names() if rt.metrics is not None else set()
        if rt.receiver is not None:
            names |= rt.receiver.recorded_names()
        start, end = window(window_seconds, rt)
        several = len(view.processes) > 1
        groups: dict[str, list[list[Any]]] = defaultdict(list)
        chosen = [s for s in view.store.all_series() if s.name in names]
        for s in sorted(chosen, key=series_sort_key):
            points = [(p.timestamp, p.value) for p in s.points(start, end)]
            st = value_stats([v for _, v in points])
            attrs = labels_text({k: str(v) for k, v in s.attributes.items() if k not in (SERVICE, INSTANCE)})
            who = [view.who_of(s)] if several else []
            groups[s.category or "uncategorised"].append(
                [s.name, *who, attrs, {"spark": [list(p) for p in points]}, st["latest"], st["avg"], st["min"],
                 st["max"], len(points), s.unit or None])  # fmt: skip
        columns = ["metric", *(["service"] if several else []), "attributes", "recent", "latest", "average", "min",
                   "max", "points", "unit"]  # fmt: skip
        panels = [
            {"id": f"category-{cat}", "type": "table", "title": f"Category: {cat}", "columns": columns, "rows": rows}
            for cat, rows in sorted(groups.items())
        ]
        if not panels:
            panels = [{"id": "none", "type": "table", "title": "Custom metrics", "columns": [], "rows": [],
                       "empty": "no metrics recorded with record_metric yet"}]  # fmt: skip
        return {"panels": panels}


def builtin_dashboards() -> list[Dashboard]:
    """New instances of every built-in dashboard (the package registers them with the dashboard manager)."""
    return [
        SystemDashboard(), PerformanceDashboard(), AlertsDashboard(), MetricsDashboard(), LLMDashboard(),
        TracesDashboard(), LogsDashboard(),
    ]  # fmt: skip
