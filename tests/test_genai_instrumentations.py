"""Any GenAI instrumentation fills the LLM view: the official OpenAI instrumentation and pydantic-ai, for real.

The real ``openai`` client, instrumented by ``opentelemetry-instrumentation-openai-v2``, talks to a tiny
OpenAI-compatible server on 127.0.0.1 (plain and streamed answers, one model that fails); pydantic-ai runs an
agent with a tool on its ``TestModel`` (``Agent.instrument_all()``). The ``llm`` dashboard must count each
call once, whether a duration metric knows it (OpenAI) or only its span does (pydantic-ai), and show its
tokens, percentiles and the price table's cost, "no price" for an unpriced model; each call's span carries
its cost, a budget rule fires on ``zgen.llm.cost``, and a server receiving the telemetry over OTLP shows the
same. Versions: the ``test`` extra in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import zgen_otel
from tests.support import openai_server
from tests.support.openai_server import BROKEN, DELAY, PLAIN_USAGE, STREAM_USAGE
from tests.support.otlp import flush, over_otlp
from tests.support.servers import serving
from zgen_otel.alerting import get_alert_manager
from zgen_otel.dashboards import render_dashboard
from zgen_otel.llm import PriceTable, set_price_table
from zgen_otel.traces import get_recent_traces, get_trace

PRICES = {"gpt-priced": (2.0, 8.0), "test": (1.0, 4.0)}  # per million input and output tokens
SETTINGS: dict[str, Any] = {"interval": 3600, "system_monitor": False, "default_rules": False}


def cost(model: str, tin: float, tout: float) -> Any:
    price_in, price_out = PRICES[model]
    return pytest.approx((tin * price_in + tout * price_out) / 1e6)


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    """The real OpenAI client, instrumented, talking to the fake server."""
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument()
    with serving(openai_server.app) as server:
        found = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-a-key", max_retries=0, timeout=10)
        try:
            yield found
        finally:
            found.close()
            instrumentor.uninstrument()


@pytest.fixture
def agent() -> Iterator[Any]:
    """A pydantic-ai agent with a tool on the test model, every agent instrumented.

    ``run_sync`` runs on the thread's event loop (made and kept when there is none): this one, closed after.
    """
    from pydantic_ai import Agent
    from pydantic_ai.models.test import TestModel

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    Agent.instrument_all()
    found = Agent(TestModel(), instructions="Answer with the tool's result.")

    @found.tool_plain
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    yield found
    Agent.instrument_all(False)
    asyncio.set_event_loop(None)
    loop.close()


def chat(client: openai.OpenAI, model: str, stream: bool = False) -> str:
    messages: Any = [{"role": "user", "content": "Say hello"}]
    if not stream:
        return client.chat.completions.create(model=model, messages=messages).choices[0].message.content or ""
    chunks = client.chat.completions.create(model=model, messages=messages, stream=True,
                                            stream_options={"include_usage": True})  # fmt: skip
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def llm_rows(**selection: str) -> dict[str, dict[str, Any]]:
    """The ``llm`` dashboard's model table, as the JSON API gives it: one dict per model."""
    doc = json.loads(render_dashboard("llm", format="json", **selection))
    (models,) = [p for p in doc["panels"] if p["id"] == "models"]
    return {r[0]: dict(zip(models["columns"], r, strict=True)) for r in models["rows"]}


def model_spans() -> dict[str, list[dict[str, Any]]]:
    """The attributes of this process's ``chat`` spans, by requested model."""
    found: dict[str, list[dict[str, Any]]] = {}
    for summary in get_recent_traces(limit=500):
        trace = get_trace(summary["trace_id"])
        assert trace is not None
        for span in trace["spans"]:
            if span["attributes"].get("gen_ai.operation.name") == "chat":
                found.setdefault(span["attributes"]["gen_ai.request.model"], []).append(span["attributes"])
    return found


def test_openai_calls_fill_the_llm_view_once_each_with_percentiles_cost_and_a_budget_alert(
    client: openai.OpenAI,
) -> None:
    zgen_otel.configure(**SETTINGS)
    set_price_table(PriceTable(PRICES, currency="USD"))
    manager = get_alert_manager()
    manager.add_metric_rule("llm_budget", "LLM spend", "zgen.llm.cost", threshold=1e-5, aggregate="increase",
                            window=3600, severity="error")  # fmt: skip
    assert [chat(client, "gpt-priced") for _ in range(3)] == ["Hello"] * 3
    zgen_otel.get_runtime().collect()
    assert manager.get_active_alerts() == []  # the first sample of the spend: no increase yet
    assert [chat(client, "gpt-priced", stream=True) for _ in range(2)] == ["Hello"] * 2
    assert chat(client, "gpt-free") == "Hello"
    with pytest.raises(openai.InternalServerError):
        chat(client, BROKEN)
    zgen_otel.get_runtime().collect()

    rows = llm_rows()
    assert set(rows) == {"gpt-priced", "gpt-free", BROKEN}
    tin, tout = 3 * PLAIN_USAGE[0] + 2 * STREAM_USAGE[0], 3 * PLAIN_USAGE[1] + 2 * STREAM_USAGE[1]
    priced = rows["gpt-priced"]
    # Spans and the duration metric both know each call: counted once.
    assert [priced[c] for c in ("calls", "input tokens", "output tokens", "errors")] == [5, tin, tout, 0]
    assert priced["cost"] == cost("gpt-priced", tin, tout)  # priced by the requested model: the dated one has none
    assert DELAY <= priced["p50"] <= priced["p95"] <= priced["p99"] < 5 and priced["mean latency"] >= DELAY
    free, broken = rows["gpt-free"], rows[BROKEN]
    assert [free[c] for c in ("calls", "input tokens", "errors", "cost")] == [1, PLAIN_USAGE[0], 0, "no price"]
    assert [broken[c] for c in ("calls", "input tokens", "errors", "cost")] == [1, 0, 1, "no price"]
    assert broken["p50"] is not None
    assert len(re.findall(r"<td[^>]*>no price</td>", render_dashboard("llm"))) == 2  # the web page says it too

    spans = model_spans()
    plain, streamed = cost("gpt-priced", *PLAIN_USAGE), cost("gpt-priced", *STREAM_USAGE)
    assert sorted(s["zgen.llm.cost"] for s in spans["gpt-priced"]) == [streamed, streamed, plain, plain, plain]
    assert {s["zgen.llm.currency"] for s in spans["gpt-priced"]} == {"USD"}
    assert all("zgen.llm.cost" not in s for s in spans["gpt-free"] + spans[BROKEN])  # no price: no cost, not 0
    assert zgen_otel.get_latest_value("zgen.llm.cost") == cost("gpt-priced", tin, tout)
    (alert,) = manager.get_active_alerts()
    assert alert.name == "llm_budget" and alert.value == cost("gpt-priced", 2 * STREAM_USAGE[0], 2 * STREAM_USAGE[1])


def test_pydantic_ai_calls_are_counted_from_their_spans_once(agent: Any) -> None:
    zgen_otel.configure(**SETTINGS)
    set_price_table(PriceTable(PRICES, currency="USD"))
    runs = [agent.run_sync("What is 2 + 3?") for _ in range(2)]
    zgen_otel.get_runtime().collect()
    requests = sum(r.usage.requests for r in runs)
    tin, tout = sum(r.usage.input_tokens for r in runs), sum(r.usage.output_tokens for r in runs)
    assert requests == 4 and sum(r.usage.tool_calls for r in runs) == 2 and tin > 0 and tout > 0

    rows = llm_rows()
    assert set(rows) == {"test"}  # agent runs and tool calls are not model calls
    row = rows["test"]
    # pydantic-ai records no duration metric: the calls come from the spans, the tokens from its token metric.
    assert [row[c] for c in ("calls", "input tokens", "output tokens", "errors")] == [requests, tin, tout, 0]
    assert row["mean latency"] is not None and row["p50"] is not None and row["p50"] <= row["p99"]
    assert row["cost"] == cost("test", tin, tout)
    spans = model_spans()["test"]
    assert sum(s["zgen.llm.cost"] for s in spans) == cost("test", tin, tout)
    assert zgen_otel.get_latest_value("zgen.llm.cost") == cost("test", tin, tout)


def test_a_server_receiving_genai_telemetry_over_otlp_fills_its_llm_view(
    client: openai.OpenAI, agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=b1")  # another process than the server
    with over_otlp(service_name="agent-b") as (_, receiver):
        set_price_table(None)  # the sender prices nothing: the server's price table does
        chat(client, "gpt-priced")
        chat(client, "gpt-priced", stream=True)
        run = agent.run_sync("What is 2 + 3?")
        flush(receiver, {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"},
              {"chat gpt-priced", "chat test"})  # fmt: skip
        sent = (list(receiver.metrics_requests), list(receiver.trace_requests))
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES")
    tin, tout = PLAIN_USAGE[0] + STREAM_USAGE[0], PLAIN_USAGE[1] + STREAM_USAGE[1]

    for max_spans in (None, 0):  # spans kept, then none: the percentiles come from the histogram's buckets
        zgen_otel.configure(service_name="monitor", **SETTINGS, **({} if max_spans is None else {"max_spans": 0}))
        set_price_table(PriceTable(PRICES, currency="USD"))
        served = zgen_otel.get_runtime().start_receiver()
        for request in sent[0]:
            assert served.export_metrics(request) == (0, "")
        for request in sent[1]:
            assert served.export_traces(request) == (0, "")
        rows = llm_rows(service="agent-b")
        priced = rows["gpt-priced"]
        assert [priced[c] for c in ("calls", "input tokens", "output tokens", "errors")] == [2, tin, tout, 0]
        assert priced["cost"] == cost("gpt-priced", tin, tout)
        assert priced["p50"] is not None and priced["p50"] <= priced["p99"]
        model = rows["test"]
        assert (model["input tokens"], model["output tokens"]) == (run.usage.input_tokens, run.usage.output_tokens)
        assert model["cost"] == cost("test", run.usage.input_tokens, run.usage.output_tokens)
        # pydantic-ai's calls are known only from its spans: counted while the server keeps them
        assert model["calls"] == (run.usage.requests if max_spans is None else 0)
        assert llm_rows(service="monitor") == {}
