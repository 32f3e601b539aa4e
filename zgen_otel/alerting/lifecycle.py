"""The alert lifecycle: the active alerts, and what happens when one fires or resolves.

Every change goes to the history (and its file), to the ``zgen_otel.alerts`` log, and to the notifications
(through the callback the alert manager gives). Both ways an alert fires use it: by hand
(``AlertManager.trigger_alert``) and by a rule (`zgen_otel.alerting.evaluator`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from zgen_otel._util import safe_repr
from zgen_otel._validate import check_text
from zgen_otel.alerting.channel import NotificationEvent
from zgen_otel.alerting.history import AlertHistory
from zgen_otel.alerting.model import Alert, AlertSeverity, AlertStatus, check_details, fingerprint
from zgen_otel.alerting.rules import check_url, str_map, validate_name
from zgen_otel.exceptions import NotFoundError

__all__ = ["AlertLifecycle", "AlertLock", "Announce", "checked_alert"]

_events = logging.getLogger("zgen_otel.alerts")

#: Called with (event, alert, now) when an alert fires or resolves: the alert manager sends it on.
Announce = Callable[[NotificationEvent, Alert, float], None]


class AlertLock:
    """The alert manager's lock (re-entrant), which writes the ``zgen_otel.alerts`` log only once it is released.

    The handlers of that log are the host's code (a slow or blocking handler is the host's choice): they must
    never run while the lock that recording and the API take is held. `log` queues a record under the
    lock; the outermost holder emits the queue after releasing it.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # how deep the owning thread holds it; changed only by the owner
        self._pending: list[tuple[int, str, tuple[object, ...]]] = []

    def acquire(self) -> None:
        """Take the lock (blocking)."""
        self._lock.acquire()
        self._depth += 1

    def release(self) -> None:
        """Give the lock back; the outermost release then writes the queued log records."""
        self._depth -= 1
        pending: list[tuple[int, str, tuple[object, ...]]] = []
        if self._depth == 0 and self._pending:
            pending, self._pending = self._pending, []
        self._lock.release()
        for level, message, args in pending:
            _events.log(level, message, *args)

    def __enter__(self) -> AlertLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def log(self, level: int, message: str, *args: object) -> None:
        """Queue a record for the ``zgen_otel.alerts`` log; call it while holding the lock."""
        self._pending.append((level, message, args))


class AlertLifecycle:
    """The active alerts (by id and by fingerprint) and their history; opens and closes alerts.

    Not thread-safe: the alert manager calls it under its lock. The active alerts saved in the history's
    file by an earlier run are active again from the start.

    Args:
        history: where every alert and each of its changes is kept.
        announce: called when an alert fires or resolves (the notifications).
        lock: the alert manager's lock, held by every caller; the log records go out when it is released.
    """

    def __init__(self, history: AlertHistory, announce: Announce, lock: AlertLock) -> None:
        self.history = history
        self._lock = lock
        self.active: dict[str, Alert] = {}
        self._by_fingerprint: dict[str, Alert] = {}
        self._announce = announce
        for alert in history.load():
            if alert.active:
                self.active[alert.id] = alert
                self._by_fingerprint[alert.fingerprint] = alert

    def find(self, name: str, labels: Mapping[str, str]) -> Alert | None:
        """The active alert with this name and labels, or None."""
        alert = self._by_fingerprint.get(fingerprint(name, labels))
        return alert if alert is not None and alert.active else None

    def get(self, alert_id: str) -> Alert:
        """An alert by id: an active one (also one pushed out of the history) or one from the history.

        Raises:
            NotFoundError: no alert has that id.
        """
        active = self.active.get(alert_id) if isinstance(alert_id, str) else None
        if active is not None:
            return active
        for alert in self.history.items:
            if alert.id == alert_id:
                return alert
        raise NotFoundError(f"no alert with id {safe_repr(alert_id)}")

    def query_active(self, severity: AlertSeverity | str | None, category: str | None) -> list[Alert]:
        """The active alerts of that severity and category (None: any), most severe first, then newest first."""
        level = None if severity is None else AlertSeverity.parse(severity)
        alerts = [
            a
            for a in self.active.values()
            if (level is None or a.severity == level) and (category is None or a.category == category)
        ]
        return sorted(alerts, key=lambda a: (-a.severity, -a.starts_at))

    def open(self, alert: Alert, now: float) -> None:
        """Fire a new alert: it becomes active, goes into the history, the log and the notifications."""
        self.active[alert.id] = alert
        self._by_fingerprint[alert.fingerprint] = alert
        self.history.add(alert)
        self._lock.log(logging.WARNING, "alert fired: %s [%s] %s", alert.name, alert.severity.label, alert.description)
        self._announce(NotificationEvent.FIRING, alert, now)

    def raise_alert(self, alert: Alert) -> Alert:
        """An alert raised by hand: the active alert of the same name and labels is updated, or this one fires.

        Returns:
            The active alert, updated (``occurrences``, ``last_seen``, description, details), or ``alert``.
        """
        now = alert.starts_at
        existing = self.find(alert.name, alert.labels)
        if existing is None:
            self.open(alert, now)
            return alert
        self.recur(existing, now, alert.description, alert.details)
        return existing

    def recur(self, alert: Alert, now: float, description: str, details: Mapping[str, Any]) -> None:
        """The condition of an active alert was raised again: count it and take the new description and details."""
        alert.occurrences += 1
        alert.last_seen = now
        alert.description = description
        alert.details.update(details)
        self.history.save(alert)

    def close(self, alert: Alert, now: float) -> None:
        """Resolve an active alert at ``now``: saved, logged and notified."""
        alert.status, alert.ends_at = AlertStatus.RESOLVED, now
        self.active.pop(alert.id, None)
        if self._by_fingerprint.get(alert.fingerprint) is alert:
            del self._by_fingerprint[alert.fingerprint]
        self.history.save(alert)
        self._lock.log(logging.INFO, "alert resolved: %s", alert.name)
        self._announce(NotificationEvent.RESOLVED, alert, now)

    def acknowledge(self, alert: Alert, now: float, by: str | None, note: str | None) -> None:
        """Acknowledge an active alert: it stays active, without repeat notifications.

        Raises:
            ValueError: the alert is already resolved.
        """
        if not alert.active:
            raise ValueError(f"alert {alert.id!r} is resolved; only active alerts can be acknowledged")
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at, alert.acknowledged_by, alert.acknowledgement_note = now, by, note
        self.history.save(alert)
        self._lock.log(logging.INFO, "alert acknowledged: %s by %s", alert.name, by or "someone")


def checked_alert(
    name: str,
    description: str,
    severity: AlertSeverity | str,
    category: str | None,
    details: Mapping[str, Any] | None,
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None,
    generator_url: str,
    now: float,
) -> Alert:
    """A new alert raised by hand at ``now``, its fields checked (see ``AlertManager.trigger_alert``).

    Raises:
        DefinitionError, TypeError: a bad name, severity, details, labels, annotations or link, naming it.
    """
    validate_name("alert name", name)
    if not isinstance(description, str):
        raise TypeError(f"description must be a str; got {safe_repr(description)}")
    level = AlertSeverity.parse(severity)
    check_text("category", category)
    detail_map = check_details(details)
    label_map = str_map("labels", labels)
    note_map = str_map("annotations", annotations)
    link = check_url("generator_url", generator_url)
    return Alert(name, description, level, category, label_map, note_map, detail_map, now, last_seen=now,
                 generator_url=link)  # fmt: skip
