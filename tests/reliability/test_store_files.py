"""The store file under faults: a real full disk (a small tmpfs), and forked children next to its lock."""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zgen_otel
from tests.support.waiting import wait_for
from zgen_otel import ConfigError, get_runtime

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

QUIET = {"system_monitor": False, "interval": 3600}  # no background collection: the tests count every sample


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB file system (tmpfs) mounted for the test: filling it gives SQLite a real ENOSPC.

    Mounting needs root (CI runs as root); elsewhere the test is skipped, saying why.
    """
    mount = shutil.which("mount")
    if os.geteuid() != 0 or mount is None:
        pytest.skip("mounting a tmpfs (a real small disk) needs root and mount(8)")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run([mount, "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        zgen_otel.shutdown()  # close the file before the file system goes
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; return it (delete it to give the space back)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        chunk = b"\0" * 4096
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return filler


def persistence() -> dict[str, Any]:
    status: dict[str, Any] = get_runtime().status()["persistence"]
    return status


def test_a_full_disk_bounds_the_backlog_shows_in_the_status_and_writing_resumes(small_disk: Path) -> None:
    path = small_disk / "store.db"
    zgen_otel.configure(store_path=str(path), store_flush_interval=0.05, store_max_backlog=20_000,
                        max_raw_points=10**6, **QUIET)  # fmt: skip
    zgen_otel.record_metric("before", 1)
    wait_for(lambda: persistence()["written"] == 1, timeout=10, what="the first flush")
    filler = fill(small_disk)

    samples = 100_000
    for i in range(samples):  # a series born while the disk is full: its row in the file is rolled back too
        zgen_otel.record_metric("during", i)
    wait_for(lambda: persistence()["failed_flushes"] >= 2, timeout=10, what="failed flushes on the full disk")

    def accounted() -> bool:  # every sample is written, waiting or dropped (between a write's steps: about)
        status = persistence()
        return bool(status["written"] + status["backlog"] + status["dropped"] == 1 + samples)

    wait_for(accounted, timeout=10, what="written + backlog + dropped to account for every sample")
    status = persistence()
    assert status["backlog"] <= 20_000  # bounded: the rest is dropped from the file, counted
    assert status["dropped"] >= samples - 20_000
    assert "full" in status["last_error"] and status["writing"] is True and status["error"] is None
    assert len(zgen_otel.get_metric_history("during")) == samples  # memory keeps everything

    filler.unlink()  # space is back: writing resumes by itself
    wait_for(lambda: persistence()["backlog"] == 0 and persistence()["last_error"] is None, timeout=10,
             what="the backlog to be written once space is back")  # fmt: skip
    zgen_otel.record_metric("after", 2)
    wait_for(lambda: persistence()["backlog"] == 0, timeout=10, what="the flush after recovery")
    dropped = persistence()["dropped"]
    zgen_otel.shutdown()

    zgen_otel.configure(store_path=str(path), max_raw_points=10**6, **QUIET)
    during = [p.value for p in zgen_otel.get_metric_history("during")]
    assert during == [float(i) for i in range(samples - dropped)]  # the oldest kept, in order, under their name
    assert [p.value for p in zgen_otel.get_metric_history("after")] == [2]


def _claim_in_child(path: str, said: Any, go: Any) -> None:
    """In a forked child: try to take the parent's store file, report what happened, then stay alive a while."""
    try:
        zgen_otel.configure(store_path=path, **QUIET)
        said.put("taken")
    except ConfigError as exc:
        said.put(str(exc))
    go.wait(30)


def test_a_forked_child_leaves_the_store_file_and_its_lock_to_the_parent(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    zgen_otel.configure(store_path=path, **QUIET)
    zgen_otel.record_metric("parent", 1)
    fork = multiprocessing.get_context("fork")
    said, go = fork.Queue(), fork.Event()
    child = fork.Process(target=_claim_in_child, args=(path, said, go))
    child.start()
    try:
        assert f"in use by another process (pid {os.getpid()}" in said.get(timeout=30)
        zgen_otel.shutdown()  # the parent lets go; the descriptor the child inherited must not keep the lock
        script = f"import zgen_otel\nzgen_otel.configure(store_path={path!r}, system_monitor=False)\nprint('taken')"
        other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert other.stdout.strip() == "taken", other.stderr
        assert child.is_alive()
    finally:
        go.set()
        child.join(30)
    assert child.exitcode == 0
