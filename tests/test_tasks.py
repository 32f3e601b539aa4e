"""Scheduled tasks: runs, durations, failures, last success (also over OTLP), the staleness alert, a manual clock."""

from __future__ import annotations

import asyncio

import pytest

import zgen_otel
from tests.support.otlp import attributes_dict, flush, otlp_points, over_otlp
from zgen_otel.alerting import get_alert_manager
from zgen_otel.tasks import add_staleness_rule, last_success, task, task_run
from zgen_otel.testing import ManualClock


def test_runs_failures_and_last_success() -> None:
    clock = ManualClock()
    zgen_otel.configure(clock=clock, interval=3600, system_monitor=False, default_rules=False)

    @task()
    def sync_job() -> int:
        return 1

    @task("async_job")
    async def async_job() -> int:
        return 2

    assert sync_job() == 1 and asyncio.run(async_job()) == 2
    with pytest.raises(OSError), task_run("flaky"):
        raise OSError("remote down")
    stats = zgen_otel.get_performance_stats()
    assert (stats["task:sync_job"].calls, stats["task:async_job"].calls) == (1, 1)
    assert (stats["task:flaky"].calls, stats["task:flaky"].errors) == (1, 1)
    assert last_success("sync_job") == clock.now and last_success("flaky") is None
    with pytest.raises(ValueError, match="task name"):
        task_run("")


def test_staleness_alert_fires_and_clears() -> None:
    clock = ManualClock()
    zgen_otel.configure(clock=clock, interval=3600, system_monitor=False, default_rules=False)
    manager = get_alert_manager()
    add_staleness_rule("nightly", max_age=3600)
    clock.advance(1800)
    manager.evaluate()
    assert manager.get_active_alerts() == []
    clock.advance(1801)  # never succeeded, and the rule is an hour old
    manager.evaluate()
    (alert,) = manager.get_active_alerts()
    assert (alert.name, alert.labels, alert.category) == ("task_stale_nightly", {"task": "nightly"}, "task")
    with task_run("nightly"):
        pass
    assert last_success("nightly") == clock.now
    manager.evaluate()
    assert manager.get_active_alerts() == []
    with pytest.raises(ValueError, match="max_age"):
        add_staleness_rule("x", max_age=0)


def test_run_metrics_and_the_last_success_gauge_arrive_over_otlp() -> None:
    clock = ManualClock()
    with over_otlp(clock=clock, default_rules=False) as (_, receiver):

        @task("nightly")
        async def nightly(fail: bool) -> None:
            await asyncio.sleep(0)
            clock.advance(0.25)  # durations follow the runtime's clock: exactly 0.25 s
            if fail:
                raise OSError("remote down")

        asyncio.run(nightly(False))
        first = clock.now
        clock.advance(3600)
        with pytest.raises(OSError):
            asyncio.run(nightly(True))  # a failure an hour later leaves the last success where it was
        assert last_success("nightly") == first
        metrics = flush(receiver, {"zgen.operation.duration", "zgen.operation.calls", "task.last_success"},
                        {"task:nightly"})  # fmt: skip
    runs = {a["zgen.operation.outcome"]: (a, p) for a, p in otlp_points(metrics["zgen.operation.duration"])}
    assert metrics["zgen.operation.duration"].unit == "s"
    attrs, success = runs["success"]
    assert attrs == {"zgen.operation.name": "task:nightly", "zgen.operation.outcome": "success"}
    assert success.count == 1 and success.sum == pytest.approx(0.25, abs=1e-6)
    assert runs["error"][0]["error.type"] == "OSError" and runs["error"][1].sum == pytest.approx(0.25, abs=1e-6)
    calls = {a["zgen.operation.outcome"]: p.as_int for a, p in otlp_points(metrics["zgen.operation.calls"])}
    assert calls == {"success": 1, "error": 1}
    gauge = metrics["task.last_success"]
    assert gauge.unit == "s" and [(a, p.as_double) for a, p in otlp_points(gauge)] == [({"task": "nightly"}, first)]
    spans = {s.name: s for _, s in receiver.spans()}
    assert attributes_dict(spans["task:nightly"].attributes)["zgen.task.name"] == "nightly"
