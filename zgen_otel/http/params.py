"""What the JSON API and the web pages take from a request: the runtime to read, and parameters with their limits.

FastAPI sets a ``Query``'s alias to the parameter's name: each constant serves parameters of one name only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from zgen_otel import _current
from zgen_otel._runtime import Runtime
from zgen_otel.logs import LEVELS
from zgen_otel.selection import MAX_NAME

__all__ = [
    "CATEGORY",
    "CONTAINS",
    "DASHBOARD",
    "INSTANCE",
    "LOGGER",
    "MAX_TIME",
    "METRIC",
    "MIN_DURATION",
    "MIN_LEVEL",
    "OPERATION",
    "ORDER",
    "PAGE",
    "REFRESH",
    "SEARCH",
    "SERVICE",
    "SINCE",
    "STATUS",
    "TRACE_FILTER",
    "TRACE_ID",
    "UNTIL",
    "WINDOW",
    "CurrentRuntime",
    "runtime_of",
]

_TRACE_ID_PATTERN = "^[0-9a-fA-F]{32}$"
_LEVELS = f"^({'|'.join([*LEVELS, *(level.lower() for level in LEVELS)])})$"  # the level names, in either case

#: A dashboard's name (``/dashboard/{name}``, ``/monitoring/{name}``).
DASHBOARD: Any = Path(..., pattern=r"^[A-Za-z0-9_.\-]{1,100}$")
#: ``window``: seconds of history a dashboard shows.
WINDOW: Any = Query(3600, gt=0, le=366 * 86_400)
#: The latest Unix time a ``since`` or ``until`` may name (the year 5138): past it, and at an infinity or a
#: number too long for a float, the answer is 422, not a failing comparison deep in a query.
MAX_TIME = 1e11
#: ``since``: items at or after this Unix time (seconds).
SINCE: Any = Query(None, ge=0, le=MAX_TIME, allow_inf_nan=False, description="Unix time, seconds")
#: ``until``: items before this Unix time (seconds).
UNTIL: Any = Query(None, ge=0, le=MAX_TIME, allow_inf_nan=False, description="Unix time, seconds")
#: ``refresh``: seconds between two refreshes of a live page (1 s to 1 hour): a page cannot poll in a loop.
REFRESH: Any = Query(5, ge=1, le=3600, allow_inf_nan=False, description="seconds")
#: A trace id in the path: 32 hex digits.
TRACE_ID: Any = Path(..., pattern=_TRACE_ID_PATTERN)
#: ``operation``: traces with a span of this name.
OPERATION: Any = Query(None, max_length=255)
#: ``status``: traces that failed (``error``) or did not (``ok``).
STATUS: Any = Query(None, pattern="^(ok|error)$")
#: ``min_duration``: traces lasting at least this many seconds.
MIN_DURATION: Any = Query(None, ge=0, le=366 * 86_400, description="seconds")
#: ``order``: newest (``recent``) or ``slowest`` first.
ORDER: Any = Query("recent", pattern="^(recent|slowest)$")
#: ``min_level``: log records of this level and above.
MIN_LEVEL: Any = Query(None, pattern=_LEVELS)
#: ``logger``: log records of this logger and its children.
LOGGER: Any = Query(None, max_length=255)
#: ``contains``: log records whose message contains this text.
CONTAINS: Any = Query(None, max_length=255)
#: ``trace_id`` as a filter: log records of this trace.
TRACE_FILTER: Any = Query(None, pattern=_TRACE_ID_PATTERN)
#: ``search``: words a listed item must contain (the metrics dashboard: in a series' name, category or attributes).
SEARCH: Any = Query(None, max_length=255)
#: ``category``: only the metrics of this category.
CATEGORY: Any = Query(None, max_length=255)
#: ``page``: which page of a paged dashboard, from 1.
PAGE: Any = Query(None, ge=1, le=10**9)
#: ``metric``: the metric a dashboard draws as a full chart.
METRIC: Any = Query(None, max_length=255)
#: ``service``: only this service's telemetry (one that sent nothing gives an empty answer); empty: all.
SERVICE: Any = Query(None, max_length=MAX_NAME, description="a service.name; empty or absent: every service")
#: ``instance``: only this process's telemetry (its ``service.instance.id``); empty: all.
INSTANCE: Any = Query(None, max_length=MAX_NAME, description="a service.instance.id; empty or absent: every one")


async def runtime_of(request: Request) -> Runtime:
    """Dependency: the app's runtime (``make_app(runtime=...)``), else the current one at this request."""
    runtime: Runtime | None = request.app.state.zgen_runtime
    return runtime if runtime is not None else _current.get_runtime()


CurrentRuntime = Annotated[Runtime, Depends(runtime_of)]
