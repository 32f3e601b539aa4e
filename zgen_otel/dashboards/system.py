"""The ``system`` dashboard: CPU, memory, swap, disks, disk I/O, network, the processes and GPUs.

This process's system monitor stores convenience series (``system.cpu_percent``, per-second rates...); other
processes send the OTel-named instruments over OTLP (``system.cpu.utilization`` by core and state,
``system.memory.utilization`` by state, ``system.disk.io`` as a counter whose rate the receiver stores...).
Each panel draws both, the received ones rescaled to the same units, so that a service selected in the view
shows its host and process like this one's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from zgen_otel import semconv as sc
from zgen_otel.dashboards.charts import downsample
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.panels import Line, attr, fixed, tagged, timeseries, value_stats
from zgen_otel.dashboards.rendering import window
from zgen_otel.selection import INSTANCE, SERVICE, Process, View, select

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["SystemDashboard"]

_USED = {"state": "used"}
_IDLE = {"state": "idle"}


def _share(name: str, label: str, where: dict[str, str] | None = None) -> Line:
    """A received 0..1 share drawn as a percentage."""
    return Line(name, fixed(label), where, scale=100.0, received=True)


# (panel id, title, unit, lines): this process's series, then the received equivalents.
_PANELS: list[tuple[str, str, str, list[Line]]] = [
    ("cpu", "CPU", "%", [Line(sc.SYSTEM_CPU_PERCENT.name, fixed("all cores")),
                         Line(sc.SYSTEM_CPU_CORE_PERCENT.name, attr("cpu", "core "))]),
    ("memory", "Memory and swap", "%", [
        Line(sc.SYSTEM_MEMORY_PERCENT.name, fixed("memory")), Line(sc.SYSTEM_SWAP_PERCENT.name, fixed("swap")),
        _share(sc.SYSTEM_MEMORY_UTILIZATION.name, "memory", _USED),
        _share(sc.SYSTEM_SWAP_UTILIZATION.name, "swap", _USED)]),
    ("disk", "Disk usage", "%", [
        Line(sc.SYSTEM_DISK_PERCENT.name, attr("mountpoint")),
        Line(sc.SYSTEM_FILESYSTEM_UTILIZATION.name, attr("mountpoint"), scale=100.0, received=True)]),
    ("disk_io", "Disk I/O", "By/s", [
        Line(sc.SYSTEM_DISK_READ_BYTES_PER_S.name, attr("device", "read ")),
        Line(sc.SYSTEM_DISK_WRITE_BYTES_PER_S.name, attr("device", "write ")),
        Line(f"{sc.SYSTEM_DISK_IO.name}.rate", attr("device", "read "), {"direction": "read"}, received=True),
        Line(f"{sc.SYSTEM_DISK_IO.name}.rate", attr("device", "write "), {"direction": "write"}, received=True)]),
    ("network", "Network", "By/s", [
        Line(sc.SYSTEM_NET_RECV_BYTES_PER_S.name, attr("interface", "in ")),
        Line(sc.SYSTEM_NET_SENT_BYTES_PER_S.name, attr("interface", "out ")),
        Line(f"{sc.SYSTEM_NETWORK_IO.name}.rate", attr("device", "in "), {"direction": "receive"}, received=True),
        Line(f"{sc.SYSTEM_NETWORK_IO.name}.rate", attr("device", "out "), {"direction": "transmit"},
             received=True)]),
    ("process_cpu", "Process CPU", "%", [
        Line(sc.PROCESS_CPU_PERCENT.name, fixed("CPU")),
        _share(sc.PROCESS_CPU_UTILIZATION.name, "CPU, share of all cores")]),
    ("process_memory", "Process memory", "By", [
        Line(sc.PROCESS_MEMORY_RSS_BYTES.name, fixed("RSS")),
        Line(sc.PROCESS_MEMORY_USAGE.name, fixed("RSS"), received=True)]),
]  # fmt: skip
_GPU = ("gpu", "GPU", "%", [
    Line(sc.SYSTEM_GPU_PERCENT.name, attr("gpu", "GPU ")),
    Line(sc.SYSTEM_GPU_MEMORY_PERCENT.name, attr("gpu", "memory ")),
    Line(sc.HW_GPU_UTILIZATION.name, attr("hw.id", "GPU "), scale=100.0, received=True),
    Line(sc.HW_GPU_MEMORY_UTILIZATION.name, attr("hw.id", "memory "), scale=100.0, received=True)])  # fmt: skip
# "Now": (label, unit, this process's series, the received share (or value) and the attributes it needs)
_NOW = (("CPU", "%"), ("memory", "%"), ("swap", "%"), ("load (1 min)", ""))


def _received_cpu(view: View, start: float, end: float) -> list[dict[str, Any]]:
    """One "all cores" line per received process: 100 % less the cores' mean idle share at each export."""
    per_process: dict[tuple[str, str], dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in view.store.received(sc.SYSTEM_CPU_UTILIZATION.name, _IDLE):
        at = per_process[view.origin(s.attributes)]
        for p in s.points(start, end):
            at[p.timestamp].append(p.value)
    entries = []
    for (service, instance), by_time in sorted(per_process.items()):
        points = [(t, 100.0 * (1.0 - sum(v) / len(v))) for t, v in sorted(by_time.items())]
        entries.append({"label": tagged("all cores", view.who(service, instance)),
                        "labels": {SERVICE: service, INSTANCE: instance}, "points": downsample(points),
                        "stats": value_stats([v for _, v in points])})  # fmt: skip
    return entries


def _latest(view: View, process: Process, metric: str, where: dict[str, str] | None = None) -> list[float]:
    """The latest value of each of ``process``'s series of ``metric`` (with ``where``)."""
    if process.local:
        found = view.store.local(metric, where)
    else:
        found = view.store.received(metric, {**(where or {}), SERVICE: process.service, INSTANCE: process.instance})
    return [p.value for p in (s.latest() for s in found) if p is not None]


def _now_values(view: View, process: Process) -> list[float | None]:
    """CPU, memory and swap (%) and the 1-minute load of one process's host, as last measured."""
    if process.local:
        specs = (sc.SYSTEM_CPU_PERCENT, sc.SYSTEM_MEMORY_PERCENT, sc.SYSTEM_SWAP_PERCENT, sc.SYSTEM_LOAD_1M)
        return [next(iter(_latest(view, process, m.name)), None) for m in specs]
    idle = _latest(view, process, sc.SYSTEM_CPU_UTILIZATION.name, _IDLE)
    memory = _latest(view, process, sc.SYSTEM_MEMORY_UTILIZATION.name, _USED)
    swap = _latest(view, process, sc.SYSTEM_SWAP_UTILIZATION.name, _USED)
    load = _latest(view, process, sc.SYSTEM_CPU_LOAD_AVERAGE_1M.name)
    return [100.0 * (1.0 - sum(idle) / len(idle)) if idle else None, 100.0 * memory[0] if memory else None,
            100.0 * swap[0] if swap else None, load[0] if load else None]  # fmt: skip


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
            who = view.who(process.service, process.instance)
            for (label, unit), value in zip(_NOW, _now_values(view, process), strict=True):
                items.append({"label": tagged(label, who), "value": value, "unit": unit})
        panels: list[dict[str, Any]] = [{"id": "now", "type": "stats", "title": "Now", "items": items}]
        specs = list(_PANELS)
        if store.series(sc.SYSTEM_GPU_PERCENT.name) or store.received(sc.HW_GPU_UTILIZATION.name):
            specs.append(_GPU)
        for pid, title, unit, lines in specs:
            panel = timeseries(pid, title, unit, store, lines, start, end)
            if pid == "cpu":
                panel["series"] += _received_cpu(view, start, end)
            panels.append(panel)
        return {"panels": panels}
