"""Dashboards: the base class, the registry (`DashboardManager`) and the render functions.

A dashboard implements `Dashboard.get_data` (a dict, usually with ``panels``); the default
`Dashboard.to_html` draws it as a complete, self-contained HTML page (inline CSS, server-side SVG
charts, a few lines of inline script for hover values and sorting; no network). ``render_dashboard(name,
format="json")`` returns a ``str`` of JSON with a stable schema (see the README).

This module knows no particular dashboard: the built-in ones (`zgen_otel.dashboards.builtin`,
`zgen_otel.dashboards.traces_logs`) import it, and the package ``zgen_otel.dashboards`` hands them to
the process-wide manager with `set_builtin_dashboards` when it is imported.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from zgen_otel import _current
from zgen_otel._fork import fork_safe_lock
from zgen_otel._util import safe_repr
from zgen_otel._validate import positive_seconds
from zgen_otel.dashboards.charts import panel_chart, panel_sparkline, series_style
from zgen_otel.dashboards.overview import key_numbers, page_service
from zgen_otel.dashboards.rendering import environment, format_time, window
from zgen_otel.exceptions import DefinitionError, NotFoundError
from zgen_otel.selection import Selection, describe, waiting_line

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = [
    "DEFAULT_WINDOW",
    "MIN_CHART_SPAN",
    "Dashboard",
    "DashboardManager",
    "chart_start",
    "data_start",
    "get_dashboard_manager",
    "render_dashboard",
    "render_dashboard_index",
    "render_page",
    "reset",
    "set_builtin_dashboards",
]

DEFAULT_WINDOW = 3600.0
FORMATS = ("html", "json")


class Dashboard:
    """Base class of a dashboard: set ``name``, ``title``, ``description`` and implement `get_data`.

    ``get_data`` may accept ``window_seconds`` and any options of its own as keyword arguments;
    ``render_dashboard`` passes only the options it accepts and rejects the others. A ``get_data`` (or
    ``to_html``) with a ``runtime`` parameter is given the runtime to read; one without it (as written before
    that parameter existed) is called as before and reads the current runtime. Likewise the selection of
    processes (``service`` and ``instance``, see `zgen_otel.selection`) reaches a ``get_data`` that takes
    those parameters; one that does not shows what it always showed, and its page says so.

    Args:
        name: the name it is registered and rendered by (``render_dashboard(name)``); by default the
            class's ``name``, else the class name in lower case.
        title: the heading of its page; by default the class's ``title``, else the name.
        description: the line under the heading; by default the class's ``description``.

    Attributes:
        name: the name it is registered and rendered by.
        title: the heading of its page.
        description: the line under the heading (may be empty).

    Raises:
        DefinitionError: the name is not a non-empty str.
    """

    name: str = ""
    title: str = ""
    description: str = ""

    def __init__(self, name: str | None = None, title: str | None = None, description: str | None = None) -> None:
        self.name = name or self.name or type(self).__name__.lower()
        self.title = title or self.title or self.name
        self.description = description if description is not None else self.description
        if not isinstance(self.name, str) or not self.name.strip():
            raise DefinitionError(f"dashboard name must be a non-empty str; got {safe_repr(self.name)}")

    def get_data(self, window_seconds: float = DEFAULT_WINDOW) -> dict[str, Any]:
        """The dashboard's content over the last ``window_seconds``: a dict, with ``panels``. Override this.

        Overrides may add keyword options of their own, take no ``window_seconds`` at all, and may add a
        keyword parameter ``runtime: Runtime | None = None`` (the runtime to read; ``None`` means the current
        one), as the built-in dashboards do. The base signature leaves it out, so an override without it
        still type-checks.

        Args:
            window_seconds: how far back the dashboard looks, in seconds (an hour by default).

        Returns:
            The content: usually ``{"panels": [...]}``; other keys are kept in the JSON document and
            shown on the page.

        Raises:
            NotImplementedError: the subclass does not implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement get_data()")

    def document(self, *, runtime: Runtime | None = None, **options: Any) -> dict[str, Any]:
        """``get_data`` wrapped in the JSON schema: name, title, description, generated_at, time_range.

        Args:
            runtime: the runtime to read and whose clock ends the window; the current one by default.
            options: ``window_seconds``, ``service`` and ``instance`` (the processes shown) and the options
                ``get_data`` accepts.

        Returns:
            The document ``render_dashboard(name, format="json")`` sends: ``name``, ``title``,
            ``description``, ``generated_at``, ``time_range``, ``selection`` and ``panels``, with what
            ``get_data`` returned on top.

        Raises:
            ValueError: an option ``get_data`` does not accept, or a ``service`` or ``instance`` longer than 255
                characters.
            TypeError: ``get_data`` returned something other than a dict, or ``service`` or ``instance`` is not
                a str.
        """
        rt = runtime or _current.get_runtime()
        window_seconds = options.get("window_seconds", DEFAULT_WINDOW)
        selection = Selection(options.get("service"), options.get("instance"))
        options = {k: v for k, v in options.items() if v is not None or k not in _SELECTION}  # None: all processes
        data = _call(self.get_data, options, rt)
        if not isinstance(data, dict):
            raise TypeError(f"{type(self).__name__}.get_data() must return a dict; got {type(data).__name__}")
        start, now = window(window_seconds, rt)
        doc: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "generated_at": format_time(now),
            "time_range": {"start": start, "end": now, "window_seconds": window_seconds},
            "selection": {**selection.to_dict(), "applied": _takes(self.get_data, "service")},
            "panels": [],
        }
        doc.update(data)
        return doc

    def to_html(self, *, runtime: Runtime | None = None, **options: Any) -> str:
        """A complete, self-contained HTML page of `get_data`.

        The charts share one time axis that fits the data: see `chart_start`.

        Args:
            runtime: the runtime to read and whose clock ends the window; the current one by default.
            options: as for `document`, and ``interactive`` (True: the page is the live web page's, with its
                controls, rather than a file).

        Returns:
            The page: inline CSS, server-side SVG charts, no network.

        Raises:
            ValueError, TypeError: as for `document`.
        """
        rt = runtime or _current.get_runtime()
        doc = self.document(runtime=rt, **options)
        extra = {k: v for k, v in doc.items() if k not in _RESERVED}
        first = chart_start(doc["panels"], doc["time_range"]["start"], doc["time_range"]["end"])

        def chart(panel: Mapping[str, Any], start: float, end: float) -> Any:
            return panel_chart(panel, max(start, first), end)

        return render_page("dashboard.html", doc, rt, options, extra=extra, api_base=options.get("api_base", ""),
                           chart=chart, spark=panel_sparkline, style=series_style)  # fmt: skip


def render_page(
    template: str, doc: Mapping[str, Any], runtime: Runtime, options: Mapping[str, Any], **values: Any
) -> str:
    """A page template rendered with what every page's header shows.

    Args:
        template: the template's name (``dashboard.html``, ``alerts.html``, ...).
        doc: the dashboard's document (`Dashboard.document`).
        runtime: the runtime the document was read from.
        options: the render options: ``interactive`` (the live web page), ``service`` and ``instance``.
        values: what else the template reads.

    Returns:
        The page, whose header names the service in view (`page_service`).
    """
    service = page_service(runtime, Selection(options.get("service"), options.get("instance")))
    return environment.get_template(template).render(
        doc=doc, interactive=bool(options.get("interactive")), service=service, **values
    )


#: The shortest time axis of a chart, in seconds: a minute, however little data there is.
MIN_CHART_SPAN = 60.0


def chart_start(panels: Iterable[Mapping[str, Any]], start: float, end: float) -> float:
    """Where the charts of a page start: at their first point, so 2 minutes of data are not drawn on a 1-hour axis.

    Args:
        panels: the page's panels; the ``timeseries`` ones are read.
        start: the start of the window asked for (the charts never start before it).
        end: the window's end (now).

    Returns:
        The first point's time, at most ``end - MIN_CHART_SPAN`` (the axis spans a minute at least) and
        never before ``start``; ``start`` when no chart has a point.
    """
    firsts = [float(p[0]) for panel in panels if panel.get("type") == "timeseries"
              for s in panel.get("series", ()) for p in s.get("points", ())[:1]]  # fmt: skip
    return data_start(firsts, start, end)


def data_start(firsts: Iterable[float], start: float, end: float) -> float:
    """Where the data of a window starts: its earliest time, at most ``end - MIN_CHART_SPAN``, never before ``start``.

    Args:
        firsts: the first time of each line (any order); none: the window's ``start``.
        start: the start of the window asked for.
        end: the window's end (now).
    """
    return max(start, min(min(firsts, default=start), end - MIN_CHART_SPAN))


_RESERVED = {"name", "title", "description", "generated_at", "time_range", "selection", "panels"}
_SELECTION = ("service", "instance")
_RENDER_OPTIONS = {"window_seconds", "interactive", "api_base", *_SELECTION}


def _takes(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name`` (by name or through ``**options``)."""
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _runtime_argument(params: Mapping[str, inspect.Parameter], runtime: Runtime) -> dict[str, Runtime]:
    """``{"runtime": runtime}`` for a method with a ``runtime`` parameter; nothing for one written without it."""
    return {"runtime": runtime} if "runtime" in params else {}


def _call(fn: Callable[..., Any], options: Mapping[str, Any], runtime: Runtime) -> Any:
    """Call ``fn`` with the options it accepts (and ``runtime`` if it takes it); ``ValueError`` for other options."""
    params = inspect.signature(fn).parameters
    given = _runtime_argument(params, runtime)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(**options, **given)
    accepted = {k: v for k, v in options.items() if k in params}
    unknown = sorted(set(options) - set(accepted) - _RENDER_OPTIONS)
    if unknown:
        raise ValueError(f"unknown dashboard option(s) {unknown}; this dashboard accepts {sorted(params)}")
    return fn(**accepted, **given)


class DashboardManager:
    """The registry of dashboards, built-in and custom.

    Args:
        builtins: makes the dashboards the manager starts with and holds again after `reset`.
    """

    def __init__(self, builtins: Callable[[], Iterable[Dashboard]] | None = None) -> None:
        self._builtins = builtins
        self._lock = fork_safe_lock()
        self._dashboards = self._fresh()

    def _fresh(self) -> dict[str, Dashboard]:
        return {d.name: d for d in self._builtins()} if self._builtins is not None else {}

    def register_dashboard(self, dashboard: Dashboard, *, replace: bool = False) -> Dashboard:
        """Add a dashboard, so that ``render_dashboard(dashboard.name)`` and the index show it.

        Args:
            dashboard: the dashboard to add.
            replace: replace a dashboard of the same name (a built-in one too) instead of refusing it.

        Returns:
            The dashboard given.

        Raises:
            TypeError: ``dashboard`` is not a `Dashboard`.
            DefinitionError: the name is taken and ``replace`` is False.
        """
        if not isinstance(dashboard, Dashboard):
            raise TypeError(f"dashboard must be a zgen_otel Dashboard; got {safe_repr(dashboard)}")
        with self._lock:
            if dashboard.name in self._dashboards and not replace:
                raise DefinitionError(f"a dashboard named {dashboard.name!r} exists; pass replace=True to replace it")
            self._dashboards[dashboard.name] = dashboard
        return dashboard

    def unregister_dashboard(self, name: str) -> bool:
        """Remove a dashboard; return whether it was registered.

        Args:
            name: the dashboard's name.

        Returns:
            True when it was registered (and is removed now), False when there was none of that name.
        """
        if not isinstance(name, str):
            return False  # never a dashboard's name
        with self._lock:
            return self._dashboards.pop(name, None) is not None

    def get_dashboard(self, name: str) -> Dashboard:
        """The dashboard called ``name``.

        Args:
            name: the dashboard's name, such as ``"system"``.

        Returns:
            The registered dashboard.

        Raises:
            NotFoundError: no such dashboard (a ``KeyError``; the message lists the available ones).
        """
        try:
            return self._dashboards[name]
        except (KeyError, TypeError):
            available = sorted(self._dashboards)
            raise NotFoundError(f"no dashboard named {safe_repr(name)}; available: {available}") from None

    def list_dashboards(self) -> list[Dashboard]:
        """Every registered dashboard, by name.

        Returns:
            The dashboards, sorted by name.
        """
        with self._lock:
            return [self._dashboards[n] for n in sorted(self._dashboards)]

    def reset(self) -> None:
        """Remove every dashboard registered since the manager was made; the built-in ones are made anew."""
        fresh = self._fresh()
        with self._lock:
            self._dashboards = fresh


_manager = DashboardManager()


def set_builtin_dashboards(builtins: Callable[[], Iterable[Dashboard]]) -> None:
    """Give the process-wide manager its built-in dashboards (``zgen_otel.dashboards`` does this on import).

    Args:
        builtins: makes new instances of the built-in dashboards, now and on every `reset`.
    """
    global _manager
    _manager = DashboardManager(builtins)


def get_dashboard_manager() -> DashboardManager:
    """The process-wide dashboard manager, with the built-in dashboards registered.

    Register your own dashboards on it (`DashboardManager.register_dashboard`) to render them by name.

    Returns:
        The manager that `render_dashboard` and the web page read.
    """
    return _manager


def reset() -> None:
    """Forget the custom dashboards: the process-wide manager holds new built-in ones only.

    ``zgen_otel.testing.reset()`` calls this. ``zgen_otel.configure()`` does not: a dashboard registered
    before configuring stays registered.
    """
    _manager.reset()


def _check_options(options: dict[str, Any]) -> None:
    """Check the window and the selection; the window gets its default."""
    options["window_seconds"] = positive_seconds("window_seconds", options.get("window_seconds", DEFAULT_WINDOW))
    Selection(options.get("service"), options.get("instance"))


def render_dashboard(name: str, format: str = "html", *, runtime: Runtime | None = None, **options: Any) -> str:
    """Render a dashboard as an HTML page or as a ``str`` of JSON.

    Args:
        name: a registered dashboard (``system``, ``performance``, ``alerts``, ``metrics``, or your own).
        format: ``"html"`` or ``"json"``.
        runtime: the runtime to read; the current one by default.
        options: ``window_seconds`` (default 3600), ``service`` and ``instance`` (the processes shown, by the
            dashboards that take them; all by default) and any option the dashboard accepts.

    Returns:
        The HTML page, or the JSON document (`Dashboard.document`, NaN and infinite numbers as ``null``).

    Raises:
        NotFoundError: unknown dashboard (a ``KeyError``; the message lists the available ones).
        TypeError: a ``service`` or ``instance`` that is not a str.
        ValueError: unknown format or option, or a ``window_seconds`` that is not a finite number > 0.
    """
    if not isinstance(format, str) or format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {safe_repr(format)}")
    dashboard = get_dashboard_manager().get_dashboard(name)
    _check_options(options)
    rt = runtime or _current.get_runtime()
    if format == "json":
        doc = dashboard.document(runtime=rt, **options)
        try:
            return json.dumps(doc, default=_json_default, allow_nan=False)
        except ValueError:  # a NaN or infinity somewhere (e.g. the mean of huge values): JSON has null for them
            return json.dumps(_finite(doc), default=_json_default, allow_nan=False)
    return dashboard.to_html(**options, **_runtime_argument(inspect.signature(dashboard.to_html).parameters, rt))


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


def render_dashboard_index(*, runtime: Runtime | None = None, **options: Any) -> str:
    """An HTML page leading with the key numbers, then linking every registered dashboard.

    The key numbers (`key_numbers`): the alerts firing by severity, the
    tracked calls and their error rate over the last hour, and this host's CPU and memory now.

    Args:
        runtime: the runtime whose clock dates the page; the current one by default.
        options: ``link``, the address of each dashboard with ``{name}`` in it (default ``"{name}.html"``);
            ``services`` (default False): on a runtime that receives OTLP, list this process and every
            sender with its last-seen time (stale ones marked), and, while none has sent, tell how to point
            an agent at it.

    Returns:
        The index page, linking each dashboard by ``link``.

    Raises:
        ValueError: an unknown option, a ``link`` that is not a str, or ``services`` that is not a bool.
    """
    unknown = sorted(set(options) - _INDEX_OPTIONS, key=str)
    if unknown:
        raise ValueError(f"unknown index option(s) {unknown}; the index accepts {sorted(_INDEX_OPTIONS)}")
    link, services = options.get("link", "{name}.html"), options.get("services", False)
    if not isinstance(link, str):
        raise ValueError(f"link must be a str such as '{{name}}.html'; got {safe_repr(link)}")
    if not isinstance(services, bool):
        raise ValueError(f"services must be True or False; got {safe_repr(services)}")
    rt = runtime or _current.get_runtime()
    listed = services and rt.receiver is not None
    return environment.get_template("index.html").render(
        dashboards=get_dashboard_manager().list_dashboards(), link=link, generated_at=format_time(rt.clock()),
        now=rt.clock(), processes=describe(rt) if listed else None, hint=waiting_line(rt) if listed else None,
        keys=key_numbers(rt), service=page_service(rt),
    )  # fmt: skip


_INDEX_OPTIONS = {"link", "services"}
