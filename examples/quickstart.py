"""The seed's metrics snippets end to end, printing what they produce. Run: python examples/quickstart.py."""

from __future__ import annotations

import random
import time

import zgen_otel
from zgen_otel.metrics import (
    get_all_metrics,
    get_metric_average,
    get_metric_history,
    get_metric_stats,
    record_metric,
    register_callback,
)


def main() -> None:
    # React to updates: print every value above 80 as it arrives.
    def on_update(name: str, value: float, timestamp: float, attributes: object) -> None:
        if value > 80:
            print(f"  callback: {name} = {value:.1f}")

    register_callback("system.*", on_update)

    # Record a few seconds of metrics, the way an agent would.
    print("Recording metrics for 2 seconds...")
    deadline = time.time() + 2
    while time.time() < deadline:
        record_metric("cpu_usage", random.uniform(20, 90), "system", unit="%")
        record_metric("step_latency", random.lognormvariate(-3, 0.5), "agent", attributes={"tool": "search"}, unit="s")
        record_metric("tokens", random.randint(50, 500), "llm", attributes={"model": "demo-model"}, unit="{token}")
        time.sleep(0.05)

    history = get_metric_history("system.cpu_usage")
    print(f"\nsystem.cpu_usage: {len(history)} points, last {history[-1].value:.1f}%")
    print(f"average over 5 minutes: {get_metric_average('system.cpu_usage', window_seconds=300):.1f}%")

    print(f"\n{'metric':<22} {'attributes':<20} {'unit':<8} {'latest':>9} {'avg':>9} {'p95':>9} {'n':>5}")
    for info in get_all_metrics():
        stats = get_metric_stats(info.name, 300, info.attributes)
        assert stats is not None
        attrs = ",".join(f"{k}={v}" for k, v in info.attributes.items()) or "-"
        print(
            f"{info.name:<22} {attrs:<20} {info.unit:<8} {stats.latest:>9.3f} {stats.avg:>9.3f} "
            f"{stats.p95:>9.3f} {stats.count:>5}"
        )
    targets = zgen_otel.get_runtime().providers.export_targets
    print(f"\nOTLP export: {targets or 'none configured (set OTEL_EXPORTER_OTLP_ENDPOINT to ship to a collector)'}")
    zgen_otel.shutdown()


if __name__ == "__main__":
    main()
