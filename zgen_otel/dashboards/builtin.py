"""The built-in metric dashboards: ``system``, ``performance``, ``alerts``, ``metrics`` and ``llm``.

Each reads a runtime's store, performance statistics and alert manager (the current runtime unless
``get_data`` is given one); each is a small class whose ``get_data`` returns panels (``timeseries``,
``stats``, ``table``). Adding one is another such class, listed in :func:`builtin_dashboards`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from zgen_otel import _current
from zgen_otel import semconv as sc
from zgen_otel._stats import QUANTILES, mean, nearest_rank
from zgen_otel.dashboards.charts import MAX_POINTS, downsample
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.rendering import format_time, window
from zgen_otel.dashboards.traces_logs import LogsDashboard, TracesDashboard
from zgen_otel.llm import SCOPE as LLM_SCOPE
from zgen_otel.semconv import MetricSpec
from zgen_otel.store import MetricStore, Series, series_sort_key

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

Label = Callable[[Series], str]


def _value_stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"latest": None, "avg": None, "min": None, "max": None}
    return {"latest": values[-1], "avg": mean(values), "min": min(values), "max": max(values)}


def series_entries(
    store: MetricStore, metrics: Iterable[tuple[str, Label]], start: float, end: float
) -> list[dict[str, Any]]:
    """One chart series per stored series of each metric: label, attributes, points (downsampled), stats."""
    entries = []
    for name, label in metrics:
        for s in sorted(store.series(name), key=series_sort_key):
            points, stats = s.summary(start, end, MAX_POINTS)
            if points and stats is not None:
                entries.append(
                    {
                        "label": label(s),
                        "labels": dict(s.attributes),
                        "points": points,
                        "stats": {"latest": stats.latest, "avg": stats.avg, "min": stats.min, "max": stats.max},
                    }
                )
    return entries


def timeseries(
    panel_id: str,
    title: str,
    unit: str,
    store: MetricStore,
    metrics: Iterable[tuple[str, Label]],
    start: float,
    end: float,
) -> dict[str, Any]:
    """A ``timeseries`` panel."""
    return {"id": panel_id, "type": "timeseries", "title": title, "unit": unit,
            "series": series_entries(store, metrics, start, end)}  # fmt: skip


def _fixed(text: str) -> Label:
    return lambda s: text


def _labels(labels: dict[str, str]) -> str | None:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or None


def _attr(key: str, prefix: str = "") -> Label:
    return lambda s: f"{prefix}{s.attributes.get(key, '?')}"


class SystemDashboard(Dashboard):
    """CPU, memory, swap, disks, disk I/O, network, the process and GPUs over the chosen window."""

    name = "system"
    title = "System"
    description = "CPU, memory and swap, disk usage and I/O, network, this process, and GPUs when present."

    def get_data(self, window_seconds: float = DEFAULT_WINDOW, *, runtime: Runtime | None = None) -> dict[str, Any]:
        """Panels of the system monitor's series."""
        rt = runtime or _current.get_runtime()
        store = rt.store
        start, end = window(window_seconds, rt)
        now = ((sc.SYSTEM_CPU_PERCENT, "CPU"), (sc.SYSTEM_MEMORY_PERCENT, "memory"), (sc.SYSTEM_SWAP_PERCENT, "swap"),
               (sc.SYSTEM_LOAD_1M, "load (1 min)"))  # fmt: skip
        items = []
        for metric, label in now:
            latest = store.history(metric.name, limit=1)
            unit = "" if metric.unit == "1" else metric.unit  # a plain number (the load): no unit shown
            items.append({"label": label, "value": latest[0].value if latest else None, "unit": unit})
        panels: list[dict[str, Any]] = [{"id": "now", "type": "stats", "title": "Now", "items": items}]
        # (panel id, title, [(metric, label)]): the panel's unit is its first metric's.
        specs: list[tuple[str, str, list[tuple[MetricSpec, Label]]]] = [
            ("cpu", "CPU", [(sc.SYSTEM_CPU_PERCENT, _fixed("all cores")),
                            (sc.SYSTEM_CPU_CORE_PERCENT, _attr("cpu", "core "))]),
            ("memory", "Memory and swap", [(sc.SYSTEM_MEMORY_PERCENT, _fixed("memory")),
                                           (sc.SYSTEM_SWAP_PERCENT, _fixed("swap"))]),
            ("disk", "Disk usage", [(sc.SYSTEM_DISK_PERCENT, _attr("mountpoint"))]),
            ("disk_io", "Disk I/O", [(sc.SYSTEM_DISK_READ_BYTES_PER_S, _attr("device", "read ")),
                                     (sc.SYSTEM_DISK_WRITE_BYTES_PER_S, _attr("device", "write "))]),
            ("network", "Network", [(sc.SYSTEM_NET_RECV_BYTES_PER_S, _attr("interface", "in ")),
                                    (sc.SYSTEM_NET_SENT_BYTES_PER_S, _attr("interface", "out "))]),
            ("process_cpu", "This process: CPU (% of one core)", [(sc.PROCESS_CPU_PERCENT, _fixed("CPU"))]),
            ("process_memory", "This process: memory", [(sc.PROCESS_MEMORY_RSS_BYTES, _fixed("RSS"))]),
        ]  # fmt: skip
        if store.series(sc.SYSTEM_GPU_PERCENT.name):
            specs.append(("gpu", "GPU", [(sc.SYSTEM_GPU_PERCENT, _attr("gpu", "GPU ")),
                                         (sc.SYSTEM_GPU_MEMORY_PERCENT, _attr("gpu", "memory "))]))  # fmt: skip
        panels += [
            timeseries(pid, title, metrics[0][0].unit, store, [(m.name, label) for m, label in metrics], start, end)
            for pid, title, metrics in specs
        ]
        return {"panels": panels}


class PerformanceDashboard(Dashboard):
    """Tracked operations: calls, errors, latency percentiles, throughput; failing operations stand out."""

    name = "performance"
    title = "Performance"
    description = "Every tracked operation: calls, errors, duration percentiles and throughput."

    def get_data(self, window_seconds: float = DEFAULT_WINDOW, *, runtime: Runtime | None = None) -> dict[str, Any]:
        """A sortable table of operations plus duration and throughput charts."""
        rt = runtime or _current.get_runtime()
        tracker = rt.performance
        stats = {} if tracker is None else tracker.stats()
        rows, ids, highlight = [], [], []
        for i, (name, st) in enumerate(sorted(stats.items())):
            traces = f"traces?operation={quote(name)}"
            recent, slowest = {"text": "recent", "href": traces}, {"text": "slowest", "href": traces + "&order=slowest"}
            links = {"links": [recent, slowest]}
            rows.append([name, st.calls, st.errors, st.error_rate, st.mean, st.p50, st.p95, st.p99, st.max,
                         st.calls_per_minute, format_time(st.last_call, "%H:%M:%S")
                         if st.last_call else None, links])  # fmt: skip
            ids.append(name)
            if st.errors:
                highlight.append(i)
        table = {
            "id": "operations",
            "type": "table",
            "title": "Operations",
            "columns": [
                "operation",
                "calls",
                "errors",
                "error rate",
                "mean",
                "p50",
                "p95",
                "p99",
                "max",
                "calls/min",
                "last call",
                "traces",
            ],
            "units": ["", "", "", "1", "s", "s", "s", "s", "s", "", "", ""],
            "rows": rows,
            "row_ids": ids,
            "highlight": highlight,
            "empty": "no tracked calls yet: decorate functions with @track()",
        }
        start, end = window(window_seconds, rt)
        durations, throughput = self._charts(rt.store, start, end)
        return {
            "panels": [
                table,
                {"id": "duration", "type": "timeseries", "title": "Mean duration per collection interval",
                 "unit": "s", "series": durations},
                {"id": "throughput", "type": "timeseries", "title": "Calls per collection interval",
                 "unit": "{call}", "series": throughput},
            ]
        }  # fmt: skip

    @staticmethod
    def _charts(store: MetricStore, start: float, end: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        counts: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        duration = sc.OPERATION_DURATION.name
        for target, metric in ((sums, f"{duration}.sum"), (counts, f"{duration}.count")):
            for s in store.series(metric):
                op = str(s.attributes.get("zgen.operation.name", "?"))
                for p in s.points(start, end):
                    target[op][p.timestamp] += p.value
        durations, throughput = [], []
        for op in sorted(counts):
            times = sorted(counts[op])
            means = [(t, sums[op][t] / counts[op][t]) for t in times if counts[op][t]]
            calls = [(t, counts[op][t]) for t in times]
            durations.append({"label": op, "points": [list(p) for p in downsample(means)],
                              "stats": _value_stats([v for _, v in means])})  # fmt: skip
            throughput.append({"label": op, "points": [list(p) for p in downsample(calls)],
                               "stats": _value_stats([v for _, v in calls])})  # fmt: skip
        return durations, throughput


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
            [a.severity.label, a.name, a.description, a.status.value, fmt(a.starts_at), a.value, _labels(a.labels)]
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
    """Every metric recorded with ``record_metric``, grouped by category, with a sparkline."""

    name = "metrics"
    title = "Custom metrics"
    description = "Every metric recorded with record_metric, by category: sparkline, latest and average."

    def get_data(self, window_seconds: float = DEFAULT_WINDOW, *, runtime: Runtime | None = None) -> dict[str, Any]:
        """One table per category."""
        rt = runtime or _current.get_runtime()
        names = rt.metrics.recorded_names() if rt.metrics is not None else set()
        start, end = window(window_seconds, rt)
        groups: dict[str, list[list[Any]]] = defaultdict(list)
        chosen = [s for s in rt.store.all_series() if s.name in names]
        for s in sorted(chosen, key=series_sort_key):
            points = [(p.timestamp, p.value) for p in s.points(start, end)]
            st = _value_stats([v for _, v in points])
            attrs = _labels({k: str(v) for k, v in s.attributes.items()})
            groups[s.category or "uncategorised"].append(
                [s.name, attrs, {"spark": [list(p) for p in points]}, st["latest"], st["avg"], st["min"],
                 st["max"], len(points), s.unit or None])  # fmt: skip
        panels = [
            {"id": f"category-{cat}", "type": "table", "title": f"Category: {cat}",
             "columns": ["metric", "attributes", "recent", "latest", "average", "min", "max", "points", "unit"],
             "rows": rows}
            for cat, rows in sorted(groups.items())
        ]  # fmt: skip
        if not panels:
            panels = [{"id": "none", "type": "table", "title": "Custom metrics", "columns": [], "rows": [],
                       "empty": "no metrics recorded with record_metric yet"}]  # fmt: skip
        return {"panels": panels}


class LLMDashboard(Dashboard):
    """LLM calls: tokens by model and type, latency (mean, p50, p95, p99), errors and cost."""

    name = "llm"
    title = "LLM calls"
    description = "Tokens by model and type, latency percentiles, errors and cost of LLM calls (GenAI conventions)."

    def get_data(self, window_seconds: float = DEFAULT_WINDOW, *, runtime: Runtime | None = None) -> dict[str, Any]:
        """A table per model plus token, latency and cost charts (per collection interval)."""
        rt = runtime or _current.get_runtime()
        store = rt.store
        start, end = window(window_seconds, rt)

        def model(s: Series) -> str:
            return str(s.attributes.get("gen_ai.request.model", "?"))

        def label(s: Series) -> str:
            parts = [
                model(s),
                str(s.attributes.get("gen_ai.provider.name", "")),
                str(s.attributes.get("error.type", "")),
            ]
            return " · ".join(p for p in parts if p)

        rows: dict[str, list[Any]] = {}
        tokens, duration = sc.GEN_AI_CLIENT_TOKEN_USAGE.name, sc.GEN_AI_CLIENT_OPERATION_DURATION.name
        cost = sc.LLM_COST.name
        for metric, column in ((f"{tokens}.sum", None), (f"{duration}.count", 1), (f"{duration}.sum", 4),
                               (cost, 6)):  # fmt: skip
            for s in store.series(metric):
                row = rows.setdefault(model(s), [model(s), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
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
        latencies = _llm_latencies(rt, start)
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
                 "note": "p50/p95/p99: over the llm_call spans of the window still held in the recent-span "
                         "buffer (ZGEN_OTEL_MAX_SPANS)",
                 "empty": "no LLM calls yet: wrap them in zgen_otel.llm.llm_call(...)"},
                timeseries("tokens", "Tokens per collection interval", "{token}", store,
                           [(f"{tokens}.sum",
                             lambda s: f"{model(s)} {s.attributes.get('gen_ai.token.type', '')}")], start, end),
                timeseries("latency", "Slowest call per collection interval", "s", store,
                           [(f"{duration}.max", label)], start, end),
                timeseries("cost", "Cost (running total)", "", store, [(cost, label)], start, end),
            ]
        }  # fmt: skip


def _llm_latencies(rt: Runtime, start: float) -> dict[str, list[float]]:
    """Durations (s) by requested model of the ``llm_call`` spans that ended since ``start``, from the span ring."""
    buffer = rt.span_buffer
    durations: dict[str, list[float]] = defaultdict(list)
    for span in [] if buffer is None else buffer.recent():
        scope, attributes = span.instrumentation_scope, span.attributes or {}
        model = attributes.get("gen_ai.request.model")
        if scope is None or scope.name != LLM_SCOPE or model is None or not span.start_time or not span.end_time:
            continue
        if span.end_time / 1e9 >= start:
            durations[str(model)].append((span.end_time - span.start_time) / 1e9)
    return durations


def builtin_dashboards() -> list[Dashboard]:
    """New instances of every built-in dashboard (the package registers them with the dashboard manager)."""
    return [
        SystemDashboard(), PerformanceDashboard(), AlertsDashboard(), MetricsDashboard(), LLMDashboard(),
        TracesDashboard(), LogsDashboard(),
    ]  # fmt: skip
