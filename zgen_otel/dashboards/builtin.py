"""The built-in dashboards ``metrics`` and ``llm``, and :func:`builtin_dashboards`, the list of all.

``system``, ``performance`` and ``alerts`` live in their own modules, ``traces`` and ``logs`` in ``traces_logs``.

Each reads a runtime (the current one unless ``get_data`` is given one), through the selection of processes
it is given (:func:`zgen_otel.selection.select`; ``alerts`` shows every rule and alert); each is a small
class whose ``get_data`` returns panels (``timeseries``, ``stats``, ``table``). Adding one is another such
class, listed in :func:`builtin_dashboards`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from zgen_otel import semconv as sc
from zgen_otel._stats import QUANTILES, nearest_rank
from zgen_otel.dashboards.alerts import AlertsDashboard
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.operations import PerformanceDashboard
from zgen_otel.dashboards.panels import labels_text, timeseries, value_stats
from zgen_otel.dashboards.rendering import window
from zgen_otel.dashboards.system import SystemDashboard
from zgen_otel.dashboards.traces_logs import LogsDashboard, TracesDashboard
from zgen_otel.llm import SCOPE as LLM_SCOPE
from zgen_otel.selection import INSTANCE, SERVICE, View, select
from zgen_otel.store import Series, series_sort_key

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


def _model(s: Series) -> str:
    return str(s.attributes.get("gen_ai.request.model", "?"))


def _llm_label(s: Series) -> str:
    parts = [_model(s), str(s.attributes.get("gen_ai.provider.name", "")), str(s.attributes.get("error.type", ""))]
    return " · ".join(p for p in parts if p)


class LLMDashboard(Dashboard):
    """LLM calls: tokens by model and type, latency (mean, p50, p95, p99), errors and cost."""

    name = "llm"
    title = "LLM calls"
    description = "Tokens by model and type, latency percentiles, errors and cost of LLM calls (GenAI conventions)."

    def get_data(
        self,
        window_seconds: float = DEFAULT_WINDOW,
        *,
        service: str | None = None,
        instance: str | None = None,
        runtime: Runtime | None = None,
    ) -> dict[str, Any]:
        """A table per model (summed over the selected processes) plus token, latency and cost charts."""
        view = select(runtime, service, instance)
        store = view.store
        start, end = window(window_seconds, view.runtime)
        rows: dict[str, list[Any]] = {}
        tokens, duration = sc.GEN_AI_CLIENT_TOKEN_USAGE.name, sc.GEN_AI_CLIENT_OPERATION_DURATION.name
        cost = sc.LLM_COST.name
        for metric, column in ((f"{tokens}.sum", None), (f"{duration}.count", 1), (f"{duration}.sum", 4),
                               (cost, 6)):  # fmt: skip
            for s in store.series(metric):
                row = rows.setdefault(_model(s), [_model(s), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
                if metric == cost:  # a running total: its latest value
                    latest = s.latest()
                    total = latest.value if latest is not None else 0.0
                else:  # per-interval deltas: their sum over the window
                    total = sum(p.value for p in s.points(start, end))
                if column is None:
                    row[2 if s.attributes.get("gen_ai.token.type") == "input" else 3] += total
                else:
                    row[column] += total
                if metric.endswith("duration.count") and "error.type" in s.attributes:
                    row[5] += total
        latencies = _llm_latencies(view, start)
        table_rows = []
        for r in rows.values():
            calls, seconds = r[1], r[4]
            ordered = sorted(latencies.get(r[0], ()))
            pct = [nearest_rank(ordered, q) if ordered else None for q in QUANTILES]
            table_rows.append([r[0], calls, r[2], r[3], seconds / calls if calls else None, *pct, r[5], r[6]])
        return {
            "panels": [
                {"id": "models", "type": "table", "title": "Models",
                 "columns": ["model", "calls", "input tokens", "output tokens", "mean latency", "p50", "p95", "p99",
                             "errors", "cost"],
                 "units": ["", "", "", "", "s", "s", "s", "s", "", ""], "rows": table_rows,
                 "highlight": [i for i, r in enumerate(table_rows) if r[8]],
                 "note": "summed over the selected processes; p50/p95/p99: over the llm_call spans of the window "
                         "still held in the recent-span buffers (ZGEN_OTEL_MAX_SPANS)",
                 "empty": "no LLM calls yet: wrap them in zgen_otel.llm.llm_call(...)"},
                timeseries("tokens", "Tokens per collection interval", "{token}", store,
                           [(f"{tokens}.sum",
                             lambda s: f"{_model(s)} {s.attributes.get('gen_ai.token.type', '')}")], start, end),
                timeseries("latency", "Slowest call per collection interval", "s", store,
                           [(f"{duration}.max", _llm_label)], start, end),
                timeseries("cost", "Cost (running total)", "", store, [(cost, _llm_label)], start, end),
            ]
        }  # fmt: skip


def _llm_latencies(view: View, start: float) -> dict[str, list[float]]:
    """Durations (s) by requested model of the selected processes' ``llm_call`` spans that ended since ``start``."""
    durations: dict[str, list[float]] = defaultdict(list)
    limit = view.runtime.settings.max_value_length
    for row in view.span_rows():
        if row.scope != LLM_SCOPE or not row.start or not row.end or row.end / 1e9 < start:
            continue
        model = row.convert(row, limit)["attributes"].get("gen_ai.request.model")
        if model is not None:
            durations[str(model)].append((row.end - row.start) / 1e9)
    return durations


def builtin_dashboards() -> list[Dashboard]:
    """New instances of every built-in dashboard (the package registers them with the dashboard manager)."""
    return [
        SystemDashboard(), PerformanceDashboard(), AlertsDashboard(), MetricsDashboard(), LLMDashboard(),
        TracesDashboard(), LogsDashboard(),
    ]  # fmt: skip
