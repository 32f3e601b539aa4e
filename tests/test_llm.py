"""LLM calls and agent work: GenAI spans and metrics in memory and over OTLP, cost, budget alerts, bad input."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zgen_otel
from tests.support.binaries import require_binary
from tests.support.otlp import OtlpReceiver, attributes_dict, flush, otlp_points, otlp_spans, over_otlp
from zgen_otel.exceptions import DefinitionError, NotFoundError
from zgen_otel.llm import DURATION_BUCKETS, TOKEN_BUCKETS, PriceTable, llm_call, record_llm_usage, set_price_table
from zgen_otel.testing import Capture, capture


@pytest.fixture
def prices() -> None:
    set_price_table(PriceTable({"small-1": (0.15, 0.60)}, currency="USD"))


@pytest.fixture
def cap(prices: None) -> Iterator[Capture]:
    with capture(interval=3600, system_monitor=False) as c:
        yield c


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
        "zgen.llm.cost": pytest.approx((1200 * 0.15 + 300 * 0.60) / 1e6),  # set on the span before it ends
        "zgen.llm.currency": "USD",
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
    with pytest.raises(LookupError, match="no price for model 'other'") as missing:
        table.cost("other", 1, 1)
    assert isinstance(missing.value, NotFoundError)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", 'must hold an object with "models"'),
        ('{"models": ["big"]}', 'must hold an object with "models"'),
        ('{"models": {"big": {"input": 3}}}', 'model \'big\' needs numbers "input" and "output"'),
        ('{"models": {"big": {"input": 3, "output": null}}}', "model 'big' needs numbers"),
        ('{"models": {"big": [3, 15]}}', "got [3, 15]"),
        ('{"models": {"big": {"input": -3, "output": 15}}}', "price"),
    ],
)
def test_a_bad_price_file_is_one_clear_error_naming_the_file(tmp_path: Path, content: str, expected: str) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(content)
    with pytest.raises(DefinitionError, match=re.escape(expected)):  # a ValueError
        PriceTable.from_file(prices)


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
    with pytest.raises(DefinitionError, match="price"):
        PriceTable({"m": (-1, 1)})
    with pytest.raises(DefinitionError, match="currency"):
        PriceTable({"m": (1, 1)}, currency="")


def test_the_price_table_survives_configure_and_testing_reset_forgets_it() -> None:
    set_price_table(PriceTable({"small-1": (0.15, 0.60)}))
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    assert record_llm_usage("small-1", 1_000_000, 0) == pytest.approx(0.15)
    zgen_otel.testing.reset()
    assert record_llm_usage("small-1", 1_000_000, 0) is None


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


def test_async_with_times_the_first_chunk_and_the_whole_call(cap: Capture) -> None:
    async def stream() -> tuple[Any, bool]:
        async with llm_call(model="small-1", provider="openai") as call:
            inside = zgen_otel.performance.current_span() is call.span
            await asyncio.sleep(0.05)  # the model thinks
            call.first_chunk()
            await asyncio.sleep(0.05)  # the rest of the stream
            call.first_chunk()  # later chunks change nothing
            call.set_usage(input_tokens=20, output_tokens=4)
        return call, inside

    call, inside = asyncio.run(stream())
    assert inside  # the call's span is current in the block: nested work becomes its children
    (span,) = cap.spans()
    assert span.name == "chat small-1" and dict(span.attributes or {})["gen_ai.usage.output_tokens"] == 4
    metrics = {m.name: m for m in cap.metrics()}
    (first,) = metrics["gen_ai.client.operation.time_to_first_chunk"].data.data_points
    (whole,) = metrics["gen_ai.client.operation.duration"].data.data_points
    assert metrics["gen_ai.client.operation.time_to_first_chunk"].unit == "s"
    assert first.count == 1 and 0.05 <= first.sum <= whole.sum - 0.05 and whole.sum < 5
    assert call.cost == pytest.approx((20 * 0.15 + 4 * 0.60) / 1e6)


def test_every_metric_point_has_exactly_its_low_cardinality_attributes_and_never_none(prices: None) -> None:
    with over_otlp() as (cap, receiver):
        with llm_call(model="small-1") as call:  # no provider, no response model: None
            time.sleep(0.05)
            call.first_chunk()
            call.set_usage(input_tokens=100, output_tokens=20)
        assert call.response_model is None and call.provider is None
        with pytest.raises(TimeoutError), llm_call(model="small-1", provider="openai", operation="text_completion"):
            raise TimeoutError("provider timed out")
        record_llm_usage("small-1", 5, 1, provider=None, response_model=None, duration=0.2, error_type=None)
        metrics = flush(receiver, {"gen_ai.client.token.usage", "gen_ai.client.operation.duration",
                                   "gen_ai.client.operation.time_to_first_chunk", "zgen.llm.cost"},
                        {"chat small-1", "text_completion small-1"})  # fmt: skip
        memory = {m.name: m for m in cap.metrics()}

    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "small-1"}
    expected: dict[str, list[dict[str, Any]]] = {
        "gen_ai.client.token.usage": [{**chat, "gen_ai.token.type": "input"}, {**chat, "gen_ai.token.type": "output"}],
        "gen_ai.client.operation.duration": [
            chat,
            {
                "gen_ai.operation.name": "text_completion",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "small-1",
                "error.type": "TimeoutError",
            },
        ],
        "gen_ai.client.operation.time_to_first_chunk": [chat],
        "zgen.llm.cost": [{**chat, "zgen.llm.currency": "USD"}],
    }

    def key(attrs: dict[str, Any]) -> str:
        return json.dumps(attrs, sort_keys=True)

    for name, attribute_sets in expected.items():
        want = sorted(map(key, attribute_sets))
        assert sorted(key(dict(p.attributes)) for p in memory[name].data.data_points) == want, name
        assert sorted(key(a) for a, _ in otlp_points(metrics[name])) == want, name

    units = {name: metrics[name].unit for name in expected}
    assert units == {"gen_ai.client.token.usage": "{token}", "gen_ai.client.operation.duration": "s",
                     "gen_ai.client.operation.time_to_first_chunk": "s", "zgen.llm.cost": "{currency}"}  # fmt: skip
    tokens = {a["gen_ai.token.type"]: p for a, p in otlp_points(metrics["gen_ai.client.token.usage"])}
    assert (tokens["input"].sum, tokens["output"].sum, tokens["input"].count) == (105, 21, 2)
    assert list(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
    ((_, cost),) = otlp_points(metrics["zgen.llm.cost"])
    assert metrics["zgen.llm.cost"].sum.is_monotonic and cost.as_double == pytest.approx((105 * 0.15 + 21 * 0.6) / 1e6)
    durations = {a.get("error.type"): p for a, p in otlp_points(metrics["gen_ai.client.operation.duration"])}
    assert list(durations[None].explicit_bounds) == pytest.approx(DURATION_BUCKETS) and durations[None].count == 2
    ((_, first),) = otlp_points(metrics["gen_ai.client.operation.time_to_first_chunk"])
    assert 0.05 <= first.sum <= durations[None].sum - 0.2  # the chat call's share of the duration sum

    spans = otlp_spans(receiver)
    (plain,) = spans["chat small-1"]
    assert plain == {
        **chat,
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "zgen.llm.cost": pytest.approx((100 * 0.15 + 20 * 0.6) / 1e6),
        "zgen.llm.currency": "USD",
    }
    (failed,) = spans["text_completion small-1"]
    assert failed["error.type"] == "TimeoutError" and "gen_ai.response.model" not in failed


def test_agent_and_tool_spans_and_durations_arrive_over_otlp() -> None:
    from zgen_otel.performance import track_agent, track_tool

    @track_tool("web_search")
    def search(query: str) -> list[str]:
        return [query]

    @track_tool("fetch")
    async def fetch(url: str) -> str:
        await asyncio.sleep(0.01)
        if not url:
            raise ValueError("no url")
        return url

    @track_agent("planner")
    async def plan(goal: str) -> str:
        search(goal)
        await fetch(goal)
        with pytest.raises(ValueError):
            await fetch("")
        return goal

    @track_agent("reviewer")
    def review(text: str) -> str:
        return search(text)[0]

    with over_otlp() as (_, receiver):
        assert asyncio.run(plan("g")) == "g" and review("r") == "r"
        metrics = flush(receiver, {"gen_ai.invoke_agent.duration", "gen_ai.execute_tool.duration"},
                        {"invoke_agent planner", "invoke_agent reviewer", "execute_tool web_search",
                         "execute_tool fetch"})  # fmt: skip
    spans = otlp_spans(receiver)
    assert len(spans["execute_tool fetch"]) == 2 and len(spans["execute_tool web_search"]) == 2
    assert {k: spans["invoke_agent planner"][0][k] for k in ("gen_ai.operation.name", "gen_ai.agent.name")} == {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}  # fmt: skip
    assert spans["execute_tool web_search"][0]["gen_ai.tool.name"] == "web_search"
    assert sorted(s.get("error.type", "") for s in spans["execute_tool fetch"]) == ["", "ValueError"]

    agents = metrics["gen_ai.invoke_agent.duration"]
    tools = metrics["gen_ai.execute_tool.duration"]
    assert (agents.unit, tools.unit) == ("s", "s")
    by_agent = {a["gen_ai.agent.name"]: (a, p) for a, p in otlp_points(agents)}
    assert by_agent["planner"][0] == {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}
    assert by_agent["planner"][1].count == 1 and by_agent["planner"][1].sum >= 0.02  # two awaited fetches
    assert by_agent["reviewer"][1].count == 1
    by_tool = {(a["gen_ai.tool.name"], a.get("error.type")): (a, p.count) for a, p in otlp_points(tools)}
    failed = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch", "error.type": "ValueError"}
    assert by_tool[("fetch", "ValueError")] == (failed, 1)
    assert (by_tool[("fetch", None)][1], by_tool[("web_search", None)][1]) == (1, 2)


def test_a_cost_budget_rule_exports_as_increase_and_passes_promtool(tmp_path: Path) -> None:
    from zgen_otel.alerting import export_prometheus_rules, get_alert_manager

    promtool = require_binary("promtool")
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    get_alert_manager().add_metric_rule("llm_budget", "LLM spend above 5 USD in an hour", "zgen.llm.cost",
                                        threshold=5, aggregate="increase", window=3600, severity="error")  # fmt: skip
    path = tmp_path / "rules.yml"
    text = export_prometheus_rules(path)
    (expr,) = [json.loads(line.split("expr: ", 1)[1]) for line in text.splitlines() if "expr: " in line]
    assert expr == "increase(zgen_llm_cost_total[3600s]) > 5"  # the counter's Prometheus name, over the window
    check = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS: 1 rules found" in check.stdout, check.stdout + check.stderr


def test_the_llm_view_says_when_a_cost_is_beyond_the_float_range() -> None:
    from zgen_otel.dashboards import render_dashboard

    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    set_price_table(PriceTable({"huge": (1.5e308, 0.0)}))
    assert record_llm_usage("huge", 1, 0) == pytest.approx(1.5e302)  # one call's cost is a float
    assert record_llm_usage("huge", 1, 0) == pytest.approx(1.5e302)
    zgen_otel.get_runtime().collect()
    doc = json.loads(render_dashboard("llm", format="json"))  # strict JSON: no Infinity
    (row,) = doc["panels"][0]["rows"]
    assert row[0] == "huge" and row[-1] == "beyond the float range"


def test_a_strict_price_table_refuses_an_unknown_model_and_the_span_still_ends(cap: Capture) -> None:
    set_price_table(PriceTable({"small-1": (0.15, 0.60)}, strict=True))
    with pytest.raises(NotFoundError, match="no price for model 'other'"), llm_call(model="other") as call:
        call.set_usage(input_tokens=1, output_tokens=1)
    (span,) = cap.spans()
    assert span.end_time is not None and "zgen.llm.cost" not in dict(span.attributes or {})
