"""Settings: read from the environment, overridden by ``configure(...)`` keywords, validated once.

Every setting has one environment variable and one ``configure`` keyword. A malformed value raises
:class:`ConfigError` naming the variable (or keyword), the bad value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from zgen_otel._util import safe_repr
from zgen_otel.exceptions import ConfigError

__all__ = [
    "ENDPOINT_KEYS",
    "ENV_VARS",
    "ConfigError",
    "OtlpProtocol",
    "Settings",
    "is_loopback_url",
    "load_settings",
    "redact_url",
]

OtlpProtocol = Literal["grpc", "http/protobuf"]
_PROTOCOLS: tuple[str, ...] = ("grpc", "http/protobuf")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
# The settings holding an OTLP endpoint URL, whose user info and query must be kept out of reprs and logs.
ENDPOINT_KEYS = ("otlp_endpoint", "otlp_metrics_endpoint", "otlp_traces_endpoint", "otlp_logs_endpoint")


def redact_url(url: str) -> str:
    """``url`` without user info, query and fragment (where credentials and tokens go): safe to log and show."""
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


def _bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected one of {', '.join(_TRUE + _FALSE)}")


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value) or value <= 0:
        raise ValueError("expected a number > 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value) or value < 0:
        raise ValueError("expected a number >= 0")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a whole number > 0")
    return value


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("expected a whole number >= 0")
    return value


def _protocol(raw: str) -> str:
    text = raw.strip().lower()
    if text not in _PROTOCOLS:
        raise ValueError(f"expected one of {', '.join(_PROTOCOLS)}")
    return text


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("expected a non-empty string")
    return raw.strip()


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _headers(raw: str) -> dict[str, str]:
    """Parse ``k1=v1,k2=v2`` (the OTLP header format) into a dict."""
    headers: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError("expected comma-separated key=value pairs")
        headers[key.strip().lower()] = value.strip()
    return headers


_HOST_NAME = re.compile(r"\.?[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*")


def _hosts(raw: str) -> tuple[str, ...]:
    """Comma-separated host names (``.example.com``: it and its subdomains), IP addresses or ``*``, lower-cased."""
    names = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for name in names:
        bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            if name != "*" and not _HOST_NAME.fullmatch(name):
                raise ValueError("expected host names, IP addresses or *") from None
    return tuple(name[1:-1] if name.startswith("[") else name for name in names)


def _bind_host(raw: str) -> str:
    """One IP address or host name to bind a server to (``[::1]`` is taken as ``::1``)."""
    names = _hosts(raw) if "," not in raw else ()
    if len(names) != 1 or names[0] == "*" or names[0].startswith("."):
        raise ValueError("expected one IP address or host name")
    return names[0]


def _port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_SECONDS = 0.001  # a shorter interval would spin the background threads
MAX_SECONDS = 1e8  # about three years; thread timeouts past threading.TIMEOUT_MAX kill the SDK's reader
MAX_BODY_BYTES = 2**31 - 1  # gRPC's message size limits are 32-bit


def _level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


@dataclass(frozen=True)
class _Spec:
    env: str
    parse: Callable[[str], Any]
    allowed: str
    secret: bool = False

    def label(self, name: str, value: object) -> str:
        """How an error names a value: ``name=value``, with the value hidden when it can hold secrets."""
        return f"{name}=<redacted>" if self.secret else f"{name}={safe_repr(value)}"


# keyword -> (environment variable, parser, what is allowed). Defaults live on Settings.
ENV_VARS: dict[str, _Spec] = {
    "enabled": _Spec("MONITORING_ENABLED", _bool, "true or false"),
    "interval": _Spec("MONITORING_INTERVAL", _positive_float, "a number of seconds > 0"),
    "retention_days": _Spec("METRICS_RETENTION_DAYS", _positive_float, "a number of days > 0"),
    "alerting_enabled": _Spec("ALERTING_ENABLED", _bool, "true or false"),
    "alerting_notifications": _Spec("ALERTING_NOTIFICATIONS", _bool, "true or false"),
    "service_name": _Spec("OTEL_SERVICE_NAME", _text, "a non-empty string"),
    "otlp_endpoint": _Spec("OTEL_EXPORTER_OTLP_ENDPOINT", _optional_text, "a URL such as http://127.0.0.1:4318"),
    "otlp_metrics_endpoint": _Spec("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", _optional_text, "a URL"),
    "otlp_traces_endpoint": _Spec("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", _optional_text, "a URL"),
    "otlp_logs_endpoint": _Spec("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", _optional_text, "a URL"),
    "otlp_protocol": _Spec("OTEL_EXPORTER_OTLP_PROTOCOL", _protocol, "grpc or http/protobuf"),
    "otlp_metrics_protocol": _Spec("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", _protocol, "grpc or http/protobuf"),
    "otlp_traces_protocol": _Spec("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", _protocol, "grpc or http/protobuf"),
    "otlp_logs_protocol": _Spec("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", _protocol, "grpc or http/protobuf"),
    "otlp_headers": _Spec("OTEL_EXPORTER_OTLP_HEADERS", _headers, "comma-separated key=value pairs", secret=True),
    "export_interval": _Spec("OTEL_METRIC_EXPORT_INTERVAL", lambda r: _positive_float(r) / 1000, "milliseconds > 0"),
    "store_path": _Spec("ZGEN_OTEL_STORE_PATH", _optional_text, "a file path for the SQLite store"),
    "store_flush_interval": _Spec("ZGEN_OTEL_STORE_FLUSH_INTERVAL", _positive_float, "a number of seconds > 0"),
    "store_max_backlog": _Spec("ZGEN_OTEL_STORE_MAX_BACKLOG", _positive_int, "a whole number of samples > 0"),
    "max_series": _Spec("ZGEN_OTEL_MAX_SERIES", _positive_int, "a whole number > 0"),
    "max_series_per_metric": _Spec("ZGEN_OTEL_MAX_SERIES_PER_METRIC", _positive_int, "a whole number > 0"),
    "max_operations": _Spec("ZGEN_OTEL_MAX_OPERATIONS", _positive_int, "a whole number > 0"),
    "max_attributes": _Spec("ZGEN_OTEL_MAX_ATTRIBUTES", _positive_int, "a whole number > 0"),
    "max_raw_points": _Spec("ZGEN_OTEL_MAX_RAW_POINTS", _positive_int, "a whole number >= 16"),
    "set_global_providers": _Spec("ZGEN_OTEL_SET_GLOBAL_PROVIDERS", _bool, "true or false"),
    "system_monitor": _Spec("ZGEN_OTEL_SYSTEM_MONITOR", _bool, "true or false"),
    "host_lock": _Spec("ZGEN_OTEL_HOST_LOCK", _optional_text, "a lock-file path, or 'none'"),
    "default_rules": _Spec("ZGEN_OTEL_DEFAULT_RULES", _bool, "true or false"),
    "prometheus": _Spec("ZGEN_OTEL_PROMETHEUS", _bool, "true or false"),
    "max_spans": _Spec("ZGEN_OTEL_MAX_SPANS", _count, "a whole number >= 0 (0 turns the span buffer off)"),
    "capture_logs": _Spec("ZGEN_OTEL_CAPTURE_LOGS", _bool, "true or false"),
    "log_level": _Spec("ZGEN_OTEL_LOG_LEVEL", _level, "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    "max_logs": _Spec("ZGEN_OTEL_MAX_LOGS", _count, "a whole number >= 0 (0 keeps no records locally)"),
    "max_services": _Spec("ZGEN_OTEL_MAX_SERVICES", _positive_int, "a whole number > 0"),
    "max_value_length": _Spec("ZGEN_OTEL_MAX_VALUE_LENGTH", _positive_int, "a whole number > 0"),
    "shutdown_grace": _Spec("ZGEN_OTEL_SHUTDOWN_GRACE", _non_negative_float, "a number of seconds >= 0"),
    "otlp_max_body": _Spec(
        "ZGEN_OTEL_OTLP_MAX_BODY", _positive_int, f"a whole number of bytes from 1 to {MAX_BODY_BYTES}"
    ),
    "allowed_hosts": _Spec(
        "ZGEN_OTEL_ALLOWED_HOSTS", _hosts, "comma-separated host names (.example.com for subdomains too), IPs or *"
    ),
    "server_port": _Spec("ZGEN_OTEL_SERVER_PORT", _port, "a port number from 1 to 65535 (unset or empty: no server)"),
    "server_host": _Spec("ZGEN_OTEL_SERVER_HOST", _bind_host, "one IP address or host name, such as 127.0.0.1"),
}


@dataclass(frozen=True)
class Settings:
    """The validated settings of one runtime. Build it with :func:`load_settings`."""

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
        """The OTLP endpoint for one signal (its own setting first, then the shared one), or None."""
        own: str | None = getattr(self, f"otlp_{signal}_endpoint")
        return own or self.otlp_endpoint

    def signal_protocol(self, signal: Literal["metrics", "traces", "logs"]) -> str:
        """The OTLP protocol for one signal: ``grpc`` or ``http/protobuf``."""
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
    if spec.parse is _headers and isinstance(value, Mapping):
        if all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return {k.lower(): v for k, v in value.items()}
        raise ConfigError(f"{label} is not valid: expected a mapping of str to str")
    if spec.parse is _bool and isinstance(value, bool):
        return value
    if spec.parse is _hosts and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return _validated(label, _hosts, ",".join(value), spec.allowed)
    whole = (_positive_int, _count, _port)
    numeric = spec.parse in (_positive_float, _non_negative_float, *whole) or key == "export_interval"
    if numeric and isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) > 10**18:  # past any count or timer; str() of it may fail
            raise ConfigError(f"{label} is not valid: expected {spec.allowed}, at most 10**18")
        if key == "export_interval":  # seconds as a keyword, milliseconds in the environment
            return _validated(label, _positive_float, str(value), "a number of seconds > 0")
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
    """Raise :class:`ConfigError` for a value outside the range its setting allows.

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
