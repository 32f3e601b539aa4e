"""GenAI model calls recorded by any instrumentation, read by the OTel GenAI semantic conventions.

An OpenAI instrumentation (``opentelemetry-instrumentation-openai-v2``), pydantic-ai's
(``Agent.instrument_all()``), ``llm_call``: each ends a span per model call with ``gen_ai.operation.name``,
``gen_ai.request.model`` and, when the response said, ``gen_ai.response.model`` and
``gen_ai.usage.input_tokens``/``output_tokens``. This module reads those spans the same way whatever made them:

* `CallCost`, a span processor of every runtime, prices each such call as its span ends (with the
  price table of `zgen_otel.llm.set_price_table`): the cost is added to ``zgen.llm.cost`` and set on the
  span as ``zgen.llm.cost`` and ``zgen.llm.currency``, so that the spans exported carry it too;
* `model_call` and `row_call` give the call a span (kept or received) describes, for the views.

Spans of agent runs and tool calls (``invoke_agent``, ``create_agent``, ``execute_tool``) are not model calls:
their usage, when they carry one, sums the model calls inside them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from zgen_otel import llm
from zgen_otel._records import SpanRow
from zgen_otel._sdk import add_ended_attributes
from zgen_otel.receiver.values import any_value

__all__ = ["NOT_MODEL_CALLS", "CallCost", "ModelCall", "model_call", "row_call"]

_log = logging.getLogger(__name__)

OPERATION, PROVIDER, SYSTEM = "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system"
REQUEST_MODEL, RESPONSE_MODEL = "gen_ai.request.model", "gen_ai.response.model"
INPUT_TOKENS, OUTPUT_TOKENS = "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"
COST, CURRENCY = "zgen.llm.cost", "zgen.llm.currency"
#: GenAI operations that are not one model call: agents and tools.
NOT_MODEL_CALLS = frozenset({"invoke_agent", "create_agent", "execute_tool"})
_KEYS = frozenset({OPERATION, PROVIDER, SYSTEM, REQUEST_MODEL, RESPONSE_MODEL, INPUT_TOKENS, OUTPUT_TOKENS, COST})


@dataclass(frozen=True)
class ModelCall:
    """One model call as its span describes it.

    Attributes:
        operation: ``gen_ai.operation.name`` (``chat``, ``text_completion``, ``embeddings``, ...).
        model: the requested model (the response model when the span names no requested one).
        response_model: the model that answered, when the span says.
        provider: ``gen_ai.provider.name`` (or the older ``gen_ai.system``), when the span says.
        input_tokens: ``gen_ai.usage.input_tokens``, when the span says.
        output_tokens: ``gen_ai.usage.output_tokens``, when the span says.
        cost: ``zgen.llm.cost``, when the call was priced as it ended.
    """

    operation: str
    model: str
    response_model: str | None
    provider: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None

    def metric_attributes(self) -> dict[str, str]:
        """The attributes of the call's GenAI metric points (operation, provider, models)."""
        found = {OPERATION: self.operation, PROVIDER: self.provider, REQUEST_MODEL: self.model,
                 RESPONSE_MODEL: self.response_model}  # fmt: skip
        return {k: v for k, v in found.items() if v is not None}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _tokens(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def model_call(attributes: Mapping[str, Any] | None) -> ModelCall | None:
    """The model call a span's attributes describe; None for any other span (agents and tools included)."""
    if not attributes:
        return None
    operation = _text(attributes.get(OPERATION))
    if operation is None or operation in NOT_MODEL_CALLS:
        return None
    response_model = _text(attributes.get(RESPONSE_MODEL))
    model = _text(attributes.get(REQUEST_MODEL)) or response_model
    if model is None:
        return None
    cost = attributes.get(COST)
    return ModelCall(
        operation,
        model,
        response_model,
        _text(attributes.get(PROVIDER)) or _text(attributes.get(SYSTEM)),
        _tokens(attributes.get(INPUT_TOKENS)),
        _tokens(attributes.get(OUTPUT_TOKENS)),
        float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
    )


def row_call(row: SpanRow) -> ModelCall | None:
    """`model_call` of a span row: a span of this process, or one received over OTLP.

    Only the GenAI attributes of a received span are decoded, not its (possibly long) messages.
    """
    source = row.source
    if isinstance(source, ReadableSpan):
        return model_call(source.attributes)
    wanted = {kv.key: any_value(kv.value) for kv in getattr(source, "attributes", ()) if kv.key in _KEYS}
    return model_call(wanted)


class CallCost(SpanProcessor):
    """Prices each model call of any instrumentation as its span ends: ``zgen.llm.cost`` and a span attribute.

    A call is priced when a price table is set and knows its response model or, failing that, its requested
    model, and the span carries token counts; an unpriced call gets no cost (not 0). ``llm_call`` prices its
    own calls. It must come before the span exporters in the provider's processors. It never raises into
    the code that ends the span: a failure is logged once.
    """

    def __init__(self) -> None:
        self._failed = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do: the usage is known only at the end."""

    def on_end(self, span: ReadableSpan) -> None:
        """Price the span's call when it is a model call with token counts that the price table knows."""
        table = llm.price_table()
        attributes = span.attributes
        if table is None or not attributes or (INPUT_TOKENS not in attributes and OUTPUT_TOKENS not in attributes):
            return
        scope = span.instrumentation_scope
        if COST in attributes or (scope is not None and scope.name == llm.SCOPE):
            return
        try:
            call = model_call(attributes)
            priced = None if call is None else table.priced_model(call.model, call.response_model)
            if call is None or priced is None:
                return
            cost = table.cost(priced, call.input_tokens or 0, call.output_tokens or 0)
            if cost is None:
                return
            llm.record_call_cost(cost, table.currency, call.metric_attributes())
            add_ended_attributes(span, {COST: cost, CURRENCY: table.currency})
        except Exception:
            if not self._failed:
                self._failed = True
                _log.exception("zgen_otel: could not price the GenAI call of span %r", span.name)

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered: a call is priced when its span ends."""
        return True
