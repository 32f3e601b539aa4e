"""The same telemetry sent over OTLP to a collector (see collector-config/).

Run: ``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python examples/ship_to_collector.py`` (OTLP/HTTP;
set ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` and port 4317 for gRPC). Without an endpoint it says so and only
keeps the data locally. With nothing listening there it says so in one line within a few seconds and exits
with status 1.
"""

from __future__ import annotations

import os
import sys

import zgen_otel
from zgen_otel.llm import llm_call
from zgen_otel.performance import track


@track("agent.step")
def step(i: int) -> int:
    """A tracked step with an LLM call inside."""
    with llm_call(model="demo-small", provider="demo") as call:
        call.set_usage(input_tokens=100 + i, output_tokens=20)
    zgen_otel.record_metric("steps_done", i + 1, "agent")
    return i


def main() -> int:
    """Record, flush to the collector, and say where the data went; the exit status."""
    zgen_otel.configure(service_name=os.environ.get("OTEL_SERVICE_NAME", "zgen-demo-agent"))
    for i in range(10):
        step(i)
    runtime = zgen_otel.get_runtime()
    runtime.force_flush()  # all signals at once, within a few seconds even when nothing listens
    export = runtime.status()["export"]  # per signal: target, last result and error, counts
    zgen_otel.shutdown()
    failed = [signal for signal, health in export.items() if health["last_result"] == "failure"]
    if failed:
        first = export[failed[0]]
        print(f"could not export {', '.join(failed)} to {first['target']} ({first['last_error']}): is a collector "
              "listening there? (collector-config/ has one)", file=sys.stderr)  # fmt: skip
        return 1
    targets = {signal: health["target"] for signal, health in export.items()}
    print(f"exported to: {targets or 'nowhere: set OTEL_EXPORTER_OTLP_ENDPOINT'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
