"""Notification channels against real peers: HTTP webhooks, Slack, an SMTP server and a real Prometheus Alertmanager."""

from __future__ import annotations

import contextlib
import email
import email.policy
import itertools
import json
import logging
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

import zgen_otel
from tests.support.binaries import require_binary
from tests.support.net import free_port, hanging_port
from tests.support.waiting import wait_for
from zgen_otel.alerting import (
    AlertManager,
    AlertmanagerNotifier,
    AlertSeverity,
    EmailNotifier,
    NotificationEvent,
    Notifier,
    NotifyResult,
    RuleState,
    SlackNotifier,
    WebhookNotifier,
    get_alert_manager,
    trigger_alert,
)
from zgen_otel.store import MetricStore

SECRET = "SECRET-TOKEN-123"
SECRET_QUERY = "key=abc"


# -- peers ------------------------------------------------------------------------------------------
@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    at: float  # time.monotonic() when it arrived


class HttpRecorder:
    """An HTTP server on 127.0.0.1 that records every POST and answers from a script of statuses, then 200.

    With ``hold``, it answers each request only once that event is set (a peer that hangs until released).
    """

    def __init__(self, statuses: Iterable[int] = (), hold: threading.Event | None = None) -> None:
        self.requests: list[Request] = []
        self._statuses = list(statuses)
        self._hold = hold
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = recorder._record(self.path, dict(self.headers), json.loads(raw))
                if hold is not None:
                    hold.wait(30)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _record(self, path: str, headers: dict[str, str], body: Any) -> int:
        with self._lock:
            status = self._statuses.pop(0) if self._statuses else 200
            self.requests.append(Request(path, headers, body, status, time.monotonic()))
            return status

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if path is None or r.path == path]

    def alertnames(self, path: str | None = None) -> list[str]:
        return [a["labels"]["alertname"] for body in self.bodies(path) for a in body["alerts"]]

    def close(self) -> None:
        if self._hold is not None:
            self._hold.set()  # a held request answers, so the server can stop
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HttpRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def dead_peer(kind: str) -> Iterator[int]:
    """A port where nothing answers: ``hang`` accepts connections (kernel backlog) and never replies; ``refused``."""
    if kind == "refused":
        yield free_port()
        return
    with hanging_port() as port:
        yield port


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert SECRET_QUERY not in text


@pytest.fixture
def http() -> Iterator[HttpRecorder]:
    with HttpRecorder() as recorder:
        yield recorder


@pytest.fixture
def manager() -> Iterator[AlertManager]:
    mgr = AlertManager(MetricStore(), group_wait=0.1, evaluation_interval=3600, max_retries=2, backoff=0.05)
    yield mgr
    mgr.shutdown()


# -- webhook ----------------------------------------------------------------------------------------
def test_webhook_firing_then_resolved_in_alertmanager_webhook_shape(http: HttpRecorder, manager: AlertManager) -> None:
    hook = WebhookNotifier(http.url("/hook"), timeout=2.0, name="ops")
    manager.add_notifier(hook)
    alert = manager.trigger_alert(
        "gpu_oom", "GPU ran out of memory", AlertSeverity.ERROR, "agent", details={"gpu": 0}, labels={"team": "ml"}
    )
    assert manager.dispatcher.flush(5)
    (request,) = http.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    fired = request.body
    assert (fired["version"], fired["receiver"], fired["status"]) == ("4", "ops", "firing")
    (sent,) = fired["alerts"]
    labels = {"alertname": "gpu_oom", "severity": "error", "category": "agent", "team": "ml"}
    assert sent["labels"] == labels
    assert fired["commonLabels"] == labels
    assert sent["annotations"] == {"description": "GPU ran out of memory"}
    assert (sent["status"], sent["endsAt"], sent["fingerprint"]) == ("firing", None, alert.fingerprint)
    assert sent["details"] == {"gpu": 0}
    assert sent["startsAt"].endswith("Z")
    assert parse_time(sent["startsAt"]) == pytest.approx(alert.starts_at, abs=1e-3)

    manager.acknowledge_alert(alert.id, by="alice", note="looking")  # no notification of its own
    assert manager.dispatcher.flush(5)
    assert len(http.requests) == 1

    manager.resolve_alert(alert.id)
    assert manager.dispatcher.flush(5)
    assert len(http.requests) == 2
    resolved = http.requests[1].body
    assert resolved["status"] == "resolved"
    (sent,) = resolved["alerts"]
    assert (sent["status"], sent["fingerprint"], sent["labels"]) == ("resolved", alert.fingerprint, labels)
    assert sent["endsAt"] is not None
    assert parse_time(sent["startsAt"]) <= parse_time(sent["endsAt"]) == pytest.approx(alert.ends_at, abs=1e-3)
    assert (hook.sent, hook.failed) == (2, 0)
    assert (manager.dispatcher.stats.delivered, manager.dispatcher.stats.dropped) == (2, 0)


def test_a_burst_within_group_wait_is_one_post(http: HttpRecorder, manager: AlertManager) -> None:
    manager.configure(group_wait=0.3)
    manager.add_notifier(WebhookNotifier(http.url("/hook"), timeout=2.0))
    started = time.monotonic()
    for i in range(5):
        manager.trigger_alert(f"burst_{i}", f"burst alert {i}", "warning", "batch")
    assert time.monotonic() - started < 0.3  # the whole burst fell inside group_wait
    assert manager.dispatcher.flush(5)
    (body,) = http.bodies()
    assert body["status"] == "firing"
    assert http.alertnames() == [f"burst_{i}" for i in range(5)]
    assert body["commonLabels"] == {"severity": "warning", "category": "batch"}
    assert manager.dispatcher.stats.delivered == 5


def test_min_severity_and_label_filters_route_to_the_right_channels(http: HttpRecorder, manager: AlertManager) -> None:
    pager = WebhookNotifier(http.url("/pager"), timeout=2.0, min_severity=AlertSeverity.ERROR, name="pager")
    team = WebhookNotifier(http.url("/ml"), timeout=2.0, labels={"team": "ml"}, name="ml-team")
    manager.add_notifier(pager)
    manager.add_notifier(team)
    manager.trigger_alert("slow_tool", "tool is slow", "warning", "agent", labels={"team": "ml"})
    manager.trigger_alert("db_down", "database down", "critical", "infra", labels={"team": "db"})
    manager.trigger_alert("model_errors", "model errors", "error", "agent", labels={"team": "ml"})
    manager.trigger_alert("chatty", "just info", "info")
    assert manager.dispatcher.flush(5)
    assert sorted(http.alertnames("/pager")) == ["db_down", "model_errors"]
    assert sorted(http.alertnames("/ml")) == ["model_errors", "slow_tool"]
    assert (pager.sent, team.sent) == (2, 2)


# -- failures ---------------------------------------------------------------------------------------
def test_a_flaky_server_gets_the_notification_after_retries(manager: AlertManager) -> None:
    manager.configure(max_retries=3)
    with HttpRecorder(statuses=[500, 500]) as flaky:
        hook = WebhookNotifier(flaky.url("/hook"), timeout=2.0, name="flaky")
        manager.add_notifier(hook)
        manager.trigger_alert("flaky_alert", "eventually delivered", "error")
        assert manager.dispatcher.flush(5)
        assert [r.status for r in flaky.requests] == [500, 500, 200]
        assert flaky.bodies()[0] == flaky.bodies()[2]  # the same batch, re-sent
    stats = manager.dispatcher.stats
    assert stats.retries >= 2
    assert (stats.delivered, stats.dropped, stats.failures) == (1, 0, {"flaky": 2})
    assert (hook.sent, hook.failed) == (1, 2)


def test_an_always_failing_server_is_dropped_and_the_healthy_channel_still_gets_it(
    http: HttpRecorder, manager: AlertManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="zgen_otel")
    with HttpRecorder(statuses=[500] * 10) as broken:
        bad = WebhookNotifier(broken.url(f"/hook/{SECRET}?{SECRET_QUERY}"), timeout=2.0, name="broken")
        good = WebhookNotifier(http.url("/good"), timeout=2.0, name="good")
        manager.add_notifier(bad)
        manager.add_notifier(good)
        alert = manager.trigger_alert("always_500", "the receiver is broken", "critical", "agent")
        assert manager.dispatcher.flush(5)
        assert len(broken.requests) == 1 + manager.dispatcher.max_retries
        assert all(r.path == f"/hook/{SECRET}?{SECRET_QUERY}" for r in broken.requests)
    stats = manager.dispatcher.stats
    assert (stats.delivered, stats.dropped, stats.retries, stats.failures) == (1, 1, 2, {"broken": 3})
    assert (bad.sent, bad.failed, good.sent, good.failed) == (0, 3, 1, 0)
    assert http.alertnames("/good") == ["always_500"]
    errors = [r for r in caplog.records if r.name.startswith("zgen_otel") and r.levelno >= logging.ERROR]
    assert errors
    assert "broken" in errors[-1].getMessage() and "HTTP 500" in errors[-1].getMessage()
    history = json.dumps([a.to_dict() for a in manager.get_alert_history()])
    assert_no_secret(caplog.text, repr(bad), str(bad), json.dumps(alert.to_dict()), history)


@pytest.mark.parametrize("kind", ["hang", "refused"])
def test_an_unresponsive_peer_never_blocks_the_caller_and_is_given_up(
    kind: str, http: HttpRecorder, manager: AlertManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="zgen_otel")
    with dead_peer(kind) as port:
        dead = WebhookNotifier(f"http://127.0.0.1:{port}/hook/{SECRET}?{SECRET_QUERY}", timeout=0.3, name=kind)
        good = WebhookNotifier(http.url("/good"), timeout=2.0, name="good")
        manager.add_notifier(dead)  # first: the healthy channel is served after it gave up
        manager.add_notifier(good)
        started = time.perf_counter()
        alert = manager.trigger_alert(f"{kind}_peer", "a peer that does not answer", "error")
        assert time.perf_counter() - started < 0.05
        assert manager.dispatcher.flush(10)
        elapsed = time.perf_counter() - started
    attempts = 1 + manager.dispatcher.max_retries
    assert elapsed < 3.0
    if kind == "hang":
        assert elapsed >= attempts * 0.3 * 0.9  # each attempt waited for the timeout
    stats = manager.dispatcher.stats
    assert (stats.dropped, stats.delivered, stats.failures) == (1, 1, {kind: attempts})
    assert (dead.failed, good.sent) == (attempts, 1)
    assert http.alertnames("/good") == [f"{kind}_peer"]
    reason = "TimeoutError" if kind == "hang" else "ConnectionRefusedError"
    assert reason in caplog.text
    assert f"127.0.0.1:{port}" in caplog.text
    history = json.dumps([a.to_dict() for a in manager.get_alert_history()])
    assert_no_secret(caplog.text, repr(dead), json.dumps(alert.to_dict()), history)


def test_retries_back_off_exponentially(manager: AlertManager) -> None:
    manager.configure(max_retries=3, backoff=0.2)
    with HttpRecorder(statuses=[500] * 4) as failing:
        manager.add_notifier(WebhookNotifier(failing.url("/hook"), timeout=2.0, name="failing"))
        manager.trigger_alert("backoff", "retried with growing pauses", "error")
        assert manager.dispatcher.flush(10)
        arrivals = [r.at for r in failing.requests]
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    for n, gap in enumerate(gaps):  # the n-th retry waits backoff * 2**n at least
        assert gap >= 0.2 * 2**n * 0.95, gaps
    assert gaps[0] < gaps[1] < gaps[2], gaps  # growing, not constant
    assert gaps[2] >= 2 * gaps[0], gaps
    assert manager.dispatcher.stats.dropped == 1


def test_a_full_queue_drops_counts_and_logs_without_blocking_anyone(
    http: HttpRecorder, manager: AlertManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="zgen_otel")
    manager.configure(group_wait=0, max_retries=0)
    release = threading.Event()
    with HttpRecorder(hold=release) as stuck:
        manager.add_notifier(WebhookNotifier(stuck.url("/stuck"), timeout=20.0, name="stuck"))
        manager.add_notifier(WebhookNotifier(http.url("/good"), timeout=2.0, name="good"))
        manager.trigger_alert("burst_0", "the stuck peer holds this one", "error")
        wait_for(lambda: stuck.requests, what="the stuck peer to receive the first alert")
        manager.configure(max_queue=2)  # applies to the queues that exist already
        for i in range(1, 8):
            started = time.perf_counter()
            manager.trigger_alert(f"burst_{i}", "one of a burst", "error")
            assert time.perf_counter() - started < 0.1  # never waits for the stuck channel
            wait_for(lambda i=i: f"burst_{i}" in http.alertnames("/good"), what=f"burst_{i} at the healthy channel")
        # The stuck channel holds 1 in flight and 2 queued (max_queue=2): the other 5 are dropped, one by one.
        stats = manager.dispatcher.stats
        assert stats.dropped == 5
        backed_up = [r.getMessage() for r in caplog.records if "backed up" in r.getMessage()]
        assert backed_up == ["zgen_otel: channel stuck is backed up; dropped 1 notification(s)"] * 5
        release.set()
        assert manager.dispatcher.flush(10)
        assert stuck.alertnames() == ["burst_0", "burst_1", "burst_2"]
    assert http.alertnames("/good") == [f"burst_{i}" for i in range(8)]
    assert (stats.delivered, stats.dropped) == (8 + 3, 5)


def test_secrets_stay_out_of_every_repr_and_the_resend_log(
    manager: AlertManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="zgen_otel")
    port = free_port()
    notifiers = [
        WebhookNotifier(f"http://127.0.0.1:{port}/hook/{SECRET}?{SECRET_QUERY}"),
        SlackNotifier(f"https://hooks.slack.com/services/T000/B000/{SECRET}?{SECRET_QUERY}"),
        EmailNotifier("127.0.0.1", port, sender="a@example.com", recipients=["b@example.com"], password=SECRET),
        AlertmanagerNotifier(f"http://admin:{SECRET}@127.0.0.1:{port}/?{SECRET_QUERY}"),
        AlertmanagerNotifier(f"http://127.0.0.1:{port}/am/{SECRET}", resend_interval=0.0),
    ]
    for notifier in notifiers:
        assert_no_secret(repr(notifier), str(notifier))
    assert f"127.0.0.1:{port}" in repr(notifiers[0])
    assert "hooks.slack.com" in repr(notifiers[1])

    manager.configure(max_retries=0)
    manager.add_notifier(notifiers[4])  # a path token; no credentials in a URL that is used
    alert = manager.trigger_alert("resent", "re-sent at each tick to a closed port", "warning")
    manager.evaluate()  # the Alertmanager channel re-sends active alerts: refused, logged
    assert manager.dispatcher.flush(5)
    assert "re-sending active alerts" in caplog.text
    assert manager.dispatcher.stats.dropped == 1
    assert_no_secret(caplog.text, json.dumps(alert.to_dict()))


# -- slack ------------------------------------------------------------------------------------------
def test_slack_message_format(http: HttpRecorder, manager: AlertManager) -> None:
    manager.add_notifier(SlackNotifier(http.url("/services/T000/B000/XXX"), timeout=2.0, name="slack"))
    alert = manager.trigger_alert(
        "tool_failures", "Tool calls failing: 12% in 5 min", "error", "agent", labels={"tool": "search"}
    )
    assert manager.dispatcher.flush(5)
    manager.resolve_alert(alert.id)
    assert manager.dispatcher.flush(5)
    fired, resolved = http.bodies("/services/T000/B000/XXX")
    assert fired["text"] == "1 alert notification(s): tool_failures"
    (att,) = fired["attachments"]
    assert (att["color"], att["title"], att["text"]) == ("#E01E5A", "[FIRING] tool_failures", alert.description)
    assert att["fields"] == [
        {"title": "alertname", "value": "tool_failures", "short": True},
        {"title": "category", "value": "agent", "short": True},
        {"title": "severity", "value": "error", "short": True},
        {"title": "tool", "value": "search", "short": True},
    ]
    assert "ts" in att
    (att,) = resolved["attachments"]
    assert (att["color"], att["title"], att["text"]) == ("#2EB67D", "[RESOLVED] tool_failures", alert.description)


def test_slack_attachment_ts_is_unix_epoch_seconds(http: HttpRecorder, manager: AlertManager) -> None:
    # Slack's attachment "ts" is a Unix epoch number (https://api.slack.com/reference/messaging/attachments).
    manager.add_notifier(SlackNotifier(http.url("/slack"), timeout=2.0))
    alert = manager.trigger_alert("ts_check", "timestamp format", "warning")
    assert manager.dispatcher.flush(5)
    ((att,),) = [b["attachments"] for b in http.bodies()]
    ts = att["ts"]
    assert isinstance(ts, (int, float)) or (isinstance(ts, str) and ts.replace(".", "", 1).isdigit()), ts
    assert int(float(ts)) == int(alert.starts_at)


# -- email ------------------------------------------------------------------------------------------
class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[email.message.EmailMessage]:
        out = []
        for env in self.envelopes:
            assert isinstance(env.content, bytes)
            msg = email.message_from_bytes(env.content, policy=email.policy.default)
            assert isinstance(msg, email.message.EmailMessage)
            out.append(msg)
        return out


class LocalController(Controller):
    """aiosmtpd's controller on an ephemeral port (its readiness probe needs the real port)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = LocalController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def test_email_firing_and_resolved_through_a_real_smtp_server(smtp: tuple[Inbox, int], manager: AlertManager) -> None:
    inbox, port = smtp
    recipients = ["ops@example.com", "oncall@example.com"]
    mail = EmailNotifier("127.0.0.1", port, sender="zgen@example.com", recipients=recipients, timeout=5.0)
    manager.add_notifier(mail)
    labels = {"mount": "/data"}
    alert = manager.trigger_alert("disk_full", "Disk /data is 97% full", "critical", "system", labels=labels)
    assert manager.dispatcher.flush(5)
    manager.resolve_alert(alert.id)
    assert manager.dispatcher.flush(5)
    assert (mail.sent, mail.failed) == (2, 0)
    assert [e.mail_from for e in inbox.envelopes] == ["zgen@example.com"] * 2
    assert all(sorted(e.rcpt_tos) == sorted(recipients) for e in inbox.envelopes)
    fired, resolved = inbox.messages()
    assert fired["Subject"] == "[FIRING] disk_full"
    assert fired["From"] == "zgen@example.com"
    assert fired["To"] == "ops@example.com, oncall@example.com"
    body = fired.get_content()
    assert "[FIRING] disk_full (critical): Disk /data is 97% full" in body
    assert '"mount": "/data"' in body
    assert "ended: None" in body
    assert resolved["Subject"] == "[RESOLVED] disk_full"
    body = resolved.get_content()
    assert "[RESOLVED] disk_full (critical): Disk /data is 97% full" in body
    assert f"ended: {alert.to_dict()['endsAt']}" in body


def test_email_batches_a_burst_and_keeps_the_password_out_of_logs(
    smtp: tuple[Inbox, int], manager: AlertManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="zgen_otel")
    inbox, port = smtp
    mail = EmailNotifier("127.0.0.1", port, sender="zgen@example.com", recipients=["ops@example.com"], name="mail")
    # The server offers no AUTH: login fails, the batch is dropped, and the password appears nowhere.
    locked = EmailNotifier(
        "127.0.0.1", port, sender="zgen@example.com", recipients=["ops@example.com"], username="bot",
        password=SECRET, timeout=5.0, name="mail-auth",
    )  # fmt: skip
    manager.add_notifier(mail)
    manager.add_notifier(locked)
    manager.trigger_alert("first", "first of two", "error")
    manager.trigger_alert("second", "second of two", "error")
    assert manager.dispatcher.flush(5)
    (msg,) = inbox.messages()
    assert msg["Subject"] == "[FIRING] first (+1 more)"
    assert "first of two" in msg.get_content() and "second of two" in msg.get_content()
    assert (locked.sent, locked.failed) == (0, 1 + manager.dispatcher.max_retries)
    assert "mail-auth" in caplog.text
    assert_no_secret(caplog.text, repr(locked))


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, made by openssl, else by the cryptography package."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    if openssl is not None:
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return cert, key
    pytest.importorskip("cryptography", reason="neither openssl nor the cryptography package is installed")
    import ipaddress
    from datetime import timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(private, hashes.SHA256())
    )  # fmt: skip
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    return cert, key


def test_email_over_starttls_with_a_login(
    tmp_path: Path, manager: AlertManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cert, key = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[str, str, bool]] = []

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login.decode(), data.password.decode(), session.ssl is not None))
        return AuthResult(success=data.login == b"bot" and data.password == SECRET.encode())

    inbox = Inbox()
    # auth_require_tls (aiosmtpd's default) offers AUTH only after STARTTLS; require_starttls refuses mail before it.
    controller = LocalController(
        inbox, hostname="127.0.0.1", port=0, tls_context=server_tls, require_starttls=True,
        authenticator=authenticator, auth_required=True,
    )  # fmt: skip
    controller.start()
    try:
        common: dict[str, Any] = {"sender": "zgen@example.com", "recipients": ["ops@example.com"], "username": "bot",
                                  "password": SECRET, "starttls": True, "timeout": 5.0}  # fmt: skip
        trusted = ssl.create_default_context(cafile=str(cert))
        mail = EmailNotifier("127.0.0.1", controller.port, tls_context=trusted, name="mail-tls", **common)
        # The system's CAs do not vouch for this certificate: the password must not be sent.
        unverified = EmailNotifier("127.0.0.1", controller.port, name="mail-unverified", **common)
        manager.add_notifier(mail)
        manager.add_notifier(unverified)
        alert = manager.trigger_alert("tls_mail", "sent over STARTTLS after a login", "critical", "system")
        assert manager.dispatcher.flush(10)
    finally:
        controller.stop()
    assert (mail.sent, mail.failed) == (1, 0)
    assert (unverified.sent, unverified.failed) == (0, 1 + manager.dispatcher.max_retries)
    assert logins == [("bot", SECRET, True)]  # one login, by the verified channel, inside TLS
    (msg,) = inbox.messages()
    assert msg["Subject"] == "[FIRING] tls_mail"
    assert "[FIRING] tls_mail (critical): sent over STARTTLS after a login" in msg.get_content()
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text and "mail-unverified" in caplog.text
    assert_no_secret(caplog.text, repr(mail), repr(unverified), json.dumps(alert.to_dict()))


# -- a real Alertmanager ----------------------------------------------------------------------------
AM_CONFIG = """\
route:
  receiver: zgen-webhook
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: zgen-webhook
    webhook_configs:
      - url: "{url}"
        send_resolved: true
"""


@pytest.fixture
def alertmanager(tmp_path: Path, http: HttpRecorder) -> Iterator[tuple[str, Path]]:
    config = tmp_path / "am.yml"
    config.write_text(AM_CONFIG.format(url=http.url("/am")))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [
        require_binary("prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with (tmp_path / "am.log").open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: _ready(base, proc), timeout=15, what="Alertmanager /-/ready")
            yield base, config
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ready(base: str, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "Alertmanager exited; see am.log"
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=0.5) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:
        exc.close()
        return False
    except OSError:
        return False


def test_alertmanager_receives_notifies_and_resolves(
    alertmanager: tuple[str, Path], http: HttpRecorder, manager: AlertManager
) -> None:
    base, config = alertmanager
    check = subprocess.run(
        [require_binary("amtool"), "check-config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout

    am = AlertmanagerNotifier(base, resend_interval=0.0, timeout=2.0, name="am")
    manager.add_notifier(am)
    labels = {"team": "ml"}
    link = "http://127.0.0.1:8000/dashboards/agent?alert=am_e2e"
    alert = manager.trigger_alert(
        "am_e2e", "end to end through Alertmanager", "critical", "agent", labels=labels, generator_url=link
    )
    assert manager.dispatcher.flush(5)
    assert (am.sent, am.failed) == (1, 0)

    def listed(url: str = f"{base}/api/v2/alerts") -> list[dict[str, Any]]:
        return [a for a in get_json(url) if a["labels"].get("alertname") == "am_e2e"]

    (got,) = wait_for(listed, what="the alert in Alertmanager")
    assert got["labels"] == {"alertname": "am_e2e", "severity": "critical", "category": "agent", "team": "ml"}
    assert got["annotations"]["description"] == "end to end through Alertmanager"
    assert got["status"]["state"] == "active"
    assert got["generatorURL"] == link
    assert parse_time(got["startsAt"]) == pytest.approx(alert.starts_at, abs=1e-3)

    firing = wait_for(lambda: [b for b in http.bodies("/am") if b["status"] == "firing"], what="AM's firing webhook")
    assert firing[0]["receiver"] == "zgen-webhook"
    assert firing[0]["groupLabels"] == {"alertname": "am_e2e"}
    assert [a["labels"]["alertname"] for a in firing[0]["alerts"]] == ["am_e2e"]

    manager.evaluate()  # resend_interval=0: the tick re-posts the active alert, refreshing it in Alertmanager
    wait_for(lambda: listed()[0]["updatedAt"] != got["updatedAt"], what="the re-sent alert")

    manager.resolve_alert(alert.id)
    assert manager.dispatcher.flush(5)
    assert am.sent == 2
    wait_for(lambda: not listed(f"{base}/api/v2/alerts?active=true"), what="the alert to leave the active list")
    resolved = wait_for(
        lambda: [b for b in http.bodies("/am") if b["status"] == "resolved"], what="AM's resolved webhook"
    )
    (sent,) = resolved[0]["alerts"]
    assert (sent["status"], sent["labels"]["alertname"]) == ("resolved", "am_e2e")
    assert not sent["endsAt"].startswith("0001")


def test_alertmanager_resend_keeps_to_the_channel_filters_and_silences(
    http: HttpRecorder, manager: AlertManager
) -> None:
    am = AlertmanagerNotifier(
        http.url("/"), resend_interval=0.0, timeout=2.0, min_severity="error", labels={"team": "ml"}, name="am"
    )
    manager.add_notifier(am)
    manager.add_silence({"alertname": "hushed"}, duration=60)
    manager.trigger_alert("wanted", "an error for ml", "error", labels={"team": "ml"})
    manager.trigger_alert("too_mild", "a warning for ml", "warning", labels={"team": "ml"})
    manager.trigger_alert("other_team", "an error for db", "error", labels={"team": "db"})
    manager.trigger_alert("hushed", "a silenced error for ml", "error", labels={"team": "ml"})
    assert manager.dispatcher.flush(5)

    def posts() -> list[list[str]]:
        return [[a["labels"]["alertname"] for a in body] for body in http.bodies("/api/v2/alerts")]

    assert posts() == [["wanted"]]
    manager.evaluate()  # the re-send must not push what the channel never accepted, nor silenced alerts
    assert manager.dispatcher.flush(5)  # the re-send runs on the channel's worker
    assert posts() == [["wanted"], ["wanted"]]


# -- switches: ALERTING_NOTIFICATIONS and silences --------------------------------------------------
@pytest.mark.parametrize("how", ["keyword", "env"])
def test_notifications_off_records_history_but_sends_nothing(
    how: str, http: HttpRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "env":
        monkeypatch.setenv("ALERTING_NOTIFICATIONS", "false")
        zgen_otel.configure(interval=3600, default_rules=False, system_monitor=False)
    else:
        zgen_otel.configure(interval=3600, default_rules=False, system_monitor=False, alerting_notifications=False)
    mgr = get_alert_manager()
    mgr.configure(group_wait=0.05)
    mgr.add_notifier(WebhookNotifier(http.url("/hook"), timeout=1.0))
    alert = trigger_alert("quiet", "recorded, not sent", AlertSeverity.CRITICAL, "agent")
    assert [a.id for a in mgr.get_active_alerts()] == [alert.id]
    mgr.resolve_alert(alert.id)
    assert [(a.name, a.status.value) for a in mgr.get_alert_history()] == [("quiet", "resolved")]
    assert mgr.dispatcher.flush(2)
    time.sleep(0.3)
    assert http.requests == []
    assert mgr.dispatcher.stats.queued == 0


def test_a_silence_mutes_notifications_but_not_the_alert(http: HttpRecorder) -> None:
    zgen_otel.configure(interval=3600, default_rules=False, system_monitor=False)
    mgr = get_alert_manager()
    mgr.configure(group_wait=0.05)
    mgr.add_notifier(WebhookNotifier(http.url("/hook"), timeout=1.0))
    silence = mgr.add_silence({"alertname": "muted"}, duration=60, comment="maintenance")
    muted = trigger_alert("muted", "silenced", "critical")
    trigger_alert("loud", "not silenced", "critical")
    assert mgr.dispatcher.flush(5)
    assert http.alertnames() == ["loud"]
    assert muted.id in {a.id for a in mgr.get_active_alerts()}
    assert mgr.is_silenced(muted)
    mgr.resolve_alert(muted.id)
    assert mgr.dispatcher.flush(5)
    assert http.alertnames() == ["loud"]
    assert mgr.remove_silence(silence.id)
    trigger_alert("muted", "no longer silenced", "critical")
    assert mgr.dispatcher.flush(5)
    assert http.alertnames() == ["loud", "muted"]


# -- the channel interface ----------------------------------------------------------------------------
class ResultChannel(Notifier):
    """A user channel that reports each delivery's outcome instead of raising, and buffers what it was given."""

    def __init__(self, results: list[object]) -> None:
        super().__init__(name="result")
        self.results = results
        self.batches: list[list[str]] = []
        self.pending: list[str] = []
        self.flushed: list[str] = []

    def notify(self, notifications: Any) -> Any:
        self.batches.append([n.alert["labels"]["alertname"] for n in notifications])
        self.pending.extend(self.batches[-1])
        return self.results.pop(0) if self.results else NotifyResult.SUCCESS

    def force_flush(self, timeout: float = 30.0) -> bool:
        self.flushed, self.pending = self.flushed + self.pending, []
        return True


def test_a_channel_reports_failure_by_result_and_the_batch_is_retried_then_flushed(manager: AlertManager) -> None:
    manager.configure(max_retries=3)
    channel = ResultChannel([NotifyResult.FAILURE, NotifyResult.FAILURE])
    manager.add_notifier(channel)
    manager.trigger_alert("result_alert", "told by a result", "error")
    assert manager.dispatcher.flush(5)
    assert channel.batches == [["result_alert"]] * 3  # two failures reported without raising, then delivered
    stats = manager.notification_stats()
    assert (stats["delivered"], stats["dropped"], stats["failures"]) == (1, 0, {"result": 2})
    assert channel.flushed == ["result_alert"] * 3 and channel.pending == []  # flush reached the channel's buffer


def test_a_channel_written_against_the_boolean_interface_still_delivers(manager: AlertManager) -> None:
    channel = ResultChannel([True])  # a channel from before NotifyResult returned True for success
    manager.add_notifier(channel)
    manager.trigger_alert("legacy_alert", "delivered", "warning")
    assert manager.dispatcher.flush(5)
    stats = manager.notification_stats()
    assert (stats["delivered"], stats["failures"]) == (1, {})


def test_states_and_events_are_enums_that_read_as_their_names(http: HttpRecorder, manager: AlertManager) -> None:
    manager.add_notifier(WebhookNotifier(http.url("/hook"), timeout=2.0))
    alert = manager.trigger_alert("enum_alert", "shown as text", "critical")
    assert manager.dispatcher.flush(5)
    body = http.bodies("/hook")[0]
    assert body["status"] == NotificationEvent.FIRING == "firing" and isinstance(NotificationEvent.FIRING, str)
    assert json.loads(json.dumps(alert.to_dict()))["status"] == alert.status == "firing"
    assert f"{RuleState.PENDING}" == "pending" and RuleState("firing") is RuleState.FIRING


# -- bad channel definitions ------------------------------------------------------------------------
WEBHOOK = "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    ("build", "error", "fragment"),
    [
        (lambda: WebhookNotifier("http://"), ValueError, "url must be an absolute URL"),
        (lambda: WebhookNotifier("ftp://host/x"), ValueError, "got 'ftp://host/…'"),
        (lambda: WebhookNotifier("http://host:99999/x"), ValueError, "a valid port"),
        (lambda: WebhookNotifier(5), TypeError, "url must be a str"),  # type: ignore[arg-type]
        (lambda: WebhookNotifier(WEBHOOK, timeout=-1), ValueError, "timeout must be a finite number of seconds > 0"),
        (lambda: WebhookNotifier(WEBHOOK, timeout=float("nan")), ValueError, "got nan"),
        (lambda: WebhookNotifier(WEBHOOK, timeout="5"), ValueError, "got '5'"),  # type: ignore[arg-type]
        (lambda: WebhookNotifier(WEBHOOK, timeout=1e300), ValueError, "timeout must be at most 3600"),
        (lambda: WebhookNotifier(WEBHOOK, headers={"X-Token": 5}), TypeError, "headers must be a mapping of str"),  # type: ignore[dict-item]
        (lambda: WebhookNotifier(WEBHOOK, labels={"team": 1}), TypeError, "labels must be a mapping of str"),  # type: ignore[dict-item]
        (lambda: WebhookNotifier(WEBHOOK, name=""), TypeError, "name must be a non-empty str"),
        (lambda: AlertmanagerNotifier("http://"), ValueError, "the Alertmanager's base URL"),
        (lambda: AlertmanagerNotifier("http://am:9093", resend_interval=-5), ValueError, "resend_interval"),
        (lambda: AlertmanagerNotifier("http://am:9093", timeout=0), ValueError, "timeout"),
        (lambda: EmailNotifier("h", sender="a@b", recipients=[]), ValueError, "recipients must list at least one"),
        (lambda: EmailNotifier("h", sender="a@b", recipients=["ops"]), ValueError, "got 'ops'"),
        (lambda: EmailNotifier("h", sender="a@b", recipients=["a@b\nBcc: x@y"]), ValueError, "recipients item"),
        (lambda: EmailNotifier("h", sender="nobody", recipients=["a@b"]), ValueError, "sender must be an e-mail"),
        (lambda: EmailNotifier("h", 0, sender="a@b", recipients=["a@b"]), ValueError, "port must be"),
        (lambda: EmailNotifier("", sender="a@b", recipients=["a@b"]), TypeError, "host must be a non-empty str"),
        (lambda: EmailNotifier("h", sender="a@b", recipients=["a@b"], timeout=-1), ValueError, "timeout"),
        (lambda: EmailNotifier("h", sender="a@b", recipients=["a@b"], starttls="yes"), TypeError, "starttls"),  # type: ignore[arg-type]
    ],
)
def test_bad_channel_definitions_are_refused_naming_the_value(
    build: Any, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as raised:
        build()
    assert fragment in str(raised.value)


def test_recipients_as_one_string_is_one_address_not_its_letters() -> None:
    assert EmailNotifier("h", sender="a@b", recipients="ops@example.com").recipients == ["ops@example.com"]
