"""The names zgen_otel emits: every metric with its kind, unit, description and attribute keys.

One table for the system monitor's series, the tracking and LLM instruments and the alerts gauge, so that
the code that emits a metric, the built-in dashboards and the default alert rules spell each name once.
This module is the bottom layer: it imports nothing from the package.

The system monitor emits two families:

* OTel names (`SYSTEM_INSTRUMENTS`): the names and attributes of
  opentelemetry-instrumentation-system-metrics where it has the metric, the semantic conventions' names
  (``system.filesystem.*``, ``hw.*``) for what it lacks;
* local names (`SYSTEM_LOCAL_SERIES`): convenient gauges such as ``system.cpu_percent`` (0-100) and
  rates per second, kept in the store and shipped as gauges so fleet-wide rules can use them too. A rate's
  name leaves the unit to its unit (``system.net_recv``, ``By/s``), so that Prometheus names it once:
  ``system_net_recv_bytes_per_second``.

Every metric has a description: Prometheus shows it as the metric's help text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ALERTS",
    "ALL_INSTRUMENTS",
    "GEN_AI_CLIENT_OPERATION_DURATION",
    "GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK",
    "GEN_AI_CLIENT_TOKEN_USAGE",
    "GEN_AI_EXECUTE_TOOL_DURATION",
    "GEN_AI_INVOKE_AGENT_DURATION",
    "HTTP_SERVER_REQUEST_DURATION",
    "LLM_COST",
    "METRICS_SCOPE",
    "OPERATION_CALLS",
    "OPERATION_DURATION",
    "PACKAGE_INSTRUMENTS",
    "RECORDED_METRIC_DESCRIPTION",
    "SYSTEM_INSTRUMENTS",
    "SYSTEM_LOCAL_SERIES",
    "TASK_LAST_SUCCESS",
    "Kind",
    "MetricSpec",
]

#: The instrumentation scope of ``record_metric`` 's gauges: a receiver knows custom metrics by it.
METRICS_SCOPE = "zgen_otel.metrics"

#: How a metric's values behave: ``counter`` (monotonic total), ``updown`` (a total that can go down),
#: ``gauge`` (a current value) or ``histogram`` (a distribution of recorded values).
Kind = Literal["counter", "updown", "gauge", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric zgen_otel emits.

    Attributes:
        name: the metric name (OTel dotted form).
        kind: how its values behave (see `Kind`).
        unit: its unit in UCUM / semantic-convention annotation form (``By``, ``s``, ``%``, ``{packet}``).
        description: what it measures (Prometheus' help text).
        attributes: the attribute keys its points carry (some only where the source reports them).
    """

    name: str
    kind: Kind
    unit: str
    description: str = ""
    attributes: tuple[str, ...] = ()


def _gauge(name: str, unit: str, description: str, *attributes: str) -> MetricSpec:
    """A local convenience series: a gauge."""
    return MetricSpec(name, "gauge", unit, description, attributes)


_FS = ("device", "mountpoint", "type")
_IO = ("device", "direction")
_GPU = ("hw.id", "hw.name")
_SENSOR = (*_GPU, "hw.type")
_GC = ("cpython.gc.generation", "generation")  # both, as the contrib instrumentation does

# -- system monitor: OTel names ------------------------------------------------------------------------
SYSTEM_CPU_TIME = MetricSpec("system.cpu.time", "counter", "s", "CPU time by core and state", ("cpu", "state"))
SYSTEM_CPU_UTILIZATION = MetricSpec(
    "system.cpu.utilization", "gauge", "1", "CPU utilisation by core and state since the last sweep", ("cpu", "state")
)
SYSTEM_CPU_LOAD_AVERAGE_1M = MetricSpec("system.cpu.load_average.1m", "gauge", "1", "Load average over 1 minute")
SYSTEM_CPU_LOAD_AVERAGE_5M = MetricSpec("system.cpu.load_average.5m", "gauge", "1", "Load average over 5 minutes")
SYSTEM_CPU_LOAD_AVERAGE_15M = MetricSpec("system.cpu.load_average.15m", "gauge", "1", "Load average over 15 minutes")
SYSTEM_MEMORY_USAGE = MetricSpec("system.memory.usage", "updown", "By", "Memory in use by state", ("state",))
SYSTEM_MEMORY_UTILIZATION = MetricSpec(
    "system.memory.utilization", "gauge", "1", "Memory utilisation by state", ("state",)
)
SYSTEM_MEMORY_LIMIT = MetricSpec("system.memory.limit", "updown", "By", "Total memory")
SYSTEM_SWAP_USAGE = MetricSpec("system.swap.usage", "updown", "By", "Swap by state", ("state",))
SYSTEM_SWAP_UTILIZATION = MetricSpec("system.swap.utilization", "gauge", "1", "Swap utilisation by state", ("state",))
SYSTEM_FILESYSTEM_USAGE = MetricSpec(
    "system.filesystem.usage", "updown", "By", "Filesystem space by mount point and state", (*_FS, "state")
)
SYSTEM_FILESYSTEM_UTILIZATION = MetricSpec(
    "system.filesystem.utilization", "gauge", "1", "Filesystem space used, by mount point", _FS
)
SYSTEM_DISK_IO = MetricSpec("system.disk.io", "counter", "By", "Disk bytes by device and direction", _IO)
SYSTEM_DISK_OPERATIONS = MetricSpec(
    "system.disk.operations", "counter", "{operation}", "Disk operations by device and direction", _IO
)
SYSTEM_DISK_TIME = MetricSpec(
    "system.disk.time", "counter", "s", "Time spent on disk operations by device and direction", _IO
)
SYSTEM_NETWORK_IO = MetricSpec("system.network.io", "counter", "By", "Network bytes by interface and direction", _IO)
SYSTEM_NETWORK_PACKETS = MetricSpec(
    "system.network.packets", "counter", "{packet}", "Network packets by interface and direction", _IO
)
SYSTEM_NETWORK_ERRORS = MetricSpec(
    "system.network.errors", "counter", "{error}", "Network errors by interface and direction", _IO
)
SYSTEM_NETWORK_DROPPED_PACKETS = MetricSpec(
    "system.network.dropped_packets", "counter", "{packet}", "Dropped packets by interface and direction", _IO
)
PROCESS_CPU_TIME = MetricSpec("process.cpu.time", "counter", "s", "CPU time of this process by type", ("type",))
PROCESS_CPU_UTILIZATION = MetricSpec(
    "process.cpu.utilization", "gauge", "1", "CPU utilisation of this process (share of all cores)"
)
PROCESS_MEMORY_USAGE = MetricSpec("process.memory.usage", "updown", "By", "Resident memory of this process")
PROCESS_MEMORY_VIRTUAL = MetricSpec("process.memory.virtual", "updown", "By", "Virtual memory of this process")
PROCESS_THREAD_COUNT = MetricSpec("process.thread.count", "updown", "{thread}", "Threads of this process")
PROCESS_OPEN_FILE_DESCRIPTOR_COUNT = MetricSpec(
    "process.open_file_descriptor.count", "updown", "{count}", "Open file descriptors of this process"
)
PROCESS_CONTEXT_SWITCHES = MetricSpec(
    "process.context_switches", "counter", "{count}", "Context switches of this process by type", ("type",)
)
CPYTHON_GC_COLLECTIONS = MetricSpec(
    "cpython.gc.collections", "counter", "{collection}", "Garbage collections by generation", _GC
)
CPYTHON_GC_COLLECTED_OBJECTS = MetricSpec(
    "cpython.gc.collected_objects", "counter", "{object}", "Objects collected by generation", _GC
)
CPYTHON_GC_UNCOLLECTABLE_OBJECTS = MetricSpec(
    "cpython.gc.uncollectable_objects", "counter", "{object}", "Uncollectable objects by generation", _GC
)
HW_GPU_UTILIZATION = MetricSpec("hw.gpu.utilization", "gauge", "1", "GPU utilisation", _GPU)
HW_GPU_MEMORY_USAGE = MetricSpec("hw.gpu.memory.usage", "updown", "By", "GPU memory in use", _GPU)
HW_GPU_MEMORY_LIMIT = MetricSpec("hw.gpu.memory.limit", "updown", "By", "GPU memory size", _GPU)
HW_GPU_MEMORY_UTILIZATION = MetricSpec("hw.gpu.memory.utilization", "gauge", "1", "GPU memory utilisation", _GPU)
HW_TEMPERATURE = MetricSpec("hw.temperature", "gauge", "Cel", "Hardware temperature", _SENSOR)
HW_POWER = MetricSpec("hw.power", "gauge", "W", "Hardware power draw", _SENSOR)

# -- system monitor: local names -----------------------------------------------------------------------
SYSTEM_CPU_PERCENT = _gauge("system.cpu_percent", "%", "CPU usage of all cores together (0-100)")
SYSTEM_CPU_CORE_PERCENT = _gauge("system.cpu_core_percent", "%", "CPU usage by core (0-100)", "cpu")
SYSTEM_LOAD_1M = _gauge("system.load_1m", "1", "Load average over 1 minute")
SYSTEM_LOAD_5M = _gauge("system.load_5m", "1", "Load average over 5 minutes")
SYSTEM_LOAD_15M = _gauge("system.load_15m", "1", "Load average over 15 minutes")
SYSTEM_MEMORY_PERCENT = _gauge("system.memory_percent", "%", "Memory in use, percent of the total")
SYSTEM_MEMORY_USED_BYTES = _gauge("system.memory_used_bytes", "By", "Memory in use")
SYSTEM_MEMORY_AVAILABLE_BYTES = _gauge(
    "system.memory_available_bytes", "By", "Memory available to new processes without swapping"
)
SYSTEM_MEMORY_TOTAL_BYTES = _gauge("system.memory_total_bytes", "By", "Total memory")
SYSTEM_SWAP_PERCENT = _gauge("system.swap_percent", "%", "Swap in use, percent of the total")
SYSTEM_SWAP_USED_BYTES = _gauge("system.swap_used_bytes", "By", "Swap in use")
SYSTEM_DISK_PERCENT = _gauge("system.disk_percent", "%", "Filesystem space used by mount point (0-100)", "mountpoint")
SYSTEM_DISK_USED_BYTES = _gauge("system.disk_used_bytes", "By", "Filesystem space used by mount point", "mountpoint")
SYSTEM_DISK_FREE_BYTES = _gauge("system.disk_free_bytes", "By", "Filesystem space free by mount point", "mountpoint")
SYSTEM_DISK_READ = _gauge("system.disk_read", "By/s", "Bytes read per second by disk", "device")
SYSTEM_DISK_WRITE = _gauge("system.disk_write", "By/s", "Bytes written per second by disk", "device")
SYSTEM_DISK_READ_OPS = _gauge("system.disk_read_ops", "{operation}/s", "Read operations per second by disk", "device")
SYSTEM_DISK_WRITE_OPS = _gauge(
    "system.disk_write_ops", "{operation}/s", "Write operations per second by disk", "device"
)
SYSTEM_NET_RECV = _gauge("system.net_recv", "By/s", "Bytes received per second by network interface", "interface")
SYSTEM_NET_SENT = _gauge("system.net_sent", "By/s", "Bytes sent per second by network interface", "interface")
SYSTEM_NET_RECV_PACKETS = _gauge(
    "system.net_recv_packets", "{packet}/s", "Packets received per second by network interface", "interface"
)
SYSTEM_NET_SENT_PACKETS = _gauge(
    "system.net_sent_packets", "{packet}/s", "Packets sent per second by network interface", "interface"
)
SYSTEM_NET_ERRORS = _gauge(
    "system.net_errors", "{error}/s", "Network errors (in and out) per second by interface", "interface"
)
SYSTEM_NET_DROPS = _gauge(
    "system.net_drops", "{packet}/s", "Dropped packets (in and out) per second by interface", "interface"
)
PROCESS_CPU_PERCENT = _gauge("process.cpu_percent", "%", "CPU usage of this process, percent of one core")
PROCESS_MEMORY_RSS_BYTES = _gauge("process.memory_rss_bytes", "By", "Resident memory (RSS) of this process")
PROCESS_MEMORY_VMS_BYTES = _gauge("process.memory_vms_bytes", "By", "Virtual memory (VMS) of this process")
PROCESS_THREADS = _gauge("process.threads", "{thread}", "Threads of this process")
PROCESS_OPEN_FDS = _gauge("process.open_fds", "{count}", "Open file descriptors of this process")
SYSTEM_GPU_PERCENT = _gauge("system.gpu_percent", "%", "GPU utilisation (0-100)", "gpu")
SYSTEM_GPU_MEMORY_PERCENT = _gauge("system.gpu_memory_percent", "%", "GPU memory in use, percent of its size", "gpu")
SYSTEM_GPU_MEMORY_USED_BYTES = _gauge("system.gpu_memory_used_bytes", "By", "GPU memory in use", "gpu")
SYSTEM_GPU_TEMPERATURE_CELSIUS = _gauge("system.gpu_temperature_celsius", "Cel", "GPU temperature", "gpu")
SYSTEM_GPU_POWER_WATTS = _gauge("system.gpu_power_watts", "W", "GPU power draw", "gpu")

#: The system monitor's observable instruments under OTel names, in the order they are created.
SYSTEM_INSTRUMENTS: tuple[MetricSpec, ...] = (
    SYSTEM_CPU_TIME,
    SYSTEM_CPU_UTILIZATION,
    SYSTEM_CPU_LOAD_AVERAGE_1M,
    SYSTEM_CPU_LOAD_AVERAGE_5M,
    SYSTEM_CPU_LOAD_AVERAGE_15M,
    SYSTEM_MEMORY_USAGE,
    SYSTEM_MEMORY_UTILIZATION,
    SYSTEM_MEMORY_LIMIT,
    SYSTEM_SWAP_USAGE,
    SYSTEM_SWAP_UTILIZATION,
    SYSTEM_FILESYSTEM_USAGE,
    SYSTEM_FILESYSTEM_UTILIZATION,
    SYSTEM_DISK_IO,
    SYSTEM_DISK_OPERATIONS,
    SYSTEM_DISK_TIME,
    SYSTEM_NETWORK_IO,
    SYSTEM_NETWORK_PACKETS,
    SYSTEM_NETWORK_ERRORS,
    SYSTEM_NETWORK_DROPPED_PACKETS,
    PROCESS_CPU_TIME,
    PROCESS_CPU_UTILIZATION,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_THREAD_COUNT,
    PROCESS_OPEN_FILE_DESCRIPTOR_COUNT,
    PROCESS_CONTEXT_SWITCHES,
    CPYTHON_GC_COLLECTIONS,
    CPYTHON_GC_COLLECTED_OBJECTS,
    CPYTHON_GC_UNCOLLECTABLE_OBJECTS,
    HW_GPU_UTILIZATION,
    HW_GPU_MEMORY_USAGE,
    HW_GPU_MEMORY_LIMIT,
    HW_GPU_MEMORY_UTILIZATION,
    HW_TEMPERATURE,
    HW_POWER,
)

#: The system monitor's local convenience series (gauges), in the order they are created.
SYSTEM_LOCAL_SERIES: tuple[MetricSpec, ...] = (
    SYSTEM_CPU_PERCENT,
    SYSTEM_CPU_CORE_PERCENT,
    SYSTEM_LOAD_1M,
    SYSTEM_LOAD_5M,
    SYSTEM_LOAD_15M,
    SYSTEM_MEMORY_PERCENT,
    SYSTEM_MEMORY_USED_BYTES,
    SYSTEM_MEMORY_AVAILABLE_BYTES,
    SYSTEM_MEMORY_TOTAL_BYTES,
    SYSTEM_SWAP_PERCENT,
    SYSTEM_SWAP_USED_BYTES,
    SYSTEM_DISK_PERCENT,
    SYSTEM_DISK_USED_BYTES,
    SYSTEM_DISK_FREE_BYTES,
    SYSTEM_DISK_READ,
    SYSTEM_DISK_WRITE,
    SYSTEM_DISK_READ_OPS,
    SYSTEM_DISK_WRITE_OPS,
    SYSTEM_NET_RECV,
    SYSTEM_NET_SENT,
    SYSTEM_NET_RECV_PACKETS,
    SYSTEM_NET_SENT_PACKETS,
    SYSTEM_NET_ERRORS,
    SYSTEM_NET_DROPS,
    PROCESS_CPU_PERCENT,
    PROCESS_MEMORY_RSS_BYTES,
    PROCESS_MEMORY_VMS_BYTES,
    PROCESS_THREADS,
    PROCESS_OPEN_FDS,
    SYSTEM_GPU_PERCENT,
    SYSTEM_GPU_MEMORY_PERCENT,
    SYSTEM_GPU_MEMORY_USED_BYTES,
    SYSTEM_GPU_TEMPERATURE_CELSIUS,
    SYSTEM_GPU_POWER_WATTS,
)

# -- tracked operations, LLM calls, alerts -------------------------------------------------------------
OPERATION_DURATION = MetricSpec(
    "zgen.operation.duration",
    "histogram",
    "s",
    "Duration of tracked agent operations.",
    ("zgen.operation.name", "zgen.operation.outcome", "error.type"),
)
OPERATION_CALLS = MetricSpec(
    "zgen.operation.calls",
    "counter",
    "{call}",
    "Calls of tracked agent operations, by outcome.",
    ("zgen.operation.name", "zgen.operation.outcome", "error.type"),
)
_GEN_AI = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model")
GEN_AI_CLIENT_TOKEN_USAGE = MetricSpec(
    "gen_ai.client.token.usage",
    "histogram",
    "{token}",
    "Number of input and output tokens used.",
    (*_GEN_AI, "gen_ai.token.type"),
)
GEN_AI_CLIENT_OPERATION_DURATION = MetricSpec(
    "gen_ai.client.operation.duration", "histogram", "s", "GenAI operation duration.", (*_GEN_AI, "error.type")
)
GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK = MetricSpec(
    "gen_ai.client.operation.time_to_first_chunk",
    "histogram",
    "s",
    "Time to receive the first chunk of a stream.",
    _GEN_AI[:3],  # no response model: the first chunk comes before it is known
)
LLM_COST = MetricSpec("zgen.llm.cost", "counter", "{currency}", "Cost of LLM calls.", (*_GEN_AI, "zgen.llm.currency"))
GEN_AI_INVOKE_AGENT_DURATION = MetricSpec(
    "gen_ai.invoke_agent.duration",
    "histogram",
    "s",
    "Duration of GenAI invoke_agent operations.",
    ("gen_ai.operation.name", "gen_ai.agent.name", "error.type"),
)
GEN_AI_EXECUTE_TOOL_DURATION = MetricSpec(
    "gen_ai.execute_tool.duration",
    "histogram",
    "s",
    "Duration of GenAI execute_tool operations.",
    ("gen_ai.operation.name", "gen_ai.tool.name", "error.type"),
)
HTTP_SERVER_REQUEST_DURATION = MetricSpec(
    "http.server.request.duration",
    "histogram",
    "s",
    "Duration of HTTP server requests.",
    ("http.request.method", "http.request.method_original", "http.route", "http.response.status_code", "error.type"),
)
TASK_LAST_SUCCESS = MetricSpec(
    "task.last_success", "gauge", "s", "When each scheduled task last succeeded (Unix time).", ("task",)
)
ALERTS = MetricSpec(
    "zgen.alerts",
    "gauge",
    "{alert}",
    "Active alerts (1 per alert) by name, severity and state, like Prometheus' ALERTS.",
    ("alertname", "severity", "alertstate"),
)

#: The instruments of tracked operations, LLM calls, agent and tool calls, requests, tasks and alerts.
PACKAGE_INSTRUMENTS: tuple[MetricSpec, ...] = (
    OPERATION_DURATION,
    OPERATION_CALLS,
    GEN_AI_CLIENT_TOKEN_USAGE,
    GEN_AI_CLIENT_OPERATION_DURATION,
    GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    LLM_COST,
    GEN_AI_INVOKE_AGENT_DURATION,
    GEN_AI_EXECUTE_TOOL_DURATION,
    HTTP_SERVER_REQUEST_DURATION,
    TASK_LAST_SUCCESS,
    ALERTS,
)

#: Every metric above: what the system monitor, tracking, LLM calls and alerts emit under their own names.
ALL_INSTRUMENTS: tuple[MetricSpec, ...] = (*SYSTEM_INSTRUMENTS, *SYSTEM_LOCAL_SERIES, *PACKAGE_INSTRUMENTS)

#: The description of a ``record_metric`` gauge (its help text in Prometheus).
RECORDED_METRIC_DESCRIPTION = "Recorded with zgen_otel.record_metric"
