"""The ASGI middleware on a real uvicorn server on 127.0.0.1: spans, metrics, statistics, no double counting."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import zgen_otel
from tests.support.otlp import flush, otlp_metrics, otlp_points, otlp_spans, over_otlp
from tests.support.servers import Server
from zgen_otel.asgi import DURATION_BUCKETS, MonitoringMiddleware
from zgen_otel.testing import Capture, capture


def durations(cap: Capture) -> list[Any]:
    return [p for m in cap.metrics() if m.name == "http.server.request.duration" for p in m.data.data_points]


@pytest.fixture
def fastapi_served() -> Iterator[tuple[Capture, httpx.Client]]:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise HTTPException(404, "no item 0")
        return {"id": item_id}

    @app.get("/health")
    def health() -> str:
        return "ok"

    app.add_middleware(MonitoringMiddleware, exclude_paths=["/health"])
    with capture(interval=3600, system_monitor=False) as cap:
        srv = Server(app)
        try:
            with httpx.Client(base_url=srv.url, timeout=10) as client:
                yield cap, client
        finally:
            srv.stop()


def test_fastapi_requests_are_counted_once_with_their_route_template(
    fastapi_served: tuple[Capture, httpx.Client],
) -> None:
    cap, client = fastapi_served
    for i in (1, 2, 3):
        assert client.get(f"/items/{i}").status_code == 200
    assert client.get("/items/0").status_code == 404
    assert client.get("/health").text == '"ok"'
    stats = zgen_otel.get_performance_stats()
    assert stats["GET /items/{item_id}"].calls == 4 and "GET /health" not in stats
    # This FastAPI makes its own SERVER spans and duration metric: the middleware adds none of its own.
    server_spans = [s for s in cap.spans() if s.kind.name == "SERVER" and s.name.startswith("GET /items")]
    assert len(server_spans) == 4
    assert sum(p.count for p in durations(cap) if p.attributes.get("http.route") == "/items/{item_id}") == 4


async def plain_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app (no framework, no instrumentation of its own)."""
    if scope["path"] == "/boom":
        raise RuntimeError("unlucky")
    status = 200 if scope["path"] == "/ok" else 503
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"done"})


def test_a_bare_asgi_app_gets_spans_metrics_and_statistics_named_by_method_never_by_raw_path() -> None:
    with capture(interval=3600, system_monitor=False) as cap:
        srv = Server(MonitoringMiddleware(plain_app))
        try:
            with httpx.Client(base_url=srv.url, timeout=10) as client:
                assert client.get("/ok").status_code == 200
                assert client.get("/down").status_code == 503
                with contextlib.suppress(httpx.HTTPError):  # the server drops the connection on an exception
                    client.get("/boom", headers={"Connection": "close"})
        finally:
            srv.stop()
        # No route template is known: the span is named by the method alone and has no http.route (semconv).
        spans = [s for s in cap.spans() if s.kind.name == "SERVER"]
        assert [s.name for s in spans] == ["GET", "GET", "GET"]
        codes = [dict(s.attributes or {}).get("http.response.status_code") for s in spans]
        assert codes == [200, 503, 500] and not any("http.route" in (s.attributes or {}) for s in spans)
        assert spans[2].status.status_code.name == "ERROR"
        assert [dict(s.attributes or {}).get("error.type") for s in spans] == [None, "503", "RuntimeError"]
        by_error = {p.attributes.get("error.type"): p for p in durations(cap)}
        assert set(by_error) == {None, "503", "RuntimeError"}
        assert dict(by_error[None].attributes) == {"http.request.method": "GET", "http.response.status_code": 200}
        assert list(by_error[None].explicit_bounds) == DURATION_BUCKETS
        stats = zgen_otel.get_performance_stats()
        assert list(stats) == ["GET"] and (stats["GET"].calls, stats["GET"].errors) == (3, 2)


def test_made_up_methods_behind_an_h11_server_fold_into_one_other_operation() -> None:
    # h11 passes any method token a client sends; 200 made-up ones must not make 200 operations or series
    with capture(interval=3600, system_monitor=False) as cap:
        srv = Server(MonitoringMiddleware(plain_app), http="h11")
        try:
            with httpx.Client(base_url=srv.url, timeout=10) as client:
                for i in range(200):
                    assert client.request(f"X{i}", "/ok").status_code == 200
                assert client.request("PATCH", "/ok").status_code == 200
        finally:
            srv.stop()
        stats = zgen_otel.get_performance_stats()
        assert sorted(stats) == ["HTTP", "PATCH"] and stats["HTTP"].calls == 200, sorted(stats)[:5]
        spans = [s for s in cap.spans() if s.kind.name == "SERVER"]
        assert {s.name for s in spans} == {"HTTP", "PATCH"}
        other = [dict(s.attributes or {}) for s in spans if s.name == "HTTP"]
        assert {a["http.request.method"] for a in other} == {"_OTHER"}
        assert other[0]["http.request.method_original"] == "X0" and other[-1]["http.request.method_original"] == "X199"
        methods = {p.attributes["http.request.method"] for p in durations(cap)}
        assert methods == {"_OTHER", "PATCH"}
        assert not any("http.request.method_original" in p.attributes for p in durations(cap))


async def item(request: Request) -> PlainTextResponse:
    """A Starlette endpoint: 404 for item 0."""
    item_id = request.path_params["item_id"]
    return PlainTextResponse(item_id, status_code=404 if item_id == "0" else 200)


def test_the_middleware_own_span_and_metric_carry_the_route_template_over_otlp() -> None:
    # Bare Starlette does not instrument itself: span and metric are the middleware's own.
    app = Starlette(routes=[Route("/items/{item_id}", item), Mount("/v1", routes=[Route("/items/{item_id}", item)])])
    app.add_middleware(MonitoringMiddleware)
    with over_otlp() as (cap, receiver):
        srv = Server(app)
        try:
            with httpx.Client(base_url=srv.url, timeout=10) as client:
                assert [client.get(f"/items/{i}").status_code for i in (1, 2, 0)] == [200, 200, 404]
                assert client.get("/v1/items/7").text == "7"
                assert client.get("/nowhere/42").status_code == 404
        finally:
            srv.stop()
        metrics = flush(receiver, {"http.server.request.duration"}, {"GET /items/{item_id}"})
        memory_spans = [s for s in cap.spans() if s.kind.name == "SERVER"]
        stats = zgen_otel.get_performance_stats()
    assert {s.instrumentation_scope.name for s in memory_spans} == {"zgen_otel.performance"}
    spans = otlp_spans(receiver)
    assert sorted(spans) == ["GET", "GET /items/{item_id}", "GET /v1/items/{item_id}"]
    assert sorted(s["http.response.status_code"] for s in spans["GET /items/{item_id}"]) == [200, 200, 404]
    assert spans["GET /items/{item_id}"][0]["http.route"] == "/items/{item_id}"
    assert spans["GET /items/{item_id}"][0]["http.request.method"] == "GET"
    assert "http.route" not in spans["GET"][0]  # an unmatched path (404) stays out of names and attributes
    duration = metrics["http.server.request.duration"]
    assert duration.unit == "s"
    series = {json.dumps(a, sort_keys=True): p.count for a, p in otlp_points(duration)}
    assert series == {
        json.dumps(a, sort_keys=True): n
        for a, n in [
            ({"http.request.method": "GET", "http.route": "/items/{item_id}", "http.response.status_code": 200}, 2),
            ({"http.request.method": "GET", "http.route": "/items/{item_id}", "http.response.status_code": 404}, 1),
            ({"http.request.method": "GET", "http.route": "/v1/items/{item_id}", "http.response.status_code": 200}, 1),
            ({"http.request.method": "GET", "http.response.status_code": 404}, 1),
        ]
    }
    ((_, point), *_) = otlp_points(duration)
    assert list(point.explicit_bounds) == DURATION_BUCKETS
    assert (stats["GET /items/{item_id}"].calls, stats["GET /v1/items/{item_id}"].calls, stats["GET"].calls) == (
        3,
        1,
        1,
    )


@pytest.mark.parametrize("opt_in", ["", "http"])
def test_with_opentelemetry_instrumentation_asgi_outermost_nothing_is_counted_twice(
    opt_in: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.instrumentation._semconv import _OpenTelemetrySemanticConventionStability as Stability
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    # The contrib package reads OTEL_SEMCONV_STABILITY_OPT_IN once per process: make it read it again.
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
    monkeypatch.setattr(Stability, "_initialized", False)
    monkeypatch.setattr(Stability, "_OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING", {})

    inner = Starlette(routes=[Route("/items/{item_id}", item)])
    inner.add_middleware(MonitoringMiddleware)
    with capture(interval=3600, system_monitor=False) as cap:
        providers = zgen_otel.get_runtime().providers
        assert providers is not None
        app = OpenTelemetryMiddleware(inner, tracer_provider=providers.tracer_provider,
                                      meter_provider=providers.meter_provider)  # fmt: skip
        srv = Server(app)
        try:
            with httpx.Client(base_url=srv.url, timeout=10) as client:
                assert [client.get(f"/items/{i}").text for i in (1, 2, 3)] == ["1", "2", "3"]
        finally:
            srv.stop()
        server_spans = [s for s in cap.spans() if s.kind.name == "SERVER"]
        assert len(server_spans) == 3  # the contrib middleware's spans only
        assert {s.instrumentation_scope.name for s in server_spans} == {"opentelemetry.instrumentation.asgi"}
        # The duration metric is the contrib middleware's: its legacy ms histogram by default, the stable
        # http.server.request.duration (once per request, not twice) with OTEL_SEMCONV_STABILITY_OPT_IN=http.
        names = {m.name: m for m in cap.metrics()}
        legacy, stable = names.get("http.server.duration"), names.get("http.server.request.duration")
        if opt_in:
            assert legacy is None and stable is not None
            assert sum(p.count for p in stable.data.data_points) == 3
        else:
            assert stable is None and legacy is not None
        # The local statistics count each request once, under its route template.
        assert zgen_otel.get_performance_stats()["GET /items/{item_id}"].calls == 3


def test_the_monitoring_page_mounted_in_the_agent_app_is_not_tracked_as_the_agents_traffic() -> None:
    """A page left open polls the API every few seconds: none of it shows in the agent's request statistics."""
    from zgen_otel.http import make_app

    app = FastAPI()

    @app.get("/ask")
    def ask() -> str:
        return "answer"

    app.mount("/ops", make_app(token="t" * 24))
    app.add_middleware(MonitoringMiddleware)
    with capture(interval=3600, system_monitor=False):
        srv = Server(app)
        try:
            auth = {"Authorization": "Bearer " + "t" * 24}
            with httpx.Client(base_url=srv.url, timeout=10, headers=auth) as client:
                assert client.get("/ask").status_code == 200
                for path in ("/ops/api/monitoring", "/ops/api/monitoring/performance", "/ops/monitoring"):
                    assert client.get(path).status_code == 200, path
        finally:
            srv.stop()
        assert set(zgen_otel.get_performance_stats()) == {"GET /ask"}


def test_the_apps_shutdown_pushes_its_requests_to_the_collector() -> None:
    """The middleware flushes at the lifespan shutdown: the last requests reach the collector.

    uvicorn and gunicorn workers end by SIGTERM once the app has shut down, so atexit never runs there.
    """
    app = FastAPI()

    @app.get("/ask")
    def ask() -> str:
        return "answer"

    app.add_middleware(MonitoringMiddleware)
    with over_otlp(default_rules=False) as (_, receiver):
        srv = Server(app, lifespan="on")
        try:
            assert httpx.get(f"{srv.url}/ask", timeout=10).status_code == 200
        finally:
            srv.stop()  # the lifespan shutdown: no force_flush, no zgen_otel.shutdown() here
        assert "GET /ask" in receiver.span_names()
        [(attributes, point)] = otlp_points(otlp_metrics(receiver)["zgen.operation.duration"])
        assert attributes["zgen.operation.name"] == "GET /ask" and point.count == 1
