"""The five built-in notification channels: log, webhook, Slack, e-mail and Alertmanager.

Each is a `Notifier` (`zgen_otel.alerting.channel`, whose names this module also offers): the alert
manager's dispatcher hands it batches of `Notification` on a worker thread of its own. Secrets (webhook URLs
with tokens, SMTP passwords) never appear in logs or ``repr``.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from zgen_otel._util import safe_repr
from zgen_otel._validate import non_negative_seconds, positive_seconds
from zgen_otel.alerting.channel import Notification, NotificationEvent, Notifier, NotifyResult
from zgen_otel.alerting.model import Alert, AlertSeverity, AlertStatus
from zgen_otel.alerting.rules import str_map
from zgen_otel.alerting.transport import post_json, redact
from zgen_otel.exceptions import DefinitionError

__all__ = [
    "AlertmanagerNotifier",
    "EmailNotifier",
    "LoggingNotifier",
    "Notification",
    "NotificationEvent",
    "Notifier",
    "NotifyResult",
    "SlackNotifier",
    "WebhookNotifier",
]

_log = logging.getLogger(__name__)

#: The longest ``timeout`` a channel takes: a delivery that may take longer than an hour is a mistake.
MAX_TIMEOUT = 3600.0


def _timeout(value: object) -> float:
    """A channel's ``timeout``: seconds > 0 and at most `MAX_TIMEOUT`; ``ValueError`` naming it otherwise."""
    seconds = positive_seconds("timeout", value)
    if seconds > MAX_TIMEOUT:
        raise DefinitionError(f"timeout must be at most {MAX_TIMEOUT:g} seconds; got {safe_repr(value)}")
    return seconds


def _http_url(value: object, what: str) -> str:
    """An absolute http(s) URL with a host and a valid port.

    The error shows only the URL's scheme and host: a URL may hold a token.
    """
    if not isinstance(value, str):
        raise TypeError(f"url must be a str; got {type(value).__name__}")
    parts = urlsplit(value)
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a port that is not a number from 0 to 65535
        valid = False
    if not valid:
        shown = f"{parts.scheme}://{parts.hostname or ''}/…" if parts.scheme else "<not a URL>"
        raise DefinitionError(f"url must be {what}: http:// or https://, a host and a valid port; got {shown!r}")
    return value


def _address(what: str, value: object) -> str:
    """An e-mail address: a str with an ``@`` and no whitespace (a newline would inject a header)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str e-mail address; got {safe_repr(value)}")
    if "@" not in value or any(c.isspace() for c in value) or value.startswith("@") or value.endswith("@"):
        raise DefinitionError(f"{what} must be an e-mail address such as ops@example.com; got {safe_repr(value)}")
    return value


class LoggingNotifier(Notifier):
    """Log each notification (``zgen_otel.alerts`` logger): ERROR/CRITICAL alerts at ERROR, others at WARNING.

    A resolved alert is logged at INFO.

    Args:
        logger: the logger to write to (None: ``zgen_otel.alerts``).
        **kwargs: ``min_severity``, ``labels`` and ``name``, as for `Notifier`.

    Raises:
        ValueError, TypeError: a bad ``min_severity``, ``labels`` or ``name`` (see `Notifier`).
    """

    def __init__(self, logger: logging.Logger | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._logger = logger or logging.getLogger("zgen_otel.alerts")

    def send(self, notifications: Sequence[Notification]) -> None:
        """Log every notification of the batch.

        Args:
            notifications: the batch, oldest first.
        """
        for n in notifications:
            level = logging.ERROR if n.severity >= AlertSeverity.ERROR else logging.WARNING
            if n.event is NotificationEvent.RESOLVED:
                level = logging.INFO
            self._logger.log(level, "alert %s [%s] %s: %s", n.event, n.alert["severity"], n.alert["name"],
                             n.alert["description"])  # fmt: skip


class WebhookNotifier(Notifier):
    """POST a JSON payload shaped like Alertmanager's webhook (``status``, ``alerts``, ``groupLabels``...).

    Args:
        url: where to POST: an absolute http(s) URL; user info in it is sent as basic auth. It may hold a token:
            it never appears in logs or ``repr`` (only its scheme, host and port do).
        headers: extra request headers (str to str), such as ``Authorization``.
        timeout: the total deadline of one delivery in seconds (> 0, at most 3600): connecting, sending and
            reading the answer.
        **kwargs: ``min_severity``, ``labels`` and ``name``, as for `Notifier`.

    Raises:
        DefinitionError: a URL that is not http(s) with a host and a valid port, or a timeout over 3600 s.
        ValueError: a timeout that is not a number of seconds > 0, or a bad ``min_severity``.
        TypeError: a URL that is not a str, or headers that are not str to str.
    """

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0, **kwargs: Any):
        super().__init__(**kwargs)
        self._url = _http_url(url, "an absolute URL")
        self._headers = str_map("headers", headers)
        self.timeout = _timeout(timeout)

    def payload(self, notifications: Sequence[Notification]) -> dict[str, Any]:
        """The body sent for a batch; override it to send another shape (as `SlackNotifier` does).

        Args:
            notifications: the batch, oldest first.

        Returns:
            Alertmanager's webhook fields: ``version``, ``receiver``, ``status`` (``firing`` while any alert of
                the batch fires), ``alerts`` (each alert's JSON form with its ``status``), ``commonLabels``...
        """
        firing = any(n.event is not NotificationEvent.RESOLVED for n in notifications)
        alerts = [{**n.alert, "status": AlertStatus.RESOLVED.value if n.event is NotificationEvent.RESOLVED
                   else AlertStatus.FIRING.value} for n in notifications]  # fmt: skip
        return {
            "version": "4",
            "receiver": self.name,
            "status": (AlertStatus.FIRING if firing else AlertStatus.RESOLVED).value,
            "alerts": alerts,
            "groupLabels": {},
            "commonLabels": _common(n.labels for n in notifications),
            "externalURL": "",
        }

    def send(self, notifications: Sequence[Notification]) -> None:
        """POST the batch's `payload` as JSON.

        Args:
            notifications: the batch, oldest first.

        Raises:
            OSError: the delivery failed (an HTTP error status, no connection, the timeout), naming the URL
                without its secrets; the dispatcher retries it.
        """
        post_json(self._url, self.payload(notifications), self._headers, self.timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={redact(self._url)!r}, min_severity={self.min_severity.name})"


def _common(label_sets: Any) -> dict[str, str]:
    sets = list(label_sets)
    if not sets:
        return {}
    common = dict(sets[0])
    for labels in sets[1:]:
        common = {k: v for k, v in common.items() if labels.get(k) == v}
    return common


class SlackNotifier(WebhookNotifier):
    """POST to a Slack incoming webhook (``text`` plus one attachment per alert, coloured by severity)."""

    _COLOURS = {"info": "#439FE0", "warning": "#FFA500", "error": "#E01E5A", "critical": "#8B0000"}

    def payload(self, notifications: Sequence[Notification]) -> dict[str, Any]:
        """The Slack message for a batch: one line of text, and one attachment per alert.

        Args:
            notifications: the batch, oldest first.

        Returns:
            ``text`` naming the alerts, and ``attachments``, each coloured by severity (green once resolved),
                with the alert's description and labels.
        """
        attachments = []
        for n in notifications:
            a = n.alert
            colour = "#2EB67D" if n.event is NotificationEvent.RESOLVED else self._COLOURS.get(a["severity"], "#999999")
            fields = [{"title": k, "value": str(v), "short": True} for k, v in sorted(a["labels"].items())]
            attachments.append(
                {
                    "color": colour,
                    "title": f"[{n.event.upper()}] {a['name']}",
                    "text": a["description"],
                    "fields": fields,
                    "ts": int(datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00")).timestamp()),
                }
            )
        names = ", ".join(sorted({n.alert["name"] for n in notifications}))
        return {"text": f"{len(notifications)} alert notification(s): {names}", "attachments": attachments}


class EmailNotifier(Notifier):
    """Send one e-mail per batch over SMTP (optional STARTTLS and login).

    With ``starttls=True`` the server's certificate and host name are verified against the system's CAs, or
    ``tls_context`` (e.g. ``ssl.create_default_context(cafile=...)`` for a private CA) when given.

    Args:
        host: the SMTP server's host name or address.
        port: its port (1 to 65535; 25, or 587 for STARTTLS).
        sender: the ``From`` address.
        recipients: the ``To`` addresses (at least one); a single str is one address.
        username: log in with this user name after STARTTLS, or None to send without logging in.
        password: the password for ``username``; it never appears in logs or ``repr``.
        starttls: upgrade the connection to TLS before logging in and sending.
        tls_context: the TLS settings for STARTTLS (None: the system's CAs, verifying the host name).
        timeout: the deadline of each SMTP operation in seconds (> 0, at most 3600).
        **kwargs: ``min_severity``, ``labels`` and ``name``, as for `Notifier`.

    Raises:
        DefinitionError: a port out of range, no recipients, an address without ``@`` or with whitespace, or
            a timeout over 3600 s.
        ValueError: a timeout that is not a number of seconds > 0, or a bad ``min_severity``.
        TypeError: an argument of the wrong type (an empty host, a ``starttls`` that is not a bool...).
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(host, str) or not host.strip():
            raise TypeError(f"host must be a non-empty str; got {safe_repr(host)}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise DefinitionError(f"port must be a whole number from 1 to 65535; got {safe_repr(port)}")
        if isinstance(recipients, str):  # one address, as smtplib takes a bare str: never a list of its letters
            recipients = [recipients]
        if not isinstance(recipients, Sequence) or not recipients:
            raise DefinitionError(f"recipients must list at least one address; got {safe_repr(recipients)}")
        self.recipients = [_address("recipients item", r) for r in recipients]
        self.host, self.port, self.sender = host, port, _address("sender", sender)
        for what, value in (("username", username), ("password", password)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{what} must be a str or None; got {type(value).__name__}")
        if not isinstance(starttls, bool):
            raise TypeError(f"starttls must be True or False; got {safe_repr(starttls)}")
        if tls_context is not None and not isinstance(tls_context, ssl.SSLContext):
            raise TypeError(f"tls_context must be an ssl.SSLContext or None; got {safe_repr(tls_context)}")
        self._username, self._password = username, password
        self.starttls, self.timeout = starttls, _timeout(timeout)
        self._tls_context = tls_context  # the system's CAs are loaded on the first STARTTLS without one

    def message(self, notifications: Sequence[Notification]) -> EmailMessage:
        """The e-mail for a batch.

        Args:
            notifications: the batch, oldest first (at least one).

        Returns:
            A message whose subject names the first alert (and how many more), with one paragraph per alert.
        """
        msg = EmailMessage()
        first = notifications[0]
        more = f" (+{len(notifications) - 1} more)" if len(notifications) > 1 else ""
        msg["Subject"] = f"[{first.event.upper()}] {first.alert['name']}{more}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        lines = []
        for n in notifications:
            a = n.alert
            lines.append(f"[{n.event.upper()}] {a['name']} ({a['severity']}): {a['description']}")
            lines.append(f"  labels: {json.dumps(a['labels'], sort_keys=True)}")
            lines.append(f"  started: {a['startsAt']}  ended: {a['endsAt']}")
        msg.set_content("\n".join(lines) + "\n")
        return msg

    def send(self, notifications: Sequence[Notification]) -> None:
        """Send the batch's e-mail (`message`) over SMTP, with STARTTLS and login when set.

        Args:
            notifications: the batch, oldest first.

        Raises:
            OSError: the delivery failed (no connection, a certificate that does not verify, the server refused
                the login or the mail: ``smtplib.SMTPException``); the dispatcher retries it.
        """
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                # Verify the server (certificate and host name) before the password goes over the wire.
                if self._tls_context is None:
                    self._tls_context = ssl.create_default_context()
                smtp.starttls(context=self._tls_context)
            if self._username is not None:
                smtp.login(self._username, self._password or "")
            smtp.send_message(self.message(notifications))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r}, port={self.port}, recipients={self.recipients!r})"


class AlertmanagerNotifier(Notifier):
    """Push alerts to a real Alertmanager (``POST /api/v2/alerts``).

    Active alerts are re-sent every ``resend_interval`` seconds (Alertmanager expires alerts it stops hearing
    about), and a resolved alert is sent once with its ``endsAt``.

    Args:
        url: the Alertmanager's base URL (``http://127.0.0.1:9093``); ``/api/v2/alerts`` is added.
        resend_interval: seconds between re-sends of the active alerts (>= 0).
        timeout: the total deadline of one delivery in seconds (> 0, at most 3600).
        **kwargs: ``min_severity``, ``labels`` and ``name``, as for `Notifier`.

    Raises:
        DefinitionError: a URL that is not http(s) with a host and a valid port, or a timeout over 3600 s.
        ValueError: a ``resend_interval`` or ``timeout`` out of range, or a bad ``min_severity``.
        TypeError: a URL that is not a str.
    """

    def __init__(self, url: str, *, resend_interval: float = 60.0, timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._url = _http_url(url, "the Alertmanager's base URL").rstrip("/") + "/api/v2/alerts"
        self.resend_interval = non_negative_seconds("resend_interval", resend_interval)
        self.timeout = _timeout(timeout)
        self._last_resend = 0.0

    @staticmethod
    def _shape(alert: Mapping[str, Any]) -> dict[str, Any]:
        body = {"labels": alert["labels"], "annotations": alert["annotations"], "startsAt": alert["startsAt"]}
        if alert.get("endsAt"):
            body["endsAt"] = alert["endsAt"]
        if alert.get("generatorURL"):
            body["generatorURL"] = alert["generatorURL"]
        return body

    def send(self, notifications: Sequence[Notification]) -> None:
        """POST the batch's alerts (labels, annotations, ``startsAt``, ``endsAt`` once resolved, ``generatorURL``).

        Args:
            notifications: the batch, oldest first.

        Raises:
            OSError: the delivery failed (an HTTP error status, no connection, the timeout); it is retried.
        """
        post_json(self._url, [self._shape(n.alert) for n in notifications], {}, self.timeout)

    def on_tick(self, active: Sequence[Alert]) -> None:
        """Re-send the active alerts this channel accepts, when ``resend_interval`` has passed since the last time.

        A failure is logged, not retried: the next re-send carries the same alerts.

        Args:
            active: the active alerts no silence mutes.
        """
        now = time.monotonic()
        wanted = [d for d in (a.to_dict() for a in active) if self.accepts(Notification(NotificationEvent.REPEAT, d))]
        if wanted and now - self._last_resend >= self.resend_interval:
            self._last_resend = now
            try:
                post_json(self._url, [self._shape(d) for d in wanted], {}, self.timeout)
            except OSError as exc:
                _log.warning("zgen_otel: re-sending active alerts to %s failed: %s", self.name, exc)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={redact(self._url)!r})"
