"""Global OTel providers that follow the current runtime.

OTel lets a process set its global providers once. zgen_otel sets them (when the host has none) to these
proxies, which forward to whichever runtime is current: after ``configure()`` replaces the runtime,
instruments and tracers that other libraries obtained from the globals keep working on the new one.

The meter side reuses the OTel API's own proxy instruments (``_sdk.RebindableMeter``), which already know how
to re-create their real instrument on a new meter; only the binding is ours, so it can happen more than once.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.util.types import Attributes

from zgen_otel._fork import fork_safe_lock
from zgen_otel._sdk import RebindableMeter

__all__ = ["GlobalMeterProvider", "GlobalTracerProvider"]


class GlobalMeterProvider(metrics.MeterProvider):
    """The process's global MeterProvider while zgen_otel owns it: forwards to the current runtime."""

    def __init__(self) -> None:
        self._lock = fork_safe_lock()
        self._meters: dict[tuple[str, str | None, str | None], RebindableMeter] = {}
        self._target: metrics.MeterProvider | None = None

    def get_meter(
        self, name: str, version: str | None = None, schema_url: str | None = None, attributes: Attributes = None
    ) -> metrics.Meter:
        """A meter that follows the current runtime's provider."""
        key = (name, version, schema_url)
        with self._lock:
            meter = self._meters.get(key)
            if meter is None:
                meter = self._meters[key] = RebindableMeter(name, version, schema_url)
                if self._target is not None:
                    meter.on_set_meter_provider(self._target)
            return meter

    def bind(self, target: metrics.MeterProvider) -> None:
        """Point every meter handed out so far, and every later one, at ``target``."""
        with self._lock:
            self._target = target
            for meter in self._meters.values():
                meter.on_set_meter_provider(target)


class _ForwardingTracer(trace.Tracer):
    """A tracer that starts its spans on the current runtime's TracerProvider."""

    def __init__(self, provider: GlobalTracerProvider, args: tuple[str, str | None, str | None]) -> None:
        self._provider = provider
        self._args = args

    def _real(self) -> trace.Tracer:
        return self._provider.target.get_tracer(*self._args)

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        """Start a span on the current provider."""
        return self._real().start_span(name, *args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        """Start a span on the current provider and make it current for the block."""
        return self._real().start_as_current_span(*args, **kwargs)


class GlobalTracerProvider(trace.TracerProvider):
    """The process's global TracerProvider while zgen_otel owns it: forwards to the current runtime."""

    def __init__(self) -> None:
        self.target: trace.TracerProvider = trace.NoOpTracerProvider()

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        """A tracer that follows the current runtime's provider."""
        return _ForwardingTracer(self, (instrumenting_module_name, instrumenting_library_version, schema_url))

    def bind(self, target: trace.TracerProvider) -> None:
        """Send every span started through the globals to ``target`` from now on."""
        self.target = target
