"""One tracked call: start its span, then end it and queue its timing for the tracker (``@track``, ASGI).

`start_call` and `finish_call` are the caller's-thread part of every tracked call: the decorator
and ``track_context`` of `zgen_otel.performance` and the ASGI middleware use them. The ``wrap_*`` functions
are ``@track``'s wrappers of a function, a coroutine function, a generator and an async generator.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from types import CoroutineType, TracebackType
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

from zgen_otel import _current
from zgen_otel._context import CURRENT, with_span
from zgen_otel._sdk import preset_attributes
from zgen_otel._tracker import Outcome, PerformanceTracker
from zgen_otel._util import RateLimitedLogger

__all__ = [
    "Call",
    "Target",
    "finish_call",
    "record_failure",
    "start_call",
    "user_traceback",
    "wrap_async_generator",
    "wrap_coroutine",
    "wrap_function",
    "wrap_generator",
]

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
        call: what `start_call` returned.
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
    that the stack trace leaves out the tracking wrapper's own frames (`user_traceback`).
    """
    module, name = type(exc).__module__, type(exc).__qualname__
    stacktrace = "".join(traceback.format_exception(type(exc), exc, user_traceback(exc)))
    span.add_event("exception", {
        EXCEPTION_TYPE: f"{module}.{name}" if module and module != "builtins" else name,
        EXCEPTION_MESSAGE: str(exc),
        EXCEPTION_STACKTRACE: stacktrace,
    })  # fmt: skip


class Target(NamedTuple):
    """What a decorated function is tracked as."""

    op: str
    kind: SpanKind
    static: dict[str, Any]
    binder: Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]] | None
    count_base: bool

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        """Start a call with the constant attributes plus any recorded arguments."""
        attributes = self.static if self.binder is None else {**self.static, **self.binder(args, kwargs)}
        return start_call(self.op, self.kind, attributes)


def wrap_function(fn: Callable[..., Any], target: Target) -> Callable[..., Any]:
    """A plain function's wrapper (a returned coroutine is tracked until it ends)."""
    op, kind, static, binder, count_base = target

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        rt = _current.runtime
        if rt is not None and rt.performance is None:  # disabled or shut down: straight through
            return fn(*args, **kwargs)
        call = start_call(op, kind, static) if binder is None else target.start(args, kwargs)
        if call is None:
            return fn(*args, **kwargs)
        token = CURRENT.set(call[4])
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            finish_call(call, exc, count_base)
            raise
        finally:
            CURRENT.reset(token)
        if type(result) is CoroutineType:  # e.g. a lambda or wrapper around an async function: the call is its await
            return _finish_when_awaited(result, call, count_base)
        finish_call(call, None, count_base)
        return result

    return wrapper


async def _finish_when_awaited(coro: CoroutineType[Any, Any, Any], call: Call, count_base: bool) -> Any:
    """Await ``coro`` with the call's span current, then end the call with its outcome."""
    token = CURRENT.set(call[4])
    try:
        result = await coro
    except BaseException as exc:
        finish_call(call, exc, count_base)
        raise
    finally:
        CURRENT.reset(token)
    finish_call(call, None, count_base)
    return result


def wrap_coroutine(fn: Callable[..., Any], target: Target) -> Callable[..., Any]:
    """A coroutine function's wrapper: the call lasts until the coroutine ends."""
    op, kind, static, binder, count_base = target

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        rt = _current.runtime
        if rt is not None and rt.performance is None:  # disabled or shut down: straight through
            return await fn(*args, **kwargs)
        call = start_call(op, kind, static) if binder is None else target.start(args, kwargs)
        if call is None:
            return await fn(*args, **kwargs)
        try:
            coro = fn(*args, **kwargs)  # raises here on bad arguments
        except BaseException as exc:
            finish_call(call, exc, count_base)
            raise
        return await _finish_when_awaited(coro, call, count_base)

    return wrapper


def wrap_generator(fn: Callable[..., Generator[Any, Any, Any]], target: Target) -> Callable[..., Any]:
    """A generator's wrapper: the call lasts until it is exhausted or closed; its span is current while it runs."""
    count_base = target.count_base

    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        call = target.start(args, kwargs)
        gen = fn(*args, **kwargs)
        if call is None:
            return (yield from gen)
        sent: Any = None
        thrown: BaseException | None = None
        while True:  # step the generator with the span current, and only while it runs
            token = CURRENT.set(call[4])
            try:
                item = gen.throw(thrown) if thrown is not None else gen.send(sent)
            except StopIteration as stop:
                finish_call(call, None, count_base)
                return stop.value
            except BaseException as exc:
                finish_call(call, exc, count_base)
                raise
            finally:
                CURRENT.reset(token)
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                gen.close()
                finish_call(call, None, count_base)
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper


def wrap_async_generator(fn: Callable[..., AsyncGenerator[Any, Any]], target: Target) -> Callable[..., Any]:
    """An async generator's wrapper: the call lasts until it is exhausted or closed."""
    count_base = target.count_base

    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        call = target.start(args, kwargs)
        agen = fn(*args, **kwargs)
        if call is None:
            async for item in agen:
                yield item
            return
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = CURRENT.set(call[4])
            try:
                item = await (agen.athrow(thrown) if thrown is not None else agen.asend(sent))
            except StopAsyncIteration:
                finish_call(call, None, count_base)
                return
            except BaseException as exc:
                finish_call(call, exc, count_base)
                raise
            finally:
                CURRENT.reset(token)
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                await agen.aclose()
                finish_call(call, None, count_base)
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper
