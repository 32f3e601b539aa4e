"""Alerting: ``trigger_alert``, ``AlertSeverity``, ``get_alert_manager`` and rules.

Example::

    from zgen_otel.alerting import trigger_alert, AlertSeverity, get_alert_manager

    trigger_alert(name="high_memory_usage", description="Memory usage is above 90%",
                  severity=AlertSeverity.WARNING, category="system", details={"memory_percent": 92.5})
    get_alert_manager().add_metric_rule(name="high_cpu_usage", description="High CPU usage detected",
                                        metric_name="system.cpu_percent", threshold=90, operator=">",
                                        duration=300, severity=AlertSeverity.WARNING, category="system")
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zgen_otel import _current
from zgen_otel import semconv as sc
from zgen_otel.alerting.manager import AlertManager, Silence
from zgen_otel.alerting.model import Alert, AlertSeverity, AlertStatus
from zgen_otel.alerting.notifiers import (
    AlertmanagerNotifier,
    EmailNotifier,
    LoggingNotifier,
    Notification,
    NotificationEvent,
    Notifier,
    NotifyResult,
    SlackNotifier,
    WebhookNotifier,
)
from zgen_otel.alerting.prometheus import ROUTES, prometheus_metric_name, render_rules
from zgen_otel.alerting.rules import CustomRule, MetricRule, RuleState
from zgen_otel.store import METRICS

__all__ = [
    "DEFAULT_RULES",
    "ROUTES",
    "Alert",
    "AlertManager",
    "AlertSeverity",
    "AlertStatus",
    "AlertmanagerNotifier",
    "CustomRule",
    "EmailNotifier",
    "LoggingNotifier",
    "MetricRule",
    "Notification",
    "NotificationEvent",
    "Notifier",
    "NotifyResult",
    "RuleState",
    "Silence",
    "SlackNotifier",
    "WebhookNotifier",
    "export_prometheus_rules",
    "get_alert_manager",
    "install_default_rules",
    "prometheus_metric_name",
    "trigger_alert",
]

#: The rules installed for the system monitor (ZGEN_OTEL_DEFAULT_RULES): name -> add_metric_rule keywords.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "system_cpu_high": {
        "description": "CPU usage above 90% for 5 minutes",
        "metric_name": sc.SYSTEM_CPU_PERCENT.name,
        "threshold": 90,
        "clear_threshold": 80,
    },
    "system_memory_high": {
        "description": "Memory usage above 90% for 5 minutes",
        "metric_name": sc.SYSTEM_MEMORY_PERCENT.name,
        "threshold": 90,
        "clear_threshold": 85,
    },
    "system_disk_high": {
        "description": "Disk usage above 90% on a mount point for 5 minutes",
        "metric_name": sc.SYSTEM_DISK_PERCENT.name,
        "threshold": 90,
        "clear_threshold": 85,
    },
    "system_swap_high": {
        "description": "Swap usage above 80% for 5 minutes",
        "metric_name": sc.SYSTEM_SWAP_PERCENT.name,
        "threshold": 80,
        "clear_threshold": 70,
    },
}


def install_default_rules(manager: AlertManager) -> None:
    """Add `DEFAULT_RULES` (WARNING, category ``system``, ``>`` for 300 s) to ``manager``.

    The runtime does it for the process-wide manager when alerting is on, unless ``ZGEN_OTEL_DEFAULT_RULES=false``;
    a rule of the same name is replaced, so calling it again restores the defaults.

    Args:
        manager: the alert manager to add the rules to.
    """
    for name, spec in DEFAULT_RULES.items():
        manager.add_metric_rule(name=name, operator=">", duration=300, severity=AlertSeverity.WARNING,
                                category="system", replace=True, **spec)  # fmt: skip


def get_alert_manager() -> AlertManager:
    """Get the process-wide alert manager of the current runtime.

    Returns:
        The alert manager: rules, alerts, silences and notification channels.
    """
    manager: AlertManager = _current.get_runtime().alert_manager
    return manager


def trigger_alert(
    name: str,
    description: str,
    severity: AlertSeverity | str = AlertSeverity.WARNING,
    category: str | None = None,
    details: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    generator_url: str = "",
) -> Alert:
    """Raise an alert on the process-wide manager: `AlertManager.trigger_alert`, same arguments.

    The same name and labels while that alert is active update it instead (``occurrences``, ``last_seen``,
    description, details).

    Args:
        name: the alert's name (``alertname``): a letter or ``_``, then letters, digits, ``_``, ``.``, ``:`` or
            ``-`` (at most 200 characters).
        description: what happened, for a person.
        severity: an `AlertSeverity`, or its name in any case (``"critical"``).
        category: a free-form group (``"system"``, ``"cost"``), or None.
        details: data about this occurrence (JSON-serialisable); an update merges them in.
        labels: extra labels (str to str): with the name they identify the alert; silences match them.
        annotations: extra annotations (str to str), such as a runbook link.
        generator_url: the alert's ``generatorURL``: an absolute http(s) link to where it comes from (a
            dashboard, a runbook), or ``""``.

    Returns:
        The new alert, or the active one it updated; with ``MONITORING_ENABLED=false``, the checked alert,
            neither kept nor sent.

    Raises:
        DefinitionError: an empty or malformed name, details that are not JSON-serialisable, a
            ``generator_url`` that is not an http(s) URL.
        ValueError: an unknown severity.
        TypeError: an argument of the wrong type (labels that are not str to str...), naming it.
    """
    return get_alert_manager().trigger_alert(
        name,
        description,
        severity,
        category,
        details=details,
        labels=labels,
        annotations=annotations,
        generator_url=generator_url,
    )


def export_prometheus_rules(path: str | Path | None = None, group: str = "zgen_otel", route: str = "scrape") -> str:
    """The metric rules as a Prometheus rule file (written to ``path`` when given); custom rules are skipped.

    Args:
        path: the file to write (None: only return the text).
        group: the rule group's name.
        route: how the agents' metrics reach that Prometheus, which decides their names: ``scrape`` (the default:
            it scrapes each agent's ``/metrics``) or ``collector`` (OTLP to an OpenTelemetry Collector that
            remote-writes to it or that it scrapes). See ``ROUTES``.

    Returns:
        The rule file's text (YAML).

    Raises:
        DefinitionError: an unknown ``route``.
        ImportError: the ``prometheus`` extra (OTel's Prometheus exporter, whose names the rules use) is missing.
    """
    manager = get_alert_manager()
    # record_metric's series are gauges; other stored series (received, other instrumentation) of unknown kind
    metrics: dict[str, tuple[sc.Kind | None, str]] = {
        s.name: ("gauge" if s.source == METRICS else None, s.unit) for s in manager.store.all_series()
    }
    metrics.update({m.name: (m.kind, m.unit) for m in sc.ALL_INSTRUMENTS})
    text = render_rules(manager.list_rules(), metrics, group, route)
    if path is not None:
        Path(path).write_text(text)
    return text
