"""zgen_otel: OpenTelemetry instrumentation for Python AI agents that works with no backend."""

from zgen_otel._current import get_runtime
from zgen_otel._runtime import configure, is_configured, shutdown
from zgen_otel._version import __version__
from zgen_otel.config import ConfigError, Settings
from zgen_otel.http.background import ServerHandle, start_server  # FastAPI and uvicorn: imported when it starts
from zgen_otel.metrics import (
    get_all_metrics,
    get_latest_value,
    get_metric_average,
    get_metric_history,
    get_metric_stats,
    list_metrics,
    record_metric,
    register_callback,
    unregister_callback,
)
from zgen_otel.performance import (
    get_operation_stats,
    get_performance_stats,
    track,
    track_async,
    track_context,
)

__all__ = [
    "ConfigError",
    "ServerHandle",
    "Settings",
    "__version__",
    "configure",
    "get_all_metrics",
    "get_latest_value",
    "get_metric_average",
    "get_metric_history",
    "get_metric_stats",
    "get_operation_stats",
    "get_performance_stats",
    "get_runtime",
    "is_configured",
    "list_metrics",
    "record_metric",
    "register_callback",
    "shutdown",
    "start_server",
    "track",
    "track_async",
    "track_context",
    "unregister_callback",
]
