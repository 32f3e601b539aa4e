"""The one process-wide runtime: settings, store, OTel providers and background work.

It is created lazily on first use from the environment (so the documented one-line calls work with no set-up),
replaced by `configure`, stopped by `shutdown` and at interpreter exit, and reset by
``zgen_otel.testing``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace

from zgen_otel import _current
from zgen_otel._capture import LogCapture
from zgen_otel._fork import reinit_locks
from zgen_otel._persist import SQLitePersistence, persistence_stats
from zgen_otel._sqlite import StoreFile
from zgen_otel._tracker import PerformanceTracker
from zgen_otel._validate import check_sdk_extras
from zgen_otel._version import __version__
from zgen_otel.alerting import AlertManager, install_default_rules
from zgen_otel.config import Settings, load_settings
from zgen_otel.exceptions import ConfigError
from zgen_otel.genai import CallCost
from zgen_otel.logs import LEVELS, log_buffer_stats
from zgen_otel.metrics import MetricsRecorder
from zgen_otel.performance import SCOPE
from zgen_otel.receiver import Receiver
from zgen_otel.semconv import METRICS_SCOPE
from zgen_otel.store import TRACKING, MetricStore
from zgen_otel.system_monitor import SystemMonitor, default_host_lock
from zgen_otel.traces import span_buffer_stats

if TYPE_CHECKING:
    from zgen_otel._buffers import LogBuffer, SpanBuffer
    from zgen_otel._providers import Providers

__all__ = ["Runtime", "configure", "get_runtime", "is_configured", "reset", "shutdown"]

_log = logging.getLogger(__name__)

SYSTEM_SCOPE = "zgen_otel.system"
ALERTS_SCOPE = "zgen_otel.alerting"
_PRUNE_EVERY = 60.0


class Runtime:
    """Everything one configuration of zgen_otel owns. Use `get_runtime` to reach the current one."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        extra_metric_readers: Sequence[Any] = (),
        extra_span_processors: Sequence[Any] = (),
        store_file: StoreFile | None = None,
    ) -> None:
        self.settings = settings
        self.pid = os.getpid()  # the process that built it: a forked child's configure() builds its own
        self.clock = clock
        self.started_at = clock()
        self.enabled = settings.enabled
        self.store = MetricStore(
            retention_seconds=settings.retention_seconds,
            max_series=settings.max_series,
            max_series_per_metric=settings.max_series_per_metric,
            max_raw_points=settings.max_raw_points,
            clock=clock,
        )
        self.providers: Providers | None = None
        self.store_file = store_file  # the claimed, checked store file (claimed here on the lazy path)
        self.persistence: SQLitePersistence | None = None
        self.persistence_error: str | None = None  # why store_path is not used (history kept in memory)
        self.performance: PerformanceTracker | None = None
        self.system_monitor: SystemMonitor | None = None
        self.alert_manager: AlertManager  # built in every configuration, by _start_alerting
        self.span_buffer: SpanBuffer | None = None
        self.log_buffer: LogBuffer | None = None
        self.receiver: Receiver | None = None  # telemetry from other processes, once start_receiver() ran
        self._log_capture: LogCapture | None = None
        self._last_prune = clock()
        if not settings.enabled:
            self.meter: otel_metrics.Meter = otel_metrics.NoOpMeter(METRICS_SCOPE)
            self.tracer: otel_trace.Tracer = otel_trace.NoOpTracer()
            self.metrics: MetricsRecorder | None = None
            self._start_alerting(None)
            return
        if settings.store_path:
            self._open_store(settings.store_path)
        from zgen_otel._providers import build_providers  # the OTel SDK and exporters: imported on first use

        self.providers = build_providers(
            settings,
            self.store,
            skip_scopes=(METRICS_SCOPE, SYSTEM_SCOPE),
            scope_sources={SCOPE: TRACKING},
            after_export=self._maintain,
            extra_metric_readers=extra_metric_readers,
            extra_span_processors=extra_span_processors,
            first_span_processors=[CallCost()],  # prices GenAI calls before the exporters see their spans
        )
        self.span_buffer = self.providers.span_buffer
        self.log_buffer = self.providers.log_buffer
        if settings.capture_logs:
            self._capture_logs(self.providers)
        self.meter = self.providers.meter_provider.get_meter(METRICS_SCOPE, __version__)
        self.tracer = self.providers.tracer_provider.get_tracer("zgen_otel", __version__)
        self.metrics = MetricsRecorder(self.store, self.meter, settings.max_attributes, settings.max_value_length)
        self.performance = PerformanceTracker(
            self.providers.tracer_provider.get_tracer(SCOPE, __version__),
            self.providers.meter_provider.get_meter(SCOPE, __version__),
            clock,
            settings.max_operations,
        )
        self._start_system_monitor(self.providers)
        self._start_alerting(self.providers.meter_provider.get_meter(ALERTS_SCOPE, __version__))

    def _open_store(self, path: str) -> None:
        """Load and mirror the store file; a file that cannot be used leaves history in memory, with one warning.

        `configure` refuses such a file before it gets here; on the lazy path (``ZGEN_OTEL_STORE_PATH``,
        first use) nothing raises into the caller: the problem is logged once and shown in the status.
        """
        s = self.settings
        try:
            if self.store_file is None:
                self.store_file = StoreFile(path)
            self.persistence = SQLitePersistence(path, self.store, s.store_flush_interval, s.store_max_backlog)
        except ConfigError as exc:
            self.persistence_error = str(exc)
            _log.warning("zgen_otel: %s; keeping the history in memory only", exc)
            self._release_store_file()

    def _release_store_file(self) -> None:
        if self.store_file is not None:
            self.store_file.release()
            self.store_file = None

    def _capture_logs(self, providers: Providers) -> None:
        """Keep the records of the program's logging at ``log_level`` and above (see ``_capture``)."""
        shipper = providers.log_shipper
        if self.log_buffer is None and shipper is None:
            return
        outbox = shipper.outbox if shipper is not None else None
        self._log_capture = LogCapture(LEVELS[self.settings.log_level], self.log_buffer, outbox)
        self._log_capture.start()

    def _release_logs(self) -> None:
        """Stop capturing; the root logger gets its level back."""
        if self._log_capture is not None:
            self._log_capture.stop()
            self._log_capture = None

    def _start_alerting(self, meter: Any) -> None:
        """Build the alert manager: evaluating and notifying per the settings, default rules when asked."""
        s = self.settings
        enabled = s.enabled and s.alerting_enabled
        self.alert_manager = AlertManager(
            self.store,
            clock=self.clock,
            evaluate=enabled,
            notify=enabled and s.alerting_notifications,
            evaluation_interval=min(s.interval, 10.0),
            stale_after=max(3 * s.interval, 60.0),
            retention_seconds=s.retention_seconds,
            history_path=self.persistence.path if self.persistence is not None else None,
            meter=meter,
            record=s.enabled,  # ALERTING_ENABLED=false still keeps hand-raised alerts; a disabled runtime keeps none
        )
        if enabled:
            if s.default_rules:
                install_default_rules(self.alert_manager)
            self.alert_manager.start()

    def _start_system_monitor(self, providers: Providers) -> None:
        """Build the system monitor (it writes to the store itself) and start its collector when asked."""
        lock = self.settings.host_lock or default_host_lock(self.settings.service_name)
        self.system_monitor = SystemMonitor(
            self.store,
            providers.meter_provider.get_meter(SYSTEM_SCOPE, __version__),
            self.settings.interval,
            host_lock=None if lock.lower() == "none" else lock,
            clock=self.clock,
        )
        if self.settings.system_monitor:
            self.system_monitor.start()

    def _maintain(self) -> None:
        """Periodic upkeep, run on the local reader's thread after each collection."""
        now = self.clock()
        if now - self._last_prune >= _PRUNE_EVERY:
            self._last_prune = now
            self.store.prune(now)
            if self.receiver is not None:
                self.receiver.forget(now - self.settings.retention_seconds)

    def start_receiver(self) -> Receiver:
        """The runtime's OTLP receiver (made on the first call): other processes' telemetry into this store.

        ``zgen-otel serve`` calls it before opening its OTLP endpoints. Spans and log records are kept per
        service with the ``max_spans`` and ``max_logs`` settings, series with ``max_series`` per service.
        """
        if self.receiver is None:
            s = self.settings
            resource = self.providers.tracer_provider.resource.attributes if self.providers else {}
            own = resource.get("service.instance.id")
            self.receiver = Receiver(self.store, self.clock, max_spans=s.max_spans, max_logs=s.max_logs,
                                     max_services=s.max_services, own_instance=str(own) if own else None)  # fmt: skip
        return self.receiver

    def collect(self) -> None:
        """Collect every instrument into the local store now (instead of waiting for the interval)."""
        if self.performance is not None:
            self.performance.drain()
        if self.providers is not None:
            self.providers.collect()

    def force_flush(self) -> None:
        """Process tracked calls, collect locally and push everything pending to the OTLP exporters now."""
        if self.performance is not None:
            self.performance.drain()
        if self.providers is not None:
            self.providers.force_flush()

    def status(self) -> dict[str, Any]:
        """What the runtime is doing: settings in force, store use, rules, alerts, deliveries, export, drops.

        The one read of the runtime's state for the HTTP API and the CLI; it never blocks on a peer.
        """
        s = self.settings
        manager = self.alert_manager
        providers = self.providers
        return {
            "service_name": s.service_name,
            "enabled": self.enabled,
            "alerting_enabled": s.alerting_enabled,
            "alerting_notifications": s.alerting_notifications,
            "interval": s.interval,
            "retention_days": s.retention_days,
            "uptime_seconds": self.clock() - self.started_at,
            "store": self.store.stats(),
            "rules": len(manager.list_rules()),
            "rules_overrunning": manager.overrunning,
            "active_alerts": len(manager.get_active_alerts()),
            "notifications": manager.notification_stats(),
            "exporters": dict(providers.export_targets) if providers else {},
            "export": providers.export_status() if providers else {},
            "metric_export_interval": providers.metric_export_interval if providers else None,
            "tracked_calls_dropped": self.performance.dropped if self.performance else 0,
            "tracked_operations_overflow": self.performance.overflow_calls if self.performance else 0,
            "metric_attributes_limited": self.metrics.attributes_limited if self.metrics else 0,
            "traces": self.span_buffer.stats() if self.span_buffer else span_buffer_stats(None),
            "logs": self.log_buffer.stats() if self.log_buffer else log_buffer_stats(None),
            "system_monitor": bool(self.system_monitor and self.system_monitor.running),
            "persistence": persistence_stats(self.persistence, s.store_path, self.persistence_error),
            "received": self.receiver.stats() if self.receiver is not None else None,
        }

    def prometheus_registry(self) -> Any:
        """The registry the Prometheus scrape endpoint serves, or None when ``ZGEN_OTEL_PROMETHEUS`` is off."""
        return self.providers.prometheus_registry if self.providers is not None else None

    def _forking_parts(self) -> list[Any]:
        """The parts whose locks guard data, in the order their locks are taken before a fork.

        The SDK's collection comes first: its callbacks take the alert manager's and the store's locks. The
        system monitor's lock guards only its collector's start and stop.
        """
        parts = [self.providers, self.alert_manager, self.performance, self.persistence, self.system_monitor]
        return [p for p in parts if p is not None]

    def before_fork(self) -> None:
        """Take the data locks, so that no other thread is half way through a change when the process forks."""
        for part in self._forking_parts():
            part.before_fork()
        self.store.before_fork()

    def after_fork(self, child: bool) -> None:
        """Release the data locks; in a child, restart background work and reconnect the exporters."""
        self.store.after_fork()
        for part in reversed(self._forking_parts()):
            part.after_fork(child)

    def shutdown(self) -> None:
        """Stop recording, flush the data (last collection, OTLP, the SQLite store), then let the channels finish.

        Data goes first: a notification channel that hangs cannot hold back the final export or the store's
        flush. The channels get ``shutdown_grace`` seconds (3 s by default) to deliver what is queued; one still
        busy then is left behind, so that shutdown ends in a bounded time whatever the peers do.
        """
        self.metrics = None  # record_metric on this runtime returns at once from now on
        if self.system_monitor is not None:
            self.system_monitor.stop()
            self.system_monitor = None
        self.alert_manager.stop_evaluating()
        if self.performance is not None:
            self.performance.shutdown()
            self.performance = None
        self._release_logs()
        if self.providers is not None:
            try:
                self.providers.collect()
                self.providers.shutdown()
            except Exception:
                _log.exception("zgen_otel: error while shutting down the OTel providers")
            self.providers = None
        if self.persistence is not None:
            self.persistence.close()
            self.persistence = None
        self.alert_manager.shutdown(self.settings.shutdown_grace)
        self._release_store_file()
        self.enabled = False


_lock = threading.RLock()
_shut_down = False
_atexit_registered = False


get_runtime = _current.get_runtime


def _build_default() -> Runtime:
    """Build the runtime from the environment on first use (installed in `zgen_otel._current`)."""
    rt = _create(None)
    _current.started(rt)
    return rt


def _create(settings: Settings | None, **runtime_args: Any) -> Runtime:
    global _atexit_registered
    with _lock:
        if _current.runtime is not None and settings is None:
            return _current.runtime
        if settings is None:
            settings = load_settings()
            if _shut_down:
                settings = load_settings(enabled=False)
        old = _current.runtime
        if old is not None:
            # While the old runtime stops (its peers may take the shutdown grace), the calls of other threads
            # find a disabled one and return at once, instead of waiting for this lock.
            _current.runtime = Runtime(load_settings(enabled=False))
            old.shutdown()
        rt = _current.runtime = Runtime(settings, **runtime_args)
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
        return rt


def configure(
    *,
    clock: Callable[[], float] | None = None,
    metric_readers: Sequence[Any] = (),
    span_processors: Sequence[Any] = (),
    **settings: Any,
) -> Settings:
    """Set zgen_otel up now, from the environment overridden by ``settings`` keywords.

    ``configure()`` is the one-line set-up: the providers are built and made the global ones at once, so a
    library instrumented right after is captured from its first call (else the first zgen_otel call builds
    them). Again with the same settings, it keeps the running runtime and its data; other settings replace it.

    Args:
        clock: replaces ``time.time`` as the source of timestamps (``zgen_otel.testing.ManualClock`` in tests).
        metric_readers: OTel SDK ``MetricReader`` objects to add to the new runtime's meter provider.
        span_processors: OTel SDK ``SpanProcessor`` objects to add to the new runtime's tracer provider.
        **settings: the names in ``zgen_otel.config.ENV_VARS`` (``interval``, ``otlp_endpoint``, ...).

    Returns:
        The settings in force.

    Raises:
        ConfigError: a keyword or environment variable has a value that is not allowed, or the store file
            cannot be used; the running runtime is left as it was.
        TypeError: ``clock`` is not callable, or a reader or processor is not of the OTel SDK type.
    """
    global _shut_down
    validated = load_settings(**settings)
    check_sdk_extras(clock, metric_readers, span_processors)  # before the old runtime stops
    running, extras = _current.runtime, clock is not None or bool(metric_readers) or bool(span_processors)
    if (running is not None and not _shut_down and not extras and running.settings == validated
            and running.pid == os.getpid()):  # fmt: skip
        return running.settings  # set up like this already: keep its data, providers and server
    # Claimed and checked before the old runtime stops, which shares the claim when it has the same file.
    store_file = StoreFile(validated.store_path) if validated.enabled and validated.store_path else None
    try:
        with _lock:
            _shut_down = False
            rt = _create(
                validated,
                clock=clock or time.time,
                extra_metric_readers=metric_readers,
                extra_span_processors=span_processors,
                store_file=store_file,
            )
    except BaseException:
        if store_file is not None:
            store_file.release()
        raise
    _current.started(rt)
    return rt.settings


def is_configured() -> bool:
    """Tell whether a runtime exists (built lazily by the first zgen_otel call, or by ``configure``).

    Returns:
        True when a runtime exists.
    """
    return _current.runtime is not None


def shutdown() -> None:
    """Flush telemetry and stop background work; later calls are cheap no-ops until ``configure``.

    The runtime is detached under the lock, and shut down outside it: ``record_metric`` and the other calls
    of other threads return at once meanwhile (on a disabled runtime), instead of waiting for the peers.
    The page server of ``zgen_otel.start_server`` stops first, within a few seconds.
    """
    global _shut_down
    with _lock:
        rt, _current.runtime = _current.runtime, None
        _shut_down = True
    _current.shutting_down()
    if rt is not None:
        rt.shutdown()


def reset() -> None:
    """Shut the runtime down and forget it: the next use builds a fresh one from the environment."""
    global _shut_down
    shutdown()
    with _lock:
        _shut_down = False


def _before_fork() -> None:
    rt = _current.runtime
    if rt is not None:
        rt.before_fork()


def _after_fork_in_parent() -> None:
    rt = _current.runtime
    if rt is not None:
        rt.after_fork(child=False)


def _after_fork_in_child() -> None:
    global _lock
    reinit_locks()
    _lock = threading.RLock()  # a configure() in another thread of the parent must not lock the child out
    rt = _current.runtime
    if rt is not None:
        rt.after_fork(child=True)
        # A multiprocessing child ends with os._exit(), which skips atexit: flush through its own finalizers.
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None:
            mp_util.register_after_fork(rt, _flush_at_multiprocessing_exit)


def _flush_at_multiprocessing_exit(_: Runtime) -> None:
    """Registered in a multiprocessing child (after its finalizer registry was cleared): flush at its exit."""
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _at_exit, exitpriority=0)


_current.install_builder(_build_default)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def _at_exit() -> None:
    try:
        shutdown()
    except Exception:  # pragma: no cover - interpreter exit must never fail because of telemetry
        _log.exception("zgen_otel: error at exit")
