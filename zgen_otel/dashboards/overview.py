"""What every page says first: the service it shows, and the index's key numbers (alerts, calls, errors, CPU, memory).

`key_numbers` reads a runtime as the index shows it, like the landing pages of Grafana, Glances and Netdata:
the alerts firing by severity, the tracked calls and their error rate over the last hour, and this host's CPU
and memory now (the system monitor's latest readings). `page_service` is the service named in every
page's header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zgen_otel import semconv as sc
from zgen_otel.alerting.model import Alert, AlertSeverity, AlertStatus
from zgen_otel.dashboards.opstats import operation_stats
from zgen_otel.selection import Selection, processes, select

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["KEY_WINDOW", "SEVERITIES", "alert_counts", "key_numbers", "page_service"]

#: The window of the index's call and error numbers (seconds).
KEY_WINDOW = 3600.0
#: Alert severities, most severe first, as the key numbers list them.
SEVERITIES = tuple(s.label for s in sorted(AlertSeverity, reverse=True))
_MAX_NAMED = 3  # services named in a header; the others are counted


def page_service(runtime: Runtime, selection: Selection | None = None) -> str:
    """The service a page shows: the selected one (``billing / 7f3a`` with an instance), else every one in view.

    Without a selection: this process's service, then those sending here (``agent, billing, search and 2 more``).
    """
    if selection is not None and (selection.service or selection.instance):
        return " / ".join(v for v in (selection.service, selection.instance) if v)
    names = list(dict.fromkeys(p.service for p in processes(runtime)))
    shown = ", ".join(names[:_MAX_NAMED])
    return f"{shown} and {len(names) - _MAX_NAMED} more" if len(names) > _MAX_NAMED else shown


def _latest(runtime: Runtime, metric: str) -> float | None:
    """The newest reading of this process's series of ``metric`` (None without one)."""
    points = [p for p in (s.latest() for s in select(runtime).store.local(metric)) if p is not None]
    return max(points, key=lambda p: p.timestamp).value if points else None


def alert_counts(active: Sequence[Alert]) -> dict[str, Any]:
    """The active alerts counted, for the index's key numbers and the alerts page's boxes.

    Args:
        active: the active alerts (`AlertManager.get_active_alerts`).

    Returns:
        ``firing`` (the total), ``by_severity`` (``[severity, firing count]`` for each of `SEVERITIES`) and
        ``acknowledged``.
    """
    firing = [a for a in active if a.status is AlertStatus.FIRING]
    return {
        "firing": len(firing),
        "by_severity": [[sev, sum(1 for a in firing if a.severity.label == sev)] for sev in SEVERITIES],
        "acknowledged": sum(1 for a in active if a.status is AlertStatus.ACKNOWLEDGED),
    }


def key_numbers(runtime: Runtime) -> dict[str, Any]:
    """The index's key numbers: a JSON-ready dict.

    Returns:
        ``alerts``: ``firing`` (the total), ``by_severity`` (``[severity, count]`` for each of `SEVERITIES`)
        and ``acknowledged``; ``calls``, ``errors``, ``error_rate`` (None without calls) and ``calls_per_minute``
        of every tracked operation of every process in view over `KEY_WINDOW`; ``cpu`` and ``memory``:
        this host's latest percentages (None without the system monitor); ``window_seconds``.
    """
    stats = operation_stats(select(runtime), KEY_WINDOW).values()
    calls, errors = sum(st.calls for st in stats), sum(st.errors for st in stats)
    return {
        "alerts": alert_counts(runtime.alert_manager.get_active_alerts()),
        "calls": calls,
        "errors": errors,
        "error_rate": errors / calls if calls else None,
        "calls_per_minute": calls * 60.0 / KEY_WINDOW,
        "cpu": _latest(runtime, sc.SYSTEM_CPU_PERCENT.name),
        "memory": _latest(runtime, sc.SYSTEM_MEMORY_PERCENT.name),
        "window_seconds": KEY_WINDOW,
    }
