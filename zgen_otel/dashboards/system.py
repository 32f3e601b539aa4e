"""The ``system`` dashboard: CPU, memory, swap, disks, disk I/O, network, the processes and GPUs.

It draws the system monitor's convenience series (``system.cpu_percent``, per-second rates...). Every
zgen_otel process stores them and ships them over OTLP too, so the series a receiving server got from
other processes sit beside its own, tagged with their service and instance: the selection picks whose
host and process the panels show, and with several processes in view each line says whose it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zgen_otel import semconv as sc
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.panels import Label, attr, fixed, tagged, timeseries
from zgen_otel.dashboards.rendering import window
from zgen_otel.selection import INSTANCE, SERVICE, Process, View, select
from zgen_otel.semconv import MetricSpec

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["SystemDashboard"]

#: The "Now" panel: (label, metric) of the latest values.
_NOW = ((sc.SYSTEM_CPU_PERCENT, "CPU"), (sc.SYSTEM_MEMORY_PERCENT, "memory"), (sc.SYSTEM_SWAP_PERCENT, "swap"),
        (sc.SYSTEM_LOAD_1M, "load (1 min)"))  # fmt: skip
# (panel id, title, [(metric, label)]): the panel's unit is its first metric's.
_PANELS: list[tuple[str, str, list[tuple[MetricSpec, Label]]]] = [
    ("cpu", "CPU", [(sc.SYSTEM_CPU_PERCENT, fixed("all cores")), (sc.SYSTEM_CPU_CORE_PERCENT, attr("cpu", "core "))]),
    ("memory", "Memory and swap", [(sc.SYSTEM_MEMORY_PERCENT, fixed("memory")),
                                   (sc.SYSTEM_SWAP_PERCENT, fixed("swap"))]),
    ("disk", "Disk usage", [(sc.SYSTEM_DISK_PERCENT, attr("mountpoint"))]),
    ("disk_io", "Disk I/O", [(sc.SYSTEM_DISK_READ, attr("device", "read ")),
                             (sc.SYSTEM_DISK_WRITE, attr("device", "write "))]),
    ("network", "Network", [(sc.SYSTEM_NET_RECV, attr("interface", "in ")),
                            (sc.SYSTEM_NET_SENT, attr("interface", "out "))]),
    ("process_cpu", "Process CPU (% of one core)", [(sc.PROCESS_CPU_PERCENT, fixed("CPU"))]),
    ("process_memory", "Process memory", [(sc.PROCESS_MEMORY_RSS_BYTES, fixed("RSS"))]),
]  # fmt: skip
_GPU: tuple[str, str, list[tuple[MetricSpec, Label]]] = (
    "gpu", "GPU", [(sc.SYSTEM_GPU_PERCENT, attr("gpu", "GPU ")), (sc.SYSTEM_GPU_MEMORY_PERCENT, attr("gpu", "memory "))]
)  # fmt: skip


def _latest(view: View, process: Process, metric: str) -> float | None:
    """The latest value of one process's series of ``metric`` (the newest of them when there are several)."""
    store = view.store
    found = store.local(metric) if process.local else store.received(
        metric, {SERVICE: process.service, INSTANCE: process.instance})  # fmt: skip
    points = [p for p in (s.latest() for s in found) if p is not None]
    return max(points, key=lambda p: p.timestamp).value if points else None


class SystemDashboard(Dashboard):
    """CPU, memory, swap, disks, disk I/O, network, the processes and GPUs over the chosen window."""

    name = "system"
    title = "System"
    description = "CPU, memory and swap, disk usage and I/O, network, the processes, and GPUs when present."

    def get_data(
        self,
        window_seconds: float = DEFAULT_WINDOW,
        *,
        service: str | None = None,
        instance: str | None = None,
        runtime: Runtime | None = None,
    ) -> dict[str, Any]:
        """Panels of the system series of the selected processes (``service``/``instance``; all when None)."""
        view = select(runtime, service, instance)
        store = view.store
        start, end = window(window_seconds, view.runtime)
        items = []
        for process in view.processes:
            values = [_latest(view, process, metric.name) for metric, _ in _NOW]
            if process.local or any(v is not None for v in values):  # a sender without a system monitor: none
                who = view.who(process.service, process.instance)
                for (metric, label), value in zip(_NOW, values, strict=True):
                    unit = "" if metric.unit == "1" else metric.unit  # a plain number (the load): no unit shown
                    items.append({"label": tagged(label, who), "value": value, "unit": unit})
        panels: list[dict[str, Any]] = [{"id": "now", "type": "stats", "title": "Now", "items": items}]
        specs = [*_PANELS, _GPU] if store.series(sc.SYSTEM_GPU_PERCENT.name) else _PANELS
        panels += [
            timeseries(pid, title, metrics[0][0].unit, store, [(m.name, label) for m, label in metrics], start, end)
            for pid, title, metrics in specs
        ]
        for panel in panels:
            if panel["id"] == "network":
                hide_idle_interfaces(panel)
        return {"panels": panels}


def hide_idle_interfaces(panel: dict[str, Any]) -> None:
    """Leave out of a network panel the interfaces that sent and received nothing in the whole window.

    An interface is idle when every point of each of its lines is 0 (``ifb0``, a down ``eth1``); the panel's
    note names the interfaces left out. Lines without an ``interface`` attribute are always kept.
    """
    busy: dict[Any, bool] = {}
    for entry in panel["series"]:
        key = (entry["label"].split(" ", 1)[-1], entry["labels"].get("interface"))
        busy[key] = busy.get(key, False) or entry["stats"]["max"] != 0 or entry["stats"]["min"] != 0
    idle = {key for key, used in busy.items() if not used and key[1] is not None}
    if idle:
        panel["series"] = [e for e in panel["series"]
                           if (e["label"].split(" ", 1)[-1], e["labels"].get("interface")) not in idle]  # fmt: skip
        names = ", ".join(sorted({str(key[0]) for key in idle}))
        panel["note"] = f"not shown, idle for the whole window: {names}"
