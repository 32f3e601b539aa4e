"""Scheduled tasks: runs, failures, last success, and the staleness alert with a controllable clock."""

from __future__ import annotations

import asyncio

import pytest

import zgen_otel
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
    assert last_success("sync_job") is not None and last_success("flaky") is None
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
