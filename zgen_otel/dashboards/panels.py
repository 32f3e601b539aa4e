"""Building the panels of the built-in dashboards from a selected store: chart lines, their labels and stats.

A chart line is one stored series, labelled by a :data:`Label` function and, when the view covers several
processes, by which one it came from (:meth:`zgen_otel.selection.View.who`): the lines of two services never
look alike. A :class:`Line` can also rescale the values it draws (a share as a percentage, idle time as busy
time), which lets the same panel draw this process's convenience series and the OTel-named series other
processes send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from zgen_otel._series import WindowStats
from zgen_otel._stats import mean
from zgen_otel.dashboards.charts import MAX_POINTS
from zgen_otel.selection import SelectedStore
from zgen_otel.store import AttributeValue, Series, series_sort_key

__all__ = ["Label", "Line", "attr", "fixed", "labels_text", "series_entries", "tagged", "timeseries", "value_stats"]

Label = Callable[[Series], str]


class Line:
    """Which series a chart draws and how: metric ``name`` (with every item of ``where``), label, scaling.

    Args:
        name: the metric.
        label: the text of each series' line.
        where: only series with these attributes.
        scale, offset: each value is drawn as ``value * scale + offset``.
        received: only series received from other processes (for OTel names this process also stores).
    """

    __slots__ = ("label", "name", "offset", "received", "scale", "where")

    def __init__(
        self,
        name: str,
        label: Label,
        where: Mapping[str, AttributeValue] | None = None,
        *,
        scale: float = 1.0,
        offset: float = 0.0,
        received: bool = False,
    ) -> None:
        self.name, self.label, self.where = name, label, where
        self.scale, self.offset, self.received = scale, offset, received

    def series(self, store: SelectedStore) -> list[Series]:
        """The series this line draws, in the store's order."""
        found = store.received(self.name, self.where) if self.received else store.series(self.name, self.where)
        return sorted(found, key=series_sort_key)

    def value(self, v: float) -> float:
        """A stored value as drawn."""
        return v * self.scale + self.offset

    def stats(self, st: WindowStats) -> dict[str, float | None]:
        """``latest``, ``avg``, ``min`` and ``max`` as drawn (a negative scale swaps min and max)."""
        lo, hi = (st.min, st.max) if self.scale >= 0 else (st.max, st.min)
        value = self.value
        return {"latest": value(st.latest), "avg": value(st.avg), "min": value(lo), "max": value(hi)}


def value_stats(values: list[float]) -> dict[str, float | None]:
    """``latest``, ``avg``, ``min`` and ``max`` of values in time order (all None when there are none)."""
    if not values:
        return {"latest": None, "avg": None, "min": None, "max": None}
    return {"latest": values[-1], "avg": mean(values), "min": min(values), "max": max(values)}


def tagged(label: str, who: str) -> str:
    """A line's label with the process it came from (``"CPU · billing"``), or alone when ``who`` is empty."""
    return f"{label} · {who}" if who else label


def series_entries(
    store: SelectedStore, lines: Iterable[Line | tuple[str, Label]], start: float, end: float
) -> list[dict[str, Any]]:
    """One chart series per stored series of each line: label, attributes, points (downsampled), stats."""
    entries = []
    for line in lines:
        line = line if isinstance(line, Line) else Line(line[0], line[1])
        for s in line.series(store):
            points, stats = s.summary(start, end, MAX_POINTS)
            if points and stats is not None:
                if line.scale != 1.0 or line.offset:
                    points = [(t, line.value(v)) for t, v in points]
                entries.append(
                    {
                        "label": tagged(line.label(s), store.view.who_of(s)),
                        "labels": dict(s.attributes),
                        "points": points,
                        "stats": line.stats(stats),
                    }
                )
    return entries


def timeseries(
    panel_id: str,
    title: str,
    unit: str,
    store: SelectedStore,
    lines: Iterable[Line | tuple[str, Label]],
    start: float,
    end: float,
) -> dict[str, Any]:
    """A ``timeseries`` panel."""
    return {"id": panel_id, "type": "timeseries", "title": title, "unit": unit,
            "series": series_entries(store, lines, start, end)}  # fmt: skip


def fixed(text: str) -> Label:
    """A label that is always ``text``."""
    return lambda s: text


def attr(key: str, prefix: str = "") -> Label:
    """A label that is ``prefix`` and the series' attribute ``key`` (``?`` when it has none)."""
    return lambda s: f"{prefix}{s.attributes.get(key, '?')}"


def labels_text(labels: Mapping[str, Any]) -> str | None:
    """``k=v, k=v`` of a label set, sorted (None when empty)."""
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or None
