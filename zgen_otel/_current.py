"""The process's current runtime: where every public function finds it.

This module sits at the bottom of the package and imports nothing that builds a runtime. The module that
does, ``zgen_otel._runtime``, installs its builder here when the package is imported (the way an OTel SDK
installs itself behind the OTel API's globals). So metrics, tracking, alerting and the views reach the
runtime without importing what builds it, and the package has no import cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["get_runtime", "install_builder", "on_runtime_start", "on_shutdown", "runtime", "shutting_down", "started"]

_log = logging.getLogger(__name__)

#: The current runtime, or None before the first use and after ``shutdown()``. Hot paths read it directly
#: (``runtime or get_runtime()``); only ``zgen_otel._runtime`` assigns it.
runtime: Runtime | None = None
_builder: Callable[[], Runtime] | None = None
_start_hooks: list[Callable[[Runtime], None]] = []
_shutdown_hooks: list[Callable[[], None]] = []


def install_builder(builder: Callable[[], Runtime]) -> None:
    """Set the function that builds the runtime on first use (called once, by ``zgen_otel._runtime``)."""
    global _builder
    _builder = builder


def get_runtime() -> Runtime:
    """Get the current runtime, built from the environment on first use.

    Returns:
        The runtime: its settings, store, OTel providers and background work (``status()`` describes it).

    Raises:
        RuntimeError: zgen_otel's runtime module was never imported (importing ``zgen_otel`` does it).
    """
    rt = runtime
    if rt is not None:
        return rt
    if _builder is None:  # pragma: no cover - importing any zgen_otel module installs it
        raise RuntimeError("zgen_otel is not initialised: import zgen_otel first")
    return _builder()


def on_runtime_start(hook: Callable[[Runtime], None]) -> None:
    """Call ``hook(runtime)`` after each runtime is built (first use or ``configure()``), outside the runtime lock.

    It may run more than once for one runtime (threads racing to build it), so it must be idempotent. An error
    in it is logged, never raised into the call that built the runtime.
    """
    _start_hooks.append(hook)


def on_shutdown(hook: Callable[[], None]) -> None:
    """Call ``hook()`` at each ``zgen_otel.shutdown()`` (and interpreter exit), before the runtime flushes its data."""
    _shutdown_hooks.append(hook)


def started(rt: Runtime) -> None:
    """Run the start hooks for ``rt`` (called by ``zgen_otel._runtime`` once it has built a runtime)."""
    _run(_start_hooks, rt)


def shutting_down() -> None:
    """Run the shutdown hooks (called by ``zgen_otel.shutdown()`` before the runtime stops)."""
    _run(_shutdown_hooks)


def _run(hooks: Sequence[Callable[..., None]], *args: Any) -> None:
    for hook in hooks:
        try:
            hook(*args)
        except Exception:
            _log.exception("zgen_otel: error in %s", getattr(hook, "__qualname__", hook))
