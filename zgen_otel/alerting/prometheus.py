"""Export metric rules as a Prometheus rule file, so the fleet's Prometheus alerts on the same conditions.

The file is YAML written by hand (JSON-quoted strings are valid YAML), so no YAML library is needed. A rule
names its metric the way Prometheus stores it, which depends on how the metric got there (the route):

* ``scrape`` (the default): Prometheus scrapes the agent's ``/metrics``, served by OTel's Prometheus exporter
  (opentelemetry-exporter-prometheus); the names are that exporter's own translation
  (`zgen_otel._sdk.prometheus_naming`): ``system.load_1m`` (unit ``1``) -> ``system_load_1m``,
  ``By/s`` -> ``_bytes_per_second``, a counter -> ``_total``.
* ``collector``: the agent sends OTLP to an OpenTelemetry Collector whose ``prometheusremotewrite`` or
  ``prometheus`` exporter names the metrics (Go, prometheus/otlptranslator): the same unit words, but a gauge
  of unit ``1`` gets ``_ratio`` (``system_load_1m_ratio``) and a unit word already among the name's words is
  not repeated.

Custom Python conditions cannot be expressed in PromQL: they are skipped with a comment in the file and a
warning.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import get_args

from zgen_otel._sdk import PrometheusNaming, prometheus_naming
from zgen_otel._util import safe_repr
from zgen_otel.alerting.rules import CustomRule, MetricRule
from zgen_otel.exceptions import DefinitionError
from zgen_otel.semconv import Kind

__all__ = ["ROUTES", "prometheus_metric_name", "render_rules"]

_log = logging.getLogger(__name__)
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_TOKEN_SPLIT = re.compile(r"[^a-zA-Z0-9:]+")

#: How metrics reach Prometheus, which decides their names: route -> what it means.
ROUTES = {
    "scrape": "Prometheus scrapes each agent's /metrics (names of OTel's Prometheus exporter)",
    "collector": "agents send OTLP to an OpenTelemetry Collector that remote-writes to Prometheus or is scraped by "
    "it (names of its prometheusremotewrite and prometheus exporters)",
}
_EXTRA = "pip install 'zgen-otel[prometheus]'"
_UNKNOWN: tuple[Kind | None, str] = (None, "")  # a metric the rule file knows nothing of: no kind, no unit


def _naming() -> PrometheusNaming:
    """The exporter's ``(sanitize_name, map_unit)``; an ImportError that says what to install where it is missing."""
    try:
        return prometheus_naming()
    except ImportError as exc:
        raise ImportError(
            f"Prometheus names come from OTel's Prometheus exporter, which is not installed ({exc}): {_EXTRA}"
        ) from exc


def _scrape_name(name: str, unit: str, kind: Kind, naming: PrometheusNaming) -> str:
    """The exporter's name, through prometheus_client's metric families as the exporter builds them."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    sanitize, map_unit = naming
    base, word = sanitize(name), map_unit(unit)
    if kind == "counter":  # the sample Prometheus stores: the family's name with _total
        sample: str = CounterMetricFamily(base, "", value=0, unit=word).samples[0].name
        return sample
    family = HistogramMetricFamily if kind == "histogram" else GaugeMetricFamily
    served: str = family(base, "", unit=word).name
    return served


def _collector_name(name: str, unit: str, kind: Kind, naming: PrometheusNaming) -> str:
    """The collector's name (prometheus/otlptranslator, ``UnderscoreEscapingWithSuffixes``), on the same unit words.

    The name's words are split at every character outside ``[a-zA-Z0-9:]``; the main unit word is added unless
    it is one of them, then the ``per_<unit>`` word (the translator compares it, underscore included, with the
    single words, so it is always added); ``_total`` ends a counter, ``_ratio`` a gauge of unit ``1``. A unit
    part in braces (``{packet}``) gives no word.
    """
    map_unit = naming[1]
    main, _, per = (part.strip() for part in unit.partition("/"))
    main_word = "" if "{" in main or "}" in main else map_unit(main)
    per_word = "" if not per or "{" in per or "}" in per else map_unit(f"/{per}")
    tokens = [t for t in _TOKEN_SPLIT.split(name) if t]
    tokens += [word for word in (main_word, per_word) if word and word not in tokens]
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    joined = "_".join(tokens)
    return f"_{joined}" if joined[:1].isdigit() else joined


def _check_route(route: object) -> str:
    if not isinstance(route, str) or route not in ROUTES:
        raise DefinitionError(f"route must be one of {', '.join(ROUTES)}; got {safe_repr(route)}")
    return route


def prometheus_metric_name(name: str, unit: str = "", kind: Kind = "gauge", route: str = "scrape") -> str:
    """The name Prometheus stores an OTel metric under.

    For example ``system.net_recv`` (unit ``By/s``) is ``system_net_recv_bytes_per_second`` on both routes, and
    ``system.load_1m`` (unit ``1``) is ``system_load_1m`` when scraped and ``system_load_1m_ratio`` through a
    collector.

    Args:
        name: the OTel metric name.
        unit: its OTel unit (``By``, ``s``, ``%``, ``{packet}/s``...).
        kind: ``gauge``, ``updown``, ``counter`` (named by its ``_total`` sample) or ``histogram`` (its base
            name: its series add ``_bucket``, ``_sum`` and ``_count``).
        route: how the metric reaches Prometheus, one of ``ROUTES`` (``scrape``: the agent's ``/metrics``).

    Returns:
        The Prometheus metric name.

    Raises:
        DefinitionError: an unknown ``kind`` or ``route``.
        ImportError: opentelemetry-exporter-prometheus (the ``prometheus`` extra), whose unit words both routes
            use, is not installed.
    """
    if kind not in get_args(Kind):
        raise DefinitionError(f"kind must be one of {', '.join(get_args(Kind))}; got {safe_repr(kind)}")
    translate = _scrape_name if _check_route(route) == "scrape" else _collector_name
    return translate(name, unit, kind, _naming())


def _q(text: str) -> str:
    return json.dumps(text)


def _expr(rule: MetricRule, metric: tuple[Kind | None, str], route: str) -> str:
    known, unit = metric
    # increase() watches a counter: a metric of unknown kind is taken as one then, else as a gauge
    kind: Kind = known or ("counter" if rule.aggregate == "increase" else "gauge")
    name = prometheus_metric_name(rule.metric_name, unit, kind, route)
    selector = ",".join(f"{_INVALID.sub('_', k)}={_q(str(v))}" for k, v in sorted(rule.attributes.items()))
    series = f"{name}{{{selector}}}" if selector else name
    window = f"[{max(1, round(rule.window or 0))}s]"
    if rule.aggregate == "increase":
        series = f"increase({series}{window})"
    elif rule.aggregate is not None:
        series = f"{rule.aggregate}_over_time({series}{window})"
    t = rule.threshold
    return f"{series} {rule.operator} {int(t) if t.is_integer() else repr(t)}"


def render_rules(
    rules: Iterable[MetricRule | CustomRule],
    metrics: Mapping[str, tuple[Kind | None, str]],
    group: str = "zgen_otel",
    route: str = "scrape",
) -> str:
    """The rule file for ``rules``.

    Args:
        rules: the rules to write; custom Python conditions become a comment (and a warning).
        metrics: ``(kind, unit)`` of each metric the rules may watch, by name (for name translation); kind None
            where unknown (a counter for ``aggregate="increase"``, else a gauge). A metric not in it has no unit.
        group: the rule group's name.
        route: how the metrics reach Prometheus, one of `ROUTES`.

    Raises:
        DefinitionError: an unknown ``route``.
        ImportError: the ``prometheus`` extra is not installed (see `prometheus_metric_name`).
    """
    header = ["# Generated by zgen-otel from its alert rules: the same conditions for the fleet's Prometheus.",
              f"# Metric names for the route {_check_route(route)!r} (zgen-otel rules export --route): "
              f"{ROUTES[route]}.",
              "groups:", f"  - name: {_q(group)}"]  # fmt: skip
    lines: list[str] = []
    written = 0
    for rule in rules:
        if isinstance(rule, CustomRule):
            lines.append(f"      # skipped rule {rule.name}: a custom Python condition has no PromQL form")
            _log.warning("zgen_otel: rule %r is a custom Python condition and is not exported", rule.name)
            continue
        labels = {"severity": rule.severity.label, **({"category": rule.category} if rule.category else {}),
                  **rule.labels}  # fmt: skip
        annotations = {"description": rule.description, **rule.annotations}
        if rule.clear_threshold is not None:
            lines.append(f"      # zgen_otel clears {rule.name} at {rule.clear_threshold:g}; PromQL has no hysteresis")
        lines += [
            f"      - alert: {_q(rule.name)}",
            f"        expr: {_q(_expr(rule, metrics.get(rule.metric_name, _UNKNOWN), route))}",
            f"        for: {int(rule.duration)}s",
        ]
        if rule.keep_firing_for:
            lines.append(f"        keep_firing_for: {int(rule.keep_firing_for)}s")
        lines.append("        labels:")
        lines += [f"          {_q(k)}: {_q(v)}" for k, v in labels.items()]
        lines.append("        annotations:")
        lines += [f"          {_q(k)}: {_q(v)}" for k, v in annotations.items()]
        written += 1
    return "\n".join([*header, "    rules:" if written else "    rules: []", *lines]) + "\n"
