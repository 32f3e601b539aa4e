"""Dashboards (the seed's ``dashboards``): see :mod:`zgen_otel.dashboards.dashboard`."""

from zgen_otel.dashboards.dashboard import (
    Dashboard,
    DashboardManager,
    get_dashboard_manager,
    render_dashboard,
    render_dashboard_index,
)

__all__ = ["Dashboard", "DashboardManager", "get_dashboard_manager", "render_dashboard", "render_dashboard_index"]
