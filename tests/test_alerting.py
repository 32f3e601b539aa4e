"""Alert rules and the alert lifecycle: for-durations, hysteresis, acknowledgement, history, bad input."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import zgen_otel
from tests.support.waiting import wait_for
from zgen_otel.alerting import (
    AlertManager,
    AlertSeverity,
    AlertStatus,
    LoggingNotifier,
    MetricRule,
    Notification,
    Notifier,
    get_alert_manager,
    trigger_alert,
)
from zgen_otel.metrics import get_latest_value, record_metric
from zgen_otel.store import MetricStore
from zgen_otel.testing import ManualClock, capture


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def mgr(clock: ManualClock) -> Iterator[AlertManager]:
    zgen_otel.configure(clock=clock, interval=3600, system_monitor=False, default_rules=False)
    yield get_alert_manager()


def active_names(mgr: AlertManager) -> list[str]:
    return sorted(a.name for a in mgr.get_active_alerts())


def test_seed_trigger_alert_and_its_json_shape(clock: ManualClock) -> None:
    zgen_otel.configure(clock=clock, system_monitor=False)
    alert = trigger_alert(
        name="high_memory_usage",
        description="Memory usage is above 90%",
        severity=AlertSeverity.WARNING,
        category="system",
        details={"memory_percent": 92.5},
    )
    data = json.loads(json.dumps(alert.to_dict()))
    assert data["labels"] == {"alertname": "high_memory_usage", "severity": "warning", "category": "system"}
    assert data["annotations"]["description"] == "Memory usage is above 90%"
    assert data["startsAt"].endswith("Z") and data["endsAt"] is None and len(data["fingerprint"]) == 16
    assert (data["status"], data["details"], data["occurrences"]) == ("firing", {"memory_percent": 92.5}, 1)
    clock.advance(5)
    again = trigger_alert("high_memory_usage", "Memory usage is above 90%", "warning", "system", {"memory_percent": 95})
    assert again is alert and alert.occurrences == 2 and alert.details["memory_percent"] == 95
    other = trigger_alert("high_memory_usage", "x", "warning", "system", labels={"host": "b"})
    assert other is not alert and other.fingerprint != alert.fingerprint


def test_severity_is_ordered_and_parsed() -> None:
    assert AlertSeverity.INFO < AlertSeverity.WARNING < AlertSeverity.ERROR < AlertSeverity.CRITICAL
    assert AlertSeverity.parse("critical") is AlertSeverity.CRITICAL
    with pytest.raises(ValueError, match="INFO, WARNING, ERROR, CRITICAL"):
        AlertSeverity.parse("fatal")


def test_seed_metric_rule_fires_after_its_duration_and_resolves(mgr: AlertManager, clock: ManualClock) -> None:
    rule = mgr.add_metric_rule(
        name="high_cpu_usage",
        description="High CPU usage detected",
        metric_name="system.cpu_percent",
        threshold=90,
        operator=">",
        duration=300,
        severity=AlertSeverity.WARNING,
        category="system",
    )
    record_metric("cpu_percent", 95, "system")
    assert rule.state == "pending" and active_names(mgr) == []
    clock.advance(200)
    record_metric("cpu_percent", 97, "system")
    assert rule.state == "pending"
    clock.advance(101)
    mgr.evaluate()  # time passes with no new sample: the tick fires it
    (alert,) = mgr.get_active_alerts()
    assert (alert.name, alert.rule, alert.value, alert.status) == ("high_cpu_usage", "high_cpu_usage", 97, "firing")
    assert alert.details == {"value": 97, "metric": "system.cpu_percent", "threshold": 90.0, "operator": ">"}
    clock.advance(10)
    record_metric("cpu_percent", 50, "system")
    assert active_names(mgr) == [] and alert.status is AlertStatus.RESOLVED and alert.ends_at == clock.now
    assert rule.state == "inactive"


def test_condition_must_hold_continuously(mgr: AlertManager, clock: ManualClock) -> None:
    mgr.add_metric_rule("q", "queue long", "queue", threshold=10, duration=60)
    for value in (20, 5, 20):  # the dip resets the pending timer
        record_metric("queue", value)
        clock.advance(40)
    mgr.evaluate()
    assert active_names(mgr) == []
    clock.advance(30)
    mgr.evaluate()
    assert active_names(mgr) == ["q"]


def test_zero_duration_fires_at_once_and_operators(mgr: AlertManager) -> None:
    ops = {"ge": (">=", 5), "lt": ("<", 6), "le": ("<=", 5), "eq": ("==", 5), "ne": ("!=", 4), "gt": (">", 5)}
    for name, (op, threshold) in ops.items():
        mgr.add_metric_rule(name, "d", "m", threshold=threshold, operator=op)
    record_metric("m", 5)
    assert active_names(mgr) == ["eq", "ge", "le", "lt", "ne"]  # not "gt": 5 > 5 is false


def test_hysteresis_and_keep_firing_for(mgr: AlertManager, clock: ManualClock) -> None:
    mgr.add_metric_rule("hot", "d", "temp", threshold=90, clear_threshold=80, keep_firing_for=60)
    record_metric("temp", 95)
    assert active_names(mgr) == ["hot"]
    record_metric("temp", 85)  # under 90 but above 80: still firing
    clock.advance(120)
    mgr.evaluate()
    assert active_names(mgr) == ["hot"]
    record_metric("temp", 79)  # cleared, but keep firing for 60 s
    clock.advance(30)
    mgr.evaluate()
    assert active_names(mgr) == ["hot"]
    record_metric("temp", 81)  # above the clear threshold again: the clearing restarts
    record_metric("temp", 70)
    clock.advance(59)
    mgr.evaluate()
    assert active_names(mgr) == ["hot"]
    clock.advance(2)
    mgr.evaluate()
    assert active_names(mgr) == []


def test_window_aggregate_and_one_alert_per_series(mgr: AlertManager, clock: ManualClock) -> None:
    mgr.add_metric_rule("disk", "disk full", "disk_percent", threshold=90, category="system")
    mgr.add_metric_rule("lat", "slow on average", "latency", threshold=1.0, aggregate="avg", window=60)
    record_metric("disk_percent", 95, attributes={"mountpoint": "/"})
    record_metric("disk_percent", 50, attributes={"mountpoint": "/data"})
    record_metric("disk_percent", 99, attributes={"mountpoint": "/var"})
    disks = [a for a in mgr.get_active_alerts() if a.name == "disk"]
    assert sorted(a.labels["mountpoint"] for a in disks) == ["/", "/var"]
    for value in (3.0, 0.1, 0.1, 0.1):  # one spike, average 0.825: below 1
        record_metric("latency", value)
        clock.advance(1)
    assert "lat" not in active_names(mgr)
    record_metric("latency", 2.0)  # average now 1.06
    assert "lat" in active_names(mgr)


def test_metrics_that_stop_reporting_resolve(mgr: AlertManager, clock: ManualClock) -> None:
    mgr.add_metric_rule("up", "d", "heartbeat_lag", threshold=5)
    record_metric("heartbeat_lag", 10)
    assert active_names(mgr) == ["up"]
    clock.advance(mgr.stale_after + 1)
    mgr.evaluate()
    assert active_names(mgr) == []


def test_acknowledged_alert_stays_until_resolved_then_fires_anew(mgr: AlertManager, clock: ManualClock) -> None:
    mgr.add_metric_rule("mem", "d", "mem", threshold=90)
    record_metric("mem", 95)
    (alert,) = mgr.get_active_alerts()
    clock.advance(10)
    acked = mgr.acknowledge_alert(alert.id, by="ana", note="looking")
    assert acked.status is AlertStatus.ACKNOWLEDGED and (acked.acknowledged_by, acked.acknowledgement_note) == (
        "ana",
        "looking",
    )
    assert acked.to_dict()["acknowledgedAt"] is not None
    record_metric("mem", 96)
    assert mgr.get_active_alerts()[0] is alert and alert.status is AlertStatus.ACKNOWLEDGED
    record_metric("mem", 10)
    assert alert.status is AlertStatus.RESOLVED
    with pytest.raises(ValueError, match="resolved"):
        mgr.acknowledge_alert(alert.id)
    record_metric("mem", 99)
    (second,) = mgr.get_active_alerts()
    assert second.id != alert.id and second.status is AlertStatus.FIRING
    with pytest.raises(KeyError, match="no alert"):
        mgr.acknowledge_alert("nope")


def test_resolving_by_hand_and_history_filters(mgr: AlertManager, clock: ManualClock) -> None:
    a = trigger_alert("a", "first", "info", "app")
    clock.advance(10)
    b = trigger_alert("b", "second", "critical", "system")
    clock.advance(10)
    mgr.resolve_alert(a.id)
    assert [x.name for x in mgr.get_alert_history()] == ["b", "a"]  # newest first
    assert [x.name for x in mgr.get_alert_history(severity="critical")] == ["b"]
    assert [x.name for x in mgr.get_alert_history(category="app")] == ["a"]
    assert [x.name for x in mgr.get_alert_history(status="resolved")] == ["a"]
    assert [x.name for x in mgr.get_alert_history(since=b.starts_at)] == ["b"]
    assert [x.name for x in mgr.get_alert_history(until=a.starts_at)] == ["a"]
    assert [x.name for x in mgr.get_alert_history(limit=1)] == ["b"]
    with pytest.raises(ValueError, match="status must be one of"):
        mgr.get_alert_history(status="gone")


def test_custom_rules_and_a_failing_condition(mgr: AlertManager, caplog: pytest.LogCaptureFixture) -> None:
    queue = {"depth": 0}

    def broken() -> bool:
        raise RuntimeError("condition bug")

    mgr.add_rule("deep_queue", "queue is deep", lambda: queue["depth"] if queue["depth"] > 100 else 0)
    mgr.add_rule("broken", "never works", broken)
    mgr.evaluate()
    assert active_names(mgr) == []
    queue["depth"] = 150
    mgr.evaluate()
    mgr.evaluate()
    (alert,) = mgr.get_active_alerts()
    assert (alert.name, alert.value) == ("deep_queue", 150)
    assert mgr.get_rule("broken").errors == 3 and "condition bug" in (mgr.get_rule("broken").last_error or "")
    assert mgr.get_rule("broken").to_dict()["errors"] == 3
    assert sum("broken" in r.getMessage() for r in caplog.records) == 1


def test_rule_management(mgr: AlertManager) -> None:
    mgr.add_metric_rule("r", "d", "m", threshold=1)
    with pytest.raises(ValueError, match="replace=True"):
        mgr.add_metric_rule("r", "d", "m", threshold=2)
    mgr.add_metric_rule("r", "d", "m", threshold=2, replace=True)
    assert mgr.get_rule("r").to_dict()["threshold"] == 2
    record_metric("m", 5)
    assert active_names(mgr) == ["r"]
    mgr.disable_rule("r")
    assert active_names(mgr) == []
    record_metric("m", 6)
    assert active_names(mgr) == []
    mgr.enable_rule("r")
    record_metric("m", 7)
    assert active_names(mgr) == ["r"]
    assert mgr.remove_rule("r") and not mgr.remove_rule("r")
    assert active_names(mgr) == [] and mgr.list_rules() == []
    with pytest.raises(KeyError, match="no rule named"):
        mgr.get_rule("r")


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"operator": "=>"}, ValueError, "operator must be one of '>', '>=', '<', '<=', '==', '!='; got '=>'"),
        ({"duration": -1}, ValueError, "duration must be a finite number >= 0"),
        ({"duration": "5m"}, TypeError, "duration must be a number"),
        ({"threshold": "90"}, TypeError, "threshold must be a number"),
        ({"threshold": float("nan")}, ValueError, "threshold must be a finite number"),
        ({"severity": "fatal"}, ValueError, "severity must be"),
        ({"name": ""}, ValueError, "rule name ''"),
        ({"name": 5}, TypeError, "rule name must be a str"),
        ({"aggregate": "median", "window": 60}, ValueError, "aggregate must be one of avg, max, min"),
        ({"aggregate": "avg"}, ValueError, "aggregate needs window"),
        ({"labels": {"a": 1}}, TypeError, "labels must be a mapping of str to str"),
        ({"metric_name": ""}, ValueError, "metric_name"),
        ({"clear_threshold": 1, "operator": "=="}, ValueError, "clear_threshold needs an ordering operator"),
    ],
)
def test_bad_rule_definitions(mgr: AlertManager, kwargs: dict[str, object], error: type, fragment: str) -> None:
    args: dict[str, object] = {"name": "r", "description": "d", "metric_name": "m", "threshold": 1, **kwargs}
    with pytest.raises(error) as raised:
        mgr.add_metric_rule(**args)  # type: ignore[arg-type]
    assert fragment in str(raised.value)
    assert mgr.list_rules() == []


def test_bad_custom_rules_and_alerts(mgr: AlertManager) -> None:
    with pytest.raises(TypeError, match="condition must be callable"):
        mgr.add_rule("c", "d", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alert name"):
        trigger_alert("", "d")
    with pytest.raises(ValueError, match="severity must be"):
        trigger_alert("x", "d", severity="loud")
    with pytest.raises(TypeError, match="labels must be a mapping of str to str"):
        trigger_alert("x", "d", labels={"k": 1})  # type: ignore[dict-item]


def test_alerting_disabled_evaluates_nothing(clock: ManualClock) -> None:
    zgen_otel.configure(clock=clock, alerting_enabled=False, system_monitor=False)
    mgr = get_alert_manager()
    assert mgr.list_rules() == []  # no default rules either
    mgr.add_metric_rule("r", "d", "m", threshold=1)
    record_metric("m", 5)
    mgr.evaluate()
    assert mgr.get_active_alerts() == []


def test_default_rules_watch_the_system_monitor_and_can_be_changed(clock: ManualClock) -> None:
    zgen_otel.configure(clock=clock, interval=3600, system_monitor=False)
    mgr = get_alert_manager()
    assert {"system_cpu_high", "system_memory_high", "system_disk_high", "system_swap_high"} <= {
        r.name for r in mgr.list_rules()
    }
    mgr.add_metric_rule("system_cpu_high", "CPU > -1%", "system.cpu_percent", threshold=-1, replace=True)
    mgr.remove_rule("system_disk_high")
    assert "system_disk_high" not in {r.name for r in mgr.list_rules()}
    zgen_otel.system_monitor.get_system_metrics()
    assert "system_cpu_high" in active_names(mgr)
    assert not any(a.name == "system_disk_high" for a in mgr.get_alert_history())


def test_seed_example_rule_works_unchanged_against_the_system_monitor(clock: ManualClock) -> None:
    zgen_otel.configure(clock=clock, interval=3600, system_monitor=False, default_rules=False)
    mgr = get_alert_manager()
    seed = mgr.add_metric_rule(
        name="high_cpu_usage",
        description="High CPU usage detected",
        metric_name="system.cpu_percent",
        threshold=90,
        operator=">",
        duration=300,
        severity=AlertSeverity.WARNING,
        category="system",
    )
    # The same rule with a threshold every reading passes and no duration: it must fire on the first sweep.
    always = mgr.add_metric_rule("any_cpu", "CPU at or above 0%", "system.cpu_percent", threshold=-1, category="system")
    assert seed.last_value is None
    snapshot = zgen_otel.system_monitor.get_system_metrics()
    cpu = get_latest_value("system.cpu_percent")
    assert cpu is not None and cpu == snapshot["cpu"]["percent"]
    assert seed.last_value == cpu and always.last_value == cpu
    assert seed.to_dict()["last_value"] == cpu  # what the alerts dashboard and the API show
    assert seed.state == ("pending" if cpu > 90 else "inactive")  # 300 s have not passed: never firing yet
    (alert,) = mgr.get_active_alerts()
    assert (alert.name, alert.value, alert.category) == ("any_cpu", cpu, "system")
    assert alert.details["metric"] == "system.cpu_percent"


def _documented_default_rules() -> dict[str, tuple[str, float, float]]:
    """The "Default rules" table of the docs' Alerting page: name -> (metric, threshold, clear threshold)."""
    rows = {}
    for line in (Path(__file__).parent.parent / "docs" / "alerting.md").read_text().splitlines():
        if line.startswith("| `system_"):
            name, metric, threshold, clear = (cell.strip() for cell in line.strip("|").split("|"))
            rows[name.strip("`")] = (metric.split()[0].strip("`"), float(threshold), float(clear))
    return rows


def test_default_rules_are_as_documented(clock: ManualClock) -> None:
    documented = _documented_default_rules()
    assert set(documented) == {"system_cpu_high", "system_memory_high", "system_disk_high", "system_swap_high"}
    zgen_otel.configure(clock=clock, interval=3600, system_monitor=False)
    rules = {r.name: r for r in get_alert_manager().list_rules()}
    for name, (metric, threshold, clear) in documented.items():
        rule = rules[name]
        assert isinstance(rule, MetricRule)
        assert (rule.metric_name, rule.threshold, rule.clear_threshold) == (metric, threshold, clear), name
        # README: all are WARNING, category system, ">" for 300 s
        assert (rule.severity, rule.category, rule.operator, rule.duration) == (
            AlertSeverity.WARNING,
            "system",
            ">",
            300,
        )


def test_the_tick_fires_pending_rules_and_resolves_stale_ones_by_itself() -> None:
    zgen_otel.configure(interval=0.2, system_monitor=False, default_rules=False)
    mgr = get_alert_manager()
    rule = mgr.add_metric_rule("slow_queue", "queue too long", "tick.queue", threshold=10, duration=0.3)
    started = time.time()
    record_metric("tick.queue", 50)  # one sample, never repeated; nobody calls evaluate()
    assert rule.state == "pending" and mgr.get_active_alerts() == []
    (alert,) = wait_for(mgr.get_active_alerts, 5, "the background tick to fire the pending rule")
    assert alert.name == "slow_queue" and alert.starts_at - started >= 0.3
    mgr.configure(stale_after=0.5)  # the metric has stopped reporting: the tick resolves it
    wait_for(lambda: alert.status is AlertStatus.RESOLVED, 5, "the background tick to resolve the stale series")
    assert alert.ends_at is not None and alert.ends_at - started >= 0.5
    assert rule.state == "inactive"


def test_window_max_and_min(mgr: AlertManager, clock: ManualClock) -> None:
    mgr.add_metric_rule("lat_max", "a spike in the last minute", "lat", threshold=10, aggregate="max", window=60)
    mgr.add_metric_rule("lat_avg", "slow on average", "lat", threshold=10, aggregate="avg", window=60)
    mgr.add_metric_rule("lat_min", "never fast in the last minute", "lat", threshold=0.5, aggregate="min", window=60)
    for value in (1, 30, 1, 1, 1, 1):  # max 30, average 5.8, min 1
        record_metric("lat", value)
        clock.advance(1)
    assert active_names(mgr) == ["lat_max", "lat_min"]
    assert mgr.get_rule("lat_max").last_value == 30 and mgr.get_rule("lat_min").last_value == 1
    record_metric("lat", 0.1)  # one fast call: the minimum drops below 0.5
    assert active_names(mgr) == ["lat_max"]
    clock.advance(70)
    record_metric("lat", 2)  # the spike left the window: only this sample is in it
    assert active_names(mgr) == ["lat_min"]
    assert mgr.get_rule("lat_max").last_value == 2


def test_generator_url_links_an_alert_to_its_source(mgr: AlertManager) -> None:
    link = "http://127.0.0.1:8000/dashboards/agent"
    alert = trigger_alert("linked", "has a link", "warning")
    assert alert.to_dict()["generatorURL"] == ""
    linked = mgr.trigger_alert("linked_too", "has a link", "warning", generator_url=link)
    assert json.loads(json.dumps(linked.to_dict()))["generatorURL"] == link
    rule = mgr.add_metric_rule("q", "queue long", "queue", threshold=10, generator_url=link + "?rule=q")
    record_metric("queue", 20)
    (fired,) = [a for a in mgr.get_active_alerts() if a.rule == "q"]
    assert fired.to_dict()["generatorURL"] == link + "?rule=q" == rule.to_dict()["generator_url"]
    with pytest.raises(ValueError, match="generator_url must be an absolute http"):
        mgr.trigger_alert("bad_link", "d", generator_url="dashboards/agent")
    with pytest.raises(ValueError, match="generator_url must be an absolute http"):
        mgr.add_rule("bad_link", "d", lambda: True, generator_url="ftp://x")


def test_alert_changes_are_logged(mgr: AlertManager, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zgen_otel.alerts")
    alert = trigger_alert("disk", "disk almost full", "error")
    mgr.acknowledge_alert(alert.id, by="bo")
    mgr.resolve_alert(alert.id)
    messages = [r.getMessage() for r in caplog.records if r.name == "zgen_otel.alerts"]
    assert messages == [
        "alert fired: disk [error] disk almost full",
        "alert acknowledged: disk by bo",
        "alert resolved: disk",
    ]


def test_history_survives_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    path = str(tmp_path / "store.db")
    zgen_otel.configure(clock=clock, store_path=path, system_monitor=False, default_rules=False)
    fired = trigger_alert("kept", "still firing", "critical", "app")
    clock.advance(1)
    done = trigger_alert("done", "over", "info")
    get_alert_manager().resolve_alert(done.id)
    zgen_otel.shutdown()
    zgen_otel.configure(clock=clock, store_path=path, system_monitor=False, default_rules=False)
    mgr = get_alert_manager()
    assert [a.id for a in mgr.get_active_alerts()] == [fired.id]
    assert [a.name for a in mgr.get_alert_history()] == ["done", "kept"]
    assert mgr.get_alert(done.id).status is AlertStatus.RESOLVED
    again = trigger_alert("kept", "still firing", "critical", "app")
    assert again.id == fired.id and again.occurrences == 2


def test_history_is_bounded_by_count_in_memory_and_in_its_file(tmp_path: Path, clock: ManualClock) -> None:
    path = str(tmp_path / "store.db")
    zgen_otel.configure(clock=clock, store_path=path, system_monitor=False, default_rules=False)
    mgr = get_alert_manager()
    mgr.configure(history_limit=5)
    still_firing = trigger_alert("a0", "the oldest, never resolved", "critical")
    for i in range(1, 10):
        clock.advance(1)
        mgr.resolve_alert(trigger_alert(f"a{i}", "over", "info").id)
    newest = ["a9", "a8", "a7", "a6", "a5"]
    assert [a.name for a in mgr.get_alert_history()] == newest
    assert [a.id for a in mgr.get_active_alerts()] == [still_firing.id]  # pushed out of the history, still active
    assert mgr.acknowledge_alert(still_firing.id, by="ops").status is AlertStatus.ACKNOWLEDGED
    zgen_otel.shutdown()
    assert file_names(path) == ["a0", "a5", "a6", "a7", "a8", "a9"]  # the file too: the 5 newest, the active one

    zgen_otel.configure(clock=clock, store_path=path, system_monitor=False, default_rules=False)
    mgr = get_alert_manager()
    assert [a.name for a in mgr.get_alert_history()] == [*newest, "a0"]
    (restored,) = mgr.get_active_alerts()
    assert (restored.id, restored.status, restored.acknowledged_by) == (still_firing.id, "acknowledged", "ops")
    mgr.configure(history_limit=2)  # a smaller limit applies at once, in memory and in the file
    assert [a.name for a in mgr.get_alert_history()] == ["a9", "a8"]
    zgen_otel.shutdown()
    assert file_names(path) == ["a0", "a8", "a9"]
    # A manager that opens the file with a smaller limit trims it too (the active alert stays).
    smaller = AlertManager(MetricStore(clock=clock), clock=clock, history_limit=1, history_path=path)
    assert [a.name for a in smaller.get_alert_history()] == ["a9"]
    assert [a.name for a in smaller.get_active_alerts()] == ["a0"]
    smaller.shutdown()
    assert file_names(path) == ["a0", "a9"]


def file_names(path: str) -> list[str]:
    """The names of the alerts in a history file."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return sorted(json.loads(body)["name"] for (body,) in db.execute("SELECT body FROM alerts"))


def test_delivery_settings_of_the_process_wide_manager(clock: ManualClock) -> None:
    zgen_otel.configure(clock=clock, interval=3600, system_monitor=False, default_rules=False)
    mgr = get_alert_manager()
    mgr.configure(repeat_interval=60, group_wait=0, max_queue=10, max_retries=1, backoff=0.25, stale_after=120)
    dispatcher = mgr.dispatcher
    assert (mgr.repeat_interval, mgr.stale_after) == (60, 120)
    assert (dispatcher.group_wait, dispatcher.max_queue, dispatcher.max_retries, dispatcher.backoff) == (0, 10, 1, 0.25)
    channel = _Collecting()
    mgr.add_notifier(channel)
    trigger_alert("loud", "d", "error")
    clock.advance(59)
    mgr.evaluate()
    assert dispatcher.flush(5)
    assert channel.events == [("firing", "loud")]
    clock.advance(2)
    mgr.evaluate()
    assert dispatcher.flush(5)
    assert channel.events == [("firing", "loud"), ("repeat", "loud")]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"repeat_interval": 0}, "repeat_interval must be a finite number of seconds > 0; got 0"),
        ({"repeat_interval": "4h"}, "repeat_interval must be a finite number of seconds > 0; got '4h'"),
        ({"group_wait": -1}, "group_wait must be a finite number of seconds >= 0; got -1"),
        ({"group_wait": float("inf")}, "group_wait must be a finite number of seconds >= 0; got inf"),
        ({"max_queue": 0}, "max_queue must be a whole number >= 1; got 0"),
        ({"max_queue": 2.5}, "max_queue must be a whole number >= 1; got 2.5"),
        ({"max_retries": -1}, "max_retries must be a whole number >= 0; got -1"),
        ({"max_retries": True}, "max_retries must be a whole number >= 0; got True"),
        ({"backoff": float("nan")}, "backoff must be a finite number of seconds >= 0; got nan"),
        ({"history_limit": 0}, "history_limit must be a whole number >= 1; got 0"),
        ({"stale_after": -5}, "stale_after must be a finite number of seconds > 0; got -5"),
    ],
)
def test_bad_delivery_settings_are_refused_and_change_nothing(
    mgr: AlertManager, kwargs: dict[str, object], fragment: str
) -> None:
    before = (mgr.repeat_interval, mgr.stale_after, vars(mgr.dispatcher).copy())
    with pytest.raises(ValueError) as raised:
        mgr.configure(**{"group_wait": 7, "repeat_interval": 99, **kwargs})  # type: ignore[arg-type]
    assert fragment in str(raised.value)
    assert (mgr.repeat_interval, mgr.stale_after, vars(mgr.dispatcher)) == before
    with pytest.raises(ValueError, match=next(iter(kwargs))):  # the constructor takes the same settings
        AlertManager(MetricStore(), **kwargs)  # type: ignore[arg-type]


def test_active_alerts_are_an_otel_gauge() -> None:
    with capture(interval=3600, system_monitor=False, default_rules=False) as cap:
        mgr = get_alert_manager()
        trigger_alert("a", "d", "critical")
        mgr.add_metric_rule("p", "d", "m", threshold=1, duration=600)
        record_metric("m", 5)
        points = {
            (p.attributes["alertname"], p.attributes["alertstate"]): p.value
            for m in cap.metrics()
            if m.name == "zgen.alerts"
            for p in m.data.data_points
        }
        assert points == {("a", "firing"): 1, ("p", "pending"): 1}


def test_silences_mute_notifications_but_not_state(clock: ManualClock) -> None:
    mgr = AlertManager(MetricStore(clock=clock), clock=clock, group_wait=0)
    silence = mgr.add_silence({"alertname": "noisy"}, duration=60, comment="deploy")
    alert = mgr.trigger_alert("noisy", "d")
    assert mgr.is_silenced(alert) and alert.active
    clock.advance(61)
    assert not mgr.is_silenced(alert) and mgr.list_silences() == []
    assert not mgr.remove_silence(silence.id)
    with pytest.raises(ValueError, match="duration"):
        mgr.add_silence({"alertname": "x"}, duration=0)
    mgr.shutdown()


class _Collecting(Notifier):
    """An in-process channel that keeps what it is sent."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.events: list[tuple[str, str]] = []

    def send(self, notifications: Sequence[Notification]) -> None:
        self.events += [(n.event, n.alert["name"]) for n in notifications]


def test_firing_alerts_repeat_until_acknowledged(clock: ManualClock) -> None:
    mgr = AlertManager(MetricStore(clock=clock), clock=clock, group_wait=0, repeat_interval=3600)
    channel = _Collecting()
    mgr.add_notifier(channel)
    loud = mgr.trigger_alert("loud", "d", "error")
    quiet = mgr.trigger_alert("quiet", "d", "error")
    mgr.acknowledge_alert(quiet.id, by="me")
    clock.advance(3601)
    mgr.evaluate()
    mgr.resolve_alert(loud.id)
    assert mgr.dispatcher.flush(5)
    assert sorted(channel.events) == [("firing", "loud"), ("firing", "quiet"), ("repeat", "loud"), ("resolved", "loud")]
    mgr.shutdown()


def test_logging_channel_logs_by_severity(caplog: pytest.LogCaptureFixture, clock: ManualClock) -> None:
    caplog.set_level(logging.INFO, logger="zgen_otel.alerts")
    mgr = AlertManager(MetricStore(clock=clock), clock=clock, group_wait=0)
    mgr.add_notifier(LoggingNotifier(min_severity="warning"))
    mgr.trigger_alert("info_only", "not sent", "info")
    bad = mgr.trigger_alert("broken_tool", "tool keeps failing", "critical")
    mgr.resolve_alert(bad.id)
    assert mgr.dispatcher.flush(5)
    records = [
        (r.levelname, r.getMessage()) for r in caplog.records if r.name == "zgen_otel.alerts" and "[" in r.getMessage()
    ]
    assert ("ERROR", "alert firing [critical] broken_tool: tool keeps failing") in records
    assert ("INFO", "alert resolved [critical] broken_tool: tool keeps failing") in records
    assert not any("info_only" in m for _, m in records if m.startswith("alert firing"))
    mgr.shutdown()


def test_a_condition_past_its_tick_is_skipped_reported_and_never_started_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mgr = AlertManager(MetricStore(), evaluation_interval=0.2)
    release, calls = threading.Event(), []
    valve = threading.Timer(10, release.set)  # where a condition is waited for, the test fails instead of hanging
    valve.start()

    def slow() -> bool:
        calls.append(1)
        release.wait()
        return True

    mgr.add_rule("slow", "a condition that outlives its tick", slow)
    try:
        for _ in range(3):
            start = time.monotonic()
            mgr.evaluate()
            assert time.monotonic() - start < 1.0, "the tick waited for the condition"
        rule = mgr.get_rule("slow")
        assert rule.to_dict()["overrun"] is True and rule.to_dict()["overruns"] == 3
        assert calls == [1], "a condition still running was started again"
        assert mgr.overrunning == ["slow"]
        assert sum("past its tick" in r.getMessage() for r in caplog.records) == 1  # rate-limited
        release.set()
        wait_for(lambda: mgr.evaluate() or mgr.get_active_alerts(), what="the released rule to fire")
        assert not rule.overrun and mgr.overrunning == []
    finally:
        release.set()
        valve.cancel()
        mgr.shutdown()


def test_a_slow_handler_of_the_alert_log_runs_after_the_lock_is_released() -> None:
    """The host's logging handlers are the host's code: a slow one must not hold up the alert API."""
    entered, release = threading.Event(), threading.Event()

    class SlowHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            entered.set()
            release.wait(10)

    manager = AlertManager(MetricStore(), evaluation_interval=3600)
    events = logging.getLogger("zgen_otel.alerts")
    handler = SlowHandler()
    events.addHandler(handler)
    try:
        firing = threading.Thread(target=manager.trigger_alert, args=("slow_log", "the handler is slow", "error"))
        firing.start()
        assert entered.wait(5)  # the handler is running, inside trigger_alert's thread
        started = time.perf_counter()
        active = manager.get_active_alerts()
        waited = time.perf_counter() - started
        assert [a.name for a in active] == ["slow_log"] and waited < 1.0  # not blocked by the handler
        manager.acknowledge_alert(active[0].id, by="me")  # a write goes through too
    finally:
        release.set()
        firing.join(5)
        events.removeHandler(handler)
        manager.shutdown()
