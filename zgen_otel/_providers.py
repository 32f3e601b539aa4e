"""The one module that builds OTel SDK providers, readers and exporters for a runtime.

A runtime always owns its own ``MeterProvider`` and ``TracerProvider``. They become the process's global
providers only when none were installed before (so ``opentelemetry-instrument`` or a host application's
own SDK set-up stays in charge), and only once per process: OTel refuses to replace a global provider.

Their resource tells this process apart from the other processes of its service (``service.instance.id``,
``process.pid``, ``host.name``), so that one receiver (a collector, ``zgen-otel serve``) keeps each process's
data apart; a forked child gets its own ``service.instance.id`` and ``process.pid``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import HOST_NAME, PROCESS_PID, SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from zgen_otel._buffers import LogBuffer, SpanBuffer
from zgen_otel._export import (
    Collector,
    CountingBatchLogRecordProcessor,
    CountingBatchSpanProcessor,
    ExportHealth,
    GuardedLogExporter,
    GuardedMetricExporter,
    GuardedSpanExporter,
    fold_exporter_logs,
    redact_exporter_logs,
)
from zgen_otel._globals import GlobalMeterProvider, GlobalTracerProvider
from zgen_otel._logship import LogShipper
from zgen_otel._sdk import (
    OTLP_LOG_EXPORTER_MODULE,
    REBINDABLE_METERS,
    LoggerProvider,
    collect_lock,
    is_default_meter_provider,
    reinit_lock,
    reinit_metric_locks,
    update_resource_after_fork,
)
from zgen_otel._store_exporter import LocalStoreExporter
from zgen_otel.config import ENDPOINT_KEYS, Settings, is_loopback_url, redact_url
from zgen_otel.store import MetricStore

__all__ = ["Providers", "build_providers"]

_log = logging.getLogger(__name__)
_globals_checked = False
_global_meter: GlobalMeterProvider | None = None
_global_tracer: GlobalTracerProvider | None = None

Signal = Literal["metrics", "traces", "logs"]
GuardedExporter = GuardedMetricExporter | GuardedSpanExporter | GuardedLogExporter
_G = TypeVar("_G", GuardedMetricExporter, GuardedSpanExporter, GuardedLogExporter)
EXPORT_TIMEOUT = 4.0  # seconds an OTLP export may take, retries included, unless OTEL_EXPORTER_OTLP_TIMEOUT says
EXPORT_INTERVAL = 60.0  # seconds between OTLP metric exports, unless OTEL_METRIC_EXPORT_INTERVAL says
LOOPBACK_EXPORT_INTERVAL = 5.0  # the same to a backend on this machine (zgen-otel serve): shown within 10 s


@dataclass
class Providers:
    """The SDK objects of one runtime."""

    meter_provider: MeterProvider
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    local_reader: PeriodicExportingMetricReader
    export_targets: dict[str, str] = field(default_factory=dict)
    installed_globals: bool = False
    prometheus_registry: Any = None
    exporters: list[GuardedExporter] = field(default_factory=list)
    span_buffer: SpanBuffer | None = None
    log_buffer: LogBuffer | None = None
    log_shipper: LogShipper | None = None  # the OTLP export of captured log records, when configured
    metric_export_interval: float | None = None  # seconds between OTLP metric exports; None: no OTLP metrics

    def before_fork(self) -> None:
        """Wait for a metric collection in flight to end and hold the next one off until after the fork."""
        collect_lock(self.meter_provider).acquire()
        if self.log_shipper is not None:
            self.log_shipper.before_fork()

    def after_fork(self, child: bool) -> None:
        """Let collections run again; in a child, also free the SDK's locks and renew the exporters and identity.

        In a child, everything exported from then on carries the child's own ``service.instance.id`` and
        ``process.pid``, even where ``OTEL_RESOURCE_ATTRIBUTES`` set the parent's: with the parent's values
        the two processes would look like one (the SDK renews ``service.instance.id`` the same way).

        The SDK restarts its reader and processor threads in a child, but does not reinitialise the locks of
        its metric storage (open-telemetry/opentelemetry-python#4345): one held by an agent thread at the
        fork would hang the child's next measurement on that stream. They are reset here.
        """
        if self.log_shipper is not None:
            self.log_shipper.after_fork(child)
        lock = collect_lock(self.meter_provider)
        if child:
            reinit_lock(lock)
            reinit_metric_locks(self.meter_provider)
            for exporter in self.exporters:
                exporter.after_fork_in_child()
            self._renew_identity()
        else:
            lock.release()

    def _renew_identity(self) -> None:
        """In a forked child: a fresh ``service.instance.id`` and the child's ``process.pid`` on all it exports."""
        providers = [self.meter_provider, self.tracer_provider, self.logger_provider]
        if not update_resource_after_fork(providers, Resource(_process_identity())):
            _log.warning("zgen_otel: this OTel SDK cannot change a resource; the forked child exports as its parent")

    def export_status(self) -> dict[str, dict[str, Any]]:
        """Per signal: the OTLP target, last result, exported/failed/dropped counts and the circuit state.

        Captured log records waiting for the shipper are handed to the export queue first, so that the counts
        include them (records the full queue pushed out are counted as dropped).
        """
        if self.log_shipper is not None:
            self.log_shipper.drain()
        return {exporter.health.signal: exporter.health.snapshot() for exporter in self.exporters}

    def collect(self, timeout_millis: float = 10_000) -> bool:
        """Run a collection now: every instrument's points reach the local store before this returns."""
        return self.local_reader.force_flush(timeout_millis)

    def force_flush(self, timeout_millis: float = 10_000) -> None:
        """Collect locally and push everything pending to the OTLP exporters.

        The three signals flush at once, so a dead collector costs one export timeout, not one per signal;
        this returns within ``timeout_millis`` (plus a second) whatever the collector does.
        """
        flushes = [
            lambda: self.meter_provider.force_flush(timeout_millis),
            lambda: self.tracer_provider.force_flush(int(timeout_millis)),
            lambda: self.logger_provider.force_flush(int(timeout_millis)),
        ]
        if self.log_shipper is not None:
            self.log_shipper.drain()
        _at_once(flushes, timeout_millis / 1000 + 1)

    def shutdown(self) -> None:
        """Flush and stop readers, processors and exporters.

        The providers shut down at once, so a dead collector costs one export timeout, not one per signal.
        """
        if self.log_shipper is not None:
            self.log_shipper.shutdown()
        providers: list[Any] = [self.meter_provider, self.tracer_provider, self.logger_provider]
        _at_once([p.shutdown for p in providers], 2 * EXPORT_TIMEOUT + 5)


def _at_once(calls: Sequence[Callable[[], object]], timeout: float) -> None:
    """Run ``calls`` in threads of their own and wait for them, ``timeout`` seconds in all at most."""
    threads = [threading.Thread(target=call, daemon=True) for call in calls]
    for t in threads:
        t.start()
    ends = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, ends - time.monotonic()))


# Modules the OTLP exporters' HTTP stack imports lazily on an export (requests reads ~/.netrc). They are
# imported while the runtime is built, before any exporter thread runs: a fork while a thread holds a module's
# import lock leaves that lock held in the child, whose exporters would then wait on it forever.
_LAZY_IMPORTS = ("netrc", "encodings.idna")


def _signal_url(settings: Settings, signal: Signal) -> tuple[str, str] | None:
    """The (protocol, endpoint URL) to export ``signal`` to, or None when none is configured."""
    wanted = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").lower()
    if "otlp" not in {part.strip() for part in wanted.split(",")}:  # e.g. "none" or "console"
        return None
    protocol = settings.signal_protocol(signal)
    own = getattr(settings, f"otlp_{signal}_endpoint")
    if own:
        return protocol, own
    if not settings.otlp_endpoint:
        return None
    base = settings.otlp_endpoint
    if protocol == "http/protobuf":  # the shared endpoint is a base URL; each signal has its own path
        base = base.rstrip("/") + f"/v1/{signal}"
    return protocol, base


def _collector_key(target: str) -> str:
    """The collector a target (``http/protobuf http://host:4318/v1/metrics``) sends to: its host and port."""
    url = target.partition(" ")[2]
    try:
        parts = urlsplit(url if "//" in url else f"//{url}")
        return f"{parts.hostname}:{parts.port}"
    except ValueError:
        return url


def _metric_export_interval(settings: Settings) -> float:
    """Seconds between OTLP metric exports: the setting, else 5 s to a loopback endpoint, else 60 s."""
    if settings.export_interval is not None:
        return settings.export_interval
    target = _signal_url(settings, "metrics")
    return LOOPBACK_EXPORT_INTERVAL if target is not None and is_loopback_url(target[1]) else EXPORT_INTERVAL


def _exporter(settings: Settings, signal: Signal) -> tuple[Callable[[], Any], str] | None:
    """A factory of the official OTLP exporter for ``signal`` and a description of its target, if configured."""
    target = _signal_url(settings, signal)
    if target is None:
        return None
    protocol, url = target
    kwargs: dict[str, Any] = {"endpoint": url}
    if not any(
        os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_TIMEOUT", f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT")
    ):
        kwargs["timeout"] = EXPORT_TIMEOUT  # a dead collector must not hold shutdown for the SDK's 10 s per signal
    if settings.otlp_headers:
        kwargs["headers"] = dict(settings.otlp_headers)
    transport = "grpc" if protocol == "grpc" else "http"
    for name in _LAZY_IMPORTS:
        importlib.import_module(name)
    module, name = {
        "metrics": ("metric_exporter", "OTLPMetricExporter"),
        "traces": ("trace_exporter", "OTLPSpanExporter"),
        "logs": (OTLP_LOG_EXPORTER_MODULE, "OTLPLogExporter"),
    }[signal]
    cls = getattr(importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}.{module}"), name)
    return functools.partial(cls, **kwargs), f"{protocol} {redact_url(url)}"


def _secrets(settings: Settings) -> list[str]:
    """What must never reach a log: OTLP header values, and credentials and query values in endpoint URLs."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    found = list(settings.otlp_headers.values())
    for signal in ("METRICS", "TRACES", "LOGS"):  # per-signal headers, which the exporters read themselves
        raw = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_HEADERS", "")
        found += [raw] + [pair.partition("=")[2].strip() for pair in raw.split(",")]
    for key in ENDPOINT_KEYS:
        url = getattr(settings, key)
        if not url:
            continue
        parts = urlsplit(url)
        found += [unquote(p) for p in (parts.username, parts.password) if p]
        found += [value for _, value in parse_qsl(parts.query)] + ([parts.fragment] if parts.fragment else [])
    return found


def _process_identity() -> dict[str, str | int]:
    """What tells this process from the other processes of its service: a new random UUID and its pid."""
    return {SERVICE_INSTANCE_ID: str(uuid.uuid4()), PROCESS_PID: os.getpid()}


def _resource(settings: Settings) -> Resource:
    """Resource from ``OTEL_RESOURCE_ATTRIBUTES`` plus ``service.name`` and this process's identity.

    ``service.name`` comes from ``configure(service_name=...)`` or ``OTEL_SERVICE_NAME``, else from
    ``OTEL_RESOURCE_ATTRIBUTES``, else ``zgen-agent``. ``service.instance.id`` (a random UUID: the SDK's
    own where it detects one, so other SDK providers of the process share it), ``process.pid`` and
    ``host.name`` are added unless ``OTEL_RESOURCE_ATTRIBUTES`` sets them.
    """
    detected = Resource.create({})
    name = settings.service_name
    from_attributes = str(detected.attributes.get(SERVICE_NAME, ""))
    if name == Settings.service_name and from_attributes and not from_attributes.startswith("unknown_service"):
        name = from_attributes
    identity = {**_process_identity(), HOST_NAME: socket.gethostname()}
    missing = {key: value for key, value in identity.items() if key not in detected.attributes}
    return detected.merge(Resource({**missing, SERVICE_NAME: name}))


def build_providers(
    settings: Settings,
    store: MetricStore,
    *,
    skip_scopes: Sequence[str],
    scope_sources: Mapping[str, str] | None = None,
    after_export: Callable[[], None] | None = None,
    extra_metric_readers: Sequence[MetricReader] = (),
    extra_span_processors: Sequence[SpanProcessor] = (),
    first_span_processors: Sequence[SpanProcessor] = (),
) -> Providers:
    """Build the providers of one runtime: the local reader always, OTLP exporters when configured.

    ``first_span_processors`` see each span before the exporters (and may add to it as it ends); the
    ``extra_span_processors`` come after the OTLP one.
    """
    resource = _resource(settings)
    local = PeriodicExportingMetricReader(
        LocalStoreExporter(store, skip_scopes=skip_scopes, after_export=after_export, scope_sources=scope_sources),
        export_interval_millis=settings.interval * 1000,
    )
    readers: list[MetricReader] = [local, *extra_metric_readers]
    redact_exporter_logs(_secrets(settings))
    fold_exporter_logs()
    targets: dict[str, str] = {}
    guarded: list[GuardedExporter] = []
    collectors: dict[str, Collector] = {}

    def otlp(signal: Signal, guard: Callable[[Callable[[], Any], ExportHealth], _G]) -> _G | None:
        """The guarded OTLP exporter of ``signal``, recorded in ``targets`` and ``guarded``; None if unset."""
        found = _exporter(settings, signal)
        if found is None:
            return None
        make, target = found
        targets[signal] = target
        collector = collectors.setdefault(_collector_key(target), Collector())
        exporter = guard(make, ExportHealth(signal, target, collector))
        guarded.append(exporter)
        return exporter

    metric_out = otlp("metrics", GuardedMetricExporter)
    export_interval: float | None = None
    if metric_out is not None:
        export_interval = _metric_export_interval(settings)
        readers.append(PeriodicExportingMetricReader(metric_out, export_interval_millis=export_interval * 1000))
    registry = None
    if settings.prometheus:  # the scrape endpoint's reader, with a registry of its own
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry(auto_describe=True)
        readers.append(PrometheusMetricReader(registry=registry))
        targets["prometheus"] = "/metrics (pull)"
    meter_provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)

    span_buffer = SpanBuffer(settings.max_spans, settings.max_value_length) if settings.max_spans else None
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False, active_span_processor=span_buffer)
    for processor in first_span_processors:
        tracer_provider.add_span_processor(processor)
    span_out = otlp("traces", GuardedSpanExporter)
    if span_out is not None:
        tracer_provider.add_span_processor(CountingBatchSpanProcessor(span_out))
    for processor in extra_span_processors:
        tracer_provider.add_span_processor(processor)

    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    log_buffer = LogBuffer(settings.max_logs, settings.max_value_length) if settings.max_logs else None
    log_out = otlp("logs", GuardedLogExporter)
    log_shipper = None
    if log_out is not None:
        logger_provider.add_log_record_processor(CountingBatchLogRecordProcessor(log_out))
        log_shipper = LogShipper(logger_provider, log_out.health) if settings.capture_logs else None

    installed = settings.set_global_providers and _bind_globals(meter_provider, tracer_provider)
    return Providers(
        meter_provider, tracer_provider, logger_provider, local, targets, installed, registry, guarded,
        span_buffer, log_buffer, log_shipper, export_interval,
    )  # fmt: skip


def _bind_globals(meter_provider: MeterProvider, tracer_provider: TracerProvider) -> bool:
    """Route the global providers to these; return whether zgen_otel owns at least one global.

    The first call installs forwarding providers (see ``_globals``) where the host installed none; every
    call re-binds the ones zgen_otel owns, so a reconfigured runtime takes over the globals.
    """
    if not _globals_checked:
        _install_globals()
    if _global_meter is not None:
        _global_meter.bind(meter_provider)
    if _global_tracer is not None:
        _global_tracer.bind(tracer_provider)
    return _global_meter is not None or _global_tracer is not None


def _install_globals() -> None:
    global _globals_checked, _global_meter, _global_tracer
    _globals_checked = True
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        _global_tracer = GlobalTracerProvider()
        trace.set_tracer_provider(_global_tracer)
    else:
        _log.info("zgen_otel: a global TracerProvider already exists; leaving it in place")
    if REBINDABLE_METERS and is_default_meter_provider(metrics.get_meter_provider()):
        _global_meter = GlobalMeterProvider()
        metrics.set_meter_provider(_global_meter)
    else:
        _log.info("zgen_otel: a global MeterProvider already exists; leaving it in place")
