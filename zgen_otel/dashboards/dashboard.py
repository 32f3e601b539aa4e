"""Dashboards (the seed's ``dashboards.dashboard``): the base class, the manager and the render functions.

A dashboard implements :meth:`Dashboard.get_data` (a dict, usually with ``panels``); the default
:meth:`Dashboard.to_html` draws it as a complete, self-contained HTML page (inline CSS, server-side SVG
charts, a few lines of inline script for hover values and sorting; no network). ``render_dashboard(name,
format="json")`` returns a ``str`` of JSON with a stable schema (see the README).
"""

from __future__ import annotations

import inspect
import json
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from jinja2 import Environment, FunctionLoader, select_autoescape

from zgen_otel._fork import fork_safe_lock
from zgen_otel._util import safe_repr
from zgen_otel._validate import positive_seconds
from zgen_otel.dashboards.charts import Series, format_value, sparkline, timeseries_svg

__all__ = [
    "DEFAULT_WINDOW",
    "Dashboard",
    "DashboardManager",
    "get_dashboard_manager",
    "render_dashboard",
    "render_dashboard_index",
]

DEFAULT_WINDOW = 3600.0
FORMATS = ("html", "json")


def _window(window_seconds: float) -> tuple[float, float]:
    """``(start, end)`` of the last ``window_seconds``; nothing is older than the epoch (window_seconds=1e300)."""
    end = time.time()
    return max(end - window_seconds, 0.0), end


def _load_template(name: str) -> str:
    return resources.files("zgen_otel.dashboards").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


_env = Environment(loader=FunctionLoader(_load_template), autoescape=select_autoescape(default=True))
_env.filters["value"] = format_value


def _chart(panel: Mapping[str, Any], start: float, end: float) -> Any:
    series = [Series(str(s.get("label", "")), [(p[0], p[1]) for p in s.get("points", ())]) for s in panel["series"]]
    return timeseries_svg(series, str(panel.get("unit", "")), start, end, title=str(panel.get("title", "")))


_env.globals["chart"] = _chart
_env.globals["spark"] = lambda points: sparkline([(p[0], p[1]) for p in points])


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class Dashboard:
    """Base class of a dashboard: set ``name``, ``title``, ``description`` and implement :meth:`get_data`.

    ``get_data`` may accept ``window_seconds`` and any options of its own as keyword arguments;
    ``render_dashboard`` passes only the options it accepts and rejects the others.
    """

    name: str = ""
    title: str = ""
    description: str = ""

    def __init__(self, name: str | None = None, title: str | None = None, description: str | None = None) -> None:
        self.name = name or self.name or type(self).__name__.lower()
        self.title = title or self.title or self.name
        self.description = description if description is not None else self.description
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"dashboard name must be a non-empty str; got {safe_repr(self.name)}")

    def get_data(self, window_seconds: float = DEFAULT_WINDOW) -> dict[str, Any]:
        """The dashboard's content over the last ``window_seconds``: a dict, with ``panels``. Override this.

        Overrides may add keyword options of their own, or take no ``window_seconds`` at all.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement get_data()")

    def document(self, **options: Any) -> dict[str, Any]:
        """``get_data`` wrapped in the JSON schema: name, title, description, generated_at, time_range."""
        window = options.get("window_seconds", DEFAULT_WINDOW)
        data = _call(self.get_data, options)
        if not isinstance(data, dict):
            raise TypeError(f"{type(self).__name__}.get_data() must return a dict; got {type(data).__name__}")
        start, now = _window(window)
        doc: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "generated_at": _iso(now),
            "time_range": {"start": start, "end": now, "window_seconds": window},
            "panels": [],
        }
        doc.update(data)
        return doc

    def to_html(self, **options: Any) -> str:
        """A complete, self-contained HTML page of :meth:`get_data`."""
        doc = self.document(**options)
        extra = {k: v for k, v in doc.items() if k not in _RESERVED}
        return _env.get_template("dashboard.html").render(
            doc=doc, extra=extra, interactive=bool(options.get("interactive")), api_base=options.get("api_base", "")
        )


_RESERVED = {"name", "title", "description", "generated_at", "time_range", "panels"}


def _call(fn: Callable[..., Any], options: Mapping[str, Any]) -> Any:
    """Call ``fn`` with the options it accepts; ``ValueError`` for options it does not."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(**options)
    accepted = {k: v for k, v in options.items() if k in params}
    unknown = sorted(set(options) - set(accepted) - _RENDER_OPTIONS)
    if unknown:
        raise ValueError(f"unknown dashboard option(s) {unknown}; this dashboard accepts {sorted(params)}")
    return fn(**accepted)


_RENDER_OPTIONS = {"window_seconds", "interactive", "api_base"}


class DashboardManager:
    """The registry of dashboards, built-in and custom."""

    def __init__(self) -> None:
        self._dashboards: dict[str, Dashboard] = {}
        self._lock = fork_safe_lock()

    def register_dashboard(self, dashboard: Dashboard, *, replace: bool = False) -> Dashboard:
        """Add a dashboard (``ValueError`` on a duplicate name unless ``replace=True``)."""
        if not isinstance(dashboard, Dashboard):
            raise TypeError(f"dashboard must be a zgen_otel Dashboard; got {safe_repr(dashboard)}")
        with self._lock:
            if dashboard.name in self._dashboards and not replace:
                raise ValueError(f"a dashboard named {dashboard.name!r} exists; pass replace=True to replace it")
            self._dashboards[dashboard.name] = dashboard
        return dashboard

    def unregister_dashboard(self, name: str) -> bool:
        """Remove a dashboard; return whether it was registered."""
        if not isinstance(name, str):
            return False  # never a dashboard's name
        with self._lock:
            return self._dashboards.pop(name, None) is not None

    def get_dashboard(self, name: str) -> Dashboard:
        """The dashboard called ``name`` (``KeyError`` listing the available ones otherwise)."""
        try:
            return self._dashboards[name]
        except (KeyError, TypeError):
            raise KeyError(f"no dashboard named {safe_repr(name)}; available: {sorted(self._dashboards)}") from None

    def list_dashboards(self) -> list[Dashboard]:
        """Every registered dashboard, by name."""
        with self._lock:
            return [self._dashboards[n] for n in sorted(self._dashboards)]


_manager: DashboardManager | None = None
_manager_lock = fork_safe_lock()


def get_dashboard_manager() -> DashboardManager:
    """The process-wide dashboard manager, with the built-in dashboards registered."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                from zgen_otel.dashboards.builtin import builtin_dashboards

                manager = DashboardManager()
                for dashboard in builtin_dashboards():
                    manager.register_dashboard(dashboard)
                _manager = manager
    return _manager


def _check_window(options: dict[str, Any]) -> None:
    options["window_seconds"] = positive_seconds("window_seconds", options.get("window_seconds", DEFAULT_WINDOW))


def render_dashboard(name: str, format: str = "html", **options: Any) -> str:
    """Render a dashboard as an HTML page or as a ``str`` of JSON.

    Args:
        name: a registered dashboard (``system``, ``performance``, ``alerts``, ``metrics``, or your own).
        format: ``"html"`` or ``"json"``.
        options: ``window_seconds`` (default 3600) and any option the dashboard accepts.

    Raises:
        KeyError: unknown dashboard (the message lists the available ones). ValueError: unknown format or option.
    """
    if not isinstance(format, str) or format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {safe_repr(format)}")
    dashboard = get_dashboard_manager().get_dashboard(name)
    _check_window(options)
    if format == "json":
        doc = dashboard.document(**options)
        try:
            return json.dumps(doc, default=_json_default, allow_nan=False)
        except ValueError:  # a NaN or infinity somewhere (e.g. the mean of huge values): JSON has null for them
            return json.dumps(_finite(doc), default=_json_default, allow_nan=False)
    return dashboard.to_html(**options)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _finite(value: Any) -> Any:
    """A copy of a JSON-ready document with every NaN or infinite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def render_dashboard_index(**options: Any) -> str:
    """An HTML page linking every registered dashboard with its title and description.

    Options: ``link``, the address of each dashboard with ``{name}`` in it (default ``"{name}.html"``).

    Raises:
        ValueError: an unknown option, or a ``link`` that is not a str.
    """
    unknown = sorted(set(options) - {"link"}, key=str)
    if unknown:
        raise ValueError(f"unknown index option(s) {unknown}; the index accepts ['link']")
    link = options.get("link", "{name}.html")
    if not isinstance(link, str):
        raise ValueError(f"link must be a str such as '{{name}}.html'; got {safe_repr(link)}")
    dashboards = get_dashboard_manager().list_dashboards()
    return _env.get_template("index.html").render(dashboards=dashboards, link=link, generated_at=_iso(time.time()))
