"""Building the panels of the built-in dashboards from a selected store: chart lines, their labels and stats.

A chart line is one stored series, labelled by a `Label` function and, when the view covers several
processes, by which one it came from (`zgen_otel.selection.View.who`): the lines of two services never
look alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from zgen_otel._stats import mean
from zgen_otel.dashboards.charts import MAX_POINTS, downsample
from zgen_otel.selection import SelectedStore
from zgen_otel.store import Series, series_sort_key

__all__ = [
    "Label",
    "attr",
    "fixed",
    "labels_text",
    "per_minute",
    "series_entries",
    "tagged",
    "timeseries",
    "value_stats",
]

Label = Callable[[Series], str]


def value_stats(values: list[float]) -> dict[str, float | None]:
    """``latest``, ``avg``, ``min`` and ``max`` of values in time order (all None when there are none)."""
    if not values:
        return {"latest": None, "avg": None, "min": None, "max": None}
    return {"latest": values[-1], "avg": mean(values), "min": min(values), "max": max(values)}


def per_minute(counts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Counts per collection interval, in time order, as calls per minute: at each point, the minute up to it.

    Each point is the sum of the counts of the minute up to it, as PromQL's ``increase(...[1m])``.

    A collection comes every ``MONITORING_INTERVAL`` and at each refresh of an open web page: a count alone would
    shrink while someone watches, a minute's sum reads the same either way (with collections a minute apart or
    closer).
    """
    sums, total, first = [], 0.0, 0
    for ts, count in counts:
        total += count
        while counts[first][0] <= ts - 60.0:
            total -= counts[first][1]
            first += 1
        sums.append((ts, total))
    return sums


def tagged(label: str, who: str) -> str:
    """A line's label with the process it came from (``"CPU · billing"``), or alone when ``who`` is empty."""
    return f"{label} · {who}" if who else label


def series_entries(
    store: SelectedStore,
    metrics: Iterable[tuple[str, Label]],
    start: float,
    end: float,
    *,
    counts: bool = False,
) -> list[dict[str, Any]]:
    """One chart series per selected series of each metric: label, attributes, points (downsampled), stats.

    ``counts``: the series hold counts per collection interval, drawn as counts per minute (`per_minute`).
    """
    entries = []
    for name, label in metrics:
        for s in sorted(store.series(name), key=series_sort_key):
            if counts:
                rates = per_minute([(p.timestamp, p.value) for p in s.points(start, end)])
                points: list[Any] = [list(p) for p in downsample(rates)]
                stats = value_stats([v for _, v in rates]) if rates else None
            else:
                points, summary = s.summary(start, end, MAX_POINTS)
                stats = None if summary is None else {"latest": summary.latest, "avg": summary.avg,
                                                      "min": summary.min, "max": summary.max}  # fmt: skip
            if points and stats is not None:
                entries.append({"label": tagged(label(s), store.view.who_of(s)), "labels": dict(s.attributes),
                                "points": points, "stats": stats})  # fmt: skip
    return entries


def timeseries(
    panel_id: str,
    title: str,
    unit: str,
    store: SelectedStore,
    metrics: Iterable[tuple[str, Label]],
    start: float,
    end: float,
    *,
    counts: bool = False,
) -> dict[str, Any]:
    """A ``timeseries`` panel (``counts``: as for `series_entries`)."""
    return {"id": panel_id, "type": "timeseries", "title": title, "unit": unit,
            "series": series_entries(store, metrics, start, end, counts=counts)}  # fmt: skip


def fixed(text: str) -> Label:
    """A label that is always ``text``."""
    return lambda s: text


def attr(key: str, prefix: str = "") -> Label:
    """A label that is ``prefix`` and the series' attribute ``key`` (``?`` when it has none)."""
    return lambda s: f"{prefix}{s.attributes.get(key, '?')}"


def labels_text(labels: Mapping[str, Any]) -> str | None:
    """``k=v, k=v`` of a label set, sorted (None when empty)."""
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or None
