"""Every setting's environment variable: its parser, what it allows and what it does.

`ENV_VARS` maps each ``configure()`` keyword to its `Variable`; `ENVIRONMENT_ONLY` lists the
variables read where they are used, with no keyword. `zgen_otel.config` reads settings through this table,
and the docs' Configuration page is generated from it (``python docs/generate.py``), so the two never disagree.
Each ``parse_*`` function turns a variable's text into its value or raises ``ValueError``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zgen_otel._util import safe_repr

__all__ = [
    "ENVIRONMENT_ONLY",
    "ENV_VARS",
    "LOG_LEVELS",
    "MAX_BODY_BYTES",
    "MAX_SECONDS",
    "MIN_SECONDS",
    "Variable",
    "parse_bind_host",
    "parse_bool",
    "parse_count",
    "parse_headers",
    "parse_hosts",
    "parse_level",
    "parse_non_negative_float",
    "parse_optional_text",
    "parse_port",
    "parse_positive_float",
    "parse_positive_int",
    "parse_protocol",
    "parse_text",
]

_PROTOCOLS: tuple[str, ...] = ("grpc", "http/protobuf")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def parse_bool(raw: str) -> bool:
    """A boolean: ``true/1/yes/on`` or ``false/0/no/off`` (any case)."""
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected one of {', '.join(_TRUE + _FALSE)}")


def parse_positive_float(raw: str) -> float:
    """A finite number > 0."""
    value = float(raw)
    if not math.isfinite(value) or value <= 0:
        raise ValueError("expected a number > 0")
    return value


def parse_non_negative_float(raw: str) -> float:
    """A finite number >= 0."""
    value = float(raw)
    if not math.isfinite(value) or value < 0:
        raise ValueError("expected a number >= 0")
    return value


def parse_positive_int(raw: str) -> int:
    """A whole number > 0."""
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a whole number > 0")
    return value


def parse_count(raw: str) -> int:
    """A whole number >= 0."""
    value = int(raw)
    if value < 0:
        raise ValueError("expected a whole number >= 0")
    return value


def parse_protocol(raw: str) -> str:
    """An OTLP protocol: ``grpc`` or ``http/protobuf``."""
    text = raw.strip().lower()
    if text not in _PROTOCOLS:
        raise ValueError(f"expected one of {', '.join(_PROTOCOLS)}")
    return text


def parse_text(raw: str) -> str:
    """A non-empty string, stripped."""
    if not raw.strip():
        raise ValueError("expected a non-empty string")
    return raw.strip()


def parse_optional_text(raw: str) -> str | None:
    """A string, stripped; None when empty."""
    return raw.strip() or None


def parse_headers(raw: str) -> dict[str, str]:
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


def parse_hosts(raw: str) -> tuple[str, ...]:
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


def parse_bind_host(raw: str) -> str:
    """One IP address or host name to bind a server to (``[::1]`` is taken as ``::1``)."""
    names = parse_hosts(raw) if "," not in raw else ()
    if len(names) != 1 or names[0] == "*" or names[0].startswith("."):
        raise ValueError("expected one IP address or host name")
    return names[0]


def parse_port(raw: str) -> int:
    """A port number from 1 to 65535."""
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_SECONDS = 0.001  # a shorter interval would spin the background threads
MAX_SECONDS = 1e8  # about three years; thread timeouts past threading.TIMEOUT_MAX kill the SDK's reader
MAX_BODY_BYTES = 2**31 - 1  # gRPC's message size limits are 32-bit


def parse_level(raw: str) -> str:
    """A logging level name: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` or ``CRITICAL`` (any case)."""
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


@dataclass(frozen=True)
class Variable:
    """One setting: its variable, its parser, what it allows and, for the docs' Configuration page, what it does.

    ``shown_default``: the default as the page says it, when the value on `Settings` (such as None) does
    not say it.
    """

    env: str
    parse: Callable[[str], Any]
    allowed: str
    secret: bool = False
    doc: str = ""
    shown_default: str | None = None

    def label(self, name: str, value: object) -> str:
        """How an error names a value: ``name=value``, with the value hidden when it can hold secrets."""
        return f"{name}=<redacted>" if self.secret else f"{name}={safe_repr(value)}"


# keyword -> (environment variable, parser, what is allowed, what it does). Defaults live on Settings. The docs'
# Configuration page is generated from this table and ENVIRONMENT_ONLY (docs/generate.py).
ENV_VARS: dict[str, Variable] = {
    "enabled": Variable(
        "MONITORING_ENABLED",
        parse_bool,
        "true or false",
        doc="`false` makes every API a no-op (`true/false/1/0/yes/no/on/off`)",
    ),
    "interval": Variable(
        "MONITORING_INTERVAL",
        parse_positive_float,
        "a number of seconds > 0",
        doc="seconds between collections of every OTel instrument into the local store",
    ),
    "retention_days": Variable(
        "METRICS_RETENTION_DAYS",
        parse_positive_float,
        "a number of days > 0",
        doc="days of history kept (memory and SQLite)",
    ),
    "alerting_enabled": Variable(
        "ALERTING_ENABLED",
        parse_bool,
        "true or false",
        doc="evaluate alert rules",
    ),
    "alerting_notifications": Variable(
        "ALERTING_NOTIFICATIONS",
        parse_bool,
        "true or false",
        doc="send alert notifications",
    ),
    "service_name": Variable(
        "OTEL_SERVICE_NAME",
        parse_text,
        "a non-empty string",
        doc="the `service.name` resource attribute",
    ),
    "otlp_endpoint": Variable(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        parse_optional_text,
        "a URL such as http://127.0.0.1:4318",
        doc="collector base URL; with none set, nothing is sent anywhere",
    ),
    "otlp_metrics_endpoint": Variable(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        parse_optional_text,
        "a URL",
        doc="full URL for metrics only (overrides the base URL)",
    ),
    "otlp_traces_endpoint": Variable(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        parse_optional_text,
        "a URL",
        doc="full URL for traces only (overrides the base URL)",
    ),
    "otlp_logs_endpoint": Variable(
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        parse_optional_text,
        "a URL",
        doc="full URL for logs only (overrides the base URL)",
    ),
    "otlp_protocol": Variable(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        parse_protocol,
        "grpc or http/protobuf",
        doc="`grpc` or `http/protobuf`",
    ),
    "otlp_metrics_protocol": Variable(
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        parse_protocol,
        "grpc or http/protobuf",
        doc="protocol for metrics only",
        shown_default="the shared one",
    ),
    "otlp_traces_protocol": Variable(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        parse_protocol,
        "grpc or http/protobuf",
        doc="protocol for traces only",
        shown_default="the shared one",
    ),
    "otlp_logs_protocol": Variable(
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        parse_protocol,
        "grpc or http/protobuf",
        doc="protocol for logs only",
        shown_default="the shared one",
    ),
    "otlp_headers": Variable(
        "OTEL_EXPORTER_OTLP_HEADERS",
        parse_headers,
        "comma-separated key=value pairs",
        secret=True,
        doc="`key=value,...` sent with every export (e.g. an API key)",
    ),
    "export_interval": Variable(
        "OTEL_METRIC_EXPORT_INTERVAL",
        lambda r: parse_positive_float(r) / 1000,
        "milliseconds > 0",
        doc=(
            "how often metrics are pushed over OTLP, in milliseconds (`configure(export_interval=...)` takes "
            "seconds); a value set here always wins"
        ),
        shown_default=(
            "`60000` ms; `5000` ms when the metrics endpoint is a loopback address (`127.0.0.1`, `::1`, `localhost`, "
            "such as a `zgen-otel serve` on this machine)"
        ),
    ),
    "store_path": Variable(
        "ZGEN_OTEL_STORE_PATH",
        parse_optional_text,
        "a file path for the SQLite store",
        doc="SQLite file that keeps history across restarts",
        shown_default="none (memory)",
    ),
    "store_flush_interval": Variable(
        "ZGEN_OTEL_STORE_FLUSH_INTERVAL",
        parse_positive_float,
        "a number of seconds > 0",
        doc="seconds between writes to the SQLite file",
    ),
    "store_max_backlog": Variable(
        "ZGEN_OTEL_STORE_MAX_BACKLOG",
        parse_positive_int,
        "a whole number of samples > 0",
        doc=(
            "samples kept waiting for the SQLite file when it cannot be written (a full disk); newer ones are dropped"
            " from the file, counted"
        ),
    ),
    "max_series": Variable(
        "ZGEN_OTEL_MAX_SERIES",
        parse_positive_int,
        "a whole number > 0",
        doc=(
            "cap on distinct (name, attributes) series of each source (`record_metric`, OTel instruments, `@track`'s "
            "instruments, system monitor, SQLite file)"
        ),
    ),
    "max_series_per_metric": Variable(
        "ZGEN_OTEL_MAX_SERIES_PER_METRIC",
        parse_positive_int,
        "a whole number > 0",
        doc="attribute sets per metric name; further ones go to the metric's `otel.metric.overflow=true` series",
    ),
    "max_operations": Variable(
        "ZGEN_OTEL_MAX_OPERATIONS",
        parse_positive_int,
        "a whole number > 0",
        doc="distinct tracked operations; calls of further ones count under `_OTHER`",
    ),
    "max_attributes": Variable(
        "ZGEN_OTEL_MAX_ATTRIBUTES",
        parse_positive_int,
        "a whole number > 0",
        doc=(
            "attributes per `record_metric` attribute set (the first ones are kept); `ZGEN_OTEL_MAX_VALUE_LENGTH` "
            "cuts their `str` values"
        ),
    ),
    "max_raw_points": Variable(
        "ZGEN_OTEL_MAX_RAW_POINTS",
        parse_positive_int,
        "a whole number >= 16",
        doc="raw points kept per series before the oldest are rolled up (>= 16)",
    ),
    "set_global_providers": Variable(
        "ZGEN_OTEL_SET_GLOBAL_PROVIDERS",
        parse_bool,
        "true or false",
        doc="install zgen_otel's providers as the OTel globals when the host has none",
    ),
    "system_monitor": Variable(
        "ZGEN_OTEL_SYSTEM_MONITOR",
        parse_bool,
        "true or false",
        doc="start the system monitor's background collector",
    ),
    "host_lock": Variable(
        "ZGEN_OTEL_HOST_LOCK",
        parse_optional_text,
        "a lock-file path, or 'none'",
        doc=(
            "lock file electing the one process per host that ships host-wide series over OTLP (every process stores "
            "them locally); `none` turns election off"
        ),
        shown_default="per service in the temp dir",
    ),
    "default_rules": Variable(
        "ZGEN_OTEL_DEFAULT_RULES",
        parse_bool,
        "true or false",
        doc="install the default alert rules for the system monitor",
    ),
    "prometheus": Variable(
        "ZGEN_OTEL_PROMETHEUS",
        parse_bool,
        "true or false",
        doc="add the Prometheus reader behind `GET /metrics`",
    ),
    "max_spans": Variable(
        "ZGEN_OTEL_MAX_SPANS",
        parse_count,
        "a whole number >= 0 (0 turns the span buffer off)",
        doc="spans kept for the local traces view (oldest evicted first, counted); `0` turns the span buffer off",
    ),
    "capture_logs": Variable(
        "ZGEN_OTEL_CAPTURE_LOGS",
        parse_bool,
        "true or false",
        doc="capture Python `logging` records that reach the root logger (no handler added) for the logs view and OTLP",
    ),
    "log_level": Variable(
        "ZGEN_OTEL_LOG_LEVEL",
        parse_level,
        "DEBUG, INFO, WARNING, ERROR or CRITICAL",
        doc="lowest level captured: `DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`",
    ),
    "max_logs": Variable(
        "ZGEN_OTEL_MAX_LOGS",
        parse_count,
        "a whole number >= 0 (0 keeps no records locally)",
        doc="log records kept for the logs view (oldest evicted first, counted); `0` keeps none locally",
    ),
    "max_services": Variable(
        "ZGEN_OTEL_MAX_SERVICES",
        parse_positive_int,
        "a whole number > 0",
        doc=(
            "services whose telemetry `serve` keeps from other processes; a new service past it is refused (counted, "
            "named in the OTLP partial-success answer)"
        ),
    ),
    "max_value_length": Variable(
        "ZGEN_OTEL_MAX_VALUE_LENGTH",
        parse_positive_int,
        "a whole number > 0",
        doc=(
            "characters of a span attribute, event attribute or log message shown before it is cut with `… [truncated"
            " N chars]`"
        ),
    ),
    "shutdown_grace": Variable(
        "ZGEN_OTEL_SHUTDOWN_GRACE",
        parse_non_negative_float,
        "a number of seconds >= 0",
        doc=(
            "seconds notification channels get at shutdown, after the data is flushed, to deliver what is queued (>= "
            "0); shutdown ends within about this + 1 s plus the OTLP flush"
        ),
    ),
    "otlp_max_body": Variable(
        "ZGEN_OTEL_OTLP_MAX_BODY",
        parse_positive_int,
        f"a whole number of bytes from 1 to {MAX_BODY_BYTES}",
        doc=(
            "bytes of one request to `serve`'s OTLP endpoints, before and after `gzip` (413 / RESOURCE_EXHAUSTED past"
            " it); 1 to 2147483647"
        ),
    ),
    "allowed_hosts": Variable(
        "ZGEN_OTEL_ALLOWED_HOSTS",
        parse_hosts,
        "comma-separated host names (.example.com for subdomains too), IPs or *",
        doc=(
            "names besides loopback the HTTP API answers to in `Host`, comma-separated; `.example.com` for subdomains"
            " too; `*` for any (also `make_app(allowed_hosts=...)`)"
        ),
        shown_default="none (loopback only)",
    ),
    "server_port": Variable(
        "ZGEN_OTEL_SERVER_PORT",
        parse_port,
        "a port number from 1 to 65535 (unset or empty: no server)",
        doc=(
            "serve the API and web page from the agent's process on this port (1 to 65535) when the runtime starts, "
            "as `start_server(port)` does"
        ),
        shown_default="none (no server)",
    ),
    "server_host": Variable(
        "ZGEN_OTEL_SERVER_HOST",
        parse_bind_host,
        "one IP address or host name, such as 127.0.0.1",
        doc="the address that server binds; any but a loopback one needs `ZGEN_OTEL_API_TOKEN`",
    ),
}

#: Variables read where they are used, with no ``configure()`` keyword: name -> (where else it is set, default,
#: what it does).
ENVIRONMENT_ONLY: dict[str, tuple[str, str, str]] = {
    "OTEL_RESOURCE_ATTRIBUTES": (
        "—",
        "none",
        "extra resource attributes, `k=v,k2=v2`; `service.instance.id` (default: a random UUID per process), "
        "`process.pid` and `host.name` (default: this process's) set here win; a forked child always gets its own "
        "`service.instance.id` and `process.pid`",
    ),
    "OTEL_METRICS_EXPORTER": ("—", "`otlp`", "a value without `otlp` (such as `none`) turns metrics' OTLP export off"),
    "OTEL_TRACES_EXPORTER": ("—", "`otlp`", "a value without `otlp` (such as `none`) turns traces' OTLP export off"),
    "OTEL_LOGS_EXPORTER": ("—", "`otlp`", "a value without `otlp` (such as `none`) turns logs' OTLP export off"),
    "ZGEN_OTEL_API_TOKEN": (
        "`make_app(token=...)`, `start_server(token=...)`",
        "none",
        "bearer token of the HTTP API, at least 16 characters; needed on any address but a loopback one",
    ),
}
