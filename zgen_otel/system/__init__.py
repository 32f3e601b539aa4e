"""The parts of the system monitor (`zgen_otel.system_monitor` holds the monitor and its API).

* `zgen_otel.system.sweep`: what one sweep produced (OTel-named points, local series, the snapshot);
* `zgen_otel.system.readers`: the psutil readings (CPU, load, memory, swap, filesystems, disk I/O,
  network, this process, the garbage collector);
* `zgen_otel.system.nvml`: NVIDIA GPUs through NVML;
* `zgen_otel.system.host`: the election of the one process per host whose OTel instruments ship the
  host-wide series (every process stores them locally).
"""
