"""NVIDIA GPUs through NVML (nvidia-ml-py, the ``gpu`` extra): utilisation, memory, temperature and power."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from zgen_otel import semconv as sc
from zgen_otel.system.sweep import Attrs, Guard, Sweep

__all__ = ["Nvml"]

_log = logging.getLogger(__name__)


class Nvml:
    """The GPUs NVML sees; `open` gives None without the package, a driver or a GPU.

    Each NVML reading of each GPU is guarded on its own: one the GPU does not support (power on some
    boards) is switched off with one warning, and the other readings go on.

    Args:
        nvml: the ``pynvml`` module, initialised.
        handles: one NVML device handle per GPU.
        guard: runs one reading unless it was switched off (the monitor's).
    """

    def __init__(self, nvml: Any, handles: list[Any], guard: Guard) -> None:
        self._nvml = nvml
        self._handles = handles
        self._guard = guard

    @classmethod
    def open(cls, guard: Guard) -> Nvml | None:
        """Initialise NVML, or return None (silently) where there is no package, driver or GPU."""
        try:
            # Imported here: an optional dependency, looked up each time a monitor is built.
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception as exc:
            _log.debug("zgen_otel: no NVIDIA GPU metrics (%s)", exc)
            return None
        return cls(pynvml, handles, guard) if handles else None

    def read(self, sweep: Sweep) -> None:
        """Utilisation, memory, temperature and power of every GPU (what each one supports)."""
        sweep.snapshot["gpus"] = [self._read_gpu(sweep, index, handle) for index, handle in enumerate(self._handles)]

    def _read_gpu(self, sweep: Sweep, index: int, handle: Any) -> dict[str, Any]:
        """One GPU's readings into ``sweep``; its snapshot entry."""
        nvml = self._nvml
        hw: Attrs = {"hw.id": f"gpu{index}"}
        name = self._reading(index, "hw.name", nvml.nvmlDeviceGetName, handle)
        if name is not None:
            hw["hw.name"] = name.decode() if isinstance(name, bytes) else str(name)
        local = {"gpu": str(index)}
        info: dict[str, Any] = {"index": index, "name": hw.get("hw.name")}
        util = self._reading(index, sc.HW_GPU_UTILIZATION.name, nvml.nvmlDeviceGetUtilizationRates, handle)
        if util is not None:
            sweep.point(sc.HW_GPU_UTILIZATION, util.gpu / 100, hw)
            sweep.keep(sc.SYSTEM_GPU_PERCENT, util.gpu, local)
            info["percent"] = util.gpu
        memory = self._reading(index, sc.HW_GPU_MEMORY_USAGE.name, nvml.nvmlDeviceGetMemoryInfo, handle)
        if memory is not None:
            memory_percent = 100.0 * memory.used / (memory.total or 1)
            sweep.point(sc.HW_GPU_MEMORY_USAGE, memory.used, hw)
            sweep.point(sc.HW_GPU_MEMORY_LIMIT, memory.total, hw)
            sweep.point(sc.HW_GPU_MEMORY_UTILIZATION, memory.used / (memory.total or 1), hw)
            sweep.keep(sc.SYSTEM_GPU_MEMORY_PERCENT, memory_percent, local)
            sweep.keep(sc.SYSTEM_GPU_MEMORY_USED_BYTES, memory.used, local)
            info.update(memory_used=memory.used, memory_total=memory.total, memory_percent=memory_percent)
        sensor = {**hw, "hw.type": "gpu"}
        temperature = self._reading(
            index, sc.HW_TEMPERATURE.name, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU
        )
        if temperature is not None:
            sweep.point(sc.HW_TEMPERATURE, temperature, sensor)
            sweep.keep(sc.SYSTEM_GPU_TEMPERATURE_CELSIUS, temperature, local)
            info["temperature_celsius"] = temperature
        milliwatts = self._reading(index, sc.HW_POWER.name, nvml.nvmlDeviceGetPowerUsage, handle)
        if milliwatts is not None:
            power = milliwatts / 1000.0
            sweep.point(sc.HW_POWER, power, sensor)
            sweep.keep(sc.SYSTEM_GPU_POWER_WATTS, power, local)
            info["power_watts"] = power
        return info

    def _reading(self, index: int, metric: str, call: Callable[..., Any], *args: Any) -> Any:
        """One NVML call for one GPU's metric, or None where that GPU does not support it."""
        return self._guard(f"{metric} (gpu{index})", call, *args)
