"""The dashboards' Jinja environment, and environments of the same kind over other packages' templates.

:data:`environment` loads ``zgen_otel/dashboards/templates`` with HTML autoescaping and the dashboards'
filters. :func:`make_environment` builds one over another package's templates (the web page's login form and
live script) that also finds the dashboards' shared partials (``_style.html``, ``_script.html``).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from jinja2 import ChoiceLoader, Environment, FunctionLoader, select_autoescape

from zgen_otel.dashboards.charts import format_value

__all__ = ["environment", "make_environment"]


def _package_loader(package: str, folder: str) -> FunctionLoader:
    """A loader of the templates in ``folder`` of ``package`` (an installed package's data files)."""

    def load(name: str) -> str | None:
        path = resources.files(package).joinpath(folder).joinpath(name)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    return FunctionLoader(load)


def _new_environment(*loaders: FunctionLoader) -> Environment:
    """An autoescaping environment over ``loaders`` (first match wins) with the dashboards' filters."""
    env = Environment(loader=ChoiceLoader(list(loaders)), autoescape=select_autoescape(default=True))
    env.filters.update(_FILTERS)
    return env


_FILTERS: dict[str, Callable[..., str]] = {"value": format_value}
_DASHBOARD_TEMPLATES = _package_loader("zgen_otel.dashboards", "templates")

#: The dashboards' environment: ``zgen_otel/dashboards/templates``, autoescaped, with their filters.
environment = _new_environment(_DASHBOARD_TEMPLATES)


def make_environment(package: str, folder: str = "templates") -> Environment:
    """An environment over the templates in ``folder`` of ``package``, like :data:`environment`.

    Its templates may include the dashboards' partials (``{% include "_style.html" %}``).

    Args:
        package: an importable package, e.g. ``"zgen_otel.http"``.
        folder: the templates' folder inside it.

    Returns:
        An autoescaping ``jinja2.Environment`` with the dashboards' filters.
    """
    return _new_environment(_package_loader(package, folder), _DASHBOARD_TEMPLATES)
