"""Every use of an OpenTelemetry SDK or API private attribute, each with its fallback, in one place.

zgen_otel takes a few shortcuts through private parts of the OTel packages: to keep a tracked call cheap, to
count what the batch queues drop, to make global meters re-bindable, to make a fork safe, to give a forked
child its own resource identity, to name metrics the way the Prometheus exporter does, and to see where another
OTel logging handler sends records and which metrics a running system-metrics instrumentor reports. Each shortcut
lives here, next to what happens when a new SDK version moved the private part: the public, slower or less
complete path. `fast_paths` says which shortcuts are active with the installed versions;
``tests/test_sdk_access.py`` asserts they all are, so an SDK upgrade cannot silently lose one.

The SDK's log signal is still published under the private module ``opentelemetry.sdk._logs``; its classes are
imported here, and only here.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

__all__ = [
    "OTLP_LOG_EXPORTER_MODULE",
    "REBINDABLE_METERS",
    "SPAN_PROCESSOR_TUPLE",
    "BatchLogRecordProcessor",
    "LogRecordExportResult",
    "LogRecordExporter",
    "LogRecordProcessor",
    "LoggerProvider",
    "ReadWriteLogRecord",
    "RebindableMeter",
    "SpanChain",
    "add_ended_attributes",
    "batch_queue",
    "collect_lock",
    "context_slot",
    "exporter_preferences",
    "fast_paths",
    "handler_exports",
    "instrumented_system_metrics",
    "is_default_meter_provider",
    "preset_attributes",
    "prometheus_naming",
    "reinit_lock",
    "reinit_metric_locks",
    "update_resource_after_fork",
]

#: The module (under ``opentelemetry.exporter.otlp.proto.<transport>``) of the OTLP log exporter.
OTLP_LOG_EXPORTER_MODULE = "_log_exporter"
#: The private module of opentelemetry-exporter-prometheus holding its metric name and unit translation.
PROMETHEUS_MAPPING_MODULE = "opentelemetry.exporter.prometheus._mapping"


# -- tracked calls: a span's attributes ------------------------------------------------------------------------
def preset_attributes(span: trace.Span, attributes: Mapping[str, Any]) -> None:
    """Give a just-started span ``attributes`` that were validated once, at decoration time.

    On an SDK span they go straight into its attribute dict (about a fifth of a span's cost saved). Any other
    span type, a value-length limit, too many attributes, or an SDK whose internals differ takes the public
    ``span.set_attributes``.
    """
    bounded = getattr(span, "_attributes", None)
    target = getattr(bounded, "_dict", None)
    if (
        type(target) is dict
        and not target
        and bounded.max_value_len is None  # type: ignore[union-attr]
        and (bounded.maxlen is None or len(attributes) <= bounded.maxlen)  # type: ignore[union-attr]
    ):
        target.update(attributes)
    else:
        span.set_attributes(attributes)


def add_ended_attributes(span: ReadableSpan, attributes: Mapping[str, Any]) -> bool:
    """Add ``attributes`` to a span that has just ended, while the span processors see it; return whether done.

    The spec lets a processor change a span as it ends (its ``OnEnding`` step); this SDK freezes a span's
    attributes first. The attributes go straight into the SDK's attribute dict, the object the exporters read
    later, when it is reachable and the span's attribute limit leaves room. Otherwise nothing is added and
    False is returned.
    """
    bounded = getattr(span, "_attributes", None)
    target = getattr(bounded, "_dict", None)
    if type(target) is not dict:
        return False
    maxlen = getattr(bounded, "maxlen", None)
    if maxlen is not None and len(target) + sum(1 for key in attributes if key not in target) > maxlen:
        return False
    target.update(attributes)
    return True


# -- the current context -------------------------------------------------------------------------------------
def context_slot() -> tuple[Any, str] | None:
    """The ``ContextVar`` holding the OTel context and the context key of the current span, when reachable.

    None where the runtime context is not the default ``contextvars`` one (``OTEL_PYTHON_CONTEXT``) or the
    API's internals differ: the caller then uses the public ``attach``/``detach``/``set_span_in_context``.
    """
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    key = getattr(getattr(trace, "propagation", None), "_SPAN_KEY", None)
    if type(runtime).__name__ == "ContextVarsRuntimeContext" and var is not None and isinstance(key, str):
        probe = var.set(var.get())  # prove the variable behaves like a ContextVar before relying on it
        var.reset(probe)
        return var, key
    return None


# -- the span processor chain ----------------------------------------------------------------------------------
#: Whether the SDK's processor chain keeps its processors in the ``_span_processors`` tuple.
SPAN_PROCESSOR_TUPLE = isinstance(
    getattr(SynchronousMultiSpanProcessor(), "_span_processors", None),  # type: ignore[no-untyped-call]
    tuple,
)


class SpanChain(SynchronousMultiSpanProcessor):
    """The SDK's span-processor chain with a `keep` step before the processors' ``on_end``.

    It walks the SDK's own processor tuple instead of calling the base ``on_end`` (one Python call less per
    span); where the SDK keeps its processors elsewhere it calls the base ``on_end``.
    """

    def keep(self, span: ReadableSpan) -> None:
        """Called with every span that ends, before the processors; a subclass keeps it somewhere."""

    if SPAN_PROCESSOR_TUPLE:

        def on_end(self, span: ReadableSpan) -> None:
            """Keep the span, then run the processors."""
            self.keep(span)
            for processor in self._span_processors:
                processor.on_end(span)

    else:  # pragma: no cover - an SDK without the private tuple

        def on_end(self, span: ReadableSpan) -> None:
            """Keep the span, then run the processors."""
            self.keep(span)
            super().on_end(span)


# -- batch processors and exporters --------------------------------------------------------------------------
def batch_queue(processor: object) -> tuple[Any, int]:
    """The bounded queue of an SDK batch span or log processor and its capacity; ``(None, 0)`` when unreachable.

    The SDK appends on the left, so the oldest item is on the right. Without the queue, drops stay uncounted
    (the SDK still logs them).
    """
    batch = getattr(processor, "_batch_processor", None)
    queue = getattr(batch, "_queue", None)
    return queue, getattr(batch, "_max_queue_size", 0) if queue is not None else 0


def exporter_preferences(exporter: object) -> tuple[Any, Any]:
    """The (temporality, aggregation) preferences an SDK metric exporter was built with; None for unknown."""
    return getattr(exporter, "_preferred_temporality", None), getattr(exporter, "_preferred_aggregation", None)


# -- the metric pipeline and fork safety ---------------------------------------------------------------------
_NO_LOCK = threading.Lock()  # stands in when an SDK version keeps its collection lock elsewhere


def collect_lock(meter_provider: MeterProvider) -> Any:
    """The SDK's measurement-consumer lock, held for the whole of each collection (a free lock if unreachable)."""
    consumer = getattr(meter_provider, "_measurement_consumer", None)
    return getattr(consumer, "_lock", None) or _NO_LOCK


def reinit_lock(lock: Any) -> None:
    """Make a lock inherited over a fork free again (``threading`` locks' own after-fork reset)."""
    with contextlib.suppress(AttributeError):
        lock._at_fork_reinit()


def _reinit_locks(obj: object) -> None:
    for name, value in list(vars(obj).items()):
        if name.endswith("lock") and hasattr(value, "_at_fork_reinit"):
            value._at_fork_reinit()


def reinit_metric_locks(meter_provider: MeterProvider) -> None:
    """Reset every lock of the SDK's metric pipeline (meters, reader storages, streams, aggregations).

    The SDK does not reinitialise them in a forked child (open-telemetry/opentelemetry-python#4345); where its
    internals differ, the parts that cannot be found are left as they are.
    """
    for meter in list(getattr(meter_provider, "_meters", {}).values()):
        _reinit_locks(meter)
    consumer = getattr(meter_provider, "_measurement_consumer", None)
    for storage in list(getattr(consumer, "_reader_storages", {}).values()):
        _reinit_locks(storage)
        for matches in list(getattr(storage, "_instrument_view_instrument_matches", {}).values()):
            for match in matches:
                _reinit_locks(match)
                for aggregation in list(getattr(match, "_attributes_aggregation", {}).values()):
                    _reinit_locks(aggregation)


def update_resource_after_fork(providers: Sequence[object], resource: Resource) -> bool:
    """In a forked child: merge ``resource`` into the providers' resource, and their tracers' and loggers'.

    The SDK providers' own ``_update_resource`` does it (the SDK uses it in a child for its process-dependent
    resource detectors); the locks it takes are made free first, as one may have been held at the fork.

    Args:
        providers: the SDK ``MeterProvider``, ``TracerProvider`` and ``LoggerProvider``.
        resource: the attributes that replace theirs (e.g. the child's ``process.pid``).

    Returns:
        Whether every provider was updated; False (none touched) where one lacks ``_update_resource``: the
        child then exports under its parent's resource.
    """
    updates = [getattr(provider, "_update_resource", None) for provider in providers]
    if not all(callable(update) for update in updates):
        return False
    for provider, update in zip(providers, updates, strict=True):
        _reinit_locks(provider)
        update(resource)  # type: ignore[misc]
    return True


# -- global meters ---------------------------------------------------------------------------------------------
def is_default_meter_provider(provider: object) -> bool:
    """Whether ``provider`` is the API's placeholder global MeterProvider (nobody installed one yet)."""
    return type(provider).__name__ == "_ProxyMeterProvider"


#: The API's proxy meter class (re-creates its instruments on a real meter), or None in an API without it.
ProxyMeter: type[Any] | None = getattr(metrics_internal, "_ProxyMeter", None)
#: Whether `RebindableMeter` works; without it zgen_otel leaves the global MeterProvider alone.
REBINDABLE_METERS = ProxyMeter is not None and {"_name", "_version", "_schema_url", "_lock", "_instruments"} <= set(
    vars(ProxyMeter("zgen_otel.probe", version=None, schema_url=None))
)


class _Instruments(list[Any]):
    """The proxy meter's instrument list: an instrument added after binding is bound at once."""

    def __init__(self, meter: RebindableMeter) -> None:
        super().__init__()
        self.meter = meter

    def append(self, instrument: Any) -> None:
        super().append(instrument)
        if self.meter.current is not None:
            instrument.on_meter_set(self.meter.current)


class RebindableMeter(ProxyMeter or metrics.NoOpMeter):  # type: ignore[misc]
    """The API's proxy meter, handing out proxy instruments that can be re-bound on every provider swap.

    Only usable where `REBINDABLE_METERS` is true.
    """

    def __init__(self, name: str, version: str | None, schema_url: str | None) -> None:
        super().__init__(name, version=version, schema_url=schema_url)
        self.current: metrics.Meter | None = None
        self._instruments = _Instruments(self)

    def on_set_meter_provider(self, meter_provider: metrics.MeterProvider) -> None:
        """Bind this meter and every instrument it handed out to ``meter_provider``."""
        real = meter_provider.get_meter(self._name, self._version, self._schema_url)
        with self._lock:
            self.current = real
            for instrument in self._instruments:
                instrument.on_meter_set(real)


# -- Prometheus names -----------------------------------------------------------------------------------------
#: ``(sanitize_name, map_unit)``: an OTel metric name and unit to the Prometheus name and unit word.
PrometheusNaming = tuple[Callable[[str], str], Callable[[str], str]]


def _exporter_mapping() -> PrometheusNaming | None:
    """The Prometheus exporter's own ``sanitize_full_name`` and ``map_unit``; None where it keeps them elsewhere."""
    try:
        mapping = importlib.import_module(PROMETHEUS_MAPPING_MODULE)
    except ImportError:
        return None
    sanitize, map_unit = getattr(mapping, "sanitize_full_name", None), getattr(mapping, "map_unit", None)
    return (sanitize, map_unit) if callable(sanitize) and callable(map_unit) else None


def _served_name(name: str, unit: str) -> str:
    """The name OTel's Prometheus exporter serves a gauge ``name`` with ``unit`` under, by running the exporter.

    A throwaway MeterProvider with a ``PrometheusMetricReader`` on a registry of its own records the gauge once
    and collects it: the exporter's public path, slower than its name functions but the same answer.

    Raises:
        ModuleNotFoundError: opentelemetry-exporter-prometheus or prometheus_client is not installed.
        ValueError: the SDK refuses ``name`` or ``unit`` for an instrument, so nothing serves it.
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    reader = PrometheusMetricReader(disable_target_info=True, registry=registry)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    try:
        try:
            gauge = provider.get_meter("zgen_otel.naming").create_gauge(name, unit=unit)
        except Exception as exc:  # the SDK raises a bare Exception for a name or unit it refuses
            raise ValueError(f"{name!r} (unit {unit!r}) is not a valid OTel instrument name and unit: {exc}") from None
        gauge.set(0)
        (family,) = registry.collect()
    finally:
        provider.shutdown()
    served: str = family.name
    return served


def _run_exporter() -> PrometheusNaming:
    """``(sanitize_name, map_unit)`` read off what the real exporter serves (the slow fallback)."""
    probe = "zgen"  # no underscore: the exporter always appends a non-empty unit word to it

    def map_unit(unit: str) -> str:
        return _served_name(probe, unit).removeprefix(probe).removeprefix("_")

    return (lambda name: _served_name(name, "")), map_unit


def prometheus_naming() -> PrometheusNaming:
    """How OTel's Prometheus exporter (opentelemetry-exporter-prometheus) names a metric on ``/metrics``.

    ``sanitize_name(name)`` is the metric name with invalid characters replaced; ``map_unit(unit)`` is the
    unit as the exporter's suffix word (``By/s`` -> ``bytes_per_second``, ``1`` -> ``""``). prometheus_client's
    metric families then append that word unless the name already ends with it, and ``_total`` to a counter.
    The two functions are the exporter's own, from its private ``_mapping`` module; where an exporter version
    moved them, equivalents that run the real exporter once per call (a throwaway MeterProvider) stand in.

    Raises:
        ModuleNotFoundError: opentelemetry-exporter-prometheus (the ``prometheus`` extra) is not installed.
    """
    found = _exporter_mapping()
    if found is not None:
        return found
    importlib.import_module("opentelemetry.exporter.prometheus")  # not installed: say so now, not at first use
    return _run_exporter()


# -- another OTel logging handler ------------------------------------------------------------------------------
_MISSING = object()


def handler_exports(handler: object) -> bool:
    """Whether an OTel logging handler emits into an SDK ``LoggerProvider`` (which exports what it receives).

    Both the SDK's handler and the logging instrumentation's keep their provider in ``_logger_provider``. The
    API's proxy provider follows the global one, which then decides; with no SDK provider behind it, the records
    go nowhere. Where the attribute is missing, the handler is taken to export.
    """
    provider = getattr(handler, "_logger_provider", _MISSING)
    if provider is _MISSING:
        return True
    if type(provider).__name__ == "ProxyLoggerProvider":
        provider = get_logger_provider()
    return isinstance(provider, LoggerProvider)


# -- another instrumentation's system metrics ------------------------------------------------------------------
_SYSTEM_METRICS_MODULE = "opentelemetry.instrumentation.system_metrics"
#: The instrument name of a configuration key of opentelemetry-instrumentation-system-metrics, where they differ.
_SYSTEM_METRIC_NAMES = {"system.network.dropped.packets": "system.network.dropped_packets"}


def instrumented_system_metrics() -> frozenset[str]:
    """The metric names that a running ``SystemMetricsInstrumentor`` reports; empty when none runs.

    The instrumentor is a singleton (``BaseInstrumentor._instance``) keeping its metric names in ``_config``.
    Nothing is imported (or instantiated, which would reset it) here: when its module was never imported, it
    runs nowhere. Where its configuration cannot be read, its default one is assumed.
    """
    module = sys.modules.get(_SYSTEM_METRICS_MODULE)
    instance = getattr(getattr(module, "SystemMetricsInstrumentor", None), "_instance", None)
    if instance is None or not getattr(instance, "is_instrumented_by_opentelemetry", False):
        return frozenset()
    config = getattr(instance, "_config", None)
    if not isinstance(config, Mapping):
        config = getattr(module, "_DEFAULT_CONFIG", {})
    return frozenset(_SYSTEM_METRIC_NAMES.get(key, key) for key in config)


def fast_paths() -> dict[str, bool]:
    """Which shortcuts work with the installed OTel versions: shortcut name -> active (builds probe objects)."""
    span = TracerProvider().get_tracer("zgen_otel.probe").start_span("probe")
    bounded = getattr(span, "_attributes", None)
    span.end()
    span_batch = BatchSpanProcessor(ConsoleSpanExporter())
    log_batch = BatchLogRecordProcessor(ConsoleLogRecordExporter())
    provider = MeterProvider()
    try:
        return {
            "span_attribute_dict": type(getattr(bounded, "_dict", None)) is dict
            and hasattr(bounded, "max_value_len")
            and hasattr(bounded, "maxlen"),
            "context_slot": context_slot() is not None,
            "span_processor_tuple": SPAN_PROCESSOR_TUPLE,
            "span_batch_queue": batch_queue(span_batch)[0] is not None,
            "log_batch_queue": batch_queue(log_batch)[0] is not None,
            "exporter_preferences": {"_preferred_temporality", "_preferred_aggregation"}
            <= set(vars(ConsoleMetricExporter())),
            "collect_lock": collect_lock(provider) is not _NO_LOCK,
            "metric_locks": hasattr(provider, "_meters") and hasattr(provider, "_measurement_consumer"),
            "update_resource": all(
                callable(getattr(cls, "_update_resource", None))
                for cls in (MeterProvider, TracerProvider, LoggerProvider)
            ),
            "rebindable_meters": REBINDABLE_METERS,
            "default_meter_provider": is_default_meter_provider(metrics.get_meter_provider())
            or hasattr(metrics_internal, "_ProxyMeterProvider"),
            "prometheus_naming": _exporter_mapping() is not None,
            "system_metrics_instrumentor": _probe_system_metrics(),
            "logging_handler_provider": _probe_logging_handler(),
            "log_exporter_module": importlib.util.find_spec(
                f"opentelemetry.exporter.otlp.proto.http.{OTLP_LOG_EXPORTER_MODULE}"
            )
            is not None,
        }
    finally:
        span_batch.shutdown()  # type: ignore[no-untyped-call]
        log_batch.shutdown()  # type: ignore[no-untyped-call]
        provider.shutdown()


def _probe_system_metrics() -> bool:
    """Whether the system-metrics instrumentor keeps its singleton in ``_instance`` and its names in ``_config``."""
    module = importlib.import_module(_SYSTEM_METRICS_MODULE)
    cls = module.SystemMetricsInstrumentor
    return hasattr(cls, "_instance") and "_config" in cls.__init__.__code__.co_names


def _probe_logging_handler() -> bool:
    """Whether the logging instrumentation's handler keeps its provider in ``_logger_provider``."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    provider = LoggerProvider()
    try:
        return getattr(LoggingHandler(logger_provider=provider), "_logger_provider", None) is provider
    finally:
        provider.shutdown()
