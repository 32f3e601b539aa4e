"""The in-process metric exporter that turns OTel metric points into samples in the local store.

It runs on the SDK's own collection machinery (a ``PeriodicExportingMetricReader`` built in
``_providers``), so every instrument on the provider — zgen_otel's, the contrib system metrics, any other
library's — reaches the store, the alert evaluator and the dashboards the same way.

Mapping (one store series per metric name and attribute set):

* gauges and sums (counters, up-down counters, observable ones): the value, under the metric's name;
  sums are cumulative, so a counter's series is its running total;
* histograms (explicit and exponential): delta per collection interval, as ``<name>.count``,
  ``<name>.sum``, ``<name>.min`` and ``<name>.max``; intervals without observations store nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any

from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter, ObservableUpDownCounter, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
)

from zgen_otel.store import INSTRUMENTS, MetricStore, attributes_key

__all__ = ["LocalStoreExporter"]

_TEMPORALITY: dict[type, AggregationTemporality] = {
    Counter: AggregationTemporality.CUMULATIVE,
    UpDownCounter: AggregationTemporality.CUMULATIVE,
    ObservableCounter: AggregationTemporality.CUMULATIVE,
    ObservableUpDownCounter: AggregationTemporality.CUMULATIVE,
    Histogram: AggregationTemporality.DELTA,
}


class LocalStoreExporter(MetricExporter):
    """Write every collected metric point into a `MetricStore`.

    Args:
        store: where the samples go.
        skip_scopes: instrumentation scope names whose points are already in the store (``record_metric``
            writes its samples directly, exactly, so its observable gauges are skipped here).
        after_export: called after each export (the runtime uses it for retention pruning).
    """

    def __init__(
        self,
        store: MetricStore,
        skip_scopes: Collection[str] = (),
        after_export: Callable[[], None] | None = None,
        scope_sources: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(preferred_temporality=_TEMPORALITY)
        self._store = store
        self._skip = frozenset(skip_scopes)
        self._sources = dict(scope_sources or {})  # instrumentation scope -> store source (budget); else INSTRUMENTS
        self._after_export = after_export

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Store every point of ``metrics_data``; never raises."""
        for resource_metrics in metrics_data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                if scope_metrics.scope.name in self._skip:
                    continue
                # the reader's own series budget, or the one its scope has (the tracking instruments)
                source = self._sources.get(scope_metrics.scope.name, INSTRUMENTS)
                add = functools.partial(self._store.add, source=source)
                for metric in scope_metrics.metrics:
                    name, unit = metric.name, metric.unit or ""
                    category = name.split(".", 1)[0] if "." in name else None
                    for point in metric.data.data_points:
                        key = attributes_key(point.attributes)
                        ts = point.time_unix_nano / 1e9
                        if isinstance(point, NumberDataPoint):
                            add(name, float(point.value), key, ts, unit=unit, category=category)
                        elif isinstance(point, (HistogramDataPoint, ExponentialHistogramDataPoint)) and point.count:
                            add(f"{name}.count", float(point.count), key, ts, unit="1", category=category)
                            add(f"{name}.sum", float(point.sum), key, ts, unit=unit, category=category)
                            add(f"{name}.min", float(point.min), key, ts, unit=unit, category=category)
                            add(f"{name}.max", float(point.max), key, ts, unit=unit, category=category)
        if self._after_export is not None:
            self._after_export()
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Nothing is buffered here: samples are in the store as soon as ``export`` returns."""
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Nothing to release."""
