"""collector-config/: valid for promtool and amtool, generated rules in sync, collector components real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import require_binary

CONFIG = Path(__file__).resolve().parent.parent / "collector-config"
KINDS = {"receivers": "receiver", "processors": "processor", "exporters": "exporter", "connectors": "connector",
         "extensions": "extension"}  # fmt: skip


def known_components() -> set[tuple[str, str]]:
    lines = (CONFIG / "otelcol-contrib-components.txt").read_text().splitlines()
    return {tuple(line.split()) for line in lines if line.strip() and not line.startswith("#")}  # type: ignore[misc]


@pytest.mark.parametrize("name", ["otelcol-dev.yaml", "otelcol-prod.yaml"])
def test_collector_files_use_real_components_and_consistent_pipelines(name: str) -> None:
    config = yaml.safe_load((CONFIG / name).read_text())
    known = known_components()
    defined: dict[str, set[str]] = {}
    for section, kind in KINDS.items():
        for component in config.get(section) or {}:
            assert (kind, component.split("/")[0]) in known, f"{kind} {component!r} is not in otelcol-contrib"
            defined.setdefault(section, set()).add(component)
    pipelines = config["service"]["pipelines"]
    assert pipelines
    connectors = defined.get("connectors", set())
    for pipeline in pipelines.values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in defined.get(section, set()) | connectors, f"{component} is not defined"


def test_prometheus_files_pass_promtool() -> None:
    promtool = require_binary("promtool")
    config = subprocess.run([promtool, "check", "config", str(CONFIG / "prometheus.yml")], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert config.returncode == 0, config.stdout + config.stderr
    rules = subprocess.run([promtool, "check", "rules", str(CONFIG / "zgen-rules.yml")], capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert rules.returncode == 0 and "4 rules found" in rules.stdout


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
