"""Dashboards: HTML pages and JSON documents of the metrics, tracked operations, alerts, traces and logs.

The modules depend one way: :mod:`~zgen_otel.dashboards.rendering` (Jinja environment, formatting, time
window) <- :mod:`~zgen_otel.dashboards.charts` (SVG) <- :mod:`~zgen_otel.dashboards.dashboard` (the base class,
the registry, the render functions) <- :mod:`~zgen_otel.dashboards.traces_logs` and
:mod:`~zgen_otel.dashboards.builtin` (the built-in dashboards). This package, above them all, hands the
built-in dashboards to the registry when it is imported.
"""

from zgen_otel.dashboards.builtin import builtin_dashboards
from zgen_otel.dashboards.dashboard import (
    Dashboard,
    DashboardManager,
    get_dashboard_manager,
    render_dashboard,
    render_dashboard_index,
    set_builtin_dashboards,
)

set_builtin_dashboards(builtin_dashboards)

__all__ = ["Dashboard", "DashboardManager", "get_dashboard_manager", "render_dashboard", "render_dashboard_index"]
