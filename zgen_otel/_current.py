"""The process's current runtime: where every public function finds it.

This module sits at the bottom of the package and imports nothing that builds a runtime. The module that
does, ``zgen_otel._runtime``, installs its builder here when the package is imported (the way an OTel SDK
installs itself behind the OTel API's globals). So metrics, tracking, alerting and the views reach the
runtime without importing what builds it, and the package has no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["get_runtime", "install_builder", "runtime"]

#: The current runtime, or None before the first use and after ``shutdown()``. Hot paths read it directly
#: (``runtime or get_runtime()``); only ``zgen_otel._runtime`` assigns it.
runtime: Runtime | None = None
_builder: Callable[[], Runtime] | None = None


def install_builder(builder: Callable[[], Runtime]) -> None:
    """Set the function that builds the runtime on first use (called once, by ``zgen_otel._runtime``)."""
    global _builder
    _builder = builder


def get_runtime() -> Runtime:
    """The current runtime, built from the environment on first use."""
    rt = runtime
    if rt is not None:
        return rt
    if _builder is None:  # pragma: no cover - importing any zgen_otel module installs it
        raise RuntimeError("zgen_otel is not initialised: import zgen_otel first")
    return _builder()
