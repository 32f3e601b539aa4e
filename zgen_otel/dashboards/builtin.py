"""The built-in dashboards ``alerts`` and ``llm``, and :func:`builtin_dashboards`, the list of all.

``system``, ``performance`` (``operations``) and ``metrics`` (``custom_metrics``) live in their own modules,
``traces`` and ``logs`` in ``traces_logs``.

Each reads a runtime (the current one unless ``get_data`` is given one), through the selection of processes
it is given (:func:`zgen_otel.selection.select`; ``alerts`` shows every rule and alert); each is a small
class whose ``get_data`` returns panels (``timeseries``, ``stats``, ``table``). Adding one is another such
class, listed in :func:`builtin_dashboards`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from zgen_otel import _current
from zgen_otel import semconv as sc
from zgen_otel._stats import QUANTILES, nearest_rank
from zgen_otel.dashboards.custom_metrics import MetricsDashboard
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.operations import PerformanceDashboard
from zgen_otel.dashboards.panels import labels_text, timeseries
from zgen_otel.dashboards.rendering import format_time, window
from zgen_otel.dashboards.system import SystemDashboard
from zgen_otel.dashboards.traces_logs import LogsDashboard, TracesDashboard
from zgen_otel.llm import SCOPE as LLM_SCOPE
from zgen_otel.selection import View, select
from zgen_otel.store import Series

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
        currencies = {str(s.attributes.get("zgen.llm.currency", "USD")) for s in store.series(cost)}
        currency = currencies.pop() if len(currencies) == 1 else "{currency}"  # several: plain amounts
        for metric, column in ((f"{tokens}.sum", None), (f"{duration}.count", 1), (f"{duration}.sum", 4),
                               (cost, 6)):  # fmt: skip
            for s in store.series(metric):
                row = rows.setdefault(_model(s), [_model(s), 0.0, 0.0, 0.0, 0.0, 0.0, None])  # cost: no price yet
                if metric == cost:  # a running total: its latest value
                    latest = s.latest()
                    total = latest.value if latest is not None else 0.0
                else:  # per-interval deltas: their sum over the window
                    total = sum(p.value for p in s.points(start, end))
                if column is None:
                    row[2 if s.attributes.get("gen_ai.token.type") == "input" else 3] += total
                else:
                    row[column] = (row[column] or 0.0) + total
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
                 "units": ["", "", "", "", "s", "s", "s", "s", "", currency], "rows": table_rows,
                 "highlight": [i for i, r in enumerate(table_rows) if r[8]],
                 "note": "summed over the selected processes; p50/p95/p99: over the llm_call spans of the window "
                         "still held in the recent-span buffers (ZGEN_OTEL_MAX_SPANS); cost: \"no price\" for a "
                         "model the price table does not know",
                 "empty": "no LLM calls yet: wrap them in zgen_otel.llm.llm_call(...)"},
                timeseries("tokens", "Tokens per collection interval", "{token}", store,
                           [(f"{tokens}.sum",
                             lambda s: f"{_model(s)} {s.attributes.get('gen_ai.token.type', '')}")], start, end),
                timeseries("latency", "Slowest call per collection interval", "s", store,
                           [(f"{duration}.max", _llm_label)], start, end),
                timeseries("cost", "Cost (running total)", currency, store, [(cost, _llm_label)], start, end),
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
