"""The same telemetry sent over OTLP to a collector (see collector-config/).

Run: ``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python examples/ship_to_collector.py`` (OTLP/HTTP;
set ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` and port 4317 for gRPC). Without an endpoint it says so and only
keeps the data locally.
"""

from __future__ import annotations

import os

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


def main() -> None:
    zgen_otel.configure(service_name=os.environ.get("OTEL_SERVICE_NAME", "zgen-demo-agent"))
    for i in range(10):
        step(i)
    targets = zgen_otel.get_runtime().providers.export_targets
    zgen_otel.get_runtime().force_flush()
    print(f"exported to: {targets or 'nowhere: set OTEL_EXPORTER_OTLP_ENDPOINT'}")
    zgen_otel.shutdown()


if __name__ == "__main__":
    main()
