"""Dashboards: HTML pages and JSON documents of the metrics, tracked operations, alerts, traces and logs.

The modules depend one way: `rendering` (Jinja environment, formatting, time
window) <- `charts` (SVG) <- `dashboard` (the base class,
the registry, the render functions) <- `traces_logs` and
`builtin` (the built-in dashboards). This package, above them all, hands the
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
