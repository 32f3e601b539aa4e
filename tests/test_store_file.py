"""The store file (``store_path``): refused when it cannot be used, one process at a time.

A bad file is refused by ``configure()``, named, before the running runtime stops; on the lazy path the
runtime keeps its history in memory and says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import zgen_otel
from zgen_otel import ConfigError, get_runtime
from zgen_otel.testing import reset

QUIET = {"system_monitor": False, "interval": 3600}  # no background collection: the tests count every sample


def store_with_data(path: Path, points: int = 20) -> None:
    """A real store file, written by zgen_otel and closed."""
    zgen_otel.configure(store_path=str(path), **QUIET)
    for i in range(points):
        zgen_otel.record_metric("old", i, attributes={"k": str(i % 50)})
    zgen_otel.shutdown()


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def truncated(path: Path) -> None:
    store_with_data(path, 20_000)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def another_programs_database(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        db.commit()


def a_table_of_ours_with_other_columns(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE points (x INTEGER, y TEXT)")
        db.commit()


def a_newer_schema(path: Path) -> None:
    store_with_data(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 99")


def a_folder(path: Path) -> None:
    path.mkdir()


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a store file read-only for this process: chmod, or for root (who ignores modes) the immutable flag."""
    store_with_data(path)
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("root ignores file modes and this file system has no immutable flag (chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


BAD_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "random bytes": (random_bytes, "not a SQLite database, or is damaged"),
    "truncated": (truncated, "damaged"),
    "another program's database": (another_programs_database, r"holds tables zgen_otel does not write \(users\)"),
    "a table of ours with other columns": (a_table_of_ours_with_other_columns, r"'points' has the columns \(x, y\)"),
    "a newer schema": (a_newer_schema, "written by a newer zgen_otel"),
    "a folder": (a_folder, "is a folder"),
}


@contextlib.contextmanager
def bad_file(kind: str, path: Path) -> Iterator[str]:
    """Make ``path`` a store file of the given kind of bad; yield what the error must say."""
    if kind == "read-only":
        with read_only(path):
            yield "cannot be written"
        return
    make, problem = BAD_FILES[kind]
    make(path)
    yield problem


KINDS = [*BAD_FILES, "read-only"]


def history(name: str) -> list[float]:
    return [p.value for p in zgen_otel.get_metric_history(name)]


def points_in(path: Path, name: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        query = "SELECT count(*) FROM points JOIN series ON series.id = points.series_id WHERE series.name = ?"
        count: int = db.execute(query, (name,)).fetchone()[0]
        return count


@pytest.mark.parametrize("kind", KINDS)
def test_configure_refuses_a_bad_store_file_naming_it_and_keeps_the_running_runtime(kind: str, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.db", tmp_path / "bad.db"
    with bad_file(kind, bad) as problem:
        zgen_otel.configure(store_path=str(good), **QUIET)
        running = get_runtime()
        zgen_otel.record_metric("kept", 1)
        with pytest.raises(ConfigError, match=problem) as refused:
            zgen_otel.configure(store_path=str(bad), **QUIET)
    assert f"store_path={str(bad)!r} cannot be used" in str(refused.value)
    assert get_runtime() is running and running.enabled  # the running runtime was never stopped
    zgen_otel.record_metric("kept", 2)
    assert history("kept") == [1, 2]
    assert running.persistence is not None and running.persistence.flush() >= 1
    assert points_in(good, "kept") == 2  # and it still writes its own file


@pytest.mark.parametrize("kind", ["random bytes", "another program's database", "read-only"])
def test_on_the_lazy_path_a_bad_store_file_costs_the_file_only_with_one_warning(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bad.db"
    with bad_file(kind, path) as problem:
        reset()  # store_with_data() shut down: the next use builds a runtime again
        monkeypatch.setenv("ZGEN_OTEL_STORE_PATH", str(path))
        monkeypatch.setenv("ZGEN_OTEL_SYSTEM_MONITOR", "false")
        caplog.set_level(logging.WARNING, logger="zgen_otel")
        for i in range(3):
            zgen_otel.record_metric("lazy", i)  # never raises: the runtime is built, in memory
        status = get_runtime().status()["persistence"]
    assert history("lazy") == [0, 1, 2]
    assert status["writing"] is False and status["path"] == str(path)
    assert f"store_path={str(path)!r} cannot be used" in status["error"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0] and "in memory only" in warnings[0]
    assert re.search(problem, warnings[0])


def test_a_store_file_in_use_by_another_process_is_refused_naming_its_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "shared.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sys, zgen_otel\nzgen_otel.configure(store_path={path!r}, system_monitor=False)"
                               "\nzgen_otel.record_metric('theirs', 1)\nprint('ready', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(ConfigError, match=rf"in use by another process \(pid {holder.pid}"):
            zgen_otel.configure(store_path=path, **QUIET)
        monkeypatch.setenv("ZGEN_OTEL_STORE_PATH", path)  # the lazy path: in memory, saying why
        zgen_otel.record_metric("mine", 1)
        assert f"pid {holder.pid}" in get_runtime().status()["persistence"]["error"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
    zgen_otel.configure(store_path=path, **QUIET)  # the holder is gone: its lock went with it
    assert history("theirs") == [1]


def test_configure_again_with_the_same_file_keeps_writing_it(tmp_path: Path) -> None:
    path = tmp_path / "same.db"
    zgen_otel.configure(store_path=str(path), **QUIET)
    zgen_otel.record_metric("steps", 1)
    zgen_otel.configure(store_path=str(path), **QUIET)  # the new runtime shares the old one's claim
    zgen_otel.record_metric("steps", 2)
    assert history("steps") == [1, 2]
    status = get_runtime().status()["persistence"]
    assert status["writing"] is True and status["error"] is None
    zgen_otel.shutdown()
    assert points_in(path, "steps") == 2
