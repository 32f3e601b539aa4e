"""The list of built-in dashboards, `builtin_dashboards`.

Each lives in its own module: ``system``, ``performance`` (``operations``), ``alerts``, ``metrics``
(``custom_metrics``), ``llm``, and ``traces`` and ``logs`` (``traces_logs``). Each reads a runtime (the current
one unless ``get_data`` is given one), through the selection of processes it is given
(`zgen_otel.selection.select`; ``alerts`` shows every rule and alert); each is a small class whose
``get_data`` returns panels (``timeseries``, ``stats``, ``table``). Adding one is another such class, listed in
`builtin_dashboards`.
"""

from __future__ import annotations

from zgen_otel.dashboards.alerts import AlertsDashboard
from zgen_otel.dashboards.custom_metrics import MetricsDashboard
from zgen_otel.dashboards.dashboard import Dashboard
from zgen_otel.dashboards.llm import LLMDashboard
from zgen_otel.dashboards.operations import PerformanceDashboard
from zgen_otel.dashboards.system import SystemDashboard
from zgen_otel.dashboards.traces_logs import LogsDashboard, TracesDashboard

__all__ = [
    "AlertsDashboard",
    "LLMDashboard",
    "MetricsDashboard",
    "PerformanceDashboard",
    "SystemDashboard",
    "builtin_dashboards",
]


def builtin_dashboards() -> list[Dashboard]:
    """New instances of every built-in dashboard (the package registers them with the dashboard manager)."""
    return [
        SystemDashboard(), PerformanceDashboard(), AlertsDashboard(), MetricsDashboard(), LLMDashboard(),
        TracesDashboard(), LogsDashboard(),
    ]  # fmt: skip
