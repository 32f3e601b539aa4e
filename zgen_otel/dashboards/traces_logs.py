"""The ``traces`` and ``logs`` dashboards and the trace page: the local view of the other two OTel signals.

``render_dashboard("traces")`` lists recent traces (root operation, duration, span count, error mark);
``render_trace(trace_id)`` draws one trace as a waterfall (bars placed by start and duration, nested by
parent, failed spans in red, each span opening to its attributes and events) with the trace's logs;
``render_dashboard("logs")`` lists captured log records with level, logger, text and trace filters. The
data comes from :mod:`zgen_otel.traces` and :mod:`zgen_otel.logs`; the HTML is autoescaped like every page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zgen_otel import _current
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.rendering import environment, window
from zgen_otel.logs import get_recent_logs, log_buffer_stats
from zgen_otel.traces import find_trace, get_recent_traces, span_buffer_stats

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["LogsDashboard", "TracesDashboard", "find_trace", "render_trace"]


class TracesDashboard(Dashboard):
    """Recent traces from the in-process span buffer, newest (or slowest) first."""

    name = "traces"
    title = "Traces"
    description = "Recent traces, this process's and received ones: open one for its waterfall, attributes and logs."

    def get_data(
        self,
        window_seconds: float = DEFAULT_WINDOW,
        operation: str | None = None,
        status: str | None = None,
        min_duration: float | None = None,
        order: str = "recent",
        limit: int = 200,
        *,
        service: str | None = None,
        instance: str | None = None,
        runtime: Runtime | None = None,
    ) -> dict[str, Any]:
        """``traces`` (summaries, see :func:`zgen_otel.traces.get_recent_traces`), ``filters`` and ``buffer``.

        ``service`` and ``instance`` keep the traces the selected processes took part in.
        """
        rt = runtime or _current.get_runtime()
        since, _ = window(window_seconds, rt)
        traces = get_recent_traces(operation, status, min_duration, since=since, limit=limit, order=order,
                                   service=service, instance=instance, runtime=rt)  # fmt: skip
        filters = {"operation": operation, "status": status, "min_duration": min_duration, "order": order}
        several = len({t["service"] for t in traces}) > 1
        return {"traces": traces, "filters": filters, "buffer": span_buffer_stats(rt.span_buffer),
                "several_services": several}  # fmt: skip

    def to_html(self, *, runtime: Runtime | None = None, **options: Any) -> str:
        """The traces list page."""
        doc = self.document(runtime=runtime, **options)
        return environment.get_template("traces.html").render(doc=doc, interactive=bool(options.get("interactive")))


class LogsDashboard(Dashboard):
    """Captured log records, newest first, filtered by level, logger, text and trace."""

    name = "logs"
    title = "Logs"
    description = "Python logging records, this process's and received ones, with their trace; alert changes too."

    def get_data(
        self,
        window_seconds: float = DEFAULT_WINDOW,
        min_level: str | None = None,
        logger: str | None = None,
        contains: str | None = None,
        trace_id: str | None = None,
        limit: int = 500,
        *,
        service: str | None = None,
        instance: str | None = None,
        runtime: Runtime | None = None,
    ) -> dict[str, Any]:
        """``logs`` (records, see :func:`zgen_otel.logs.get_recent_logs`), ``filters`` and ``buffer``.

        ``service`` and ``instance`` keep the records of the selected processes.
        """
        rt = runtime or _current.get_runtime()
        since, _ = window(window_seconds, rt)
        logs = get_recent_logs(min_level, logger, contains, trace_id, since=since, limit=limit, service=service,
                               instance=instance, runtime=rt)  # fmt: skip
        filters = {"min_level": min_level, "logger": logger, "contains": contains, "trace_id": trace_id}
        several = len({record["service"] for record in logs}) > 1
        return {"logs": logs, "filters": filters, "buffer": log_buffer_stats(rt.log_buffer),
                "several_services": several}  # fmt: skip

    def to_html(self, *, runtime: Runtime | None = None, **options: Any) -> str:
        """The logs page, with its filters."""
        doc = self.document(runtime=runtime, **options)
        return environment.get_template("logs.html").render(doc=doc, interactive=bool(options.get("interactive")))


def render_trace(
    trace_id: str,
    *,
    service: str | None = None,
    instance: str | None = None,
    runtime: Runtime | None = None,
    interactive: bool = False,
) -> str:
    """One trace as an HTML page: the waterfall (each span with its service) and the trace's logs.

    ``interactive``: the web page's copy, with links to the traces and logs pages (a saved page has none).

    Raises:
        ValueError: ``trace_id`` is not 32 hex digits.
        NotFoundError: the trace is unknown, was evicted, or has no span of the selected ``service`` or
            ``instance`` (a ``KeyError``, so a ``LookupError``).
    """
    trace = find_trace(trace_id, service=service, instance=instance, runtime=runtime)
    return environment.get_template("trace.html").render(trace=trace, interactive=interactive)
