"""The notification channel interface, shaped like an OTel exporter: `Notifier`, `Notification`, `NotifyResult`.

A channel (`Notifier`) is handed batches of `Notification` by the alert manager's dispatcher
(`zgen_otel.alerting.dispatch`), on a worker thread of its own. Like an OTel exporter it has ``notify``
(returns a `NotifyResult`), ``force_flush`` and ``shutdown``; it has a minimum severity and optional
label filters. The built-in channels are in `zgen_otel.alerting.notifiers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zgen_otel._util import safe_repr
from zgen_otel.alerting.model import Alert, AlertSeverity, TextEnum
from zgen_otel.alerting.rules import str_map

__all__ = ["Notification", "NotificationEvent", "Notifier", "NotifyResult"]


class NotificationEvent(TextEnum):
    """What a notification tells about its alert (equal to ``"firing"``, ``"repeat"``, ``"resolved"``)."""

    FIRING = "firing"  # the alert fired
    REPEAT = "repeat"  # still firing and unacknowledged after ``repeat_interval``
    RESOLVED = "resolved"  # the alert resolved


class NotifyResult(TextEnum):
    """The outcome of `Notifier.notify`, like an OTel exporter's ``SpanExportResult``."""

    SUCCESS = "success"
    FAILURE = "failure"  # retried with backoff, then dropped and counted


@dataclass(frozen=True)
class Notification:
    """One thing to tell: an alert (as its JSON form, frozen at the time) that fired, repeats or resolved.

    Attributes:
        event: what happened to the alert: it fired, repeats (still firing, unacknowledged) or resolved.
        alert: the alert as `Alert.to_dict` gives it (``name``, ``severity``, ``labels``, ``startsAt``...).

    Raises:
        ValueError: ``event`` is not a `NotificationEvent` or one's text.
    """

    event: NotificationEvent
    alert: dict[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "event", NotificationEvent(self.event))

    @property
    def severity(self) -> AlertSeverity:
        """The alert's severity."""
        return AlertSeverity.parse(self.alert["severity"])

    @property
    def labels(self) -> dict[str, str]:
        """The alert's labels (``alertname``, ``severity``, ``category`` and the user's)."""
        labels: dict[str, str] = self.alert["labels"]
        return labels


class Notifier:
    """Base class of a notification channel, shaped like an OTel exporter: ``notify``, ``force_flush``, ``shutdown``.

    The dispatcher calls `notify` with one batch at a time, on the channel's own worker thread. It
    returns `NotifyResult.SUCCESS` or `NotifyResult.FAILURE`; an exception counts as a failure.
    A failure is retried with exponential backoff, then the batch is dropped and counted. For a simple channel
    implement `send` (deliver or raise); override `notify` to report a failure without raising.

    Args:
        min_severity: notifications of less severe alerts are not sent to this channel.
        labels: only alerts whose labels include all these items are sent to this channel.
        name: how logs and the status name the channel.
    """

    def __init__(
        self,
        *,
        min_severity: AlertSeverity | str = AlertSeverity.INFO,
        labels: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.min_severity = AlertSeverity.parse(min_severity)
        self.label_filter = str_map("labels", labels)
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise TypeError(f"name must be a non-empty str or None; got {safe_repr(name)}")
        self.name = name or type(self).__name__
        self.sent = 0
        self.failed = 0

    def accepts(self, notification: Notification) -> bool:
        """Whether this channel wants a notification: its ``min_severity`` and ``labels`` filter.

        Args:
            notification: the notification the dispatcher is about to send.

        Returns:
            True when the alert is at least ``min_severity`` and has every label of the filter.
        """
        if notification.severity < self.min_severity:
            return False
        labels = notification.labels
        return all(labels.get(k) == v for k, v in self.label_filter.items())

    def notify(self, notifications: Sequence[Notification]) -> NotifyResult:
        """Deliver a batch: the hook the dispatcher calls. This one calls `send`.

        Args:
            notifications: the batch, oldest first; every one passed `accepts`.

        Returns:
            ``NotifyResult.SUCCESS`` when delivered, ``NotifyResult.FAILURE`` to have the batch retried.

        Raises:
            Exception: anything; the dispatcher counts it as a failure and retries.
        """
        self.send(notifications)
        return NotifyResult.SUCCESS

    def send(self, notifications: Sequence[Notification]) -> None:
        """Deliver a batch or raise: what a channel that keeps the default `notify` implements.

        Args:
            notifications: the batch, oldest first; every one passed `accepts`.

        Raises:
            NotImplementedError: always, here: a subclass implements it.
        """
        raise NotImplementedError

    def on_tick(self, active: Sequence[Alert]) -> None:
        """Called at every evaluation tick, on the channel's worker, when a subclass overrides it.

        `AlertmanagerNotifier` re-sends the active alerts here. A tick is skipped while the previous one runs.

        Args:
            active: the active alerts no silence mutes (not filtered by `accepts`).
        """

    def force_flush(self, timeout: float = 30.0) -> bool:
        """Deliver anything the channel itself buffers, within ``timeout`` seconds.

        The built-in channels buffer nothing: they deliver each batch in `notify`.

        Args:
            timeout: the most seconds to take.

        Returns:
            True when everything was delivered in time.
        """
        return True

    def shutdown(self) -> None:
        """Release resources; no batch comes after it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, min_severity={self.min_severity.name})"
