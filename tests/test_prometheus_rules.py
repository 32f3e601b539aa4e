"""The Prometheus rule export, checked and unit-tested by a real promtool."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import pytest

import zgen_otel
from tests.support.binaries import require_binary
from zgen_otel.alerting import DEFAULT_RULES, export_prometheus_rules, get_alert_manager


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
