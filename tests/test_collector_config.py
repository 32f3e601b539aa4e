"""collector-config/: valid for promtool and amtool, generated rules in sync, collector files real and complete."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.binaries import require_binary

CONFIG = Path(__file__).resolve().parent.parent / "collector-config"
KINDS = {"receivers": "receiver", "processors": "processor", "exporters": "exporter", "connectors": "connector",
         "extensions": "extension"}  # fmt: skip


def known_components() -> dict[tuple[str, str], str]:
    """The otelcol-contrib 0.136.0 components: (kind, type) -> Go module."""
    lines = (CONFIG / "otelcol-contrib-components.txt").read_text().splitlines()
    rows = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return {(kind, name): module for kind, name, module in rows}


def load(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((CONFIG / name).read_text())
    return config


def component_problems(config: dict[str, Any]) -> list[str]:
    """What a collector would refuse: unknown component types, pipelines naming undefined components."""
    known = known_components()
    problems = []
    defined: dict[str, set[str]] = {section: set(config.get(section) or {}) for section in KINDS}
    for section, kind in KINDS.items():
        problems += [
            f"{kind} {c!r} is not in otelcol-contrib" for c in defined[section] if (kind, c.split("/")[0]) not in known
        ]
    problems += [
        f"extension {e!r} is not defined"
        for e in config["service"].get("extensions", [])
        if e not in defined["extensions"]
    ]
    for name, pipeline in config["service"]["pipelines"].items():
        for section in ("receivers", "processors", "exporters"):
            usable = defined[section] | (defined["connectors"] if section != "processors" else set())
            problems += [f"{name}: {c!r} is not defined" for c in pipeline.get(section, []) if c not in usable]
    return problems  # fmt: skip


def test_component_list_is_the_whole_contrib_distribution() -> None:
    known = known_components()
    # The full 0.136.0 manifest, not a chosen subset: its count per kind, each type from its own module.
    assert Counter(kind for kind, _ in known) == {"receiver": 101, "exporter": 50, "extension": 39, "processor": 28,
                                                  "connector": 13}  # fmt: skip
    assert all(f"/{kind}/" in module for (kind, _), module in known.items())
    assert {("exporter", "otlp"), ("exporter", "prometheusremotewrite"), ("receiver", "k8s_cluster"),
            ("processor", "memory_limiter"), ("connector", "spanmetrics"),
            ("extension", "health_check")} <= set(known)  # fmt: skip
    # Components that left the distribution before 0.136.0 are refused.
    for gone in [("exporter", "logging"), ("exporter", "jaeger"), ("receiver", "opencensus"), ("exporter", "loki")]:
        assert gone not in known


@pytest.mark.parametrize("name", ["otelcol-dev.yaml", "otelcol-prod.yaml"])
def test_collector_files_use_real_components_and_consistent_pipelines(name: str) -> None:
    config = load(name)
    assert config["service"]["pipelines"]
    assert component_problems(config) == []


def test_component_check_refuses_what_a_collector_would() -> None:
    config = load("otelcol-prod.yaml")
    config["exporters"]["logging"] = {}  # removed from the collector in 0.111
    config["service"]["pipelines"]["traces"]["processors"].append("tail_sampling")  # real, but not defined here
    assert component_problems(config) == ["exporter 'logging' is not in otelcol-contrib",
                                          "traces: 'tail_sampling' is not defined"]  # fmt: skip


def test_dev_collector_receives_otlp_on_localhost_and_prints_it() -> None:
    config = load("otelcol-dev.yaml")
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] in ("127.0.0.1:4317", "localhost:4317")
    assert protocols["http"]["endpoint"] in ("127.0.0.1:4318", "localhost:4318")
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) >= {"metrics", "traces"}
    for pipeline in pipelines.values():
        assert pipeline["receivers"] == ["otlp"] and "debug" in pipeline["exporters"]


def test_prod_collector_has_the_blocks_a_fleet_needs() -> None:
    config = load("otelcol-prod.yaml")
    pipelines = config["service"]["pipelines"]
    for name, pipeline in pipelines.items():
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter", name  # refuse data before anything else holds it
        assert "resourcedetection" in processors and processors[-1] == "batch", name
    exporters = config["exporters"]
    # Metrics to Prometheus one way only (two ways would store every series twice), traces to an OTLP backend.
    to_prometheus = [
        e for e in pipelines["metrics"]["exporters"] if e.split("/")[0] in ("prometheus", "prometheusremotewrite")
    ]
    assert len(to_prometheus) == 1, to_prometheus
    traces_out = [e for e in pipelines["traces"]["exporters"] if e.split("/")[0] in ("otlp", "otlphttp")]
    assert traces_out
    for exporter in to_prometheus + traces_out:
        settings = exporters[exporter]
        if exporter.split("/")[0] == "prometheus":
            continue  # a scrape endpoint: nothing to retry or queue
        assert settings["retry_on_failure"]["enabled"] is True, exporter
        queue = settings.get("remote_write_queue" if exporter == "prometheusremotewrite" else "sending_queue")
        assert queue and queue["enabled"] is True and queue["queue_size"] > 0, exporter
    # spanmetrics: the traces pipeline feeds it, the metrics pipeline reads from it.
    assert "spanmetrics" in config["connectors"]
    assert "spanmetrics" in pipelines["traces"]["exporters"] and "spanmetrics" in pipelines["metrics"]["receivers"]


def test_prometheus_files_pass_promtool() -> None:
    promtool = require_binary("promtool")
    config = subprocess.run([promtool, "check", "config", str(CONFIG / "prometheus.yml")], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert config.returncode == 0, config.stdout + config.stderr
    rules = subprocess.run([promtool, "check", "rules", str(CONFIG / "zgen-rules.yml")], capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert rules.returncode == 0 and "4 rules found" in rules.stdout


SHIPPED_RULES_TEST = """\
rule_files:
  - {rules}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'system_memory_percent{{job="zgen-agents"}}'
        values: '95x10'
      - series: 'system_cpu_percent{{job="zgen-agents"}}'
        values: '50x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: system_memory_high
        exp_alerts: []
      - eval_time: 6m
        alertname: system_memory_high
        exp_alerts:
          - exp_labels: {{severity: warning, category: system, job: zgen-agents}}
            exp_annotations: {{description: "Memory usage above 90% for 5 minutes"}}
      - eval_time: 6m
        alertname: system_cpu_high
        exp_alerts: []
"""


def test_shipped_rules_fire_after_their_duration_in_promtool(tmp_path: Path) -> None:
    """The committed zgen-rules.yml, run by Prometheus's rule engine: fires after 5 minutes above 90%, not before."""
    promtool = require_binary("promtool")
    tests = tmp_path / "tests.yml"
    tests.write_text(SHIPPED_RULES_TEST.format(rules=CONFIG / "zgen-rules.yml"))
    out = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_alertmanager_file_passes_amtool() -> None:
    amtool = require_binary("amtool")
    out = subprocess.run([amtool, "check-config", str(CONFIG / "alertmanager.yml")], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_committed_rules_are_what_the_command_writes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ZGEN_OTEL_", "MONITORING_", "ALERTING_"))}
    env["ZGEN_OTEL_SYSTEM_MONITOR"] = "false"
    target = tmp_path / "rules.yml"
    subprocess.run([sys.executable, "-m", "zgen_otel", "rules", "export", "--format", "prometheus", "-o",
                    str(target)], check=True, env=env, capture_output=True, timeout=60)  # fmt: skip
    assert target.read_text() == (CONFIG / "zgen-rules.yml").read_text()
