"""How the pages are rendered: the Jinja environment with its filters, the time window, time and number text.

Every page of the package (the dashboards, the trace page, the index, the HTTP app's pages) is rendered by
an environment from :func:`make_environment`: autoescaped, with the filters ``value`` (:func:`format_value`),
``clock`` (a time of day, :func:`format_time` with :data:`CLOCK`), ``ms`` (:func:`format_ms`) and ``ago``
(:func:`format_age`). Every
time shown on a page is written by :func:`format_time`, and every window is measured on the runtime's clock
by :func:`window`, so under a test clock the pages agree with the store and the alerts.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING

from jinja2 import Environment, FunctionLoader, select_autoescape

from zgen_otel import _current
from zgen_otel._util import iso_utc

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = [
    "CLOCK",
    "ISO",
    "environment",
    "format_age",
    "format_ms",
    "format_time",
    "format_value",
    "make_environment",
    "window",
]

#: :func:`format_time` pattern: ISO 8601 in UTC with a ``Z`` (``2026-11-28T22:01:29.250000Z``).
ISO = "iso"
#: :func:`format_time` pattern: the UTC time of day to the millisecond (``22:01:29.250Z``).
CLOCK = "clock"
_PACKAGE, _FOLDER = "zgen_otel.dashboards", "templates"


def format_time(ts: float, pattern: str = ISO) -> str:
    """A Unix time as text: the one time formatter of the pages and dashboards.

    Args:
        ts: seconds since the epoch.
        pattern: :data:`ISO` (UTC, for ``generated_at``), :data:`CLOCK` (UTC time of day with milliseconds,
            for log and span times) or a ``time.strftime`` pattern, written in local time (chart axes,
            table cells such as ``"%m-%d %H:%M:%S"``).

    Returns:
        The formatted time.
    """
    if pattern == ISO:
        return iso_utc(ts)
    if pattern == CLOCK:
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3] + "Z"
    return time.strftime(pattern, time.localtime(ts))


def format_value(value: float | None, unit: str = "") -> str:
    """A short human reading of a value in its unit (``12.3 %``, ``1.5 GiB``, ``250 ms``); ``-`` for none."""
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) < 1e-9:
        value = 0.0
    if unit == "By" or unit.startswith("By/"):
        size = abs(value)
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if size < 1024 or suffix == "TiB":
                scaled = value / 1024 ** ("B", "KiB", "MiB", "GiB", "TiB").index(suffix)
                return f"{scaled:.3g} {suffix}{unit[2:]}"
            size /= 1024
    if unit == "s":
        if abs(value) < 1e-3:
            return f"{value * 1e6:.3g} µs"
        if abs(value) < 1:
            return f"{value * 1e3:.3g} ms"
        return f"{value:.3g} s"
    if unit == "1":
        return f"{value * 100:.3g} %"
    shown = f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    text_unit = "" if unit.startswith("{") or not unit else f" {unit}"
    return f"{shown}{text_unit}"


def format_ms(ms: float | None) -> str:
    """A duration given in milliseconds, in ms below a second and in s above (``12.5 ms``, ``3.2 s``)."""
    if ms is None:
        return "-"
    return f"{ms:.3g} ms" if ms < 1000 else f"{ms / 1000:.3g} s"


def format_age(seconds: float | None) -> str:
    """How long ago, for people: ``just now`` (under a second), ``42 s ago``, ``5 min ago``, ``3 h ago``..."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1:
        return "just now"
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _clock(ts: float | None) -> str:
    """The ``clock`` filter: :func:`format_time` with :data:`CLOCK`, ``-`` for no time."""
    return "-" if ts is None else format_time(ts, CLOCK)


def window(window_seconds: float, runtime: Runtime | None = None) -> tuple[float, float]:
    """``(start, end)`` of the last ``window_seconds`` on the runtime's clock.

    Args:
        window_seconds: the window's length; ``start`` is never before the epoch (``1e300`` is "everything").
        runtime: the runtime whose clock ends the window; the current one by default.
    """
    end = (runtime or _current.get_runtime()).clock()
    return max(end - window_seconds, 0.0), end


def _loader(*places: tuple[str, str]) -> FunctionLoader:
    """Templates from the first ``(package, folder)`` that has the name."""

    def load(name: str) -> str | None:
        for package, folder in places:
            path = resources.files(package).joinpath(folder).joinpath(name)
            if path.is_file():
                return path.read_text(encoding="utf-8")
        return None

    return FunctionLoader(load)


def make_environment(package: str, folder: str = "templates") -> Environment:
    """A Jinja environment for another package's templates, with the dashboards' filters and autoescape.

    Args:
        package: the package that holds the templates (``"zgen_otel.http"``).
        folder: the templates' folder inside it.

    Returns:
        An autoescaping environment with the filters ``value``, ``clock``, ``ms`` and ``ago``. A name that is not in
        ``folder`` is looked up among the dashboards' templates, so the shared ``_style.html`` and
        ``_script.html`` can be included.
    """
    places = dict.fromkeys([(package, folder), (_PACKAGE, _FOLDER)])  # in order, each once
    env = Environment(loader=_loader(*places), autoescape=select_autoescape(default=True))
    env.filters.update(value=format_value, clock=_clock, ms=format_ms, ago=format_age)
    return env


#: The environment of the dashboards' own templates.
environment = make_environment(_PACKAGE, _FOLDER)
