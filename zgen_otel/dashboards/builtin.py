"""The built-in dashboard ``metrics``, and :func:`builtin_dashboards`, the list of all.

``system``, ``performance``, ``llm`` and ``alerts`` live in their own modules, ``traces`` and ``logs`` in
``traces_logs``.

Each reads a runtime (the current one unless ``get_data`` is given one), through the selection of processes
it is given (:func:`zgen_otel.selection.select`; ``alerts`` shows every rule and alert); each is a small
class whose ``get_data`` returns panels (``timeseries``, ``stats``, ``table``). Adding one is another such
class, listed in :func:`builtin_dashboards`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from zgen_otel.dashboards.alerts import AlertsDashboard
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.llm import LLMDashboard
from zgen_otel.dashboards.operations import PerformanceDashboard
from zgen_otel.dashboards.panels import labels_text, value_stats
from zgen_otel.dashboards.rendering import window
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
