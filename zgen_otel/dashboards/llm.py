"""The ``llm`` dashboard: the LLM calls of any GenAI instrumentation, per model, from their metrics and spans.

Each row is a requested model, summed over the selected processes. For each process and model:

* calls, errors and mean latency come from ``gen_ai.client.operation.duration`` when the process records it
  for the model (``llm_call``, the OpenAI instrumentation), else from its model-call spans (pydantic-ai
  records no duration metric): a call is counted once, never from both;
* input and output tokens come from ``gen_ai.client.token.usage`` the same way, else from the spans' usage;
* p50/p95/p99 come from the model-call spans of the window still held (``ZGEN_OTEL_MAX_SPANS``), else from
  the duration histogram's buckets that other processes sent;
* the cost is this process's price table (`zgen_otel.llm.set_price_table`) times those tokens, priced
  by the response model when the table knows it, else by the requested one: the same price for every
  source. A model the table does not price shows ``"no price"``, never 0.

Spans count as model calls as `zgen_otel.genai.model_call` says (agent and tool spans do not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zgen_otel import semconv as sc
from zgen_otel._stats import QUANTILES, nearest_rank
from zgen_otel.dashboards.dashboard import DEFAULT_WINDOW, Dashboard
from zgen_otel.dashboards.panels import timeseries
from zgen_otel.dashboards.rendering import window
from zgen_otel.genai import ModelCall, row_call
from zgen_otel.llm import PriceTable, price_table
from zgen_otel.receiver import summarize
from zgen_otel.selection import View, select
from zgen_otel.store import Series

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime

__all__ = ["NO_PRICE", "TOO_LARGE", "LLMDashboard"]

#: The cost cell of a model that the price table does not price (or of every model, without a table).
NO_PRICE = "no price"
#: The cost cell of a model whose cost is beyond the float range.
TOO_LARGE = "beyond the float range"
TOKENS, DURATION = sc.GEN_AI_CLIENT_TOKEN_USAGE.name, sc.GEN_AI_CLIENT_OPERATION_DURATION.name
REQUEST_MODEL, RESPONSE_MODEL = "gen_ai.request.model", "gen_ai.response.model"
Process = tuple[str, str]  # (service, instance)


def _model(s: Series) -> str:
    found = s.attributes.get(REQUEST_MODEL, s.attributes.get(RESPONSE_MODEL, "?"))
    return str(found)


def _llm_label(s: Series) -> str:
    parts = [_model(s), str(s.attributes.get("gen_ai.provider.name", "")), str(s.attributes.get("error.type", ""))]
    return " · ".join(p for p in parts if p)


@dataclass
class _Model:
    """One model's calls in the window, summed over the selected processes."""

    calls: float = 0.0
    errors: float = 0.0
    seconds: float = 0.0
    input: float = 0.0
    output: float = 0.0
    cost: float = 0.0
    unpriced: bool = False
    durations: list[float] = field(default_factory=list)

    def add_tokens(
        self, table: PriceTable | None, model: str, response_model: str | None, tin: float, tout: float
    ) -> None:
        """Add token counts and their cost (or mark the model unpriced)."""
        self.input, self.output = self.input + tin, self.output + tout
        self.price(table, model, response_model, tin, tout)

    def price(
        self, table: PriceTable | None, model: str, response_model: str | None, tin: float = 0, tout: float = 0
    ) -> None:
        """Add the cost of ``tin`` and ``tout`` tokens, or mark the model unpriced when the table has no price."""
        priced = table.priced_model(model, response_model) if table is not None else None
        if table is None or priced is None:
            self.unpriced = True
            return
        try:
            self.cost += table.cost(priced, tin, tout) or 0.0
        except ValueError:  # beyond the float range: shown as such
            self.cost = math.inf


class _Tally:
    """The models of a view in a window: metrics first, then the spans of what the metrics do not cover."""

    def __init__(self, view: View, start: float, end: float, table: PriceTable | None) -> None:
        self.view, self.start, self.end, self.table = view, start, end, table
        self.models: dict[str, _Model] = {}
        self.timed: set[tuple[Process, str]] = set()  # (process, model) recording the duration metric
        self.counted: set[tuple[Process, str]] = set()  # (process, model) recording the token metric

    def model(self, name: str) -> _Model:
        return self.models.setdefault(name, _Model())

    def _total(self, s: Series) -> float:
        return sum(p.value for p in s.points(self.start, self.end))  # per-interval deltas over the window

    def metrics(self) -> None:
        """Calls, errors, time and tokens from the GenAI metrics (local and received)."""
        store, origin = self.view.store, self.view.origin
        for metric, calls in ((f"{DURATION}.count", True), (f"{DURATION}.sum", False)):
            for s in store.series(metric):
                name, total = _model(s), self._total(s)
                self.timed.add((origin(s.attributes), name))
                row = self.model(name)
                if calls:
                    row.calls += total
                    row.errors += total if "error.type" in s.attributes else 0.0
                    row.price(self.table, name, _text(s.attributes.get(RESPONSE_MODEL)))
                else:
                    row.seconds += total
        for s in store.series(f"{TOKENS}.sum"):
            name, total = _model(s), self._total(s)
            self.counted.add((origin(s.attributes), name))
            kind = s.attributes.get("gen_ai.token.type")
            tin, tout = (total, 0.0) if kind == "input" else (0.0, total) if kind == "output" else (0.0, 0.0)
            self.model(name).add_tokens(self.table, name, _text(s.attributes.get(RESPONSE_MODEL)), tin, tout)

    def spans(self) -> None:
        """Durations of every model-call span; calls and tokens of those the metrics do not cover."""
        for row in self.view.span_rows():
            if not row.start or not row.end or row.end / 1e9 < self.start:
                continue
            call = row_call(row)
            if call is None:
                continue
            seconds = (row.end - row.start) / 1e9
            found = self.model(call.model)
            found.durations.append(seconds)
            who = (row.service, row.instance)
            if (who, call.model) not in self.timed:
                found.calls += 1
                found.errors += row.error
                found.seconds += seconds
                if (who, call.model) in self.counted:
                    found.price(self.table, call.model, call.response_model)
            if (who, call.model) not in self.counted:
                self._span_tokens(found, call)

    def _span_tokens(self, found: _Model, call: ModelCall) -> None:
        tin, tout = call.input_tokens or 0, call.output_tokens or 0
        found.add_tokens(self.table, call.model, call.response_model, tin, tout)

    def percentiles(self, name: str, found: _Model) -> list[float | None]:
        """p50, p95, p99 of the model's spans, else of the duration histograms other processes sent."""
        if found.durations:
            ordered = sorted(found.durations)
            return [nearest_rank(ordered, q) for q in QUANTILES]
        summary = summarize(self.view.histograms(DURATION, {REQUEST_MODEL: name}), self.start)
        return [summary.p50, summary.p95, summary.p99]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class LLMDashboard(Dashboard):
    """LLM calls: tokens by model and type, latency (mean, p50, p95, p99), errors and cost."""

    name = "llm"
    title = "LLM calls"
    description = "Tokens by model and type, latency percentiles, errors and cost of LLM calls (GenAI conventions)."

    def get_data(
        self,
        window_seconds: float = DEFAULT_WINDOW,
        *,
        service: str | None = None,
        instance: str | None = None,
        runtime: Runtime | None = None,
    ) -> dict[str, Any]:
        """A table per model (summed over the selected processes) plus token, latency and cost charts."""
        view = select(runtime, service, instance)
        store = view.store
        start, end = window(window_seconds, view.runtime)
        table = price_table()
        tally = _Tally(view, start, end, table)
        tally.metrics()
        tally.spans()
        rows = []
        for name, m in tally.models.items():
            cost: float | str = NO_PRICE if m.unpriced else m.cost if math.isfinite(m.cost) else TOO_LARGE
            rows.append([name, m.calls, m.input, m.output, m.seconds / m.calls if m.calls else None,
                         *tally.percentiles(name, m), m.errors, cost])  # fmt: skip
        currency = table.currency if table is not None else ""
        cost_name = sc.LLM_COST.name
        return {
            "panels": [
                {"id": "models", "type": "table", "title": "Models",
                 "columns": ["model", "calls", "input tokens", "output tokens", "mean latency", "p50", "p95", "p99",
                             "errors", "cost"],
                 "units": ["", "", "", "", "s", "s", "s", "s", "", currency], "rows": rows,
                 "highlight": [i for i, r in enumerate(rows) if r[8]],
                 "note": "summed over the selected processes, from the GenAI metrics, else from the model-call "
                         "spans; p50/p95/p99: over the spans of the window still held in the recent-span "
                         "buffers (ZGEN_OTEL_MAX_SPANS), else from received duration histograms; cost: this "
                         "process's price table times the tokens",
                 "empty": "no LLM calls yet: wrap them in zgen_otel.llm.llm_call(...) or instrument your client "
                          "(an OTel GenAI instrumentation) after zgen_otel.configure()"},
                timeseries("tokens", "Tokens per minute", "{token}/min", store,
                           [(f"{TOKENS}.sum",
                             lambda s: f"{_model(s)} {s.attributes.get('gen_ai.token.type', '')}")], start, end,
                           counts=True),
                timeseries("latency", "Slowest call per collection interval", "s", store,
                           [(f"{DURATION}.max", _llm_label)], start, end),
                timeseries("cost", "Cost (running total)", currency, store, [(cost_name, _llm_label)], start, end),
            ]
        }  # fmt: skip
