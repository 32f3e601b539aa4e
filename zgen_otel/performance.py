"""Track agent functions and blocks: spans, duration and outcome metrics, statistics.

``@track()`` works on functions, coroutine functions, generators and async generators; ``@track_async()``
is another name for the same thing; ``with track_context("op")`` (or ``async with``) tracks a block.

On the caller's thread a tracked call costs one span (started with ``Tracer.start_span`` and made current
with ``context.attach``, without the context-manager machinery of ``start_as_current_span``) and one
``deque.append`` of its timing. A background worker turns those timings into the duration histogram, the
call counter and the per-operation statistics; every reader (``get_performance_stats``, a collection)
drains the queue first, so what it sees is exact.

Metrics (each with ``zgen.operation.name`` and ``zgen.operation.outcome``, plus ``error.type`` on errors):

* ``zgen.operation.duration`` — histogram, seconds, buckets from 0.5 ms to 60 s;
* ``zgen.operation.calls`` — counter, ``{call}``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from zgen_otel import _current
from zgen_otel import semconv as sc
from zgen_otel._calls import (
    Call,
    Target,
    finish_call,
    start_call,
    wrap_async_generator,
    wrap_coroutine,
    wrap_function,
    wrap_generator,
)
from zgen_otel._context import CURRENT
from zgen_otel._tracker import DURATION_BUCKETS, GenAIOperation, OperationStats
from zgen_otel._util import RateLimitedLogger, safe_repr
from zgen_otel._validate import INT64_MAX, INT64_MIN, check_attributes, check_name, positive_seconds

__all__ = [
    "DURATION_BUCKETS",
    "OperationStats",
    "current_span",
    "get_operation_stats",
    "get_performance_stats",
    "track",
    "track_agent",
    "track_async",
    "track_context",
    "track_tool",
]

_log = logging.getLogger(__name__)
_warn = RateLimitedLogger(_log)

P = ParamSpec("P")
R = TypeVar("R")

SCOPE = "zgen_otel.performance"
_ATTR_TYPES = (str, bool, int, float)


# -- validation ------------------------------------------------------------------------------------------
_NAME = re.compile(r".*\S.*", re.DOTALL)  # any text that is not empty or blank


def _check_name(name: object) -> str:
    return check_name("track name", name, _NAME, "must be non-empty and not only whitespace")


def _check_kind(kind: object) -> SpanKind:
    if not isinstance(kind, SpanKind):
        allowed = ", ".join(f"SpanKind.{k.name}" for k in SpanKind)
        raise TypeError(f"kind must be one of {allowed}; got {safe_repr(kind)}")
    return kind


def _check_attributes(attributes: object) -> dict[str, Any]:
    return {} if attributes is None else check_attributes(attributes)


def _arg_value(value: object) -> str | bool | int | float:
    if isinstance(value, _ATTR_TYPES) and not (isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX):
        return value  # an int beyond 64 bits cannot be an OTel attribute: it goes as text
    return safe_repr(value, 256)


# -- the decorator ---------------------------------------------------------------------------------------
@overload
def track(name: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def track(
    name: str | None = None,
    /,
    *,
    attributes: Mapping[str, str | bool | int | float] | None = None,
    record_args: Iterable[str] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    count_base_exceptions: bool = False,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def track(
    name: str | Callable[..., Any] | None = None,
    /,
    *,
    attributes: Mapping[str, str | bool | int | float] | None = None,
    record_args: Iterable[str] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    count_base_exceptions: bool = False,
) -> Any:
    """Track every call of a function: a span, its duration and outcome metrics, and statistics.

    Use it bare (``@track``) or called (``@track()``, ``@track("plan", attributes={"agent": "a1"})``) on
    functions, methods, classmethods, staticmethods, coroutine functions, generators and async generators, and on
    callable objects (an ``async def __call__`` is tracked until its coroutine ends). A function that returns a
    coroutine (a lambda or wrapper around an async function) is tracked until that coroutine ends. Classes are
    refused (``TypeError``): the decorated name would be a function, so ``isinstance`` would break.

    Args:
        name: the span and operation name; defaults to the function's qualified name.
        attributes: constant span attributes (str keys; str, bool, int or float values).
        record_args: names of parameters whose values go on the span as ``code.function.arg.<name>``
            (off by default: arguments can hold secrets).
        kind: the span kind.
        count_base_exceptions: count ``KeyboardInterrupt``, ``asyncio.CancelledError`` and other
            ``BaseException`` s as failures (by default they are recorded on the span as ``cancelled``).

    Returns:
        Used bare, the tracked function; called, a decorator that returns the tracked function.

    Raises:
        TypeError: at decoration time: ``kind`` is not a ``SpanKind``, ``attributes`` or ``record_args`` have the
            wrong types, or the target is a class.
        ValueError: at decoration time: ``name`` is empty or blank, or an attribute breaks the naming rules.
    """
    _check_kind(kind)
    if callable(name) or isinstance(name, (classmethod, staticmethod)):
        return _decorate(name, None, {}, None, kind, count_base_exceptions)
    if name is not None:
        _check_name(name)
    attrs = _check_attributes(attributes)
    if isinstance(record_args, str) or (record_args is not None and not isinstance(record_args, Iterable)):
        raise TypeError(f"record_args must be an iterable of parameter names; got {safe_repr(record_args)}")
    wanted = tuple(record_args) if record_args is not None else None

    def decorator(fn: Callable[P, R]) -> Callable[P, R]:
        wrapped: Callable[P, R] = _decorate(fn, name, attrs, wanted, kind, count_base_exceptions)
        return wrapped

    return decorator


def track_async(
    name: str | None = None,
    *,
    attributes: Mapping[str, str | bool | int | float] | None = None,
    record_args: Iterable[str] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    count_base_exceptions: bool = False,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Track every call of a coroutine function: the same as ``track(...)``, which handles them too.

    Args:
        name: the span and operation name; defaults to the function's qualified name.
        attributes: constant span attributes (str keys; str, bool, int or float values).
        record_args: names of parameters whose values go on the span as ``code.function.arg.<name>``.
        kind: the span kind.
        count_base_exceptions: count ``asyncio.CancelledError`` and other ``BaseException`` s as failures.

    Returns:
        A decorator that returns the tracked function.

    Raises:
        TypeError: ``kind``, ``attributes`` or ``record_args`` have the wrong types.
        ValueError: ``name`` is empty or blank, or an attribute breaks the naming rules.
    """
    return track(
        name,
        attributes=attributes,
        record_args=record_args,
        kind=kind,
        count_base_exceptions=count_base_exceptions,
    )


def _decorate(
    fn: Any,
    name: str | None,
    attrs: dict[str, Any],
    record_args: tuple[str, ...] | None,
    kind: SpanKind,
    count_base: bool,
) -> Any:
    if isinstance(fn, (classmethod, staticmethod)):
        return type(fn)(_decorate(fn.__func__, name, attrs, record_args, kind, count_base))
    if not callable(fn):
        raise TypeError(f"track can only decorate a callable; got {type(fn).__name__} {safe_repr(fn)}")
    if inspect.isclass(fn):
        raise TypeError(
            f"track cannot decorate a class ({fn.__qualname__}): the class would become a function and isinstance "
            "and subclassing would break; decorate its methods (__init__, __call__, ...) instead"
        )
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None) or ""
    op = name or qualname
    static = {"code.function.name": f"{module}.{qualname}" if module else qualname, **attrs}
    if module:
        static["code.namespace"] = module
    binder = _arg_binder(fn, record_args) if record_args else None

    target = Target(op, kind, static, binder, count_base)
    code = _code_of(fn)
    if inspect.isasyncgenfunction(code):
        wrapper: Any = wrap_async_generator(fn, target)
    elif inspect.iscoroutinefunction(code):
        wrapper = wrap_coroutine(fn, target)
    elif inspect.isgeneratorfunction(code):
        wrapper = wrap_generator(fn, target)
    else:
        wrapper = wrap_function(fn, target)
    return functools.wraps(fn)(wrapper)


def _code_of(fn: Callable[..., Any]) -> Callable[..., Any]:
    """What says how ``fn`` runs: ``fn`` itself, or for a callable object its ``__call__`` (maybe ``async def``)."""
    if inspect.isroutine(fn) or isinstance(fn, functools.partial):
        return fn
    call: Callable[..., Any] = getattr(fn, "__call__", fn)  # noqa: B004 - the method itself is wanted
    return call


def _arg_binder(
    fn: Callable[..., Any], names: tuple[str, ...]
) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    signature = inspect.signature(fn)
    unknown = [n for n in names if not isinstance(n, str) or n not in signature.parameters]
    if unknown:
        raise ValueError(
            f"record_args names {safe_repr(unknown)} are not parameters of {safe_repr(fn)}; "
            f"allowed: {list(signature.parameters)}"
        )

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            return {}
        return {f"code.function.arg.{n}": _arg_value(bound[n]) for n in names if n in bound}

    return bind


# -- blocks ----------------------------------------------------------------------------------------------
class track_context:
    """Track a block as one operation: ``with track_context("retrieve"):`` or ``async with ...``.

    The block's span is current inside it (``as span`` gives it). Exceptions are recorded and re-raised.

    Args:
        name: the span and operation name.
        attributes: constant span attributes (str keys; str, bool, int or float values).
        kind: the span kind.
        count_base_exceptions: count ``KeyboardInterrupt``, ``asyncio.CancelledError`` and other
            ``BaseException`` s as failures (by default they are recorded on the span as ``cancelled``).

    Raises:
        TypeError: ``kind`` is not a ``SpanKind`` or ``attributes`` have the wrong types.
        ValueError: ``name`` is empty or blank, or an attribute breaks the naming rules.
    """

    def __init__(
        self,
        name: str,
        *,
        attributes: Mapping[str, str | bool | int | float] | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        count_base_exceptions: bool = False,
    ) -> None:
        self._name = _check_name(name)
        self._attributes = _check_attributes(attributes)
        self._kind = _check_kind(kind)
        self._count_base = count_base_exceptions
        self._call: Call | None = None
        self._token: object = None

    def __enter__(self) -> trace.Span:
        self._call = call = start_call(self._name, self._kind, self._attributes)
        if call is None:
            return trace.INVALID_SPAN
        self._token = CURRENT.set(call[4])
        return call[3]

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        call, self._call = self._call, None
        if call is not None:
            CURRENT.reset(self._token)
            finish_call(call, exc, self._count_base)

    async def __aenter__(self) -> trace.Span:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def track_agent(name: str, *, attributes: Mapping[str, str | bool | int | float] | None = None) -> Any:
    """``@track`` for an agent invocation: span ``invoke_agent {name}``, ``gen_ai.invoke_agent.duration``.

    Sets ``gen_ai.operation.name=invoke_agent`` and ``gen_ai.agent.name`` (GenAI semantic conventions).

    Args:
        name: the agent's name.
        attributes: more constant span attributes (str keys; str, bool, int or float values).

    Returns:
        A decorator that returns the tracked function.

    Raises:
        TypeError: ``attributes`` have the wrong types.
        ValueError: ``name`` is empty or blank, or an attribute breaks the naming rules.
    """
    return _genai(sc.GEN_AI_INVOKE_AGENT_DURATION, "gen_ai.agent.name", name, attributes)


def track_tool(name: str, *, attributes: Mapping[str, str | bool | int | float] | None = None) -> Any:
    """``@track`` for a tool call: span ``execute_tool {name}``, ``gen_ai.execute_tool.duration``.

    Sets ``gen_ai.operation.name=execute_tool`` and ``gen_ai.tool.name`` (GenAI semantic conventions).

    Args:
        name: the tool's name.
        attributes: more constant span attributes (str keys; str, bool, int or float values).

    Returns:
        A decorator that returns the tracked function.

    Raises:
        TypeError: ``attributes`` have the wrong types.
        ValueError: ``name`` is empty or blank, or an attribute breaks the naming rules.
    """
    return _genai(sc.GEN_AI_EXECUTE_TOOL_DURATION, "gen_ai.tool.name", name, attributes)


def _genai(metric: sc.MetricSpec, key: str, name: str, attributes: Mapping[str, Any] | None) -> Any:
    """``@track`` of GenAI agent or tool work: its calls also go to ``metric`` (``gen_ai.<operation>.duration``)."""
    _check_name(name)
    operation = metric.name.split(".")[1]  # invoke_agent, execute_tool
    genai = {"gen_ai.operation.name": operation, key: name}
    op = GenAIOperation(f"{operation} {name}", metric, genai)
    return track(op, attributes={**_check_attributes(attributes), **genai})


def current_span() -> trace.Span:
    """Get the span of the innermost tracked call or block running here, to add attributes or events to it.

    Returns:
        That span; OpenTelemetry's invalid span (which ignores what is added) outside any span.
    """
    return trace.get_current_span()


# -- statistics ------------------------------------------------------------------------------------------
def get_performance_stats(window_seconds: float | None = None) -> dict[str, OperationStats]:
    """Read the statistics of every tracked operation.

    Args:
        window_seconds: only the calls of the last this many seconds; None: the whole run.

    Returns:
        The statistics by operation name; ``{}`` when monitoring is disabled.

    Raises:
        ValueError: ``window_seconds`` is not a number > 0.
    """
    if window_seconds is not None:
        window_seconds = positive_seconds("window_seconds", window_seconds)
    tracker = _current.get_runtime().performance
    return {} if tracker is None else tracker.stats(window_seconds)


def get_operation_stats(name: str, window_seconds: float | None = None) -> OperationStats | None:
    """Read the statistics of one tracked operation.

    Args:
        name: the operation name (what ``track`` was given, or the function's qualified name).
        window_seconds: only the calls of the last this many seconds; None: the whole run.

    Returns:
        Its statistics, or None when it was never called (or no call falls in the window).

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: ``window_seconds`` is not a number > 0.
    """
    if not isinstance(name, str):
        raise TypeError(f"operation name must be a str; got {type(name).__name__} {safe_repr(name)}")
    return get_performance_stats(window_seconds).get(name)
