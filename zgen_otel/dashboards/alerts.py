"""The ``alerts`` dashboard: firing alerts by severity, the active alerts, the rules and the grouped history.

Its JSON document has four panels: ``summary`` (a stats panel, one item per severity plus the acknowledged
ones), ``active`` (each active alert with its occurrences, ``details`` and, per row, the actions it still
offers in ``row_actions``), ``rules`` (each rule with what it judges, ``increase(zgen.llm.cost[1h]) > 0.05``)
and ``history``: one row per alert name and label set, so a rule that fired and resolved thirty times is one
row counting thirty, its occurrences listed in ``row_details``. Its page (``templates/alerts.html``) draws the
same document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zgen_otel import _current
from zgen_otel.alerting.model import Alert, AlertStatus
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard, render_page
from zgen_otel.dashboards.overview import alert_counts
from zgen_otel.dashboards.panels import labels_text
from zgen_otel.dashboards.rendering import CLOCK, format_time, window

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["OCCURRENCES_SHOWN", "AlertsDashboard", "group_history"]

#: The occurrences of one history row listed when it is opened (the newest); the count covers them all.
OCCURRENCES_SHOWN = 20
ACTIVE_COLUMNS = ["severity", "name", "description", "status", "started", "last seen", "occurrences", "value",
                  "labels", "details", "acknowledged by"]  # fmt: skip
HISTORY_COLUMNS = ["severity", "name", "labels", "fired", "first fired", "last fired", "status", "ended",
                   "acknowledged by"]  # fmt: skip


def _when(ts: float | None) -> str | None:
    return format_time(ts, CLOCK) if ts else None


def _actions(alert: Alert) -> list[str]:
    """What can still be done to an active alert: an acknowledged one can only be resolved."""
    return ["resolve"] if alert.status is AlertStatus.ACKNOWLEDGED else ["acknowledge", "resolve"]


def group_history(alerts: list[Alert], limit: int) -> list[list[Alert]]:
    """Alerts (newest first) grouped by name and labels, the group fired most recently first, at most ``limit``.

    Each group is newest first: a flapping rule's thirty fire/resolve pairs are one group of thirty.
    """
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(alert.fingerprint, []).append(alert)
    return list(groups.values())[:limit]


def _history_row(group: list[Alert]) -> list[Any]:
    latest, first = group[0], group[-1]
    acknowledged = next((a.acknowledged_by for a in group if a.acknowledged_by), None)
    return [latest.severity.label, latest.name, labels_text(latest.labels), len(group), _when(first.starts_at),
            _when(latest.starts_at), latest.status.value, _when(latest.ends_at), acknowledged]  # fmt: skip


def _occurrence(alert: Alert) -> dict[str, Any]:
    return {"started": _when(alert.starts_at), "ended": _when(alert.ends_at), "status": alert.status.value,
            "acknowledged_by": alert.acknowledged_by, "occurrences": alert.occurrences}  # fmt: skip


class AlertsDashboard(Dashboard):
    """Firing alerts by severity, the active ones with their details, the rules, and the history grouped."""

    name = "alerts"
    title = "Alerts"
    description = "Active alerts by severity, acknowledgements, every rule's state, and the recent history."

    def get_data(
        self, window_seconds: float = DEFAULT_WINDOW, history_limit: int = 50, *, runtime: Runtime | None = None
    ) -> dict[str, Any]:
        """The panels ``summary``, ``active``, ``rules`` and ``history`` (``history_limit``: rows, not alerts)."""
        rt = runtime or _current.get_runtime()
        manager = rt.alert_manager
        active = manager.get_active_alerts()
        counts = alert_counts(active)
        summary = [{"label": f"firing · {sev}", "severity": sev, "unit": "{alert}", "value": n}
                   for sev, n in counts["by_severity"]]  # fmt: skip
        summary.append({"label": "acknowledged", "severity": "acknowledged", "unit": "{alert}",
                        "value": counts["acknowledged"]})  # fmt: skip
        active_rows = [
            [a.severity.label, a.name, a.description, a.status.value, _when(a.starts_at), _when(a.last_seen),
             a.occurrences, a.value, labels_text(a.labels), a.details or None, a.acknowledged_by]
            for a in active
        ]  # fmt: skip
        history = manager.get_alert_history(since=window(window_seconds, rt)[0])
        groups = group_history(history, history_limit)
        rules = manager.list_rules()
        rule_rows = []
        for r in rules:
            d = r.to_dict()
            rule_rows.append([d["name"], d["condition"], d["duration"], d["state"], d["last_value"], d["severity"],
                              "on" if d["enabled"] else "off"])  # fmt: skip
        return {
            "panels": [
                {"id": "summary", "type": "stats", "title": "Now", "items": summary},
                {"id": "active", "type": "table", "title": "Active alerts", "columns": ACTIVE_COLUMNS,
                 "rows": active_rows, "row_ids": [a.id for a in active], "actions": ["acknowledge", "resolve"],
                 "row_actions": [_actions(a) for a in active],
                 "highlight": [i for i, a in enumerate(active) if a.status is AlertStatus.FIRING],
                 "empty": "no active alerts"},
                {"id": "rules", "type": "table", "title": "Rules",
                 "columns": ["rule", "condition", "for (s)", "state", "last value", "severity", "enabled"],
                 "rows": rule_rows, "highlight": [i for i, r in enumerate(rules) if r.state == "firing"],
                 "empty": "no rules"},
                {"id": "history", "type": "table", "title": "Recent history",
                 "note": "one row per alert and label set, newest first; open a count for each time it fired",
                 "columns": HISTORY_COLUMNS, "rows": [_history_row(g) for g in groups],
                 "row_details": [[_occurrence(a) for a in g[:OCCURRENCES_SHOWN]] for g in groups],
                 "empty": "no alerts in this time range"},
            ],
        }  # fmt: skip

    def to_html(self, *, runtime: Runtime | None = None, **options: Any) -> str:
        """The alerts page: coloured severity boxes, the actions an alert still offers (on the web page only)."""
        rt = runtime or _current.get_runtime()
        doc = self.document(runtime=rt, **options)
        return render_page("alerts.html", doc, rt, options, panels={p["id"]: p for p in doc["panels"]}, rows=_rows)


def _rows(panel: dict[str, Any]) -> list[dict[str, Any]]:
    """A table panel's rows as ``{column: cell}`` with ``_index`` (the row's position), for the template."""
    return [{**dict(zip(panel["columns"], row, strict=True)), "_index": i} for i, row in enumerate(panel["rows"])]
