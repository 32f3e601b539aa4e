"""How the pages are rendered: the Jinja environment with its filters, the time window, time and number text.

Every page of the package (the dashboards, the trace page, the index, the HTTP app's pages) is rendered by
an environment from `make_environment`: autoescaped, with the filters of `formats`
(the one formatter of numbers and times): ``value`` (a number in its unit, `format_value`), ``money``
(`format_money`), ``number`` (`plain`), ``clock`` (a local time,
`format_time` with `CLOCK`), ``ms`` (`format_ms`), ``ago`` (`format_age`) and ``span``
(a window's length, `format_span`), and the
globals ``zone()`` (`zone_label`, to say once per page which zone the times
are in) and ``utc_offset()`` (for ``_format.html``, the same formatter in the page's script). Every window
is measured on the runtime's clock by `window`, so under a test clock the pages
agree with the store and the alerts.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import TYPE_CHECKING

from jinja2 import Environment, FunctionLoader, select_autoescape

from zgen_otel import _current
from zgen_otel.dashboards.formats import (
    CLOCK,
    ISO,
    MISSING,
    format_duration,
    format_money,
    format_span,
    format_time,
    format_value,
    plain,
    utc_offset,
    zone_label,
)

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

_PACKAGE, _FOLDER = "zgen_otel.dashboards", "templates"


def format_ms(ms: float | None) -> str:
    """A duration given in milliseconds, written as `format_duration` writes it (``154 µs``, ``3.2 s``)."""
    return format_duration(None if ms is None else ms / 1000)


def format_age(seconds: float | None) -> str:
    """How long ago, for people: ``just now`` (under a second), ``42 s ago``, ``5 min ago``, ``3 h ago``..."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    if seconds < 1:
        return "just now"
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _clock(ts: float | None) -> str:
    """The ``clock`` filter: `format_time` with `CLOCK`, a dash for no time."""
    return MISSING if ts is None else format_time(ts, CLOCK)


def _number(value: float | None) -> str:
    """The ``number`` filter: `plain`, a dash for none."""
    return MISSING if value is None else plain(value)


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
        An autoescaping environment with the filters ``value``, ``money``, ``number``, ``clock``, ``ms``,
        ``ago`` and ``span`` and the globals ``zone()`` and ``utc_offset()``. A name that is not in
        ``folder`` is looked up among the dashboards' templates, so the shared ``_style.html`` and
        ``_script.html`` can be included.
    """
    places = dict.fromkeys([(package, folder), (_PACKAGE, _FOLDER)])  # in order, each once
    env = Environment(loader=_loader(*places), autoescape=select_autoescape(default=True))
    env.filters.update(value=format_value, money=format_money, number=_number, clock=_clock, ms=format_ms,
                       ago=format_age, span=format_span)  # fmt: skip
    env.globals.update(zone=zone_label, utc_offset=utc_offset)
    return env


#: The environment of the dashboards' own templates.
environment = make_environment(_PACKAGE, _FOLDER)
