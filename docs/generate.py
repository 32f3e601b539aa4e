"""Write the docs' generated tables from the tables the code uses, so that the pages never drift.

* ``docs/configuration.md``: every setting, from :data:`zgen_otel.variables.ENV_VARS` (variable, keyword,
  default from :class:`zgen_otel.config.Settings`, what it does) and the variables read where they are used
  (:data:`zgen_otel.variables.ENVIRONMENT_ONLY`);
* ``docs/metric-names.md``: every metric the package emits, from :mod:`zgen_otel.semconv`.

Each table sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->`` in its page; the rest of the
page is written by hand. Run ``python docs/generate.py`` after changing a setting or a metric;
``python docs/generate.py --check`` exits with status 1 when a page is not up to date (a test runs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from zgen_otel import semconv
from zgen_otel.config import Settings
from zgen_otel.variables import ENV_VARS, ENVIRONMENT_ONLY

DOCS = Path(__file__).resolve().parent
_KINDS = {"counter": "counter", "updown": "up-down counter", "gauge": "gauge", "histogram": "histogram"}


def _cell(text: str) -> str:
    """Text for a Markdown table cell (a ``|`` would end the cell)."""
    return text.replace("|", "\\|")


def _shown(value: object) -> str:
    """A default as the page shows it: ``true``, ``60``, ``none``."""
    if value is None or value in ((), {}):
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def settings_table() -> str:
    """The Configuration page's table: one row per variable."""
    defaults = {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(Settings)}  # fmt: skip
    rows = ["| variable | `configure()` keyword | default | what it does |", "|---|---|---|---|"]
    for keyword, variable in ENV_VARS.items():
        default = variable.shown_default or _shown(defaults[keyword])
        rows.append(f"| `{variable.env}` | `{keyword}` | {_cell(default)} | {_cell(variable.doc)} |")
    for env, (where, default, doc) in ENVIRONMENT_ONLY.items():
        rows.append(f"| `{env}` | {_cell(where)} | {_cell(default)} | {_cell(doc)} |")
    return "\n".join(rows)


def _metric_rows(specs: Iterable[semconv.MetricSpec]) -> list[str]:
    rows = ["| name | kind | unit | attributes | what it measures |", "|---|---|---|---|---|"]
    for m in specs:
        attributes = ", ".join(f"`{a}`" for a in m.attributes) or "none"
        rows.append(f"| `{m.name}` | {_KINDS[m.kind]} | `{_cell(m.unit)}` | {attributes} | {_cell(m.description)} |")
    return rows


def metrics_table() -> str:
    """The Metric names page's tables: the package's instruments, then the system monitor's two families."""
    parts = [
        ("## Tracking, LLM calls, requests, tasks and alerts", semconv.PACKAGE_INSTRUMENTS),
        ("## System monitor: OpenTelemetry names", semconv.SYSTEM_INSTRUMENTS),
        ("## System monitor: local convenience series", semconv.SYSTEM_LOCAL_SERIES),
    ]
    return "\n\n".join("\n".join([title, "", *_metric_rows(specs)]) for title, specs in parts)


PAGES: dict[str, dict[str, Callable[[], str]]] = {
    "configuration.md": {"settings": settings_table},
    "metric-names.md": {"metrics": metrics_table},
}


def render(page: str, text: str) -> str:
    """``text`` of ``page`` with each of its generated tables written anew."""
    for name, make in PAGES[page].items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end: {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"docs/{page}: no '<!-- generated: {name} -->' ... '<!-- end: {name} -->' block")
        table = make()
        text = pattern.sub(lambda m, table=table: m.group(1) + table + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    """Write the generated tables (or, with ``--check``, say which page is out of date: status 1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a page is out of date")
    args = parser.parse_args(argv)
    stale = []
    for page in PAGES:
        path = DOCS / page
        old = path.read_text(encoding="utf-8")
        new = render(page, old)
        if new != old:
            stale.append(page)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run: python docs/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
