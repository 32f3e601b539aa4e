"""One tracked call: start its span, then end it and queue its timing for the tracker (``@track``, ASGI).

:func:`start_call` and :func:`finish_call` are the caller's-thread part of every tracked call: the decorator
and ``track_context`` of :mod:`zgen_otel.performance` and the ASGI middleware use them.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

from zgen_otel import _current
from zgen_otel._context import with_span
from zgen_otel._sdk import preset_attributes
from zgen_otel._tracker import Outcome, PerformanceTracker
from zgen_otel._util import RateLimitedLogger

__all__ = ["Call", "finish_call", "record_failure", "start_call", "user_traceback"]

_warn = RateLimitedLogger(logging.getLogger("zgen_otel.performance"))

#: A started call: (tracker, operation name, start time in ns, span, the context that makes the span current).
#: A plain tuple: the cheapest thing to build on every call.
Call = tuple[PerformanceTracker, str, int, trace.Span, otel_context.Context]
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep  # this package's files: the wrappers' frames


def start_call(name: str, kind: SpanKind, attributes: Mapping[str, Any]) -> Call | None:
    """Start a tracked call, or None when tracking is off or broken (the caller then just runs the code).

    ``attributes`` must be validated already (they may go straight into the SDK span).
    """
    rt = _current.runtime or _current.get_runtime()
    tracker = rt.performance
    if tracker is None:
        return None
    try:
        start = tracker.time_ns()
        span = tracker.tracer.start_span(name, kind=kind, start_time=start)
        if attributes:
            preset_attributes(span, attributes)
        return tracker, name, start, span, with_span(span)
    except Exception:
        _warn.exception("start", "zgen_otel: starting a tracked call failed; running the call untracked")
        return None


def finish_call(call: Call, exc: BaseException | None, count_base: bool) -> None:
    """End the call's span and queue its timing; never raises.

    Args:
        call: what :func:`start_call` returned.
        exc: the exception the call raised, or None.
        count_base: count a ``BaseException`` that is not an ``Exception`` as an error (else: cancelled).
    """
    try:
        tracker, name, start, span, _ = call
        end = tracker.time_ns()
        error_type = None
        outcome = Outcome.SUCCESS
        if exc is not None and not isinstance(exc, GeneratorExit):
            error_type = type(exc).__qualname__
            failure = isinstance(exc, Exception) or count_base
            outcome = Outcome.ERROR if failure else Outcome.CANCELLED
            if span.is_recording():
                span.set_attribute("error.type", error_type)
                record_failure(span, exc)
                if failure:
                    span.set_status(Status(StatusCode.ERROR, f"{error_type}: {exc}"))
        queue = tracker.queue
        if len(queue) == queue.maxlen:  # the worker is behind by a million calls: the oldest goes, counted
            tracker.dropped += 1
        queue.append((name, start, end, error_type, outcome))
        span.end(end)
    except Exception:
        _warn.exception("finish", "zgen_otel: finishing a tracked call failed; the call itself is unaffected")


def user_traceback(exc: BaseException) -> TracebackType | None:
    """``exc``'s traceback from the first frame outside this package: the caller's code, not ``@track``'s wrapper.

    The whole traceback when every frame is this package's (a failure of zgen_otel itself stays visible).
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        tb = tb.tb_next
    return tb or exc.__traceback__


def record_failure(span: trace.Span, exc: BaseException) -> None:
    """Add the OTel ``exception`` event of ``exc`` to ``span``, its stack trace starting at the caller's code.

    The event the SDK's ``record_exception`` writes (``exception.type``, ``.message``, ``.stacktrace``), except
    that the stack trace leaves out the tracking wrapper's own frames (:func:`user_traceback`).
    """
    module, name = type(exc).__module__, type(exc).__qualname__
    stacktrace = "".join(traceback.format_exception(type(exc), exc, user_traceback(exc)))
    span.add_event("exception", {
        EXCEPTION_TYPE: f"{module}.{name}" if module and module != "builtins" else name,
        EXCEPTION_MESSAGE: str(exc),
        EXCEPTION_STACKTRACE: stacktrace,
    })  # fmt: skip
