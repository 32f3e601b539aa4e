"""Settings: read from the environment, overridden by ``configure(...)`` keywords, validated once.

Every setting has one environment variable and one ``configure`` keyword. A malformed value raises
`ConfigError` naming the variable (or keyword), the bad value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from zgen_otel.exceptions import ConfigError
from zgen_otel.variables import (
    ENV_VARS,
    ENVIRONMENT_ONLY,
    LOG_LEVELS,
    MAX_BODY_BYTES,
    MAX_SECONDS,
    MIN_SECONDS,
    parse_bool,
    parse_count,
    parse_headers,
    parse_hosts,
    parse_non_negative_float,
    parse_port,
    parse_positive_float,
    parse_positive_int,
)

__all__ = [
    "ENDPOINT_KEYS",
    "ENVIRONMENT_ONLY",
    "ENV_VARS",
    "LOG_LEVELS",
    "ConfigError",
    "OtlpProtocol",
    "Settings",
    "is_loopback_url",
    "load_settings",
    "redact_url",
]

OtlpProtocol = Literal["grpc", "http/protobuf"]
# The settings holding an OTLP endpoint URL, whose user info and query must be kept out of reprs and logs.
ENDPOINT_KEYS = ("otlp_endpoint", "otlp_metrics_endpoint", "otlp_traces_endpoint", "otlp_logs_endpoint")


def redact_url(url: str) -> str:
    """``url`` without user info, query and fragment (where credentials and tokens go): safe to log and show.

    Args:
        url: a URL such as ``https://user:secret@collector:4318/v1/traces?token=x``, or a gRPC ``host:port``.

    Returns:
        The URL's scheme, host, port and path (``https://collector:4318/v1/traces``); ``"<unparsable URL>"``
        for one that cannot be parsed (such as a port that is not a number).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if not parts.netloc:
        return url.rpartition("@")[2].split("?", 1)[0].split("#", 1)[0]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, f"{host}:{port}" if port else host, parts.path, "", ""))


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` (``http://127.0.0.1:4318``, or a gRPC ``localhost:4317``) names this machine's loopback.

    ``localhost`` and every loopback address (``127.0.0.0/8``, ``::1``) count; any other name or an unparsable
    URL does not.

    Args:
        url: the URL, or a ``host:port`` without a scheme.

    Returns:
        True when its host is this machine's loopback.
    """
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname
    except ValueError:
        return False
    if host is None:
        return False
    if host.rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    """The validated settings of one runtime. Build it with `load_settings`.

    Each attribute is the ``configure(...)`` keyword of the same name and is read from one environment
    variable (`ENV_VARS`; the Configuration page lists each with its default).

    Attributes:
        enabled: False makes every API a no-op.
        interval: seconds between collections of every OTel instrument into the local store.
        retention_days: days of history kept (memory and SQLite).
        alerting_enabled: evaluate alert rules.
        alerting_notifications: send alert notifications.
        service_name: the ``service.name`` resource attribute.
        otlp_endpoint: collector base URL; with none set, nothing is sent anywhere.
        otlp_metrics_endpoint: full URL for metrics only (overrides the base URL).
        otlp_traces_endpoint: full URL for traces only (overrides the base URL).
        otlp_logs_endpoint: full URL for logs only (overrides the base URL).
        otlp_protocol: ``grpc`` or ``http/protobuf``.
        otlp_metrics_protocol: protocol for metrics only; None: ``otlp_protocol``.
        otlp_traces_protocol: protocol for traces only; None: ``otlp_protocol``.
        otlp_logs_protocol: protocol for logs only; None: ``otlp_protocol``.
        otlp_headers: headers sent with every export (e.g. an API key), names in lower case; never shown.
        export_interval: seconds between pushes of metrics over OTLP; None: 60, or 5 to a loopback endpoint.
        store_path: SQLite file that keeps history across restarts; None: memory only.
        store_flush_interval: seconds between writes to the SQLite file.
        store_max_backlog: samples kept waiting for the SQLite file when it cannot be written (a full disk).
        max_series: cap on distinct (name, attributes) series of each source.
        max_series_per_metric: attribute sets per metric name; further ones go to its overflow series.
        max_operations: distinct tracked operations; calls of further ones count under ``_OTHER``.
        max_attributes: attributes per ``record_metric`` attribute set (the first ones are kept).
        max_raw_points: raw points kept per series before the oldest are rolled up (>= 16).
        set_global_providers: install zgen_otel's providers as the OTel globals when the host has none.
        system_monitor: start the system monitor's background collector.
        host_lock: lock file electing the one process per host that ships host-wide series over OTLP;
            ``none`` turns election off; None: one per service in the temp dir.
        default_rules: install the default alert rules for the system monitor.
        prometheus: add the Prometheus reader behind ``GET /metrics``.
        max_spans: spans kept for the local traces view; ``0`` turns the span buffer off.
        capture_logs: capture Python ``logging`` records that reach the root logger.
        log_level: lowest level captured: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` or ``CRITICAL``.
        max_logs: log records kept for the logs view; ``0`` keeps none locally.
        max_services: services whose telemetry ``zgen-otel serve`` keeps from other processes.
        max_value_length: characters of a span attribute, event attribute or log message shown before the cut.
        shutdown_grace: seconds notification channels get at shutdown, after the data is flushed.
        allowed_hosts: names besides loopback the HTTP API answers to in ``Host`` (``*``: any).
        server_port: serve the API and web page from this process on this port; None: no server.
        server_host: the address that server binds; any but a loopback one needs ``ZGEN_OTEL_API_TOKEN``.
        otlp_max_body: bytes of one request to ``zgen-otel serve``'s OTLP endpoints, before and after gzip.
    """

    enabled: bool = True
    interval: float = 60.0
    retention_days: float = 30.0
    alerting_enabled: bool = True
    alerting_notifications: bool = True
    service_name: str = "zgen-agent"
    otlp_endpoint: str | None = None
    otlp_metrics_endpoint: str | None = None
    otlp_traces_endpoint: str | None = None
    otlp_logs_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    otlp_metrics_protocol: str | None = None
    otlp_traces_protocol: str | None = None
    otlp_logs_protocol: str | None = None
    otlp_headers: Mapping[str, str] = field(default_factory=dict)
    export_interval: float | None = None  # None: 60 s, or 5 s to a loopback metrics endpoint (see _providers)
    store_path: str | None = None
    store_flush_interval: float = 5.0
    store_max_backlog: int = 100_000
    max_series: int = 10_000
    max_series_per_metric: int = 2000
    max_operations: int = 2000
    max_attributes: int = 128
    max_raw_points: int = 4096
    set_global_providers: bool = True
    system_monitor: bool = True
    host_lock: str | None = None
    default_rules: bool = True
    prometheus: bool = False
    max_spans: int = 5000
    capture_logs: bool = True
    log_level: str = "INFO"
    max_logs: int = 5000
    max_services: int = 50  # services whose OTLP telemetry a receiver (zgen-otel serve) keeps
    max_value_length: int = 4096
    shutdown_grace: float = 3.0  # seconds notification channels get at shutdown, after the data is flushed
    allowed_hosts: tuple[str, ...] = ()
    server_port: int | None = None  # serve the monitoring page from this process (zgen_otel.start_server)
    server_host: str = "127.0.0.1"
    otlp_max_body: int = 16 * 1024 * 1024  # bytes of one OTLP request to zgen-otel serve, before and after gzip

    @property
    def retention_seconds(self) -> float:
        """Retention in seconds."""
        return self.retention_days * 86_400.0

    def signal_endpoint(self, signal: Literal["metrics", "traces", "logs"]) -> str | None:
        """The OTLP endpoint for one signal (its own setting first, then the shared one), or None.

        Args:
            signal: ``"metrics"``, ``"traces"`` or ``"logs"``.

        Returns:
            The URL the signal is exported to; None when neither setting is set (it is not exported).
        """
        own: str | None = getattr(self, f"otlp_{signal}_endpoint")
        return own or self.otlp_endpoint

    def signal_protocol(self, signal: Literal["metrics", "traces", "logs"]) -> str:
        """The OTLP protocol for one signal: ``grpc`` or ``http/protobuf``.

        Args:
            signal: ``"metrics"``, ``"traces"`` or ``"logs"``.

        Returns:
            The signal's own protocol setting when set, else ``otlp_protocol``.
        """
        own: str | None = getattr(self, f"otlp_{signal}_protocol")
        return own or self.otlp_protocol

    def __repr__(self) -> str:
        shown: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["otlp_headers"] = {key: "<redacted>" for key in self.otlp_headers}
        for key in ENDPOINT_KEYS:
            if shown[key]:
                shown[key] = redact_url(shown[key])
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _check_override(key: str, value: Any) -> Any:
    """Validate one ``configure`` keyword with the same rules as its environment variable."""
    spec = ENV_VARS[key]
    label = spec.label(key, value)
    if value is None:
        return None  # back to the default
    if spec.parse is parse_headers and isinstance(value, Mapping):
        if all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return {k.lower(): v for k, v in value.items()}
        raise ConfigError(f"{label} is not valid: expected a mapping of str to str")
    if spec.parse is parse_bool and isinstance(value, bool):
        return value
    if spec.parse is parse_hosts and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return _validated(label, parse_hosts, ",".join(value), spec.allowed)
    whole = (parse_positive_int, parse_count, parse_port)
    numeric = spec.parse in (parse_positive_float, parse_non_negative_float, *whole) or key == "export_interval"
    if numeric and isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) > 10**18:  # past any count or timer; str() of it may fail
            raise ConfigError(f"{label} is not valid: expected {spec.allowed}, at most 10**18")
        if key == "export_interval":  # seconds as a keyword, milliseconds in the environment
            return _validated(label, parse_positive_float, str(value), "a number of seconds > 0")
        if spec.parse in whole and not isinstance(value, int):
            raise ConfigError(f"{label} is not valid: expected {spec.allowed}")
        return _validated(label, spec.parse, str(value), spec.allowed)
    if isinstance(value, str):
        return _validated(label, spec.parse, value, spec.allowed)
    raise ConfigError(f"{label} is not valid: expected {spec.allowed}")


def _validated(label: str, parse: Callable[[str], Any], raw: str, allowed: str) -> Any:
    try:
        return parse(raw)
    except (ValueError, OverflowError):
        raise ConfigError(f"{label} is not valid: expected {allowed}") from None


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build validated settings from the environment (``os.environ`` by default) and keyword overrides.

    A keyword wins over its environment variable; a keyword set to None gives the setting its default.

    Args:
        environ: the variables to read; ``os.environ`` by default. Empty values count as unset.
        **overrides: ``configure(...)`` keywords (`Settings` names them), with the same rules as the variables.

    Returns:
        The settings, each validated.

    Raises:
        ConfigError: a variable or keyword has a value that is not allowed, or a keyword is unknown.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}  # how the user named each value given: the variable or the keyword, and the value
    for key, spec in ENV_VARS.items():
        raw = env.get(spec.env)
        if raw is not None and raw.strip():
            labels[key] = spec.label(spec.env, raw)
            values[key] = _validated(labels[key], spec.parse, raw, spec.allowed)
    unknown = sorted(set(overrides) - set(ENV_VARS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(ENV_VARS)}")
    for key, value in overrides.items():
        labels[key] = ENV_VARS[key].label(key, value)
        values[key] = _check_override(key, value)
    settings = Settings(**{k: v for k, v in values.items() if v is not None})
    _check_ranges(settings, labels, from_env={k for k in labels if k not in overrides})
    return settings


def _check_ranges(settings: Settings, labels: Mapping[str, str], from_env: set[str]) -> None:
    """Raise `ConfigError` for a value outside the range its setting allows.

    Args:
        settings: the parsed settings.
        labels: per setting given, how the user wrote it (``MONITORING_INTERVAL='0.00001'`` or
            ``interval=1e-05``), for the message.
        from_env: the settings given by an environment variable (``OTEL_METRIC_EXPORT_INTERVAL`` is in
            milliseconds, its keyword in seconds).
    """
    seconds = f"{MIN_SECONDS} to {MAX_SECONDS:,.0f} seconds"
    checks: list[tuple[str, bool, str]] = [
        ("max_raw_points", settings.max_raw_points < 16, "a whole number >= 16"),
        ("otlp_max_body", settings.otlp_max_body > MAX_BODY_BYTES, ENV_VARS["otlp_max_body"].allowed),
        ("shutdown_grace", settings.shutdown_grace > MAX_SECONDS, f"0 to {MAX_SECONDS:,.0f} seconds"),
    ]
    for key in ("interval", "export_interval", "store_flush_interval"):  # timers need a sane range
        value = getattr(settings, key)
        allowed = seconds
        if key == "export_interval" and key in from_env:
            allowed = f"{MIN_SECONDS * 1000:g} to {MAX_SECONDS * 1000:,.0f} milliseconds"
        checks.append((key, value is not None and not MIN_SECONDS <= value <= MAX_SECONDS, allowed))
    for key, bad, allowed in checks:
        if bad:
            raise ConfigError(f"{labels.get(key, key)} is not valid: expected {allowed}")
