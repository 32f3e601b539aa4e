"""Alerting against slow user code and hostile peers: nothing of theirs blocks the agent or holds shutdown.

- A custom condition that takes 5 s (or never returns) does not slow ``record_metric``, ``trigger_alert``,
  ``get_active_alerts`` or ``GET /api/monitoring/alerts``; its rule reports ``overrun``.
- An Alertmanager that trickles one byte every 2 s does not freeze rule evaluation.
- ``shutdown()`` with a webhook that never answers ends within 10 s, flushes the store first, and never
  blocks ``record_metric`` in other threads.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import zgen_otel
from tests.support.net import hanging_port
from tests.support.servers import serving
from tests.support.waiting import wait_for
from zgen_otel.alerting import AlertmanagerNotifier, WebhookNotifier, get_alert_manager, trigger_alert
from zgen_otel.http import make_app
from zgen_otel.metrics import record_metric, register_callback

pytestmark = pytest.mark.reliability


def timed(call: Callable[[], Any]) -> float:
    """Seconds ``call()`` took."""
    start = time.monotonic()
    call()
    return time.monotonic() - start


def while_recording(call: Callable[[], Any], *, warm_up: float) -> tuple[float, float]:
    """Run ``call`` while another thread records in a loop: (seconds ``call`` took, the slowest record_metric)."""
    worst = [0.0]
    done = threading.Event()

    def recorder() -> None:
        while not done.is_set():
            worst[0] = max(worst[0], timed(lambda: record_metric("agent.background", 1)))

    thread = threading.Thread(target=recorder)
    thread.start()
    time.sleep(warm_up)
    took = timed(call)
    done.set()
    thread.join(5)
    return took, worst[0]


def configure(**settings: Any) -> None:
    """A runtime that evaluates rules every second, without the system monitor's noise."""
    zgen_otel.configure(interval=1, system_monitor=False, default_rules=False, host_lock="none", **settings)


@contextlib.contextmanager
def dripping_peer(gap: float = 2.0) -> Iterator[str]:
    """An HTTP peer that reads the request, then answers one byte every ``gap`` seconds (a slow-drip attack)."""
    stop = threading.Event()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.settimeout(0.2)

        def drip(conn: socket.socket) -> None:
            with conn, contextlib.suppress(OSError):
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100:
                    if stop.wait(gap):
                        return
                    conn.sendall(bytes([byte]))

        def accept() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    conn, _ = sock.accept()
                    threading.Thread(target=drip, args=(conn,), daemon=True).start()

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            stop.set()
            acceptor.join(5)


def test_a_5_s_condition_never_blocks_recording_the_alert_api_or_the_http_api() -> None:
    configure()
    manager = get_alert_manager()
    manager.add_metric_rule("hot", "a watched metric over its threshold", "probe.temperature", threshold=10)
    record_metric("probe.temperature", 50)  # the rule fires: each later sample takes its path through the lock
    running = threading.Event()

    def health_probe() -> bool:  # an HTTP health probe on a slow service, say
        running.set()
        time.sleep(5)
        return False

    manager.add_rule("slow_probe", "a health probe that takes 5 s", health_probe)
    with serving(make_app()) as server:
        assert running.wait(5), "the evaluator never ran the condition"
        time.sleep(0.2)  # well inside the 5 s
        record = max(timed(lambda: record_metric("probe.temperature", 60)) for _ in range(20))
        trigger = timed(lambda: trigger_alert("by_hand", "raised while the probe runs"))
        active = timed(manager.get_active_alerts)
        api = timed(lambda: httpx.get(f"{server.url}/api/monitoring/alerts", timeout=10).raise_for_status())
        assert running.is_set()
        assert record < 0.1, f"record_metric took {record:.2f} s while a condition ran"
        assert trigger < 0.2 and active < 0.2, (trigger, active)
        assert api < 1.0, f"GET /api/monitoring/alerts took {api:.2f} s while a condition ran"
        rule = wait_for(lambda: manager.get_rule("slow_probe").to_dict()["overrun"] and manager.get_rule("slow_probe"),
                        timeout=5, what="the slow rule to report overrun")  # fmt: skip
        assert rule.overruns >= 1
        status = httpx.get(f"{server.url}/api/monitoring", timeout=10).json()
        assert status["rules_overrunning"] == ["slow_probe"]
        assert sorted(a.name for a in manager.get_active_alerts()) == ["by_hand", "hot"]


def test_a_condition_that_never_returns_is_started_once_and_blocks_nothing() -> None:
    configure()
    manager = get_alert_manager()
    calls: list[float] = []
    forever = threading.Event()
    valve = threading.Timer(20, forever.set)  # where conditions run under a lock, the test fails, never hangs
    valve.start()

    def stuck() -> bool:
        calls.append(time.monotonic())
        forever.wait()  # never set until the end of the test
        return True

    manager.add_rule("stuck", "a condition that never returns", stuck)
    manager.add_rule("always", "an always-true rule next to it", lambda: True)
    try:
        wait_for(lambda: [a for a in manager.get_active_alerts() if a.name == "always"], timeout=5,
                 what="the always-true rule to fire next to the stuck one")  # fmt: skip
        wait_for(lambda: manager.get_rule("stuck").overruns >= 3, timeout=10, what="three missed ticks")
        assert len(calls) == 1, "a condition still running was started again"
        assert max(timed(lambda: record_metric("x", 1)) for _ in range(20)) < 0.1
        assert timed(zgen_otel.shutdown) < 5
    finally:
        forever.set()
        valve.cancel()


def test_a_callback_of_a_metric_recorded_by_a_condition_holds_no_lock_of_ours() -> None:
    configure()
    manager = get_alert_manager()
    in_callback = threading.Event()

    def slow_callback(name: str, value: float, ts: float, attributes: Any) -> None:
        in_callback.set()
        time.sleep(3)

    register_callback("probe.latency", slow_callback)
    manager.add_rule("probe", "records what it measured", lambda: record_metric("probe.latency", 0.5) or False)
    assert in_callback.wait(5)
    assert timed(manager.get_active_alerts) < 0.2
    assert timed(lambda: trigger_alert("meanwhile", "raised while a callback runs")) < 0.2


def test_a_slow_drip_alertmanager_never_freezes_evaluation() -> None:
    configure()
    manager = get_alert_manager()
    with dripping_peer(gap=2.0) as url:
        manager.add_notifier(AlertmanagerNotifier(url, resend_interval=0.0, timeout=2.0, name="drip"))
        trigger_alert("already_active", "re-sent to the dripping Alertmanager at every tick", "error")
        time.sleep(2.5)  # a few ticks: each re-send meets the drip
        manager.add_rule("always", "an always-true rule", lambda: True)
        wait_for(lambda: [a for a in manager.get_active_alerts() if a.name == "always"], timeout=5,
                 what="the always-true rule to fire while the Alertmanager drips")  # fmt: skip


def test_a_send_to_a_dripping_peer_ends_at_its_total_deadline() -> None:
    configure()
    manager = get_alert_manager()
    manager.configure(max_retries=0, group_wait=0)
    with dripping_peer(gap=0.5) as url:
        hook = WebhookNotifier(f"{url}/hook", timeout=1.5, name="drip")
        manager.add_notifier(hook)
        start = time.monotonic()
        trigger_alert("dripped", "sent to a peer that trickles its answer", "error")
        wait_for(lambda: hook.failed == 1, timeout=15, what="the send to give up")
        took = time.monotonic() - start
    assert took < 3.0, f"a 1.5 s deadline took {took:.1f} s against a slow drip"


def test_shutdown_with_a_hanging_webhook_is_bounded_flushes_data_first_and_never_blocks_recording(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "store.db")
    with hanging_port() as port:
        configure(store_path=path, store_flush_interval=60)
        manager = get_alert_manager()
        manager.add_notifier(WebhookNotifier(f"http://127.0.0.1:{port}/hook", timeout=30.0, name="hanging"))
        for i in range(3):
            trigger_alert(f"before_{i}", "queued for a channel that never answers", "error")
        record_metric("agent.steps", 42)
        took, worst = while_recording(zgen_otel.shutdown, warm_up=0.3)
    assert worst < 0.5, f"record_metric blocked {worst:.2f} s during shutdown"
    assert took < 10, f"shutdown took {took:.1f} s with a hanging webhook"
    with sqlite3.connect(path) as db:  # the store's last flush happened, whatever the channel did
        names = {row[0] for row in db.execute("SELECT name FROM series")}
    assert "agent.steps" in names


def test_the_shutdown_grace_is_a_setting() -> None:
    with hanging_port() as port:
        configure(shutdown_grace=0.5)
        get_alert_manager().add_notifier(WebhookNotifier(f"http://127.0.0.1:{port}/h", timeout=30.0, name="hang"))
        trigger_alert("pending", "never delivered", "error")
        time.sleep(1.5)  # the channel's worker is inside its 30 s send
        assert timed(zgen_otel.shutdown) < 2.5


def test_reconfiguring_with_a_hanging_webhook_never_blocks_recording() -> None:
    with hanging_port() as port:
        configure(shutdown_grace=2.0)
        get_alert_manager().add_notifier(WebhookNotifier(f"http://127.0.0.1:{port}/h", timeout=30.0, name="hang"))
        trigger_alert("pending", "never delivered", "error")
        time.sleep(0.5)  # the channel's worker is inside its 30 s send
        # the old runtime gives its channel the 2 s grace
        took, worst = while_recording(lambda: configure(shutdown_grace=0.5), warm_up=0.2)
    assert 1.5 < took < 6, f"configure took {took:.1f} s"
    assert worst < 0.5, f"record_metric blocked {worst:.2f} s during configure()"
    record_metric("agent.after", 1)
    assert zgen_otel.get_metric_history("agent.after")  # the new runtime records
