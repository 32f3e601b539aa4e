"""What one sweep of the system monitor produced: OTel-named points, local series and the snapshot dict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zgen_otel.semconv import MetricSpec

__all__ = ["Attrs", "Guard", "Sweep"]

Attrs = dict[str, Any]
#: Runs one reading (a name, a call and its arguments) unless that reading was switched off: its result, or None.
Guard = Callable[..., Any]


class Sweep:
    """The readings of one sweep, filled by the readers and then written to the store and the instruments.

    Args:
        now: the sweep's timestamp (seconds since the epoch, from the monitor's clock).
    """

    def __init__(self, now: float) -> None:
        self.now = now
        self.otel: dict[str, list[tuple[float, Attrs]]] = {}
        self.local: list[tuple[str, float, Attrs]] = []
        self.snapshot: dict[str, Any] = {"timestamp": now}

    def point(self, metric: MetricSpec, value: float, attrs: Attrs | None = None) -> None:
        """Add a point of an OTel-named instrument."""
        self.otel.setdefault(metric.name, []).append((float(value), attrs or {}))

    def keep(self, metric: MetricSpec, value: float, attrs: Attrs | None = None) -> None:
        """Add a value of a local convenience series."""
        self.local.append((metric.name, float(value), attrs or {}))

    def replay(self, into: Sweep) -> None:
        """Copy this sweep's readings into another sweep."""
        for name, points in self.otel.items():
            into.otel.setdefault(name, []).extend(points)
        into.local.extend(self.local)
        into.snapshot.update({k: v for k, v in self.snapshot.items() if k != "timestamp"})
