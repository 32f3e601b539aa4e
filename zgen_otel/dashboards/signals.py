"""The former name of `zgen_otel.dashboards.traces_logs`: its public names, re-exported.

Kept so that ``zgen_otel.dashboards.signals.render_trace`` (as the README shows it) and code written against
this name still import; new code imports `zgen_otel.dashboards.traces_logs`.
"""

from __future__ import annotations

from zgen_otel.dashboards.traces_logs import LogsDashboard, TracesDashboard, find_trace, render_trace

__all__ = ["LogsDashboard", "TracesDashboard", "find_trace", "render_trace"]
