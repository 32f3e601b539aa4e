"""LLM calls: GenAI spans and metrics (names, units, buckets, attributes), cost from a price table, bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from otlp_receiver import OtlpReceiver, attributes_dict

import zgen_otel
from zgen_otel.llm import DURATION_BUCKETS, TOKEN_BUCKETS, PriceTable, llm_call, record_llm_usage, set_price_table
from zgen_otel.testing import Capture, capture


@pytest.fixture
def cap() -> Iterator[Capture]:
    set_price_table(PriceTable({"small-1": (0.15, 0.60)}, currency="USD"))
    with capture(interval=3600, system_monitor=False) as c:
        yield c
    set_price_table(None)


def points(cap: Capture, name: str) -> list[Any]:
    return [p for m in cap.metrics() if m.name == name for p in m.data.data_points]


def test_llm_call_records_genai_span_and_metrics(cap: Capture) -> None:
    with llm_call(model="small-1", provider="openai") as call:
        call.first_chunk()
        call.response_model = "small-1-2026"
        call.set_usage(input_tokens=1200, output_tokens=300)
    (span,) = cap.spans()
    attrs = dict(span.attributes or {})
    assert span.name == "chat small-1" and span.kind.name == "CLIENT"
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "small-1",
        "gen_ai.response.model": "small-1-2026",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
    }
    tokens = {p.attributes["gen_ai.token.type"]: p for p in points(cap, "gen_ai.client.token.usage")}
    assert (tokens["input"].sum, tokens["output"].sum) == (1200, 300)
    assert list(tokens["input"].explicit_bounds) == TOKEN_BUCKETS and TOKEN_BUCKETS[-1] == 67_108_864
    (duration,) = points(cap, "gen_ai.client.operation.duration")
    assert list(duration.explicit_bounds) == pytest.approx(DURATION_BUCKETS) and DURATION_BUCKETS[-1] == pytest.approx(
        81.92
    )
    assert "error.type" not in duration.attributes
    assert len(points(cap, "gen_ai.client.operation.time_to_first_chunk")) == 1
    (cost,) = points(cap, "zgen.llm.cost")
    assert cost.value == pytest.approx(call.cost) == pytest.approx((1200 * 0.15 + 300 * 0.60) / 1e6) is not None


def test_failures_and_none_attributes(cap: Capture) -> None:
    with pytest.raises(TimeoutError), llm_call(model="unknown-model"):
        raise TimeoutError("provider timed out")
    (span,) = cap.spans()
    assert span.status.status_code.name == "ERROR" and dict(span.attributes or {})["error.type"] == "TimeoutError"
    assert "gen_ai.provider.name" not in dict(span.attributes or {})  # None is never sent
    (duration,) = points(cap, "gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "TimeoutError"
    assert points(cap, "zgen.llm.cost") == []  # no price for this model


def test_decorators_read_usage_from_the_response(cap: Capture) -> None:
    @llm_call(model="small-1", provider="openai")
    def complete(prompt: str) -> dict[str, Any]:
        return {"model": "small-1", "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "text": prompt}

    @llm_call(model="small-1", operation="embeddings")
    async def embed(text: str) -> dict[str, Any]:
        return {"usage": {"input_tokens": 7}}

    assert complete("hi")["text"] == "hi"
    asyncio.run(embed("x"))
    spans = {s.name: dict(s.attributes or {}) for s in cap.spans()}
    assert spans["chat small-1"]["gen_ai.usage.output_tokens"] == 5
    assert spans["embeddings small-1"]["gen_ai.usage.input_tokens"] == 7


def test_record_llm_usage_and_cost(tmp_path: Path, cap: Capture) -> None:
    assert record_llm_usage("small-1", 1_000_000, 1_000_000, provider="openai", duration=1.5) == pytest.approx(0.75)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"currency": "EUR", "models": {"big": {"input": 3, "output": 15}}}))
    table = PriceTable.from_file(prices, strict=True)
    assert table.cost("big", 2000, 1000) == pytest.approx((2000 * 3 + 1000 * 15) / 1e6)
    with pytest.raises(LookupError, match="no price for model 'other'"):
        table.cost("other", 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"input_tokens": -1}, ValueError),
        ({"input_tokens": "12"}, TypeError),
        ({"output_tokens": 1.5}, TypeError),
        ({"duration": -2}, ValueError),
    ],
)
def test_bad_input(cap: Capture, kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        record_llm_usage("small-1", **kwargs)
    with pytest.raises(ValueError, match="model"):
        llm_call(model="")
    with pytest.raises(ValueError, match="price"):
        PriceTable({"m": (-1, 1)})


def test_genai_metrics_arrive_over_otlp() -> None:
    with OtlpReceiver("http/protobuf") as receiver:
        zgen_otel.configure(otlp_endpoint=receiver.endpoint, interval=3600, system_monitor=False)
        with llm_call(model="small-1", provider="openai") as call:
            call.set_usage(input_tokens=42, output_tokens=8)
        zgen_otel.get_runtime().force_flush()
        assert receiver.wait_for(lambda: receiver.metrics_requests and receiver.span_names())
        metrics = {m.name: m for r in receiver.metrics_requests for rm in r.resource_metrics for sm in rm.scope_metrics
                   for m in sm.metrics}  # fmt: skip
        usage = metrics["gen_ai.client.token.usage"]
        assert usage.unit == "{token}"
        by_type = {attributes_dict(p.attributes)["gen_ai.token.type"]: p for p in usage.histogram.data_points}
        assert (by_type["input"].sum, by_type["output"].sum) == (42, 8)
        assert list(by_type["input"].explicit_bounds) == TOKEN_BUCKETS
        assert metrics["gen_ai.client.operation.duration"].unit == "s"
        assert "chat small-1" in receiver.span_names()
        zgen_otel.testing.reset()


def test_budget_alert_on_cost_over_a_window() -> None:
    from zgen_otel.alerting import get_alert_manager

    set_price_table(PriceTable({"big": (3.0, 15.0)}))
    try:
        zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
        manager = get_alert_manager()
        manager.add_metric_rule("llm_budget", "LLM spend above $1 in an hour", "zgen.llm.cost", threshold=1.0,
                                aggregate="increase", window=3600, severity="error")  # fmt: skip
        record_llm_usage("big", 100_000, 10_000)  # $0.45
        zgen_otel.get_runtime().collect()
        assert manager.get_active_alerts() == []
        record_llm_usage("big", 200_000, 40_000)  # +$1.20: $1.65 in the hour, $1.20 since the first sample
        zgen_otel.get_runtime().collect()
        (alert,) = manager.get_active_alerts()
        assert alert.name == "llm_budget" and alert.value == pytest.approx(1.20)
    finally:
        set_price_table(None)
