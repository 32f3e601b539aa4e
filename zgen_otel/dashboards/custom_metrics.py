"""The ``metrics`` dashboard: every metric recorded with ``record_metric``, searched, filtered and a page at a time.

With thousands of series in the store the page stays small and fast: the series are chosen and ordered by their
names, categories and attributes alone, and only the page's rows (`PAGE_SIZE` by default) read their points
(`summary`, a sparkline's worth). ``metric=NAME`` adds a full chart of every series
of that metric above the table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from zgen_otel._util import safe_repr
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.panels import labels_text, tagged, timeseries
from zgen_otel.dashboards.rendering import window
from zgen_otel.selection import INSTANCE, SERVICE, View, select
from zgen_otel.store import Series, series_sort_key

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["MAX_PAGE_SIZE", "PAGE_SIZE", "MetricsDashboard"]

#: Rows a page shows by default, and at most.
PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
_SPARK_POINTS = 120
_UNCATEGORISED = "uncategorised"


def _category(s: Series) -> str:
    return s.category or _UNCATEGORISED


def _attributes(s: Series) -> str | None:
    """A series' own attributes as ``k=v`` text (the sender's service and instance left out)."""
    return labels_text({k: str(v) for k, v in s.attributes.items() if k not in (SERVICE, INSTANCE)})


def _matches(s: Series, words: Sequence[str]) -> bool:
    """Whether every word is in the series' name, category or attribute text (case-insensitive)."""
    if not words:  # no search: no attribute text to build for each of thousands of series
        return True
    text = f"{s.name} {_category(s)} {_attributes(s) or ''}".lower()
    return all(w in text for w in words)


def _check(page: object, page_size: object) -> tuple[int, int]:
    """``page`` and ``page_size`` as ints, or a ``ValueError`` naming the bad one and what is allowed."""
    for name, value, top in (("page", page, 10**9), ("page_size", page_size, MAX_PAGE_SIZE)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValueError(f"{name} must be a whole number from 1 to {top:,}; got {safe_repr(value)}")
    return int(page), int(page_size)  # type: ignore[call-overload]


class MetricsDashboard(Dashboard):
    """Every metric recorded with ``record_metric``, here or in the processes sending here, by category."""

    name = "metrics"
    title = "Custom metrics"
    description = "Every metric recorded with record_metric, by category: search, filter, open one as a chart."

    def get_data(
        self,
        window_seconds: float = DEFAULT_WINDOW,
        search: str | None = None,
        category: str | None = None,
        page: int = 1,
        page_size: int = PAGE_SIZE,
        metric: str | None = None,
        *,
        service: str | None = None,
        instance: str | None = None,
        runtime: Runtime | None = None,
    ) -> dict[str, Any]:
        """One table per category of one page of the selected processes' series, and ``listing``.

        Args:
            window_seconds: the window of the sparklines and statistics.
            search: words that must all be in a series' name, category or attributes (any case).
            category: only this category's series (``uncategorised`` for those recorded without one).
            page: which page of the matching series, from 1 (past the last: the last).
            page_size: series a page shows, 1 to `MAX_PAGE_SIZE`.
            metric: a metric's name: a chart of all its series comes first.
            service: the selected service (all when None).
            instance: the selected instance (all when None).
            runtime: the runtime to read; the current one by default.

        Returns:
            ``panels`` (the chart when ``metric`` is given, then a table per category on the page) and
            ``listing``: ``search``, ``category``, ``categories`` (every category, for the filter), ``metric``,
            ``page``, ``pages``, ``page_size``, ``matched`` (series matching) and ``total`` (every series).

        Raises:
            ValueError: ``page`` or ``page_size`` out of range.
        """
        page, page_size = _check(page, page_size)
        view = select(runtime, service, instance)
        rt = view.runtime
        names = rt.metrics.recorded_names() if rt.metrics is not None else set()
        if rt.receiver is not None:
            names |= rt.receiver.recorded_names()
        start, end = window(window_seconds, rt)
        chosen = [s for s in view.store.all_series() if s.name in names]
        categories = sorted({_category(s) for s in chosen})
        words = (search or "").lower().split()
        matched = [s for s in chosen if (category is None or _category(s) == category) and _matches(s, words)]
        matched.sort(key=lambda s: (_category(s), *series_sort_key(s)))
        pages = max(1, math.ceil(len(matched) / page_size))
        page = min(page, pages)
        shown = matched[(page - 1) * page_size : page * page_size]
        listing: dict[str, Any] = {"search": search, "category": category, "categories": categories, "metric": metric,
                   "page": page, "pages": pages, "page_size": page_size, "matched": len(matched),
                   "total": len(chosen)}  # fmt: skip
        kept = {"window": None if window_seconds == DEFAULT_WINDOW else f"{window_seconds:g}", "service": service,
                "instance": instance}  # fmt: skip
        listing["links"] = _pager(listing, kept)
        panels = [_chart(view, metric, start, end)] if metric else []
        panels += _tables(view, shown, start, end, listing, kept)
        if not chosen:
            panels.append({"id": "none", "type": "table", "title": "Custom metrics", "columns": [], "rows": [],
                           "empty": "no metrics recorded with record_metric yet"})  # fmt: skip
        elif not matched:
            panels.append({"id": "none", "type": "table", "title": "Custom metrics", "columns": [], "rows": [],
                           "empty": "no metric matches this search"})  # fmt: skip
        return {"panels": panels, "listing": listing}


def _link(listing: dict[str, Any], kept: dict[str, Any], **changes: Any) -> str:
    """The page's address (a query string) with ``changes`` to the listing's search, category, page and metric.

    ``kept``: the other parameters the address keeps (the window and the selection; None: left out).
    """
    wanted = {**kept, **{k: listing.get(k) for k in ("search", "category", "page", "metric")}, **changes}
    if wanted.get("page") == 1:
        del wanted["page"]
    return "?" + urlencode({k: v for k, v in wanted.items() if v not in (None, "")})


def _pager(listing: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    """The listing's links, to put in it.

    Returns:
        ``previous`` and ``next`` (None at the ends), ``pages`` (``[number, href]`` of the first, the last and
        the two pages either side of the current one; None for a gap) and ``close`` (the page without a chart).
    """
    page, pages = listing["page"], listing["pages"]
    numbers = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    around: list[list[Any] | None] = []
    for n in numbers:
        if around and around[-1] is not None and n - around[-1][0] > 1:
            around.append(None)
        around.append([n, _link(listing, kept, page=n)])
    return {
        "previous": _link(listing, kept, page=page - 1) if page > 1 else None,
        "next": _link(listing, kept, page=page + 1) if page < pages else None,
        "pages": around,
        "close": _link(listing, kept, metric=None),
    }


def _tables(
    view: View, shown: list[Series], start: float, end: float, listing: dict[str, Any], kept: dict[str, Any]
) -> list[dict[str, Any]]:
    """A table per category of the page's series: metric (a link to its chart), attributes, sparkline, stats."""
    several = len(view.processes) > 1
    groups: dict[str, list[list[Any]]] = defaultdict(list)
    hrefs: dict[str, list[str]] = defaultdict(list)
    for s in shown:
        points, st = s.summary(start, end, _SPARK_POINTS)
        stats = (st.latest, st.avg, st.min, st.max, st.count) if st is not None else (None, None, None, None, 0)
        who = [view.who_of(s)] if several else []
        groups[_category(s)].append([s.name, *who, _attributes(s), {"spark": [list(p) for p in points]}, *stats,
                                     s.unit or None])  # fmt: skip
        hrefs[_category(s)].append(_link(listing, kept, metric=s.name))
    columns = ["metric", *(["service"] if several else []), "attributes", "recent", "latest", "average", "min",
               "max", "points", "unit"]  # fmt: skip
    return [
        {"id": f"category-{cat}", "type": "table", "title": f"Category: {cat}", "columns": columns, "rows": rows,
         "row_links": hrefs[cat], "row_units": [row[-1] or "" for row in rows],
         "unit_columns": list(range(len(columns) - 6, len(columns) - 2))}
        for cat, rows in groups.items()
    ]  # fmt: skip


def _chart(view: View, metric: str, start: float, end: float) -> dict[str, Any]:
    """A wide, tall chart of every selected series of ``metric``, one line per attribute set (and process)."""
    series = sorted(view.store.series(metric), key=series_sort_key)
    unit = next((s.unit for s in series if s.unit), "")

    def label(s: Series) -> str:
        return tagged(_attributes(s) or metric, view.who_of(s))

    panel = timeseries("chart", metric, unit, view.store, [(metric, label)], start, end)
    panel.update(wide=True, height=320)
    if not series:
        panel["note"] = f"no metric named {metric!r} in the selected processes"
    return panel
