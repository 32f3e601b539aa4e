"""Forked children (multiprocessing's fork start method, pre-fork servers) record, track and export.

The parent keeps threads busy recording and tracking while it forks, so locks are often held at the
fork: a child that inherited a held lock would hang, which the tests see as a child that never exits.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import zgen_otel
from tests.support.otlp import OtlpReceiver
from tests.support.waiting import wait_for
from zgen_otel import _runtime
from zgen_otel.performance import get_performance_stats, track

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


@track("parent.step")
def parent_step(i: int) -> int:
    return i * 2


@track("child.work")
def child_work(i: int) -> int:
    return i + 1


@pytest.fixture
def busy_parent(tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[OtlpReceiver]:
    """A runtime exporting to a receiver, persisting to SQLite, with two threads recording and tracking.

    OTLP/HTTP unless the test asks for gRPC (``indirect`` parametrization).
    """
    protocol = getattr(request, "param", "http/protobuf")
    with OtlpReceiver(protocol) as receiver:
        zgen_otel.configure(
            otlp_endpoint=receiver.endpoint, otlp_protocol=protocol, export_interval=0.5, interval=1,
            store_path=str(tmp_path / "store.db"), system_monitor=False, host_lock="none",
        )  # fmt: skip
        stop = threading.Event()

        def hammer(n: int) -> None:
            i = 0
            while not stop.is_set():
                zgen_otel.record_metric("busy", i, "parent", attributes={"thread": str(n), "k": str(i % 50)})
                parent_step(i)
                i += 1
                time.sleep(0.0002)  # busy, yet leaving the in-process receiver time to answer

        threads = [threading.Thread(target=hammer, args=(n,), daemon=True) for n in range(2)]
        for t in threads:
            t.start()
        try:
            yield receiver
        finally:
            stop.set()
            for t in threads:
                t.join(5)
            zgen_otel.shutdown()


def _child(index: int, results: Any) -> None:
    """Run in a forked child: record, track, and report what the child's own threads did."""
    zgen_otel.record_metric("child_value", index, "child", attributes={"child": str(index)})
    for i in range(5):
        child_work(i)
    deadline = time.monotonic() + 5  # the child's own tracker worker turns the calls into statistics
    while time.monotonic() < deadline:
        stats = _runtime.get_runtime().performance
        if stats is not None and "child.work" in stats._ops and stats._ops["child.work"].calls >= 5:
            break
        time.sleep(0.05)
    history = zgen_otel.get_metric_history("child.child_value", attributes={"child": str(index)})
    threads = {t.name for t in threading.enumerate()}
    results.put(
        {
            "index": index,
            "history": [p.value for p in history],
            "calls": get_performance_stats()["child.work"].calls,
            "threads": sorted(n for n in threads if n.startswith(("zgen-otel", "Otel"))),
        }
    )


@pytest.mark.parametrize("busy_parent", ["http/protobuf", "grpc"], indirect=True)
def test_multiprocessing_fork_children_record_track_and_export(busy_parent: OtlpReceiver) -> None:
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    children = [ctx.Process(target=_child, args=(i, results)) for i in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
        assert child.exitcode == 0, f"child {child.pid} hung or failed (exit code {child.exitcode})"
    reports = sorted((results.get(timeout=5) for _ in children), key=lambda r: r["index"])
    for report in reports:
        assert report["history"] == [float(report["index"])]
        assert report["calls"] == 5  # only the child's calls: the parent's pending ones stay the parent's
        for name in ("zgen-otel-performance", "zgen-otel-alerting", "OtelPeriodicExportingMetricReader"):
            assert name in report["threads"], f"{name} did not restart in the child: {report['threads']}"
        assert "zgen-otel-logs" in report["threads"], "the log shipper did not restart in the child"
    # Each child's own exporters shipped its metric and its spans before it exited (multiprocessing's exit).
    receiver = busy_parent

    def shipped() -> bool:
        children_seen = {p.attributes.get("child") for p in receiver.metric_points() if p.name == "child.child_value"}
        spans = receiver.span_names().count("child.work")
        return children_seen >= {"0", "1", "2", "3"} and spans >= 20

    assert receiver.wait_for(shipped, timeout=10)
    # The parent carried on: its threads still record and its own export still works.
    before = len(zgen_otel.get_metric_history("parent.busy", attributes={"thread": "0", "k": "1"}))
    wait_for(
        lambda: len(zgen_otel.get_metric_history("parent.busy", attributes={"thread": "0", "k": "1"})) > before,
        timeout=10,
        what="the parent's threads to record more",
    )
    assert len(zgen_otel.get_metric_history("parent.busy", attributes={"thread": "0", "k": "1"})) > before


def test_repeated_forks_under_load_never_deadlock(busy_parent: OtlpReceiver) -> None:
    """Fork 30 times while two threads record and track: every child finishes its work and exits."""
    pids = []
    for i in range(30):
        pid = os.fork()
        if pid == 0:  # the child: record, track, query; exit 0 only when all of it worked
            code = 1
            try:
                zgen_otel.record_metric("forked", i, "child")
                child_work(i)
                ok = zgen_otel.get_metric_history("child.forked")[-1].value == i
                ok = ok and get_performance_stats()["child.work"].calls >= 1
                zgen_otel.shutdown()
                code = 0 if ok else 1
            finally:
                os._exit(code)
        pids.append(pid)
        time.sleep(0.01)
    deadline = time.monotonic() + 60
    pending = set(pids)
    codes: dict[int, int] = {}
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pending.discard(pid)
                codes[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    for pid in pending:  # hung children: kill them so the test run ends, then fail
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert not pending, f"{len(pending)} of 30 forked children deadlocked"
    assert set(codes.values()) == {0}, codes


def test_a_forked_child_leaves_the_store_file_to_the_parent(busy_parent: OtlpReceiver, tmp_path: Any) -> None:
    """The child's samples stay in the child; the parent's file keeps only the parent's series."""
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=zgen_otel.record_metric, args=("only_in_child", 1.0, "child"))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    zgen_otel.shutdown()
    import sqlite3

    with sqlite3.connect(tmp_path / "store.db") as db:
        names = {name for (name,) in db.execute("SELECT name FROM series")}
    assert "parent.busy" in names
    assert "child.only_in_child" not in names
