"""LLM calls: token usage, latency and cost with the OTel GenAI semantic conventions.

``with llm_call(model="m", provider="openai") as call: ... call.set_usage(input_tokens=..., output_tokens=...)``
(also ``async with``, and ``@llm_call(...)`` on sync or async functions) records:

* a span ``{operation} {model}`` (kind CLIENT) with ``gen_ai.operation.name``, ``gen_ai.provider.name``,
  ``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens``/``output_tokens``;
* ``gen_ai.client.token.usage`` ({token}, ``gen_ai.token.type`` input/output, the spec's buckets 1 ... 4^13),
  ``gen_ai.client.operation.duration`` (s, ``error.type`` on failure, buckets 0.01 ... 81.92 s),
  ``gen_ai.client.operation.time_to_first_chunk`` (s) for streams (``call.first_chunk()``);
* ``zgen.llm.cost`` (counter, in the price table's currency) when a `PriceTable` knows the model,
  also set on the span as ``zgen.llm.cost`` and ``zgen.llm.currency``.

``record_llm_usage(...)`` records the same metrics for code that already has the numbers. Metric attributes
stay low-cardinality (operation, provider, model, token type, error type) and ``None`` is never sent.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context, trace
from opentelemetry.metrics import Histogram
from opentelemetry.trace import SpanKind, Status, StatusCode

from zgen_otel import _current, semconv
from zgen_otel._fork import fork_safe_lock
from zgen_otel._prices import Price, PriceTable, price_table, set_price_table
from zgen_otel._util import safe_repr
from zgen_otel._validate import INT64_MAX, non_negative_seconds

if TYPE_CHECKING:
    from zgen_otel._providers import Providers

__all__ = [
    "DURATION_BUCKETS",
    "TOKEN_BUCKETS",
    "LLMCall",
    "Price",
    "PriceTable",
    "llm_call",
    "price_table",
    "record_call_cost",
    "record_llm_usage",
    "reset",
    "set_price_table",
]

TOKEN_BUCKETS = [4**i for i in range(14)]  # 1, 4, 16, ... 67,108,864 (the spec's advisory boundaries)
DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]  # 0.01, 0.02, ... 81.92 s
SCOPE = "zgen_otel.llm"
F = TypeVar("F", bound=Callable[..., Any])


def reset() -> None:
    """Forget the price table and the GenAI instruments of earlier runtimes.

    ``zgen_otel.testing.reset()`` calls this. ``zgen_otel.configure()`` does not: a price table set before
    configuring stays in use.
    """
    set_price_table(None)
    _Instruments.clear()


class _Instruments:
    """The GenAI instruments of one runtime (created on first use)."""

    _lock = fork_safe_lock()
    _by_runtime: dict[int, _Instruments] = {}

    def __init__(self, providers: Providers) -> None:
        meter = providers.meter_provider.get_meter(SCOPE)
        self.tracer = providers.tracer_provider.get_tracer(SCOPE)

        def histogram(spec: semconv.MetricSpec, buckets: Sequence[float]) -> Histogram:
            return meter.create_histogram(spec.name, unit=spec.unit, description=spec.description,
                                          explicit_bucket_boundaries_advisory=buckets)  # fmt: skip

        self.tokens = histogram(semconv.GEN_AI_CLIENT_TOKEN_USAGE, TOKEN_BUCKETS)
        self.duration = histogram(semconv.GEN_AI_CLIENT_OPERATION_DURATION, DURATION_BUCKETS)
        self.first_chunk = histogram(semconv.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, DURATION_BUCKETS)
        cost = semconv.LLM_COST
        self.cost = meter.create_counter(cost.name, unit=cost.unit, description=cost.description)

    @classmethod
    def clear(cls) -> None:
        """Forget every runtime's instruments."""
        with cls._lock:
            cls._by_runtime.clear()

    @classmethod
    def get(cls) -> _Instruments | None:
        rt = _current.get_runtime()
        providers = rt.providers
        if providers is None:
            return None
        with cls._lock:
            found = cls._by_runtime.get(id(rt))
            if found is None:
                cls._by_runtime.clear()  # one runtime at a time
                found = cls._by_runtime[id(rt)] = cls(providers)
            return found


def _attrs(**values: Any) -> dict[str, Any]:
    return {k.replace("__", "."): v for k, v in values.items() if v is not None}


def _check_tokens(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number of tokens; got {type(value).__name__} {safe_repr(value)}")
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"{name} must be >= 0 and fit in a signed 64-bit integer; got {safe_repr(value)}")
    return value


def _check_text(name: str, value: object) -> str | None:
    """An optional attribute (provider, response model, error type): None or a non-empty str."""
    if value is not None and (not isinstance(value, str) or not value):
        raise TypeError(f"{name} must be a non-empty str or None; got {safe_repr(value)}")
    return value


def _check_model(model: object) -> str:
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty str; got {safe_repr(model)}")
    return model


def _check_call(model: object, provider: object, operation: object) -> None:
    """Check what a call is tracked as: its model, provider and operation name."""
    _check_model(model)
    _check_text("provider", provider)
    if not isinstance(operation, str) or not operation:
        raise TypeError(f"operation must be a non-empty str such as 'chat'; got {safe_repr(operation)}")


def record_llm_usage(
    model: str,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    *,
    provider: str | None = None,
    operation: str = "chat",
    response_model: str | None = None,
    duration: float | None = None,
    error_type: str | None = None,
) -> float | None:
    """Record the GenAI metrics of a call whose numbers you already have; return its cost (or None).

    For a call made outside ``llm_call`` (a batch job's log, another library's response). No span is made.

    Args:
        model: the model the call asked for (``gen_ai.request.model``).
        input_tokens: the call's input (prompt) tokens, or None when unknown.
        output_tokens: the call's output (completion) tokens, or None when unknown.
        provider: who served it, such as ``"openai"`` (``gen_ai.provider.name``).
        operation: the kind of call (``gen_ai.operation.name``): ``"chat"``, ``"embeddings"``, ...
        response_model: the model that answered, when the response names one; the price table prices it first.
        duration: how long the call took, in seconds (``gen_ai.client.operation.duration``); None records none.
        error_type: the error the call failed with, such as ``"TimeoutError"`` (``error.type`` on the
            duration); None for a call that succeeded.

    Returns:
        The call's cost in the price table's currency; None (and no ``zgen.llm.cost`` is recorded) without a
        price table, without token counts or for a model the table does not price.

    Raises:
        TypeError, ValueError: tokens that are not whole numbers >= 0, an empty model, a duration that is not
            a finite number of seconds >= 0, a provider, operation, response model or error type that is not a
            non-empty str, or a cost beyond the float range.
        NotFoundError: (a ``LookupError``) an unknown model with a strict price table.
    """
    _check_call(model, provider, operation)
    _check_text("response_model", response_model)
    _check_text("error_type", error_type)
    tin, tout = _check_tokens("input_tokens", input_tokens), _check_tokens("output_tokens", output_tokens)
    if duration is not None:
        non_negative_seconds("duration", duration)
    table = price_table()
    cost = None
    if table is not None and (tin is not None or tout is not None):  # no token counts: no cost (not 0)
        cost = table.call_cost(model, response_model, tin or 0, tout or 0)
    inst = _Instruments.get()
    if inst is None:
        return cost
    base = _attrs(gen_ai__operation__name=operation, gen_ai__provider__name=provider, gen_ai__request__model=model,
                  gen_ai__response__model=response_model)  # fmt: skip
    if tin is not None:
        inst.tokens.record(tin, {**base, "gen_ai.token.type": "input"})
    if tout is not None:
        inst.tokens.record(tout, {**base, "gen_ai.token.type": "output"})
    if duration is not None:
        inst.duration.record(duration, {**base, **_attrs(error__type=error_type)})
    if cost is not None and table is not None:
        record_call_cost(cost, table.currency, base)
    return cost


def record_call_cost(cost: float, currency: str, attributes: Mapping[str, Any]) -> None:
    """Add a priced call's cost to ``zgen.llm.cost``; ``attributes`` are its GenAI metric attributes.

    For calls that another instrumentation recorded (see `zgen_otel.genai`); ``llm_call`` and
    `record_llm_usage` record their own. Nothing is recorded before ``zgen_otel.configure()``.

    Args:
        cost: the call's cost, as `PriceTable.call_cost` gives it.
        currency: the price table's currency (``zgen.llm.currency``).
        attributes: the call's metric attributes (``gen_ai.operation.name``, ``gen_ai.request.model``, ...).
    """
    inst = _Instruments.get()
    if inst is not None:
        inst.cost.add(cost, {**attributes, "zgen.llm.currency": currency})


class LLMCall:
    """One LLM call being tracked; get it from ``llm_call(...)``.

    Set what the response says with `set_usage` and ``response_model``; when the ``with`` block ends, the
    span ends and the metrics (and the cost) are recorded.

    Args:
        model: the model asked for.
        provider: who serves it, or None.
        operation: the kind of call, such as ``"chat"``.

    Attributes:
        model: the model asked for (``gen_ai.request.model``).
        provider: who serves it (``gen_ai.provider.name``), or None.
        operation: the kind of call (``gen_ai.operation.name``).
        input_tokens: the input tokens `set_usage` set, or None.
        output_tokens: the output tokens `set_usage` set, or None.
        cost: the call's cost once the block has ended and the price table priced it, else None.
        span: the call's span (a non-recording one before ``zgen_otel.configure()``).

    Raises:
        ValueError: ``model`` is not a non-empty str.
        TypeError: a provider or operation that is not a non-empty str.
    """

    def __init__(self, model: str, provider: str | None, operation: str) -> None:
        _check_call(model, provider, operation)
        self.model, self.provider, self.operation = model, provider, operation
        self._response_model: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cost: float | None = None
        self.span: trace.Span = trace.INVALID_SPAN
        self._start = 0.0
        self._first: float | None = None
        self._token: Any = None

    @property
    def response_model(self) -> str | None:
        """The model that answered (from the response), when it differs from the requested one."""
        return self._response_model

    @response_model.setter
    def response_model(self, model: str | None) -> None:
        self._response_model = _check_text("response_model", model)

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        """Token counts from the response (validated: both are checked before either is kept).

        Args:
            input_tokens: the input (prompt) tokens, or None when the response does not say.
            output_tokens: the output (completion) tokens, or None when the response does not say.

        Raises:
            TypeError: a count that is not an int (a bool or a float is refused).
            ValueError: a count < 0 or beyond a signed 64-bit integer.
        """
        tin, tout = _check_tokens("input_tokens", input_tokens), _check_tokens("output_tokens", output_tokens)
        self.input_tokens, self.output_tokens = tin, tout

    def first_chunk(self) -> None:
        """Mark the arrival of a stream's first chunk (later calls are ignored)."""
        if self._first is None:
            self._first = time.perf_counter() - self._start

    def __enter__(self) -> LLMCall:
        inst = _Instruments.get()
        self._start = time.perf_counter()
        if inst is not None:
            attributes = _attrs(gen_ai__operation__name=self.operation, gen_ai__provider__name=self.provider,
                                gen_ai__request__model=self.model)  # fmt: skip
            self.span = inst.tracer.start_span(f"{self.operation} {self.model}", kind=SpanKind.CLIENT,
                                               attributes=attributes)  # fmt: skip
            self._token = context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        duration = time.perf_counter() - self._start
        error_type = type(exc).__qualname__ if exc is not None else None
        if self._token is not None:
            context.detach(self._token)
        try:
            self.cost = record_llm_usage(self.model, self.input_tokens, self.output_tokens, provider=self.provider,
                                         operation=self.operation, response_model=self.response_model,
                                         duration=duration, error_type=error_type)  # fmt: skip
        finally:  # the span ends even when a strict price table refuses the model
            self._end_span(exc, error_type)
        inst = _Instruments.get()
        if inst is not None and self._first is not None:
            inst.first_chunk.record(self._first, _attrs(gen_ai__operation__name=self.operation,
                                                        gen_ai__provider__name=self.provider,
                                                        gen_ai__request__model=self.model))  # fmt: skip

    def _end_span(self, exc: BaseException | None, error_type: str | None) -> None:
        span = self.span
        if not span.is_recording():
            return
        table = price_table()
        currency = table.currency if table is not None and self.cost is not None else None
        span.set_attributes(_attrs(gen_ai__response__model=self.response_model,
                                   gen_ai__usage__input_tokens=self.input_tokens,
                                   gen_ai__usage__output_tokens=self.output_tokens, error__type=error_type,
                                   zgen__llm__cost=self.cost, zgen__llm__currency=currency))  # fmt: skip
        if exc is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{error_type}: {exc}"))
        span.end()

    async def __aenter__(self) -> LLMCall:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class llm_call:
    """Track an LLM call: ``with llm_call(model=...) as call`` / ``async with`` / ``@llm_call(model=...)``.

    As a decorator on a function that returns a dict-like response with ``usage`` (``input_tokens``/
    ``prompt_tokens`` and ``output_tokens``/``completion_tokens``) and ``model``, the usage is read from it.
    Each ``with`` block or decorated call is a new `LLMCall`.

    Args:
        model: the model asked for (``gen_ai.request.model``; the span is named ``{operation} {model}``).
        provider: who serves it, such as ``"openai"`` (``gen_ai.provider.name``), or None.
        operation: the kind of call (``gen_ai.operation.name``): ``"chat"`` by default.

    Raises:
        ValueError: ``model`` is not a non-empty str (checked at once, not when the call runs).
        TypeError: a provider or operation that is not a non-empty str.
        NotFoundError: (a ``LookupError``, when the block ends) a model a strict price table does not know;
            the span still ends.
    """

    def __init__(self, model: str, provider: str | None = None, operation: str = "chat") -> None:
        LLMCall(model, provider, operation)  # validate now
        self.model, self.provider, self.operation = model, provider, operation
        self._call: LLMCall | None = None

    def __enter__(self) -> LLMCall:
        self._call = LLMCall(self.model, self.provider, self.operation)
        return self._call.__enter__()

    def __exit__(self, *exc: Any) -> None:
        assert self._call is not None
        self._call.__exit__(*exc)

    async def __aenter__(self) -> LLMCall:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)

    def __call__(self, fn: F) -> F:
        """Decorate a sync or async function whose return value carries ``usage`` and ``model``."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with LLMCall(self.model, self.provider, self.operation) as call:
                    result = await fn(*args, **kwargs)
                    _read_usage(call, result)
                    return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with LLMCall(self.model, self.provider, self.operation) as call:
                result = fn(*args, **kwargs)
                _read_usage(call, result)
                return result

        return wrapper  # type: ignore[return-value]


def _read_usage(call: LLMCall, response: Any) -> None:
    get = response.get if isinstance(response, Mapping) else lambda k, d=None: getattr(response, k, d)
    usage = get("usage")
    if usage is None:
        return
    uget = usage.get if isinstance(usage, Mapping) else lambda k, d=None: getattr(usage, k, d)
    tin = uget("input_tokens", uget("prompt_tokens"))
    tout = uget("output_tokens", uget("completion_tokens"))
    call.set_usage(tin, tout)
    model = get("model")
    if isinstance(model, str) and model:
        call.response_model = model
