"""Show the GPU series of the system monitor with real values (run where an NVIDIA driver answers).

Run: ``python benchmarks/gpu_check.py``. Prints the snapshot's ``gpus`` entry, the ``hw.*`` points the OTel
instruments ship, the local ``system.gpu_*`` series in the store, and the cost of one NVML read. Where no
NVIDIA driver or ``nvidia-ml-py`` is present it says so and exits 0.
"""

from __future__ import annotations

import json
import time

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import zgen_otel
from zgen_otel.system_monitor import _Nvml, _Sweep, get_system_metrics


def main() -> None:
    reader = InMemoryMetricReader()
    zgen_otel.configure(interval=3600, system_monitor=False, metric_readers=[reader], host_lock="none")
    snapshot = get_system_metrics()
    if "gpus" not in snapshot:
        print("no NVIDIA GPU metrics here (no nvidia-ml-py, no driver or no GPU)")
        return
    print("snapshot['gpus'] =", json.dumps(snapshot["gpus"], indent=1))
    data = reader.get_metrics_data()
    assert data is not None
    print("\nOTel points (as shipped over OTLP):")
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name.startswith("hw."):
                    for p in metric.data.data_points:
                        print(f"  {metric.name} [{metric.unit}] {dict(p.attributes)} = {p.value}")
    print("\nlocal series in the store:")
    for info in zgen_otel.get_all_metrics():
        if info.name.startswith("system.gpu_"):
            print(f"  {info.name} {info.attributes} = {info.latest} {info.unit}")
    nvml = _Nvml.open(lambda name, read, *args: read(*args))  # no guard: a failing read fails the check
    assert nvml is not None
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        nvml.read(_Sweep(time.time()))
    print(f"\none NVML read of all GPUs: {(time.perf_counter() - started) / rounds * 1e6:.1f} us")
    zgen_otel.shutdown()


if __name__ == "__main__":
    main()
