"""No secret leaves the process by a side door: logs, HTTP responses, dashboards, ``repr`` or the CLI.

The secrets are the HTTP API token (``ZGEN_OTEL_API_TOKEN``), SMTP passwords, webhook URLs (a Slack
incoming-webhook URL is a secret in its path; others carry tokens in the query string, credentials in the
user info or custom headers) and OTLP headers (``OTEL_EXPORTER_OTLP_HEADERS`` and the per-signal
``OTEL_EXPORTER_OTLP_{METRICS,TRACES}_HEADERS``). Each test run makes distinctive random ones, sets them
everywhere they can be set, drives the success and failure paths (a refusing port, a 401 or 500 peer, a
hanging peer, a redirect) and greps every output for them: for their random hex core (which survives URL,
JSON and HTML escaping, ``repr`` and case changes) and for their base64 forms (HTTP basic auth, SMTP AUTH).

Logs are everything that reaches the root logger at DEBUG (the ``zgen_otel`` tree, the OTel exporters,
urllib3, ...) plus whatever is written to the process's stdout and stderr (uvicorn's own handlers, thread
crash reports). Only loopback peers are used.

The official exporters' own log lines (failing URLs with their query, header values they cannot parse) are
scrubbed by the filter ``zgen_otel._export.redact_exporter_logs`` installs on their loggers.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

import zgen_otel
from tests.support.net import free_port, hanging_port
from tests.support.servers import serving
from zgen_otel import _providers
from zgen_otel.alerting import (
    AlertManager,
    AlertmanagerNotifier,
    EmailNotifier,
    Notifier,
    SlackNotifier,
    WebhookNotifier,
    get_alert_manager,
)
from zgen_otel.cli import main as cli_main
from zgen_otel.config import ConfigError, load_settings
from zgen_otel.dashboards.dashboard import (
    Dashboard,
    get_dashboard_manager,
    render_dashboard,
    render_dashboard_index,
)
from zgen_otel.http import make_app
from zgen_otel.llm import record_llm_usage
from zgen_otel.performance import track
from zgen_otel.store import MetricStore


def _secret(kind: str) -> str:
    return f"zs-{kind}-{secrets.token_hex(12)}"


API_TOKEN = _secret("apitoken")
SMTP_USER = "alerts-bot"
SMTP_PASSWORD = _secret("smtppass")
SLACK_SECRET = _secret("slackpath")
WEBHOOK_PATH = _secret("hookpath")
WEBHOOK_QUERY = _secret("hookquery")
WEBHOOK_HEADER = _secret("hookheader")
URL_USER = "admin"
URL_PASSWORD = _secret("urlpass")
AM_QUERY = _secret("amquery")
OTLP_HEADER = _secret("otlpheader")
OTLP_API_KEY = _secret("otlpapikey")
OTLP_METRICS_HEADER = _secret("otlpmetrics")
OTLP_TRACES_HEADER = _secret("otlptraces")
OTLP_QUERY = _secret("otlpquery")
OTLP_URL_PASSWORD = _secret("otlpurlpass")

SECRETS = {
    name: value
    for name, value in globals().items()
    if isinstance(value, str) and value.startswith("zs-") and name.isupper()
}
OTLP_HEADERS_ENV = f"authorization=Bearer {OTLP_HEADER},x-api-key={OTLP_API_KEY}"
PEER_LOGGERS = ("mail.log",)  # the test SMTP server's own log (aiosmtpd), not the agent's


def _b64_cores(text: str) -> set[str]:
    """Substrings that every base64 encoding of a string containing ``text`` contains, at any alignment."""
    cores = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + text.encode()).decode()
        cores.add(encoded[4:-4])
    return cores


NEEDLES: list[tuple[str, str, bool]] = []  # (secret name, needle, case-sensitive)
for _name, _value in SECRETS.items():
    NEEDLES.append((_name, _value.rsplit("-", 1)[1], False))
    for _core in _b64_cores(_value):
        NEEDLES.append((_name, _core, True))


def find_secrets(text: str) -> list[str]:
    """The secrets ``text`` contains, with where: empty when it is clean."""
    found = []
    lowered = text.lower()
    for name, needle, exact in NEEDLES:
        at = text.find(needle) if exact else lowered.find(needle)
        if at >= 0:
            found.append(f"{name}: ...{text[max(0, at - 120) : at + 60]!r}...")
    return found


def assert_clean(where: str, *texts: str) -> None:
    leaks = [hit for text in texts for hit in find_secrets(text)]
    assert not leaks, f"secret(s) leaked in {where}:\n" + "\n".join(leaks)


def test_the_detector_finds_every_form_of_a_secret() -> None:
    import html
    from urllib.parse import quote, quote_plus

    for value in (API_TOKEN, SMTP_PASSWORD, OTLP_HEADER):
        forms = [
            value,
            value.upper(),
            quote(value, safe=""),
            quote_plus(f"token={value}"),
            json.dumps({"k": value}),
            html.escape(f"<{value}>"),
            repr(value.encode()),
            base64.b64encode(f"{SMTP_USER}:{value}".encode()).decode(),
            base64.b64encode(f"\0{SMTP_USER}\0{value}".encode()).decode(),
            base64.b64encode(value.encode()).decode(),
        ]
        for form in forms:
            assert find_secrets(f"prefix {form} suffix"), form
    assert find_secrets("nothing to see, http://127.0.0.1:4318/v1/metrics") == []


# -- log capture --------------------------------------------------------------------------------------
@dataclass
class Logs:
    caplog: pytest.LogCaptureFixture
    capfd: pytest.CaptureFixture[str]
    streams: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Every record (message and traceback, any level, any logger but the test peers') and stdout/stderr."""
        handler = self.caplog.handler
        captured = [*self.caplog.get_records("setup"), *self.caplog.get_records("call")]
        records = [handler.format(r) for r in captured if not r.name.startswith(PEER_LOGGERS)]
        out, err = self.capfd.readouterr()
        self.streams += [out, err]
        return "\n".join([*records, *self.streams])

    def assert_clean(self, where: str) -> str:
        text = self.text()
        assert_clean(f"logs ({where})", text)
        return text


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[Logs]:
    """Capture the root logger and the ``zgen_otel`` tree at DEBUG, and the process's stdout and stderr."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="zgen_otel")
    caplog.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    yield Logs(caplog, capfd)


# -- peers --------------------------------------------------------------------------------------------
@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class Peer:
    """An HTTP server on 127.0.0.1 that answers every request with one status (and ``location``), recording them.

    ``body`` is the answer's body, or the body per path; ``{path}`` in ``location`` is the request's path.
    """

    def __init__(self, status: int = 200, location: str | None = None, body: bytes | dict[str, bytes] = b"{}") -> None:
        self.requests: list[Seen] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                peer.requests.append(Seen(self.command, self.path, dict(self.headers)))
                self.send_response(status)
                if location:
                    self.send_header("Location", location.replace("{path}", self.path))
                answer = body.get(self.path, b"{}") if isinstance(body, dict) else body
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def seen(self) -> str:
        return json.dumps([vars(r) for r in self.requests])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@contextlib.contextmanager
def peer(status: int = 200, location: str | None = None, body: bytes | dict[str, bytes] = b"{}") -> Iterator[Peer]:
    p = Peer(status, location, body)
    try:
        yield p
    finally:
        p.close()


class _SmtpController(Controller):
    """aiosmtpd on an ephemeral port (its readiness probe needs the real port)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _Inbox:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


def _refuse_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    return AuthResult(success=False, handled=False)


@contextlib.contextmanager
def smtp_refusing_login() -> Iterator[int]:
    controller = _SmtpController(
        _Inbox(), hostname="127.0.0.1", port=0, authenticator=_refuse_login, auth_require_tls=False
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


_LOOPBACK_NAMES = {"127.0.0.1", "::1", "localhost", "", None}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and remember) every name lookup that is not loopback: a secret must never reach a DNS query."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOOPBACK_NAMES:
            looked_up.append(str(name))
            raise socket.gaierror(socket.EAI_NONAME, "only loopback in these tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield looked_up
    assert_clean("name lookups", *looked_up)
    assert looked_up == [], f"non-loopback name lookups: {looked_up}"


# -- channels with every kind of secret ------------------------------------------------------------------
def secret_notifiers(port: int, smtp_port: int | None = None, timeout: float = 2.0) -> list[Notifier]:
    """One channel of each kind, every secret set, all pointed at ``port`` (SMTP at ``smtp_port``)."""
    base = f"http://127.0.0.1:{port}"
    return [
        WebhookNotifier(f"{base}/hook/{WEBHOOK_PATH}?token={WEBHOOK_QUERY}",
                        headers={"Authorization": f"Bearer {WEBHOOK_HEADER}"}, timeout=timeout, name="hook"),
        WebhookNotifier(f"http://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{port}/hook", timeout=timeout,
                        name="hook-userinfo"),
        SlackNotifier(f"{base}/services/T0000/B0000/{SLACK_SECRET}", timeout=timeout, name="slack"),
        AlertmanagerNotifier(f"{base}/am?token={AM_QUERY}", resend_interval=0.0, timeout=timeout, name="am"),
        EmailNotifier("127.0.0.1", smtp_port or port, sender="zgen@example.com", recipients=["ops@example.com"],
                      username=SMTP_USER, password=SMTP_PASSWORD, timeout=timeout, name="mail"),
    ]  # fmt: skip


def quick_manager() -> AlertManager:
    mgr = AlertManager(MetricStore(), group_wait=0.05, evaluation_interval=3600)
    mgr.dispatcher.max_retries = 1
    mgr.dispatcher.backoff = 0.05
    return mgr


def object_texts(manager: AlertManager) -> list[str]:
    """``repr``/``str`` of the manager, its dispatcher and channels, its counters and history."""
    texts = [repr(manager), str(manager), repr(manager.dispatcher), str(manager.dispatcher)]
    for channel in manager.dispatcher.channels:
        texts += [repr(channel), str(channel), channel.name]
    texts += [json.dumps(manager.dispatcher.stats.snapshot()), repr(manager.dispatcher.stats)]
    texts += [json.dumps([a.to_dict() for a in manager.get_alert_history()])]
    texts += [t.name for t in threading.enumerate()]
    return texts


# -- (d) repr and str ----------------------------------------------------------------------------------
def test_settings_repr_str_and_config_errors_hide_otlp_headers_and_url_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_HEADERS": OTLP_HEADERS_ENV,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://otlp:{OTLP_URL_PASSWORD}@127.0.0.1:4318?api_key={OTLP_QUERY}",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"http://127.0.0.1:4318/v1/metrics?api_key={OTLP_QUERY}#frag",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://otlp:{OTLP_URL_PASSWORD}@127.0.0.1:4318/v1/traces",
    }
    settings = load_settings(env)
    assert settings.otlp_headers == {"authorization": f"Bearer {OTLP_HEADER}", "x-api-key": OTLP_API_KEY}
    texts = [repr(settings), str(settings), f"{settings}", f"{settings!r}"]
    assert_clean("Settings repr/str", *texts)
    assert "authorization" in texts[0] and "x-api-key" in texts[0]
    assert "http://127.0.0.1:4318/v1/metrics" in texts[0] and "http://127.0.0.1:4318/v1/traces" in texts[0]

    for k, v in env.items():
        monkeypatch.setenv(k, v.replace("127.0.0.1:4318", f"127.0.0.1:{free_port()}"))
    monkeypatch.setattr(_providers, "EXPORT_TIMEOUT", 0.3)
    running = zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    assert_clean("the running runtime's Settings", repr(running), repr(zgen_otel.get_runtime().settings))
    zgen_otel.shutdown()

    errors: list[str] = []
    for bad in (f"authorization=Bearer {OTLP_HEADER},{OTLP_API_KEY}", f"=Bearer {OTLP_HEADER}"):
        with pytest.raises(ConfigError) as err:
            load_settings({"OTEL_EXPORTER_OTLP_HEADERS": bad})
        errors.append(str(err.value))
    with pytest.raises(ConfigError) as err:
        load_settings({}, otlp_headers={"authorization": f"Bearer {OTLP_HEADER}", "x-api-key": 12345})
    errors.append(str(err.value))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer {OTLP_HEADER},broken")
    with pytest.raises(ConfigError) as err:
        zgen_otel.record_metric("lazy", 1.0)  # the lazily built runtime fails on the same rule
    errors.append(str(err.value))
    assert_clean("ConfigError messages", *errors)
    assert all("OTEL_EXPORTER_OTLP_HEADERS" in e or "otlp_headers" in e for e in errors)
    assert all("key=value" in e or "mapping of str to str" in e for e in errors)


def test_notifier_and_alert_manager_reprs_hide_every_secret() -> None:
    manager = quick_manager()
    try:
        for notifier in secret_notifiers(free_port()):
            manager.add_notifier(notifier)
        texts = object_texts(manager)
        assert_clean("repr/str of notifiers and the alert manager", *texts)
        reprs = " ".join(repr(c) for c in manager.dispatcher.channels)
        assert "127.0.0.1" in reprs and "EmailNotifier" in reprs
    finally:
        manager.shutdown()


# -- (a) logs of notification failures -------------------------------------------------------------------
@pytest.mark.parametrize("peer_kind", ["refused", "500", "401", "hanging"])
def test_notification_failures_log_no_secret(logs: Logs, peer_kind: str) -> None:
    manager = quick_manager()
    stack = contextlib.ExitStack()
    try:
        smtp_port = None
        if peer_kind == "refused":
            port = free_port()
        elif peer_kind == "hanging":
            port = stack.enter_context(hanging_port())
        else:
            answering = stack.enter_context(peer(int(peer_kind), body=b'{"error": "nope"}'))
            port = answering.port
            smtp_port = stack.enter_context(smtp_refusing_login())
        channels = secret_notifiers(port, smtp_port, timeout=0.5)
        for channel in channels:
            manager.add_notifier(channel)
        alert = manager.trigger_alert("leak_probe", "a probe for secrets", "critical", "security")
        assert manager.dispatcher.flush(15)
        manager.evaluate()  # the Alertmanager channel re-sends active alerts at a tick: fails and logs
        manager.resolve_alert(alert.id)
        assert manager.dispatcher.flush(15)

        assert all(c.sent == 0 and c.failed >= 2 for c in channels), [(c.name, c.sent, c.failed) for c in channels]
        text = logs.assert_clean(f"notification failures, {peer_kind} peer")
        assert_clean("objects after failures", *object_texts(manager))
        for c in channels:
            assert f"channel {c.name} failed" in text  # the failure path did log, and was checked
        assert "re-sending active alerts to am failed" in text
        if peer_kind in ("500", "401"):
            seen = answering.seen()  # the secrets were really in play: the peer got them
            assert WEBHOOK_HEADER in seen and WEBHOOK_QUERY in seen and SLACK_SECRET in seen and AM_QUERY in seen
            assert "Basic " in seen  # the user info went as basic auth, not into a name lookup
            assert "Authentication credentials invalid" in text  # the SMTP login was tried and refused
    finally:
        manager.shutdown()
        stack.close()


def test_webhook_headers_are_not_forwarded_to_a_redirect_target(logs: Logs) -> None:
    manager = quick_manager()
    with peer(200) as target, peer(302, location=f"{target.url}/elsewhere") as redirecting:
        manager.add_notifier(WebhookNotifier(f"{redirecting.url}/hook?token={WEBHOOK_QUERY}", timeout=2.0,
                                             headers={"Authorization": f"Bearer {WEBHOOK_HEADER}"}))  # fmt: skip
        try:
            manager.trigger_alert("redirected", "the webhook answers with a redirect", "error")
            assert manager.dispatcher.flush(10)
        finally:
            manager.shutdown()
        assert WEBHOOK_HEADER in redirecting.seen()
        assert target.requests, "the redirect was not followed; the test proves nothing"
        assert_clean("what the redirect target received", target.seen())
    logs.assert_clean("a redirected webhook")


# -- (a) logs of OTLP export failures, from zgen_otel and from the official exporters ------------------------
def _otlp_env(monkeypatch: pytest.MonkeyPatch, protocol: str, endpoint: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", OTLP_HEADERS_ENV)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", f"x-metrics-key={OTLP_METRICS_HEADER}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"x-traces-key={OTLP_TRACES_HEADER}")
    monkeypatch.setattr(_providers, "EXPORT_TIMEOUT", 1.0)


def _export_once() -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    zgen_otel.record_metric("probe", 1.0, "leak", attributes={"kind": "otlp"})

    @track("leak.probe")
    def probe() -> None:
        pass

    probe()
    providers = zgen_otel.get_runtime().providers
    assert providers is not None
    providers.force_flush(5_000)
    zgen_otel.shutdown()


@pytest.mark.parametrize(
    ("protocol", "peer_kind"),
    [("http/protobuf", "refused"), ("http/protobuf", "401"), ("http/protobuf", "500"), ("grpc", "refused")],
)
def test_otlp_export_failures_log_no_header_secret(
    logs: Logs, monkeypatch: pytest.MonkeyPatch, protocol: str, peer_kind: str
) -> None:
    with contextlib.ExitStack() as stack:
        if peer_kind == "refused":
            endpoint, answering = f"http://127.0.0.1:{free_port()}", None
        else:
            answering = stack.enter_context(peer(int(peer_kind), body=b"denied"))
            endpoint = answering.url
        _otlp_env(monkeypatch, protocol, endpoint)
        _export_once()
        text = logs.assert_clean(f"OTLP {protocol} export to a {peer_kind} collector")
        if answering is not None:  # the headers were really sent, so the secrets were in play
            seen = answering.seen()
            assert OTLP_HEADER in seen and OTLP_API_KEY in seen
            assert OTLP_METRICS_HEADER in seen and OTLP_TRACES_HEADER in seen
            # The failure was logged, with the exporter's reason (zgen_otel folds the exporter's own lines into
            # its one warning per signal), and checked.
            assert f"failed (HTTP {peer_kind})" in text
        else:
            assert "127.0.0.1" in text  # a failure naming the collector was logged


def test_an_otlp_header_value_opentelemetry_cannot_parse_is_not_logged(
    logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    with peer(200) as collector:
        _otlp_env(monkeypatch, "http/protobuf", collector.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"x-api-key={OTLP_API_KEY};tenant=blue")
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS")  # the exporters parse the shared variable only
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS")  # when the per-signal one is unset
        _export_once()
        assert OTLP_API_KEY in collector.seen()
    logs.assert_clean("building an exporter with a header value outside the OTel grammar")


def test_an_otlp_endpoint_with_a_query_token_leaks_nowhere(logs: Logs, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    _otlp_env(monkeypatch, "http/protobuf", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                       f"http://otlp:{OTLP_URL_PASSWORD}@127.0.0.1:{port}/v1/metrics?api_key={OTLP_QUERY}")  # fmt: skip
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    zgen_otel.record_metric("probe", 1.0, "leak")
    providers = zgen_otel.get_runtime().providers
    assert providers is not None
    texts = [repr(providers)]
    with serving(make_app(token=API_TOKEN)) as srv, httpx.Client(base_url=srv.url, timeout=10) as client:
        providers.force_flush(5_000)
        texts.append(client.get("/api/monitoring").text)
    zgen_otel.shutdown()
    assert_clean("status and Providers repr with an OTLP endpoint holding credentials", *texts)
    logs.assert_clean("OTLP export to an endpoint holding credentials")


def test_an_otlp_logs_endpoint_with_credentials_and_a_query_token_leaks_nowhere(
    logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    _otlp_env(monkeypatch, "http/protobuf", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                       f"http://otlp:{OTLP_URL_PASSWORD}@127.0.0.1:{port}/v1/logs?api_key={OTLP_QUERY}")  # fmt: skip
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    logging.getLogger("leak.app").warning("a record for the logs exporter")
    providers = zgen_otel.get_runtime().providers
    assert providers is not None
    providers.force_flush(5_000)
    status = providers.export_status()["logs"]
    zgen_otel.shutdown()
    assert status["failed"] >= 1  # the logs exporter really tried the endpoint and failed
    logs.assert_clean("OTLP logs export to an endpoint holding credentials")


# -- (b) HTTP responses, (c) dashboards, (d) CLI ------------------------------------------------------------
@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch, logs: Logs) -> Iterator[AlertManager]:
    """A runtime holding every kind of secret: API token, OTLP headers, channels that failed; some data.

    Its set-up is logged too (channel failures): tests that take ``logs`` check those records as well.
    """
    monkeypatch.setenv("ZGEN_OTEL_API_TOKEN", API_TOKEN)
    _otlp_env(monkeypatch, "http/protobuf", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "3600000")
    monkeypatch.setattr(_providers, "EXPORT_TIMEOUT", 0.3)
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=True)
    manager = get_alert_manager()
    manager.dispatcher.max_retries = 0
    for channel in secret_notifiers(free_port(), timeout=0.5):
        manager.add_notifier(channel)
    for v in range(5):
        zgen_otel.record_metric("latency", v, "agent", attributes={"tool": "search"}, unit="s")
    record_llm_usage("gpt-small", input_tokens=100, output_tokens=20, provider="openai", duration=0.5)

    @track("agent.step")
    def step() -> None:
        pass

    step()
    manager.add_metric_rule("latency_high", "latency is high", "agent.latency", threshold=1, severity="error")
    manager.trigger_alert("disk_full", "disk is full", "critical", "system")
    assert manager.dispatcher.flush(10)
    assert manager.dispatcher.stats.snapshot()["failures"], "the channels should have failed by now"
    providers = zgen_otel.get_runtime().providers
    assert providers is not None
    providers.collect()
    yield manager


def _get_everything(client: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
    """Every read endpoint, every dashboard in both formats and the web pages, plus error responses."""
    paths = ["/api/monitoring", "/api/monitoring/metrics", "/api/monitoring/metrics?category=agent",
             "/api/monitoring/metrics/agent.latency", "/api/monitoring/alerts", "/api/monitoring/alerts/history",
             "/api/monitoring/dashboard", "/api/monitoring/performance", "/openapi.json", "/monitoring",
             "/metrics", "/api/monitoring/metrics/nope", "/api/monitoring/dashboard/nope",
             "/api/monitoring/metrics/agent.latency?window=-1", "/api/monitoring/alerts/history?severity=loud",
             "/nothing-here", "/docs", "/redoc"]  # fmt: skip
    for d in get_dashboard_manager().list_dashboards():
        paths += [f"/api/monitoring/dashboard/{d.name}", f"/api/monitoring/dashboard/{d.name}?format=html",
                  f"/monitoring/{d.name}"]  # fmt: skip
    responses = [client.get(p, headers=headers) for p in paths]
    responses.append(client.post("/api/monitoring", headers=headers))  # 405
    responses.append(client.get("/api/monitoring", headers={"Authorization": "Bearer wrong"}))  # 401 when required
    responses.append(client.post(f"/api/monitoring/alerts/{'0' * 32}/resolve", headers={"Authorization": "Bearer x"}))
    responses.append(
        client.post(
            f"/api/monitoring/alerts/{'0' * 32}/resolve",
            headers={**headers, "Content-Type": "application/json"},
            content=b"x" * 70_000,
        )
    )
    return responses


def _dump(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code}\n{response.headers}\n{response.text}"


@pytest.mark.parametrize("require_token", [False, True])
def test_no_http_response_carries_a_secret(loaded: AlertManager, logs: Logs, require_token: bool) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    with serving(make_app(require_token=require_token)) as srv, httpx.Client(base_url=srv.url, timeout=10) as client:
        responses = _get_everything(client, auth if require_token else {})
        alert = loaded.get_active_alerts()[0]
        page = client.get("/monitoring/alerts", headers=auth if require_token else {})
        page_token = json.loads(page.text.split("var token = ", 1)[1].split(";", 1)[0])  # null: login session only
        acked = client.post(f"/api/monitoring/alerts/{alert.id}/acknowledge", json={"by": "page"},
                            headers={"Authorization": f"Bearer {page_token}"} if page_token else auth)  # fmt: skip
        responses += [page, acked, client.post(f"/api/monitoring/alerts/{alert.id}/resolve", headers=auth)]
    for response in responses:
        assert response.status_code < 500, _dump(response)
        assert_clean(f"HTTP response to {response.request.method} {response.request.url}", _dump(response))
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"  # the page's own token works
    assert responses[-1].json()["status"] == "resolved"
    status = responses[0].json()
    assert status["exporters"] and status["notifications"]["failures"]  # what could leak was really there
    assert {200, 401, 404, 405, 413, 422} <= {r.status_code for r in responses}
    logs.assert_clean(f"serving the API, require_token={require_token}")


def test_every_dashboard_renders_without_a_secret(loaded: AlertManager, logs: Logs) -> None:
    names = [d.name for d in get_dashboard_manager().list_dashboards()]
    assert {"system", "performance", "alerts", "metrics", "llm"} <= set(names)
    texts = [render_dashboard_index()]
    for name in names:
        texts += [render_dashboard(name, format="html"), render_dashboard(name, format="json"),
                  render_dashboard(name, format="html", interactive=True)]  # fmt: skip
        assert_clean(f"dashboard {name}", *texts[-3:])
    assert_clean("the dashboard index", texts[0])
    logs.assert_clean("rendering dashboards")


def test_cli_status_prints_no_secret(loaded: AlertManager, logs: Logs) -> None:
    with serving(make_app(require_token=True)) as srv:
        assert cli_main(["status", "--url", srv.url]) == 0
    out = logs.text()
    assert "exporters" in out and "127.0.0.1" in out and "alerting      on" in out
    assert_clean("zgen-otel status", out)

    unreachable = [
        f"http://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{free_port()}/?token={WEBHOOK_QUERY}",
        f"http://127.0.0.1:{free_port()}/?token={WEBHOOK_QUERY}",
        f"http://127.0.0.1:{free_port()}/?token={WEBHOOK_QUERY} x",
        f"127.0.0.1/?token={WEBHOOK_QUERY}",
    ]
    for url in unreachable:
        assert cli_main(["status", "--url", url]) != 0
    assert_clean("zgen-otel status against unusable URLs", logs.text())


STATUS = {"service_name": "elsewhere", "version": "0", "enabled": True, "interval": 60, "uptime_seconds": 1,
          "alerting_enabled": True, "rules": 0, "active_alerts": 0, "exporters": {}, "store": {}}  # fmt: skip


def test_cli_status_does_not_forward_the_token_to_a_redirect_target(loaded: AlertManager, logs: Logs) -> None:
    answers = {"/api/monitoring": json.dumps(STATUS).encode(), "/api/monitoring/alerts": b"[]"}
    with peer(200, body=answers) as target:
        with peer(302, location=f"{target.url}{{path}}") as redirecting:
            assert cli_main(["status", "--url", redirecting.url]) == 0
        assert API_TOKEN in redirecting.seen()
        assert target.requests, "the redirect was not followed; the test proves nothing"
        assert_clean("what the redirect target received", target.seen())
    logs.assert_clean("zgen-otel status redirected")


# -- path traversal and error responses ---------------------------------------------------------------------
TRAVERSALS = [
    "/monitoring/..%2f..%2f..%2fetc%2fpasswd",
    "/monitoring/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/monitoring/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/monitoring/..%252f..%252fetc%252fpasswd",
    "/monitoring/..%5c..%5c..%5cetc%5cpasswd",
    "/monitoring/%c0%ae%c0%ae%c0%afetc%c0%afpasswd",
    "/monitoring/../../../etc/passwd",
    "/monitoring/....//....//etc/passwd",
    "/monitoring/..",
    "/monitoring/%2e%2e",
    "/monitoring/..%00.html",
    "/monitoring/dashboard.html",
    "/monitoring/..%2fdashboards%2ftemplates%2fdashboard.html",
    "/monitoring/..%2f..%2fzgen_otel%2fconfig.py",
    "/api/monitoring/dashboard/..%2f..%2f..%2fetc%2fpasswd",
    "/api/monitoring/dashboard/..%2f..%2f..%2fetc%2fpasswd?format=html",
    "/api/monitoring/dashboard/..",
    "/api/monitoring/dashboard/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/monitoring/dashboard/..%5c..%5cetc%5cpasswd",
    "/api/monitoring/metrics/..%2f..%2fetc%2fpasswd",
    "/api/monitoring/metrics/..%252f..%252fetc%252fpasswd",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/static/../../../etc/passwd",
    "/assets/..%2f..%2fetc%2fpasswd",
    "/monitoring/static/..%2f..%2fetc%2fpasswd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "//etc/passwd",
    "/monitoring//etc/passwd",
]
LEAK_MARKERS = ["root:x:0:0", "root:*:0:0", "Traceback", 'File "', "{%", "{{", "def ", "import ", "__TOKEN__"]


def _raw_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, str, str]:
    """GET a path exactly as written (no client-side normalisation of dot segments or escapes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.getheader("content-type") or "", response.read().decode("utf-8", "replace")
    finally:
        conn.close()


@pytest.mark.parametrize("require_token", [False, True])
def test_path_traversal_is_rejected_without_leaking_a_file_or_a_traceback(
    loaded: AlertManager, logs: Logs, require_token: bool
) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"} if require_token else {}
    answers = []
    with serving(make_app(require_token=require_token)) as srv:
        for path in TRAVERSALS:
            status, content_type, body = _raw_get(srv.port, path, headers)
            answers.append((path, status, body))
            assert status in (400, 404, 422), (path, status, body[:300])
            assert not [m for m in LEAK_MARKERS if m in body], (path, body[:300])
            assert content_type.startswith("application/json"), (path, content_type, body[:300])
            problem = json.loads(body)
            assert problem["status"] == status and problem["detail"], (path, problem)
            assert_clean(f"the answer to {path}", body)
    assert {s for _, s, _ in answers} & {404}, answers
    for name in ("../../../etc/passwd", "..", "..\\..\\etc\\passwd", "/etc/passwd", "dashboard.html"):
        with pytest.raises(KeyError) as err:
            render_dashboard(name)
        assert "root:" not in str(err.value) and "available" in str(err.value)
    logs.assert_clean("path traversal probes")


class _Exploding(Dashboard):
    name, title, description = "exploding", "Exploding", "raises while rendering"
    marker = f"internal-detail-{secrets.token_hex(8)}"

    def get_data(self, window_seconds: float = 3600) -> dict[str, Any]:
        raise RuntimeError(self.marker)


def test_a_crash_is_a_json_problem_without_a_traceback(loaded: AlertManager) -> None:
    manager = get_dashboard_manager()
    manager.register_dashboard(_Exploding(), replace=True)
    paths = ["/api/monitoring/dashboard/exploding", "/api/monitoring/dashboard/exploding?format=html",
             "/monitoring/exploding"]  # fmt: skip
    with serving(make_app()) as srv:
        crashed = [httpx.get(f"{srv.url}{path}", timeout=10) for path in paths]  # uvicorn drops the connection
    for response in crashed:
        assert response.status_code == 500, _dump(response)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {"status": 500, "title": "Internal error", "detail": "RuntimeError"}
        assert _Exploding.marker not in response.text and "Traceback" not in response.text
        assert_clean("a 500 answer", _dump(response))
