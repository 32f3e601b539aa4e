"""Notification channels, shaped like OTel exporters, and the dispatcher that delivers to them.

A channel implements ``notify(notifications) -> bool`` (True when delivered) and ``shutdown()``; it has a
minimum severity and optional label filters. The :class:`Dispatcher` never blocks the caller: events go
into a bounded queue; a worker thread groups bursts (``group_wait``), sends one batch per channel, retries
failures with exponential backoff, and counts and logs what it drops. A failing channel never affects the
others. Secrets (webhook URLs with tokens, SMTP passwords) never appear in logs or ``repr``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import queue
import smtplib
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from zgen_otel._fork import fork_safe_lock
from zgen_otel._validate import check_count, non_negative_seconds
from zgen_otel.alerting.model import Alert, AlertSeverity

__all__ = [
    "AlertmanagerNotifier",
    "Dispatcher",
    "EmailNotifier",
    "LoggingNotifier",
    "Notification",
    "Notifier",
    "SlackNotifier",
    "WebhookNotifier",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    """One thing to tell: an alert (as its JSON form, frozen at the time) that fired, repeats or resolved."""

    event: str  # "firing", "repeat" or "resolved"
    alert: dict[str, Any]

    @property
    def severity(self) -> AlertSeverity:
        """The alert's severity."""
        return AlertSeverity.parse(self.alert["severity"])

    @property
    def labels(self) -> dict[str, str]:
        """The alert's labels (``alertname``, ``severity``, ``category`` and the user's)."""
        labels: dict[str, str] = self.alert["labels"]
        return labels


def redact(url: str) -> str:
    """A URL safe to log: scheme, host and port only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


class Notifier:
    """Base class of a notification channel. Subclasses implement :meth:`send`.

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
        self.label_filter = dict(labels or {})
        self.name = name or type(self).__name__
        self.sent = 0
        self.failed = 0

    def accepts(self, notification: Notification) -> bool:
        """Whether this channel wants the notification (severity and label filter)."""
        if notification.severity < self.min_severity:
            return False
        labels = notification.labels
        return all(labels.get(k) == v for k, v in self.label_filter.items())

    def notify(self, notifications: Sequence[Notification]) -> bool:
        """Deliver a batch; True when delivered. Exceptions are the dispatcher's to catch and retry."""
        self.send(notifications)
        return True

    def send(self, notifications: Sequence[Notification]) -> None:
        """Deliver a batch or raise."""
        raise NotImplementedError

    def on_tick(self, active: Sequence[Alert]) -> None:
        """Called at every evaluation tick with the active alerts (Alertmanager re-sends them)."""

    def shutdown(self) -> None:
        """Release resources."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, min_severity={self.min_severity.name})"


class LoggingNotifier(Notifier):
    """Log each notification (``zgen_otel.alerts`` logger): ERROR/CRITICAL alerts at ERROR, others at WARNING."""

    def __init__(self, logger: logging.Logger | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._logger = logger or logging.getLogger("zgen_otel.alerts")

    def send(self, notifications: Sequence[Notification]) -> None:
        """Log every notification of the batch."""
        for n in notifications:
            level = logging.ERROR if n.severity >= AlertSeverity.ERROR else logging.WARNING
            if n.event == "resolved":
                level = logging.INFO
            self._logger.log(level, "alert %s [%s] %s: %s", n.event, n.alert["severity"], n.alert["name"],
                             n.alert["description"])  # fmt: skip


def _credentials(url: str) -> tuple[str, dict[str, str]]:
    """Move user info out of a URL into a basic-auth header (urllib would look it up as part of the host name)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, {}
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def _post_json(url: str, body: Any, headers: Mapping[str, str], timeout: float) -> None:
    data = json.dumps(body).encode()
    try:
        target, auth = _credentials(url)
        request = urllib.request.Request(target, data=data, method="POST", headers={"Content-Type": "application/json"})
        for key, value in {**auth, **headers}.items():
            request.add_unredirected_header(key, value)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code} from {redact(url)}") from None
    except Exception as exc:
        reason = getattr(exc, "reason", exc)
        raise OSError(f"{type(reason).__name__} posting to {redact(url)}") from None


class WebhookNotifier(Notifier):
    """POST a JSON payload shaped like Alertmanager's webhook (``status``, ``alerts``, ``groupLabels``...)."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("url must be an http:// or https:// URL")
        self._url = url
        self._headers = dict(headers or {})
        self.timeout = timeout

    def payload(self, notifications: Sequence[Notification]) -> dict[str, Any]:
        """The body sent for a batch."""
        firing = any(n.event != "resolved" for n in notifications)
        alerts = [{**n.alert, "status": "resolved" if n.event == "resolved" else "firing"} for n in notifications]
        return {
            "version": "4",
            "receiver": self.name,
            "status": "firing" if firing else "resolved",
            "alerts": alerts,
            "groupLabels": {},
            "commonLabels": _common(n.labels for n in notifications),
            "externalURL": "",
        }

    def send(self, notifications: Sequence[Notification]) -> None:
        """POST the batch."""
        _post_json(self._url, self.payload(notifications), self._headers, self.timeout)

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
        """The Slack message for a batch."""
        attachments = []
        for n in notifications:
            a = n.alert
            colour = "#2EB67D" if n.event == "resolved" else self._COLOURS.get(a["severity"], "#999999")
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
        if not recipients:
            raise ValueError("recipients must list at least one address")
        self.host, self.port, self.sender, self.recipients = host, port, sender, list(recipients)
        self._username, self._password = username, password
        self.starttls, self.timeout = starttls, timeout
        self._tls_context = tls_context  # the system's CAs are loaded on the first STARTTLS without one

    def message(self, notifications: Sequence[Notification]) -> EmailMessage:
        """The e-mail for a batch."""
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
        """Send the batch's e-mail."""
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
    """

    def __init__(self, url: str, *, resend_interval: float = 60.0, timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("url must be the Alertmanager's http:// or https:// base URL")
        self._url = url.rstrip("/") + "/api/v2/alerts"
        self.resend_interval = resend_interval
        self.timeout = timeout
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
        """POST the batch's alerts."""
        _post_json(self._url, [self._shape(n.alert) for n in notifications], {}, self.timeout)

    def on_tick(self, active: Sequence[Alert]) -> None:
        """Re-send the active alerts when ``resend_interval`` has passed."""
        now = time.monotonic()
        wanted = [d for d in (a.to_dict() for a in active) if self.accepts(Notification("repeat", d))]
        if wanted and now - self._last_resend >= self.resend_interval:
            self._last_resend = now
            try:
                _post_json(self._url, [self._shape(d) for d in wanted], {}, self.timeout)
            except OSError as exc:
                _log.warning("zgen_otel: re-sending active alerts to %s failed: %s", self.name, exc)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={redact(self._url)!r})"


@dataclass
class _Stats:
    queued: int = 0
    delivered: int = 0
    dropped: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=fork_safe_lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        """The counters as a JSON-ready dict."""
        with self.lock:
            return {"queued": self.queued, "delivered": self.delivered, "dropped": self.dropped,
                    "retries": self.retries, "failures": dict(self.failures)}  # fmt: skip

    def add(self, name: str, n: int = 1, channel: str | None = None) -> None:
        """Thread-safe increment of a counter (or of a channel's failure count)."""
        with self.lock:
            if channel is not None:
                self.failures[channel] = self.failures.get(channel, 0) + n
            else:
                setattr(self, name, getattr(self, name) + n)


class _Worker:
    """A daemon thread with its own bounded queue: one per channel, plus one that groups bursts."""

    def __init__(self, name: str, handle: Callable[[Any], None], maxsize: int) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._handle = handle
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                self._handle(item)
            except Exception:  # a worker must outlive any bug
                _log.exception("zgen_otel: notification worker failed")
            finally:
                self.queue.task_done()

    def stop(self, timeout: float) -> None:
        with contextlib.suppress(queue.Full):
            self.queue.put(None, timeout=timeout)
        self._thread.join(timeout)


class Dispatcher:
    """Deliver notifications to channels off the caller's thread: queue, group, retry, count.

    One worker groups bursts of notifications (``group_wait``) into a batch per channel; each channel has a
    worker of its own, so a slow or hanging channel delays only itself.

    Args:
        group_wait: seconds to collect a burst into one batch per channel (0: no grouping).
        max_queue: the size of each queue (notifications waiting to be grouped, then batches waiting per
            channel); what does not fit is dropped, counted and logged.
        max_retries: attempts after the first failure; the n-th retry waits ``backoff * 2 ** (n - 1)`` seconds.
    """

    def __init__(
        self, *, group_wait: float = 1.0, max_queue: int = 1000, max_retries: int = 3, backoff: float = 0.5
    ) -> None:
        self.channels: list[Notifier] = []
        self.group_wait: float
        self.max_queue: int
        self.max_retries: int
        self.backoff: float
        self.stats = _Stats()
        self._grouper: _Worker | None = None
        self._workers: dict[int, _Worker] = {}
        self._start_lock = fork_safe_lock()
        self.configure(group_wait=group_wait, max_queue=max_queue, max_retries=max_retries, backoff=backoff)

    def configure(
        self,
        *,
        group_wait: float | None = None,
        max_queue: int | None = None,
        max_retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        """Change the delivery settings (None keeps one); they apply to what is queued from now on.

        Raises:
            ValueError: a value out of range (nothing is changed then), naming it and what is allowed.
        """
        wait = self.group_wait if group_wait is None else non_negative_seconds("group_wait", group_wait)
        size = self.max_queue if max_queue is None else check_count("max_queue", max_queue, minimum=1)
        retries = self.max_retries if max_retries is None else check_count("max_retries", max_retries, minimum=0)
        delay = self.backoff if backoff is None else non_negative_seconds("backoff", backoff)
        self.group_wait, self.max_queue, self.max_retries, self.backoff = wait, size, retries, delay
        with self._start_lock:
            for worker in self._all_workers():
                worker.queue.maxsize = size

    def _all_workers(self) -> list[_Worker]:
        """The grouper (once started) and each channel's worker."""
        grouper = [] if self._grouper is None else [self._grouper]
        return grouper + list(self._workers.values())

    def after_fork_in_child(self) -> None:
        """Forget the parent's workers (their threads do not exist here); new ones start on the next submit.

        The locks are fork-safe: already fresh here, whoever held them at the fork.
        """
        self._grouper = None
        self._workers = {}

    def submit(self, notification: Notification) -> None:
        """Queue a notification; never blocks (drops and counts when the queue is full)."""
        if self._grouper is None:
            with self._start_lock:
                if self._grouper is None:
                    self._grouper = _Worker("zgen-otel-notify", self._group, self.max_queue)
        try:
            self._grouper.queue.put_nowait(notification)
            self.stats.add("queued")
        except queue.Full:
            self.stats.add("dropped")
            _log.warning("zgen_otel: notification queue full; dropped %s for %s", notification.event,
                         notification.alert["name"])  # fmt: skip

    def _group(self, first: Notification) -> None:
        """Collect the burst that started with ``first`` and hand each channel its batch."""
        assert self._grouper is not None
        batch = [first]
        deadline = time.monotonic() + self.group_wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._grouper.queue.get(timeout=left)
            except queue.Empty:
                break
            self._grouper.queue.task_done()
            if item is None:  # shutting down: deliver what we have, then let the worker stop
                self._grouper.queue.put_nowait(None)
                break
            batch.append(item)
        for channel in list(self.channels):
            wanted = [n for n in batch if channel.accepts(n)]
            if wanted:
                try:
                    self._worker(channel).queue.put_nowait(wanted)
                except queue.Full:
                    self._drop(channel, wanted)

    def _worker(self, channel: Notifier) -> _Worker:
        worker = self._workers.get(id(channel))
        if worker is None:
            with self._start_lock:  # configure() resizes the queues under it
                worker = self._workers[id(channel)] = _Worker(
                    f"zgen-otel-notify-{channel.name}", lambda batch: self._send(channel, batch), self.max_queue
                )
        return worker

    def _drop(self, channel: Notifier, batch: list[Notification]) -> None:
        self.stats.add("dropped", len(batch))
        _log.warning("zgen_otel: channel %s is backed up; dropped %d notification(s)", channel.name, len(batch))

    def _send(self, channel: Notifier, batch: list[Notification]) -> None:
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            try:
                channel.notify(batch)
                channel.sent += len(batch)
                self.stats.add("delivered", len(batch))
                return
            except Exception as exc:
                channel.failed += 1
                self.stats.add("failures", channel=channel.name)
                if attempt == self.max_retries:
                    self.stats.add("dropped", len(batch))
                    _log.error("zgen_otel: channel %s failed %d times (%s); dropped %d notification(s)",
                               channel.name, attempt + 1, exc, len(batch))  # fmt: skip
                    return
                self.stats.add("retries")
                time.sleep(delay)
                delay *= 2

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far was delivered or dropped; True unless the timeout passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [w for w in self._all_workers() if w.queue.unfinished_tasks]
            if not busy:
                return True
            time.sleep(0.01)
        return False

    def shutdown(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (within ``timeout``), stop the workers and shut the channels down."""
        if self._grouper is not None:
            self._grouper.stop(timeout)
        for worker in list(self._workers.values()):
            worker.stop(timeout)
        for channel in self.channels:
            try:
                channel.shutdown()
            except Exception:
                _log.exception("zgen_otel: shutting down channel %s failed", channel.name)
