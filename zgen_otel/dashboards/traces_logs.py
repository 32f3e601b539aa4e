"""The ``traces`` and ``logs`` dashboards and the trace page: the local view of the other two OTel signals.

``render_dashboard("traces")`` lists recent traces (root operation, duration, span count, error mark) under a
filter form (operation, status, shortest duration, order, service) and a duration-over-time scatter, a page of
`TRACES_PER_PAGE` at a time; ``render_trace(trace_id)`` draws one trace as a waterfall (bars placed by
start and duration under a time ruler, nested by parent, failed spans in red, each span opening to its
attributes and events, an exception with its stack trace) with the trace's logs; ``render_dashboard("logs")``
lists captured log records (a logged exception with its traceback) with level, logger, text and trace
filters, `LOGS_PER_PAGE` at a time. The data comes from `zgen_otel.traces` and
`zgen_otel.logs`; the HTML is autoescaped like every page.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from zgen_otel import _current
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard, render_page
from zgen_otel.dashboards.rendering import environment, window
from zgen_otel.dashboards.trace_charts import duration_scatter, ruler
from zgen_otel.logs import get_recent_logs, log_buffer_stats
from zgen_otel.selection import Selection, processes, span_rows
from zgen_otel.traces import find_trace, get_recent_traces, span_buffer_stats

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = [
    "LOGS_PER_PAGE",
    "TRACES_PER_PAGE",
    "LogsDashboard",
    "TracesDashboard",
    "find_trace",
    "render_trace",
    "traceback_lines",
]

#: Rows of the traces list shown at a time (the page pages through the rest in the browser).
TRACES_PER_PAGE = 25
#: Rows of the logs list shown at a time.
LOGS_PER_PAGE = 50
#: Operation names offered by the traces filter (the most a datalist holds usefully).
MAX_OPERATION_CHOICES = 500
#: A traceback's frame line of a file of this package (here or on the machine that sent it).
_PACKAGE_FRAME = re.compile(r'^  File "[^"]*[\\/]zgen_otel[\\/]')
#: A span's status in words: OTel's "unset" means no error was recorded, which is what people call ok.
STATUS_WORDS = {"ok": "ok", "unset": "ok", "error": "failed"}


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
        """``traces`` (summaries, see `zgen_otel.traces.get_recent_traces`), ``filters``, ``buffer``, ``limit``.

        ``service`` and ``instance`` keep the traces the selected processes took part in. ``operations`` (span
        names of the selected processes) and ``services`` (every service known here) are the filter's choices.
        """
        rt = runtime or _current.get_runtime()
        since, _ = window(window_seconds, rt)
        traces = get_recent_traces(operation, status, min_duration, since=since, limit=limit, order=order,
                                   service=service, instance=instance, runtime=rt)  # fmt: skip
        filters = {"operation": operation, "status": status, "min_duration": min_duration, "order": order}
        several = len({t["service"] for t in traces}) > 1
        names = sorted({row.name for row in span_rows(rt, Selection(service, instance))})
        return {"traces": traces, "filters": filters, "buffer": span_buffer_stats(rt.span_buffer),
                "several_services": several, "limit": limit, "operations": names[:MAX_OPERATION_CHOICES],
                "services": sorted({p.service for p in processes(rt)})}  # fmt: skip

    def to_html(self, *, runtime: Runtime | None = None, **options: Any) -> str:
        """The traces list page: the filter form, the duration scatter and the list, a page at a time."""
        rt = runtime or _current.get_runtime()
        doc = self.document(runtime=rt, **options)
        return render_page("traces.html", doc, rt, options, scatter=duration_scatter(doc["traces"]),
                           per_page=TRACES_PER_PAGE)  # fmt: skip


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
        limit: int = 200,
        *,
        service: str | None = None,
        instance: str | None = None,
        runtime: Runtime | None = None,
    ) -> dict[str, Any]:
        """``logs`` (records, see `zgen_otel.logs.get_recent_logs`), ``filters``, ``buffer`` and ``limit``.

        ``service`` and ``instance`` keep the records of the selected processes.
        """
        rt = runtime or _current.get_runtime()
        since, _ = window(window_seconds, rt)
        logs = get_recent_logs(min_level, logger, contains, trace_id, since=since, limit=limit, service=service,
                               instance=instance, runtime=rt)  # fmt: skip
        filters = {"min_level": min_level, "logger": logger, "contains": contains, "trace_id": trace_id}
        several = len({record["service"] for record in logs}) > 1
        return {"logs": logs, "filters": filters, "buffer": log_buffer_stats(rt.log_buffer),
                "several_services": several, "limit": limit}  # fmt: skip

    def to_html(self, *, runtime: Runtime | None = None, **options: Any) -> str:
        """The logs page, with its filters, a page at a time."""
        rt = runtime or _current.get_runtime()
        doc = self.document(runtime=rt, **options)
        return render_page("logs.html", doc, rt, options, per_page=LOGS_PER_PAGE, frames=traceback_lines)


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
    return environment.get_template("trace.html").render(
        trace=trace, bars=[_bar(trace, span) for span in trace["spans"]], ruler=ruler(trace["duration_ms"]),
        status_words=STATUS_WORDS, frames=traceback_lines,
    )  # fmt: skip


def _bar(trace: dict[str, Any], span: dict[str, Any]) -> dict[str, Any]:
    """Where a span's bar sits in the waterfall (percent of the trace) and where its duration label goes.

    The label goes after the bar when there is room on its right, before it when there is room on its left,
    and inside it (white on the bar's colour) when the bar fills the row.
    """
    total = trace["end"] - trace["start"]
    total = total if total > 0 else 1e-9
    left = (span["start"] - trace["start"]) / total * 100 if span["start"] is not None else 0.0
    width = min((span["duration_ms"] or 0) / 1000 / total * 100, 100 - left)
    place = "after" if left + width <= 78 else "before" if left >= 22 else "inside"
    return {"left": left, "width": width, "place": place}


def traceback_lines(text: str) -> list[tuple[str, bool]]:
    """A Python traceback's lines, each with whether it belongs to a frame of zgen_otel itself.

    A logged exception raised under ``@track`` passes through the tracking wrapper: the page dims those
    frames (the ``File`` line and the source lines under it), so the eye goes to the user's own.
    """
    lines, ours = [], False
    for line in text.splitlines():
        if line.startswith("  File "):
            ours = bool(_PACKAGE_FRAME.match(line))
        elif not line.startswith("    "):
            ours = False
        lines.append((line, ours))
    return lines
