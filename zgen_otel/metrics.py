"""Record custom metrics, read their history and averages, and react to updates.

``record_metric`` writes the sample into the local store at once and exactly, and exposes the metric to
OTel as an observable gauge read at collection time, so it also ships over OTLP when an exporter is
configured. The hot path is a validated store append (about a microsecond).
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from zgen_otel import _current
from zgen_otel._util import RateLimitedLogger, safe_repr
from zgen_otel._validate import MAX_WINDOW, check_attributes, check_name, limit_attributes, positive_seconds
from zgen_otel.semconv import RECORDED_METRIC_DESCRIPTION
from zgen_otel.store import AttributeKey, AttributeValue, MetricPoint, MetricStore, Series, SeriesInfo, WindowStats

__all__ = [
    "MetricCallback",
    "MetricPoint",
    "get_all_metrics",
    "get_latest_value",
    "get_metric_average",
    "get_metric_history",
    "get_metric_stats",
    "list_metrics",
    "record_metric",
    "register_callback",
    "unregister_callback",
]

_log = logging.getLogger(__name__)
_warn = RateLimitedLogger(_log)

MetricCallback = Callable[[str, float, float, Mapping[str, AttributeValue]], None]

# The OTel instrument-name rule, so every metric name is also a valid OTel instrument name.
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_./\-]{0,254}")
_NAME_RULE = "must start with a letter and hold only letters, digits, '_', '.', '-' and '/' (at most 255 characters)"
_SERIES_CACHE_SIZE = 100_000
#: The latest timestamp accepted: 9999-12-31T23:59:59Z (what ``datetime`` and RFC 3339 can write).
MAX_TIMESTAMP = 253_402_300_799.0


def _check_name(what: str, name: object) -> str:
    return check_name(what, name, _NAME_RE, _NAME_RULE)


_NO_UNIT = ""  # the default: one identity test on the hot path (CPython has one empty str)


def _check_unit(unit: object) -> str:
    """The OTel unit rule: an ASCII str of at most 63 characters (the SDK raises a bare Exception otherwise)."""
    if not isinstance(unit, str):
        raise TypeError(f"unit must be a str; got {type(unit).__name__} {safe_repr(unit)}")
    if len(unit) > 63 or not unit.isascii():
        raise ValueError(f"unit {safe_repr(unit)} is not valid: it must be ASCII, at most 63 characters")
    return unit


def _as_float(value: object, what: str = "metric value") -> float:
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError:  # an int (or Fraction) beyond the float range
            raise ValueError(f"{what} {safe_repr(value)} is too large for a float (at most about 1.8e308)") from None
    raise TypeError(f"{what} must be a real number (int or float); got {type(value).__name__} {safe_repr(value)}")


class MetricsRecorder:
    """The metrics API of one runtime: validation, the store write and the OTel gauge for each name.

    The hot path is two dictionary look-ups (attribute key, then series) and one series append; names,
    attribute sets and series are validated once, on first use, and cached.
    """

    def __init__(
        self, store: MetricStore, meter: Meter, max_attributes: int = 128, max_value_length: int = 4096
    ) -> None:
        self._store = store
        self._meter = meter
        self.max_attributes = max_attributes
        self.max_value_length = max_value_length
        self.attributes_limited = 0  # attribute sets cut to the limits (attributes dropped, values shortened)
        self.clock = store.clock
        self._names: dict[tuple[str, str | None], str] = {}  # (name, category) -> full name, once stored
        self._gauges: set[str] = set()  # full names with an OTel gauge
        self._units: dict[str, str] = {}  # full name -> the unit its first sample gave
        # record_metric's hot path: (name, category, attribute items as given) -> validated series
        self.series: dict[tuple[str, str | None, tuple[tuple[str, Any], ...]], Series] = {}
        self.dropped_nonfinite = 0

    def recorded_names(self) -> set[str]:
        """Full names of every metric recorded through ``record_metric``."""
        return set(self._gauges)

    def drop_nonfinite(self, full_name: str, value: float) -> None:
        """Count and (rate-limited) warn about a NaN or infinite value."""
        self.dropped_nonfinite += 1
        _warn.warning(f"nonfinite:{full_name}", "zgen_otel dropped non-finite %r for %r", value, full_name)

    def full_name(
        self, name: str, category: str | None, attributes: Mapping[str, AttributeValue] | None, unit: str
    ) -> str:
        """Validate a sample's name, category, attributes and unit without creating its series."""
        if attributes is not None:
            check_attributes(attributes)
        return self._full_name(name, category, unit)

    def _key(self, attributes: object) -> tuple[AttributeKey, bool]:
        """Validate an attribute set, cut it to the limits (counted, warned); its store key and whether it was cut."""
        checked, changed = limit_attributes(check_attributes(attributes), self.max_attributes, self.max_value_length)
        if changed:
            self.attributes_limited += 1
            _warn.warning(
                "attribute-limits",
                "zgen_otel cut a metric attribute set to max_attributes=%d and max_value_length=%d (%d items changed)",
                self.max_attributes,
                self.max_value_length,
                changed,
            )
        return tuple(sorted(checked.items())), bool(changed)

    def _full_name(self, name: str, category: str | None, unit: str) -> str:
        try:
            full = self._names.get((name, category))
        except TypeError:  # an unhashable name or category: _validate explains
            full = None
        return full or self._validate(name, category, unit)

    def resolve(
        self, name: str, category: str | None, attributes: Mapping[str, AttributeValue] | None, unit: str
    ) -> Series | None:
        """Validate a name and attribute set seen for the first time; find or create and cache its series.

        Returns None when the store's series cap drops it (the store counts and warns). Past the metric's
        ``max_series_per_metric`` it is the metric's overflow series, which is not cached: each sample of a folded
        set is counted by the store.
        """
        key, cut = self._key(attributes) if attributes is not None else ((), False)
        full = self._full_name(name, category, unit)
        unit = self._units.get(full, unit)  # the first sample of a name sets the unit of all its series
        series = self._store.get_or_create(full, key, unit, category)
        if series is not None:
            self._units.setdefault(full, unit)
            # Only a name that got a series is remembered and gets a gauge: past the series cap, a flood of new
            # names costs nothing but the drop count.
            if full not in self._gauges:
                self._gauges.add(full)
                self._meter.create_observable_gauge(
                    full, callbacks=[self._observer(full)], unit=unit, description=RECORDED_METRIC_DESCRIPTION
                )
            self._names[(name, category)] = full
            if series.key != key or cut:  # folded (every sample is counted) or cut (the set as given is too large)
                return series
            if len(self.series) >= _SERIES_CACHE_SIZE:
                self.series.clear()
            self.series[(name, category, tuple(attributes.items()) if attributes is not None else ())] = series
        return series

    def _validate(self, name: str, category: str | None, unit: str) -> str:
        """The full name (``category.name``) after checking name, category and unit."""
        _check_name("metric name", name)
        if category is not None:
            _check_name("category", category)
        _check_unit(unit)
        full = f"{category}.{name}" if category else name
        if len(full) > 255:
            raise ValueError(f"metric name {safe_repr(full)} is not valid: it {_NAME_RULE}")
        return full

    def _observer(self, full: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        store = self._store

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for series in store.series(full):
                latest = series.latest()
                if latest is not None:
                    yield Observation(latest.value, series.attributes)

        return observe


def _check_timestamp(timestamp: object) -> float:
    ts = _as_float(timestamp, "timestamp")
    if not 0 <= ts <= MAX_TIMESTAMP:  # NaN fails too
        raise ValueError(
            f"timestamp must be seconds since the epoch between 0 and {MAX_TIMESTAMP:.0f} (year 9999); "
            f"got {safe_repr(timestamp)}"
        )
    return ts


def record_metric(
    name: str,
    value: float,
    category: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    unit: str = "",
    timestamp: float | None = None,
) -> None:
    """Record one value of a metric, stored as ``category.name`` when a category is given.

    The sample is in the local store (history, averages, callbacks, alert rules) when this returns, and
    the metric's latest value is exported over OTLP as a gauge at each collection.

    Args:
        name: the metric name (letters, digits, ``_ . - /``, starting with a letter).
        value: an int or float. NaN and infinities are dropped with a rate-limited warning.
        category: optional prefix, e.g. ``"system"`` turns ``cpu_usage`` into ``system.cpu_usage``.
        attributes: optional dimensions (str keys; str, bool, int or float values): one series per set.
        unit: the UCUM unit (``"s"``, ``"By"``, ``"%"``...), set by the first sample of a name.
        timestamp: seconds since the epoch; defaults to now.

    Raises:
        TypeError: ``value`` or ``timestamp`` is not a real number, or ``name``/``attributes`` have the wrong
            types.
        ValueError: ``name`` or ``category`` breaks the naming rule; ``value`` is an int too large for a
            float; ``timestamp`` is not between 0 and year 9999.
    """
    rec = (_current.runtime or _current.get_runtime()).metrics
    if rec is None:
        return  # disabled or shut down
    # The hot path, inlined (a call frame is a tenth of its cost): one cached look-up, one append.
    if type(value) is not float:
        value = _as_float(value)
    if unit is not _NO_UNIT and (type(unit) is not str or len(unit) > 63 or not unit.isascii()):  # every call
        _check_unit(unit)
    if timestamp is not None:  # checked before anything is created: a rejected sample leaves no trace
        timestamp = _check_timestamp(timestamp)
    try:
        series = rec.series[(name, category, tuple(attributes.items()) if attributes is not None else ())]
    except (KeyError, TypeError, AttributeError):  # first use, or input the slow path will explain
        series = None
    if series is None or not series.alive:
        if value - value != 0.0:  # NaN or +-inf: validated and counted, but no (empty) series is created
            rec.drop_nonfinite(rec.full_name(name, category, attributes, unit), value)
            return
        series = rec.resolve(name, category, attributes, unit)
        if series is None:
            return  # over the series cap: counted by the store
    if value - value != 0.0:  # NaN or +-inf
        rec.drop_nonfinite(series.name, value)
        return
    series.append(rec.clock() if timestamp is None else timestamp, value)


def _store() -> MetricStore | None:
    rt = _current.get_runtime()
    return rt.store if rt.enabled else None


def _check_query(name: object, attributes: object) -> Mapping[str, AttributeValue] | None:
    """Check a query's metric name (a str) and attribute filter (like ``record_metric``'s attributes).

    The filter's values are cut as recording cuts them (``max_value_length``), so a value too long to be kept
    whole still finds the series it was recorded under.
    """
    if not isinstance(name, str):
        raise TypeError(f"metric name must be a str; got {type(name).__name__} {safe_repr(name)}")
    if attributes is None:
        return None
    checked = check_attributes(attributes)
    limit = _current.get_runtime().settings.max_value_length
    return limit_attributes(checked, len(checked), limit)[0]


def _check_time(what: str, value: object) -> float | None:
    """A ``since``/``until`` bound: None, or a number of Unix seconds (clamped to the range samples can have)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number of seconds since the epoch or None; got {safe_repr(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # a huge int: past (or before) every sample
        seconds = math.inf if cast(float, value) > 0 else -math.inf
    if math.isnan(seconds):
        raise ValueError(f"{what} must be a number of seconds since the epoch or None; got {safe_repr(value)}")
    return min(max(seconds, -1.0), MAX_TIMESTAMP + 1.0)  # keeps the store's millisecond arithmetic in range


def _check_limit(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be a whole number >= 0 or None; got {type(limit).__name__} {safe_repr(limit)}")
    if limit < 0:
        raise ValueError(f"limit must be a whole number >= 0 or None; got {safe_repr(limit)}")
    return limit


def get_metric_history(
    name: str,
    since: float | None = None,
    until: float | None = None,
    limit: int | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> list[MetricPoint]:
    """Read the stored points of one metric, oldest first.

    History older than the raw window comes back as per-minute or per-hour means (``samples`` > 1).

    Args:
        name: the full metric name (``category.name`` when it was recorded with a category).
        since: keep points at or after this time (seconds since the epoch); None: from the oldest.
        until: keep points at or before this time (seconds since the epoch); None: up to the newest.
        limit: keep only the newest ``limit`` points; None: all of them.
        attributes: keep the series whose attributes include these items; None: every series of the name.

    Returns:
        ``(timestamp, value, samples)`` points in time order; ``[]`` for an unknown name or when disabled.

    Raises:
        TypeError: ``name`` is not a str, a bound or ``limit`` is not a number, or ``attributes`` is not a
            mapping of str to str/bool/int/float.
        ValueError: a bound is NaN, ``limit`` is negative, or an attribute breaks the naming rules.
    """
    attributes = _check_query(name, attributes)
    lo, hi, count = _check_time("since", since), _check_time("until", until), _check_limit(limit)
    store = _store()
    return [] if store is None else store.history(name, attributes, lo, hi, count)


def get_metric_stats(
    name: str, window_seconds: float = 300.0, attributes: Mapping[str, AttributeValue] | None = None
) -> WindowStats | None:
    """Summarise one metric over a recent window: count, sum, avg, min, max, latest and p50/p95/p99.

    Args:
        name: the full metric name.
        window_seconds: how far back to look, in seconds (> 0; longer windows are cut to the retention).
        attributes: keep the series whose attributes include these items; None: every series of the name.

    Returns:
        The window's statistics, or None when monitoring is disabled.

    Raises:
        TypeError: ``name`` is not a str or ``attributes`` is not a mapping of str to str/bool/int/float.
        ValueError: ``window_seconds`` is not a number > 0.
    """
    window = min(positive_seconds("window_seconds", window_seconds), MAX_WINDOW)
    attributes = _check_query(name, attributes)
    store = _store()
    return None if store is None else store.window(name, window, attributes)


def get_metric_average(
    name: str, window_seconds: float = 300.0, attributes: Mapping[str, AttributeValue] | None = None
) -> float | None:
    """Average one metric over a recent window.

    Args:
        name: the full metric name.
        window_seconds: how far back to look, in seconds (> 0; longer windows are cut to the retention).
        attributes: keep the series whose attributes include these items; None: every series of the name.

    Returns:
        The mean of the points in the window, or None when the window is empty or monitoring is disabled.

    Raises:
        TypeError: ``name`` is not a str or ``attributes`` is not a mapping of str to str/bool/int/float.
        ValueError: ``window_seconds`` is not a number > 0.
    """
    window = min(positive_seconds("window_seconds", window_seconds), MAX_WINDOW)
    attributes = _check_query(name, attributes)
    store = _store()
    return None if store is None else store.mean(name, window, attributes)


def get_latest_value(name: str, attributes: Mapping[str, AttributeValue] | None = None) -> float | None:
    """Read the newest value of one metric.

    Args:
        name: the full metric name.
        attributes: keep the series whose attributes include these items; None: every series of the name.

    Returns:
        The newest value across the matching series, or None when there is none.

    Raises:
        TypeError: ``name`` is not a str or ``attributes`` is not a mapping of str to str/bool/int/float.
    """
    points = get_metric_history(name, limit=1, attributes=attributes)
    return points[-1].value if points else None


def list_metrics() -> list[str]:
    """List the metrics recorded so far.

    Returns:
        Every metric name in the local store, sorted; ``[]`` when monitoring is disabled.
    """
    store = _store()
    return [] if store is None else store.names()


def get_all_metrics() -> list[SeriesInfo]:
    """Describe every series in the local store.

    Returns:
        One entry per series: name, attributes, unit, category, latest value and time, stored points.
    """
    store = _store()
    return [] if store is None else store.info()


def register_callback(name_or_pattern: str, callback: MetricCallback) -> None:
    """Call ``callback(name, value, timestamp, attributes)`` on every update of matching metrics.

    A callback that raises is logged (rate-limited) and never breaks ``record_metric`` or the other callbacks.

    Args:
        name_or_pattern: a full metric name (``system.cpu_usage``) or a glob (``system.*``).
        callback: called as ``callback(name, value, timestamp, attributes)``.

    Raises:
        ValueError: ``name_or_pattern`` is not a non-empty str.
        TypeError: ``callback`` is not callable.
    """
    _check_pattern(name_or_pattern)
    if not callable(callback):
        raise TypeError(f"callback must be callable; got {safe_repr(callback)}")
    rt = _current.get_runtime()
    if rt.enabled:
        rt.store.subscribe(name_or_pattern, callback)


def _check_pattern(name_or_pattern: object) -> None:
    if not isinstance(name_or_pattern, str) or not name_or_pattern:
        raise ValueError(f"name_or_pattern must be a non-empty str; got {safe_repr(name_or_pattern)}")


def unregister_callback(name_or_pattern: str, callback: MetricCallback) -> bool:
    """Remove a callback added with ``register_callback``.

    Args:
        name_or_pattern: the name or glob it was registered with.
        callback: the callback to remove.

    Returns:
        Whether it was registered.

    Raises:
        ValueError: ``name_or_pattern`` is not a non-empty str.
    """
    _check_pattern(name_or_pattern)
    rt = _current.get_runtime()
    return rt.enabled and rt.store.unsubscribe(name_or_pattern, callback)
