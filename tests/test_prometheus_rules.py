"""Prometheus names and the rule export: the names the real exporter serves, checked and unit-tested by promtool."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import zgen_otel
from tests.support.binaries import require_binary
from tests.support.nvml import fake_pynvml
from tests.support.servers import serving
from zgen_otel import semconv
from zgen_otel.alerting import (
    DEFAULT_RULES,
    export_prometheus_rules,
    get_alert_manager,
    prometheus_metric_name,
    trigger_alert,
)
from zgen_otel.exceptions import DefinitionError


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run Debian's promtool (skipped where it is not installed, required in CI)."""
    return subprocess.run([require_binary("promtool"), *args], capture_output=True, text=True, timeout=60)


def rule_blocks(text: str) -> dict[str, list[str]]:
    """Each exported rule's lines (stripped), by alert name."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("- alert: "):
            current = blocks.setdefault(json.loads(stripped.removeprefix("- alert: ")), [])
        elif stripped.startswith("#"):
            current = None
        elif current is not None:
            current.append(stripped)
    return blocks


def expr_of(block: list[str]) -> str:
    (line,) = [x for x in block if x.startswith("expr: ")]
    expr: str = json.loads(line.removeprefix("expr: "))
    return expr


PROMTOOL_TESTS = """\
rule_files:
  - {rules}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'system_cpu_percent'
        values: '95x20'
      - series: 'system_memory_percent'
        values: '50x20'
      - series: 'agent_errors{{agent_name="planner"}}'
        values: '7x20'
      - series: 'agent_errors{{agent_name="coder"}}'
        values: '7x20'
      - series: 'llm_latency_seconds{{model="steady"}}'
        values: '3x20'
      - series: 'llm_latency_seconds{{model="recent"}}'
        values: '0x9 3x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: system_cpu_high
        exp_alerts: []
      - eval_time: 6m
        alertname: system_cpu_high
        exp_alerts:
          - exp_labels: {{severity: warning, category: system}}
            exp_annotations: {{description: {cpu_description}}}
      - eval_time: 6m
        alertname: system_memory_high
        exp_alerts: []
      - eval_time: 2m
        alertname: agent_errors_high
        exp_alerts:
          - exp_labels: {{severity: error, category: agent, team: agents, agent_name: planner}}
            exp_annotations: {{description: {errors_description}, runbook: "https://runbooks.example/errors"}}
      - eval_time: 12m
        alertname: llm_latency_avg_high
        exp_alerts:
          - exp_labels: {{severity: warning, category: llm, model: steady}}
            exp_annotations: {{description: "LLM latency averaged over 5 minutes above 2.5 s"}}
"""
ERRORS_DESCRIPTION = 'Agent errors "high": 5 or more, see #ops & the runbook'


def test_export_is_valid_for_promtool_and_means_the_same(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False)
    mgr = get_alert_manager()
    zgen_otel.record_metric("latency", 0.5, "llm", unit="s")  # the unit names the Prometheus metric
    mgr.add_metric_rule(
        "agent_errors_high", ERRORS_DESCRIPTION, "agent.errors", 5, ">=", duration=60, severity="error",
        category="agent", labels={"team": "agents"}, annotations={"runbook": "https://runbooks.example/errors"},
        attributes={"agent.name": "planner"}, keep_firing_for=120,
    )  # fmt: skip
    mgr.add_metric_rule(
        "llm_latency_avg_high", "LLM latency averaged over 5 minutes above 2.5 s", "llm.latency", 2.5, ">",
        duration=120, category="llm", aggregate="avg", window=300,
    )  # fmt: skip
    mgr.add_rule("custom_check", "a Python condition", condition=lambda: False)
    caplog.set_level(logging.WARNING, logger="zgen_otel")

    path = tmp_path / "rules.yml"
    text = export_prometheus_rules(path, group="zgen_agents")
    assert path.read_text() == text

    check = promtool("check", "rules", str(path))
    assert check.returncode == 0, check.stdout + check.stderr
    exported = len(DEFAULT_RULES) + 2
    assert f"SUCCESS: {exported} rules found" in check.stdout

    assert '  - name: "zgen_agents"' in text.splitlines()
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#") and "custom_check" in line]
    assert len(comments) == 1
    assert "custom_check" in caplog.text

    blocks = rule_blocks(text)
    assert sorted(blocks) == sorted([*DEFAULT_RULES, "agent_errors_high", "llm_latency_avg_high"])
    cpu = blocks["system_cpu_high"]
    assert expr_of(cpu) == "system_cpu_percent > 90"
    assert "for: 300s" in cpu
    assert '"severity": "warning"' in cpu
    assert '"category": "system"' in cpu
    assert expr_of(blocks["agent_errors_high"]) == 'agent_errors{agent_name="planner"} >= 5'
    assert "keep_firing_for: 120s" in blocks["agent_errors_high"]
    assert expr_of(blocks["llm_latency_avg_high"]) == "avg_over_time(llm_latency_seconds[300s]) > 2.5"

    tests = tmp_path / "rules_test.yml"
    tests.write_text(
        PROMTOOL_TESTS.format(
            rules=path.name,
            cpu_description=json.dumps(DEFAULT_RULES["system_cpu_high"]["description"]),
            errors_description=json.dumps(ERRORS_DESCRIPTION),
        )
    )
    result = promtool("test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_custom_rules_still_make_a_valid_file(tmp_path: Path) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    get_alert_manager().add_rule("only_custom", "a Python condition", condition=lambda: False)
    path = tmp_path / "rules.yml"
    text = export_prometheus_rules(path)
    check = promtool("check", "rules", str(path))
    assert check.returncode == 0, text + check.stdout + check.stderr
    assert "SUCCESS: 0 rules found" in check.stdout
    assert "    rules: []" in text.splitlines()
    assert any(line.lstrip().startswith("#") and "only_custom" in line for line in text.splitlines())
    assert rule_blocks(text) == {}


@pytest.mark.parametrize("threshold", [8 * 2**30, 1_234_567, 0.1234567])
def test_thresholds_keep_full_precision(threshold: float, tmp_path: Path) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    zgen_otel.record_metric("memory", 1.0, "process", unit="By")
    get_alert_manager().add_metric_rule("process_memory_high", "RSS too high", "process.memory", threshold, ">")
    path = tmp_path / "rules.yml"
    text = export_prometheus_rules(path)
    assert promtool("check", "rules", str(path)).returncode == 0
    expr = expr_of(rule_blocks(text)["process_memory_high"])
    name, op, value = expr.split(" ")
    assert (name, op) == ("process_memory_bytes", ">")
    assert float(value) == threshold, expr


# Every unit the Prometheus name translation once got wrong, and the common ones: unit -> the exporter's suffix.
UNITS = {
    "1": "", "W": "_watts", "By/s": "_bytes_per_second", "{x}/s": "_per_second", "min": "_minutes", "h": "_hours",
    "KiBy": "_kibibytes", "MBy": "_megabytes", "m/s": "_meters_per_second", "Hz": "_hertz", "us": "_microseconds",
    "%": "_percent", "By": "_bytes", "s": "_seconds",
}  # fmt: skip
_EXPR_NAME = re.compile(r"^(?:\w+\()?([a-zA-Z_:][a-zA-Z0-9_:]*)")


def metric_of(block: list[str]) -> str:
    """The metric name a rule's expression watches."""
    found = _EXPR_NAME.match(expr_of(block))
    assert found is not None, block
    return found.group(1)


def scrape(app: object) -> str:
    """The text of ``/metrics``, served over HTTP on 127.0.0.1."""
    with serving(app) as server:
        response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def served_families(text: str) -> dict[str, str]:
    """Metric family -> type, from the ``# TYPE`` lines of a scrape."""
    return dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))


def served_samples(text: str) -> set[str]:
    """Every sample name of a scrape (``name_total``, ``name_bucket``...)."""
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_rule_names_are_the_names_metrics_serves_for_every_unit(tmp_path: Path) -> None:
    """For each unit, a rule on a gauge of that unit names exactly the series the real exporter serves."""
    from zgen_otel.http import make_app
    from zgen_otel.performance import track

    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, prometheus=True)
    manager = get_alert_manager()
    for i, unit in enumerate(UNITS):
        zgen_otel.record_metric(f"u{i:02d}", 1.5, "probe", unit=unit)
        manager.add_metric_rule(f"probe_u{i:02d}", f"unit {unit}", f"probe.u{i:02d}", 1, ">")
    track("probe.step")(lambda: None)()  # a counter: zgen.operation.calls, watched with increase()
    manager.add_metric_rule("calls", "calls seen", "zgen.operation.calls", 0, ">", aggregate="increase", window=60)
    zgen_otel.get_runtime().performance.drain()

    text = export_prometheus_rules(tmp_path / "rules.yml")
    exported = {alert: metric_of(block) for alert, block in rule_blocks(text).items()}
    metrics = scrape(make_app())
    families, samples = served_families(metrics), served_samples(metrics)
    for i, (unit, suffix) in enumerate(UNITS.items()):
        assert exported[f"probe_u{i:02d}"] == f"probe_u{i:02d}{suffix}", unit
        assert families.get(f"probe_u{i:02d}{suffix}") == "gauge", (unit, sorted(families))
    assert exported["calls"] == "zgen_operation_calls_total"
    assert families["zgen_operation_calls_total"] == "counter" and "zgen_operation_calls_total" in samples
    assert promtool("check", "rules", str(tmp_path / "rules.yml")).returncode == 0


def test_the_collector_route_names_like_the_collector() -> None:
    """The collector (prometheus/otlptranslator) adds _ratio to a gauge of unit 1 and repeats no unit word."""
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    for unit, suffix in UNITS.items():
        want = "_ratio" if unit == "1" else suffix
        assert prometheus_metric_name("probe.x", unit, route="collector") == f"probe_x{want}", unit
    # The translator's own documented cases (its metric_namer_test.go), under zgen_otel's kinds.
    cases = {
        ("cpu_usage", "1", "gauge"): "cpu_usage_ratio",
        ("cpu_usage_ratio", "1", "gauge"): "cpu_usage_ratio",
        ("items", "1", "counter"): "items_total",
        ("http.requests", "1", "counter"): "http_requests_total",
        ("requests", "1/s", "counter"): "requests_per_second_total",
        ("response_time_seconds", "s", "gauge"): "response_time_seconds",
        ("custom_metric", "{custom}", "gauge"): "custom_metric",
        ("custom_metric", "By/{custom}", "gauge"): "custom_metric_bytes",
        ("metric__with__multiple__underscores", "", "gauge"): "metric_with_multiple_underscores",
        ("active_connections", "", "updown"): "active_connections",
        ("request_duration", "s", "histogram"): "request_duration_seconds",
    }
    for (name, unit, kind), want in cases.items():
        assert prometheus_metric_name(name, unit, kind, "collector") == want, (name, unit, kind)
    # Both routes agree on the system monitor's rate series, and on a gauge in % (the default rules).
    for spec in (
        semconv.SYSTEM_NET_RECV,
        semconv.SYSTEM_DISK_READ_OPS,
        semconv.SYSTEM_NET_DROPS,
        semconv.SYSTEM_CPU_PERCENT,
    ):
        names = {prometheus_metric_name(spec.name, spec.unit, spec.kind, route) for route in ("scrape", "collector")}
        assert len(names) == 1, names
    assert prometheus_metric_name("system.load_1m", "1") == "system_load_1m"
    assert prometheus_metric_name("system.load_1m", "1", route="collector") == "system_load_1m_ratio"


def test_export_for_the_collector_route(tmp_path: Path) -> None:
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    get_alert_manager().add_metric_rule("load_high", "load above 4", "system.load_1m", 4, ">")
    scraped = export_prometheus_rules(group="g")
    collected = export_prometheus_rules(tmp_path / "rules.yml", group="g", route="collector")
    assert expr_of(rule_blocks(scraped)["load_high"]) == "system_load_1m > 4"
    assert expr_of(rule_blocks(collected)["load_high"]) == "system_load_1m_ratio > 4"
    assert "route 'collector'" in collected.splitlines()[1]
    assert promtool("check", "rules", str(tmp_path / "rules.yml")).returncode == 0
    with pytest.raises(DefinitionError, match="route must be one of scrape, collector; got 'remote'"):
        export_prometheus_rules(route="remote")
    with pytest.raises(DefinitionError, match="kind must be one of"):
        prometheus_metric_name("x", kind="summary")


def test_cli_route_flag_and_missing_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from zgen_otel.cli import main

    monkeypatch.setenv("ZGEN_OTEL_SYSTEM_MONITOR", "false")
    target = tmp_path / "rules.yml"
    assert main(["rules", "export", "--route", "collector", "-o", str(target)]) == 0
    assert "route 'collector'" in target.read_text()
    # Without the `prometheus` extra (its modules made unimportable), the command says what to install.
    for module in ("opentelemetry.exporter.prometheus", "opentelemetry.exporter.prometheus._mapping"):
        monkeypatch.setitem(sys.modules, module, None)
    assert main(["rules", "export"]) == 2
    assert "pip install 'zgen-otel[prometheus]'" in capsys.readouterr().err


ALLOWED_LINT = re.compile(r'^(\w+_count) non-histogram and non-summary metrics should not have "_count" suffix$')


def test_every_instrument_on_metrics_passes_promtool_check_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every instrument is on /metrics with help text; promtool objects only to two semantic-convention names."""
    from zgen_otel.asgi import MonitoringMiddleware
    from zgen_otel.http import make_app
    from zgen_otel.llm import PriceTable, llm_call, set_price_table
    from zgen_otel.performance import track, track_agent, track_tool
    from zgen_otel.system_monitor import get_system_metrics
    from zgen_otel.tasks import task_run

    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml())  # two GPUs: the hw.* and system.gpu_* series
    zgen_otel.configure(interval=3600, system_monitor=False, prometheus=True)
    get_system_metrics()  # one sweep: every system series
    track("probe.step")(lambda: None)()
    track_agent("planner")(lambda: None)()
    track_tool("search")(lambda: None)()
    set_price_table(PriceTable({"probe-model": (1.0, 2.0)}))
    with llm_call("probe-model", provider="openai") as call:
        call.first_chunk()
        call.set_usage(input_tokens=10, output_tokens=5)
    trigger_alert("probe_alert", "an alert, for the zgen.alerts gauge")
    zgen_otel.record_metric("queue_depth", 3, "agent")
    with task_run("nightly"):  # task.last_success
        pass
    with serving(MonitoringMiddleware(make_app())) as server:  # an HTTP request through the ASGI middleware
        assert httpx.get(f"{server.url}/openapi.json", timeout=10).status_code == 200
    zgen_otel.get_runtime().performance.drain()
    text = scrape(make_app())

    families = served_families(text)
    made = {prometheus_metric_name(m.name, m.unit, m.kind) for m in semconv.ALL_INSTRUMENTS}  # counters: _total
    made.add("agent_queue_depth")
    assert made - set(families) == set(), "instruments missing from /metrics"
    helps = dict(line.split(" ", 3)[2:4] for line in text.splitlines() if line.startswith("# HELP "))
    assert [name for name in made if not helps.get(name)] == []

    (tmp_path / "metrics.txt").write_text(text)
    with (tmp_path / "metrics.txt").open() as stdin:
        lint = subprocess.run([require_binary("promtool"), "check", "metrics"], stdin=stdin, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    problems = [line for line in (lint.stdout + lint.stderr).splitlines() if line.strip()]
    kept = {m.group(1) for line in problems if (m := ALLOWED_LINT.match(line))}
    assert [line for line in problems if not ALLOWED_LINT.match(line)] == []
    # The OTel names process.thread.count and process.open_file_descriptor.count: kept as the conventions spell them.
    assert kept == {"process_thread_count", "process_open_file_descriptor_count"}
