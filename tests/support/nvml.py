"""A stand-in for nvidia-ml-py's ``pynvml`` (no NVIDIA GPU on the test machines): two GPUs of known readings."""

from __future__ import annotations

import types
from typing import Any


class NVMLError(Exception):
    """What nvidia-ml-py raises (pynvml.NVMLError)."""


def fake_pynvml(*, driver: bool = True, power_fails_after: int | None = None) -> types.ModuleType:
    """A stand-in for nvidia-ml-py's ``pynvml`` with two GPUs of known readings (no NVIDIA GPU here).

    ``driver=False``: ``nvmlInit`` fails as without a driver. ``power_fails_after``: GPU 1's power reading
    fails from that call on (the board does not support it).
    """
    nvml = types.ModuleType("pynvml")
    calls = {"power": 0}

    def init() -> None:
        if not driver:
            raise NVMLError("Driver Not Loaded")

    def power(handle: int) -> int:
        calls["power"] += 1
        if handle == 1 and power_fails_after is not None and calls["power"] > power_fails_after:
            raise NVMLError("Not Supported")
        return (250_500, 61_000)[handle]  # milliwatts

    readings: dict[str, Any] = {
        "NVMLError": NVMLError,
        "NVML_TEMPERATURE_GPU": 0,
        "nvmlInit": init,
        "nvmlDeviceGetCount": lambda: 2,
        "nvmlDeviceGetHandleByIndex": lambda i: i,
        "nvmlDeviceGetName": lambda h: (b"NVIDIA H200", "NVIDIA L4")[h],  # bytes in old releases, str in new
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(gpu=(87, 3)[h], memory=(40, 1)[h]),
        "nvmlDeviceGetMemoryInfo": lambda h: types.SimpleNamespace(
            used=(96 << 30, 1 << 30)[h], total=(144 << 30, 24 << 30)[h], free=(48 << 30, 23 << 30)[h]
        ),
        "nvmlDeviceGetTemperature": lambda h, sensor: (71, 38)[h] if sensor == 0 else -1,
        "nvmlDeviceGetPowerUsage": power,
    }
    for name, value in readings.items():
        setattr(nvml, name, value)
    return nvml
