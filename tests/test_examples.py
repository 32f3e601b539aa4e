"""The examples run as they are and print what the README says they print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_prints_metrics_and_the_performance_table() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_", "ZGEN_OTEL_"))}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "system.cpu_usage" in out.stdout and "average over 5 minutes" in out.stdout
    table = out.stdout.split("operation", 1)[1]
    for operation in ("plan_step", "call_tool", "agent.iteration"):
        assert operation in table
    assert out.stderr == ""
